#!/usr/bin/env python3
"""Benchmark: end-to-end vs model-only latency per quantized variant, as ratios measured in ONE run.

For the default model (or --weights) every recipe's ONNX variant is built, then each is measured in a fresh
process (voxquant.eval.latency.measure_latency): end to end = read file + front-end + inference + softmax/argmax,
model only = inference on precomputed features, and the I/O + front-end part alone. Printed per variant and
thread count: p50s in ms and the ratios

  e2e / model      how much of an utterance's cost the model itself is (>> 1: the front-end dominates)
  speed-up         fp32 model-only p50 / variant model-only p50   (< 1: slower than fp32)
  e2e speed-up     fp32 end-to-end p50 / variant end-to-end p50

Ratios are taken within this one run (same machine state), never against numbers from elsewhere.

    python benchmarks/e2e_vs_model_latency.py [--runs 200] [--threads 1,2] [--recipes ...] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--weights", default=None, help="voxquant weights (default: bundled DS-CNN)")
    ap.add_argument("--recipes", default="fp32,fp16,int8_dynamic,int8_static_minmax,int8_static_minmax_fullrange")
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--calib-n", type=int, default=200)
    ap.add_argument("--json", default=None, help="also write the measurements here")
    a = ap.parse_args(argv)

    from voxquant.audio.frontend import compute_features
    from voxquant.data import load_waves, speech_commands_test, split_dev_eval
    from voxquant.eval.latency import measure_latency
    from voxquant.pipeline import load_model, stratified_indices
    from voxquant.quant import build_variant, get_recipe
    from voxquant.quant.export import export_onnx

    model, meta = load_model(Path(a.weights) if a.weights else None)
    fe = meta["frontend"]
    dev, ev = split_dev_eval(speech_commands_test())
    idx = stratified_indices(dev.label_ids(), a.calib_n, 0)
    calib = compute_features(load_waves(dev.subset(idx), fe.sample_rate, fe.clip_samples, progress=False), fe)[:, None]
    files = [c.path for c in ev.clips[: a.runs]]
    threads = [int(t) for t in a.threads.split(",")]
    recipes = [r for r in a.recipes.split(",") if r]
    rows = []
    with tempfile.TemporaryDirectory() as td:
        fp32 = export_onnx(model, model.example_input(), Path(td) / "model.fp32.onnx")
        paths = {}
        for r in recipes:
            paths[r] = build_variant(r, fp32, Path(td) / f"model.{r}.onnx", calib if get_recipe(r).needs_calibration else None)
        for t in threads:
            for r in recipes:
                m = measure_latency(paths[r], files, fe, "onnxruntime", threads=t, runs=a.runs, warmup=a.warmup)
                rows.append({"recipe": r, "threads": t, "size_bytes": paths[r].stat().st_size, "e2e_p50": m["e2e_ms"]["p50"],
                             "model_p50": m["model_ms"]["p50"], "io_frontend_p50": m["io_frontend_ms"]["p50"],
                             "e2e_p95": m["e2e_ms"]["p95"], "model_p95": m["model_ms"]["p95"]})
    print(f"{a.runs} runs after {a.warmup} warm-up, one process per measurement, {len(files)} distinct eval files")
    print(f"{'variant':30s} {'thr':>3s} {'e2e p50':>8s} {'model p50':>9s} {'io+fe p50':>9s} {'e2e/model':>9s} "
          f"{'speed-up':>8s} {'e2e spd':>7s}")
    for t in threads:
        ref = next(x for x in rows if x["recipe"] == recipes[0] and x["threads"] == t)
        for x in (x for x in rows if x["threads"] == t):
            x["e2e_over_model"] = x["e2e_p50"] / x["model_p50"]
            x["model_speedup_vs_first"] = ref["model_p50"] / x["model_p50"]
            x["e2e_speedup_vs_first"] = ref["e2e_p50"] / x["e2e_p50"]
            flag = "  <- slower than " + recipes[0] if x["model_speedup_vs_first"] < 1 and x is not ref else ""
            print(f"{x['recipe']:30s} {t:3d} {x['e2e_p50']:8.3f} {x['model_p50']:9.3f} {x['io_frontend_p50']:9.3f} "
                  f"{x['e2e_over_model']:9.2f} {x['model_speedup_vs_first']:7.2f}x {x['e2e_speedup_vs_first']:6.2f}x{flag}")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
