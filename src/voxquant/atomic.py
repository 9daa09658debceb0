"""Atomic file writes: every file voxquant writes (models, features, result cells, reports, weights, caches).

A kill (SIGKILL, power loss, Ctrl-C) at any moment leaves either the previous file or the complete new one, never
a half-written file under the final name:

1. write a temporary file in the *same* folder (so the rename stays on one volume), named
   ``.<name>.<pid>-<random>.tmp`` (hidden, and tagged with the writer's process id),
2. ``flush`` + ``os.fsync``, 3. ``os.replace`` onto the final name (atomic on POSIX and Windows for same-volume
   renames), 4. fsync the folder (POSIX, best effort) so the rename itself survives a power loss.

On any error the temporary file is removed and the previous content, if any, is left untouched. A temporary file
survives only a hard kill; :func:`remove_stale_temps` deletes those whose writer process is gone (the process id in
the name), so it is safe on a cache folder that other live runs write to at the same time.

This module sits in the lowest layer (it imports numpy only), so data, models, quant and report all use it.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["TMP_PREFIX", "TMP_SUFFIX", "atomic_path", "is_temp_name", "remove_stale_temps", "save_npy_atomic",
           "to_jsonable", "write_atomic", "write_bytes_atomic", "write_json_atomic", "write_text_atomic"]

TMP_PREFIX = "."
TMP_SUFFIX = ".tmp"
#: ``.<name>.<pid>-<random>.tmp``; the older ``.<name>.<random>.tmp`` (no pid) and the decode cache's former
#: ``<stem><random>.tmp`` are matched by :data:`_LEGACY` (their writer is unknown: removed by age).
_TAGGED = re.compile(r"^\..+\.(\d+)-[^.]+\.tmp$")
_LEGACY = re.compile(r"^(\..+\.tmp(\.npy)?|[0-9a-f]{8,}[A-Za-z0-9_]{8}\.tmp)$")


def _fsync_dir(folder: Path) -> None:
    """fsync a folder so a rename inside it is durable (POSIX only; silently skipped elsewhere)."""
    if os.name != "posix":  # pragma: no cover
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some filesystems refuse fsync on folders
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    """The process umask, read without changing it where possible (``/proc/self/status`` on Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # pragma: no cover - non-Linux fallback (briefly changes the umask)
    os.umask(mask)  # pragma: no cover
    return mask  # pragma: no cover


def _mkstemp(path: Path) -> tuple[int, str]:
    return tempfile.mkstemp(prefix=f"{TMP_PREFIX}{path.name}.{os.getpid()}-", suffix=TMP_SUFFIX, dir=path.parent)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path next to ``path`` for writers that need a file name (``torch.save``, ``onnx.save``,
    ``ov.save_model``...); on a clean exit it is fsynced and moved onto ``path``, on an error it is deleted.

    Example::

        with atomic_path(out / "model.onnx") as tmp:
            onnx.save(model, str(tmp))

    Yields:
        the temporary :class:`~pathlib.Path` (``.<name>.<pid>-<random>.tmp`` in the same folder; it exists, empty).

    Raises:
        OSError: the folder is not writable, the disk is full, ... (the old file, if any, is intact).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _mkstemp(path)
    os.close(fd)
    try:
        yield Path(tmp)
        if hasattr(os, "chmod"):
            os.chmod(tmp, 0o666 & ~_umask())
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def write_atomic(path: str | Path, write: Callable[[io.BufferedWriter], Any]) -> Path:
    """Write ``path`` atomically through ``write(fh)`` (``fh``: a binary file open on a temporary file).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        OSError: as :func:`write_bytes_atomic`; anything ``write`` raises (nothing is left behind).
    """
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:  # fsync, mode, rename and cleanup: atomic_path's
        write(fh)
        fh.flush()
    return path


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same folder + fsync + ``os.replace``).

    Args:
        path: destination; parent folders are created.
        data: the bytes.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        OSError: the folder is not writable, the disk is full, ... (the old file, if any, is intact and
            no temporary file is left behind).
    """
    return write_atomic(path, lambda fh: fh.write(data))


def write_text_atomic(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`write_bytes_atomic`)."""
    return write_bytes_atomic(path, text.encode(encoding))


