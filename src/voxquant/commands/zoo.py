"""``voxquant zoo list | eval NAME | eval --all | reproduce``: the third-party model zoo on the command line."""

from __future__ import annotations

from pathlib import Path


def _pct(x):
    return "-" if x is None else f"{100 * x:.2f}"


def cmd_zoo_list(a) -> int:
    from voxquant.paths import models_root
    from voxquant.zoo import zoo_list

    print(f"models root: {models_root()}  (set VOXQUANT_MODELS to change; missing files are downloaded and verified)")
    print(f"{'name':34s} {'format':20s} {'precision':12s} {'here':5s} published")
    for m in zoo_list():
        pub = m["published"].get("accuracy")
        print(f"{m['name']:34s} {m['format']:20s} {m['precision']:12s} {'yes' if m['available'] else 'no':5s} "
              f"{_pct(pub) + ' %' if pub is not None else '-'}")
    return 0


def cmd_zoo_eval(a) -> int:
    from voxquant.errors import check_int

    check_int(a.threads, "--threads", 1, 4096)
    if a.limit is not None:
        check_int(a.limit, "--limit", 1)
    if a.all:
        from voxquant.zoo import zoo_eval_all

        res = zoo_eval_all(Path(a.out), threads=a.threads)
        print(res["markdown"])
        print(f"wrote {res['json']} and {res['md']}")
        return 0
    if not a.name:
        from voxquant.errors import ConfigError

        raise ConfigError("name a zoo model (see `voxquant zoo list`), a family, or pass --all")
    from voxquant.zoo import zoo_eval

    rows = zoo_eval(a.name, split=a.split, threads=a.threads, limit=a.limit)
    print(f"{'model':34s} {'split':6s} {'n':>5s} {'ours %':>7s} {'95% CI':>16s} {'published %':>11s} {'diff pt':>7s}")
    for r in rows:
        ci = r.get("ci95") or [None, None]
        diff = r.get("diff_pp")
        print(f"{r['model']:34s} {r['split']:6s} {r['n']:5d} {_pct(r['accuracy']):>7s} "
              f"[{_pct(ci[0])}, {_pct(ci[1])}]".rjust(17) + f" {_pct(r.get('published_accuracy')):>11s} "
              f"{'-' if diff is None else f'{diff:+.2f}':>7s}")
    return 0


def cmd_zoo_reproduce(a) -> int:
    from voxquant.errors import check_int
    from voxquant.zoo import reproduce

    check_int(a.threads, "--threads", 1, 4096)

    reproduce(out_md=a.out, threads=a.threads, quick=a.quick)
    print(f"wrote {a.out}")
    return 0


def add_commands(sub) -> None:
    """Add ``voxquant zoo ...`` to the main parser's sub-commands."""
    z = sub.add_parser("zoo", help="third-party pretrained KWS models: list, evaluate, reproduce published accuracy")
    zs = z.add_subparsers(dest="zoo_cmd", required=True, metavar="ACTION")
    zl = zs.add_parser("list", help="zoo models, their format and published accuracy")
    zl.set_defaults(func=cmd_zoo_list)
    ze = zs.add_parser("eval", help="evaluate a zoo model (or --all) on the official test set / eval split / FSDD")
    ze.add_argument("name", nargs="?", help="model, family (e.g. arm-kws-int8) or 'all'")
    ze.add_argument("--all", action="store_true", help="every model on the full test set and eval split; writes a table")
    ze.add_argument("--split", default="test", choices=["test", "eval", "dev", "fsdd"])
    ze.add_argument("--limit", type=int, default=None, help="about this many clips (quick look)")
    ze.add_argument("--threads", type=int, default=1)
    ze.add_argument("--out", default="runs/zoo/zoo_table.md", help="with --all: table path (.md and .json)")
    ze.set_defaults(func=cmd_zoo_eval)
    zr = zs.add_parser("reproduce", help="regenerate docs/reproduction.md (table, our int8 vs publisher int8, accents)")
    zr.add_argument("--out", default="docs/reproduction.md")
    zr.add_argument("--threads", type=int, default=1)
    zr.add_argument("--quick", action="store_true", help="table only")
    zr.set_defaults(func=cmd_zoo_reproduce)
