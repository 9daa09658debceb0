"""Atomic, resumable per-cell result storage.

A long job (``voxquant run``) evaluates a matrix of cells (model x variant x slice, latency per thread
count, ...). Each finished cell is written as its own JSON file, atomically, so an interrupted run
leaves only complete files and a re-run skips every cell already present::

    store = ResultStore("runs/demo")
    key = "dscnn/int8_static_minmax/noise_snr5"
    if not store.has(key):
        store.put(key, {"accuracy": 0.91, "n": 2445})
        store.put_array(key, correct)          # per-clip bool [N] for paired statistics later
    cell = store.get(key)

Layout: ``<out_dir>/cells/<segment>/<segment>/.../<last>.json`` (and ``.npz`` for arrays), one folder
level per ``/`` in the key. Each segment is percent-encoded (``urllib.parse.quote``: letters, digits and
``_.-~`` stay as they are, ``.``/``..``/leading dots are encoded), so keys map to safe file names
reversibly and cannot escape the store folder.

Atomic write = write a temporary file in the *same* folder, ``flush`` + ``os.fsync``, then
``os.replace`` onto the final name (atomic on POSIX and Windows for same-volume renames), then fsync the
folder (POSIX, best effort) so the rename itself survives a power loss. On any error the temporary file
is removed and the previous content, if any, is left untouched.
"""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import numpy as np

from voxquant.errors import VoxquantError

__all__ = ["ResultStore", "to_jsonable", "write_bytes_atomic", "write_json_atomic", "write_text_atomic"]

_TMP_PREFIX = "."
_TMP_SUFFIX = ".tmp"
_MAX_SEGMENT_BYTES = 200  # leaves room for ".json" / temp-file decorations under the usual 255-byte limit


# --------------------------------------------------------------------------------------------- atomic I/O


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


def _write_atomic(path: str | Path, write: Callable[[io.BufferedWriter], None]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX + path.name + ".", suffix=_TMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            # mkstemp creates 0600 files; give the result the mode a plain open() would (0666 & ~umask)
            if hasattr(os, "fchmod"):
                os.fchmod(fh.fileno(), 0o666 & ~_umask())
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)
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
    return _write_atomic(path, lambda fh: fh.write(data))


