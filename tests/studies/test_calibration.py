"""Calibration-data study: calibration sets are what they claim; a tiny study runs, writes its tables and resumes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from voxquant.audio.frontend import DEFAULT_FRONTEND
from voxquant.errors import ConfigError
from voxquant.studies.calibration import CalibStudyConfig, calibration_waves, factor_spread, run_study


def test_calibration_sets_differ_only_where_they_should(shared_data):
    clean, ic = calibration_waves("clean", 24, DEFAULT_FRONTEND, seed=3, data_root=shared_data)
    noisy, inn = calibration_waves("noise", 24, DEFAULT_FRONTEND, seed=3, data_root=shared_data)
    assert clean.shape == noisy.shape == (24, 16000) and ic["n"] == inn["n"] == 24
    # same clips, most of them corrupted by noise (p = 0.8), none changed in length
    changed = np.array([not np.allclose(a, b) for a, b in zip(clean, noisy)])
    assert 0.5 < changed.mean() <= 1.0
    few, inf = calibration_waves("few_speakers", 24, DEFAULT_FRONTEND, seed=3, data_root=shared_data, few_speakers=2)
    assert inf["speakers"] == 2 and len(inf["speaker_ids"]) == 2 and len(few) <= 24
    unseen, iu = calibration_waves("unseen_speakers", 24, DEFAULT_FRONTEND, seed=3, data_root=shared_data)
    assert iu["source"] == "speech_commands_v0.02_extra" and iu["speakers_in_test_set"] == 0 and len(unseen) == 24
    with pytest.raises(ConfigError):
        calibration_waves("studio", 8, DEFAULT_FRONTEND, data_root=shared_data)


def test_factor_spread_is_the_range_of_marginal_means():
    rows = [{"composition": c, "size": s, "method": "minmax", "mean_drop": d, "worst": {"drop": 2 * d}}
            for c, s, d in (("clean", 32, 1.0), ("clean", 128, 3.0), ("noise", 32, 0.0), ("noise", 128, 0.0))]
    f = factor_spread(rows)
    assert f["composition"]["mean_drop_by_level"] == {"clean": 2.0, "noise": 0.0}
    assert f["composition"]["range_mean_drop"] == pytest.approx(2.0)
    assert f["size"]["range_worst_drop"] == pytest.approx(2.0)  # 32: mean(2, 0)=1; 128: mean(6, 0)=3
    assert f["method"]["range_mean_drop"] == 0.0


def test_tiny_study_writes_tables_and_resumes(tmp_path, shared_data, monkeypatch):
    cfg = CalibStudyConfig(out_dir=tmp_path, compositions=("clean", "noise"), sizes=(16,), methods=("minmax",),
                           limit=48, snrs=(0,), n_boot=100, data_root=shared_data, progress=False)
    res = run_study(cfg)
    assert [(r["composition"], r["size"], r["method"]) for r in res["rows"]] == [("clean", 16, "minmax"), ("noise", 16, "minmax")]
    for r in res["rows"]:
        assert [s["name"] for s in r["slices"]][:2] == ["clean", "noise_snr0"]
        for s in r["slices"]:
            assert s["n"] == 48 and s["ci95"][0] <= s["drop"] <= s["ci95"][1]
    md = (tmp_path / "calibration.md").read_text()
    assert "| clean | 16 | minmax |" in md and "Factor spread" in md
    assert json.loads((tmp_path / "calibration.json").read_text())["eval_clips"] == 48
    # resume: nothing is quantized or evaluated again
    import voxquant.backends.onnxruntime as ortb

    def boom(*a, **k):
        raise AssertionError("recomputed a finished cell")

    monkeypatch.setattr(ortb.OrtSession, "run", boom)
    again = run_study(cfg)
    assert [r["accuracy"] for r in again["rows"]] == [r["accuracy"] for r in res["rows"]]
