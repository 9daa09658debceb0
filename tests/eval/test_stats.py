"""Tests of voxquant.eval.stats; expected values are derived here from first principles."""

from __future__ import annotations

import math

import numpy as np
import pytest

from voxquant.eval import stats
from voxquant.eval.stats import (
    budget_verdict,
    describe_drop,
    discordant_counts,
    is_significant,
    mcnemar_exact,
    paired_bootstrap_drop,
    wilson_ci,
)


def _paired(b: int, c: int, both_right: int, both_wrong: int, seed: int = 0):
    """Correctness vectors with exactly b (ref right, var wrong) and c (ref wrong, var right) pairs."""
    ref = np.array([1] * b + [0] * c + [1] * both_right + [0] * both_wrong, dtype=bool)
    var = np.array([0] * b + [1] * c + [1] * both_right + [0] * both_wrong, dtype=bool)
    perm = np.random.default_rng(seed).permutation(ref.size)
    return ref[perm], var[perm]


def _exact_two_sided(b: int, c: int) -> float:
    n = b + c
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


def test_mcnemar_hand_value_10_2():
    ref, var = _paired(10, 2, 50, 5)
    assert discordant_counts(ref, var) == (10, 2)
    expected = 2 * (math.comb(12, 0) + math.comb(12, 1) + math.comb(12, 2)) / 2**12  # = 2 * binom.cdf(2, 12, .5)
    assert mcnemar_exact(ref, var) == pytest.approx(expected, rel=1e-12)
    from scipy.stats import binom

    assert expected == pytest.approx(2 * binom.cdf(2, 12, 0.5))


@pytest.mark.parametrize("b,c", [(0, 5), (3, 3), (7, 1), (1, 30), (25, 40), (0, 1)])
def test_mcnemar_matches_exact_binomial(b, c):
    ref, var = _paired(b, c, 20, 3)
    p = mcnemar_exact(ref, var)
    assert p == pytest.approx(_exact_two_sided(b, c), rel=1e-9)
    assert mcnemar_exact(var, ref) == pytest.approx(p)  # symmetric
    if b == c:
        assert p == 1.0


def test_mcnemar_no_discordant_pairs():
    ref, var = _paired(0, 0, 40, 10)
    assert mcnemar_exact(ref, var) == 1.0


def test_bootstrap_identical_inputs():
    ref, _ = _paired(0, 0, 90, 10)
    assert paired_bootstrap_drop(ref, ref.copy()) == (0.0, 0.0, 0.0)


def test_bootstrap_point_estimate_sign_and_ci_contains_it():
    ref, var = _paired(30, 10, 400, 60)
    n = ref.size
    drop, lo, hi = paired_bootstrap_drop(ref, var, n_boot=1000, seed=3)
    assert drop == pytest.approx(100 * (30 - 10) / n)  # variant worse -> positive
    assert lo <= drop <= hi
    d2, lo2, hi2 = paired_bootstrap_drop(var, ref, n_boot=1000, seed=3)
    assert d2 == pytest.approx(-drop)
    assert lo2 <= d2 <= hi2


def test_bootstrap_width_close_to_normal_approximation():
    ref, var = _paired(40, 15, 800, 145)
    n = ref.size
    d = ref.astype(float) - var.astype(float)
    se_pp = 100 * d.std(ddof=0) / math.sqrt(n)
    _, lo, hi = paired_bootstrap_drop(ref, var, n_boot=4000, seed=0)
    assert (hi - lo) / 2 == pytest.approx(1.959964 * se_pp, rel=0.15)


def test_bootstrap_ci_shrinks_with_n():
    ref, var = _paired(12, 4, 150, 34)
    big_ref, big_var = np.tile(ref, 16), np.tile(var, 16)
    d1, lo1, hi1 = paired_bootstrap_drop(ref, var, n_boot=1000, seed=1)
    d16, lo16, hi16 = paired_bootstrap_drop(big_ref, big_var, n_boot=1000, seed=1)
    assert d16 == pytest.approx(d1)
    # the standard error scales with 1/sqrt(N): 16x the clips -> about 1/4 the width
    assert (hi16 - lo16) < 0.4 * (hi1 - lo1)


