"""TensorRT backend (Jetson Orin NX): explicit-quantization QDQ ONNX export, engine build only with a GPU.

Export (always possible here):

* ``int8``: ONNX Runtime ``quantize_static`` in QDQ format with **symmetric** int8 activations
  (``ActivationSymmetric=True``: zero point 0, which TensorRT requires for Q/DQ) and per-channel symmetric int8
  weights (``WeightSymmetric=True``), biases left float (``QuantizeBias=False``: TensorRT 8.5's
  DequantizeLinear takes INT8 only, not ORT's int32 bias), MinMax calibration, after converting the float model to opset 17
  (TensorRT 8.5 on JetPack 5.1 parses opsets up to 17: onnx-tensorrt ``docs/operators.md``, release/8.5-GA);
* ``fp16`` / ``fp32``: the float model at opset 17 (TensorRT lowers precision itself with ``BuilderFlag.FP16``).

Every export is checked against the ``jetson-orin-nx`` operator table (:func:`voxquant.targets.check.check_model`).
Engine build + inference happen only when ``import tensorrt`` works *and* a CUDA GPU is visible; otherwise the
artefact's status is "export only" with that reason (``pip install tensorrt`` needs NVIDIA's index and a GPU).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from voxquant.backends.base import Artifact, Backend, BackendInfo, Session
from voxquant.errors import ConfigError, MissingExtraError

TRT_OPSET = 17


def gpu_reason() -> str | None:
    """``None`` when TensorRT imports and a CUDA GPU is visible, else why not (one line)."""
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return "tensorrt is not installed (pip install tensorrt needs NVIDIA's package index and a CUDA GPU)"
    try:
        import torch

        if not torch.cuda.is_available():
            return "no CUDA GPU visible (torch.cuda.is_available() is False)"
    except ImportError:
        return "no CUDA runtime to allocate buffers (torch with CUDA not installed)"
    return None


def to_opset(src: Path, dst: Path, opset: int = TRT_OPSET) -> Path:
    """Convert a model to ``opset`` with ``onnx.version_converter`` (copy if already at or below it)."""
    import onnx
    from onnx import version_converter

    m = onnx.load(str(src))
    cur = max((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if cur > opset:
        # onnx's 18->17 adapter keeps Reduce*'s 'noop_with_empty_axes' (new in 18), which opset 17 rejects:
        # drop it where it has its default value 0 (the only value the exporters emit for KWS models).
        for n in m.graph.node:
            if n.op_type.startswith("Reduce") and n.op_type != "ReduceSum":
                for a in list(n.attribute):
                    if a.name == "noop_with_empty_axes" and a.i == 0:
                        n.attribute.remove(a)
        m = version_converter.convert_version(m, opset)
        onnx.checker.check_model(m)
        onnx.save(m, str(dst))
    else:
        shutil.copyfile(src, dst)
    return Path(dst)


def qdq_symmetric(fp32_onnx: Path, out: Path, calibration: np.ndarray, per_channel: bool = True,
                  nodes_to_exclude=None) -> Path:
    """Explicit-quantization QDQ model for TensorRT (symmetric int8 activations and per-channel weights)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    from voxquant.quant.ort import ArrayCalibrationReader, _input_name, preprocess

    with tempfile.TemporaryDirectory() as td:
        pre = preprocess(Path(fp32_onnx), Path(td) / "pre.onnx")
        quantize_static(
            str(pre), str(out), ArrayCalibrationReader(_input_name(pre), calibration), quant_format=QuantFormat.QDQ,
            per_channel=per_channel, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=list(nodes_to_exclude or []),
            extra_options={"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False},
        )
    return Path(out)


class TrtSession(Session):  # pragma: no cover - needs a GPU
    """TensorRT engine session (CUDA buffers through torch). Built only where :func:`gpu_reason` is ``None``."""

    def __init__(self, engine_path: Path):
        import tensorrt as trt
        import torch

        self.torch = torch
        logger = trt.Logger(trt.Logger.WARNING)
        self.engine = trt.Runtime(logger).deserialize_cuda_engine(Path(engine_path).read_bytes())
        self.ctx = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.in_name = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT][0]
        self.out_name = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT][0]
        self.input_name = self.in_name
        self.input_shape = tuple(self.engine.get_tensor_shape(self.in_name))

    def run(self, x: np.ndarray) -> np.ndarray:
        torch = self.torch
        outs = []
        for i in range(x.shape[0]):
            xi = torch.from_numpy(np.ascontiguousarray(x[i : i + 1], dtype=np.float32)).cuda()
            self.ctx.set_input_shape(self.in_name, tuple(xi.shape))
            y = torch.empty(tuple(self.ctx.get_tensor_shape(self.out_name)), dtype=torch.float32, device="cuda")
            self.ctx.set_tensor_address(self.in_name, xi.data_ptr())
            self.ctx.set_tensor_address(self.out_name, y.data_ptr())
            stream = torch.cuda.current_stream()
            self.ctx.execute_async_v3(stream.cuda_stream)
            stream.synchronize()
            outs.append(y.cpu().numpy().reshape(1, -1))
        return np.concatenate(outs, axis=0)


