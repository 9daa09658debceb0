"""The one small interface every runtime/toolchain implements.

A backend turns a float ONNX model (voxquant's interchange format) into its own artefact at a precision,
loads the artefact into a :class:`Session`, and reports which operators would leave the accelerator.
The table in :mod:`voxquant.backends.table` lists every backend once and drives the CLI's argument checks,
the conversion loop and the benchmark loop (in the spirit of Ultralytics' ``export_formats()``).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class BackendInfo:
    """One row of the backend table.

    Attributes:
        name: canonical name, e.g. ``"onnxruntime"``.
        argument: the CLI spelling, e.g. ``"onnx"`` (``--formats onnx``).
        suffix: artefact file suffix, e.g. ``".onnx"``.
        precisions: precisions it can build, e.g. ``("fp32", "fp16", "int8")``.
        runs_here: whether a runtime for it can execute on this x86 CPU host (else export/simulate only).
        needs_gpu: whether building or running needs an NVIDIA GPU.
        extra: pip extra that installs the toolchain (``None`` = core dependency).
        target: hardware it stands for (e.g. ``"rk3588"``), informational.
    """

    name: str
    argument: str
    suffix: str
    precisions: tuple[str, ...]
    runs_here: bool
    needs_gpu: bool = False
    extra: str | None = None
    target: str = "cpu-x86"


class Session(abc.ABC):
    """A loaded model ready to run batches.

    Attributes:
        input_name: name of the (single) input tensor.
        input_shape: input shape with the batch dimension as ``None`` when dynamic.
    """

    input_name: str = "input"
    input_shape: tuple = ()

    @abc.abstractmethod
    def run(self, x: np.ndarray) -> np.ndarray:
        """Run a batch.

        Args:
            x: ``float32 [N, ...]`` model input (features in the model's layout).

        Returns:
            ``float32 [N, C]`` scores (logits or probabilities, as the model produces them).
        """


@dataclass
class Artifact:
    """A built model file and what was done to build it.

    Attributes:
        path: the artefact file (``.onnx``, ``.tflite``, ``.rknn``, ``.xml``, ...).
        backend: backend name.
        precision: precision label, e.g. ``"int8"``.
        size_bytes: size on disk in bytes (all files of the artefact).
        log: toolchain messages worth showing (build log, warnings).
        extra: anything backend-specific (e.g. per-layer analysis).
    """

    path: Path
    backend: str
    precision: str
    size_bytes: int
    log: str = ""
    extra: dict = field(default_factory=dict)


class Backend(abc.ABC):
    """Base class of backends. Subclasses set ``info`` and implement the abstract methods."""

    info: BackendInfo

    def available(self) -> tuple[bool, str]:
        """Return ``(True, "")`` when the toolchain imports here, else ``(False, reason)`` (no exception)."""
        return True, ""

    @abc.abstractmethod
    def convert(self, fp32_onnx: Path, precision: str, out_dir: Path, calibration: np.ndarray | None = None) -> Artifact:
        """Build the artefact for ``precision`` from a float ONNX model.

        Args:
            fp32_onnx: float32 ONNX model with input ``float32 [N, ...]``.
            precision: one of ``info.precisions``.
            out_dir: folder to write into (created if missing).
            calibration: ``float32 [N, ...]`` model inputs for static quantization (ignored otherwise).

        Raises:
            voxquant.errors.ConfigError: unsupported precision.
            voxquant.errors.MissingExtraError: toolchain missing.
        """

    @abc.abstractmethod
    def load(self, artifact: Path, threads: int = 1) -> Session:
        """Load an artefact into a :class:`Session` with ``threads`` intra-op threads."""

    def op_report(self, artifact: Path) -> list[dict]:
        """Per-node report ``[{node, op, placement, reason}]``; default: nothing known."""
        return []

    def int8_coverage(self, artifact: Path, fp32_onnx: Path) -> dict:
        """The share of the model's multiply-accumulates that executes in int8 on this backend.

        Default: an ``.onnx`` artefact is read with :func:`voxquant.backends.coverage.onnx_coverage` (integer ops
        and QDQ int8 operands); any other artefact gives ``{"int8_mac_share": None, "note": "not exposed by this
        backend"}``. Backends with their own artefact format override this.

        Args:
            artifact: the built artefact (``Artifact.path``).
            fp32_onnx: the float ONNX model it was built from (for readers that need the graph's MACs).

        Returns:
            :func:`voxquant.backends.coverage.coverage_summary` dict: ``int8_mac_share`` (float in [0, 1]: 0.0 for
            fp32/fp16 artefacts; ``None`` when unknown, with ``note``), ``macs_total``, ``macs_int8``,
            ``float_compute`` ({op: node count}), ``source``, ...

        Raises:
            voxquant.errors.ModelError: the artefact is missing or unreadable.
        """
        if Path(artifact).suffix != ".onnx":
            return {"int8_mac_share": None, "note": "not exposed by this backend"}
        from voxquant.backends.coverage import onnx_coverage

        return onnx_coverage(Path(artifact))
