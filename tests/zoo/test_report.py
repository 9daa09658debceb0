"""Rendering of docs/reproduction.md from raw results (no model runs: synthetic numbers, checked in the text)."""

from __future__ import annotations

import numpy as np

from voxquant.zoo.evaluate import ort_session, render_zoo_table
from voxquant.zoo.report import render


def _row(model, split, acc, n=100, pub=None, same=True, family=None, recall=None, **kw):
    return {"model": model, "family": family, "format": "tflite", "precision": "int8", "split": split, "n": n,
            "correct": int(round(acc * n)), "accuracy": acc, "ci95": [acc - 0.01, acc + 0.01],
            "published_accuracy": pub, "published_source": f"src-{model}", "published_test_set": "ts",
            "same_test_set": same, "diff_pp": None if pub is None else 100 * (acc - pub), "recall": recall or {}, **kw}


def _raw(int8_acc):
    words = {w: [90, 100] for w in ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")}
    arm_rec = {**words, "_unknown_": [80, 100], "_silence_": [40, 100]}
    zoo = [
        _row("mlperf-tiny-kws-dscnn-int8", "test", int8_acc, pub=0.92),
        _row("mlperf-tiny-kws-dscnn-fp32", "test", 0.9217, pub=0.92),
        _row("mlperf-tiny-kws-dscnn-hybrid", "test", 0.9186, pub=0.92),
        _row("arm-ds-cnn-s-int8", "test", 0.88, n=1200, pub=0.9335, same=False, family="arm-kws-int8", recall=arm_rec,
             zero_audio_prediction=["_silence_", 0.99], silence_predicted_as="yes 14 %"),
        _row("bcresnet2-sc35", "test", 0.963, pub=0.9605, same=False, recall={"yes": [95, 100], "cat": [9, 10]}),
        _row("bcresnet2-sc35", "fsdd", 0.879, n=3000, accuracy_digits10=0.948),
        _row("bcresnet2-sc35", "fsdd-pad-audio", 0.899, n=3000, accuracy_digits10=0.956),
        _row("mlperf-tiny-sww-int8", "test", 0.94, recall={"Marvin": [10, 11], "Silence": [116, 408], "Unknown": [4467, 4471]}),
    ]
    rounding = [{"rounding": "truncate", "clip": True, "accuracy": int8_acc, "ci95": [0.9, 0.93], "n": 4890,
                 "out_of_range": 28, "agree_with_spec": 1.0}]
    q = {"n_calib": 200, "eval_n": 2604, "threads": 1, "reduce_range": True, "rows": [
        {"name": "fp32", "kind": "fp32", "size_bytes": 96250, "accuracy_eval": 0.914, "ci95_eval": [0.90, 0.92],
         "accuracy_test": 0.92, "mcnemar_p_vs_publisher": 0.09, "mcnemar_p_vs_fp32": 1.0, "drop_vs_fp32_pp": 0.0,
         "agree_fp32": 1.0, "latency_ms": {"p50": 0.1, "p95": 0.2}},
        {"name": "pub", "kind": "publisher", "size_bytes": 53936, "accuracy_eval": 0.906, "ci95_eval": [0.89, 0.92],
         "accuracy_test": 0.917, "mcnemar_p_vs_publisher": 1.0, "mcnemar_p_vs_fp32": 0.09, "drop_vs_fp32_pp": 0.8,
         "agree_fp32": 0.93, "latency_ms": {"p50": 0.27, "p95": 4.4}},
        {"name": "ours-full", "kind": "ours", "size_bytes": 55975, "accuracy_eval": 0.06, "ci95_eval": [0.05, 0.07],
         "accuracy_test": 0.06, "mcnemar_p_vs_publisher": 1e-30, "mcnemar_p_vs_fp32": 1e-30, "drop_vs_fp32_pp": 85.0,
         "agree_fp32": 0.06, "latency_ms": {"p50": 0.19, "p95": 0.4}, "int8_kernels_vs_qdq": 0.07,
         "accuracy_eval_qdq_unfused": 0.91},
    ]}
    acc = {"fp32": {"acc": 0.9, "ci95": [0.88, 0.92]},
           "int8_static_minmax": {"acc": 0.89, "ci95": [0.87, 0.91], "drop_pp": 1.0, "drop_ci95": [-0.5, 2.0],
                                  "mcnemar_p": 0.4}}
    accents = {"recipes": ["int8_static_minmax"], "agreement_torch_onnx": 1.0, "n_calib": 200,
               "int8_kernel_vs_qdq_agreement": {"int8_static_minmax": 1.0},
               "groups": [{"group": "US", "kind": "accent", "n": 1000, **acc},
                          {"group": "Greek", "kind": "accent", "n": 500, **acc, "fp32": {"acc": 0.7, "ci95": [0.66, 0.74]}}]}
    meta = {"date": "today", "seconds": 60.0, "threads": 1, "machine": "x86_64", "models_root": "m", "data_root": "d",
            "versions": {"voxquant": "0"}}
    return {"zoo": zoo, "rounding": rounding, "quant": q, "accents": accents, "meta": meta}


def test_render_states_the_verdicts_from_the_numbers():
    doc = render(_raw(0.9166))
    assert "91.66 % (difference -0.34 pt, within the 0.5 pt budget" in doc
    assert "outside the 0.5 pt budget" in render(_raw(0.9100))
    # Arm: re-weighted = 0.1 * 1 (zero clip -> _silence_) + 0.1 * 0.8 + 0.8 * 0.9 = 0.90
    assert "| arm-ds-cnn-s-int8 | 93.35 |" in doc and "| 90.00 | -3.35 |" in doc
    # a variant whose int8 kernels disagree with its QDQ graph is called out with both numbers
    assert "ONNX Runtime's int8 kernels disagree" in doc and "6.00 % on the kernels vs 91.00 % un-fused" in doc
    assert "fp32 ranges from 70.00 % (Greek) to 90.00 % (US)" in doc
    assert "no group's drop has a 95 % CI above zero" in doc
    assert "## 4. Accent slice" in doc and doc.count("\n| ") > 10


def test_zoo_table_lists_sources():
    md = render_zoo_table(_raw(0.92)["zoo"])
    assert "1. src-mlperf-tiny-kws-dscnn-int8. Test set: ts." in md
    assert "10-digit argmax 94.80" in md and "*(other test set)*" in md


def test_ort_session_without_int8_kernels(tmp_path):
    from zoo_helpers import tiny_onnx

    path = tiny_onnx(tmp_path / "m.onnx")
    x = np.random.default_rng(0).standard_normal((2, 1, 49, 10)).astype(np.float32)
    a, b = ort_session(path).run(x), ort_session(path, int8_kernels=False).run(x)
    assert a.shape == b.shape == (2, 12) and np.allclose(a, b, atol=1e-5)
