"""Synthetic results for the report tests (imported as ``_report_synthetic``; a unique module name so it
cannot clash with other test folders' helpers): every number is computed here from simulated predictions
through the real metric / statistics functions (nothing hard-coded)."""

from __future__ import annotations

import numpy as np

from voxquant.eval.metrics import classification_metrics
from voxquant.report.results import build_results, make_latency, make_slice

LABELS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "_unknown_", "_silence_")
SLICES = ("clean", "noise_snr20", "noise_snr5", "noise_snr0", "rir_room1")

# (name, recipe, precision, extra error rate per slice, size factor vs fp32, latency factor vs fp32)
VARIANTS = (
    ("fp32", "fp32", "fp32", 0.0, 1.0, 1.0),
    ("fp16", "fp16", "fp16", 0.002, 0.5, 1.02),
    ("int8_dynamic", "int8_dynamic", "int8", 0.01, 0.27, 9.0),
    ("int8_static_minmax", "int8_static_minmax", "int8", 0.05, 0.27, 0.6),
    ("int8_static_entropy", "int8_static_entropy", "int8", 0.004, 0.27, 0.62),
)


def make_synthetic_results(n: int = 500, seed: int = 0, n_boot: int = 200, with_failed: bool = True,
                           meta_extra: dict | None = None) -> dict:  # fmt: skip
    rng = np.random.default_rng(seed)
    c = len(LABELS)
    fp32_bytes = 4 * 24_908 + 4_096
    slice_truth = {}
    for j, s in enumerate(SLICES):
        y = rng.integers(0, c, n)
        base_err = 0.06 + 0.05 * j  # noisier slices are harder
        wrong = rng.random(n) < base_err
        pred = np.where(wrong, (y + rng.integers(1, c, n)) % c, y)
        slice_truth[s] = (y, pred)
    variants = []
    ref_correct = {s: slice_truth[s][1] == slice_truth[s][0] for s in SLICES}
    for name, recipe, precision, extra_err, size_f, lat_f in VARIANTS:
        slices, preds = [], {}
        for s in SLICES:
            y, ref_pred = slice_truth[s]
            flip = rng.random(n) < extra_err
            gain = rng.random(n) < extra_err / 4  # some clips get fixed by quantization noise
            pred = np.where(flip, (y + rng.integers(1, c, n)) % c, ref_pred)
            pred = np.where(gain, y, pred)
            preds[s] = pred
            slices.append(make_slice(s, ref_correct[s], pred == y, n_boot=n_boot, seed=seed))
        m = classification_metrics(slice_truth["clean"][0], preds["clean"], LABELS)
        e2e = {t: rng.lognormal(np.log(lat_f * (2.0 / t**0.5)), 0.08, 220) for t in (1, 2)}
        model = {t: e2e[t] * 0.3 for t in (1, 2)}
        variants.append({
            "name": name, "recipe": recipe, "precision": precision, "backend": "onnxruntime",
            "size_bytes": int(fp32_bytes * size_f), "accuracy": m["accuracy"],
            "latency_ms": make_latency(e2e, model), "peak_rss_bytes": int(rng.integers(150, 250) * 2**20),
            "slices": slices, "per_class": m["per_class"], "confusion": m["confusion"],
        })  # fmt: skip
    if with_failed:
        variants.append({
            "name": "int8_static_percentile", "recipe": "int8_static_percentile", "precision": "int8",
            "backend": "onnxruntime", "status": "failed", "error": "calibration produced NaN scales",
            "size_bytes": None, "accuracy": None, "latency_ms": None, "peak_rss_bytes": None,
            "slices": [], "per_class": None, "confusion": None,
        })  # fmt: skip
    meta = {"config": {"model": "dscnn", "dataset": "speech_commands_v2_test/eval", "n_boot": n_boot},
            "seed": seed, **(meta_extra or {})}  # fmt: skip
    return build_results(meta, variants)

