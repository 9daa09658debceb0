"""CLI sub-commands of the backends/targets packages, registered by ``voxquant.cli`` (``add_commands``):

* ``voxquant benchmark [--formats all] [--model M] [--out DIR] ...``: :func:`voxquant.benchmark.benchmark_cli`
  (``voxquant run --backends ...`` through the one engine);
* ``voxquant check MODEL --target T [--all] [--json] [--no-evidence]``: :func:`voxquant.targets.check.check_cli`;
* ``voxquant backends list``: the backend table with availability here;
* ``voxquant backends targets``: the target profiles and their sources;
* ``voxquant backends setup rknn [--force] [--path P]``: build the RKNN Toolkit2 venv (:mod:`voxquant.backends.rknn.venv`).
"""

from __future__ import annotations

from pathlib import Path


def cmd_benchmark(a) -> int:
    from voxquant.benchmark import BenchmarkConfig, benchmark_cli
    from voxquant.commands.config import parse_numbers

    cfg = BenchmarkConfig(
        out_dir=Path(a.out), model=Path(a.model) if a.model else None, formats=a.formats, limit=a.limit,
        calib_n=a.calib_n, snrs=parse_numbers(a.snrs, "--snrs"), runs=a.runs, warmup=a.warmup,
        threads=a.threads, max_drop=a.max_drop, data_root=Path(a.data_root) if a.data_root else None, seed=a.seed,
        progress=not a.quiet, frontend=a.frontend,
    )
    res = benchmark_cli(cfg)
    out = Path(a.out)
    print(f"wrote {out / 'results.json'}, {out / 'report.html'}, {out / 'benchmark.md'} ({len(res['variants'])} rows)")
    return 0


def cmd_check(a) -> int:
    from voxquant.backends.evidence import backend_evidence
    from voxquant.targets.check import check_cli

    torch_model = None
    if a.weights:
        from voxquant.models.source import load_model

        torch_model, _ = load_model(Path(a.weights) if a.weights != "default" else None)
    text, _ = check_cli(Path(a.model), a.target, evidence=None if a.no_evidence else backend_evidence, all_nodes=a.all, as_json=a.json,
                        torch_model=torch_model)
    print(text)
    return 0


def cmd_backends_list(a) -> int:
    from rich.console import Console
    from rich.table import Table

    from voxquant.backends.table import backend_classes

    t = Table(title="voxquant backends")
    for h in ("format", "name", "suffix", "precisions", "runs here", "needs GPU", "extra", "target", "available"):
        t.add_column(h, overflow="fold")
    for cls in backend_classes():
        i = cls.info
        ok, why = cls().available()
        t.add_row(i.argument, i.name, i.suffix, ", ".join(i.precisions), "yes" if i.runs_here else "no",
                  "yes" if i.needs_gpu else "no", i.extra or "-", i.target, "yes" if ok else f"no: {why}")
    Console().print(t)
    return 0


def cmd_backends_targets(a) -> int:
    from voxquant.targets import all_targets

    for t in all_targets():
        print(f"{t.name:16s} {t.title} | precisions {', '.join(t.precisions)} | backend {t.backend}\n"
              f"{'':16s} source: {t.citation()}")
    return 0


def cmd_backends_setup(a) -> int:
    if a.backend != "rknn":
        from voxquant.errors import ConfigError

        raise ConfigError(f"nothing to set up for '{a.backend}'", hint="only 'rknn' needs its own environment")
    from voxquant.backends.rknn.venv import setup_venv, venv_path, venv_ready

    path = Path(a.path) if a.path else venv_path()
    ok, _ = venv_ready(path)
    if ok and not a.force:
        print(f"RKNN venv already ready at {path}")
        return 0
    info = setup_venv(path, force=a.force)
    return 0 if info.get("ok") else 1


def add_commands(sub) -> None:
    """Add ``benchmark``, ``check`` and ``backends`` to the ``voxquant`` sub-parsers."""
    b = sub.add_parser("benchmark", help="voxquant run --backends FORMATS with the recipes every backend builds: one "
                       "table over every backend x precision")
    b.add_argument("--formats", default="all", help="'all' or a comma list of: onnx, tflite, edgetpu, rknn, openvino, tensorrt, qnn [%(default)s]")
    b.add_argument("--model", help="as voxquant run --model (weights .pt, spec .toml, zoo name, or a float "
                   ".onnx/.tflite with --frontend); default: the bundled DS-CNN")
    b.add_argument("--frontend", help="front-end preset for a bare .onnx/.tflite model")
    b.add_argument("--out", default="runs/benchmark", help="output folder [%(default)s]")
    b.add_argument("--limit", type=int, default=None, help="eval clips (stratified); default: the whole eval split")
    b.add_argument("--calib-n", type=int, default=200, help="calibration clips from dev [%(default)s]")
    b.add_argument("--snrs", default="20,10,5,0", help="noise-slice SNRs in dB (as voxquant run) [%(default)s]")
    b.add_argument("--runs", type=int, default=200, help="timed latency runs [%(default)s]")
    b.add_argument("--warmup", type=int, default=20)
    b.add_argument("--threads", type=int, default=1, help="intra-op threads for latency [%(default)s]")
    b.add_argument("--max-drop", type=float, default=1.0, help="validation budget in pp vs ONNX Runtime fp32 [%(default)s]")
    b.add_argument("--data-root", help="data root (default VOXQUANT_DATA)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--quiet", action="store_true")
    b.set_defaults(func=cmd_benchmark)

    c = sub.add_parser("check", help="which nodes of an ONNX model would leave a target's accelerator, and why")
    c.add_argument("model", help="float or QDQ .onnx")
    c.add_argument("--target", required=True, help="rk3588, jetson-orin-nx, qualcomm-rb5, coral-edgetpu, cpu-x86, cpu-arm")
    c.add_argument("--all", action="store_true", help="list every node, not only the off-accelerator ones")
    c.add_argument("--json", action="store_true", help="JSON output")
    c.add_argument("--no-evidence", action="store_true", help="skip the toolchain runs (ORT int8 profile, RKNN build, tflite partition)")
    c.add_argument("--weights", help="voxquant weights (.pt, or 'default') the ONNX was exported from: the coral-edgetpu "
                   "evidence converts them with litert-torch instead of onnx2torch")
    c.set_defaults(func=cmd_check)

    k = sub.add_parser("backends", help="the backend table; target profiles; set up the RKNN environment")
    ks = k.add_subparsers(dest="backends_cmd", required=True, metavar="ACTION")
    kl = ks.add_parser("list", help="backends and whether their toolchain is available here")
    kl.set_defaults(func=cmd_backends_list)
    kt = ks.add_parser("targets", help="target profiles and the vendor documents they cite")
    kt.set_defaults(func=cmd_backends_targets)
    su = ks.add_parser("setup", help="create a backend's own environment (rknn: RKNN Toolkit2 2.5.0 venv)")
    su.add_argument("backend", help="rknn")
    su.add_argument("--path", help="venv folder (default VOXQUANT_RKNN_VENV or <cache>/rknn-venv)")
    su.add_argument("--force", action="store_true", help="delete and rebuild")
    su.set_defaults(func=cmd_backends_setup)
