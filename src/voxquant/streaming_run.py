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
4. metrics: DET curve, FRR at each FA/h target with a bootstrap 95 % CI, FA/h and FRR at the fixed threshold 0.5
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
        model: as ``voxquant run --model`` (``None`` = the bundled DS-CNN); a clip classifier with a host feature
            front-end.
        keyword: the wake word; must be one of the model's labels.
        recipes: quantization recipes on ONNX Runtime (``fp32`` is always added first: the reference).
        conditions: ``clean``, ``noise_snr<dB>``, ``reverb_<room>`` (a real RIR of the bank) or ``far_field``.
        stream_hours: length of each condition's stream, hours.
        hop_ms: window hop, milliseconds (20-100).
        smooth_k: moving average over the last ``smooth_k`` outputs before the threshold (1 = none).
        refractory_s: cooldown after a detection, seconds.
        fa_per_hour: FA/h targets of the operating points.
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
    keyword: str = "yes"
    recipes: tuple = ("fp32", "int8_static_minmax")
    conditions: tuple = DEFAULT_CONDITIONS
    stream_hours: float = 3.0
    hop_ms: float = 40.0
    smooth_k: int = 1
    refractory_s: float = 1.0
    fa_per_hour: tuple = (0.1, 0.5, 1.0)
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
               "refractory_s": "--refractory-s", "fa_per_hour": "--fa-per-hour", "n_boot": "--n-boot",
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
        if not isinstance(self.keyword, str) or not self.keyword.strip():
            raise ConfigError(f"{opt('keyword')}: must be a non-empty word, got {self.keyword!r}")
        check_number(self.stream_hours, f"{opt('stream_hours')} (h)", 1e-4, 1000.0)
        check_number(self.hop_ms, f"{opt('hop_ms')} (ms)", 1.0, 1000.0)
        check_int(self.smooth_k, opt("smooth_k"), 1, 1000)
        check_number(self.refractory_s, f"{opt('refractory_s')} (s)", 0.0, 60.0)
        if isinstance(self.fa_per_hour, str) or not isinstance(self.fa_per_hour, (tuple, list)) or not self.fa_per_hour:
            raise ConfigError(f"{opt('fa_per_hour')}: must be a non-empty list of FA/h targets, got {self.fa_per_hour!r}")
        for f in self.fa_per_hour:
            check_number(f, f"{opt('fa_per_hour')} (FA/h)", 0.0, 1e6)
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


