"""``voxquant run`` as a function: model -> quantized variants -> evaluation on real speech -> report.

Steps (every finished step is a cell in :class:`~voxquant.report.store.ResultStore`, so re-running on the same
output folder resumes and recomputes nothing already done):

1. data: the official Speech Commands v0.02 12-class test set, split into ``dev`` / ``eval``
   (:func:`voxquant.data.split_dev_eval`); calibration uses ``dev``, every reported number uses ``eval``;
2. model: the bundled DS-CNN (or ``--model`` weights), exported to float ONNX;
3. variants: each quantization recipe (:mod:`voxquant.quant`) applied to that ONNX model, calibrated on
   ``calib_n`` ``dev`` clips through the same front-end;
4. slices: clean; real background noise at each SNR (second half of each recording: the first half is the
   training-augmentation half); reverberation with each real RIR; far field (church RIR + noise at 10 dB);
5. accuracy of every variant on every slice; drop vs fp32 on the same clips with a paired bootstrap 95 % CI and
   McNemar's exact p;
6. latency (end to end and model only; 1 and 2 threads) and peak RSS, each variant in a fresh process;
7. ``results.json``, ``results.csv``, ``report.html`` and a terminal table.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from voxquant.data.slices import stratified_indices  # noqa: F401  (re-exported: voxquant.pipeline.stratified_indices)
from voxquant.errors import ConfigError, VoxquantError
from voxquant.report.results import MIN_SPEEDUP

log = logging.getLogger("voxquant")

DEFAULT_RECIPES = ("fp32", "fp16", "int8_dynamic", "int8_static_minmax", "int8_static_entropy", "int8_static_percentile",
                   "int8_static_minmax_fullrange")

#: Below this share of identical predictions between ORT's int8 kernels and the float-simulated QDQ graph, the
#: variant gets a kernel warning in the report.
KERNEL_AGREEMENT_MIN = 0.98


@dataclass
class RunConfig:
    """Configuration of ``voxquant run`` (recorded in ``results.json``).

    Attributes:
        out_dir: output folder (results, report, models, cache of cells).
        model: voxquant weights (``.pt`` with its ``.json``; ``None`` = the bundled DS-CNN), a model spec
            (``.toml``), a zoo name, or a float ``.onnx``/``.tflite`` with ``frontend`` (see :func:`resolve_model`).
        frontend: front-end preset for a bare ``.onnx``/``.tflite`` model.
        recipes: quantization recipes, in report order (``fp32`` is always added first: it is the reference).
        snrs: SNRs in dB of the noise slices.
        reverb: add one slice per real RIR.
        far_field: add the far-field slice (church RIR, then real noise at ``far_field_snr`` dB).
        far_field_snr: SNR in dB of the far-field slice.
        calib_n: calibration clips drawn from ``dev`` (seeded).
        seed: seed of calibration sampling, slices and bootstrap.
        threads: intra-op thread counts measured for latency; the first is the headline.
        latency_runs: timed runs per latency measurement (>= 200 for the report).
        latency_warmup: untimed warm-up runs.
        n_boot: bootstrap resamples for the CIs.
        max_drop: accuracy-drop budget (pp) used by the recommendation.
        limit: evaluate on at most this many ``eval`` clips (stratified; ``None`` = all): for quick runs/tests.
        eval_threads: threads used for the (batched) accuracy evaluation.
        data_root: data root (default ``VOXQUANT_DATA``): noise and RIRs, and the test set unless ``test_set``.
        test_set: folder of the 12-class test set (labelled folders or manifest layout), overriding the data root.
        progress: show progress bars.
        recipe_options: per-recipe keyword options, e.g. ``{"mixed": {"max_drop": 0.5}}``.
    """

    out_dir: Path = Path("runs/default")
    model: Path | None = None
    recipes: tuple = DEFAULT_RECIPES
    snrs: tuple = (20, 10, 5, 0)
    reverb: bool = True
    far_field: bool = True
    far_field_snr: float = 10.0
    calib_n: int = 200
    seed: int = 0
    threads: tuple = (1, 2)
    latency_runs: int = 200
    latency_warmup: int = 20
    n_boot: int = 2000
    max_drop: float = 1.0
    limit: int | None = None
    eval_threads: int = 1
    data_root: Path | None = None
    test_set: Path | None = None
    frontend: str | None = None
    progress: bool = True
    recipe_options: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The configuration as plain JSON types (recorded in the results)."""
        from voxquant.report.store import to_jsonable

        return to_jsonable(asdict(self))


