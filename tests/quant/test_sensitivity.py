"""Per-layer sensitivity helpers: KL, per-slice comparison, which layers ORT quantizes, which ops stay float."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from voxquant.quant.sensitivity import (
    Quantizer, SliceSet, compare, float_ops, format_ops, kl_divergence, quantized_layers, sensitivity_blocks,
)


def test_kl_divergence_values():
    a = np.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    assert kl_divergence(a, a) == pytest.approx(0.0, abs=1e-12)
    assert kl_divergence(a, a + 5.0) == pytest.approx(0.0, abs=1e-9)  # softmax is shift-invariant
    p, q = np.array([[np.log(0.5), np.log(0.5)]]), np.array([[np.log(0.9), np.log(0.1)]])
    expected = 0.5 * np.log(0.5 / 0.9) + 0.5 * np.log(0.5 / 0.1)
    assert kl_divergence(p, q) == pytest.approx(expected, rel=1e-6)
    assert kl_divergence(q, p) != pytest.approx(expected, rel=1e-3)  # not symmetric: KL(p_fp32 || p_var)


def test_compare_reports_per_slice_drop_worst_and_mean():
    y = np.array([0, 1, 0, 1])
    good = np.eye(2)[y] * 5
    bad = good.copy()
    bad[0] = [0, 5]  # one error on the noisy slice
    res = compare({"clean": good, "noisy": good}, {"clean": good, "noisy": bad}, y)
    assert res["clean"]["drop"] == 0 and res["noisy"]["drop"] == pytest.approx(25.0)
    assert res["_worst"] == pytest.approx(25.0) and res["_worst_slice"] == "noisy"
    assert res["_mean"] == pytest.approx(12.5) and res["noisy"]["kl"] > res["clean"]["kl"] == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError):
        SliceSet({"clean": np.zeros((3, 2))}, np.zeros(4))


def _export(model, shape, path):
    from voxquant.quant.export import export_onnx

    torch.manual_seed(0)
    return export_onnx(model.eval(), torch.zeros(1, 1, *shape), path)


def test_layers_and_float_ops_of_dscnn_and_crnn(tmp_path):
    from voxquant.models import build_model
    from voxquant.quant import build_variant

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    calib = rng.normal(size=(16, 1, 49, 10)).astype(np.float32)
    ds = _export(build_model("dscnn", 12, (49, 10)), (49, 10), tmp_path / "ds.onnx")
    q = Quantizer(ds, calib, "minmax", workdir=tmp_path / "w")
    layers = q.layers()
    assert [l["op"] for l in layers] == ["Conv"] * 9 + ["ReduceMean", "Gemm"]  # ORT quantizes the average pool too
    assert layers[0]["layer"] == "stem.0" and layers[-1]["layer"] == "head.3"
    assert float_ops(ds) == {"float": {"Conv": 9, "Gemm": 1, "ReduceMean": 1}, "int8": {}}
    int8 = q.build()
    fo = float_ops(int8)
    assert fo["int8"]["Conv"] == 9 and "Conv" not in fo["float"]
    # the first layer (reads the model input) kept float: exactly one float Conv
    first = float_ops(q.build([layers[0]["node"]]))
    assert first["float"].get("Conv") == 1 and first["int8"]["Conv"] == 8
    # a middle layer kept float really runs float (ORT would otherwise re-quantize its weights: WeightBiasQuantization);
    # its producer loses its output Q (QLinearConv needs one) and runs float too: 2 float, 7 int8
    mid = float_ops(q.build([layers[3]["node"]]))
    assert mid["float"].get("Conv") == 2 and mid["int8"]["Conv"] == 7
    import onnx

    m = onnx.load(str(q.workdir / f"variant_{q.n_built:04d}.onnx"))
    node = next(n for n in m.graph.node if n.name == layers[3]["node"])
    producers = {o: n.op_type for n in m.graph.node for o in n.output}
    assert producers.get(node.input[0]) != "DequantizeLinear"  # float input: float_inputs() rewired it
    dyn = float_ops(build_variant("int8_dynamic", ds, tmp_path / "dyn.onnx"))
    assert dyn["int8"].get("Conv", 0) >= 9  # ConvInteger kernels

    cr = _export(build_model("crnn", 12, (49, 10)), (49, 10), tmp_path / "crnn.onnx")
    static = build_variant("int8_static_minmax", cr, tmp_path / "crnn.int8.onnx", calib)
    # ONNX Runtime never quantizes GRU in static QDQ mode: the GRUs stay float even with int8 inputs around them
    assert float_ops(static)["float"].get("GRU") == 2
    assert format_ops({"GRU": 2, "Softmax": 1}) == "GRU x2, Softmax" and format_ops({}) == "-"
    assert {l["op"] for l in quantized_layers(q.workdir / "pre.onnx", int8)} == {"Conv", "ReduceMean", "Gemm"}


def test_sensitivity_blocks_have_figure_table_and_rknn_rows():
    from voxquant.report.sections import find_markup, section
    from voxquant.quant.sensitivity import sensitivity_figure

    row = {"clean": {"drop": 1.0}, "_worst": 1.0, "_worst_slice": "clean", "_mean": 0.5, "_kl": 0.01}
    table = {"layers": [{"node": "n1", "op": "Conv", "layer": "stem.0", "exclude": row, "only": row}],
             "int8": row, "slices": ["clean"], "n": 10}
    blocks = sensitivity_blocks(table, [{"layer": "relu", "op": "Relu", "entire_cos": 0.9999, "single_cos": None}])
    sec = section("sensitivity", blocks)  # validates: plain data, no markup
    assert find_markup(sec) == []
    kinds = [b["kind"] for b in sec["blocks"]]
    assert kinds == ["text", "figure", "table", "text", "table"]
    fig = sec["blocks"][1]
    assert fig["name"] == "layer_sensitivity" and fig["data"]["layers"][0]["layer"] == "stem.0"
    assert sec["blocks"][2]["rows"][0][:3] == ["stem.0", "Conv", "+1.00 (clean)"]
    assert sec["blocks"][4]["rows"] == [["relu", "Relu", "0.99990", None]]
    assert "not computed" in sensitivity_blocks(table, None)[-1]["text"]
    mpl_fig = sensitivity_figure(fig["data"])
    assert [t.get_text() for t in mpl_fig.axes[0].get_xticklabels()] == ["stem.0"]
