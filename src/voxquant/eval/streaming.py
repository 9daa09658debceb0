"""Always-on (streaming) wake-word evaluation on continuous audio: scores, detections, event matching, DET.

A wake word is judged by its false-reject rate (FRR) at a fixed false-accept rate per hour of audio (FA/h),
measured on a continuous stream rather than on isolated clips. This module follows published conventions:

* **Picovoice wake-word benchmark** (github.com/Picovoice/wake-word-benchmark): a detection counts as a hit
  when it falls between the keyword utterance's start and its end + 0.5 s; the headline number is the miss
  rate at 0.1 FA/h. :func:`match` uses ``[start_s, end_s + hit_after_end_s]`` with ``hit_after_end_s=0.5``.
* **openWakeWord** (github.com/dscripka/openWakeWord, ``openwakeword/model.py`` and its evaluation notebooks):
  80 ms frames, consecutive activations inside a refractory window count once, a threshold sweep gives the
  FRR / FA/h curve. :func:`detect` applies ``refractory_s``; :func:`det_curve` sweeps thresholds.
* **microWakeWord** (github.com/kahrendt/microWakeWord, ``microwakeword/inference.py`` / ESPHome
  ``micro_wake_word``): the probabilities are averaged over a sliding window of the last 5 outputs
  (``smooth_k=5``) and a cooldown follows each accept.

Two layers:

1. **Clip-model runner.** A clip classifier (e.g. DS-CNN on 1 s of MFCC) is slid over the stream with a hop of
   20-100 ms: :func:`window_scores` (offline, batched; the stream's features are computed once and each window
   is a slice of them when the framing allows, see :func:`features_are_sliceable`) and
   :class:`StreamingDetector` (live: a ring buffer of feature frames fed by :class:`IncrementalFrontend`, which
   computes only the new frames of each hop). Both give the softmax probability of the keyword class at each
   window's end, in audio time.
2. **Metrics** on ``(times_s, probs)`` series and labelled events: :func:`detect`, :func:`match`,
   :func:`det_curve`, :func:`frr_at_fa_per_hour`, :func:`detection_latency_ms`, :func:`bootstrap_frr_ci`.

Events are plain objects with ``start_s``, ``end_s`` and ``is_keyword`` attributes (e.g. :class:`Event`, or the
events of a ``voxquant.data.streams`` stream); nothing here depends on how streams are built.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from voxquant.audio.frontend import FrameFeaturizer, FrontendConfig, compute_features
from voxquant.audio.layout import to_model_layout
from voxquant.errors import ConfigError, DataError, ModelError
from voxquant.eval.metrics import softmax

__all__ = [
    "DetCurve",
    "keyword_clusters",
    "negative_hours",
    "Event",
    "IncrementalFrontend",
    "MatchResult",
    "StreamingDetector",
    "bootstrap_frr_ci",
    "bootstrap_frr_diff_ci",
    "det_curve",
    "detect",
    "detection_latency_ms",
    "features_are_sliceable",
    "frr_at_fa_per_hour",
    "match",
    "smooth",
    "window_scores",
]


# ----------------------------------------------------------------------------------------------------------------
# events


@dataclass(frozen=True)
class Event:
    """One labelled segment of a stream (times in seconds of audio from the stream's start).

    ``is_keyword`` marks the target wake word; other events (other words, noise bursts) are negatives: a detection
    inside them is a false accept.
    """

    start_s: float
    end_s: float
    label: str = ""
    is_keyword: bool = True


def _keyword_spans(events: Iterable) -> np.ndarray:
    """``float64 [E, 2]`` (start_s, end_s) of the keyword events, sorted by start. Raises DataError on bad spans."""
    spans = []
    for i, e in enumerate(events):
        try:
            s, t, kw = float(e.start_s), float(e.end_s), bool(e.is_keyword)
        except AttributeError as exc:
            raise DataError(f"event {i} lacks start_s/end_s/is_keyword ({exc})") from None
        if not (math.isfinite(s) and math.isfinite(t)) or t < s or s < 0:
            raise DataError(f"event {i} has an invalid span start_s={s}, end_s={t} (need 0 <= start_s <= end_s)")
        if kw:
            spans.append((s, t))
    arr = np.asarray(spans, dtype=np.float64).reshape(-1, 2)
    return arr[np.argsort(arr[:, 0], kind="stable")]


def negative_hours(events: Iterable, duration_s: float, hit_after_end_s: float = 0.5) -> float:
    """Hours of a stream outside every keyword's acceptance window ``[start, end + hit_after_end_s]`` (the audio
    where only false accepts can happen: "hours of negatives", other words and noise included).

    Args:
        events: objects with ``start_s``, ``end_s``, ``is_keyword``.
        duration_s: stream length, seconds.
        hit_after_end_s: the hit window's tail after each keyword, seconds (Picovoice: 0.5).

    Returns:
        hours (float, >= 0).

    Raises:
        DataError: an event with an invalid span.
    """
    spans = _keyword_spans(events)
    covered, end = 0.0, -math.inf
    for a, b in zip(spans[:, 0], np.minimum(spans[:, 1] + hit_after_end_s, duration_s)):
        a = max(a, end)
        if b > a:
            covered += b - a
            end = b
    return max(0.0, float(duration_s) - covered) / 3600.0


# ----------------------------------------------------------------------------------------------------------------
# detection rule


def smooth(probs: np.ndarray, k: int = 1) -> np.ndarray:
    """Causal moving average of the last ``k`` outputs (microWakeWord's sliding window, ``k=5`` there).

    Args:
        probs: ``float [W]`` scores in time order.
        k: window length in outputs (``1`` = no smoothing). The first ``k-1`` outputs average what exists so far.

    Returns:
        ``float64 [W]``.

    Raises:
        ConfigError: ``k < 1``.
    """
    if int(k) < 1:
        raise ConfigError(f"smoothing window must be >= 1 output, got {k}")
    p = np.asarray(probs, dtype=np.float64).ravel()
    if k == 1 or p.size == 0:
        return p.copy()
    c = np.concatenate([[0.0], np.cumsum(p)])
    idx = np.arange(1, p.size + 1)
    lo = np.maximum(idx - k, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def _refractory(cand_times: np.ndarray, refractory_s: float) -> np.ndarray:
    """Greedy cooldown over sorted candidate times: keep one, skip everything < ``refractory_s`` after it."""
    if cand_times.size == 0 or refractory_s <= 0:
        return cand_times.copy()
    out = []
    i = 0
    n = cand_times.size
    while i < n:
        t = cand_times[i]
        out.append(t)
        i = int(np.searchsorted(cand_times, t + refractory_s, side="left"))
    return np.asarray(out, dtype=np.float64)


def detect(times_s: np.ndarray, probs: np.ndarray, threshold: float, smooth_k: int = 1,
           refractory_s: float = 1.0) -> np.ndarray:
    """Detection times from a score series: smoothing, threshold, refractory (cooldown).

    An output triggers when its smoothed score (:func:`smooth`, ``smooth_k`` outputs) is ``>= threshold`` and at
    least ``refractory_s`` seconds have passed since the previous *detection* (microWakeWord's cooldown; as in
    openWakeWord, consecutive activations inside the window count once). A score that stays above the threshold
    for longer than ``refractory_s`` triggers again.

    Args:
        times_s: ``float [W]`` increasing output times (seconds of audio, the window end).
        probs: ``float [W]`` keyword probabilities.
        threshold: decision threshold on the smoothed score.
        smooth_k: moving-average length in outputs.
        refractory_s: cooldown in seconds (0 = every output above threshold is a detection).

    Returns:
        ``float64 [D]`` detection times (seconds), increasing.

    Raises:
        ConfigError: mismatched lengths, non-increasing times, negative ``refractory_s``, ``smooth_k < 1``.
    """
    t, s = _check_series(times_s, probs)
    if refractory_s < 0:
        raise ConfigError(f"refractory_s must be >= 0, got {refractory_s}")
    s = smooth(s, smooth_k)
    return _refractory(t[s >= threshold], float(refractory_s))


def _check_series(times_s, probs) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(times_s, dtype=np.float64).ravel()
    p = np.asarray(probs, dtype=np.float64).ravel()
    if t.shape != p.shape:
        raise ConfigError(f"times_s and probs differ in length ({t.size} vs {p.size})")
    if t.size > 1 and np.any(np.diff(t) <= 0):
        raise ConfigError("times_s must be strictly increasing")
    if not np.all(np.isfinite(p)):
        raise ConfigError("probs contains NaN or Inf")
    return t, p


# ----------------------------------------------------------------------------------------------------------------
# event matching


@dataclass
class MatchResult:
    """Outcome of :func:`match`.

    Attributes:
        hits: ``bool [E]`` per keyword event (sorted by start): was it detected.
        hit_times_s: ``float64 [E]`` first detection credited to each event (NaN if missed).
        keyword_spans: ``float64 [E, 2]`` (start_s, end_s) of the keyword events, in the order of ``hits``.
        false_accept_times_s: ``float64 [F]`` detections outside every keyword acceptance window (repeats excluded).
        repeat_times_s: ``float64 [R]`` repeat triggers: detections within ``repeat_s`` after the acceptance window
            of a keyword that was already hit (the same utterance still in the model's context; see :func:`match`).
    """

    hits: np.ndarray
    hit_times_s: np.ndarray
    keyword_spans: np.ndarray
    false_accept_times_s: np.ndarray
    repeat_times_s: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def n_false_accepts(self) -> int:
        """Number of false accepts."""
        return int(self.false_accept_times_s.size)


def match(detections_s: Sequence[float], events: Iterable, hit_after_end_s: float = 0.5,
          repeat_s: float = 0.0) -> MatchResult:
    """Match detections to keyword events (Picovoice wake-word benchmark convention).

    A detection at time ``d`` is inside the acceptance window of keyword event ``e`` when
    ``e.start_s <= d <= e.end_s + hit_after_end_s`` (0.5 s in Picovoice's benchmark). Detections are taken in time
    order; each one inside some window credits the earliest-starting not-yet-hit event whose window contains it
    (each event is hit at most once); a detection inside a window whose events are all hit already is neither a hit
    nor a false accept. A detection within ``repeat_s`` seconds after the acceptance window of a keyword that was
    hit is a **repeat trigger** (the same utterance still inside the model's context, e.g. a 1-s clip window that
    still holds the word, firing again after the cooldown): counted apart, not a false accept (``repeat_s = 0``:
    none). Every other detection (between events, or inside a non-keyword event) is a false accept.

    Args:
        detections_s: detection times in seconds.
        events: objects with ``start_s``, ``end_s``, ``is_keyword`` (e.g. :class:`Event`).
        hit_after_end_s: tolerance after the keyword's end, seconds.
        repeat_s: length of the repeat-trigger zone after a hit keyword's acceptance window, seconds (>= 0).

    Returns:
        :class:`MatchResult`.

    Raises:
        DataError: an event without those attributes or with an invalid span; ConfigError: negative tolerance.
    """
    if hit_after_end_s < 0 or repeat_s < 0:
        raise ConfigError(f"hit_after_end_s and repeat_s must be >= 0, got {hit_after_end_s}, {repeat_s}")
    spans = _keyword_spans(events)
    dets = np.sort(np.asarray(detections_s, dtype=np.float64).ravel())
    n = spans.shape[0]
    hits = np.zeros(n, dtype=bool)
    hit_t = np.full(n, np.nan)
    lo, hi = spans[:, 0], spans[:, 1] + hit_after_end_s
    inside_any = np.zeros(dets.size, dtype=bool)
    if n:  # union of acceptance windows (sorted by start), then one searchsorted for every detection
        u_lo, u_hi = [lo[0]], [hi[0]]
        for a, b in zip(lo[1:], hi[1:]):
            if a <= u_hi[-1]:
                u_hi[-1] = max(u_hi[-1], b)
            else:
                u_lo.append(a)
                u_hi.append(b)
        j = np.searchsorted(np.asarray(u_lo), dets, side="right") - 1
        inside_any = (j >= 0) & (dets <= np.asarray(u_hi)[np.maximum(j, 0)])
    for d in dets[inside_any]:  # few: at most a handful per keyword event
        inside = np.flatnonzero((lo <= d) & (d <= hi))
        free = inside[~hits[inside]]
        if free.size:
            hits[free[0]] = True
            hit_t[free[0]] = d
    fa = dets[~inside_any]
    rep = np.zeros(fa.size, dtype=bool)
    if repeat_s > 0 and hits.any() and fa.size:  # zones (hi, hi + repeat_s] after hit keywords, as a sorted union
        z_lo = np.sort(hi[hits])
        z_hi = z_lo + repeat_s
        j = np.searchsorted(z_lo, fa, side="left") - 1  # last zone starting strictly before the detection
        rep = (j >= 0) & (fa <= z_hi[np.maximum(j, 0)])
    return MatchResult(hits=hits, hit_times_s=hit_t, keyword_spans=spans,
                       false_accept_times_s=np.asarray(fa[~rep], dtype=np.float64),
                       repeat_times_s=np.asarray(fa[rep], dtype=np.float64))


def detection_latency_ms(result: MatchResult) -> dict:
    """Latency from the end of each detected keyword to its (first credited) trigger, in audio time.

    Negative values mean the detector fired before the labelled end of the word.

    Returns:
        ``{"n": int, "p50_ms": float, "p95_ms": float, "mean_ms": float}`` (NaN values when nothing was hit).
    """
    lat = (result.hit_times_s - result.keyword_spans[:, 1])[result.hits] * 1000.0
    if lat.size == 0:
        return {"n": 0, "p50_ms": math.nan, "p95_ms": math.nan, "mean_ms": math.nan}
    return {"n": int(lat.size), "p50_ms": float(np.percentile(lat, 50)), "p95_ms": float(np.percentile(lat, 95)),
            "mean_ms": float(lat.mean())}


# ----------------------------------------------------------------------------------------------------------------
# DET curve and operating point


@dataclass
class DetCurve:
    """FRR and FA/h per threshold (see :func:`det_curve`).

    Attributes:
        thresholds: ``float64 [K]`` increasing.
        frr: ``float64 [K]`` false-reject rate (missed keyword events / keyword events).
        fa_per_hour: ``float64 [K]`` false accepts per hour of audio.
        n_false_accepts: ``int64 [K]``.
        hits: ``bool [K, E]`` per threshold and keyword event (for the bootstrap).
        false_accept_times_s: per threshold, ``float64 [F_k]`` false-accept times (for the bootstrap).
        duration_h: hours of audio the FA rate is divided by.
        clusters: ``int64 [E]`` sampling unit of each keyword event (:func:`keyword_clusters`: its speaker when every
            keyword has one, else its source clip): a stream reuses each keyword clip many times, so the bootstrap
            resamples these units, not the events (events of one clip or speaker are not independent).
        n_repeats: ``int64 [K]`` repeat triggers per threshold (:func:`match` ``repeat_s``; not false accepts).
    """

    thresholds: np.ndarray
    frr: np.ndarray
    fa_per_hour: np.ndarray
    n_false_accepts: np.ndarray
    hits: np.ndarray
    false_accept_times_s: list = field(repr=False)
    duration_h: float = 0.0
    clusters: np.ndarray | None = field(default=None, repr=False)
    n_repeats: np.ndarray | None = field(default=None, repr=False)


def keyword_clusters(events: Iterable) -> np.ndarray:
    """``int64 [E]`` cluster id of each keyword event, in stream order: the speaker when every keyword event has
    one (``Event.speaker``), else the source clip (``Event.source_path``), else each event on its own.

    The bootstrap CIs (:func:`bootstrap_frr_ci`, :func:`bootstrap_frr_diff_ci`) resample clusters with
    replacement (a cluster bootstrap): a 3-hour stream places each of a few hundred keyword clips ~10 times, and
    resampling the placements as if independent would give CIs several times too narrow.
    """
    kws = [e for e in events if getattr(e, "is_keyword", False)]
    speakers = [str(getattr(e, "speaker", "") or "") for e in kws]
    if kws and all(speakers):
        keys = speakers
    else:
        keys = [str(getattr(e, "source_path", "") or f"#event{i}") for i, e in enumerate(kws)]
    _, ids = np.unique(np.asarray(keys, dtype=object).astype(str), return_inverse=True)
    return ids.astype(np.int64)


def _keyword_draw(curve: "DetCurve", rng: np.random.Generator) -> np.ndarray:
    """``float64 [E]`` bootstrap weights of the keyword events: clusters drawn with replacement (each event weighs
    the number of times its cluster was drawn); events on their own without clusters."""
    n_pos = curve.hits.shape[1]
    if curve.clusters is None:
        return np.bincount(rng.integers(0, n_pos, n_pos), minlength=n_pos).astype(np.float64)
    n_c = int(curve.clusters.max()) + 1 if n_pos else 0
    counts = np.bincount(rng.integers(0, n_c, n_c), minlength=n_c).astype(np.float64)
    return counts[curve.clusters]


def _weighted_frr(hits: np.ndarray, w: np.ndarray) -> np.ndarray:
    tot = w.sum()
    return 1.0 - (hits @ w) / tot if tot > 0 else np.full(hits.shape[0], np.nan)


def det_curve(times_s: np.ndarray, probs: np.ndarray, events: Iterable, duration_h: float,
              thresholds: Sequence[float] | None = None, smooth_k: int = 1, refractory_s: float = 1.0,
              hit_after_end_s: float = 0.5, repeat_s: float = 0.0) -> DetCurve:
    """Sweep the detection threshold (openWakeWord-style) and give FRR and FA/h at each.

    At each threshold: :func:`detect` (``smooth_k``, ``refractory_s``) then :func:`match` (``hit_after_end_s``,
    ``repeat_s``: repeat triggers of a hit keyword are counted in ``n_repeats``, not as false accepts).
    FA/h divides the false accepts by ``duration_h``: pass the hours of audio the false accepts can occur in (the
    whole stream, or only its negative part when keyword events are excluded, as Picovoice/openWakeWord report on
    background-only audio).

    Args:
        times_s, probs: ``float [W]`` score series (e.g. from :func:`window_scores`).
        events: labelled events (``start_s``, ``end_s``, ``is_keyword``).
        duration_h: hours of audio, > 0.
        thresholds: increasing thresholds (default 0.00..1.00 step 0.01).
        smooth_k, refractory_s: the detection rule (:func:`detect`).
        hit_after_end_s, repeat_s: see :func:`match`.

    Returns:
        :class:`DetCurve` (FRR is non-decreasing and FA/h non-increasing in the threshold when
        ``refractory_s == 0``; with a cooldown a higher threshold can shift, not only drop, detections).

    Raises:
        ConfigError: ``duration_h <= 0``, non-increasing thresholds, bad series (see :func:`detect`);
        DataError: bad events; no keyword event.
    """
    if not duration_h > 0:
        raise ConfigError(f"duration_h must be > 0, got {duration_h}")
    th = np.round(np.linspace(0.0, 1.0, 101), 10) if thresholds is None else np.asarray(thresholds, np.float64)
    if th.ndim != 1 or th.size == 0 or np.any(np.diff(th) <= 0):
        raise ConfigError("thresholds must be a non-empty increasing sequence")
    events = list(events)
    t, p = _check_series(times_s, probs)
    s = smooth(p, smooth_k)
    n_kw = _keyword_spans(events).shape[0]
    if n_kw == 0:
        raise DataError("no keyword event: FRR is undefined")
    hits = np.zeros((th.size, n_kw), dtype=bool)
    fa_times = []
    n_rep = np.zeros(th.size, dtype=np.int64)
    for i, thr in enumerate(th):
        r = match(_refractory(t[s >= thr], float(refractory_s)), events, hit_after_end_s, repeat_s)
        hits[i] = r.hits
        fa_times.append(r.false_accept_times_s)
        n_rep[i] = r.repeat_times_s.size
    n_fa = np.array([f.size for f in fa_times], dtype=np.int64)
    return DetCurve(thresholds=th, frr=1.0 - hits.mean(axis=1), fa_per_hour=n_fa / duration_h,
                    n_false_accepts=n_fa, hits=hits, false_accept_times_s=fa_times, duration_h=float(duration_h),
                    clusters=keyword_clusters(events), n_repeats=n_rep)


def _operating_point(frr: np.ndarray, fa: np.ndarray, fa_h: float, mode: str) -> float:
    ok = fa <= fa_h
    if not ok.any():
        return math.nan
    best = float(frr[ok].min())
    if mode == "conservative":
        return best
    # interpolated: linear in FA/h between the best point at or below the target and the best point at the
    # lowest FA/h above it (the next measured operating point)
    above = ~ok
    if not above.any():
        return best
    j_lo = np.flatnonzero(ok)[np.argmin(frr[ok])]
    cand = np.flatnonzero(above & (fa == fa[above].min()))
    j_hi = cand[np.argmin(frr[cand])]
    x0, y0, x1, y1 = fa[j_lo], frr[j_lo], fa[j_hi], frr[j_hi]
    if y1 >= y0 or x1 <= x0:
        return best
    w = (fa_h - x0) / (x1 - x0)
    return float(y0 + w * (y1 - y0))


def frr_at_fa_per_hour(curve: DetCurve, fa_h: float = 0.1, mode: str = "conservative") -> float:
    """FRR at a target false-accept rate (Picovoice reports the miss rate at 0.1 FA/h).

    ``mode="conservative"``: the lowest FRR among swept thresholds whose FA/h is ``<= fa_h`` (an operating point
    that was actually measured; the reported FRR is never better than what a deployed threshold achieves).
    ``mode="interpolated"``: linear interpolation in FA/h between that point
    and the best point at the next measured FA/h above it (optimistic by up to one threshold step; for plots).

    Returns:
        FRR in [0, 1], or NaN when no swept threshold reaches ``fa_h`` (extend the thresholds upward).

    Raises:
        ConfigError: unknown ``mode`` or negative ``fa_h``.
    """
    if mode not in ("conservative", "interpolated"):
        raise ConfigError(f"unknown mode '{mode}' (choose from conservative, interpolated)")
    if fa_h < 0:
        raise ConfigError(f"fa_h must be >= 0, got {fa_h}")
    return _operating_point(curve.frr, curve.fa_per_hour, float(fa_h), mode)


def bootstrap_frr_ci(curve: DetCurve, fa_h: float = 0.1, n_boot: int = 1000, alpha: float = 0.05,
                     block_s: float = 3600.0, seed: int = 0, mode: str = "conservative") -> tuple[float, float, float]:
    """Percentile bootstrap CI of FRR at ``fa_h`` FA/h, resampling positives and hours of negatives independently.

    Each replicate draws the keyword clusters with replacement (``curve.clusters``: speakers or source clips, see
    :func:`keyword_clusters`; every event when ``None``) (FRR per threshold) and, independently, blocks of
    ``block_s`` seconds of audio with replacement (FA/h per threshold = resampled false accepts / resampled
    duration; the last block may be partial), then takes the operating point as :func:`frr_at_fa_per_hour`.
    Blocks of an hour resample "hours of negatives"; shorter blocks suit short test streams.

    Returns:
        ``(point, lo, hi)``: the point estimate on the full data and the ``alpha/2`` / ``1-alpha/2`` percentiles
        (NaN-valued replicates, where no threshold reaches ``fa_h``, count as FRR 1.0: a conservative choice).

    Raises:
        ConfigError: ``n_boot < 1``, ``alpha`` outside (0, 1), ``block_s <= 0``.
    """
    if n_boot < 1 or not 0 < alpha < 1 or not block_s > 0:
        raise ConfigError(f"need n_boot >= 1, 0 < alpha < 1, block_s > 0 (got {n_boot}, {alpha}, {block_s})")
    point = frr_at_fa_per_hour(curve, fa_h, mode)
    total_s = curve.duration_h * 3600.0
    n_blk = max(1, int(math.ceil(total_s / block_s)))
    blk_dur = np.full(n_blk, block_s)
    blk_dur[-1] = total_s - block_s * (n_blk - 1)
    fa_blk = np.zeros((curve.thresholds.size, n_blk))
    for k, ft in enumerate(curve.false_accept_times_s):
        if ft.size:
            fa_blk[k] = np.bincount(np.minimum((ft // block_s).astype(int), n_blk - 1), minlength=n_blk)
    rng = np.random.default_rng(seed)
    hits = curve.hits.astype(np.float64)
    out = np.empty(n_boot)
    for b in range(n_boot):
        w = _keyword_draw(curve, rng)
        ib = rng.integers(0, n_blk, n_blk)
        frr = _weighted_frr(hits, w)
        fa = fa_blk[:, ib].sum(axis=1) / (blk_dur[ib].sum() / 3600.0)
        v = _operating_point(frr, fa, float(fa_h), mode)
        out[b] = 1.0 if math.isnan(v) else v
    lo, hi = np.percentile(out, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(point), float(lo), float(hi)


def bootstrap_frr_diff_ci(curve_a: DetCurve, curve_b: DetCurve, fa_h: float = 0.5, n_boot: int = 1000,
                          alpha: float = 0.05, block_s: float = 3600.0, seed: int = 0,
                          mode: str = "conservative") -> tuple[float, float, float]:
    """Paired percentile bootstrap CI of ``FRR_b - FRR_a`` at ``fa_h`` FA/h for two detectors on the same stream.

    Same resampling as :func:`bootstrap_frr_ci` (keyword events and blocks of ``block_s`` seconds, independently),
    but each replicate uses the same draws for both curves, so the difference is paired (e.g. int8 minus fp32 on
    identical audio). NaN operating points count as FRR 1.0, as in :func:`bootstrap_frr_ci`.

    Args:
        curve_a, curve_b: :class:`DetCurve` of the same events (same keyword count) and duration.

    Returns:
        ``(point, lo, hi)`` of ``FRR_b - FRR_a`` in [-1, 1] (``point`` NaN when either operating point is).

    Raises:
        ConfigError: curves of different streams (keyword counts or durations differ), bad ``n_boot``/``alpha``/
            ``block_s``.
    """
    if curve_a.hits.shape[1] != curve_b.hits.shape[1] or abs(curve_a.duration_h - curve_b.duration_h) > 1e-9:
        raise ConfigError("paired FRR difference needs two curves of the same stream (same keyword events and "
                          f"duration; got {curve_a.hits.shape[1]} vs {curve_b.hits.shape[1]} events, "
                          f"{curve_a.duration_h} vs {curve_b.duration_h} h)")
    if n_boot < 1 or not 0 < alpha < 1 or not block_s > 0:
        raise ConfigError(f"need n_boot >= 1, 0 < alpha < 1, block_s > 0 (got {n_boot}, {alpha}, {block_s})")
    point = frr_at_fa_per_hour(curve_b, fa_h, mode) - frr_at_fa_per_hour(curve_a, fa_h, mode)
    total_s = curve_a.duration_h * 3600.0
    n_blk = max(1, int(math.ceil(total_s / block_s)))
    blk_dur = np.full(n_blk, block_s)
    blk_dur[-1] = total_s - block_s * (n_blk - 1)

    def per_block(curve):
        fa_blk = np.zeros((curve.thresholds.size, n_blk))
        for k, ft in enumerate(curve.false_accept_times_s):
            if ft.size:
                fa_blk[k] = np.bincount(np.minimum((ft // block_s).astype(int), n_blk - 1), minlength=n_blk)
        return fa_blk

    fa_a, fa_b = per_block(curve_a), per_block(curve_b)
    h_a, h_b = curve_a.hits.astype(np.float64), curve_b.hits.astype(np.float64)
    rng = np.random.default_rng(seed)
    out = np.empty(n_boot)
    for b in range(n_boot):
        w = _keyword_draw(curve_a, rng)
        ib = rng.integers(0, n_blk, n_blk)
        hours = blk_dur[ib].sum() / 3600.0
        va = _operating_point(_weighted_frr(h_a, w), fa_a[:, ib].sum(axis=1) / hours, float(fa_h), mode)
        vb = _operating_point(_weighted_frr(h_b, w), fa_b[:, ib].sum(axis=1) / hours, float(fa_h), mode)
        out[b] = (1.0 if math.isnan(vb) else vb) - (1.0 if math.isnan(va) else va)
    lo, hi = np.percentile(out, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(point), float(lo), float(hi)


# ----------------------------------------------------------------------------------------------------------------
# clip-model runner


def _check_frontend(frontend: FrontendConfig) -> None:
    if frontend.kind != "features":
        raise ConfigError(f"streaming runner needs a host feature front-end, got kind '{frontend.kind}' "
                          f"(front-end '{frontend.name}')")


def _hop_samples(frontend: FrontendConfig, hop_ms: float) -> int:
    hop = int(round(hop_ms * frontend.sample_rate / 1000.0))
    if hop < 1 or abs(hop * 1000.0 / frontend.sample_rate - hop_ms) > 1e-6:
        raise ConfigError(f"window hop of {hop_ms} ms is not a whole number of samples at {frontend.sample_rate} Hz")
    return hop


def features_are_sliceable(frontend: FrontendConfig, hop_ms: float) -> bool:
    """Whether each window's features equal a slice of the whole stream's feature matrix.

    True when the front-end frames with ``center=False`` (frame ``k`` starts at sample ``k * hop_length``; no
    padding), has no per-clip state (``audio_norm="none"``, no pre-emphasis, whose first sample is kept
    unfiltered per clip) and the window hop is a multiple of the frame hop: window ``j`` (start ``j*H``) then uses
    frames ``j*H/hop_length ... + T - 1`` of the stream. Otherwise :func:`window_scores` computes each window's
    features on its own samples.
    """
    if frontend.kind != "features" or frontend.center or frontend.audio_norm != "none" or frontend.preemphasis:
        return False
    hop = _hop_samples(frontend, hop_ms)
    return hop % frontend.hop_length == 0


def window_scores(session, audio: np.ndarray, frontend: FrontendConfig, layout: str, keyword_index: int,
                  hop_ms: float = 20.0, batch: int = 64, outputs: str = "logits") -> tuple[np.ndarray, np.ndarray]:
    """Offline: slide the clip model's window over a stream and score the keyword at each window end.

    Window ``j`` covers samples ``[j*H, j*H + clip_samples)`` (``H`` = ``hop_ms`` in samples); its time is its end,
    ``(j*H + clip_samples) / sample_rate`` s. When :func:`features_are_sliceable`, the stream's features are
    computed once and windows are slices of them (equal to per-window computation, tested); otherwise each window
    is featurised on its own. Windows run through ``session.run`` in batches of ``batch`` (64 by default: on one
    core ONNX Runtime runs a DS-CNN window in ~57 us at batch 32-128 but ~70 us at batch 512, whose activations
    no longer fit the caches; ``benchmarks/streaming_speed.py`` measures it).

    Args:
        session: object with ``run(float32 [N, ...]) -> float32 [N, C]`` (e.g. ``voxquant.backends.onnxruntime
            .OrtSession``).
        audio: ``float32 [S]`` mono stream at ``frontend.sample_rate``.
        frontend: the model's front-end (``kind="features"``); ``clip_samples`` is the window length.
        layout: model input layout (``voxquant.audio.layout.LAYOUTS``).
        keyword_index: output index of the keyword class.
        hop_ms: window hop in milliseconds (20-100 ms typical; openWakeWord uses 80 ms).
        outputs: ``"logits"`` (softmax applied) or ``"probs"`` (model already outputs probabilities).

    Returns:
        ``(times_s float64 [W], probs float32 [W])``, ``W = 1 + (S - clip_samples) // H``.

    Raises:
        ConfigError: raw front-end, bad hop/outputs/keyword index; DataError: audio not 1-D, non-finite, or shorter
        than one window.
    """
    _check_frontend(frontend)
    if outputs not in ("logits", "probs"):
        raise ConfigError(f"unknown outputs '{outputs}' (choose from logits, probs)")
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim != 1:
        raise DataError(f"stream audio must be 1-D float32 [S], got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise DataError("stream audio contains NaN or Inf")
    hop = _hop_samples(frontend, hop_ms)
    clip = frontend.clip_samples
    if x.size < clip:
        raise DataError(f"stream of {x.size} samples is shorter than one window ({clip} samples)")
    n_win = 1 + (x.size - clip) // hop
    starts = np.arange(n_win, dtype=np.int64) * hop
    t_frames = frontend.n_frames()
    if features_are_sliceable(frontend, hop_ms):
        m = hop // frontend.hop_length
        feats = compute_features(x[: starts[-1] + clip], frontend)  # [T_all, F]
        view = np.lib.stride_tricks.sliding_window_view(feats, t_frames, axis=0)[::m]  # [W, F, T]
        get = lambda a, b: view[a:b].transpose(0, 2, 1)  # noqa: E731
    else:
        get = lambda a, b: compute_features(  # noqa: E731
            np.stack([x[s : s + clip] for s in starts[a:b]]), frontend)
    probs = np.empty(n_win, dtype=np.float32)
    for a in range(0, n_win, batch):
        b = min(a + batch, n_win)
        y = np.asarray(session.run(to_model_layout(get(a, b), layout)), dtype=np.float32)
        probs[a:b] = _keyword_prob(y, keyword_index, outputs)
    return (starts + clip) / float(frontend.sample_rate), probs


def _keyword_prob(y: np.ndarray, keyword_index: int, outputs: str) -> np.ndarray:
    if y.ndim != 2 or not 0 <= keyword_index < y.shape[1]:
        raise ConfigError(f"keyword_index {keyword_index} is outside the model's {y.shape[-1]} outputs")
    p = softmax(y, axis=1) if outputs == "logits" else y
    return p[:, keyword_index]


class IncrementalFrontend:
    """Feature front-end for a live stream: each :meth:`push` computes only the frames that became complete.

    Frames are those of :func:`~voxquant.audio.frontend.compute_features` on the whole stream (frame ``k`` starts
    at sample ``k * hop_length``, ``center=False``); unconsumed samples (less than one frame step ahead) are kept.
    The new frames go through :class:`~voxquant.audio.frontend.FrameFeaturizer` (window, filterbank, DCT and FFT
    buffer precomputed once): a 40 ms hop (two frames) costs ~17 us on one core, about half of it the FFT call,
    against ~35 us for :func:`compute_features` on the same two frames and ~95 us for recomputing the 1 s window
    (``benchmarks/streaming_speed.py`` measures it).

    Raises:
        ConfigError: the front-end is not sliceable into independent frames (``center=True``, ``audio_norm`` other
            than ``"none"``, pre-emphasis, or ``kind="raw"``).
    """

    def __init__(self, frontend: FrontendConfig):
        _check_frontend(frontend)
        if frontend.center or frontend.audio_norm != "none" or frontend.preemphasis:
            raise ConfigError(f"front-end '{frontend.name}' has per-clip state (center/audio_norm/pre-emphasis): "
                              "it cannot be computed frame by frame")
        self.cfg = frontend
        self._featurize = FrameFeaturizer(frontend)
        self._win, self._hop = frontend.win_length, frontend.hop_length
        self._empty = np.zeros((0, frontend.n_features), dtype=np.float32)
        self._buf = np.zeros(self._win + 8 * self._hop, dtype=np.float32)  # samples not yet framed: _buf[:_n]
        self._n = 0
        self.frames_done = 0

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Append ``float32 [n]`` samples; return the new frames ``float32 [k, F]`` (``k`` may be 0)."""
        x = samples if isinstance(samples, np.ndarray) and samples.dtype == np.float32 and samples.ndim == 1 \
            else np.asarray(samples, dtype=np.float32).ravel()
        n0, win, hop = self._n, self._win, self._hop
        n = n0 + x.size
        if n > self._buf.size:  # a chunk larger than the buffer: grow it (kept for later pushes)
            grown = np.zeros(max(n, 2 * self._buf.size), dtype=np.float32)
            grown[:n0] = self._buf[:n0]
            self._buf = grown
        buf = self._buf
        buf[n0:n] = x
        if n < win:
            self._n = n
            return self._empty
        k = 1 + (n - win) // hop
        feats = self._featurize(buf, k)
        used = k * hop
        buf[: n - used] = buf[used:n]  # keep the samples of the next frames (numpy copies overlapping slices safely)
        self._n = n - used
        self.frames_done += k
        return feats


class StreamingDetector:
    """Live wake-word detection with a clip model: ring buffer of feature frames + incremental front-end.

    Every window hop (``hop_ms``, a multiple of the front-end's frame hop) the last ``T`` frames (one window of
    ``clip_samples``) are run through the model; the keyword probability is smoothed over the last ``smooth_k``
    outputs and a detection fires when it is ``>= threshold`` and ``refractory_s`` has passed since the previous
    detection (the same rule as :func:`detect`, so offline and live results agree).

    The ring buffer is stored twice (``[2T, F]``, each frame written at ``p`` and ``p + T``), so the current window
    is always the contiguous slice ``[p+1, p+1+T)``; when the model layout is a view of its features (``nchw``,
    ``nhwc``, ``flat``) the model input of each ring position is prepared once, and a hop costs the new frames, one
    ``session.run`` and a 12-value softmax (no copies, no transposes).

    Attributes:
        times_s, probs: every output so far (window end time in seconds of audio, raw keyword probability).

    Raises:
        ConfigError: hop not a multiple of the frame hop, or a front-end that :class:`IncrementalFrontend` refuses.
    """

    def __init__(self, session, frontend: FrontendConfig, layout: str, keyword_index: int, hop_ms: float = 20.0,
                 threshold: float = 0.5, smooth_k: int = 1, refractory_s: float = 1.0, outputs: str = "logits"):
        if not features_are_sliceable(frontend, hop_ms):
            raise ConfigError(f"window hop {hop_ms} ms is not a multiple of front-end '{frontend.name}' frame hop "
                              f"({frontend.hop_ms} ms), or the front-end has per-clip state")
        if int(smooth_k) < 1 or refractory_s < 0 or outputs not in ("logits", "probs"):
            raise ConfigError(f"need smooth_k >= 1, refractory_s >= 0, outputs logits|probs "
                              f"(got {smooth_k}, {refractory_s}, {outputs})")
        self.session, self.cfg, self.layout = session, frontend, layout
        self.keyword_index, self.outputs = int(keyword_index), outputs
        self.threshold, self.refractory_s = float(threshold), float(refractory_s)
        self.fe = IncrementalFrontend(frontend)
        self.m = _hop_samples(frontend, hop_ms) // frontend.hop_length
        t = self.t_frames = frontend.n_frames()
        self._ring = np.zeros((2 * t, frontend.n_features), dtype=np.float32)
        self._pos = 0  # next write slot in [0, T)
        # model input for the window that ends just before write slot p (oldest frame first): a view of the ring
        views = [to_model_layout(self._ring[p : p + t][None], layout) for p in range(t)]
        self._inputs = views if all(np.shares_memory(v, self._ring) for v in views) else None
        self._bindings = self._ort_bindings()
        self._recent = deque(maxlen=int(smooth_k))
        self._last_det = -math.inf
        self.times_s: list[float] = []
        self.probs: list[float] = []

    def _ort_bindings(self) -> list | None:
        """ONNX Runtime IO bindings, one per ring position, when ``session`` wraps an ``InferenceSession``.

        For an ``OrtSession``-like session (attributes ``sess`` = ``onnxruntime.InferenceSession``, ``input_name``,
        ``output_name``, a float32 input) whose model inputs are views of the ring, each ring position ``p`` gets an
        ``IOBinding`` whose input points at the ring's memory for the window starting at ``p`` and whose output is
        one preallocated ``float32 [1, C]`` array: a hop then runs ``run_with_iobinding`` with no input dict, no
        numpy<->OrtValue conversion and no output allocation (~4-8 us of the ~70 us model call). ``None`` otherwise
        (any other session: :meth:`_score` calls ``session.run``). Same numbers as ``session.run`` (tested).
        """
        ort = getattr(self.session, "sess", None)
        if (self._inputs is None or not hasattr(ort, "io_binding") or not hasattr(ort, "run_with_iobinding")
                or getattr(self.session, "input_type", "tensor(float)") != "tensor(float)"
                or not all(hasattr(self.session, a) for a in ("input_name", "output_name"))):
            return None
        y = np.asarray(self.session.run(self._inputs[0]), dtype=np.float32)  # output shape (and a warm-up)
        if y.ndim != 2 or y.shape[0] != 1 or not 0 <= self.keyword_index < y.shape[1]:
            return None  # session.run's path reports it
        self._out = np.zeros(y.shape, dtype=np.float32)
        bindings = []
        for v in self._inputs:
            if not v.flags.c_contiguous:
                return None
            b = ort.io_binding()
            b.bind_input(self.session.input_name, "cpu", 0, np.float32, list(v.shape), v.ctypes.data)
            b.bind_output(self.session.output_name, "cpu", 0, np.float32, list(y.shape), self._out.ctypes.data)
            bindings.append(b)
        return bindings

    def _score(self) -> float:
        """Keyword probability of the window in the ring (oldest frame first)."""
        p, t = self._pos, self.t_frames
        if self._bindings is not None:
            try:
                self.session.sess.run_with_iobinding(self._bindings[p])
            except Exception as exc:  # onnxruntime's Fail / InvalidArgument, as OrtSession.run reports them
                raise ModelError(f"ONNX Runtime cannot run it on input {list(self._inputs[p].shape)}: "
                                 f"{str(exc).splitlines()[0][:200]}", getattr(self.session, "path", None)) from None
            row = self._out[0].tolist()  # shape and keyword index checked when the bindings were made
        else:
            x = self._inputs[p] if self._inputs is not None else to_model_layout(self._ring[p : p + t][None],
                                                                                  self.layout)
            y = np.asarray(self.session.run(x), dtype=np.float32)
            if y.ndim != 2 or y.shape[0] != 1 or not 0 <= self.keyword_index < y.shape[1]:
                raise ConfigError(f"keyword_index {self.keyword_index} is outside the model's {y.shape[-1]} outputs")
            row = y[0].tolist()
        if self.outputs == "probs":
            return float(row[self.keyword_index])
        mx = max(row)  # softmax of one row in float64 (equals voxquant.eval.metrics.softmax to float32 precision)
        e = [math.exp(v - mx) for v in row]
        return e[self.keyword_index] / sum(e)

    def push(self, samples: np.ndarray) -> list[float]:
        """Feed ``float32 [n]`` new samples (any chunk size); return the detection times (seconds) they caused."""
        dets = []
        new = self.fe.push(samples)
        t_frames, ring, cfg, m = self.t_frames, self._ring, self.cfg, self.m
        done = self.fe.frames_done
        k = done - new.shape[0]  # frames written to the ring so far
        i = 0
        while k < done:
            # write up to the next window end (frame count T + j*m), the ring's wrap point or the last new frame
            nxt = t_frames if k < t_frames else k + m - (k - t_frames) % m
            c = min(nxt - k, t_frames - self._pos, done - k)
            ring[self._pos : self._pos + c] = new[i : i + c]
            ring[self._pos + t_frames : self._pos + t_frames + c] = new[i : i + c]
            self._pos = (self._pos + c) % t_frames
            i += c
            k += c
            if k >= t_frames and (k - t_frames) % m == 0:
                p = self._score()
                t = ((k - t_frames) * cfg.hop_length + cfg.clip_samples) / float(cfg.sample_rate)  # as window_scores
                self.times_s.append(t)
                self.probs.append(p)
                self._recent.append(p)
                if sum(self._recent) / len(self._recent) >= self.threshold and t - self._last_det >= self.refractory_s:
                    self._last_det = t
                    dets.append(t)
        return dets
