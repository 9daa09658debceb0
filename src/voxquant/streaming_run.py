"""``voxquant stream`` as a function: a clip model's quantized variants judged as always-on wake-word detectors.

Steps (every finished step is stored, so re-running on the same output folder resumes and recomputes nothing):

1. streams: one seeded continuous stream per acoustic condition (:func:`voxquant.data.streams.build_stream`, saved
   under ``out_dir/streams/<condition>/``); positives are the keyword's clips of the **eval** split only (dev
   calibrates), negatives the other eval-split words; noise is the held-out half of each real noise recording
   (:func:`voxquant.models.zoo_default.split_noise_bank`), rooms are real RIRs (:func:`voxquant.data.load_rir_bank`).
   Every condition uses the same seed, so all conditions share one placement of words and every variant is scored
   on the very same audio;
2. variants: the float ONNX model and each recipe built through the engine (:func:`voxquant.engine.plan_matrix` on
   ONNX Runtime, :func:`voxquant.engine.build_artifact`), calibrated on ``calib_n`` dev clips
   (:func:`voxquant.data.slices.stratified_indices`), exactly as ``voxquant run`` builds them;
3. scores: the keyword probability of every window (:func:`voxquant.eval.streaming.window_scores`, hop
   ``hop_ms``) per variant and condition, stored as the array cell ``stream/<variant>/<condition>``;
4. metrics: DET curve, FRR at each FA/h target with a bootstrap 95 % CI, FA/h and FRR at the fixed threshold (the
   model kind's rule: 0.5 for clip models, the publisher's ``probability_cutoff`` for microWakeWord)
   and at the threshold re-tuned to each target, detection latency p50/p95, and each variant's FRR difference to
   fp32 at 0.5 FA/h with a paired bootstrap 95 % CI;
5. ``stream_results.json`` (data), ``stream_table.md``, ``det_<condition>.png`` and ``report.html``.

Conventions: a detection is a hit when it falls in ``[start, end + 0.5 s]`` of a keyword (Picovoice wake-word
benchmark); FA/h divides the false accepts by the whole stream's duration (false accepts can occur anywhere outside
the keyword windows, including inside other words).
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from voxquant.errors import ConfigError, DataError
from voxquant.eval.streaming import window_scores

log = logging.getLogger("voxquant")

#: Default conditions: clean, real noise at 10 dB (Picovoice's benchmark SNR), one real room, far field
#: (church RIR, then noise at 10 dB: the far-field slice of ``voxquant run``).
DEFAULT_CONDITIONS = ("clean", "noise_snr10", "reverb_auditorium", "far_field")
#: SNR (dB) of the far-field condition, as :func:`voxquant.data.slices.slice_specs` defaults.
FAR_FIELD_SNR = 10.0
#: Bits per weight of a variant's precision, to order variants whose artefact size is unknown (e.g. a float
#: reference emulated from a published int8 model).
PRECISION_BITS = {"int8": 8, "mixed": 12, "fp16": 16, "fp32": 32}
#: Repeat-trigger zone (s) after a hit keyword's acceptance window when the kind's rule names none: detections
#: there are the same utterance firing again after the cooldown (:func:`voxquant.eval.streaming.match`), counted
#: apart from false accepts. 1 s = the clip models' window (the word leaves the window 1 s after its end).
REPEAT_S = 1.0
#: The fixed decision threshold reported next to the re-tuned ones.
FIXED_THRESHOLD = 0.5
#: FA/h target of the headline int8-vs-fp32 comparison.
HEADLINE_FA_H = 0.5
#: Swept thresholds: 0.00..1.00 step 0.01, plus 1 - 10^-k (k = 2..6) so that rare-FA operating points of saturated
#: softmax scores are reachable.
THRESHOLDS = np.unique(np.round(np.concatenate([np.linspace(0.0, 1.0, 101), 1.0 - np.logspace(-6, -2, 17)]), 12))


@dataclass
class StreamConfig:
    """Configuration of ``voxquant stream`` (recorded in ``stream_results.json``).

    Attributes:
        out_dir: output folder (streams, models, cells, results, report); resumable.
        model: as ``voxquant run --model`` (``None`` = the bundled DS-CNN): a clip classifier with a host feature
            front-end; or a natively stateful model of :data:`STREAM_KINDS` (``microwakeword-alexa``, ...).
        keyword: the wake word; must be one of the model's labels (``None``: the model kind's default, ``yes`` for
            clip models, the model's own word for microWakeWord).
        recipes: quantization recipes on ONNX Runtime (``fp32`` is always added first: the reference).
        conditions: ``clean``, ``noise_snr<dB>``, ``reverb_<room>`` (a real RIR of the bank) or ``far_field``.
        stream_hours: length of each condition's stream, hours (default 5.5: about 3.2-3.8 h of it lie outside the
            keyword acceptance windows, the issue's "at least 3 hours of negatives per condition").
        hop_ms: window hop, milliseconds (20-100).
        smooth_k: moving average over the last ``smooth_k`` outputs before the threshold (1 = none).
        refractory_s: cooldown after a detection, seconds.
        fa_per_hour: FA/h targets of the operating points.
        fa_budget: the user's false-accept budget (FA/h) at which the recommendation compares FRRs.
        max_frr_increase: FRR increase over fp32 (percentage points) allowed by the recommendation, judged on the
            upper bound of the paired bootstrap 95 % CI (:func:`voxquant.eval.rules.within_budget`).
        n_boot: bootstrap resamples of the CIs.
        boot_block_s: block length (s) of the negative-audio bootstrap (hours of negatives, cut shorter for streams
            of a few hours).
        calib_n: calibration clips from dev.
        seed: seed of streams, calibration and bootstrap.
        data_root: data root (default ``VOXQUANT_DATA``).
        progress: progress messages and the printed table.
        negatives: the user's own negative recordings (folder or manifest CSV, any length; ``None``: the data
            pack's other words). Cut into pieces, each used once: the stream's hours are bounded by them
            (:func:`voxquant.data.streams.user_stream_sources`).
        positives: the user's own keyword clips (folder or manifest CSV; ``None``: the data pack's eval clips).
    """

    out_dir: Path = Path("runs/stream")
    model: Path | None = None
    keyword: str | None = None
    recipes: tuple = ("fp32", "int8_static_minmax")
    conditions: tuple = DEFAULT_CONDITIONS
    stream_hours: float = 5.5
    hop_ms: float = 40.0
    smooth_k: int = 1
    refractory_s: float = 1.0
    fa_per_hour: tuple = (0.1, 0.5, 1.0)
    fa_budget: float = HEADLINE_FA_H
    max_frr_increase: float = 1.0
    n_boot: int = 1000
    boot_block_s: float = 300.0
    calib_n: int = 200
    seed: int = 0
    data_root: Path | None = None
    progress: bool = True
    negatives: Path | None = None
    positives: Path | None = None

    OPTIONS = {"out_dir": "--out", "keyword": "--keyword", "recipes": "--recipes", "conditions": "--conditions",
               "stream_hours": "--hours", "hop_ms": "--hop-ms", "smooth_k": "--smooth-k",
               "refractory_s": "--refractory-s", "fa_per_hour": "--fa-per-hour", "fa_budget": "--fa-budget",
               "max_frr_increase": "--max-frr-increase", "n_boot": "--n-boot",
               "boot_block_s": "--boot-block-s", "calib_n": "--calib-n", "seed": "--seed",
               "negatives": "--negatives", "positives": "--positives"}
    #: Fewest bootstrap resamples accepted (as :attr:`voxquant.pipeline.RunConfig.MIN_BOOT`).
    MIN_BOOT = 100

    def validate(self) -> "StreamConfig":
        """Check every field before any work starts (like :meth:`voxquant.pipeline.RunConfig.validate`).

        Returns:
            ``self``.

        Raises:
            ConfigError: the first bad field, naming its option and value.
        """
        from voxquant.errors import check_int, check_number
        from voxquant.paths import ensure_writable_dir

        def opt(name):
            return f"{self.OPTIONS[name]} ({name})" if name in self.OPTIONS else name

        for name in ("recipes", "conditions"):
            v = getattr(self, name)
            if isinstance(v, str) or not isinstance(v, (tuple, list)) or not v:
                raise ConfigError(f"{opt(name)}: must be a non-empty list of names, got {v!r}")
            bad = [x for x in v if not isinstance(x, str) or not x.strip()]
            if bad:
                raise ConfigError(f"{opt(name)}: every entry must be a non-empty name, got {bad[0]!r}")
        for c in self.conditions:
            parse_condition(c)
        if len(set(self.conditions)) != len(self.conditions):
            raise ConfigError(f"{opt('conditions')}: a condition is listed twice: {list(self.conditions)}")
        if self.keyword is not None and (not isinstance(self.keyword, str) or not self.keyword.strip()):
            raise ConfigError(f"{opt('keyword')}: must be a non-empty word, got {self.keyword!r}")
        check_number(self.stream_hours, f"{opt('stream_hours')} (h)", 1e-4, 1000.0)
        check_number(self.hop_ms, f"{opt('hop_ms')} (ms)", 1.0, 1000.0)
        check_int(self.smooth_k, opt("smooth_k"), 1, 1000)
        check_number(self.refractory_s, f"{opt('refractory_s')} (s)", 0.0, 60.0)
        if isinstance(self.fa_per_hour, str) or not isinstance(self.fa_per_hour, (tuple, list)) or not self.fa_per_hour:
            raise ConfigError(f"{opt('fa_per_hour')}: must be a non-empty list of FA/h targets, got {self.fa_per_hour!r}")
        for f in self.fa_per_hour:
            check_number(f, f"{opt('fa_per_hour')} (FA/h)", 0.0, 1e6)
        check_number(self.fa_budget, f"{opt('fa_budget')} (FA/h)", 0.0, 1e6)
        check_number(self.max_frr_increase, f"{opt('max_frr_increase')} (pp)", 0.0, 100.0)
        check_int(self.n_boot, opt("n_boot"), self.MIN_BOOT)
        check_number(self.boot_block_s, f"{opt('boot_block_s')} (s)", 1.0, 1e6)
        check_int(self.calib_n, opt("calib_n"), 1)
        check_int(self.seed, opt("seed"), 0, 2**32 - 1)
        if not isinstance(self.progress, bool):
            raise ConfigError(f"progress: must be true or false, got {self.progress!r}")
        for name in ("negatives", "positives"):
            v = getattr(self, name)
            if v is None:
                continue
            if not isinstance(v, (str, os.PathLike)) or not str(v).strip():
                raise ConfigError(f"{opt(name)}: must be a folder or manifest CSV path, got {v!r}")
            if not Path(v).expanduser().exists():
                raise ConfigError(f"{opt(name)}: no such folder or manifest: {v}")
        if not isinstance(self.out_dir, (str, os.PathLike)):
            raise ConfigError(f"{opt('out_dir')}: must be a folder path, got {self.out_dir!r}")
        ensure_writable_dir(self.out_dir, opt("out_dir"))
        return self

    def to_dict(self) -> dict:
        """The configuration as plain JSON types."""
        from voxquant.atomic import to_jsonable

        return to_jsonable(asdict(self))


def parse_condition(name: str) -> tuple[str, object]:
    """``(kind, param)`` of a condition name: ``clean`` -> ``("clean", None)``, ``noise_snr10`` -> ``("noise",
    10.0)``, ``reverb_<room>`` -> ``("reverb", room)``, ``far_field`` -> ``("far_field", FAR_FIELD_SNR)``.

    Raises:
        ConfigError: any other name.
    """
    if name == "clean":
        return "clean", None
    if name == "far_field":
        return "far_field", FAR_FIELD_SNR
    if name.startswith("noise_snr"):
        try:
            snr = float(name[len("noise_snr"):])
        except ValueError:
            snr = math.nan
        if math.isfinite(snr) and -30.0 <= snr <= 60.0:
            return "noise", snr
    if name.startswith("reverb_") and len(name) > len("reverb_"):
        return "reverb", name[len("reverb_"):]
    raise ConfigError(f"--conditions: unknown condition {name!r}",
                      hint="use clean, noise_snr<dB> (e.g. noise_snr10), reverb_<room> or far_field")


def _model_spec(model, src):
    """The zoo/spec :class:`~voxquant.zoo.spec.ModelSpec` behind ``src`` (a spec ``.toml`` or a zoo name), else
    ``None`` (voxquant weights, a bare ONNX/TFLite model)."""
    from voxquant.errors import VoxquantError

    if not src.meta.get("spec"):
        return None
    try:
        if model is not None and Path(str(model)).suffix.lower() == ".toml":
            from voxquant.zoo import load_spec

            return load_spec(Path(model))
        from voxquant.zoo import zoo_spec

        return zoo_spec(str(src.meta["spec"]))
    except VoxquantError:
        return None


def stream_splits(cfg: StreamConfig, src) -> tuple:
    """The dev/eval split of the Speech Commands v0.02 test set in the model's label space, and the keyword's word in
    the data.

    Models scored on the 12 Speech Commands labels go through :func:`voxquant.data.slices.model_splits`. A zoo/spec
    model whose ``[labels] target`` is ``"map"`` or ``"word"`` (e.g. the MLPerf Tiny streaming wake word:
    ``marvin -> Marvin``, ``_silence_ -> Silence``, anything else ``Unknown``) gets each clip's class from its
    spec (:func:`voxquant.zoo.spec.target_label`), exactly as ``voxquant zoo`` scores it: its labels are not the
    data's labels, so a label-set check would refuse it. A spec whose output is ``probabilities`` is marked so that
    window scores are not softmaxed twice (``src.meta["outputs"] = "probs"``).

    Args:
        cfg: the configuration (``model``, ``keyword``, ``data_root``).
        src: the resolved :class:`~voxquant.models.source.ModelSource`.

    Returns:
        ``(dev, eval, y_eval, data_keyword)``: two :class:`~voxquant.data.ClipSet` (same split as ``voxquant run``),
        ``int64 [N_eval]`` model class ids (``-1``: a clip the model cannot score) and the spoken word whose clips
        are the keyword's positives.

    Raises:
        ConfigError: a mapped model's keyword that only the catch-all ``"*"`` maps to (e.g. ``Unknown``).
        DataError / LabelMismatchError: data missing or labels that do not fit (:func:`model_splits`).
    """
    from voxquant.data.slices import model_splits

    spec = _model_spec(cfg.model, src)
    if spec is not None and spec.output_kind == "probabilities":
        src.meta.setdefault("outputs", "probs")
    if spec is None or spec.target == "label":
        dev, ev, remap = model_splits(tuple(src.labels), cfg.data_root)
        return dev, ev, remap[ev.label_ids()], cfg.keyword
    from voxquant.data.sets.speech_commands import speech_commands_test
    from voxquant.data.splits import split_dev_eval
    from voxquant.zoo.evaluate import targets

    dev, ev = split_dev_eval(speech_commands_test(cfg.data_root))
    word = cfg.keyword
    if spec.target == "map":
        words = [w for w, lab in spec.label_map.items() if lab == cfg.keyword and w != "*" and not w.startswith("_")]
        if not words:
            raise ConfigError(f"--keyword: {cfg.keyword!r} of model {src.name} is not the class of a spoken word (its "
                              f"label map: {', '.join(f'{k} -> {v}' for k, v in spec.label_map.items())})")
        word = words[0]
    return dev, ev, targets(spec, ev), word


def _stream_for(cfg: StreamConfig, condition: str, positives, negatives, noise_eval, rirs, sample_rate: int,
                keyword: str | None = None):
    """The saved stream of ``condition``, built (and saved) on the first call; ``keyword``: the spoken word of the
    positives (default ``cfg.keyword``; differs for a model with a label map)."""
    from voxquant.data.streams import build_stream, load_stream, save_stream

    folder = Path(cfg.out_dir) / "streams" / condition
    if (folder / "stream.json").is_file():
        return load_stream(folder)
    kind, param = parse_condition(condition)
    snr, rir = None, None
    if kind in ("noise", "far_field"):
        snr = float(param)
    if kind == "reverb":
        if param not in rirs:
            raise ConfigError(f"--conditions: no room impulse response named {param!r}; rooms: {', '.join(sorted(rirs))}")
        rir = rirs[param]
    if kind == "far_field":
        rir = rirs[next((k for k in rirs if "church" in k), next(iter(rirs)))]
    if snr is not None and not noise_eval:
        raise DataError(f"condition {condition!r} needs the real noise bank, which is missing from the data root")
    t0 = time.time()
    s = build_stream(positives, negatives, noise_eval if snr is not None else None, keyword=keyword or cfg.keyword,
                     duration_s=cfg.stream_hours * 3600.0, sample_rate=sample_rate, snr_db=snr, rir=rir,
                     seed=cfg.seed, negatives_once=cfg.negatives is not None)
    s.info["condition"] = condition
    s.info["negatives"] = str(cfg.negatives) if cfg.negatives is not None else None
    s.info["positives"] = str(cfg.positives) if cfg.positives is not None else None
    if s.info.get("bounded_by_negatives"):
        log.warning("stream %s: %.3f h instead of the %.3g h asked: the negatives of %s are used up (each piece is "
                    "used once)", condition, s.duration_s / 3600.0, cfg.stream_hours, cfg.negatives)
    save_stream(s, folder)
    log.info("stream %s: %.0f s, %d keywords, built in %.1f s", condition, s.duration_s, len(s.keyword_events()),
             time.time() - t0)
    return s


class ClipKind:
    """A clip classifier (ONNX after export, host feature front-end) slid over the stream: the default kind.

    Variants are the recipes built through the engine (:func:`voxquant.engine.plan_matrix` on ONNX Runtime,
    :func:`voxquant.engine.build_artifact`), calibrated on ``calib_n`` dev clips, exactly as ``voxquant run`` builds
    them; scores are :func:`voxquant.eval.streaming.window_scores` (hop ``hop_ms``); the rule is the fixed threshold
    :data:`FIXED_THRESHOLD` with the run's ``smooth_k`` / ``refractory_s``.
    """

    kind = "clip"
    default_keyword = "yes"

    def __init__(self, cfg: "StreamConfig"):
        from voxquant.engine import plan_matrix
        from voxquant.models.source import resolve_model

        self.cfg = cfg
        self.src = resolve_model(cfg.model, None, None)
        self.fe = fe = self.src.frontend
        self.name = self.src.name
        self.labels = tuple(self.src.labels)
        if fe.kind != "features":
            raise ConfigError(f"model {self.src.name}: the streaming runner needs a host feature front-end, got {fe.kind!r}")
        self.sample_rate = fe.sample_rate
        self.min_samples = fe.clip_samples
        self.rule = {"threshold": FIXED_THRESHOLD, "smooth_k": None, "refractory_s": None}
        self._plan = {spec.name: spec for spec in plan_matrix(cfg.recipes, "onnx")[0]}
        self._dev = self._ev = self._y_eval = None
        self.data_keyword = None
        self._calib: list = []
        self._fp32_onnx = None

    @classmethod
    def resolve(cls, cfg: "StreamConfig") -> "ClipKind":
        """Claims every ``--model`` (the fallback kind)."""
        return cls(cfg)

    @property
    def words(self) -> list[str]:
        return [lab for lab in self.labels if not lab.startswith("_")]

    def check_keyword(self, keyword: str) -> int:
        """Index of ``keyword`` among the model's labels. Raises ConfigError naming the model's words."""
        if keyword not in self.words:
            raise ConfigError(f"--keyword: {keyword!r} is not a word of model {self.src.name}; its labels: "
                              f"{', '.join(self.words)}")
        return self.labels.index(keyword)

    def variants(self, recipes) -> list[tuple[str, str, str]]:
        return [(spec.name, spec.precision, spec.recipe) for spec in self._plan.values()]

    def _calibration(self):
        from voxquant.audio.frontend import compute_features
        from voxquant.data import load_waves
        from voxquant.data.slices import stratified_indices
        from voxquant.zoo.spec import to_model_layout

        if not self._calib:
            cfg, fe = self.cfg, self.fe
            idx = stratified_indices(self._dev.label_ids(), cfg.calib_n, cfg.seed)
            waves = load_waves(self._dev.subset(idx, name="calibration"), fe.sample_rate, fe.clip_samples,
                               progress=False)
            self._calib.append(to_model_layout(compute_features(waves, fe), self.src.layout))
        return self._calib[0]

    def build(self, variant: str, models_dir: Path, calibration_audio=None) -> dict:
        """The variant's ONNX model built through the engine (the float export is made once and verified)."""
        from voxquant.engine import (MatrixInputs, MatrixSettings, artifact_files, build_artifact, ensure_source_model)
        from voxquant.report import ResultStore

        cfg, src = self.cfg, self.src
        models_dir.mkdir(parents=True, exist_ok=True)
        if self._fp32_onnx is None:
            self._fp32_onnx = ensure_source_model(ResultStore(cfg.out_dir), models_dir / "model.fp32.onnx",
                                                  lambda tmp: src.export(tmp, inputs=self._calibration()))
        spec = self._plan[variant]
        inputs = MatrixInputs(fp32_onnx=self._fp32_onnx, y=np.zeros(0, dtype=np.int64), labels=self.labels, slices=[],
                              calibration=self._calibration(), torch_model=src.torch_model, frontend=self.fe,
                              layout=src.layout,
                              recipe_context={"weights": Path(cfg.model) if cfg.model else None,
                                              "data_root": cfg.data_root, "seed": cfg.seed, "progress": False})
        art = build_artifact(spec, inputs, models_dir, MatrixSettings(progress=False))
        return {"recipe": spec.recipe, "path": str(art.path), "size_bytes": int(art.size_bytes),
                "files": [str(f) for f in artifact_files(Path(art.path))]}

    def score(self, record: dict, audio) -> tuple[np.ndarray, np.ndarray]:
        from voxquant.backends.onnxruntime import OrtSession

        sess = OrtSession(Path(record["path"]), threads=1)
        return window_scores(sess, audio, self.fe, self.src.layout, self._kw_index, hop_ms=self.cfg.hop_ms,
                             outputs=str(self.src.meta.get("outputs") or "logits"))

    def describe(self) -> dict:
        return {"name": self.src.name, "kind": self.kind, "frontend": self.fe.to_dict(), "labels": list(self.labels),
                "keyword_index": self._kw_index, "rule": dict(self.rule)}

    def fingerprint(self) -> dict:
        from voxquant.engine import file_digest, value_digest

        files = [Path(f) for f in (self.src.meta.get("files") or []) if Path(f).exists()]
        return {"model": file_digest(files) if files else value_digest(self.src.name),
                "frontend": value_digest(self.fe.to_dict())}

    def set_keyword(self, keyword: str) -> None:
        """Check ``keyword`` and take the dev/eval split in the model's label space (:func:`stream_splits`: a zoo
        spec's label map applies; ``data_keyword`` is the spoken word of the positives)."""
        self._kw_index = self.check_keyword(keyword)
        cfg = self.cfg if self.cfg.keyword == keyword else _with_keyword(self.cfg, keyword)
        self._dev, self._ev, self._y_eval, self.data_keyword = stream_splits(cfg, self.src)

    def clip_accuracy(self, store, names: list, records: dict) -> dict | None:
        """Clip-level top-1 of every variant on the eval clips (:func:`clip_accuracy`)."""
        return clip_accuracy(self.cfg, store, names, {n: Path(records[n]["path"]) for n in names}, self.src,
                             self._ev, self._y_eval)


