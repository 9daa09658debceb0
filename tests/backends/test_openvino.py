"""OpenVINO + NNCF backend (skips when the 'openvino' extra is absent)."""

from __future__ import annotations

import numpy as np
import pytest

ov = pytest.importorskip("openvino", reason="OpenVINO not installed (pip install -c constraints.txt 'voxquant[openvino]')")
pytest.importorskip("nncf", reason="NNCF not installed (pip install -c constraints.txt 'voxquant[openvino]')")

from voxquant.backends.onnxruntime import OrtSession  # noqa: E402
from voxquant.backends.openvino import (  # noqa: E402
    OpenVinoBackend, OvSession, inference_precision_for, quantize_with_accuracy_control, runtime_precisions,
)
from voxquant.hardware import cpu_isa  # noqa: E402


def test_fp32_and_int8_match_ort(tiny_dscnn, calib, feats, tmp_path):
    _, onnx_path = tiny_dscnn
    ref = OrtSession(onnx_path).run(feats)
    b = OpenVinoBackend()
    assert b.available() == (True, "")
    fp = b.convert(onnx_path, "fp32", tmp_path, None)
    assert fp.path.suffix == ".xml" and fp.size_bytes > fp.path.stat().st_size  # .bin counted
    # fp32 means fp32 on every CPU: OpenVINO's default is bf16 on AVX512-BF16/AMX CPUs (5.8e-4 off ORT there)
    assert fp.extra["inference_precision"] == "f32"
    assert {r["precision"] for r in fp.extra["runtime_precisions"]} == {"f32"}
    sess = b.load(fp.path, threads=1)
    assert sess.inference_precision == "f32"
    np.testing.assert_allclose(sess.run(feats), ref, atol=1e-4)
    q = b.convert(onnx_path, "int8", tmp_path, calib)
    y = b.load(q.path, threads=1).run(feats)
    assert y.shape == ref.shape and np.abs(y - ref).max() < 0.25 * np.abs(ref).max() + 0.1
    assert any(r["precision"] in ("u8", "i8") for r in q.extra["runtime_precisions"])


def test_int8_keeps_gru_float(tiny_crnn, calib, tmp_path):
    _, onnx_path = tiny_crnn
    q = OpenVinoBackend().convert(onnx_path, "int8", tmp_path, calib)
    rp = {r["op"]: r["precision"] for r in q.extra["runtime_precisions"]}
    assert rp.get("RNNSeq") == "f32" and rp.get("Convolution") in ("u8", "i8")
    assert "float (f32):" in q.extra["check_summary"]


def test_float_variants_record_what_ran(tiny_crnn, feats, tmp_path):
    """fp32 and fp16 report the precision every compute layer executed in; the recorded hint is honoured on load."""
    _, onnx_path = tiny_crnn
    ref = OrtSession(onnx_path).run(feats)
    b = OpenVinoBackend()
    fp32 = b.convert(onnx_path, "fp32", tmp_path, None)
    assert {r["precision"] for r in fp32.extra["runtime_precisions"]} == {"f32"}
    np.testing.assert_allclose(b.load(fp32.path).run(feats), ref, atol=1e-4)
    fp16 = b.convert(onnx_path, "fp16", tmp_path, None)
    want = "f16" if cpu_isa()["fp16_arithmetic"] else "f32"
    assert fp16.extra["inference_precision"] == inference_precision_for("fp16") == want
    assert {r["precision"] for r in fp16.extra["runtime_precisions"]} == {want}
    assert want in fp16.extra["check_summary"]


def test_bf16_hint_is_effective_where_the_cpu_has_bf16(tiny_crnn, tmp_path):
    """The explicit hint is what decides: asking for bf16 runs bf16 on a BF16 CPU (and f32 elsewhere), so the
    fp32 assertions above would fail if the hint were ignored."""
    _, onnx_path = tiny_crnn
    precs = {r["precision"] for r in runtime_precisions(onnx_path, inference_precision="bf16")}
    assert precs == ({"bf16"} if cpu_isa()["bf16"] else {"f32"})
    assert OvSession(onnx_path, inference_precision="bf16").inference_precision == "bf16"


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
