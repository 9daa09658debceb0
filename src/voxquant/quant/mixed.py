"""Accuracy-bounded mixed precision (recipe ``mixed``): int8 everywhere except the layers a *worst-slice* budget
needs in float.

NNCF's ``quantize_with_accuracy_control`` reverts the most harmful layers to float until the **mean** metric on a
validation set is within ``max_drop``. voxquant bounds the **worst slice** instead: no acoustic condition (clean,
each noise SNR, each room, far field) may lose more than ``max_drop`` percentage points against fp32.

Search (:func:`search_mixed`), on ``dev`` only:

1. build int8 static PTQ (ONNX Runtime QDQ, ``method`` calibration, all quantizable layers) and measure the drop
   vs fp32 on every dev slice; stop if the budget holds;
2. rank the layers by what keeping that layer alone in float does (exclude-one sensitivity,
   :mod:`voxquant.quant.sensitivity`), on a stratified subset of dev (``rank_limit`` clips): by default
   (``rank_by="kl"``) by the mean output KL divergence from fp32 over the slices, a continuous measure; with
   ``rank_by="budget"`` by the budget metric itself. Measured on the tiny KWT: on 200 clips the worst-slice drop
   moves in 0.5 pp steps and ranked the softmax (the layer that matters most: 3.8 -> 2.1 pp on all dev clips) 43rd
   of 44 - the search then kept 16 layers in float without meeting the budget - while KL ranked it first;
3. keep the best-ranked layer in float (``nodes_to_exclude`` plus float inputs, see
   :func:`voxquant.quant.sensitivity.float_inputs`), re-quantize, re-measure; repeat with the next layer until the
   budget holds. **Re-ranking**: when a step does not lower the metric (``rerank="on_stall"``, default) - or after
   every step (``"always"``) - the next ``rerank_top`` (8) layers of the order are re-measured given the layers
   already in float (on the ranking subset) and re-ordered;
4. the result is written with its JSON sidecar (``<out>.json``: float layers, per-slice dev drops of fp32 / int8 /
   mixed, the search trace, the sensitivity table, the NNCF comparison).

Budget metric (``budget``): ``"worst-slice"`` = max over slices of the drop (pp); ``"mean"`` = mean of the
per-slice drops (equal slice sizes: the drop of the pooled accuracy, NNCF's criterion). The search compares the
point estimates on dev (at the default ~2,300 dev clips one clip is 0.044 pp); ``voxquant run`` then reports the
chosen model on ``eval`` with paired bootstrap CIs.

Dev slices: the same machinery as the eval slices (:func:`voxquant.data.make_slice`): clean; real background
noise at each SNR from the **training half** of each noise recording (the eval slices use the other half); every
real RIR; far field (church RIR, then noise at 10 dB). Caveat: ``dev`` is also what the float model and QAT were
trained on, so dev drops can understate eval drops; the eval numbers in the report are the ones to trust.

Comparator: with the ``[openvino]`` extra, :func:`voxquant.backends.openvino.quantize_with_accuracy_control` runs
on the same float model, calibration and dev slices (pooled: the mean budget), ``max_drop`` as an absolute drop;
its per-slice dev drops and the float layers it kept are recorded; ``voxquant run`` evaluates its IR on ``eval``
in the report section.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import numpy as np

from voxquant.errors import ConfigError
from voxquant.quant import register_recipe, register_report_hook
from voxquant.quant.qat import UNSET, model_info

BUDGETS = ("worst-slice", "mean")
RERANK = ("never", "on_stall", "always")


def budget_metric(res: dict, budget: str) -> float:
    """The number the budget bounds, from a :func:`voxquant.quant.sensitivity.compare` dict (pp)."""
    if budget == "worst-slice":
        return float(res["_worst"])
    if budget == "mean":
        return float(res["_mean"])
    raise ConfigError(f"unknown budget '{budget}'", hint=f"choose from {', '.join(BUDGETS)}")


def search_mixed(evaluate: Callable, candidates: list[str], max_drop: float, budget: str = "worst-slice",
                 rank: dict | None = None, rerank: str = "on_stall", max_float: int | None = None,
                 rank_evaluate: Callable | None = None, rerank_top: int | None = 8,
                 rank_key: Callable[[dict], float] | None = None) -> dict:
    """Greedy accuracy-bounded search: keep layers in float one at a time until the budget holds.

    Args:
        evaluate: ``evaluate(excluded: tuple[str, ...]) -> dict`` with at least ``_worst`` and ``_mean`` drops in pp
            (and per-slice entries), for the model with the ``excluded`` layers in float and the rest int8.
            Results are memoised here by the set of excluded layers.
        candidates: layer names that may be kept in float.
        max_drop: budget in pp (e.g. 0.5).
        budget: ``"worst-slice"`` or ``"mean"``.
        rank: ``{layer: metric with only that layer in float}`` (exclude-one sensitivity); computed with
            ``evaluate`` when ``None``.
        rerank: ``"never"``, ``"on_stall"`` (re-rank the remaining layers when a step does not lower the metric)
            or ``"always"``.
        max_float: give up (``met=False``) after this many float layers (``None`` = no limit).
        rank_evaluate: like ``evaluate`` but used for (re-)ranking only, e.g. on a cheaper subset of the data
            (default: ``evaluate``).
        rerank_top: a re-ranking re-measures only the first ``rerank_top`` layers of the current order (the rest keep
            their order behind them); ``None`` = all remaining layers.
        rank_key: the number (lower = keep in float first) a ranking reads from an evaluate dict; default the
            budget metric (``mixed`` passes the mean output KL, ``_kl``). ``rank`` must hold the same number.

    Returns:
        ``{"excluded": [layers in float, in the order chosen], "met": bool, "metric": final metric (pp),
        "result": final evaluate dict, "int8": all-int8 evaluate dict, "trace": [{"step", "added", "metric",
        "worst", "worst_slice", "mean", "reranked"}], "n_evaluations": int, "stop": reason}``.

    Raises:
        ConfigError: unknown ``budget`` or ``rerank``; negative ``max_drop``.
    """
    if budget not in BUDGETS:
        raise ConfigError(f"unknown budget '{budget}'", hint=f"choose from {', '.join(BUDGETS)}")
    if rerank not in RERANK:
        raise ConfigError(f"unknown rerank '{rerank}'", hint=f"choose from {', '.join(RERANK)}")
    if max_drop < 0:
        raise ConfigError(f"max_drop must be >= 0 pp, got {max_drop}")
    memo: dict = {}

    def ev(excl) -> dict:
        key = frozenset(excl)
        if key not in memo:
            memo[key] = evaluate(tuple(excl))
        return memo[key]

    rank_memo: dict = {}

    score = rank_key or (lambda r: budget_metric(r, budget))

    def rank_m(excl) -> float:
        if rank_evaluate is None:
            return float(score(ev(excl)))
        key = frozenset(excl)
        if key not in rank_memo:
            rank_memo[key] = rank_evaluate(tuple(excl))
        return float(score(rank_memo[key]))

    def rank_remaining(excl, remaining, order=None) -> list[str]:
        head = list(order or remaining)
        tail = []
        if rerank_top is not None and order is not None:
            head, tail = head[:rerank_top], head[rerank_top:]
        scores = {c: rank_m([*excl, c]) for c in head}
        return sorted(head, key=lambda c: (scores[c], candidates.index(c))) + tail

    excluded: list[str] = []
    cur = ev(())
    int8 = cur
    trace = [{"step": 0, "added": None, "metric": budget_metric(cur, budget), "worst": cur["_worst"],
              "worst_slice": cur.get("_worst_slice"), "mean": cur["_mean"], "reranked": False}]
    remaining = list(candidates)
    if rank is not None:
        order = sorted(remaining, key=lambda c: (rank.get(c, float("inf")), candidates.index(c)))
    else:
        order = rank_remaining([], remaining)
    stop = "budget met by all-int8"
    while budget_metric(cur, budget) > max_drop:
        if not remaining:
            stop = "every layer in float"
            break
        if max_float is not None and len(excluded) >= max_float:
            stop = f"max_float={max_float} reached"
            break
        c = order.pop(0)
        remaining.remove(c)
        before = budget_metric(cur, budget)
        excluded.append(c)
        cur = ev(excluded)
        after = budget_metric(cur, budget)
        reranked = False
        if remaining and after > max_drop and (rerank == "always" or (rerank == "on_stall" and after >= before)):
            order = rank_remaining(excluded, remaining, order)
            reranked = True
        trace.append({"step": len(excluded), "added": c, "metric": after, "worst": cur["_worst"],
                      "worst_slice": cur.get("_worst_slice"), "mean": cur["_mean"], "reranked": reranked})
        stop = "budget met"
    met = budget_metric(cur, budget) <= max_drop
    return {"excluded": excluded, "met": bool(met), "metric": budget_metric(cur, budget), "result": cur, "int8": int8,
            "trace": trace, "n_evaluations": len(memo) + len(rank_memo), "stop": stop,
            "budget": budget, "max_drop": float(max_drop)}


# ------------------------------------------------------------------------------------------------ dev slices


def dev_slice_specs(rir_names: list[str], snrs=(20, 10, 5, 0), reverb: bool = True, far_field: bool = True,
                    far_field_snr: float = 10.0) -> list[tuple[str, str, object]]:
    """The dev slices ``(name, kind, param)``: the same list :func:`voxquant.data.slices.slice_specs` builds for eval."""
    from voxquant.data.slices import slice_specs

    return slice_specs(list(rir_names), tuple(snrs), reverb, far_field, far_field_snr)


def dev_slices(frontend, labels, data_root=None, test_set=None, limit: int | None = None, seed: int = 0,
               snrs=(20, 10, 5, 0), reverb: bool = True, far_field: bool = True, noise_half: str = "train",
               progress: bool = False, layout: str = "nchw"):
    """Labelled dev slices as a :class:`~voxquant.quant.sensitivity.SliceSet` (features ``float32 [N, 1, T, F]``).

    Args:
        frontend: :class:`~voxquant.audio.frontend.FrontendConfig` of the model.
        labels: the model's class names (output order); data labels are remapped to it.
        data_root, test_set: data location.
        limit: at most this many dev clips (stratified, seeded); ``None`` = all dev clips.
        seed: slice seed (noise segment choice).
        snrs, reverb, far_field: which slices.
        noise_half: ``"train"`` (first half of each noise recording, default) or ``"eval"``.
        progress: progress bars while decoding.
        layout: model input layout (:data:`voxquant.audio.layout.LAYOUTS`; ``nchw`` = ``[N, 1, T, F]``).

    Returns:
        ``(SliceSet, description dict)``. Features are cached under ``VOXQUANT_CACHE/mixed-dev``.

    Raises:
        DataError: data missing. ConfigError: label mismatch.
    """
    import hashlib

    from voxquant.audio.frontend import compute_features
    from voxquant.data import load_noise_bank, load_rir_bank, load_waves
    from voxquant.data.slices import model_splits, slice_features, stratified_subset
    from voxquant.models.zoo_default import split_noise_bank
    from voxquant.paths import cache_root
    from voxquant.quant.sensitivity import SliceSet
    from voxquant.audio.layout import to_model_layout

    dev, _, remap = model_splits(labels, data_root, test_set)
    dev = stratified_subset(dev, limit, seed)
    y = remap[dev.label_ids()]
    bank = load_noise_bank(data_root, sample_rate=frontend.sample_rate)
    noise = split_noise_bank(bank)[0 if noise_half == "train" else 1]
    rirs = load_rir_bank(data_root, sample_rate=frontend.sample_rate) if (reverb or far_field) else {}
    specs = dev_slice_specs(list(rirs), snrs, reverb, far_field)
    key = hashlib.sha256(json.dumps([frontend.to_dict(), [c.path.name for c in dev.clips], seed, noise_half, specs, layout],
                                    default=str).encode()).hexdigest()[:16]
    cdir = cache_root() / "mixed-dev" / key
    x = slice_features(specs, lambda: load_waves(dev, frontend.sample_rate, frontend.clip_samples, progress=progress),
                       lambda w: to_model_layout(compute_features(w, frontend), layout), noise, rirs, seed,
                       cache_path=lambda name: cdir / f"{name}.npy")
    desc = {"clips": int(len(y)), "speakers": len(dev.speakers()), "slices": [s[0] for s in specs],
            "noise": f"{noise_half} half of each real background-noise recording", "seed": seed,
            "note": "dev = the float model's training split (speaker-disjoint from eval)"}
    return SliceSet(x, y), desc


# ------------------------------------------------------------------------------------------------ the recipe


def run_nncf(fp32_onnx: Path, out_xml: Path, calibration: np.ndarray, data, max_drop: float, ref: dict) -> dict:
    """NNCF ``quantize_with_accuracy_control`` with the pooled dev slices (mean budget), then its per-slice dev drops.

    Returns:
        the backend's result dict plus ``"dev": compare(...)`` (per-slice drops of the NNCF model on the same dev
        slices) and ``"seconds"``; or ``{"error": ...}`` when the comparator is unavailable or fails.
    """
    t0 = time.time()
    try:
        from voxquant.backends.openvino import OvSession, quantize_with_accuracy_control
        from voxquant.quant.sensitivity import compare

        xs = np.concatenate([data.x[k] for k in data.names])
        ys = np.concatenate([data.y for _ in data.names])
        res = quantize_with_accuracy_control(Path(fp32_onnx), Path(out_xml), calibration, xs, ys,
                                             max_drop=max_drop / 100.0, subset_size=min(300, len(calibration)))
        sess = OvSession(Path(out_xml), threads=2)
        var = {k: np.concatenate([sess.run(v[i : i + 512]) for i in range(0, len(v), 512)]) for k, v in data.x.items()}
        res = dict(res)
        res.pop("runtime_precisions", None)
        res["dev"] = compare(ref, var, data.y)
        res["seconds"] = time.time() - t0
        return res
    except Exception as exc:  # the comparator is optional: record why it is missing
        return {"error": f"{type(exc).__name__}: {str(exc)[:300]}", "seconds": time.time() - t0}


@register_recipe("mixed", "int8/fp32 mixed", True,
                 "int8 static PTQ with the most sensitive layers kept in fp32 until every dev slice's drop is within "
                 "--max-drop (worst-slice budget; --budget mean for NNCF's criterion)")
def mixed(fp32_onnx: Path, out: Path, calibration: np.ndarray, weights=UNSET, data_root=None, test_set=None,
          seed: int = 0, progress: bool = False, max_drop: float = 0.5, budget: str = "worst-slice",
          method: str = "minmax", rerank: str = "on_stall", dev_limit: int | None = None, snrs=(20, 10, 5, 0),
          reverb: bool = True, far_field: bool = True, sensitivity_modes=("exclude", "only"), nncf: bool = True,
          rknn: bool = True, threads: int = 2, max_float: int | None = None, rank_limit: int | None = 600,
          frontend=None, labels=None, layout=None, rerank_top: int | None = 8, rank_by: str = "kl", **_):
    """Build the mixed-precision variant (see the module docstring).

    Args:
        fp32_onnx: float ONNX model.
        out: ``.onnx`` to write; the sidecar goes to ``out.with_suffix(".json")``, work files to
            ``<out stem>.work/``.
        calibration: ``float32 [N, ...]`` calibration inputs (the PTQ starting point's).
        weights: the model (``None`` = bundled, ``.pt``, or any ``--model``; see :func:`voxquant.quant.qat.model_info`):
            only its front-end, labels and input layout are used. frontend, labels, layout: override those.
        max_drop: budget in pp. budget: ``"worst-slice"`` or ``"mean"``. method: static calibration method.
        rerank, max_float, rerank_top: see :func:`search_mixed`. dev_limit: dev clips used (``None`` = all).
        rank_by: ``"kl"`` (mean output KL divergence vs fp32, default) or ``"budget"`` (the budget metric): what the
            layer ranking sorts by (see the module docstring).
        rank_limit: the per-layer sensitivity (ranking and report) uses a stratified subset of this many dev
            clips (every slice) to save time; the search's own steps are measured on all ``dev_limit`` clips.
        sensitivity_modes: sensitivity measured for the report (``"exclude"`` is needed by the search).
        nncf: run NNCF's accuracy-controlled quantization as the comparator (OpenVINO extra).
        rknn: add RKNN's per-layer cosine to the sensitivity (when the RKNN venv is ready).

    Returns:
        ``out``.

    Raises:
        ConfigError: bad budget/method/rerank, label mismatch. DataError: data missing.
    """
    if _.get("task") == "sequence":  # a CTC command model: worst (condition x group) budget (quant.sequence)
        from voxquant.quant.sequence import mixed_sequence

        return mixed_sequence(fp32_onnx, out, calibration, max_drop=max_drop, method=method, rerank=rerank,
                              max_float=max_float, threads=threads, **{k: v for k, v in _.items() if k != "task"})
    from voxquant.quant.sensitivity import Quantizer, compare, float_ops, layer_sensitivity, predict_slices

    if budget not in BUDGETS:
        raise ConfigError(f"unknown budget '{budget}'", hint=f"choose from {', '.join(BUDGETS)}")
    if method not in ("minmax", "entropy", "percentile"):
        raise ConfigError(f"unknown calibration method '{method}' for mixed", hint="minmax, entropy or percentile")
    if rank_by not in ("kl", "budget"):
        raise ConfigError(f"unknown rank_by '{rank_by}' for mixed", hint="kl or budget")
    t0 = time.time()
    out = Path(out)
    work = out.parent / f"{out.stem}.work"
    meta = model_info(weights, frontend=frontend, labels=labels, layout=layout)
    data, desc = dev_slices(meta["frontend"], meta["labels"], data_root, test_set, dev_limit, seed, snrs, reverb,
                            far_field, progress=progress, layout=meta["layout"])
    ref = predict_slices(Path(fp32_onnx), data, threads)
    q = Quantizer(Path(fp32_onnx), calibration, method, workdir=work)
    modes = tuple(dict.fromkeys(("exclude", *sensitivity_modes)))
    if rank_limit and rank_limit < len(data.y):
        from voxquant.data.slices import stratified_indices

        rank_idx = stratified_indices(data.y, rank_limit, seed)
        rank_data, rank_ref = data.subset(rank_idx), {k: v[rank_idx] for k, v in ref.items()}
    else:
        rank_data, rank_ref = data, ref
    sens = layer_sensitivity(q, rank_data, modes=modes, ref=rank_ref, threads=threads)
    node_info = {l["node"]: l for l in sens["layers"]}
    cache = {}
    if rank_data is data:
        cache = {frozenset(): sens["int8"], **{frozenset([l["node"]]): l["exclude"] for l in sens["layers"]}}

    def evaluate(excl):
        key = frozenset(excl)
        if key not in cache:
            cache[key] = compare(ref, predict_slices(q.build(list(excl)), data, threads), data.y)
        return cache[key]

    def rank_evaluate(excl):  # re-ranking on the ranking subset (cheap), steps on all dev clips
        return compare(rank_ref, predict_slices(q.build(list(excl)), rank_data, threads), rank_data.y)

    def rank_key(r: dict) -> float:
        return float(r["_kl"]) if rank_by == "kl" else budget_metric(r, budget)

    rank = {l["node"]: rank_key(l["exclude"]) for l in sens["layers"]}
    res = search_mixed(evaluate, [l["node"] for l in sens["layers"]], max_drop, budget, rank=rank, rerank=rerank,
                       max_float=max_float, rank_evaluate=None if rank_data is data else rank_evaluate,
                       rerank_top=rerank_top, rank_key=rank_key)
    desc["rank_clips"] = int(len(rank_data.y))
    q.build(res["excluded"], out=out)
    for l in sens["layers"]:  # keep the sidecar small: per-slice numbers only for the summary rows
        for mode in modes:
            l[mode] = {k: (round(v["drop"], 4) if isinstance(v, dict) else v) for k, v in l[mode].items()}
    rknn_rows = None
    if rknn:
        try:
            from voxquant.quant.sensitivity import rknn_layer_cosines

            rknn_rows = rknn_layer_cosines(Path(fp32_onnx), calibration, work / "rknn")
        except Exception as exc:  # optional toolchain
            rknn_rows = [{"layer": "(RKNN analysis failed)", "op": f"{type(exc).__name__}: {str(exc)[:200]}",
                          "entire_cos": None, "single_cos": None}]
    nncf_res = run_nncf(Path(fp32_onnx), out.with_suffix(".nncf.xml"), calibration, data, max_drop, ref) if nncf else None
    side = {
        "recipe": "mixed", "budget": budget, "max_drop": max_drop, "method": method, "rerank": rerank, "rank_by": rank_by,
        "dev": desc, "met": res["met"], "stop": res["stop"],
        "float_layers": [{"node": n, "layer": node_info[n]["layer"], "op": node_info[n]["op"]} for n in res["excluded"]],
        "n_layers": len(sens["layers"]), "n_evaluations": q.n_built,
        "dev_int8": res["int8"], "dev_mixed": res["result"], "trace": res["trace"],
        "sensitivity": {"layers": sens["layers"], "int8": {k: v for k, v in sens["int8"].items()}, "slices": sens["slices"],
                        "n": sens["n"], "modes": list(modes)},
        "rknn_cosines": rknn_rows, "nncf": nncf_res, "float_ops": float_ops(out), "seconds": time.time() - t0,
        "onnx": out.name,
    }
    from voxquant.report.store import write_json_atomic

    write_json_atomic(out.with_suffix(".json"), side)
    for f in work.glob("variant_*.onnx"):  # the search's intermediate models (the result is ``out``)
        f.unlink()
    return out


# ------------------------------------------------------------------------------------------------ report


def _eval_slices(store, prefix: str, names: list[str], n_boot: int, seed: int) -> list[dict] | None:
    from voxquant.report import make_slice as make_slice_entry

    out = []
    for s in names:
        if not (store.has_array(f"acc/fp32/{s}") and store.has_array(f"{prefix}/{s}")):
            return None
        out.append(make_slice_entry(s, store.get_array(f"acc/fp32/{s}"), store.get_array(f"{prefix}/{s}"), n_boot=n_boot, seed=seed))
    return out


def _worst(slices: list[dict] | None) -> str:
    if not slices:
        return "-"
    w = max(slices, key=lambda s: s["drop"])
    return f"{w['drop']:+.2f} [{w['ci95'][0]:+.2f}, {w['ci95'][1]:+.2f}] ({w['name']})"


def _mean(slices: list[dict] | None) -> str:
    return "-" if not slices else f"{np.mean([s['drop'] for s in slices]):+.2f}"


@register_report_hook("mixed")
def mixed_sections(ctx: dict) -> list[dict]:
    """Report sections: per-layer sensitivity (+ RKNN cosines) and the mixed-precision result beside NNCF's.

    The NNCF model (OpenVINO IR written by the recipe) is an ordinary row of the run (``ctx["nncf_row"]``), built,
    evaluated and timed by the engine like every other variant; this hook only reads its cells
    (``acc/<row>/<slice>``, ``latency/<row>/t<threads>``) for the comparison table.

    Returns:
        Sections in the schema of :mod:`voxquant.report.sections` (plain data, no markup); the mixed variant's
        row of the comparison table is highlighted.
    """
    from voxquant.quant import plain_text
    from voxquant.quant.sensitivity import float_ops, format_ops, sensitivity_blocks

    store, cfg = ctx["store"], ctx["cfg"]
    path = Path(ctx["variant_paths"]["mixed"])
    side_p = path.with_suffix(".json")
    if not side_p.is_file():
        return []
    side = json.loads(side_p.read_text())
    names = [s[0] for s in ctx["specs"]]
    sections = [{"title": "Per-layer sensitivity (ONNX Runtime int8, dev)",
                 "blocks": sensitivity_blocks(side["sensitivity"], side.get("rknn_cosines"))}]

    # NNCF on eval: an ordinary row of the matrix (the pipeline evaluates it like every other variant)
    nn = side.get("nncf") or {}
    row = ctx.get("nncf_row", "")
    nncf_slices = None
    nncf_lat = None
    if nn and "error" not in nn and store.has(f"variant/{row}") and store.get(f"variant/{row}").get("status") == "ok":
        nncf_slices = _eval_slices(store, f"acc/{row}", names, cfg.n_boot, cfg.seed)
        lkey = f"latency/{row}/t{cfg.threads[0]}"
        if store.has(lkey) and "error" not in store.get(lkey):
            d = store.get(lkey)
            nncf_lat = {"e2e_p50": float(np.percentile(d["e2e_samples_ms"], 50)),
                        "model_p50": float(np.percentile(d["model_samples_ms"], 50))}

    def lat(r):
        k = f"latency/{r}/t{cfg.threads[0]}"
        if not store.has(k) or "error" in store.get(k):
            return "-"
        d = store.get(k)
        return f"{np.percentile(d['e2e_samples_ms'], 50):.3f} / {np.percentile(d['model_samples_ms'], 50):.3f}"

    def size(r):
        k = f"variant/{r}"
        return f"{store.get(k)['size_bytes'] / 1024:.1f}" if store.has(k) and store.get(k).get("status") == "ok" else "-"

    int8_name = f"int8_static_{side['method']}"
    rows: list[list] = []
    highlight: list[list[int]] = []
    fl = ", ".join(f"{f['layer']} ({f['op']})" for f in side["float_layers"]) or "none"
    for r, label, dev, float_desc in (
        ("fp32", "fp32", None, "all"),
        (int8_name, f"{int8_name} (search start)", side["dev_int8"], "none"),
        ("mixed", f"mixed, {side['budget']} budget {side['max_drop']} pp", side["dev_mixed"], fl),
    ):
        if r not in ctx["variant_paths"] and r != "mixed":
            if dev is None:
                continue
        ev = _eval_slices(store, f"acc/{r}", names, cfg.n_boot, cfg.seed) if r in ctx["variant_paths"] else None
        dv = "-" if dev is None else f"{dev['_worst']:+.2f} ({dev['_worst_slice']})"
        dm = "-" if dev is None else f"{dev['_mean']:+.2f}"
        if r == "mixed":
            highlight.append([len(rows), -1])
        rows.append([label, float_desc, dv, dm, _worst(ev), _mean(ev), size(r), lat(r)])
    if nn:
        if "error" in nn:
            rows.append(["NNCF quantize_with_accuracy_control (mean budget)", f"not run: {plain_text(nn['error'])}",
                         "-", "-", "-", "-", "-", "-"])  # fmt: skip
        else:
            d = nn["dev"]
            lt = "-" if not nncf_lat or "error" in nncf_lat else f"{nncf_lat['e2e_p50']:.3f} / {nncf_lat['model_p50']:.3f}"
            rows.append([f"NNCF quantize_with_accuracy_control, mean budget {side['max_drop']} pp (OpenVINO)",
                         format_ops({}) if not nn.get("float_nodes") else ", ".join(nn["float_nodes"]),
                         f"{d['_worst']:+.2f} ({d['_worst_slice']})", f"{d['_mean']:+.2f}", _worst(nncf_slices),
                         _mean(nncf_slices), f"{nn['size_bytes'] / 1024:.1f}", lt])  # fmt: skip
    layer_of = {f["node"]: f["layer"] for f in side["float_layers"]}
    trace = [[t["step"], layer_of.get(t["added"], t["added"]) if t["added"] else "(all int8)",
              f"{t['worst']:+.2f} ({t['worst_slice']})", f"{t['mean']:+.2f}", "yes" if t["reranked"] else ""]
             for t in side["trace"]]  # fmt: skip
    result = "budget met" if side["met"] else "budget NOT met: " + plain_text(side["stop"])
    intro = (f"Search on dev ({side['dev']['clips']} clips x {len(side['dev']['slices'])} slices; noise from the "
             f"{side['dev']['noise']}): start from {int8_name}, keep the most sensitive layer in float, "
             f"re-quantize, re-rank when a step does not help, until the **{side['budget']}** drop is "
             f"≤ {side['max_drop']} pp. Result: {result} "
             f"with {len(side['float_layers'])} of {side['n_layers']} layers in float; ops still float in the ONNX "
             f"model: {format_ops(float_ops(path)['float'])}. {side['n_evaluations']} variants built and evaluated in "
             f"{side['seconds'] / 60:.1f} min. Dev is the training split (drops there can understate eval drops); "
             f"eval columns: drop vs fp32 with paired bootstrap 95 % CI. NNCF reverts layers until the drop of the "
             f"pooled dev accuracy (all slices together: the mean) is within budget.")
    blocks = [
        {"kind": "text", "text": intro},
        {"kind": "table", "columns": ["variant", "layers in float", "dev worst-slice drop pp", "dev mean drop pp",
                                      "eval worst-slice drop pp [95% CI]", "eval mean drop pp", "size kB",
                                      f"p50 ms e2e / model ({cfg.threads[0]} thr)"],
         "rows": rows, "highlight": highlight, "caption": "Highlighted: the mixed-precision variant."},
        {"kind": "table", "columns": ["step", "layer kept in float", "worst-slice drop pp", "mean drop pp", "re-ranked"],
         "rows": trace, "highlight": [], "caption": "Search trace (dev)."},
    ]  # fmt: skip
    if not side["met"]:
        blocks.insert(1, {"kind": "warning", "text": f"The {side['budget']} budget was not met: {plain_text(side['stop'])}"})
    sections.append({"title": "Mixed precision: worst-slice budget vs NNCF (mean budget)", "blocks": blocks})
    return sections


__all__ = ["BUDGETS", "budget_metric", "dev_slices", "mixed", "run_nncf", "search_mixed"]