def _with_keyword(cfg: "StreamConfig", keyword: str) -> "StreamConfig":
    from dataclasses import replace

    return replace(cfg, keyword=keyword)


#: Streaming model kinds, tried in this order; the first whose ``resolve`` claims ``--model`` runs it (the clip kind,
#: last, claims everything). One line per kind, ``"module:Class"`` (the interface: :func:`resolve_stream_kind`).
STREAM_KINDS = {
    "microwakeword": "voxquant.eval.stateful:MicroWakeWordKind",
    "openwakeword": "voxquant.eval.openwakeword:OpenWakeWordKind",
    "dscnn_stream": "voxquant.eval.stream_conv:DSCNNStreamKind",
    "clip": "voxquant.streaming_run:ClipKind",
}


def resolve_stream_kind(cfg: "StreamConfig"):
    """The model-kind object that runs ``cfg.model`` (first of :data:`STREAM_KINDS` to claim it).

    The interface every kind implements (``ClipKind`` above; ``voxquant.eval.stateful.MicroWakeWordKind``):

    * ``resolve(model, keyword, models_root) -> kind | None`` (classmethod; the clip kind's takes the config): claim
      ``--model`` or return ``None``; raise ConfigError when ``keyword`` is not the model's word (naming it);
    * ``name``, ``kind`` (str), ``sample_rate`` (Hz of the streams), ``min_samples`` (shortest scorable audio),
      ``labels`` (the words), ``default_keyword``;
    * ``rule``: ``{"threshold", "smooth_k", "refractory_s"}``: the publisher's detection rule (``threshold`` is
      reported as the fixed threshold; a ``None`` entry takes the run's ``--smooth-k`` / ``--refractory-s``);
    * ``variants(recipes) -> [(variant, precision, description)]``, the reference first;
    * ``build(variant, models_dir, calibration_audio) -> record`` (``{"path", "files": [paths], ...}``; ``"external":
      True`` when the files live outside the run folder). ``calibration_audio()`` returns ``float32 [S]``
      consecutive dev-split stream audio for kinds that calibrate on consecutive frames;
    * ``score(record, audio float32 [S]) -> (times_s float64 [N], probs float32 [N])``: sequential from a fresh
      state (or batched, equal to sequential);
    * ``describe() -> dict`` (results' ``model``), ``fingerprint() -> dict`` (resume check);
    * optional ``check_config(cfg)``: raise ConfigError for an option the kind cannot honour (``dscnn-stream``:
      a ``--hop-ms`` other than 40).

    Raises:
        ConfigError / ModelError: from the claiming kind.
    """
    import importlib

    for key, target in STREAM_KINDS.items():
        mod, cls_name = target.split(":")
        cls = getattr(importlib.import_module(mod), cls_name)
        if cls is ClipKind:
            k = cls.resolve(cfg)
            k.set_keyword(cfg.keyword or k.default_keyword)
            return k
        k = cls.resolve(cfg.model, cfg.keyword, None)
        if k is not None:
            if hasattr(k, "check_config"):  # optional: refuse options the kind cannot honour (e.g. --hop-ms)
                k.check_config(cfg)
            return k
    raise ConfigError(f"--model {cfg.model}: no streaming model kind claims it")  # pragma: no cover


