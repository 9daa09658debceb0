"""Helpers shared by the zoo tests (imported as ``zoo_helpers``; pytest puts this folder on ``sys.path``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def tiny_onnx(path: Path, in_shape=(1, 49, 10), n_out=12) -> Path:
    """A tiny float ONNX classifier: input ``[N, *in_shape]`` -> Flatten -> Gemm -> ``[N, n_out]``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    k = int(np.prod(in_shape))
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((k, n_out)).astype(np.float32) * 0.01, "W")
    b = numpy_helper.from_array(np.zeros(n_out, np.float32), "B")
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["input"], ["flat"], axis=1), helper.make_node("Gemm", ["flat", "W", "B"], ["logits"])],
        "tiny", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", *in_shape])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", n_out])], [w, b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path
