"""ONNX Runtime quantization recipes (``onnxruntime.quantization``).

* ``fp32``: the exported float model, unchanged.
* ``fp16``: weights and activations in float16, inputs/outputs kept float32
  (``onnxruntime.transformers.float16.convert_float_to_float16(keep_io_types=True)``).
* ``int8_dynamic``: ``quantize_dynamic``: int8 weights (per-channel), activations quantized at run time
  (``DynamicQuantizeLinear`` + ``ConvInteger``/``MatMulInteger``). On x86 without VNNI, ``ConvInteger`` is
  much slower than float convolution: the latency table shows it. ``reduce_range`` follows the same CPU rule as
  the static recipes: ``MatMulInteger`` runs u8 x s8 through the same saturating ``VPMADDUBSW`` path; measured on
  the tiny KWT (attention, 4 MatMuls per block) of the architecture study: full-range weights agreed with fp32 on
  6 % of 600 eval clips (accuracy 9 %), 7-bit weights on 95 %.
* ``int8_static_{minmax,entropy,percentile}``: ``quantize_static`` in QDQ format, int8 activations and
  per-channel int8 weights (S8S8, the combination ONNX Runtime's docs recommend for QDQ on x86), with the named
  calibration method over the calibration inputs (default 200 clips of ``dev``).
  ``reduce_range`` (7-bit weights) is switched on automatically on x86 CPUs without VNNI: there ONNX Runtime runs
  int8 convolutions with the AVX2 ``VPMADDUBSW`` instruction (u8 x s8 pairs summed into a saturating int16),
  which overflows with full-range weights; ONNX Runtime's docs ("Quantize ONNX models", section "When and why do
  I need to try U8U8?") name reduce_range or U8U8 as the fix. Measured here on the default DS-CNN: full-range
  S8S8 fell to ~15 % accuracy through the fused int8 kernels while the same QDQ graph simulated in float kept
  the fp32 accuracy.
* ``int8_static_minmax_fullrange``: the same as ``int8_static_minmax`` with full 8-bit weights forced, so the
  report shows what the saturation does on this CPU (and what an int8 target without it would run).

Source: ONNX Runtime docs, "Quantize ONNX models" (onnxruntime.ai/docs/performance/model-optimizations/
quantization.html). Options accepted by the static recipes: ``nodes_to_exclude`` (list of node names kept in
float: used by the mixed-precision search), ``percentile`` (default 99.999), ``calibration_cache`` (JSON file of
calibrated tensor ranges, ``quantize_static(calibration_cache_path=...)``: written on first use, re-used after; only
valid for the same model, calibration data and method).
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import numpy as np

from voxquant.hardware import cpu_has_vnni  # noqa: F401  (the rule lives in voxquant.hardware)
from voxquant.quant import register_recipe


class ArrayCalibrationReader:
    """``onnxruntime.quantization.CalibrationDataReader`` over an array of model inputs.

    Args:
        input_name: the model's input tensor name.
        data: ``float32 [N, ...]`` inputs; fed one clip (batch 1) at a time. Or, for a model with several inputs
            (e.g. a state-carrying streaming graph), ``{input name: float32 [N, ...]}`` with the same ``N``: sample
            ``i`` feeds ``array[i:i+1]`` of every input (``input_name`` is then ignored).
    """

    def __init__(self, input_name: str, data):
        self.input_name = input_name
        if isinstance(data, dict):
            self.data = {k: np.asarray(v, dtype=np.float32) for k, v in data.items()}
            sizes = {len(v) for v in self.data.values()}
            if len(sizes) != 1:
                raise ValueError(f"calibration inputs differ in sample count: { {k: len(v) for k, v in self.data.items()} }")
            self.n = sizes.pop()
        else:
            self.data = np.asarray(data, dtype=np.float32)
            self.n = len(self.data)
        self.i = 0

    def get_next(self):
        if self.i >= self.n:
            return None
        i = self.i
        self.i += 1
        if isinstance(self.data, dict):
            return {k: v[i : i + 1] for k, v in self.data.items()}
        return {self.input_name: self.data[i : i + 1]}

    def rewind(self):
        self.i = 0


def _input_name(path: Path) -> str:
    import onnx

    m = onnx.load(str(path), load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    return [i.name for i in m.graph.input if i.name not in inits][0]


def preprocess(fp32_onnx: Path, out: Path) -> Path:
    """``quant_pre_process``: symbolic shape inference + ORT graph optimisation (BN folded into Conv) before
    quantization, as ONNX Runtime recommends. Falls back to a copy if the pre-processor fails."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        quant_pre_process(str(fp32_onnx), str(out), skip_symbolic_shape=False)
    except Exception:  # pragma: no cover - depends on graph
        from voxquant.models.checks import copy_onnx

        copy_onnx(fp32_onnx, out)
    return out


@register_recipe("fp32", "fp32", False, "float32 reference (the exported model, unchanged)")
def fp32(fp32_onnx: Path, out: Path, calibration=None, **_):
    from voxquant.models.checks import copy_onnx

    return copy_onnx(fp32_onnx, out)  # embeds (or carries along) external data


