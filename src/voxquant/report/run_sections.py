"""Report sections (data, :mod:`voxquant.report.sections`) for per-group results and the run's notes.

* :func:`groups_section`: per group column (``--group-by`` accent, gender, device...; ``speaker``) the drop vs
  fp32 of every variant on each group's clips with its paired 95 % CI and McNemar p, and the worst-decile speakers
  (the 10 % of speakers with the lowest *reference* accuracy: does quantization hurt the hardest speakers more?);
* :func:`model_section`: the model as measured next to what its spec publishes, the output parity of its
  conversion to ONNX, the baseline check, and (front-end in the graph) which front-end ops stayed float;
* :func:`coverage_section`: what really ran in int8 (share of MACs per row, float compute ops) and the
  recipe x backend combinations that do not exist.
"""

from __future__ import annotations

from collections.abc import Mapping

from voxquant.report.sections import section, table, text


def _fmt_drop(e: Mapping) -> str:
    ci = e.get("ci95") or [None, None]
    if e.get("drop") is None:
        return "–"
    s = f"{e['drop']:+.2f}"
    if None not in ci:
        s += f" [{ci[0]:+.2f}, {ci[1]:+.2f}]"
    return s


def groups_section(results: Mapping, max_drop: float = 1.0) -> dict | None:
    """Per-group drops with CIs, one table per group column, plus the worst-decile speakers; ``None`` without
    groups. Cells: ``drop pp [95% CI]``; highlighted when the CI's upper bound exceeds ``max_drop``."""
    from voxquant.eval.rules import within_budget

    ref = results.get("reference")
    vs = [v for v in results.get("variants", []) if v.get("status") == "ok" and v.get("groups") and v.get("name") != ref]
    if not vs:
        return None
    blocks = [text("Drop vs fp32 in percentage points on the clean clips of each group, with the paired bootstrap 95 % "
                   "CI (same clips for both models); groups with few clips have wide intervals: a CI spanning 0 is "
                   "noise. Highlighted: the CI's upper bound exceeds the budget of "
                   f"{max_drop:g} pp.")]
    cols = [c for c in vs[0]["groups"] if c not in ("worst_decile_speakers", "per_speaker", "speaker")]
    for col in cols:
        values = [e["group"] for e in vs[0]["groups"][col]]
        rows, hl = [], []
        for i, v in enumerate(vs):
            by = {e["group"]: e for e in v["groups"].get(col, [])}
            row = [v["name"]]
            for j, g in enumerate(values):
                e = by.get(g)
                row.append(_fmt_drop(e) if e else "–")
                if e and not within_budget((e.get("ci95") or [None, None])[1], max_drop):
                    hl.append([i, j + 1])
            rows.append(row)
        ns = {e["group"]: e.get("n") for e in vs[0]["groups"][col]}
        rows.append(["clips (n)", *[ns.get(g) for g in values]])
        blocks.append(table(["variant", *[f"{col}={g}" for g in values]], rows, highlight=hl,
                            caption=f"Per {col}: drop vs fp32, pp [95% CI]"))
    wd = [(v["name"], v["groups"].get("worst_decile_speakers")) for v in vs if v["groups"].get("worst_decile_speakers")]
    if wd:
        spk = wd[0][1].get("speakers") or []
        n_spk = len((vs[0]["groups"].get("per_speaker") or []))
        blocks.append(text(f"Worst-decile speakers: the {len(spk)} of {n_spk} speakers with the lowest fp32 accuracy "
                           f"(ranked by the reference, so the selection does not favour any variant)."))
        blocks.append(table(["variant", "clips", "fp32 acc %", "variant acc %", "drop pp [95% CI]", "McNemar p"],
                            [[name, e.get("n"), round(100 * e["accuracy_ref"], 2) if e.get("accuracy_ref") is not None else None,
                              round(100 * e["accuracy"], 2), _fmt_drop(e), round(e["p_value"], 4)] for name, e in wd]))
    per = {v["name"]: {r["speaker"]: r for r in (v["groups"].get("per_speaker") or [])} for v in vs}
    first = vs[0]["groups"].get("per_speaker") or []
    if first:
        order = sorted(first, key=lambda r: (r["accuracy_ref"], r["speaker"]))
        rows = [[r["speaker"], r["n"], round(100 * r["accuracy_ref"], 1),
                 *[round(100 * per[v["name"]][r["speaker"]]["accuracy"], 1) if r["speaker"] in per[v["name"]] else None
                   for v in vs]] for r in order]
        blocks.append(text(f"Per-speaker accuracy on clean clips ({len(order)} speakers, hardest for fp32 first). "
                           "Each speaker has few clips: read single rows as anecdotes, the worst-decile row above as "
                           "the statistic."))
        blocks.append(table(["speaker", "clips", "fp32 acc %", *[f"{v['name']} acc %" for v in vs]], rows))
    return section("Groups and speakers", blocks)