# ------------------------------------------------------------------------------------------------ helpers


from voxquant.models.source import ModelSource, load_model, resolve_model  # noqa: E402,F401  (re-exported)


def slice_specs(cfg: RunConfig, rir_names: list[str]) -> list[tuple[str, str, object]]:
    """The evaluation slices as ``(name, kind, param)``: ``clean``, ``noise_snr<d>``, ``reverb_<room>``,
    ``far_field``."""
    specs = [("clean", "clean", None)]
    specs += [(f"noise_snr{int(s) if float(s).is_integer() else s}", "noise", float(s)) for s in cfg.snrs]
    if cfg.reverb:
        specs += [(f"reverb_{r}", "reverb", r) for r in rir_names]
    if cfg.far_field and rir_names:
        specs.append(("far_field", "far_field", cfg.far_field_snr))
    return specs


def _is_qdq(path: Path) -> bool:
    """Whether an ONNX model is a static QDQ model (QuantizeLinear nodes, no DynamicQuantizeLinear)."""
    import onnx

    ops = {n.op_type for n in onnx.load(str(path), load_external_data=False).graph.node}
    return "QuantizeLinear" in ops and "DynamicQuantizeLinear" not in ops


def kernel_check_section(variants: list[dict]) -> dict | None:
    """Report section: int8 kernel check (ORT fused kernels vs the QDQ graph simulated in float)."""
    rows = [v for v in variants if v.get("kernel_check")]
    if not rows:
        return None
    body = "".join(
        f"<tr><td>{v['name']}</td><td>{100 * v['kernel_check']['qdq_simulated_accuracy']:.2f}</td>"
        f"<td>{100 * v['kernel_check']['kernel_accuracy']:.2f}</td><td>{100 * v['kernel_check']['agreement']:.1f}</td>"
        f"<td>{'&#9888; ' + v['kernel_warning'] if v.get('kernel_warning') else 'ok'}</td></tr>" for v in rows)
    html = ("<p>Each static int8 (QDQ) variant is run twice on the clean slice: through ONNX Runtime's fused int8 "
            "kernels (what the latency numbers measure) and with QDQ fusion disabled, i.e. the exact int8 arithmetic "
            "simulated in float (what an integer-exact target computes). On x86 CPUs without VNNI, ONNX Runtime's "
            "U8S8 kernels use VPMADDUBSW, whose int16 sums saturate with full-range weights (ONNX Runtime docs, "
            "'Quantize ONNX models': 'When and why do I need to try U8U8?').</p>"
            "<table><tr><th>variant</th><th>QDQ simulated acc %</th><th>ORT kernel acc %</th>"
            f"<th>agreement %</th><th>verdict</th></tr>{body}</table>")
    return {"title": "Int8 kernel check", "html": html}


def _progress(enabled: bool):
    from contextlib import nullcontext

    if not enabled:
        return nullcontext(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=False)


# ------------------------------------------------------------------------------------------------ the run


