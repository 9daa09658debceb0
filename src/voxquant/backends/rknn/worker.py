"""RKNN Toolkit2 worker: runs INSIDE the dedicated RKNN venv (python 3.11, numpy 1.26, rknn-toolkit2 2.5.0).

It is started by path (``<rknn-venv>/bin/python worker.py``), imports only the standard library, numpy and
rknn, and must not import voxquant (whose dependencies are not in that venv).

Protocol: JSON lines. The parent writes one request per line on stdin::

    {"id": 1, "cmd": "build", "args": {...}}

and the worker answers one line on the protocol channel (the original stdout; RKNN's own prints are
redirected to stderr, which the parent sends to a log file)::

    {"id": 1, "ok": true, "result": {...}}      or      {"id": 1, "ok": false, "error": "..."}

Arrays travel as ``.npy`` files, never inside JSON. Commands:

* ``ping`` -> ``{"rknn": version, "numpy": version}``
* ``build`` args: ``onnx``, ``out`` (.rknn path), ``precision`` (``int8`` | ``fp16`` | ``int8-hybrid``),
  ``dataset`` (dataset list file, for int8), ``input_name``, ``input_shape`` (fixed, batch 1),
  ``target_platform`` (``rk3588``), ``quantized_algorithm`` (``normal``|``mmse``|``kl_divergence``),
  ``quantized_method`` (``channel``|``layer``), ``float_layers`` (hybrid: RKNN operand = output-tensor names
  kept in fp16, as listed under ``quantize_parameters`` of the step-1 ``.quantization.cfg``; or
  ``float_candidates``: ``[[operand, op type], ...]`` in preference order: the first valid operand is kept
  float, with the operand feeding it when it is a fused activation), ``workdir``,
  ``verbose_file`` (build log) -> ``{"rknn": path, "size_bytes", "hybrid": {...}}``. The built model stays
  loaded for ``infer`` / ``accuracy_analysis`` (the x86 simulator cannot run a model loaded with load_rknn).
* ``infer`` args: ``x`` (.npy ``float32 [N, ...]``, NCHW), ``out`` (.npy) -> runs the simulator clip by clip.
* ``accuracy_analysis`` args: ``inputs`` (list of .npy, one per model input), ``output_dir`` -> the text of
  ``error_analysis.txt`` (per-layer cosine/euclidean vs float).
* ``release``, ``quit``.
"""

import json
import os
import sys
import traceback


def _open_channels():
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # everything printed by rknn goes to stderr
    sys.stdout = sys.stderr
    return proto


