"""LiteRT backend and Edge TPU rules (skip when the 'litert' extra is absent). Conversions are the slow part
(~20 s each on 2 cores), so one module-scoped fixture builds fp32 and int8 once."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ai_edge_litert.interpreter", reason="ai-edge-litert not installed (pip install -c constraints.txt 'voxquant[litert]')")
pytest.importorskip("litert_torch", reason="litert-torch not installed (pip install -c constraints.txt 'voxquant[litert]')")
pytest.importorskip("ai_edge_quantizer", reason="ai-edge-quantizer not installed (pip install -c constraints.txt 'voxquant[litert]')")

from voxquant.backends.litert import EdgeTpuBackend, LiteRtBackend, edgetpu_check, tflite_ops  # noqa: E402
from voxquant.backends.onnxruntime import OrtSession  # noqa: E402


@pytest.fixture(scope="module")
def built(tiny_dscnn, calib, tmp_path_factory):
    m, onnx_path = tiny_dscnn
    out = tmp_path_factory.mktemp("litert")
    b = LiteRtBackend()
    return {p: b.convert(onnx_path, p, out, calib, torch_model=m) for p in ("fp32", "int8", "int8-dynamic")}


def test_toolchain_chatter_goes_to_the_log(built):
    log = built["fp32"].path.parent / "toolchain.log"
    text = log.read_text()
    for p in ("fp32", "int8", "int8-dynamic"):
        assert f"litert {p} " in text  # one header per conversion
    assert "[ DONE]" in text  # litert-torch's per-pass lines (its own rich console on stdout) landed here


def test_fp32_matches_torch(built, tiny_dscnn, feats):
    ref = OrtSession(tiny_dscnn[1]).run(feats)
    s = LiteRtBackend().load(built["fp32"].path, threads=1)
    np.testing.assert_allclose(s.run(feats), ref, atol=1e-4)


def test_int8_has_int8_io_and_runs(built, tiny_dscnn, feats):
    art = built["int8"]
    s = LiteRtBackend().load(art.path, threads=1)
    assert s.inp["dtype"] == np.int8 and s.out["dtype"] == np.int8
    scale, zp = s.in_q
    assert scale > 0 and -128 <= zp <= 127
    y = s.run(feats)
    ref = OrtSession(tiny_dscnn[1]).run(feats)
    assert y.shape == ref.shape and y.dtype == np.float32
    assert np.abs(y - ref).max() < 0.2 * np.abs(ref).max() + 0.05
    assert "PT2E" in art.extra["int8_path"] and art.extra["float_ops"] == []
    names = [o["op_name"] for o in tflite_ops(art.path)[0]]
    assert "QUANTIZE" not in names[:1] and "DEQUANTIZE" not in names[-1:]


def test_dynamic_range_is_smaller(built):
    assert built["int8-dynamic"].size_bytes < built["fp32"].size_bytes


def test_edgetpu_check_dscnn_maps_fully(built):
    chk = edgetpu_check(built["int8"].path)
    assert chk["first_break"] is None and chk["cpu_ops"] == [] and chk["n_ops"] == len(chk["tpu_ops"])
    assert "cannot reach" in chk["compiler"] and "coral.ai" in chk["source"]


def test_edgetpu_check_float_model_breaks_at_first_op(built):
    chk = edgetpu_check(built["fp32"].path)
    fb = chk["first_break"]
    assert fb is not None and fb["index"] == 0 and any(r.startswith("dtype:") for r in fb["reasons"])
    assert len(chk["cpu_ops"]) == chk["n_ops"]


def test_edgetpu_backend_is_export_only(tiny_dscnn, calib, tmp_path, built):
    # reuse the int8 conversion through the backend (the fp32 .tflite is cached in its folder)
    art = EdgeTpuBackend().convert(tiny_dscnn[1], "int8", tmp_path, calib, torch_model=tiny_dscnn[0])
    assert art.extra["status"] == "export only" and "coral-edgetpu" in art.extra["check_summary"]
    rows = EdgeTpuBackend().op_report(art.path)
    assert rows and all(r["placement"] == "accelerator" for r in rows)


def test_xnnpack_partition_read_back(built):
    x = built["int8"].extra["xnnpack"]
    assert x["delegate_partitions"] >= 1 and x["delegated_ops"] == x["n_ops"] and x["not_delegated"] == {}
    assert "XNNPACK took" in built["int8"].extra["check_summary"]
