"""Streaming wake-word evaluation: detection rule, event matching, DET/FRR@FA/h, bootstrap, runner parity."""

from __future__ import annotations

import numpy as np
import pytest

from voxquant.errors import ConfigError, DataError
from voxquant.eval.streaming import (
    Event,
    IncrementalFrontend,
    StreamingDetector,
    bootstrap_frr_ci,
    det_curve,
    detect,
    detection_latency_ms,
    features_are_sliceable,
    frr_at_fa_per_hour,
    match,
    smooth,
    window_scores,
)

KW = [Event(10.0, 11.0, "marvin"), Event(20.0, 20.8, "marvin")]


# ---------------------------------------------------------------- matching


def test_hit_at_start():
    r = match([10.0], KW)
    assert r.hits.tolist() == [True, False] and r.n_false_accepts == 0


def test_hit_at_end_plus_049_and_miss_at_end_plus_051():
    r = match([11.49], KW)
    assert r.hits.tolist() == [True, False] and r.n_false_accepts == 0
    r = match([11.51], KW)
    assert r.hits.tolist() == [False, False] and r.n_false_accepts == 1


def test_two_detections_in_one_window_one_hit_no_fa():
    r = match([10.2, 10.9], KW)
    assert r.hits.sum() == 1 and r.n_false_accepts == 0
    assert r.hit_times_s[0] == pytest.approx(10.2)


def test_detection_between_events_and_in_non_keyword_event_is_fa():
    events = KW + [Event(14.0, 15.0, "other", is_keyword=False)]
    r = match([15.5, 14.5, 20.3], events)
    assert r.hits.tolist() == [False, True]
    assert sorted(r.false_accept_times_s.tolist()) == [14.5, 15.5]


def test_refractory_merges_close_detections():
    t = np.arange(0, 30, 0.02)
    p = np.zeros_like(t)
    p[(t >= 10.5) & (t <= 10.9)] = 0.9  # one keyword: 21 consecutive outputs above threshold
    p[(t >= 15.0) & (t <= 15.1)] = 0.9  # one false accept burst
    d = detect(t, p, 0.5, refractory_s=1.0)
    assert d.tolist() == pytest.approx([10.5, 15.0])
    assert detect(t, p, 0.5, refractory_s=0.0).size == int((p >= 0.5).sum())
    r = match(d, KW)
    assert r.hits.tolist() == [True, False] and r.n_false_accepts == 1


def test_smoothing_is_causal_moving_average():
    p = np.array([0.0, 1.0, 1.0, 1.0, 0.0])
    assert smooth(p, 3).tolist() == pytest.approx([0.0, 0.5, 2 / 3, 1.0, 2 / 3])
    # a single spike is suppressed by smoothing over 5 outputs at threshold 0.5
    t = np.arange(p.size) * 0.1
    assert detect(t, [0, 0, 1, 0, 0], 0.5, smooth_k=5).size == 0
    assert detect(t, [0, 0, 1, 0, 0], 0.5, smooth_k=1).size == 1


def test_latency_percentiles():
    r = match([10.9, 20.9], KW)  # 100 ms before end of #1, 100 ms after end of #2
    lat = detection_latency_ms(r)
    assert lat["n"] == 2 and lat["p50_ms"] == pytest.approx(0.0, abs=1e-6)
    assert detection_latency_ms(match([], KW))["n"] == 0


def test_bad_inputs_raise_voxquant_errors():
    with pytest.raises(DataError):
        match([1.0], [Event(5.0, 4.0)])
    with pytest.raises(ConfigError):
        detect([0.0, 0.0], [0.1, 0.2], 0.5)
    with pytest.raises(ConfigError):
        det_curve([0.0, 1.0], [0.1, 0.2], KW, duration_h=0.0)
    with pytest.raises(DataError):
        det_curve([0.0, 1.0], [0.1, 0.2], [Event(0, 1, is_keyword=False)], duration_h=1.0)


# ---------------------------------------------------------------- DET / operating point / bootstrap


def _synthetic(n_pos: int, hours: float, seed: int):
    """Score series at 100 ms with ``n_pos`` keywords (peak heights uniform) and uniform-noise negatives."""
    rng = np.random.default_rng(seed)
    dur = hours * 3600.0
    t = np.arange(0.1, dur, 0.1)
    p = rng.uniform(0, 1, t.size) ** 5000  # background: ~2e-4 of outputs above 0.3, ~2e-5 above 0.9
    starts = np.sort(rng.choice(np.arange(5, int(dur) - 5, 5), n_pos, replace=False)).astype(float)
    events = []
    for s in starts:
        i = int(round((s + 0.5) / 0.1)) - 1
        p[i] = rng.uniform(0.3, 1.0)
        events.append(Event(s, s + 0.6, "kw"))
    return t, p, events, hours


