"""RKNN Toolkit2 2.5.0 backend (Rockchip RK3588 NPU), driven through a worker in a dedicated venv.

RKNN Toolkit2 cannot share voxquant's environment (see :mod:`.venv`), so every call goes through
:class:`~voxquant.backends.rknn.client.RknnWorker`. What runs here is RKNN's **x86 simulator**
(``rknn.init_runtime()`` with no target): it gives the quantized model's *accuracy*; it says nothing about NPU
latency, which is reported as "not measured" (never estimated).

Precisions:

* ``fp16``: ``build(do_quantization=False)`` (the NPU's float path is fp16);
* ``int8``: ``build(do_quantization=True, dataset=...)``: w8a8 PTQ, per-channel weights, ``normal`` (min/max)
  calibration over a dataset list of ``.npy`` inputs written from the calibration features;
* ``int8-hybrid``: ``hybrid_quantization_step1`` + ``step2`` with ``float_layers`` kept in fp16. RKNN names them
  by *operand* (output tensor) names, the keys under ``quantize_parameters`` of the step-1 ``.quantization.cfg``
  (``artifact.extra["hybrid"]["operands"]`` lists them; an unknown name fails with the list). Default when none
  are given: the layer with the worst single-layer cosine in a probe int8 build's accuracy analysis; RKNN reports
  a fused Conv+ReLU under the ReLU's operand, and marking only that operand keeps the conv int8 (observed: outputs
  identical to int8), so the conv output feeding it is kept float too.

ONNX preparation (:func:`prepare_onnx`): opset <= 19 (converted if higher), batch fixed to 1, and the ``layout``
attribute of GRU/LSTM nodes (emitted explicitly by the torch.export-based exporter) removed when it is the
default 0 (RKNN's GRU parser rejects the attribute).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np

from voxquant.backends.base import Artifact, Backend, BackendInfo, Session
from voxquant.backends.coverage import parse_rknn_layer_table
from voxquant.errors import ConfigError, ModelError

MAX_OPSET = 19


def prepare_onnx(fp32_onnx: Path, out: Path, batch: int = 1) -> tuple[Path, list[str]]:
    """Make an ONNX model RKNN-ready. Returns ``(out, changes)`` (human-readable list of what was changed).

    Raises:
        ModelError: the model has a GRU/LSTM with ``layout=1`` (batch-first), which RKNN does not parse.
    """
    import onnx
    from onnx import version_converter

    m = onnx.load(str(fp32_onnx))
    changes = []
    opset = max((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset > MAX_OPSET:
        m = version_converter.convert_version(m, MAX_OPSET)
        changes.append(f"opset {opset} -> {MAX_OPSET}")
    for n in m.graph.node:
        if n.op_type in ("GRU", "LSTM", "RNN"):
            for a in list(n.attribute):
                if a.name == "layout":
                    if a.i != 0:
                        raise ModelError(f"{n.op_type} node '{n.name}' has layout=1 (batch-first), which RKNN cannot parse", fp32_onnx)
                    n.attribute.remove(a)
                    changes.append(f"removed layout attribute of {n.op_type} '{n.name}'")
    inits = {i.name for i in m.graph.initializer}
    for i in m.graph.input:
        if i.name in inits:
            continue
        d0 = i.type.tensor_type.shape.dim[0]
        if not d0.HasField("dim_value") or d0.dim_value != batch:
            d0.Clear()
            d0.dim_value = batch
            changes.append(f"input '{i.name}' batch fixed to {batch}")
    for o in m.graph.output:
        d0 = o.type.tensor_type.shape.dim[0]
        if not d0.HasField("dim_value"):
            d0.Clear()
            d0.dim_value = batch
    # drop stale value_info (shapes with the symbolic batch) and re-infer
    del m.graph.value_info[:]
    m = onnx.shape_inference.infer_shapes(m)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(m, str(out))
    return out, changes


def write_dataset(calibration: np.ndarray, folder: Path) -> Path:
    """Write RKNN's dataset list: one ``.npy`` per clip (``float32 [1, ...]``), one path per line.

    Returns the list file ``folder/dataset.txt``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, x in enumerate(np.asarray(calibration, dtype=np.float32)):
        p = folder / f"calib_{i:05d}.npy"
        np.save(p, x[None])
        lines.append(str(p.resolve()))
    lst = folder / "dataset.txt"
    lst.write_text("\n".join(lines) + "\n")
    return lst