#: Length (s) and SNR (dB) of the dev-split calibration stream of kinds that calibrate on consecutive frames.
CALIBRATION_STREAM_S, CALIBRATION_SNR_DB = 300.0, 10.0


def _calibration_audio(cfg: "StreamConfig", kind) -> np.ndarray:
    """``float32 [S]``: a seeded :data:`CALIBRATION_STREAM_S`-second stream of **dev**-split clips (keyword among
    other words, the training half of the real noise bank at :data:`CALIBRATION_SNR_DB` dB), for kinds that
    calibrate on consecutive frames (openWakeWord); saved as ``streams/_calibration`` and reused. Never eval audio."""
    from voxquant.data import load_noise_bank
    from voxquant.data.streams import build_stream, default_stream_sources, load_stream, save_stream
    from voxquant.models.zoo_default import split_noise_bank

    folder = Path(cfg.out_dir) / "streams" / "_calibration"
    if (folder / "stream.json").is_file():
        return load_stream(folder).audio
    pos, neg = default_stream_sources(cfg.keyword or kind.default_keyword, cfg.data_root, split="dev")
    try:
        noise = split_noise_bank(load_noise_bank(cfg.data_root, sample_rate=kind.sample_rate))[0]
    except DataError:
        noise = None
    s = build_stream(pos, neg, noise, keyword=cfg.keyword or kind.default_keyword, duration_s=CALIBRATION_STREAM_S,
                     sample_rate=kind.sample_rate, snr_db=CALIBRATION_SNR_DB if noise else None, seed=cfg.seed + 7919)
    s.info["condition"] = "calibration (dev split)"
    save_stream(s, folder)
    return s.audio


