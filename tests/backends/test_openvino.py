"""OpenVINO + NNCF backend (skips when the 'openvino' extra is absent)."""

from __future__ import annotations

import numpy as np
import pytest

ov = pytest.importorskip("openvino", reason="OpenVINO not installed (pip install -c constraints.txt 'voxquant[openvino]')")
pytest.importorskip("nncf", reason="NNCF not installed (pip install -c constraints.txt 'voxquant[openvino]')")

from voxquant.backends.onnxruntime import OrtSession  # noqa: E402
from voxquant.backends.openvino import OpenVinoBackend, quantize_with_accuracy_control  # noqa: E402


def test_fp32_and_int8_match_ort(tiny_dscnn, calib, feats, tmp_path):
    _, onnx_path = tiny_dscnn
    ref = OrtSession(onnx_path).run(feats)
    b = OpenVinoBackend()
    assert b.available() == (True, "")
    fp = b.convert(onnx_path, "fp32", tmp_path, None)
    assert fp.path.suffix == ".xml" and fp.size_bytes > fp.path.stat().st_size  # .bin counted
    np.testing.assert_allclose(b.load(fp.path, threads=1).run(feats), ref, atol=1e-4)
    q = b.convert(onnx_path, "int8", tmp_path, calib)
    y = b.load(q.path, threads=1).run(feats)
    assert y.shape == ref.shape and np.abs(y - ref).max() < 0.25 * np.abs(ref).max() + 0.1
    assert any(r["precision"] in ("u8", "i8") for r in q.extra["runtime_precisions"])


def test_int8_keeps_gru_float(tiny_crnn, calib, tmp_path):
    _, onnx_path = tiny_crnn
    q = OpenVinoBackend().convert(onnx_path, "int8", tmp_path, calib)
    rp = {r["op"]: r["precision"] for r in q.extra["runtime_precisions"]}
    assert rp.get("RNNSeq") == "f32" and rp.get("Convolution") in ("u8", "i8")
    assert "float:" in q.extra["check_summary"]


def test_accuracy_control_comparator(tiny_dscnn, calib, feats, tmp_path):
    _, onnx_path = tiny_dscnn
    y = OrtSession(onnx_path).run(feats).argmax(1)  # labels = fp32 predictions: fp32 accuracy is 1.0
    r = quantize_with_accuracy_control(onnx_path, tmp_path / "ac.xml", calib, feats, y, max_drop=0.01)
    assert r["accuracy_fp32"] == 1.0
    assert 0.0 <= r["accuracy_int8"] <= 1.0 and r["drop_pp"] == pytest.approx(100 * (1.0 - r["accuracy_int8"]))
    assert (tmp_path / "ac.xml").exists() and r["n_fake_quantize"] >= 0


def test_bad_precision(tiny_dscnn, tmp_path):
    from voxquant.errors import ConfigError

    with pytest.raises(ConfigError):
        OpenVinoBackend().convert(tiny_dscnn[1], "int4", tmp_path)
    with pytest.raises(ConfigError):
        OpenVinoBackend().convert(tiny_dscnn[1], "int8", tmp_path, None)