def test_det_monotonic_in_threshold():
    t, p, ev, h = _synthetic(40, 0.5, 0)
    c = det_curve(t, p, ev, h, refractory_s=0.0)
    assert np.all(np.diff(c.frr) >= 0) and np.all(np.diff(c.fa_per_hour) <= 0)
    assert c.frr[0] == 0.0 and c.frr[-1] > 0.0 and c.fa_per_hour[0] > c.fa_per_hour[-1]


def test_frr_at_fa_per_hour_known_answer():
    # 10 keywords with peaks 0.1..1.0; 1 h of audio with false-accept spikes of 0.35, 0.55, 0.75 (one each)
    t = np.arange(0.5, 3600.0, 0.5)
    p = np.zeros_like(t)
    events = []
    for j, h in enumerate(np.linspace(0.1, 1.0, 10)):
        s = 100.0 + 100.0 * j
        events.append(Event(s, s + 0.5))
        p[np.searchsorted(t, s + 0.5)] = h
    for s, h in [(2500.0, 0.35), (2600.0, 0.55), (2700.0, 0.75)]:
        p[np.searchsorted(t, s)] = h
    th = np.round(np.arange(0.05, 1.0001, 0.1), 6)  # 0.05, 0.15, ..., 0.95
    c = det_curve(t, p, events, 1.0, thresholds=th, refractory_s=1.0)
    # 0 FA/h needs threshold > 0.75 -> 0.85: hits 0.9, 1.0 -> FRR 0.8; 1 FA/h -> 0.65: hits 0.7..1.0 -> FRR 0.6
    assert frr_at_fa_per_hour(c, 0.0) == pytest.approx(0.8)
    assert frr_at_fa_per_hour(c, 1.0) == pytest.approx(0.6)
    assert frr_at_fa_per_hour(c, 1.5) == pytest.approx(0.6)  # conservative: the 1 FA/h point
    # interpolated at 1.5 FA/h: halfway between (1, 0.6) and (2, 0.4)
    assert frr_at_fa_per_hour(c, 1.5, mode="interpolated") == pytest.approx(0.5)
    c2 = det_curve(t, p, events, 1.0, thresholds=[0.05, 0.15], refractory_s=1.0)
    assert np.isnan(frr_at_fa_per_hour(c2, 0.0))


def test_bootstrap_ci_contains_point_and_narrows_with_more_data():
    th = np.linspace(0.2, 1.0, 41)
    small = det_curve(*_synthetic(30, 0.5, 1)[:3], 0.5, thresholds=th, refractory_s=0.5)
    big = det_curve(*_synthetic(600, 10.0, 1)[:3], 10.0, thresholds=th, refractory_s=0.5)
    assert 0.05 < frr_at_fa_per_hour(small, 2.0) < 0.95 and 0.05 < frr_at_fa_per_hour(big, 2.0) < 0.95
    pt_s, lo_s, hi_s = bootstrap_frr_ci(small, fa_h=2.0, n_boot=300, block_s=300.0, seed=0)
    pt_b, lo_b, hi_b = bootstrap_frr_ci(big, fa_h=2.0, n_boot=300, block_s=300.0, seed=0)
    assert lo_s <= pt_s <= hi_s and lo_b <= pt_b <= hi_b
    assert hi_b - lo_b < 0.6 * (hi_s - lo_s)
    assert bootstrap_frr_ci(small, fa_h=2.0, n_boot=50, block_s=300.0, seed=3) == \
        bootstrap_frr_ci(small, fa_h=2.0, n_boot=50, block_s=300.0, seed=3)


# ---------------------------------------------------------------- runner


@pytest.fixture(scope="module")
def fe():
    from voxquant.audio.presets import get_preset

    return get_preset("voxquant-mfcc-49x10")


def test_incremental_frontend_equals_full(fe):
    from voxquant.audio.frontend import compute_features

    x = np.random.default_rng(0).standard_normal(16000 * 3).astype(np.float32) * 0.1
    full = compute_features(x, fe)
    inc = IncrementalFrontend(fe)
    chunks, i = [], 0
    rng = np.random.default_rng(1)
    while i < x.size:
        n = int(rng.integers(1, 900))
        chunks.append(inc.push(x[i : i + n]))
        i += n
    got = np.concatenate(chunks)
    assert got.shape == full.shape
    np.testing.assert_allclose(got, full, atol=1e-5, rtol=0)