def _variant_records(cfg: "StreamConfig", store, kind) -> dict:
    """``{variant: record}`` for every variant of ``kind``, built (and stored as ``variant/<name>``) unless stored
    and intact; a changed stored model discards that variant's score cells."""
    from voxquant.engine import files_problem, record_files

    out = Path(cfg.out_dir)
    recs = {}
    for name, precision, desc in kind.variants(cfg.recipes):
        key = f"variant/{name}"
        rec = store.get(key, None)
        # intact at the recorded paths, or (a moved run folder) next to the run's models; kinds keep files in
        # sub-folders or outside the run (published files), so the recorded paths are tried first
        if rec and (not files_problem(rec.get("files"))
                    or (not rec.get("external") and not files_problem(rec.get("files"), base=out / "models"))):
            recs[name] = rec
            continue
        if rec:
            log.warning("%s: stored model changed or missing; rebuilding it", name)
            for k in store.array_keys(f"stream/{name}/"):
                store.discard(k)
        t0 = time.time()
        built = kind.build(name, out / "models", lambda: _calibration_audio(cfg, kind))
        rec = {**built, "name": name, "precision": precision, "description": desc,
               "files": record_files(built["files"]), "build_seconds": round(time.time() - t0, 2)}
        store.put(key, rec)
        recs[name] = rec
    return recs


def record_scoring_time(store, variant: str, condition: str, cpu_s: float, wall_s: float, audio_s: float) -> None:
    """Store the compute one variant spent scoring one condition's stream (cell ``stream_time/<variant>/<condition>``,
    next to its score array): CPU seconds of this process (:func:`time.process_time`: front-end + model, one ONNX
    Runtime thread) and wall seconds, per hour of audio. Offline batched scoring, not a live per-hop timing."""
    hours = max(float(audio_s), 1e-9) / 3600.0
    store.put(f"stream_time/{variant}/{condition}", {"cpu_s": round(float(cpu_s), 4), "wall_s": round(float(wall_s), 4),
                                                     "audio_h": hours, "cpu_s_per_audio_h": float(cpu_s) / hours,
                                                     "wall_s_per_audio_h": float(wall_s) / hours})


def _metrics(cfg: StreamConfig, times, probs, stream, n_boot_seed: int, rule: dict | None = None) -> tuple[dict, object]:
    """Per variant and condition: DET curve, operating points with CIs, fixed threshold, latency.

    ``rule``: the kind's detection rule (``threshold`` reported as the fixed threshold; ``smooth_k`` /
    ``refractory_s``, ``None`` = the config's); default the clip rule (threshold 0.5)."""
    rule = rule or {}
    thr_fixed = FIXED_THRESHOLD if rule.get("threshold") is None else float(rule["threshold"])
    smooth_k = cfg.smooth_k if rule.get("smooth_k") is None else int(rule["smooth_k"])
    refractory_s = cfg.refractory_s if rule.get("refractory_s") is None else float(rule["refractory_s"])
    repeat_s = REPEAT_S if rule.get("repeat_s") is None else float(rule["repeat_s"])
    from voxquant.eval.streaming import (bootstrap_frr_ci, det_curve, detect, detection_latency_ms,
                                         frr_at_fa_per_hour, match)

    dur_h = stream.duration_s / 3600.0
    curve = det_curve(times, probs, stream.events, dur_h, thresholds=np.union1d(THRESHOLDS, [thr_fixed]),
                      smooth_k=smooth_k, refractory_s=refractory_s, repeat_s=repeat_s)
    n_kw = int(curve.hits.shape[1])

    def at_threshold(thr):
        r = match(detect(times, probs, thr, smooth_k, refractory_s), stream.events, repeat_s=repeat_s)
        return r, {"threshold": float(thr), "frr": float(1.0 - r.hits.mean()),
                   "fa_per_hour": r.n_false_accepts / dur_h, "false_accepts": r.n_false_accepts,
                   "repeat_triggers": int(r.repeat_times_s.size),
                   "repeats_per_hit": float(r.repeat_times_s.size / max(int(r.hits.sum()), 1))}

    fixed_r, fixed = at_threshold(thr_fixed)
    targets = []
    for fa_h in cfg.fa_per_hour:
        point, lo, hi = bootstrap_frr_ci(curve, float(fa_h), n_boot=cfg.n_boot, block_s=cfg.boot_block_s,
                                         seed=n_boot_seed)
        ok = curve.fa_per_hour <= float(fa_h)
        tuned = None
        if ok.any():  # the lowest threshold reaching the conservative operating point (the measured one)
            best = float(curve.frr[ok].min())
            j = int(np.flatnonzero(ok & (curve.frr == best))[0])
            _, tuned = at_threshold(curve.thresholds[j])
        targets.append({"fa_per_hour": float(fa_h), "frr": point, "ci95": [lo, hi],
                        "frr_interpolated": frr_at_fa_per_hour(curve, float(fa_h), "interpolated"), "tuned": tuned})
    return {
        "n_keywords": n_kw, "duration_h": dur_h, "n_windows": int(len(probs)),
        "det": {"thresholds": curve.thresholds.tolist(), "frr": curve.frr.tolist(),
                "fa_per_hour": curve.fa_per_hour.tolist()},
        "targets": targets, "fixed": fixed, "latency_ms": detection_latency_ms(fixed_r),
    }, curve


#: Score at or above which a fp32 detection inside the user's negatives is reported as "may contain the keyword":
#: far above the fixed threshold 0.5, so ordinary false accepts on other speech are not flagged, while a clearly
#: spoken keyword (which the fp32 model scores near 1) is.
NEGATIVES_CHECK_SCORE = 0.95


def _add_groups(cfg: StreamConfig, results: dict, curves: dict, streams: dict, ref: str) -> None:
    """``results[v][c]["groups"]``: FRR per speaker group at the threshold tuned to 0.5 FA/h (worst-decile speakers
    ranked on ``ref``; :func:`voxquant.eval.stream_groups.group_frr`)."""
    from voxquant.eval.stream_groups import group_frr, keyword_groups, tuned_index

    for i, (c, s) in enumerate(streams.items()):
        groups = keyword_groups(s.events)
        rc = curves[(ref, c)]
        j = tuned_index(rc, HEADLINE_FA_H)
        ref_missed = None if j is None else ~rc.hits[j]
        ref_groups = group_frr(rc, groups, HEADLINE_FA_H, n_boot=cfg.n_boot, seed=cfg.seed + i)
        worst = (ref_groups.get("worst_decile_speakers") or {}).get("speakers")
        for v in results:
            results[v][c]["groups"] = ref_groups if v == ref else group_frr(
                curves[(v, c)], groups, HEADLINE_FA_H, n_boot=cfg.n_boot, seed=cfg.seed + i, worst_speakers=worst,
                ref_missed=ref_missed)


def _negatives_check(cfg: StreamConfig, store, ref: str, streams: dict, window_s: float, rule: dict) -> dict:
    """Detections of the reference scoring >= :data:`NEGATIVES_CHECK_SCORE` outside every keyword window and inside
    the user's negatives, traced to a file and time (one warning line; returned as data). ``window_s``: the model's
    window (s) before a score's time stamp; ``rule``: the kind's detection rule (smoothing, cooldown)."""
    from voxquant.data.streams import locate_detections, negatives_warning
    from voxquant.eval.streaming import detect, match, smooth

    smooth_k = cfg.smooth_k if rule.get("smooth_k") is None else int(rule["smooth_k"])
    refractory_s = cfg.refractory_s if rule.get("refractory_s") is None else float(rule["refractory_s"])
    hits = []
    for c, s in streams.items():
        probs = store.get_array(f"stream/{ref}/{c}").astype(np.float64)
        times = store.get_array(f"stream_times/{ref}/{c}").astype(np.float64)
        repeat_s = REPEAT_S if rule.get("repeat_s") is None else float(rule["repeat_s"])
        fa = match(detect(times, probs, NEGATIVES_CHECK_SCORE, smooth_k, refractory_s), s.events,
                   repeat_s=repeat_s).false_accept_times_s
        score = smooth(probs, smooth_k)[np.searchsorted(times, fa)]
        hits += [{**h, "condition": c} for h in locate_detections(s, fa, window_s, score)]
    msg = negatives_warning(cfg.keyword, hits)
    if msg:
        log.warning("%s (%s score >= %g outside every keyword)", msg, ref, NEGATIVES_CHECK_SCORE)
    return {"variant": ref, "score_threshold": NEGATIVES_CHECK_SCORE, "warning": msg, "hits": hits}


