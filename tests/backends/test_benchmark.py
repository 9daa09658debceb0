"""The benchmark table on a toy DS-CNN: real rows, export-only rows, ❌ rows for missing toolchains."""

from __future__ import annotations

import json

import numpy as np
import pytest

from voxquant.backends.benchmark import benchmark_html, benchmark_markdown, benchmark_table, run_benchmark
from voxquant.errors import ConfigError


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((48, 1, 49, 10)).astype(np.float32)
    return x, rng.integers(0, 12, 48)


def test_benchmark_rows(tiny_dscnn, calib, data, tmp_path, monkeypatch):
    monkeypatch.setenv("VOXQUANT_RKNN_VENV", str(tmp_path / "no-rknn-venv"))  # force the ❌ path
    x, y = data
    m, _ = tiny_dscnn
    res = run_benchmark(m, "onnx,rknn,tensorrt,qnn", tmp_path / "bench", x, y, slices={"noisy": x + 0.5},
                        calibration=calib, precisions={"onnx": ["fp32", "int8"]}, runs=5, warmup=1, max_drop=100.0)
    rows = {(r.argument, r.precision): r for r in res.rows}
    fp = rows[("onnx", "fp32")]
    assert fp.status == "ok" and fp.drop_pp == 0.0 and fp.accuracy == pytest.approx(res.reference_accuracy)
    assert fp.model_p50_ms and fp.e2e_p50_ms and fp.e2e_p50_ms > fp.model_p50_ms
    q = rows[("onnx", "int8")]
    assert q.status == "ok" and q.slower_than_fp32 in (True, False) and set(q.slices) == {"clean", "noisy"}
    assert q.worst_slice["name"] in q.slices
    for p in ("fp16", "int8", "int8-hybrid"):
        r = rows[("rknn", p)]
        assert r.status == "failed" and "toolchain missing" in r.reason and r.symbol == "❌"
    for p in ("fp16", "int8"):
        assert rows[("tensorrt", p)].status in ("export-only", "ok") and rows[("tensorrt", p)].size_bytes
    assert rows[("qnn", "int8")].status == "export-only" and "nodes off the accelerator" in rows[("qnn", "int8")].check
    saved = json.loads((tmp_path / "bench" / "benchmark.json").read_text())
    assert len(saved["rows"]) == len(res.rows)
    html = benchmark_html(res)
    assert "❌" in html and "⬜" in html and "✅" in html
    assert res.section()["title"] and "<table>" in res.section()["html"]
    md = benchmark_markdown(res)
    assert md.count("\n") == len(res.rows) + 1
    assert benchmark_table(res).row_count == len(res.rows)


def test_accuracy_budget_gives_cross_mark(tiny_dscnn, calib, data, tmp_path):
    x, y = data
    # a budget below zero can never be met: every measured row is ❎, never ✅
    res = run_benchmark(tiny_dscnn[1], "onnx", tmp_path, x, y, calibration=calib, precisions={"onnx": ["int8"]},
                        measure=False, max_drop=-1.0)
    (r,) = res.rows
    assert r.status == "accuracy" and r.symbol == "❎" and r.latency_note


def test_build_failure_is_a_row(tiny_dscnn, data, tmp_path):
    x, y = data
    res = run_benchmark(tiny_dscnn[1], "onnx", tmp_path, x, y, calibration=None, precisions={"onnx": ["int8"]}, measure=False)
    (r,) = res.rows
    assert r.status == "failed" and "calibration" in r.reason


def test_unknown_format(tiny_dscnn, data, tmp_path):
    x, y = data
    with pytest.raises(ConfigError, match="did you mean 'tflite'"):
        run_benchmark(tiny_dscnn[1], "onnx,tflit", tmp_path, x, y)
