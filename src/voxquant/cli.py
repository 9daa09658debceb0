"""The ``voxquant`` command line. One sub-command per job; ``voxquant <cmd> --help`` for details.

Errors in user input (:class:`voxquant.errors.VoxquantError`) print one line ``error: ...`` and exit 2; pass
``--debug`` for the traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import replace
from pathlib import Path


def _dataset_names() -> list[str]:
    from voxquant.data.registry import dataset_names

    return dataset_names()


def _csv(s: str) -> list[str]:
    return [x.strip() for x in s.split(",") if x.strip()]


def _floats(s: str, option: str = "value") -> tuple:
    """Comma-separated numbers; :class:`~voxquant.errors.ConfigError` naming ``option`` for one that is not."""
    return tuple(_convert(x, float, "float value", option) for x in _csv(s))


def _ints(s: str, option: str = "value") -> tuple:
    """Comma-separated integers; :class:`~voxquant.errors.ConfigError` naming ``option`` for one that is not."""
    return tuple(_convert(x, int, "int value", option) for x in _csv(s))


def _convert(x: str, conv, what: str, option: str):
    from voxquant.errors import ConfigError

    try:
        return conv(x)
    except ValueError:
        raise ConfigError(f"{option}: invalid {what} {x!r}") from None


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one :class:`~voxquant.errors.ConfigError` line
    (``error: --threads: invalid int value 'abc' (see voxquant run --help)``) instead of a usage block."""

    def error(self, message: str):
        import re

        from voxquant.errors import ConfigError

        message = re.sub(r"^argument ([^:]+): ", r"\1: ", message)
        message = re.sub(r"invalid (\w+) value: ", r"invalid \1 value ", message)
        raise ConfigError(message, hint=f"see {self.prog} --help")


# ------------------------------------------------------------------------------------------------ commands


def run_config_from_args(a):
    """The :class:`voxquant.pipeline.RunConfig` of ``voxquant run``: dataclass defaults, then ``--config`` (a TOML
    table of ``RunConfig`` field names, :func:`voxquant.commands.config.config_from_toml`), then the options given
    on the command line (the parser's defaults are ``argparse.SUPPRESS``, so only given options are in ``a``).

    Raises:
        ConfigError: unknown key or wrong type in the config file (names the file and key); a value out of range
            (:meth:`voxquant.pipeline.RunConfig.validate`, names the option and the value); an ``--out`` that
            cannot be written.
    """
    from voxquant.commands.config import config_from_toml
    from voxquant.pipeline import RunConfig

    given = vars(a)
    kw = config_from_toml(RunConfig, a.config) if given.get("config") else {}
    cli = {}
    for opt in ("model", "frontend", "labels", "data", "calib", "noise", "rirs", "seed", "calib_n", "latency_runs",
                "n_boot", "max_drop", "limit", "task", "keyword", "hop_ms", "fa_budget"):
        if opt in given:
            cli[opt] = given[opt]
    if "out" in given:
        cli["out_dir"] = Path(given["out"])
    for opt, conv in (("recipes", lambda v: tuple(_csv(v))), ("backends", lambda v: tuple(_csv(v))),
                      ("group_by", lambda v: tuple(_csv(v))), ("snrs", lambda v: _floats(v, "--snrs")),
                      ("threads", lambda v: _ints(v, "--threads")), ("conditions", lambda v: tuple(_csv(v))),
                      ("fa_per_hour", lambda v: _floats(v, "--fa-per-hour"))):
        if opt in given:
            cli[opt] = conv(given[opt])
    if "hours" in given:
        cli["stream_hours"] = given["hours"]
    if given.get("no_reverb"):
        cli["reverb"] = cli["far_field"] = False
    if given.get("quiet"):
        cli["progress"] = False
    kw.update(cli)
    if "out_dir" in kw:
        kw["out_dir"] = Path(kw["out_dir"])
    cfg = RunConfig(**kw)
    # --max-drop / --budget also drive the mixed recipe (unless the file set recipe_options.mixed itself)
    opts = dict(cfg.recipe_options)
    mixed = dict(opts.get("mixed") or {"max_drop": cfg.max_drop, "budget": "worst-slice"})
    if "max_drop" in cli:
        mixed["max_drop"] = cfg.max_drop
    if given.get("budget"):
        mixed["budget"] = given["budget"]
    opts["mixed"] = mixed
    return replace(cfg, recipe_options=opts).validate()


