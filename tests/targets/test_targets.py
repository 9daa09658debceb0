"""Target profiles and the static operator check (no optional toolchain needed)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from voxquant.errors import ConfigError, ModelError
from voxquant.targets import all_targets, get_target, target_names
from voxquant.backends.evidence import ort_int8_evidence
from voxquant.targets.check import Graph, check_model, node_macs

EXPECTED = {"rk3588", "jetson-orin-nx", "qualcomm-rb5", "coral-edgetpu", "cpu-x86", "cpu-arm"}


def test_profiles_load_and_cite_sources():
    from voxquant.backends.table import _REGISTRY

    assert EXPECTED <= set(target_names())
    for t in all_targets():
        assert t.precisions, t.name
        assert t.sources and all(s.get("url") and s.get("version") for s in t.sources), t.name
        assert t.backend in _REGISTRY, t.name
        assert t.citation()


def test_rknn_profile_marks_spectral_ops_unsupported():
    t = get_target("rk3588")
    for op in ("STFT", "DFT", "MelWeightMatrix", "HannWindow"):
        assert t.op_rule(op) is None and op in t.unsupported
    assert t.op_rule("Conv") is not None
    assert t.ops["GRU"]["batch_max"] == 1


@pytest.mark.parametrize("bad,close", [("rk3589", "rk3588"), ("coral", "coral-edgetpu"), ("jetson-orin", "jetson-orin-nx")])
def test_unknown_target_suggests_close_match(bad, close):
    with pytest.raises(ConfigError) as e:
        get_target(bad)
    assert f"did you mean '{close}'" in str(e.value)


def _graph_model(path, nodes, inits, x_shape, y_shape, opset=18):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    return path


def _conv_topk_conv(path):
    """Conv(1->4, 3x3) -> TopK (unsupported on RKNN/Edge TPU) -> Conv(4->4, 1x1)."""
    w1 = helper.make_tensor("w1", TensorProto.FLOAT, [4, 1, 3, 3], np.ones(36, np.float32))
    w2 = helper.make_tensor("w2", TensorProto.FLOAT, [4, 4, 1, 1], np.ones(16, np.float32))
    k = helper.make_tensor("k", TensorProto.INT64, [1], [10])
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("TopK", ["c1", "k"], ["t", "ti"], name="topk", axis=3),
        helper.make_node("Conv", ["t", "w2"], ["y"], name="conv2"),
    ]
    return _graph_model(path, nodes, [w1, w2, k], [1, 1, 8, 10], [1, 4, 8, 10])


def test_unsupported_op_is_reported_not_raised(tmp_path):
    p = _conv_topk_conv(tmp_path / "m.onnx")
    rep = check_model(p, "rk3588")
    by = {f.node: f for f in rep.findings}
    assert by["topk"].placement == "cpu" and "Not Supported" in by["topk"].reasons[0]
    assert by["conv1"].placement == "accelerator" and by["conv2"].placement == "accelerator"
    # MACs: conv1 = 1*4*8*10 * (1*3*3) = 2880; conv2 = 4*8*10 * 4 = 1280; TopK has none
    assert by["conv1"].macs == 2880 and by["conv2"].macs == 1280 and by["topk"].macs == 0
    assert rep.total_macs == 4160 and rep.off_macs == 0
    assert "topk" in rep.to_text() and "<table>" in rep.to_html()


def test_edgetpu_single_partition_moves_the_rest_to_cpu(tmp_path):
    p = _conv_topk_conv(tmp_path / "m.onnx")
    rep = check_model(p, "coral-edgetpu")
    by = {f.node: f for f in rep.findings}
    assert rep.first_break.startswith("topk")
    assert by["conv1"].placement == "accelerator"
    assert by["conv2"].placement == "cpu" and any(r.startswith("partition:") for r in by["conv2"].reasons)
    assert rep.off_mac_share == pytest.approx(1280 / 4160)
    # per-node targets keep the later conv on the accelerator
    assert {f.node: f.placement for f in check_model(p, "qualcomm-rb5").findings}["conv2"] == "accelerator"


def test_dynamic_batch_and_opset_are_model_issues(tiny_dscnn):
    _, onnx_path = tiny_dscnn
    rk = check_model(onnx_path, "rk3588")
    assert any("dynamic dims" in m for m in rk.model_issues)
    trt = check_model(onnx_path, "jetson-orin-nx")
    assert any("opset 18 > 17" in m for m in trt.model_issues)
    assert not check_model(onnx_path, "cpu-x86").model_issues


def test_gemm_and_gru_macs(tiny_crnn):
    _, onnx_path = tiny_crnn
    g = Graph(onnx.load(str(onnx_path)))
    gru = [n for n in g.graph.node if n.op_type == "GRU"][0]
    # input to the GRU: T'=25 steps of C*F'=8*5=40 features, hidden 8: 25 * 3*8*(40+8)
    assert node_macs(gru, g) == 25 * 3 * 8 * (40 + 8)
    gemms = [n for n in g.graph.node if n.op_type == "Gemm"]
    assert sorted(node_macs(n, g) for n in gemms) == sorted([8 * 8, 8 * 12])


def test_gru_layout_attribute_is_flagged_for_rknn(tiny_crnn):
    _, onnx_path = tiny_crnn
    rep = check_model(onnx_path, "rk3588")
    assert any("'layout' attribute" in m for m in rep.model_issues)


def test_ort_int8_static_leaves_gru_float(tiny_crnn, calib, tmp_path):
    """ONNX Runtime's static QDQ quantization never quantizes GRU: pinned in the graph and in ORT's profile."""
    from voxquant.quant import build_variant

    _, onnx_path = tiny_crnn
    q = build_variant("int8_static_minmax", onnx_path, tmp_path / "crnn.int8.onnx", calib)
    g = Graph(onnx.load(str(q)))
    grus = [n for n in g.graph.node if n.op_type == "GRU"]
    convs = [n for n in g.graph.node if n.op_type == "Conv"]
    assert grus and not any(g.is_quantized(n) for n in grus)
    assert convs and all(g.is_quantized(n) for n in convs)
    rep = check_model(q, "cpu-x86")
    placements = {f.op: f.placement for f in rep.findings}
    assert placements["GRU"] == "accelerator-float" and placements["Conv"] == "accelerator"
    assert rep.float_macs > 0
    # int8-only accelerator: the float GRU leaves the HTP
    rb5 = check_model(q, "qualcomm-rb5")
    assert {f.op: f.placement for f in rb5.findings}["GRU"] == "cpu"
    ev = ort_int8_evidence(onnx_path, calib)
    assert ev["float_recurrent"] and ev["float_ops"].get("GRU", 0) >= 1
    assert any("QLinearConv" in k or "Conv" in k for k in ev["int8_ops"])


def test_trt_rules_flag_asymmetric_qdq(tiny_dscnn, calib, tmp_path):
    """TensorRT needs zero points of 0: ONNX Runtime's default int8 QDQ (asymmetric activations) violates it."""
    from voxquant.quant import build_variant

    _, onnx_path = tiny_dscnn
    q = build_variant("int8_static_minmax", onnx_path, tmp_path / "d.int8.onnx", calib)
    rep = check_model(q, "jetson-orin-nx")
    zp = [f for f in rep.findings if any("zero point" in r for r in f.reasons)]
    assert zp, "asymmetric QDQ should break the TensorRT Q/DQ rule"


def test_bad_model_file(tmp_path):
    p = tmp_path / "x.onnx"
    p.write_bytes(b"not onnx")
    with pytest.raises(ModelError):
        check_model(p, "rk3588")
    with pytest.raises(ModelError):
        check_model(tmp_path / "missing.onnx", "rk3588")


def test_check_cli_text(tiny_crnn):
    from voxquant.targets.check import check_cli

    _, onnx_path = tiny_crnn
    text, rep = check_cli(onnx_path, "qualcomm-rb5", evidence=False)
    assert "GRU" in text and rep.off_macs > 0 and "QNN" in text
    js, _ = check_cli(onnx_path, "qualcomm-rb5", evidence=False, as_json=True)
    assert '"off_mac_share"' in js