def run(cfg: RunConfig | None = None) -> dict:
    """Run the whole matrix and write the report.

    Args:
        cfg: :class:`RunConfig` (defaults: bundled DS-CNN, all default recipes, all slices, 1 and 2 threads).

    Returns:
        The ``results.json`` dict (also written to ``cfg.out_dir``).

    Raises:
        VoxquantError: missing data, bad model file, unknown recipe (one clear message).
    """
    from voxquant.audio.frontend import compute_features
    from voxquant.data import load_noise_bank, load_rir_bank, load_waves
    from voxquant.data.slices import cached_array, condition_waves, model_splits, stratified_subset
    from voxquant.eval.metrics import classification_metrics
    from voxquant.models.zoo_default import split_noise_bank
    from voxquant.quant import get_recipe
    from voxquant.report import ResultStore, build_results, make_latency, make_slice as make_slice_entry
    from voxquant.report import print_summary, recommend, write_csv, write_html, write_json_atomic

    cfg = cfg or RunConfig()
    t_start = time.time()
    from voxquant.quant import expand_recipes

    recipes = list(dict.fromkeys(["fp32", *expand_recipes(cfg.recipes)]))  # group aliases, e.g. ptq
    for r in recipes:
        get_recipe(r)  # fail fast on an unknown recipe, before any work
    out = Path(cfg.out_dir)
    (out / "models").mkdir(parents=True, exist_ok=True)
    store = ResultStore(out)

    # 1. data ---------------------------------------------------------------------------------------------
    src = resolve_model(cfg.model, cfg.frontend)
    fe = src.frontend
    labels = src.labels
    from voxquant.zoo.spec import to_model_layout

    def feats(waves):
        return to_model_layout(compute_features(waves, fe), src.layout)

    dev, ev, remap = model_splits(labels, cfg.data_root, cfg.test_set)
    ev = stratified_subset(ev, cfg.limit, cfg.seed)
    y_eval = remap[ev.label_ids()]
    eval_waves = load_waves(ev, fe.sample_rate, fe.clip_samples, progress=cfg.progress)
    calib_idx = stratified_indices(dev.label_ids(), cfg.calib_n, cfg.seed)
    calib_waves = load_waves(dev.subset(calib_idx, name="calibration"), fe.sample_rate, fe.clip_samples, progress=False)
    calib = feats(calib_waves)

    noise_eval = {}
    rirs = {}
    try:
        _, noise_eval = split_noise_bank(load_noise_bank(cfg.data_root, sample_rate=fe.sample_rate))
    except VoxquantError as exc:
        log.warning("noise slices skipped: %s", exc)
    try:
        rirs = load_rir_bank(cfg.data_root, sample_rate=fe.sample_rate) if (cfg.reverb or cfg.far_field) else {}
    except VoxquantError as exc:
        log.warning("reverb slices skipped: %s", exc)
    specs = [s for s in slice_specs(cfg, list(rirs)) if (s[1] not in ("noise", "far_field") or noise_eval)]

    def slice_features(name, kind, param):
        return cached_array(out / "cache" / f"features_{name}_{len(ev)}_{cfg.seed}.npy",
                            lambda: feats(condition_waves(eval_waves, kind, param, noise_eval, rirs, cfg.seed)))

    # 2. float ONNX -----------------------------------------------------------------------------------------
    fp32_onnx = out / "models" / "model.fp32.onnx"
    if not fp32_onnx.is_file():
        src.export(fp32_onnx)

    # 3.-5. variants x slices ---------------------------------------------------------------------------------
    from voxquant.backends.onnxruntime import OrtSession

    variant_paths: dict[str, Path] = {}
    with _progress(cfg.progress) as prog:
        task = prog.add_task("variants x slices", total=len(recipes) * len(specs)) if prog else None
        for r in recipes:
            key = f"variant/{r}"
            path = out / "models" / f"model.{r}.onnx"
            if not store.has(key):
                t0 = time.time()
                try:
                    from voxquant.quant import build_variant

                    # every recipe gets the run context; QAT / mixed precision need the float weights and dev data
                    ctx = {"weights": Path(cfg.model) if cfg.model else None, "data_root": cfg.data_root,
                           "test_set": cfg.test_set, "seed": cfg.seed, "progress": cfg.progress}
                    build_variant(r, fp32_onnx, path, calib if get_recipe(r).needs_calibration else None,
                                  **{**ctx, **cfg.recipe_options.get(r, {})})
                    store.put(key, {"status": "ok", "path": str(path), "size_bytes": path.stat().st_size,
                                    "build_seconds": time.time() - t0})
                except VoxquantError:
                    raise
                except Exception as exc:  # a toolchain failure is a row in the report, not a crash
                    store.put(key, {"status": "failed", "error": f"{type(exc).__name__}: {str(exc)[:300]}"})
            if store.get(key)["status"] == "ok":
                variant_paths[r] = path
            sess = None
            for name, kind, param in specs:
                ckey = f"acc/{r}/{name}"
                if r in variant_paths and not store.has(ckey):
                    if sess is None:
                        sess = OrtSession(path, threads=cfg.eval_threads)
                    x = slice_features(name, kind, param)
                    pred = np.concatenate([sess.run(x[i : i + 512]).argmax(1) for i in range(0, len(x), 512)])
                    store.put_array(ckey, (pred == y_eval))
                    m = classification_metrics(y_eval, pred, labels)
                    store.put(ckey, m)
                if prog:
                    prog.update(task, advance=1, description=f"{r} / {name}")
            if r in variant_paths and _is_qdq(path) and not store.has(f"kernel_check/{r}"):
                # the same QDQ graph without ORT's int8 kernel fusion: exact int8 arithmetic simulated in float
                x = slice_features("clean", "clean", None)
                sim = OrtSession(path, threads=cfg.eval_threads, optimization="basic")
                sim_pred = np.concatenate([sim.run(x[i : i + 512]).argmax(1) for i in range(0, len(x), 512)])
                kern = sess or OrtSession(path, threads=cfg.eval_threads)
                kern_pred = np.concatenate([kern.run(x[i : i + 512]).argmax(1) for i in range(0, len(x), 512)])
                store.put(f"kernel_check/{r}", {"qdq_simulated_accuracy": float((sim_pred == y_eval).mean()),
                                                "kernel_accuracy": float((kern_pred == y_eval).mean()),
                                                "agreement": float((sim_pred == kern_pred).mean())})

    # 6. latency ---------------------------------------------------------------------------------------------
    from voxquant.eval.latency import measure_latency

    lat_files = [c.path for c in ev.clips[: max(1, cfg.latency_runs)]]
    with _progress(cfg.progress) as prog:
        task = prog.add_task("latency", total=len(variant_paths) * len(cfg.threads)) if prog else None
        for r, path in variant_paths.items():
            for t in cfg.threads:
                lkey = f"latency/{r}/t{t}"
                if not store.has(lkey):
                    try:
                        res = measure_latency(path, lat_files, fe, "onnxruntime", threads=t, runs=cfg.latency_runs,
                                              warmup=cfg.latency_warmup, layout=src.layout)
                    except RuntimeError as exc:
                        res = {"error": str(exc)}
                    store.put(lkey, res)
                if prog:
                    prog.update(task, advance=1, description=f"latency {r} @ {t} thread(s)")

    # 6b. report sections contributed by recipes (QAT details, sensitivity, mixed precision vs NNCF) ---------
    from voxquant.quant import run_report_hooks

    hook_ctx = {"out_dir": out, "store": store, "variant_paths": variant_paths, "specs": specs,
                "slice_features": slice_features, "y_eval": y_eval, "labels": labels, "frontend": fe, "cfg": cfg,
                "eval_files": lat_files}
    extra_sections = run_report_hooks(recipes, hook_ctx)

    # 7. assemble ---------------------------------------------------------------------------------------------
    results = assemble(cfg, store, recipes, specs, labels, src, len(ev), time.time() - t_start, extra_sections)
    write_json_atomic(out / "results.json", results)
    write_csv(results, out / "results.csv", max_drop=cfg.max_drop)
    write_html(results, out / "report.html", max_drop=cfg.max_drop)
    if cfg.progress:
        print_summary(results, max_drop=cfg.max_drop)
    return results


