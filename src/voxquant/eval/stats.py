"""Honest statistics for comparing a quantized model with its fp32 reference on the same clips.

Both models are evaluated on the *same* clips, so the comparison is **paired**: per clip we know whether
the reference was right (``correct_ref``) and whether the variant was right (``correct_var``). Only the
clips on which they disagree carry information about the difference; treating the two accuracies as
independent samples would overstate the uncertainty for small drops and ignore the pairing.

* :func:`paired_bootstrap_drop` - accuracy drop in percentage points with a paired percentile bootstrap
  confidence interval (Efron & Tibshirani 1993, *An Introduction to the Bootstrap*, Chapman & Hall,
  ch. 13 "Confidence intervals based on bootstrap percentiles"; resampling whole clips keeps the pairing).
* :func:`mcnemar_exact` - McNemar's test of marginal homogeneity (McNemar 1947, "Note on the sampling
  error of the difference between correlated proportions or percentages", *Psychometrika* 12(2):153-157)
  in its exact form: conditional on the ``b + c`` discordant pairs, ``b ~ Binomial(b + c, 1/2)`` under
  H0 (Edwards 1948, *Psychometrika* 13:185-187; see also Fagerland, Lydersen & Laake 2013,
  "The McNemar test for binary matched-pairs data: mid-p and asymptotic are better than exact
  conditional", *BMC Med. Res. Methodol.* 13:91, for its known conservativeness).
* :func:`wilson_ci` - Wilson score interval for one accuracy (Wilson 1927, "Probable inference, the law of
  succession, and statistical inference", *JASA* 22(158):209-212).

Units: drops and their CIs are in **percentage points** (pp), ``drop = 100 * (acc_ref - acc_var)``,
positive = the variant is worse. Accuracies are fractions in [0, 1].
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

__all__ = [
    "budget_verdict",
    "describe_drop",
    "discordant_counts",
    "is_significant",
    "low_recall_outliers",
    "mcnemar_exact",
    "paired_bootstrap_drop",
    "wilson_ci",
]

#: Upper bound on the number of resampled indices held in memory at once by the bootstrap
#: (``chunk * N``); 2**22 int32 indices = 16 MiB.
_MAX_INDICES_PER_CHUNK = 1 << 22


def _paired_bool(correct_ref: np.ndarray, correct_var: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref = np.asarray(correct_ref)
    var = np.asarray(correct_var)
    if ref.ndim != 1 or var.ndim != 1:
        raise ValueError(f"correctness vectors must be 1-D [N], got shapes {ref.shape} and {var.shape}")
    if ref.shape != var.shape:
        raise ValueError(
            f"correctness vectors must be paired (same clips, same order): lengths {ref.shape[0]} vs {var.shape[0]}"
        )
    if ref.shape[0] == 0:
        raise ValueError("correctness vectors are empty (N = 0)")
    for name, v in (("correct_ref", ref), ("correct_var", var)):
        if v.dtype != np.bool_:
            if not np.all((v == 0) | (v == 1)):
                raise ValueError(f"{name} must be boolean (or 0/1), got dtype {v.dtype} with other values")
    return ref.astype(bool, copy=False), var.astype(bool, copy=False)


def paired_bootstrap_drop(
    correct_ref: np.ndarray,
    correct_var: np.ndarray,
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float, float]:
    """Accuracy drop of a variant vs the reference, with a paired percentile bootstrap CI.

    Clips are resampled with replacement (the same resampled clip set for both models: the pairing is
    kept), the drop is recomputed on each of ``n_boot`` resamples, and the CI is the
    ``[alpha/2, 1 - alpha/2]`` percentile interval of those drops (Efron & Tibshirani 1993, ch. 13).
    The work is vectorised: resampled indices are drawn in chunks of at most ``2**22`` indices so memory
    stays bounded (16 MiB) for any ``N`` and ``n_boot``.

    Args:
        correct_ref: ``bool [N]``, per clip: the reference (fp32) prediction was right.
        correct_var: ``bool [N]``, per clip: the variant's prediction was right (same clips, same order).
        n_boot: number of bootstrap resamples (>= 1).
        seed: seed of ``numpy.random.default_rng``; the result is a deterministic function of
            (inputs, ``n_boot``, ``seed``, ``alpha``).
        alpha: 1 - confidence level (0.05 -> 95 % CI).

    Returns:
        ``(drop_pp, lo_pp, hi_pp)`` as Python floats in percentage points:
        ``drop_pp = 100 * (mean(correct_ref) - mean(correct_var))`` (positive = variant worse) and the
        percentile CI bounds. Identical inputs give ``(0.0, 0.0, 0.0)``.

    Raises:
        ValueError: vectors not 1-D, of different length, empty or not boolean/0-1; ``n_boot < 1``;
            ``alpha`` not in (0, 1).
    """
    ref, var = _paired_bool(correct_ref, correct_var)
    if int(n_boot) < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    n_boot = int(n_boot)
    n = ref.shape[0]
    # Per-clip paired difference in {-1, 0, +1}; the drop is 100 * its mean.
    diff = ref.astype(np.int8) - var.astype(np.int8)
    drop = 100.0 * float(diff.mean())
    if not diff.any():
        return drop, 0.0, 0.0
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_boot, _MAX_INDICES_PER_CHUNK // n))
    boot = np.empty(n_boot, dtype=np.float64)
    done = 0
    while done < n_boot:
        m = min(chunk, n_boot - done)
        idx = rng.integers(0, n, size=(m, n), dtype=np.int32 if n < 2**31 else np.int64)
        boot[done : done + m] = diff[idx].sum(axis=1, dtype=np.int64) * (100.0 / n)
        done += m
    lo, hi = np.percentile(boot, [100.0 * alpha / 2.0, 100.0 * (1.0 - alpha / 2.0)])
    return drop, float(lo), float(hi)


def discordant_counts(correct_ref: np.ndarray, correct_var: np.ndarray) -> tuple[int, int]:
    """Discordant pair counts of a paired comparison.

    Args:
        correct_ref: ``bool [N]`` reference correct per clip.
        correct_var: ``bool [N]`` variant correct per clip.

    Returns:
        ``(b, c)``: ``b`` = clips the reference got right and the variant got wrong (the variant's
        losses), ``c`` = clips the reference got wrong and the variant got right (its gains).

    Raises:
        ValueError: as :func:`paired_bootstrap_drop`.
    """
    ref, var = _paired_bool(correct_ref, correct_var)
    return int(np.count_nonzero(ref & ~var)), int(np.count_nonzero(~ref & var))


def mcnemar_exact(correct_ref: np.ndarray, correct_var: np.ndarray) -> float:
    """Exact two-sided McNemar test that the two models have the same accuracy on these clips.

    Under H0 each discordant clip is equally likely to favour either model, so conditional on
    ``n = b + c`` discordant pairs, ``b ~ Binomial(n, 1/2)`` (McNemar 1947; exact conditional form:
    Edwards 1948). The two-sided p-value is ``scipy.stats.binomtest(b, n, 0.5).pvalue``, which for
    p = 1/2 equals ``min(1, 2 * P[X <= min(b, c)])``, X ~ Binomial(n, 1/2).

    Args:
        correct_ref: ``bool [N]`` reference correct per clip.
        correct_var: ``bool [N]`` variant correct per clip (same clips, same order).

    Returns:
        The p-value in [0, 1]; ``1.0`` when there are no discordant pairs (the models agree on every clip
        in correctness, so there is no evidence of a difference).

    Raises:
        ValueError: as :func:`paired_bootstrap_drop`.
    """
    from scipy.stats import binomtest

    b, c = discordant_counts(correct_ref, correct_var)
    if b + c == 0:
        return 1.0
    return float(min(1.0, binomtest(b, b + c, 0.5, alternative="two-sided").pvalue))


def wilson_ci(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score confidence interval for a single proportion (e.g. one model's accuracy).

    ``(p + z^2/2n -/+ z * sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)`` with ``p = k/n`` and
    ``z = Phi^-1(1 - alpha/2)`` (Wilson 1927; recommended over the Wald interval by Brown, Cai &
    DasGupta 2001, "Interval estimation for a binomial proportion", *Statistical Science* 16(2)).

    Args:
        k: number of successes (correct clips), ``0 <= k <= n``.
        n: number of trials (clips), ``n >= 1``.
        alpha: 1 - confidence level.

    Returns:
        ``(lo, hi)`` as fractions in [0, 1].

    Raises:
        ValueError: ``n < 1``, ``k`` outside ``[0, n]`` or ``alpha`` not in (0, 1).
    """
    k, n = int(k), int(n)
    if n < 1:
        raise ValueError(f"wilson_ci needs n >= 1, got {n}")
    if not 0 <= k <= n:
        raise ValueError(f"wilson_ci needs 0 <= k <= n, got k={k}, n={n}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    z = NormalDist().inv_cdf(1.0 - alpha / 2.0)
    p = k / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denom
    half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denom
    lo = 0.0 if k == 0 else max(0.0, centre - half)  # exact bounds at the edges (avoid 1 - 1e-16)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return lo, hi


def is_significant(lo: float, hi: float) -> bool:
    """Whether a CI of a difference excludes 0 (the difference is distinguishable from noise).

    Args:
        lo: lower CI bound (e.g. pp).
        hi: upper CI bound, same unit.

    Returns:
        ``True`` when ``lo > 0`` or ``hi < 0``; ``False`` when the interval contains 0 (including the
        degenerate ``(0, 0)`` of identical predictions).

    Raises:
        ValueError: ``lo > hi`` or a bound is NaN.
    """
    lo, hi = float(lo), float(hi)
    if math.isnan(lo) or math.isnan(hi) or lo > hi:
        raise ValueError(f"invalid interval [{lo}, {hi}]")
    return lo > 0.0 or hi < 0.0


def describe_drop(drop: float, lo: float, hi: float, unit: str = "pp") -> str:
    """Human phrase for an accuracy drop and its CI.

    Args:
        drop: point estimate (pp, positive = worse).
        lo: lower CI bound (pp).
        hi: upper CI bound (pp).
        unit: unit printed after numbers.

    Returns:
        e.g. ``"within noise (CI spans 0)"``, ``"no difference (no discordant clips)"``,
        ``"significantly worse: +1.20 pp (95% CI +0.40 to +2.00)"`` or ``"significantly better: ..."``.

    Raises:
        ValueError: invalid interval (see :func:`is_significant`).
    """
    if lo == 0.0 and hi == 0.0 and drop == 0.0:
        return "no difference (no discordant clips)"
    if not is_significant(lo, hi):
        return "within noise (CI spans 0)"
    word = "worse" if lo > 0 else "better"
    return f"significantly {word}: {drop:+.2f} {unit} (95% CI {lo:+.2f} to {hi:+.2f})"


from voxquant.eval.rules import budget_verdict  # noqa: E402,F401  (re-exported; defined with the other verdicts)


#: Modified z-score threshold of Iglewicz & Hoaglin (1993) for an outlier.
OUTLIER_Z = 3.5
#: Smallest gap below the median (pp) flagged as an outlier: with ~100 clips per class one clip is ~1 pp, so
#: smaller gaps are within the noise of a per-class recall even when all classes sit tightly together.
OUTLIER_MIN_GAP_PP = 5.0


def low_recall_outliers(recalls: dict, z: float = OUTLIER_Z, min_gap_pp: float = OUTLIER_MIN_GAP_PP) -> dict:
    """Classes whose recall is an outlier *below* the other classes' recalls.

    Rule (documented in the report): with ``m`` the median and ``MAD`` the median absolute deviation of the
    recalls (in percent), a class is flagged when ``recall < m - max(min_gap_pp, z * MAD / 0.6745)``, i.e. its
    modified z-score ``0.6745 * (recall - m) / MAD`` is below ``-z`` (Iglewicz & Hoaglin 1993, *How to Detect and
    Handle Outliers*, ASQC, ch. 3; ``z = 3.5`` is their recommendation) and it is at least ``min_gap_pp`` points
    below the median. Example: recalls 96-99 % and one class at 41 %: that class is flagged.

    Args:
        recalls: ``{class: recall}`` with recalls as fractions in [0, 1]; ``None`` values are ignored.
        z: modified z-score threshold.
        min_gap_pp: smallest gap below the median in percentage points.

    Returns:
        ``{class: {"recall": float, "median": float, "threshold": float}}`` (fractions) for the flagged classes;
        empty with fewer than 3 classes.
    """
    vals = {k: float(v) for k, v in recalls.items() if v is not None and math.isfinite(float(v))}
    if len(vals) < 3:
        return {}
    pct = np.array([100.0 * v for v in vals.values()])
    m = float(np.median(pct))
    mad = float(np.median(np.abs(pct - m)))
    thr = m - max(min_gap_pp, z * mad / 0.6745)
    return {k: {"recall": v, "median": m / 100.0, "threshold": thr / 100.0} for k, v in vals.items() if 100.0 * v < thr}
