"""Crowd-sourced wake-word recordings (Picovoice, Apache-2.0; see the shared data pack README)."""

from __future__ import annotations

from pathlib import Path

from voxquant.data.datasets import ClipSet, shared_manifest_set

PICOVOICE_DIR = "picovoice_wakewords"


def picovoice_wakewords(root: str | Path | None = None) -> ClipSet:
    """2,293 wake-word recordings, 6 keywords (labels sorted), 16 kHz, 1-4 s each, speakers unknown.

    No speaker ids and no split column: :func:`voxquant.data.split_dev_eval` splits it by a hash of the file name
    (not speaker-disjoint: the same voice may be in dev and eval). Clips are longer than 1 s; :func:`load_waves`
    crops to ``num_samples``.

    Raises:
        DataError: the set is not under ``root`` / ``VOXQUANT_DATA``.
    """
    return shared_manifest_set(root, PICOVOICE_DIR, "Picovoice wake-word set", sort_labels=True)


def load(root: str | Path | None = None) -> ClipSet:
    """Registry entry ``picovoice-wakewords``: :func:`picovoice_wakewords`."""
    return picovoice_wakewords(root)
