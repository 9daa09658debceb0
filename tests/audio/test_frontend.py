"""Front-end: numpy vs torch agreement, and checks against librosa (an independent implementation)."""

import numpy as np
import pytest
import torch

from voxquant.audio.frontend import (
    DEFAULT_FRONTEND,
    FrontendConfig,
    TorchFrontend,
    compute_features,
    dct_matrix,
    mel_filterbank,
)
from voxquant.errors import ConfigError

librosa = pytest.importorskip("librosa", reason="librosa (test extra) not installed")


def _speechlike(n=3, s=16000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(s) / 16000
    x = 0.05 * rng.standard_normal((n, s))
    for i in range(n):
        x[i] += 0.3 * np.sin(2 * np.pi * (200 + 300 * i) * t) * np.hanning(s)
    return x.astype(np.float32)


CONFIGS = {
    "default-mfcc": DEFAULT_FRONTEND,
    "logmel-center": FrontendConfig(window_ms=64, hop_ms=32, n_fft=1024, center=True, power=2.0, n_mels=40,
                                    f_min=0, f_max=8000, mel_scale="htk", log="log2", log_offset=1e-9, n_mfcc=0),
    "lfbe-preemph": FrontendConfig(window_ms=64, hop_ms=32, n_fft=1024, window="hamming", periodic=False,
                                   preemphasis=0.96875, power=2.0, spectrum_scale=1 / 1024, spectrum_floor=1e-30,
                                   f_min=0, f_max=8000, log="db", log_offset=0.0, n_mfcc=0,
                                   feature_offset=52.0, feature_scale=1 / 64, clip=(0.0, 1.0)),
    "slaney-ortho-peak": FrontendConfig(audio_norm="peak", mel_scale="slaney", dct_norm="ortho", n_mfcc=13),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_numpy_and_torch_agree(name):
    cfg = CONFIGS[name]
    x = _speechlike()
    f_np = compute_features(x, cfg)
    f_t = TorchFrontend(cfg)(torch.from_numpy(x)).numpy()
    assert f_np.shape == (3, *cfg.shape) == f_t.shape
    scale = max(1.0, float(np.abs(f_np).max()))
    # float32 FFT/matmul in two libraries: agreement to ~1e-4 relative to the feature range
    assert np.abs(f_np - f_t).max() / scale < 2e-4


def test_default_shape_is_mlperf_49x10():
    assert DEFAULT_FRONTEND.shape == (49, 10)
    assert compute_features(_speechlike(1)[0], DEFAULT_FRONTEND).shape == (49, 10)


@pytest.mark.parametrize("htk,scale", [(True, "htk"), (False, "slaney")])
def test_mel_filterbank_matches_librosa(htk, scale):
    ours = mel_filterbank((scale, 1024, 16000, 40, 0.0, 8000.0))
    ref = librosa.filters.mel(sr=16000, n_fft=1024, n_mels=40, fmin=0.0, fmax=8000.0, htk=htk,
                              norm=None if htk else "slaney").T
    assert ours.shape == ref.shape == (513, 40)
    assert np.abs(ours - ref).max() < 1e-6 * max(1.0, ref.max()) + 1e-7


def test_logmel_matches_librosa_melspectrogram():
    cfg = FrontendConfig(window_ms=64, hop_ms=32, n_fft=1024, center=True, pad_mode="constant", power=2.0,
                         f_min=0, f_max=8000, mel_scale="htk", log="none", log_offset=0.0, n_mfcc=0)
    x = _speechlike(1)[0]
    ours = compute_features(x, cfg)  # [T, n_mels]
    ref = librosa.feature.melspectrogram(y=x.astype(np.float64), sr=16000, n_fft=1024, hop_length=512, win_length=1024,
                                         window="hann", center=True, pad_mode="constant", power=2.0, n_mels=40,
                                         fmin=0, fmax=8000, htk=True, norm=None).T
    assert ours.shape == ref.shape
    rel = np.abs(ours - ref).max() / ref.max()
    assert rel < 1e-4, rel


def test_mfcc_ortho_matches_librosa_dct():
    logmel = np.random.default_rng(1).standard_normal((20, 40)).astype(np.float32)
    ours = logmel @ dct_matrix(40, 13, "ortho")
    ref = librosa.feature.mfcc(S=logmel.T, n_mfcc=13, dct_type=2, norm="ortho").T
    assert np.abs(ours - ref).max() < 1e-5


def test_tf_dct_scaling_is_unnormalised_dct_over_sqrt_2n():
    # tf.signal.mfccs_from_log_mel_spectrograms = dct(type=2, norm=None) * rsqrt(2 * n_mels); for a constant input
    # only coefficient 0 is non-zero and equals 2 * n * c / sqrt(2n) = c * sqrt(2n).
    n = 40
    c = 3.0
    out = np.full((1, n), c, np.float32) @ dct_matrix(n, 10, "tf")
    assert abs(out[0, 0] - c * np.sqrt(2 * n)) < 1e-4
    assert np.abs(out[0, 1:]).max() < 1e-4


@pytest.mark.parametrize("kw,msg", [
    ({"window": "kaiser"}, "unknown window"),
    ({"mel_scale": "bark"}, "unknown mel_scale"),
    ({"f_max": 9000}, "Nyquist"),
    ({"window_ms": 40, "n_fft": 512}, "longer than n_fft"),
    ({"n_mfcc": 50}, "larger than n_mels"),
])
def test_bad_config_raises_clear_error(kw, msg):
    with pytest.raises(ConfigError, match=msg):
        FrontendConfig(**kw)


def test_config_roundtrip_dict():
    cfg = CONFIGS["lfbe-preemph"]
    assert FrontendConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown front-end parameter"):
        FrontendConfig.from_dict({"n_mel": 40})


FRAME_LOCAL = {
    "default-mfcc": DEFAULT_FRONTEND,
    "tf-audio-ops-1024": FrontendConfig(window_ms=40.0, n_fft=1024, mel_scale="tf_audio_ops", log_offset=0.0,
                                        mel_floor=1e-12),
    "lfbe-power-db-clip": FrontendConfig(window_ms=64, hop_ms=32, n_fft=1024, window="hamming", periodic=False,
                                         power=2.0, spectrum_scale=1 / 1024, spectrum_floor=1e-30, f_min=0,
                                         f_max=8000, log="db", log_offset=0.0, n_mfcc=0, feature_offset=52.0,
                                         feature_scale=1 / 64, clip=(0.0, 1.0)),
    "htk-log2-logmel": FrontendConfig(window_ms=25, hop_ms=10, n_fft=512, power=2.0, f_min=0, f_max=8000,
                                      mel_scale="htk", log="log2", log_offset=1e-9, n_mfcc=0),
    "slaney-ortho": FrontendConfig(mel_scale="slaney", dct_norm="ortho", n_mfcc=13),
}


@pytest.mark.parametrize("name", list(FRAME_LOCAL))
def test_frame_featurizer_equals_compute_features(name):
    from voxquant.audio.frontend import FrameFeaturizer

    cfg = FRAME_LOCAL[name]
    x = _speechlike(n=1, s=8000)[0]
    want = compute_features(x, cfg)
    fz = FrameFeaturizer(cfg, max_frames=4)
    scale = max(1.0, float(np.abs(want).max()))
    for k in (1, 2, 4, 9):  # 9 > max_frames: the compute_features fallback
        for start in (0, 3):  # frames 3.. of the clip, from the samples that start at frame 3
            got = fz(x[start * cfg.hop_length :], k)
            assert got.shape == (k, cfg.n_features) and got.dtype == np.float32
            np.testing.assert_allclose(got / scale, want[start : start + k] / scale, atol=1e-5, rtol=0)
    a = fz(x, 2)
    fz(x[cfg.hop_length * 5 :], 2)  # a later call does not overwrite the array an earlier one returned
    np.testing.assert_allclose(a / scale, want[:2] / scale, atol=1e-5, rtol=0)


def test_frame_featurizer_refuses_per_clip_front_ends():
    from voxquant.audio.frontend import FrameFeaturizer

    for kw in ({"center": True}, {"preemphasis": 0.97}, {"audio_norm": "peak"}, {"kind": "raw"}):
        with pytest.raises(ConfigError, match="not frame-local"):
            FrameFeaturizer(FrontendConfig(**kw))
