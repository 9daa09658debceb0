"""Specs of raw-audio models (``frontend = "raw"``) and TF1 frozen graphs (``.pb``) converted with a parity check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voxquant.errors import ConfigError, ModelError

LABELS = ["a", "b", "c", "d"]


def _spec_text(model: str, fmt: str, shape, frontend: str, extra: str = "") -> str:
    top = frontend if not frontend.startswith("[") else ""  # a bare key must come before the first table
    frontend = "" if top else frontend
    return f'''name = "raw-t"
format = "{fmt}"
model = "{model}"
{extra}
{top}
[input]
shape = {list(shape)}

[labels]
order = {LABELS}

{frontend}
'''


def _raw_onnx(path: Path, n: int = 16000) -> Path:
    """Waveform [N, n] -> MatMul -> Add -> [N, 4] (a stand-in for a model with its front-end in the graph)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((n, 4)).astype(np.float32) * 0.01, "W")
    b = numpy_helper.from_array(np.arange(4, dtype=np.float32), "B")
    g = helper.make_graph([helper.make_node("MatMul", ["input", "W"], ["h"]), helper.make_node("Add", ["h", "B"], ["logits"])],
                          "raw", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", n])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 4])], [w, b])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_raw_frontend_specs(tmp_path):
    from voxquant.audio.frontend import compute_features
    from voxquant.zoo import load_spec, open_model

    _raw_onnx(tmp_path / "m.onnx")
    p = tmp_path / "s.toml"
    p.write_text(_spec_text("m.onnx", "onnx", [1, 16000], 'frontend = "raw"'))
    spec = load_spec(p)
    assert spec.input.layout == "raw" and spec.frontend.kind == "raw"
    assert (spec.frontend.sample_rate, spec.frontend.clip_samples) == (16000, 16000)
    waves = np.random.default_rng(0).standard_normal((3, 16000)).astype(np.float32) * 0.1
    feats = compute_features(waves, spec.frontend)
    assert feats.shape == (3, 16000) and feats.dtype == np.float32
    y = open_model(spec).run_features(feats)
    assert y.shape == (3, 4)

    _raw_onnx(tmp_path / "h.onnx", n=8000)
    p.write_text(_spec_text("h.onnx", "onnx", [1, 8000], '[frontend]\nkind = "raw"\nsample_rate = 16000\nclip_ms = 500'))
    spec = load_spec(p)
    assert spec.frontend.clip_samples == 8000 and spec.feature_shape == (8000, 1)

    p.write_text(_spec_text("h.onnx", "onnx", [1, 8000], '[frontend]\nkind = "raw"\nclip_samples = 16000'))
    with pytest.raises(ConfigError, match="gives 16000 samples, input shape \\[1, 8000\\] wants 8000"):
        load_spec(p)
    p.write_text(_spec_text("h.onnx", "onnx", [1, 8000], '[frontend]\nkind = "raw"\nn_mels = 40'))
    with pytest.raises(ConfigError, match="unknown field"):
        load_spec(p)
    p.write_text(_spec_text("m.onnx", "onnx", [1, 16000], '[frontend]\npreset = "mlperf-tiny-mfcc"').replace(
        "shape = [1, 16000]", 'shape = [1, 16000]\nlayout = "raw"'))
    with pytest.raises(ConfigError, match="needs frontend = \"raw\""):
        load_spec(p)


def test_bare_raw_onnx_and_resolve_model(tmp_path):
    from voxquant.models.source import resolve_model
    from voxquant.zoo import spec_for_file

    _raw_onnx(tmp_path / "m.onnx", n=8000)
    spec = spec_for_file(tmp_path / "m.onnx", "raw", labels=LABELS)
    assert spec.input.layout == "raw" and spec.frontend.clip_samples == 8000
    src = resolve_model(tmp_path / "m.onnx", "raw", labels="a,b,c,d")
    assert src.layout == "raw" and src.labels == tuple(LABELS) and src.frontend.kind == "raw"
    with pytest.raises(ConfigError, match="needs --labels"):
        resolve_model(tmp_path / "m.onnx", "raw")
    with pytest.raises(ConfigError, match="needs a model spec"):
        resolve_model(tmp_path / "g.pb", None)


def test_frozen_graph_spec_needs_tensor_names(tmp_path):
    from voxquant.zoo import load_spec

    p = tmp_path / "s.toml"
    p.write_text(_spec_text("g.pb", "tf_frozen_graph", [1, 16000], 'frontend = "raw"', extra='input_name = "x:0"'))
    with pytest.raises(ConfigError, match="needs the tensor names"):
        load_spec(p)


def _frozen_graph(path: Path, n_in: int = 16000) -> Path:
    """A TF1 graph built with tf.compat.v1: waveform -> frame energies -> dense -> softmax, frozen to a .pb."""
    tf = pytest.importorskip("tensorflow", reason="needs TensorFlow (the [tf] extra)")
    rng = np.random.default_rng(0)
    w = rng.standard_normal((n_in // 400, 4)).astype(np.float32)
    b = np.array([0.5, -0.5, 1.0, -1.0], np.float32)
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, n_in], name="fingerprint_input")
        frames = tf.reshape(x, [-1, n_in // 400, 400])
        energy = tf.math.log(tf.reduce_sum(tf.square(frames), axis=2) + 1e-6)
        logits = tf.matmul(energy, tf.constant(w)) + tf.constant(b)
        tf.nn.softmax(logits, name="labels_softmax")
    path.write_bytes(g.as_graph_def().SerializeToString())
    return path


def test_frozen_graph_round_trip(tmp_path, monkeypatch):
    """.pb -> ONNX (tf2onnx) with the spec's tensor names; parity recorded; the ONNX model runs like the graph."""
    pytest.importorskip("tf2onnx", reason="needs tf2onnx (the [tf] extra)")
    from voxquant.models.parity import read_parity_record
    from voxquant.zoo import load_spec, open_model, to_onnx
    from voxquant.zoo.convert import frozen_graph_predict

    _frozen_graph(tmp_path / "g.pb")
    p = tmp_path / "s.toml"
    p.write_text(_spec_text("g.pb", "tf_frozen_graph", [1, 16000], 'frontend = "raw"',
                            extra='input_name = "fingerprint_input"\noutput_name = "labels_softmax:0"')
                 .replace("[labels]", '[output]\nkind = "probabilities"\n\n[labels]'))
    spec = load_spec(p)
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((32, 16000)) * rng.uniform(0.01, 1, (32, 1))).astype(np.float32)
    out = to_onnx(spec, tmp_path / "g.onnx", inputs=x)
    rec = read_parity_record(out)
    assert rec["passed"] and rec["n"] == 32 and rec["top1_agreement"] == 1.0 and rec["rel_diff"] < 1e-3
    ref = frozen_graph_predict(tmp_path / "g.pb", "fingerprint_input:0", "labels_softmax:0")(x)
    got = open_model(spec).run(x)  # converted once (cache), run with ONNX Runtime
    assert np.abs(got - ref).max() < 1e-4

    bad = tmp_path / "s_bad.toml"
    bad.write_text(p.read_text().replace('"fingerprint_input"', '"nope"'))
    with pytest.raises(ModelError, match="tensor not in the graph"):
        to_onnx(load_spec(bad), tmp_path / "g2.onnx", inputs=x)
