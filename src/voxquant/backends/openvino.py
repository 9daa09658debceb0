"""OpenVINO + NNCF backend (Intel's CPU runtime), and NNCF's accuracy-controlled quantization as a comparator.

* ``fp32``: ``ov.convert_model(onnx)`` then ``ov.save_model(..., compress_to_fp16=False)`` (``.xml`` + ``.bin``);
* ``fp16``: the same with ``compress_to_fp16=True`` (fp16 weights; computed in f16 only on a CPU with fp16
  arithmetic, else in f32: voxquant sets the precision hint, see below);
* ``int8``: ``nncf.quantize(model, nncf.Dataset(calibration))`` (default MIXED preset: symmetric int8 weights,
  asymmetric activations where needed, per-channel weights);
* :func:`quantize_with_accuracy_control`: ``nncf.quantize_with_accuracy_control`` with a validation function
  (accuracy on labelled dev features) and ``max_drop``; NNCF reverts the most harmful layers to float until the
  drop is within bounds. Exposed for the mixed-precision study to compare against.

Inference: ``ov.Core().compile_model(xml, "CPU", {"INFERENCE_NUM_THREADS": n, "NUM_STREAMS": 1,
"INFERENCE_PRECISION_HINT": p})``, always with an explicit ``p``. Left to itself the CPU plugin computes in **bf16**
on CPUs with AVX512-BF16/AMX (and maps an ``f16`` hint to bf16 on CPUs without fp16 arithmetic), so an "fp32"
row would not be fp32 (:mod:`voxquant.hardware`). ``p`` is ``f32`` for fp32 and for the float layers of int8;
``f16`` for fp16 only where the CPU has fp16 arithmetic, else ``f32`` (fp16 weights, f32 compute: recorded). The
chosen hint is written into the IR (``rt_info["voxquant"]["inference_precision"]``) so every later load of the
artefact compiles it the same way, and :func:`runtime_precisions` reads back what each layer executed in.
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


_RT_KEY = ["voxquant", "inference_precision"]


def inference_precision_for(precision: str) -> str:
    """The CPU plugin's ``INFERENCE_PRECISION_HINT`` for a voxquant precision on this CPU.

    ``fp32``/``int8`` -> ``"f32"``; ``fp16`` -> ``"f16"`` where the CPU has fp16 arithmetic
    (:func:`voxquant.hardware.cpu_isa`), else ``"f32"``; ``bf16`` -> ``"bf16"``.
    """
    from voxquant.hardware import cpu_isa

    if precision == "bf16":
        return "bf16"
    if precision == "fp16" and cpu_isa()["fp16_arithmetic"]:
        return "f16"
    return "f32"


def _stored_hint(model) -> str | None:
    try:
        return str(model.get_rt_info(_RT_KEY).astype(str)) if model.has_rt_info(_RT_KEY) else None
    except Exception:  # pragma: no cover - older OpenVINO without has_rt_info
        return None


def compile_cpu(path_or_model, threads: int = 1, inference_precision: str | None = None, latency: bool = True):
    """Compile for the CPU plugin with an explicit inference precision (never the plugin's bf16 default).

    Args:
        path_or_model: ``.xml``/``.onnx`` path or an ``ov.Model``.
        threads: ``INFERENCE_NUM_THREADS``.
        inference_precision: ``"f32"``, ``"f16"`` or ``"bf16"``; ``None`` = the hint stored in the IR by
            :func:`to_ir`/:func:`nncf_quantize`, else ``"f32"``.

    Returns:
        ``(compiled_model, hint_used: str)``.
    """
    ov = _ov()
    core = ov.Core()
    model = core.read_model(str(path_or_model)) if isinstance(path_or_model, (str, Path)) else path_or_model
    hint = inference_precision or _stored_hint(model) or "f32"
    cfg = {"INFERENCE_NUM_THREADS": int(threads), "INFERENCE_PRECISION_HINT": hint}
    if latency:
        cfg.update({"NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY"})
    return core.compile_model(model, "CPU", cfg), hint


class OvSession(Session):
    """OpenVINO CPU session with ``threads`` inference threads, one stream and an explicit inference precision.

    Args:
        path: ``.xml`` IR (``.bin`` beside it) or ``.onnx``.
        threads: ``INFERENCE_NUM_THREADS``.
        inference_precision: see :func:`compile_cpu` (default: the hint stored in the IR, else ``"f32"``).

    Attributes:
        inference_precision: the hint the model was compiled with.

    Raises:
        ModelError: OpenVINO cannot read/compile the model.
    """

    def __init__(self, path: Path, threads: int = 1, inference_precision: str | None = None):
        _ov()
        path = Path(path)
        if not path.is_file():
            raise ModelError("model file not found", path)
        try:
            self.compiled, self.inference_precision = compile_cpu(path, threads, inference_precision)
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
    """Convert ONNX to OpenVINO IR (``.xml`` + ``.bin``), fp16 weights when ``fp16``; the inference precision for
    later loads (:func:`inference_precision_for`) is stored in the IR."""
    ov = _ov()
    model = ov.convert_model(str(fp32_onnx))
    model.set_rt_info(inference_precision_for("fp16" if fp16 else "fp32"), _RT_KEY)
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
    q.set_rt_info("f32", _RT_KEY)  # layers NNCF left float compute in f32, not the plugin's bf16 default
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
    model.set_rt_info("f32", _RT_KEY)
    q = nncf.quantize_with_accuracy_control(
        model, calibration_dataset=nncf.Dataset(cal), validation_dataset=nncf.Dataset(val_items, lambda it: it[0]),
        validation_fn=validate, max_drop=max_drop, drop_type=dt, subset_size=min(subset_size, len(cal)),
    )
    out_xml = Path(out_xml)
    out_xml.parent.mkdir(parents=True, exist_ok=True)
    q.set_rt_info("f32", _RT_KEY)
    ov.save_model(q, str(out_xml), compress_to_fp16=False)
    acc_fp = validate(compile_cpu(model, 1, "f32", latency=False)[0], val_items)
    acc_q = validate(compile_cpu(out_xml, 1, "f32", latency=False)[0], val_items)
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
        rp = runtime_precisions(out)
        hint = compile_cpu(out, 1)[1]
        extra = {"runtime_precisions": rp, "inference_precision": hint}
        if precision == "int8":
            flt = [f"{r['node']} ({r['op']})" for r in rp if r["precision"] in ("f32", "f16", "bf16")]
            extra["check_summary"] = (f"OpenVINO CPU: {len(rp) - len(flt)}/{len(rp)} compute layers run int8"
                                      + (f"; float ({hint}): {', '.join(flt)}" if flt else ""))
        else:
            ran = sorted({r["precision"] for r in rp})
            extra["check_summary"] = (f"OpenVINO CPU: compute layers ran in {', '.join(ran) or '?'} "
                                      f"(INFERENCE_PRECISION_HINT={hint}"
                                      + ("; fp16 weights, f32 arithmetic: this CPU has no fp16 arithmetic)"
                                         if precision == "fp16" and hint == "f32" else ")"))
        return Artifact(path=out, backend=self.info.name, precision=precision, size_bytes=_size(out), extra=extra)

    def load(self, artifact: Path, threads: int = 1) -> Session:
        return OvSession(Path(artifact), threads=threads)

    def int8_coverage(self, artifact: Path, fp32_onnx: Path) -> dict:
        """Share of MACs run by int8 kernels: MACs from the IR's compute ops (batch 1), executed precision from
        the CPU plugin's execution graph compiled as :class:`OvSession` compiles it
        (:func:`voxquant.backends.coverage.openvino_macs`). ``fp32_onnx`` is not needed."""
        from voxquant.backends.coverage import coverage_summary, openvino_macs

        return coverage_summary(openvino_macs(Path(artifact)), source=(
            f"OpenVINO CPU plugin: MACs from the IR {Path(artifact).name} (batch 1), precision = runtimePrecision "
            "of the execution-graph layer (u8/i8 = int8)"))

    def op_report(self, artifact: Path) -> list[dict]:
        """Per compute node of the compiled model: the CPU plugin's runtime precision (u8/i8 = int8 kernel)."""
        return [{"node": r["node"], "op": r["op"], "placement": "cpu", "precision": r["precision"],
                 "reason": f"runtime precision {r['precision']}"} for r in runtime_precisions(Path(artifact))]


_COMPUTE = ("Convolution", "GroupConvolution", "FullyConnected", "MatMul", "RNNSeq", "RNNCell", "Deconvolution")


def runtime_precisions(model: Path, threads: int = 1, inference_precision: str | None = None) -> list[dict]:
    """``[{node, op, precision}]`` for the compute layers of the compiled CPU model (OpenVINO execution graph,
    ``rt_info['layerType']`` / ``['runtimePrecision']`` / ``['primitiveType']``): ``u8``/``i8`` = int8 kernel,
    ``f32``/``bf16``/``f16`` = the arithmetic's float type (fp16 weights fed to an ``*_f32`` kernel count as f32,
    with ``"weights": "f16"``). Compiled exactly as :class:`OvSession` compiles it (same inference precision)."""
    compiled = compile_cpu(model, threads, inference_precision, latency=False)[0]
    rows = []
    for op in compiled.get_runtime_model().get_ordered_ops():
        rt = op.get_rt_info()
        layer = rt["layerType"].astype(str) if "layerType" in rt else op.get_type_name()
        if layer in _COMPUTE:
            prec = rt["runtimePrecision"].astype(str) if "runtimePrecision" in rt else "?"
            prim = rt["primitiveType"].astype(str) if "primitiveType" in rt else ""
            row = {"node": op.get_friendly_name(), "op": layer, "precision": prec, "primitive": prim}
            # fp16 weights decompressed into an f32 kernel report runtimePrecision f16; the arithmetic is f32
            if prec in ("f16", "bf16") and prim.endswith("_f32"):
                row.update(precision="f32", weights=prec)
            rows.append(row)
    return rows
