"""The LiteRT runner (voxquant.zoo.tflite.TFLiteSession) and TFLite -> ONNX conversion, on the shared models."""

from __future__ import annotations

import numpy as np
import pytest

from voxquant.errors import ModelError

pytest.importorskip("ai_edge_litert", reason="needs the [litert] extra (pip install -c constraints.txt 'voxquant[litert]')")

from voxquant.zoo.tflite import TFLiteSession  # noqa: E402

INT8 = "mlcommons-tiny-kws-dscnn/kws_ref_model.tflite"
HYBRID = "mlcommons-tiny-kws-dscnn/kws_ref_model_float32.tflite"
ARM_DS_CNN_S = "arm-ml-examples-kws-int8/ds_cnn_s_quantized.tflite"


def test_full_int8_model_io(shared_models):
    s = TFLiteSession(shared_models / INT8, rounding="truncate")
    assert s.is_int8_input and s.input_dtype == np.int8 and s.input_name == "input_1"
    assert s.input_quant[1] == 83 and abs(s.input_quant[0] - 0.5847029) < 1e-6
    assert s.output_dtype == np.int8 and s.output_quant == (pytest.approx(1 / 256), -128)
    x = np.random.default_rng(0).normal(0, 5, (3, 49, 10, 1)).astype(np.float32)
    y = s.run(x)
    assert y.shape == (3, 12) and y.dtype == np.float32
    assert np.allclose(y.sum(axis=1), 1.0, atol=0.05)  # dequantized int8 softmax
    assert s.out_of_range == 0


def test_rounding_rule_changes_the_int8_input(shared_models):
    """The same float input gives different int8 tensors under truncation and round-to-nearest."""
    x = np.full((1, 49, 10, 1), 0.5847029 * 0.7, np.float32)  # 0.7 steps: trunc -> 83, nearest -> 84
    t = TFLiteSession(shared_models / INT8, rounding="truncate")
    n = TFLiteSession(shared_models / INT8, rounding="nearest")
    assert int(t._quantize(x).ravel()[0]) == 83 and int(n._quantize(x).ravel()[0]) == 84
    x = np.full((1, 49, 10, 1), 1e4, np.float32)
    t._quantize(x)
    assert t.out_of_range == 490  # counted (and saturated)


def test_float_io_models(shared_models):
    h = TFLiteSession(shared_models / HYBRID)
    assert not h.is_int8_input and h.input_shape[1:] == (49, 10, 1)
    a = TFLiteSession(shared_models / ARM_DS_CNN_S, threads=2)
    assert a.input_shape[1:] == (490,)
    y = a.run(np.zeros((2, 490), np.float32))
    assert y.shape == (2, 12)


def test_bad_inputs(shared_models, tmp_path):
    s = TFLiteSession(shared_models / INT8)
    with pytest.raises(ModelError, match=r"kws_ref_model.tflite: input of shape \[2, 49, 10\]"):
        s.run(np.zeros((2, 49, 10), np.float32))
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"definitely not a flatbuffer")
    with pytest.raises(ModelError, match="bad.tflite: LiteRT cannot load it"):
        TFLiteSession(bad)
    with pytest.raises(ModelError, match="not found"):
        TFLiteSession(tmp_path / "absent.tflite")


@pytest.mark.slow
def test_tflite_to_onnx_where_it_works(shared_models, tmp_path):
    """tf2onnx turns the Arm int8 DS-CNN (float I/O) into a QDQ ONNX graph with identical outputs."""
    pytest.importorskip("tf2onnx", reason="needs the [tf] extra")
    from voxquant.backends.onnxruntime import OrtSession
    from voxquant.zoo.convert import tflite_to_onnx

    path = tflite_to_onnx(shared_models / ARM_DS_CNN_S, out=tmp_path / "ds_cnn_s.onnx")
    x = np.random.default_rng(1).normal(0, 20, (4, 490)).astype(np.float32)
    a = TFLiteSession(shared_models / ARM_DS_CNN_S).run(x)
    b = OrtSession(path).run(x)
    assert np.array_equal(a.argmax(1), b.argmax(1))
    assert np.abs(a - b).max() < 1e-2  # observed 0 on real features (same int8 arithmetic)