def test_window_slice_equals_per_window_features(fe):
    from voxquant.audio.frontend import compute_features

    assert features_are_sliceable(fe, 40.0) and not features_are_sliceable(fe, 30.0)
    x = np.random.default_rng(2).standard_normal(16000 * 2).astype(np.float32)
    full = compute_features(x, fe)
    for j in (0, 7, 24):
        s = j * 640
        np.testing.assert_allclose(full[2 * j : 2 * j + 49], compute_features(x[s : s + 16000], fe), atol=1e-5)


def test_batched_offline_equals_sequential_streaming(tiny_dscnn, fe):
    from voxquant.backends.onnxruntime import OrtSession

    sess = OrtSession(tiny_dscnn[1])
    x = np.random.default_rng(3).standard_normal(16000 * 4 + 123).astype(np.float32) * 0.3
    t_off, p_off = window_scores(sess, x, fe, "nchw", keyword_index=2, hop_ms=40.0, batch=16)
    assert t_off.size == 1 + (x.size - 16000) // 640 and t_off[0] == pytest.approx(1.0)
    # per-window featurisation (the non-sliceable path) agrees too
    t_h, p_h = window_scores(sess, x, fe, "nchw", keyword_index=2, hop_ms=30.0)
    np.testing.assert_allclose(t_h[::4], t_off[::3][: t_h[::4].size])
    np.testing.assert_allclose(p_h[::4], p_off[::3][: p_h[::4].size], atol=1e-5)

    det = StreamingDetector(sess, fe, "nchw", keyword_index=2, hop_ms=40.0, threshold=float(np.median(p_off)),
                            smooth_k=3, refractory_s=0.5)
    live, i = [], 0
    rng = np.random.default_rng(4)
    while i < x.size:
        n = int(rng.integers(100, 2000))
        live += det.push(x[i : i + n])
        i += n
    np.testing.assert_allclose(det.times_s, t_off)
    np.testing.assert_allclose(det.probs, p_off, atol=1e-5)
    off = detect(t_off, p_off, float(np.median(p_off)), smooth_k=3, refractory_s=0.5)
    assert len(off) > 0 and np.allclose(live, off)


def test_runner_refuses_bad_input(tiny_dscnn, fe):
    from voxquant.backends.onnxruntime import OrtSession

    sess = OrtSession(tiny_dscnn[1])
    with pytest.raises(DataError):
        window_scores(sess, np.zeros(1000, np.float32), fe, "nchw", 0)
    with pytest.raises(ConfigError):
        window_scores(sess, np.zeros(20000, np.float32), fe, "nchw", 99)
    with pytest.raises(ConfigError):
        StreamingDetector(sess, fe, "nchw", 0, hop_ms=30.0)


def test_live_paths_agree_iobinding_plain_run_and_copied_layout(tiny_dscnn, fe):
    """The ORT IOBinding fast path, a plain ``run`` session and a layout that is not a view give the same scores."""
    from voxquant.backends.onnxruntime import OrtSession

    sess = OrtSession(tiny_dscnn[1])

    class PlainRun:  # any session with only run(): no IO binding
        def run(self, x):
            return sess.run(x)

    class FreqFirst:  # takes [N, 1, F, T] (nchw_ft: a transposed copy of the ring, not a view)
        def run(self, x):
            return sess.run(np.ascontiguousarray(x.transpose(0, 1, 3, 2)))

    x = np.random.default_rng(5).standard_normal(16000 * 3 + 77).astype(np.float32) * 0.3
    t_off, p_off = window_scores(sess, x, fe, "nchw", keyword_index=3, hop_ms=20.0)
    for s, layout, bound in ((sess, "nchw", True), (PlainRun(), "nchw", False), (FreqFirst(), "nchw_ft", False)):
        det = StreamingDetector(s, fe, layout, keyword_index=3, hop_ms=20.0, threshold=2.0)
        assert (det._bindings is not None) == bound
        for i in range(0, x.size, 700):
            det.push(x[i : i + 700])
        np.testing.assert_allclose(det.times_s, t_off)
        np.testing.assert_allclose(det.probs, p_off, atol=1e-5)


def test_live_keyword_index_outside_outputs_raises(tiny_dscnn, fe):
    from voxquant.backends.onnxruntime import OrtSession

    det = StreamingDetector(OrtSession(tiny_dscnn[1]), fe, "nchw", keyword_index=12, hop_ms=40.0)
    with pytest.raises(ConfigError, match="keyword_index 12 is outside the model's 12 outputs"):
        det.push(np.zeros(16000, np.float32))