def run_stream(cfg: StreamConfig | None = None) -> dict:
    """Streaming evaluation of a clip model's variants on seeded continuous streams (module docstring: steps).

    Args:
        cfg: :class:`StreamConfig` (defaults: bundled DS-CNN, ``yes``, fp32 + int8_static_minmax, four conditions
            of 5.5 h each).

    Returns:
        the ``stream_results.json`` dict: ``{"config", "model", "keyword", "dataset", "conditions": [{"name",
        "duration_h", "n_keywords", "n_events"}], "variants": [names], "results": {variant: {condition: metrics}},
        "vs_fp32": {variant: {condition: {"fa_per_hour", "diff", "ci95"}}}, "seconds", "table"}`` where metrics
        holds ``det`` (thresholds, frr, fa_per_hour lists), ``targets`` (per FA/h: ``frr``, ``ci95`` [lo, hi],
        ``frr_interpolated``, ``tuned`` {threshold, frr, fa_per_hour, false_accepts}), ``fixed`` (the kind's fixed
        threshold, ``fixed_threshold``: 0.5 for clip models, the publisher's cutoff for microWakeWord) and
        ``latency_ms`` {n, p50_ms, p95_ms, mean_ms} (keyword end to detection, audio time, at that threshold);
        ``rule`` (threshold, smooth_k, refractory_s, source) and ``variant_descriptions`` {variant: text};
        ``groups`` (FRR per speaker group at the threshold tuned to 0.5 FA/h:
        :func:`voxquant.eval.stream_groups.group_frr`); ``conditions[i]["bounded_by_negatives"]`` ({requested_s,
        duration_s} when the user's negatives ran out, else ``None``); ``negatives_check`` (with ``--negatives``:
        {variant, score_threshold, warning, hits: [{file, time_in_file_s, stream_time_s, score, condition}]}, else
        ``None``).

    Raises:
        ConfigError: bad configuration, a keyword not among the model's labels (lists them), an unknown room, a
            resume under another fingerprint. DataError: missing data, a stream shorter than one window.
    """
    from voxquant import __version__
    from voxquant.atomic import write_json_atomic, write_text_atomic
    from voxquant.data import load_noise_bank, load_rir_bank
    from voxquant.data.streams import default_stream_sources, user_stream_sources
    from voxquant.engine import check_fingerprint, value_digest
    from voxquant.eval.streaming import bootstrap_frr_diff_ci, negative_hours
    from voxquant.models.zoo_default import split_noise_bank
    from voxquant.report import ResultStore

    cfg = (cfg or StreamConfig()).validate()
    t_start = time.time()
    out = Path(cfg.out_dir)
    kind = resolve_stream_kind(cfg)
    keyword = cfg.keyword or kind.default_keyword
    if cfg.keyword is None:
        cfg.keyword = keyword
    rule = kind.rule
    if cfg.stream_hours * 3600.0 * kind.sample_rate < kind.min_samples:
        raise DataError(f"--hours {cfg.stream_hours}: a stream of {cfg.stream_hours * 3600.0:.3g} s is shorter than "
                        f"one model window ({kind.min_samples / kind.sample_rate:g} s)")

    fp = {**kind.fingerprint(), **({} if kind.kind == "clip" else {"kind": kind.kind}),
          "numbers": value_digest({"keyword": keyword, "seed": cfg.seed, "stream_hours": cfg.stream_hours,
                                   "hop_ms": cfg.hop_ms, "calib_n": cfg.calib_n, "data_root": str(cfg.data_root or ""),
                                   **{k: str(getattr(cfg, k)) for k in ("negatives", "positives")
                                      if getattr(cfg, k) is not None}}),
          "voxquant": __version__}
    check_fingerprint(out, fp)
    store = ResultStore(out)

    # 1. streams (eval split only) --------------------------------------------------------------------------
    data_keyword = getattr(kind, "data_keyword", None) or keyword  # the spoken word (MLPerf: Marvin -> marvin)
    sources: list = []
    banks: dict = {}

    def lazy_sources():
        if not sources:
            if cfg.negatives is None and cfg.positives is None:
                sources.extend(default_stream_sources(data_keyword, cfg.data_root, split="eval"))
            else:
                sources.extend(user_stream_sources(data_keyword, negatives=cfg.negatives, positives=cfg.positives,
                                                   data_root=cfg.data_root, split="eval",
                                                   min_negative_s=kind.min_samples / kind.sample_rate))
            try:
                banks["noise"] = split_noise_bank(load_noise_bank(cfg.data_root, sample_rate=kind.sample_rate))[1]
            except DataError as exc:
                log.warning("noise bank missing: %s", exc)
                banks["noise"] = {}
            banks["rirs"] = load_rir_bank(cfg.data_root, sample_rate=kind.sample_rate)
        return sources[0], sources[1], banks["noise"], banks["rirs"]

    streams = {}
    for c in cfg.conditions:
        folder = out / "streams" / c
        if (folder / "stream.json").is_file():
            from voxquant.data.streams import load_stream

            streams[c] = load_stream(folder)
        else:
            streams[c] = _stream_for(cfg, c, *lazy_sources(), sample_rate=kind.sample_rate, keyword=data_keyword)
        if streams[c].sample_rate != kind.sample_rate:
            raise DataError(f"stream at {streams[c].sample_rate} Hz, model at {kind.sample_rate} Hz", folder)
        streams[c] = streams[c].without_audio()  # one condition's samples in memory at a time (step 3 reloads)

    # 2. variants (the kind builds them; clip: through the engine) ----------------------------------------------
    records = _variant_records(cfg, store, kind)
    names = list(records)

    # 3. scores (cells) ---------------------------------------------------------------------------------------
    from voxquant.data.streams import load_stream

    for c, s in streams.items():  # condition outer: its audio is loaded once for every variant, then freed
        audio = None
        for name in names:
            key = f"stream/{name}/{c}"
            if store.has_array(key) and store.has_array(f"stream_times/{name}/{c}"):
                continue
            if audio is None:
                audio = load_stream(out / "streams" / c).audio
            t0, c0 = time.time(), time.process_time()
            times, probs = kind.score(records[name], audio)
            store.put_array(f"stream_times/{name}/{c}", np.asarray(times, np.float64))
            store.put_array(key, np.asarray(probs, np.float32))
            record_scoring_time(store, name, c, time.process_time() - c0, time.time() - t0, s.duration_s)
            if cfg.progress:
                print(f"scored {name} on {c}: {probs.size} windows in {time.time() - t0:.1f} s", flush=True)

    # 4. metrics -----------------------------------------------------------------------------------------------
    results: dict = {}
    curves: dict = {}
    for name in names:
        results[name] = {}
        for i, (c, s) in enumerate(streams.items()):
            probs = store.get_array(f"stream/{name}/{c}").astype(np.float64)
            times = store.get_array(f"stream_times/{name}/{c}").astype(np.float64)
            results[name][c], curves[(name, c)] = _metrics(cfg, times, probs, s, cfg.seed + i, rule)
    ref = names[0]
    vs = {}
    for name in names[1:]:
        vs[name] = {}
        for i, c in enumerate(streams):
            d, lo, hi = bootstrap_frr_diff_ci(curves[(ref, c)], curves[(name, c)], HEADLINE_FA_H,
                                              n_boot=cfg.n_boot, block_s=cfg.boot_block_s, seed=cfg.seed + i)
            vs[name][c] = {"fa_per_hour": HEADLINE_FA_H, "diff": d, "ci95": [lo, hi]}

    _add_groups(cfg, results, curves, streams, ref)
    neg_check = (_negatives_check(cfg, store, ref, streams, kind.min_samples / kind.sample_rate, rule)
                 if cfg.negatives is not None else None)

    # 4b. compute, sizes, the user's FA/h budget, clip-level top-1 --------------------------------------------
    for name in names:
        for c in streams:
            results[name][c]["compute"] = store.get(f"stream_time/{name}/{c}", None)
    artifacts = {name: {"size_bytes": int(records[name].get("size_bytes") or 0) or None,
                        "precision": records[name].get("precision")} for name in names}
    at_budget = budget_points(cfg, names, list(streams), curves)
    clip = None
    if hasattr(kind, "clip_accuracy"):
        clip = kind.clip_accuracy(store, names, records)
    elif hasattr(kind, "clip_eval"):  # a streaming graph that can also score clips (same quantized graph)
        c_src, c_ev, c_y, c_sess = kind.clip_eval(cfg, records)
        clip = clip_accuracy(cfg, store, names, {n: Path(records[n]["path"]) for n in names}, c_src, c_ev, c_y,
                             session_for=c_sess)

    res = {
        "config": cfg.to_dict(), "voxquant_version": __version__, "keyword": keyword,
        "model": kind.describe(),
        "dataset": {"positives": (f"the user's keyword clips ({cfg.positives})" if cfg.positives is not None else
                                  "keyword clips of the eval split (Speech Commands v0.02 test set, or Picovoice's "
                                  "wake-word clips for its six wake words)"),
                    "negatives": (f"the user's recordings ({cfg.negatives}), cut into pieces used once"
                                  if cfg.negatives is not None else "other words of the eval split")
                    + "; noise: held-out halves of the noise bank",
                    "rirs": "voxquant RIR bank",
                    "calibration": f"{cfg.calib_n} dev clips (stratified)" if kind.kind == "clip" else None},
        "conditions": [{"name": c, "duration_h": s.duration_s / 3600.0, "n_keywords": len(s.keyword_events()),
                        "negative_h": negative_hours(s.events, s.duration_s),
                        "n_events": len(s.events), "snr_db": s.info.get("snr_db"), "rir": s.info.get("rir"),
                        "bounded_by_negatives": s.info.get("bounded_by_negatives")}
                       for c, s in streams.items()],
        "variants": names, "variant_descriptions": {n: records[n].get("description") for n in names},
        "reference": ref, "fixed_threshold": rule["threshold"],
        "rule": {"threshold": rule["threshold"],
                 "smooth_k": cfg.smooth_k if rule.get("smooth_k") is None else rule["smooth_k"],
                 "refractory_s": cfg.refractory_s if rule.get("refractory_s") is None else rule["refractory_s"],
                 "repeat_s": REPEAT_S if rule.get("repeat_s") is None else rule["repeat_s"],
                 "source": rule.get("source", "voxquant default")},
        "results": results, "vs_fp32": vs, "artifacts": artifacts, "at_budget": at_budget,
        "clip_vs_stream": clip_vs_stream(clip, vs, HEADLINE_FA_H), "seconds": round(time.time() - t_start, 1),
        "negatives_check": neg_check,
    }
    res["recommendation"] = recommend_stream(res, cfg.fa_budget, cfg.max_frr_increase)
    table = stream_table(res)
    res["table"] = table
    write_json_atomic(out / "stream_results.json", res)
    write_text_atomic(out / "stream_table.md", table + "\n")
    write_stream_report(res, out)
    if cfg.progress:
        print(table)
    return res


