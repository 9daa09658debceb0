"""The deterministic ``dev`` / ``eval`` split of any labelled clip set.

* ``dev``  - everything that fits something: training, calibration of static quantization, fine-tuning/QAT,
  threshold or hyper-parameter choices.
* ``eval`` - never used to fit anything; every reported accuracy and drop is measured on it.

Rules, in order (stable across machines, Python versions and file layouts - WAV tarball or FLAC pack give the
same split):

1. **split column**: when the clips' ``meta["split"]`` values (case-insensitive) name both halves, they decide:
   ``train, dev, valid, validation, calib, calibration`` -> ``dev``; ``test, eval, evaluation`` -> ``eval``; any
   other or empty value is an error. A column whose values all name one half (the official Speech Commands test
   set: every row ``test``; FSDD's pack has ``train``/``test``, so it is split by the column) says where the whole
   set came from, not how to split it, and is ignored.
2. **speaker hash**: a clip **with** a speaker id goes to ``dev`` iff
   ``int(sha256(speaker.encode("utf-8")).hexdigest(), 16) % 2 == 0``, else to ``eval``. All clips of a speaker
   land in the same half (speaker-disjoint), which is what a held-out test needs: the model never hears an
   ``eval`` voice while being fitted.
3. **file-name hash**: a clip **without** a speaker (``_silence_`` background-noise excerpts, sets without speaker
   ids) uses the same rule on its file stem (name without audio extensions, e.g. ``"1024"``). Not
   speaker-disjoint: the same voice may be in both halves.

Rules 2 and 3 are the rule the committed Speech Commands results were made with (dev 2,286 clips / 114
speakers, eval 2,604 / 125); ``tests/data/test_splits.py`` pins those counts. The hash splits speakers about in
half at random, so labels are stratified in expectation, not by construction; :func:`split_dev_eval` raises when
a label ends up with no ``eval`` clip.
"""

from __future__ import annotations

import hashlib

import numpy as np

from voxquant.data.datasets import Clip, ClipSet, _listing
from voxquant.errors import DataError


def _brief(labels, limit: int = 20) -> str:
    more = f", ... ({len(labels) - limit} more)" if len(labels) > limit else ""
    return "[" + ", ".join(repr(x) for x in labels[:limit]) + more + "]"


DEV_SPLIT_VALUES: frozenset[str] = frozenset({"train", "dev", "valid", "validation", "calib", "calibration"})
"""``split`` column values that put a clip in ``dev``."""
EVAL_SPLIT_VALUES: frozenset[str] = frozenset({"test", "eval", "evaluation"})
"""``split`` column values that put a clip in ``eval``."""


def _parity(key: str) -> int:
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest(), 16) % 2


def is_dev(clip: Clip) -> bool:
    """True when ``clip`` belongs to ``dev`` under the hash rules (speaker hash, else file-stem hash)."""
    key = clip.speaker if clip.speaker is not None else clip.stem
    return _parity(key) == 0


def split_column_mask(clipset: ClipSet) -> np.ndarray | None:
    """``bool [N]`` (True = dev) from the ``split`` column, or ``None`` when the column does not decide (rule 1).

    Raises:
        DataError: the column names both halves but some clips have an empty or unknown value (names the first
            files and values).
    """
    values = [str(c.meta.get("split", "")).strip().lower() for c in clipset.clips]
    if not (set(values) & DEV_SPLIT_VALUES and set(values) & EVAL_SPLIT_VALUES):
        return None
    known = DEV_SPLIT_VALUES | EVAL_SPLIT_VALUES
    bad = [f"{c.path.name}: {v!r}" for c, v in zip(clipset.clips, values) if v not in known]
    if bad:
        raise DataError(
            f"set '{clipset.name}': {len(bad)} clip(s) with an empty or unknown split value ({_listing(bad)})",
            hint=f"use one of {sorted(DEV_SPLIT_VALUES)} (dev) or {sorted(EVAL_SPLIT_VALUES)} (eval) in every row")
    return np.array([v in DEV_SPLIT_VALUES for v in values], dtype=bool)


def split_rule(clipset: ClipSet) -> str:
    """Which rule :func:`split_dev_eval` applies to ``clipset``, in words (for reports and model cards).

    Returns:
        ``"split column"``, ``"speaker hash"``, ``"file-name hash"`` or
        ``"speaker hash (file-name hash for clips without a speaker)"``.
    """
    if split_column_mask(clipset) is not None:
        return "split column"
    with_spk = sum(c.speaker is not None for c in clipset.clips)
    if with_spk == len(clipset):
        return "speaker hash"
    if with_spk == 0:
        return "file-name hash"
    return "speaker hash (file-name hash for clips without a speaker)"


def split_dev_eval(clipset: ClipSet) -> tuple[ClipSet, ClipSet]:
    """Split a clip set into ``dev`` and ``eval`` (rules: split column, else speaker hash, else file-name hash;
    see the module docstring).

    Args:
        clipset: any labelled set, e.g. :func:`voxquant.data.speech_commands_test` (4,890 clips, 239 speakers ->
            dev 2,286 clips / 114 speakers, eval 2,604 / 125) or :func:`voxquant.data.load_dataset`.

    Returns:
        ``(dev, eval)``: :class:`ClipSet` named ``<name>:dev`` / ``<name>:eval``, same labels, each keeping
        the input's clip order. Together they partition the input.

    Raises:
        DataError: a label that has clips gets none in ``eval`` (it could not be measured; the message names the
            labels and the rule), or a bad ``split`` column (:func:`split_column_mask`).
    """
    mask = split_column_mask(clipset)
    if mask is None:
        mask = np.array([is_dev(c) for c in clipset.clips], dtype=bool)
    dev = clipset.subset(np.flatnonzero(mask), name=f"{clipset.name}:dev")
    ev = clipset.subset(np.flatnonzero(~mask), name=f"{clipset.name}:eval")
    total, in_eval = clipset.counts(), ev.counts()
    absent = [lab for lab in clipset.labels if total[lab] > 0 and in_eval[lab] == 0]
    if absent:
        raise DataError(
            f"set '{clipset.name}': label(s) {_brief(absent)} have no clip in the eval split (rule: "
            f"{split_rule(clipset)}), so they could not be measured",
            hint="add clips of these labels from more speakers, or give the manifest a split column with some "
                 "rows 'test' for every label")
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
