"""Terminal summary table (rich) and a flat CSV of the results, for humans and for CI."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from voxquant.eval.stats import budget_verdict, is_significant
from voxquant.report.format import (
    MISSING,
    fmt_acc,
    fmt_drop,
    fmt_kb,
    fmt_ms,
    fmt_speedup,
    headline_latency,
    num,
)
from voxquant.report.results import recommend, reference_variant
from voxquant.report.store import write_text_atomic

__all__ = ["CSV_COLUMNS", "print_summary", "summary_markdown", "summary_table", "write_csv"]

_VERDICT_STYLE = {"within": "green", "uncertain": "yellow", "exceeds": "bold red"}

#: Columns of :func:`write_csv`, in order. Units: accuracies are fractions, drops/CIs pp, latencies ms,
#: sizes bytes.
CSV_COLUMNS = (
    "variant", "recipe", "precision", "backend", "status", "error", "size_bytes", "accuracy",
    "p50_ms", "p95_ms", "model_p50_ms", "threads", "speedup_vs_fp32", "slower_than_fp32", "peak_rss_bytes",
    "slice", "slice_n", "slice_accuracy", "ref_accuracy", "drop_pp", "ci95_lo_pp", "ci95_hi_pp", "p_value",
    "significant", "budget_verdict",
)  # fmt: skip


def summary_table(results: Mapping, max_drop: float = 1.0, show_slice: bool = True) -> Any:
    """Build the rich :class:`rich.table.Table` printed by :func:`print_summary`.

    Columns: variant, status, size (KB), accuracy (%), worst-slice drop (pp) with its 95% CI (green / yellow
    / red against ``max_drop``, see :func:`voxquant.eval.stats.budget_verdict`), the worst slice's name,
    p50 end-to-end ms at 1 thread, speed-up vs fp32, and a SLOWER flag for a variant slower than fp32.
    Without the slice column (``show_slice=False``) the layout is compact enough for an 80-column CI log.
    """
    from rich import box
    from rich.table import Table
    from rich.text import Text

    ref = reference_variant(results)
    ref_name = ref.get("name") if ref else None
    narrow = not show_slice
    t = Table(title="voxquant results", title_justify="left", header_style="bold", box=box.SIMPLE_HEAD,
              padding=(0, 0 if narrow else 1), collapse_padding=True, pad_edge=False, show_edge=False)  # fmt: skip
    names = [str(v.get("name")) for v in results.get("variants", [])]
    t.add_column("variant", no_wrap=True, min_width=min(32, max((len(n) for n in names), default=7)))
    t.add_column("status", no_wrap=True)
    t.add_column("KB", justify="right", no_wrap=True)
    t.add_column("acc %", justify="right", no_wrap=True)
    t.add_column("drop pp [95% CI]" if narrow else "worst-slice drop pp [95% CI]", justify="right", no_wrap=True)
    if show_slice:
        t.add_column("slice", overflow="ellipsis", no_wrap=True, max_width=16)
    t.add_column("p50ms" if narrow else "p50 ms", justify="right", no_wrap=True)
    t.add_column("speed" if narrow else "vs fp32", justify="right", no_wrap=True)
    t.add_column("flag", no_wrap=True)
    for v in results.get("variants", []):
        status = str(v.get("status"))
        st = Text(status, style={"ok": "green", "failed": "bold red"}.get(status, "yellow"))
        ws = v.get("worst_slice") or {}
        ci = ws.get("ci95") or [None, None]
        lo, hi = num(ci[0]), num(ci[1])
        slice_name = Text("")
        if v.get("name") == ref_name:
            drop = Text("reference", style="dim")
        elif num(ws.get("drop")) is not None:
            verdict = budget_verdict(lo, hi, max_drop) if lo is not None and hi is not None else None
            ci_txt = f" [{lo:+.2f},{hi:+.2f}]" if verdict else ""
            drop = Text(f"{fmt_drop(ws.get('drop'))}{ci_txt}", style=_VERDICT_STYLE.get(verdict or "", ""))
            slice_name = Text(str(ws.get("name") or ""), style="dim")
        else:
            drop = Text(MISSING)
        flag = Text("SLOWER", style="bold red") if v.get("slower_than_fp32") else Text("")
        name = Text(str(v.get("name")), style="bold" if v.get("name") == ref_name else "")
        cells = [name, st, fmt_kb(v.get("size_bytes")), fmt_acc(v.get("accuracy")), drop]
        cells += [slice_name] if show_slice else []
        cells += [fmt_ms(headline_latency(v)["p50"]), fmt_speedup(v.get("speedup_vs_fp32")), flag]
        t.add_row(*cells)
    return t


_LEGEND = ("drop = 100 x (acc_fp32 - acc_variant) in pp, positive = worse; 95% paired bootstrap CI; a CI "
           "spanning 0 is within noise. p50 = end-to-end ms per utterance at 1 thread; vs fp32 = model-only p50 of "
           "fp32 (same runtime) / model-only p50; SLOWER = more than 10 % slower (model-only).")


def _md_escape(x: Any) -> str:
    return str(x).replace("|", "\\|").replace("\n", " ")


def summary_markdown(results: Mapping, max_drop: float = 1.0) -> str:
    """The summary as Markdown text, never truncated: a GitHub-flavoured table (variant, status, KB, acc %,
    worst-slice drop pp with its 95% CI and verdict, worst slice, p50 ms, speed-up vs fp32, flag), then the
    failures, the slower-than-fp32 warning, the recommendation and the legend as plain lines.

    Used by :func:`print_summary` when stdout is not a terminal (CI logs, ``| tee``, files).
    """
    ref = reference_variant(results)
    ref_name = ref.get("name") if ref else None
    head = ["variant", "status", "KB", "acc %", "worst-slice drop pp [95% CI]", "verdict", "worst slice", "p50 ms",
            "vs fp32", "flag"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|---|---|--:|--:|--:|---|---|--:|--:|---|"]
    for v in results.get("variants", []):
        ws = v.get("worst_slice") or {}
        ci = ws.get("ci95") or [None, None]
        lo, hi = num(ci[0]), num(ci[1])
        verdict, slice_name = "", ""
        if v.get("name") == ref_name:
            drop = "reference"
        elif num(ws.get("drop")) is not None:
            verdict = budget_verdict(lo, hi, max_drop) if lo is not None and hi is not None else ""
            drop = fmt_drop(ws.get("drop")) + (f" [{lo:+.2f}, {hi:+.2f}]" if verdict else "")
            slice_name = str(ws.get("name") or "")
        else:
            drop = MISSING
        cells = [v.get("name"), v.get("status"), fmt_kb(v.get("size_bytes")), fmt_acc(v.get("accuracy")), drop,
                 verdict, slice_name, fmt_ms(headline_latency(v)["p50"]), fmt_speedup(v.get("speedup_vs_fp32")),
                 "SLOWER" if v.get("slower_than_fp32") else ""]  # fmt: skip
        lines.append("| " + " | ".join(_md_escape(c) for c in cells) + " |")
    lines.append("")
    for v in results.get("variants", []):
        if v.get("status") != "ok":
            why = f": {v['error']}" if v.get("error") else ""
            lines.append(f"{v.get('name')} {v.get('status')}{why}")
    slower = [str(v.get("name")) for v in results.get("variants", []) if v.get("slower_than_fp32")]
    if slower:
        lines.append(f"WARNING: slower than fp32: {', '.join(slower)}")
    lines.append(f"Recommendation: {recommend(results, max_drop)['text']}")
    lines.append(_LEGEND)
    return "\n".join(lines) + "\n"


def print_summary(results: Mapping, console: Any = None, max_drop: float = 1.0, markdown: bool | None = None) -> None:
    """Print the summary table, failures, slower-than-fp32 warnings and the recommendation.

    On a terminal: a rich table (the worst slice's name column is shown on consoles at least 120 columns
    wide). When stdout is not a terminal (CI log, pipe, file) and no ``console`` is given: the Markdown of
    :func:`summary_markdown`, in full (never cut to 80 columns).

    Args:
        results: a results dict (schema of :mod:`voxquant.report.results`).
        console: a :class:`rich.console.Console` (default: a new one on stdout).
        max_drop: accuracy-drop budget in pp (colours and recommendation).
        markdown: force Markdown (``True``) or rich (``False``); ``None`` = Markdown when ``console`` is ``None``
            and ``sys.stdout`` is not a terminal.
    """
    import sys

    if markdown is None:
        markdown = console is None and not (hasattr(sys.stdout, "isatty") and sys.stdout.isatty())
    if markdown:
        text = summary_markdown(results, max_drop)
        if console is None:
            sys.stdout.write(text)
            sys.stdout.flush()
        else:
            console.print(text, markup=False, highlight=False, soft_wrap=True, end="")
        return
    from rich.console import Console
    from rich.markup import escape

    console = console or Console()
    console.print(summary_table(results, max_drop, show_slice=console.width >= 120))
    for v in results.get("variants", []):
        if v.get("status") != "ok":
            why = f": {v['error']}" if v.get("error") else ""
            console.print(f"[yellow]{escape(str(v.get('name')))} {escape(str(v.get('status')))}{escape(why)}[/]",
                          highlight=False)  # fmt: skip
    slower = [str(v.get("name")) for v in results.get("variants", []) if v.get("slower_than_fp32")]
    if slower:
        console.print(f"[bold red]WARNING:[/] slower than fp32: {escape(', '.join(slower))}",
                      highlight=False)  # fmt: skip
    rec = recommend(results, max_drop)
    style = "bold green" if rec["variant"] else "bold red"
    console.print(f"[{style}]Recommendation:[/] {escape(rec['text'])}", highlight=False)
    console.print(f"[dim]{_LEGEND}[/]", highlight=False)


def _cell(x: Any) -> Any:
    if x is None:
        return ""
    if isinstance(x, bool):
        return "true" if x else "false"
    return x


def write_csv(results: Mapping, path: str | Path, max_drop: float = 1.0) -> Path:
    """Write one CSV row per (variant x slice), atomically; a variant without slices gets one row with
    empty slice columns. Columns: :data:`CSV_COLUMNS` (fractions, pp, ms, bytes; empty = not measured;
    booleans ``true``/``false``). ``budget_verdict`` is ``within``/``uncertain``/``exceeds`` against
    ``max_drop`` pp (see :func:`voxquant.eval.stats.budget_verdict`).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        OSError: the file cannot be written (an older file is left intact).
    """
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for v in results.get("variants", []):
        lat = v.get("latency_ms") or {}
        base = [
            v.get("name"), v.get("recipe"), v.get("precision"), v.get("backend"), v.get("status"), v.get("error"),
            v.get("size_bytes"), v.get("accuracy"), lat.get("p50"), lat.get("p95"), lat.get("model_p50"),
            lat.get("threads"), v.get("speedup_vs_fp32"), v.get("slower_than_fp32"), v.get("peak_rss_bytes"),
        ]  # fmt: skip
        slices = v.get("slices") or [None]
        for s in slices:
            if s is None:
                w.writerow([_cell(x) for x in base] + [""] * 10)
                continue
            ci = s.get("ci95") or [None, None]
            lo, hi = num(ci[0]), num(ci[1])
            sig = is_significant(lo, hi) if lo is not None and hi is not None else None
            verdict = budget_verdict(lo, hi, max_drop) if lo is not None and hi is not None else None
            w.writerow(
                [_cell(x) for x in base]
                + [_cell(x) for x in (s.get("name"), s.get("n"), s.get("accuracy"), s.get("ref_accuracy"),
                                       s.get("drop"), lo, hi, s.get("p_value"), sig, verdict)]  # fmt: skip
            )
    return write_text_atomic(path, buf.getvalue())
