"""``voxquant check MODEL --target T``: which ONNX nodes would leave the target's accelerator, why, and what
share of the model's multiply-accumulates (MACs) they carry.

The check is static: it reads the ONNX graph (shapes from ``onnx.shape_inference`` with data propagation),
applies the target profile's operator table and per-op rules (:mod:`voxquant.targets`), and, where the target
partitions once (Edge TPU), moves everything after the first unsupported node to the CPU. Where a runtime runs
here, :func:`ort_int8_evidence` adds what actually happened in ONNX Runtime (which nodes stayed float after
static int8 quantization, from ORT's per-node profiler); the LiteRT and RKNN backends add the TFLite operator
list / Edge TPU partition and the RKNN build log (see :mod:`voxquant.backends.litert`, ``.rknn``).

MACs per node (batch fixed to 1; other nodes count 0):

* ``Conv``: ``N * C_out * prod(out_spatial) * (C_in / group) * prod(kernel)``;
* ``ConvTranspose``: ``N * C_in * prod(in_spatial) * (C_out / group) * prod(kernel)``;
* ``Gemm``: ``M * N * K``; ``MatMul``: ``prod(batch dims) * M * N * K``;
* ``GRU``: ``dirs * T * N * 3 * H * (I + H)``; ``LSTM``: ``... * 4 * H * (I + H)``; ``RNN``: ``... * H * (I + H)``.

Placements: ``accelerator``; ``accelerator-float`` (runs on the accelerator in float, e.g. a GRU in a TensorRT
int8 engine); ``cpu`` (off the accelerator); ``folded`` (constant-folded or a no-op the converter removes).
"""

from __future__ import annotations

import html as _html
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from voxquant.errors import ModelError
from voxquant.targets import Target, get_target

_NOOPS = {"Identity", "Dropout"}
_QDQ = {"QuantizeLinear", "DequantizeLinear"}
_DTYPE_NAMES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 9: "bool",
                10: "float16", 11: "float64", 12: "uint32", 13: "uint64", 16: "bfloat16"}


@dataclass
class NodeFinding:
    """One node's verdict.

    Attributes:
        node: node name; op: ONNX op type (``mapped_op``: the target-namespace op, e.g. TFLite builtin);
        placement: ``accelerator`` / ``accelerator-float`` / ``cpu`` / ``folded``;
        reasons: why it is not plainly on the accelerator (kind: ``op``, ``dtype``, ``dynamic-shape``,
        ``attribute``, ``partition``, ``opset``), each ``"kind: text"``; remark: vendor restriction text;
        macs: multiply-accumulates at batch 1; quantized: node sits between DequantizeLinear/QuantizeLinear.
    """

    node: str
    op: str
    placement: str
    reasons: list = field(default_factory=list)
    remark: str = ""
    macs: int = 0
    mapped_op: str = ""
    quantized: bool | None = None


