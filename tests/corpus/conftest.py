"""Fixtures of the bad-input corpus: the tripwire (no work may start), the outcome tally and its summary.

The summary (``pytest_terminal_summary``) prints, after a run that collected corpus cases: the number of cases, the
cases by kind and entry, and the outcomes (clear errors, documented successes, tracebacks, silent successes,
unclear errors, work started) of the cases expected to pass and of those marked xfail.
"""

from __future__ import annotations

import importlib
import sys
from collections import Counter

import pytest
from corpus_builders import WorkStarted

#: case id -> {"kind", "entry", "expect", "outcome", "xfail"}; filled by :func:`tally`.
OUTCOMES: dict[str, dict] = {}



#: (module, function): the first real work of each entry point (waves decoded, matrix run, artefact built,
#: latency timed, model trained).
TRIPWIRES = [("voxquant.data.datasets", "load_waves"), ("voxquant.engine", "run_matrix"),
             ("voxquant.engine", "build_artifact"), ("voxquant.eval.latency", "measure_latency"),
             ("voxquant.models.train", "train_model")]


@pytest.fixture
def tripwire(monkeypatch):
    """Replace every reference (in any loaded ``voxquant`` module) to the functions of :data:`TRIPWIRES` by one
    that raises :class:`WorkStarted`."""
    originals = {}
    for mod, name in TRIPWIRES:
        originals[id(getattr(importlib.import_module(mod), name))] = f"{mod}.{name}"

    def trip(what):
        def f(*a, **k):
            raise WorkStarted(what)
        return f

    for mname, m in list(sys.modules.items()):
        if not mname.startswith("voxquant") or m is None:
            continue
        for attr, val in list(vars(m).items()):
            if callable(val) and id(val) in originals:
                monkeypatch.setattr(m, attr, trip(originals[id(val)]))


@pytest.fixture
def tally():
    """``tally(case, outcome)`` records one case's outcome for the summary."""
    def record(case, outcome):
        OUTCOMES[case.id] = {"kind": case.kind, "entry": case.entry, "expect": case.expect, "outcome": outcome,
                             "xfail": bool(case.xfail)}
    return record


def pytest_terminal_summary(terminalreporter):
    if not OUTCOMES:
        return
    tr = terminalreporter
    rows = list(OUTCOMES.values())
    tr.section("bad-input corpus")
    tr.write_line(f"{len(rows)} cases run")
    by_kind = Counter(r["kind"] for r in rows)
    tr.write_line("by kind: " + ", ".join(f"{k} {n}" for k, n in sorted(by_kind.items())))
    by_entry = Counter(r["entry"] for r in rows)
    tr.write_line("by entry point: " + ", ".join(f"{k} {n}" for k, n in sorted(by_entry.items())))
    names = ["clear-error", "documented-success", "traceback", "silent-success", "unclear-error", "work-started",
             "unexpected-error"]
    for label, sel in (("expected to pass", [r for r in rows if not r["xfail"]]),
                       ("marked xfail", [r for r in rows if r["xfail"]])):
        c = Counter(r["outcome"] for r in sel)
        tr.write_line(f"{label} ({len(sel)}): " + ", ".join(f"{c.get(n, 0)} {n}" for n in names))
    for kind in sorted(by_kind):
        c = Counter(r["outcome"] for r in rows if r["kind"] == kind)
        tr.write_line(f"  {kind:7s} " + ", ".join(f"{n} {c[n]}" for n in names if c.get(n)))
