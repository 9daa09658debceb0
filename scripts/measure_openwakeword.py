"""openWakeWord v0.1 ``alexa`` on voxquant's continuous streams: fp32 vs fp16 vs int8 PTQ of its pipeline.

Streams (``voxquant.data.streams.build_stream``, seeded): positives are Picovoice's ``alexa`` clips, negatives the
other speech of ``default_stream_sources("alexa", split="eval")``; condition ``clean`` and ``noise_snr10`` (the
eval half of each real Speech Commands background recording, ``split_noise_bank(load_noise_bank())``, at 10 dB).
Variants (``voxquant.eval.openwakeword.build_variant``): the embedding model and the head in fp32 / fp16 / int8
(``int8_static_minmax``), calibrated on ``--calib-n`` consecutive steps of a ``--calib-min`` minute **dev**-split
stream at 10 dB in the other half of the noise recordings. The melspectrogram front-end stays fp32.

Scoring: :func:`voxquant.eval.openwakeword.score_stream` (batched, equal to the live runner), the publisher's rule
(threshold 0.5, no smoothing) with a 1 s cooldown, Picovoice matching (hit in [start, end + 0.5 s]); FA/h divides
the false accepts by the whole stream's hours (as ``voxquant stream``). Printed per condition and variant: FRR and
FA/h at 0.5, FRR at 0.5 FA/h (conservative operating point) with a 95 % bootstrap CI, the max / mean absolute
difference of the variant's probabilities to fp32, and the scoring speed (x real time, one thread).

Usage: ``python scripts/measure_openwakeword.py [--minutes 25] [--out oww_measure.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=25.0)
    ap.add_argument("--keyword", default="alexa")
    ap.add_argument("--variants", default="fp32,fp16,int8")
    ap.add_argument("--calib-min", type=float, default=5.0)
    ap.add_argument("--calib-n", type=int, default=512)
    ap.add_argument("--n-boot", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="JSON file of the numbers")
    a = ap.parse_args(argv)

    from voxquant.data import load_noise_bank
    from voxquant.data.streams import build_stream, default_stream_sources
    from voxquant.eval import openwakeword as oww
    from voxquant.eval.streaming import bootstrap_frr_ci, det_curve, detect, frr_at_fa_per_hour, match
    from voxquant.models.zoo_default import split_noise_bank

    noise_dev, noise_eval = split_noise_bank(load_noise_bank())
    src = oww.source_paths(a.keyword)
    dpos, dneg = default_stream_sources(a.keyword, split="dev")
    calib = build_stream(dpos, dneg, noise_dev, keyword=a.keyword, duration_s=a.calib_min * 60, snr_db=10.0,
                         seed=a.seed + 100)
    pos, neg = default_stream_sources(a.keyword, split="eval")
    streams = {c: build_stream(pos, neg, noise_eval, keyword=a.keyword, duration_s=a.minutes * 60, snr_db=snr,
                               seed=a.seed) for c, snr in (("clean", None), ("noise_snr10", 10.0))}
    th = np.unique(np.round(np.concatenate([np.linspace(0, 1, 101), 1 - np.logspace(-6, -2, 17)]), 12))
    rule = oww.RULE
    results = {}
    with tempfile.TemporaryDirectory() as td:
        built = {}
        for v in a.variants.split(","):
            t0 = time.perf_counter()
            built[v] = oww.build_variant(v, src, Path(td) / v, calibration_audio=calib.audio, calib_n=a.calib_n,
                                         seed=a.seed)
            print(f"built {v} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        for cond, s in streams.items():
            dur_h = s.duration_s / 3600
            kw = s.keyword_events()
            probs = {}
            for v, paths in built.items():
                pipe = oww._Pipeline(paths, threads=1)
                t0 = time.perf_counter()
                times, p = oww.score_stream(paths, s.audio, _pipe=pipe)
                wall = time.perf_counter() - t0
                probs[v] = p
                dets = detect(times, p, rule["threshold"], rule["smooth_k"], rule["refractory_s"])
                m = match(dets, s.events)
                curve = det_curve(times, p, s.events, dur_h, thresholds=th, smooth_k=rule["smooth_k"],
                                  refractory_s=rule["refractory_s"])
                frr05 = frr_at_fa_per_hour(curve, 0.5)
                ci = bootstrap_frr_ci(curve, 0.5, n_boot=a.n_boot, block_s=300.0, seed=a.seed)
                diff = np.abs(p - probs["fp32"]) if "fp32" in probs else np.zeros(1)
                results[f"{cond}/{v}"] = {
                    "condition": cond, "variant": v, "minutes": s.duration_s / 60, "n_keywords": len(kw),
                    "frr_at_0.5": 1 - float(np.mean(m.hits)), "fa_per_hour_at_0.5": m.n_false_accepts / dur_h,
                    "frr_at_0.5_fa_h": frr05, "frr_at_0.5_fa_h_ci95": [ci[1], ci[2]],
                    "max_abs_diff_vs_fp32": float(diff.max()), "mean_abs_diff_vs_fp32": float(diff.mean()),
                    "x_real_time": s.duration_s / wall,
                }
                print(json.dumps(results[f"{cond}/{v}"]), file=sys.stderr)
    print("| condition | variant | FRR@thr0.5 | FA/h@thr0.5 | FRR@0.5FA/h [95% CI] | max/mean abs dp vs fp32 | x RT |")
    print("|---|---|---|---|---|---|---|")
    for r in results.values():
        print(f"| {r['condition']} | {r['variant']} | {100 * r['frr_at_0.5']:.1f} % | {r['fa_per_hour_at_0.5']:.2f} | "
              f"{100 * r['frr_at_0.5_fa_h']:.1f} % [{100 * r['frr_at_0.5_fa_h_ci95'][0]:.1f}, "
              f"{100 * r['frr_at_0.5_fa_h_ci95'][1]:.1f}] | {r['max_abs_diff_vs_fp32']:.3f} / "
              f"{r['mean_abs_diff_vs_fp32']:.4f} | {r['x_real_time']:.0f} |")
    if a.out:
        Path(a.out).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