@dataclass
class CheckReport:
    """Result of :func:`check_model`.

    Attributes:
        model: the ONNX file; target: profile name; title; citation: vendor document(s) + versions;
        findings: every node (:class:`NodeFinding`) in graph order; total_macs; off_macs (MACs of ``cpu``
        nodes); float_macs (``accelerator-float``); model_issues: whole-model problems (opset, dynamic input);
        first_break: the node that breaks a single-partition accelerator (Edge TPU), else ``None``;
        notes: the profile's notes; evidence: runtime observations added by backends (name -> dict).
    """

    model: str
    target: str
    title: str
    citation: str
    findings: list
    total_macs: int
    off_macs: int
    float_macs: int
    model_issues: list
    first_break: str | None
    notes: list
    evidence: dict = field(default_factory=dict)

    @property
    def off_nodes(self) -> list[NodeFinding]:
        """Nodes that would run off the accelerator."""
        return [f for f in self.findings if f.placement == "cpu"]

    @property
    def off_mac_share(self) -> float:
        """Fraction of MACs off the accelerator, in [0, 1] (0 when the model has no MACs)."""
        return self.off_macs / self.total_macs if self.total_macs else 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["off_mac_share"] = self.off_mac_share
        d["n_off_nodes"] = len(self.off_nodes)
        return d

    def summary(self) -> str:
        """One line: how many nodes/MACs leave the accelerator."""
        n = len([f for f in self.findings if f.placement != "folded"])
        s = (f"{self.target}: {len(self.off_nodes)}/{n} nodes off the accelerator, "
             f"{100 * self.off_mac_share:.1f}% of {self.total_macs:,} MACs")
        if self.float_macs:
            s += f"; {100 * self.float_macs / max(self.total_macs, 1):.1f}% of MACs run in float on the accelerator"
        if self.first_break:
            s += f"; partition breaks at {self.first_break}"
        return s

    def to_text(self, all_nodes: bool = False) -> str:
        """Plain-text report (the off-accelerator nodes, or every node with ``all_nodes``)."""
        lines = [f"target {self.target}: {self.title}", f"model  {self.model}", self.summary(), f"source: {self.citation}"]
        for m in self.model_issues:
            lines.append(f"  model: {m}")
        rows = self.findings if all_nodes else [f for f in self.findings if f.placement in ("cpu", "accelerator-float")]
        for f in rows:
            share = 100 * f.macs / self.total_macs if self.total_macs else 0.0
            op = f.op if not f.mapped_op or f.mapped_op == f.op else f"{f.op}->{f.mapped_op}"
            lines.append(f"  [{f.placement}] {f.node} ({op}) {share:.1f}% MACs: {'; '.join(f.reasons) or 'ok'}")
        for k, v in self.evidence.items():
            lines.append(f"  evidence[{k}]:")
            for kk, vv in (v.items() if isinstance(v, dict) else [("", v)]):
                if isinstance(vv, list) and vv and all(isinstance(x, str) for x in vv):
                    lines.append(f"    {kk}:")
                    lines += [f"      {x}" for x in vv[:40]]
                else:
                    lines.append(f"    {kk}: {json.dumps(vv, default=str)[:400]}")
        for n in self.notes:
            lines.append(f"  note: {n}")
        return "\n".join(lines)

    def to_html(self) -> str:
        """HTML fragment (a table of off-accelerator / float nodes with reasons and MAC shares)."""
        e = _html.escape
        rows = [f for f in self.findings if f.placement in ("cpu", "accelerator-float")]
        out = [f"<h3>{e(self.target)}: {e(self.title)}</h3>", f"<p>{e(self.summary())}</p>",
               f"<p><small>Source: {e(self.citation)}</small></p>"]
        if self.model_issues:
            out.append("<ul>" + "".join(f"<li>{e(m)}</li>" for m in self.model_issues) + "</ul>")
        if rows:
            out.append("<table><tr><th>node</th><th>op</th><th>placement</th><th>MAC share</th><th>why</th></tr>")
            for f in rows:
                share = 100 * f.macs / self.total_macs if self.total_macs else 0.0
                out.append(f"<tr><td>{e(f.node)}</td><td>{e(f.mapped_op or f.op)}</td><td>{e(f.placement)}</td>"
                           f"<td>{share:.1f}%</td><td>{e('; '.join(f.reasons))}</td></tr>")
            out.append("</table>")
        else:
            out.append("<p>Every node maps to the accelerator.</p>")
        for k, v in self.evidence.items():
            out.append(f"<details><summary>evidence: {e(k)}</summary><pre>{e(json.dumps(v, indent=1)[:4000])}</pre></details>")
        out.append("<ul>" + "".join(f"<li><small>{e(n)}</small></li>" for n in self.notes) + "</ul>")
        return "\n".join(out)


# ------------------------------------------------------------------------------------------------------------
# graph analysis