def cmd_run(a) -> int:
    from voxquant.pipeline import run

    cfg = run_config_from_args(a)
    res = run(cfg)
    results = {"stream": "stream_results.json", "sequence": "sequence_results.json"}.get(cfg.task, "results.json")
    print(f"wrote {cfg.out_dir / 'report.html'}, {cfg.out_dir / results} ({res['seconds']:.0f} s)")
    return 0


def _check_weights_path(out: str) -> None:
    """``--out`` of ``voxquant train``: a file path whose folder can be written, and not a folder itself."""
    from voxquant.errors import ConfigError
    from voxquant.paths import ensure_writable_dir

    if Path(out).is_dir():
        raise ConfigError(f"--out: {out} is a folder; give the weights file path (e.g. {Path(out) / 'model.pt'})")
    ensure_writable_dir(Path(out).expanduser().parent, "--out")


def cmd_train(a) -> int:
    from voxquant.models.train import TrainConfig
    from voxquant.models.zoo_default import DEFAULT_WEIGHTS, train_default

    from voxquant.errors import ConfigError, check_int, check_number

    check_int(a.epochs, "--epochs", 1)
    check_int(a.seed, "--seed", 0, 2**32 - 1)
    check_int(a.threads, "--threads", 1, 4096)
    if check_number(a.max_minutes, "--max-minutes", 0.0) == 0:
        raise ConfigError(f"--max-minutes: must be a finite number > 0, got {a.max_minutes!r}")
    if a.out:
        _check_weights_path(a.out)
    cfg = TrainConfig(epochs=a.epochs, seed=a.seed, max_minutes=a.max_minutes, threads=a.threads)
    labels = tuple(_csv(a.labels)) if a.labels else None
    if a.data is None and labels is None and a.noise is None:
        out = Path(a.out) if a.out else DEFAULT_WEIGHTS
        meta = train_default(out, cfg, progress=not a.quiet)
    else:
        name = Path(str(a.data)).stem if a.data else "speech-commands-v2-test"
        out = Path(a.out) if a.out else Path("runs") / "train" / f"{name}.pt"
        meta = train_default(out, cfg, progress=not a.quiet, data=a.data, labels=labels,
                             noise=Path(a.noise) if a.noise else None)
    print(f"{len(meta['labels'])} labels, held-out accuracy {100 * meta['holdout_accuracy']:.2f} %, eval accuracy "
          f"{100 * meta['eval_accuracy']:.2f} %, {meta['train_seconds'] / 60:.1f} min; wrote {out} (+ .json)")
    return 0