def _finite(x) -> float | None:
    return float(x) if x is not None and math.isfinite(float(x)) else None


def budget_points(cfg: StreamConfig, variants: list, conditions: list, curves: dict) -> dict:
    """Every variant's FRR at the user's FA/h budget and its paired difference to the reference (the first variant).

    Args:
        cfg: ``fa_budget`` (FA/h), ``n_boot``, ``boot_block_s``, ``seed``.
        variants: names, reference first. conditions: names, in stream order (condition ``i`` uses seed
            ``cfg.seed + i``, as the ``vs_fp32`` differences: at 0.5 FA/h both agree).
        curves: ``{(variant, condition): DetCurve}``.

    Returns:
        ``{variant: {condition: {"fa_per_hour", "frr", "ref_frr", "diff_pp", "ci95_pp": [lo, hi]}}}``: FRR as
        fractions (conservative operating point, :func:`voxquant.eval.streaming.frr_at_fa_per_hour`; ``None`` when
        no swept threshold reaches the budget), the difference ``FRR_variant - FRR_ref`` and its paired bootstrap
        95 % CI (:func:`voxquant.eval.streaming.bootstrap_frr_diff_ci`) in percentage points.
    """
    from voxquant.eval.streaming import bootstrap_frr_diff_ci, frr_at_fa_per_hour

    ref, budget = variants[0], float(cfg.fa_budget)
    out: dict = {}
    for v in variants:
        out[v] = {}
        for i, c in enumerate(conditions):
            ref_frr = _finite(frr_at_fa_per_hour(curves[(ref, c)], budget))
            frr = _finite(frr_at_fa_per_hour(curves[(v, c)], budget))
            if v == ref:
                d, lo, hi = 0.0, 0.0, 0.0
            else:
                d, lo, hi = bootstrap_frr_diff_ci(curves[(ref, c)], curves[(v, c)], budget, n_boot=cfg.n_boot,
                                                  block_s=cfg.boot_block_s, seed=cfg.seed + i)
            pp = [None if _finite(x) is None else 100.0 * float(x) for x in (d, lo, hi)]
            out[v][c] = {"fa_per_hour": budget, "frr": frr, "ref_frr": ref_frr, "diff_pp": pp[0], "ci95_pp": pp[1:]}
    return out


def clip_accuracy(cfg: StreamConfig, store, variants: list, paths: dict, src, ev, y_eval: np.ndarray,
                  session_for=None) -> dict | None:
    """Clip-level top-1 of every variant on the eval clips the streams are built from (the split of
    :func:`stream_splits`), through THE batched predict (:func:`voxquant.engine.predict`), with each variant's
    drop vs the reference (first variant) and the paired bootstrap 95 % CI (:func:`voxquant.eval.stats.
    paired_bootstrap_drop`, ``cfg.n_boot`` resamples, seed ``cfg.seed``).

    Clips are decoded, zero-padded/cropped to the model window (:func:`voxquant.data.load_waves`), featurised by the
    model's front-end and laid out as the model input; clips the model cannot score (``y_eval == -1``) are left out.
    Per-clip correctness is stored as the array cell ``clip/<variant>`` (``bool [N]``), so a resumed run reruns
    nothing. Only for clip models (one window in, class scores out); a stateful model has no clip-level top-1.

    ``session_for(variant) -> session`` (default: an ONNX Runtime session of ``paths[variant]``) lets a streaming
    kind present its stream graph as a clip model (:class:`voxquant.eval.stream_conv.ClipsThroughStreamGraph`).

    Returns:
        ``{"n_clips", "n_boot", "variants": {variant: {"top1", "drop_pp", "ci95_pp": [lo, hi]}}}`` (accuracies as
        fractions, drops in pp, positive = worse), or ``None`` when no eval clip can be scored.
    """
    from voxquant.audio.frontend import compute_features
    from voxquant.audio.layout import to_model_layout
    from voxquant.backends.onnxruntime import OrtSession
    from voxquant.data import load_waves
    from voxquant.engine import predict
    from voxquant.eval.stats import paired_bootstrap_drop

    keep = np.flatnonzero(np.asarray(y_eval) >= 0)
    if keep.size == 0:
        return None
    y = np.asarray(y_eval)[keep]
    fe = src.frontend
    x = None
    correct = {}
    for v in variants:
        key = f"clip/{v}"
        if not store.has_array(key):
            if x is None:
                waves = load_waves(ev.subset(keep, name="eval"), fe.sample_rate, fe.clip_samples, progress=False)
                x = to_model_layout(compute_features(waves, fe), src.layout)
            sess = session_for(v) if session_for is not None else OrtSession(paths[v], threads=1)
            store.put_array(key, predict(sess, x) == y)
        correct[v] = store.get_array(key).astype(bool)
    ref = variants[0]
    out = {"n_clips": int(keep.size), "n_boot": int(cfg.n_boot), "variants": {}}
    for v in variants:
        d, lo, hi = (0.0, 0.0, 0.0) if v == ref else paired_bootstrap_drop(correct[ref], correct[v], cfg.n_boot, cfg.seed)
        out["variants"][v] = {"top1": float(correct[v].mean()), "drop_pp": d, "ci95_pp": [lo, hi]}
    return out


def clip_vs_stream(clip: dict | None, vs: dict, fa_h: float) -> dict | None:
    """Per variant: the clip top-1 drop (pp, CI) beside the streaming FRR increase at ``fa_h`` FA/h (pp, CI) per
    condition, and their difference (streaming minus clip, pp). kws_streaming (Rybakov et al. 2020, "Streaming
    keyword spotting on mobile devices") reports streaming models losing at most ~0.5 points more than their
    non-streaming versions; both are "pp worse than fp32" here.

    Returns:
        ``{"fa_per_hour", "n_clips", "variants": {variant: {"clip_top1", "clip_drop_pp", "clip_ci95_pp",
        "stream": {condition: {"dfrr_pp", "ci95_pp", "stream_minus_clip_pp"}}}}}`` (``None`` without clip results).
    """
    if not clip:
        return None
    out = {"fa_per_hour": float(fa_h), "n_clips": clip["n_clips"], "variants": {}}
    for v, c in clip["variants"].items():
        per = {}
        for cond, d in (vs.get(v) or {}).items():
            dp = None if _finite(d["diff"]) is None else 100.0 * d["diff"]
            per[cond] = {"dfrr_pp": dp, "ci95_pp": [None if _finite(x) is None else 100.0 * x for x in d["ci95"]],
                         "stream_minus_clip_pp": None if dp is None else dp - c["drop_pp"]}
        out["variants"][v] = {"clip_top1": c["top1"], "clip_drop_pp": c["drop_pp"], "clip_ci95_pp": c["ci95_pp"],
                              "stream": per}
    return out


def _size(n) -> str:
    return "-" if not n else (f"{n / 1024:.1f} KB" if n < 2**20 else f"{n / 2**20:.2f} MB")


