"""ONNX Runtime backend (CPU execution provider): runs fp32, fp16, int8 dynamic and int8 QDQ ONNX models."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from voxquant.backends.base import Artifact, Backend, BackendInfo, Session
from voxquant.errors import ModelError


def check_onnx_file(path: Path) -> None:
    """Raise :class:`ModelError` naming ``path`` if it is missing, not a loadable ONNX model, of an unsupported
    opset, or lacks its external-data file (:func:`voxquant.models.checks.check_onnx_file`)."""
    from voxquant.models.checks import check_onnx_file as _check

    _check(path)


class OrtSession(Session):
    """An ``onnxruntime.InferenceSession`` on the CPU with fixed intra-op threads.

    Args:
        path: ONNX model file.
        threads: intra-op threads (inter-op is fixed to 1, sequential execution) so latency is reproducible.
        profile: enable ONNX Runtime's per-node profiler (``end_profiling()`` returns the JSON file).
        optimization: ONNX Runtime graph optimisation level, ``"all"`` (default: QDQ pairs fused into int8
            kernels) or ``"basic"`` (no QDQ fusion: a QDQ model then runs as float ops on dequantized values,
            i.e. the exact int8 arithmetic simulated in float, the reference an integer-exact backend matches).

    Raises:
        ModelError: the file is not a loadable ONNX model (missing, not ONNX, unsupported opset, missing
            external data) or ONNX Runtime refuses it; :meth:`run` raises it when ONNX Runtime fails on the input.
    """

    def __init__(self, path: Path, threads: int = 1, profile: bool = False, optimization: str = "all"):
        import onnxruntime as ort

        check_onnx_file(path)
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.log_severity_level = 3
        if optimization == "basic":
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        if profile:
            so.enable_profiling = True
        try:
            self.sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ModelError(f"ONNX Runtime cannot load it: {str(exc).splitlines()[0][:200]}", path) from None
        inp = self.sess.get_inputs()[0]
        self.input_name = inp.name
        self.input_shape = tuple(d if isinstance(d, int) else None for d in inp.shape)
        self.input_type = inp.type
        self.output_name = self.sess.get_outputs()[0].name
        self.path = Path(path)

    def run(self, x: np.ndarray) -> np.ndarray:
        """Run ``float32 [N, ...]``; returns ``float32 [N, C]``. Models with a fixed batch of 1 run clip by clip."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self.input_shape and self.input_shape[0] == 1 and x.shape[0] != 1:
            return np.concatenate([self.run(x[i : i + 1]) for i in range(x.shape[0])], axis=0)
        try:
            y = self.sess.run([self.output_name], {self.input_name: x})[0]
        except Exception as exc:  # onnxruntime raises Fail / InvalidArgument with the node's text
            raise ModelError(f"ONNX Runtime cannot run it on input {list(x.shape)}: "
                             f"{str(exc).splitlines()[0][:200]}", self.path) from None
        return np.asarray(y, dtype=np.float32)


class OrtBackend(Backend):
    """ONNX Runtime, CPU execution provider. Quantization is done by :mod:`voxquant.quant` recipes."""

    info = BackendInfo(
        name="onnxruntime",
        argument="onnx",
        suffix=".onnx",
        precisions=("fp32", "fp16", "int8-dynamic", "int8"),
        runs_here=True,
    )

    def convert(self, fp32_onnx: Path, precision: str, out_dir: Path, calibration: np.ndarray | None = None) -> Artifact:
        """Build via the quantization recipe registry (fp32 = copy, fp16, int8-dynamic, int8 = static QDQ MinMax)."""
        from voxquant.quant import build_variant

        recipe = {"fp32": "fp32", "fp16": "fp16", "int8-dynamic": "int8_dynamic", "int8": "int8_static_minmax"}[precision]
        out = Path(out_dir) / f"{Path(fp32_onnx).stem}.{recipe}.onnx"
        path = build_variant(recipe, Path(fp32_onnx), out, calibration)
        return Artifact(path=path, backend=self.info.name, precision=precision, size_bytes=path.stat().st_size)

    def load(self, artifact: Path, threads: int = 1) -> Session:
        return OrtSession(Path(artifact), threads=threads)
