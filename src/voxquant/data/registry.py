"""The table of known labelled data sets: one line per set, one module per set (:mod:`voxquant.data.sets`).

A name of :data:`DATASETS` can be given wherever a data *spec* is accepted (:func:`voxquant.data.load_dataset`,
``voxquant train --data NAME``). The value is ``"module:function"``; the function is imported only when the set is
loaded and is called as ``function(root)`` with ``root`` the data root (default ``VOXQUANT_DATA``) or the set
folder itself, returning a :class:`voxquant.data.ClipSet`.

The style follows ONNX Runtime's quantization registry (op type -> quantizer class path) and Ultralytics'
``export_formats()`` table: adding a data set = one module + one line here.

Downloadable archives (URL + checksum) are a different table: :data:`voxquant.data.fetch.REGISTRY`.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Callable

from voxquant.errors import ConfigError

DATASETS: dict[str, str] = {
    "speech-commands-v2-test": "voxquant.data.sets.speech_commands:load",
    "speech-commands-v2-extra": "voxquant.data.sets.speech_commands:load_extra",
    "fsdd": "voxquant.data.sets.fsdd:load",
    "picovoice-wakewords": "voxquant.data.sets.picovoice:load",
    "alphanumeric-accents": "voxquant.data.sets.alphanumeric_accents:load",
}
"""Registry name -> ``"module:function"`` loader (``function(root=None) -> ClipSet``)."""

DEFAULT_DATASET = "speech-commands-v2-test"
"""The set every command uses when no ``--data`` is given (the committed results are measured on it)."""


def dataset_names() -> list[str]:
    """The registered names, in table order."""
    return list(DATASETS)


def get_loader(name: str) -> Callable[[str | Path | None], object]:
    """The loader function of a registered set.

    Args:
        name: a key of :data:`DATASETS`.

    Returns:
        ``loader(root=None) -> ClipSet``.

    Raises:
        ConfigError: unknown name (the message lists the known names).
    """
    try:
        target = DATASETS[name]
    except KeyError:
        raise ConfigError(f"unknown data set '{name}'; known: {', '.join(DATASETS)}") from None
    module, _, func = target.partition(":")
    return getattr(importlib.import_module(module), func)


def load_registered(name: str, root: str | Path | None = None):
    """``get_loader(name)(root)``: the :class:`~voxquant.data.ClipSet` of a registered set.

    Raises:
        ConfigError: unknown name. DataError: the set is not under ``root`` / ``VOXQUANT_DATA``.
    """
    return get_loader(name)(root)


__all__ = ["DATASETS", "DEFAULT_DATASET", "dataset_names", "get_loader", "load_registered"]