def assemble(cfg: RunConfig, store, recipes, specs, labels, src: ModelSource, n_eval: int, seconds: float,
             extra_sections: list | None = None) -> dict:
    """Build the ``results.json`` dict from the stored cells (no model is run here); ``extra_sections`` (from the
    recipes' report hooks) are appended to ``results["sections"]``."""
    from voxquant.quant import get_recipe
    from voxquant.report import build_results, make_latency, make_slice as make_slice_entry, recommend

    variants = []
    ref_correct = {name: store.get_array(f"acc/fp32/{name}") for name, _, _ in specs if store.has_array(f"acc/fp32/{name}")}
    ref_model_p50 = None
    for r in recipes:
        rec = get_recipe(r)
        built = store.get(f"variant/{r}")
        v = {"name": r, "recipe": r, "precision": rec.precision, "backend": "onnxruntime", "description": rec.description}
        if built["status"] != "ok":
            v.update(status="failed", error=built.get("error"), size_bytes=None, accuracy=None, latency_ms=None,
                     peak_rss_bytes=None, slices=[], per_class=None, confusion=None)
            variants.append(v)
            continue
        v.update(status="ok", size_bytes=built["size_bytes"], build_seconds=built.get("build_seconds"))
        slices = []
        for name, _, _ in specs:
            corr = store.get_array(f"acc/{r}/{name}")
            if name in ref_correct:
                slices.append(make_slice_entry(name, ref_correct[name], corr, n_boot=cfg.n_boot, seed=cfg.seed))
        v["slices"] = slices
        if store.has(f"kernel_check/{r}"):
            kc = store.get(f"kernel_check/{r}")
            v["kernel_check"] = kc
            if kc["agreement"] < KERNEL_AGREEMENT_MIN:
                v["kernel_warning"] = (
                    f"ONNX Runtime's fused int8 kernels agree with the QDQ graph simulated in float on only "
                    f"{100 * kc['agreement']:.1f}% of clean clips (simulated accuracy {100 * kc['qdq_simulated_accuracy']:.2f}%, "
                    f"kernel {100 * kc['kernel_accuracy']:.2f}%): on x86 without VNNI the U8S8 kernels saturate "
                    f"(VPMADDUBSW); use reduce_range (the default static recipes do) or run on the target.")
        clean = store.get(f"acc/{r}/clean")
        v["accuracy"] = clean["accuracy"]
        v["per_class"] = clean["per_class"]
        v["confusion"] = clean["confusion"]
        lats = {t: store.get(f"latency/{r}/t{t}") for t in cfg.threads if store.has(f"latency/{r}/t{t}")}
        good = {t: l for t, l in lats.items() if "error" not in l}
        if good and cfg.threads[0] in good:
            v["latency_ms"] = make_latency({t: l["e2e_samples_ms"] for t, l in good.items()},
                                           {t: l["model_samples_ms"] for t, l in good.items()}, headline_threads=cfg.threads[0])
            v["latency_ms"]["io_frontend_p50"] = good[cfg.threads[0]]["io_frontend_ms"]["p50"]
            v["peak_rss_bytes"] = max(l["peak_rss_bytes"] for l in good.values())
            mp50 = v["latency_ms"]["model_p50"]
            if r == "fp32":
                ref_model_p50 = mp50
            elif ref_model_p50 is not None:
                v["model_speedup_vs_fp32"] = ref_model_p50 / mp50
                # flagged on the model-only p50 at the headline thread count (the part quantization changes), when
                # slower by more than the run-to-run noise margin the recommendation also uses
                v["slower_than_fp32"] = bool(mp50 > ref_model_p50 * MIN_SPEEDUP)
        else:
            v["latency_ms"] = None
            v["peak_rss_bytes"] = None
            v["latency_error"] = "; ".join(l.get("error", "") for l in lats.values()) or "not measured"
        variants.append(v)
    res_meta = {
        "config": cfg.to_dict(),
        "seed": cfg.seed,
        "labels": list(labels),
        "model": {"name": src.name, "frontend": src.frontend.to_dict(), "input_layout": src.layout, **src.meta},
        "dataset": {"name": "speech_commands_v0.02_test (official 12-class test set)", "split": "eval",
                    "n_clips": n_eval, "calibration": f"{cfg.calib_n} clips of dev"},
        "slices": [{"name": n, "kind": k, "param": p} for n, k, p in specs],
        "seconds": seconds,
        # latency is only comparable on an otherwise idle machine: record how busy this one was
        "load_average_1_5_15min": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }
    sec = kernel_check_section(variants)
    sections = ([sec] if sec else []) + list(extra_sections or [])
    if sections:
        res_meta["sections"] = sections
    results = build_results(res_meta, variants)
    results["recommendation"] = recommend(results, max_drop=cfg.max_drop)
    return results
