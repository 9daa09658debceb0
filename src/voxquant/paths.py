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
