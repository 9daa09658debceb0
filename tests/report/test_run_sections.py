"""Run sections are plain data: groups with CIs and highlights, what ran in int8, the model's checks."""

from __future__ import annotations

import numpy as np

from voxquant.engine import group_slices
from voxquant.report import find_markup, validate_section
from voxquant.report.run_sections import coverage_section, groups_section, model_section


def _variants():
    rng = np.random.default_rng(1)
    spk = np.repeat([f"s{i}" for i in range(10)], 20)
    accent = np.where(np.arange(200) < 100, "Indian", "American")
    ref = rng.random(200) < 0.9
    bad = ref.copy()
    bad[100:140] = False  # the variant loses 40 American clips
    g_same = group_slices(ref, ref.copy(), {"speaker": spk, "accent": accent}, n_boot=200)
    g_bad = group_slices(ref, bad, {"speaker": spk, "accent": accent}, n_boot=200)
    return [
        {"name": "fp32", "status": "ok", "groups": g_same, "precision": "fp32", "backend": "onnxruntime",
         "int8_mac_share": 0.0, "coverage": {"float_compute": {"Conv": 3}}, "accuracy": float(ref.mean())},
        {"name": "int8", "status": "ok", "groups": g_bad, "precision": "int8", "backend": "onnxruntime",
         "int8_mac_share": 0.42, "coverage": {"float_compute": {"GRU": 1}}},
    ]


def test_groups_section_highlights_a_group_beyond_the_budget():
    sec = validate_section(groups_section({"reference": "fp32", "variants": _variants()}, max_drop=1.0), "groups")
    assert find_markup(sec) == []
    accent = next(b for b in sec["blocks"] if b["kind"] == "table" and b["columns"][1].startswith("accent="))
    assert accent["columns"] == ["variant", "accent=American", "accent=Indian"]
    assert accent["rows"][0][0] == "int8" and accent["rows"][0][1].startswith("+")
    assert [0, 1] in accent["highlight"] and [0, 2] not in accent["highlight"]
    speakers = [b for b in sec["blocks"] if b["kind"] == "table" and b["columns"][0] == "speaker"]
    assert len(speakers) == 1 and len(speakers[0]["rows"]) == 10


def test_coverage_section_flags_a_mostly_float_int8_row():
    sec = validate_section(coverage_section({"variants": _variants(), "matrix_skipped": [
        {"recipe": "qat", "backend": "rknn", "reason": "an ONNX Runtime recipe"}]}), "coverage")
    main = sec["blocks"][1]
    assert main["rows"][1][3] == "42.0%" and [1, 3] in main["highlight"] and main["rows"][1][4] == "GRU"
    assert sec["blocks"][2]["rows"] == [["qat", "rknn", "an ONNX Runtime recipe"]]


def test_model_section_puts_published_and_measured_side_by_side():
    res = {"reference": "fp32", "variants": _variants(), "dataset": {"n_clips": 200},
           "model": {"published": {"accuracy": 0.914, "source": "MLPerf Tiny"},
                     "conversion_parity": {"top1_agreement": 1.0, "max_abs_diff": 1e-6, "n": 200, "inputs": "given"},
                     "baseline_note": "12 points below the published accuracy"}}
    sec = validate_section(model_section(res), "model")
    rows = sec["blocks"][0]["rows"]
    assert rows[0][:2] == ["published accuracy", "91.40 %"] and rows[1][0].startswith("measured accuracy")
    assert any("parity" in r[0] for r in rows) and any(r[0] == "baseline check" for r in rows)
    assert model_section({"variants": [], "model": {}}) is None
