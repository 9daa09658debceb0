"""Tests of the terminal summary table and the CSV export."""

from __future__ import annotations

import csv

import pytest
from rich.console import Console

from voxquant.report.format import fmt_acc, fmt_ms
from voxquant.report.table import CSV_COLUMNS, print_summary, write_csv


def test_print_summary(results):
    console = Console(record=True, width=220, color_system=None)
    print_summary(results, console=console)
    text = console.export_text()
    for v in results["variants"]:
        assert v["name"] in text
        if v["status"] == "ok":
            assert fmt_acc(v["accuracy"]) in text
            assert fmt_ms(v["latency_ms"]["p50"]) in text
    assert "SLOWER" in text and "WARNING" in text
    assert "failed" in text and "calibration produced NaN scales" in text
    assert "Recommendation:" in text


def test_write_csv(results, tmp_path):
    path = write_csv(results, tmp_path / "results.csv")
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0].keys()) == CSV_COLUMNS
    assert len(rows) == sum(max(1, len(v["slices"])) for v in results["variants"])
    by = {(r["variant"], r["slice"]): r for r in rows}
    for v in results["variants"]:
        for s in v["slices"]:
            r = by[(v["name"], s["name"])]
            assert float(r["drop_pp"]) == pytest.approx(s["drop"])
            assert float(r["ci95_lo_pp"]) == pytest.approx(s["ci95"][0])
            assert float(r["p_value"]) == pytest.approx(s["p_value"])
            assert int(r["slice_n"]) == s["n"]
            assert r["slower_than_fp32"] == str(v["slower_than_fp32"]).lower()
    failed = by[("int8_static_percentile", "")]
    assert failed["status"] == "failed" and failed["accuracy"] == ""


def test_fits_80_columns(results):
    console = Console(record=True, width=80, color_system=None)
    print_summary(results, console=console)
    text = console.export_text()
    table = text.split("Recommendation:")[0]
    assert max(len(line) for line in table.splitlines()) <= 80
    for v in results["variants"]:  # names are not cut
        assert v["name"] in text.replace("\n", "")


def test_markdown_when_not_a_terminal(results, capsys):
    """stdout is a pipe under pytest: the summary is a full Markdown table, no line cut to 80 columns."""
    print_summary(results)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("| variant | status |") and set(lines[1]) <= set("|-: ")
    rows = [l for l in lines[2:] if l.startswith("| ")]
    assert [r.split(" | ")[0][2:] for r in rows] == [v["name"] for v in results["variants"]]
    assert all(r.count(" | ") == lines[0].count(" | ") for r in rows)  # every row has every column
    assert max(len(l) for l in lines) > 80  # the full table, with the worst-slice column, was not squeezed
    for v in results["variants"]:
        ws = v.get("worst_slice") or {}
        if ws.get("name") and v["name"] != results["reference"]:
            assert ws["name"] in out
    assert "Recommendation:" in out and "WARNING: slower than fp32" in out and "\x1b[" not in out
