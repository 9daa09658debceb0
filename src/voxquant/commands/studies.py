"""``voxquant study ...`` sub-commands (loaded by :mod:`voxquant.cli` through ``add_commands``)."""

from __future__ import annotations

from pathlib import Path


def _csv(s: str) -> list[str]:
    return [x.strip() for x in s.split(",") if x.strip()]


def cmd_architectures(a) -> int:
    from voxquant.errors import check_int, check_number
    from voxquant.paths import ensure_writable_dir
    from voxquant.studies.architectures import ArchStudyConfig, run_study

    check_number(a.max_drop, "--max-drop (pp)", 0.0, 100.0)
    check_int(a.qat_epochs, "--qat-epochs", 1)
    check_int(a.latency_runs, "--latency-runs", 1)
    if a.limit is not None:
        check_int(a.limit, "--limit", 1)
    ensure_writable_dir(a.out, "--out")

    cfg = ArchStudyConfig(out_dir=Path(a.out), archs=tuple(_csv(a.archs)), max_drop=a.max_drop, budget=a.budget,
                          qat_epochs=a.qat_epochs, latency_runs=a.latency_runs, limit=a.limit,
                          data_root=Path(a.data_root) if a.data_root else None, progress=not a.quiet)
    res = run_study(cfg)
    print(f"wrote {Path(a.out) / 'architectures.md'} and architectures.json ({res['seconds'] / 60:.1f} min)")
    return 0


def cmd_calibration(a) -> int:
    from voxquant.commands.config import parse_numbers
    from voxquant.errors import check_int
    from voxquant.paths import ensure_writable_dir
    from voxquant.studies.calibration import CalibStudyConfig, run_study

    for n in parse_numbers(a.sizes, "--sizes", int):
        check_int(n, "--sizes", 1)
    if a.limit is not None:
        check_int(a.limit, "--limit", 1)
    check_int(a.seed, "--seed", 0, 2**32 - 1)
    ensure_writable_dir(a.out, "--out")

    cfg = CalibStudyConfig(out_dir=Path(a.out), model=Path(a.model) if a.model else None,
                           compositions=tuple(_csv(a.compositions)), sizes=tuple(int(x) for x in _csv(a.sizes)),
                           methods=tuple(_csv(a.methods)), limit=a.limit, seed=a.seed,
                           data_root=Path(a.data_root) if a.data_root else None, progress=not a.quiet)
    res = run_study(cfg)
    print(f"wrote {Path(a.out) / 'calibration.md'} and calibration.json ({res['seconds'] / 60:.1f} min)")
    return 0


def cmd_train_models(a) -> int:
    from voxquant.studies.models import ARCH_SPECS, train_architecture

    for name in _csv(a.archs):
        spec = ARCH_SPECS.get(name)
        if spec is not None and spec.weights_path.is_file() and not a.force:
            print(f"{name}: {spec.weights_path} exists (--force to retrain)")
            continue
        meta = train_architecture(name, progress=not a.quiet)
        print(f"{name}: held-out {100 * meta['holdout_accuracy']:.2f} %, eval {100 * meta['eval_accuracy']:.2f} %, "
              f"{meta['epochs_run']} epochs, {meta['train_seconds'] / 60:.1f} min")
    return 0


def cmd_commands(a) -> int:
    from voxquant.errors import ConfigError, check_int
    from voxquant.paths import ensure_writable_dir
    from voxquant.studies.commands import ARCHS, CommandsStudyConfig, run_study

    archs = tuple(_csv(a.archs))
    bad = [x for x in archs if x not in ARCHS]
    if bad or not archs:
        raise ConfigError(f"--archs: unknown command architecture {bad[0] if bad else '(none)'!r}",
                          hint=f"choose from {', '.join(ARCHS)}")
    check_int(a.seed, "--seed", 0, 2**32 - 1)
    ensure_writable_dir(a.out, "--out")
    cfg = CommandsStudyConfig(out_dir=Path(a.out), archs=archs, recipes=tuple(_csv(a.recipes)), seed=a.seed,
                              data_root=Path(a.data_root) if a.data_root else None, progress=not a.quiet)
    res = run_study(cfg)
    print(f"wrote {Path(a.out) / 'commands.md'} and commands.json ({res['seconds'] / 60:.1f} min)")
    return 0


def add_commands(sub) -> None:
    """Add ``voxquant study architectures|calibration|commands|train-models`` to the main parser's sub-commands."""
    from voxquant.studies.calibration import COMPOSITIONS, METHODS, SIZES

    s = sub.add_parser("study", help="studies: architectures (CNN vs GRU vs attention), calibration data")
    ssub = s.add_subparsers(dest="study_cmd", required=True, metavar="STUDY")

    a = ssub.add_parser("architectures", help="DS-CNN / CRNN / KWT / BC-ResNet x fp32, fp16, int8 dynamic, PTQ, QAT, "
                        "mixed: one table (resumable)")
    a.add_argument("--out", default="runs/study-architectures", help="[%(default)s]")
    a.add_argument("--archs", default="dscnn,crnn,kwt,bcresnet1", help="[%(default)s]")
    a.add_argument("--max-drop", type=float, default=0.5, help="mixed-precision budget in pp [%(default)s]")
    a.add_argument("--budget", choices=["worst-slice", "mean"], default="worst-slice")
    a.add_argument("--qat-epochs", type=int, default=2, help="[%(default)s]")
    a.add_argument("--latency-runs", type=int, default=200, help="[%(default)s]")
    a.add_argument("--limit", type=int, default=None, help="evaluate on at most N eval clips (quick look)")
    a.add_argument("--data-root", default=None, help="data root (default VOXQUANT_DATA)")
    a.add_argument("--quiet", action="store_true")
    a.set_defaults(func=cmd_architectures)

    c = ssub.add_parser("calibration", help="int8 PTQ with calibration sets of different composition, size and "
                        "method -> per-slice accuracy on eval with CIs (resumable)")
    c.add_argument("--out", default="runs/study-calibration", help="[%(default)s]")
    c.add_argument("--model", default=None, help="voxquant weights (default: bundled DS-CNN)")
    c.add_argument("--compositions", default=",".join(COMPOSITIONS), help="[%(default)s]")
    c.add_argument("--sizes", default=",".join(str(x) for x in SIZES), help="[%(default)s]")
    c.add_argument("--methods", default=",".join(METHODS), help="[%(default)s]")
    c.add_argument("--limit", type=int, default=None, help="evaluate on at most N eval clips (quick look)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--data-root", default=None, help="data root (default VOXQUANT_DATA)")
    c.add_argument("--quiet", action="store_true")
    c.set_defaults(func=cmd_calibration)

    m = ssub.add_parser("commands", help="multi-word command models (CTC): conv vs Conformer x fp32, fp16, int8, QAT, "
                        "mixed on real accented connected digits, and the seed's claims with paired CIs (resumable)")
    m.add_argument("--out", default="runs/study-commands", help="[%(default)s]")
    m.add_argument("--archs", default="conv,conformer", help="[%(default)s]")
    m.add_argument("--recipes", default="fp32,fp16,int8_static_minmax,qat,mixed", help="[%(default)s]")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--data-root", default=None, help="data root (default VOXQUANT_DATA)")
    m.add_argument("--quiet", action="store_true")
    m.set_defaults(func=cmd_commands)

    t = ssub.add_parser("train-models", help="train the study architectures missing under src/voxquant/models/weights")
    t.add_argument("--archs", default="crnn,kwt,bcresnet1", help="[%(default)s]")
    t.add_argument("--force", action="store_true", help="retrain even if the weights exist")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=cmd_train_models)