def cmd_quantize(a) -> int:
    """Build ONNX Runtime variants through the engine (:func:`voxquant.engine.plan_matrix` rows on the ``onnx``
    backend, :func:`voxquant.engine.build_artifact`), calibrated on dev clips drawn by THE stratified sampler
    (:func:`voxquant.data.slices.stratified_indices`)."""
    import numpy as np

    from voxquant.audio.frontend import compute_features
    from voxquant.data import load_waves, speech_commands_test, split_dev_eval
    from voxquant.data.slices import stratified_indices
    from voxquant.engine import MatrixInputs, MatrixSettings, build_artifact, plan_matrix
    from voxquant.models.source import load_model
    from voxquant.quant import expand_recipes, get_recipe
    from voxquant.quant.export import export_onnx

    from voxquant.audio.presets import get_preset
    from voxquant.errors import ConfigError, check_int
    from voxquant.paths import ensure_writable_dir

    check_int(a.calib_n, "--calib-n", 1)
    check_int(a.seed, "--seed", 0, 2**32 - 1)
    try:  # checked even without --onnx (where it is not used): a typo is still a typo
        get_preset(a.frontend)
    except ConfigError as exc:
        raise ConfigError(f"--frontend: {exc}") from None
    recipes = _csv(a.recipes)
    if not recipes:
        raise ConfigError("--recipes: empty list", hint="name at least one, e.g. --recipes fp16,int8_dynamic")
    out = ensure_writable_dir(a.out, "--out")
    out.mkdir(parents=True, exist_ok=True)
    plan, _ = plan_matrix(recipes, "onnx")  # fails fast on an unknown recipe
    wanted = set(expand_recipes(recipes))
    plan = [s for s in plan if s.recipe in wanted]  # the fp32 reference only when asked for
    labels: tuple = ()
    if a.onnx:
        from voxquant.audio.presets import get_preset

        from voxquant.models.checks import check_model_io

        fp32 = Path(a.onnx)
        fe = get_preset(a.frontend)
        # opset, external data, one float32 input of the front-end's shape, one finite [N, C] output (no labels
        # are given to quantize, so C is not checked)
        check_model_io(fp32, fe, "nchw", None)
    else:
        model, meta = load_model(Path(a.model) if a.model else None)
        fe, labels = meta["frontend"], tuple(meta.get("labels") or ())
        fp32 = export_onnx(model, model.example_input(), out / "model.fp32.onnx")
    calib = None
    if any(get_recipe(s.recipe).needs_calibration for s in plan):
        dev, _ = split_dev_eval(speech_commands_test())
        idx = stratified_indices(dev.label_ids(), a.calib_n, a.seed)
        calib = compute_features(load_waves(dev.subset(idx), fe.sample_rate, fe.clip_samples), fe)[:, None]
    inputs = MatrixInputs(fp32_onnx=fp32, y=np.zeros(0, np.int64), labels=labels, slices=[], calibration=calib)
    for spec in plan:
        if spec.recipe == "fp32" and fp32.resolve().parent == out.resolve():
            art_path = fp32  # the exported float model is the fp32 row
        else:
            art_path = build_artifact(spec, inputs, out, MatrixSettings(progress=False)).path
        print(f"{spec.name:24s} {Path(art_path).stat().st_size:>9,d} bytes  {art_path}")
    return 0


def cmd_eval(a) -> int:
    from voxquant.pipeline import DEFAULT_RECIPES, RunConfig, run

    cfg = RunConfig(out_dir=Path(a.out), model=a.model, frontend=a.frontend, recipes=("fp32",),
                    threads=(1,), latency_runs=a.latency_runs, limit=a.limit, progress=not a.quiet,
                    labels=a.labels)
    run(cfg)
    return 0


def cmd_bench(a) -> int:
    from voxquant.audio.frontend import FrontendConfig
    from voxquant.data import speech_commands_test, split_dev_eval
    from voxquant.eval.latency import measure_latency
    from voxquant.errors import ConfigError, check_int
    from voxquant.models.checks import check_model_io
    from voxquant.models.source import load_model

    from voxquant.backends.table import get_backend

    check_int(a.runs, "--runs", 1)
    check_int(a.warmup, "--warmup", 0)
    try:
        get_backend(a.backend)
    except ConfigError as exc:
        raise ConfigError(f"--backend: {exc}") from None
    threads = _ints(a.threads, "--threads")
    if not threads:
        raise ConfigError("--threads: empty list", hint="e.g. --threads 1,2")
    for t in threads:
        check_int(t, "--threads", 1, 4096)
    _, meta = load_model(Path(a.weights) if a.weights else None)
    fe: FrontendConfig = meta["frontend"]
    for m in a.models:  # refuse a model that does not fit the front-end / labels before timing anything
        if Path(m).suffix.lower() == ".onnx":
            check_model_io(Path(m), fe, "nchw", len(meta["labels"]))
    _, ev = split_dev_eval(speech_commands_test())
    files = [c.path for c in ev.clips[: a.runs]]
    print(f"{'model':40s} {'thr':>3s} {'e2e p50':>9s} {'e2e p95':>9s} {'model p50':>9s} {'RSS MB':>7s}")
    for m in a.models:
        for t in threads:
            r = measure_latency(Path(m), files, fe, a.backend, threads=t, runs=a.runs, warmup=a.warmup)
            print(f"{Path(m).name:40s} {t:3d} {r['e2e_ms']['p50']:9.3f} {r['e2e_ms']['p95']:9.3f} "
                  f"{r['model_ms']['p50']:9.3f} {r['peak_rss_bytes'] / 2**20:7.1f}")
    return 0


