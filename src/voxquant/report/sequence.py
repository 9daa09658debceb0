"""Report figures of the sequence task (multi-word command recognition, :mod:`voxquant.sequence_run`).

The producer stores only data (sections with figure blocks that name these functions); drawing happens here, at
render time (:data:`voxquant.report.html.FIGURES`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def group_wer_figure(data: Mapping) -> Any:
    """WER per speaker group (e.g. accent) and variant, with 95 % bootstrap CIs over speakers.

    Args:
        data: ``{"title": str, "groups": [group label, ...], "variants": {variant: {"wer": [fraction per group],
            "lo": [...], "hi": [...]}}}`` (``lo``/``hi``: the CI of the variant's WER; ``None`` entries are skipped).

    Returns:
        a :class:`matplotlib.figure.Figure` (grouped horizontal bars, WER in %).
    """
    import numpy as np

    from voxquant.report.html import _PALETTE, _new_figure, _style_axes

    groups = list(data.get("groups") or [])
    variants = data.get("variants") or {}
    fig = _new_figure(6.4, max(2.4, 0.42 * max(len(groups), 1) * max(1, min(len(variants), 4)) / 2 + 1.2))
    ax = fig.add_subplot(1, 1, 1)
    n = max(len(variants), 1)
    h = 0.8 / n
    y = np.arange(len(groups))
    for i, (name, d) in enumerate(variants.items()):
        w = [np.nan if x is None else 100.0 * x for x in d.get("wer") or []]
        lo = [np.nan if x is None else 100.0 * x for x in d.get("lo") or [None] * len(w)]
        hi = [np.nan if x is None else 100.0 * x for x in d.get("hi") or [None] * len(w)]
        err = np.array([[max(a - b, 0) if np.isfinite(a) and np.isfinite(b) else 0 for a, b in zip(w, lo)],
                        [max(c - a, 0) if np.isfinite(a) and np.isfinite(c) else 0 for a, c in zip(w, hi)]])
        ax.barh(y + (i - (n - 1) / 2) * h, w, height=h, xerr=err, color=_PALETTE[i % len(_PALETTE)], label=str(name),
                error_kw={"elinewidth": 0.8, "capsize": 2, "ecolor": "#374151"})
    ax.set_yticks(y)
    ax.set_yticklabels(groups, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("word error rate % (95 % CI over speakers)")
    ax.set_title(str(data.get("title") or "WER per group"), fontsize=10)
    _style_axes(ax)
    if variants:
        ax.legend(fontsize=8, frameon=False, loc="lower right")
    return fig


def wer_cost_figure(data: Mapping) -> Any:
    """WER against real-time factor, one point per variant (marker area ~ model size), one panel per model.

    Args:
        data: ``{"title": str, "points": [{"name", "wer" (fraction), "lo", "hi", "rtf", "size_bytes"}]}``.

    Returns:
        a :class:`matplotlib.figure.Figure`.
    """
    import math

    from voxquant.report.html import _PALETTE, _new_figure, _style_axes

    pts = [p for p in data.get("points") or [] if p.get("wer") is not None and p.get("rtf")]
    fig = _new_figure(5.6, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    smax = max([p.get("size_bytes") or 1 for p in pts] or [1])
    for i, p in enumerate(pts):
        s = 30 + 250 * math.sqrt((p.get("size_bytes") or 1) / smax)
        w = 100 * p["wer"]
        yerr = None
        if p.get("lo") is not None and p.get("hi") is not None:
            yerr = [[max(w - 100 * p["lo"], 0)], [max(100 * p["hi"] - w, 0)]]
        ax.errorbar([p["rtf"]], [w], yerr=yerr, fmt="none", ecolor="#9ca3af", elinewidth=0.8, capsize=2)
        ax.scatter([p["rtf"]], [w], s=s, color=_PALETTE[i % len(_PALETTE)], alpha=0.85, label=str(p["name"]),
                   edgecolor="white", linewidth=0.6)
    ax.set_xlabel("real-time factor, 1 thread (model time / audio time)")
    ax.set_ylabel("WER % (real connected digits)")
    ax.set_title(str(data.get("title") or "WER vs compute"), fontsize=10)
    _style_axes(ax)
    if pts:
        ax.legend(fontsize=7, frameon=False)
    return fig


__all__ = ["group_wer_figure", "wer_cost_figure"]
