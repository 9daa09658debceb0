"""Bring your own data: a *data spec* (registered name, folder, or manifest CSV) -> :class:`ClipSet`.

A **data spec** is one of, tried in this order:

1. a name of :data:`voxquant.data.registry.DATASETS` (``speech-commands-v2-test``, ``fsdd``,
   ``picovoice-wakewords``, ...), loaded from the data root (``VOXQUANT_DATA``). A registered name wins over a
   folder of the same name in the working directory; write ``./fsdd`` to mean the folder.
2. a manifest CSV file with columns ``path,label[,speaker][,word][,split][,any other columns]``; ``path`` is
   relative to the CSV's folder (absolute paths are kept). Every other column (accent, gender, device, ...) is
   kept in ``Clip.meta`` for :func:`voxquant.data.group_values`; ``split`` drives
   :func:`voxquant.data.split_dev_eval`.
3. a folder holding ``manifest.csv`` (read as 2.).
4. a folder of labelled sub-folders ``<label>/*.wav|*.flac`` (the Speech Commands tarball layout; speaker ids are
   parsed from ``<speaker>_nohash_<n>`` file names where they follow that convention, else unknown).

Labels of a folder or CSV are the distinct labels, **sorted**; a registered set keeps its own canonical order
(Speech Commands: :data:`voxquant.data.SC12_LABELS`).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Sequence

from voxquant.data.datasets import (
    AUDIO_EXTENSIONS,
    Clip,
    ClipSet,
    check_files_exist,
    clips_from_rows,
    load_labelled_folder,
    read_manifest,
)
from voxquant.data.registry import DATASETS, load_registered
from voxquant.errors import ConfigError, DataError, LabelMismatchError


def _brief(labels: Sequence[str], limit: int = 30) -> str:
    labels = list(labels)
    more = f", ... ({len(labels) - limit} more)" if len(labels) > limit else ""
    return "[" + ", ".join(repr(x) for x in labels[:limit]) + more + "]"


def check_labels(model_labels: Sequence[str], data_labels: Sequence[str], source: str | Path | None = None) -> tuple:
    """Check that every label of the data is one of the model's labels.

    Args:
        model_labels: the model's class names (output order).
        data_labels: the labels that have clips in the data.
        source: the data (file, folder or set name) for the message.

    Returns:
        ``missing``: the model labels without a clip in the data, sorted (allowed: those classes are simply
        not measured; the caller decides whether to warn).

    Raises:
        LabelMismatchError: (a :class:`ConfigError` and a :class:`DataError`) the data has labels the model does
            not know; the message lists both label sets, the extra and the missing labels.
    """
    model, data = list(model_labels), list(data_labels)
    extra = sorted(set(data) - set(model))
    missing = sorted(set(model) - set(data))
    if extra:
        raise LabelMismatchError(
            f"model labels and data labels differ: the data has label(s) {_brief(extra)} that the model does not "
            f"have (model labels without data: {_brief(missing)}); model labels {_brief(model)}, data labels "
            f"{_brief(data)}",
            source, hint="rename the labels in the manifest, pass the model's labels (--labels), or train a model on "
            "this data (voxquant train --data ...)", missing=missing, extra=extra)
    return tuple(missing)


def with_labels(clipset: ClipSet, labels: Sequence[str], source: str | Path | None = None) -> ClipSet:
    """The same clips with ``labels`` as class order (``labels[i]`` = class id ``i``).

    Raises:
        ConfigError: ``labels`` is empty or has duplicates. LabelMismatchError: a clip's label is not in
            ``labels`` (:func:`check_labels`). A label of ``labels`` without clips only gives a warning.
    """
    labels = tuple(str(x) for x in labels)
    if not labels or len(set(labels)) != len(labels):
        raise ConfigError(f"labels must be a non-empty list without duplicates, got {list(labels)}")
    present = [lab for lab, n in clipset.counts().items() if n > 0]
    missing = check_labels(labels, present, source if source is not None else clipset.name)
    if missing:
        warnings.warn(f"{source or clipset.name}: no clips for label(s) {list(missing)}; they will not be measured",
                      stacklevel=3)
    return ClipSet(clipset.name, clipset.clips, labels)


def _from_manifest(csv_path: Path, name: str | None, label_required: bool) -> ClipSet:
    _, rows = read_manifest(csv_path, label_required=label_required)
    if not rows:
        raise DataError("manifest has no rows", csv_path)
    clips = clips_from_rows(csv_path, rows)
    check_files_exist(clips, csv_path)
    default = csv_path.parent.name if csv_path.name == "manifest.csv" else csv_path.stem
    return ClipSet(name or default, clips, tuple(sorted({c.label for c in clips})))


def _has_audio(folder: Path) -> bool:
    return any(f.is_file() and f.name.lower().endswith(AUDIO_EXTENSIONS) for f in folder.iterdir())


def load_dataset(spec: str | Path, labels: Sequence[str] | None = None, data_root: str | Path | None = None,
                 name: str | None = None) -> ClipSet:
    """Load a labelled data set from a data spec (module docstring: registry name, manifest CSV, folder).

    Args:
        spec: registry name, manifest CSV file, folder with ``manifest.csv``, or folder of ``<label>/`` folders.
        labels: class order wanted (e.g. a model's labels). Every clip's label must be in it; labels without
            clips are allowed (warning). ``None``: the data's labels (sorted; a registered set's own order).
        data_root: root for registry names (default ``VOXQUANT_DATA``); ignored for paths.
        name: set name (default: registry name, folder name, or CSV file stem).

    Returns:
        :class:`ClipSet` in manifest row order (labelled folder: label, then file name); ``Clip.meta`` holds every
        extra manifest column as a string.

    Raises:
        DataError: not a registered name nor an existing file/folder; a manifest that is unreadable or has bad
            rows (names the file and lines); audio files that do not exist (names the first ones); a folder with
            neither ``manifest.csv`` nor label sub-folders; no clips.
        LabelMismatchError: with ``labels``, clips whose label is not in it (lists model and data labels,
            missing and extra). ConfigError: ``labels`` empty or duplicated.
    """
    if isinstance(spec, str) and spec in DATASETS:
        cs = load_registered(spec, data_root)
        if name:
            cs = ClipSet(name, cs.clips, cs.labels)
        check_files_exist(cs.clips, spec)
        source: str | Path = spec
    else:
        path = Path(spec).expanduser()
        source = path
        if path.is_file():
            if path.suffix.lower() != ".csv":
                raise DataError("a data file must be a manifest CSV (columns path,label[,speaker][,split],...)", path)
            cs = _from_manifest(path.resolve(), name, label_required=True)
        elif path.is_dir():
            if (path / "manifest.csv").is_file():
                cs = _from_manifest((path / "manifest.csv").resolve(), name, label_required=True)
            elif any(d.is_dir() and _has_audio(d) for d in path.iterdir()):
                cs = load_labelled_folder(path, name=name or path.resolve().name)
            elif _has_audio(path):
                raise DataError("audio files without labels: put each label's files in a sub-folder named after the "
                                "label, or write a manifest.csv (columns path,label)", path)
            else:
                raise DataError("no manifest.csv and no label sub-folders with WAV/FLAC files", path)
        else:
            raise DataError(f"not a registered data set ({', '.join(DATASETS)}) and no such file or folder", path)
    if not len(cs):
        raise DataError("the data set has no clips", source)
    if labels is not None:
        cs = with_labels(cs, labels, source)
    return cs


def list_audio_files(folder: str | Path) -> list[Path]:
    """Every WAV/FLAC file under ``folder`` (recursively, hidden entries skipped), sorted by relative path."""
    folder = Path(folder)
    files = [f for f in folder.rglob("*") if f.is_file() and f.name.lower().endswith(AUDIO_EXTENSIONS)
             and not any(part.startswith(".") for part in f.relative_to(folder).parts)]
    return sorted(files, key=lambda f: f.relative_to(folder).as_posix())


def load_calibration(spec: str | Path, data_root: str | Path | None = None, name: str | None = None) -> ClipSet:
    """Representative audio for static quantization (labels optional).

    Args:
        spec: a registry name, a manifest CSV or a folder with ``manifest.csv`` (``label`` column optional; empty
            or absent labels become ``""``), or a folder of audio files (WAV/FLAC, searched recursively, sorted;
            all labelled ``""``). Labels of calibration clips are only used to stratify a subset.
        data_root: root for registry names.
        name: set name (default: folder name / CSV stem / registry name).

    Returns:
        :class:`ClipSet`; ``labels`` = the sorted distinct labels (``("",)`` for unlabelled audio).

    Raises:
        DataError: no such file/folder, a folder with no audio files, an empty or malformed manifest, or audio
            files that do not exist (the message names them).
    """
    if isinstance(spec, str) and spec in DATASETS:
        return load_dataset(spec, data_root=data_root, name=name)
    path = Path(spec).expanduser()
    if path.is_file():
        if path.suffix.lower() != ".csv":
            raise DataError("calibration data must be a folder of audio files or a manifest CSV", path)
        return _from_manifest(path.resolve(), name, label_required=False)
    if not path.is_dir():
        raise DataError("calibration folder not found", path)
    if (path / "manifest.csv").is_file():
        return _from_manifest((path / "manifest.csv").resolve(), name, label_required=False)
    files = list_audio_files(path)
    if not files:
        raise DataError(f"calibration folder has no audio files ({', '.join(AUDIO_EXTENSIONS)}, searched recursively)",
                        path)
    return ClipSet(name or path.resolve().name, [Clip(f.resolve(), "") for f in files], ("",))


__all__ = ["check_labels", "list_audio_files", "load_calibration", "load_dataset", "with_labels"]
