"""Per-layer quantization sensitivity (ONNX Runtime static int8; RKNN's per-layer cosine when available).

For a float ONNX model, calibration inputs and a labelled set of *slices* (clean, noise, reverb... of ``dev``
clips; never ``eval``), every quantizable layer ``l`` is measured two ways with ONNX Runtime's static QDQ
quantizer (``nodes_to_exclude``):

* **exclude-one** (``mode="exclude"``): quantize every layer except ``l``: how much of the int8 loss keeping
  ``l`` in float recovers (the ranking the mixed-precision search uses);
* **only-one** (``mode="only"``): quantize ``l`` alone: how much ``l`` hurts by itself.

Metrics per variant and slice: top-1 accuracy, drop vs fp32 in percentage points
(``100 * (acc_fp32 - acc_variant)``), and the mean KL divergence ``KL(p_fp32 || p_variant)`` (nats) of the
softmax outputs over the slice's clips, which moves even when no top-1 decision flips.

"Layers" are the nodes the all-int8 model actually quantizes: nodes of the pre-processed float graph (the graph
``quantize_static`` sees after ``quant_pre_process``: BN folded into Conv) that consume a ``DequantizeLinear``
output in the QDQ model (Conv, Gemm, MatMul, Add, ...; ``GRU``/``LSTM`` never appear: ONNX Runtime does not
quantize them in static mode). A layer is named by its weight initializer (e.g. ``blocks.3.weight`` ->
``blocks.3``) when it has one, else by its node name without the exporter's ``node_`` prefix.

RKNN (:mod:`voxquant.backends.rknn`): when its venv is ready, :func:`rknn_layer_cosines` adds RKNN Toolkit2's
``accuracy_analysis`` per-layer cosine similarity (int8 simulator vs float, "entire" = with the error of all
previous layers, "single" = this layer alone) for one calibration clip.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Never candidates: activations ONNX Runtime's QDQ fusion folds into the previous quantized node, Q/DQ themselves,
#: and data-movement ops that ONNX Runtime runs directly on int8 (no arithmetic, nothing to gain in float).
_FOLDED = {"Relu", "Clip", "QuantizeLinear", "DequantizeLinear", "Reshape", "Transpose", "Gather", "Squeeze",
           "Unsqueeze", "Flatten", "Slice", "Split", "Expand", "Concat", "Shape", "Identity", "MaxPool", "Resize"}


@dataclass
class SliceSet:
    """A labelled evaluation set made of named slices of the same clips.

    Attributes:
        x: ``{slice_name: float32 [N, ...]}`` model inputs (every slice has the same N clips, same order).
        y: ``int64 [N]`` labels.
    """

    x: dict
    y: np.ndarray

    def __post_init__(self):
        self.y = np.asarray(self.y, dtype=np.int64)
        for k, v in self.x.items():
            if len(v) != len(self.y):
                raise ValueError(f"slice {k!r} has {len(v)} inputs for {len(self.y)} labels")

    @property
    def names(self) -> list[str]:
        return list(self.x)

    def subset(self, idx) -> "SliceSet":
        """The same slices restricted to clips ``idx`` (``int [M]``)."""
        idx = np.asarray(idx)
        return SliceSet({k: v[idx] for k, v in self.x.items()}, self.y[idx])


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def kl_divergence(ref_logits: np.ndarray, var_logits: np.ndarray) -> float:
    """Mean over clips of ``KL(softmax(ref) || softmax(var))`` in nats (``float [N, C]`` logits each)."""
    p = np.clip(_softmax(np.asarray(ref_logits, np.float64)), 1e-12, 1.0)
    q = np.clip(_softmax(np.asarray(var_logits, np.float64)), 1e-12, 1.0)
    return float(np.mean(np.sum(p * (np.log(p) - np.log(q)), axis=1)))


def predict_slices(model: Path, data: SliceSet, threads: int = 2, batch: int = 256) -> dict:
    """Logits ``{slice: float32 [N, C]}`` of an ONNX model (ONNX Runtime, fused kernels) on every slice."""
    from voxquant.backends.onnxruntime import OrtSession

    sess = OrtSession(Path(model), threads=threads)
    return {k: np.concatenate([sess.run(x[i : i + batch]) for i in range(0, len(x), batch)]) for k, x in data.x.items()}


def compare(ref: dict, var: dict, y: np.ndarray) -> dict:
    """Per-slice accuracy, drop (pp) and KL of ``var`` logits against ``ref`` logits.

    Returns:
        ``{slice: {"accuracy", "ref_accuracy", "drop", "kl"}}`` plus ``"_worst"`` (max drop), ``"_worst_slice"``
        and ``"_mean"`` (mean drop over slices, = drop of the pooled accuracy since slices have equal size).
    """
    out = {}
    for k in ref:
        a_ref = float((ref[k].argmax(1) == y).mean())
        a_var = float((var[k].argmax(1) == y).mean())
        out[k] = {"accuracy": a_var, "ref_accuracy": a_ref, "drop": 100.0 * (a_ref - a_var), "kl": kl_divergence(ref[k], var[k])}
    drops = {k: v["drop"] for k, v in out.items()}
    worst = max(drops, key=drops.get)
    out["_worst"] = drops[worst]
    out["_worst_slice"] = worst
    out["_mean"] = float(np.mean(list(drops.values())))
    out["_kl"] = float(np.mean([v["kl"] for k, v in out.items() if not k.startswith("_")]))
    return out


def preprocessed(fp32_onnx: Path, out: Path) -> Path:
    """The graph ``quantize_static`` quantizes (ONNX Runtime's ``quant_pre_process``), whose node names
    ``nodes_to_exclude`` refers to."""
    from voxquant.quant.ort import preprocess

    return preprocess(Path(fp32_onnx), Path(out))


def quantized_layers(pre_onnx: Path, qdq_onnx: Path) -> list[dict]:
    """Layers of ``pre_onnx`` that the QDQ model ``qdq_onnx`` quantizes (consume a DequantizeLinear output).

    Returns:
        ``[{"node", "op", "layer"}]`` in graph order (``layer`` = weight name without ``.weight``, else node name).
    """
    import onnx

    pre = onnx.load(str(pre_onnx), load_external_data=False)
    q = onnx.load(str(qdq_onnx), load_external_data=False)
    dq_out = {o for n in q.graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    q_nodes = {n.name: n for n in q.graph.node}
    inits = {i.name for i in pre.graph.initializer}
    rows = []
    for n in pre.graph.node:
        if n.op_type in _FOLDED or n.name not in q_nodes:
            continue
        if any(i in dq_out for i in q_nodes[n.name].input):  # in the all-int8 model, every quantized node has one
            w = next((i for i in n.input[1:] if i in inits and i.endswith(".weight")), None)
            label = w[: -len(".weight")] if w else (n.name[len("node_"):] if n.name.startswith("node_") else n.name)
            rows.append({"node": n.name, "op": n.op_type, "layer": label})
    return rows


#: ONNX Runtime kernels that compute in integers, mapped to the op they implement.
_INT_KERNELS = {"QLinearConv": "Conv", "QLinearMatMul": "MatMul", "QGemm": "Gemm", "ConvInteger": "Conv",
                "MatMulInteger": "MatMul", "DynamicQuantizeMatMul": "MatMul", "MatMulIntegerToFloat": "MatMul",
                "DynamicQuantizeLSTM": "LSTM", "QAttention": "Attention"}
#: ONNX Runtime fused float kernels, mapped to the op they implement.
_FLOAT_FUSED = {"FusedConv": "Conv", "FusedMatMul": "MatMul", "FusedGemm": "Gemm", "BiasGelu": "Gelu", "FastGelu": "Gelu",
                "SkipLayerNormalization": "LayerNormalization", "SkipSimplifiedLayerNormalization": "LayerNormalization"}
#: Not counted: quantization, data movement and shape ops, and cheap activations ORT runs on either type.
_NOT_COUNTED = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "Reshape", "Transpose", "Flatten",
                "Squeeze", "Unsqueeze", "Shape", "Gather", "Slice", "Concat", "Constant", "Cast", "Identity", "Expand",
                "Split", "ConstantOfShape", "Range", "Relu", "Clip", "Dropout", "MaxPool", "ReorderInput",
                "ReorderOutput"}


def float_ops(model: Path) -> dict:
    """Which compute ops ONNX Runtime (CPU) really runs in float vs in integer kernels, by op type.

    The model is loaded with graph optimisation "extended" (the QDQ fusions) and the optimised graph ONNX Runtime
    executes is read back (``SessionOptions.optimized_model_filepath``): ``QLinearConv``/``QLinearMatMul``/``QGemm``/
    ``QLinear*``/``ConvInteger``/``MatMulInteger``... count as int8; any other compute node (``Conv``, ``FusedConv``,
    ``MatMul``, ``LayerNormalization``, ``Softmax``, ``GRU``, ``Add``...) runs in float - including a node that
    has Q/DQ around it but no integer kernel (e.g. ``LayerNormalization``). A layer kept in float by
    ``nodes_to_exclude`` counts as float. Quantize/dequantize, shape and layout ops and Relu/Clip/MaxPool are not
    counted. Fused kernels are reported under the op they implement (``FusedConv`` -> ``Conv``,
    ``QLinearSoftmax`` -> ``Softmax``).

    Returns:
        ``{"float": {op: n}, "int8": {op: n}}``.

    Raises:
        ModelError: ONNX Runtime cannot load the model.
    """
    import os
    import tempfile as _tf

    import onnx
    import onnxruntime as ort

    from voxquant.errors import ModelError

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    so.log_severity_level = 3
    fd, opt = _tf.mkstemp(suffix=".onnx")
    os.close(fd)
    try:
        so.optimized_model_filepath = opt
        try:
            ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ModelError(f"ONNX Runtime cannot load it: {str(exc).splitlines()[0][:200]}", model) from None
        m = onnx.load(opt)
    finally:
        os.unlink(opt)
    fl: dict = {}
    it: dict = {}
    for n in m.graph.node:
        op = n.op_type
        if op in _NOT_COUNTED:
            continue
        if op in _INT_KERNELS or op.startswith("QLinear"):
            name, d = _INT_KERNELS.get(op, op[len("QLinear"):]), it
        else:
            name, d = _FLOAT_FUSED.get(op, op), fl
        if name in _NOT_COUNTED:  # e.g. QLinearConcat
            continue
        d[name] = d.get(name, 0) + 1
    return {"float": fl, "int8": it}


def format_ops(counts: dict) -> str:
    """``{"GRU": 2, "Softmax": 1}`` -> ``"GRU x2, Softmax"``; empty -> ``"-"``."""
    if not counts:
        return "-"
    return ", ".join(f"{k} x{v}" if v > 1 else k for k, v in sorted(counts.items()))


def float_inputs(model_path: Path, nodes) -> int:
    """Feed the nodes ``nodes`` float activations instead of dequantized ones (in place).

    Every input of those nodes that is ``DequantizeLinear(QuantizeLinear(x))`` is rewired to
    ``Clip(x, lo, hi)`` with ``[lo, hi] = scale * ([qmin, qmax] - zero_point)``, the range the Q/DQ pair could
    represent: the rounding goes, the clamp stays. The clamp matters: ONNX Runtime's QDQ quantizer removes a ReLU
    that follows a quantized Conv and lets the QuantizeLinear do it (zero point = qmin), so ``x`` is the
    *pre-activation* tensor and feeding it raw would drop the ReLU. Q/DQ nodes left without consumers are removed.

    Why at all: ONNX Runtime >= 1.20 re-quantizes the float weights of a Conv/Gemm/MatMul whose input comes from a
    ``DequantizeLinear`` (graph transformer ``WeightBiasQuantization``) and fuses it into an int8 kernel, so a layer
    that ``quantize_static(nodes_to_exclude=...)`` left with float weights still ran in int8 whenever its neighbours
    were quantized (measured: excluding one DS-CNN block left 9 of 9 ``QLinearConv``). With float inputs the layer
    really runs in float (:func:`float_ops` checks it). Side effect on ONNX Runtime: the producer of that input
    loses its output QuantizeLinear and so runs float too (``QLinearConv`` needs a quantized output).

    Returns:
        The number of inputs rewired.
    """
    import onnx
    from onnx import helper, numpy_helper

    m = onnx.load(str(model_path))
    g = m.graph
    producer = {o: n for n in g.node for o in n.output}
    consts = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    names = set(nodes)
    clips: dict = {}
    new_nodes = []
    n_rewired = 0
    for n in g.node:
        if n.name not in names:
            continue
        for k, i in enumerate(n.input):
            dq = producer.get(i)
            if dq is None or dq.op_type != "DequantizeLinear":
                continue
            q = producer.get(dq.input[0])
            if q is None or q.op_type != "QuantizeLinear":
                continue  # a DQ of a constant (weights) stays: the layer's own weights are float already
            x = q.input[0]
            if x not in clips:
                scale = consts[q.input[1]].astype(np.float64)
                zp = consts[q.input[2]] if len(q.input) > 2 and q.input[2] else np.zeros((), np.uint8)
                info = np.iinfo(zp.dtype)
                lo = (scale * (info.min - zp.astype(np.float64))).astype(np.float32)
                hi = (scale * (info.max - zp.astype(np.float64))).astype(np.float32)
                out = f"{x}_float_clip"
                g.initializer.extend([numpy_helper.from_array(lo, out + "_lo"), numpy_helper.from_array(hi, out + "_hi")])
                new_nodes.append(helper.make_node("Clip", [x, out + "_lo", out + "_hi"], [out], name=f"{x}_FloatClip"))
                clips[x] = out
            n.input[k] = clips[x]
            n_rewired += 1
    if new_nodes:  # topological order: put each Clip right after the producer of its input
        for c in new_nodes:
            src = producer.get(c.input[0])
            pos = list(g.node).index(src) + 1 if src is not None else 0
            g.node.insert(pos, c)
    while True:  # drop Q/DQ nodes nobody reads any more
        used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
        dead = [n for n in g.node if n.op_type in ("QuantizeLinear", "DequantizeLinear") and not any(o in used for o in n.output)]
        if not dead:
            break
        for n in dead:
            g.node.remove(n)
    onnx.checker.check_model(m)
    onnx.save(m, str(model_path))
    return n_rewired


@dataclass
class Quantizer:
    """Builds static int8 variants of one float model with some layers kept in float (ONNX Runtime).

    A layer kept in float gets float weights (``nodes_to_exclude``) *and* float inputs (:func:`float_inputs`), so
    ONNX Runtime really runs it in float.

    Attributes:
        fp32_onnx: the float model.
        calibration: ``float32 [N, ...]`` calibration inputs.
        method: ``minmax`` / ``entropy`` / ``percentile`` (the ``int8_static_<method>`` recipe).
        workdir: folder for the variants (a temporary one when ``None``).
        options: extra recipe options (e.g. ``reduce_range``).
    """

    fp32_onnx: Path
    calibration: np.ndarray
    method: str = "minmax"
    workdir: Path | None = None
    options: dict = field(default_factory=dict)

    def __post_init__(self):
        self._tmp = None
        if self.workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="voxquant-sens-")
            self.workdir = Path(self._tmp.name)
        self.workdir = Path(self.workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.n_built = 0
        # calibrate once, re-use the tensor ranges for every variant (same model, data and method)
        self.options = {"calibration_cache": self.workdir / f"calibration_cache.{self.method}.json", **self.options}
        cache = self.options["calibration_cache"]
        if cache and Path(cache).exists():
            Path(cache).unlink()  # a cache left by an earlier run may come from other calibration data

    def build(self, exclude=(), out: Path | None = None) -> Path:
        """Quantize with the nodes ``exclude`` (names in the pre-processed graph) kept in float; returns the path."""
        from voxquant.quant import get_recipe

        self.n_built += 1
        out = Path(out) if out else self.workdir / f"variant_{self.n_built:04d}.onnx"
        get_recipe(f"int8_static_{self.method}").fn(Path(self.fp32_onnx), out, self.calibration,
                                                    nodes_to_exclude=list(exclude), **self.options)
        if exclude:
            float_inputs(out, exclude)
        return out

    def layers(self) -> list[dict]:
        """The quantizable layers (see :func:`quantized_layers`)."""
        pre = preprocessed(self.fp32_onnx, self.workdir / "pre.onnx")
        return quantized_layers(pre, self.build())


def layer_sensitivity(quantizer: Quantizer, data: SliceSet, modes=("exclude", "only"), ref: dict | None = None,
                      threads: int = 2, progress=None) -> dict:
    """Per-layer sensitivity table (see the module docstring).

    Args:
        quantizer: :class:`Quantizer` of the model.
        data: labelled dev slices.
        modes: any of ``"exclude"`` (all but one quantized) and ``"only"`` (one quantized).
        ref: fp32 logits per slice (computed when ``None``).
        threads: ONNX Runtime threads for evaluation.
        progress: optional callable ``progress(done, total, text)``.

    Returns:
        ``{"layers": [{"node","op","layer", "exclude": compare(...), "only": compare(...)}], "int8": compare(...)
        (all layers quantized), "slices": [...], "n": N}``. ``compare`` dicts hold per-slice accuracy, drop (pp),
        KL (nats) and ``_worst``/``_mean``/``_kl``.
    """
    ref = ref or predict_slices(quantizer.fp32_onnx, data, threads)
    layers = quantizer.layers()
    all_nodes = [l["node"] for l in layers]
    full = compare(ref, predict_slices(quantizer.build(), data, threads), data.y)
    total = len(layers) * len(modes)
    done = 0
    for l in layers:
        for mode in modes:
            excl = [l["node"]] if mode == "exclude" else [n for n in all_nodes if n != l["node"]]
            l[mode] = compare(ref, predict_slices(quantizer.build(excl), data, threads), data.y)
            done += 1
            if progress:
                progress(done, total, f"{mode} {l['layer']}")
    return {"layers": layers, "int8": full, "slices": data.names, "n": int(len(data.y))}


def rknn_layer_cosines(fp32_onnx: Path, calibration: np.ndarray, workdir: Path) -> list[dict] | None:
    """RKNN Toolkit2 ``accuracy_analysis`` per-layer cosine (int8 simulator vs float) for the model, or ``None``
    when the RKNN venv is not ready. Rows: ``{layer, op, entire_cos, single_cos, ...}``
    (:func:`voxquant.backends.rknn.parse_accuracy_analysis`)."""
    from voxquant.backends.rknn import RknnBackend

    be = RknnBackend()
    ok, _ = be.available()
    if not ok:
        return None
    art = be.convert(Path(fp32_onnx), "int8", Path(workdir), calibration=np.asarray(calibration)[:64], analysis=True)
    return art.extra.get("accuracy_analysis") or []


# ------------------------------------------------------------------------------------------------ report


def sensitivity_figure(table: dict):
    """Bar plot: per layer, worst-slice drop (pp) with only this layer quantized and the worst-slice drop recovered
    by keeping it in float (all-int8 drop minus exclude-one drop).

    Args:
        table: the :func:`layer_sensitivity` table (``{"int8": {...}, "layers": [{"layer", "op", "only"?,
            "exclude"?}], ...}``), e.g. as stored in a report's ``layer_sensitivity`` figure block.

    Returns:
        A ``matplotlib.figure.Figure`` (Agg, no pyplot state).
    """
    from matplotlib.figure import Figure

    layers = table["layers"]
    names = [l["layer"] for l in layers]
    x = np.arange(len(names))
    fig = Figure(figsize=(max(6, 0.55 * len(names) + 2), 3.6), layout="constrained")
    ax = fig.add_subplot()
    w = 0.4
    if any("only" in l for l in layers):
        ax.bar(x - w / 2, [l["only"]["_worst"] if "only" in l else 0 for l in layers], w, label="only this layer int8: worst-slice drop")
    if any("exclude" in l for l in layers):
        full = table["int8"]["_worst"]
        ax.bar(x + w / 2, [full - l["exclude"]["_worst"] if "exclude" in l else 0 for l in layers], w,
               label="this layer float: worst-slice drop recovered")
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("pp (dev)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return fig


def sensitivity_blocks(table: dict, rknn_rows: list[dict] | None = None, note: str = "") -> list[dict]:
    """Blocks of the per-layer sensitivity report section (schema of :mod:`voxquant.report.sections`: plain data):
    a summary text, the ``layer_sensitivity`` figure (drawn from ``table`` by the report), the per-layer table and,
    when given, RKNN Toolkit2's per-layer cosines (``rknn_rows``; ``None`` = not computed, ``[]`` = none).

    Args:
        table: the :func:`layer_sensitivity` table.
        rknn_rows: ``[{layer, op, entire_cos, single_cos}]`` from :func:`rknn_layer_cosines`.
        note: plain text put before the summary.
    """
    full = table["int8"]
    cols = ["layer", "op", "only-one: worst drop pp (slice)", "only-one: mean drop pp", "only-one: KL",
            "exclude-one: worst drop pp (slice)", "exclude-one: mean drop pp", "exclude-one: KL"]

    def cells(d):
        if d is None:
            return [None, None, None]
        return [f"{d['_worst']:+.2f} ({d['_worst_slice']})", f"{d['_mean']:+.2f}", f"{d['_kl']:.4f}"]

    rows = [[str(l["layer"]), str(l["op"]), *cells(l.get("only")), *cells(l.get("exclude"))] for l in table["layers"]]
    summary = (f"{note}All layers int8: worst-slice drop {full['_worst']:+.2f} pp ({full['_worst_slice']}), "
               f"mean drop {full['_mean']:+.2f} pp, KL {full['_kl']:.4f} nats, on {table['n']} dev clips x "
               f"{len(table['slices'])} slices ({', '.join(table['slices'])}). Drops in percentage points vs fp32 "
               f"(positive = worse); KL = mean KL(p_fp32 || p_variant) in nats.")
    blocks = [
        {"kind": "text", "text": summary},
        {"kind": "figure", "name": "layer_sensitivity", "data": table,
         "caption": "Per layer: worst-slice drop with only this layer int8, and the drop recovered by keeping it float."},
        {"kind": "table", "columns": cols, "rows": rows, "highlight": [], "caption": ""},
    ]
    if rknn_rows:
        def num(v):
            return None if v is None else f"{v:.5f}"

        blocks += [
            {"kind": "text", "text": "RKNN Toolkit2 accuracy_analysis (RK3588 int8 simulator vs float, one calibration "
                                     "clip): cosine similarity per layer, 'entire' = with the error of all previous "
                                     "layers, 'single' = this layer alone."},
            {"kind": "table", "columns": ["RKNN layer", "op", "entire cos", "single cos"],
             "rows": [[str(r["layer"]), str(r["op"]), num(r.get("entire_cos")), num(r.get("single_cos"))]
                      for r in rknn_rows], "highlight": [], "caption": ""},
        ]  # fmt: skip
    elif rknn_rows is None:
        blocks.append({"kind": "text", "text": "RKNN per-layer cosine: not computed (RKNN venv not ready or not requested)."})
    return blocks


__all__ = ["Quantizer", "SliceSet", "compare", "float_ops", "format_ops", "kl_divergence", "layer_sensitivity",
           "predict_slices", "quantized_layers", "rknn_layer_cosines", "sensitivity_blocks", "sensitivity_figure"]
