"""What was really quantized: the share of a model's multiply-accumulates (MACs) that executes in int8.

A variant called "int8" can leave most of its arithmetic in float: ONNX Runtime never quantizes a ``GRU``,
OpenVINO's CPU plugin runs a ``GRUSequence`` in f32 next to int8 convolutions, RKNN keeps its ``exGRU`` in
fp16. This module counts, per compute layer of the **built artefact**, the MACs of one inference (batch 1) and
whether that layer runs in int8, and sums them into ``int8_mac_share = MACs in int8 / all counted MACs``.

Readers (each returns rows ``{"node", "op", "macs": int | None, "int8": bool, "precision": str}``):

* :func:`onnx_macs` -- ONNX models (fp32, fp16, ORT dynamic int8, QDQ int8 of ORT / TensorRT / QNN). MACs from
  ``onnx.shape_inference`` with a dynamic batch set to 1; a node is int8 when it is an integer op
  (``ConvInteger``, ``MatMulInteger``, ``QLinearConv``, ``QLinearMatMul``, com.microsoft ``QGemm``,
  ``DynamicQuantizeMatMul``, ``MatMulIntegerToFloat``, ``DynamicQuantizeLSTM``) or, in QDQ format, when its data
  input and its weight input (and, for GRU/LSTM/RNN, the recurrence weights) come straight from
  ``DequantizeLinear`` nodes whose inputs are int8/uint8. Nodes in ``Scan``/``Loop`` bodies count x the static
  trip count. What the ONNX graph says is what the file asks for; ONNX Runtime executes a QDQ node group with
  an int8 kernel when it has one (the ORT backend's kernel check records the rare float-simulated fallback).
* :func:`openvino_macs` -- OpenVINO IR: MACs from the IR's ops (batch 1), executed precision read back from the
  CPU plugin's execution graph (``rt_info["runtimePrecision"]`` of the runtime layer whose
  ``originalLayersNames`` contains the IR node; ``u8``/``i8`` = int8 kernel). Fused layers (e.g. the CPU
  plugin's ``Subgraph`` snippets that take a chain of FullyConnected layers) are found the same way.
* :func:`tflite_macs` -- LiteRT/TFLite: op list and tensor dtypes of the interpreter. int8 when the data input and
  the weight tensor are int8/uint8; a float input with int8 weights (dynamic-range "hybrid" kernel, which
  quantizes the input at run time: the MACs run in int8, as ORT's ``ConvInteger``) is int8 with precision
  ``"int8-dynamic"``; an int16 input with int8 weights is ``"a16w8"`` (not int8); weights produced by a
  ``DEQUANTIZE`` op are float.
* :func:`rknn_macs` -- RKNN Toolkit2: MACs of the (prepared, batch-1) ONNX graph given to the toolkit; the
  precision of each layer is the ``DataType`` column of the toolkit's own "Network Layer Information Table"
  (printed in the verbose log of every build, :func:`parse_rknn_layer_table`), matched by the ONNX node name in
  its ``FullName`` column. Measured: the per-layer data type the RKNN compiler chose. Assumed: that an
  ONNX node and the RKNN layer carrying its name compute the same MACs (RKNN rewrites, e.g. ``Gemm`` -> 1x1
  ``Conv``, keep the arithmetic). Not counted: compute layers RKNN adds that the ONNX graph does not have as a
  MAC op (e.g. a ``ReduceMean`` lowered to a ``Conv``).

MAC formulas (one inference, batch 1): Conv ``prod(Y) * prod(W[1:])`` (W = ``[Cout, Cin/g, k...]``);
ConvTranspose ``prod(X) * prod(W[1:])``; Gemm/MatMul ``prod(Y) * K``; GRU/LSTM/RNN
``seq * batch * (prod(W) + prod(R))`` (W ``[dirs, gates*H, I]``, R ``[dirs, gates*H, H]``: the gate matrix
products; element-wise gate arithmetic is not counted). TFLite: CONV_2D ``prod(out) * prod(filter[1:])``,
DEPTHWISE_CONV_2D ``prod(out) * kh * kw``, FULLY_CONNECTED/BATCH_MATMUL ``prod(out) * K``, sequence RNN/LSTM ops
``steps * sum(prod(W) for 2-D weight operands)``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from voxquant.errors import ModelError

# ---------------------------------------------------------------------------------------------------- summary


def _is_float(precision: str) -> bool:
    return precision.startswith(("float", "f16", "f32", "f64", "bf16", "fp"))


def coverage_summary(rows: list[dict], source: str = "") -> dict:
    """Sum per-layer rows into the coverage of one artefact.

    Args:
        rows: ``[{"node", "op", "macs": int | None, "int8": bool, "precision": str}]`` from a reader of this
            module (``precision``: ``"int8"``, ``"int8-dynamic"``, ``"float32"``, ``"float16"``, ``"a16w8"``,
            ``"?"`` = not found).
        source: where the numbers come from (one line, kept in the result).

    Returns:
        ``{"int8_mac_share": float in [0, 1] | None, "macs_total": int, "macs_int8": int,
        "float_compute": {op: node count}, "float_macs": {op: MACs}, "other_compute": {op: count} (integer but
        not int8, e.g. a16w8), "unknown": [node names whose MACs or precision could not be read],
        "source": str, "note": str}``. ``int8_mac_share`` is ``None`` when there are no compute nodes or when the
        MACs of a node cannot be computed (dynamic shapes, dynamic trip counts): a partial share would be a
        silently wrong number. Nodes of unknown precision (``"?"``) count as not int8 and are listed in
        ``unknown`` (the share is then a lower bound, and the note says so).
    """
    total = int8 = 0
    float_compute: dict[str, int] = {}
    float_macs: dict[str, int] = {}
    other: dict[str, int] = {}
    unknown_macs: list[str] = []
    unknown_prec: list[str] = []
    for r in rows:
        if r.get("macs") is None:
            unknown_macs.append(r["node"])
            continue
        m = int(r["macs"])
        total += m
        if r["int8"]:
            int8 += m
            continue
        prec = str(r.get("precision", "?"))
        if prec == "?":
            unknown_prec.append(r["node"])
        elif _is_float(prec):
            float_compute[r["op"]] = float_compute.get(r["op"], 0) + 1
            float_macs[r["op"]] = float_macs.get(r["op"], 0) + m
        else:
            other[r["op"]] = other.get(r["op"], 0) + 1
    notes = []
    if not rows:
        share, notes = None, ["no compute node (Conv/Gemm/MatMul/RNN) found"]
    elif unknown_macs:
        share = None
        notes.append(f"MACs unknown for {', '.join(unknown_macs[:5])}{' ...' if len(unknown_macs) > 5 else ''} "
                     "(dynamic shape or trip count): no share")
    elif total == 0:
        share = None
        notes.append("compute nodes have 0 MACs")
    else:
        share = int8 / total
    if unknown_prec:
        notes.append(f"precision not found for {', '.join(unknown_prec[:5])}{' ...' if len(unknown_prec) > 5 else ''} "
                     "(counted as not int8: the share is a lower bound)")
    return {"int8_mac_share": share, "macs_total": total, "macs_int8": int8, "float_compute": float_compute,
            "float_macs": float_macs, "other_compute": other, "unknown": unknown_macs + unknown_prec,
            "source": source, "note": "; ".join(notes)}


def _prod(xs) -> int:
    return int(np.prod([int(x) for x in xs], dtype=np.int64)) if len(xs) else 1


# ---------------------------------------------------------------------------------------------------- ONNX

_ONNX_FLOAT = {"Conv", "ConvTranspose", "Gemm", "MatMul", "GRU", "LSTM", "RNN", "DFT", "STFT"}
#: integer ops -> (data input index, weight input index) for MACs
_ONNX_INT = {"ConvInteger": (0, 1), "QLinearConv": (0, 3), "MatMulInteger": (0, 1), "QLinearMatMul": (0, 3),
             "QGemm": (0, 3), "MatMulIntegerToFloat": (0, 1), "DynamicQuantizeMatMul": (0, 1),
             "DynamicQuantizeLSTM": (0, 1)}
_CONV = {"Conv", "ConvInteger", "QLinearConv"}
_MATMUL = {"MatMul", "MatMulInteger", "QLinearMatMul", "MatMulIntegerToFloat", "DynamicQuantizeMatMul"}
_RNN = {"GRU": 3, "LSTM": 4, "RNN": 1, "DynamicQuantizeLSTM": 4}


class _Scope:
    """Names visible in one graph (and its enclosing graphs): element type, shape, producer, constant value."""

    def __init__(self, graph, parent: _Scope | None = None):
        from onnx import numpy_helper

        self.parent = parent
        self.types: dict[str, tuple[int, list | None]] = {}
        self.producer: dict[str, object] = {}
        self.consts: dict[str, np.ndarray] = {}
        for vi in list(graph.input) + list(graph.value_info) + list(graph.output):
            tt = vi.type.tensor_type
            shape = None
            if tt.HasField("shape"):
                shape = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
            self.types[vi.name] = (tt.elem_type, shape)
        for init in graph.initializer:
            self.types[init.name] = (init.data_type, list(init.dims))
            if init.data_location != 1 or init.raw_data:  # not external, or loaded
                try:
                    self.consts[init.name] = numpy_helper.to_array(init)
                except Exception:  # pragma: no cover - unusual tensor
                    pass
        for n in graph.node:
            for o in n.output:
                self.producer[o] = n
            if n.op_type == "Constant" and n.output:
                for a in n.attribute:
                    if a.name == "value":
                        self.consts[n.output[0]] = numpy_helper.to_array(a.t)
                        self.types[n.output[0]] = (a.t.data_type, list(a.t.dims))

    def _get(self, table: str, name: str):
        s = self
        while s is not None:
            d = getattr(s, table)
            if name in d:
                return d[name]
            s = s.parent
        return None

    def shape(self, name: str) -> list | None:
        t = self._get("types", name)
        if t is None or t[1] is None or any(d is None for d in t[1]):
            return None
        return t[1]

    def elem(self, name: str) -> int | None:
        t = self._get("types", name)
        return t[0] if t else None

    def prod(self, name: str):
        return self._get("producer", name)

    def const(self, name: str):
        return self._get("consts", name)


def _attr(node, name, default=None):
    from onnx import helper

    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _onnx_node_macs(n, sc: _Scope) -> int | None:
    op = n.op_type
    ins = list(n.input)

    def shp(i):
        return sc.shape(ins[i]) if i < len(ins) and ins[i] else None

    y = sc.shape(n.output[0]) if n.output else None
    if op in _CONV:
        w = shp(_ONNX_INT.get(op, (0, 1))[1])
        return None if w is None or y is None else _prod(y) * _prod(w[1:])
    if op == "ConvTranspose":
        x, w = shp(0), shp(1)
        return None if x is None or w is None else _prod(x) * _prod(w[1:])
    if op in ("Gemm", "QGemm"):
        a = shp(0)
        if a is None or y is None:
            return None
        k = a[0] if _attr(n, "transA", 0) else a[-1]
        return _prod(y) * int(k)
    if op in _MATMUL:
        a = shp(0)
        if a is None or y is None:
            return None
        return _prod(y) * int(a[-1])
    if op in ("DFT", "STFT"):
        # an in-graph front-end's transform, counted as the direct DFT it computes: every output bin (complex: 2
        # real MACs per input sample) of every frame; runtimes use an FFT, but an NPU without DFT support falls back
        # to the CPU for exactly this work, so it belongs in the share's denominator
        x = shp(0)
        if x is None or y is None or len(y) < 2:
            return None
        n_in = int(x[-2]) if len(x) >= 2 and x[-1] in (1, 2) else int(x[-1])
        if op == "STFT":
            frame = shp(3) or ([int(_attr(n, "frame_length", 0))] if _attr(n, "frame_length", 0) else None)
            n_in = int(frame[-1]) if frame else n_in
        return _prod(y[:-1]) * n_in * 2
    if op in _RNN:
        x = shp(0)
        widx, ridx = (1, 2)
        w, r = shp(widx), shp(ridx)
        if x is None or w is None or r is None:
            return None
        seq, batch = (x[1], x[0]) if _attr(n, "layout", 0) == 1 else (x[0], x[1])
        return int(seq) * int(batch) * (_prod(w) + _prod(r))
    return None


_ONNX_TYPE_NAMES = {1: "float32", 10: "float16", 16: "bfloat16", 11: "float64", 3: "int8", 2: "uint8", 5: "int16",
                    4: "uint16", 6: "int32", 22: "int4", 21: "uint4"}


def _dq_source_type(name: str, sc: _Scope) -> int | None:
    """Element type feeding the ``DequantizeLinear`` that produces ``name`` (``None``: not from a DQ node)."""
    p = sc.prod(name)
    if p is None or p.op_type != "DequantizeLinear":
        return None
    return sc.elem(p.input[0])


def _onnx_precision(n, sc: _Scope) -> tuple[bool, str]:
    op = n.op_type
    if op in _ONNX_INT:
        return True, "int8-dynamic" if op in ("DynamicQuantizeMatMul", "DynamicQuantizeLSTM", "MatMulIntegerToFloat") else "int8"
    operands = [0, 1] + ([2] if op in _RNN else [])
    src = [_dq_source_type(n.input[i], sc) if i < len(n.input) and n.input[i] else None for i in operands]
    eight = {2, 3}  # UINT8, INT8
    if all(s is not None for s in src):
        if all(s in eight for s in src):
            return True, "int8"
        return False, "a{}w{}".format(*(_bits(s) for s in src[:2]))
    t = sc.elem(n.input[0]) if n.input else None
    return False, _ONNX_TYPE_NAMES.get(t, "float32" if t is None else f"onnx-type-{t}")


def _bits(t: int | None) -> str:
    return {2: "8", 3: "8", 4: "16", 5: "16", 21: "4", 22: "4"}.get(t, "?")


def _trip_count(n, sc: _Scope) -> int | None:
    if n.op_type == "Scan":
        m = int(_attr(n, "num_scan_inputs", 0))
        if m <= 0:
            return None
        first = n.input[len(n.input) - m]
        axes = _attr(n, "scan_input_axes", None)
        axis = int(axes[0]) if axes else 0
        s = sc.shape(first)
        return None if s is None else int(s[axis])
    if n.op_type == "Loop":
        if not n.input or not n.input[0]:
            return None
        v = sc.const(n.input[0])
        return None if v is None else int(np.asarray(v).reshape(-1)[0])
    return None


def _walk_onnx(graph, sc: _Scope, prefix: str, mult: int | None, rows: list[dict]) -> None:
    for n in graph.node:
        name = prefix + (n.name or f"{n.op_type}_{n.output[0] if n.output else '?'}")
        if n.op_type in ("Scan", "Loop"):
            trip = _trip_count(n, sc)
            body = _attr(n, "body")
            if body is not None:
                sub_mult = None if (mult is None or trip is None) else mult * trip
                _walk_onnx(body, _Scope(body, sc), name + "/", sub_mult, rows)
            continue
        if n.op_type in _ONNX_FLOAT or n.op_type in _ONNX_INT:
            macs = _onnx_node_macs(n, sc)
            int8, prec = _onnx_precision(n, sc)
            rows.append({"node": name, "op": n.op_type, "macs": None if macs is None or mult is None else macs * mult,
                         "int8": int8, "precision": prec})


def _load_onnx(model_path: Path):
    import onnx
    from onnx.external_data_helper import ExternalDataInfo, load_external_data_for_model, uses_external_data

    model_path = Path(model_path)
    if not model_path.is_file():
        raise ModelError("model file not found", model_path)
    try:
        m = onnx.load(str(model_path), load_external_data=False)
    except Exception as exc:
        raise ModelError(f"not a loadable ONNX model ({type(exc).__name__}: {str(exc)[:120]})", model_path) from None
    ext = [t for t in m.graph.initializer if uses_external_data(t)]
    if ext:  # weights saved beside the model (.onnx.data): check, then load them (shape data propagation needs values)
        missing = sorted({ExternalDataInfo(t).location for t in ext
                          if not (model_path.parent / ExternalDataInfo(t).location).is_file()})
        if missing:
            raise ModelError(f"external data file(s) missing: {', '.join(missing)} (expected beside the model)", model_path)
        try:
            load_external_data_for_model(m, str(model_path.parent))
        except Exception as exc:
            raise ModelError(f"cannot read its external data ({type(exc).__name__}: {str(exc)[:120]})", model_path) from None
    return m


def _topo_sort(graph) -> None:
    """Reorder ``graph.node`` topologically (stable; nodes in a cycle or with unknown inputs keep their order)."""
    avail = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    nodes = list(graph.node)
    done: list = []
    pending = nodes
    while pending:
        rest = []
        for n in pending:
            if all(i in avail for i in n.input):
                done.append(n)
                avail.update(n.output)
            else:
                rest.append(n)
        if len(rest) == len(pending):  # outer-scope names or a malformed graph: keep the rest as is
            done += rest
            break
        pending = rest
    if [id(n) for n in done] != [id(n) for n in nodes]:
        copies = [type(n)() for n in done]
        for c, n in zip(copies, done):
            c.CopyFrom(n)
        del graph.node[:]
        graph.node.extend(copies)


def onnx_macs(model_path: Path) -> list[dict]:
    """MACs and int8-ness of every compute node of an ONNX model (see the module docstring).

    Args:
        model_path: ``.onnx`` file; external data (``.onnx.data`` beside it) is loaded when referenced.

    Returns:
        One row per compute node in graph order (Scan/Loop body nodes as ``"<scan node>/<body node>"``, MACs
        multiplied by the trip count): ``{"node": str, "op": str, "macs": int | None (None: shape or trip count
        not static), "int8": bool, "precision": str ("int8", "int8-dynamic", "float32", "float16", "a16w8", ...)}``.
        MACs are for one inference: a dynamic batch dimension of the graph inputs is set to 1 before
        ``onnx.shape_inference.infer_shapes(data_prop=True)``.

    Raises:
        ModelError: file missing, not ONNX, external data missing, or shape inference fails.
    """
    import onnx

    m = _load_onnx(model_path)
    g = m.graph
    inits = {i.name for i in g.initializer}
    for vi in list(g.input) + list(g.output):
        if vi.name in inits or not vi.type.tensor_type.HasField("shape") or not vi.type.tensor_type.shape.dim:
            continue
        d0 = vi.type.tensor_type.shape.dim[0]
        if not d0.HasField("dim_value") or d0.dim_value <= 0:
            d0.Clear()
            d0.dim_value = 1
    del g.value_info[:]  # stale shapes with the symbolic batch
    _topo_sort(g)  # shape inference visits nodes in file order; some tools append nodes (e.g. fp16 input Casts)
    try:
        m = onnx.shape_inference.infer_shapes(m, check_type=False, strict_mode=False, data_prop=True)
    except Exception as exc:
        raise ModelError(f"ONNX shape inference failed ({type(exc).__name__}: {str(exc)[:160]})", model_path) from None
    rows: list[dict] = []
    _walk_onnx(m.graph, _Scope(m.graph), "", 1, rows)
    return rows


def onnx_coverage(model_path: Path) -> dict:
    """:func:`coverage_summary` of :func:`onnx_macs` (source: the ONNX graph)."""
    return coverage_summary(onnx_macs(model_path), source=f"ONNX graph of {Path(model_path).name} (onnx shape "
                                                               "inference, batch 1; int8 = integer op or QDQ int8 operands)")


# ---------------------------------------------------------------------------------------------------- OpenVINO

#: IR op type -> (weight input index, recurrence weight index or None, leading weight dims to skip)
_OV_RNN = {"GRUSequence": (3, 4), "RNNSequence": (3, 4), "LSTMSequence": (4, 5),
           "GRUCell": (2, 3), "RNNCell": (2, 3), "LSTMCell": (3, 4)}
_OV_COMPUTE = {"Convolution", "GroupConvolution", "ConvolutionBackpropData", "GroupConvolutionBackpropData",
               "MatMul", *_OV_RNN}


def _ov_kinds(ir_type: str) -> tuple[str, ...]:
    """Runtime layer types that can carry an IR compute op of ``ir_type``."""
    if ir_type in _OV_RNN:
        return ("RNNSeq", "RNNCell")
    if ir_type == "MatMul":
        return ("FullyConnected", "MatMul", "Subgraph")
    if "Backprop" in ir_type:
        return ("Deconvolution", "Subgraph")
    return ("Convolution", "GroupConvolution", "Subgraph")


def _ov_shape(port) -> list | None:
    ps = port.get_partial_shape()
    return None if ps.is_dynamic else [int(d) for d in ps.to_shape()]


def _ov_op_macs(op) -> int | None:
    t = op.get_type_name()
    ins = [_ov_shape(i) for i in op.inputs()]
    y = _ov_shape(op.output(0)) if op.get_output_size() else None
    if t == "Convolution":
        return None if ins[1] is None or y is None else _prod(y) * _prod(ins[1][1:])
    if t == "GroupConvolution":  # W [G, Cout/G, Cin/G, k...]
        return None if ins[1] is None or y is None else _prod(y) * _prod(ins[1][2:])
    if t == "ConvolutionBackpropData":  # W [Cin, Cout, k...]
        return None if ins[0] is None or ins[1] is None else _prod(ins[0]) * _prod(ins[1][1:])
    if t == "GroupConvolutionBackpropData":  # W [G, Cin/G, Cout/G, k...]
        return None if ins[0] is None or ins[1] is None else _prod(ins[0]) * _prod(ins[1][2:])
    if t == "MatMul":
        a = ins[0]
        if a is None or y is None:
            return None
        ta = bool(op.get_attributes().get("transpose_a", False))
        k = a[-2] if ta and len(a) > 1 else a[-1]
        return _prod(y) * int(k)
    if t in _OV_RNN:
        wi, ri = _OV_RNN[t]
        x, w, r = ins[0], ins[wi], ins[ri]
        if x is None or w is None or r is None:
            return None
        steps = _prod(x[:-1])  # [B, T, I] for sequences, [B, I] for cells
        return steps * (_prod(w) + _prod(r))
    return None


def openvino_macs(xml: Path, inference_precision: str | None = None) -> list[dict]:
    """MACs of an OpenVINO IR and the precision each compute layer executes in on the CPU plugin.

    MACs come from the IR's ``Convolution``/``GroupConvolution``/``*BackpropData``/``MatMul``/``GRUSequence``/
    ``LSTMSequence``/``RNNSequence``/``*Cell`` ops with a dynamic batch reshaped to 1. Precision: the model is
    compiled exactly as :class:`voxquant.backends.openvino.OvSession` compiles it (the inference precision stored
    in the IR unless ``inference_precision`` is given); the runtime layer whose ``originalLayersNames`` holds the
    IR node (a compute layer or a fused ``Subgraph``) gives ``runtimePrecision`` (``u8``/``i8`` = int8).

    Returns:
        ``[{"node", "op", "macs", "int8", "precision", "runtime_layer"}]``; precision ``"?"`` when no runtime layer
        names the IR node (folded or renamed by the plugin).

    Raises:
        ModelError: the IR cannot be read or compiled. MissingExtraError: OpenVINO missing.
    """
    from voxquant.backends.openvino import _ov, compile_cpu

    ov = _ov()
    xml = Path(xml)
    if not xml.is_file():
        raise ModelError("model file not found", xml)
    core = ov.Core()
    try:
        model = core.read_model(str(xml))
        compiled, _ = compile_cpu(xml, 1, inference_precision, latency=False)
    except Exception as exc:
        raise ModelError(f"OpenVINO cannot read/compile it: {str(exc).splitlines()[0][:200]}", xml) from None
    shapes = {}
    for inp in model.inputs:
        ps = inp.get_partial_shape()
        if ps.rank.is_static and len(ps) and ps[0].is_dynamic:
            dims = [1] + [d for d in list(ps)[1:]]
            shapes[inp] = ov.PartialShape(dims)
    if shapes:
        try:
            model.reshape(shapes)
        except Exception as exc:
            raise ModelError(f"OpenVINO cannot reshape it to batch 1: {str(exc).splitlines()[0][:200]}", xml) from None
    by_orig: dict[str, list[tuple[str, str, str]]] = {}
    for rop in compiled.get_runtime_model().get_ordered_ops():
        rt = rop.get_rt_info()
        layer = rt["layerType"].astype(str) if "layerType" in rt else rop.get_type_name()
        prec = rt["runtimePrecision"].astype(str) if "runtimePrecision" in rt else "?"
        prim = rt["primitiveType"].astype(str) if "primitiveType" in rt else ""
        if prec in ("f16", "bf16") and prim.endswith("_f32"):
            prec = "f32"  # fp16 weights decompressed into an f32 kernel (as runtime_precisions reports it)
        names = rt["originalLayersNames"].astype(str).split(",") if "originalLayersNames" in rt else []
        for nm in filter(None, (s.strip() for s in names)):
            by_orig.setdefault(nm, []).append((layer, prec, rop.get_friendly_name()))

    def lookup(name: str, kinds: tuple[str, ...]):
        cands = by_orig.get(name, [])
        if not cands:  # low-precision transformations append suffixes: "<name>/DequantizationMultiply"
            cands = [c for k, v in by_orig.items() if k.startswith(name + "/") for c in v]
        return next((c for c in cands if c[0] in kinds), None)

    rows = []
    for op in model.get_ordered_ops():
        t = op.get_type_name()
        if t not in _OV_COMPUTE:
            continue
        name = op.get_friendly_name()
        kinds = _ov_kinds(t)
        hit = lookup(name, kinds)
        if hit is None:
            # fused into a layer named after a consumer (MatMul + bias Add -> FullyConnected named after the Add):
            # follow the consumers through non-compute ops, at most 3 hops
            frontier, seen = [op], set()
            for _ in range(3):
                nxt = []
                for f in frontier:
                    for out in f.outputs():
                        for tin in out.get_target_inputs():
                            c = tin.get_node()
                            if c.get_friendly_name() in seen or c.get_type_name() in _OV_COMPUTE:
                                continue
                            seen.add(c.get_friendly_name())
                            nxt.append(c)
                hit = next((h for h in (lookup(c.get_friendly_name(), kinds) for c in nxt) if h), None)
                if hit or not nxt:
                    break
                frontier = nxt
        prec = hit[1] if hit else "?"
        rows.append({"node": name, "op": t, "macs": _ov_op_macs(op), "int8": prec in ("u8", "i8"),
                     "precision": {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}.get(prec, prec),
                     "runtime_layer": f"{hit[2]} ({hit[0]})" if hit else None})
    return rows


# ---------------------------------------------------------------------------------------------------- TFLite

_TFL_SEQ = {"UNIDIRECTIONAL_SEQUENCE_LSTM", "BIDIRECTIONAL_SEQUENCE_LSTM", "UNIDIRECTIONAL_SEQUENCE_RNN",
            "BIDIRECTIONAL_SEQUENCE_RNN", "LSTM", "RNN", "SVDF"}
_TFL_COMPUTE = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "BATCH_MATMUL", "TRANSPOSE_CONV", "CONV_3D",
                *_TFL_SEQ}
#: ops that run subgraphs the interpreter does not list (CALL_ONCE is not here: it runs once, at initialisation,
#: e.g. the variable set-up of streaming models, and adds no MACs to an inference)
_TFL_CONTROL = {"WHILE", "IF", "CALL", "STABLEHLO_WHILE", "STABLEHLO_COMPOSITE"}


def _tfl_macs(op: dict, by: dict) -> int | None:
    name = op["op_name"]
    ins = [int(i) for i in op["inputs"]]

    def shp(i):
        return [int(d) for d in by[ins[i]]["shape"]] if i < len(ins) and ins[i] >= 0 and ins[i] in by else None

    out = [int(d) for d in by[int(op["outputs"][0])]["shape"]] if len(op["outputs"]) else None
    if out is None:
        return None
    if name in ("CONV_2D", "CONV_3D"):  # CONV_2D filter [Cout, kh, kw, Cin/g]; CONV_3D [kd, kh, kw, Cin, Cout]
        f = shp(1)
        if f is None:
            return None
        return _prod(out) * (_prod(f[1:]) if name == "CONV_2D" else _prod(f[:-1]))
    if name == "DEPTHWISE_CONV_2D":  # filter [1, kh, kw, Cout]
        f = shp(1)
        return None if f is None else _prod(out) * f[1] * f[2]
    if name == "TRANSPOSE_CONV":  # inputs: output_shape, filter [Cout, kh, kw, Cin], input
        f, x = shp(1), shp(2)
        return None if f is None or x is None else _prod(x) * f[0] * f[1] * f[2]
    if name == "FULLY_CONNECTED":  # weights [N, K]
        w = shp(1)
        return None if w is None else _prod(out) * w[-1]
    if name == "BATCH_MATMUL":
        a = shp(0)
        if a is None:
            return None
        m = out[-2] if len(out) > 1 else 1
        k = a[-1] if (len(a) < 2 or a[-2] == m) else a[-2]  # adj_x puts K second to last
        return _prod(out) * k
    if name in _TFL_SEQ:
        x = shp(0)
        if x is None:
            return None
        weights = [shp(i) for i in range(1, len(ins))]
        per_step = sum(_prod(w) for w in weights if w is not None and len(w) == 2)
        return _prod(x[:-1]) * per_step
    return None


def tflite_macs(tflite: Path) -> list[dict]:
    """MACs and int8-ness of every compute op of a ``.tflite`` (primary subgraph; see the module docstring).

    Control-flow ops (``WHILE``, ``IF``...) run subgraphs the interpreter does not list: they are
    reported as rows with ``macs=None`` so the share becomes ``None`` rather than silently wrong.

    Returns:
        ``[{"node": "#<op index>", "op", "macs", "int8", "precision"}]``.

    Raises:
        ModelError: the file cannot be loaded. MissingExtraError: ai-edge-litert missing.
    """
    from voxquant.backends.litert import tflite_ops

    tflite = Path(tflite)
    if not tflite.is_file():
        raise ModelError("model file not found", tflite)
    try:
        ops, tens = tflite_ops(tflite)
    except Exception as exc:
        raise ModelError(f"LiteRT cannot read it: {str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}", tflite) from None
    by = {int(t["index"]): t for t in tens}
    rows = []
    for o in ops:
        name = o["op_name"]
        if name in _TFL_CONTROL:
            rows.append({"node": f"#{o['index']}", "op": name, "macs": None, "int8": False, "precision": "?"})
            continue
        if name not in _TFL_COMPUTE:
            continue
        ins = [int(i) for i in o["inputs"]]
        widx, didx = 1, (2 if name == "TRANSPOSE_CONV" else 0)  # TRANSPOSE_CONV: (output_shape, filter, input)
        dt = np.dtype(by[ins[didx]]["dtype"]).name if len(ins) > didx and ins[didx] in by else "?"
        wt = np.dtype(by[ins[widx]]["dtype"]).name if len(ins) > widx and ins[widx] in by else "?"
        eight = ("int8", "uint8")
        if dt in eight and wt in eight:
            int8, prec = True, "int8"
        elif dt.startswith("float") and wt in eight:
            int8, prec = True, "int8-dynamic"
        elif dt.startswith("int") and wt.startswith(("int", "uint")):
            int8, prec = False, f"a{np.dtype(dt).itemsize * 8}w{np.dtype(wt).itemsize * 8}"
        else:
            int8, prec = False, dt
        rows.append({"node": f"#{o['index']}", "op": name, "macs": _tfl_macs(o, by), "int8": int8, "precision": prec})
    return rows


# ---------------------------------------------------------------------------------------------------- RKNN

_RKNN_HEADER = re.compile(r"\bID\s+OpType\s+DataType\s+Target\s+InputShape\s+OutputShape\b")
_RKNN_ROW = re.compile(r"^(?P<id>\d+)\s+(?P<op>\S+)\s+(?P<dtype>[A-Z0-9_]+)\s+(?P<target>NPU|CPU|GPU|NPU/CPU|CPU/NPU)\s+"
                       r"(?P<rest>.*?)\s+(?P<full>\S+:\S+)\s*$")


def parse_rknn_layer_table(text: str) -> list[dict]:
    """The LAST "Network Layer Information Table" of an RKNN Toolkit2 verbose log.

    RKNN prints it when it compiles a model for a target or the simulator (columns ``ID OpType DataType Target
    InputShape OutputShape Cycles RW FullName``; log lines carry a ``D RKNN: [time]`` prefix).

    Returns:
        ``[{"id": int, "op": str, "dtype": "INT8" | "FLOAT16" | ..., "target": "NPU" | "CPU", "full_name": str,
        "onnx_node": str}]`` (``onnx_node`` = the ``FullName`` after ``Type:`` with RKNN's ``#n`` suffix removed);
        ``[]`` when the text has no such table.
    """
    lines = text.splitlines()
    starts = [i for i, ln in enumerate(lines) if _RKNN_HEADER.search(ln)]
    if not starts:
        return []
    rows = []
    for ln in lines[starts[-1] + 1:]:
        body = re.sub(r"^.*?RKNN:\s*\[[^\]]*\]\s?", "", ln) if "RKNN:" in ln else ln
        body = body.strip()
        if not body or set(body) <= {"-"}:
            if rows:
                break
            continue
        m = _RKNN_ROW.match(body)
        if not m:
            if rows:
                break
            continue
        full = m.group("full")
        node = re.sub(r"#\d+$", "", full.split(":", 1)[1])
        rows.append({"id": int(m.group("id")), "op": m.group("op"), "dtype": m.group("dtype"), "target": m.group("target"),
                     "full_name": full, "onnx_node": node})
    return rows


def rknn_macs(onnx_path: Path, layers: list[dict]) -> list[dict]:
    """MACs of the ONNX graph RKNN was given, with each node's precision from RKNN's layer table.

    Args:
        onnx_path: the ONNX model the toolkit loaded (voxquant's prepared, batch-1 copy).
        layers: :func:`parse_rknn_layer_table` rows of the build.

    Returns:
        :func:`onnx_macs` rows with ``precision`` = the RKNN layer's ``DataType`` (lower case, ``"?"`` when no
        layer names the node), ``int8`` = ``DataType`` is ``INT8``/``UINT8``, and ``rknn_layer`` / ``target``.
    """
    by = {}
    for r in layers:
        by.setdefault(r["onnx_node"], r)
    rows = []
    for r in onnx_macs(onnx_path):
        hit = by.get(r["node"])
        dtype = hit["dtype"].lower() if hit else "?"
        rows.append(dict(r, int8=dtype in ("int8", "uint8"), precision=dtype if hit else "?",
                         rknn_layer=hit["full_name"] if hit else None, target=hit["target"] if hit else None))
    return rows
