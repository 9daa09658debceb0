"""The 5 real measured room impulse responses of the shared data pack (OpenAIR CC BY 4.0; one CC0)."""

from __future__ import annotations

from pathlib import Path

from voxquant.data.datasets import RIRS_DIR, ClipSet, _missing, _set_dir, load_manifest


def rirs(root: str | Path | None = None) -> ClipSet:
    """The 5 real measured room impulse responses (RIRs) of the data pack (16 kHz, 1-4 s, peak 0.99).

    Labels are room names (``auditorium``, ``studio_live_room``, ``concert_hall``, ``church``,
    ``seminar_room``); ``meta`` keeps licence and attribution (OpenAIR CC BY 4.0; one CC0 clap RIR).

    Raises:
        DataError: the set is not under ``root`` / ``VOXQUANT_DATA``.
    """
    set_dir = _set_dir(root, RIRS_DIR)
    if not (set_dir / "manifest.csv").is_file():
        raise _missing(set_dir, "RIR set")
    return load_manifest(set_dir, name=RIRS_DIR)