def coverage_section(results: Mapping) -> dict | None:
    """What ran in int8 per row (share of MACs, float compute ops, the backend's own check) and the matrix
    combinations that do not exist; ``None`` when there is nothing to say."""
    rows = []
    for v in results.get("variants", []):
        cov = v.get("coverage") or {}
        share = v.get("int8_mac_share")
        flt = cov.get("float_compute") or {}
        rows.append([v.get("name"), v.get("backend"), v.get("precision"),
                     "–" if share is None else f"{100 * share:.1f}%",
                     ", ".join(f"{k} x{n}" if n > 1 else str(k) for k, n in sorted(flt.items())) or "–",
                     cov.get("note") or v.get("check_summary") or ""])
    if not rows:
        return None
    blocks = [text("Share of the model's multiply-accumulates (batch 1) that execute in int8, read from each built "
                   "artefact: QDQ coverage of ONNX models, the per-layer precision OpenVINO's CPU plugin executed, "
                   "int8 tensors of the TFLite graph, RKNN's per-layer data types. A row called int8 whose share is "
                   "well below 100 % ran part of the model in float (ONNX Runtime never quantizes GRU/LSTM)."),
              table(["variant", "backend", "precision", "int8 MACs", "float compute", "notes"], rows,
                    highlight=[[i, 3] for i, v in enumerate(results.get("variants", []))
                               if "int8" in str(v.get("precision")) and v.get("int8_mac_share") is not None
                               and v["int8_mac_share"] < 0.9])]
    skipped = results.get("matrix_skipped") or []
    if skipped:
        blocks.append(table(["recipe", "backend", "why not built"], [[s["recipe"], s["backend"], s["reason"]] for s in skipped],
                            caption="Combinations of the matrix that do not exist"))
    return section("What ran in int8", blocks)


def model_section(results: Mapping) -> dict | None:
    """The model: published vs measured accuracy, conversion parity, baseline note, in-graph front-end ops that
    stayed float; ``None`` when there is nothing beyond the name."""
    m = results.get("model") or {}
    ref = next((v for v in results.get("variants", []) if v.get("name") == results.get("reference")), None)
    rows = []
    pub = m.get("published") if isinstance(m.get("published"), Mapping) else {}
    measured = ref.get("accuracy") if ref else None
    if pub.get("accuracy") is not None:
        rows.append(["published accuracy", f"{100 * pub['accuracy']:.2f} %",
                     "; ".join(str(pub[k]) for k in ("source", "test_set", "note") if pub.get(k))])
    if m.get("eval_accuracy_card") is not None:
        rows.append(["model card accuracy", f"{100 * m['eval_accuracy_card']:.2f} %", "from the weights' metadata"])
    if measured is not None:
        rows.append(["measured accuracy (fp32, clean eval)", f"{100 * measured:.2f} %",
                     f"{(results.get('dataset') or {}).get('n_clips', '?')} clips"])
    par = m.get("conversion_parity")
    if isinstance(par, Mapping):
        agree = par.get("top1_agreement")
        rows.append(["conversion to ONNX: output parity",
                     f"top-1 agreement {100 * agree:.2f} %" if agree is not None else "checked",
                     f"max abs diff {par.get('max_abs_diff', '?')}; {par.get('n', par.get('n_inputs', '?'))} inputs "
                     f"({par.get('inputs', '')})"])
    if m.get("baseline_note"):
        rows.append(["baseline check", "note", str(m["baseline_note"])])
    blocks = []
    if rows:
        blocks.append(table(["", "value", "detail"], rows))
    raw = [(v["name"], v.get("frontend_float_ops")) for v in results.get("variants", []) if v.get("frontend_float_ops")]
    if raw:
        blocks.append(text("The front-end runs inside the model graph (raw audio in). Its ops that stayed float in each "
                           "quantized variant (most NPUs do not run STFT/mel ops: these fall back to the CPU):"))
        blocks.append(table(["variant", "front-end ops still float"], [[n, ", ".join(ops)] for n, ops in raw]))
    return section("Model", blocks) if blocks else None
