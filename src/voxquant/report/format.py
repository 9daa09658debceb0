"""Number formatting shared by the HTML report, the terminal table and the CSV (no heavy imports).

Every formatter accepts ``None`` (a value that was not measured) and returns the placeholder ``"-"``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = [
    "MISSING",
    "fmt_acc",
    "fmt_ci",
    "fmt_drop",
    "fmt_kb",
    "fmt_ms",
    "fmt_p",
    "fmt_speedup",
    "headline_latency",
    "num",
]

MISSING = "-"


def num(x: Any) -> float | None:
    """``x`` as a finite float, or ``None`` (for ``None``, bools, non-numbers, NaN/Inf)."""
    if x is None or isinstance(x, bool):
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def fmt_acc(acc: Any, digits: int = 2) -> str:
    """Accuracy fraction -> percent string without the sign, e.g. ``0.9123 -> "91.23"``."""
    a = num(acc)
    return MISSING if a is None else f"{100.0 * a:.{digits}f}"


def fmt_drop(drop: Any, digits: int = 2) -> str:
    """Drop in pp with explicit sign, e.g. ``"+0.41"``."""
    d = num(drop)
    return MISSING if d is None else f"{d:+.{digits}f}"


def fmt_ci(ci: Any, digits: int = 2) -> str:
    """CI ``[lo, hi]`` in pp -> ``"[-0.10, +0.90]"``."""
    if not ci or len(ci) != 2 or num(ci[0]) is None or num(ci[1]) is None:
        return MISSING
    return f"[{num(ci[0]):+.{digits}f}, {num(ci[1]):+.{digits}f}]"


def fmt_ms(ms: Any) -> str:
    """Milliseconds: ``"0.412"``, ``"2.00"``, ``"12.3"``, ``"1234"`` (about 3 significant digits)."""
    m = num(ms)
    if m is None:
        return MISSING
    if m >= 100:
        return f"{m:.0f}"
    if m >= 10:
        return f"{m:.1f}"
    return f"{m:.2f}" if m >= 1 else f"{m:.3f}"


def fmt_kb(size_bytes: Any) -> str:
    """Bytes -> KB (1 KB = 1024 bytes) with one decimal."""
    s = num(size_bytes)
    return MISSING if s is None else f"{s / 1024.0:.1f}"


def fmt_p(p: Any) -> str:
    """p-value: ``"<0.001"`` below 0.001, else 3 decimals (``"1.000"`` for identical models)."""
    v = num(p)
    if v is None:
        return MISSING
    return "<0.001" if v < 0.001 else f"{v:.3f}"


def fmt_speedup(x: Any) -> str:
    """Speed-up factor, e.g. ``"1.42x"``."""
    v = num(x)
    return MISSING if v is None else f"{v:.2f}x"


def headline_latency(variant: Mapping, threads: int = 1) -> dict:
    """Latency numbers of ``variant`` at ``threads`` intra-op threads (``by_threads[str(threads)]``), falling
    back to the top-level ``latency_ms`` numbers; values may be ``None``."""
    lat = variant.get("latency_ms") or {}
    by = lat.get("by_threads") or {}
    src = by.get(str(threads)) or lat
    return {k: num(src.get(k)) for k in ("p50", "p95", "model_p50", "model_p95")}