def recommend_stream(res: dict, fa_budget: float = HEADLINE_FA_H, max_frr_increase: float = 1.0) -> dict:
    """The smallest artefact whose FRR at the user's FA/h budget is within ``max_frr_increase`` pp of the reference,
    per condition and over all conditions, judged on the upper bound of the paired bootstrap 95 % CI.

    Verdicts come from :mod:`voxquant.eval.rules` (the one place): :func:`~voxquant.eval.rules.budget_verdict`
    (within / exceeds / uncertain) on ``res["at_budget"]`` and, over all conditions,
    :func:`~voxquant.eval.rules.within_budget` on the worst condition's CI upper bound (as ``voxquant run`` does
    with slices). A CI wider than the allowed increase (:func:`~voxquant.eval.rules.ci_wider_than_budget`) gives
    "cannot tell at this stream length" with the keyword count, hours and a rough number of hours needed (CI width
    taken to shrink as 1/sqrt(hours)), never a verdict by luck; so does a stream too short to measure the budget
    at all (:func:`~voxquant.eval.rules.too_short_for_rate`: one false accept in it is more than ``fa_budget``).
    The reference itself is always acceptable.

    Args:
        res: a results dict with ``variants`` (reference first), ``conditions``, ``artifacts`` (size bytes) and
            ``at_budget`` (:func:`budget_points`, computed at ``fa_budget``).
        fa_budget: FA/h budget (for the wording; the numbers are those of ``res["at_budget"]``).
        max_frr_increase: allowed FRR increase over the reference, percentage points.

    Returns:
        ``{"fa_per_hour", "max_frr_increase_pp", "overall": {"variant", "text"}, "per_condition": {condition:
        {"variant", "text", "notes": [...]}}, "lines": [...]}``; ``lines`` is the text shown at the top of the report.
    """
    from voxquant.eval.rules import budget_verdict, ci_wider_than_budget, too_short_for_rate, within_budget

    ref = res["variants"][0]
    sizes = {v: (res.get("artifacts") or {}).get(v, {}).get("size_bytes") for v in res["variants"]}
    bits = {v: PRECISION_BITS.get(str((res.get("artifacts") or {}).get(v, {}).get("precision") or ""), 32)
            for v in res["variants"]}
    # smallest first: by size where known, else by precision (int8 < fp16 < fp32), the reference last among equals
    order = sorted(res["variants"], key=lambda v: (sizes[v] is None, sizes[v] or 0, bits[v], v == ref))
    conds = {c["name"]: c for c in res["conditions"]}
    ab = res["at_budget"]
    budget = float(max_frr_increase)

    def pct(x):
        return "-" if x is None else f"{100 * x:.1f} %"

    def describe(v, c):
        p = ab[v][c]
        lo, hi = p["ci95_pp"]
        ci = "-" if lo is None or hi is None else f"[{lo:.1f}, {hi:.1f}]"
        d = "-" if p["diff_pp"] is None else f"{p['diff_pp']:+.1f} pp"
        return (f"{v}: FRR {pct(p['frr'])} vs {pct(p['ref_frr'])} at {fa_budget:g} FA/h ({d}, 95 % CI {ci}) on {c}"
                f"{'' if sizes[v] is None else f', {_size(sizes[v])}'}")

    def verdict(v, c):
        lo, hi = ab[v][c]["ci95_pp"]
        if v == ref:
            return "within"
        if lo is None or hi is None:
            return "uncertain"
        return budget_verdict(lo, hi, budget)

    def cannot_tell(v, c):
        lo, hi = ab[v][c]["ci95_pp"]
        m = conds[c]
        note = f"cannot tell at this stream length: {m['n_keywords']} keywords, {m['duration_h']:.2f} hours"
        if lo is None or hi is None:
            return f"{note}; no threshold reaches {fa_budget:g} FA/h; need more hours"
        if ci_wider_than_budget(lo, hi, budget) and budget > 0:
            need = m["duration_h"] * ((hi - lo) / budget) ** 2
            return f"{note}; need more hours (the CI is {hi - lo:.1f} pp wide: roughly {need:.3g} h for one as narrow as {budget:g} pp)"
        return f"{note}; the CI straddles +{budget:g} pp: need more hours"

    per: dict = {}
    lines = []
    for c in conds:
        notes = []
        chosen = ref
        for v in order:
            vd = verdict(v, c)
            if vd == "within":
                chosen = v
                break
            notes.append(f"{describe(v, c)}: " + ("exceeds the budget (whole CI above it)" if vd == "exceeds"
                                                   else cannot_tell(v, c)))
        m = conds[c]
        if too_short_for_rate(m["duration_h"], fa_budget):
            text = (f"{c}: cannot tell at this stream length: {m['n_keywords']} keywords, {m['duration_h']:.2f} hours; "
                    f"one false accept is {1 / max(m['duration_h'], 1e-9):.3g} FA/h, so {fa_budget:g} FA/h is not "
                    f"measured; need more hours (at least {1 / fa_budget:.3g} h)" if fa_budget > 0 else
                    f"{c}: cannot tell: a budget of 0 FA/h cannot be measured on a finite stream")
            notes = [describe(v, c) for v in order if v != ref]
            chosen = None
        elif ab[ref][c]["ref_frr"] is None:
            text = f"{c}: no swept threshold of {ref} reaches {fa_budget:g} FA/h; cannot tell (need more hours)"
            chosen = None
        elif chosen == ref:
            text = (f"{c}: keep {ref} (FRR {pct(ab[ref][c]['frr'])} at {fa_budget:g} FA/h): no smaller variant is "
                    f"within +{budget:g} pp by its CI upper bound")
        else:
            text = f"{describe(chosen, c)}: within +{budget:g} pp by its CI upper bound"
        per[c] = {"variant": chosen, "text": text, "notes": notes}
        lines.append(text)
        lines.extend(f"  {n}" for n in notes)

    overall = None
    for v in ([] if any(p["variant"] is None for p in per.values()) else order):
        if v == ref:
            overall = ref
            break
        his = [ab[v][c]["ci95_pp"][1] for c in conds]
        if all(h is not None for h in his) and within_budget(max(his), budget):
            overall = v
            break
    if overall is None:
        head = (f"Cannot tell at {fa_budget:g} FA/h with at most +{budget:g} pp FRR: the streams are too short or no "
                "threshold reaches the budget on some condition (see below); need more hours")
    elif overall == ref:
        head = (f"Recommended at {fa_budget:g} FA/h with at most +{budget:g} pp FRR: keep {ref}"
                f"{'' if sizes[ref] is None else f' ({_size(sizes[ref])})'}: no smaller variant is within the budget "
                "on every condition by its CI upper bound")
    else:
        worst = max(conds, key=lambda c: ab[overall][c]["ci95_pp"][1])
        head = (f"Recommended at {fa_budget:g} FA/h with at most +{budget:g} pp FRR: {overall} "
                f"({_size(sizes[overall])} vs {_size(sizes[ref])} {ref}); worst condition: {describe(overall, worst)}")
    return {"fa_per_hour": float(fa_budget), "max_frr_increase_pp": budget, "overall": {"variant": overall,
            "text": head}, "per_condition": per, "lines": [head, *lines]}


def _pct(x) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


def stream_table(res: dict) -> str:
    """The Markdown table of a results dict: one row per variant and condition (FRR % at each FA/h target with
    its 95 % CI, FRR and FA/h at the fixed threshold, latency p50/p95 ms, FRR difference to fp32 at 0.5 FA/h, artefact
    size, CPU seconds spent scoring per hour of audio (:func:`record_scoring_time`; ``-`` when not recorded))."""
    targets = res["config"]["fa_per_hour"]
    thr = res.get("fixed_threshold", FIXED_THRESHOLD)
    ref = res.get("reference", "fp32")
    cols = (["variant", "condition", "keywords", "hours (negatives)"] + [f"FRR% @{t:g} FA/h [95% CI]" for t in targets]
            + [f"FRR% @thr {thr:g}", f"FA/h @thr {thr:g}", f"repeats/hit @thr {thr:g}", "latency p50/p95 ms",
               f"ΔFRR pp vs {ref} @{HEADLINE_FA_H:g} FA/h", "size", "CPU s / h audio"])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for v in res["variants"]:
        for c, m in res["results"][v].items():
            neg = next((x.get("negative_h") for x in res.get("conditions", []) if x["name"] == c), None)
            cells = [v, c, str(m["n_keywords"]), f"{m['duration_h']:.2f}" + ("" if neg is None else f" ({neg:.2f})")]
            for t in m["targets"]:
                cells.append(f"{_pct(t['frr'])} [{_pct(t['ci95'][0])}, {_pct(t['ci95'][1])}]")
            lat = m["latency_ms"]
            rep = m["fixed"].get("repeats_per_hit")
            cells += [_pct(m["fixed"]["frr"]), f"{m['fixed']['fa_per_hour']:.2f}", "-" if rep is None else f"{rep:.2f}",
                      "-" if not lat["n"] else f"{lat['p50_ms']:.0f} / {lat['p95_ms']:.0f}"]
            d = res["vs_fp32"].get(v, {}).get(c)
            cells.append("ref" if d is None else f"{_pct(d['diff'])} [{_pct(d['ci95'][0])}, {_pct(d['ci95'][1])}]")
            comp = m.get("compute") or {}
            cells += [_size(((res.get("artifacts") or {}).get(v) or {}).get("size_bytes")),
                      "-" if comp.get("cpu_s_per_audio_h") is None else f"{comp['cpu_s_per_audio_h']:.1f}"]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def clip_vs_stream_table(cvs: dict, conditions: list) -> tuple[list, list]:
    """``(columns, rows)`` of the clip-level vs streaming comparison (:func:`clip_vs_stream`): per variant, clip
    top-1 %, clip drop pp [95 % CI], streaming ΔFRR pp [95 % CI] at ``cvs["fa_per_hour"]`` per condition and
    streaming minus clip (pp); the FA/h is named in the section text."""
    def pp(x):
        return "-" if x is None else f"{x:+.1f}"

    def ci(c):
        return "-" if c is None or None in c else f"[{c[0]:.1f}, {c[1]:.1f}]"

    cols = ["variant", "clip top-1 %", "clip drop pp [95% CI]"]
    for c in conditions:
        cols += [f"{c}: ΔFRR pp [95% CI]", f"{c}: stream - clip pp"]
    rows = []
    for v, r in cvs["variants"].items():
        row = [v, f"{100 * r['clip_top1']:.2f}", "ref" if not r["stream"] else f"{pp(r['clip_drop_pp'])} {ci(r['clip_ci95_pp'])}"]
        for c in conditions:
            s = r["stream"].get(c)
            row += (["ref", "-"] if s is None else [f"{pp(s['dfrr_pp'])} {ci(s['ci95_pp'])}", pp(s["stream_minus_clip_pp"])])
        rows.append(row)
    return cols, rows


