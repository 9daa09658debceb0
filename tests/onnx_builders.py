"""Tiny ONNX classifiers built in tests (``onnx.helper``), broken on request: shared by tests/models/test_bad_models.py
and the bad-input corpus (pytest puts ``tests/`` on ``sys.path`` through its conftest, so ``import onnx_builders``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def make_onnx(path: Path, *, in_type=None, in_shape=(1, 1, 49, 10), n_inputs=1, out_rank=2, n_out=12, nan=False,
              opset=18, external=False) -> Path:
    """A tiny float classifier ``[1,1,49,10] -> [1, n_out]`` (Flatten + MatMul), broken as asked."""
    import onnx
    from onnx import TensorProto as T
    from onnx import helper as h
    from onnx import numpy_helper as nh

    in_type = T.FLOAT if in_type is None else in_type
    inputs = [h.make_tensor_value_info("input", in_type, list(in_shape))]
    nodes, x = [], "input"
    if in_type != T.FLOAT:
        nodes.append(h.make_node("Cast", ["input"], ["xf"], to=T.FLOAT))
        x = "xf"
    if n_inputs == 2:
        inputs.append(h.make_tensor_value_info("input2", T.FLOAT, list(in_shape)))
        nodes.append(h.make_node("Add", [x, "input2"], ["x2"]))
        x = "x2"
    k = int(np.prod(in_shape[1:]))
    inits = [nh.from_array(np.random.default_rng(0).standard_normal((k, n_out)).astype(np.float32) * 0.01, "W")]
    nodes += [h.make_node("Flatten", [x], ["flat"], axis=1), h.make_node("MatMul", ["flat", "W"], ["y0"])]
    y, out_shape = "y0", [1, n_out]
    if nan:
        inits.append(nh.from_array(np.array([-1.0], np.float32), "neg"))
        nodes += [h.make_node("Log", ["neg"], ["nanc"]), h.make_node("Add", [y, "nanc"], ["ynan"])]
        y = "ynan"
    if out_rank == 3:
        inits.append(nh.from_array(np.array([1, 1, n_out], np.int64), "shp"))
        nodes.append(h.make_node("Reshape", [y, "shp"], ["y3"]))
        y, out_shape = "y3", [1, 1, n_out]
    nodes.append(h.make_node("Identity", [y], ["logits"]))
    g = h.make_graph(nodes, "m", inputs, [h.make_tensor_value_info("logits", T.FLOAT, out_shape)], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)])
    m.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    if external:
        onnx.save(m, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                  location=path.name + ".data", size_threshold=0)
    else:
        onnx.save(m, str(path))
    return path
