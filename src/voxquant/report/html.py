"""``report.html``: one self-contained page (figures embedded as base64 PNG, inline CSS, no JavaScript).

Sections: headline and recommendation; accuracy-vs-latency Pareto plot and the variants table; per-slice
accuracy drops (bars with 95% CIs, a colour-coded matrix and a detailed table with McNemar p-values);
row-normalised confusion matrices; per-class false-reject / false-accept rates with low-recall outlier classes
highlighted (:func:`voxquant.eval.stats.low_recall_outliers`); extra sections supplied by other modules
(``results["sections"]``, plain data in the schema of :mod:`voxquant.report.sections`); provenance (config,
seed, versions, machine) and a note on how to read the statistics.

The page is rendered by Jinja2 with autoescape from ``templates/report.html.j2`` (CSS in
``templates/report.css``, both package data): Python prepares plain values (strings, cell dicts, figure
images), the template holds all markup, and every value is escaped.

Figures are drawn with matplotlib's Agg canvas directly (``matplotlib.figure.Figure`` +
``FigureCanvasAgg``): no pyplot state, no display needed, and matplotlib is imported only when a report is
written. Figure blocks of extra sections are drawn here from their data by name (:data:`FIGURES`).
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from voxquant.eval.stats import OUTLIER_MIN_GAP_PP, OUTLIER_Z, budget_verdict, describe_drop, low_recall_outliers, wilson_ci
from voxquant.report.format import (
    MISSING,
    fmt_acc,
    fmt_ci,
    fmt_drop,
    fmt_kb,
    fmt_ms,
    fmt_p,
    fmt_speedup,
    headline_latency,
    num,
)
from voxquant.report.results import MIN_SPEEDUP, recommend, reference_variant, validate_results
from voxquant.report.sections import is_legacy_section
from voxquant.report.store import write_text_atomic

__all__ = ["FIGURES", "figure_confusions", "figure_pareto", "figure_slice_drops", "pareto_front", "render_html",
           "write_html"]  # fmt: skip

# Okabe & Ito (2008) colour-blind-safe palette for variants.
_PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
_VERDICT_CLASS = {"within": "ok", "uncertain": "warn", "exceeds": "bad"}


# ------------------------------------------------------------------------------------------- helpers


def _ok_variants(results: Mapping) -> list[dict]:
    return [v for v in results.get("variants", []) if v.get("status") == "ok"]


def _fig_to_img(fig: Any, alt: str, caption: str | None = None, width: int | None = None) -> dict:
    """A figure as ``{"src": data URI of a PNG, "alt", "caption", "width"}`` for the template's ``figure`` macro."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=130, facecolor="white")  # constrained layout: one draw, no "tight" pass
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return {"src": f"data:image/png;base64,{data}", "alt": alt, "caption": caption or "", "width": width}


def _new_figure(w: float, h: float) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), layout="constrained")
    return fig


