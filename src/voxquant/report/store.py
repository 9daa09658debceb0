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

Atomic write = :mod:`voxquant.atomic` (temporary file in the *same* folder, fsync, ``os.replace``, fsync of the
folder); its helpers are re-exported here under their old names.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import numpy as np

from voxquant.errors import VoxquantError

__all__ = ["ResultStore", "to_jsonable", "write_bytes_atomic", "write_json_atomic", "write_text_atomic"]

from voxquant.atomic import (  # noqa: F401  (re-exported: the helpers lived here before voxquant.atomic)
    TMP_PREFIX as _TMP_PREFIX,
    TMP_SUFFIX as _TMP_SUFFIX,
    _fsync_dir,
    _umask,
    to_jsonable,
    write_atomic as _write_atomic,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)

_MAX_SEGMENT_BYTES = 200  # leaves room for ".json" / temp-file decorations under the usual 255-byte limit


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
