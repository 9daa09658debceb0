"""Report sections are data: schema validation, the no-markup rule, and a results.json free of markup."""

from __future__ import annotations

import json

import pytest

from voxquant.eval.stats import low_recall_outliers
from voxquant.report import find_markup, load_results, write_json_atomic
from voxquant.report.sections import SectionError, section, table, text, validate_section


@pytest.mark.parametrize("bad, where", [
    ({"title": "t", "blocks": [{"kind": "text", "text": "<p>x</p>"}]}, "markup"),
    ({"title": "t", "blocks": [{"kind": "text", "text": "a &amp; b"}]}, "markup"),
    ({"title": "<i>t</i>", "blocks": []}, "markup"),
    ({"title": "t", "blocks": [{"kind": "table", "columns": ["a"], "rows": [["<td>"]]}]}, "markup"),
    ({"title": "t", "blocks": [{"kind": "table", "columns": ["a"], "rows": [[1, 2]]}]}, "2 cells"),
    ({"title": "t", "blocks": [{"kind": "table", "columns": ["a"], "rows": [[1]], "highlight": [[3, 0]]}]}, "outside"),
    ({"title": "t", "blocks": [{"kind": "video"}]}, "video"),
    ({"title": "t", "blocks": [{"kind": "text", "text": "x", "html": "<b>"}]}, "html"),
])  # fmt: skip
def test_bad_sections_rejected(bad, where):
    with pytest.raises(SectionError, match=where):
        validate_section(bad)


def test_plain_comparisons_are_not_markup():
    s = section("t", [text("p < 0.05 and a<b, x > y"), table(["a"], [["<= 3"]])])
    assert find_markup(s) == []


def test_low_recall_outliers_rule():
    rec = {f"c{i}": 0.96 + 0.003 * i for i in range(11)}
    assert low_recall_outliers(rec) == {}
    rec["up"] = 0.41
    out = low_recall_outliers(rec)
    assert list(out) == ["up"] and out["up"]["recall"] == 0.41 and 0.97 < out["up"]["median"] < 0.98
    rec["up"] = 0.94  # 3.6 pp below a tight median: under the 5 pp floor, within per-class noise
    assert low_recall_outliers(rec) == {}
    # widely spread recalls: a class 20 pp below the median is not an outlier when others are spread as much
    spread = {f"c{i}": 0.5 + 0.05 * i for i in range(10)}
    assert low_recall_outliers(spread) == {}
    assert low_recall_outliers({"a": 0.1, "b": 0.9}) == {}  # fewer than 3 classes


def test_results_json_holds_no_markup(results, tmp_path):
    """Sections from every converted producer (QAT, sensitivity, a failing hook) written into results.json."""
    from voxquant.quant import REPORT_HOOKS, run_report_hooks
    from voxquant.quant.qat import qat_section
    from voxquant.quant.sensitivity import sensitivity_blocks

    qat_json = tmp_path / "model.qat.json"
    qat_json.write_text(json.dumps({
        "source": "dscnn <bundled>", "config": {"epochs": 2, "lr": 1e-4, "batch_size": 64, "weight_bits": 8,
        "noise_prob": 0.5, "snr_db": [0, 20], "reverb_prob": 0.3}, "history": {"holdout_accuracy": [0.9, 0.91]},
        "train_rirs": ["room1"], "n_train": 100, "n_holdout": 20, "best_epoch": 1, "seconds": 60.0}))  # fmt: skip
    row = {"_worst": 1.0, "_worst_slice": "clean", "_mean": 0.5, "_kl": 0.01}
    sens = {"layers": [{"node": "n1", "op": "Conv", "layer": "stem.0", "only": row}], "int8": row,
            "slices": ["clean"], "n": 10}

    def broken(ctx):
        raise TypeError("unsupported operand for <class 'int'> & <class 'str'>")

    REPORT_HOOKS["_test_broken"] = broken
    try:
        failed = run_report_hooks(["_test_broken"], {"variant_paths": {"_test_broken": "x"}})
    finally:
        del REPORT_HOOKS["_test_broken"]
    secs = qat_section({"variant_paths": {"qat": str(tmp_path / "model.qat.onnx")}}) + failed
    secs.append(section("Per-layer sensitivity", sensitivity_blocks(sens, [])))
    r = dict(results, sections=secs)
    path = write_json_atomic(tmp_path / "results.json", r)
    raw = path.read_text()
    loaded = load_results(path)  # validates every section
    assert [s["title"] for s in loaded["sections"]] == [
        "Quantization-aware training", "_test_broken: report section failed", "Per-layer sensitivity"]
    assert find_markup(json.loads(raw)) == []
    assert "<" not in raw.replace("p < 0.05", "")  # no tag-like text at all (the exception text was neutralised)
