"""The deterministic, speaker-disjoint ``dev`` / ``eval`` split of the official Speech Commands test set.

Only the 4,890-clip official test set is available as real labelled Speech Commands audio, so it is split in
two by **speaker**:

* ``dev``  - everything that fits something: training, calibration of static quantization, fine-tuning/QAT,
  threshold or hyper-parameter choices.
* ``eval`` - never used to fit anything; every reported accuracy and drop is measured on it.

Rule (stable across machines, Python versions and file layouts - WAV tarball or FLAC pack give the same split):

* a clip **with** a speaker id goes to ``dev`` iff ``int(sha256(speaker.encode("utf-8")).hexdigest(), 16) % 2
  == 0``, else to ``eval``. All clips of a speaker therefore land in the same split (speaker-disjoint), which
  is what a held-out test needs: the model never hears an ``eval`` voice while being fitted.
* a clip **without** a speaker (``_silence_`` background-noise excerpts, numeric file names) uses the same rule
  on its file stem (name without audio extensions, e.g. ``"1024"``).

The hash splits speakers about in half at random, so labels are stratified in expectation, not by
construction; ``tests/data/test_splits.py`` pins the resulting counts (about half the clips and speakers per
split, every label present in both) so any change of the rule or of the data is caught.
"""

from __future__ import annotations

import hashlib

import numpy as np

from voxquant.data.datasets import ClipSet, Clip


def _parity(key: str) -> int:
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest(), 16) % 2


def is_dev(clip: Clip) -> bool:
    """True when ``clip`` belongs to ``dev`` under the module's rule (speaker hash, else file-stem hash)."""
    key = clip.speaker if clip.speaker is not None else clip.stem
    return _parity(key) == 0


def split_dev_eval(clipset: ClipSet) -> tuple[ClipSet, ClipSet]:
    """Split a clip set into speaker-disjoint ``dev`` and ``eval`` parts (rule: see the module docstring).

    Args:
        clipset: normally :func:`voxquant.data.speech_commands_test` (4,890 clips, 239 speakers).

    Returns:
        ``(dev, eval)``: :class:`ClipSet` named ``<name>:dev`` / ``<name>:eval``, same labels, each keeping
        the input's clip order. Together they partition the input.
    """
    mask = np.array([is_dev(c) for c in clipset.clips], dtype=bool)
    dev = clipset.subset(np.flatnonzero(mask), name=f"{clipset.name}:dev")
    ev = clipset.subset(np.flatnonzero(~mask), name=f"{clipset.name}:eval")
    return dev, ev


def split_summary(dev: ClipSet, ev: ClipSet) -> dict[str, dict[str, dict[str, int]]]:
    """Clips and speakers per label per split: ``{split: {label: {"clips": n, "speakers": m}}}``.

    A ``"_total_"`` entry per split holds the totals (speakers counted once).
    """
    out: dict[str, dict[str, dict[str, int]]] = {}
    for name, cs in (("dev", dev), ("eval", ev)):
        per: dict[str, dict[str, int]] = {}
        for label in cs.labels:
            clips = [c for c in cs.clips if c.label == label]
            per[label] = {"clips": len(clips), "speakers": len({c.speaker for c in clips if c.speaker is not None})}
        per["_total_"] = {"clips": len(cs), "speakers": len(cs.speakers())}
        out[name] = per
    return out
