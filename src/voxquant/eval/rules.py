"""The engine's two verdicts, defined once: "within budget" and "slower than fp32".

Every table that says a variant is within an accuracy budget or slower than the reference (``voxquant run``'s
recommendation, the backend table of ``voxquant benchmark``, the studies, the mixed-precision search's report)
calls these functions, so the same numbers always get the same verdict.

* **Within budget**: the *upper* bound of the 95 % paired-bootstrap CI of the worst slice's drop is at most the
  budget. The point estimate is not enough: a 0.4 pp drop on 300 clips can hide a 2 pp drop.
* **Too short to tell**: a CI wider than the budget itself cannot show a variant within it even when the point
  estimate is 0 (streaming FRR on a few dozen keywords): the report asks for more data instead of a verdict.
* **Slower than fp32**: model-only p50 more than :data:`NOISE_MARGIN` times the reference's (timings on a shared
  CPU move by several per cent run to run; a smaller difference is noise). The recommendation prefers a quantized
  variant only when it is at least that much *faster*.
"""

from __future__ import annotations

import math

#: Ratio of model-only p50 latencies treated as run-to-run noise (10 %).
NOISE_MARGIN = 1.10


def within_budget(worst_ci_hi_pp: float | None, max_drop_pp: float) -> bool:
    """Whether a variant is within an accuracy-drop budget.

    Args:
        worst_ci_hi_pp: upper bound of the 95 % CI of the worst slice's drop vs the reference, in percentage
            points (positive = worse); ``None`` when not measured.
        max_drop_pp: the budget in percentage points.

    Returns:
        ``True`` only when measured and ``worst_ci_hi_pp <= max_drop_pp``.
    """
    if worst_ci_hi_pp is None or not math.isfinite(float(worst_ci_hi_pp)):
        return False
    return float(worst_ci_hi_pp) <= float(max_drop_pp)


def slower_than_reference(p50_ms: float | None, ref_p50_ms: float | None, margin: float = NOISE_MARGIN) -> bool | None:
    """Whether a variant is slower than the reference beyond the noise margin.

    Args:
        p50_ms: the variant's model-only p50 latency in ms; ref_p50_ms: the reference's (same runtime and thread
            count where possible).
        margin: ratio treated as noise (default :data:`NOISE_MARGIN`).

    Returns:
        ``True`` when ``p50_ms > ref_p50_ms * margin``, ``False`` otherwise, ``None`` when either is unknown.
    """
    if not p50_ms or not ref_p50_ms:
        return None
    return bool(float(p50_ms) > float(ref_p50_ms) * margin)


def faster_than_reference(p50_ms: float | None, ref_p50_ms: float | None, margin: float = NOISE_MARGIN) -> bool:
    """Whether a variant is faster than the reference beyond the noise margin (``p50 * margin <= ref_p50``)."""
    if not p50_ms or not ref_p50_ms:
        return False
    return float(p50_ms) * margin <= float(ref_p50_ms)


def budget_verdict(lo: float, hi: float, max_drop: float = 1.0) -> str:
    """Classify a drop CI against an accuracy-drop budget (used for green/amber/red colouring).

    Args:
        lo: lower CI bound of the drop (pp).
        hi: upper CI bound of the drop (pp).
        max_drop: the budget, in pp (a drop up to this is acceptable).

    Returns:
        ``"within"`` when the whole CI is at or below the budget (``hi <= max_drop``: green);
        ``"exceeds"`` when the whole CI is above it (``lo > max_drop``: red);
        ``"uncertain"`` otherwise (the CI straddles the budget: amber - more clips would be needed).

    Raises:
        ValueError: invalid interval (see :func:`is_significant`).
    """
    from voxquant.eval.stats import is_significant

    is_significant(lo, hi)  # validates
    if within_budget(hi, max_drop):
        return "within"
    if lo > max_drop:
        return "exceeds"
    return "uncertain"


def ci_wider_than_budget(lo: float, hi: float, max_drop: float) -> bool:
    """Whether a drop CI is wider than the budget (``hi - lo > max_drop``): the measurement is too short to judge
    a variant against that budget (e.g. streaming FRR on 20 keywords: each keyword is 5 pp), so the verdict must
    be "cannot tell, measure longer", not "within" or "exceeds" by luck.

    Args:
        lo, hi: CI bounds of the drop (pp); max_drop: the budget (pp).

    Returns:
        ``True`` when the interval is wider than the budget or not finite.
    """
    if not (math.isfinite(float(lo)) and math.isfinite(float(hi))):
        return True
    return float(hi) - float(lo) > float(max_drop)


def too_short_for_rate(duration_h: float, rate_per_h: float) -> bool:
    """Whether a stream is too short to measure an event rate: one event in it is already above the rate
    (``duration_h * rate_per_h < 1``, e.g. 0.5 FA/h on a 0.1-h stream, where one false accept is 10 FA/h and the
    "operating point at 0.5 FA/h" is just the threshold with no false accept at all).

    Args:
        duration_h: hours of audio; rate_per_h: the target rate (events per hour).

    Returns:
        ``True`` when too short (also for a non-positive or non-finite duration).
    """
    d, r = float(duration_h), float(rate_per_h)
    if not (math.isfinite(d) and d > 0):
        return True
    return d * r < 1.0
