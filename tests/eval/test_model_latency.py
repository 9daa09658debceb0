"""``voxquant.eval.latency.measure_model_latency``: model-only timing in a fresh process (a tiny ONNX model, 3 runs;
no timing value is asserted beyond being positive)."""

from __future__ import annotations

import numpy as np
import pytest

from onnx_builders import make_onnx
from voxquant.errors import ConfigError


def test_model_only_latency_in_a_child(tmp_path):
    from voxquant.eval.latency import measure_model_latency

    m = make_onnx(tmp_path / "tiny.onnx")
    x = np.random.default_rng(0).standard_normal((2, 1, 49, 10)).astype(np.float32)
    res = measure_model_latency(m, x, "onnx", threads=1, runs=3, warmup=1)
    assert res["runs"] == 3 and res["threads"] == 1 and len(res["model_samples_ms"]) == 3
    assert 0 < res["model_ms"]["p50"] <= res["model_ms"]["p95"]
    assert res["model_cpu_ms"]["p50"] >= 0 and res["peak_rss_bytes"] > 0


def test_model_latency_errors(tmp_path):
    from voxquant.eval.latency import measure_model_latency

    m = make_onnx(tmp_path / "tiny.onnx")
    with pytest.raises(ConfigError):
        measure_model_latency(m, np.zeros((0, 1, 49, 10), np.float32), "onnx", runs=1)
    with pytest.raises(RuntimeError, match="latency measurement failed"):  # wrong input shape: the child's error
        measure_model_latency(m, np.zeros((1, 1, 7, 10), np.float32), "onnx", runs=1, warmup=0)