class Graph:
    """Shapes, dtypes, constants and producers of an ONNX graph (batch fixed to 1 for MACs).

    Args:
        model: ``onnx.ModelProto``.

    Attributes:
        shapes: value name -> tuple of dims (int, or a str for a symbolic dim, or None unknown).
        dtypes: value name -> dtype name (``"float32"``, ``"int8"`` ...).
        consts: names that are constant at compile time (initializers, Constant outputs, constant-foldable).
        producer: value name -> producing node.
        consumers: value name -> list of consuming nodes.
    """

    def __init__(self, model):
        import onnx

        self.model = model
        shadow = model
        if any(n.domain == "com.microsoft" and n.op_type in _QDQ for n in model.graph.node):
            # ORT's 16-bit QDQ uses com.microsoft Q/DQ (same semantics as ai.onnx opset 21): infer shapes on a copy
            shadow = onnx.ModelProto()
            shadow.CopyFrom(model)
            for n in shadow.graph.node:
                if n.domain == "com.microsoft" and n.op_type in _QDQ:
                    n.domain = ""
        try:
            inferred = onnx.shape_inference.infer_shapes(shadow, data_prop=True)
        except Exception:  # pragma: no cover - fall back to the declared shapes
            inferred = model
        g = inferred.graph
        self.graph = g
        self.inits = {i.name: i for i in g.initializer}
        self.shapes: dict[str, tuple] = {}
        self.dtypes: dict[str, str] = {}
        for vi in list(g.input) + list(g.value_info) + list(g.output):
            t = vi.type.tensor_type
            self.dtypes[vi.name] = _DTYPE_NAMES.get(t.elem_type, str(t.elem_type))
            if t.HasField("shape"):
                self.shapes[vi.name] = tuple(
                    d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim
                )
        for name, init in self.inits.items():
            self.dtypes[name] = _DTYPE_NAMES.get(init.data_type, str(init.data_type))
            self.shapes[name] = tuple(init.dims)
        self.inputs = [i.name for i in g.input if i.name not in self.inits]
        self.producer = {}
        self.consumers: dict[str, list] = {}
        for n in g.node:
            for o in n.output:
                self.producer[o] = n
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)
        self.consts: set[str] = set(self.inits)
        for n in g.node:  # graph order is topological
            ins = [i for i in n.input if i]
            if n.op_type == "Constant" or (ins and all(i in self.consts for i in ins)):
                self.consts.update(o for o in n.output if o)
            elif n.op_type in ("Shape", "Size") and ins and self.is_static(ins[0]):
                self.consts.update(o for o in n.output if o)

    def shape(self, name: str, batch1: bool = True) -> tuple | None:
        """Shape of ``name`` with symbolic dims replaced by 1 when ``batch1`` (``None`` if unknown)."""
        s = self.shapes.get(name)
        if s is None:
            return None
        if batch1:
            return tuple(d if isinstance(d, int) and d > 0 else 1 for d in s)
        return s

    def is_static(self, name: str) -> bool:
        s = self.shapes.get(name)
        return s is not None and all(isinstance(d, int) and d > 0 for d in s)

    def const_value(self, name: str):
        """numpy value of an initializer / Constant output, else ``None``."""
        from onnx import numpy_helper

        if name in self.inits:
            return numpy_helper.to_array(self.inits[name])
        n = self.producer.get(name)
        if n is not None and n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    return numpy_helper.to_array(a.t)
        return None

    def is_quantized(self, node) -> bool:
        """True when every floating-point input of the node (data and weights) comes from DequantizeLinear,
        i.e. the node computes on int8 values in a QDQ graph. Float bias vectors (rank <= 1 initializers) are
        allowed (TensorRT's QDQ export keeps them float); a GRU whose weight matrices stay float is not quantized."""
        floats = [i for i in node.input if i and self.dtypes.get(i, "float32") in ("float32", "float16", "bfloat16")
                  and not (i in self.inits and len(self.shapes.get(i, ())) <= 1)]  # float bias vectors may stay float
        if not floats:
            return False
        prods = [self.producer.get(i) for i in floats]
        return all(p is not None and p.op_type == "DequantizeLinear" for p in prods)

    def has_qdq(self) -> bool:
        return any(n.op_type in _QDQ for n in self.graph.node)


def _attr(node, name, default=None):
    import onnx

    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def node_macs(node, g: Graph) -> int:
    """Multiply-accumulates of one node at batch 1 (0 for ops without a MAC formula or unknown shapes)."""
    op = node.op_type
    try:
        if op == "Conv":
            w = g.shape(node.input[1])
            y = g.shape(node.output[0])
            if not w or not y:
                return 0
            return int(np.prod(y) * int(np.prod(w[1:])))  # N*Cout*spatial * (Cin/g)*k
        if op == "ConvTranspose":
            x = g.shape(node.input[0])
            w = g.shape(node.input[1])
            if not w or not x:
                return 0
            return int(np.prod(x) * int(np.prod(w[1:])))
        if op == "Gemm":
            a = g.shape(node.input[0])
            b = g.shape(node.input[1])
            if not a or not b:
                return 0
            m, k = (a[1], a[0]) if _attr(node, "transA", 0) else (a[0], a[1])
            n = b[0] if _attr(node, "transB", 0) else b[1]
            return int(m * n * k)
        if op in ("MatMul", "MatMulInteger", "QLinearMatMul"):
            ia, ib = (0, 1) if op != "QLinearMatMul" else (0, 3)
            a = g.shape(node.input[ia])
            b = g.shape(node.input[ib])
            y = g.shape(node.output[0])
            if not a or not b or not y:
                return 0
            k = a[-1]
            return int(np.prod(y) * k)
        if op in ("GRU", "LSTM", "RNN"):
            x = g.shape(node.input[0])
            w = g.shape(node.input[1])
            if not x or not w:
                return 0
            gates = {"GRU": 3, "LSTM": 4, "RNN": 1}[op]
            dirs, gh, i_size = w
            h = gh // gates
            t, n = (x[1], x[0]) if _attr(node, "layout", 0) == 1 else (x[0], x[1])
            return int(dirs * t * n * gates * h * (i_size + h))
        if op == "ConvInteger" or op == "QLinearConv":
            wi = 1 if op == "ConvInteger" else 3
            w = g.shape(node.input[wi])
            y = g.shape(node.output[0])
            if not w or not y:
                return 0
            return int(np.prod(y) * int(np.prod(w[1:])))
    except (TypeError, ValueError, IndexError):
        return 0
    return 0


