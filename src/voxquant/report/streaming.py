"""Report pieces of the streaming (always-on wake-word) evaluation: the DET-curve figure and a stand-alone page of
data sections (:mod:`voxquant.report.sections`) rendered with the report's own Jinja2 template macros.

The producer (:mod:`voxquant.streaming_run`) stores only data; drawing happens here (the report layer draws).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def det_envelope(fa_per_hour, frr) -> list[tuple[float, float]]:
    """The operating points a threshold can reach, as drawn on a DET curve: for each FA/h the lowest FRR at that FA/h
    or below (the swept thresholds' points, sorted by FA/h, with FRR made non-increasing). Points at the same FA/h
    with higher FRR (thresholds too high to fire at all, or a cooldown shifting detections) are not operating points
    anyone would choose and are left out, so the line does not spike.

    Args:
        fa_per_hour, frr: ``[K]`` per threshold (fractions for FRR).

    Returns:
        ``[(fa_per_hour, frr)]`` sorted by FA/h, FRR non-increasing.
    """
    out: list[tuple[float, float]] = []
    for fa, r in sorted((float(a), float(b)) for a, b in zip(fa_per_hour, frr)):
        if out and r >= out[-1][1]:
            continue
        if out and fa == out[-1][0]:
            out[-1] = (fa, r)
        else:
            out.append((fa, r))
    return out


def det_figure(data: Mapping) -> Any:
    """DET curve of one stream condition: FRR (%) against false accepts per hour (log x), one line per variant
    (:func:`det_envelope` of the swept thresholds).

    Args:
        data: ``{"title": str, "targets": [FA/h...], "curves": {variant: {"fa_per_hour": [K], "frr": [K]}}}``
            (the arrays of :class:`voxquant.eval.streaming.DetCurve`). Points at 0 FA/h cannot be drawn on a log
            axis: they are drawn at half the smallest positive FA/h of the figure (marked in the x label).

    Returns:
        a :class:`matplotlib.figure.Figure`.
    """
    from voxquant.report.html import _new_figure, _style_axes

    curves = data.get("curves") or {}
    pos = [x for c in curves.values() for x in c.get("fa_per_hour") or [] if x and x > 0]
    floor = (min(pos) / 2.0) if pos else 0.01
    fig = _new_figure(5.6, 3.8)
    ax = fig.add_subplot(1, 1, 1)
    for name, c in curves.items():
        pts = det_envelope(c.get("fa_per_hour") or [], c.get("frr") or [])
        if pts:
            ax.step([max(p[0], floor) for p in pts], [100.0 * p[1] for p in pts], where="post", label=str(name),
                    linewidth=1.6)
    for t in data.get("targets") or []:
        if t and t > 0 and math.isfinite(t):
            ax.axvline(float(t), color="#9ca3af", linestyle=":", linewidth=1.0)
    ax.set_xscale("log")
    ax.set_xlabel(f"false accepts per hour (log; 0 drawn at {floor:.3g})")
    ax.set_ylabel("false-reject rate %")
    ax.set_ylim(-2, 102)
    ax.set_title(str(data.get("title") or "DET curve"), fontsize=10)
    _style_axes(ax)
    if curves:
        ax.legend(fontsize=8, frameon=False)
    return fig


def save_figure_png(fig: Any, path: str | Path) -> Path:
    """Write ``fig`` as a PNG (atomically; 130 dpi, white background). Returns ``path``."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from voxquant.atomic import write_bytes_atomic

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=130, facecolor="white")
    return write_bytes_atomic(path, buf.getvalue())


def render_sections_page(sections: Sequence[Mapping], title: str, subtitle: str = "") -> str:
    """A self-contained HTML page of data sections (:mod:`voxquant.report.sections`), drawn with the ``block`` macro
    of ``templates/blocks.j2`` (the macros ``report.html.j2`` uses: same escaping, tables, figures and CSS), page
    template ``templates/sections_page.html.j2``.

    Raises:
        SectionError: a section that breaks the schema (:func:`voxquant.report.sections.validate_section`).
    """
    from importlib import resources

    from voxquant.report.html import _environment, _render_block
    from voxquant.report.sections import validate_section

    env = _environment()
    rendered = []
    for i, s in enumerate(sections):
        s = validate_section(s, f"sections[{i}]")
        rendered.append({"title": s["title"], "blocks": [_render_block(b) for b in s.get("blocks") or []]})
    css = resources.files("voxquant.report").joinpath("templates/report.css").read_text(encoding="utf-8")
    return env.get_template("sections_page.html.j2").render(title=title, subtitle=subtitle, sections=rendered, css=css)


def write_sections_page(sections: Sequence[Mapping], path: str | Path, title: str, subtitle: str = "") -> Path:
    """Write :func:`render_sections_page` to ``path`` atomically. Returns ``path``."""
    from voxquant.atomic import write_text_atomic

    return write_text_atomic(path, render_sections_page(sections, title, subtitle))


__all__ = ["det_figure", "render_sections_page", "save_figure_png", "write_sections_page"]
