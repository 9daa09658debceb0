"""Where voxquant finds data and third-party models, and where it caches things.

One setting each, read from the environment:

* ``VOXQUANT_DATA``   - root of the data sets (layout of ``shared/data``: one folder per set,
  each with ``manifest.csv``). Default: ``<user cache>/voxquant/data``.
* ``VOXQUANT_MODELS`` - root of third-party models (layout of ``shared/models``).
  Default: ``<user cache>/voxquant/models``.
* ``VOXQUANT_CACHE``  - cache for decoded audio / features. Default: ``<user cache>/voxquant``.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def cache_root() -> Path:
    """Return the cache folder (``VOXQUANT_CACHE`` or the platform user cache dir + ``voxquant``)."""
    env = os.environ.get("VOXQUANT_CACHE")
    return Path(env).expanduser() if env else Path(platformdirs.user_cache_dir("voxquant"))


def data_root() -> Path:
    """Return the data root (``VOXQUANT_DATA`` or ``<cache>/data``). The folder may not exist yet."""
    env = os.environ.get("VOXQUANT_DATA")
    return Path(env).expanduser() if env else cache_root() / "data"


def models_root() -> Path:
    """Return the third-party model root (``VOXQUANT_MODELS`` or ``<cache>/models``)."""
    env = os.environ.get("VOXQUANT_MODELS")
    return Path(env).expanduser() if env else cache_root() / "models"


def ensure_writable_dir(path: str | os.PathLike, option: str = "--out") -> Path:
    """Check, before any work, that ``path`` is (or can become) a folder voxquant can write to.

    Nothing is left behind: an existing folder is probed by creating and removing a temporary folder in it; a
    folder that does not exist yet is probed the same way in its nearest existing ancestor (the caller creates it
    when it starts writing).

    Args:
        path: the output folder.
        option: the option or key that gave it, for the message (e.g. ``"--out"``).

    Returns:
        ``path`` as a :class:`~pathlib.Path` (``~`` expanded).

    Raises:
        ConfigError: ``path`` is an existing file (or other non-folder), lies below a file, or neither it nor its
            nearest existing ancestor accepts a new entry (read-only, no permission, ``/proc``); the message names
            the option and the path.
    """
    import tempfile

    from voxquant.errors import ConfigError

    p = Path(path).expanduser()
    if str(path) == "":
        raise ConfigError(f"{option}: empty path", hint="give an output folder")
    probe = p
    while not probe.exists():
        if probe.is_symlink():
            raise ConfigError(f"{option}: {p}: {probe} is a dangling symbolic link", hint="choose another output folder")
        parent = probe.parent
        if parent == probe:
            break
        probe = parent
    if probe.exists() and not probe.is_dir():
        where = "is a file, not a folder" if probe == p else f"lies below {probe}, which is a file, not a folder"
        raise ConfigError(f"{option}: {p} {where}", hint="choose an output folder")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".voxquant-probe-", dir=probe))
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        what = f"{p} is not writable" if probe == p else f"cannot create {p} (in {probe}: {reason})"
        raise ConfigError(f"{option}: {what}" + (f" ({reason})" if probe == p else ""),
                          hint="choose a folder you can write to") from None
    return p
