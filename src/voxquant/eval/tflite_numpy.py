"""A float reference of an int8 stateful ``.tflite`` (microWakeWord v2): the graph run in numpy.

microWakeWord publishes only int8 models. To measure what int8 costs on a stream we need a float twin of the
*same* graph: :class:`NumpyTFLite` reads the flatbuffer (``ai_edge_litert.schema_py_generated``, the TFLite
schema's generated Python object API), dequantizes every constant (``(q - zero_point) * scale``, per channel along
``quantized_dimension``) and executes the operators in numpy on float32 activations. The streaming ring buffers
(``VAR_HANDLE`` / ``READ_VARIABLE`` / ``ASSIGN_VARIABLE`` resource variables, initialised once by the ``CALL_ONCE``
subgraph) are held as float arrays. So ``mode="float"`` is "fp32 (dequantized int8 weights, float activations;
not a publisher's float model)".

``mode="emulate"`` additionally rounds every int8/uint8 activation tensor (graph input, op outputs, variables)
to its TFLite scale and zero point (``clip(round(x / s) + zp) - zp) * s``): this fake-quantized run follows the int8
interpreter's arithmetic up to its fixed-point requantization rounding, and serves as the proof that the graph
is executed right (tests compare it with LiteRT step by step).

Operators (TFLite builtin semantics, NHWC): CALL_ONCE, VAR_HANDLE, READ_VARIABLE, ASSIGN_VARIABLE, RESHAPE,
CONCATENATION, STRIDED_SLICE (begin/end masks, no ellipsis/new-axis/shrink), CONV_2D and DEPTHWISE_CONV_2D
(SAME/VALID padding, strides, dilation, fused RELU/RELU6/RELU_N1_TO_1), FULLY_CONNECTED, LOGISTIC, QUANTIZE,
DEQUANTIZE. Any other operator raises :class:`~voxquant.errors.ModelError` naming it.

Speed: :meth:`NumpyTFLite.run` evaluates a whole sequence of steps at once when every variable is a ring buffer
(``ASSIGN(v, STRIDED_SLICE(CONCAT([READ(v), x], axis=1)))`` keeping the newest rows, the kws_streaming ``Stream``
layer microWakeWord uses): the concatenation of step ``t`` is then the window ``t`` of the layer's input history,
so all steps of a chunk run batched (``numpy.lib.stride_tricks.sliding_window_view``) and the state carried to the
next chunk is the history's last rows. This is exactly the sequential result (tested); otherwise it steps one by
one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from voxquant.errors import ModelError, require

__all__ = ["NumpyTFLite", "SUPPORTED_OPS"]

SUPPORTED_OPS = ("CALL_ONCE", "VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "RESHAPE", "CONCATENATION",
                 "STRIDED_SLICE", "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "LOGISTIC", "QUANTIZE",
                 "DEQUANTIZE")
"""Builtin operators :class:`NumpyTFLite` executes."""

_NP = {"FLOAT32": np.float32, "INT8": np.int8, "UINT8": np.uint8, "INT16": np.int16, "INT32": np.int32,
       "INT64": np.int64}


def _act(x: np.ndarray, code: int) -> np.ndarray:
    if code == 0:
        return x
    if code == 1:
        return np.maximum(x, 0.0)
    if code == 2:
        return np.clip(x, -1.0, 1.0)
    if code == 3:
        return np.clip(x, 0.0, 6.0)
    raise ModelError(f"fused activation {code} is not supported by the numpy reference")


def _same_pad(n: int, k: int, stride: int, dil: int) -> tuple[int, int]:
    out = -(-n // stride)
    total = max((out - 1) * stride + (k - 1) * dil + 1 - n, 0)
    return total // 2, total - total // 2


def _patches(x: np.ndarray, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int, padding: int) -> np.ndarray:
    """``[N, OH, OW, KH, KW, C]`` windows of NHWC ``x`` (TFLite SAME=0 / VALID=1 padding)."""
    if padding == 0:
        ph, pw = _same_pad(x.shape[1], kh, sh, dh), _same_pad(x.shape[2], kw, sw, dw)
        if any(ph + pw):
            x = np.pad(x, ((0, 0), ph, pw, (0, 0)))
    eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    win = np.lib.stride_tricks.sliding_window_view(x, (eh, ew), axis=(1, 2))  # [N, OH', OW', C, eh, ew]
    win = win[:, ::sh, ::sw, :, ::dh, ::dw]
    return win.transpose(0, 1, 2, 4, 5, 3)


class NumpyTFLite:
    """The float (or activation-fake-quantized) numpy execution of a stateful int8 ``.tflite``.

    Args:
        model_path: the ``.tflite`` (one input, one output; main subgraph 0).
        mode: ``"float"`` (dequantized weights, float activations and state) or ``"emulate"`` (activations and
            state rounded to their int8/uint8 scale and zero point after every op).

    Attributes:
        input_shape: the input tensor's shape (e.g. ``(1, 3, 40)``).
        output_scale_zp: the output tensor's ``(scale, zero_point)`` (informational).
        ops: operator names of the main subgraph, in order.

    Raises:
        ModelError: unreadable flatbuffer, an operator outside :data:`SUPPORTED_OPS`, an unsupported option.
        MissingExtraError: ``ai_edge_litert`` (extra ``litert``) absent.
    """

    def __init__(self, model_path: str | Path, mode: str = "float"):
        if mode not in ("float", "emulate"):
            raise ModelError(f"mode must be 'float' or 'emulate', got {mode!r}", model_path)
        self.model_path = Path(model_path)
        self.mode = mode
        schema = require("ai_edge_litert.schema_py_generated", "litert", "The float reference of a .tflite")
        self._s = schema
        try:
            m = schema.ModelT.InitFromPackedBuf(self.model_path.read_bytes(), 0)
        except OSError as exc:
            raise ModelError(f"cannot read it: {exc.strerror or exc}", self.model_path) from None
        except Exception as exc:  # flatbuffers raises plain errors on garbage
            raise ModelError(f"not a TFLite flatbuffer ({type(exc).__name__}: {str(exc)[:120]})", self.model_path) from None
        self._m = m
        self._names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
        self._ttype = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
        sg = m.subgraphs[0]
        if len(sg.inputs) != 1 or len(sg.outputs) != 1:
            raise ModelError(f"expected one input and one output, got {len(sg.inputs)} and {len(sg.outputs)}",
                             self.model_path)
        self._in, self._out = int(sg.inputs[0]), int(sg.outputs[0])
        self.input_shape = tuple(int(d) for d in sg.tensors[self._in].shape)
        q = self._qparams(sg.tensors[self._out])
        self.output_scale_zp = (float(q[0][0]), int(q[1][0])) if q else None
        self.ops = [self._opname(op) for op in sg.operators]
        bad = sorted({o for o in self.ops if o not in SUPPORTED_OPS})
        if bad:
            raise ModelError(f"operator(s) {', '.join(bad)} not supported by the numpy float reference "
                             f"(supported: {', '.join(SUPPORTED_OPS)})", self.model_path)
        self._consts = [self._const_table(g) for g in m.subgraphs]
        self._ring = self._ring_pattern()
        self.reset()

    # ---- flatbuffer helpers -------------------------------------------------------------------------------------
    def _opname(self, op) -> str:
        oc = self._m.operatorCodes[op.opcodeIndex]
        return self._names.get(max(int(oc.builtinCode), int(oc.deprecatedBuiltinCode)), f"#{oc.builtinCode}")

    @staticmethod
    def _qparams(t):
        q = t.quantization
        if q is None or q.scale is None or len(q.scale) == 0:
            return None
        return np.asarray(q.scale, np.float64), np.asarray(q.zeroPoint, np.int64), int(q.quantizedDimension)

    def _const_table(self, sg) -> dict:
        """``{tensor index: float32 (or int32 for index tensors) array}`` of every tensor holding data."""
        out = {}
        for i, t in enumerate(sg.tensors):
            buf = self._m.buffers[t.buffer].data if t.buffer < len(self._m.buffers) else None
            if buf is None or len(buf) == 0:
                continue
            tname = self._ttype.get(t.type)
            if tname not in _NP:
                raise ModelError(f"constant tensor {t.name!r} of type {tname} is not supported", self.model_path)
            shape = tuple(int(d) for d in t.shape) if t.shape is not None else ()
            a = np.frombuffer(bytes(np.asarray(buf, np.uint8)), dtype=_NP[tname]).reshape(shape)
            qp = self._qparams(t)
            if qp is None:
                out[i] = a.astype(np.float32) if tname == "FLOAT32" else a.copy()
                continue
            scale, zp, axis = qp
            if scale.size > 1:
                bshape = [1] * a.ndim
                bshape[axis] = scale.size
                scale, zp = scale.reshape(bshape), zp.reshape(bshape)
            out[i] = ((a.astype(np.float64) - zp) * scale).astype(np.float32)
        return out

    def _fq(self, tensor_index: int, x: np.ndarray, sg_index: int = 0) -> np.ndarray:
        """Fake-quantize ``x`` to the tensor's int8/uint8 grid in emulate mode; identity in float mode."""
        if self.mode != "emulate":
            return x
        t = self._m.subgraphs[sg_index].tensors[tensor_index]
        qp = self._qparams(t)
        tname = self._ttype.get(t.type)
        if qp is None or tname not in ("INT8", "UINT8", "INT16"):
            return x
        info = np.iinfo(_NP[tname])
        s, zp = float(qp[0][0]), float(qp[1][0])
        return ((np.clip(np.round(x / s) + zp, info.min, info.max) - zp) * s).astype(np.float32)

    # ---- state ---------------------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Fresh state: the variables are unset until the first step runs the ``CALL_ONCE`` init subgraph."""
        self._vars: dict[bytes, np.ndarray] = {}
        self._initialised = False

    def _run_init(self, sg_index: int) -> None:
        sg = self._m.subgraphs[sg_index]
        vals: dict = {}
        for op in sg.operators:
            name = self._opname(op)
            if name == "VAR_HANDLE":
                vals[int(op.outputs[0])] = op.builtinOptions.sharedName
            elif name == "ASSIGN_VARIABLE":
                src = int(op.inputs[1])
                if src not in self._consts[sg_index]:
                    raise ModelError("init subgraph assigns a non-constant value", self.model_path)
                self._vars[vals[int(op.inputs[0])]] = self._fq(src, self._consts[sg_index][src], sg_index)
            else:
                raise ModelError(f"init subgraph op {name} not supported", self.model_path)

    # ---- execution ------------------------------------------------------------------------------------------------
    def _exec(self, x: np.ndarray, batched: bool) -> np.ndarray:
        """One pass over the main subgraph. ``batched``: ``x`` holds T steps along axis 0 and ring-buffer variables
        are expanded into windows (see module docstring); otherwise ``x`` is one step."""
        sg = self._m.subgraphs[0]
        consts = self._consts[0]
        v: dict[int, object] = {self._in: self._fq(self._in, np.asarray(x, np.float32))}

        def get(i):
            i = int(i)
            return v[i] if i in v else consts[i]

        T = x.shape[0] if batched else 1
        for op in sg.operators:
            name = self._opname(op)
            o = op.builtinOptions
            ins = [int(i) for i in op.inputs]
            outs = [int(i) for i in op.outputs]
            if name == "CALL_ONCE":
                if not self._initialised:
                    self._run_init(int(o.initSubgraphIndex))
                    self._initialised = True
                continue
            if name == "VAR_HANDLE":
                v[outs[0]] = o.sharedName
                continue
            if name == "READ_VARIABLE":
                key = v[ins[0]]
                if key not in self._vars:
                    raise ModelError(f"variable {key!r} read before assignment", self.model_path)
                v[outs[0]] = ("var", key) if batched else self._vars[key]
                continue
            if name == "ASSIGN_VARIABLE":
                key = v[ins[0]]
                val = get(ins[1])
                if batched:
                    val = val[1]  # (windows, new state) pair from the ring-buffer slice
                self._vars[key] = np.array(val, np.float32)
                continue
            if name == "CONCATENATION":
                parts = [get(i) for i in ins]
                if batched and isinstance(parts[0], tuple):
                    y = self._ring_windows(self._vars[parts[0][1]], parts[1:], int(o.axis), T)
                    v[outs[0]] = _act(self._fq(outs[0], y), int(o.fusedActivationFunction))
                    # history of this ring, for the state slice
                    v[("hist", outs[0])] = _act(self._fq(outs[0], self._ring_hist), int(o.fusedActivationFunction))
                    continue
                if any(isinstance(p, tuple) for p in parts):
                    raise ModelError("a variable is concatenated in a way the batched reference does not know",
                                     self.model_path)
                y = np.concatenate(parts, axis=int(o.axis))
                y = _act(y, int(o.fusedActivationFunction))
            elif name == "STRIDED_SLICE":
                xin = get(ins[0])
                begin, end, strides = (np.asarray(consts[i]).astype(int) for i in ins[1:4])
                if o.ellipsisMask or o.newAxisMask or o.shrinkAxisMask or getattr(o, "offset", False):
                    raise ModelError("STRIDED_SLICE with ellipsis/new-axis/shrink/offset is not supported",
                                     self.model_path)
                if batched and ("hist", ins[0]) in v:
                    hist = v[("hist", ins[0])]
                    n_keep = self._slice_len(xin.shape[1:], begin, end, strides, o)
                    v[outs[0]] = (None, hist[:, hist.shape[1] - n_keep:] if n_keep else hist[:, :0])
                    continue
                sl = []
                for d in range(xin.ndim):
                    b = None if (o.beginMask >> d) & 1 else int(begin[d])
                    e = None if (o.endMask >> d) & 1 else int(end[d])
                    sl.append(slice(b, e, int(strides[d])))
                y = xin[tuple(sl)]
            elif name == "RESHAPE":
                xin = get(ins[0])
                shape = [int(d) for d in (consts[ins[1]] if len(ins) > 1 and ins[1] in consts else o.newShape)]
                if batched:
                    shape[0] = -1
                y = xin.reshape(shape)
            elif name == "CONV_2D":
                xin, w = get(ins[0]), consts[ins[1]]
                b = consts[ins[2]] if len(ins) > 2 and ins[2] >= 0 else 0.0
                oc, kh, kw, ic = w.shape
                p = _patches(xin, kh, kw, o.strideH, o.strideW, o.dilationHFactor, o.dilationWFactor, o.padding)
                n, oh, ow = p.shape[:3]
                y = (p.reshape(n * oh * ow, kh * kw * ic) @ w.reshape(oc, -1).T).reshape(n, oh, ow, oc) + b
                y = _act(y, int(o.fusedActivationFunction))
            elif name == "DEPTHWISE_CONV_2D":
                xin, w = get(ins[0]), consts[ins[1]]
                b = consts[ins[2]] if len(ins) > 2 and ins[2] >= 0 else 0.0
                if int(o.depthMultiplier) not in (0, 1) or w.shape[3] != xin.shape[3]:
                    raise ModelError("DEPTHWISE_CONV_2D with a depth multiplier is not supported", self.model_path)
                _, kh, kw, c = w.shape
                p = _patches(xin, kh, kw, o.strideH, o.strideW, o.dilationHFactor, o.dilationWFactor, o.padding)
                y = np.einsum("nhwijc,ijc->nhwc", p, w[0], optimize=True) + b
                y = _act(y, int(o.fusedActivationFunction))
            elif name == "FULLY_CONNECTED":
                xin, w = get(ins[0]), consts[ins[1]]
                b = consts[ins[2]] if len(ins) > 2 and ins[2] >= 0 else 0.0
                y = xin.reshape(-1, w.shape[1]) @ w.T + b
                y = _act(y, int(o.fusedActivationFunction))
            elif name == "LOGISTIC":
                y = 1.0 / (1.0 + np.exp(-get(ins[0])))
            elif name in ("QUANTIZE", "DEQUANTIZE"):
                y = get(ins[0])
            else:  # pragma: no cover - refused in __init__
                raise ModelError(f"operator {name} not supported", self.model_path)
            v[outs[0]] = self._fq(outs[0], np.asarray(y, np.float32))
        return np.asarray(v[self._out], np.float32)

    @staticmethod
    def _slice_len(shape, begin, end, strides, o) -> int:
        """Rows kept along axis 1 by a STRIDED_SLICE of a one-step tensor of ``shape``."""
        rows = shape[0]  # ``shape`` excludes the time axis: axis 1 of the step tensor is its first entry
        b = 0 if (o.beginMask >> 1) & 1 else int(begin[1])
        e = rows if (o.endMask >> 1) & 1 else int(end[1])
        return len(range(rows)[slice(b, e, int(strides[1]))])

    def _ring_windows(self, state: np.ndarray, new_parts, axis: int, T: int) -> np.ndarray:
        """Batched CONCAT([state, x_t]) for t < T: windows of the history ``[state, x_0, x_1, ...]`` (axis 1)."""
        if axis != 1 or len(new_parts) != 1:
            raise ModelError("ring buffer concatenation other than [state, x] along axis 1", self.model_path)
        x = new_parts[0]  # [T, n, W, C]
        n = x.shape[1]
        s = state.shape[1]
        hist = np.concatenate([state, x.reshape(1, T * n, *x.shape[2:])], axis=1)  # [1, s + T n, W, C]
        self._ring_hist = hist
        win = np.lib.stride_tricks.sliding_window_view(hist[0], s + n, axis=0)[::n][:T]  # [T, W, C, s+n]
        return np.ascontiguousarray(np.moveaxis(win, -1, 1))

    def _ring_pattern(self) -> bool:
        """True when every variable is a ring buffer (module docstring), so :meth:`run` may batch steps."""
        sg = self._m.subgraphs[0]
        producer = {int(o): op for op in sg.operators for o in op.outputs}
        handle = {int(op.outputs[0]): op.builtinOptions.sharedName for op in sg.operators
                  if self._opname(op) == "VAR_HANDLE"}
        for op in sg.operators:
            if self._opname(op) == "READ_VARIABLE":
                consumers = [c for c in sg.operators if int(op.outputs[0]) in [int(i) for i in c.inputs]]
                if len(consumers) != 1 or self._opname(consumers[0]) != "CONCATENATION" \
                        or int(consumers[0].inputs[0]) != int(op.outputs[0]):
                    return False
            if self._opname(op) != "ASSIGN_VARIABLE":
                continue
            sl = producer.get(int(op.inputs[1]))
            if sl is None or self._opname(sl) != "STRIDED_SLICE":
                return False
            cat = producer.get(int(sl.inputs[0]))
            if cat is None or self._opname(cat) != "CONCATENATION" or int(cat.builtinOptions.axis) != 1:
                return False
            rd = producer.get(int(cat.inputs[0]))
            if rd is None or self._opname(rd) != "READ_VARIABLE" \
                    or handle.get(int(rd.inputs[0])) != handle.get(int(op.inputs[0])):
                return False
            end_mask, strides = int(sl.builtinOptions.endMask), np.asarray(self._consts[0][int(sl.inputs[3])])
            if not (end_mask >> 1) & 1 or int(strides[1]) != 1:  # must keep the newest rows, contiguous
                return False
        return True

    def step(self, x) -> np.ndarray:
        """One invocation from the current state (the state advances).

        Args:
            x: ``float32`` of :attr:`input_shape` (float features, not quantized).

        Returns:
            the output tensor as float32 (for microWakeWord: ``[1, 1]`` probability in [0, 1]).
        """
        x = np.asarray(x, np.float32).reshape(self.input_shape)
        return self._exec(x, batched=False)

    def run(self, xs, chunk: int = 4096) -> np.ndarray:
        """Invoke on consecutive inputs from the current state; equal to calling :meth:`step` on each.

        Args:
            xs: ``float32 [T, *input_shape[1:]]``.
            chunk: steps evaluated together when the graph is ring-buffer shaped (module docstring).

        Returns:
            ``float32 [T, *output_shape[1:]]``.
        """
        xs = np.asarray(xs, np.float32)
        if xs.shape[1:] != self.input_shape[1:]:
            raise ModelError(f"inputs of shape {list(xs.shape[1:])} per step, model takes "
                             f"{list(self.input_shape[1:])}", self.model_path)
        if not self._ring or self.input_shape[0] != 1:
            return np.concatenate([self.step(x[None]) for x in xs]) if len(xs) else np.zeros((0, 1), np.float32)
        if not self._initialised:  # the init subgraph runs on the first step
            self._exec_init_only()
        outs = [self._exec(xs[i: i + chunk], batched=True) for i in range(0, len(xs), chunk)]
        return np.concatenate(outs) if outs else np.zeros((0, 1), np.float32)

    def _exec_init_only(self) -> None:
        for op in self._m.subgraphs[0].operators:
            if self._opname(op) == "CALL_ONCE":
                self._run_init(int(op.builtinOptions.initSubgraphIndex))
        self._initialised = True
