"""Tests of report.html rendering (self-contained page with figures and tables)."""

from __future__ import annotations

import base64
import copy
import html
import re
import subprocess
import sys

import pytest

from voxquant.report import html as html_mod
from voxquant.report.html import figure_confusions, figure_pareto, figure_slice_drops, pareto_front, write_html
from voxquant.report.results import recommend


@pytest.fixture(scope="module")
def page(results, tmp_path_factory):
    """The one full render with real figures (rendering PNGs takes seconds, so the other tests stub them)."""
    path = write_html(results, tmp_path_factory.mktemp("rep") / "out" / "report.html")
    return path.read_text(encoding="utf-8")


@pytest.fixture
def no_figures(monkeypatch):
    """Replace PNG rendering by a placeholder (figures are checked once, in ``page``)."""
    monkeypatch.setattr(html_mod, "_fig_to_img",
                        lambda fig, alt, caption=None, width=None: {"src": "data:,", "alt": alt, "caption": caption})
    for name in ("figure_pareto", "figure_slice_drops", "figure_confusions"):
        monkeypatch.setattr(html_mod, name, lambda *a, **k: object())


def test_self_contained_with_images(page):
    imgs = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(imgs) == 3  # Pareto, slice drops, confusion matrices
    for b64 in imgs:
        assert base64.b64decode(b64)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<script" not in page.lower()
    assert not re.search(r'(src|href)="(https?:)?//', page)  # no external resources
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")


def test_tables_and_content(page, results):
    assert page.count("<table>") >= 5  # variants, latency by threads, drop matrix, per-slice, per-class, ...
    for v in results["variants"]:
        assert html.escape(v["name"]) in page
    assert "WARNING: slower than fp32" in page  # int8_dynamic is simulated 9x slower
    assert html.escape(recommend(results, 1.0)["text"]) in page
    for lab in results["labels"]:
        assert html.escape(lab) in page
    assert "within noise" in page.lower()
    assert "McNemar" in page and "FRR" in page and "FAR" in page
    assert results["machine"]["cpu_model"] in html.unescape(page)
    assert results["versions"]["packages"]["numpy"] in page
    # every p-value of the results shows up in the per-slice table (formatted)
    from voxquant.report.format import fmt_ci

    for v in results["variants"]:
        for s in v["slices"]:
            if v["name"] != results["reference"]:
                assert fmt_ci(s["ci95"]) in page


def test_drop_colours_follow_budget(results, tmp_path, no_figures):
    strict = tmp_path / "a.html"
    write_html(results, strict, max_drop=0.0)
    loose = tmp_path / "b.html"
    write_html(results, loose, max_drop=100.0)
    s, lo = strict.read_text(), loose.read_text()
    assert '<td class="bad"' in s
    assert '<td class="bad"' not in lo.split('id="slices"')[1].split('id="confusion"')[0]


def test_extra_sections_rendered_at_end(results, tmp_path, no_figures):
    from voxquant.report.sections import figure, list_block, section, table, text, warning

    r = copy.deepcopy(results)
    r["sections"] = [section("Backends & co", [
        text("Kernels & **bold** with `code`: p < 0.05"),
        table(["variant", "acc %"], [["int8 a<b", "91.20"], ["fp32", None]], highlight=[[0, 1], [1, -1]],
              caption="caption here"),
        list_block(["one", "two"]), warning("careful"), figure("no_such_figure", {"a": 1}),
    ])]
    text_ = write_html(r, tmp_path / "r.html").read_text()
    extra = text_.split('id="extra-0"')[1]
    assert text_.index('id="extra-0"') > text_.index('id="provenance"')
    assert "Backends &amp; co" in text_  # title escaped (nav and heading)
    assert "Kernels &amp; <b>bold</b> with <code>code</code>: p &lt; 0.05" in extra
    assert "int8 a&lt;b" in extra and '<td class=" hl">91.20</td>' in extra and '<tr class="hl">' in extra
    assert "<li>one</li><li>two</li>" in extra and "careful" in extra and "caption here" in extra
    assert "no_such_figure" in extra and "cannot be drawn" in extra


def test_legacy_html_section_still_rendered(results, tmp_path, no_figures):
    r = copy.deepcopy(results)
    r["sections"] = [{"title": "Int8 kernel check", "html": "<p id='extra-marker'>hello</p>"}]
    text = write_html(r, tmp_path / "r.html").read_text()
    assert "<p id='extra-marker'>hello</p>" in text


def test_markup_in_section_rejected(results, tmp_path, no_figures):
    r = copy.deepcopy(results)
    r["sections"] = [{"title": "x", "blocks": [{"kind": "text", "text": "<b>no</b>"}]}]
    with pytest.raises(ValueError, match=r"sections\[0\].*markup"):
        write_html(r, tmp_path / "r.html")


