"""``report.html``: one self-contained page (figures embedded as base64 PNG, inline CSS, no JavaScript).

Sections: headline and recommendation; accuracy-vs-latency Pareto plot and the variants table; per-slice
accuracy drops (bars with 95% CIs, a colour-coded matrix and a detailed table with McNemar p-values);
row-normalised confusion matrices; per-class false-reject / false-accept rates; extra sections supplied by
other modules (``results["sections"]``); provenance (config, seed, versions, machine) and a note on how to
read the statistics.

Figures are drawn with matplotlib's Agg canvas directly (``matplotlib.figure.Figure`` +
``FigureCanvasAgg``): no pyplot state, no display needed, and matplotlib is imported only when a report is
written.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from voxquant.eval.stats import budget_verdict, describe_drop, wilson_ci
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
from voxquant.report.store import write_text_atomic

__all__ = ["figure_confusions", "figure_pareto", "figure_slice_drops", "pareto_front", "render_html", "write_html"]

_esc = html.escape

# Okabe & Ito (2008) colour-blind-safe palette for variants.
_PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
_VERDICT_CLASS = {"within": "ok", "uncertain": "warn", "exceeds": "bad"}

_CSS = """
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#f6f8fa;--card:#fff;--accent:#0969da;
--ok:#1a7f37;--okbg:#dafbe1;--warn:#9a6700;--warnbg:#fff8c5;--bad:#cf222e;--badbg:#ffebe9}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI",
Helvetica,Arial,sans-serif}
main{max-width:1240px;margin:0 auto;padding:24px 28px 60px}
header h1{margin:0 0 4px;font-size:26px}
header .sub{color:var(--muted)}
nav{margin:14px 0 8px;display:flex;flex-wrap:wrap;gap:6px}
nav a{padding:3px 10px;border:1px solid var(--line);border-radius:14px;background:var(--card);color:var(--accent);
text-decoration:none;font-size:13px}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:18px 22px;margin:18px 0}
section h2{margin:0 0 10px;font-size:19px}
section h3{margin:18px 0 8px;font-size:15px}
p.note,.muted{color:var(--muted)}
.reco{border-left:6px solid var(--ok)}
.reco.keep{border-left-color:var(--warn)} .reco.none{border-left-color:var(--bad)}
.reco .big{font-size:17px;font-weight:600;margin:4px 0 10px}
.kpis{display:flex;flex-wrap:wrap;gap:12px;margin-top:8px}
.kpi{background:var(--bg);border:1px solid var(--line);border-radius:8px;padding:8px 14px;min-width:150px}
.kpi .v{font-size:20px;font-weight:600}
.kpi .l{color:var(--muted);font-size:12px}
figure{margin:10px 0;text-align:center}
figure img{max-width:100%;height:auto}
figcaption{color:var(--muted);font-size:12.5px;margin-top:4px}
.tw{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:13px;margin:6px 0}
th,td{padding:5px 8px;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}
th{background:var(--bg);font-weight:600;position:sticky;top:0}
td.l,th.l{text-align:left}
td.wrap{white-space:normal;max-width:260px}
tbody tr:nth-child(even){background:#fafbfc}
tbody tr:hover{background:#eef4ff}
.ok{color:var(--ok);background:var(--okbg)} .warn{color:var(--warn);background:var(--warnbg)}
.bad{color:var(--bad);background:var(--badbg)}
td.ok,td.warn,td.bad{font-weight:600}
.badge{display:inline-block;white-space:nowrap;padding:1px 7px;border-radius:10px;font-size:11px;font-weight:700;letter-spacing:.02em}
.badge.bad{border:1px solid var(--bad)} .badge.warn{border:1px solid var(--warn)} .badge.ok{border:1px solid var(--ok)}
.small{font-size:12px;color:var(--muted)}
pre{background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:10px;overflow-x:auto;font-size:12px}
details summary{cursor:pointer;color:var(--accent);margin:6px 0}
.legend span{margin-right:14px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(330px,1fr));gap:0 22px;align-items:start}
.grid td.l{white-space:normal}
.grid td.l:last-child{word-break:break-word}
"""


# ------------------------------------------------------------------------------------------- helpers


def _ok_variants(results: Mapping) -> list[dict]:
    return [v for v in results.get("variants", []) if v.get("status") == "ok"]


def _fig_to_img(fig: Any, alt: str, caption: str | None = None, width: int | None = None) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=130, facecolor="white")  # constrained layout: one draw, no "tight" pass
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    style = f' style="width:{width}px"' if width else ""
    cap = f"<figcaption>{caption}</figcaption>" if caption else ""
    return f'<figure><img alt="{_esc(alt)}" src="data:image/png;base64,{data}"{style}>{cap}</figure>'


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


def _drop_cell(drop: Any, ci: Any, max_drop: float, with_ci: bool = True) -> str:
    v = _verdict(ci, max_drop)
    cls = f' class="{_VERDICT_CLASS[v]}"' if v else ""
    text = fmt_drop(drop) + (f" <span class=small>{fmt_ci(ci)}</span>" if with_ci and v else "")
    title = ""
    if v:
        title = f' title="{_esc(describe_drop(num(drop) or 0.0, num(ci[0]), num(ci[1])))}"'
    return f"<td{cls}{title}>{text}</td>"


def _table(headers: Sequence[tuple[str, str]], rows: Sequence[str]) -> str:
    head = "".join(f'<th class="{cls}">{h}</th>' if cls else f"<th>{h}</th>" for h, cls in headers)
    return f'<div class="tw"><table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


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


def _section(sid: str, title: str, body: str, cls: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return f'<section id="{sid}"{c}><h2>{_esc(title)}</h2>{body}</section>'


def _reco_section(results: Mapping, max_drop: float) -> str:
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
    slower = [v.get("name") for v in oks if v.get("slower_than_fp32")]
    kpis.append((str(len(oks)), f"variants evaluated ({len(results.get('variants', [])) - len(oks)} failed/skipped)"))
    kpi_html = "".join(f'<div class="kpi"><div class="v">{_esc(a)}</div><div class="l">{_esc(b)}</div></div>' for a, b in kpis)
    warn = ""
    if slower:
        warn = (
            f'<p><span class="badge bad">WARNING</span> slower than fp32: {_esc(", ".join(slower))}. '
            "Quantized is not automatically faster: without int8 dot-product instructions (e.g. AVX-VNNI / "
            "AVX512-VNNI, Arm dot-product) some int8 kernels fall back to slow paths.</p>"
        )
    qual = ", ".join(rec["qualifying"]) or "none"
    body = (
        f'<div class="big">{_esc(rec["text"])}</div>'
        f'<p class="note">Rule: the fastest variant (model-only p50; the file read and front-end are the same for all) '
        f"whose worst-slice accuracy drop has a 95% CI upper bound of at most {max_drop:g} pp; a quantized variant "
        f"replaces fp32 only when at least {MIN_SPEEDUP:.2f}x faster (smaller differences are run-to-run noise on a "
        f"shared CPU). Qualifying: {_esc(qual)}.</p>{warn}"
        f'<div class="kpis">{kpi_html}</div>'
    )
    return _section("recommendation", "Recommendation", body, cls)


def _variants_table(results: Mapping, max_drop: float) -> str:
    ref = reference_variant(results)
    ref_name = ref.get("name") if ref else None
    headers = [
        ("Variant", "l"), ("Status", "l"), ("Size KB", ""), ("Accuracy %", ""),
        ("Worst-slice drop pp<br>[95% CI]", ""), ("p50 ms", ""), ("p95 ms", ""), ("Model-only<br>p50 ms", ""),
        ("Speed-up<br>vs fp32", ""), ("Peak RSS<br>MB", ""), ("Flags", "l"),
    ]  # fmt: skip
    rows = []
    for v in results.get("variants", []):
        lat = headline_latency(v)
        status = v.get("status")
        st_cls = {"ok": "ok", "failed": "bad"}.get(status, "warn")
        status_html = f'<span class="badge {st_cls}">{_esc(str(status))}</span>'
        err = v.get("error") or (f"latency: {v['latency_error']}" if v.get("latency_error") else None)
        if err:
            err = str(err)
            short = err if len(err) <= 48 else err[:47] + "…"
            status_html += f'<br><span class="small" title="{_esc(err)}">{_esc(short)}</span>'
        ws = v.get("worst_slice") or {}
        flags = []
        if v.get("name") == ref_name:
            flags.append('<span class="badge ok">reference</span>')
        if v.get("slower_than_fp32"):
            flags.append('<span class="badge bad">WARNING: slower than fp32</span>')
        rss = num(v.get("peak_rss_bytes"))
        sub = " · ".join(_esc(str(x)) for x in (v.get("precision"), v.get("backend")) if x)
        recipe = v.get("recipe")
        if recipe and recipe != v.get("name"):
            sub += f" · recipe {_esc(str(recipe))}"
        name = f'<b>{_esc(str(v.get("name")))}</b><br><span class="small">{sub}</span>'
        if v.get("name") == ref_name:
            worst = '<td class="small">reference</td>'
        elif ws:
            worst = _drop_cell(ws.get("drop"), ws.get("ci95"), max_drop)
            if ws.get("name"):
                worst = worst.replace("</td>", f'<br><span class="small">{_esc(str(ws["name"]))}</span></td>')
        else:
            worst = f"<td>{MISSING}</td>"
        rows.append(
            "<tr>"
            f'<td class="l">{name}</td><td class="l wrap">{status_html}</td>'
            f"<td>{fmt_kb(v.get('size_bytes'))}</td><td>{fmt_acc(v.get('accuracy'))}</td>{worst}"
            f"<td>{fmt_ms(lat['p50'])}</td><td>{fmt_ms(lat['p95'])}</td><td>{fmt_ms(lat['model_p50'])}</td>"
            f'<td class="{"bad" if v.get("slower_than_fp32") else ""}">{fmt_speedup(v.get("speedup_vs_fp32"))}</td>'
            f"<td>{MISSING if rss is None else f'{rss / 2**20:.1f}'}</td>"
            f'<td class="l wrap">{" ".join(flags)}</td>'
            "</tr>"
        )
    return _table(headers, rows)


def _threads_table(results: Mapping) -> str:
    oks = [v for v in _ok_variants(results) if (v.get("latency_ms") or {}).get("by_threads")]
    threads = sorted({int(t) for v in oks for t in v["latency_ms"]["by_threads"]})
    if not oks or len(threads) < 2:
        return ""
    headers = [("Variant", "l")]
    for t in threads:
        headers += [(f"{t}T p50", ""), (f"{t}T p95", ""), (f"{t}T model p50", ""), (f"{t}T e2e/model", "")]
    rows = []
    for v in oks:
        cells = [f'<td class="l">{_esc(str(v.get("name")))}</td>']
        for t in threads:
            e = v["latency_ms"]["by_threads"].get(str(t)) or {}
            p50, mp50 = num(e.get("p50")), num(e.get("model_p50"))
            ratio = f"{p50 / mp50:.1f}x" if p50 is not None and mp50 else MISSING
            cells += [f"<td>{fmt_ms(p50)}</td>", f"<td>{fmt_ms(e.get('p95'))}</td>", f"<td>{fmt_ms(mp50)}</td>",
                      f"<td>{ratio}</td>"]  # fmt: skip
        rows.append("<tr>" + "".join(cells) + "</tr>")
    n_runs = {e.get("n_runs") for v in oks for e in v["latency_ms"]["by_threads"].values() if e.get("n_runs")}
    runs = f" over {', '.join(str(r) for r in sorted(n_runs))} runs after warm-up" if n_runs else ""
    return (
        "<h3>Latency by intra-op thread count</h3>"
        f'<p class="note">Milliseconds per utterance{runs}. End-to-end = read file + front-end + inference + '
        "softmax/argmax; model-only = the inference call. e2e/model shows how much of the time is spent outside "
        "the model.</p>" + _table(headers, rows)
    )


def _overview_section(results: Mapping, max_drop: float) -> str:
    fig = figure_pareto(results)
    body = ""
    if fig is not None:
        body += _fig_to_img(
            fig,
            "Accuracy vs latency Pareto plot",
            "x: end-to-end p50 latency per utterance at 1 thread; y: clean accuracy with Wilson 95% CI; marker "
            "area proportional to model file size; green step line: Pareto front (no other variant is both "
            "faster and more accurate); red: slower than fp32.",
        )
    else:
        body += '<p class="note">No variant has both a latency and an accuracy: no Pareto plot.</p>'
    body += "<h3>Variants</h3>" + _variants_table(results, max_drop) + _threads_table(results)
    return _section("overview", "Accuracy, latency and size", body)


def _slices_section(results: Mapping, max_drop: float) -> str:
    ref = reference_variant(results)
    ref_name = ref.get("name") if ref else None
    vs = [v for v in _ok_variants(results) if v.get("slices") and v.get("name") != ref_name]
    if not vs:
        return _section("slices", "Accuracy drop per slice", '<p class="note">No per-slice results.</p>')
    fig = figure_slice_drops(results, max_drop)
    body = _fig_to_img(
        fig,
        "Accuracy drop per slice with 95% CI",
        f"One panel per variant. Bars: drop vs {_esc(str(ref_name))} on the same clips (pp, positive = worse), "
        f"coloured green / amber / red when the 95% CI is within / straddles / above the {max_drop:g} pp budget "
        f"(dashed red); whiskers: 95% paired bootstrap CI.",
    )
    names = _slice_names(vs)
    legend = (
        '<p class="legend small"><span class="badge ok">green</span> whole CI within the budget '
        '<span class="badge warn">amber</span> CI straddles the budget (needs more clips to decide) '
        '<span class="badge bad">red</span> whole CI above the budget</p>'
    )
    by_v = {v.get("name"): {s.get("name"): s for s in v.get("slices") or []} for v in vs}

    def cell(vname: str, sname: str) -> str:
        s = by_v[vname].get(sname)
        return _drop_cell(s.get("drop"), s.get("ci95"), max_drop, with_ci=False) if s else f"<td>{MISSING}</td>"

    vnames = [str(v.get("name")) for v in vs]
    rows = []
    if len(names) > len(vnames):  # long side down the page: rows = slices, columns = variants
        headers = [("Slice", "l")] + [(_esc(n), "") for n in vnames]
        for sname in names:
            rows.append(f'<tr><td class="l"><b>{_esc(str(sname))}</b></td>'
                        + "".join(cell(vn, sname) for vn in vnames) + "</tr>")  # fmt: skip
    else:
        headers = [("Variant", "l")] + [(_esc(str(n)), "") for n in names]
        for vn in vnames:
            rows.append(f'<tr><td class="l"><b>{_esc(vn)}</b></td>' + "".join(cell(vn, n) for n in names) + "</tr>")
    body += "<h3>Drop matrix (pp; hover a cell for the verdict)</h3>" + legend + _table(headers, rows)
    headers = [
        ("Variant", "l"), ("Slice", "l"), ("n", ""), (f"{_esc(str(ref_name))} acc %", ""), ("Variant acc %", ""),
        ("Drop pp", ""), ("95% CI pp", ""), ("McNemar p", ""), ("Lost / gained", ""), ("Verdict", "l"),
    ]  # fmt: skip
    rows = []
    for v in vs:
        for s in v.get("slices") or []:
            ci = s.get("ci95") or [None, None]
            verdict = _verdict(ci, max_drop)
            cls = _VERDICT_CLASS.get(verdict or "", "")
            phrase = describe_drop(num(s.get("drop")) or 0.0, num(ci[0]), num(ci[1])) if verdict else MISSING
            disc = s.get("discordant")
            rows.append(
                "<tr>"
                f'<td class="l">{_esc(str(v.get("name")))}</td><td class="l">{_esc(str(s.get("name")))}</td>'
                f"<td>{s.get('n', MISSING)}</td><td>{fmt_acc(s.get('ref_accuracy'))}</td>"
                f"<td>{fmt_acc(s.get('accuracy'))}</td><td class=\"{cls}\">{fmt_drop(s.get('drop'))}</td>"
                f"<td>{fmt_ci(ci)}</td><td>{fmt_p(s.get('p_value'))}</td>"
                f"<td>{f'{disc[0]} / {disc[1]}' if disc and len(disc) == 2 else MISSING}</td>"
                f'<td class="l wrap">{_esc(phrase)}</td>'
                "</tr>"
            )
    body += (
        "<h3>Per-slice statistics</h3>"
        '<p class="note">Lost / gained: clips the reference got right and the variant got wrong / the reverse '
        "(the discordant pairs McNemar's test uses).</p>" + _table(headers, rows)
    )
    return _section("slices", "Accuracy drop per slice", body)


def _confusion_section(results: Mapping) -> str:
    fig = figure_confusions(results)
    if fig is None:
        return ""
    body = _fig_to_img(
        fig,
        "Row-normalised confusion matrices",
        "Rows: true class; columns: predicted class; cells: % of the true class (rows sum to 100).",
    )
    return _section("confusion", "Confusion matrices (clean eval)", body)


def _classes_section(results: Mapping) -> str:
    ref = reference_variant(results)
    vs = [v for v in _ok_variants(results) if v.get("per_class")]
    if ref is not None:
        vs.sort(key=lambda v: v.get("name") != ref.get("name"))
    if not vs:
        return ""
    labels = results.get("labels") or list(vs[0]["per_class"].keys())
    headers = [("Class", "l"), ("Clips", "")]
    for v in vs:
        headers += [(f"{_esc(str(v.get('name')))}<br>FRR %", ""), ("FAR %", "")]
    rows = []
    ref_pc = (ref or {}).get("per_class") or {}
    for lab in labels:
        support = next((v["per_class"][lab].get("support") for v in vs if lab in v["per_class"]), None)
        cells = [f'<td class="l">{_esc(str(lab))}</td><td>{support if support is not None else MISSING}</td>']
        for v in vs:
            e = v["per_class"].get(lab) or {}
            r = ref_pc.get(lab) or {}
            for k in ("frr", "far"):
                val, base = num(e.get(k)), num(r.get(k))
                cls = ""
                if v is not ref and val is not None and base is not None:
                    diff_pp = 100.0 * (val - base)
                    cls = ' class="bad"' if diff_pp >= 5.0 else (' class="warn"' if diff_pp >= 2.0 else "")
                cells.append(f"<td{cls}>{fmt_acc(val, 1)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    body = (
        '<p class="note">FRR (false-reject rate): % of the clips of this class that were not recognised as it. '
        "FAR (false-accept rate): % of the clips of all other classes that were predicted as this class. "
        "Amber / red: at least 2 / 5 pp worse than the reference (point estimates on about a hundred clips per "
        "class, where one clip is about 1 pp: read them as hints, not findings).</p>" + _table(headers, rows)
    )
    return _section("classes", "Per-class false-reject and false-accept rates (clean eval)", body)


def _kv_table(d: Mapping) -> str:
    rows = []
    for k, v in d.items():
        if isinstance(v, int) and not isinstance(v, bool) and str(k).endswith("_bytes"):
            v = f"{v} ({v / 2**30:.1f} GiB)" if v >= 2**30 else f"{v} ({v / 2**20:.1f} MiB)"
        elif isinstance(v, (list, tuple)):
            v = ", ".join(json.dumps(x, sort_keys=True, default=str) if isinstance(x, Mapping) else str(x) for x in v)
        elif isinstance(v, Mapping):
            v = json.dumps(v, sort_keys=True, default=str)
        rows.append(f'<tr><td class="l">{_esc(str(k))}</td><td class="l">{_esc(MISSING if v is None else str(v))}</td></tr>')
    return _table([("Field", "l"), ("Value", "l")], rows)


def _provenance_section(results: Mapping, max_drop: float) -> str:
    cfg = results.get("config") or {}
    n_boot = cfg.get("n_boot") if isinstance(cfg, Mapping) else None
    boot = f"{n_boot} " if n_boot else ""
    versions = results.get("versions") or {}
    pk = dict(versions.get("packages") or {})
    vtab = {"python": f"{versions.get('python')} ({versions.get('implementation', '')})".replace(" ()", ""),
            "platform": versions.get("platform"), **pk}  # fmt: skip
    run = {
        "created": results.get("created"), "voxquant": results.get("voxquant_version"), "seed": results.get("seed"),
        "reference": results.get("reference"), "schema_version": results.get("schema_version"),
    }  # fmt: skip
    run.update({k: v for k, v in results.items() if k not in _KNOWN_TOP})  # model, dataset, slices, timings...
    body = (
        "<h3>How to read the statistics</h3>"
        '<p>Every variant is evaluated on <b>the same clips</b> as the reference, so the comparison is paired. '
        f"The drop is <code>100 &times; (acc<sub>fp32</sub> &minus; acc<sub>variant</sub>)</code> in percentage "
        f"points (pp), positive = worse. Its 95% confidence interval is a paired percentile bootstrap over clips "
        f"({boot}resamples; Efron &amp; Tibshirani 1993). The p-value is McNemar's exact test on the clips where "
        f"the two models disagree (McNemar 1947; exact binomial form). <b>A drop whose CI spans 0 is within "
        f"noise</b>: these clips cannot tell the variant from the reference, whatever the sign of the point "
        f"estimate. A variant is recommended only if the upper CI bound of its worst slice is at most "
        f"{max_drop:g} pp. Accuracy error bars in the Pareto plot are Wilson score intervals (Wilson 1927). "
        f"p-values are not corrected for multiple comparisons; with many slices and variants, expect about one "
        f"in twenty p &lt; 0.05 by chance.</p>"
        '<div class="grid">'
        f"<div><h3>Run</h3>{_kv_table(run)}</div>"
        f"<div><h3>Machine</h3>{_kv_table(results.get('machine') or {})}</div>"
        f"<div><h3>Versions</h3>{_kv_table(vtab)}</div>"
        "</div>"
        f"<h3>Configuration</h3><pre>{_esc(json.dumps(cfg, indent=2, sort_keys=True, default=str))}</pre>"
    )
    return _section("provenance", "Provenance and statistics", body)


def _extra_sections(results: Mapping) -> list[tuple[str, str, str]]:
    out = []
    for i, s in enumerate(results.get("sections") or []):
        out.append((f"extra-{i}", str(s.get("title", f"Section {i + 1}")), str(s.get("html", ""))))
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


def render_html(results: Mapping, max_drop: float = 1.0, title: str | None = None) -> str:
    """Render the report page as a string (see :func:`write_html`)."""
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
    sections = [
        ("recommendation", "Recommendation", _reco_section(results, max_drop)),
        ("overview", "Accuracy / latency / size", _overview_section(results, max_drop)),
        ("slices", "Slices", _slices_section(results, max_drop)),
        ("confusion", "Confusion", _confusion_section(results)),
        ("classes", "Per class", _classes_section(results)),
        ("provenance", "Provenance", _provenance_section(results, max_drop)),
    ]
    for sid, t, h in _extra_sections(results):
        sections.append((sid, t, _section(sid, t, h)))
    nav = "".join(f'<a href="#{sid}">{_esc(t)}</a>' for sid, t, h in sections if h)
    body = "".join(h for _, _, h in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body><main>"
        f'<header><h1>{_esc(title)}</h1><div class="sub">{_esc(" · ".join(bits))}</div></header>'
        f"<nav>{nav}</nav>{body}"
        '<p class="small">Generated by voxquant. Self-contained: figures are embedded, no external resources.</p>'
        "</main></body></html>\n"
    )


def write_html(results: Mapping, path: str | Path, max_drop: float = 1.0, title: str | None = None) -> Path:
    """Write the self-contained ``report.html`` (atomically).

    Args:
        results: a results dict (schema of :mod:`voxquant.report.results`). ``results["sections"]``, if
            present, is a list of ``{"title": str, "html": str}`` rendered after the built-in sections;
            its ``html`` is inserted as is (trusted, produced by voxquant modules).
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