def stream_sections(res: dict) -> list[dict]:
    """The report sections (data, :mod:`voxquant.report.sections`) of a results dict: the recommendation at the
    user's FA/h budget (:func:`recommend_stream`), method and the table (with size and CPU per hour of audio), the
    clip-level vs streaming drop (:func:`clip_vs_stream`), one DET figure per condition. Sections missing from an
    older results file are left out."""
    from voxquant.report.sections import figure, list_block, section, table, text

    md = res["table"].splitlines()
    cols = [x.strip() for x in md[0].strip("|").split("|")]
    rows = [[x.strip() for x in ln.strip("|").split("|")] for ln in md[2:]]
    cfg = res["config"]
    n_frr = 4 + len(cfg["fa_per_hour"])  # the report shows the wide table as two: FRR at the targets | the rest
    out = []
    rec = res.get("recommendation")
    if rec:
        out.append(section("Recommendation", [
            text(f"**{rec['overall']['text']}**"),
            text(f"Per condition: the smallest artefact whose FRR at {rec['fa_per_hour']:g} FA/h is at most "
                 f"{rec['max_frr_increase_pp']:g} pp above {res['variants'][0]}'s, judged on the upper bound of the "
                 "paired bootstrap 95 % CI; smaller variants that fail are listed under it."),
            list_block([p["text"] + "".join(f" | {n}" for n in p["notes"]) for p in rec["per_condition"].values()]),
        ]))
    rule = res.get("rule") or {"threshold": FIXED_THRESHOLD, "smooth_k": cfg["smooth_k"],
                               "refractory_s": cfg["refractory_s"], "source": "voxquant default"}
    hop = f"window hop {cfg['hop_ms']:g} ms, " if res["model"].get("kind", "clip") == "clip" else ""
    notes = "" if hop else " ".join(f"`{v}`: {d}." for v, d in (res.get("variant_descriptions") or {}).items() if d)
    out.append(section("Streaming wake-word evaluation", [
        text(f"Keyword **{res['keyword']}**, model `{res['model']['name']}`, {hop}fixed threshold "
             f"{rule['threshold']:g} ({rule['source']}), "
             f"smoothing over {rule['smooth_k']} output(s), refractory {rule['refractory_s']:g} s. {notes} "
             "A detection is a hit "
             "within [start, end + 0.5 s] of a keyword (Picovoice wake-word benchmark); a detection in the "
             f"{rule.get('repeat_s', REPEAT_S):g} s after that window of a keyword already hit is a repeat trigger of "
             "the same utterance (still in the model's context), counted apart (repeats/hit), not a false accept; "
             "FA/h = false accepts per hour of the whole stream. FRR at a FA/h target is the lowest FRR of a swept threshold whose FA/h is at or "
             "below the target; 95 % CIs: percentile bootstrap resampling the keywords' speakers (or source clips "
             "when a speaker is unknown: a stream places each clip many times) and "
             f"{cfg['boot_block_s']:g}-s blocks "
             f"of audio ({cfg['n_boot']} resamples); ΔFRR: paired bootstrap on the same resamples."),
        table(cols[:n_frr], [r[:n_frr] for r in rows]),
        table(cols[:2] + cols[n_frr:], [r[:2] + r[n_frr:] for r in rows]),
        text("size: the artefact's bytes on disk; CPU s / h audio: CPU seconds this process spent scoring (front-end "
             "+ model, one ONNX Runtime thread, offline batched windows) per hour of stream."),
    ]))
    cvs = res.get("clip_vs_stream")
    if cvs:
        ccols, crows = clip_vs_stream_table(cvs, [c["name"] for c in res["conditions"]])
        out.append(section("Clip-level vs streaming drop", [
            text(f"Clip top-1 on the {cvs['n_clips']} eval clips the streams are built from (the engine's batched "
                 "predict; paired bootstrap 95 % CI of the drop vs fp32) beside the streaming FRR increase at "
                 f"{cvs['fa_per_hour']:g} FA/h on the same variants. Both are pp worse than fp32. kws_streaming "
                 "(Rybakov et al. 2020) reports streaming losing at most ~0.5 points more than clips."),
            table(ccols, crows),
        ]))
    for cond in [c["name"] for c in res["conditions"]]:
        curves = {v: {"fa_per_hour": res["results"][v][cond]["det"]["fa_per_hour"],
                      "frr": res["results"][v][cond]["det"]["frr"]} for v in res["variants"]}
        out.append(section(f"DET curve: {cond}", [figure("stream_det", {
            "title": f"{res['keyword']} - {cond}", "targets": list(cfg["fa_per_hour"]), "curves": curves})]))
    out += _groups_sections(res)
    return out


def _groups_sections(res: dict) -> list[dict]:
    """Per-group FRR at 0.5 FA/h (group columns and worst-decile speakers; not every speaker) and the
    keyword-in-negatives warning, as report sections (empty when there is neither)."""
    from voxquant.report.sections import section, table, text

    rows = []
    for v in res["variants"]:
        for c, m in res["results"][v].items():
            g = m.get("groups") or {}
            for col, entries in (g.get("columns") or {}).items():
                if col == "speaker":
                    continue
                rows += [[v, c, f"{col}={e['group']}", e["n"], f"{_pct(e['frr'])} [{_pct(e['ci95'][0])}, "
                          f"{_pct(e['ci95'][1])}]"] for e in entries]
            wd = g.get("worst_decile_speakers")
            if wd:
                rows.append([v, c, f"worst-decile speakers ({len(wd['speakers'])} of {wd['n_speakers']})", wd["n"],
                             f"{_pct(wd['frr'])} [{_pct(wd['ci95'][0])}, {_pct(wd['ci95'][1])}]"])
    out = []
    if rows:
        out.append(section(f"FRR per speaker group at {HEADLINE_FA_H:g} FA/h", [
            text(f"FRR at each variant's threshold tuned to {HEADLINE_FA_H:g} FA/h, per group of the keyword clips "
                 "(manifest columns) with a percentile bootstrap 95 % CI over that group's speakers (or source clips); worst-decile "
                 "speakers: the 10 % of speakers fp32 misses most (ranked on fp32)."),
            table(["variant", "condition", "group", "keywords", "FRR % [95% CI]"], rows)]))
    warn = (res.get("negatives_check") or {}).get("warning")
    if warn:
        out.append(section("Negatives check", [text(
            f"{warn} (fp32 score >= {res['negatives_check']['score_threshold']:g} outside every keyword; time = start "
            "of the model window that fired, in the file). Such detections count as false accepts: check these "
            "recordings.")]))
    return out


def write_stream_report(res: dict, out: Path) -> None:
    """``det_<condition>.png`` per condition and ``report.html`` (the report's section template) into ``out``."""
    from voxquant.report.streaming import det_figure, save_figure_png, write_sections_page

    sections = stream_sections(res)
    for s in sections:
        fig_block = s["blocks"][0]
        if fig_block.get("kind") != "figure" or fig_block.get("name") != "stream_det":
            continue
        cond = s["title"].split(": ", 1)[1]
        save_figure_png(det_figure(fig_block["data"]), Path(out) / f"det_{cond}.png")
    write_sections_page(sections, Path(out) / "report.html", title="voxquant streaming wake-word report",
                        subtitle=f"keyword {res['keyword']} · model {res['model']['name']}")


__all__ = ["DEFAULT_CONDITIONS", "StreamConfig", "budget_points", "clip_accuracy", "clip_vs_stream", "clip_vs_stream_table",
           "parse_condition", "recommend_stream", "record_scoring_time", "run_stream", "stream_sections", "stream_splits",
           "stream_table", "write_stream_report"]
