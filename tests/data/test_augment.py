"""Noise at SNR, RIR convolution, shift, gain, evaluation slices and the training Augmenter."""

from __future__ import annotations

import numpy as np
import pytest

from voxquant.data import (
    Augmenter,
    apply_rir,
    load_noise_bank,
    load_rir_bank,
    load_waves,
    make_slice,
    mix_at_snr,
    random_gain,
    time_shift,
)
from voxquant.data.augment import SILENT_REF_DBFS


def snr_db(speech, mixed):
    noise = mixed.astype(np.float64) - speech
    return 10 * np.log10(np.mean(speech.astype(np.float64) ** 2) / np.mean(noise**2))


@pytest.fixture
def speech():
    t = np.arange(16000) / 16000
    return (0.2 * np.sin(2 * np.pi * 300 * t) * np.hanning(16000)).astype(np.float32)


@pytest.fixture
def noise():
    return np.random.default_rng(123).normal(0, 0.05, 50000).astype(np.float32)


@pytest.mark.parametrize("target", [20.0, 10.0, 5.0, 0.0, -5.0])
def test_mix_at_snr_hits_target(speech, noise, target):
    out = mix_at_snr(speech, noise, target, np.random.default_rng(0))
    assert out.shape == speech.shape and out.dtype == np.float32
    assert np.max(np.abs(out)) <= 1.0
    assert abs(snr_db(speech, out) - target) < 1e-3


def test_mix_at_snr_headroom_keeps_snr(noise):
    loud = np.full(16000, 0.9, np.float32) * np.sign(np.sin(np.arange(16000))).astype(np.float32)
    out = mix_at_snr(loud, noise, 0.0, np.random.default_rng(0))
    assert np.isclose(np.max(np.abs(out)), 1.0)
    # scaled down as a whole (not clipped): out = (speech + noise) / peak, so the SNR is still exact
    start = int(np.random.default_rng(0).integers(0, noise.size - 16000 + 1))
    mix = loud.astype(np.float64) + noise[start : start + 16000] * np.sqrt(np.mean(loud**2.0) / np.mean(noise[start : start + 16000] ** 2.0))
    peak = np.max(np.abs(mix))
    assert peak > 1.5
    np.testing.assert_allclose(out, mix / peak, atol=1e-6)
    assert abs(snr_db(loud / peak, out)) < 1e-3


