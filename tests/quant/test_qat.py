"""QAT recipe: PT2E QAT -> QDQ ONNX that ONNX Runtime runs, agreeing with the PyTorch QAT model; ONNX-only input."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torchao")

import onnx  # noqa: E402
import torch  # noqa: E402
from onnx import numpy_helper  # noqa: E402

from voxquant.errors import ConfigError  # noqa: E402
from voxquant.quant.qat import (  # noqa: E402
    UNSET, QatConfig, _torch_model, convert_qat, export_qdq_onnx, prepare_qat, qat_finetune, resolve_weight_bits,
)


@pytest.fixture(scope="module")
def tiny_dev(shared_data):
    """96 stratified dev clips as features ``[96, 1, 49, 10]`` + labels."""
    from voxquant.audio.frontend import compute_features
    from voxquant.data import load_waves, speech_commands_test, split_dev_eval
    from voxquant.data.slices import stratified_indices
    from voxquant.models.source import load_model

    _, meta = load_model(None)
    dev, _ = split_dev_eval(speech_commands_test(shared_data))
    idx = stratified_indices(dev.label_ids(), 96, 11)
    x = compute_features(load_waves(dev.subset(idx), 16000, 16000, progress=False), meta["frontend"])[:, None]
    return x.astype(np.float32), dev.label_ids()[idx]


def test_qat_export_runs_in_ort_and_matches_the_pytorch_qat_model(tmp_path, shared_data, tiny_dev):
    from voxquant.backends.onnxruntime import OrtSession
    from voxquant.models.source import load_model

    model, meta = load_model(None)
    meta = dict(meta, source="bundled")
    gm, info = qat_finetune(model, meta, QatConfig(epochs=1, limit=48, weight_bits=7, max_minutes=2), data_root=shared_data)
    assert info["config"]["weight_bits"] == 7 and len(info["history"]["loss"]) == 1 and info["n_clips"] == 48
    qm = convert_qat(gm)
    x, y = tiny_dev
    out = export_qdq_onnx(qm, torch.from_numpy(x[:2]), tmp_path / "qat.onnx")
    m = onnx.load(str(out))
    ops = {n.op_type for n in m.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    # every conv/gemm weight is stored as int8 in the 7-bit range (no VPMADDUBSW saturation on x86 without VNNI)
    int8 = [a for a in (numpy_helper.to_array(i) for i in m.graph.initializer) if a.dtype == np.int8 and a.ndim >= 2]
    assert sum(a.size for a in int8) > 20000 and all(np.abs(a.astype(int)).max() <= 63 for a in int8)
    # dynamic batch: 1 clip and 96 clips
    sess = OrtSession(out, threads=1)
    assert sess.run(x[:1]).shape == (1, 12)
    ort_logits = sess.run(x)
    with torch.no_grad():
        pt_logits = qm(torch.from_numpy(x)).numpy()
    acc_ort, acc_pt = (ort_logits.argmax(1) == y).mean(), (pt_logits.argmax(1) == y).mean()
    assert abs(acc_ort - acc_pt) <= 2 / 96
    assert (ort_logits.argmax(1) == pt_logits.argmax(1)).mean() >= 0.95
    assert acc_pt > 0.5  # far above chance: fine-tuning did not break the model
    # the fused kernels agree with the QDQ graph simulated in float (the pipeline's kernel check)
    sim = OrtSession(out, threads=1, optimization="basic").run(x)
    assert (sim.argmax(1) == ort_logits.argmax(1)).mean() >= 0.95


def test_onnx_only_model_is_converted_with_onnx2torch(tmp_path):
    from voxquant.backends.onnxruntime import OrtSession
    from voxquant.models.source import load_model
    from voxquant.quant.export import export_onnx

    model, _ = load_model(None)
    fp = export_onnx(model, model.example_input(), tmp_path / "fp32.onnx")
    tm, meta = _torch_model(fp, UNSET)
    assert meta["source"].startswith("onnx2torch(")
    x = torch.randn(4, 1, 49, 10)
    with torch.no_grad():
        assert np.allclose(tm(x).numpy(), model(x).numpy(), atol=1e-4)
    gm = prepare_qat(tm, x[:2], 8)
    gm.train()
    with torch.no_grad():
        gm(x)  # observers see data
    out = export_qdq_onnx(convert_qat(gm), x[:2], tmp_path / "o2t.qat.onnx")
    assert OrtSession(out).run(x.numpy()).shape == (4, 12)


def test_unconvertible_onnx_and_bad_options_raise_config_error(tmp_path):
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("MyCustomOp", ["input"], ["logits"], domain="com.example")], "g",
                          [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 12])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 12])])
    p = tmp_path / "custom.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)]), str(p))
    with pytest.raises(ConfigError, match="onnx2torch cannot convert"):
        _torch_model(p, UNSET)
    with pytest.raises(ConfigError):
        resolve_weight_bits(4)
    assert resolve_weight_bits(8) == 8


def test_qat_of_a_gru_model_quantizes_the_convs_and_leaves_the_gru_float(tmp_path, tiny_crnn):
    """CRNN (conv + GRU): XNNPACK's ``gru_io_only`` annotator indexes a hidden-state input that ``gru(x)`` does not
    pass and used to fail; voxquant leaves it out (ONNX Runtime has no int8 GRU, so the GRU stays float anyway)."""
    from voxquant.backends.onnxruntime import OrtSession
    from voxquant.quant.sensitivity import float_ops

    model, _ = tiny_crnn
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(4, 1, 49, 10)).astype(np.float32))
    gm = prepare_qat(copy_of(model), x[:2], weight_bits=7)
    with torch.no_grad():
        gm(x)  # observers see data (training-mode forward of the QAT graph)
    out = export_qdq_onnx(convert_qat(gm), x[:2], tmp_path / "crnn_qat.onnx")
    ops = float_ops(out)
    assert "GRU" in ops["float"] and "Conv" in ops["int8"]
    logits = OrtSession(out, threads=1).run(x.numpy())
    assert logits.shape == (4, 12) and np.isfinite(logits).all()


def copy_of(model):
    import copy

    return copy.deepcopy(model)
