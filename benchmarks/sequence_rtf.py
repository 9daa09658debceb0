#!/usr/bin/env python3
"""Benchmark: real-time factor of the CTC command models at a 3-second input, fp32 / fp16 / int8 on ONNX Runtime and
LiteRT, measured in ONE run (issue 12, "Speed and size").

Target (issue 12): each command model's real-time factor on 1 core <= 0.02 in fp32 for a 3-second utterance; int8
and fp16 side by side with fp32 on ONNX Runtime and LiteRT.

For each architecture (``conv``, ``conformer``):

* the model: the committed weights ``src/voxquant/models/weights/ctc_<arch>_cmd.pt`` (or ``--weights
  ARCH=PATH``); when they are not there yet, the architecture with its default configuration and a seeded random
  initialisation, which is said in every output (the compute per input does not depend on the weight values);
* ONNX at a fixed 3-s input (:func:`voxquant.models.ctc.export_ctc_onnx`, ``T = SEQ_FRONTEND.n_frames(48000)`` =
  298 frames), then the ONNX Runtime variants of the quantization registry (:func:`voxquant.quant.build_variant`:
  ``fp32``, ``fp16``, ``int8_dynamic``, ``int8_static_minmax``) and the LiteRT ``.tflite`` builds of the backend
  table (``get_backend("tflite").convert(..., torch_model=model)``: ``fp32``, ``fp16``, ``int8-dynamic``, ``int8``);
  static int8 is calibrated on the held-out generated ``dev`` sequences of
  :func:`voxquant.models.train_ctc.sequence_batches`, cut to 3 s (never the evaluation speakers);
* each artefact timed model-only in a fresh process with 1 intra-op thread
  (:func:`voxquant.eval.latency.measure_model_latency`): ``--runs`` timed ``session.run`` calls after ``--warmup``
  untimed ones, cycling over log-mel features of 3-s crops (1 s to 4 s) of real ``alphanumeric_accents`` digit
  recordings.

Printed per row: p50 / p95 wall-clock ms, p50 process CPU ms, RTF = p50 / 3000 ms, speed-up = fp32 p50 of the same
runtime / p50 (ratios within this one run), size in bytes, the int8 share of the multiply-accumulates
(``Backend.int8_coverage``), and PASS/FAIL of ``fp32 RTF <= 0.02`` per architecture and runtime. The machine's ISA
(:func:`voxquant.hardware.cpu_isa`) and load average are recorded: on a shared machine the wall-clock p50 includes
time other processes held the core (the CPU column does not).

    python benchmarks/sequence_rtf.py [--archs conv,conformer] [--runs 200] [--warmup 20] [--weights ARCH=PATH]
                                      [--runtimes onnx,tflite] [--json out.json] [--markdown out.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SECONDS = 3.0
RTF_TARGET = 0.02
#: ONNX Runtime rows: (recipe of the quantization registry, precision label).
ORT_RECIPES = (("fp32", "fp32"), ("fp16", "fp16"), ("int8_dynamic", "int8-dynamic"), ("int8_static_minmax", "int8"))
#: LiteRT rows: precisions of the backend table's ``tflite`` row.
TFLITE_PRECISIONS = ("fp32", "fp16", "int8-dynamic", "int8")
RUNTIMES = {"onnx": "onnxruntime", "tflite": "litert"}


def _one_line(exc: BaseException, limit: int = 240) -> str:
    s = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {(s[0] if s else '')[:limit]}"


def resolve_model(arch: str, weights: str | None, seed: int = 0):
    """``(torch model in eval mode, description)``: ``weights``, else the committed weights, else random init."""
    import torch

    from voxquant.models.ctc import build_ctc, load_ctc
    from voxquant.sequence_run import SEQ_MODELS

    if weights:
        m, _ = load_ctc(weights)
        return m, f"weights {weights}"
    bundled = Path(__file__).resolve().parents[1] / "src" / "voxquant" / "models" / "weights" / SEQ_MODELS[arch]
    if not bundled.is_file():  # an installed package: next to the imported module
        import voxquant.models.ctc as ctc_mod

        bundled = Path(ctc_mod.__file__).resolve().parent / "weights" / SEQ_MODELS[arch]
    if bundled.is_file():
        m, _ = load_ctc(bundled)
        return m, f"trained weights {bundled.name}"
    torch.manual_seed(seed)
    return build_ctc(arch).eval(), ("RANDOM INIT, default config (trained weights not committed yet; the compute per "
                                    "input, hence the speed, does not depend on the weight values)")


def timing_inputs(fe, n: int = 4, data_root=None) -> tuple[np.ndarray, list[str]]:
    """Log-mel features ``float32 [n, 1, T, 40]`` of 3-s crops (1 s to 4 s, zero-padded if shorter) of the first
    ``n`` real accented connected-digit recordings, and their files."""
    from voxquant.audio.frontend import compute_features
    from voxquant.audio.io import load_audio
    from voxquant.data.sequences import real_connected_digits

    utts = [u for u in real_connected_digits(data_root) if u.path][:n]
    s = fe.clip_samples
    waves = np.zeros((len(utts), s), dtype=np.float32)
    for i, u in enumerate(utts):
        w = load_audio(u.path, fe.sample_rate)[fe.sample_rate : fe.sample_rate + s]
        waves[i, : len(w)] = w
    return np.ascontiguousarray(compute_features(waves, fe)[:, None], dtype=np.float32), [u.path for u in utts]


def calibration_inputs(n_frames: int, n: int, seed: int = 0, data_root=None) -> np.ndarray:
    """``float32 [n, 1, n_frames, 40]``: the held-out generated ``dev`` sequences of
    :func:`voxquant.models.train_ctc.sequence_batches` (both grammars, clean), cut to ``n_frames``."""
    from voxquant.models.train_ctc import sequence_batches

    _, (x, _), _ = sequence_batches(seed=seed, data_root=data_root, pad_to_frames=n_frames,
                                    n_heldout=max(1, (n + 1) // 2))
    return np.ascontiguousarray(np.asarray(x, dtype=np.float32)[:n])


def _size(path: Path) -> int:
    from voxquant.engine import artifact_files

    return int(sum(f.stat().st_size for f in artifact_files(Path(path))))


def build_rows(arch: str, model, fp32_onnx: Path, calib: np.ndarray, work: Path, runtimes) -> list[dict]:
    """Build every artefact of one architecture; a toolchain failure is a row with ``status="failed"``."""
    from voxquant.backends.table import get_backend
    from voxquant.quant import build_variant, get_recipe

    rows = []
    if "onnx" in runtimes:
        ort = get_backend("onnx")
        for recipe, prec in ORT_RECIPES:
            row = {"arch": arch, "runtime": "onnxruntime", "backend": "onnx", "variant": recipe, "precision": prec}
            try:
                t0 = time.time()
                path = build_variant(recipe, fp32_onnx, work / f"model.{recipe}.onnx",
                                     calib if get_recipe(recipe).needs_calibration else None)
                row.update(status="ok", path=str(path), build_s=time.time() - t0, size_bytes=_size(path))
                row["int8_mac_share"] = ort.int8_coverage(Path(path), fp32_onnx).get("int8_mac_share")
            except Exception as exc:  # noqa: BLE001 - a failure is a row
                row.update(status="failed", error=_one_line(exc))
            rows.append(row)
    if "tflite" in runtimes:
        b = get_backend("tflite")
        ok, why = b.available()
        for prec in TFLITE_PRECISIONS:
            row = {"arch": arch, "runtime": "litert", "backend": "tflite", "variant": f"{prec}@tflite",
                   "precision": prec}
            if not ok:
                row.update(status="skipped", error=f"toolchain missing: {why}")
                rows.append(row)
                continue
            try:
                t0 = time.time()
                art = b.convert(fp32_onnx, prec, work / "tflite", calib if prec == "int8" else None, torch_model=model)
                row.update(status="ok", path=str(art.path), build_s=time.time() - t0, size_bytes=_size(art.path))
                if art.extra.get("int8_path"):
                    row["int8_path"] = art.extra["int8_path"]
                row["int8_mac_share"] = b.int8_coverage(Path(art.path), fp32_onnx).get("int8_mac_share")
            except Exception as exc:  # noqa: BLE001
                row.update(status="failed", error=_one_line(exc))
            rows.append(row)
    return rows


def machine() -> dict:
    """CPU ISA, model name, cores, load average and runtime versions."""
    from importlib.metadata import PackageNotFoundError, version

    from voxquant.hardware import cpu_isa

    cpu = platform.processor() or "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    vers = {}
    for pkg in ("onnxruntime", "ai-edge-litert", "litert-torch", "ai-edge-quantizer", "torch", "numpy"):
        try:
            vers[pkg] = version(pkg)
        except PackageNotFoundError:
            vers[pkg] = None
    return {"isa": cpu_isa(), "cpu": cpu, "cores": os.cpu_count(), "loadavg": list(os.getloadavg()),
            "python": platform.python_version(), "versions": vers}


def verdicts(rows: list[dict]) -> list[dict]:
    """``fp32 RTF <= 0.02`` per (architecture, runtime); ``None`` pass when the fp32 row did not run."""
    out = []
    for arch in dict.fromkeys(r["arch"] for r in rows):
        for rt in dict.fromkeys(r["runtime"] for r in rows if r["arch"] == arch):
            ref = next((r for r in rows if r["arch"] == arch and r["runtime"] == rt and r["precision"] == "fp32"), None)
            rtf = None if ref is None else ref.get("rtf")
            out.append({"arch": arch, "runtime": rt, "fp32_rtf": rtf, "target": RTF_TARGET,
                        "pass": None if rtf is None else bool(rtf <= RTF_TARGET)})
    return out


def _fmt(x, f: str, none: str = "-") -> str:
    return none if x is None else format(x, f)


def table_lines(rows: list[dict]) -> list[str]:
    lines = ["| arch | runtime | precision | variant | p50 ms | p95 ms | CPU p50 ms | RTF | speed-up vs fp32 | size bytes "
             "| int8 MACs % | status |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        share = r.get("int8_mac_share")
        lines.append(f"| {r['arch']} | {r['runtime']} | {r['precision']} | {r['variant']} | {_fmt(r.get('p50_ms'), '.2f')} "
                     f"| {_fmt(r.get('p95_ms'), '.2f')} | {_fmt(r.get('cpu_p50_ms'), '.2f')} | {_fmt(r.get('rtf'), '.4f')} "
                     f"| {_fmt(r.get('speedup_vs_fp32'), '.2f', '-')}{'x' if r.get('speedup_vs_fp32') else ''} "
                     f"| {r.get('size_bytes', '-')} | {'-' if share is None else f'{100 * share:.0f}'} "
                     f"| {r['status']}{(': ' + r['error']) if r.get('error') else ''} |")
    return lines


def markdown(res: dict) -> str:
    m = res["machine"]
    lines = ["# Command models (CTC): real-time factor at a 3-second input, fp32 / fp16 / int8, ONNX Runtime and LiteRT",
             "", f"Issue 12 target: fp32 RTF <= {RTF_TARGET} on 1 core for a 3-s utterance. Produced by "
             "`benchmarks/sequence_rtf.py` (all numbers below come from one run of it; nothing is copied by hand).", "",
             f"Command: `{res['command']}`", "",
             f"Machine: {m['cpu']}, {m['cores']} cores ({m['isa']['summary']}), load average at start "
             f"{', '.join(f'{x:.2f}' for x in m['loadavg'])} (shared machine: wall-clock p50 includes time other "
             "processes held the core; CPU p50 = process CPU time per run). Python "
             f"{m['python']}; " + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v) + ".", "",
             f"Timing: model only, batch 1, 1 intra-op thread, fresh process per artefact, {res['runs']} timed runs "
             f"after {res['warmup']} warm-up runs over log-mel features of {len(res['timing_files'])} real 3-s crops "
             "of alphanumeric_accents digit recordings. RTF = p50 / 3000 ms. Speed-up = fp32 p50 of the same runtime "
             "/ p50. int8 MACs % = `Backend.int8_coverage`. Static int8 calibration: "
             f"{res['calibration']}.", "", "Models:", ""]
    lines += [f"* {a}: {d}" for a, d in res["models"].items()]
    lines += ["", *table_lines(res["rows"]), "", "| arch | runtime | fp32 RTF | target | verdict |", "|---|---|---|---|---|"]
    for v in res["verdicts"]:
        lines.append(f"| {v['arch']} | {v['runtime']} | {_fmt(v['fp32_rtf'], '.4f')} | <= {v['target']} | "
                     f"{'not measured' if v['pass'] is None else ('PASS' if v['pass'] else 'FAIL')} |")
    lines += ["", f"Total time {res['seconds']:.0f} s."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", default="conv,conformer")
    ap.add_argument("--weights", action="append", default=[], metavar="ARCH=PATH",
                    help="CTC weights for an architecture (default: the committed ones, else random init)")
    ap.add_argument("--runtimes", default="onnx,tflite")
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--calib-n", type=int, default=32, help="calibration sequences for static int8")
    ap.add_argument("--timing-files", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--keep", default=None, help="keep the artefacts in this folder (default: a temporary one)")
    ap.add_argument("--json", default=None, help="write every measurement here")
    ap.add_argument("--markdown", default=None, help="write the table, command and machine here")
    a = ap.parse_args(argv)

    import dataclasses

    from voxquant.data.sequences import SEQ_FRONTEND
    from voxquant.eval.latency import measure_model_latency
    from voxquant.models.ctc import export_ctc_onnx

    t_start = time.time()
    archs = [x for x in a.archs.split(",") if x]
    runtimes = [x for x in a.runtimes.split(",") if x]
    bad = [x for x in runtimes if x not in RUNTIMES]
    if bad:
        ap.error(f"unknown runtime(s) {bad}: choose from {', '.join(RUNTIMES)}")
    weights = dict(w.split("=", 1) for w in a.weights)
    mach = machine()
    n_samples = int(round(SECONDS * SEQ_FRONTEND.sample_rate))
    fe = dataclasses.replace(SEQ_FRONTEND, clip_samples=n_samples)
    n_frames = SEQ_FRONTEND.n_frames(n_samples)
    x, files = timing_inputs(fe, a.timing_files, a.data_root)
    calib = calibration_inputs(n_frames, a.calib_n, 0, a.data_root)
    print(f"input: {SECONDS:g} s = {n_frames} log-mel frames; timing on {len(files)} real 3-s crops; calibration "
          f"{calib.shape}; machine {mach['cpu']} ({mach['isa']['summary']}), load {mach['loadavg'][0]:.2f}", flush=True)
    rows, models = [], {}
    with tempfile.TemporaryDirectory() as td:
        root = Path(a.keep) if a.keep else Path(td)
        for arch in archs:
            model, desc = resolve_model(arch, weights.get(arch))
            models[arch] = desc
            print(f"[{arch}] {desc}", flush=True)
            work = root / arch
            work.mkdir(parents=True, exist_ok=True)
            fp32 = export_ctc_onnx(model, work / "model.fp32.export.onnx", n_frames)
            t0 = time.time()
            built = build_rows(arch, model, fp32, calib, work, runtimes)
            print(f"[{arch}] built {sum(r['status'] == 'ok' for r in built)}/{len(built)} artefacts in "
                  f"{time.time() - t0:.0f} s", flush=True)
            for r in built:
                if r["status"] != "ok":
                    continue
                try:
                    m = measure_model_latency(Path(r["path"]), x, r["backend"], threads=a.threads, runs=a.runs,
                                              warmup=a.warmup)
                    r.update(p50_ms=m["model_ms"]["p50"], p95_ms=m["model_ms"]["p95"],
                             cpu_p50_ms=m["model_cpu_ms"]["p50"], peak_rss_bytes=m["peak_rss_bytes"],
                             rtf=m["model_ms"]["p50"] / (1000.0 * SECONDS))
                except Exception as exc:  # noqa: BLE001
                    r.update(status="failed", error="timing: " + _one_line(exc))
            for rt in dict.fromkeys(r["runtime"] for r in built):
                ref = next((r for r in built if r["runtime"] == rt and r["precision"] == "fp32" and r.get("p50_ms")),
                           None)
                for r in built:
                    if r["runtime"] == rt and ref and r.get("p50_ms"):
                        r["speedup_vs_fp32"] = ref["p50_ms"] / r["p50_ms"]
            rows += built
    if not a.keep:  # the temporary folder is gone
        for r in rows:
            r.pop("path", None)
    res = {"benchmark": "sequence_rtf", "seconds_audio": SECONDS, "n_frames": n_frames, "threads": a.threads,
           "runs": a.runs, "warmup": a.warmup, "command": "python benchmarks/sequence_rtf.py " + shlex.join(
               sys.argv[1:] if argv is None else list(argv)),
           "machine": mach, "models": models, "timing_files": files,
           "calibration": f"{len(calib)} held-out generated dev sequences (sequence_batches, both grammars), cut to "
                          f"{n_frames} frames",
           "rows": rows, "verdicts": verdicts(rows), "seconds": time.time() - t_start}
    print()
    print("\n".join(table_lines(rows)))
    print()
    for v in res["verdicts"]:
        verdict = "not measured" if v["pass"] is None else ("PASS" if v["pass"] else "FAIL")
        print(f"{verdict}: {v['arch']} on {v['runtime']}: fp32 RTF {_fmt(v['fp32_rtf'], '.4f')} (target <= {RTF_TARGET})")
    print(f"total {res['seconds']:.0f} s")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2, default=str))
    if a.markdown:
        Path(a.markdown).write_text(markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
