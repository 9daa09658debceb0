"""Front-end presets vs their reference implementations (one parity test per preset, max abs difference stated).

References: TensorFlow ops (``tf.signal.*`` for ``mlperf-tiny-mfcc`` / ``mlperf-sww-lfbe``, ``tf.raw_ops.AudioSpectrogram``
+ ``tf.raw_ops.Mfcc`` for ``tf-audio-ops-mfcc``) when the ``[tf]`` extra is installed (skipped with the reason
otherwise); for ``torchaudio-logmel`` (no CPU torchaudio here) librosa and torchaudio's own recipe re-written with
``torch.stft`` + the ``melscale_fbanks`` formula. Inputs: real Speech Commands clips when the data pack is present,
and a deterministic synthetic chirp + noise that always runs.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from voxquant.audio.frontend import TorchFrontend, compute_features, mel_filterbank
from voxquant.audio.presets import PRESETS, get_preset
from voxquant.errors import ConfigError

HAS_TF = importlib.util.find_spec("tensorflow") is not None
needs_tf = pytest.mark.skipif(not HAS_TF, reason="needs TensorFlow (pip install -c constraints.txt 'voxquant[tf]')")


def synthetic(n=3, s=16000, seed=0):
    """Chirp (100 Hz -> 6 kHz) + noise + a silent stretch, float32 [n, s] in [-0.6, 0.6]."""
    rng = np.random.default_rng(seed)
    t = np.arange(s) / 16000.0
    out = []
    for k in range(n):
        x = 0.4 * np.sin(2 * np.pi * (100 + 3000 * t) * t * (1 + 0.1 * k)) + 0.05 * rng.standard_normal(s)
        x[4000:5000] = 0.0
        out.append(x)
    return np.asarray(out, dtype=np.float32)


@pytest.fixture(scope="module")
def waves():
    """Synthetic clips + (when the data pack is there) 6 real clips of different labels."""
    x = synthetic()
    import os
    from pathlib import Path

    env = os.environ.get("VOXQUANT_DATA")
    root = Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared" / "data"
    if (root / "speech_commands_v0.02_test" / "manifest.csv").is_file():
        from voxquant.data import load_waves, speech_commands_test

        cs = speech_commands_test(root)
        real = load_waves(cs.subset(list(range(0, len(cs), 815))), cache=False)
        x = np.concatenate([x, real])
    return x


def test_preset_shapes():
    want = {"mlperf-tiny-mfcc": (49, 10), "tf-audio-ops-mfcc": (49, 10), "tf-audio-ops-mfcc-dnn": (25, 10),
            "torchaudio-logmel": (32, 40), "mlperf-sww-lfbe": (30, 40)}
    assert {k: PRESETS[k].shape for k in want} == want
    assert compute_features(synthetic(1), PRESETS["torchaudio-logmel"]).shape == (1, 32, 40)


def test_get_preset_overrides_and_errors():
    cfg = get_preset("mlperf-tiny-mfcc", audio_norm="none")
    assert cfg.audio_norm == "none" and cfg.n_mfcc == 10 and "audio_norm=none" in cfg.name
    assert PRESETS["mlperf-tiny-mfcc"].audio_norm == "max"  # the registry entry is untouched
    with pytest.raises(ConfigError, match="did you mean 'torchaudio-logmel'"):
        get_preset("torchaudio-logmeI")
    with pytest.raises(ConfigError, match="unknown front-end parameter"):
        get_preset("mlperf-tiny-mfcc", n_mfccs=13)


@pytest.mark.parametrize("name", list(PRESETS))
def test_numpy_and_torch_paths_agree(name, waves):
    cfg = PRESETS[name]
    a = compute_features(waves, cfg)
    b = TorchFrontend(cfg)(torch.from_numpy(waves)).numpy()
    # max abs difference observed: 1.5e-5 (MFCC presets), 4.3e-6 (LFBE), 3.7e-4 (log2 mel on silent frames)
    assert np.abs(a - b).max() < 1e-3


def test_tf_audio_ops_filterbank_matches_tf_signal_inside_the_band():
    """The op's triangles equal tf.signal's on the bins it uses; it differs only in which edge bins it admits."""
    ops = mel_filterbank(("tf_audio_ops", 1024, 16000, 40, 20.0, 4000.0))
    tfs = mel_filterbank(("tf", 1024, 16000, 40, 20.0, 4000.0))
    df = 8000 / 512
    start, end = int(1.5 + 20 / df), int(4000 / df)
    assert (start, end) == (2, 256)
    assert np.abs(ops[start : end + 1] - tfs[start : end + 1]).max() < 1e-5
    assert not ops[:start].any() and not ops[end + 1 :].any()
    # every used bin's weights sum to 1 except below the first centre / above the last (partition of unity)
    assert np.allclose(ops[40:200].sum(axis=1), 1.0, atol=1e-5)


# ---------------------------------------------------------------------------------------------------------------
# torchaudio-logmel (BC-ResNet): librosa and torchaudio's recipe with torch.stft


def _torchaudio_recipe(x: np.ndarray) -> np.ndarray:
    """torchaudio.transforms.MelSpectrogram(16000, n_fft=1024, f_max=8000, n_mels=40) then log2(x + 1e-9), from
    torchaudio's source: ``torch.stft(center=True, pad_mode="reflect", window=hann_window(1024))`` -> ``|X|^2`` ->
    ``melscale_fbanks(513, 0, 8000, 40, 16000, norm=None, mel_scale="htk")``. Returns ``[N, T, 40]``."""
    n_fft, hop, n_mels, sr = 1024, 512, 40, 16000
    spec = torch.stft(torch.from_numpy(x).double(), n_fft, hop, n_fft, torch.hann_window(n_fft, dtype=torch.float64),
                      center=True, pad_mode="reflect", normalized=False, onesided=True, return_complex=True)
    power = spec.abs() ** 2  # [N, 513, T]
    all_freqs = torch.linspace(0, sr // 2, n_fft // 2 + 1, dtype=torch.float64)
    m_min, m_max = 2595.0 * np.log10(1.0 + 0 / 700.0), 2595.0 * np.log10(1.0 + 8000 / 700.0)
    m_pts = torch.linspace(m_min, m_max, n_mels + 2, dtype=torch.float64)
    f_pts = 700.0 * (10 ** (m_pts / 2595.0) - 1.0)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)
    down = (-1.0 * slopes[:, :-2]) / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    fb = torch.clamp(torch.minimum(down, up), min=0.0)  # [513, 40]
    mel = torch.matmul(power.transpose(1, 2), fb)
    return torch.log2(mel + 1e-9).numpy()


def test_torchaudio_logmel_matches_torchaudio_recipe(waves):
    ours = compute_features(waves, PRESETS["torchaudio-logmel"])
    ref = _torchaudio_recipe(waves)
    assert ours.shape == ref.shape == (len(waves), 32, 40)
    # max abs difference observed 4.2e-4 log2 units (silent frames, float32 vs float64); median 2e-7
    assert np.abs(ours - ref).max() < 2e-3
    assert np.median(np.abs(ours - ref)) < 1e-5


def test_torchaudio_logmel_matches_librosa(waves):
    librosa = pytest.importorskip("librosa")
    ours = compute_features(waves, PRESETS["torchaudio-logmel"])
    for i, x in enumerate(waves):
        m = librosa.feature.melspectrogram(y=x.astype(np.float64), sr=16000, n_fft=1024, hop_length=512,
                                           win_length=1024, window="hann", center=True, pad_mode="reflect", power=2.0,
                                           n_mels=40, fmin=0.0, fmax=8000.0, htk=True, norm=None)
        ref = np.log2(m.T + 1e-9)
        assert np.abs(ours[i] - ref).max() < 2e-3  # max abs difference observed 4.2e-4 (log2 units)


# ---------------------------------------------------------------------------------------------------------------
# TensorFlow references


def _tf():
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    return tf


@needs_tf
def test_mlperf_tiny_mfcc_matches_tf_signal(waves):
    """mlcommons/tiny get_dataset.py, eval path: wav / max(wav), stft(480, 320, hann), |.|, mel(40, 20-4000),
    log(x + 1e-6), mfccs[..., :10]."""
    tf = _tf()
    w = tf.constant(waves)
    w = w / tf.reduce_max(w, axis=1, keepdims=True)
    stfts = tf.signal.stft(w, frame_length=480, frame_step=320, fft_length=None, window_fn=tf.signal.hann_window)
    spec = tf.abs(stfts)
    mel_w = tf.signal.linear_to_mel_weight_matrix(40, stfts.shape[-1], 16000, 20.0, 4000.0)
    log_mel = tf.math.log(tf.tensordot(spec, mel_w, 1) + 1e-6)
    ref = tf.signal.mfccs_from_log_mel_spectrograms(log_mel)[..., :10].numpy()
    ours = compute_features(waves, PRESETS["mlperf-tiny-mfcc"])
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() < 2e-4  # max abs difference observed 2.5e-5 (MFCC units; |c0| up to ~124)


@needs_tf
@pytest.mark.parametrize("name, stride", [("tf-audio-ops-mfcc", 320), ("tf-audio-ops-mfcc-dnn", 640)])
def test_tf_audio_ops_mfcc_matches_raw_ops(waves, name, stride):
    """ARM ML-examples data.py: audio_spectrogram(640, stride, magnitude_squared=True) -> mfcc(16000, 10 coeffs)."""
    tf = _tf()
    refs = []
    for x in waves:
        spec = tf.raw_ops.AudioSpectrogram(input=tf.constant(x[:, None]), window_size=640, stride=stride,
                                           magnitude_squared=True)
        refs.append(tf.raw_ops.Mfcc(spectrogram=spec, sample_rate=16000, dct_coefficient_count=10).numpy()[0])
    ref = np.stack(refs)
    ours = compute_features(waves, PRESETS[name])
    assert ours.shape == ref.shape
    # max abs difference observed 4.6e-5 (MFCC units; the op computes in double, we in float32)
    assert np.abs(ours - ref).max() < 5e-4


@needs_tf
def test_tf_audio_ops_mfcc_on_digital_silence(waves):
    """All-zero audio (Arm's training 'silence'): the op's log floor 1e-12 must be reproduced exactly."""
    tf = _tf()
    z = np.zeros(16000, np.float32)
    spec = tf.raw_ops.AudioSpectrogram(input=tf.constant(z[:, None]), window_size=640, stride=320, magnitude_squared=True)
    ref = tf.raw_ops.Mfcc(spectrogram=spec, sample_rate=16000, dct_coefficient_count=10).numpy()[0]
    ours = compute_features(z, PRESETS["tf-audio-ops-mfcc"])
    assert np.abs(ours - ref).max() < 5e-4  # observed 4.6e-5; c0 = sqrt(2/40) * 40 * ln(1e-12) = -247.1
    assert ours[0, 0] == pytest.approx(np.sqrt(2 / 40) * 40 * np.log(1e-12), abs=1e-3)


@needs_tf
def test_mlperf_sww_lfbe_matches_tf_signal(waves):
    """mlcommons/tiny streaming_wakeword get_dataset.py:get_lfbe_func."""
    import functools

    tf = _tf()
    refs = []
    for x in waves:
        a = tf.constant(x)[None]
        a = tf.pad(a, [[0, 0], [1, 0]])
        a = tf.squeeze(a[:, 1:] - (1 - 2**-5) * a[:, :-1])
        stfts = tf.signal.stft(a, frame_length=1024, frame_step=512, fft_length=None,
                               window_fn=functools.partial(tf.signal.hamming_window, periodic=False), pad_end=False)
        mag = tf.abs(stfts)
        pw = (1 / 1024) * tf.square(mag)
        pw = tf.clip_by_value(pw, 1e-30, tf.reduce_max(pw))
        mel_w = tf.signal.linear_to_mel_weight_matrix(40, mag.shape[-1], 16000, 0.0, 8000.0)
        lm = 10 * tf.math.log(tf.tensordot(pw, mel_w, 1)) / tf.math.log(10.0)
        refs.append(tf.clip_by_value((lm + 52 - 32 + 32.0) / 64.0, 0, 1).numpy())
    ref = np.stack(refs)
    ours = compute_features(waves, PRESETS["mlperf-sww-lfbe"])
    assert ours.shape == ref.shape == (len(waves), 30, 40)
    assert np.abs(ours - ref).max() < 1e-4  # observed ~1e-6 (features in [0, 1])
