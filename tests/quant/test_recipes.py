"""ONNX Runtime quantization recipes on a small random DS-CNN: graphs, dtypes, ranges, errors."""

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from voxquant.audio.frontend import DEFAULT_FRONTEND, compute_features
from voxquant.backends.onnxruntime import OrtSession
from voxquant.models.train import load_weights
from voxquant.models.zoo_default import DEFAULT_WEIGHTS
from voxquant.errors import ConfigError
from voxquant.quant import build_variant, get_recipe, recipe_names
from voxquant.quant.export import export_onnx
from voxquant.quant.ort import cpu_has_vnni, default_reduce_range


@pytest.fixture(scope="module")
def fp32(tmp_path_factory):
    m, _ = load_weights(DEFAULT_WEIGHTS)  # the bundled trained DS-CNN: realistic weight and activation ranges
    return export_onnx(m, m.example_input(), tmp_path_factory.mktemp("q") / "m.onnx")


@pytest.fixture(scope="module")
def calib():
    """MFCC features of synthetic (generated, not recorded) tone + noise clips: [32, 1, 49, 10]."""
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    w = np.stack([0.2 * np.sin(2 * np.pi * rng.uniform(150, 3000) * t) * np.hanning(16000) + 0.02 * rng.standard_normal(16000)
                  for _ in range(32)]).astype(np.float32)
    return compute_features(w, DEFAULT_FRONTEND)[:, None]


def _ops(path):
    return [n.op_type for n in onnx.load(str(path)).graph.node]


def test_builtin_recipes_registered():
    for r in ("fp32", "fp16", "int8_dynamic", "int8_static_minmax", "int8_static_entropy", "int8_static_percentile",
              "int8_static_minmax_fullrange"):
        assert r in recipe_names()


@pytest.mark.parametrize("recipe", ["fp16", "int8_dynamic", "int8_static_minmax", "int8_static_entropy", "int8_static_percentile"])
def test_variant_runs_and_tracks_fp32(recipe, fp32, calib, tmp_path):
    out = build_variant(recipe, fp32, tmp_path / f"{recipe}.onnx", calib)
    x = calib[:8]
    ref = OrtSession(fp32).run(x)
    got = OrtSession(out).run(x)
    assert got.shape == ref.shape == (8, 12) and got.dtype == np.float32
    # quantization error small relative to the spread of the logits; Entropy (KL) calibration clips outliers on
    # purpose, so on these synthetic tones it is allowed a larger error
    tol = 0.5 if recipe == "int8_static_entropy" else 0.15
    assert np.abs(got - ref).mean() < tol * ref.std()
    assert out.stat().st_size < fp32.stat().st_size


def test_fp16_keeps_float32_io(fp32, tmp_path):
    m = onnx.load(str(build_variant("fp16", fp32, tmp_path / "h.onnx")))
    assert m.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert m.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in m.graph.initializer)


def test_dynamic_uses_dynamic_quantization(fp32, tmp_path):
    ops = _ops(build_variant("int8_dynamic", fp32, tmp_path / "d.onnx"))
    assert "DynamicQuantizeLinear" in ops and "ConvInteger" in ops


def _int8_weights(path):
    m = onnx.load(str(path))
    return [numpy_helper.to_array(i) for i in m.graph.initializer if i.data_type == onnx.TensorProto.INT8 and i.dims and len(i.dims) == 4]


def test_static_is_qdq_per_channel_with_host_dependent_range(fp32, calib, tmp_path):
    p = build_variant("int8_static_minmax", fp32, tmp_path / "s.onnx", calib)
    ops = _ops(p)
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops and "DynamicQuantizeLinear" not in ops
    m = onnx.load(str(p))
    axes = [a.i for n in m.graph.node if n.op_type == "DequantizeLinear" for a in n.attribute if a.name == "axis"]
    assert axes, "per-channel weights carry an axis attribute"
    wmax = max(np.abs(w.astype(np.int32)).max() for w in _int8_weights(p))
    assert default_reduce_range() == (not cpu_has_vnni())
    if default_reduce_range():
        assert wmax <= 64  # 7-bit weights
    full = build_variant("int8_static_minmax_fullrange", fp32, tmp_path / "f.onnx", calib)
    assert max(np.abs(w.astype(np.int32)).max() for w in _int8_weights(full)) == 127


def test_dynamic_weight_range_follows_the_same_host_rule(fp32, tmp_path):
    """MatMulInteger/ConvInteger run u8 x s8 through the saturating AVX2 path too: 7-bit weights without VNNI."""
    auto = max(np.abs(w.astype(np.int32)).max() for w in _int8_weights(build_variant("int8_dynamic", fp32, tmp_path / "a.onnx")))
    full = max(np.abs(w.astype(np.int32)).max()
               for w in _int8_weights(build_variant("int8_dynamic", fp32, tmp_path / "f.onnx", reduce_range=False)))
    seven = max(np.abs(w.astype(np.int32)).max()
                for w in _int8_weights(build_variant("int8_dynamic", fp32, tmp_path / "r.onnx", reduce_range=True)))
    assert full == 127 and seven <= 64
    assert auto == (seven if default_reduce_range() else full)


def test_unknown_recipe_and_missing_calibration(fp32, tmp_path):
    with pytest.raises(ConfigError, match="did you mean 'int8_static_entropy'"):
        get_recipe("int8_static_entrop")
    with pytest.raises(ConfigError, match="needs calibration data"):
        build_variant("int8_static_minmax", fp32, tmp_path / "x.onnx", None)


def test_entropy_calibration_is_not_minmax(fp32, calib, tmp_path):
    # ORT's quantize_static never forwards num_bins: with 128 bins Entropy was byte-identical to MinMax
    a = build_variant("int8_static_minmax", fp32, tmp_path / "a.onnx", calib).read_bytes()
    b = build_variant("int8_static_entropy", fp32, tmp_path / "b.onnx", calib).read_bytes()
    assert a != b