def save_npy_atomic(path: str | Path, arr: np.ndarray) -> Path:
    """``np.save`` ``arr`` to ``path`` atomically (no pickle: object arrays raise ``ValueError``)."""
    return write_atomic(path, lambda fh: np.save(fh, np.asarray(arr), allow_pickle=False))


def to_jsonable(obj: Any) -> Any:
    """Convert ``obj`` recursively to plain JSON types.

    numpy scalars -> Python numbers, numpy arrays -> lists, tuples/sets -> lists, :class:`~pathlib.Path`
    -> str, dataclasses with ``to_dict()`` -> that dict. Non-finite floats (NaN, +-Inf) become ``None``
    so the output is strict JSON (RFC 8259 has no NaN). Dict keys are converted to ``str``.

    Raises:
        TypeError: an object of another type.
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)) and not isinstance(obj, np.bool_):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return [to_jsonable(v) for v in sorted(obj, key=repr)]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return to_jsonable(obj.to_dict())
    raise TypeError(f"cannot store an object of type {type(obj).__name__} as JSON")


def write_json_atomic(path: str | Path, obj: Any, indent: int | None = 2, default: Callable | None = None) -> Path:
    """Serialise ``obj`` as UTF-8 JSON and write it atomically (``results.json``, cells, sidecars).

    Args:
        path: destination file.
        obj: JSON-able data; numpy types, paths and non-finite floats are converted by :func:`to_jsonable`.
        indent: ``json.dumps`` indent (``None`` = compact).
        default: ``json.dumps`` fallback for other objects (e.g. ``str``); ``None`` = raise ``TypeError``.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        TypeError: ``obj`` holds something that is not JSON-able (nothing is written).
        OSError: as :func:`write_bytes_atomic`.
    """
    if default is None:
        data = to_jsonable(obj)
    else:  # convert what to_jsonable knows, hand the rest to ``default``
        data = json.loads(json.dumps(obj, default=lambda o: _or_default(o, default)))
        data = to_jsonable(data)
    text = json.dumps(data, indent=indent, ensure_ascii=False, allow_nan=False)
    return write_text_atomic(path, text + "\n")


def _or_default(o, default):
    try:
        return to_jsonable(o)
    except TypeError:
        return default(o)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's process) or cannot tell: keep the file
    return True


def is_temp_name(name: str) -> bool:
    """Whether a file name is one of voxquant's temporary-file names (current or legacy pattern)."""
    return bool(_TAGGED.match(name) or _LEGACY.match(name))


def remove_stale_temps(folder: str | Path, legacy_max_age_s: float | None = 0.0) -> int:
    """Delete the temporary files a killed writer left anywhere under ``folder``.

    A ``.<name>.<pid>-<random>.tmp`` file is removed when process ``pid`` no longer exists (a live writer's file is
    kept, so this is safe on a shared cache). Files of the older patterns (no pid) are removed when older than
    ``legacy_max_age_s`` seconds (``0`` = always, e.g. in a run folder nobody else writes; ``None`` = never).

    Returns:
        how many files were removed (missing folder: 0).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    n = 0
    now = time.time()
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            if not name.endswith((TMP_SUFFIX, TMP_SUFFIX + ".npy")):
                continue
            f = Path(dirpath) / name
            m = _TAGGED.match(name)
            if m:
                stale = not _pid_alive(int(m.group(1)))
            elif _LEGACY.match(name) and legacy_max_age_s is not None:
                try:
                    stale = now - f.stat().st_mtime >= legacy_max_age_s
                except OSError:
                    continue
            else:
                continue
            if stale:
                try:
                    f.unlink()
                    n += 1
                except OSError:
                    pass
    return n
