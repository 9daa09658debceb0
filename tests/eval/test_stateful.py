"""microWakeWord v2 stateful streaming runner: sequential steps, reset, chunk invariance, real clips, refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voxquant.errors import ConfigError, DataError, ModelError

pytest.importorskip("pymicro_features", reason="pymicro-features (extra 'stream') not installed")
pytest.importorskip("ai_edge_litert.interpreter", reason="ai-edge-litert (extra 'litert') not installed")

from voxquant.eval.stateful import MicroWakeWordStream, score_stream, to_int16  # noqa: E402
from voxquant.eval.streaming import smooth  # noqa: E402

CUTOFF, WINDOW = 0.9, 5  # publisher's alexa manifest: probability_cutoff, sliding_window_size




def _synthetic(seconds: float = 1.5, seed: int = 0) -> np.ndarray:
    """Chirp + noise bursts: a feature-rich signal so the model's state matters."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000.0
    x = 0.3 * np.sin(2 * np.pi * (200 + 800 * t) * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    return (x + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


def _read(path: Path) -> np.ndarray:
    import soundfile as sf

    x, sr = sf.read(str(path), dtype="float32", always_2d=False)
    assert sr == 16000, path
    return x


def _first_clip(shared_data: Path, folder: str, label: str) -> Path:
    import csv

    with open(shared_data / folder / "manifest.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["label"] == label:
                return shared_data / folder / row["path"]
    pytest.skip(f"no {label!r} clip in {folder}")


def test_frame_by_frame_steps_and_times(alexa_model):
    r = MicroWakeWordStream(alexa_model)
    x = _synthetic()
    out = [r.push(x[i: i + 160]) for i in range(0, x.size, 160)]
    # one 10 ms hop per call: a step every 3rd hop once the first 30 ms window is full
    sizes = [o.size for o in out]
    assert set(sizes) <= {0, 1}
    probs = np.concatenate(out)
    n_frames = (x.size - 480) // 160 + 1
    assert r.n_frames == n_frames and probs.size == n_frames // 3 == r.n_steps
    assert probs.dtype == np.float32 and np.all((probs >= 0) & (probs <= 1))
    t, p = score_stream(alexa_model, x)
    assert np.array_equal(p, probs)
    assert t[0] == pytest.approx((480 + 2 * 160) / 16000) and np.allclose(np.diff(t), 0.03)


def test_reset_restores_initial_state(alexa_model, shared_data):
    x = _read(_first_clip(shared_data, "picovoice_wakewords", "alexa"))
    r = MicroWakeWordStream(alexa_model)
    a = r.push(x)
    b = r.push(x)  # state carried over: the second pass differs
    r.reset()
    c = r.push(x)
    assert np.array_equal(a, c)
    assert not np.array_equal(a, b), "model looks stateless: a second pass without reset gave the same outputs"


def test_chunking_does_not_change_probabilities(alexa_model):
    x = _synthetic(2.0, seed=3)
    _, whole = score_stream(alexa_model, x)
    rng = np.random.default_rng(7)
    for sizes in ([1, 7, 159, 161, 480, 1000], None):
        r = MicroWakeWordStream(alexa_model)
        parts, i = [], 0
        while i < x.size:
            n = int(rng.choice(sizes)) if sizes else int(rng.integers(1, 3000))
            parts.append(r.push(x[i: i + n]))
            i += n
        assert np.array_equal(np.concatenate(parts), whole)


def test_real_alexa_above_cutoff_yes_and_noise_below(alexa_model, shared_data):
    alexa = _read(_first_clip(shared_data, "picovoice_wakewords", "alexa"))
    yes = _read(_first_clip(shared_data, "speech_commands_v0.02_test", "yes"))
    pad = np.zeros(8000, np.float32)  # 0.5 s of lead-in / tail so the word is fully seen
    peak = {}
    for name, x in (("alexa", alexa), ("yes", yes)):
        _, p = score_stream(alexa_model, np.concatenate([pad, x, pad]))
        peak[name] = float(smooth(p, WINDOW).max())
    noise = 0.05 * np.random.default_rng(0).standard_normal(3 * 16000).astype(np.float32)
    _, p = score_stream(alexa_model, noise)
    peak["noise"] = float(smooth(p, WINDOW).max())
    assert peak["alexa"] >= CUTOFF, peak
    assert peak["yes"] < CUTOFF and peak["noise"] < CUTOFF, peak


def test_refuses_other_sample_rate(alexa_model):
    with pytest.raises(ConfigError, match="16000 Hz only"):
        score_stream(alexa_model, np.zeros(8000, np.float32), sample_rate=8000)


def test_refuses_model_with_other_frame_count(shared_models):
    other = shared_models / "openwakeword-v0.1" / "alexa_v0.1.tflite"  # input [1, 16, 96]: not a 3-frame step
    if not other.is_file():
        pytest.skip(f"{other} not found")
    with pytest.raises(ModelError, match=r"is not \[1, 3, 40\]"):
        MicroWakeWordStream(other)


def test_missing_model_and_bad_audio(alexa_model, tmp_path):
    with pytest.raises(ModelError, match="not found"):
        MicroWakeWordStream(tmp_path / "nope.tflite")
    r = MicroWakeWordStream(alexa_model)
    with pytest.raises(DataError, match="NaN"):
        r.push(np.array([0.0, np.nan], np.float32))
    with pytest.raises(DataError, match="1-D"):
        r.push(np.zeros((2, 160), np.float32))


def test_to_int16_scaling_and_clipping():
    assert to_int16(np.array([0.5, -1.0, 1.0, 2.0], np.float32)).tolist() == [16384, -32768, 32767, 32767]
    pcm = np.array([1, -2], np.int16)
    assert to_int16(pcm) is pcm