class Worker:
    def __init__(self):
        self.rknn = None
        self.input_shape = None
        self.meta = {}

    # -- helpers --------------------------------------------------------------------------------------------
    def _new(self, verbose_file=None):
        from rknn.api import RKNN

        if self.rknn is not None:
            self.rknn.release()
        self.rknn = RKNN(verbose=True, verbose_file=verbose_file)
        return self.rknn

    @staticmethod
    def _check(ret, what):
        if ret != 0:
            raise RuntimeError(f"rknn.{what} returned {ret}")

    # -- commands -------------------------------------------------------------------------------------------
    def ping(self):
        import numpy
        from importlib import metadata

        return {"rknn": metadata.version("rknn-toolkit2"), "numpy": numpy.__version__, "python": sys.version.split()[0]}

    def build(self, onnx, out, precision="int8", dataset=None, input_name="input", input_shape=None,
              target_platform="rk3588", quantized_algorithm="normal", quantized_method="channel",
              float_layers=None, float_candidates=None, workdir=None, verbose_file=None):
        workdir = workdir or os.path.dirname(os.path.abspath(out))
        os.makedirs(workdir, exist_ok=True)
        os.chdir(workdir)  # hybrid step 1 writes <stem>.model/.data/.quantization.cfg into the cwd
        r = self._new(verbose_file)
        self._check(r.config(target_platform=target_platform, quantized_algorithm=quantized_algorithm,
                             quantized_method=quantized_method, optimization_level=3), "config")
        kw = {}
        if input_shape:
            kw = {"inputs": [input_name], "input_size_list": [list(input_shape)]}
        self._check(r.load_onnx(model=onnx, **kw), "load_onnx")
        hybrid = {}
        if precision == "fp16":
            self._check(r.build(do_quantization=False), "build")
        elif precision == "int8":
            self._check(r.build(do_quantization=True, dataset=dataset), "build")
        elif precision == "int8-hybrid":
            hybrid = self._hybrid(onnx, dataset, float_layers or [], verbose_file, target_platform,
                                  quantized_algorithm, quantized_method, kw, float_candidates or [])
        else:
            raise ValueError(f"unknown precision {precision!r}")
        self._check(self.rknn.export_rknn(out), "export_rknn")
        self.input_shape = list(input_shape) if input_shape else None
        self._check(self.rknn.init_runtime(target=None), "init_runtime")
        return {"rknn": out, "size_bytes": os.path.getsize(out), "hybrid": hybrid}

    def _hybrid(self, onnx, dataset, float_layers, verbose_file, target_platform, qa, qm, kw, candidates=()):
        r = self.rknn
        self._check(r.hybrid_quantization_step1(dataset=dataset, proposal=False), "hybrid_quantization_step1")
        stem = os.path.splitext(os.path.basename(onnx))[0]
        cfg = f"{stem}.quantization.cfg"
        text = open(cfg).read()
        operands = []
        in_params = False
        for line in text.splitlines():
            if line.startswith("quantize_parameters:"):
                in_params = True
            elif in_params and line.startswith("    ") and not line.startswith("     ") and line.rstrip().endswith(":"):
                operands.append(line.strip()[:-1])
        if not float_layers:
            # candidates: [[operand, op type], ...] best first. RKNN fuses Conv+activation and reports the fused
            # layer under the activation's operand, but keeping only that operand float re-quantizes the conv
            # output: keep the operand that feeds it (the conv output, previous in the cfg order) float as well.
            for cand in candidates:
                name, op = (cand, "") if isinstance(cand, str) else (cand[0], cand[1])
                if name in operands:
                    i = operands.index(name)
                    acts = ("Relu", "Clip", "Sigmoid", "LeakyRelu", "HardSwish", "HardSigmoid", "Tanh", "PRelu")
                    float_layers = ([operands[i - 1]] if op in acts and i > 0 else []) + [name]
                    break
        if not float_layers:
            raise ValueError(f"hybrid quantization needs float_layers (RKNN operand names such as {operands[:12]})")
        unknown = [n for n in float_layers if n not in operands]
        if unknown:
            raise ValueError(f"unknown RKNN operand(s) {unknown} for hybrid quantization; operands are tensor names "
                             f"such as {operands[:12]}")
        kept = []
        # The cfg is YAML: a 'custom_quantize_layers:' mapping (layer name -> dtype) then 'quantize_parameters:'.
        lines = text.splitlines()
        out_lines, in_custom, inserted = [], False, False
        for line in lines:
            if line.startswith("custom_quantize_layers:"):
                in_custom = True
                out_lines.append("custom_quantize_layers:")
                for name in float_layers:
                    out_lines.append(f"    {name}: float16")
                    kept.append(name)
                inserted = True
                continue
            if in_custom and (line.startswith(" ") or not line.strip()):
                if line.strip().startswith("{}"):
                    continue
                out_lines.append(line)
                continue
            in_custom = False
            out_lines.append(line)
        if not inserted:
            out_lines = ["custom_quantize_layers:"] + [f"    {n}: float16" for n in float_layers] + out_lines
            kept = list(float_layers)
        open(cfg, "w").write("\n".join(out_lines) + "\n")
        r.release()
        r = self._new(verbose_file)
        self._check(r.config(target_platform=target_platform, quantized_algorithm=qa, quantized_method=qm,
                             optimization_level=3), "config")
        self._check(r.hybrid_quantization_step2(model_input=f"{stem}.model", data_input=f"{stem}.data",
                                                model_quantization_cfg=cfg), "hybrid_quantization_step2")
        return {"cfg": os.path.abspath(cfg), "float_layers": kept, "operands": operands}

    def infer(self, x, out):
        import numpy as np

        if self.rknn is None:
            raise RuntimeError("no model built in this worker")
        arr = np.load(x).astype(np.float32)
        outs = []
        for i in range(arr.shape[0]):
            res = self.rknn.inference(inputs=[arr[i : i + 1]], data_format="nchw" if arr.ndim == 4 else None)
            if res is None:
                raise RuntimeError("rknn.inference returned None")
            outs.append(np.asarray(res[0], dtype=np.float32).reshape(1, -1))
        np.save(out, np.concatenate(outs, axis=0))
        return {"out": out, "n": int(arr.shape[0])}

    def accuracy_analysis(self, inputs, output_dir):
        if self.rknn is None:
            raise RuntimeError("no model built in this worker")
        self._check(self.rknn.accuracy_analysis(inputs=inputs, output_dir=output_dir, target=None), "accuracy_analysis")
        path = os.path.join(output_dir, "error_analysis.txt")
        return {"path": path, "text": open(path).read() if os.path.exists(path) else ""}

    def release(self):
        if self.rknn is not None:
            self.rknn.release()
            self.rknn = None
        return {}


def main():
    proto = _open_channels()
    w = Worker()
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
        except ValueError:
            proto.write(json.dumps({"id": None, "ok": False, "error": "bad JSON"}) + "\n")
            continue
        rid, cmd, args = req.get("id"), req.get("cmd"), req.get("args") or {}
        if cmd == "quit":
            w.release()
            proto.write(json.dumps({"id": rid, "ok": True, "result": {}}) + "\n")
            break
        fn = getattr(w, cmd, None) if cmd in ("ping", "build", "infer", "accuracy_analysis", "release") else None
        if fn is None:
            proto.write(json.dumps({"id": rid, "ok": False, "error": f"unknown command {cmd!r}"}) + "\n")
            continue
        try:
            res = fn(**args)
            proto.write(json.dumps({"id": rid, "ok": True, "result": res}) + "\n")
        except BaseException as exc:  # noqa: BLE001 - everything is reported to the parent
            sys.stderr.write(traceback.format_exc())
            proto.write(json.dumps({"id": rid, "ok": False, "error": f"{type(exc).__name__}: {exc}"}) + "\n")
        proto.flush()


if __name__ == "__main__":
    main()
