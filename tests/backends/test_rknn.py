"""RKNN Toolkit2 through its dedicated venv (skips unless the venv exists: scripts/setup-rknn-venv.sh)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from voxquant.backends.rknn import RknnBackend, parse_accuracy_analysis, prepare_onnx
from voxquant.backends.rknn.venv import venv_path, venv_ready

_ok, _why = venv_ready()
needs_venv = pytest.mark.skipif(not _ok, reason=f"RKNN venv not available: {_why}")


def test_prepare_onnx_strips_gru_layout_and_fixes_batch(tiny_crnn, tmp_path):
    _, onnx_path = tiny_crnn
    src = onnx.load(str(onnx_path))
    assert any(a.name == "layout" for n in src.graph.node if n.op_type == "GRU" for a in n.attribute)
    out, changes = prepare_onnx(onnx_path, tmp_path / "p.onnx")
    m = onnx.load(str(out))
    assert not any(a.name == "layout" for n in m.graph.node if n.op_type == "GRU" for a in n.attribute)
    assert m.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 1
    assert max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")) <= 19
    assert any("layout" in c for c in changes)


def test_parse_accuracy_analysis():
    text = ("layer_name   simulator_error\n  entire  single\n"
            "[Input] input        1.00000 | 0.0        1.00000 | 0.0\n"
            "[Conv] conv_out      0.99812 | 1.2e-01    0.99900 | 8.1e-02\n")
    rows = parse_accuracy_analysis(text)
    assert [r["layer"] for r in rows] == ["input", "conv_out"]
    assert rows[1]["entire_cos"] == pytest.approx(0.99812) and rows[1]["single_euc"] == pytest.approx(0.081)


def test_missing_venv_is_a_clear_error(tmp_path, monkeypatch):
    from voxquant.errors import MissingExtraError

    monkeypatch.setenv("VOXQUANT_RKNN_VENV", str(tmp_path / "nope"))
    ok, why = RknnBackend().available()
    assert not ok and "voxquant backends setup rknn" in why
    with pytest.raises(MissingExtraError):
        RknnBackend().convert(tmp_path / "m.onnx", "fp16", tmp_path)


@needs_venv
def test_int8_build_analysis_and_simulator(tiny_crnn, calib, feats, tmp_path):
    from voxquant.backends.onnxruntime import OrtSession

    _, onnx_path = tiny_crnn
    art = RknnBackend().convert(onnx_path, "int8", tmp_path, calib)
    assert art.path.suffix == ".rknn" and art.size_bytes > 0
    aa = art.extra["accuracy_analysis"]
    assert aa and all(r["entire_cos"] is None or -1.0 <= r["entire_cos"] <= 1.0001 for r in aa)
    assert "rknn" in art.log.lower() or (tmp_path / "crnn.rknn-int8" / "build.log").exists()
    assert art.extra["npu_latency"].startswith("not measured")
    sess = RknnBackend().load(art.path)
    try:
        y = sess.run(feats[:4])
    finally:
        sess.close()
    ref = OrtSession(onnx_path).run(feats[:4])
    assert y.shape == ref.shape
    assert np.corrcoef(y.ravel(), ref.ravel())[0, 1] > 0.9


@needs_venv
def test_hybrid_keeps_chosen_operand_float(tiny_dscnn, calib, tmp_path):
    _, onnx_path = tiny_dscnn
    art = RknnBackend().convert(onnx_path, "int8-hybrid", tmp_path, calib, analysis=False)
    h = art.extra["hybrid"]
    assert h["float_layers"] and h["float_layers"][0] in h["operands"]
    from voxquant.backends.rknn.client import RknnWorkerError

    with pytest.raises(RknnWorkerError, match="unknown RKNN operand"):
        RknnBackend().convert(onnx_path, "int8-hybrid", tmp_path / "b", calib, float_layers=["no_such_tensor"], analysis=False)


def test_default_venv_location(monkeypatch):
    monkeypatch.delenv("VOXQUANT_RKNN_VENV", raising=False)
    assert venv_path().name == "rknn-venv"
