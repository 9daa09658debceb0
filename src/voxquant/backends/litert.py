"""LiteRT (TFLite) backend and the Coral Edge TPU rules, without TensorFlow.

Conversion starts from the PyTorch float model (``litert_torch.convert``); a model given only as ONNX is turned
back into PyTorch with ``onnx2torch`` unless the caller passes ``torch_model=``. Precisions:

* ``fp32``: ``litert_torch.convert(model, (example,))``;
* ``fp16``: ai-edge-quantizer weight-only float16 (``FLOAT_CASTING``, 16 bits) on the fp32 ``.tflite``
  (weights stored fp16, explicitly dequantized; compute stays fp32);
* ``int8-dynamic``: ai-edge-quantizer recipe ``dynamic_wi8_afp32`` (int8 per-channel weights, activations
  quantized at run time);
* ``int8``: full integer with **int8 input and output**: PT2E static quantization through litert-torch's
  ``PT2EQuantizer`` (``get_symmetric_quantization_config(is_per_channel=True)``, torchao's
  ``prepare_pt2e``/``convert_pt2e``, calibration on the given features); where PT2E cannot handle the model
  (e.g. a GRU), ai-edge-quantizer ``static_wi8_ai8`` on the fp32 ``.tflite`` is used instead; then the float
  I/O is replaced by int8 I/O with LiteRT's ``modify_model_interface`` (the TFLite converter's
  ``inference_input_type=int8`` step). ``artifact.extra["int8_path"]`` says which path was used.

Sessions run ``ai_edge_litert.interpreter.Interpreter(num_threads=n)`` (XNNPACK default delegate; which ops it
took is read back by :func:`xnnpack_partition` into ``artifact.extra["xnnpack"]``). An int8-I/O
model gets float features quantized with the input scale/zero point (round, clip to [-128, 127]) and its int8
outputs dequantized.

Edge TPU (:class:`EdgeTpuBackend`, :func:`edgetpu_check`): the full-int8 ``.tflite`` checked against the Edge
TPU rules of the ``coral-edgetpu`` profile (coral.ai/docs/edgetpu/models-intro, "Supported operations"): the
first op that breaks the single TPU partition and everything after it are reported as CPU. The Edge TPU
compiler itself cannot be installed here (Debian package from Google's apt repository, unreachable): the
verdict is a prediction from the published table, and says so.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from voxquant.backends.base import Artifact, Backend, BackendInfo, Session
from voxquant.errors import ConfigError, ModelError, require

EDGETPU_COMPILER_NOTE = ("Edge TPU compiler not run: edgetpu_compiler is a Debian package from Google's apt repository "
                         "(packages.cloud.google.com), which this machine cannot reach; the partition below is predicted "
                         "from the published supported-operations table.")


def _interp_mod():
    return require("ai_edge_litert.interpreter", "litert", "The LiteRT backend")


def _torch_from(fp32_onnx: Path, torch_model=None):
    """The PyTorch float model: ``torch_model`` or an ``onnx2torch`` conversion of ``fp32_onnx``."""
    if torch_model is not None:
        return torch_model.eval()
    try:
        onnx2torch = require("onnx2torch", "qat", "Converting an ONNX-only model to PyTorch for LiteRT")
    except (RuntimeError, OSError) as exc:  # onnx2torch imports torchvision, whose C ops may not load
        raise ModelError(f"cannot convert this ONNX model back to PyTorch for LiteRT: onnx2torch failed to import "
                         f"({type(exc).__name__}: {str(exc)[:120]})", fp32_onnx,
                         hint="pass the PyTorch model (torch_model=, or --weights on the command line)") from None
    return onnx2torch.convert(str(fp32_onnx)).eval()


def _example(fp32_onnx: Path, torch_model=None):
    import torch

    if torch_model is not None and hasattr(torch_model, "example_input"):
        return torch_model.example_input(1)
    import onnx

    m = onnx.load(str(fp32_onnx), load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    i = [x for x in m.graph.input if x.name not in inits][0]
    return torch.zeros([d.dim_value if d.dim_value > 0 else 1 for d in i.type.tensor_type.shape.dim])


def _cache_key(fp32_onnx: Path, calibration) -> str:
    """sha256 of the float ONNX bytes and the calibration array (reuse an int8 build only when both match)."""
    import hashlib

    h = hashlib.sha256(Path(fp32_onnx).read_bytes())
    if calibration is not None:
        h.update(np.ascontiguousarray(calibration, dtype=np.float32).tobytes())
    return h.hexdigest()


def convert_fp32(torch_model, example, out: Path) -> Path:
    """``litert_torch.convert`` -> ``out`` (.tflite)."""
    litert_torch = require("litert_torch", "litert", "TFLite conversion (litert-torch)")
    edge = litert_torch.convert(torch_model.eval(), (example,))
    edge.export(str(out))
    return Path(out)


def convert_pt2e_int8(torch_model, example, calibration: np.ndarray, out: Path) -> Path:
    """Static int8 via PT2E (litert-torch's quantizer + torchao prepare/convert), float I/O."""
    import torch

    litert_torch = require("litert_torch", "litert", "TFLite conversion (litert-torch)")
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
    from litert_torch.quantize.quant_config import QuantConfig

    pt2e = require("torchao.quantization.pt2e.quantize_pt2e", "qat", "PT2E quantization (torchao)")
    quantizer = PT2EQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False))
    gm = torch.export.export(torch_model.eval(), (example,)).module()
    gm = pt2e.prepare_pt2e(gm, quantizer)
    with torch.no_grad():
        for x in np.asarray(calibration, dtype=np.float32):
            gm(torch.from_numpy(x[None]))
    gm = pt2e.convert_pt2e(gm, fold_quantize=False)
    edge = litert_torch.convert(gm, (example,), quant_config=QuantConfig(pt2e_quantizer=quantizer))
    edge.export(str(out))
    return Path(out)


