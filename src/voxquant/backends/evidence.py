"""Runtime evidence for ``voxquant check``: what the toolchains here actually did with a model (ONNX Runtime's
int8 profile, the RKNN build log, the real Edge TPU ``.tflite`` partition).

Moved out of :mod:`voxquant.targets.check` so that the targets layer (profiles and static op checks) stays below
the backends; :func:`voxquant.targets.check.check_cli` receives :func:`backend_evidence` as a callable.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from voxquant.targets.check import _QDQ, Graph, node_macs

def ort_int8_evidence(fp32_onnx: str | Path, calibration: np.ndarray | None = None, recipe: str = "int8_static_minmax",
                      out_dir: str | Path | None = None) -> dict:
    """What ONNX Runtime actually ran after static int8 quantization, from its per-node profiler.

    Quantizes ``fp32_onnx`` with ``recipe`` (calibration: the given inputs, else 16 standard-normal inputs of the
    model's shape, seed 0), runs one batch with profiling, and classifies every executed kernel: integer
    (``QLinear*``, ``*Integer``, ``QGemm``, ``QuantizeLinear`` ...) or float.

    Returns:
        ``{"recipe", "int8_ops": {op: count}, "float_ops": {op: count}, "float_nodes": [names of float nodes with
        MACs > 0], "float_recurrent": [GRU/LSTM/RNN nodes], "qdq_graph_float_nodes": [...]}``.
    """
    import tempfile

    import onnx

    from voxquant.backends.onnxruntime import OrtSession
    from voxquant.quant import build_variant

    fp32_onnx = Path(fp32_onnx)
    m = onnx.load(str(fp32_onnx), load_external_data=False)
    inp = [i for i in m.graph.input if i.name not in {x.name for x in m.graph.initializer}][0]
    shape = [d.dim_value if d.dim_value > 0 else 1 for d in inp.type.tensor_type.shape.dim]
    if calibration is None:
        calibration = np.random.default_rng(0).standard_normal((16, *shape[1:])).astype(np.float32)
    with tempfile.TemporaryDirectory() as td:
        out = Path(out_dir or td) / f"{fp32_onnx.stem}.{recipe}.onnx"
        build_variant(recipe, fp32_onnx, out, calibration)
        # nodes left float in the QDQ graph (static view)
        g = Graph(onnx.load(str(out)))
        qdq_float = [n.name for n in g.graph.node if n.op_type not in _QDQ and node_macs(n, g) > 0 and not g.is_quantized(n)]
        sess = OrtSession(out, threads=1, profile=True)
        sess.run(calibration[:1])
        prof = sess.sess.end_profiling()
        events = json.loads(Path(prof).read_text())
        Path(prof).unlink(missing_ok=True)
    int8_ops, float_ops, float_nodes, rec = {}, {}, [], []
    int_markers = ("QLinear", "Integer", "QGemm", "QuantizeLinear", "DequantizeLinear", "QAttention", "DynamicQuantize")
    for ev in events:
        if ev.get("cat") != "Node" or not ev.get("name", "").endswith("_kernel_time"):
            continue
        op = ev.get("args", {}).get("op_name", "?")
        node = ev["name"][: -len("_kernel_time")]
        if any(k in op for k in int_markers):
            int8_ops[op] = int8_ops.get(op, 0) + 1
        else:
            float_ops[op] = float_ops.get(op, 0) + 1
            if op in ("Conv", "Gemm", "MatMul", "GRU", "LSTM", "RNN", "FusedConv", "FusedGemm", "FusedMatMul"):
                float_nodes.append(node)
            if op in ("GRU", "LSTM", "RNN"):
                rec.append(node)
    return {"recipe": recipe, "int8_ops": int8_ops, "float_ops": float_ops, "float_nodes": sorted(set(float_nodes)),
            "float_recurrent": sorted(set(rec)), "qdq_graph_float_nodes": qdq_float}


def _notable_rknn_log(text: str, limit: int = 60) -> list[str]:
    """The lines of an RKNN build log worth showing: graph rewrites (``convert_*``, ``fuse_*`` that replace ops),
    removed nodes, warnings and errors (ANSI colours stripped)."""
    import re

    out = []
    for line in text.splitlines():
        line = re.sub(r"\x1b\[[0-9;]*m", "", line).rstrip()
        body = line[2:].strip() if line[:2] in ("D ", "W ", "E ", "I ") else line.strip()
        if line.startswith(("W ", "E ")) or body.startswith(("convert_", "fold_constant remove")) or "exgru" in body.lower():
            out.append(line[:300])
    return out[:limit]


def backend_evidence(model: str | Path, target: str, calibration: np.ndarray | None = None, torch_model=None) -> dict:
    """What the target's own toolchain did with the model, where it runs here (best effort, never raises).

    * ``rk3588`` (RKNN venv present): an int8 build in RKNN Toolkit2 2.5.0; the notable build-log lines
      (graph rewrites such as ``convert_gru_to_exgru``, warnings, errors);
    * ``coral-edgetpu`` (LiteRT extra present): the full-int8 ``.tflite`` (from ``torch_model`` when given, else
      onnx2torch) and its predicted Edge TPU partition (:func:`voxquant.backends.litert.edgetpu_check`);
    * every target: ONNX Runtime's int8 profile (:func:`ort_int8_evidence`).
    """
    import tempfile

    model = Path(model)
    ev: dict = {}
    if calibration is None:
        import onnx

        m = onnx.load(str(model), load_external_data=False)
        inp = [i for i in m.graph.input if i.name not in {x.name for x in m.graph.initializer}][0]
        shape = [d.dim_value if d.dim_value > 0 else 1 for d in inp.type.tensor_type.shape.dim]
        calibration = np.random.default_rng(0).standard_normal((16, *shape[1:])).astype(np.float32)
    try:
        ev["onnxruntime_int8"] = ort_int8_evidence(model, calibration)
    except Exception as exc:
        ev["onnxruntime_int8"] = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    with tempfile.TemporaryDirectory() as td:
        if target == "rk3588":
            from voxquant.backends.rknn import RknnBackend

            ok, why = RknnBackend().available()
            if not ok:
                ev["rknn_build"] = {"status": "not run", "reason": why}
            else:
                try:
                    art = RknnBackend().convert(model, "int8", Path(td), calibration, analysis=False)
                    log = Path(art.extra["build_log"]).read_text(errors="replace")
                    ev["rknn_build"] = {"status": "built (int8, random-normal calibration)", "notable": _notable_rknn_log(log),
                                        "prepare_changes": art.extra.get("prepare_changes", [])}
                except Exception as exc:
                    ev["rknn_build"] = {"status": "failed", "error": f"{type(exc).__name__}: {str(exc)[:400]}"}
        if target == "coral-edgetpu":
            from voxquant.backends.litert import LiteRtBackend, edgetpu_check

            ok, why = LiteRtBackend().available()
            if not ok:
                ev["edgetpu_tflite"] = {"status": "not run", "reason": why}
            else:
                try:
                    art = LiteRtBackend().convert(model, "int8", Path(td), calibration, torch_model=torch_model)
                    chk = edgetpu_check(art.path)
                    ev["edgetpu_tflite"] = {"int8_path": art.extra.get("int8_path"), "first_break": chk["first_break"],
                                            "tpu_ops": len(chk["tpu_ops"]), "cpu_ops": len(chk["cpu_ops"]),
                                            "n_ops": chk["n_ops"], "compiler": chk["compiler"]}
                except Exception as exc:
                    ev["edgetpu_tflite"] = {"status": "failed", "error": f"{type(exc).__name__}: {str(exc)[:400]}"}
    return ev


__all__ = ["backend_evidence", "ort_int8_evidence"]
