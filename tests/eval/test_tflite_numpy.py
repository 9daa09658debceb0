"""Float reference of microWakeWord v2 (voxquant.eval.tflite_numpy): the numpy graph run step by step with its
ring-buffer state tracks the int8 LiteRT interpreter; emulate mode (activations fake-quantized) matches it."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from voxquant.errors import ConfigError, ModelError

pytest.importorskip("pymicro_features", reason="pymicro-features (extra 'stream') not installed")
pytest.importorskip("ai_edge_litert.interpreter", reason="ai-edge-litert (extra 'litert') not installed")

from voxquant.eval.stateful import MicroWakeWordKind, MicroWakeWordStream, score_stream  # noqa: E402
from voxquant.eval.streaming import detect  # noqa: E402
from voxquant.eval.tflite_numpy import NumpyTFLite  # noqa: E402





@pytest.fixture(scope="module")
def keyword_audio(shared_data) -> np.ndarray:
    """Three real Picovoice 'alexa' clips and two Speech Commands words with 0.5 s pauses (16 kHz, ~8 s)."""
    import soundfile as sf

    out = [np.zeros(8000, np.float32)]
    for folder, label, n in (("picovoice_wakewords", "alexa", 3), ("speech_commands_v0.02_test", "yes", 2)):
        with open(shared_data / folder / "manifest.csv", newline="") as f:
            rows = [r for r in csv.DictReader(f) if r["label"] == label][:n]
        if len(rows) < n:
            pytest.skip(f"not enough {label!r} clips in {folder}")
        for r in rows:
            x, sr = sf.read(str(shared_data / folder / r["path"]), dtype="float32", always_2d=False)
            assert sr == 16000
            out += [x, np.zeros(8000, np.float32)]
    return np.concatenate(out)


def test_emulate_mode_matches_int8_interpreter(alexa_model, keyword_audio):
    """Fake-quantized activations reproduce LiteRT's int8 outputs: the graph is executed right."""
    _, p8 = score_stream(alexa_model, keyword_audio)
    _, pe = score_stream(alexa_model, keyword_audio, engine="emulate")
    assert pe.shape == p8.shape and p8.size > 200
    diff = np.abs(pe - p8)
    assert diff.max() <= 2 / 256 and np.mean(diff == 0) > 0.98, (diff.max(), np.mean(diff == 0))


def test_float_reference_tracks_int8_and_detects_the_same(alexa_model, keyword_audio):
    t, p8 = score_stream(alexa_model, keyword_audio)
    _, pf = score_stream(alexa_model, keyword_audio, engine="float")
    diff = np.abs(pf.astype(np.float64) - p8)
    assert diff.mean() < 0.02 and diff.max() < 0.2, (diff.mean(), diff.max())
    assert not np.array_equal(pf, p8)  # really another computation (float activations), not the int8 run
    d8 = detect(t, p8, 0.9, smooth_k=5, refractory_s=1.0)
    df = detect(t, pf, 0.9, smooth_k=5, refractory_s=1.0)
    assert len(d8) == 3 and len(df) == len(d8)  # the three 'alexa' clips, no 'yes'
    assert np.allclose(df, d8, atol=0.1)


def test_float_step_by_step_equals_batched_and_keeps_state(alexa_model, keyword_audio):
    """Frame by frame (one 10 ms hop per push) with state == one batched call; a reset restores the start."""
    x = keyword_audio[: 16000 * 3]
    r = MicroWakeWordStream(alexa_model, engine="float")
    one = np.concatenate([r.push(x[i: i + 160]) for i in range(0, x.size, 160)])
    _, whole = score_stream(alexa_model, x, engine="float")
    assert np.allclose(one, whole, atol=1e-6)
    g = NumpyTFLite(alexa_model, "float")
    xs = np.random.default_rng(0).uniform(0, 25, size=(50, 3, 40)).astype(np.float32)
    seq = np.concatenate([g.step(v[None]) for v in xs])
    again = np.concatenate([g.step(v[None]) for v in xs])  # state carried over
    g.reset()
    assert np.allclose(g.run(xs, chunk=7), seq, atol=1e-6)
    assert not np.allclose(again, seq, atol=1e-4), "no state carried between steps"


def test_kind_resolution_and_refusals(alexa_model, tmp_path):
    k = MicroWakeWordKind.resolve("microwakeword-alexa", None, alexa_model.parents[1])
    assert k.rule["threshold"] == 0.9 and k.rule["smooth_k"] == 5 and k.labels == ("alexa",)
    assert [v[0] for v in k.variants(("fp32", "int8_static_minmax"))] == ["fp32", "int8"]
    assert "not a publisher" in k.variants(())[0][2]
    with pytest.raises(ConfigError, match="its word: alexa"):
        MicroWakeWordKind.resolve("microwakeword-alexa", "yes", alexa_model.parents[1])
    assert MicroWakeWordKind.resolve(str(alexa_model), "Alexa").rule["threshold"] == 0.9  # path, word from stem
    other = alexa_model.parents[1] / "openwakeword-v0.1" / "alexa_v0.1.tflite"
    assert not other.is_file() or MicroWakeWordKind.resolve(str(other)) is None  # stateless: not claimed
    bad = tmp_path / "x.tflite"
    bad.write_bytes(b"not a flatbuffer")
    with pytest.raises(ModelError):
        NumpyTFLite(bad)