@register_recipe("fp16", "fp16", False, "float16 weights and activations, float32 inputs/outputs")
def fp16(fp32_onnx: Path, out: Path, calibration=None, **_):
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    m = onnx.load(str(fp32_onnx))
    m16 = convert_float_to_float16(m, keep_io_types=True)
    onnx.save(m16, str(out))
    return out


@register_recipe("int8_dynamic", "int8 dynamic", False, "int8 weights (per-channel), activations quantized at run time")
def int8_dynamic(fp32_onnx: Path, out: Path, calibration=None, reduce_range: bool | None = None, **_):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as td:
        pre = preprocess(Path(fp32_onnx), Path(td) / "pre.onnx")
        quantize_dynamic(str(pre), str(out), weight_type=QuantType.QInt8, per_channel=True,
                         reduce_range=default_reduce_range() if reduce_range is None else bool(reduce_range))
    return out


@contextlib.contextmanager
def _entropy_bins(num_bins: int | None, num_quantized_bins: int = 128):
    """Make ``quantize_static``'s Entropy calibrator use ``num_bins`` histogram bins.

    ``quantize_static`` forwards only a few calibrator options (``calib_extra_options_keys`` in
    onnxruntime/quantization/quantize.py: symmetric, moving average, percentile...), never ``num_bins``; with the
    default 128 bins and 128 quantized bins the KL-divergence threshold search has a single candidate, so Entropy
    calibration came out byte-identical to MinMax. 2048 bins is the histogram size of TensorRT's entropy
    calibrator (Migacz, "8-bit Inference with TensorRT", GTC 2017), the algorithm ORT implements.
    """
    if num_bins is None:
        yield
        return
    import importlib

    q = importlib.import_module("onnxruntime.quantization.quantize")  # the module, not the same-named function

    original = q.create_calibrator

    def patched(*args, extra_options=None, **kwargs):
        opts = dict(extra_options or {})
        opts.setdefault("num_bins", num_bins)
        opts.setdefault("num_quantized_bins", num_quantized_bins)
        return original(*args, extra_options=opts, **kwargs)

    q.create_calibrator = patched
    try:
        yield
    finally:
        q.create_calibrator = original


def default_reduce_range() -> bool:
    """``reduce_range`` default for static int8 on this host: ``True`` on x86 without VNNI (see module doc)."""
    return not cpu_has_vnni()


def _static(fp32_onnx: Path, out: Path, calibration: np.ndarray, method: str, nodes_to_exclude=None, percentile: float = 99.999,
            per_channel: bool = True, reduce_range: bool | None = None, calibration_cache: Path | None = None, **_):
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    cm = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy, "percentile": CalibrationMethod.Percentile}[method]
    extra = {"CalibPercentile": percentile} if method == "percentile" else {}

    with tempfile.TemporaryDirectory() as td:
        pre = preprocess(Path(fp32_onnx), Path(td) / "pre.onnx")
        reader = ArrayCalibrationReader(_input_name(pre), calibration)
        with contextlib.redirect_stdout(io.StringIO()), _entropy_bins(2048 if method == "entropy" else None):
            quantize_static(
                str(pre), str(out), reader, quant_format=QuantFormat.QDQ, per_channel=per_channel,
                activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, calibrate_method=cm,
                reduce_range=default_reduce_range() if reduce_range is None else bool(reduce_range),
                nodes_to_exclude=list(nodes_to_exclude or []), extra_options=extra,
                # JSON of the calibrated tensor ranges: written on first use, then re-used (skips calibration);
                # the mixed-precision search re-quantizes one model many times with the same calibration
                **({"calibration_cache_path": str(calibration_cache)} if calibration_cache else {}),
            )
    return out


@register_recipe("int8_static_minmax", "int8", True, "int8 static PTQ, QDQ, per-channel weights, MinMax calibration")
def int8_static_minmax(fp32_onnx, out, calibration, **kw):
    return _static(fp32_onnx, out, calibration, "minmax", **kw)


@register_recipe("int8_static_entropy", "int8", True, "int8 static PTQ, QDQ, per-channel weights, Entropy (KL) calibration")
def int8_static_entropy(fp32_onnx, out, calibration, **kw):
    return _static(fp32_onnx, out, calibration, "entropy", **kw)


@register_recipe("int8_static_percentile", "int8", True, "int8 static PTQ, QDQ, per-channel weights, Percentile (99.999) calibration")
def int8_static_percentile(fp32_onnx, out, calibration, **kw):
    return _static(fp32_onnx, out, calibration, "percentile", **kw)


@register_recipe("int8_static_minmax_fullrange", "int8", True,
                 "int8 static PTQ as int8_static_minmax but full-range 8-bit weights (no reduce_range): exposes the "
                 "U8S8 saturation of x86 CPUs without VNNI")
