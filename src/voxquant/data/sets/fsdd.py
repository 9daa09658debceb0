"""Free Spoken Digit Dataset (github.com/Jakobovski/free-spoken-digit-dataset, CC BY-SA 4.0)."""

from __future__ import annotations

from pathlib import Path

from voxquant.data.datasets import FSDD_DIR, ClipSet, _missing, _set_dir, load_manifest


def fsdd(root: str | Path | None = None) -> ClipSet:
    """Free Spoken Digit Dataset (3,000 clips, 6 speakers, labels ``"0"``..``"9"``, native **8 kHz**).

    Source: github.com/Jakobovski/free-spoken-digit-dataset (CC BY-SA 4.0), as ``<root>/fsdd/manifest.csv``.
    ``meta`` keeps ``split`` (reps 0-4 = test), ``accent``, ``native``, ``gender``, ... :func:`load_waves`
    resamples to 16 kHz (soxr; nothing above 4 kHz exists).

    Raises:
        DataError: the set is not under ``root`` / ``VOXQUANT_DATA``.
    """
    set_dir = _set_dir(root, FSDD_DIR)
    if not (set_dir / "manifest.csv").is_file():
        raise _missing(set_dir, "FSDD data set")
    return load_manifest(set_dir, tuple(str(d) for d in range(10)), name=FSDD_DIR)


def load(root: str | Path | None = None) -> ClipSet:
    """Registry entry ``fsdd``: :func:`fsdd`."""
    return fsdd(root)
