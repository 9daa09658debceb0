"""Per-group FRR at a tuned operating point (voxquant.eval.stream_groups)."""

from __future__ import annotations

import numpy as np
import pytest

from voxquant.data.streams import Event
from voxquant.errors import ConfigError
from voxquant.eval.stream_groups import frr_ci, group_frr, keyword_groups, tuned_index
from voxquant.eval.streaming import det_curve


def _stream(n=40):
    """Keywords every 10 s; speakers s0..s9 (4 each); accent A for even speakers, B for odd. Speaker s3 scores 0.3,
    the others 0.9; one non-keyword at 0.6 between keywords 5 and 6 (a false accept below threshold 0.6)."""
    ev = [Event(10.0 * i + 1, 10.0 * i + 2, "kw", f"k{i}.wav", True, 0.0, f"s{i % 10}",
                {"accent": "A" if i % 2 == 0 else "B"}) for i in range(n)]
    ev.append(Event(55.0, 56.0, "other", "n.wav", False))
    t = np.arange(0.05, 10.0 * n + 5, 0.05)
    p = np.zeros_like(t)
    for i, e in enumerate(ev[:n]):
        p[(t > e.start_s) & (t < e.end_s)] = 0.3 if i % 10 == 3 else 0.9
    p[(t > 55.0) & (t < 56.0)] = 0.6
    return ev, det_curve(t, p, ev, t[-1] / 3600, refractory_s=1.0)


def test_group_frr_per_column_and_worst_decile():
    ev, curve = _stream()
    groups = keyword_groups(ev)
    assert list(groups) == ["speaker", "accent"] and groups["speaker"][:3].tolist() == ["s0", "s1", "s2"]
    g = group_frr(curve, groups, 0.5, n_boot=200, seed=1)
    # 0.5 FA/h on ~0.11 h allows no false accept: the threshold must exceed 0.6, so s3's keywords (0.3) are missed
    assert 0.6 < g["threshold"] <= 0.9 and g["threshold"] == curve.thresholds[tuned_index(curve, 0.5)]
    spk = {r["group"]: r for r in g["columns"]["speaker"]}
    assert spk["s3"]["frr"] == 1.0 and spk["s3"]["n"] == 4 and spk["s0"]["frr"] == 0.0
    acc = {r["group"]: r for r in g["columns"]["accent"]}
    assert acc["B"]["frr"] == pytest.approx(0.2) and acc["A"]["frr"] == 0.0
    lo, hi = acc["B"]["ci95"]
    assert 0.0 <= lo < 0.2 < hi <= 1.0  # 4 misses among 20: the CI is wide and covers the point
    wd = g["worst_decile_speakers"]
    assert wd["speakers"] == ["s3"] and wd["n_speakers"] == 10 and wd["frr"] == 1.0 == wd["frr_ref"]
    # a variant is judged on the reference's worst speakers, whatever its own errors
    g2 = group_frr(curve, groups, 0.5, n_boot=200, worst_speakers=["s0"], ref_missed=~curve.hits[0])
    assert g2["worst_decile_speakers"]["speakers"] == ["s0"] and g2["worst_decile_speakers"]["frr"] == 0.0


def test_unreachable_target_and_bad_input():
    ev, curve = _stream()
    curve.fa_per_hour[:] = 99.0
    g = group_frr(curve, keyword_groups(ev), 0.5)
    assert g["threshold"] is None and g["columns"] == {} and g["worst_decile_speakers"] is None
    with pytest.raises(ConfigError, match="3 values for 40"):
        group_frr(curve, {"speaker": np.array(["a", "b", "c"])}, 0.5)
    with pytest.raises(ConfigError):
        frr_ci(np.zeros(0, bool))
    assert frr_ci(np.array([True, True]), 100) == (1.0, 1.0, 1.0)


def test_keyword_groups_leaves_out_unknown_columns():
    ev = [Event(1.0, 2.0, "kw", "a.wav", True), Event(3.0, 4.0, "kw", "b.wav", True)]
    assert keyword_groups(ev) == {}
