"""Render ``docs/reproduction.md``: the zoo reproduction table, voxquant int8 vs the publisher's int8, the accent slice.

:func:`reproduce` runs everything (:func:`voxquant.zoo.evaluate.zoo_eval_all`, ``rounding_sensitivity``,
``quantize_third_party``, ``accent_slice``) and writes the markdown; every number in the document comes from
that run (the raw results go to ``<work_dir>/reproduction.json``). Command: ``python scripts/reproduce_zoo.py``.
"""

from __future__ import annotations

import json
import os
import platform
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np


def _v(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "not installed"


def _pct(x, nd=2) -> str:
    return "–" if x is None else f"{100 * x:.{nd}f}"


def _ci(ci) -> str:
    return f"[{_pct(ci[0])}, {_pct(ci[1])}]"


def _p(p: float) -> str:
    if p <= 0.0:
        return "< 1e-300"
    return f"{p:.2g}" if p >= 1e-4 else f"{p:.1e}"


def _rows(rows, model, split):
    return next((r for r in rows if r["model"] == model and r["split"] == split), None)


def _explain_mlperf(rows, sens) -> str:
    r = _rows(rows, "mlperf-tiny-kws-dscnn-int8", "test")
    fp = _rows(rows, "mlperf-tiny-kws-dscnn-fp32", "test")
    hy = _rows(rows, "mlperf-tiny-kws-dscnn-hybrid", "test")
    d = r["diff_pp"]
    verdict = "within" if abs(d) <= 0.5 else "outside"
    lines = [
        f"**MLPerf Tiny KWS.** The publisher states \"about 92%\" for both the int8 TFLite and the float SavedModel on "
        f"the same 4,890-clip set (TFDS `speech_commands` test = the official test set). Ours: int8 "
        f"{_pct(r['accuracy'])} % (difference {d:+.2f} pt, {verdict} the 0.5 pt budget against the nominal 92.00 %), "
        f"fp32 SavedModel {_pct(fp['accuracy'])} %, hybrid `_float32.tflite` {_pct(hy['accuracy'])} %. The publisher "
        "rounds its number to an integer percent, so any value in [91.5, 92.5) is \"about 92%\".",
        "",
        "The int8 input is quantized the way the publisher's `eval_quantized_model.py` does it (truncation after adding "
        "the zero point). Sensitivity of the int8 model to that choice, same clips:",
        "",
        "| input rounding | clip to int8 | accuracy [95% CI] | values outside [-128, 127] after rounding | same prediction as spec |",
        "|---|---|---|---:|---:|",
    ]
    for s in sens:
        lines.append(f"| {s['rounding']} | {'yes' if s['clip'] else 'no (wraps, like numpy on x86)'} | "
                     f"{_pct(s['accuracy'])} {_ci(s['ci95'])} | {s['out_of_range']} | {_pct(s['agree_with_spec'], 1)} % |")
    return "\n".join(lines)


def _explain_arm(rows) -> str:
    out = [
        "**Arm Hello-Edge int8 models.** ML-zoo's numbers are on the TF `speech_commands` recipe's *hash-split* test "
        "set, whose `_silence_` class is **all-zero audio** (`Training/data.py` multiplies the clip by 0) and whose "
        "`_unknown_` share is drawn by that recipe; the official test set's 408 `_silence_` clips are real "
        "background-noise excerpts instead. The models never saw noise labelled silence, so most of those clips go to "
        "another class. Measured on the official set:",
        "",
        "| model | published (hash split) | ours, all 4,890 | ours without `_silence_` (4,482) | `_silence_` recall | "
        "`_silence_` clips mostly mistaken for | all-zero 1 s clip predicted as | ours re-weighted to the hash-split mix | "
        "re-weighted − published (pt) |",
        "|---|---:|---:|---:|---:|---|---|---:|---:|",
    ]
    for r in rows:
        if r["family"] != "arm-kws-int8" or r["split"] != "test":
            continue
        rec = r["recall"]
        sil = rec.get("_silence_", [0, 0])
        speech_ok = r["correct"] - sil[0]
        speech_n = r["n"] - sil[1]
        top = r.get("silence_predicted_as", "")  # the two most frequent wrong classes
        pub = _pct(r["published_accuracy"]) if r["published_accuracy"] is not None else "–"
        zero_lab, zero_p = r.get("zero_audio_prediction", ["?", 0.0])
        # hash-split mix of the TF recipe: 10 % silence (all-zero audio), 10 % unknown, 80 % the ten words
        words = [v for k, v in rec.items() if k not in ("_silence_", "_unknown_")]
        words_acc = sum(v[0] for v in words) / max(1, sum(v[1] for v in words))
        unk = rec.get("_unknown_", [0, 1])
        sil_ok = 1.0 if zero_lab == "_silence_" else 0.0
        rew = 0.1 * sil_ok + 0.1 * unk[0] / unk[1] + 0.8 * words_acc
        diff = f"{100 * (rew - r['published_accuracy']):+.2f}" if r["published_accuracy"] is not None else "–"
        out.append(f"| {r['model']} | {pub} | {_pct(r['accuracy'])} | {_pct(speech_ok / speech_n)} | "
                   f"{_pct(sil[0] / sil[1] if sil[1] else None)} | {top} | {zero_lab} ({100 * zero_p:.0f} %) | "
                   f"{_pct(rew)} | {diff} |")
    out += ["",
            "Re-weighted = our per-class results mixed in the hash-split proportions (10 % silence scored by the "
            "all-zero clip, 10 % `_unknown_` at our unknown recall, 80 % the ten words at our word accuracy): an "
            "estimate of what the same files score on a test set built like the publisher's. What remains after "
            "re-weighting is the test clips themselves (the hash-split test speakers vs the separately collected "
            "official test set, and the recipe's choice of unknown words). The front-end is not the cause: "
            "`tf-audio-ops-mfcc` matches `tf.raw_ops.AudioSpectrogram` + `Mfcc` to < 5e-4 "
            "(tests/audio/test_presets.py)."]
    return "\n".join(out)


def _explain_bcresnet(rows) -> str:
    r = _rows(rows, "bcresnet2-sc35", "test")
    f = _rows(rows, "bcresnet2-sc35", "fsdd")
    fa = _rows(rows, "bcresnet2-sc35", "fsdd-pad-audio")
    core = {"yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"}
    n_words = sum(v[1] for k, v in r["recall"].items() if k in core)
    s = [f"**BC-ResNet-2 (35 words).** Published {_pct(r['published_accuracy'])} % on `testing_list.txt` (11,005 "
         f"clips, 35 words). Ours on the 4,482 speech clips of the official test set (a subset of those utterances, "
         f"scored by the spoken word; `_unknown_` clips by their true word): {_pct(r['accuracy'])} % "
         f"({r['diff_pp']:+.2f} pt). The official test set is dominated by the ten command words ({n_words:,} of "
         f"{r['n']:,} scored clips, whereas `testing_list.txt` spreads its clips over all 35 words) and its clips are "
         "padded to 1 s by the test-set builder, so the difference is a test-set difference, not a model or "
         "front-end one."]
    if f:
        s.append(f"On FSDD (3,000 digits, 6 speakers, 8 kHz → 16 kHz): {_pct(f['accuracy'])} % 35-way, "
                 f"{_pct(f.get('accuracy_digits10'))} % when the argmax is restricted to the ten digit words, with "
                 "the publisher's training-time padding (log-mel frames padded with 0, `pad_sequence`)"
                 + (f"; zero-padding the waveform instead gives {_pct(fa['accuracy'])} % -- the padding rule alone "
                    f"moves accuracy by {100 * (f['accuracy'] - fa['accuracy']):+.1f} pt on short clips." if fa else "."))
    return " ".join(s)


def _explain_sww(rows) -> str:
    out = ["**MLPerf Tiny streaming wake word.** No clip accuracy is published (only detections on a long waveform). "
           "Scored here as 3 classes: `marvin` clips → Marvin, `_silence_` → Silence, every other clip → Unknown. "
           "Its training \"silence\" is synthetic (`add_empty_frames`: Gaussian noise), not the recorded background "
           "noise of the official `_silence_` clips, hence the low Silence recall."]
    for m in ("mlperf-tiny-sww-int8", "mlperf-tiny-sww-fp32"):
        r = _rows(rows, m, "test")
        if r:
            rec = r["recall"]
            mv, sil, unk = rec.get("Marvin", [0, 0]), rec.get("Silence", [0, 0]), rec.get("Unknown", [0, 0])
            out.append(f"`{m}`: Marvin recall {mv[0]}/{mv[1]}, Silence {sil[0]}/{sil[1]}, Unknown {unk[0]}/{unk[1]}.")
    return " ".join(out)


def _quant_section(q) -> str:
    rr = q.get("reduce_range")
    if rr is None:
        try:
            from voxquant.quant.ort import default_reduce_range

            rr = bool(default_reduce_range())
        except ImportError:
            rr = False
    from voxquant.hardware import cpu_isa

    isa = q.get("isa") or cpu_isa()
    host = f"this {q.get('cores', 2)}-core host ({isa['summary']})"
    rr_text = ("; on this x86 host without VNNI the recipes switch on `reduce_range` -- 7-bit weights -- except "
               "`*_fullrange`" if rr else "; this host has an int8 dot-product instruction (VNNI): full 8-bit weights")
    lines = [
        f"MLPerf Tiny fp32 SavedModel → ONNX (tf_keras + tf2onnx) → voxquant PTQ recipes "
        f"(`voxquant.quant.build_variant`: static QDQ, S8S8{rr_text}), calibrated on {q['n_calib']} `dev` clips (seed 0) "
        f"through `mlperf-tiny-mfcc`. Scored on the `eval` split ({q['eval_n']} clips, speaker-disjoint from every "
        "calibration clip); McNemar = exact two-sided test on those clips; latency = model only, batch 1, "
        f"{q['threads']} thread, p50 / p95 over 200 runs after 20 warm-up on {host}, shared "
        "with other jobs (p95 is noisy). Ours run on ONNX Runtime's int8 kernels; the last column checks them "
        "against the same QDQ file executed without int8-kernel fusion.",
        "",
        "| model | accuracy eval [95% CI] | drop vs fp32 (pt) | same prediction as fp32 | McNemar p vs publisher int8 | "
        "McNemar p vs fp32 | accuracy full test (4,890) | size (bytes) | latency p50 / p95 (ms) | ORT int8 kernels = QDQ |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in q["rows"]:
        lat = "–" if r["latency_ms"] is None else f"{r['latency_ms']['p50']:.3f} / {r['latency_ms']['p95']:.3f}"
        k = r.get("int8_kernels_vs_qdq")
        lines.append(
            f"| {r['name']} | {_pct(r['accuracy_eval'])} {_ci(r['ci95_eval'])} | {r['drop_vs_fp32_pp']:+.2f} | "
            f"{_pct(r['agree_fp32'], 1)} % | {_p(r['mcnemar_p_vs_publisher'])} | {_p(r['mcnemar_p_vs_fp32'])} | "
            f"{_pct(r['accuracy_test'])} | {r['size_bytes']:,} | {lat} | {'–' if k is None else _pct(k, 1) + ' %'} |")
    ours = [r for r in q["rows"] if r["kind"] == "ours"]
    pub = next((r for r in q["rows"] if r["kind"] == "publisher"), None)
    bad = [r for r in ours if r.get("int8_kernels_vs_qdq") is not None and r["int8_kernels_vs_qdq"] < 0.99]
    lines += [""]
    if bad:
        lines += ["**ONNX Runtime's int8 kernels disagree with the QDQ arithmetic** for " + ", ".join(
            f"{r['name']} ({_pct(r['accuracy_eval'])} % on the kernels vs {_pct(r['accuracy_eval_qdq_unfused'])} % "
            "un-fused)" for r in bad) + f". This host: {isa['summary']}. Without VNNI ORT's u8s8 kernels use `VPMADDUBSW`, whose "
            "int16 pair sums saturate when activations and weights are both near the ends of their ranges (ONNX "
            "Runtime docs, 'Quantize ONNX models', FAQ on U8U8 and `reduce_range`). A VNNI or ARM target would "
            "compute the un-fused numbers; voxquant's default recipes use 7-bit weights on such hosts for this "
            "reason.", ""]
    good = [r for r in ours if r not in bad]
    if pub and good:
        best = max(good, key=lambda r: r["accuracy_eval"])
        worst = min(good, key=lambda r: r["accuracy_eval"])
        sig = [r for r in good if r["mcnemar_p_vs_publisher"] < 0.05]
        lines += [f"**Verdict.** The {len(good)} voxquant int8 variants whose kernels compute their QDQ graph score "
                  f"{_pct(worst['accuracy_eval'])}–{_pct(best['accuracy_eval'])} % on the eval clips against the "
                  f"publisher's int8 {_pct(pub['accuracy_eval'])} % (McNemar p vs the publisher "
                  f"{_p(min(r['mcnemar_p_vs_publisher'] for r in good))}–{_p(max(r['mcnemar_p_vs_publisher'] for r in good))}: "
                  + ("no significant difference" if not sig else f"{len(sig)} significantly different")
                  + f"). Smallest file: {min(r['size_bytes'] for r in good):,} bytes vs the publisher's "
                  f"{pub['size_bytes']:,}."]
    same = {}
    for r in ours:
        if r.get("sha256"):
            same.setdefault(r["sha256"], []).append(r["name"])
    dups = [v for v in same.values() if len(v) > 1]
    if dups:
        ent = any(any("entropy" in n for n in v) and any("minmax" in n for n in v) for v in dups)
        lines += ["", "Byte-identical files: " + "; ".join(" = ".join(v) for v in dups) + "." + (
            " With ONNX Runtime's default entropy histogram (128 bins, 128 quantized bins) the KL threshold search "
            "has almost no candidate below the full range, so Entropy returns the MinMax ranges; a finer histogram "
            "(e.g. 2,048 bins, as TensorRT uses) would be needed for it to clip outliers." if ent else "")]
    lines += ["", "The full-test column includes the calibration clips (dev half); the eval column does not. "
              "Runtimes differ (LiteRT/XNNPACK int8 kernels for the publisher's file, ONNX Runtime for ours), so "
              "latency compares toolchains as well as quantization."]
    return "\n".join(lines)


def _accent_section(a) -> str:
    recipes = a["recipes"]
    head = "| group | n | fp32 [95% CI] | " + " | ".join(f"{r} [95% CI] | drop (pt) [95% CI] | McNemar p" for r in recipes) + " |"
    sep = "|---|---:|---|" + "---|---|---:|" * len(recipes)
    lines = [
        f"BC-ResNet-2 on all 3,000 FSDD clips (35-way argmax, target = digit word, publisher's feature padding). "
        f"fp32 = the state dict exported to ONNX (predictions identical to PyTorch on "
        f"{_pct(a['agreement_torch_onnx'], 1)} % of clips); int8 = voxquant static PTQ (QDQ, per-channel weights"
        + ("; 7-bit weights on this host, see section 3" if a.get("reduce_range") else "") + "), "
        f"calibrated on {a['n_calib']} Speech Commands `dev` clips -- no FSDD clip is used for fitting; run on ORT's "
        "int8 kernels (predictions equal to the un-fused QDQ execution on "
        + ", ".join(f"{_pct(v, 1)} % ({k})" for k, v in a.get("int8_kernel_vs_qdq_agreement", {}).items())
        + " of clips). Drop = "
        "fp32 − int8 (positive = int8 worse), paired bootstrap 95 % CI (2,000 resamples); Wilson 95 % CIs for "
        "accuracies. FSDD speakers are all male, all reading English digits; accent groups are the source's labels.",
        "", head, sep]
    acc = {g["group"]: g for g in a["groups"] if g["kind"] == "accent"}
    for g in a["groups"]:
        cells = [f"{g['group']}", f"{g['n']}", f"{_pct(g['fp32']['acc'])} {_ci(g['fp32']['ci95'])}"]
        for r in recipes:
            x = g[r]
            cells += [f"{_pct(x['acc'])} {_ci(x['ci95'])}", f"{x['drop_pp']:+.2f} [{x['drop_ci95'][0]:+.2f}, "
                      f"{x['drop_ci95'][1]:+.2f}]", _p(x["mcnemar_p"])]
        lines.append("| " + " | ".join(cells) + " |")
    if acc:
        lo = min(acc.values(), key=lambda g: g["fp32"]["acc"])
        hi = max(acc.values(), key=lambda g: g["fp32"]["acc"])
        worse = [(g["group"], r) for g in a["groups"] for r in recipes if g[r]["drop_ci95"][0] > 0]
        better = [(g["group"], r) for g in a["groups"] for r in recipes if g[r]["drop_ci95"][1] < 0]
        lines += ["", f"Accent matters for the float model: fp32 ranges from {_pct(lo['fp32']['acc'])} % "
                      f"({lo['group']}) to {_pct(hi['fp32']['acc'])} % ({hi['group']}). For int8, "
                  + ("no group's drop has a 95 % CI above zero: at this sample size int8 PTQ does not measurably hurt "
                     "any accent group or speaker more than another" if not worse else
                     "the drop's 95 % CI is above zero for " + ", ".join(f"{g} ({r})" for g, r in worse))
                  + ("" if not better else "; the int8 model is significantly *better* for " + ", ".join(
                      f"{g} ({r})" for g, r in better) + f" (with {len(a['groups']) * len(recipes)} overlapping "
                      f"comparisons at the 5 % level, about {0.05 * len(a['groups']) * len(recipes):.1f} such results "
                      "are expected by chance)") + "."]
    return "\n".join(lines)


def _silence_predictions(rows, results) -> None:
    """Add ``silence_predicted_as`` (top two predicted labels of ``_silence_`` clips) to Arm rows."""
    for r in rows:
        res = results.get(r["model"])
        if res is None or r["split"] != "test" or "_silence_" not in res["labels"]:
            continue
        labels = res["labels"]
        sil = labels.index("_silence_")
        pred = res["y_pred"][res["y_true"] == sil]
        vals, counts = np.unique(pred[pred != sil], return_counts=True)
        order = np.argsort(-counts)[:2]
        r["silence_predicted_as"] = ", ".join(f"{labels[vals[i]]} {100 * counts[i] / len(pred):.0f} %" for i in order)


def reproduce(out_md: str | Path = "docs/reproduction.md", data_root=None, threads: int = 1,
              work_dir: str | Path | None = None, download: bool = True, quick: bool = False) -> dict:
    """Run the whole reproduction, save the raw results and write the markdown document.

    Args:
        out_md: the document to write.
        data_root: data root (default ``VOXQUANT_DATA``).
        threads: intra-op threads for inference and latency.
        work_dir: where quantized models and the raw ``reproduction.json`` go (default
            ``<cache_root()>/zoo/reproduction``).
        download: allow downloading missing zoo files.
        quick: skip the quantization and accent sections (table only).

    Returns:
        The raw results: ``{"zoo", "rounding", "quant", "accents", "meta"}`` (also in ``reproduction.json``;
        :func:`render` turns them into the document again without recomputing).
    """
    from voxquant.paths import cache_root, data_root as _data_root, models_root
    from voxquant.zoo import evaluate as ev

    t0 = time.time()
    work = Path(work_dir) if work_dir is not None else cache_root() / "zoo" / "reproduction"
    work.mkdir(parents=True, exist_ok=True)
    zoo = ev.zoo_eval_all(work / "zoo_table.md", data_root=data_root, threads=threads, download=download)
    # what the Arm models predict for the official _silence_ clips (second pass over those 408 clips only)
    from voxquant.data import speech_commands_test
    from voxquant.zoo.models import open_model
    from voxquant.zoo.registry import expand, zoo_spec

    test = speech_commands_test(data_root)
    sil = test.subset([i for i, c in enumerate(test.clips) if c.label == "_silence_"])
    results = {}
    for name in expand("arm-kws-int8"):
        spec = zoo_spec(name, download=download)
        res = ev.evaluate_spec(spec, sil, session=open_model(spec, threads=threads))
        results[name] = {"labels": list(spec.labels), "y_true": res.y_true, "y_pred": res.y_pred}
    _silence_predictions(zoo["rows"], results)
    sens = ev.rounding_sensitivity(data_root=data_root, threads=threads, download=download)
    quant = accents = None
    if not quick:
        quant = ev.quantize_third_party(work / "mlperf-ptq", data_root=data_root, threads=threads, download=download)
        accents = ev.accent_slice(work / "bcresnet-ptq", data_root=data_root, threads=threads, download=download)
    meta = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "seconds": time.time() - t0,
        "threads": threads, "machine": platform.machine(), "cores": os.cpu_count(), "models_root": str(models_root()),
        "data_root": str(_data_root() if data_root is None else data_root),
        "versions": {k: _v(k) for k in ("voxquant", "onnxruntime", "ai-edge-litert", "tensorflow-cpu", "tf_keras",
                                        "tf2onnx", "torch", "numpy")},
    }
    raw = {"zoo": zoo["rows"], "rounding": sens, "quant": quant, "accents": accents, "meta": meta}
    from voxquant.atomic import write_text_atomic

    write_text_atomic(work / "reproduction.json", json.dumps(raw, indent=1, default=float))
    write_text_atomic(Path(out_md), render(raw))
    return raw


def render(raw: dict) -> str:
    """The markdown document for raw results (as returned by :func:`reproduce` / stored in ``reproduction.json``)."""
    from voxquant.zoo.evaluate import render_zoo_table

    meta = raw["meta"]
    vers = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    doc = [
        "# Reproducing the publishers' numbers",
        "",
        "Generated by `python scripts/reproduce_zoo.py` (`voxquant.zoo.report.reproduce`); do not edit by hand. "
        f"Run: {meta['date']}, {meta['seconds'] / 60:.1f} min on {meta['machine']}"
        + (f" ({meta['cores']} cores)" if meta.get("cores") else "") + ", "
        f"{meta['threads']} inference thread(s). Packages: {vers}. Models: `VOXQUANT_MODELS` ({meta['models_root']}); "
        f"data: `VOXQUANT_DATA` ({meta['data_root']}).",
        "",
        "Every model is run in its published format (TFLite through LiteRT, the Keras SavedModel/.h5 through "
        "tf_keras → tf2onnx → ONNX Runtime, the BC-ResNet state dict in voxquant's own BC-ResNet) with its training "
        "front-end re-implemented in numpy (`voxquant.audio.presets`, each checked against the reference ops in "
        "`tests/audio/test_presets.py`). Accuracy is top-1 with a Wilson 95 % interval; *other test set* marks "
        "published numbers measured on a different test set than the row's.",
        "",
        "## 1. Reproduction table",
        "",
        "Official test set = Speech Commands v0.02 `speech_commands_test_set_v0.02` (4,890 clips, 12 classes); "
        "`eval` = its speaker-disjoint evaluation half (`voxquant.data.split_dev_eval`; the eval rows reuse the "
        "test-set predictions).",
        "",
        render_zoo_table(raw["zoo"]),
        "",
        "## 2. Where ours and the published numbers differ, and why",
        "",
        _explain_mlperf(raw["zoo"], raw["rounding"]),
        "",
        _explain_arm(raw["zoo"]),
        "",
        _explain_bcresnet(raw["zoo"]),
        "",
        _explain_sww(raw["zoo"]),
        "",
    ]
    if raw.get("quant"):
        doc += ["## 3. voxquant int8 vs the publisher's int8 (MLPerf Tiny KWS)", "", _quant_section(raw["quant"]), ""]
    if raw.get("accents"):
        doc += ["## 4. Accent slice: BC-ResNet-2 fp32 vs int8 PTQ on FSDD", "", _accent_section(raw["accents"]), ""]
    return "\n".join(doc)


__all__ = ["render", "reproduce"]
