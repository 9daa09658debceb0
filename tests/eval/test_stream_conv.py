"""Streaming DS-CNN (voxquant.eval.stream_conv): ONNX stream / live graphs equal the windowed clip model; quantized
with their state (consecutive-hop calibration); the ``dscnn-stream`` kind of ``voxquant stream``."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from scipy.special import softmax

from voxquant.audio.frontend import compute_features
from voxquant.backends.onnxruntime import OrtSession
from voxquant.errors import ConfigError, DataError
from voxquant.eval.stream_conv import (LiveStream, build_graph_variant, export_graphs, live_calibration,
                                       load_stream_model, stream_calibration, stream_features, stream_logits,
                                       stream_scores)
from voxquant.eval.streaming import window_scores
from voxquant.models.streaming import WARMUP_HOPS


@pytest.fixture(scope="module")
def graphs(tmp_path_factory):
    model, meta = load_stream_model()  # the bundled trained weights
    out = tmp_path_factory.mktemp("sconv")
    s, lv = export_graphs(model, out)
    return model, meta["frontend"], meta, s, lv, out


def _speechlike(seconds, seed=0):
    """Noise with bursts (so that the model's outputs move); content does not matter for exactness."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 16000)
    env = np.repeat(rng.uniform(0.01, 0.5, size=n // 1600 + 1), 1600)[:n]
    return (rng.normal(size=n) * env).astype(np.float32)


def test_graphs_pass_checker_and_have_dynamic_time(graphs):
    _, _, _, s, lv, _ = graphs
    ms, ml = onnx.load(str(s)), onnx.load(str(lv))
    onnx.checker.check_model(ms)
    onnx.checker.check_model(ml)
    t = ms.graph.input[0].type.tensor_type.shape.dim[2]
    assert t.dim_param and not t.HasField("dim_value")  # symbolic time axis
    assert [i.name for i in ml.graph.input] == ["features", "stem_state", "block1_state", "block2_state",
                                                "block3_state", "block4_state", "pool_state"]
    assert len(ml.graph.output) == 7


def test_stream_and_live_onnx_equal_windowed_clip_model(graphs):
    model, fe, meta, s, lv, _ = graphs
    audio = _speechlike(12.0)
    clip_onnx = graphs[5] / "clip.onnx"
    from voxquant.quant.export import export_onnx

    export_onnx(model, model.example_input(), clip_onnx)
    kw = meta["labels"].index("yes")
    t_ref, p_ref = window_scores(OrtSession(clip_onnx, threads=1), audio, fe, "nchw", kw, hop_ms=40.0)
    t, p = stream_scores(OrtSession(s, threads=1), audio, fe, kw, chunk_windows=50)
    np.testing.assert_array_equal(t, t_ref)
    assert np.abs(p - p_ref).max() < 1e-5
    y1 = stream_logits(OrtSession(s, threads=1), audio, fe, chunk_windows=11)
    y2 = stream_logits(OrtSession(s, threads=1), audio, fe, chunk_windows=4096)
    assert np.abs(y1 - y2).max() < 1e-5  # chunking does not change results
    x = compute_features(np.stack([audio[k * 640: k * 640 + 16000] for k in range(len(y1))]), fe)[:, None]
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    assert np.abs(y1 - ref).max() < 1e-4
    live = LiveStream(lv, fe)
    parts = [live.push_audio(audio[i: i + 999]) for i in range(0, audio.size, 999)]  # odd chunks: buffering
    yl = np.concatenate(parts)[WARMUP_HOPS: WARMUP_HOPS + len(y1)]
    assert len(yl) == len(y1) and np.abs(yl - ref).max() < 1e-4
    with pytest.raises(DataError, match="2 frames"):
        live.push_frames(np.zeros((3, 10), np.float32))
    with pytest.raises(DataError, match="shorter than one window"):
        stream_logits(OrtSession(s, threads=1), audio[:15999], fe)


def test_live_calibration_carries_consecutive_state(graphs):
    _, fe, _, _, lv, _ = graphs
    audio = _speechlike(3.0, seed=1)
    feats = stream_features(audio, fe, 0, 1 + (audio.size - fe.win_length) // fe.hop_length)
    np.testing.assert_allclose(feats, compute_features(audio, fe), atol=1e-6)
    cal = live_calibration(lv, feats)
    n = len(feats) // 2
    assert all(len(v) == n for v in cal.values())
    st, f = cal["stem_state"][:, 0], cal["features"][:, 0]  # [N, 8, F], [N, 2, F]
    np.testing.assert_array_equal(st[1:, :6], st[:-1, 2:])
    np.testing.assert_array_equal(st[1:, 6:], f[:-1])
    assert np.abs(cal["pool_state"][WARMUP_HOPS:]).max() > 0 and not cal["block4_state"][0].any()
    with pytest.raises(DataError, match="shorter than one calibration chunk"):
        stream_calibration(feats[:100])


def test_int8_live_equals_int8_stream_within_measured_tolerance(graphs, shared_data):
    """Both graphs quantized by int8_static_minmax, calibrated on the same consecutive frames of a dev-split stream;
    on an eval-split stream the live graph's keyword probability stays within a fraction of the quantization error
    itself (the live graph quantizes its state inputs and Concat with their own calibrated ranges; the stream
    graph's activations at the same places have ranges from the same values, but QDQ sits at other nodes)."""
    from voxquant.data import load_noise_bank
    from voxquant.data.streams import build_stream, default_stream_sources
    from voxquant.models.zoo_default import split_noise_bank

    _, fe, meta, s, lv, out = graphs
    noise = split_noise_bank(load_noise_bank(shared_data, sample_rate=16000))
    dev = build_stream(*default_stream_sources("yes", shared_data, split="dev"), noise[0], keyword="yes",
                       duration_s=60.0, snr_db=10.0, seed=3)
    ev = build_stream(*default_stream_sources("yes", shared_data, split="eval"), noise[1], keyword="yes",
                      duration_s=60.0, snr_db=10.0, seed=4)
    feats = stream_features(dev.audio, fe, 0, 1 + (dev.audio.size - fe.win_length) // fe.hop_length)
    si = build_graph_variant("int8_static_minmax", s, out / "stream.int8.onnx", stream_calibration(feats))
    li = build_graph_variant("int8_static_minmax", lv, out / "live.int8.onnx", live_calibration(lv, feats))
    # every state input is quantized with a calibrated range
    consumers = {n.input[0] for n in onnx.load(str(li)).graph.node if n.op_type == "QuantizeLinear"}
    assert {"stem_state", "block1_state", "block4_state", "pool_state"} <= consumers
    kw = meta["labels"].index("yes")
    p32 = softmax(stream_logits(OrtSession(s, threads=1), ev.audio, fe), 1)[:, kw]
    p8 = softmax(stream_logits(OrtSession(si, threads=1), ev.audio, fe), 1)[:, kw]
    yl = LiveStream(li, fe).push_audio(ev.audio)[WARMUP_HOPS: WARMUP_HOPS + len(p8)]
    p8l = softmax(yl, 1)[:, kw]
    q_err = np.quantile(np.abs(p8 - p32), 0.99)
    live_vs_stream = np.abs(p8l - p8)
    assert q_err > 1e-3  # int8 does change the scores (the comparison below is not vacuous)
    # measured on 10 min at 10 dB SNR: p99 0.0145 vs quantization p99 0.076, max 0.036
    assert np.quantile(live_vs_stream, 0.99) < 0.5 * q_err and live_vs_stream.max() < 0.1


def test_kind_refuses_other_hop_and_bad_keyword(tmp_path, shared_data):
    from voxquant.streaming_run import StreamConfig, resolve_stream_kind

    cfg = StreamConfig(out_dir=tmp_path, model="dscnn-stream", keyword="yes", hop_ms=20.0, data_root=shared_data)
    with pytest.raises(ConfigError, match="--hop-ms 20.*40 ms"):
        resolve_stream_kind(cfg)
    with pytest.raises(ConfigError, match="not a word of model dscnn-stream"):
        resolve_stream_kind(StreamConfig(out_dir=tmp_path, model="dscnn-stream", keyword="marvin"))
    k = resolve_stream_kind(StreamConfig(out_dir=tmp_path, model="dscnn-stream"))
    assert k.kind == "dscnn_stream" and k.data_keyword == "yes" and k.rule["threshold"] == 0.5
    assert [v for v, _, _ in k.variants(("fp16", "int8_static_minmax", "qat"))] == ["fp32", "fp16", "int8_static_minmax"]
    with pytest.raises(ConfigError):
        build_graph_variant("qat", tmp_path / "x.onnx", tmp_path / "y.onnx")


def test_voxquant_stream_runs_the_dscnn_stream_kind(tmp_path, shared_data):
    from voxquant.report import ResultStore
    from voxquant.streaming_run import StreamConfig, run_stream

    cfg = StreamConfig(out_dir=tmp_path, model="dscnn-stream", data_root=shared_data, stream_hours=0.02,
                       conditions=("noise_snr10",), recipes=("fp32", "int8_static_minmax"), n_boot=100,
                       progress=False)
    res = run_stream(cfg)
    assert res["variants"] == ["fp32", "int8_static_minmax"] and res["model"]["kind"] == "dscnn_stream"
    assert res["fixed_threshold"] == 0.5 and res["keyword"] == "yes"
    for v in res["variants"]:
        assert 0.0 <= res["results"][v]["noise_snr10"]["fixed"]["frr"] <= 1.0
    # stored scores are the stream graph's on the stored stream; the live int8 graph was built beside it
    from voxquant.data.streams import load_stream

    s = load_stream(tmp_path / "streams" / "noise_snr10")
    store = ResultStore(tmp_path)
    model, meta = load_stream_model()
    rec = store.get("variant/int8_static_minmax")
    t, p = stream_scores(OrtSession(rec["path"], threads=1), s.audio, meta["frontend"], meta["labels"].index("yes"))
    np.testing.assert_array_equal(store.get_array("stream/int8_static_minmax/noise_snr10"), p)
    assert len(rec["files"]) == 2 and any("live.int8_static_minmax" in f["path"] for f in rec["files"])
    # resume: the kind keeps its files in a sub-folder of models/; nothing is rebuilt or rescored
    import voxquant.eval.stream_conv as sc

    def no_build(*a, **k):
        raise AssertionError("rebuilt on resume")

    def no_score(*a, **k):
        raise AssertionError("rescored on resume")

    mp = pytest.MonkeyPatch()
    mp.setattr(sc.DSCNNStreamKind, "build", no_build)
    mp.setattr(sc.DSCNNStreamKind, "score", no_score)
    try:
        again = run_stream(cfg)
    finally:
        mp.undo()
    assert again["results"] == res["results"]


def test_clips_through_stream_graph_equals_clip_model():
    """The adapter lays N clips end to end and reads one output step per clip: equal to the windowed clip model's
    logits on each clip (so THE batched predict scores the stream graph on clips)."""
    import torch

    from voxquant.eval.stream_conv import ClipsThroughStreamGraph
    from voxquant.models.dscnn import DSCNN
    from voxquant.models.streaming import StreamGraph

    torch.manual_seed(0)
    model = DSCNN(n_classes=5, channels=16, time_padding="valid").eval()
    graph = StreamGraph(model).eval()

    class TorchSession:
        def run(self, x):
            with torch.no_grad():
                return graph(torch.from_numpy(x)).numpy()

    x = np.random.default_rng(0).standard_normal((7, 1, 49, 10)).astype(np.float32)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    got = ClipsThroughStreamGraph(TorchSession()).run(x)
    np.testing.assert_allclose(got, want, atol=1e-5)
