"""Tests of results.json building, validation, provenance and the recommendation rule."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from _report_synthetic import make_synthetic_results
from voxquant.errors import VoxquantError
from voxquant.eval.stats import mcnemar_exact, paired_bootstrap_drop
from voxquant.report.results import (
    CORE_PACKAGES,
    ResultsSchemaError,
    collect_machine,
    collect_versions,
    load_results,
    make_latency,
    make_slice,
    recommend,
    validate_results,
)
from voxquant.report.store import write_json_atomic


def test_top_level_fields(results):
    for k in ("voxquant_version", "created", "config", "seed", "versions", "machine", "variants", "reference"):
        assert k in results
    assert results["reference"] == "fp32"
    assert set(CORE_PACKAGES) <= set(results["versions"]["packages"])
    assert results["labels"][0] == "yes" and len(results["labels"]) == 12
    json.dumps(results, allow_nan=False)  # strict JSON


def test_derived_flags_follow_latency(results):
    from voxquant.eval.rules import slower_than_reference

    ref = next(v for v in results["variants"] if v["name"] == "fp32")
    for v in results["variants"]:
        if v["status"] != "ok":
            assert v["slower_than_fp32"] is None and v["speedup_vs_fp32"] is None
            continue
        assert v["speedup_vs_fp32"] == pytest.approx(ref["latency_ms"]["p50"] / v["latency_ms"]["p50"])
        if v["name"] == "fp32":
            assert v["slower_than_fp32"] is False
        else:
            assert v["slower_than_fp32"] == slower_than_reference(v["latency_ms"]["p50"], ref["latency_ms"]["p50"])
    dyn = next(v for v in results["variants"] if v["name"] == "int8_dynamic")
    assert dyn["slower_than_fp32"] is True  # simulated 9x slower


def test_worst_slice_is_largest_drop(results):
    for v in results["variants"]:
        if not v["slices"]:
            assert v["worst_slice"] is None
            continue
        worst = max(v["slices"], key=lambda s: s["drop"])
        assert v["worst_slice"]["name"] == worst["name"] and v["worst_slice"]["drop"] == worst["drop"]


def test_make_slice_consistent_with_stats():
    rng = np.random.default_rng(5)
    ref = rng.random(400) < 0.9
    var = np.where(rng.random(400) < 0.05, ~ref, ref)
    s = make_slice("noise_snr5", ref, var, n_boot=300, seed=1)
    drop, lo, hi = paired_bootstrap_drop(ref, var, n_boot=300, seed=1)
    assert (s["drop"], s["ci95"]) == (drop, [lo, hi])
    assert s["p_value"] == mcnemar_exact(ref, var)
    assert s["accuracy"] == pytest.approx(var.mean()) and s["ref_accuracy"] == pytest.approx(ref.mean())
    assert s["n"] == 400 and sum(s["discordant"]) == int((ref != var).sum())


def test_make_latency_percentiles():
    rng = np.random.default_rng(0)
    e2e = {1: rng.random(250) + 1, 2: rng.random(250) + 0.5}
    model = {1: rng.random(250) * 0.2, 2: rng.random(250) * 0.1}
    lat = make_latency(e2e, model)
    assert lat["threads"] == 1 and lat["n_runs"] == 250
    assert lat["p50"] == pytest.approx(np.percentile(e2e[1], 50))
    assert lat["p95"] == pytest.approx(np.percentile(e2e[1], 95))
    assert lat["model_p50"] == pytest.approx(np.percentile(model[1], 50))
    assert lat["by_threads"]["2"]["p50"] == pytest.approx(np.percentile(e2e[2], 50))
    with pytest.raises(ValueError):
        make_latency({2: [1.0]}, headline_threads=1)
    with pytest.raises(ValueError):
        make_latency({1: [np.nan]})


@pytest.mark.parametrize(
    "mutate,path",
    [
        (lambda d: d.pop("seed"), "seed"),
        (lambda d: d["versions"]["packages"].pop("onnxruntime"), "versions.packages.onnxruntime"),
        (lambda d: d["machine"].pop("cpu_model"), "machine.cpu_model"),
        (lambda d: d["variants"][1].pop("precision"), "variants[1].precision"),
        (lambda d: d["variants"][2]["latency_ms"].pop("model_p50"), "variants[2].latency_ms.model_p50"),
        (lambda d: d["variants"][1]["slices"][0].pop("ci95"), "variants[1].slices[0].ci95"),
        (lambda d: d["variants"][1]["slices"][2].__setitem__("p_value", 1.5), "variants[1].slices[2].p_value"),
        (lambda d: d["variants"][1]["slices"][0].__setitem__("ci95", [1.0, -1.0]), "variants[1].slices[0].ci95"),
        (lambda d: d["variants"][0].__setitem__("accuracy", "91%"), "variants[0].accuracy"),
        (lambda d: d["variants"][0].__setitem__("accuracy", None), "variants[0].accuracy"),
        (lambda d: d["variants"][0].__setitem__("status", "done"), "variants[0].status"),
        (lambda d: d["variants"][3]["confusion"].pop(), "variants[3].confusion[0]"),
        (lambda d: d["variants"].append(copy.deepcopy(d["variants"][0])), "variants[6].name"),
        (lambda d: d.__setitem__("variants", []), "variants"),
    ],
)
def test_validation_names_the_field(results, mutate, path):
    d = copy.deepcopy(results)
    mutate(d)
    with pytest.raises(ValueError) as ei:
        validate_results(d)
    assert f"'{path}'" in str(ei.value)
    assert isinstance(ei.value, VoxquantError) and isinstance(ei.value, ResultsSchemaError)


def test_failed_variant_may_have_nulls(results):
    failed = [v for v in results["variants"] if v["status"] == "failed"]
    assert failed and failed[0]["accuracy"] is None
    validate_results(results)


def test_roundtrip_through_json_file(results, tmp_path):
    p = write_json_atomic(tmp_path / "results.json", results)
    back = load_results(p)
    assert back == json.loads(json.dumps(results))
    p.write_text("{oops")
    with pytest.raises(VoxquantError, match="not a valid JSON"):
        load_results(p)
    bad = copy.deepcopy(results)
    del bad["variants"][0]["slices"][0]["n"]
    write_json_atomic(p, bad)
    with pytest.raises(ResultsSchemaError) as ei:
        load_results(p)
    assert str(p) in str(ei.value) and "variants[0].slices[0].n" in str(ei.value)


def _expected_recommendation(results, max_drop, min_speedup=1.10):
    """Independent restatement of the rule: fastest (model-only p50) ok variant whose every slice CI upper bound
    <= budget; the fp32 reference is kept unless the pick is at least min_speedup times faster."""
    best = None
    ref = next(v for v in results["variants"] if v["name"] == results["reference"])

    def speed(v):
        return v["latency_ms"]["model_p50"] if v["latency_ms"].get("model_p50") is not None else v["latency_ms"]["p50"]

    for v in results["variants"]:
        if v["status"] != "ok":
            continue
        if max(s["ci95"][1] for s in v["slices"]) > max_drop and v is not ref:
            continue
        if best is None or speed(v) < speed(best):
            best = v
    if best is not None and best is not ref and speed(best) * min_speedup > speed(ref):
        best = ref
    return best["name"] if best else None


@pytest.mark.parametrize("max_drop", [0.5, 1.0, 2.0, 5.0, 100.0])
def test_recommendation_rule(results, max_drop):
    rec = recommend(results, max_drop)
    assert rec["variant"] == _expected_recommendation(results, max_drop)
    assert rec["variant"] in rec["qualifying"]


def test_no_variant_qualifies():
    r = make_synthetic_results(n=200, seed=3, with_failed=False)
    rec = recommend(r, max_drop=-50.0)
    assert rec["variant"] is None and rec["qualifying"] == [] and "No variant qualifies" in rec["text"]


def test_collect_versions_and_machine():
    import numpy

    v = collect_versions(extra_packages=("surely-not-installed-pkg",))
    assert v["packages"]["numpy"] == numpy.__version__
    assert v["packages"]["surely-not-installed-pkg"] is None
    assert all(k in v["packages"] for k in CORE_PACKAGES)
    assert v["python"].count(".") == 2
    m = collect_machine()
    assert isinstance(m["cpu_model"], str) and m["cpu_model"]
    assert m["cores"] >= 1 and m["cores_logical"] >= m["cores"]
    assert isinstance(m["cpu_flags"], list)


def test_build_requires_config_and_seed():
    from voxquant.report.results import build_results

    r = make_synthetic_results(n=100, with_failed=False)
    with pytest.raises(ResultsSchemaError, match="'seed'"):
        build_results({"config": {}}, r["variants"])


def test_numpy_values_are_converted():
    from voxquant.report.results import build_results

    r = make_synthetic_results(n=100, with_failed=False)
    vs = copy.deepcopy(r["variants"])
    vs[0]["size_bytes"] = np.int64(vs[0]["size_bytes"])
    vs[0]["accuracy"] = np.float32(vs[0]["accuracy"])
    vs[0]["confusion"] = np.asarray(vs[0]["confusion"])
    out = build_results({"config": {}, "seed": np.int64(0)}, vs)
    assert type(out["variants"][0]["size_bytes"]) is int and type(out["seed"]) is int
    assert isinstance(out["variants"][0]["confusion"], list)
    json.dumps(out, allow_nan=False)


def test_without_reference_variant():
    from voxquant.report.results import build_results

    r = make_synthetic_results(n=100, with_failed=False)
    vs = [v for v in r["variants"] if v["precision"] != "fp32"]
    for v in vs:
        v.pop("slower_than_fp32"), v.pop("speedup_vs_fp32")
    out = build_results({"config": {}, "seed": 0}, vs)
    assert out["reference"] is None
    assert all(v["slower_than_fp32"] is None and v["speedup_vs_fp32"] is None for v in out["variants"])


def test_ok_variant_without_latency_is_valid(results):
    d = copy.deepcopy(results)
    d["variants"][1]["latency_ms"] = None
    d["variants"][1]["latency_error"] = "timing subprocess crashed"
    validate_results(d)
    assert d["variants"][1]["name"] not in recommend(d, 100.0)["qualifying"]