def int8_static_minmax_fullrange(fp32_onnx, out, calibration, **kw):
    kw["reduce_range"] = False
    return _static(fp32_onnx, out, calibration, "minmax", **kw)


# ------------------------------------------------------------------------------------------------ in-graph front-ends

#: Op types of in-graph audio front-ends (STFT / mel / log / power) that NPUs rarely run, and ONNX Runtime's QDQ
#: quantizer never quantizes: reported wherever they appear in a quantized graph.
#: Generic arithmetic (Add, Mul, ReduceMean...) is not in the list: classifiers use it too (residual adds, global
#: average pooling); it is reported only upstream of the first quantized Conv/MatMul/Gemm.
FRONTEND_OP_TYPES = ("STFT", "DFT", "MelWeightMatrix", "HannWindow", "HammingWindow", "BlackmanWindow", "Log", "Pow",
                     "Sqrt", "Abs", "Exp", "ReduceSum", "ReduceSumSquare", "ReduceL2", "ReduceLogSumExp", "Reciprocal")
#: Ops that only move or describe data (never counted).
_PASSIVE_OPS = {"QuantizeLinear", "DequantizeLinear", "Constant", "ConstantOfShape", "Shape", "Identity", "Cast", "Size",
                "Range", "Reshape", "Unsqueeze", "Squeeze", "Transpose", "Slice", "Pad", "Concat", "Flatten", "Gather",
                "Expand", "Split"}
_QUANT_OPS = {"QLinearConv", "QLinearMatMul", "QGemm", "ConvInteger", "MatMulInteger", "QLinearAdd", "QLinearMul",
              "QLinearSoftmax", "QLinearAveragePool", "QLinearGlobalAveragePool", "QLinearConcat", "QLinearSigmoid",
              "QLinearLeakyRelu"}


def frontend_float_ops(quantized_onnx: str | Path) -> list[str]:
    """Ops of an in-graph front-end (a ``raw``-input model) that the quantized model still computes in float.

    Read statically from the QDQ (or QOperator) graph: a node is *quantized* when it is an integer op
    (``QLinearConv``, ``ConvInteger``...) or an op ONNX Runtime's QDQ quantizer handles
    (``onnxruntime.quantization.registry.QDQRegistry``: Conv, MatMul, Gemm...) whose activation input comes from a
    ``DequantizeLinear``. Listed are the compute nodes that are not quantized and either (a) lie upstream of the
    first quantized ``Conv``/``MatMul``/``Gemm`` (the front-end before the network proper: e.g. ``STFT``, ``DFT``,
    ``Pow``, ``ReduceSum``, ``Log``), or (b) have a front-end op type anywhere (:data:`FRONTEND_OP_TYPES`: a DFT
    computed as a quantized ``Conv`` with a DFT-basis weight is followed by ``Pow``/``Add``/``Sqrt``/``Log`` that
    stay float). Data-movement ops (Reshape, Transpose, Slice, Q/DQ...) are not counted.

    Args:
        quantized_onnx: the quantized ``.onnx`` file.

    Returns:
        Op types in graph order, each once (e.g. ``["Pow", "ReduceSum", "Log"]``); ``[]`` when everything
        computational is quantized. These ops stay float on the int8 model, and most NPUs do not run STFT/DFT/Log
        at all (they fall back to the CPU).

    Raises:
        ModelError: the file is not a loadable ONNX model.
    """
    import onnx
    from onnxruntime.quantization.registry import QDQRegistry

    from voxquant.errors import ModelError

    try:
        model = onnx.load(str(quantized_onnx), load_external_data=False)
    except Exception as exc:
        raise ModelError(f"not a loadable ONNX model ({str(exc).splitlines()[0][:160]})", quantized_onnx) from None
    nodes = list(model.graph.node)
    producer = {o: n for n in nodes for o in n.output}
    inits = {i.name for i in model.graph.initializer}

    def quantized(n) -> bool:
        if n.op_type in _QUANT_OPS:
            return True
        if n.op_type not in QDQRegistry:
            return False
        acts = [i for i in n.input if i and i not in inits]
        return bool(acts) and producer.get(acts[0]) is not None and producer[acts[0]].op_type == "DequantizeLinear"

    first = next((n for n in nodes if quantized(n) and n.op_type in ("Conv", "MatMul", "Gemm", "QLinearConv",
                                                                    "ConvInteger", "QLinearMatMul", "MatMulInteger",
                                                                    "QGemm")), None)
    upstream: set[int] = set()
    if first is not None:
        stack = [i for i in first.input if i]
        while stack:
            t = stack.pop()
            p = producer.get(t)
            if p is None or id(p) in upstream:
                continue
            upstream.add(id(p))
            stack.extend(i for i in p.input if i)
    out: list[str] = []
    for n in nodes:
        if n.op_type in _PASSIVE_OPS or quantized(n):
            continue
        if id(n) in upstream or n.op_type in FRONTEND_OP_TYPES:
            if n.op_type not in out:
                out.append(n.op_type)
    return out
