"""The audio-in live graph of the streaming DS-CNN (front-end inside the ONNX graph): features, logits, int8."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from voxquant.audio.frontend import FrontendConfig, compute_features
from voxquant.errors import ConfigError, ModelError
from voxquant.eval.stream_conv import (LiveAudioStream, LiveStream, build_graph_variant, export_graphs,
                                       export_live_audio_graph, frontend_node_names, live_audio_calibration,
                                       live_calibration, load_stream_model, stream_features, stream_logits)
from voxquant.models.streaming import WARMUP_HOPS, FrameMFCC, LiveGraphWithFrontend


@pytest.fixture(scope="module")
def graphs(tmp_path_factory):
    model, meta = load_stream_model()
    out = tmp_path_factory.mktemp("liveaudio")
    s, lv = export_graphs(model, out)
    la = export_live_audio_graph(model, meta["frontend"], out)
    return model, meta["frontend"], s, lv, la, out


def _speechlike(seconds, seed=0):
    rng = np.random.default_rng(seed)
    n = int(seconds * 16000)
    env = np.repeat(rng.uniform(0.001, 0.5, size=n // 1600 + 1), 1600)[:n]
    return (rng.normal(size=n) * env).astype(np.float32)


FRAME_LOCAL = {
    "default": FrontendConfig(),
    "power2-htk-log2-mel": FrontendConfig(power=2.0, mel_scale="htk", log="log2", log_offset=1e-9, n_mfcc=0),
    "slaney-ortho-db-affine": FrontendConfig(mel_scale="slaney", dct_norm="ortho", n_mfcc=13, log="db",
                                             feature_offset=3.0, feature_scale=0.5, clip=(-40.0, 40.0)),
    "tf_audio_ops-floor": FrontendConfig(mel_scale="tf_audio_ops", mel_floor=1e-12, spectrum_scale=2.0),
}


@pytest.mark.parametrize("name", list(FRAME_LOCAL))
def test_frame_mfcc_equals_compute_features(name):
    cfg = FRAME_LOCAL[name]
    x = _speechlike(0.5, seed=3)
    want = compute_features(x, cfg)
    for k in (2, want.shape[0]):
        got = FrameMFCC(cfg, k)(torch.from_numpy(x[: (k - 1) * cfg.hop_length + cfg.win_length])[None])[0].numpy()
        scale = max(1.0, float(np.abs(want).max()))
        assert got.shape == (k, cfg.n_features)
        np.testing.assert_allclose(got / scale, want[:k] / scale, atol=1e-5, rtol=0)


def test_frontend_must_be_frame_local_and_match_the_model():
    model, meta = load_stream_model()
    for kw in ({"center": True}, {"preemphasis": 0.97}, {"audio_norm": "peak"}):
        with pytest.raises(ConfigError, match="not frame-local"):
            FrameMFCC(FrontendConfig(**kw), 2)
    with pytest.raises(ConfigError, match="longer than"):
        FrameMFCC(FrontendConfig(window_ms=20.0), 2)
    with pytest.raises(ConfigError, match="13 features"):
        LiveGraphWithFrontend(model, FrontendConfig(n_mfcc=13))


def test_audio_in_live_graph_equals_features_live_graph_and_windowed_model(graphs):
    model, fe, s, lv, la, _ = graphs
    m = onnx.load(str(la))
    onnx.checker.check_model(m)
    assert [i.name for i in m.graph.input][:2] == ["audio", "audio_tail"]
    assert [d.dim_value for d in m.graph.input[1].type.tensor_type.shape.dim] == [1, fe.win_length - fe.hop_length]
    x = _speechlike(3.0)
    want_live = LiveStream(lv, fe).push_audio(x)
    st = LiveAudioStream(la)
    rng = np.random.default_rng(1)
    cuts = np.sort(rng.choice(np.arange(1, x.size), size=60, replace=False))
    got = np.concatenate([st.push_audio(c) for c in np.split(x, cuts)])  # odd chunk sizes, some under a hop
    assert got.shape == want_live.shape
    np.testing.assert_allclose(got, want_live, atol=1e-4, rtol=0)
    from voxquant.backends.onnxruntime import OrtSession

    windows = stream_logits(OrtSession(s, threads=1), x, fe)  # = the windowed clip model (test_stream_conv)
    n = min(len(got) - WARMUP_HOPS, len(windows))
    assert n > 20
    np.testing.assert_allclose(got[WARMUP_HOPS: WARMUP_HOPS + n], windows[:n], atol=1e-4, rtol=0)
    with pytest.raises(ModelError, match="audio-in"):
        LiveAudioStream(lv)


def test_int8_audio_in_keeps_the_frontend_float_and_tracks_int8_features_graph(graphs):
    from voxquant.quant.ort import frontend_float_ops

    _, fe, _, lv, la, out = graphs
    cal, ev = _speechlike(6.0, seed=5), _speechlike(3.0, seed=6)
    calib = live_audio_calibration(la, cal)
    # consecutive hops: hop i's audio tail is the last samples of hop i-1's audio
    tail = calib["audio_tail"].shape[1]
    np.testing.assert_array_equal(calib["audio_tail"][1:], calib["audio"][:-1, -tail:])
    np.testing.assert_array_equal(calib["audio_tail"][0], cal[:tail])
    names = frontend_node_names(la)
    q = build_graph_variant("int8_static_minmax", la, out / "live_audio.int8.onnx", calib, nodes_to_exclude=names)
    assert {"MatMul", "Log"} <= set(frontend_float_ops(q))  # DFT / mel / DCT matmuls and the log stay float
    cf = stream_features(cal, fe, 0, 1 + (cal.size - fe.win_length) // fe.hop_length)
    qf = build_graph_variant("int8_static_minmax", lv, out / "live.int8.onnx", live_calibration(lv, cf))
    ref = LiveStream(lv, fe).push_audio(ev)[WARMUP_HOPS:]
    want = LiveStream(qf, fe).push_audio(ev)[WARMUP_HOPS:]
    got = LiveAudioStream(q).push_audio(ev)[WARMUP_HOPS:]
    span = float(ref.max() - ref.min())
    # same quantized network on the same (float) features, up to calibration ranges of the stem input: measured
    # 0.036 logits on 8 s of this audio (int8 vs fp32 itself: 0.31)
    assert np.abs(got - want).max() < 0.05 * span
    assert np.abs(got - ref).max() < 0.2 * span
