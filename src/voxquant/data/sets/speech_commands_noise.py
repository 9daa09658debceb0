"""The 6 ``_background_noise_`` recordings of Speech Commands v0.02 (CC BY 4.0)."""

from __future__ import annotations

from pathlib import Path

from voxquant.data.datasets import NOISE_DIR, ClipSet, shared_manifest_set


def noise_clips(root: str | Path | None = None, include_synthetic: bool = True) -> ClipSet:
    """The 6 Speech Commands ``_background_noise_`` files (16 kHz, 60-95 s each).

    Four are real recordings (``meta["kind"] == "recorded"``); ``pink_noise`` and ``white_noise`` are
    synthetic (``meta["kind"] == "synthetic"``) and are dropped with ``include_synthetic=False``.
    Labels are the file names (``doing_the_dishes``, ...). Source: Speech Commands v0.02 (CC BY 4.0).

    Raises:
        DataError: the set is not under ``root`` / ``VOXQUANT_DATA``.
    """
    cs = shared_manifest_set(root, NOISE_DIR, "Speech Commands background-noise set")
    if not include_synthetic:
        cs = cs.subset([i for i, c in enumerate(cs) if c.meta.get("kind") != "synthetic"])
        cs = ClipSet(cs.name, cs.clips, tuple(c.label for c in cs.clips))
    return cs