def _signature_inputs(tflite: Path) -> tuple[str, str]:
    Interpreter = _interp_mod().Interpreter
    it = Interpreter(model_path=str(tflite))
    sigs = it.get_signature_list()
    key = next(iter(sigs))
    return key, sigs[key]["inputs"][0]


def aeq_quantize(fp32_tflite: Path, out: Path, mode: str, calibration: np.ndarray | None = None) -> Path:
    """ai-edge-quantizer on a float ``.tflite``: ``mode`` ``"fp16"`` (weight-only float16), ``"dynamic"``
    (``dynamic_wi8_afp32``) or ``"static"`` (``static_wi8_ai8``, needs ``calibration``)."""
    aeq = require("ai_edge_quantizer", "litert", "ai-edge-quantizer")
    from ai_edge_quantizer import qtyping, quantizer, recipe

    qt = quantizer.Quantizer(str(fp32_tflite))
    if mode == "fp16":
        qt.add_weight_only_config(regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED, num_bits=16,
                                  algorithm_key=recipe.AlgorithmName.FLOAT_CASTING)
    elif mode == "dynamic":
        qt.load_quantization_recipe(recipe.dynamic_wi8_afp32())
    elif mode == "static":
        qt.load_quantization_recipe(recipe.static_wi8_ai8())
    else:  # pragma: no cover
        raise ValueError(mode)
    calib = None
    if qt.need_calibration:
        key, name = _signature_inputs(fp32_tflite)
        data = [{name: np.asarray(x[None], dtype=np.float32)} for x in np.asarray(calibration, dtype=np.float32)]
        calib = qt.calibrate({key: data}, num_threads=2)
    res = qt.quantize(calib, enable_progress_report=False)
    res.export_model(str(out), overwrite=True)
    del aeq
    return Path(out)


def int8_io(src: Path, dst: Path) -> Path:
    """Replace float input/output by int8 (drop the leading QUANTIZE / trailing DEQUANTIZE) with LiteRT's
    ``modify_model_interface`` (TensorType INT8 = 9)."""
    from ai_edge_litert import _pywrap_modify_model_interface as mmi

    status = mmi.modify_model_interface(str(src), str(dst), 9, 9)
    if status != 0 or not Path(dst).exists():
        raise ModelError(f"modify_model_interface failed (status {status}): model I/O is not quantize/dequantize", src)
    return Path(dst)


def tflite_ops(tflite: Path) -> tuple[list[dict], list[dict]]:
    """``(ops, tensors)`` of a ``.tflite`` in execution order: ops ``{index, op_name, inputs, outputs}``, tensors
    ``{index, name, dtype, shape, shape_signature, quantization}``."""
    Interpreter = _interp_mod().Interpreter
    it = Interpreter(model_path=str(tflite), experimental_preserve_all_tensors=False)
    ops = it._get_ops_details()
    tens = {t["index"]: t for t in it.get_tensor_details()}
    return ops, [tens[k] for k in sorted(tens)]