def build_engine(onnx_path: Path, engine_path: Path, precision: str) -> Path:  # pragma: no cover - needs a GPU
    """Build a serialized TensorRT engine (``int8`` from the QDQ model = explicit quantization; ``fp16``)."""
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    if hasattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH"):
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errs = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT ONNX parser failed: {errs}")
    config = builder.create_builder_config()
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    if precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)
        config.set_flag(trt.BuilderFlag.FP16)
    inp = network.get_input(0)
    shape = list(inp.shape)
    if any(d < 0 for d in shape):
        prof = builder.create_optimization_profile()
        fixed = [1 if d < 0 else d for d in shape]
        prof.set_shape(inp.name, fixed, fixed, fixed)
        config.add_optimization_profile(prof)
    ser = builder.build_serialized_network(network, config)
    if ser is None:
        raise RuntimeError("TensorRT engine build failed")
    Path(engine_path).write_bytes(bytes(ser))
    return Path(engine_path)


class TensorRtBackend(Backend):
    """TensorRT for Jetson: QDQ export + operator check here; engine build/run only with TensorRT and a GPU."""

    info = BackendInfo(name="tensorrt", argument="tensorrt", suffix=".onnx", precisions=("fp16", "int8"),
                       runs_here=False, needs_gpu=True, extra=None, target="jetson-orin-nx")

    def available(self) -> tuple[bool, str]:
        """Export is always available (ONNX Runtime); engine build availability is :func:`gpu_reason`."""
        return True, ""

    def engine_available(self) -> tuple[bool, str]:
        why = gpu_reason()
        return (why is None), (why or "")

    def convert(self, fp32_onnx: Path, precision: str, out_dir: Path, calibration: np.ndarray | None = None) -> Artifact:
        """Write the TensorRT-ready ONNX (and the engine when possible). ``artifact.extra``: ``check`` (the
        jetson-orin-nx operator report as a dict), ``engine`` (path or ``None``), ``status`` (``"engine built"``
        or ``"export only"``), ``reason``."""
        from voxquant.targets.check import check_model

        if precision not in self.info.precisions:
            raise ConfigError(f"tensorrt cannot build precision '{precision}'", hint=f"choose from {', '.join(self.info.precisions)}")
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        stem = Path(fp32_onnx).stem
        f17 = to_opset(Path(fp32_onnx), out_dir / f"{stem}.trt-fp32-opset{TRT_OPSET}.onnx")
        if precision == "int8":
            if calibration is None or len(calibration) == 0:
                raise ConfigError("tensorrt int8 (QDQ export) needs calibration inputs")
            out = qdq_symmetric(f17, out_dir / f"{stem}.trt-int8-qdq.onnx", calibration)
        else:
            out = out_dir / f"{stem}.trt-fp16.onnx"
            shutil.copyfile(f17, out)
        rep = check_model(out, "jetson-orin-nx")
        extra = {"check": rep.to_dict(), "check_summary": rep.summary(), "engine": None}
        why = gpu_reason()
        if why is None:  # pragma: no cover - needs a GPU
            eng = build_engine(out, out.with_suffix(".engine"), precision)
            extra.update(engine=str(eng), status="engine built", reason="")
        else:
            extra.update(status="export only", reason=why)
        return Artifact(path=out, backend=self.info.name, precision=precision, size_bytes=out.stat().st_size,
                        log=rep.summary(), extra=extra)

    def load(self, artifact: Path, threads: int = 1) -> Session:
        why = gpu_reason()
        if why is not None:
            raise MissingExtraError("tensorrt", "tensorrt", f"Running a TensorRT engine ({why})")
        eng = Path(artifact).with_suffix(".engine")  # pragma: no cover
        return TrtSession(eng)  # pragma: no cover

    def op_report(self, artifact: Path) -> list[dict]:
        from voxquant.targets.check import check_model

        rep = check_model(artifact, "jetson-orin-nx")
        return [{"node": f.node, "op": f.op, "placement": f.placement, "reason": "; ".join(f.reasons)}
                for f in rep.findings if f.placement != "folded"]
