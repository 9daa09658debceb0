"""openWakeWord v0.1 pipeline: batched == live, upstream buffering (warm-up zeros, times), variants calibrated on
consecutive steps, the model-kind interface, refusals of bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from voxquant.errors import ConfigError, DataError, ModelError
from voxquant.eval import openwakeword as oww




@pytest.fixture(scope="module")
def src_dir(shared_models) -> Path:
    d = shared_models / oww.SOURCE_FOLDER
    if not (d / "alexa_v0.1.onnx").is_file():
        pytest.skip(f"openWakeWord v0.1 models not found in {d} (set VOXQUANT_MODELS to the shared models folder)")
    return d


@pytest.fixture(scope="module")
def paths(src_dir):
    return oww.source_paths("alexa", src_dir)


@pytest.fixture(scope="module")
def stream_audio(shared_data) -> np.ndarray:
    """~12 s stream of real clips (Picovoice 'alexa' among Speech Commands words) at 10 dB in seeded noise."""
    from voxquant.data.streams import build_stream, default_stream_sources

    pos, neg = default_stream_sources("alexa", data_root=shared_data, split="dev")
    noise = {"white": np.random.default_rng(3).standard_normal(16000 * 4).astype(np.float32) * 0.1}
    s = build_stream(pos[:4], neg[:6], noise, keyword="alexa", duration_s=12.0, snr_db=10.0, seed=1,
                     keyword_fraction=0.6)
    return s.audio, s.keyword_events()


def test_batched_equals_live_push_and_detects_keyword(paths, stream_audio):
    audio, kw_events = stream_audio
    times, probs = oww.score_stream(paths, audio)
    n = audio.size // oww.CHUNK_SAMPLES
    assert probs.shape == times.shape == (n,) and probs.dtype == np.float32 and times.dtype == np.float64
    np.testing.assert_allclose(times, (np.arange(n) + 1) * 0.08)
    live = oww.OpenWakeWordStream(paths)
    rng = np.random.default_rng(0)
    cuts = np.sort(rng.integers(0, audio.size, 40))  # irregular chunks, some shorter than one step
    got = np.concatenate([live.push(a) for a in np.split(audio, cuts)])
    assert got.shape == probs.shape
    np.testing.assert_allclose(got, probs, atol=1e-5)
    assert np.all(probs[: oww.WARMUP_STEPS] == 0.0)  # openWakeWord zeroes the first 5 predictions
    # the published model fires inside at least one keyword's hit window and the stream is not all-positive
    hit = [probs[(times >= e.start_s) & (times <= e.end_s + 0.5)].max() for e in kw_events]
    assert max(hit) > 0.5
    assert np.median(probs) < 0.1
    live.reset()
    np.testing.assert_allclose(live.push(audio), probs, atol=1e-5)


def test_matches_upstream_openwakeword_package(paths, stream_audio):
    """Same probabilities as ``openwakeword.Model.predict`` on 1280-sample chunks (its initial noise replaced by ours)."""
    pytest.importorskip("openwakeword.model", reason="the openwakeword package is not installed (optional cross-check)")
    from openwakeword.model import Model

    audio, _ = stream_audio
    pcm = oww.to_int16(audio)[: audio.size // 1280 * 1280]
    m = Model(wakeword_models=[str(paths["head"])], inference_framework="onnx",
              melspec_model_path=str(paths["melspectrogram"]), embedding_model_path=str(paths["embedding"]))
    noise = np.random.default_rng(oww.INIT_NOISE_SEED).integers(*oww.INIT_NOISE_RANGE, oww.INIT_NOISE_SAMPLES)
    m.preprocessor.feature_buffer = m.preprocessor._get_embeddings(noise.astype(np.int16))
    ref = np.array([list(m.predict(pcm[i:i + 1280]).values())[0] for i in range(0, pcm.size, 1280)])
    np.testing.assert_allclose(oww.score_stream(paths, audio)[1], ref, atol=1e-5)


def test_calibration_inputs_are_consecutive_stream_steps(paths, stream_audio):
    audio, _ = stream_audio
    x = audio[: 16000 * 4]
    steps = x.size // oww.CHUNK_SAMPLES
    all_ = oww.calibration_inputs(paths, x, n=10_000, seed=0)
    n_valid = steps - oww.FIRST_REAL_STEP
    assert all_["embedding"].shape == (n_valid, 76, 32, 1) and all_["head"].shape == (n_valid, 16, 96)
    # neighbouring steps: mel windows shift by 8 frames, embedding sequences by one embedding
    np.testing.assert_array_equal(all_["embedding"][1:, :-8], all_["embedding"][:-1, 8:])
    np.testing.assert_array_equal(all_["head"][1:, :-1], all_["head"][:-1, 1:])
    a = oww.calibration_inputs(paths, x, n=8, seed=0)
    b = oww.calibration_inputs(paths, x, n=8, seed=0)
    c = oww.calibration_inputs(paths, x, n=8, seed=1)
    np.testing.assert_array_equal(a["head"], b["head"])
    assert not np.array_equal(a["head"], c["head"])


def test_variants_fp16_int8_quantize_embedding_and_head(paths, stream_audio, tmp_path):
    import onnx

    audio, _ = stream_audio
    _, ref = oww.score_stream(paths, audio)
    out = {}
    for v in ("fp32", "fp16", "int8"):
        built = oww.build_variant(v, paths, tmp_path / v, calibration_audio=audio[: 16000 * 6], calib_n=48)
        assert built["melspectrogram"] == paths["melspectrogram"]  # the front-end stays float32
        out[v] = oww.score_stream(built, audio)[1]
        ops = {s: {n.op_type for n in onnx.load(str(built[s])).graph.node} for s in ("embedding", "head")}
        if v == "int8":
            assert all("QuantizeLinear" in o for o in ops.values())
        if v == "fp16":
            assert all("Cast" in o for o in ops.values())
    np.testing.assert_allclose(out["fp32"], ref, atol=1e-6)  # batch-dynamic head copy == published head
    for v in ("fp16", "int8"):
        d = np.abs(out[v] - ref)
        assert 0 < d.max() and d.mean() < 0.1, (v, d.max(), d.mean())


def test_kind_interface(src_dir, tmp_path, stream_audio):
    audio, _ = stream_audio
    kind = oww.OpenWakeWordKind("alexa", source_dir=src_dir)
    assert kind.sample_rate == 16000 and {"alexa", "hey_mycroft"} <= set(kind.keywords)
    assert kind.rule == {"threshold": 0.5, "smooth_k": 1, "refractory_s": 1.0, "repeat_s": 2.0}
    assert kind.variant_names(["qat", "fp16", "int8_static_minmax", "int8", "mixed"]) == ["fp32", "fp16", "int8"]
    assert [v[0] for v in kind.variants(["int8_embedding"])] == ["fp32", "int8_embedding"]
    with pytest.raises(ConfigError, match="unknown quantization recipe"):
        kind.variant_names(["int9"])
    rec = kind.build("fp32", tmp_path / "models")
    assert rec["quantized_stages"] == [] and Path(rec["paths"]["head"]).is_file()
    t, p = kind.score(rec, audio)
    np.testing.assert_allclose(p, oww.score_stream(oww.source_paths("alexa", src_dir), audio)[1], atol=1e-6)
    calls = []
    rec8 = kind.build("int8", tmp_path / "models", lambda: calls.append(1) or audio[: 16000 * 4])
    assert calls == [1] and rec8["quantized_stages"] == ["embedding", "head"] and rec8["precision"] == "int8"
    with pytest.raises(ConfigError, match="needs calibration audio"):
        kind.build("int8", tmp_path / "models2")
    with pytest.raises(ConfigError, match="no model for keyword 'jarvis'.*alexa"):
        oww.OpenWakeWordKind("jarvis", source_dir=src_dir)


def test_bad_input(paths, src_dir, tmp_path):
    part = tmp_path / "partial"
    part.mkdir()
    shutil.copy(src_dir / "melspectrogram.onnx", part)
    shutil.copy(src_dir / "alexa_v0.1.onnx", part)
    with pytest.raises(ModelError, match="embedding_model.onnx: openWakeWord embedding model not found"):
        oww.source_paths("alexa", part)
    with pytest.raises(ModelError, match="hey_jarvis_v0.1.onnx: openWakeWord head model not found.*present: alexa, hey_"):
        oww.source_paths("hey_jarvis", src_dir)
    ok = np.zeros(16000, np.float32)
    with pytest.raises(ConfigError, match="16000 Hz only"):
        oww.score_stream(paths, ok, sample_rate=8000)
    with pytest.raises(DataError, match="shorter than one openWakeWord embedding window"):
        oww.score_stream(paths, np.zeros(oww.MIN_SAMPLES - 1, np.float32))
    with pytest.raises(DataError, match="NaN"):
        oww.score_stream(paths, np.full(16000, np.nan, np.float32))
    with pytest.raises(ConfigError, match="does not apply to openWakeWord"):
        oww.build_variant("qat", paths, tmp_path / "q")
    bad = tmp_path / "bad"
    shutil.copytree(part, bad)
    shutil.copy(src_dir / "alexa_v0.1.onnx", bad / "embedding_model.onnx")  # a head where the embedding should be
    with pytest.raises(ModelError, match="embedding input .* is not"):
        oww.OpenWakeWordStream(oww.source_paths("alexa", bad))
