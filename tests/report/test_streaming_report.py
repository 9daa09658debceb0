"""DET figure data: the envelope of the swept thresholds' operating points."""

from __future__ import annotations

from voxquant.report.streaming import det_envelope


def test_det_envelope_keeps_reachable_operating_points_only():
    # thresholds: 1.0 never fires (FRR 1, FA 0), 0.9 (FRR 0.03, FA 0), 0.5 (FRR 0.01, FA 2), a cooldown artefact
    # (FRR 0.02, FA 3) and 0.1 (FRR 0.0, FA 40)
    fa = [0.0, 0.0, 2.0, 3.0, 40.0]
    frr = [1.0, 0.03, 0.01, 0.02, 0.0]
    assert det_envelope(fa, frr) == [(0.0, 0.03), (2.0, 0.01), (40.0, 0.0)]
    assert det_envelope([], []) == []
