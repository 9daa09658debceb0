"""The bad-input corpus as data: one :class:`Case` per input (imported as ``corpus_cases``).

A case is ``(id, kind, entry, build, expect)``:

* ``kind``: ``option`` (bad option values), ``out`` (bad output folders), ``data`` (bad data folders/manifests),
  ``audio`` (bad audio files), ``model`` (bad ONNX / .pt / .json), ``spec`` (bad model specs).
* ``entry``: ``cli:<command>`` (``voxquant.cli.main([...])``) or ``api:<function>`` (the Python API).
* ``build(tmp) -> (target, needles)``: writes what the case needs under ``tmp``; ``target`` is the argv list (CLI)
  or a zero-argument callable (API); ``needles`` are what the error line must name (each a string, or a tuple of
  alternatives: the option name or the bad value).
* ``expect``: ``"error"`` (CLI: exit 2 and exactly one stderr line ``error: ...`` holding the needles; API: a
  ``VoxquantError`` whose message holds them) or ``"ok"`` (a documented sensible success; ``why`` says why).

``data="shared"`` cases run with the real data pack (``shared_data`` fixture) and must stop at validation: the
test's tripwire turns any start of work (waves loaded, a variant built, a model trained, latency timed) into a
failure. Every other case runs with an empty ``VOXQUANT_DATA``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import corpus_builders as B

#: No record waits on another area any more (door validation, data and model checks are merged); kept as the
#: marker for records that would need one.
DOOR = None


@dataclass(frozen=True)
class Case:
    id: str
    kind: str
    entry: str
    build: Callable
    expect: str = "error"
    why: str = ""
    xfail: str | None = None
    data: str = "none"  # "none": empty VOXQUANT_DATA; "shared": the real data pack
    work_ok: bool = False  # True: the case may load waves (a tiny synthetic set); the tripwire is off


CASES: list[Case] = []


def add(*a, **kw):
    CASES.append(Case(*a, **kw))


# ------------------------------------------------------------------------------------------------ option values

INT_BAD = ["abc", "1.5", "", "nan", "1e3", "0x10"]
NEG = ["-1", "-100"]
FLOAT_BAD = ["abc", "", "nan", "inf", "-inf", "1e999"]


def _base(cmd: str, tmp: Path) -> list[str]:
    """A command line that is valid except for the data (empty VOXQUANT_DATA) and the option under test."""
    if cmd == "run":
        return ["run", "--out", str(tmp / "out"), "--quiet"]
    if cmd == "eval":
        return ["eval", "--out", str(tmp / "out"), "--quiet"]
    if cmd == "quantize":
        return ["quantize", "--out", str(tmp / "q"), "--recipes", "int8_static_minmax"]
    if cmd == "bench":
        return ["bench", str(B.make_onnx(tmp / "m" / "good.onnx"))]
    if cmd == "benchmark":
        return ["benchmark", "--out", str(tmp / "b"), "--quiet", "--formats", "onnx"]
    if cmd == "train":
        return ["train", "--out", str(tmp / "w" / "model.pt"), "--quiet"]
    if cmd == "zoo-eval":
        return ["zoo", "eval", "arm-cnn-s-int8"]
    if cmd == "predict":
        return ["predict", str(B.good_wav(tmp / "a" / "clip.wav"))]
    raise KeyError(cmd)


def _opt_case(cmd, opt, value, needles=None, xfail=DOOR, expect="error", why=""):
    def build(tmp, cmd=cmd, opt=opt, value=value):
        return [*_base(cmd, tmp), opt, value], needles if needles is not None else [opt]
    safe = value.replace(" ", "_") or "EMPTY"
    add(f"option-{cmd}-{opt.strip('-')}={safe}", "option", f"cli:{cmd}", build, expect, why, xfail)


#: (command, option, bad values); ints that must be >= 1
POSITIVE_INTS = [
    ("run", "--calib-n"), ("run", "--latency-runs"), ("run", "--n-boot"), ("run", "--limit"),
    ("eval", "--limit"), ("eval", "--latency-runs"),
    ("quantize", "--calib-n"),
    ("bench", "--runs"),
    ("benchmark", "--limit"), ("benchmark", "--calib-n"), ("benchmark", "--runs"), ("benchmark", "--threads"),
    ("train", "--epochs"), ("train", "--threads"),
    ("zoo-eval", "--limit"), ("zoo-eval", "--threads"),
]
for cmd, opt in POSITIVE_INTS:
    for v in INT_BAD + NEG + ["0"]:
        _opt_case(cmd, opt, v)

# seeds: any int in [0, 2**32 - 1]
for cmd in ("run", "quantize", "benchmark", "train"):
    for v in ["abc", "1.5", "-1", str(2**32), "99999999999999999999"]:
        _opt_case(cmd, "--seed", v)

# warm-up runs: >= 0
for cmd in ("bench", "benchmark"):
    for v in ["abc", "-1", "1.5"]:
        _opt_case(cmd, "--warmup", v)

# thread lists (run, bench): comma lists of ints >= 1
for cmd in ("run", "bench"):
    for v in ["abc", "0", "-1", "1,abc", "1.5", "nan", "1,0", "99999"]:
        _opt_case(cmd, "--threads", v)
_opt_case("bench", "--threads", ",")

# SNR lists (run, benchmark): finite dB
for cmd in ("run", "benchmark"):
    for v in ["nan", "inf", "-inf", "abc", "1e309", "10,nan", "1000", "-1000"]:
        _opt_case(cmd, "--snrs", v)

# budgets / minutes: finite numbers in range
for cmd in ("run", "benchmark"):
    for v in FLOAT_BAD + ["-1", "101"]:
        _opt_case(cmd, "--max-drop", v)
for v in FLOAT_BAD + ["-1", "0"]:
    _opt_case("train", "--max-minutes", v)

# names and choices
for v in ["int8_static_minmx", "nope", "fp32,bogus"]:
    _opt_case("run", "--recipes", v, needles=[(v.split(",")[-1], "--recipes")], xfail=None)
    _opt_case("quantize", "--recipes", v, needles=[(v.split(",")[-1], "--recipes")], xfail=None)
for v in ["", ","]:
    _opt_case("run", "--recipes", v)
    _opt_case("quantize", "--recipes", v)
for v in ["tpu", "onnx,bogus"]:
    _opt_case("run", "--backends", v, needles=[(v.split(",")[-1], "--backends")], xfail=None)
_opt_case("run", "--backends", "")
for v in ["tpu", "onnx,bogus"]:
    _opt_case("benchmark", "--formats", v, needles=[(v.split(",")[-1], "--formats")], xfail=None)
_opt_case("benchmark", "--formats", "")
_opt_case("run", "--budget", "bogus")
_opt_case("zoo-eval", "--split", "bogus")
LATE = None  # names (front-end preset, backend) are checked at the door, before any data is loaded
_opt_case("bench", "--backend", "bogus", needles=[("bogus", "--backend")], xfail=LATE)
for cmd in ("run", "eval", "quantize"):
    _opt_case(cmd, "--frontend", "no-such-frontend", needles=[("no-such-frontend", "--frontend")], xfail=LATE)

# unknown options / missing values: argparse usage errors
for cmd in ("run", "eval", "quantize", "bench", "benchmark", "train", "predict", "zoo-eval"):
    def build(tmp, cmd=cmd):
        return [*_base(cmd, tmp), "--no-such-option"], ["--no-such-option"]
    add(f"option-{cmd}-unknown-option", "option", f"cli:{cmd}", build, xfail=DOOR)
for cmd, opt in (("run", "--threads"), ("quantize", "--calib-n"), ("train", "--epochs"), ("bench", "--runs")):
    def build(tmp, cmd=cmd, opt=opt):
        return [*_base(cmd, tmp), opt], [opt]
    add(f"option-{cmd}-{opt.strip('-')}-missing-value", "option", f"cli:{cmd}", build, xfail=DOOR)


def _no_cmd(tmp):
    return ["no-such-command"], ["no-such-command"]


add("option-unknown-command", "option", "cli:main", _no_cmd, xfail=DOOR)
add("option-zoo-eval-unknown-model", "option", "cli:zoo-eval", lambda tmp: (["zoo", "eval", "no-such-model"],
                                                                             ["no-such-model"]))
add("option-zoo-eval-no-name", "option", "cli:zoo-eval", lambda tmp: (["zoo", "eval"], ["zoo"]))
add("option-check-unknown-target", "option", "cli:check",
    lambda tmp: (["check", str(B.make_onnx(tmp / "good.onnx")), "--target", "no-such-target", "--no-evidence"],
                 ["no-such-target"]))


# run --config TOML files
def _config(text, needles):
    def build(tmp):
        p = tmp / "run.toml"
        p.write_text(text)
        return ["run", "--config", str(p), "--out", str(tmp / "out"), "--quiet"], [*needles]
    return build


CONFIGS = {
    "missing_file": (None, ["run.toml"], None),
    "not_toml": ("threads = = 1\n", ["run.toml"], None),
    "unknown_key": ("thread = [1]\n", ["run.toml", "thread"], None),
    "threads_str": ('threads = "abc"\n', ["threads"], DOOR),
    "threads_zero": ("threads = [0]\n", ["threads"], DOOR),
    "snrs_str": ('snrs = ["a"]\n', ["snrs"], DOOR),
    "snrs_nan": ("snrs = [nan]\n", ["snrs"], DOOR),
    "n_boot_neg": ("n_boot = -5\n", ["n_boot"], DOOR),
    "seed_float": ("seed = 1.5\n", ["seed"], DOOR),
    "limit_zero": ("limit = 0\n", ["limit"], DOOR),
    "max_drop_inf": ("max_drop = inf\n", ["max_drop"], DOOR),
    "recipes_int": ("recipes = 3\n", ["recipes"], DOOR),
    "recipes_empty": ("recipes = []\n", ["recipes"], DOOR),
    "reverb_str": ('reverb = "yes"\n', ["reverb"], DOOR),
    "far_field_snr_nan": ("far_field_snr = nan\n", ["far_field_snr"], DOOR),
    "calib_n_zero": ("calib_n = 0\n", ["calib_n"], DOOR),
    "latency_warmup_neg": ("latency_warmup = -1\n", ["latency_warmup"], DOOR),
    "eval_threads_zero": ("eval_threads = 0\n", ["eval_threads"], DOOR),
    "recipe_options_list": ("recipe_options = [1]\n", ["recipe_options"], DOOR),
    "binary": ("\x00\x01\x02", ["run.toml"], None),
}
for name, (text, needles, xf) in CONFIGS.items():
    if text is None:
        def build(tmp):
            return ["run", "--config", str(tmp / "run.toml"), "--out", str(tmp / "out"), "--quiet"], ["run.toml"]
    else:
        build = _config(text, needles)
    add(f"option-run-config-{name}", "option", "cli:run", build, xfail=xf)


# Python API: RunConfig values through pipeline.run
def _api_run(**kw):
    def build(tmp):
        from voxquant.pipeline import RunConfig, run

        cfg = RunConfig(out_dir=tmp / "out", progress=False, **kw)
        return (lambda: run(cfg)), [next(iter(kw))]
    return build


API_RUN = {
    "threads_zero": {"threads": (0,)}, "threads_str": {"threads": "1,2"}, "threads_float": {"threads": (1.5,)},
    "snrs_nan": {"snrs": (float("nan"),)}, "snrs_inf": {"snrs": (float("inf"),)}, "snrs_str": {"snrs": ("a",)},
    "n_boot_zero": {"n_boot": 0}, "n_boot_neg": {"n_boot": -1}, "seed_neg": {"seed": -1}, "seed_float": {"seed": 0.5},
    "limit_zero": {"limit": 0}, "limit_str": {"limit": "10"}, "calib_n_zero": {"calib_n": 0},
    "latency_runs_zero": {"latency_runs": 0}, "max_drop_nan": {"max_drop": float("nan")},
    "max_drop_neg": {"max_drop": -1.0}, "recipes_str": {"recipes": "fp32"}, "recipes_empty": {"recipes": ()},
    "backends_empty": {"backends": ()}, "eval_threads_zero": {"eval_threads": 0},
    "far_field_snr_nan": {"far_field_snr": float("nan")}, "reverb_str": {"reverb": "no"},
    "latency_warmup_neg": {"latency_warmup": -5}, "recipe_options_list": {"recipe_options": [1]},
}
for name, kw in API_RUN.items():
    add(f"option-api-run-{name}", "option", "api:pipeline.run", _api_run(**kw), xfail=DOOR)
for name, kw in (("recipes_unknown", {"recipes": ("nope",)}), ("backends_unknown", {"backends": ("tpu",)})):
    def build(tmp, kw=kw):
        from voxquant.pipeline import RunConfig, run

        cfg = RunConfig(out_dir=tmp / "out", progress=False, **kw)
        return (lambda: run(cfg)), [next(iter(kw.values()))[0]]
    add(f"option-api-run-{name}", "option", "api:pipeline.run", build)

# with the real data pack: bad values must stop before any work (the tripwire); a few per kind
for opt, v in (("--snrs", "nan"), ("--threads", "0"), ("--n-boot", "-5"), ("--limit", "-3"), ("--max-drop", "nan"),
               ("--calib-n", "0"), ("--latency-runs", "0"), ("--seed", "-1")):
    def build(tmp, opt=opt, v=v):
        return ["run", "--out", str(tmp / "out"), "--quiet", "--recipes", "fp32", "--no-reverb", opt, v], [opt]
    add(f"option-run-realdata-{opt.strip('-')}={v}", "option", "cli:run", build, xfail=DOOR, data="shared")

# ------------------------------------------------------------------------------------------------ output folders


def _a_file(tmp):
    p = tmp / "afile"
    p.write_text("x")
    return p


OUTS = {
    "is_a_file": lambda tmp: _a_file(tmp),
    "below_a_file": lambda tmp: _a_file(tmp) / "sub",
    "dangling_symlink": lambda tmp: (Path(tmp / "dl").symlink_to(tmp / "gone" / "x"), tmp / "dl")[1],
    "unwritable_proc": lambda tmp: Path("/proc/voxquant_corpus_out"),
}
for cmd in ("run", "eval", "quantize", "benchmark"):
    for name, mk in OUTS.items():
        def build(tmp, cmd=cmd, mk=mk):
            out = mk(tmp)
            argv = [a for a in _base(cmd, tmp)]
            argv[argv.index("--out") + 1] = str(out)
            return argv, [("--out", str(out))]
        add(f"out-{cmd}-{name}", "out", f"cli:{cmd}", build, xfail=DOOR)
for name, mk in OUTS.items():
    def build(tmp, mk=mk):
        out = mk(tmp)
        return ["train", "--out", str(out / "model.pt"), "--quiet"], [("--out", str(out))]
    add(f"out-train-{name}", "out", "cli:train", build, xfail=DOOR)


def _train_out_folder(tmp):
    (tmp / "wdir").mkdir()
    return ["train", "--out", str(tmp / "wdir"), "--quiet"], [("--out", "wdir")]


add("out-train-is_a_folder", "out", "cli:train", _train_out_folder, xfail=DOOR)
for name, mk in OUTS.items():
    def build(tmp, mk=mk):
        from voxquant.pipeline import RunConfig, run

        cfg = RunConfig(out_dir=mk(tmp), progress=False)
        return (lambda: run(cfg)), [("out_dir", "--out")]
    add(f"out-api-run-{name}", "out", "api:pipeline.run", build, xfail=DOOR)
for name in ("is_a_file", "below_a_file"):
    def build(tmp, name=name):
        out = OUTS[name](tmp)
        return ["run", "--out", str(out), "--quiet", "--recipes", "fp32", "--no-reverb", "--limit", "24"], \
            [("--out", str(out))]
    add(f"out-run-realdata-{name}", "out", "cli:run", build, xfail=DOOR, data="shared")

# ------------------------------------------------------------------------------------------------ data folders


def _data_api(fn_name, name, table):
    def build(tmp):
        from voxquant import data

        spec = table[name](tmp / "d") if table is B.BAD_DATA else table[name][0](tmp / "d")
        fn = getattr(data, fn_name)
        return (lambda: fn(spec)), [Path(spec).name]
    return build


#: cases that would wait on another area (none left)
DATA_XFAIL: dict = {}  # none left (duplicate header columns are refused by read_manifest)
for name in B.BAD_DATA:
    add(f"data-api-load_dataset-{name}", "data", "api:load_dataset", _data_api("load_dataset", name, B.BAD_DATA),
        xfail=DATA_XFAIL.get(name))


def _cli_data(cmd, opt, name):
    def build(tmp):
        spec = B.BAD_DATA[name](tmp / "d")
        argv = [*_base(cmd, tmp), opt, str(spec)]
        return argv, [Path(spec).name]
    return build


for name in B.BAD_DATA:
    add(f"data-cli-run-{name}", "data", "cli:run", _cli_data("run", "--data", name), xfail=DATA_XFAIL.get(name))
    add(f"data-cli-train-{name}", "data", "cli:train", _cli_data("train", "--data", name), xfail=DATA_XFAIL.get(name))

# calibration: labels optional, but the same file problems
CALIB_BAD = ["nonexistent", "empty_folder", "only_text_files", "not_csv_file", "manifest_empty_file",
             "manifest_header_only", "manifest_no_path_col", "manifest_missing_audio", "manifest_binary",
             "manifest_empty_path", "manifest_is_folder"]
for name in CALIB_BAD:
    add(f"data-api-load_calibration-{name}", "data", "api:load_calibration",
        _data_api("load_calibration", name, B.BAD_DATA))


def _unknown_labels(tmp):
    from voxquant.data import load_dataset

    root = B.labelled_folder(tmp / "d", labels=("yes", "banana"))
    return (lambda: load_dataset(root, labels=B.SC12)), ["banana"]


add("data-api-load_dataset-unknown_labels", "data", "api:load_dataset", _unknown_labels)


def _dup_labels(tmp):
    from voxquant.data import load_dataset

    root = B.labelled_folder(tmp / "d")
    return (lambda: load_dataset(root, labels=["yes", "yes", "no"])), ["yes"]


add("data-api-load_dataset-duplicate_model_labels", "data", "api:load_dataset", _dup_labels)


def _run_unknown_labels(tmp):
    root = B.labelled_folder(tmp / "d", labels=("yes", "banana"))
    return [*_base("run", tmp), "--data", str(root)], ["banana"]


add("data-cli-run-unknown_labels", "data", "cli:run", _run_unknown_labels)

for name, (mk, why) in B.ODD_DATA.items():
    add(f"data-api-load_dataset-{name}", "data", "api:load_dataset", _data_api("load_dataset", name, B.ODD_DATA),
        expect="ok", why=why)
    if name in ("dangling_symlink", "symlink_loop", "dir_named_x_wav", "fifo_named_wav", "dir_symlink_loop"):
        add(f"data-api-load_calibration-{name}", "data", "api:load_calibration",
            _data_api("load_calibration", name, B.ODD_DATA), expect="ok", why=why)


def _waves_of(name):
    def build(tmp):
        from voxquant.data import load_dataset, load_waves

        root = B.labelled_folder(tmp / "d")
        p = B.write_audio(root / "yes", name, B.BAD_AUDIO)
        return (lambda: load_waves(load_dataset(root), 16000, 16000, progress=False, cache=False)), [p.name]
    return build


# bad audio inside a data set: load_waves names the file (the labelled-folder scan may also skip it: then the name
# must be in the warning -- here only files that are regular files named .wav/.flac)
for name in B.BAD_AUDIO:
    if name in ("directory_named_wav", "missing_file"):
        continue
    add(f"data-api-load_waves-{name}", "data", "api:load_waves", _waves_of(name), work_ok=True)


# registered names and the calibration/noise/rir options with the real data pack
def _real_opt(opt, name):
    def build(tmp):
        spec = B.BAD_DATA[name](tmp / "d")
        return ["run", "--out", str(tmp / "out"), "--quiet", "--recipes", "fp32", "--limit", "24", opt, str(spec)], \
            [Path(spec).name]
    return build


for opt in ("--calib", "--noise", "--rirs"):
    for name in ("nonexistent", "empty_folder", "only_text_files"):
        xf = None  # noise/RIR folders are read before any audio is decoded
        add(f"data-cli-run-realdata-{opt.strip('-')}-{name}", "data", "cli:run", _real_opt(opt, name), xfail=xf,
            data="shared")

# ------------------------------------------------------------------------------------------------ audio files


def _audio_api(name, table, **kw):
    def build(tmp):
        from voxquant.audio.io import load_audio

        p = B.write_audio(tmp / "a", name, table)
        return (lambda: load_audio(p, 16000, 16000, **kw)), [p.name]
    return build


def _audio_cli(name, table, extra=()):
    def build(tmp):
        p = B.write_audio(tmp / "a", name, table)
        return ["predict", *extra, str(p)], [p.name]
    return build


for name in B.BAD_AUDIO:
    add(f"audio-api-load_audio-{name}", "audio", "api:load_audio", _audio_api(name, B.BAD_AUDIO))
    add(f"audio-cli-predict-{name}", "audio", "cli:predict", _audio_cli(name, B.BAD_AUDIO))
for name, (_, _, why) in B.OK_AUDIO.items():
    add(f"audio-api-load_audio-{name}", "audio", "api:load_audio", _audio_api(name, B.OK_AUDIO), expect="ok", why=why)
    add(f"audio-cli-predict-{name}", "audio", "cli:predict", _audio_cli(name, B.OK_AUDIO), expect="ok", why=why)
for name in ("rate_8k", "rate_44k1"):
    add(f"audio-cli-predict-no-resample-{name}", "audio", "cli:predict",
        _audio_cli(name, B.OK_AUDIO, extra=("--no-resample",)))
    add(f"audio-api-load_audio-no-resample-{name}", "audio", "api:load_audio",
        _audio_api(name, B.OK_AUDIO, resample=False))
add("audio-api-load_audio-clip-float_1_5", "audio", "api:load_audio", _audio_api("float_1_5", B.BAD_AUDIO,
                                                                                 out_of_range="clip"),
    expect="ok", why="out_of_range='clip' is the documented opt-in to clip stored floats to [-1, 1]")
add("audio-api-load_audio-clip-float_nan", "audio", "api:load_audio", _audio_api("float_nan", B.BAD_AUDIO,
                                                                                 out_of_range="clip"))
add("audio-api-load_audio-mix-stereo", "audio", "api:load_audio", _audio_api("stereo", B.BAD_AUDIO, mix_to_mono=True),
    expect="ok", why="mix_to_mono=True averages the channels (documented)")

# ------------------------------------------------------------------------------------------------ models


def _onnx_cli(cmd, name):
    def build(tmp):
        p = B.write_onnx(tmp / "m", name)
        if cmd == "predict":
            argv = ["predict", "--onnx", str(p), str(B.good_wav(tmp / "a" / "clip.wav"))]
        elif cmd == "quantize":
            argv = ["quantize", "--onnx", str(p), "--frontend", B.FE, "--recipes", "int8_dynamic", "--out", str(tmp / "q")]
        elif cmd == "bench":
            argv = ["bench", str(p), "--runs", "3", "--warmup", "0", "--threads", "1"]
        elif cmd in ("run", "eval"):
            argv = [cmd, "--model", str(p), "--frontend", B.FE, "--labels", "sc12", "--out", str(tmp / "out"), "--quiet"]
        elif cmd == "benchmark":
            argv = ["benchmark", "--model", str(p), "--frontend", B.FE, "--out", str(tmp / "b"), "--quiet",
                    "--formats", "onnx"]
        elif cmd == "check":
            argv = ["check", str(p), "--target", "cpu-x86", "--no-evidence"]
        return argv, [p.name]
    return build


def _onnx_api(fn, name):
    def build(tmp):
        p = B.write_onnx(tmp / "m", name)
        if fn == "resolve_model":
            from voxquant.models.source import resolve_model

            def call():
                src = resolve_model(p, frontend=B.FE, labels="sc12")
                src.export(tmp / "out" / "model.fp32.onnx")
        else:
            from voxquant.audio.presets import get_preset
            from voxquant.models.checks import check_model_io

            def call():
                check_model_io(p, get_preset(B.FE), "nchw", 12)
        return call, [p.name]
    return build


#: graphs that do not fit a 49x10 MFCC 12-label model but are valid ONNX: `voxquant check` reports on them
CHECK_OK = ("int8_input", "two_inputs", "rank3_output", "wrong_input_shape")
for name, (_, static) in B.BAD_ONNX.items():
    for cmd in ("predict", "quantize", "bench", "check"):
        if cmd == "quantize" and name == "width_35":
            continue  # quantize has no labels: any width is a valid classifier (documented in cmd_quantize)
        if cmd == "check" and not static:
            continue  # check inspects the graph against a target; it does not run the model
        if cmd == "check" and name in CHECK_OK:
            add(f"model-cli-{cmd}-{name}", "model", f"cli:{cmd}", _onnx_cli(cmd, name), expect="ok",
                why="voxquant check has no front-end or labels: any valid ONNX graph gets its target report")
            continue
        add(f"model-cli-{cmd}-{name}", "model", f"cli:{cmd}", _onnx_cli(cmd, name))
    for cmd in ("run", "eval", "benchmark"):
        if static:  # NaN/width are found at export, after the waves are loaded (needs real data)
            add(f"model-cli-{cmd}-{name}", "model", f"cli:{cmd}", _onnx_cli(cmd, name))
    for fn in ("resolve_model", "check_model_io"):
        add(f"model-api-{fn}-{name}", "model", f"api:{fn}", _onnx_api(fn, name))
add("model-cli-quantize-width_35", "model", "cli:quantize", _onnx_cli("quantize", "width_35"), expect="ok",
    why="quantize is given no labels, so a 35-class float model is a valid classifier to quantize", work_ok=True)


def _weights_cli(cmd, name):
    def build(tmp):
        pt = B.BAD_WEIGHTS[name](tmp / "w")
        if cmd == "predict":
            argv = ["predict", "--weights", str(pt), str(B.good_wav(tmp / "a" / "clip.wav"))]
        elif cmd == "quantize":
            argv = ["quantize", "--model", str(pt), "--recipes", "fp16", "--out", str(tmp / "q")]
        elif cmd == "bench":
            argv = ["bench", str(B.make_onnx(tmp / "m" / "good.onnx")), "--weights", str(pt)]
        elif cmd == "check":
            argv = ["check", str(B.make_onnx(tmp / "m" / "good.onnx")), "--target", "coral-edgetpu", "--no-evidence",
                    "--weights", str(pt)]
        else:
            argv = [cmd, "--model", str(pt), "--out", str(tmp / "out"), "--quiet"]
        return argv, [(pt.name, pt.with_suffix(".json").name)]
    return build


def _weights_api(name):
    def build(tmp):
        from voxquant.models.source import resolve_model

        pt = B.BAD_WEIGHTS[name](tmp / "w")
        return (lambda: resolve_model(pt)), [(pt.name, pt.with_suffix(".json").name)]
    return build


for name in B.BAD_WEIGHTS:
    for cmd in ("predict", "quantize", "bench", "run", "eval", "check"):
        add(f"model-cli-{cmd}-weights-{name}", "model", f"cli:{cmd}", _weights_cli(cmd, name))
    add(f"model-api-resolve_model-weights-{name}", "model", "api:resolve_model", _weights_api(name))


def _model_name(value, needle):
    def build(tmp):
        return ["run", "--model", value, "--out", str(tmp / "out"), "--quiet"], [needle]
    return build


add("model-cli-run-zoo-typo", "model", "cli:run", _model_name("arm-cnn-s-int", "arm-cnn-s-int"))
add("model-cli-run-txt-model", "model", "cli:run",
    lambda tmp: (["run", "--model", str((tmp / "m.txt", (tmp / "m.txt").write_text("x"))[0]), "--out",
                  str(tmp / "o"), "--quiet"], ["m.txt"]))
add("model-cli-run-bare-onnx-no-frontend", "model", "cli:run",
    lambda tmp: (["run", "--model", str(B.make_onnx(tmp / "g.onnx")), "--labels", "sc12", "--out", str(tmp / "o"),
                  "--quiet"], ["--frontend"]))
add("model-cli-run-bare-onnx-no-labels", "model", "cli:run",
    lambda tmp: (["run", "--model", str(B.make_onnx(tmp / "g.onnx")), "--frontend", B.FE, "--out", str(tmp / "o"),
                  "--quiet"], ["--labels"]))
add("model-cli-run-bare-onnx-labels-file-missing", "model", "cli:run",
    lambda tmp: (["run", "--model", str(B.make_onnx(tmp / "g.onnx")), "--frontend", B.FE, "--labels",
                  str(tmp / "labels.txt"), "--out", str(tmp / "o"), "--quiet"], [("labels.txt", "--labels")]))
add("model-cli-run-bare-onnx-labels-dup", "model", "cli:run",
    lambda tmp: (["run", "--model", str(B.make_onnx(tmp / "g.onnx")), "--frontend", B.FE, "--labels", "a,a,b",
                  "--out", str(tmp / "o"), "--quiet"], [("--labels", "'a'")]))
add("model-cli-check-good", "model", "cli:check",
    lambda tmp: (["check", str(B.make_onnx(tmp / "good.onnx")), "--target", "cpu-x86", "--no-evidence"], []),
    expect="ok", why="a valid float model: the off-accelerator report is printed")
add("model-cli-predict-good-external-data", "model", "cli:predict",
    lambda tmp: (["predict", "--onnx", str(B.make_onnx(tmp / "e" / "m.onnx", external=True)),
                  str(B.good_wav(tmp / "a" / "c.wav"))], []),
    expect="ok", why="weights in a .onnx.data file next to the model are loaded")

# ------------------------------------------------------------------------------------------------ specs


def _spec_api(fn, name):
    def build(tmp):
        p = B.write_spec(tmp / "s", name)
        if fn == "load_spec":
            from voxquant.zoo.spec import load_spec

            return (lambda: load_spec(p)), ["spec.toml"]
        from voxquant.models.source import resolve_model

        return (lambda: resolve_model(p)), ["spec.toml"]
    return build


def _spec_cli(cmd, name):
    def build(tmp):
        p = B.write_spec(tmp / "s", name)
        return [cmd, "--model", str(p), "--out", str(tmp / "out"), "--quiet"], ["spec.toml"]
    return build


for name in B.BAD_SPECS:
    for fn in ("load_spec", "resolve_model"):
        if fn == "load_spec" and name == "model_missing_file":
            add(f"spec-api-{fn}-{name}", "spec", f"api:{fn}", _spec_api(fn, name), expect="ok",
                why="load_spec reads the spec only; the model file is checked when it is resolved (resolve_model)")
            continue
        add(f"spec-api-{fn}-{name}", "spec", f"api:{fn}", _spec_api(fn, name))
    for cmd in ("run", "eval"):
        add(f"spec-cli-{cmd}-{name}", "spec", f"cli:{cmd}", _spec_cli(cmd, name))


def _good_spec(tmp):
    from voxquant.zoo.spec import load_spec

    (tmp / "s").mkdir()
    B.tiny_onnx(tmp / "s" / "m.onnx")
    p = tmp / "s" / "spec.toml"
    p.write_text(B.spec_text(shape="[-1, 1, 49, 10]"))
    return (lambda: load_spec(p)), []


add("spec-api-load_spec-dynamic-batch", "spec", "api:load_spec", _good_spec, expect="ok",
    why="a dynamic batch dimension (-1) is allowed in input.shape")

# ------------------------------------------------------------------------------------------------ commands that succeed


for argv, why in ((["data", "list"], "lists data sets and the (empty) data root"),
                  (["zoo", "list"], "lists zoo models and whether they are here"),
                  (["backends", "targets"], "lists target profiles")):
    add(f"option-cli-{'-'.join(argv)}-ok", "option", f"cli:{argv[0]}", lambda tmp, argv=argv: (list(argv), []),
        expect="ok", why=why)

IDS = [c.id for c in CASES]
assert len(IDS) == len(set(IDS)), [i for i in IDS if IDS.count(i) > 1]
