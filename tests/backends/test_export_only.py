"""TensorRT and QNN: export + operator check (no GPU, no QNN SDK here)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from voxquant.backends.qnn import QnnBackend
from voxquant.backends.tensorrt import TensorRtBackend, gpu_reason
from voxquant.errors import ConfigError, MissingExtraError


def _zero_points(path):
    from onnx import numpy_helper

    m = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    zps = []
    for n in m.graph.node:
        if n.op_type in ("QuantizeLinear", "DequantizeLinear") and len(n.input) > 2 and n.input[2] in inits:
            zps.append(inits[n.input[2]])
    return zps


def test_tensorrt_int8_is_symmetric_qdq_at_opset17(tiny_dscnn, calib, tmp_path):
    _, onnx_path = tiny_dscnn
    art = TensorRtBackend().convert(onnx_path, "int8", tmp_path, calib)
    m = onnx.load(str(art.path))
    assert max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")) == 17
    zps = _zero_points(art.path)
    assert zps and all(np.all(z == 0) for z in zps) and all(z.dtype == np.int8 for z in zps)
    assert art.extra["check"]["n_off_nodes"] == 0
    assert not any("zero point" in r for f in art.extra["check"]["findings"] for r in f["reasons"])
    if gpu_reason() is not None:
        assert art.extra["status"] == "export only" and art.extra["reason"]
        with pytest.raises(MissingExtraError):
            TensorRtBackend().load(art.path)


def test_tensorrt_gru_stays_float(tiny_crnn, calib, tmp_path):
    _, onnx_path = tiny_crnn
    art = TensorRtBackend().convert(onnx_path, "int8", tmp_path, calib)
    gru = [f for f in art.extra["check"]["findings"] if f["op"] == "GRU"]
    assert gru and all(f["placement"] == "accelerator-float" for f in gru)
    fp16 = TensorRtBackend().convert(onnx_path, "fp16", tmp_path, None)
    assert fp16.path.exists()
    with pytest.raises(ConfigError):
        TensorRtBackend().convert(onnx_path, "int4", tmp_path, calib)


def test_qnn_export_and_check(tiny_crnn, tiny_dscnn, calib, tmp_path):
    _, crnn = tiny_crnn
    _, dscnn = tiny_dscnn
    a = QnnBackend().convert(dscnn, "int8", tmp_path, calib)
    m = onnx.load(str(a.path))
    assert m.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 1  # static batch
    assert a.extra["check"]["n_off_nodes"] == 0 and a.extra["status"] == "export only"
    c = QnnBackend().convert(crnn, "int8", tmp_path, calib)
    off = {f["op"] for f in c.extra["check"]["findings"] if f["placement"] == "cpu"}
    assert off == {"GRU"} and c.extra["check"]["off_mac_share"] > 0.3
    with pytest.raises(MissingExtraError):
        QnnBackend().load(a.path)
