"""Edge target profiles: what each device's accelerator runs, as data.

Each profile is a TOML file shipped beside this module (``<name>.toml``) with:

* ``name``, ``title``, ``accelerator``, ``precisions`` (accelerator precisions), ``int_only`` (the accelerator
  runs only quantized integer ops), ``toolchain``, ``backend`` (row of :mod:`voxquant.backends.table`),
  ``static_shapes`` (dynamic dims leave the accelerator), ``max_opset``, ``partition`` (``"per-node"``: each
  unsupported node falls back alone; ``"prefix"``: the first unsupported node and everything after it leave the
  accelerator, as the Edge TPU compiler does), ``op_namespace`` (``"onnx"`` or ``"tflite"``), ``notes``;
* ``[[sources]]``: the vendor document(s) each table was transcribed from (title, url, version);
* ``[ops]``: supported operators with per-op rules checked by :mod:`voxquant.targets.check`
  (``remark`` = the vendor's restriction text; checkable keys: ``batch_max``, ``attrs`` (allowed values),
  ``const_inputs``, ``zero_inputs``, ``input_rank``, ``dtypes``, ``qdq_dtypes``, ``float_only``,
  ``static_shape``, ``max_outputs``, ``max_elements``; ``strip_attrs``: attributes the toolchain
  rejects, reported as a model issue);
* ``[unsupported]``: operators the vendor lists as not supported, with the vendor's remark;
* ``[onnx_to_tflite]`` (TFLite targets): the TFLite builtin an ONNX node is expected to lower to.

Profiles: ``rk3588``, ``jetson-orin-nx``, ``qualcomm-rb5``, ``coral-edgetpu``, ``cpu-x86``, ``cpu-arm``.
"""

from __future__ import annotations

import difflib
import functools
import tomllib
from dataclasses import dataclass, field
from importlib import resources

from voxquant.errors import ConfigError


@dataclass(frozen=True)
class Target:
    """One target profile (see the module docstring for the fields)."""

    name: str
    title: str
    accelerator: str
    precisions: tuple[str, ...]
    toolchain: str
    backend: str
    int_only: bool = False
    static_shapes: bool = False
    max_opset: int | None = None
    partition: str = "per-node"
    op_namespace: str = "onnx"
    all_ops: bool = False
    max_tensor_rank_gt1: int | None = None
    notes: tuple[str, ...] = ()
    sources: tuple[dict, ...] = ()
    ops: dict = field(default_factory=dict)
    unsupported: dict = field(default_factory=dict)
    onnx_to_tflite: dict = field(default_factory=dict)

    def op_rule(self, op: str) -> dict | None:
        """The rule dict of a supported op, or ``None`` when the op is not in the supported table."""
        if self.all_ops and op not in self.unsupported:
            return self.ops.get(op, {})
        return self.ops.get(op)

    def citation(self) -> str:
        """One line citing the source document(s) and version(s)."""
        return "; ".join(f"{s.get('title')} ({s.get('version')}) <{s.get('url')}>" for s in self.sources)


def target_names() -> list[str]:
    """Names of the shipped profiles, sorted."""
    files = resources.files("voxquant.targets")
    return sorted(p.name[:-5] for p in files.iterdir() if p.name.endswith(".toml"))


@functools.lru_cache(maxsize=None)
def get_target(name: str) -> Target:
    """Load a profile by name.

    Raises:
        ConfigError: unknown target, with the closest name suggested.
    """
    names = target_names()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.4)
        hint = f"did you mean '{close[0]}'?" if close else f"choose from {', '.join(names)}"
        raise ConfigError(f"unknown target '{name}'", hint=hint)
    data = tomllib.loads(resources.files("voxquant.targets").joinpath(f"{name}.toml").read_text())
    data["precisions"] = tuple(data.get("precisions", ()))
    data["notes"] = tuple(data.get("notes", ()))
    data["sources"] = tuple(data.get("sources", ()))
    known = set(Target.__dataclass_fields__)
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"target profile {name}.toml has unknown keys: {', '.join(sorted(unknown))}")
    return Target(**data)


def all_targets() -> list[Target]:
    """Every shipped profile."""
    return [get_target(n) for n in target_names()]


__all__ = ["Target", "all_targets", "get_target", "target_names"]
