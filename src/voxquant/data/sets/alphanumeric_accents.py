"""Accent-labelled read speech: digit strings, spelled names, addresses (shared data pack, section on
``alphanumeric_accents``)."""

from __future__ import annotations

from pathlib import Path

from voxquant.data.datasets import ClipSet, shared_manifest_set

ALNUM_DIR = "alphanumeric_accents"


def alphanumeric_accents(root: str | Path | None = None) -> ClipSet:
    """209 recordings by 70 speakers of 16 native languages, 16 kHz, several seconds each.

    The label is the prompt text (202 distinct values), so this is a set for accent-grouped analysis
    (``group_values(cs, "accent")``, ``"native_language"``, ``"gender"``, ``"recording_device"``, ...) rather than
    a closed-vocabulary KWS task; ``meta["kind"]`` is ``digits``/``names``/``address``. Labels sorted.

    Raises:
        DataError: the set is not under ``root`` / ``VOXQUANT_DATA``.
    """
    return shared_manifest_set(root, ALNUM_DIR, "alphanumeric accents set", sort_labels=True)


def load(root: str | Path | None = None) -> ClipSet:
    """Registry entry ``alphanumeric-accents``: :func:`alphanumeric_accents`."""
    return alphanumeric_accents(root)