def write_text_atomic(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`write_bytes_atomic`)."""
    return write_bytes_atomic(path, text.encode(encoding))


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


def write_json_atomic(path: str | Path, obj: Any, indent: int | None = 2) -> Path:
    """Serialise ``obj`` as UTF-8 JSON and write it atomically (used for ``results.json`` and cells).

    Args:
        path: destination file.
        obj: JSON-able data; numpy types, paths and non-finite floats are converted by :func:`to_jsonable`.
        indent: ``json.dumps`` indent (``None`` = compact).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        TypeError: ``obj`` holds something that is not JSON-able (nothing is written).
        OSError: as :func:`write_bytes_atomic`.
    """
    text = json.dumps(to_jsonable(obj), indent=indent, ensure_ascii=False, allow_nan=False)
    return write_text_atomic(path, text + "\n")


# --------------------------------------------------------------------------------------------- the store


def _encode_segment(seg: str, key: str) -> str:
    if seg == "":
        raise ValueError(f"result key {key!r} has an empty segment (leading/trailing or double '/')")
    enc = quote(seg, safe="")
    if enc.startswith("."):  # '.', '..' and hidden names (our temp files start with '.')
        enc = "%2E" + enc[1:]
    if len(enc.encode()) > _MAX_SEGMENT_BYTES:
        raise ValueError(f"result key segment too long ({len(enc)} bytes encoded): {seg[:40]!r}...")
    return enc


class ResultStore:
    """One JSON file (plus optional ``.npz`` array) per finished cell, written atomically; resumable.

    Args:
        out_dir: the run's output folder; cells live under ``out_dir/cells``. Created on first write.

    Keys are ``/``-separated strings such as ``"dscnn/int8_static_minmax/noise_snr5"``; every segment must
    be non-empty. Any characters are allowed (they are percent-encoded on disk, reversibly).
    A second :class:`ResultStore` on the same folder (a resumed run) sees every key written before.
    """

    def __init__(self, out_dir: str | Path):
        self.out_dir = Path(out_dir)
        self.root = self.out_dir / "cells"

    def __repr__(self) -> str:
        return f"ResultStore({str(self.out_dir)!r})"

    # -- paths
    def path(self, key: str, suffix: str = ".json") -> Path:
        """File holding ``key`` (``.json`` for :meth:`put`, ``.npz`` for :meth:`put_array`).

        Raises:
            ValueError: empty key, empty segment or over-long segment.
        """
        if not isinstance(key, str) or not key:
            raise ValueError(f"result key must be a non-empty string, got {key!r}")
        parts = [_encode_segment(s, key) for s in key.split("/")]
        return self.root.joinpath(*parts[:-1], parts[-1] + suffix)

    # -- JSON cells
    def has(self, key: str) -> bool:
        """Whether the JSON cell ``key`` exists (i.e. was completely written)."""
        return self.path(key).is_file()

    def get(self, key: str, default: Any = ...) -> Any:
        """Read the JSON cell ``key``.

        Args:
            key: cell key.
            default: returned when the cell does not exist; without it a missing cell raises.

        Returns:
            The stored object (plain JSON types).

        Raises:
            KeyError: missing cell and no ``default``.
            VoxquantError: the file exists but is not valid JSON (edited by hand / foreign file); the
                message names the file and says to delete it to recompute.
        """
        p = self.path(key)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            if default is ...:
                raise KeyError(key) from None
            return default
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise VoxquantError(f"corrupt result cell ({exc})", p, hint="delete it to recompute the cell") from None

    def put(self, key: str, obj: Any) -> Path:
        """Write the JSON cell ``key`` atomically (replacing an older one).

        Args:
            key: cell key.
            obj: JSON-able object (numpy scalars/arrays are converted, NaN/Inf become null).

        Returns:
            The file written.

        Raises:
            TypeError: ``obj`` is not JSON-able (nothing is written).
            OSError: write failure (old content intact, no temporary file left).
        """
        return write_json_atomic(self.path(key), obj)

    def discard(self, key: str) -> None:
        """Delete the cell ``key`` (JSON and array), if present, so it is recomputed next run."""
        for suffix in (".json", ".npz"):
            try:
                self.path(key, suffix).unlink()
            except FileNotFoundError:
                pass

    def _iter_keys(self, suffix: str) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            rel = Path(dirpath).relative_to(self.root).parts
            for name in filenames:
                if name.startswith(".") or not name.endswith(suffix):
                    continue
                parts = [*rel, name[: -len(suffix)]]
                yield "/".join(unquote(p) for p in parts)

    def keys(self, prefix: str = "") -> list[str]:
        """Sorted keys of all JSON cells whose key starts with ``prefix`` (temporary files are ignored)."""
        return sorted(k for k in self._iter_keys(".json") if k.startswith(prefix))

    def __contains__(self, key: str) -> bool:
        return self.has(key)

    def __len__(self) -> int:
        return len(self.keys())

    # -- arrays (per-clip vectors)
    def has_array(self, key: str) -> bool:
        """Whether an array was stored under ``key`` with :meth:`put_array`."""
        return self.path(key, ".npz").is_file()

    def put_array(self, key: str, array: np.ndarray) -> Path:
        """Store one numpy array (e.g. ``bool [N]`` per-clip correctness) under ``key`` atomically.

        Saved as an uncompressed ``.npz`` (``np.savez``, member ``"array"``); dtype and shape round-trip
        exactly. Object arrays are refused (they would need pickle).

        Returns:
            The file written.

        Raises:
            ValueError: object dtype.
            OSError: write failure (old content intact).
        """
        arr = np.asarray(array)
        if arr.dtype == object:
            raise ValueError(f"put_array({key!r}): object arrays are not supported")
        return _write_atomic(self.path(key, ".npz"), lambda fh: np.savez(fh, array=arr))

    def get_array(self, key: str) -> np.ndarray:
        """Read the array stored under ``key``.

        Raises:
            KeyError: no array under ``key``.
            VoxquantError: the file is not a readable ``.npz`` written by :meth:`put_array`.
        """
        p = self.path(key, ".npz")
        if not p.is_file():
            raise KeyError(key)
        try:
            with np.load(p, allow_pickle=False) as z:
                return z["array"]
        except Exception as exc:
            raise VoxquantError(f"corrupt result array ({exc})", p, hint="delete it to recompute the cell") from None

    def array_keys(self, prefix: str = "") -> list[str]:
        """Sorted keys of all stored arrays whose key starts with ``prefix``."""
        return sorted(k for k in self._iter_keys(".npz") if k.startswith(prefix))