def _batch_dim(node) -> int:
    if node.op_type in ("GRU", "LSTM", "RNN"):
        return 0 if _attr(node, "layout", 0) == 1 else 1
    return 0


def _check_rule(node, rule: dict, g: Graph, target: Target) -> tuple[list[str], bool]:
    """Apply one op rule; returns (reasons, runs_in_float)."""
    reasons = []
    float_only = False
    ins = [i for i in node.input]
    x0 = ins[0] if ins else None
    if "batch_max" in rule and x0:
        bd = _batch_dim(node)
        s = g.shapes.get(x0)
        if s is not None and len(s) > bd:
            d = s[bd]
            if not isinstance(d, int) or d <= 0:
                reasons.append(f"dynamic-shape: batch dim {bd} of input is '{d}' (needs a static batch <= {rule['batch_max']})")
            elif d > rule["batch_max"]:
                reasons.append(f"attribute: batch {d} > {rule['batch_max']} ({rule.get('remark', '')})")
    for a, allowed in rule.get("attrs", {}).items():
        v = _attr(node, a)
        if v is None:
            continue
        v = v.decode() if isinstance(v, bytes) else v
        if v not in allowed:
            reasons.append(f"attribute: {a}={v!r} not in {allowed}")
    for idx in rule.get("const_inputs", []):
        if idx < len(ins) and ins[idx] and ins[idx] not in g.consts:
            reasons.append(f"attribute: input {idx} ('{ins[idx]}') must be a constant/initializer")
    for idx in rule.get("zero_inputs", []):
        if idx < len(ins) and ins[idx]:
            v = g.const_value(ins[idx])
            if v is None or np.any(v != 0):
                reasons.append(f"attribute: input {idx} (zero point) must be 0 ({rule.get('remark', '')})")
    if "input_rank" in rule and x0:
        s = g.shapes.get(x0)
        if s is not None and len(s) not in rule["input_rank"]:
            reasons.append(f"attribute: input rank {len(s)} not in {rule['input_rank']}")
    if "dtypes" in rule and x0:
        dt = g.dtypes.get(x0)
        if dt == "int64" and "int32" in rule["dtypes"]:
            dt = "int32"
        if dt and dt not in rule["dtypes"]:
            reasons.append(f"dtype: input dtype {dt} not in {rule['dtypes']}")
    if "qdq_dtypes" in rule:
        for i in ins:
            p = g.producer.get(i)
            if p is not None and p.op_type == "DequantizeLinear":
                dt = g.dtypes.get(p.input[0])
                if dt and dt not in rule["qdq_dtypes"]:
                    reasons.append(f"dtype: quantized input {dt} not in {rule['qdq_dtypes']} ({rule.get('remark', '')})")
                    break
    if rule.get("static_shape"):
        for i in ins:
            if i and not g.is_static(i):
                reasons.append(f"dynamic-shape: input '{i}' has shape {g.shapes.get(i)}")
                break
    if "max_outputs" in rule and len([o for o in node.output if o]) > rule["max_outputs"]:
        reasons.append(f"attribute: more than {rule['max_outputs']} output(s) used")
    if "max_elements" in rule and x0:
        s = g.shape(x0)
        if s and int(np.prod(s)) > rule["max_elements"]:
            reasons.append(f"attribute: {int(np.prod(s))} elements > {rule['max_elements']}")
    if rule.get("float_only"):
        float_only = True
    return reasons, float_only


