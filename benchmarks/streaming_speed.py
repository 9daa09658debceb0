"""Speed of streaming wake-word evaluation with a DS-CNN-size clip model, on one CPU core.

Prints, from one run:

1. offline evaluation real-time factor: hours of audio scored per second of compute by
   ``voxquant.eval.streaming.window_scores`` (features computed once, windows batched; target >= 2000x);
2. live per-hop compute of ``StreamingDetector.push`` (incremental front-end + one model call) vs the model call
   alone;
3. incremental front-end (new frames of one hop) vs recomputing the whole window's features (ratio).

Model: the bundled DS-CNN (``voxquant.models.source.load_model(None)``) exported with
``voxquant.quant.export.export_onnx``, run by ONNX Runtime with 1 intra-op thread. Audio: SYNTHETIC Gaussian noise
(no speech; the speed does not depend on the content).

Usage: ``python benchmarks/streaming_speed.py [--minutes 10] [--hop-ms 40]``
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402


def _median_time(fn, reps: int) -> float:
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="minutes of synthetic audio for the offline RTF")
    ap.add_argument("--hop-ms", type=float, default=40.0, help="window hop in ms (multiple of the 20 ms frame hop)")
    ap.add_argument("--batch", type=int, default=512)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from voxquant.audio.frontend import compute_features
    from voxquant.audio.layout import to_model_layout
    from voxquant.backends.onnxruntime import OrtSession
    from voxquant.eval.streaming import IncrementalFrontend, StreamingDetector, window_scores
    from voxquant.models.source import load_model
    from voxquant.quant.export import export_onnx

    model, meta = load_model(None)
    from voxquant.audio.frontend import DEFAULT_FRONTEND as fe

    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = export_onnx(model.eval(), model.example_input(), Path(tmp) / "dscnn.onnx")
        sess = OrtSession(onnx_path, threads=1)
        n_params = sum(p.numel() for p in model.parameters())
        sr = fe.sample_rate
        rng = np.random.default_rng(0)
        audio = (0.05 * rng.standard_normal(int(args.minutes * 60 * sr))).astype(np.float32)  # synthetic noise
        kw = 2

        print(f"model: bundled DS-CNN ({n_params} parameters), ONNX Runtime CPU, 1 thread; front-end {fe.name}; "
              f"hop {args.hop_ms:g} ms; audio: synthetic noise, {args.minutes:g} min")

        # 1. offline RTF
        window_scores(sess, audio[: sr * 5], fe, "nchw", kw, hop_ms=args.hop_ms, batch=args.batch)  # warm-up
        t0 = time.perf_counter()
        times, probs = window_scores(sess, audio, fe, "nchw", kw, hop_ms=args.hop_ms, batch=args.batch)
        dt = time.perf_counter() - t0
        t0 = time.perf_counter()
        compute_features(audio, fe)
        dt_fe = time.perf_counter() - t0
        hours = audio.size / sr / 3600.0
        print(f"offline: {times.size} windows in {dt:.2f} s (front-end {dt_fe:.2f} s of it) -> real-time factor "
              f"{audio.size / sr / dt:.0f}x ({hours / dt:.4f} h of audio per second of compute)")
        xb = to_model_layout(compute_features(np.stack([audio[i * sr : (i + 1) * sr] for i in range(args.batch)]),
                                              fe), "nchw")
        t_b = _median_time(lambda: sess.run(xb), 5) / args.batch
        print(f"offline bound: model alone {t_b * 1e6:.1f} us per window at batch {args.batch} -> at most "
              f"{args.hop_ms / 1000 / t_b:.0f}x real time at this hop")

        # 2. live per-hop compute vs model-only
        hop = int(round(args.hop_ms * sr / 1000))
        det = StreamingDetector(sess, fe, "nchw", kw, hop_ms=args.hop_ms, threshold=2.0)
        det.push(audio[:sr])  # fill the ring buffer
        chunks = [audio[sr + i * hop : sr + (i + 1) * hop] for i in range(500)]
        per_hop = []
        for c in chunks:
            t0 = time.perf_counter()
            det.push(c)
            per_hop.append(time.perf_counter() - t0)
        x1 = to_model_layout(compute_features(audio[:sr], fe)[None], "nchw")
        model_only = _median_time(lambda: sess.run(x1), 500)
        live = float(np.median(per_hop))
        print(f"live: per hop {live * 1e6:.0f} us (p95 {np.percentile(per_hop, 95) * 1e6:.0f} us) vs model-only "
              f"{model_only * 1e6:.0f} us per window -> overhead {(live - model_only) * 1e6:.0f} us "
              f"({live / model_only:.2f}x); budget per hop {args.hop_ms * 1000:.0f} us "
              f"(live RTF {args.hop_ms / 1000 / live:.0f}x)")

        # 3. incremental front-end vs recomputing the window
        inc = IncrementalFrontend(fe)
        inc.push(audio[:sr])
        pos = [sr]

        def step():
            inc.push(audio[pos[0] : pos[0] + hop])
            pos[0] += hop

        t_inc = _median_time(step, 500)
        t_full = _median_time(lambda: compute_features(audio[:sr], fe), 500)
        print(f"front-end per hop: incremental {t_inc * 1e6:.0f} us vs recompute window {t_full * 1e6:.0f} us "
              f"-> {t_full / t_inc:.1f}x faster")


if __name__ == "__main__":
    main()