def test_bootstrap_seeded_determinism():
    ref, var = _paired(20, 9, 300, 40)
    a = paired_bootstrap_drop(ref, var, n_boot=500, seed=7)
    b = paired_bootstrap_drop(ref, var, n_boot=500, seed=7)
    c = paired_bootstrap_drop(ref, var, n_boot=500, seed=8)
    assert a == b
    assert a[0] == c[0] and (a[1], a[2]) != (c[1], c[2])


def test_bootstrap_chunked_path(monkeypatch):
    ref, var = _paired(20, 9, 300, 40)
    full = paired_bootstrap_drop(ref, var, n_boot=600, seed=2)
    monkeypatch.setattr(stats, "_MAX_INDICES_PER_CHUNK", ref.size * 7)  # 7 resamples per chunk
    chunked = paired_bootstrap_drop(ref, var, n_boot=600, seed=2)
    assert chunked[0] == full[0]
    assert chunked[1] <= chunked[0] <= chunked[2]
    # same distribution, different random stream: the bounds agree to Monte-Carlo precision
    assert chunked[1] == pytest.approx(full[1], abs=1.0) and chunked[2] == pytest.approx(full[2], abs=1.0)


def test_bootstrap_alpha_widens_interval():
    ref, var = _paired(20, 9, 300, 40)
    _, lo95, hi95 = paired_bootstrap_drop(ref, var, n_boot=2000, seed=0, alpha=0.05)
    _, lo80, hi80 = paired_bootstrap_drop(ref, var, n_boot=2000, seed=0, alpha=0.20)
    assert lo95 <= lo80 and hi80 <= hi95


@pytest.mark.parametrize(
    "ref,var,kw",
    [
        (np.ones(3, bool), np.ones(4, bool), {}),
        (np.ones(0, bool), np.ones(0, bool), {}),
        (np.array([0, 2]), np.array([1, 1]), {}),
        (np.ones((2, 2), bool), np.ones((2, 2), bool), {}),
        (np.ones(3, bool), np.ones(3, bool), {"n_boot": 0}),
        (np.ones(3, bool), np.ones(3, bool), {"alpha": 1.5}),
    ],
)
def test_bootstrap_bad_inputs(ref, var, kw):
    with pytest.raises(ValueError):
        paired_bootstrap_drop(ref, var, **kw)


def test_accepts_int_01_vectors():
    ref, var = _paired(5, 2, 30, 3)
    assert paired_bootstrap_drop(ref.astype(int), var.astype(np.int8), n_boot=100) == paired_bootstrap_drop(
        ref, var, n_boot=100
    )


@pytest.mark.parametrize("k,n", [(0, 10), (3, 10), (10, 10), (912, 1000), (1, 2445)])
def test_wilson_solves_the_score_equation(k, n):
    z = 1.959963984540054
    lo, hi = wilson_ci(k, n)
    p = k / n
    assert 0 <= lo <= p <= hi <= 1
    # Wilson bounds are the p0 with |p - p0| = z * sqrt(p0 (1 - p0) / n)
    for p0 in (lo, hi):
        if 0 < p0 < 1:
            assert abs(p - p0) == pytest.approx(z * math.sqrt(p0 * (1 - p0) / n), rel=1e-9)
    lo2, hi2 = wilson_ci(n - k, n)  # symmetry
    assert lo2 == pytest.approx(1 - hi) and hi2 == pytest.approx(1 - lo)


def test_wilson_bad_inputs():
    for k, n in [(1, 0), (-1, 5), (6, 5)]:
        with pytest.raises(ValueError):
            wilson_ci(k, n)


def test_significance_phrases_and_verdicts():
    assert not is_significant(-0.2, 0.5)
    assert is_significant(0.1, 0.9) and is_significant(-0.9, -0.1)
    assert not is_significant(0.0, 0.0)
    assert describe_drop(0.1, -0.2, 0.5) == "within noise (CI spans 0)"
    assert describe_drop(0.5, 0.1, 0.9).startswith("significantly worse")
    assert describe_drop(-0.5, -0.9, -0.1).startswith("significantly better")
    assert "no difference" in describe_drop(0.0, 0.0, 0.0)
    assert budget_verdict(-0.3, 0.8, 1.0) == "within"
    assert budget_verdict(0.2, 1.6, 1.0) == "uncertain"
    assert budget_verdict(1.2, 2.0, 1.0) == "exceeds"
    with pytest.raises(ValueError):
        is_significant(1.0, 0.0)
