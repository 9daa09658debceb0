"""THE backend table: one row per runtime/toolchain.

It drives the CLI's ``--formats`` choices and argument checks (with close-match suggestions), the conversion
loop and the benchmark loop. Add a backend by writing a :class:`~voxquant.backends.base.Backend` subclass and
one line here.
"""

from __future__ import annotations

import difflib
import importlib
from pathlib import Path

from voxquant.backends.base import Backend, BackendInfo, Session
from voxquant.errors import ConfigError

#: ``argument -> "module:Class"``, in table order. Modules are imported lazily (toolchains are optional).
_REGISTRY: dict[str, str] = {
    "onnx": "voxquant.backends.onnxruntime:OrtBackend",
    "tflite": "voxquant.backends.litert:LiteRtBackend",
    "edgetpu": "voxquant.backends.litert:EdgeTpuBackend",
    "rknn": "voxquant.backends.rknn:RknnBackend",
    "openvino": "voxquant.backends.openvino:OpenVinoBackend",
    "tensorrt": "voxquant.backends.tensorrt:TensorRtBackend",
    "qnn": "voxquant.backends.qnn:QnnBackend",
}


def _load(spec: str) -> type[Backend]:
    mod, cls = spec.split(":")
    return getattr(importlib.import_module(mod), cls)


def backend_classes() -> list[type[Backend]]:
    """Backend classes in table order (importing their modules, not their toolchains)."""
    return [_load(s) for s in _REGISTRY.values()]


def backend_table() -> list[BackendInfo]:
    """The table rows (:class:`BackendInfo`), in order."""
    return [c.info for c in backend_classes()]


def get_backend(name: str) -> Backend:
    """Instantiate a backend by CLI argument or canonical name.

    Raises:
        ConfigError: unknown name, with the closest match suggested.
    """
    for arg, spec in _REGISTRY.items():
        cls = _load(spec)
        if name in (arg, cls.info.name):
            return cls()
    names = list(_REGISTRY) + [c.info.name for c in backend_classes()]
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"did you mean '{close[0]}'?" if close else f"choose from {', '.join(_REGISTRY)}"
    raise ConfigError(f"unknown backend/format '{name}'", hint=hint)


def load_session(name: str, artifact: Path, threads: int = 1) -> Session:
    """Load ``artifact`` with backend ``name`` (argument or canonical name) at ``threads`` intra-op threads."""
    return get_backend(name).load(Path(artifact), threads=threads)
