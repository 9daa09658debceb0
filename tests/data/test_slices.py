"""The shared slice builders (voxquant.data.slices): splits in model label order, conditions, feature cache."""

from __future__ import annotations

import numpy as np
import pytest

from voxquant.data import SC12_LABELS, make_slice
from voxquant.data.slices import (
    cached_array,
    condition_waves,
    model_splits,
    slice_features,
    stratified_indices,
    stratified_subset,
)
from voxquant.errors import ConfigError


def _waves(n=6, s=1600, seed=0):
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal((n, s))).astype(np.float32)


def _banks():
    rng = np.random.default_rng(1)
    noise = {"a": rng.standard_normal(8000).astype(np.float32), "b": rng.standard_normal(8000).astype(np.float32)}
    rir = np.zeros(400, np.float32)
    rir[0], rir[200] = 1.0, 0.5
    return noise, {"seminar_room": rir * 0.9, "church": rir}


def test_far_field_is_church_reverb_then_noise_with_the_next_seed():
    waves = _waves()
    noise, rirs = _banks()
    got = condition_waves(waves, "far_field", 10.0, noise, rirs, seed=3)
    want = make_slice(make_slice(waves, "reverb", "church", rirs=rirs), "noise", 10.0, noise_bank=noise, seed=4)
    np.testing.assert_array_equal(got, want)
    assert got.dtype == np.float32 and got.shape == waves.shape
    np.testing.assert_array_equal(condition_waves(waves, "noise", 5.0, noise, rirs, seed=3),
                                  make_slice(waves, "noise", 5.0, noise_bank=noise, seed=3))
    with pytest.raises(ValueError, match="far_field"):
        condition_waves(waves, "far_field", 10.0, noise, {}, seed=0)


def test_cached_array_computes_once_and_writes_atomically(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return np.arange(5, dtype=np.float32)

    f = tmp_path / "sub" / "x.npy"
    a = cached_array(f, compute)
    b = cached_array(f, compute)
    np.testing.assert_array_equal(a, b)
    assert len(calls) == 1 and f.is_file()
    assert not [p for p in f.parent.iterdir() if p.name.startswith(".")]  # no temporary file left
    cached_array(None, compute)
    assert len(calls) == 2


def test_slice_features_decode_once_and_not_at_all_when_cached(tmp_path):
    waves = _waves()
    noise, rirs = _banks()
    specs = [("clean", "clean", None), ("noise_snr10", "noise", 10.0), ("reverb_church", "reverb", "church"),
             ("far_field", "far_field", 10.0)]
    decoded = []

    def get_waves():
        decoded.append(1)
        return waves

    def featurize(w):
        return w[:, None, ::100] * 2

    x = slice_features(specs, get_waves, featurize, noise, rirs, seed=0, cache_path=lambda n: tmp_path / f"{n}.npy")
    assert list(x) == [s[0] for s in specs] and len(decoded) == 1
    np.testing.assert_array_equal(x["far_field"], featurize(condition_waves(waves, "far_field", 10.0, noise, rirs, 0)))
    again = slice_features(specs, get_waves, featurize, noise, rirs, seed=0, cache_path=lambda n: tmp_path / f"{n}.npy")
    assert len(decoded) == 1  # every slice came from the cache
    for k in x:
        np.testing.assert_array_equal(x[k], again[k])


def test_stratified_subset_is_identity_without_limit_and_stratified_with():
    class Fake:
        name = "fake"

        def __init__(self, y):
            self.y = np.asarray(y)

        def label_ids(self):
            return self.y

        def subset(self, idx, name):
            out = Fake(self.y[idx])
            out.name = name
            return out

    c = Fake([0] * 10 + [1] * 10 + [2] * 10)
    assert stratified_subset(c, None, 0) is c
    sub = stratified_subset(c, 9, 0)
    assert sub.name == "fake[:9]" and np.bincount(sub.y).tolist() == [3, 3, 3]
    assert np.array_equal(stratified_indices(c.y, 9, 0), stratified_indices(c.y, 9, 0))


def test_model_splits_remap_to_the_model_order_and_reject_other_labels(shared_data):
    reordered = tuple(reversed(SC12_LABELS))
    dev, ev, remap = model_splits(reordered, shared_data)
    assert len(dev) == 2286 and len(ev) == 2604
    for clip, target in zip(ev.clips[:50], remap[ev.label_ids()][:50]):
        assert reordered[target] == clip.label
    with pytest.raises(ConfigError, match="labels differ"):
        model_splits(("yes", "no"), shared_data)
