"""OpenVINO + NNCF backend (Intel's CPU runtime), and NNCF's accuracy-controlled quantization as a comparator.

* ``fp32``: ``ov.convert_model(onnx)`` then ``ov.save_model(..., compress_to_fp16=False)`` (``.xml`` + ``.bin``);
* ``fp16``: the same with ``compress_to_fp16=True`` (fp16 weights; on this AVX2 CPU OpenVINO still computes in
  f32: the CPU plugin's default inference precision is f32 without AVX512-BF16/AMX);
* ``int8``: ``nncf.quantize(model, nncf.Dataset(calibration))`` (default MIXED preset: symmetric int8 weights,
  asymmetric activations where needed, per-channel weights);
* :func:`quantize_with_accuracy_control`: ``nncf.quantize_with_accuracy_control`` with a validation function
  (accuracy on labelled dev features) and ``max_drop``; NNCF reverts the most harmful layers to float until the
  drop is within bounds. Exposed for the mixed-precision study to compare against.

Inference: ``ov.Core().compile_model(xml, "CPU", {"INFERENCE_NUM_THREADS": n, "NUM_STREAMS": 1})``.
Sources: OpenVINO docs "Model conversion" / "Inference with OpenVINO Runtime"; NNCF docs "Post-training
Quantization" and "Quantization with accuracy control" (docs.openvino.ai, 2026.x).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from voxquant.backends.base import Artifact, Backend, BackendInfo, Session
from voxquant.errors import ConfigError, ModelError, require


def _ov():
    return require("openvino", "openvino", "The OpenVINO backend")


def _nncf():
    return require("nncf", "openvino", "NNCF quantization")


def _size(xml: Path) -> int:
    xml = Path(xml)
    return xml.stat().st_size + (xml.with_suffix(".bin").stat().st_size if xml.with_suffix(".bin").exists() else 0)


class OvSession(Session):
    """OpenVINO CPU session with ``threads`` inference threads and one stream.

    Args:
        path: ``.xml`` IR (``.bin`` beside it) or ``.onnx``.
        threads: ``INFERENCE_NUM_THREADS``.

    Raises:
        ModelError: OpenVINO cannot read/compile the model.
    """

    def __init__(self, path: Path, threads: int = 1):
        ov = _ov()
        path = Path(path)
        if not path.is_file():
            raise ModelError("model file not found", path)
        core = ov.Core()
        try:
            self.compiled = core.compile_model(str(path), "CPU", {"INFERENCE_NUM_THREADS": int(threads), "NUM_STREAMS": 1,
                                                                  "PERFORMANCE_HINT": "LATENCY"})
        except Exception as exc:
            raise ModelError(f"OpenVINO cannot compile it: {str(exc).splitlines()[0][:200]}", path) from None
        inp = self.compiled.input(0)
        self.input_name = inp.get_any_name()
        ps = inp.get_partial_shape()
        self.input_shape = tuple(d.get_length() if d.is_static else None for d in ps)
        self.request = self.compiled.create_infer_request()
        self.output = self.compiled.output(0)

    def run(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self.input_shape and self.input_shape[0] == 1 and x.shape[0] != 1:
            return np.concatenate([self.run(x[i : i + 1]) for i in range(x.shape[0])], axis=0)
        res = self.request.infer({0: x})
        return np.asarray(res[self.output], dtype=np.float32)


def to_ir(fp32_onnx: Path, out_xml: Path, fp16: bool = False) -> Path:
    """Convert ONNX to OpenVINO IR (``.xml`` + ``.bin``)."""
    ov = _ov()
    model = ov.convert_model(str(fp32_onnx))
    out_xml = Path(out_xml)
    out_xml.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, str(out_xml), compress_to_fp16=fp16)
    return out_xml


def nncf_quantize(fp32_onnx: Path, out_xml: Path, calibration: np.ndarray, subset_size: int = 300, **kw) -> Path:
    """``nncf.quantize`` on the OpenVINO model with ``calibration`` (``float32 [N, ...]``, fed one clip at a time)."""
    ov = _ov()
    nncf = _nncf()
    model = ov.convert_model(str(fp32_onnx))
    cal = [np.asarray(c[None], dtype=np.float32) for c in np.asarray(calibration, dtype=np.float32)]
    q = nncf.quantize(model, nncf.Dataset(cal), subset_size=min(subset_size, len(cal)), **kw)
    ov.save_model(q, str(out_xml), compress_to_fp16=False)
    return Path(out_xml)


def quantize_with_accuracy_control(fp32_onnx: Path, out_xml: Path, calibration: np.ndarray, dev_x: np.ndarray,
                                   dev_y: np.ndarray, max_drop: float = 0.01, subset_size: int = 300,
                                   drop_type: str = "absolute") -> dict:
    """NNCF accuracy-controlled int8 quantization (the comparator for voxquant's mixed-precision search).

    Args:
        fp32_onnx: float ONNX model.
        out_xml: where to write the quantized IR.
        calibration: ``float32 [N, ...]`` calibration inputs.
        dev_x, dev_y: labelled validation inputs ``float32 [M, ...]`` and ``int64 [M]`` class ids (a dev subset;
            never eval).
        max_drop: allowed accuracy drop as a fraction (0.01 = 1 percentage point), ``drop_type`` ``"absolute"``
            or ``"relative"``.

    Returns:
        ``{"path", "size_bytes", "accuracy_fp32", "accuracy_int8", "drop_pp", "max_drop", "float_nodes":
        [compute nodes the CPU plugin runs in float], "n_fake_quantize", "runtime_precisions"}`` (accuracies measured on the dev
        subset with the compiled models, fractions in [0, 1]).
    """
    ov = _ov()
    nncf = _nncf()
    model = ov.convert_model(str(fp32_onnx))
    cal = [np.asarray(c[None], dtype=np.float32) for c in np.asarray(calibration, dtype=np.float32)]
    val_items = [(np.asarray(x[None], dtype=np.float32), int(y)) for x, y in zip(dev_x, dev_y)]

    def validate(compiled, data) -> float:
        out = compiled.output(0)
        correct = n = 0
        for x, y in data:
            p = compiled(x)[out]
            correct += int(int(np.argmax(p)) == y)
            n += 1
        return correct / max(n, 1)

    dt = nncf.DropType.ABSOLUTE if drop_type == "absolute" else nncf.DropType.RELATIVE
    q = nncf.quantize_with_accuracy_control(
        model, calibration_dataset=nncf.Dataset(cal), validation_dataset=nncf.Dataset(val_items, lambda it: it[0]),
        validation_fn=validate, max_drop=max_drop, drop_type=dt, subset_size=min(subset_size, len(cal)),
    )
    out_xml = Path(out_xml)
    out_xml.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(q, str(out_xml), compress_to_fp16=False)
    core = ov.Core()
    acc_fp = validate(core.compile_model(model, "CPU"), val_items)
    acc_q = validate(core.compile_model(str(out_xml), "CPU"), val_items)
    fq = [op for op in q.get_ordered_ops() if op.get_type_name() == "FakeQuantize"]
    float_nodes = [r["node"] for r in runtime_precisions(out_xml) if r["precision"] in ("f32", "f16", "bf16")]
    return {"path": str(out_xml), "size_bytes": _size(out_xml), "accuracy_fp32": acc_fp, "accuracy_int8": acc_q,
            "drop_pp": 100 * (acc_fp - acc_q), "max_drop": max_drop, "float_nodes": float_nodes, "n_fake_quantize": len(fq),
            "runtime_precisions": runtime_precisions(out_xml)}


class OpenVinoBackend(Backend):
    """OpenVINO CPU runtime with NNCF int8 (see the module docstring)."""

    info = BackendInfo(name="openvino", argument="openvino", suffix=".xml", precisions=("fp32", "fp16", "int8"),
                       runs_here=True, extra="openvino", target="cpu-x86")

    def available(self) -> tuple[bool, str]:
        try:
            _ov()
            _nncf()
        except Exception as exc:
            return False, str(exc)
        return True, ""

    def convert(self, fp32_onnx: Path, precision: str, out_dir: Path, calibration: np.ndarray | None = None) -> Artifact:
        if precision not in self.info.precisions:
            raise ConfigError(f"openvino cannot build precision '{precision}'", hint=f"choose from {', '.join(self.info.precisions)}")
        out = Path(out_dir) / f"{Path(fp32_onnx).stem}.openvino-{precision}.xml"
        out.parent.mkdir(parents=True, exist_ok=True)
        if precision == "int8":
            if calibration is None or len(calibration) == 0:
                raise ConfigError("openvino int8 (nncf.quantize) needs calibration inputs")
            nncf_quantize(Path(fp32_onnx), out, calibration)
        else:
            to_ir(Path(fp32_onnx), out, fp16=(precision == "fp16"))
        extra = {}
        if precision == "int8":
            rp = runtime_precisions(out)
            flt = [f"{r['node']} ({r['op']})" for r in rp if r["precision"] in ("f32", "f16", "bf16")]
            extra = {"runtime_precisions": rp,
                     "check_summary": f"OpenVINO CPU: {len(rp) - len(flt)}/{len(rp)} compute layers run int8"
                                      + (f"; float: {', '.join(flt)}" if flt else "")}
        return Artifact(path=out, backend=self.info.name, precision=precision, size_bytes=_size(out), extra=extra)

    def load(self, artifact: Path, threads: int = 1) -> Session:
        return OvSession(Path(artifact), threads=threads)

    def op_report(self, artifact: Path) -> list[dict]:
        """Per compute node of the compiled model: the CPU plugin's runtime precision (u8/i8 = int8 kernel)."""
        return [{"node": r["node"], "op": r["op"], "placement": "cpu", "precision": r["precision"],
                 "reason": f"runtime precision {r['precision']}"} for r in runtime_precisions(Path(artifact))]


_COMPUTE = ("Convolution", "GroupConvolution", "FullyConnected", "MatMul", "RNNSeq", "RNNCell", "Deconvolution")


def runtime_precisions(model: Path, threads: int = 1) -> list[dict]:
    """``[{node, op, precision}]`` for the compute layers of the compiled CPU model (OpenVINO execution graph,
    ``rt_info['layerType']`` / ``['runtimePrecision']``): ``u8``/``i8`` = int8 kernel, ``f32`` = float."""
    ov = _ov()
    compiled = ov.Core().compile_model(str(model), "CPU", {"INFERENCE_NUM_THREADS": threads})
    rows = []
    for op in compiled.get_runtime_model().get_ordered_ops():
        rt = op.get_rt_info()
        layer = rt["layerType"].astype(str) if "layerType" in rt else op.get_type_name()
        if layer in _COMPUTE:
            prec = rt["runtimePrecision"].astype(str) if "runtimePrecision" in rt else "?"
            rows.append({"node": op.get_friendly_name(), "op": layer, "precision": prec})
    return rows
