"""int8 MAC coverage: which share of the multiply-accumulates of a built artefact runs in int8, per backend.

ONNX tests need only the core dependencies; OpenVINO / LiteRT / RKNN tests skip with the reason when their
toolchain (extra or venv) is missing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from voxquant.backends.coverage import (
    coverage_summary, onnx_coverage, onnx_macs, parse_rknn_layer_table, rknn_macs,
)
from voxquant.errors import ModelError

# DS-CNN fixture (channels 8, input [1, 1, 49, 10]) by hand:
#   stem Conv 10x4 stride 2 pad (5, 1): out H = (49 + 10 - 10) // 2 + 1 = 25, W = (10 + 2 - 4) // 2 + 1 = 5
#   MACs = Cout * H * W * (Cin * kh * kw) = 8 * 25 * 5 * (1 * 10 * 4)
STEM_MACS = 8 * 25 * 5 * (1 * 10 * 4)
#   classifier Gemm: [1, 8] x [8, 12] -> 8 * 12
GEMM_MACS = 8 * 12


@pytest.fixture(scope="module")
def ort_int8(tiny_dscnn, tiny_crnn, calib, tmp_path_factory):
    from voxquant.quant import build_variant

    out = tmp_path_factory.mktemp("cov-ort")
    return {name: build_variant("int8_static_minmax", onnx_path, out / f"{name}.int8.onnx", calib)
            for name, (_, onnx_path) in (("dscnn", tiny_dscnn), ("crnn", tiny_crnn))}


def test_fp32_onnx_share_is_zero_and_macs_match_hand_count(tiny_dscnn):
    _, onnx_path = tiny_dscnn  # dynamic batch ("batch" dim_param): counted at batch 1
    rows = onnx_macs(onnx_path)
    convs = [r for r in rows if r["op"] == "Conv"]
    gemms = [r for r in rows if r["op"] == "Gemm"]
    assert convs[0]["macs"] == STEM_MACS and gemms[0]["macs"] == GEMM_MACS
    # depthwise 3x3 (groups = 8): 8 * 25 * 5 * (1 * 3 * 3); pointwise 1x1: 8 * 25 * 5 * 8
    assert [r["macs"] for r in convs[1:]] == [8 * 25 * 5 * 9, 8 * 25 * 5 * 8]
    s = coverage_summary(rows)
    assert s["int8_mac_share"] == 0.0 and s["macs_total"] == STEM_MACS + 9000 + 8000 + GEMM_MACS
    assert s["float_compute"] == {"Conv": 3, "Gemm": 1}


def test_fp16_onnx_is_zero_not_none(tiny_dscnn, tmp_path):
    from voxquant.quant import build_variant

    p = build_variant("fp16", tiny_dscnn[1], tmp_path / "m.fp16.onnx")  # input Cast appended at the graph's end
    s = onnx_coverage(p)
    assert s["int8_mac_share"] == 0.0 and s["macs_total"] == STEM_MACS + 9000 + 8000 + GEMM_MACS


def test_ort_static_int8_dscnn_is_int8(ort_int8):
    s = onnx_coverage(ort_int8["dscnn"])
    assert s["int8_mac_share"] > 0.9 and s["float_compute"] == {}


def test_ort_int8_crnn_keeps_gru_float(ort_int8, tiny_crnn):
    s = onnx_coverage(ort_int8["crnn"])
    assert 0.0 < s["int8_mac_share"] < 1.0
    assert "GRU" in s["float_compute"]
    # GRU by hand: 25 steps x (W [1, 3*8, 40] + R [1, 3*8, 8]) = 25 * (960 + 192)
    gru = [r for r in onnx_macs(ort_int8["crnn"]) if r["op"] == "GRU"][0]
    assert gru["macs"] == 25 * (3 * 8 * 40 + 3 * 8 * 8) and not gru["int8"]
    assert s["macs_total"] == onnx_coverage(tiny_crnn[1])["macs_total"]  # same MACs as the float graph


def test_ort_dynamic_int8_counts_integer_ops(tiny_dscnn, tmp_path):
    from voxquant.quant import build_variant

    p = build_variant("int8_dynamic", tiny_dscnn[1], tmp_path / "m.dyn.onnx")
    rows = onnx_macs(p)
    assert {r["op"] for r in rows} == {"ConvInteger", "MatMulInteger"} and all(r["int8"] for r in rows)
    assert coverage_summary(rows)["int8_mac_share"] == 1.0


def test_external_data_model(tiny_dscnn, tmp_path):
    m = onnx.load(str(tiny_dscnn[1]))
    p = tmp_path / "ext.onnx"
    onnx.save_model(m, str(p), save_as_external_data=True, all_tensors_to_one_file=True, location="ext.onnx.data",
                    size_threshold=0)
    assert (tmp_path / "ext.onnx.data").exists()
    assert [r["macs"] for r in onnx_macs(p)] == [r["macs"] for r in onnx_macs(tiny_dscnn[1])]
    (tmp_path / "ext.onnx.data").unlink()
    with pytest.raises(ModelError, match="external data file.*ext.onnx.data"):
        onnx_macs(p)


def test_missing_and_bad_files(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        onnx_macs(tmp_path / "nope.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a protobuf at all \xff\xfe")
    with pytest.raises(ModelError, match="bad.onnx"):
        onnx_macs(bad)


def _rnn_body(kind: str, hidden: int, inp: int):
    """Body graph: state [1, H] and x_t [1, I] -> tanh(x_t W + s R) (Scan: state, scan in; Loop: iter, cond, state)."""
    nodes = [helper.make_node("MatMul", ["x_t", "W"], ["a"], name="in_mm"),
             helper.make_node("MatMul", ["s", "R"], ["b"], name="rec_mm"),
             helper.make_node("Add", ["a", "b"], ["c"]), helper.make_node("Tanh", ["c"], ["s_out"])]
    f = TensorProto.FLOAT
    if kind == "scan":
        nodes.append(helper.make_node("Identity", ["s_out"], ["y_t"]))
        ins = [helper.make_tensor_value_info("s", f, [1, hidden]), helper.make_tensor_value_info("x_t", f, [1, inp])]
        outs = [helper.make_tensor_value_info("s_out", f, [1, hidden]), helper.make_tensor_value_info("y_t", f, [1, hidden])]
    else:
        nodes += [helper.make_node("Identity", ["cond"], ["cond_out"])]
        ins = [helper.make_tensor_value_info("i", TensorProto.INT64, []), helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
               helper.make_tensor_value_info("s", f, [1, hidden])]
        outs = [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []), helper.make_tensor_value_info("s_out", f, [1, hidden])]
    return helper.make_graph(nodes, "body", ins, outs)


def test_scan_and_loop_bodies_count_times_trip_count(tmp_path):
    hidden, inp, steps = 4, 3, 5
    f = TensorProto.FLOAT
    inits = [numpy_helper.from_array(np.zeros((1, hidden), np.float32), "s0"),
             numpy_helper.from_array(np.ones((inp, hidden), np.float32), "W"),
             numpy_helper.from_array(np.ones((hidden, hidden), np.float32), "R")]
    scan = helper.make_graph(
        [helper.make_node("Scan", ["s0", "x"], ["s_last", "ys"], name="scan", body=_rnn_body("scan", hidden, inp), num_scan_inputs=1)],
        "g", [helper.make_tensor_value_info("x", f, [steps, 1, inp])], [helper.make_tensor_value_info("ys", f, [steps, 1, hidden])],
        initializer=inits)
    p = tmp_path / "scan.onnx"
    onnx.save(helper.make_model(scan, opset_imports=[helper.make_opsetid("", 17)]), str(p))
    rows = onnx_macs(p)
    assert [(r["node"], r["macs"]) for r in rows] == [("scan/in_mm", steps * inp * hidden), ("scan/rec_mm", steps * hidden * hidden)]
    # Loop: x_t is an outer-scope constant [1, I], trip count M = 3 from an initializer
    loop_inits = inits + [numpy_helper.from_array(np.ones((1, inp), np.float32), "x_t"),
                          numpy_helper.from_array(np.array(3, np.int64), "M"), numpy_helper.from_array(np.array(True), "c0")]
    loop = helper.make_graph(
        [helper.make_node("Loop", ["M", "c0", "s0"], ["s_last"], name="loop", body=_rnn_body("loop", hidden, inp))],
        "g", [], [helper.make_tensor_value_info("s_last", f, [1, hidden])], initializer=loop_inits)
    p2 = tmp_path / "loop.onnx"
    onnx.save(helper.make_model(loop, opset_imports=[helper.make_opsetid("", 17)]), str(p2))
    assert sum(r["macs"] for r in onnx_macs(p2)) == 3 * (inp * hidden + hidden * hidden)


def test_summary_refuses_partial_shares():
    rows = [{"node": "a", "op": "Conv", "macs": 10, "int8": True, "precision": "int8"},
            {"node": "b", "op": "MatMul", "macs": None, "int8": False, "precision": "float32"}]
    s = coverage_summary(rows)
    assert s["int8_mac_share"] is None and "b" in s["unknown"] and "MACs unknown" in s["note"]
    assert coverage_summary([])["int8_mac_share"] is None
    s = coverage_summary([rows[0], {"node": "c", "op": "Conv", "macs": 30, "int8": False, "precision": "?"},
                          {"node": "d", "op": "Conv", "macs": 60, "int8": False, "precision": "a16w8"}])
    assert s["int8_mac_share"] == pytest.approx(0.1) and "lower bound" in s["note"] and s["other_compute"] == {"Conv": 1}


def test_backend_default(tiny_dscnn, tmp_path):
    from voxquant.backends.table import get_backend

    assert get_backend("onnx").int8_coverage(tiny_dscnn[1], tiny_dscnn[1])["int8_mac_share"] == 0.0
    res = get_backend("qnn").int8_coverage(tmp_path / "m.bin", tiny_dscnn[1])
    assert res == {"int8_mac_share": None, "note": "not exposed by this backend"}


# ------------------------------------------------------------------------------------------------ OpenVINO


def test_openvino_int8_crnn_gru_stays_float(tiny_crnn, calib, tmp_path):
    pytest.importorskip("openvino", reason="OpenVINO not installed (pip install -c constraints.txt 'voxquant[openvino]')")
    pytest.importorskip("nncf", reason="NNCF not installed (pip install -c constraints.txt 'voxquant[openvino]')")
    from voxquant.backends.openvino import OpenVinoBackend

    b = OpenVinoBackend()
    q = b.convert(tiny_crnn[1], "int8", tmp_path, calib)
    s = b.int8_coverage(q.path, tiny_crnn[1])
    assert 0.0 < s["int8_mac_share"] < 1.0 and s["unknown"] == []
    assert "GRUSequence" in s["float_compute"]
    assert s["macs_total"] == onnx_coverage(tiny_crnn[1])["macs_total"]  # IR MACs = ONNX graph MACs
    fp = b.convert(tiny_crnn[1], "fp32", tmp_path, None)
    assert b.int8_coverage(fp.path, tiny_crnn[1])["int8_mac_share"] == 0.0


# ------------------------------------------------------------------------------------------------ LiteRT


def test_litert_int8_dscnn(tiny_dscnn, calib, tmp_path):
    for mod in ("ai_edge_litert.interpreter", "litert_torch", "ai_edge_quantizer"):
        pytest.importorskip(mod, reason=f"{mod} not installed (pip install -c constraints.txt 'voxquant[litert]')")
    from voxquant.backends.litert import LiteRtBackend

    m, onnx_path = tiny_dscnn
    b = LiteRtBackend()
    art = b.convert(onnx_path, "int8", tmp_path, calib, torch_model=m)
    s = b.int8_coverage(art.path, onnx_path)
    assert s["int8_mac_share"] > 0.5 and s["unknown"] == []
    # the first conv (1 input channel) becomes DEPTHWISE_CONV_2D (depth multiplier 8): same MACs as the ONNX graph
    assert s["macs_total"] == onnx_coverage(onnx_path)["macs_total"]
    fp = tmp_path / f"{Path(onnx_path).stem}.litert-fp32.tflite"  # built on the way to int8
    assert b.int8_coverage(fp, onnx_path)["int8_mac_share"] == 0.0


# ------------------------------------------------------------------------------------------------ RKNN

_TABLE = """D RKNN: [11:02:55.808] ID   OpType             DataType Target InputShape                               OutputShape            Cycles(DDR/NPU/Total)    RW(KB)       FullName
D RKNN: [11:02:55.808] ------------------------------------------------------------------------------------------
D RKNN: [11:02:55.808] 0    InputOperator      INT8     NPU    \\                                        (1,1,49,10)            0/0/0                    0            InputOperator:input
D RKNN: [11:02:55.808] 1    ConvRelu           INT8     NPU    (1,1,49,10),(8,1,10,4),(8)               (1,8,25,5)             333/5120/5120            5            Conv:node_Conv_75
D RKNN: [11:02:55.808] 5    exGRU              FLOAT16  NPU    (25,1,40),(16,40,1,1),(32,8,1,1),...     (25,1,1,8)             0/0/0                    58           exGRU:node_gru__1
D RKNN: [11:02:55.808] 9    ConvRelu           INT8     NPU    (1,8,1,1),(8,8,1,1),(8)                  (1,8,1,1)              18/64/64                 0            Conv:node_linear#2
D RKNN: [11:02:55.808] 12   OutputOperator     INT8     CPU    (1,12)                                   \\                      0/0/0                    0            OutputOperator:logits
D RKNN: [11:02:55.808] ------------------------------------------------------------------------------------------
"""


def test_parse_rknn_layer_table_and_match(tiny_crnn):
    rows = parse_rknn_layer_table("noise\n" + _TABLE + "more noise\n")
    assert [r["onnx_node"] for r in rows] == ["input", "node_Conv_75", "node_gru__1", "node_linear", "logits"]
    assert rows[2]["dtype"] == "FLOAT16" and rows[-1]["target"] == "CPU"
    assert parse_rknn_layer_table("no table here") == []
    # a table without node_linear_1: that Gemm's precision is unknown -> lower bound, named in the note
    s = coverage_summary(rknn_macs(tiny_crnn[1], rows))
    assert s["float_compute"] == {"GRU": 1} and "node_linear_1" in s["unknown"] and "lower bound" in s["note"]


def _rknn_venv():
    from voxquant.backends.rknn.venv import venv_ready

    ok, why = venv_ready()
    if not ok:
        pytest.skip(f"RKNN venv not available: {why}")


def test_rknn_int8_crnn_gru_is_fp16(tiny_crnn, calib, tmp_path):
    _rknn_venv()
    from voxquant.backends.rknn import RknnBackend

    b = RknnBackend()
    art = b.convert(tiny_crnn[1], "int8", tmp_path, calib, analysis=False)
    assert any(r["op"] == "exGRU" and r["dtype"] == "FLOAT16" for r in art.extra["rknn_layers"])
    s = b.int8_coverage(art.path, tiny_crnn[1])
    assert 0.0 < s["int8_mac_share"] < 1.0 and s["float_compute"] == {"GRU": 1} and s["unknown"] == []
    assert s["macs_total"] == onnx_coverage(tiny_crnn[1])["macs_total"]
    fp = b.convert(tiny_crnn[1], "fp16", tmp_path, None)
    assert b.int8_coverage(fp.path, tiny_crnn[1])["int8_mac_share"] == 0.0