def _style_axes(ax: Any) -> None:
    ax.grid(True, color="#e5e7eb", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _verdict(ci: Any, max_drop: float) -> str | None:
    if not ci or len(ci) != 2 or num(ci[0]) is None or num(ci[1]) is None:
        return None
    return budget_verdict(num(ci[0]), num(ci[1]), max_drop)


def _c(t: Any = MISSING, cls: str = "", **kw: Any) -> dict:
    """A table cell for the template: ``t`` text, ``cls`` CSS class, optional ``title`` (tooltip), ``bold``,
    ``sub`` (small second line), ``sub_title``, ``ci`` (small text after ``t``), ``badges`` ``[(cls, text)]``."""
    return {"t": MISSING if t is None else str(t), "cls": cls, **kw}


def _h(t: str, cls: str = "", sub: str = "") -> dict:
    """A header cell: ``t``, optional second line ``sub``, ``cls`` (``"l"`` = left-aligned)."""
    return {"t": t, "cls": cls, "sub": sub}


def _drop_cell(drop: Any, ci: Any, max_drop: float, with_ci: bool = True) -> dict:
    v = _verdict(ci, max_drop)
    cell = _c(fmt_drop(drop), _VERDICT_CLASS[v] if v else "")
    if v:
        cell["title"] = describe_drop(num(drop) or 0.0, num(ci[0]), num(ci[1]))
        if with_ci:
            cell["ci"] = fmt_ci(ci)
    return cell


def _slice_names(variants: Sequence[Mapping]) -> list[str]:
    names: list[str] = []
    for v in variants:
        for s in v.get("slices") or []:
            if s.get("name") not in names:
                names.append(s.get("name"))
    return names


def _clean_n(v: Mapping) -> int | None:
    for s in v.get("slices") or []:
        if s.get("name") == "clean" and isinstance(s.get("n"), int):
            return s["n"]
    return None


# ------------------------------------------------------------------------------------------- figures


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the Pareto-optimal points for (latency: lower is better, accuracy: higher is better).

    Args:
        points: ``[(latency_ms, accuracy), ...]``.

    Returns:
        Indices of non-dominated points, ordered by increasing latency. A point is dominated when another
        is at least as fast and at least as accurate, and strictly better in one of the two.
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front: list[int] = []
    best = float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def _place_labels(fig: Any, ax: Any, labels: Sequence[tuple[float, float, str, str]]) -> None:
    """Annotate points, nudging labels (greedy, in display space) so they do not overlap each other."""
    ax.autoscale_view()
    scale = fig.dpi / 72.0
    placed: list[tuple[float, float, float, float]] = []
    offsets = [(8, 6), (8, -14), (8, 18), (8, -26), (8, 30), (8, -38), (8, 42), (8, -50)]
    for x, y, text, colour in sorted(labels, key=lambda t: -t[1]):
        px, py = ax.transData.transform((x, y))
        w, h = 5.4 * len(text) * scale, 11.0 * scale  # approximate box of an 8.5 pt label
        choice = offsets[0]
        for dx, dy in offsets:
            bx, by = px + dx * scale, py + dy * scale
            if not any(bx < x1 and bx + w > x0 and by < y1 and by + h > y0 for x0, y0, x1, y1 in placed):
                choice = (dx, dy)
                break
        bx, by = px + choice[0] * scale, py + choice[1] * scale
        placed.append((bx, by, bx + w, by + h))
        ax.annotate(text, (x, y), xytext=choice, textcoords="offset points", fontsize=8.5, color="#1f2328",
                    zorder=4, arrowprops=None if choice == offsets[0] else
                    {"arrowstyle": "-", "color": colour, "alpha": 0.6, "linewidth": 0.8})  # fmt: skip


def figure_pareto(results: Mapping, threads: int = 1) -> Any | None:
    """Accuracy (%) vs end-to-end p50 latency (ms) at ``threads`` threads; marker area proportional to model
    size (bytes); Pareto front as a step line; Wilson 95% CI on accuracy when the clean slice's ``n`` is known.

    Returns:
        A matplotlib ``Figure``, or ``None`` when no variant has both numbers.
    """
    ref = reference_variant(results)
    pts = []
    for v in _ok_variants(results):
        x = headline_latency(v, threads)["p50"]
        y = num(v.get("accuracy"))
        if x is None or y is None or x <= 0:
            continue
        pts.append((x, 100.0 * y, v))
    if not pts:
        return None
    fig = _new_figure(8.2, 5.0)
    ax = fig.add_subplot()
    _style_axes(ax)
    sizes = [num(p[2].get("size_bytes")) or 0.0 for p in pts]
    smax = max(sizes) or 1.0
    front = pareto_front([(x, y) for x, y, _ in pts])
    xs = [pts[i][0] for i in front]
    ys = [pts[i][1] for i in front]
    if len(front) > 1:
        ax.step(xs, ys, where="post", color="#1a7f37", linewidth=1.6, alpha=0.7, zorder=1, label="Pareto front")
    labels = []
    for k, (x, y, v) in enumerate(pts):
        is_ref = ref is not None and v.get("name") == ref.get("name")
        colour = "#57606a" if is_ref else ("#cf222e" if v.get("slower_than_fp32") else _PALETTE[k % len(_PALETTE)])
        area = max(12.0, 1400.0 * sizes[k] / smax)  # points^2, proportional to bytes (12 = visibility floor)
        n = _clean_n(v)
        if n:
            lo, hi = wilson_ci(round(y / 100.0 * n), n)
            ax.errorbar(x, y, yerr=[[y - 100 * lo], [100 * hi - y]], fmt="none", ecolor=colour, alpha=0.5,
                        capsize=3, zorder=2)  # fmt: skip
        ax.scatter([x], [y], s=area, color=colour, alpha=0.55, edgecolors=colour, linewidths=1.5, zorder=3)
        size = f", {sizes[k] / 1024:.0f} KB" if sizes[k] else ""
        label = f"{v.get('name', '?')}{size}" + (" - slower than fp32" if v.get("slower_than_fp32") else "")
        labels.append((x, y, label, colour))
    xvals = [p[0] for p in pts]
    if max(xvals) / min(xvals) > 8:
        ax.set_xscale("log")
    ax.margins(x=0.18, y=0.2)
    _place_labels(fig, ax, labels)
    ax.set_xlabel(f"end-to-end p50 latency per utterance, ms ({threads} thread{'s' if threads != 1 else ''})")
    ax.set_ylabel("top-1 accuracy on clean eval, %")
    ax.set_title("Accuracy vs latency (marker area ∝ model size)", fontsize=11)
    if len(front) > 1:
        ax.legend(loc="lower right", fontsize=8, frameon=False)
    return fig


_VERDICT_COLOUR = {"within": "#2da44e", "uncertain": "#d4a72c", "exceeds": "#cf222e", None: "#8c959f"}


def figure_slice_drops(results: Mapping, max_drop: float = 1.0) -> Any | None:
    """Accuracy drop vs fp32 (pp) per slice, one panel per variant (small multiples sharing the x axis; each panel
    scales its own y axis so one collapsed variant does not flatten the others), with
    95% paired bootstrap CI error bars, a zero line and the ``max_drop`` budget line. Bars are coloured by
    :func:`~voxquant.eval.stats.budget_verdict`: green = whole CI within the budget, amber = CI straddles
    it, red = whole CI above it. The reference variant is omitted (its drop is 0 by definition).

    Returns:
        A matplotlib ``Figure``, or ``None`` when no non-reference variant has slices.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    ref = reference_variant(results)
    vs = [v for v in _ok_variants(results) if v.get("slices") and (ref is None or v.get("name") != ref.get("name"))]
    if not vs:
        return None
    names = _slice_names(vs)
    width_in = min(10.5, max(7.5, 0.62 * len(names) + 2.5))
    fig = _new_figure(width_in, 0.9 + 1.45 * len(vs) + (0.5 if len(names) > 5 else 0.0))
    axes = fig.subplots(len(vs), 1, sharex=True, sharey=False, squeeze=False)[:, 0]
    for ax, v in zip(axes, vs):
        _style_axes(ax)
        ax.grid(False, axis="x")
        by = {s.get("name"): s for s in v.get("slices") or []}
        for j, name in enumerate(names):
            s = by.get(name)
            d = num(s.get("drop")) if s else None
            if d is None:
                continue
            ci = s.get("ci95") or [None, None]
            lo, hi = num(ci[0]), num(ci[1])
            verdict = budget_verdict(lo, hi, max_drop) if lo is not None and hi is not None else None
            ax.bar([j], [d], width=0.62, color=_VERDICT_COLOUR[verdict], alpha=0.85, zorder=2)
            if lo is not None and hi is not None:
                ax.errorbar([j], [d], yerr=[[max(0.0, d - lo)], [max(0.0, hi - d)]], fmt="none", ecolor="#24292f",
                            elinewidth=1, capsize=3, zorder=3)  # fmt: skip
        ax.axhline(0.0, color="#24292f", linewidth=0.8)
        ax.axhline(max_drop, color="#cf222e", linestyle="--", linewidth=1.0)
        ax.set_title(str(v.get("name")), fontsize=9, loc="left", pad=3)
        ax.tick_params(labelsize=8)
    axes[-1].set_xticks(range(len(names)))
    rot = len(names) > 5
    axes[-1].set_xticklabels(names, rotation=30 if rot else 0, ha="right" if rot else "center", fontsize=8)
    fig.supylabel("drop vs fp32, pp (positive = worse)", fontsize=9)
    handles = [
        Patch(color=_VERDICT_COLOUR["within"], label="CI within budget"),
        Patch(color=_VERDICT_COLOUR["uncertain"], label="CI straddles budget"),
        Patch(color=_VERDICT_COLOUR["exceeds"], label="CI above budget"),
        Line2D([], [], color="#cf222e", linestyle="--", label=f"budget {max_drop:g} pp"),
    ]
    fig.legend(handles=handles, loc="outside upper center", ncols=4, fontsize=8, frameon=False)
    return fig


def figure_confusions(results: Mapping, max_cols: int = 3) -> Any | None:
    """Small multiples of row-normalised confusion matrices (rows = true class, cols = predicted), the
    reference first; cells annotated with the percentage of the true class.

    Returns:
        A matplotlib ``Figure``, or ``None`` when no variant has a confusion matrix.
    """
    import numpy as np

    ref = reference_variant(results)
    vs = [v for v in _ok_variants(results) if v.get("confusion")]
    if ref is not None:
        vs.sort(key=lambda v: v.get("name") != ref.get("name"))
    if not vs:
        return None
    labels = results.get("labels") or list((vs[0].get("per_class") or {}).keys())
    ncols = min(max_cols, len(vs))
    nrows = -(-len(vs) // ncols)
    fig = _new_figure(4.1 * ncols + 0.6, 3.9 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    im = None
    for ax in axes.flat[len(vs) :]:
        ax.set_visible(False)
    for ax, v in zip(axes.flat, vs):
        cm = np.asarray(v["confusion"], dtype=np.float64)
        rows = cm.sum(axis=1, keepdims=True)
        norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
        im = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
        c = norm.shape[0]
        labs = list(labels) if len(labels) == c else [str(i) for i in range(c)]
        ax.set_xticks(range(c))
        ax.set_yticks(range(c))
        ax.set_xticklabels(labs, rotation=90, fontsize=6.5)
        ax.set_yticklabels(labs, fontsize=6.5)
        ax.set_xlabel("predicted", fontsize=7.5)
        ax.set_ylabel("true", fontsize=7.5)
        if c <= 16:
            for i in range(c):
                for j in range(c):
                    if norm[i, j] >= 0.005:
                        ax.text(j, i, f"{100 * norm[i, j]:.0f}", ha="center", va="center", fontsize=5.5,
                                color="white" if norm[i, j] > 0.55 else "#24292f")  # fmt: skip
        acc = fmt_acc(v.get("accuracy"))
        ax.set_title(f"{v.get('name')}  ({acc} %)", fontsize=9)
    if im is not None:
        cb = fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.6, pad=0.02)
        cb.set_label("fraction of true class", fontsize=8)
        cb.ax.tick_params(labelsize=7)
    return fig


# ------------------------------------------------------------------------------------------- sections
# Each builder returns plain values for the template (``templates/report.html.j2``); no markup here.


def _reco_section(results: Mapping, max_drop: float) -> dict:
    rec = recommend(results, max_drop)
    ref = reference_variant(results)
    ref_name = ref.get("name") if ref else None
    cls = "reco" if rec["variant"] not in (None, ref_name) else ("reco keep" if rec["variant"] else "reco none")
    kpis = []
    if ref is not None:
        kpis.append((f"{fmt_acc(ref.get('accuracy'))} %", f"{ref_name} accuracy (clean eval)"))
        kpis.append((f"{fmt_ms(headline_latency(ref)['p50'])} ms", f"{ref_name} p50 end-to-end, 1 thread"))
    oks = _ok_variants(results)
    ref_model = num((ref.get("latency_ms") or {}).get("model_p50")) if ref is not None else None
    speeds = []
    for v in oks:
        m = num((v.get("latency_ms") or {}).get("model_p50"))
        if v.get("name") != ref_name and m and ref_model:
            speeds.append((ref_model / m, v.get("name")))
    if speeds:
        best = max(speeds)
        within = "within budget" if best[1] in rec["qualifying"] else "outside budget"
        kpis.append((fmt_speedup(best[0]), f"best model-only speed-up ({best[1]}, {within})"))
    slower = [str(v.get("name")) for v in oks if v.get("slower_than_fp32")]
    kpis.append((str(len(oks)), f"variants evaluated ({len(results.get('variants', [])) - len(oks)} failed/skipped)"))
    return {"cls": cls, "text": rec["text"], "max_drop": f"{max_drop:g}", "min_speedup": f"{MIN_SPEEDUP:.2f}",
            "qualifying": ", ".join(rec["qualifying"]) or "none", "slower": ", ".join(slower), "kpis": kpis}  # fmt: skip


def _variants_table(results: Mapping, max_drop: float) -> dict:
    ref = reference_variant(results)
    ref_name = ref.get("name") if ref else None
    headers = [
        _h("Variant", "l"), _h("Status", "l"), _h("Size KB"), _h("int8 MACs", sub="% of model"), _h("Accuracy %"),
        _h("Worst-slice drop pp", sub="[95% CI]"), _h("p50 ms"), _h("p95 ms"), _h("Model-only", sub="p50 ms"),
        _h("Speed-up", sub="vs fp32"), _h("Peak RSS", sub="MB"), _h("Flags", "l"),
    ]  # fmt: skip
    rows = []
    for v in results.get("variants", []):
        lat = headline_latency(v)
        status = str(v.get("status"))
        st = _c("", "l wrap", badges=[({"ok": "ok", "failed": "bad"}.get(status, "warn"), status)])
        err = v.get("error") or (f"latency: {v['latency_error']}" if v.get("latency_error") else None)
        if err:
            err = str(err)
            st.update(sub=err if len(err) <= 48 else err[:47] + "…", sub_title=err)
        ws = v.get("worst_slice") or {}
        flags = []
        if v.get("name") == ref_name:
            flags.append(("ok", "reference"))
        if v.get("slower_than_fp32"):
            flags.append(("bad", "WARNING: slower than fp32"))
        rss = num(v.get("peak_rss_bytes"))
        sub = " · ".join(str(x) for x in (v.get("precision"), v.get("backend")) if x)
        recipe = v.get("recipe")
        if recipe and recipe != v.get("name"):
            sub += f" · recipe {recipe}"
        if v.get("name") == ref_name:
            worst = _c("reference", "small")
        elif ws:
            worst = _drop_cell(ws.get("drop"), ws.get("ci95"), max_drop)
            if ws.get("name"):
                worst["sub"] = str(ws["name"])
        else:
            worst = _c()
        rows.append([
            _c(v.get("name"), "l", bold=True, sub=sub), st, _c(fmt_kb(v.get("size_bytes"))),
            _c(MISSING if v.get("int8_mac_share") is None else f"{100 * v['int8_mac_share']:.0f}",
               "warn" if "int8" in str(v.get("precision")) and (v.get("int8_mac_share") or 1.0) < 0.9 else ""),
            _c(fmt_acc(v.get("accuracy"))), worst, _c(fmt_ms(lat["p50"])), _c(fmt_ms(lat["p95"])),
            _c(fmt_ms(lat["model_p50"])), _c(fmt_speedup(v.get("speedup_vs_fp32")), "bad" if v.get("slower_than_fp32") else ""),
            _c(MISSING if rss is None else f"{rss / 2**20:.1f}"), _c("", "l wrap", badges=flags),
        ])  # fmt: skip
    return {"headers": headers, "rows": rows}


def _threads_table(results: Mapping) -> dict | None:
    oks = [v for v in _ok_variants(results) if (v.get("latency_ms") or {}).get("by_threads")]
    threads = sorted({int(t) for v in oks for t in v["latency_ms"]["by_threads"]})
    if not oks or len(threads) < 2:
        return None
    headers = [_h("Variant", "l")]
    for t in threads:
        headers += [_h(f"{t}T p50"), _h(f"{t}T p95"), _h(f"{t}T model p50"), _h(f"{t}T e2e/model")]
    rows = []
    for v in oks:
        cells = [_c(v.get("name"), "l")]
        for t in threads:
            e = v["latency_ms"]["by_threads"].get(str(t)) or {}
            p50, mp50 = num(e.get("p50")), num(e.get("model_p50"))
            ratio = f"{p50 / mp50:.1f}x" if p50 is not None and mp50 else MISSING
            cells += [_c(fmt_ms(p50)), _c(fmt_ms(e.get("p95"))), _c(fmt_ms(mp50)), _c(ratio)]
        rows.append(cells)
    n_runs = {e.get("n_runs") for v in oks for e in v["latency_ms"]["by_threads"].values() if e.get("n_runs")}
    runs = f" over {', '.join(str(r) for r in sorted(n_runs))} runs after warm-up" if n_runs else ""
    return {"headers": headers, "rows": rows, "runs": runs}


def _overview_section(results: Mapping, max_drop: float) -> dict:
    fig = figure_pareto(results)
    img = None
    if fig is not None:
        img = _fig_to_img(
            fig,
            "Accuracy vs latency Pareto plot",
            "x: end-to-end p50 latency per utterance at 1 thread; y: clean accuracy with Wilson 95% CI; marker "
            "area proportional to model file size; green step line: Pareto front (no other variant is both "
            "faster and more accurate); red: slower than fp32.",
        )
    return {"figure": img, "variants": _variants_table(results, max_drop), "threads": _threads_table(results)}


def _slices_section(results: Mapping, max_drop: float) -> dict:
    ref = reference_variant(results)
    ref_name = ref.get("name") if ref else None
    vs = [v for v in _ok_variants(results) if v.get("slices") and v.get("name") != ref_name]
    if not vs:
        return {"empty": True}
    fig = figure_slice_drops(results, max_drop)
    img = _fig_to_img(
        fig,
        "Accuracy drop per slice with 95% CI",
        f"One panel per variant. Bars: drop vs {ref_name} on the same clips (pp, positive = worse), "
        f"coloured green / amber / red when the 95% CI is within / straddles / above the {max_drop:g} pp budget "
        f"(dashed red); whiskers: 95% paired bootstrap CI.",
    )
    names = _slice_names(vs)
    by_v = {v.get("name"): {s.get("name"): s for s in v.get("slices") or []} for v in vs}

    def cell(vname: str, sname: str) -> dict:
        s = by_v[vname].get(sname)
        return _drop_cell(s.get("drop"), s.get("ci95"), max_drop, with_ci=False) if s else _c()

    vnames = [str(v.get("name")) for v in vs]
    if len(names) > len(vnames):  # long side down the page: rows = slices, columns = variants
        headers = [_h("Slice", "l")] + [_h(n) for n in vnames]
        rows = [[_c(sname, "l", bold=True)] + [cell(vn, sname) for vn in vnames] for sname in names]
    else:
        headers = [_h("Variant", "l")] + [_h(str(n)) for n in names]
        rows = [[_c(vn, "l", bold=True)] + [cell(vn, n) for n in names] for vn in vnames]
    matrix = {"headers": headers, "rows": rows}
    headers = [
        _h("Variant", "l"), _h("Slice", "l"), _h("n"), _h(f"{ref_name} acc %"), _h("Variant acc %"),
        _h("Drop pp"), _h("95% CI pp"), _h("McNemar p"), _h("Lost / gained"), _h("Verdict", "l"),
    ]  # fmt: skip
    rows = []
    for v in vs:
        for s in v.get("slices") or []:
            ci = s.get("ci95") or [None, None]
            verdict = _verdict(ci, max_drop)
            phrase = describe_drop(num(s.get("drop")) or 0.0, num(ci[0]), num(ci[1])) if verdict else MISSING
            disc = s.get("discordant")
            rows.append([
                _c(v.get("name"), "l"), _c(s.get("name"), "l"), _c(s.get("n", MISSING)), _c(fmt_acc(s.get("ref_accuracy"))),
                _c(fmt_acc(s.get("accuracy"))), _c(fmt_drop(s.get("drop")), _VERDICT_CLASS.get(verdict or "", "")),
                _c(fmt_ci(ci)), _c(fmt_p(s.get("p_value"))),
                _c(f"{disc[0]} / {disc[1]}" if disc and len(disc) == 2 else MISSING), _c(phrase, "l wrap"),
            ])  # fmt: skip
    return {"empty": False, "figure": img, "matrix": matrix, "stats": {"headers": headers, "rows": rows}}


def _confusion_section(results: Mapping) -> dict | None:
    fig = figure_confusions(results)
    if fig is None:
        return None
    return _fig_to_img(
        fig,
        "Row-normalised confusion matrices",
        "Rows: true class; columns: predicted class; cells: % of the true class (rows sum to 100).",
    )


def _classes_section(results: Mapping) -> dict | None:
    ref = reference_variant(results)
    vs = [v for v in _ok_variants(results) if v.get("per_class")]
    if ref is not None:
        vs.sort(key=lambda v: v.get("name") != ref.get("name"))
    if not vs:
        return None
    labels = results.get("labels") or list(vs[0]["per_class"].keys())
    headers = [_h("Class", "l"), _h("Clips")]
    for v in vs:
        headers += [_h(str(v.get("name")), sub="FRR %"), _h("FAR %")]
    outliers = {}
    notes = []
    for v in vs:
        recalls = {lab: (None if num((v["per_class"].get(lab) or {}).get("frr")) is None
                         else 1.0 - num(v["per_class"][lab]["frr"])) for lab in labels}  # fmt: skip
        out = low_recall_outliers(recalls)
        outliers[v.get("name")] = out
        for lab, o in out.items():
            notes.append(f"{v.get('name')}: class {lab} has recall {100 * o['recall']:.1f} % while the median class "
                         f"has {100 * o['median']:.1f} % (outlier threshold {100 * o['threshold']:.1f} %).")
    rows = []
    ref_pc = (ref or {}).get("per_class") or {}
    for lab in labels:
        support = next((v["per_class"][lab].get("support") for v in vs if lab in v["per_class"]), None)
        cells = [_c(lab, "l"), _c(support)]
        for v in vs:
            e = v["per_class"].get(lab) or {}
            r = ref_pc.get(lab) or {}
            for k in ("frr", "far"):
                val, base = num(e.get(k)), num(r.get(k))
                cls = ""
                if v is not ref and val is not None and base is not None:
                    diff_pp = 100.0 * (val - base)
                    cls = "bad" if diff_pp >= 5.0 else ("warn" if diff_pp >= 2.0 else "")
                cell = _c(fmt_acc(val, 1), cls)
                if k == "frr" and lab in outliers[v.get("name")]:
                    o = outliers[v.get("name")][lab]
                    cell.update(cls="outlier", title=f"outlier: recall {100 * o['recall']:.1f} % vs median "
                                                     f"{100 * o['median']:.1f} %")  # fmt: skip
                cells.append(cell)
        rows.append(cells)
    rule = (f"Outlier (purple): a class whose recall (100 − FRR) is below the median recall of the variant's classes "
            f"by more than max({OUTLIER_MIN_GAP_PP:g} pp, {OUTLIER_Z:g} × MAD / 0.6745), i.e. a modified z-score "
            f"below −{OUTLIER_Z:g} (Iglewicz & Hoaglin 1993) and at least {OUTLIER_MIN_GAP_PP:g} pp below the median.")
    return {"table": {"headers": headers, "rows": rows}, "notes": notes, "rule": rule}


def _kv_table(d: Mapping) -> dict:
    rows = []
    for k, v in d.items():
        if isinstance(v, int) and not isinstance(v, bool) and str(k).endswith("_bytes"):
            v = f"{v} ({v / 2**30:.1f} GiB)" if v >= 2**30 else f"{v} ({v / 2**20:.1f} MiB)"
        elif isinstance(v, (list, tuple)):
            v = ", ".join(json.dumps(x, sort_keys=True, default=str) if isinstance(x, Mapping) else str(x) for x in v)
        elif isinstance(v, Mapping):
            v = json.dumps(v, sort_keys=True, default=str)
        rows.append([_c(k, "l"), _c(MISSING if v is None else v, "l")])
    return {"headers": [_h("Field", "l"), _h("Value", "l")], "rows": rows}


def _provenance_section(results: Mapping, max_drop: float) -> dict:
    cfg = results.get("config") or {}
    n_boot = cfg.get("n_boot") if isinstance(cfg, Mapping) else None
    versions = results.get("versions") or {}
    pk = dict(versions.get("packages") or {})
    vtab = {"python": f"{versions.get('python')} ({versions.get('implementation', '')})".replace(" ()", ""),
            "platform": versions.get("platform"), **pk}  # fmt: skip
    run = {
        "created": results.get("created"), "voxquant": results.get("voxquant_version"), "seed": results.get("seed"),
        "reference": results.get("reference"), "schema_version": results.get("schema_version"),
    }  # fmt: skip
    run.update({k: v for k, v in results.items() if k not in _KNOWN_TOP})  # model, dataset, slices, timings...
    return {
        "boot": f"{n_boot} " if n_boot else "", "max_drop": f"{max_drop:g}", "run": _kv_table(run),
        "machine": _kv_table(results.get("machine") or {}), "versions": _kv_table(vtab),
        "config": json.dumps(cfg, indent=2, sort_keys=True, default=str),
    }  # fmt: skip


# ------------------------------------------------------------------------------------------- extra sections


def _sensitivity_figure(data: Mapping) -> Any:
    from voxquant.quant.sensitivity import sensitivity_figure

    return sensitivity_figure(dict(data))


#: ``name -> draw(data) -> matplotlib Figure``: the figure functions that figure blocks of extra sections
#: (:func:`voxquant.report.sections.figure`) refer to by name. Register new ones here (report is the layer that
#: draws; the producers only store data).
def _stream_det_figure(data: Mapping) -> Any:
    from voxquant.report.streaming import det_figure

    return det_figure(data)


def _seq_group_figure(data: Mapping) -> Any:
    from voxquant.report.sequence import group_wer_figure

    return group_wer_figure(data)


def _seq_cost_figure(data: Mapping) -> Any:
    from voxquant.report.sequence import wer_cost_figure

    return wer_cost_figure(data)


FIGURES: dict[str, Callable[[Mapping], Any]] = {"layer_sensitivity": _sensitivity_figure, "stream_det": _stream_det_figure,
                                                "seq_group_wer": _seq_group_figure, "seq_wer_cost": _seq_cost_figure}


def _render_block(b: Mapping) -> dict:
    """A block of an extra section, ready for the template (figures drawn, table highlights as sets)."""
    b = dict(b)
    if b.get("kind") == "figure":
        draw = FIGURES.get(str(b.get("name")))
        if draw is None:
            return {"kind": "warning", "text": f"figure {b.get('name')!r} cannot be drawn by this voxquant version"}
        try:
            b["img"] = _fig_to_img(draw(b.get("data") or {}), str(b.get("name")), b.get("caption") or None)
        except Exception as exc:  # a broken figure must not lose the report
            return {"kind": "warning", "text": f"figure {b.get('name')!r} failed: {type(exc).__name__}: {exc}"}
    elif b.get("kind") == "table":
        hl = [tuple(h) for h in b.get("highlight") or []]
        b["hl_rows"] = {r for r, c in hl if c == -1}
        b["hl_cells"] = {(r, c) for r, c in hl if c != -1}
        b["numeric"] = [all(_numeric(r[j]) for r in b.get("rows") or [] if r[j] not in (None, "", "-"))
                        and any(r[j] not in (None, "", "-") for r in b.get("rows") or [])
                        for j in range(len(b.get("columns") or []))]  # fmt: skip
    return b


_NUM = re.compile(r"^[+\-−]?\d[\d,]*(\.\d+)?( ?%)?$")


def _numeric(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) or (isinstance(x, str) and bool(_NUM.match(x.strip())))


def _extra_sections(results: Mapping) -> list[dict]:
    out = []
    for i, s in enumerate(results.get("sections") or []):
        title = str(s.get("title", f"Section {i + 1}"))
        if is_legacy_section(s):  # {"title", "html"} from a not yet converted producer: trusted, as before
            from markupsafe import Markup

            out.append({"id": f"extra-{i}", "title": title, "legacy_html": Markup(str(s.get("html", ""))), "blocks": []})
        else:
            out.append({"id": f"extra-{i}", "title": title, "blocks": [_render_block(b) for b in s.get("blocks") or []]})
    return out


def _describe(x: Any) -> str:
    """Short text for a metadata value: a string as is, a dict by its name-like fields."""
    if isinstance(x, Mapping):
        parts = [str(x[k]) for k in ("name", "arch", "split", "weights") if x.get(k)]
        if x.get("n_clips"):
            parts.append(f"{x['n_clips']} clips")
        return ", ".join(parts) or json.dumps(x, sort_keys=True, default=str)[:80]
    return str(x)


_KNOWN_TOP = {"schema_version", "voxquant_version", "created", "config", "seed", "versions", "machine", "reference",
              "labels", "variants", "sections", "recommendation"}  # fmt: skip

_INLINE_BOLD = re.compile(r"\*\*(.+?)\*\*")
_INLINE_CODE = re.compile(r"`([^`]+?)`")


def _inline(s: Any) -> Any:
    """Jinja filter: escape ``s``, then render the two inline marks of section text (``**bold**``, ```code```)."""
    from markupsafe import Markup, escape

    e = str(escape(str(s)))
    e = _INLINE_CODE.sub(r"<code>\1</code>", e)
    return Markup(_INLINE_BOLD.sub(r"<b>\1</b>", e))


def _environment() -> Any:
    """The Jinja2 environment: templates from the package (``voxquant/report/templates``), autoescape on."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("voxquant.report", "templates"),
        autoescape=True,  # every .j2 template: all values are escaped unless marked safe here
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["inline"] = _inline
    return env


def render_html(results: Mapping, max_drop: float = 1.0, title: str | None = None) -> str:
    """Render the report page as a string (see :func:`write_html`)."""
    from importlib import resources

    validate_results(results)
    ref = reference_variant(results)
    cfg = results.get("config") or {}
    title = title or "voxquant quantization report"
    bits = []
    for k in ("model", "dataset", "split"):
        val = results.get(k) or (cfg.get(k) if isinstance(cfg, Mapping) else None)
        if val:
            bits.append(f"{k}: {_describe(val)}")
    m = results.get("machine") or {}
    isa = (m.get("isa") or {}).get("summary")
    bits.append(f"{m.get('cpu_model', '?')}, {m.get('cores', '?')} cores" + (f" ({isa})" if isa else ""))
    bits.append(f"created {results.get('created')}")
    if ref is not None:
        bits.append(f"reference: {ref.get('name')}")
    ctx = {
        "title": title, "subtitle": " · ".join(bits), "ref_name": ref.get("name") if ref else None,
        "max_drop": f"{max_drop:g}",
        "reco": _reco_section(results, max_drop), "overview": _overview_section(results, max_drop),
        "slices": _slices_section(results, max_drop), "confusion": _confusion_section(results),
        "classes": _classes_section(results), "provenance": _provenance_section(results, max_drop),
        "extras": _extra_sections(results),
        "css": resources.files("voxquant.report").joinpath("templates/report.css").read_text(encoding="utf-8"),
    }  # fmt: skip
    return _environment().get_template("report.html.j2").render(**ctx)


def write_html(results: Mapping, path: str | Path, max_drop: float = 1.0, title: str | None = None) -> Path:
    """Write the self-contained ``report.html`` (atomically).

    Args:
        results: a results dict (schema of :mod:`voxquant.report.results`). ``results["sections"]``, if
            present, is a list of sections in the schema of :mod:`voxquant.report.sections`
            (``{"title", "blocks"}``, plain data, escaped by the template) rendered after the built-in sections;
            a legacy ``{"title", "html"}`` section is still inserted as is (trusted, from voxquant modules).
        path: output file (parent folders are created).
        max_drop: accuracy-drop budget in pp for the recommendation and the green/amber/red colouring.
        title: page title (default ``"voxquant quantization report"``).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ResultsSchemaError: ``results`` does not follow the schema (the message names the field).
        OSError: the file cannot be written (an older report, if any, is left intact).
    """
    return write_text_atomic(path, render_html(results, max_drop=max_drop, title=title))
