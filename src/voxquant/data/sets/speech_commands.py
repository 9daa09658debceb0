"""Google Speech Commands v0.02 (Warden 2018, arXiv:1804.03209, CC BY 4.0): the official 12-class test set and
the 350 extra clips of the shared data pack."""

from __future__ import annotations

from pathlib import Path

import warnings

from voxquant.data.datasets import (
    _FETCH_HINT,
    SC12_LABELS,
    SC_TEST_DIR,
    SC_TEST_NUM_CLIPS,
    ClipSet,
    _missing,
    _set_dir,
    load_labelled_folder,
    load_manifest,
)
from voxquant.errors import DataError

SC_EXTRA_DIR = "speech_commands_v0.02_extra"


def speech_commands_test(root: str | Path | None = None) -> ClipSet:
    """The official Speech Commands v0.02 12-class test set (4,890 clips, 239 speakers, 16 kHz, 1 s).

    Source: ``speech_commands_test_set_v0.02.tar.gz`` (Warden 2018, arXiv:1804.03209, CC BY 4.0).
    Looks in ``<root>/speech_commands_v0.02_test`` (``root`` default :func:`voxquant.paths.data_root`; ``root``
    may also be the set folder itself). Accepted layouts: ``manifest.csv`` (shared data pack, or what
    ``voxquant data fetch speech-commands-v2-test`` writes), or the plain tarball layout
    (``<label>/*.wav`` sub-folders, or under ``audio/``) without a manifest.

    Returns:
        :class:`ClipSet` named ``speech_commands_v0.02_test`` with labels :data:`SC12_LABELS`. A warning is
        issued if it does not hold exactly 4,890 clips (a partial copy).

    Raises:
        DataError: the set is not there (the message says to run ``voxquant data fetch
            speech-commands-v2-test`` or set ``VOXQUANT_DATA``), or a label folder is missing.
    """
    set_dir = _set_dir(root, SC_TEST_DIR)
    if (set_dir / "manifest.csv").is_file():
        cs = load_manifest(set_dir, SC12_LABELS, name=SC_TEST_DIR)
    else:
        given = Path(root).expanduser() if root is not None else None
        candidates = [set_dir, set_dir / "audio"] + ([given] if given is not None else [])
        for cand in candidates:
            if cand.is_dir() and any((cand / lab).is_dir() for lab in SC12_LABELS):
                cs = load_labelled_folder(cand, SC12_LABELS, name=SC_TEST_DIR)
                break
        else:
            raise DataError("Speech Commands v0.02 test set not found", set_dir, hint=_FETCH_HINT)
    if len(cs) != SC_TEST_NUM_CLIPS:
        warnings.warn(f"{set_dir}: expected {SC_TEST_NUM_CLIPS} clips in the official test set, found {len(cs)}", stacklevel=2)
    return cs


def speech_commands_extra(root: str | Path | None = None) -> ClipSet:
    """350 further Speech Commands v0.02 clips (10 per word for all 35 words; 313 speakers; 16 kHz, 1 s).

    Labels: the 10 command words plus ``_unknown_`` (the 25 other words), in :data:`SC12_LABELS` order (no
    ``_silence_``). The manifest's ``split`` column is the official v0.02 list of each clip
    (``train``/``validation``/``test``). Source: the shared data pack (``<root>/speech_commands_v0.02_extra``).

    Raises:
        DataError: the set is not under ``root`` / ``VOXQUANT_DATA``.
    """
    set_dir = _set_dir(root, SC_EXTRA_DIR)
    if not (set_dir / "manifest.csv").is_file():
        raise _missing(set_dir, "Speech Commands extra clips")
    return load_manifest(set_dir, SC12_LABELS[:11], name=SC_EXTRA_DIR)


def load(root: str | Path | None = None) -> ClipSet:
    """Registry entry ``speech-commands-v2-test``: :func:`speech_commands_test`."""
    return speech_commands_test(root)


def load_extra(root: str | Path | None = None) -> ClipSet:
    """Registry entry ``speech-commands-v2-extra``: :func:`speech_commands_extra`."""
    return speech_commands_extra(root)