def _tflite_op(node, target: Target, g: Graph) -> str:
    op = node.op_type
    mapped = target.onnx_to_tflite.get(op, op.upper())
    if op == "Conv":
        group = _attr(node, "group", 1)
        w = g.shape(node.input[1]) if len(node.input) > 1 else None
        if group > 1 and w and w[1] == 1:
            return "DEPTHWISE_CONV_2D"
    if op == "Clip":
        lo = g.const_value(node.input[1]) if len(node.input) > 1 and node.input[1] else None
        hi = g.const_value(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        if lo is not None and hi is not None and float(lo) == 0 and float(hi) == 6:
            return "RELU6"
        if lo is not None and hi is not None and float(lo) == -1 and float(hi) == 1:
            return "RELU_N1_TO_1"
        return "MINIMUM+MAXIMUM"
    if op in ("Gather", "GatherElements") and len(node.input) > 1:
        idx = g.const_value(node.input[1])
        if idx is not None and idx.size == 1:
            return "SLICE"  # a constant single index is a slice (litert-torch emits SLICE/STRIDED_SLICE)
    if op == "MatMul":
        a = g.shape(node.input[0])
        if a and len([d for d in a[:-1] if d > 1]) > 1:
            return "BATCH_MATMUL"
    return mapped


def check_model(onnx_path: str | Path, target: str | Target, evidence: dict | None = None) -> CheckReport:
    """Check an ONNX model against a target profile.

    Args:
        onnx_path: float or QDQ ONNX model.
        target: profile name (``voxquant.targets.target_names()``) or a :class:`Target`.
        evidence: optional runtime observations to attach (name -> JSON-able dict).

    Returns:
        :class:`CheckReport`. Unsupported ops are reported, never raised.

    Raises:
        ModelError: the file is missing or not ONNX. ConfigError: unknown target (with a suggestion).
    """
    import onnx

    t = target if isinstance(target, Target) else get_target(target)
    from voxquant.models.checks import check_onnx_file

    path = Path(onnx_path)
    check_onnx_file(path)  # missing/empty/not ONNX, opset outside what ONNX Runtime runs, external data missing
    try:
        model = onnx.load(str(path))
    except Exception as exc:
        raise ModelError(f"not a valid ONNX model ({type(exc).__name__})", path) from None
    g = Graph(model)
    issues = []
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if t.max_opset and opset > t.max_opset:
        issues.append(f"opset {opset} > {t.max_opset} accepted by {t.toolchain}: re-export or convert the opset "
                      f"(voxquant's {t.backend} export does this)")
    for name in g.inputs:
        s = g.shapes.get(name, ())
        dyn = [d for d in s if not (isinstance(d, int) and d > 0)]
        if dyn and t.static_shapes:
            issues.append(f"input '{name}' has dynamic dims {dyn}: {t.name} needs static shapes; the check assumes batch 1 "
                          f"(voxquant's {t.backend} export fixes it)")
    qdq = g.has_qdq()
    if t.int_only and not qdq:
        issues.append("float model: the check assumes the toolchain quantizes every supported node to int8 "
                      "(full-integer PTQ); nodes it cannot quantize would leave the accelerator")
    findings: list[NodeFinding] = []
    first_break = None
    for node in g.graph.node:
        name = node.name or f"{node.op_type}_{len(findings)}"
        outs = [o for o in node.output if o]
        if node.op_type in _NOOPS or (outs and all(o in g.consts for o in outs)):
            findings.append(NodeFinding(name, node.op_type, "folded"))
            continue
        op = node.op_type
        mapped = _tflite_op(node, t, g) if t.op_namespace == "tflite" else op
        if t.op_namespace == "tflite" and mapped == "":
            findings.append(NodeFinding(name, op, "folded", mapped_op="(folded)"))
            continue
        macs = node_macs(node, g)
        quant = g.is_quantized(node) if qdq and op not in _QDQ else None
        reasons: list[str] = []
        remark = ""
        placement = "accelerator"
        if mapped.startswith("unrolled:"):
            parts = mapped[len("unrolled:"):].split(",")
            missing = [p for p in parts if t.op_rule(p) is None]
            if missing:
                reasons.append(f"op: {op} lowers to {', '.join(parts)}; not supported: {', '.join(missing)}")
            remark = f"{op} has no {t.op_namespace} builtin: lowered (unrolled over time) to {', '.join(parts)}"
            mapped = f"{op} (unrolled)"
        elif node.domain not in ("", "ai.onnx") and t.op_namespace == "onnx" and t.op_rule(f"{node.domain}:{op}") is None:
            reasons.append(f"op: custom domain '{node.domain}' op {op} is not in the {t.name} table")
        else:
            rule = t.op_rule(mapped if node.domain in ("", "ai.onnx") else f"{node.domain}:{op}")
            if rule is None:
                why = t.unsupported.get(mapped) or t.unsupported.get(op)
                reasons.append(f"op: {mapped} {'is ' + why if why else 'is not in the supported-operator table'}")
            else:
                remark = rule.get("remark", "")
                for a in rule.get("strip_attrs", []):
                    if _attr(node, a) is not None:
                        issues.append(f"{op} node '{name}' carries the '{a}' attribute: {t.toolchain} fails to build it "
                                      f"(onnx checker: 'Unrecognized attribute: {a} for operator {op}'); voxquant's "
                                      f"{t.backend} export removes it")
                rs, float_only = _check_rule(node, rule, g, t)
                reasons += rs
                if float_only and qdq and not rs:
                    placement = "accelerator-float"
                    reasons.append(f"dtype: {op} has no int8 kernel ({remark or 'float only'}); runs in float")
        if qdq and op not in _QDQ and quant is False and not reasons and macs > 0:
            if t.int_only:
                reasons.append(f"dtype: node is not quantized (float inputs/weights) and {t.accelerator} runs integer ops only")
            else:
                placement = "accelerator-float"
                reasons.append("dtype: not quantized in this QDQ model (float weights/inputs): runs in float")
        if t.static_shapes:
            for o in outs:
                s = g.shapes.get(o)
                if s is not None and any(not (isinstance(d, int) and d > 0) for d in s):
                    sym = [d for d in s if not (isinstance(d, int) and d > 0)]
                    if any(d not in (g.shapes.get(g.inputs[0], ()) if g.inputs else ()) for d in sym):
                        reasons.append(f"dynamic-shape: output '{o}' has data-dependent shape {s}")
                        break
        if t.max_tensor_rank_gt1:
            for v in list(node.input[:1]) + outs:
                s = g.shape(v) if v else None
                if s and len([d for d in s if d > 1]) > t.max_tensor_rank_gt1:
                    reasons.append(f"attribute: tensor '{v}' {s} has more than {t.max_tensor_rank_gt1} dims larger than 1")
                    break
        if reasons and placement != "accelerator-float":
            placement = "cpu"
        if t.partition == "prefix":
            if first_break is None and placement == "cpu":
                first_break = f"{name} ({mapped})"
            elif first_break is not None and placement != "cpu":
                placement = "cpu"
                reasons.append(f"partition: after the first unsupported op {first_break} everything runs on the CPU")
        findings.append(NodeFinding(name, op, placement, reasons, remark, macs, mapped if mapped != op else "", quant))
    total = sum(f.macs for f in findings)
    off = sum(f.macs for f in findings if f.placement == "cpu")
    flt = sum(f.macs for f in findings if f.placement == "accelerator-float")
    return CheckReport(str(path), t.name, t.title, t.citation(), findings, total, off, flt, issues, first_break,
                       list(t.notes), dict(evidence or {}))


def check_cli(model: str | Path, target: str, evidence=None, all_nodes: bool = False, as_json: bool = False,
              calibration: np.ndarray | None = None, torch_model=None) -> tuple[str, CheckReport]:
    """What ``voxquant check MODEL --target T`` prints.

    Args:
        model: ONNX file. target: profile name. evidence: ``None``/``False``, or a callable
            ``(model, target_name, calibration, torch_model=...) -> dict`` that adds what the toolchains here
            actually did (the CLI passes :func:`voxquant.backends.evidence.backend_evidence`: ONNX Runtime's int8
            profile; RKNN build log for rk3588; the real .tflite partition for coral-edgetpu). A callable, not an
            import, because the targets layer sits below the backends. all_nodes: list every node. as_json: JSON output.
        calibration: inputs for the evidence builds (default: 16 standard-normal inputs, seed 0).
        torch_model: the PyTorch model the ONNX came from (LiteRT converts from PyTorch; else onnx2torch).

    Returns:
        ``(text, report)``.

    Raises:
        ConfigError: unknown target (with a suggestion). ModelError: not an ONNX file.
    """
    t = get_target(target)
    rep = check_model(model, t)
    if evidence:
        if not callable(evidence):
            raise TypeError("check_cli(evidence=...) takes a callable such as voxquant.backends.evidence.backend_evidence")
        rep.evidence.update(evidence(model, t.name, calibration, torch_model=torch_model))
    text = json.dumps(rep.to_dict(), indent=1, default=str) if as_json else rep.to_text(all_nodes=all_nodes)
    return text, rep


__all__ = ["CheckReport", "Graph", "NodeFinding", "check_cli", "check_model", "node_macs"]