def test_cluster_bootstrap_resamples_clips_not_placements():
    """A stream places each keyword clip many times: the CI must resample clips (clusters), not placements. With
    every clip placed 10 times and clip-level misses, the cluster CI is much wider than the placement CI; with one
    placement per clip both resamplings coincide."""
    from voxquant.data.streams import Event
    from voxquant.eval.streaming import bootstrap_frr_ci, det_curve, keyword_clusters

    rng = np.random.default_rng(0)
    n_clips, reps = 30, 10
    hard = rng.random(n_clips) < 0.3  # clips the detector always misses
    events, times, probs = [], [], []
    t = 1.0
    for r in range(reps):
        for c in range(n_clips):
            events.append(Event(t, t + 0.5, "yes", f"clip{c}.wav", True))
            times.append(t + 0.3)
            probs.append(0.1 if hard[c] else 0.9)
            t += 3.0
    times, probs = np.array(times), np.array(probs)
    dur_h = (t + 1.0) / 3600.0
    ids = keyword_clusters(events)
    assert ids.shape == (n_clips * reps,) and len(np.unique(ids)) == n_clips
    curve = det_curve(times, probs, events, dur_h, thresholds=[0.5])
    p, lo, hi = bootstrap_frr_ci(curve, 1e9, n_boot=400, block_s=600.0, seed=1)
    curve.clusters = None
    p2, lo2, hi2 = bootstrap_frr_ci(curve, 1e9, n_boot=400, block_s=600.0, seed=1)
    assert p == p2 == pytest.approx(hard.mean())
    assert (hi - lo) > 2.5 * (hi2 - lo2)
    # one placement per clip: resampling clips is resampling events (same distribution; ids are ordered by name, so
    # the draws map to other events and the percentiles agree only to sampling noise)
    single = events[:n_clips]
    c1 = det_curve(times[:n_clips], probs[:n_clips], single, dur_h, thresholds=[0.5])
    a = bootstrap_frr_ci(c1, 1e9, n_boot=2000, block_s=600.0, seed=2)
    c1.clusters = None
    b = bootstrap_frr_ci(c1, 1e9, n_boot=2000, block_s=600.0, seed=2)
    assert a[0] == b[0] and a[1] == pytest.approx(b[1], abs=0.04) and a[2] == pytest.approx(b[2], abs=0.04)


def test_negative_hours_excludes_keyword_acceptance_windows():
    """Hours of negatives = duration minus the union of [start, end + 0.5 s] of keywords (overlaps counted once,
    other words count as negatives, windows clipped at the stream's end)."""
    from voxquant.eval.streaming import Event, negative_hours

    ev = [Event(10.0, 11.0, "yes"), Event(11.2, 12.0, "yes"), Event(20.0, 21.0, "no", is_keyword=False),
          Event(3599.8, 3600.0, "yes")]
    covered = (12.5 - 10.0) + (3600.0 - 3599.8)
    assert negative_hours(ev, 3600.0) == pytest.approx((3600.0 - covered) / 3600.0)
    assert negative_hours([], 7200.0) == pytest.approx(2.0)


def test_match_counts_repeat_triggers_apart_from_false_accepts():
    """A second trigger just after a hit keyword's acceptance window (the word still in the model's context) is a
    repeat, not a false accept; after a MISSED keyword, or beyond repeat_s, it is a false accept."""
    from voxquant.eval.streaming import Event, match

    ev = [Event(10.0, 11.0, "yes"), Event(20.0, 21.0, "yes")]
    # 10.5 hits #1; 12.0 is 0.5 s after its window (11.5): repeat; 13.0 is 1.5 s after: false accept with repeat 1 s;
    # 22.0 follows keyword #2, which was missed: false accept
    r = match([10.5, 12.0, 13.0, 22.0], ev, repeat_s=1.0)
    assert r.hits.tolist() == [True, False]
    assert r.repeat_times_s.tolist() == [12.0]
    assert r.false_accept_times_s.tolist() == [13.0, 22.0]
    r0 = match([10.5, 12.0, 13.0, 22.0], ev)  # repeat_s 0: the Picovoice count
    assert r0.repeat_times_s.size == 0 and r0.false_accept_times_s.tolist() == [12.0, 13.0, 22.0]
    with pytest.raises(ConfigError):
        match([1.0], ev, repeat_s=-1.0)