def _stream_for(cfg: StreamConfig, condition: str, positives, negatives, noise_eval, rirs, sample_rate: int):
    """The saved stream of ``condition``, built (and saved) on the first call."""
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
    s = build_stream(positives, negatives, noise_eval if snr is not None else None, keyword=cfg.keyword,
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


def _variant_paths(cfg: StreamConfig, store, plan, src, dev, fe) -> dict:
    """``{variant: onnx path}`` for every row of ``plan``, built through the engine unless stored and intact."""
    from voxquant.audio.frontend import compute_features
    from voxquant.data import load_waves
    from voxquant.data.slices import stratified_indices
    from voxquant.engine import (MatrixInputs, MatrixSettings, artifact_files, build_artifact, ensure_source_model,
                                 files_problem, record_files)
    from voxquant.zoo.spec import to_model_layout

    out = Path(cfg.out_dir)
    calib_cache: list = []

    def calib():
        if not calib_cache:
            idx = stratified_indices(dev.label_ids(), cfg.calib_n, cfg.seed)
            waves = load_waves(dev.subset(idx, name="calibration"), fe.sample_rate, fe.clip_samples, progress=False)
            calib_cache.append(to_model_layout(compute_features(waves, fe), src.layout))
        return calib_cache[0]

    (out / "models").mkdir(parents=True, exist_ok=True)
    fp32_onnx = ensure_source_model(store, out / "models" / "model.fp32.onnx", lambda tmp: src.export(tmp, inputs=calib()))
    paths = {}
    for spec in plan:
        key = f"variant/{spec.name}"
        rec = store.get(key, None)
        if rec and not files_problem(rec.get("files"), base=out / "models"):
            paths[spec.name] = Path(rec["path"])
            continue
        if rec:
            log.warning("%s: stored model changed or missing; rebuilding it", spec.name)
            for k in store.array_keys(f"stream/{spec.name}/"):
                store.discard(k)
        inputs = MatrixInputs(fp32_onnx=fp32_onnx, y=np.zeros(0, dtype=np.int64), labels=tuple(src.labels), slices=[],
                              calibration=calib(), torch_model=src.torch_model, frontend=fe, layout=src.layout,
                              recipe_context={"weights": Path(cfg.model) if cfg.model else None,
                                              "data_root": cfg.data_root, "seed": cfg.seed, "progress": False})
        t0 = time.time()
        art = build_artifact(spec, inputs, out / "models", MatrixSettings(progress=False))
        store.put(key, {"name": spec.name, "recipe": spec.recipe, "precision": spec.precision, "path": str(art.path),
                        "size_bytes": int(art.size_bytes), "files": record_files(artifact_files(Path(art.path))),
                        "build_seconds": round(time.time() - t0, 2)})
        paths[spec.name] = Path(art.path)
    return paths


def _metrics(cfg: StreamConfig, times, probs, stream, n_boot_seed: int) -> tuple[dict, object]:
    """Per variant and condition: DET curve, operating points with CIs, fixed threshold, latency."""
    from voxquant.eval.streaming import (bootstrap_frr_ci, det_curve, detect, detection_latency_ms,
                                         frr_at_fa_per_hour, match)

    dur_h = stream.duration_s / 3600.0
    curve = det_curve(times, probs, stream.events, dur_h, thresholds=THRESHOLDS, smooth_k=cfg.smooth_k,
                      refractory_s=cfg.refractory_s)
    n_kw = int(curve.hits.shape[1])

    def at_threshold(thr):
        r = match(detect(times, probs, thr, cfg.smooth_k, cfg.refractory_s), stream.events)
        return r, {"threshold": float(thr), "frr": float(1.0 - r.hits.mean()),
                   "fa_per_hour": r.n_false_accepts / dur_h, "false_accepts": r.n_false_accepts}

    fixed_r, fixed = at_threshold(FIXED_THRESHOLD)
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


def _negatives_check(cfg: StreamConfig, store, ref: str, streams: dict, hop: int, fe) -> dict:
    """Detections of the reference scoring >= :data:`NEGATIVES_CHECK_SCORE` outside every keyword window and inside
    the user's negatives, traced to a file and time (one warning line; returned as data)."""
    from voxquant.data.streams import locate_detections, negatives_warning
    from voxquant.eval.streaming import detect, match, smooth

    window_s = fe.clip_samples / float(fe.sample_rate)
    hits = []
    for c, s in streams.items():
        probs = store.get_array(f"stream/{ref}/{c}").astype(np.float64)
        times = (np.arange(probs.size) * hop + fe.clip_samples) / float(fe.sample_rate)
        fa = match(detect(times, probs, NEGATIVES_CHECK_SCORE, cfg.smooth_k, cfg.refractory_s),
                   s.events).false_accept_times_s
        score = smooth(probs, cfg.smooth_k)[np.searchsorted(times, fa)]
        hits += [{**h, "condition": c} for h in locate_detections(s, fa, window_s, score)]
    msg = negatives_warning(cfg.keyword, hits)
    if msg:
        log.warning("%s (fp32 score >= %g outside every keyword)", msg, NEGATIVES_CHECK_SCORE)
    return {"variant": ref, "score_threshold": NEGATIVES_CHECK_SCORE, "warning": msg, "hits": hits}


def run_stream(cfg: StreamConfig | None = None) -> dict:
    """Streaming evaluation of a clip model's variants on seeded continuous streams (module docstring: steps).

    Args:
        cfg: :class:`StreamConfig` (defaults: bundled DS-CNN, ``yes``, fp32 + int8_static_minmax, four conditions
            of 3 h each).

    Returns:
        the ``stream_results.json`` dict: ``{"config", "model", "keyword", "dataset", "conditions": [{"name",
        "duration_h", "n_keywords", "n_events"}], "variants": [names], "results": {variant: {condition: metrics}},
        "vs_fp32": {variant: {condition: {"fa_per_hour", "diff", "ci95"}}}, "seconds", "table"}`` where metrics
        holds ``det`` (thresholds, frr, fa_per_hour lists), ``targets`` (per FA/h: ``frr``, ``ci95`` [lo, hi],
        ``frr_interpolated``, ``tuned`` {threshold, frr, fa_per_hour, false_accepts}), ``fixed`` (threshold 0.5)
        and ``latency_ms`` {n, p50_ms, p95_ms, mean_ms} (keyword end to detection, audio time, at 0.5), and
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
    from voxquant.backends.onnxruntime import OrtSession
    from voxquant.data import load_noise_bank, load_rir_bank
    from voxquant.data.slices import model_splits
    from voxquant.data.streams import default_stream_sources, user_stream_sources
    from voxquant.engine import check_fingerprint, file_digest, plan_matrix, value_digest
    from voxquant.eval.streaming import bootstrap_frr_diff_ci
    from voxquant.models.source import resolve_model
    from voxquant.models.zoo_default import split_noise_bank
    from voxquant.report import ResultStore

    cfg = (cfg or StreamConfig()).validate()
    t_start = time.time()
    out = Path(cfg.out_dir)
    plan, _ = plan_matrix(cfg.recipes, "onnx")
    src = resolve_model(cfg.model, None, None)
    fe = src.frontend
    labels = tuple(src.labels)
    words = [lab for lab in labels if not lab.startswith("_")]
    if cfg.keyword not in words:
        raise ConfigError(f"--keyword: {cfg.keyword!r} is not a word of model {src.name}; its labels: {', '.join(words)}")
    if fe.kind != "features":
        raise ConfigError(f"model {src.name}: the streaming runner needs a host feature front-end, got {fe.kind!r}")
    if cfg.stream_hours * 3600.0 * fe.sample_rate < fe.clip_samples:
        raise DataError(f"--hours {cfg.stream_hours}: a stream of {cfg.stream_hours * 3600.0:.3g} s is shorter than "
                        f"one model window ({fe.clip_samples / fe.sample_rate:g} s)")
    kw_index = labels.index(cfg.keyword)

    model_files = [Path(f) for f in (src.meta.get("files") or []) if Path(f).exists()]
    fp = {"model": file_digest(model_files) if model_files else value_digest(src.name),
          "frontend": value_digest(fe.to_dict()),
          "numbers": value_digest({"keyword": cfg.keyword, "seed": cfg.seed, "stream_hours": cfg.stream_hours,
                                   "hop_ms": cfg.hop_ms, "calib_n": cfg.calib_n, "data_root": str(cfg.data_root or ""),
                                   **{k: str(getattr(cfg, k)) for k in ("negatives", "positives")
                                      if getattr(cfg, k) is not None}}),
          "voxquant": __version__}
    check_fingerprint(out, fp)
    store = ResultStore(out)

    # 1. streams (eval split only) --------------------------------------------------------------------------
    dev, _, _ = model_splits(labels, cfg.data_root)
    sources: list = []
    banks: dict = {}

    def lazy_sources():
        if not sources:
            if cfg.negatives is None and cfg.positives is None:
                sources.extend(default_stream_sources(cfg.keyword, cfg.data_root, split="eval"))
            else:
                sources.extend(user_stream_sources(cfg.keyword, negatives=cfg.negatives, positives=cfg.positives,
                                                   data_root=cfg.data_root, split="eval",
                                                   min_negative_s=fe.clip_samples / fe.sample_rate))
            try:
                banks["noise"] = split_noise_bank(load_noise_bank(cfg.data_root, sample_rate=fe.sample_rate))[1]
            except DataError as exc:
                log.warning("noise bank missing: %s", exc)
                banks["noise"] = {}
            banks["rirs"] = load_rir_bank(cfg.data_root, sample_rate=fe.sample_rate)
        return sources[0], sources[1], banks["noise"], banks["rirs"]

    streams = {}
    for c in cfg.conditions:
        folder = out / "streams" / c
        if (folder / "stream.json").is_file():
            from voxquant.data.streams import load_stream

            streams[c] = load_stream(folder)
        else:
            streams[c] = _stream_for(cfg, c, *lazy_sources(), sample_rate=fe.sample_rate)
        if streams[c].sample_rate != fe.sample_rate:
            raise DataError(f"stream at {streams[c].sample_rate} Hz, model at {fe.sample_rate} Hz", folder)

    # 2. variants through the engine ---------------------------------------------------------------------------
    paths = _variant_paths(cfg, store, plan, src, dev, fe)

    # 3. scores (cells) ---------------------------------------------------------------------------------------
    hop = int(round(cfg.hop_ms * fe.sample_rate / 1000.0))
    outputs = str(src.meta.get("outputs") or "logits")
    for spec in plan:
        sess = None
        for c, s in streams.items():
            key = f"stream/{spec.name}/{c}"
            if store.has_array(key):
                continue
            sess = sess or OrtSession(paths[spec.name], threads=1)
            t0 = time.time()
            _, probs = window_scores(sess, s.audio, fe, src.layout, kw_index, hop_ms=cfg.hop_ms, outputs=outputs)
            store.put_array(key, probs.astype(np.float32))
            if cfg.progress:
                print(f"scored {spec.name} on {c}: {probs.size} windows in {time.time() - t0:.1f} s", flush=True)

    # 4. metrics -----------------------------------------------------------------------------------------------
    results: dict = {}
    curves: dict = {}
    for spec in plan:
        results[spec.name] = {}
        for i, (c, s) in enumerate(streams.items()):
            probs = store.get_array(f"stream/{spec.name}/{c}").astype(np.float64)
            times = (np.arange(probs.size) * hop + fe.clip_samples) / float(fe.sample_rate)
            results[spec.name][c], curves[(spec.name, c)] = _metrics(cfg, times, probs, s, cfg.seed + i)
    ref = plan[0].name
    vs = {}
    for spec in plan[1:]:
        vs[spec.name] = {}
        for i, c in enumerate(streams):
            d, lo, hi = bootstrap_frr_diff_ci(curves[(ref, c)], curves[(spec.name, c)], HEADLINE_FA_H,
                                              n_boot=cfg.n_boot, block_s=cfg.boot_block_s, seed=cfg.seed + i)
            vs[spec.name][c] = {"fa_per_hour": HEADLINE_FA_H, "diff": d, "ci95": [lo, hi]}
    _add_groups(cfg, results, curves, streams, ref)
    neg_check = _negatives_check(cfg, store, ref, streams, hop, fe) if cfg.negatives is not None else None

    res = {
        "config": cfg.to_dict(), "voxquant_version": __version__, "keyword": cfg.keyword,
        "model": {"name": src.name, "frontend": fe.to_dict(), "labels": list(labels), "keyword_index": kw_index},
        "dataset": {"positives": (f"the user's keyword clips ({cfg.positives})" if cfg.positives is not None else
                                  "keyword clips of the eval split (Speech Commands v0.02 test set)"),
                    "negatives": (f"the user's recordings ({cfg.negatives}), cut into pieces used once"
                                  if cfg.negatives is not None else "other words of the eval split")
                    + "; noise: held-out halves of the noise bank",
                    "rirs": "voxquant RIR bank", "calibration": f"{cfg.calib_n} dev clips (stratified)"},
        "conditions": [{"name": c, "duration_h": s.duration_s / 3600.0, "n_keywords": len(s.keyword_events()),
                        "n_events": len(s.events), "snr_db": s.info.get("snr_db"), "rir": s.info.get("rir"),
                        "bounded_by_negatives": s.info.get("bounded_by_negatives")}
                       for c, s in streams.items()],
        "variants": [s.name for s in plan], "reference": ref, "fixed_threshold": FIXED_THRESHOLD,
        "results": results, "vs_fp32": vs, "seconds": round(time.time() - t_start, 1),
        "negatives_check": neg_check,
    }
    table = stream_table(res)
    res["table"] = table
    write_json_atomic(out / "stream_results.json", res)
    write_text_atomic(out / "stream_table.md", table + "\n")
    write_stream_report(res, out)
    if cfg.progress:
        print(table)
    return res


def _pct(x) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


def stream_table(res: dict) -> str:
    """The Markdown table of a results dict: one row per variant and condition (FRR % at each FA/h target with
    its 95 % CI, FRR and FA/h at threshold 0.5, latency p50/p95 ms, FRR difference to fp32 at 0.5 FA/h)."""
    targets = res["config"]["fa_per_hour"]
    cols = (["variant", "condition", "keywords", "hours"] + [f"FRR% @{t:g} FA/h [95% CI]" for t in targets]
            + ["FRR% @thr 0.5", "FA/h @thr 0.5", "latency p50/p95 ms", f"ΔFRR pp vs fp32 @{HEADLINE_FA_H:g} FA/h"])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for v in res["variants"]:
        for c, m in res["results"][v].items():
            cells = [v, c, str(m["n_keywords"]), f"{m['duration_h']:.2f}"]
            for t in m["targets"]:
                cells.append(f"{_pct(t['frr'])} [{_pct(t['ci95'][0])}, {_pct(t['ci95'][1])}]")
            lat = m["latency_ms"]
            cells += [_pct(m["fixed"]["frr"]), f"{m['fixed']['fa_per_hour']:.2f}",
                      "-" if not lat["n"] else f"{lat['p50_ms']:.0f} / {lat['p95_ms']:.0f}"]
            d = res["vs_fp32"].get(v, {}).get(c)
            cells.append("ref" if d is None else f"{_pct(d['diff'])} [{_pct(d['ci95'][0])}, {_pct(d['ci95'][1])}]")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def stream_sections(res: dict) -> list[dict]:
    """The report sections (data, :mod:`voxquant.report.sections`) of a results dict: method, the table, one DET
    figure per condition."""
    from voxquant.report.sections import figure, section, table, text

    md = res["table"].splitlines()
    cols = [x.strip() for x in md[0].strip("|").split("|")]
    rows = [[x.strip() for x in ln.strip("|").split("|")] for ln in md[2:]]
    cfg = res["config"]
    out = [section("Streaming wake-word evaluation", [
        text(f"Keyword **{res['keyword']}**, model `{res['model']['name']}`, window hop {cfg['hop_ms']:g} ms, "
             f"smoothing over {cfg['smooth_k']} output(s), refractory {cfg['refractory_s']:g} s. A detection is a hit "
             "within [start, end + 0.5 s] of a keyword (Picovoice wake-word benchmark); FA/h = false accepts per hour "
             "of the whole stream. FRR at a FA/h target is the lowest FRR of a swept threshold whose FA/h is at or "
             f"below the target; 95 % CIs: percentile bootstrap over keywords and {cfg['boot_block_s']:g}-s blocks "
             f"of audio ({cfg['n_boot']} resamples); ΔFRR: paired bootstrap on the same resamples."),
        table(cols, rows),
    ])]
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
                 "(manifest columns) with a percentile bootstrap 95 % CI over that group's keywords; worst-decile "
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
    for s in sections[1:]:
        if not s["title"].startswith("DET curve: "):
            continue
        fig_block = s["blocks"][0]
        cond = s["title"].split(": ", 1)[1]
        save_figure_png(det_figure(fig_block["data"]), Path(out) / f"det_{cond}.png")
    write_sections_page(sections, Path(out) / "report.html", title="voxquant streaming wake-word report",
                        subtitle=f"keyword {res['keyword']} · model {res['model']['name']}")


__all__ = ["DEFAULT_CONDITIONS", "StreamConfig", "parse_condition", "run_stream", "stream_sections", "stream_table",
           "write_stream_report"]