class LiteRtSession(Session):
    """LiteRT interpreter session (XNNPACK default delegate) with ``threads`` threads.

    Float models take ``float32 [N, ...]``; int8-I/O models quantize it with the input scale/zero point
    (``q = clip(round(x / s) + z, -128, 127)``) and dequantize the outputs (``(q - z) * s``). The model's batch is
    fixed (1), so a batch runs clip by clip. ``run`` returns ``float32 [N, C]`` for a classifier and the model's own
    per-clip output shape for outputs of 3 or more dimensions (e.g. ``[N, T', V]`` CTC log-probabilities).
    """

    def __init__(self, path: Path, threads: int = 1):
        Interpreter = _interp_mod().Interpreter
        path = Path(path)
        if not path.is_file():
            raise ModelError("model file not found", path)
        try:
            self.it = Interpreter(model_path=str(path), num_threads=int(threads))
            self.it.allocate_tensors()
        except Exception as exc:
            raise ModelError(f"LiteRT cannot load it: {str(exc).splitlines()[0][:200]}", path) from None
        self.inp = self.it.get_input_details()[0]
        self.out = self.it.get_output_details()[0]
        self.input_name = self.inp["name"]
        self.input_shape = tuple(int(d) for d in self.inp["shape"])
        self.in_q = self.inp["quantization"] if self.inp["dtype"] in (np.int8, np.uint8, np.int16) else None
        self.out_q = self.out["quantization"] if self.out["dtype"] in (np.int8, np.uint8, np.int16) else None

    def _one(self, x: np.ndarray) -> np.ndarray:
        if self.in_q is not None:
            s, z = self.in_q
            info = np.iinfo(self.inp["dtype"])
            x = np.clip(np.round(x / s) + z, info.min, info.max).astype(self.inp["dtype"])
        self.it.set_tensor(self.inp["index"], x.reshape(self.input_shape))
        self.it.invoke()
        y = self.it.get_tensor(self.out["index"])
        if self.out_q is not None:
            s, z = self.out_q
            y = (y.astype(np.float32) - z) * s
        y = np.asarray(y, dtype=np.float32)
        # one clip -> one row: [1, C] scores stay [1, C]; a sequence output ([1, T', V] CTC log-probabilities) keeps
        # its time axis like ONNX Runtime's (flattening it made the CTC task's engine check refuse every tflite row)
        return y.reshape(1, *y.shape[1:]) if y.ndim >= 3 and y.shape[0] == 1 else y.reshape(1, -1)

    def run(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        return np.concatenate([self._one(x[i : i + 1]) for i in range(x.shape[0])], axis=0)


class LiteRtBackend(Backend):
    """LiteRT / TFLite on the CPU (XNNPACK)."""

    info = BackendInfo(name="litert", argument="tflite", suffix=".tflite", precisions=("fp32", "fp16", "int8-dynamic", "int8"),
                       runs_here=True, extra="litert", target="cpu-x86")

    def available(self) -> tuple[bool, str]:
        for mod in ("ai_edge_litert.interpreter", "litert_torch", "ai_edge_quantizer"):
            try:
                require(mod, "litert", "The LiteRT backend")
            except Exception as exc:
                return False, str(exc)
        return True, ""

    def convert(self, fp32_onnx: Path, precision: str, out_dir: Path, calibration: np.ndarray | None = None,
                torch_model=None) -> Artifact:
        """Build the ``.tflite`` (see the module docstring).

        Args:
            torch_model: the float ``nn.Module`` (else ``onnx2torch`` converts ``fp32_onnx``).

        Toolchain chatter (litert-torch passes, TF/MLIR logs, XNNPACK notices) goes to ``toolchain.log`` in the
        run folder (:func:`voxquant.toolchain_log.run_log_folder`), else in ``out_dir``.

        Raises:
            ConfigError: unknown precision / missing calibration for int8. MissingExtraError: toolchain missing.
        """
        import importlib.util

        from voxquant.toolchain_log import redirect_console, toolchain_output

        with toolchain_output(out_dir, what=f"litert {precision} {Path(fp32_onnx).name}"):
            if importlib.util.find_spec("litert_torch") is not None:  # its import logs too: inside the block
                import litert_torch.progress  # per-pass "[START] / [ DONE]" lines: a rich console on stdout

                redirect_console(litert_torch.progress.console)
            return self._convert(fp32_onnx, precision, out_dir, calibration, torch_model)

    def _convert(self, fp32_onnx: Path, precision: str, out_dir: Path, calibration: np.ndarray | None = None,
                 torch_model=None) -> Artifact:
        if precision not in self.info.precisions:
            raise ConfigError(f"tflite cannot build precision '{precision}'", hint=f"choose from {', '.join(self.info.precisions)}")
        if precision == "int8" and (calibration is None or len(calibration) == 0):
            raise ConfigError("tflite int8 needs calibration inputs")
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        stem = Path(fp32_onnx).stem
        tm = _torch_from(Path(fp32_onnx), torch_model)
        ex = _example(Path(fp32_onnx), torch_model)
        fp32 = out_dir / f"{stem}.litert-fp32.tflite"
        fstamp = fp32.with_suffix(".tflite.json")
        fkey = _cache_key(Path(fp32_onnx), None)
        if not (fp32.exists() and fstamp.exists() and json.loads(fstamp.read_text()).get("key") == fkey):
            convert_fp32(tm, ex, fp32)
            fstamp.write_text(json.dumps({"key": fkey}))
        extra: dict = {}
        out = out_dir / f"{stem}.litert-{precision}.tflite"
        if precision == "fp32":
            out = fp32
        elif precision == "fp16":
            aeq_quantize(fp32, out, "fp16")
        elif precision == "int8-dynamic":
            aeq_quantize(fp32, out, "dynamic")
        else:
            key = _cache_key(Path(fp32_onnx), calibration)
            stamp = out.with_suffix(".tflite.json")
            if out.exists() and stamp.exists():
                meta = json.loads(stamp.read_text())
                if meta.get("key") == key:  # same float model and calibration: reuse (edgetpu shares it)
                    return Artifact(path=out, backend=self.info.name, precision=precision, size_bytes=out.stat().st_size,
                                    extra=meta.get("extra", {}))
            with tempfile.TemporaryDirectory() as td:
                tmp = Path(td) / "float_io.tflite"
                try:
                    convert_pt2e_int8(tm, ex, calibration, tmp)
                    extra["int8_path"] = "litert-torch PT2E (PT2EQuantizer, symmetric per-channel, static)"
                except Exception as exc:
                    extra["pt2e_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
                    aeq_quantize(fp32, tmp, "static", calibration)
                    extra["int8_path"] = "ai-edge-quantizer static_wi8_ai8 (PT2E failed)"
                int8_io(tmp, out)
            extra["float_ops"] = [o["op_name"] for o in float_ops(out)]
        try:
            part = xnnpack_partition(out)
            extra["xnnpack"] = part
            nd = ", ".join(f"{k} x{v}" for k, v in part["not_delegated"].items())
            extra["check_summary"] = (f"XNNPACK took {part['delegated_ops']}/{part['n_ops']} ops in "
                                      f"{part['delegate_partitions']} partition(s)" + (f"; built-in kernels: {nd}" if nd else ""))
        except Exception as exc:  # informative only
            extra["xnnpack"] = {"error": f"{type(exc).__name__}: {exc}"}
        if precision == "int8":
            out.with_suffix(".tflite.json").write_text(json.dumps({"key": _cache_key(Path(fp32_onnx), calibration), "extra": extra}))
        return Artifact(path=out, backend=self.info.name, precision=precision, size_bytes=out.stat().st_size, extra=extra)

    def load(self, artifact: Path, threads: int = 1) -> Session:
        return LiteRtSession(Path(artifact), threads=threads)

    def int8_coverage(self, artifact: Path, fp32_onnx: Path) -> dict:
        """Share of MACs in int8 ops of the ``.tflite`` (:func:`tflite_coverage`); ``fp32_onnx`` is not needed."""
        return tflite_coverage(Path(artifact))

    def op_report(self, artifact: Path) -> list[dict]:
        """Every op of the ``.tflite`` with the dtype of its first input (CPU/XNNPACK placement)."""
        ops, tens = tflite_ops(Path(artifact))
        by = {t["index"]: t for t in tens}
        rows = []
        for o in ops:
            dt = by[o["inputs"][0]]["dtype"].__name__ if len(o["inputs"]) and o["inputs"][0] in by else "?"
            rows.append({"node": f"{o['index']}", "op": o["op_name"], "placement": "cpu", "reason": f"input dtype {dt}"})
        return rows


def xnnpack_partition(tflite: Path, threads: int = 1) -> dict:
    """What LiteRT's default XNNPACK delegate actually took, read back from the interpreter after
    ``allocate_tensors`` (the delegate replaces the ops it claims by ``DELEGATE`` nodes).

    Tensors a ``DELEGATE`` node or the graph output needs, and that no ``DELEGATE`` node produces, come from ops
    left on LiteRT's built-in CPU kernels; walking back from them gives the non-delegated ops.

    Returns:
        ``{"n_ops", "delegate_partitions", "delegated_ops", "not_delegated": {op_name: count}}``.
    """
    Interpreter = _interp_mod().Interpreter
    it = Interpreter(model_path=str(tflite), num_threads=threads)
    it.allocate_tensors()
    ops = it._get_ops_details()
    dele = [o for o in ops if o["op_name"] == "DELEGATE"]
    orig = [o for o in ops if o["op_name"] != "DELEGATE"]
    producer = {int(t): o for o in orig for t in o["outputs"]}
    del_out = {int(t) for o in dele for t in o["outputs"]}
    need = [int(t) for o in dele for t in o["inputs"]] + [int(d["index"]) for d in it.get_output_details()]
    seen, kept = set(), {}
    while need:
        t = need.pop()
        if t in seen or t in del_out:
            continue
        seen.add(t)
        p = producer.get(t)
        if p is not None and p["index"] not in kept:
            kept[p["index"]] = p
            need += [int(i) for i in p["inputs"] if i >= 0]
    counts: dict = {}
    for o in kept.values():
        counts[o["op_name"]] = counts.get(o["op_name"], 0) + 1
    return {"n_ops": len(orig), "delegate_partitions": len(dele), "delegated_ops": len(orig) - len(kept),
            "not_delegated": counts}


def tflite_coverage(tflite: Path) -> dict:
    """:func:`voxquant.backends.coverage.coverage_summary` of the ``.tflite``'s compute ops (int8 = int8 data input
    and int8 weights, or a dynamic-range hybrid op; see :func:`voxquant.backends.coverage.tflite_macs`)."""
    from voxquant.backends.coverage import coverage_summary, tflite_macs

    return coverage_summary(tflite_macs(Path(tflite)), source=(
        f"LiteRT interpreter: ops and tensor dtypes of {Path(tflite).name} (int8 = int8 input and weights; "
        "float input + int8 weights = dynamic-range int8 kernel)"))


def float_ops(tflite: Path) -> list[dict]:
    """Ops of a (supposedly integer) ``.tflite`` whose non-constant inputs or outputs are float (they stayed float)."""
    ops, tens = tflite_ops(tflite)
    by = {t["index"]: t for t in tens}
    bad = []
    for o in ops:
        ios = [i for i in list(o["inputs"]) + list(o["outputs"]) if i >= 0 and i in by]
        if any(by[i]["dtype"] in (np.float32, np.float16) for i in ios) and o["op_name"] not in ("DEQUANTIZE", "QUANTIZE"):
            bad.append(o)
    return bad


def edgetpu_check(tflite: Path, target: str = "coral-edgetpu") -> dict:
    """Predict the Edge TPU partition of a full-int8 ``.tflite`` from the published rules.

    Rules (``coral-edgetpu`` profile, coral.ai/docs/edgetpu/models-intro): op in the supported table; every
    non-constant tensor int8/uint8 (int32 allowed for constants such as biases); static shapes (no -1 in the
    shape signature); at most 3 dims larger than 1; per-op limits (e.g. SOFTMAX <= 16,000 elements). The compiler
    maps ops in order until the first failing one: that op and everything after it run on the CPU.

    Returns:
        ``{"compiler": note, "first_break": {"index","op","reasons"} | None, "tpu_ops": [...], "cpu_ops":
        [{"index","op","reasons"}], "n_ops", "source"}``.
    """
    from voxquant.targets import get_target

    t = get_target(target)
    ops, tens = tflite_ops(Path(tflite))
    by = {x["index"]: x for x in tens}
    # constants = tensors no op produces, other than the graph inputs (weights, biases, shapes)
    produced = {int(i) for o in ops for i in o["outputs"]}
    Interpreter = _interp_mod().Interpreter
    graph_inputs = {int(d["index"]) for d in Interpreter(model_path=str(tflite)).get_input_details()}
    const = {x["index"] for x in tens if x["index"] not in produced and x["index"] not in graph_inputs}
    first = None
    tpu, cpu = [], []
    for o in ops:
        name = o["op_name"]
        reasons = []
        rule = t.ops.get(name)
        if rule is None:
            reasons.append(f"op: {name} is not in the Edge TPU supported-operations table")
        else:
            if "max_elements" in rule and len(o["inputs"]):
                x = by.get(o["inputs"][0])
                if x is not None and int(np.prod(x["shape"])) > rule["max_elements"]:
                    reasons.append(f"attribute: {int(np.prod(x['shape']))} elements > {rule['max_elements']} ({rule.get('remark', '')})")
        for i in list(o["inputs"]) + list(o["outputs"]):
            if i < 0 or i not in by:
                continue
            x = by[i]
            dt = np.dtype(x["dtype"]).name
            if i in const:
                if dt not in ("int8", "uint8", "int32"):
                    reasons.append(f"dtype: constant '{x['name']}' is {dt}")
                continue
            if dt not in ("int8", "uint8"):
                reasons.append(f"dtype: tensor '{x['name']}' is {dt} (Edge TPU needs 8-bit tensors)")
            sig = x.get("shape_signature", x["shape"])
            if any(int(d) < 0 for d in sig):
                reasons.append(f"dynamic-shape: tensor '{x['name']}' has shape signature {list(map(int, sig))}")
            big = [int(d) for d in x["shape"] if int(d) > 1]
            if t.max_tensor_rank_gt1 and len(big) > t.max_tensor_rank_gt1:
                reasons.append(f"attribute: tensor '{x['name']}' {list(map(int, x['shape']))} has more than "
                               f"{t.max_tensor_rank_gt1} dims larger than 1")
        reasons = list(dict.fromkeys(reasons))
        entry = {"index": int(o["index"]), "op": name, "reasons": reasons}
        if first is None and reasons:
            first = entry
        if first is None:
            tpu.append(entry)
        else:
            if entry is not first:
                entry["reasons"] = reasons + [f"partition: after the first unsupported op #{first['index']} {first['op']}"]
            cpu.append(entry)
    return {"compiler": EDGETPU_COMPILER_NOTE, "first_break": first, "tpu_ops": [f"#{e['index']} {e['op']}" for e in tpu],
            "cpu_ops": cpu, "n_ops": len(ops), "source": t.citation()}


class EdgeTpuBackend(Backend):
    """Coral Edge TPU: the LiteRT full-int8 (int8 I/O) ``.tflite`` plus the predicted TPU partition.
    Export/check only: no Edge TPU compiler or device here."""

    info = BackendInfo(name="edgetpu", argument="edgetpu", suffix=".tflite", precisions=("int8",), runs_here=False,
                       extra="litert", target="coral-edgetpu")

    def available(self) -> tuple[bool, str]:
        return LiteRtBackend().available()

    def convert(self, fp32_onnx: Path, precision: str, out_dir: Path, calibration: np.ndarray | None = None,
                torch_model=None) -> Artifact:
        if precision != "int8":
            raise ConfigError(f"edgetpu cannot build precision '{precision}'", hint="the Edge TPU runs int8 only")
        art = LiteRtBackend().convert(fp32_onnx, "int8", out_dir, calibration, torch_model=torch_model)
        chk = edgetpu_check(art.path)
        fb = chk["first_break"]
        summary = (f"coral-edgetpu: {len(chk['tpu_ops'])}/{chk['n_ops']} ops on the TPU (predicted)"
                   + (f"; partition breaks at #{fb['index']} {fb['op']}: {fb['reasons'][0]}" if fb else "; whole model maps"))
        art.backend = self.info.name
        art.extra.update({"edgetpu": chk, "check_summary": summary, "status": "export only",
                          "reason": "no Edge TPU compiler or device here (accuracy = the tflite int8 row)"})
        return art

    def load(self, artifact: Path, threads: int = 1) -> Session:
        """Runs the same int8 ``.tflite`` on the CPU with LiteRT (what the CPU part would compute): accuracy only."""
        return LiteRtSession(Path(artifact), threads=threads)

    def int8_coverage(self, artifact: Path, fp32_onnx: Path) -> dict:
        """Same ``.tflite`` as the LiteRT int8 row: :func:`tflite_coverage` (ops the Edge TPU leaves to the CPU
        still run the int8 kernels there)."""
        return tflite_coverage(Path(artifact))

    def op_report(self, artifact: Path) -> list[dict]:
        chk = edgetpu_check(Path(artifact))
        rows = [{"node": e.split(" ")[0], "op": e.split(" ")[1], "placement": "accelerator", "reason": ""} for e in chk["tpu_ops"]]
        rows += [{"node": f"#{c['index']}", "op": c["op"], "placement": "cpu", "reason": "; ".join(c["reasons"])} for c in chk["cpu_ops"]]
        return rows
