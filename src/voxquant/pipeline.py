"""``voxquant run`` as a function: model -> quantized variants -> evaluation on real speech -> report.

Steps (every finished step is a cell in :class:`~voxquant.report.store.ResultStore`, so re-running on the same
output folder resumes and recomputes nothing already done):

1. data: the official Speech Commands v0.02 12-class test set, split into ``dev`` / ``eval``
   (:func:`voxquant.data.split_dev_eval`); calibration uses ``dev``, every reported number uses ``eval``;
2. model: the bundled DS-CNN (or ``--model`` weights), exported to float ONNX;
3. variants: each quantization recipe (:mod:`voxquant.quant`) applied to that ONNX model, calibrated on
   ``calib_n`` ``dev`` clips through the same front-end;
4. slices: clean; real background noise at each SNR (second half of each recording: the first half is the
   training-augmentation half); reverberation with each real RIR; far field (church RIR + noise at 10 dB);
5. accuracy of every variant on every slice; drop vs fp32 on the same clips with a paired bootstrap 95 % CI and
   McNemar's exact p;
6. latency (end to end and model only; 1 and 2 threads) and peak RSS, each variant in a fresh process;
7. ``results.json``, ``results.csv``, ``report.html`` and a terminal table.

``task`` chooses the evaluation (:data:`TASKS`, one line per task): ``"clip"`` is the above; ``"stream"`` judges the
same variants as always-on wake-word detectors on continuous streams (:func:`voxquant.streaming_run.run_stream`,
configured from the RunConfig by :func:`stream_config`); ``"sequence"`` evaluates multi-word command models (CTC)
on real accented connected digits and held-out synthetic commands (:func:`voxquant.sequence_run.run_sequence`,
configured by :func:`sequence_config`).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from voxquant.data.slices import stratified_indices  # noqa: F401  (re-exported: voxquant.pipeline.stratified_indices)
from voxquant.engine import KERNEL_AGREEMENT_MIN  # noqa: F401  (re-exported)
from voxquant.errors import ConfigError, VoxquantError

log = logging.getLogger("voxquant")

DEFAULT_RECIPES = ("fp32", "fp16", "int8_dynamic", "int8_static_minmax", "int8_static_entropy", "int8_static_percentile",
                   "int8_static_minmax_fullrange")



@dataclass
class RunConfig:
    """Configuration of ``voxquant run`` (recorded in ``results.json``).

    Attributes:
        out_dir: output folder (results, report, models, cache of cells).
        model: voxquant weights (``.pt`` with its ``.json``; ``None`` = the bundled DS-CNN), a model spec
            (``.toml``), a zoo name, or a float ``.onnx``/``.tflite`` with ``frontend`` (see :func:`resolve_model`).
        frontend: front-end preset for a bare ``.onnx``/``.tflite`` model.
        recipes: quantization recipes, in report order (``fp32`` is always added first: it is the reference).
        snrs: SNRs in dB of the noise slices.
        reverb: add one slice per real RIR.
        far_field: add the far-field slice (church RIR, then real noise at ``far_field_snr`` dB).
        far_field_snr: SNR in dB of the far-field slice.
        calib_n: calibration clips drawn from ``dev`` (seeded).
        seed: seed of calibration sampling, slices and bootstrap.
        threads: intra-op thread counts measured for latency; the first is the headline.
        latency_runs: timed runs per latency measurement (>= 200 for the report).
        latency_warmup: untimed warm-up runs.
        n_boot: bootstrap resamples for the CIs.
        max_drop: accuracy-drop budget (pp) used by the recommendation.
        limit: evaluate on at most this many ``eval`` clips (stratified; ``None`` = all): for quick runs/tests.
        eval_threads: threads used for the (batched) accuracy evaluation.
        data_root: data root (default ``VOXQUANT_DATA``): noise and RIRs, and the test set unless ``test_set``.
        test_set: folder of the 12-class test set (labelled folders or manifest layout), overriding the data root.
        progress: show progress bars.
        recipe_options: per-recipe keyword options, e.g. ``{"mixed": {"max_drop": 0.5}}``.
        backends: backend table arguments (``onnx``, ``tflite``, ``openvino``, ``rknn``, ... or ``all``); every
            recipe is built on every backend that implements it (:func:`voxquant.engine.plan_matrix`); ``fp32`` on
            ONNX Runtime is always the reference.
        data: the evaluation data: a registered set name (``fsdd``...), a manifest CSV (``path,label[,speaker]
            [,split][,...]``) or a labelled folder, with the model's labels (``None`` = Speech Commands test set);
            split into dev/eval by :func:`voxquant.data.split_dev_eval` (``split`` column, else by speaker).
        group_by: manifest columns (accent, gender, device...) that add per-group slices with CIs; per-speaker
            results are added whenever speakers are known.
        calib: calibration audio (folder or manifest CSV) instead of ``dev`` clips.
        noise, rirs: folders of the user's own noise recordings / room impulse responses for the slices.
        labels: class names of a bare ``.onnx``/``.tflite`` in output order (comma list, file, or ``sc12``).
        task: the evaluation, a key of :data:`TASKS`: ``"clip"`` (the matrix above) or ``"stream"`` (always-on
            wake word, :func:`stream_config` maps the fields; ``max_drop`` is then the allowed FRR increase in pp).
        keyword, stream_hours, conditions, fa_per_hour, hop_ms, fa_budget: ``task="stream"`` only (``None`` =
            :class:`voxquant.streaming_run.StreamConfig`'s default): the wake word, hours of stream per condition,
            stream conditions, FA/h targets, window hop (ms), FA/h budget of the recommendation.
    """

    out_dir: Path = Path("runs/default")
    model: Path | None = None
    recipes: tuple = DEFAULT_RECIPES
    snrs: tuple = (20, 10, 5, 0)
    reverb: bool = True
    far_field: bool = True
    far_field_snr: float = 10.0
    calib_n: int = 200
    seed: int = 0
    threads: tuple = (1, 2)
    latency_runs: int = 200
    latency_warmup: int = 20
    n_boot: int = 2000
    max_drop: float = 1.0
    limit: int | None = None
    eval_threads: int = 1
    data_root: Path | None = None
    test_set: Path | None = None
    frontend: str | None = None
    progress: bool = True
    recipe_options: dict = field(default_factory=dict)
    backends: tuple = ("onnx",)
    group_by: tuple = ()
    calib: Path | None = None
    noise: Path | None = None
    rirs: Path | None = None
    labels: object = None
    data: object = None
    task: str = "clip"
    keyword: str | None = None
    stream_hours: float | None = None
    conditions: tuple | None = None
    fa_per_hour: tuple | None = None
    hop_ms: float | None = None
    fa_budget: float | None = None

    #: The ``voxquant run`` option of each checked field (fields without one are named by their config key).
    OPTIONS = {"out_dir": "--out", "recipes": "--recipes", "backends": "--backends", "snrs": "--snrs",
               "calib_n": "--calib-n", "seed": "--seed", "threads": "--threads", "latency_runs": "--latency-runs",
               "n_boot": "--n-boot", "max_drop": "--max-drop", "limit": "--limit", "group_by": "--group-by",
               "task": "--task", "keyword": "--keyword", "stream_hours": "--hours", "conditions": "--conditions",
               "fa_per_hour": "--fa-per-hour", "hop_ms": "--hop-ms", "fa_budget": "--fa-budget"}
    #: Fields only ``task="stream"`` reads (``None`` = not given).
    STREAM_FIELDS = ("keyword", "stream_hours", "conditions", "fa_per_hour", "hop_ms", "fa_budget")
    #: Noise-slice SNRs outside this range (dB) are refused: below -30 dB the speech is gone, above 60 dB the
    #: noise is below 16-bit quantization noise (the slice would equal ``clean``).
    SNR_RANGE = (-30.0, 60.0)
    #: Fewest bootstrap resamples accepted: fewer give CI bounds that move with the seed by more than the
    #: resolution of the report (Efron & Tibshirani 1993, ch. 13, recommend >= 1000 for percentile intervals).
    MIN_BOOT = 100

    def validate(self) -> "RunConfig":
        """Check the type, range and finiteness of every field before any work starts (the one place shared by the
        CLI, ``--config run.toml`` and the Python API; :func:`run` calls it first).

        Checked: ``threads`` (ints >= 1; empty = no latency), ``eval_threads`` >= 1, ``latency_runs`` >= 1,
        ``latency_warmup`` >= 0, ``n_boot`` >= :attr:`MIN_BOOT`, ``seed`` in [0, 2**32 - 1], ``snrs`` finite within
        :attr:`SNR_RANGE` dB, ``far_field_snr`` likewise, ``max_drop`` (and ``recipe_options["mixed"]["max_drop"]``)
        finite in [0, 100] pp, ``limit`` ``None`` or >= 1, ``calib_n`` >= 1, ``recipes`` and ``backends`` non-empty
        tuples of names, the boolean switches, and ``out_dir`` a folder that can be written
        (:func:`voxquant.paths.ensure_writable_dir`; nothing is created).

        Returns:
            ``self`` (unchanged).

        Raises:
            ConfigError: the first bad field, naming its option (``--threads``) or config key and the bad value.
        """
        from voxquant.errors import check_int, check_number
        from voxquant.paths import ensure_writable_dir

        def opt(name):  # the CLI option and the config/API key, so either way of giving it is recognised
            return f"{self.OPTIONS[name]} ({name})" if name in self.OPTIONS and self.OPTIONS[name] != name else name

        if not isinstance(self.task, str) or self.task not in TASKS:
            raise ConfigError(f"{opt('task')}: unknown task {self.task!r}; tasks: {', '.join(TASKS)}")
        given = [n for n in self.STREAM_FIELDS if getattr(self, n) is not None]
        if self.task != "stream" and given:
            raise ConfigError(f"{opt(given[0])}: only for --task stream (task is {self.task!r})")

        def names(name):
            v = getattr(self, name)
            if isinstance(v, str) or not isinstance(v, (tuple, list)):
                raise ConfigError(f"{opt(name)}: must be a list of names, got {type(v).__name__} {v!r}")
            bad = [x for x in v if not isinstance(x, str) or not x.strip()]
            if bad:
                raise ConfigError(f"{opt(name)}: every entry must be a non-empty name, got {bad[0]!r}")
            return v

        for name in ("recipes", "backends"):
            if not names(name):
                raise ConfigError(f"{opt(name)}: empty list", hint="name at least one, e.g. --recipes fp32,int8_dynamic")
        names("group_by")
        if not isinstance(self.threads, (tuple, list)):  # empty: no latency measured
            raise ConfigError(f"{opt('threads')}: must be a list of thread counts, got {self.threads!r}")
        for t in self.threads:
            check_int(t, opt("threads"), 1, 4096)
        check_int(self.eval_threads, opt("eval_threads"), 1, 4096)
        check_int(self.latency_runs, opt("latency_runs"), 1)
        check_int(self.latency_warmup, opt("latency_warmup"), 0)
        check_int(self.n_boot, opt("n_boot"), self.MIN_BOOT)
        check_int(self.seed, opt("seed"), 0, 2**32 - 1)
        check_int(self.calib_n, opt("calib_n"), 1)
        if self.limit is not None:
            check_int(self.limit, opt("limit"), 1)
        if not isinstance(self.snrs, (tuple, list)):
            raise ConfigError(f"{opt('snrs')}: must be a list of SNRs in dB, got {self.snrs!r}")
        for s in self.snrs:
            check_number(s, f"{opt('snrs')} (dB)", *self.SNR_RANGE)
        check_number(self.far_field_snr, f"{opt('far_field_snr')} (dB)", *self.SNR_RANGE)
        check_number(self.max_drop, f"{opt('max_drop')} (pp)", 0.0, 100.0)
        mixed = (self.recipe_options or {}).get("mixed") if isinstance(self.recipe_options, dict) else None
        if not isinstance(self.recipe_options, dict):
            raise ConfigError(f"recipe_options: must be a table of per-recipe options, got {self.recipe_options!r}")
        if isinstance(mixed, dict) and "max_drop" in mixed:
            check_number(mixed["max_drop"], "recipe_options.mixed.max_drop (pp)", 0.0, 100.0)
        for name in ("reverb", "far_field", "progress"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name}: must be true or false, got {getattr(self, name)!r}")
        if not isinstance(self.out_dir, (str, os.PathLike)):
            raise ConfigError(f"{opt('out_dir')}: must be a folder path, got {self.out_dir!r}")
        if self.frontend is not None:  # a typo here would otherwise surface only after the data is loaded
            from voxquant.audio.presets import get_preset

            if not isinstance(self.frontend, str):
                raise ConfigError(f"--frontend (frontend): must be a preset name, got {self.frontend!r}")
            try:
                get_preset(self.frontend)
            except ConfigError as exc:
                raise ConfigError(f"--frontend (frontend): {exc}") from None
        ensure_writable_dir(self.out_dir, opt("out_dir"))
        return self

    def to_dict(self) -> dict:
        """The configuration as plain JSON types (recorded in the results)."""
        from voxquant.report.store import to_jsonable

        return to_jsonable(asdict(self))


# ------------------------------------------------------------------------------------------------ helpers


from voxquant.models.source import ModelSource, load_model, resolve_model  # noqa: E402,F401  (re-exported)


def slice_specs(cfg: RunConfig, rir_names: list[str]) -> list[tuple[str, str, object]]:
    """The evaluation slices of ``cfg`` as ``(name, kind, param)``: :func:`voxquant.data.slices.slice_specs`."""
    from voxquant.data.slices import slice_specs as _slice_specs

    return _slice_specs(list(rir_names), cfg.snrs, cfg.reverb, cfg.far_field, cfg.far_field_snr)


#: The row name of NNCF's accuracy-controlled model (built by the ``mixed`` recipe as its comparator).
NNCF_ROW = "mixed_nncf_mean_budget@openvino"


def kernel_check_section(variants: list[dict]) -> dict | None:
    """Report section (data, :mod:`voxquant.report.sections`): int8 kernel check (ORT fused kernels vs the QDQ
    graph simulated in float)."""
    from voxquant.report.sections import section, table, text

    rows = [v for v in variants if v.get("kernel_check")]
    if not rows:
        return None
    cells = [[v["name"], round(100 * v["kernel_check"]["qdq_simulated_accuracy"], 2),
              round(100 * v["kernel_check"]["kernel_accuracy"], 2), round(100 * v["kernel_check"]["agreement"], 1),
              ("WARNING: " + v["kernel_warning"]) if v.get("kernel_warning") else "ok"] for v in rows]
    return section("Int8 kernel check", [
        text("Each static int8 (QDQ) variant is run twice on the clean slice: through ONNX Runtime's fused int8 "
             "kernels (what the latency numbers measure) and with QDQ fusion disabled, i.e. the exact int8 arithmetic "
             "simulated in float (what an integer-exact target computes). On x86 CPUs without VNNI, ONNX Runtime's "
             "U8S8 kernels use VPMADDUBSW, whose int16 sums saturate with full-range weights (ONNX Runtime docs, "
             "'Quantize ONNX models': 'When and why do I need to try U8U8?')."),
        table(["variant", "QDQ simulated acc %", "ORT kernel acc %", "agreement %", "verdict"], cells,
              highlight=[[i, -1] for i, v in enumerate(rows) if v.get("kernel_warning")],
              caption="Highlighted: the fused kernels disagree with the exact int8 arithmetic."),
    ])


# ------------------------------------------------------------------------------------------------ the run

#: Task name -> runner (``RunConfig -> results dict``), one line per task; ``RunConfig.validate`` refuses others.
TASKS = {
    "clip": lambda cfg: run_clip(cfg),   # the matrix on clips: results.json / report.html
    "stream": lambda cfg: _run_stream(cfg),  # always-on wake word on continuous streams: stream_results.json
    "sequence": lambda cfg: _run_sequence(cfg),  # multi-word commands (CTC): sequence_results.json
}


def run_fingerprint(cfg: RunConfig, src: ModelSource, data_files: list, extra: dict | None = None,
                    audio_key: str = "") -> dict:
    """The fingerprint of a run folder: everything that changes the value of a stored cell.

    Components: ``model`` (sha256 of the model file(s)), ``data`` (sha256 of the data manifest(s) and of every
    eval/dev audio file's path, size and mtime: :func:`voxquant.data.datasets.waves_cache_key`), ``frontend``,
    ``numbers`` (config values that change cells: seed, limit, calibration size and source, far-field SNR,
    noise/RIR folders, recipe options, labels) and ``voxquant`` (version). Adding recipes, backends, slices or
    threads to a resumed run is allowed (new cells); changing any component is not.
    """
    from voxquant import __version__
    from voxquant.engine import file_digest, value_digest

    model_files = [Path(f) for f in (src.meta.get("files") or []) if Path(f).exists()]
    numbers = {"seed": cfg.seed, "limit": cfg.limit, "calib_n": cfg.calib_n, "calib": str(cfg.calib or ""),
               "far_field_snr": cfg.far_field_snr, "noise": str(cfg.noise or ""), "rirs": str(cfg.rirs or ""),
               "recipe_options": cfg.recipe_options, "labels": list(src.labels)}
    return {
        "model": file_digest(model_files) if model_files else value_digest(src.name),
        "data": value_digest([file_digest([f for f in data_files if Path(f).exists()]) if data_files else "", audio_key]),
        "frontend": value_digest(src.frontend.to_dict()),
        "numbers": value_digest({**numbers, **(extra or {})}),
        "voxquant": __version__,
    }


def run(cfg: RunConfig | None = None) -> dict:
    """``voxquant run``: validate ``cfg`` and hand it to its task's runner (:data:`TASKS`).

    Returns:
        the runner's results: ``results.json`` (``task="clip"``, :func:`run_clip`) or ``stream_results.json``
        (``task="stream"``, :func:`voxquant.streaming_run.run_stream`).

    Raises:
        VoxquantError: as the runner; ConfigError for an unknown task (listing the tasks).
    """
    cfg = (cfg or RunConfig()).validate()
    return TASKS[cfg.task](cfg)


def stream_config(cfg: RunConfig):
    """The :class:`voxquant.streaming_run.StreamConfig` of a ``task="stream"`` RunConfig.

    Mapped: ``out_dir``, ``model``, ``recipes``, ``calib_n``, ``seed``, ``n_boot``, ``data_root``, ``progress``,
    ``max_drop`` (-> ``max_frr_increase``, pp) and the stream fields that are not ``None`` (``stream_hours``,
    ``keyword``, ``conditions``, ``fa_per_hour``, ``hop_ms``, ``fa_budget``). The streaming runner builds variants on
    ONNX Runtime from the Speech Commands test set with its own noise/RIR banks, so a RunConfig that sets a field
    it cannot honour is refused rather than silently ignored.

    Raises:
        ConfigError: the first field that ``task="stream"`` does not support, naming its option.
    """
    from voxquant.streaming_run import StreamConfig

    unsupported = {"backends": ("onnx",), "data": None, "test_set": None, "group_by": (), "calib": None, "noise": None,
                   "rirs": None, "labels": None, "frontend": None, "limit": None}
    for name, default in unsupported.items():
        v = getattr(cfg, name)
        if v != default and not (isinstance(v, (list, tuple)) and tuple(v) == default):
            opt = RunConfig.OPTIONS.get(name, name)
            raise ConfigError(f"{opt} ({name}): not supported with --task stream (the streaming runner uses the Speech "
                              f"Commands test set and ONNX Runtime); got {v!r}", hint="use voxquant stream --help")
    kw = {"out_dir": Path(cfg.out_dir), "model": cfg.model, "recipes": tuple(cfg.recipes), "calib_n": cfg.calib_n,
          "seed": cfg.seed, "n_boot": cfg.n_boot, "data_root": cfg.data_root, "progress": cfg.progress,
          "max_frr_increase": cfg.max_drop}
    for name in RunConfig.STREAM_FIELDS:
        if getattr(cfg, name) is not None:
            kw[name] = getattr(cfg, name)
    return StreamConfig(**kw)


def _run_stream(cfg: RunConfig) -> dict:
    """``task="stream"``: :func:`voxquant.streaming_run.run_stream` on :func:`stream_config` (no second loop)."""
    from voxquant.streaming_run import run_stream

    return run_stream(stream_config(cfg))


def sequence_config(cfg: RunConfig):
    """The :class:`voxquant.sequence_run.SequenceConfig` of a ``task="sequence"`` RunConfig.

    Mapped: ``out_dir``, ``model`` (``None`` = the bundled convolutional model ``conv``), ``backends``, ``data``,
    ``seed``, ``n_boot``, ``max_drop`` (the WER increase budget, pp), ``reverb``, ``far_field``, ``far_field_snr``,
    ``eval_threads``, ``data_root``, ``progress``, ``recipe_options``; ``recipes``, ``snrs``, ``calib_n``,
    ``group_by``, ``threads`` and ``latency_runs`` when they differ from the clip task's defaults (else the sequence
    defaults: :data:`voxquant.sequence_run.SEQ_RECIPES`, SNRs 10 and 0 dB, 100 calibration sequences, accent and
    native groups, RTF on 1 thread from 30 runs).

    Raises:
        ConfigError: a field the sequence task cannot honour (``--test-set``, ``--calib``, ``--noise``, ``--rirs``,
            ``--labels``, ``--frontend``, ``--limit``), naming its option.
    """
    from voxquant.sequence_run import SequenceConfig

    unsupported = {"test_set": None, "calib": None, "noise": None, "rirs": None, "labels": None, "frontend": None,
                   "limit": None}
    for name, default in unsupported.items():
        if getattr(cfg, name) != default:
            opt = RunConfig.OPTIONS.get(name, name)
            raise ConfigError(f"{opt} ({name}): not supported with --task sequence; got {getattr(cfg, name)!r}",
                              hint="sequence data: --data alphanumeric-accents (default) or a manifest path,label "
                                   "(label = the spoken words)")
    base = RunConfig()
    kw = {"out_dir": Path(cfg.out_dir), "model": cfg.model if cfg.model is not None else "conv",
          "backends": tuple(cfg.backends), "data": cfg.data, "seed": cfg.seed, "n_boot": cfg.n_boot,
          "max_drop": cfg.max_drop, "reverb": cfg.reverb, "far_field": cfg.far_field,
          "far_field_snr": cfg.far_field_snr, "eval_threads": cfg.eval_threads, "data_root": cfg.data_root,
          "progress": cfg.progress, "recipe_options": dict(cfg.recipe_options)}
    for name in ("recipes", "snrs", "calib_n", "group_by", "threads", "latency_runs"):
        v = getattr(cfg, name)
        if (tuple(v) if isinstance(v, (list, tuple)) else v) != (tuple(getattr(base, name)) if isinstance(
                getattr(base, name), (list, tuple)) else getattr(base, name)):
            kw[name] = tuple(v) if isinstance(v, (list, tuple)) else v
    return SequenceConfig(**kw)


def _run_sequence(cfg: RunConfig) -> dict:
    """``task="sequence"``: :func:`voxquant.sequence_run.run_sequence` on :func:`sequence_config`."""
    from voxquant.sequence_run import run_sequence

    return run_sequence(sequence_config(cfg))


def run_clip(cfg: RunConfig | None = None) -> dict:
    """Run the whole matrix (recipes x backends x slices) through the one engine and write the report.

    Args:
        cfg: :class:`RunConfig` (defaults: bundled DS-CNN, all default recipes on ONNX Runtime, all slices, 1 and 2
            threads).

    Returns:
        The ``results.json`` dict (also written to ``cfg.out_dir``).

    Raises:
        VoxquantError: missing data, bad model file, unknown recipe/backend, resume under another fingerprint (one
            clear message).
    """
    from voxquant.audio.frontend import compute_features
    from voxquant.data import load_noise_bank, load_rir_bank, load_waves
    from voxquant.data.slices import cached_array, condition_waves, model_splits, stratified_subset
    from voxquant.engine import (MatrixInputs, MatrixSettings, check_fingerprint, ensure_source_model, plan_matrix,
                                 predict, remove_stale_temps, run_matrix, value_digest)
    from voxquant.models.zoo_default import split_noise_bank
    from voxquant.report import ResultStore, print_summary, write_csv, write_html, write_json_atomic
    from voxquant.audio.layout import to_model_layout

    cfg = (cfg or RunConfig()).validate()
    t_start = time.time()
    plan, skipped = plan_matrix(cfg.recipes, cfg.backends)  # fail fast on an unknown recipe or backend
    out = Path(cfg.out_dir)

    # 1. model and data -----------------------------------------------------------------------------------
    src = resolve_model(cfg.model, cfg.frontend, cfg.labels)
    fe = src.frontend
    labels = src.labels

    def feats(waves):
        return to_model_layout(compute_features(waves, fe), src.layout)

    from voxquant.data import ClipSet, group_values, load_calibration, split_rule

    dev, ev, remap = model_splits(labels, cfg.data_root, cfg.test_set, data=cfg.data)
    if len(ev) == 0:
        raise ConfigError(f"{cfg.data or cfg.test_set or 'the test set'}: the eval split is empty")
    ev = stratified_subset(ev, cfg.limit, cfg.seed)
    groups = {}
    if any(c.speaker for c in ev.clips):
        groups["speaker"] = np.array([c.speaker or "?" for c in ev.clips])
    for col in cfg.group_by:
        if col != "speaker":
            groups[col] = group_values(ev, col)  # a missing column: one clear error listing the available ones
    cal_set = load_calibration(cfg.calib, data_root=cfg.data_root) if cfg.calib else None
    manifests = sorted({str(p) for p in _manifests(ev) | _manifests(dev) | (_manifests(cal_set) if cal_set else set())})
    if cfg.data and Path(str(cfg.data)).is_file():
        manifests.append(str(cfg.data))

    from voxquant.data.datasets import waves_cache_key

    audio_key = value_digest([waves_cache_key(s, fe.sample_rate, fe.clip_samples) for s in (dev, ev, cal_set) if s is not None])
    fp = run_fingerprint(cfg, src, manifests, extra={"data": str(cfg.data or cfg.test_set or ""),
                                                        "clips": [(str(c.path), c.label) for c in ev.clips]},
                         audio_key=audio_key)
    check_fingerprint(out, fp)  # stops before anything is reused from another run
    (out / "models").mkdir(parents=True, exist_ok=True)
    removed = remove_stale_temps(out)
    if removed:
        log.info("removed %d temporary files of an interrupted run", removed)
    store = ResultStore(out)
    cache_key = value_digest(fp)[:16]

    # the user's noise/RIR folders are read before any audio is decoded: a bad folder stops the run at once
    noise_eval = {}
    rirs = {}
    if cfg.noise:  # the user's own noise: all of it is held out (nothing of voxquant's training saw it)
        noise_eval = load_noise_bank(cfg.noise, sample_rate=fe.sample_rate)
    else:
        try:
            _, noise_eval = split_noise_bank(load_noise_bank(cfg.data_root, sample_rate=fe.sample_rate))
        except VoxquantError as exc:
            log.warning("noise slices skipped: %s", exc)
    if cfg.rirs:
        rirs = load_rir_bank(cfg.rirs, sample_rate=fe.sample_rate)
    else:
        try:
            rirs = load_rir_bank(cfg.data_root, sample_rate=fe.sample_rate) if (cfg.reverb or cfg.far_field) else {}
        except VoxquantError as exc:
            log.warning("reverb slices skipped: %s", exc)
    y_eval = remap[ev.label_ids()]
    eval_waves = load_waves(ev, fe.sample_rate, fe.clip_samples, progress=cfg.progress)
    # calibration: the user's representative audio (--calib) or dev clips; stratified by label where labelled
    cal_src = cal_set if cal_set is not None else dev
    calib_idx = stratified_indices(cal_src.label_ids(), cfg.calib_n, cfg.seed)
    calib_waves = load_waves(cal_src.subset(calib_idx, name="calibration"), fe.sample_rate, fe.clip_samples, progress=False)
    calib = feats(calib_waves)

    specs = [s for s in slice_specs(cfg, list(rirs)) if (s[1] not in ("noise", "far_field") or noise_eval)]

    def slice_features(name, kind, param):
        return cached_array(out / "cache" / f"features_{name}_{cache_key}.npy",
                            lambda: feats(condition_waves(eval_waves, kind, param, noise_eval, rirs, cfg.seed)))

    # 2. float ONNX (atomic: a kill during the export leaves no model behind) -------------------------------------
    fp32_onnx = ensure_source_model(store, out / "models" / "model.fp32.onnx",  # hash recorded, checked on resume
                                    lambda tmp: src.export(tmp, inputs=calib))  # output parity on calibration clips

    # 3.-6. the matrix: variants x slices, latency -------------------------------------------------------------
    lat_files = [c.path for c in ev.clips[: max(1, cfg.latency_runs)]]
    ctx = {"weights": Path(cfg.model) if cfg.model else None, "data_root": cfg.data_root, "test_set": cfg.test_set,
           "seed": cfg.seed, "progress": cfg.progress}
    inputs = MatrixInputs(
        fp32_onnx=fp32_onnx, y=y_eval, labels=labels, calibration=calib, torch_model=src.torch_model,
        frontend=fe, layout=src.layout, latency_files=lat_files, recipe_context=ctx,
        slices=[(name, (lambda n=name, k=kind, p=param: slice_features(n, k, p))) for name, kind, param in specs])
    settings = MatrixSettings(eval_threads=cfg.eval_threads, threads=tuple(cfg.threads), latency_runs=cfg.latency_runs,
                              latency_warmup=cfg.latency_warmup, recipe_options=cfg.recipe_options, progress=cfg.progress)
    # the float baseline first: a model at chance level (label order? front-end?) stops before any variant is built
    from voxquant.toolchain_log import run_log_folder

    with run_log_folder(out):  # toolchain chatter (litert-torch passes, TF) goes to <out>/toolchain.log
        run_matrix(store, out, plan[:1], inputs, settings)
    from voxquant.models.parity import check_baseline, read_parity_record

    base = store.get(f"acc/{plan[0].name}/{specs[0][0]}")
    pub = src.meta.get("published") if isinstance(src.meta.get("published"), dict) else {}
    # a published accuracy on another test set (other classes, other clips) is no yardstick for this one
    published = pub.get("accuracy") if pub.get("same_test_set", True) and cfg.test_set is None else None
    baseline_note = check_baseline(base["accuracy"], len(labels), published, src.name, len(ev))
    parity = read_parity_record(fp32_onnx)
    if parity is not None:
        src.meta["conversion_parity"] = parity
    if baseline_note:
        src.meta["baseline_note"] = baseline_note
    with run_log_folder(out):
        built = run_matrix(store, out, plan, inputs, settings)
        # NNCF's accuracy-controlled int8 (mean budget), written by the mixed recipe as its comparator: an ordinary
        # row (same slices, statistics, latency, int8 coverage), not a private evaluation
        nncf_xml = out / "models" / "model.mixed.nncf.xml"
        if any(s.recipe == "mixed" for s in plan) and nncf_xml.is_file():
            from voxquant.engine import prebuilt_row

            extra = [prebuilt_row(NNCF_ROW, "openvino", "int8", nncf_xml, recipe="mixed", description=(
                "NNCF quantize_with_accuracy_control on OpenVINO: reverts layers to float until the mean dev drop is "
                "within --max-drop (the comparator of the worst-slice mixed recipe)"))]
            built.update(run_matrix(store, out, extra, inputs, settings))
            plan = plan + extra
    variant_paths = {s.name: built[s.name] for s in plan if s.backend == "onnx" and s.name in built
                     and store.get(f"variant/{s.name}")["status"] == "ok"}

    # 6b. report sections contributed by recipes (QAT details, sensitivity, mixed precision vs NNCF) ---------
    from voxquant.quant import run_report_hooks

    hook_ctx = {"out_dir": out, "store": store, "variant_paths": variant_paths, "specs": specs,
                "slice_features": slice_features, "y_eval": y_eval, "labels": labels, "frontend": fe, "cfg": cfg,
                "eval_files": lat_files, "predict": predict, "nncf_row": NNCF_ROW}
    extra_sections = run_report_hooks([s.recipe for s in plan if s.backend == "onnx"], hook_ctx)

    # 7. assemble ---------------------------------------------------------------------------------------------
    dataset = {"name": str(cfg.data) if cfg.data else "speech_commands_v0.02_test (official 12-class test set)",
               "split": "eval", "split_rule": split_rule(ClipSet("all", dev.clips + ev.clips, ev.labels)), "n_clips": len(ev),
               "n_dev_clips": len(dev), "calibration": (f"{len(calib_idx)} clips of {cfg.calib}" if cfg.calib
                                                       else f"{len(calib_idx)} clips of dev"),
               "noise": str(cfg.noise) if cfg.noise else "voxquant noise bank (held-out halves)",
               "rirs": str(cfg.rirs) if cfg.rirs else "voxquant RIR bank"}
    results = assemble(cfg, store, plan, specs, labels, src, len(ev), time.time() - t_start, extra_sections,
                       groups=groups, skipped=skipped, dataset=dataset)
    write_json_atomic(out / "results.json", results)
    write_csv(results, out / "results.csv", max_drop=cfg.max_drop)
    write_html(results, out / "report.html", max_drop=cfg.max_drop)
    if cfg.progress:
        print_summary(results, max_drop=cfg.max_drop)
    return results


def _manifests(clips) -> set:
    """The ``manifest.csv`` files (in a clip's folder or up to three folders above) a clip set was read from."""
    found = set()
    for folder in {Path(c.path).parent for c in clips.clips}:  # each folder once, not each clip
        for parent in [folder, *list(folder.parents)[:3]]:
            if (parent / "manifest.csv").is_file():
                found.add(parent / "manifest.csv")
                break
    return found


def assemble(cfg: RunConfig, store, plan, specs, labels, src: ModelSource, n_eval: int, seconds: float,
             extra_sections: list | None = None, groups: dict | None = None, skipped: list | None = None,
             dataset: dict | None = None) -> dict:
    """Build the ``results.json`` dict from the stored cells (no model is run here; see
    :func:`voxquant.engine.assemble_variants`); ``extra_sections`` (from the recipes' report hooks) are appended to
    ``results["sections"]``."""
    from voxquant.engine import assemble_variants
    from voxquant.report import build_results, recommend

    variants = assemble_variants(store, plan, [n for n, _, _ in specs], threads=tuple(cfg.threads), n_boot=cfg.n_boot,
                                 seed=cfg.seed, groups=groups)
    res_meta = {
        "config": cfg.to_dict(),
        "seed": cfg.seed,
        "labels": list(labels),
        "model": {"name": src.name, "frontend": src.frontend.to_dict(), "input_layout": src.layout,
                  **{k: v for k, v in src.meta.items() if not k.startswith("_")}},
        "dataset": {**(dataset or {"name": "speech_commands_v0.02_test (official 12-class test set)", "split": "eval",
                                   "n_clips": n_eval, "calibration": f"{cfg.calib_n} clips of dev"}),
                    "groups": sorted(groups or {})},
        "slices": [{"name": n, "kind": k, "param": p} for n, k, p in specs],
        "backends": list(dict.fromkeys(v["backend"] for v in variants)),
        "matrix_skipped": list(skipped or []),
        "seconds": seconds,
        # latency is only comparable on an otherwise idle machine: record how busy this one was
        "load_average_1_5_15min": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }
    from voxquant.report.run_sections import coverage_section, groups_section, model_section

    draft = {"variants": variants, "reference": "fp32", "matrix_skipped": res_meta["matrix_skipped"]}
    if src.layout == "raw":  # front-end in the graph: which of its ops stayed float in each quantized ONNX variant
        from voxquant.quant.ort import frontend_float_ops

        for v, spec in zip(variants, plan):
            path = store.get(f"variant/{spec.name}").get("path")
            if v.get("status") == "ok" and "int8" in str(v.get("precision")) and str(path).endswith(".onnx"):
                v["frontend_float_ops"] = frontend_float_ops(Path(path))
    draft["model"] = res_meta["model"]
    draft["dataset"] = res_meta["dataset"]
    built = [model_section(draft), groups_section(draft, cfg.max_drop), coverage_section(draft),
             kernel_check_section(variants)]
    sections = [s for s in built if s] + list(extra_sections or [])
    if sections:
        res_meta["sections"] = sections
    results = build_results(res_meta, variants)
    results["recommendation"] = recommend(results, max_drop=cfg.max_drop)
    return results