def cmd_predict(a) -> int:
    import numpy as np

    from voxquant.audio.frontend import compute_features
    from voxquant.audio.io import load_audio
    from voxquant.backends.onnxruntime import OrtSession
    from voxquant.eval.metrics import softmax
    from voxquant.models.source import load_model

    model, meta = load_model(Path(a.weights) if a.weights else None)
    fe = meta["frontend"]
    if a.onnx:
        from voxquant.models.checks import check_model_io

        check_model_io(Path(a.onnx), fe, "nchw", len(meta["labels"]))
        sess = OrtSession(Path(a.onnx), threads=1)
        run = lambda x: sess.run(x)  # noqa: E731
    else:
        import torch

        run = lambda x: model(torch.from_numpy(x)).detach().numpy()  # noqa: E731
    for f in a.files:
        w = load_audio(f, fe.sample_rate, fe.clip_samples, resample=not a.no_resample)
        p = softmax(run(compute_features(w, fe)[None, None]))[0]
        top = np.argsort(p)[::-1][:3]
        print(f"{f}: " + ", ".join(f"{meta['labels'][i]} {100 * p[i]:.1f}%" for i in top))
    return 0


def cmd_data_fetch(a) -> int:
    from voxquant.data import fetch

    path = fetch(a.name, root=Path(a.root) if a.root else None, url=a.url, progress=not a.quiet)
    print(f"installed {a.name} in {path}")
    return 0


def cmd_data_list(a) -> int:
    from voxquant.data import DATASETS, REGISTRY
    from voxquant.paths import data_root

    print(f"data root: {data_root()}  (set VOXQUANT_DATA to change)")
    print("data sets (--data NAME):")
    for name, target in DATASETS.items():
        print(f"  {name:28s} {target}")
    print("downloadable (voxquant data fetch NAME):")
    for name, spec in REGISTRY.items():
        print(f"  {name:28s} {spec.url}")
    return 0