def test_mix_at_snr_segment_is_seeded_and_random(speech, noise):
    a = mix_at_snr(speech, noise, 10, np.random.default_rng(7))
    b = mix_at_snr(speech, noise, 10, np.random.default_rng(7))
    c = mix_at_snr(speech, noise, 10, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_mix_at_snr_silent_speech_and_silent_noise(noise):
    silent = np.zeros(16000, np.float32)
    out = mix_at_snr(silent, noise, 10.0, np.random.default_rng(0))
    level_db = 10 * np.log10(np.mean(out.astype(np.float64) ** 2))
    assert abs(level_db - (SILENT_REF_DBFS - 10.0)) < 1e-3
    x = np.ones(100, np.float32) * 0.1
    np.testing.assert_array_equal(mix_at_snr(x, np.zeros(500, np.float32), 5, np.random.default_rng(0)), x)


def test_mix_at_snr_short_noise_is_tiled(speech):
    short = np.random.default_rng(1).normal(0, 0.1, 4000).astype(np.float32)
    out = mix_at_snr(speech, short, 10.0, np.random.default_rng(0))
    assert abs(snr_db(speech, out) - 10.0) < 1e-3
    with pytest.raises(ValueError):
        mix_at_snr(speech, np.zeros(0, np.float32), 10, np.random.default_rng(0))


def test_apply_rir_delta_is_identity_and_aligned(speech):
    rir = np.zeros(800, np.float32)
    rir[120] = 0.5  # delayed, attenuated direct path only
    np.testing.assert_allclose(apply_rir(speech, rir), speech, atol=1e-6)


def test_apply_rir_keeps_length_and_rms(speech):
    rng = np.random.default_rng(0)
    rir = (rng.normal(0, 1, 4000) * np.exp(-np.arange(4000) / 600)).astype(np.float32)
    rir[50] = 5.0
    y = apply_rir(speech, rir)
    assert y.shape == speech.shape and y.dtype == np.float32
    assert np.isclose(np.sqrt(np.mean(y**2)), np.sqrt(np.mean(speech**2)), rtol=1e-4)
    assert not np.allclose(y, speech, atol=1e-3)
    batch = np.stack([speech, 0.5 * speech, np.zeros_like(speech)])
    yb = apply_rir(batch, rir)
    np.testing.assert_allclose(yb[0], y, atol=1e-6)
    np.testing.assert_allclose(yb[1], 0.5 * y, atol=1e-6)
    np.testing.assert_array_equal(yb[2], 0)
    with pytest.raises(ValueError):
        apply_rir(speech, np.zeros(10))


def _shifted(x, k):
    out = np.zeros_like(x)
    if k >= 0:
        out[k:] = x[: len(x) - k]
    else:
        out[:k] = x[-k:]
    return out


def test_time_shift():
    x = np.arange(1, 11, dtype=np.float32)
    seen = set()
    for s in range(40):
        y = time_shift(x, 3, np.random.default_rng(s))
        ks = [k for k in range(-3, 4) if np.array_equal(y, _shifted(x, k))]
        assert len(ks) == 1
        seen.add(ks[0])
    assert seen == set(range(-3, 4))
    np.testing.assert_array_equal(time_shift(x, 0, np.random.default_rng(0)), x)


def test_random_gain():
    x = np.full(10, 0.1, np.float32)
    for s in range(20):
        y = random_gain(x, -6, 6, np.random.default_rng(s))
        g = 20 * np.log10(y[0] / 0.1)
        assert -6 - 1e-4 <= g <= 6 + 1e-4
    assert np.max(random_gain(np.full(4, 0.9, np.float32), 6, 6, np.random.default_rng(0))) == 1.0


def test_make_slice_noise_is_per_clip_seeded(speech, noise):
    waves = np.stack([speech, 0.5 * speech, speech[::-1].copy()])
    bank = {"a": noise, "b": np.random.default_rng(5).uniform(-0.1, 0.1, 30000).astype(np.float32)}
    s10 = make_slice(waves, "noise", 10, bank, seed=3)
    np.testing.assert_array_equal(s10, make_slice(waves, "noise", 10, dict(reversed(bank.items())), seed=3))
    assert not np.allclose(s10, make_slice(waves, "noise", 10, bank, seed=4))
    s0 = make_slice(waves, "noise", 0, bank, seed=3)
    for i in range(3):
        assert abs(snr_db(waves[i], s10[i]) - 10) < 1e-3 and abs(snr_db(waves[i], s0[i]) - 0) < 1e-3
        # the same noise segment at every SNR: the added noise differs by a gain only
        n10, n0 = s10[i] - waves[i], s0[i] - waves[i]
        assert abs(np.corrcoef(n10, n0)[0, 1]) > 0.999
    np.testing.assert_array_equal(make_slice(waves, "clean"), waves)
    with pytest.raises(ValueError, match="unknown slice kind"):
        make_slice(waves, "bitcrush", 1)
    with pytest.raises(ValueError, match="noise_bank"):
        make_slice(waves, "noise", 10)


def test_make_slice_reverb_keys(speech):
    waves = speech[None, :]
    rir = np.zeros(100, np.float32)
    rir[0], rir[60] = 1.0, 0.6
    out = make_slice(waves, "reverb", "room", rirs={"room": rir})
    np.testing.assert_allclose(out, apply_rir(waves, rir))
    np.testing.assert_allclose(make_slice(waves, "reverb", 0, rirs=[rir]), out)
    with pytest.raises(ValueError, match="unknown RIR"):
        make_slice(waves, "reverb", "hall", rirs={"room": rir})


def test_augmenter(speech, noise):
    aug = Augmenter(noise_bank=[noise], rirs=[np.array([1.0, 0, 0.5], np.float32)], reverb_prob=0.5)
    batch = np.stack([speech] * 4)
    a = aug(batch, np.random.default_rng(0))
    np.testing.assert_array_equal(a, aug(batch, np.random.default_rng(0)))
    assert a.shape == batch.shape and a.dtype == np.float32 and np.max(np.abs(a)) <= 1.0
    assert not np.allclose(a[0], a[1])  # rows are augmented independently
    assert aug(speech, np.random.default_rng(1)).shape == speech.shape
    ident = Augmenter(noise_bank=[noise], noise_prob=0.0, shift_ms=0.0, gain_db=(0.0, 0.0))
    np.testing.assert_array_equal(ident(batch, np.random.default_rng(0)), batch)


def test_real_noise_and_rir_slices(shared_data, sc_small):
    bank = load_noise_bank(shared_data)
    assert set(bank) == {"doing_the_dishes", "dude_miaowing", "exercise_bike", "running_tap"}
    assert "white_noise" in load_noise_bank(shared_data, include_synthetic=True)
    waves = load_waves(sc_small)
    speech = [i for i, c in enumerate(sc_small) if c.label != "_silence_"]
    for snr in (20, 10, 5, 0):
        sl = make_slice(waves, "noise", snr, bank, seed=0)
        assert sl.shape == waves.shape and sl.dtype == np.float32
        for i in speech:
            if np.max(np.abs(sl[i])) < 1.0:  # not rescaled for headroom: exact SNR
                assert abs(snr_db(waves[i], sl[i]) - snr) < 1e-2
    rirs = load_rir_bank(shared_data)
    assert len(rirs) == 5
    rev = make_slice(waves, "reverb", "concert_hall", rirs=rirs)
    assert rev.shape == waves.shape and np.all(np.isfinite(rev)) and np.max(np.abs(rev)) <= 1.0
    assert not np.allclose(rev[speech], waves[speech], atol=1e-3)


def test_apply_rir_long_signal_overlap_add_equals_fft_path(monkeypatch):
    """A continuous stream longer than LONG_SIGNAL_SAMPLES goes through overlap-add in float32 (bounded memory):
    same output as the full-length FFT path to float rounding, same RMS, same length."""
    import voxquant.data.augment as aug

    rng = np.random.default_rng(3)
    x = (0.1 * rng.standard_normal(300_000)).astype(np.float32)
    h = rng.standard_normal(4000) * np.exp(-np.arange(4000) / 600.0)
    h[50] = 4.0
    monkeypatch.setattr(aug, "LONG_SIGNAL_SAMPLES", 100_000)
    long_path = aug.apply_rir(x, h)
    monkeypatch.setattr(aug, "LONG_SIGNAL_SAMPLES", 1 << 40)
    fft_path = aug.apply_rir(x, h)
    assert long_path.dtype == np.float32 and long_path.shape == x.shape
    np.testing.assert_allclose(long_path, fft_path, atol=2e-6)
    assert np.sqrt(np.mean(long_path.astype(np.float64) ** 2)) == pytest.approx(np.sqrt(np.mean(x.astype(np.float64) ** 2)), rel=1e-4)