def test_figure_block_drawn_from_data(results, tmp_path):
    from voxquant.quant.sensitivity import sensitivity_blocks
    from voxquant.report.sections import section

    row = {"_worst": 1.0, "_worst_slice": "clean", "_mean": 0.5, "_kl": 0.01}
    table = {"layers": [{"node": "n1", "op": "Conv", "layer": "stem.0", "exclude": row, "only": row}],
             "int8": row, "slices": ["clean"], "n": 10}
    r = copy.deepcopy(results)
    r["sections"] = [section("Per-layer sensitivity", sensitivity_blocks(table, None))]
    extra = write_html(r, tmp_path / "r.html").read_text().split('id="extra-0"')[1]
    imgs = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', extra)
    assert len(imgs) == 1 and base64.b64decode(imgs[0])[:8] == b"\x89PNG\r\n\x1a\n"


def test_outlier_class_highlighted(results, tmp_path, no_figures):
    r = copy.deepcopy(results)
    v = next(v for v in r["variants"] if v["name"] == "int8_static_minmax")
    for lab, e in v["per_class"].items():
        e["frr"] = 0.02 + 0.002 * r["labels"].index(lab)  # recalls 95.8-98 %
        e["recall"] = 1 - e["frr"]
    v["per_class"]["up"]["frr"], v["per_class"]["up"]["recall"] = 0.59, 0.41
    page = write_html(r, tmp_path / "r.html").read_text()
    classes = page.split('id="classes"')[1].split("</section>")[0]
    assert classes.count('class="outlier"') == 1
    assert "int8_static_minmax: class up has recall 41.0 %" in classes and "OUTLIER" in classes
    assert "modified z-score" in classes  # the rule is stated
    row = next(tr for tr in classes.split("<tr>") if tr.startswith('<td class="l">up</td>'))
    assert '<td class="outlier" title="outlier: recall 41.0 %' in row


def test_no_qualifying_variant_and_missing_latency(results, tmp_path, no_figures, monkeypatch):
    monkeypatch.setattr(html_mod, "figure_pareto", figure_pareto)  # the real one: it must decline to draw
    r = copy.deepcopy(results)
    for v in r["variants"]:
        if v["latency_ms"]:
            for k in ("p50", "p95", "model_p50"):
                v["latency_ms"][k] = None
            v["latency_ms"].pop("by_threads")
    text = write_html(r, tmp_path / "r.html").read_text()
    assert "No variant qualifies" in text
    assert "no Pareto plot" in text


def test_invalid_results_rejected(results, tmp_path, no_figures):
    r = copy.deepcopy(results)
    del r["variants"][0]["slices"]
    with pytest.raises(ValueError, match=r"variants\[0\]\.slices"):
        write_html(r, tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def test_pareto_front():
    pts = [(1.0, 90.0), (2.0, 95.0), (1.5, 89.0), (3.0, 94.0), (0.5, 80.0), (2.0, 96.0)]
    # brute force: a point is on the front if no other point is at least as good in both and better in one
    expect = [
        i for i, (x, y) in enumerate(pts)
        if not any((x2 <= x and y2 >= y) and (x2 < x or y2 > y) for j, (x2, y2) in enumerate(pts) if j != i)
    ]  # fmt: skip
    assert sorted(pareto_front(pts)) == sorted(expect)


def test_figures_draw_every_variant(results):
    fig = figure_pareto(results)
    names = {t.get_text().split(",")[0] for t in fig.axes[0].texts}
    assert names == {v["name"] for v in results["variants"] if v["status"] == "ok"}
    drops = figure_slice_drops(results)
    assert [ax.get_title(loc="left") for ax in drops.axes] == [
        v["name"] for v in results["variants"] if v["status"] == "ok" and v["name"] != results["reference"]
    ]
    conf = figure_confusions(results)
    titles = [ax.get_title() for ax in conf.axes if ax.get_visible() and ax.get_title()]
    assert len(titles) == sum(v["status"] == "ok" for v in results["variants"])
    assert titles[0].startswith(results["reference"])


def test_package_import_is_light():
    code = "import sys, voxquant.report, voxquant.eval; print('matplotlib' in sys.modules, 'rich' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


@pytest.mark.parametrize("keep", ["fp32_only", "no_reference"])
def test_degenerate_matrices_render(results, tmp_path, no_figures, keep):
    from voxquant.report.results import build_results

    r = copy.deepcopy(results)
    if keep == "fp32_only":
        vs = [v for v in r["variants"] if v["name"] == "fp32"]
    else:
        vs = [v for v in r["variants"] if v["precision"] != "fp32"]
        for v in vs:
            v.pop("slower_than_fp32"), v.pop("speedup_vs_fp32")
    meta = {k: r[k] for k in ("config", "seed", "versions", "machine")}
    text = write_html(build_results(meta, vs), tmp_path / "r.html").read_text()
    assert "</html>" in text
    if keep == "fp32_only":
        assert "Keep fp32" in text and "No per-slice results" in text


def test_metadata_and_latency_error_shown(results, tmp_path, no_figures):
    r = copy.deepcopy(results)
    r["dataset"] = {"name": "speech_commands_v0.02_test", "split": "eval", "n_clips": 2445}
    r["variants"][1]["latency_ms"] = None
    r["variants"][1]["latency_error"] = "timing subprocess crashed"
    text = write_html(r, tmp_path / "r.html").read_text()
    assert "speech_commands_v0.02_test, eval, 2445 clips" in text
    assert "latency: timing subprocess crashed" in text