# ------------------------------------------------------------------------------------------------ parser


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="voxquant", description=__doc__.splitlines()[0])
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.add_argument("--version", action="version", version=f"voxquant {__import__('voxquant').__version__}")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="the whole matrix: quantize every way, evaluate on real speech, report",
                       argument_default=argparse.SUPPRESS,
                       description="Defaults come from voxquant.pipeline.RunConfig; --config FILE.toml sets any "
                       "RunConfig field by name; options given here override the file.")
    from voxquant.commands.config import field_defaults, format_default
    from voxquant.pipeline import RunConfig

    rd = {k: format_default(v) for k, v in field_defaults(RunConfig).items()}
    r.add_argument("--config", help="TOML file of RunConfig fields (e.g. recipes = [\"fp32\", \"fp16\"], snrs = [10, 0], "
                   "limit = 200); command-line options override it")
    r.add_argument("--model", help="voxquant weights (.pt + .json), a model spec (.toml), a zoo name, or a float "
                   ".onnx/.tflite with --frontend; default: the bundled DS-CNN")
    r.add_argument("--frontend", help="front-end preset for a bare .onnx/.tflite model (e.g. mlperf-tiny-mfcc)")
    r.add_argument("--labels", help="class names of a bare .onnx/.tflite model in output order: comma-separated, a "
                   "text file (one per line), or 'sc12' for voxquant's 12-class order")
    r.add_argument("--data", help="your labelled audio: a registered set (voxquant data list), a manifest CSV "
                   "(path,label[,speaker][,split][,other columns]) or a folder (manifest.csv, or <label>/*.wav); split "
                   "into dev/eval by its split column, else by speaker; default: the Speech Commands v0.02 test set")
    r.add_argument("--calib", help="calibration audio (folder or manifest CSV, labels optional): your representative "
                   "device recordings; default: dev clips of --data")
    r.add_argument("--noise", help="folder of your own noise recordings for the noise slices (default: voxquant's bank)")
    r.add_argument("--rirs", help="folder of your own room impulse responses for the reverb slices (default: voxquant's bank)")
    r.add_argument("--out", help=f"output folder (resumes if it exists) [{rd['out_dir']}]")
    r.add_argument("--recipes", help=f"comma-separated recipes [{rd['recipes']}]")
    r.add_argument("--backends", help="comma list of backends to build and evaluate every recipe on "
                   f"(onnx, tflite, edgetpu, rknn, openvino, tensorrt, qnn) or 'all' [{rd['backends']}]")
    r.add_argument("--group-by", help="comma list of manifest columns (accent, gender, device...) that "
                   f"add per-group slices with CIs [{rd['group_by']}]")
    r.add_argument("--snrs", help=f"noise-slice SNRs in dB [{rd['snrs']}]")
    r.add_argument("--no-reverb", action="store_true", help="skip reverb and far-field slices "
                   f"[reverb={rd['reverb']}, far_field={rd['far_field']}]")
    r.add_argument("--calib-n", type=int, help=f"calibration clips from dev [{rd['calib_n']}]")
    r.add_argument("--seed", type=int, help=f"[{rd['seed']}]")
    r.add_argument("--threads", help=f"intra-op thread counts for latency [{rd['threads']}]")
    r.add_argument("--latency-runs", type=int, help=f"timed runs per latency measurement [{rd['latency_runs']}]")
    r.add_argument("--n-boot", type=int, help=f"bootstrap resamples [{rd['n_boot']}]")
    r.add_argument("--max-drop", type=float, help="accuracy-drop budget in pp for the recommendation (and the mixed "
                   f"recipe) [{rd['max_drop']}]")
    r.add_argument("--budget", choices=["worst-slice", "mean"], help="mixed recipe: which drop must stay within "
                   "--max-drop [worst-slice]")
    r.add_argument("--limit", type=int, help=f"evaluate on at most N eval clips (quick look) [{rd['limit']}]")
    r.add_argument("--quiet", action="store_true", help=f"no progress bars / table [progress={rd['progress']}]")
    from voxquant.pipeline import TASKS

    r.add_argument("--task", help=f"what to evaluate: {', '.join(TASKS)} (stream: always-on wake word on continuous "
                   f"streams, as voxquant stream; --max-drop is then the allowed FRR increase in pp; sequence: multi-word "
                   f"command models (CTC; --model conv|conformer|weights.pt) on real accented connected digits, "
                   f"--max-drop is then the allowed WER increase in pp) [{rd['task']}]")
    r.add_argument("--keyword", help="--task stream: the wake word, one of the model's labels [yes]")
    r.add_argument("--hours", type=float, help="--task stream: stream length per condition, hours [3.0]")
    r.add_argument("--conditions", help="--task stream: comma list of clean, noise_snr<dB>, reverb_<room>, far_field "
                   "[clean,noise_snr10,reverb_auditorium,far_field]")
    r.add_argument("--fa-per-hour", help="--task stream: comma list of FA/h targets [0.1,0.5,1.0]")
    r.add_argument("--hop-ms", type=float, help="--task stream: window hop, ms [40]")
    r.add_argument("--fa-budget", type=float, help="--task stream: FA/h budget at which the recommendation "
                   "compares FRRs [0.5]")
    r.set_defaults(func=cmd_run)

    t = sub.add_parser("train", help="train the bundled DS-CNN architecture on the dev split of a data set (default: "
                       "Speech Commands -> the bundled weights + model card; --data: your own labelled audio)")
    t.add_argument("--data", default=None, help="data spec: a registered set (" + ", ".join(_dataset_names())
                   + "), a manifest CSV (path,label[,speaker][,split],...), or a folder (manifest.csv or <label>/*.wav)")
    t.add_argument("--labels", default=None, help="comma-separated class names in output order (default: the data's "
                   "labels, sorted; a registered set keeps its own order); clips with other labels are an error")
    t.add_argument("--noise", default=None, help="folder of real noise recordings (WAV/FLAC) for training augmentation "
                   "(default: the data pack's Speech Commands noise; none if absent)")
    t.add_argument("--out", default=None, help="weights path (default: the bundled weights file; with --data: "
                   "runs/train/<data name>.pt)")
    t.add_argument("--epochs", type=int, default=60)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=1, help="torch threads; 1 is fastest when other work shares the 2 cores [%(default)s]")
    t.add_argument("--max-minutes", type=float, default=14.5, help="wall-clock budget [%(default)s]")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=cmd_train)

    q = sub.add_parser("quantize", help="build quantized ONNX variants of a model")
    q.add_argument("--model", help="voxquant weights (default: bundled DS-CNN)")
    q.add_argument("--onnx", help="a float ONNX model instead of voxquant weights (needs --frontend)")
    q.add_argument("--frontend", default="voxquant-mfcc-49x10", help="front-end preset for --onnx [%(default)s]")
    q.add_argument("--recipes", default="fp16,int8_dynamic,int8_static_minmax", help="[%(default)s]")
    q.add_argument("--calib-n", type=int, default=200)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--out", default="runs/quantized")
    q.set_defaults(func=cmd_quantize)

    e = sub.add_parser("eval", help="evaluate one model (fp32) on the eval split and its slices")
    e.add_argument("--model", help="voxquant weights (.pt), a model spec (.toml), a zoo name, or a float .onnx/.tflite "
                   "with --frontend; default: bundled DS-CNN")
    e.add_argument("--frontend", help="front-end preset for a bare .onnx/.tflite model (see voxquant.audio.presets)")
    e.add_argument("--labels", help="class names of a bare .onnx/.tflite model in output order (comma-separated, a "
                   "file, or 'sc12')")
    e.add_argument("--out", default="runs/eval")
    e.add_argument("--limit", type=int, default=None)
    e.add_argument("--latency-runs", type=int, default=200)
    e.add_argument("--quiet", action="store_true")
    e.set_defaults(func=cmd_eval)

    b = sub.add_parser("bench", help="latency (end to end and model only) of model files")
    b.add_argument("models", nargs="+", help="model artefacts (.onnx, ...)")
    b.add_argument("--weights", help="voxquant weights whose front-end to use (default: bundled)")
    b.add_argument("--backend", default="onnxruntime")
    b.add_argument("--threads", default="1,2")
    b.add_argument("--runs", type=int, default=200)
    b.add_argument("--warmup", type=int, default=20)
    b.set_defaults(func=cmd_bench)

    pr = sub.add_parser("predict", help="classify audio files with the default (or given) model")
    pr.add_argument("files", nargs="+", help="audio files (WAV/FLAC)")
    pr.add_argument("--weights", help="voxquant weights (default: bundled DS-CNN)")
    pr.add_argument("--onnx", help="run this ONNX variant instead of the PyTorch model")
    pr.add_argument("--no-resample", action="store_true", help="reject files whose sample rate differs from the model's")
    pr.set_defaults(func=cmd_predict)

    d = sub.add_parser("data", help="data sets: list, fetch")
    dsub = d.add_subparsers(dest="data_cmd", required=True, metavar="ACTION")
    f = dsub.add_parser("fetch", help="download a data set with checksum verification")
    f.add_argument("name", help="e.g. speech-commands-v2-test")
    f.add_argument("--root", help="data root (default VOXQUANT_DATA or the user cache)")
    f.add_argument("--url", help="mirror URL")
    f.add_argument("--quiet", action="store_true")
    f.set_defaults(func=cmd_data_fetch)
    dl = dsub.add_parser("list", help="known data sets (--data NAME), downloadable sets and the data root")
    dl.set_defaults(func=cmd_data_list)

    for extend in _extensions():
        extend(sub)
    return p


#: Modules whose ``add_commands(subparsers)`` adds sub-commands (backends/check/benchmark, zoo, studies).
EXTENSION_MODULES = ("voxquant.commands.backends", "voxquant.commands.zoo", "voxquant.commands.studies",
                     "voxquant.commands.stream", "voxquant.commands.cascade")


def _extensions() -> list:
    import importlib

    out = []
    for mod in EXTENSION_MODULES:
        try:
            m = importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name == mod:  # that package has no CLI (yet); anything else is a real error
                continue
            raise
        out.append(m.add_commands)
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``voxquant`` command. Returns the exit status."""
    from voxquant.errors import VoxquantError

    parser = build_parser()
    try:
        a = parser.parse_args(argv)
    except VoxquantError as exc:  # a usage error (_Parser.error): one line, exit 2 like argparse
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.DEBUG if a.debug else logging.WARNING, format="%(levelname)s: %(message)s")
    if not a.debug:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        return int(a.func(a) or 0)
    except VoxquantError as exc:
        if a.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished cells are saved; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