_ROW = re.compile(r"^\[(?P<op>[^\]]+)\]\s+(?P<name>\S+)\s+(?P<vals>.*)$")


def parse_accuracy_analysis(text: str) -> list[dict]:
    """Parse RKNN's ``error_analysis.txt`` into ``[{layer, op, entire_cos, entire_euc, single_cos, single_euc}]``.

    Rows look like ``[Conv] conv_1   0.99991 | 1.2e-2   0.99995 | 8.1e-3``; missing numbers become ``None``.
    """
    rows = []
    for line in text.splitlines():
        m = _ROW.match(line.strip())
        if not m:
            continue
        nums = re.findall(r"[-+]?\d+\.\d+(?:e[-+]?\d+)?|[-+]?\d+(?:e[-+]?\d+)?", m.group("vals"))
        vals = [float(v) for v in nums] + [None] * 4
        rows.append({"layer": m.group("name"), "op": m.group("op"), "entire_cos": vals[0], "entire_euc": vals[1],
                     "single_cos": vals[2], "single_euc": vals[3]})
    return rows


def _input_info(onnx_path: Path) -> tuple[str, list[int]]:
    import onnx

    m = onnx.load(str(onnx_path), load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    i = [x for x in m.graph.input if x.name not in inits][0]
    return i.name, [d.dim_value if d.dim_value > 0 else 1 for d in i.type.tensor_type.shape.dim]


def _relocated(args: dict, built_in: str | None, now_in: Path, workdir: Path) -> dict:
    """Build arguments of a sidecar whose artefact folder was moved (voxquant builds in a temporary folder and
    moves the artefacts when complete): paths under ``built_in`` are mapped to ``now_in``, and the calibration
    dataset list (which holds absolute paths) is rewritten into ``workdir``."""
    if not built_in or Path(built_in) == now_in:
        return args
    old = str(built_in)

    def move(p):
        return str(now_in / Path(p).relative_to(old)) if isinstance(p, str) and p.startswith(old) else p

    args = {k: move(v) for k, v in args.items()}
    ds = args.get("dataset")
    if ds and Path(ds).is_file():
        lines = [" ".join(move(tok) for tok in line.split()) for line in Path(ds).read_text().splitlines()]
        new = workdir / "dataset.txt"
        new.write_text("\n".join(lines) + "\n")
        args["dataset"] = str(new)
    return args


class RknnSimSession(Session):
    """RKNN x86-simulator session. The simulator cannot run a ``.rknn`` loaded from disk, so the session
    rebuilds the model from the sidecar ``<artifact>.json`` (same ONNX, dataset and settings) in a worker.

    ``threads`` is ignored (the simulator is not a latency reference). ``run`` returns ``float32 [N, C]``.
    """

    def __init__(self, artifact: Path):
        from voxquant.backends.rknn.client import RknnWorker

        artifact = Path(artifact).resolve()  # the worker runs in another working directory
        side = artifact.with_suffix(artifact.suffix + ".json")
        if not side.exists():
            raise ModelError("RKNN artefact has no sidecar .json (built outside voxquant?); the x86 simulator "
                             "can only run models built in the same session", artifact)
        self.meta = json.loads(side.read_text())
        self.input_name = self.meta["input_name"]
        self.input_shape = tuple(self.meta["input_shape"])
        self.workdir = artifact.parent / f".{artifact.stem}.sim"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.worker = RknnWorker(self.workdir / "worker.log")
        args = _relocated(dict(self.meta["build_args"]), self.meta.get("built_in"), artifact.parent.resolve(), self.workdir)
        args["out"] = str(self.workdir / artifact.name)
        args["workdir"] = str(self.workdir)
        args["verbose_file"] = str(self.workdir / "build.log")
        self.worker.call("build", **args)

    def run(self, x: np.ndarray) -> np.ndarray:
        xin = self.workdir / "x.npy"
        out = self.workdir / "y.npy"
        np.save(xin, np.ascontiguousarray(x, dtype=np.float32))
        self.worker.call("infer", x=str(xin), out=str(out))
        return np.load(out).astype(np.float32)

    def close(self):
        self.worker.close()

    def __del__(self):  # pragma: no cover
        try:
            self.worker.close()
        except Exception:
            pass


class RknnBackend(Backend):
    """RK3588 through RKNN Toolkit2 2.5.0 (dedicated venv; x86 simulator for accuracy; NPU latency not measured)."""

    info = BackendInfo(
        name="rknn", argument="rknn", suffix=".rknn", precisions=("fp16", "int8", "int8-hybrid"),
        runs_here=False, extra="rknn", target="rk3588",
    )
    latency_note = "not measured: RK3588 NPU latency needs the board (x86 simulator gives accuracy only)"

    def available(self) -> tuple[bool, str]:
        from voxquant.backends.rknn.venv import venv_ready

        return venv_ready()

    def convert(self, fp32_onnx: Path, precision: str, out_dir: Path, calibration: np.ndarray | None = None,
                float_layers: list[str] | None = None, quantized_algorithm: str = "normal",
                analysis: bool = True, target_platform: str = "rk3588") -> Artifact:
        """Build a ``.rknn`` (see the module docstring). ``artifact.extra`` holds ``prepare_changes``,
        ``accuracy_analysis`` (per-layer cosine rows, int8 only, when ``analysis``), ``hybrid``, ``build_log``
        (path) and ``rknn_layers`` (RKNN's layer table of the build: data type and target per layer, also kept in
        the sidecar ``<artifact>.json`` for :meth:`int8_coverage`). Raises ConfigError (precision/calibration), MissingExtraError (no venv), RknnWorkerError."""
        from voxquant.backends.rknn.client import RknnWorker

        if precision not in self.info.precisions:
            raise ConfigError(f"rknn cannot build precision '{precision}'", hint=f"choose from {', '.join(self.info.precisions)}")
        if precision.startswith("int8") and (calibration is None or len(calibration) == 0):
            raise ConfigError("rknn int8 needs calibration inputs")
        ok, why = self.available()
        if not ok:
            from voxquant.errors import MissingExtraError

            raise MissingExtraError("rknn-toolkit2", "rknn", f"The RKNN backend ({why})")
        out_dir = Path(out_dir).resolve()
        stem = Path(fp32_onnx).stem
        work = out_dir / f"{stem}.rknn-{precision}"
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        prepared, changes = prepare_onnx(Path(fp32_onnx), work / f"{stem}.onnx")
        name, shape = _input_info(prepared)
        dataset = write_dataset(calibration, work / "calib") if calibration is not None and len(calibration) else None
        out = out_dir / f"{stem}.{precision}.rknn"
        build_args = {"onnx": str(prepared), "precision": precision, "dataset": str(dataset) if dataset else None,
                      "input_name": name, "input_shape": shape, "target_platform": target_platform,
                      "quantized_algorithm": quantized_algorithm, "quantized_method": "channel",
                      "float_layers": list(float_layers or [])}
        log = work / "build.log"
        extra: dict = {"prepare_changes": changes, "build_log": str(log), "npu_latency": self.latency_note}
        with RknnWorker(work / "worker.log") as w:
            if precision == "int8-hybrid" and not float_layers:
                # choose the operand with the worst single-layer cosine of a plain int8 build (simulator analysis)
                probe = dict(build_args, precision="int8")
                w.call("build", out=str(work / "probe.int8.rknn"), workdir=str(work), verbose_file=str(work / "probe.log"), **probe)
                first = dataset.read_text().splitlines()[0]
                rows = parse_accuracy_analysis(w.call("accuracy_analysis", inputs=[first], output_dir=str(work / "probe_snapshot")).get("text", ""))
                ranked = sorted((r for r in rows if r["single_cos"] is not None and r["op"] not in ("Input", "exDataConvert")),
                                key=lambda r: r["single_cos"])
                build_args["float_candidates"] = [[r["layer"], r["op"]] for r in ranked]
                extra["hybrid_choice"] = ("layer with the worst single-layer cosine in the int8 accuracy analysis (with "
                                          "the conv output feeding it when RKNN reports a fused Conv+activation)")
            wlog = work / "worker.log"
            start = wlog.stat().st_size if wlog.exists() else 0
            res = w.call("build", out=str(out), workdir=str(work), verbose_file=str(log), **build_args)
            # RKNN's per-layer table (data type and target of every layer) of THIS build, from the worker's log
            with open(wlog, "rb") as fh:
                fh.seek(start)
                layers = parse_rknn_layer_table(fh.read().decode("utf-8", errors="replace"))
            extra["rknn_layers"] = layers
            if res.get("hybrid", {}).get("float_layers"):
                build_args["float_layers"] = res["hybrid"]["float_layers"]
                build_args.pop("float_candidates", None)
            extra["hybrid"] = res.get("hybrid", {})
            if analysis and precision.startswith("int8") and dataset is not None:
                first = dataset.read_text().splitlines()[0]
                aa = w.call("accuracy_analysis", inputs=[first], output_dir=str(work / "snapshot"))
                extra["accuracy_analysis"] = parse_accuracy_analysis(aa.get("text", ""))
        Path(str(out) + ".json").write_text(json.dumps({"input_name": name, "input_shape": shape, "build_args": build_args,
                                                        "built_in": str(out_dir),
                                                        "prepare_changes": changes, "layers": layers}, indent=1))
        text = log.read_text(errors="replace") if log.exists() else ""
        return Artifact(path=out, backend=self.info.name, precision=precision, size_bytes=out.stat().st_size,
                        log="\n".join(text.splitlines()[-60:]), extra=extra)

    def load(self, artifact: Path, threads: int = 1) -> Session:
        return RknnSimSession(Path(artifact))

    def int8_coverage(self, artifact: Path, fp32_onnx: Path) -> dict:
        """Share of MACs that RKNN compiled to int8 layers (see :mod:`voxquant.backends.coverage`).

        Measured: each layer's ``DataType`` in the toolkit's "Network Layer Information Table" of the build
        (recorded in the sidecar ``<artifact>.json``). Computed: the MACs of the ONNX graph the toolkit loaded
        (the prepared batch-1 copy; ``fp32_onnx`` when that copy is gone), matched to RKNN layers by node name.
        Needs no RKNN venv. Artefacts built before the table was recorded give ``int8_mac_share: None``.
        """
        from voxquant.backends.coverage import coverage_summary, rknn_macs

        artifact = Path(artifact)
        side = artifact.with_suffix(artifact.suffix + ".json")
        if not side.exists():
            return {"int8_mac_share": None, "note": f"no sidecar {side.name}: built outside voxquant, layer data types unknown"}
        meta = json.loads(side.read_text())
        layers = meta.get("layers") or []
        if not layers:
            return {"int8_mac_share": None, "note": "RKNN layer table not recorded for this build (rebuild the artefact)"}
        prepared = Path(meta.get("build_args", {}).get("onnx") or "")
        src = prepared if prepared.is_file() else Path(fp32_onnx)
        res = coverage_summary(rknn_macs(src, layers), source=(
            f"MACs: ONNX graph {src.name} (batch 1); data type per layer: RKNN Toolkit2 layer table of the build"))
        res["float_layers_requested"] = list(meta.get("build_args", {}).get("float_layers") or [])
        res["npu_dtypes"] = sorted({r["dtype"] for r in layers if r["target"] == "NPU"})
        return res

    def op_report(self, artifact: Path) -> list[dict]:
        """Per-op placement from the RKNN build log (rows of RKNN's layer table that name a target: NPU/CPU)."""
        work = Path(artifact).parent / f"{Path(artifact).stem.rsplit('.', 1)[0]}.rknn-{Path(artifact).stem.rsplit('.', 1)[-1]}"
        log = work / "build.log"
        if not log.exists():
            return []
        return parse_build_log(log.read_text(errors="replace"))


def parse_build_log(text: str) -> list[dict]:
    """Extract ``[{node, op, placement, reason}]`` from an RKNN verbose build log's per-layer table, when the
    log has one (lines with an op type and a ``CPU``/``NPU`` target column); else ``[]``."""
    rows = []
    for line in text.splitlines():
        cols = [c.strip() for c in line.split("|") if c.strip()]
        targets = [c for c in cols if c in ("CPU", "NPU", "CPU/NPU", "NPU/CPU")]
        if len(cols) >= 3 and targets:
            rows.append({"node": cols[1] if len(cols) > 1 else cols[0], "op": cols[2] if len(cols) > 2 else "",
                         "placement": "accelerator" if targets[0].startswith("NPU") else "cpu",
                         "reason": "RKNN build log", "raw": line.strip()[:200]})
    return rows


def rknn_layer_names(artifact_or_cfg: Path) -> list[str]:
    """Layer names from a hybrid ``*.quantization.cfg`` (to choose ``float_layers``)."""
    text = Path(artifact_or_cfg).read_text()
    return [l.split(":")[0].strip() for l in text.splitlines() if l.startswith("    ") and l.rstrip().endswith(":")]
