"""Fixtures for the voxquant.data tests: an isolated cache and the (once-loaded) official test set."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every data test writes its decode cache to a per-session temp folder, never the user's cache."""
    monkeypatch.setenv("VOXQUANT_CACHE", str(tmp_path_factory.getbasetemp() / "voxquant-cache"))


@pytest.fixture(scope="session")
def sc_test(shared_data):
    """The official 4,890-clip test set from the shared pack (manifest only; nothing decoded)."""
    from voxquant.data import speech_commands_test

    return speech_commands_test(shared_data)


@pytest.fixture(scope="session")
def sc_small(sc_test):
    """A 24-clip subset: the first 2 clips of each of the 12 labels (manifest order)."""
    idx = []
    for lab in sc_test.labels:
        idx += [i for i, c in enumerate(sc_test.clips) if c.label == lab][:2]
    return sc_test.subset(idx)


def write_tone(path, sample_rate=16000, n=1600, channels=1, subtype="PCM_16", freq=440.0, amp=0.3):
    """Write a clearly synthetic test tone (sine) WAV/FLAC and return its samples ``float32 [n]``."""
    t = np.arange(n) / sample_rate
    x = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    data = np.stack([x] * channels, axis=1) if channels > 1 else x
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data, sample_rate, subtype=subtype)
    return x


@pytest.fixture
def tone():
    """The :func:`write_tone` helper, as a fixture."""
    return write_tone
