"""The engine's verdicts are defined once (voxquant.eval.rules) and every table uses them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from voxquant.eval.rules import NOISE_MARGIN, faster_than_reference, slower_than_reference, within_budget

SRC = Path(__file__).resolve().parents[2] / "src" / "voxquant"


def test_within_budget_uses_the_upper_ci_bound():
    assert within_budget(0.99, 1.0) and within_budget(1.0, 1.0)
    assert not within_budget(1.01, 1.0)
    assert not within_budget(None, 1.0) and not within_budget(float("nan"), 1.0)


def test_slower_and_faster_use_the_noise_margin():
    assert NOISE_MARGIN > 1.0
    assert slower_than_reference(1.0, 1.0) is False  # equal is not slower
    assert slower_than_reference(1.0 * NOISE_MARGIN * 0.999, 1.0) is False  # within noise
    assert slower_than_reference(1.0 * NOISE_MARGIN * 1.001, 1.0) is True
    assert slower_than_reference(None, 1.0) is None
    assert faster_than_reference(1.0 / NOISE_MARGIN, 1.0) and not faster_than_reference(0.95, 1.0)


def _comparisons_with(name: str) -> list[str]:
    """Every ``<``/``>`` comparison in the package that has ``name`` (a variable or attribute) on one side."""
    found = []
    for f in SRC.rglob("*.py"):
        if f.name == "rules.py" and f.parent.name == "eval":
            continue
        tree = ast.parse(f.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare) and any(isinstance(o, (ast.Lt, ast.LtE, ast.Gt, ast.GtE)) for o in node.ops):
                sides = [node.left, *node.comparators]
                names = {getattr(s, "id", None) or getattr(s, "attr", None) for s in sides}
                if name in names:
                    found.append(f"{f.relative_to(SRC)}:{node.lineno}")
    return found


def test_no_other_budget_or_slower_rule_in_the_package():
    """Only the mixed-precision *search* compares a dev drop with its budget (its stopping criterion, on point
    estimates over dev, documented in quant/mixed.py); no table, report or command has its own verdict."""
    budget = [c for c in _comparisons_with("max_drop") if not c.startswith("quant/mixed.py")]
    assert budget == [], budget
    for name in ("ref_p50", "ref_model_p50", "ref_speed", "fp32_p50", "ref_p50_ms", "MIN_SPEEDUP", "min_speedup"):
        assert _comparisons_with(name) == [], name


@pytest.mark.parametrize("lo,hi,want", [(-1.0, 0.5, "within"), (1.5, 2.0, "exceeds"), (0.5, 1.5, "uncertain")])
def test_budget_verdict_agrees(lo, hi, want):
    from voxquant.eval.stats import budget_verdict

    assert budget_verdict(lo, hi, 1.0) == want
    assert (want == "within") == within_budget(hi, 1.0)
