"""Mixed-precision search: stops as specified on synthetic sensitivity oracles; the recipe on a toy ONNX model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from voxquant.errors import ConfigError
from voxquant.quant.mixed import budget_metric, search_mixed

SLICES = ("clean", "noise", "reverb")


def oracle(costs: dict, calls: list | None = None):
    """Additive synthetic oracle: each layer, while int8, costs ``costs[layer][slice]`` pp on that slice."""

    def evaluate(excluded):
        if calls is not None:
            calls.append(tuple(excluded))
        drops = {s: sum(c[i] for l, c in costs.items() if l not in excluded) for i, s in enumerate(SLICES)}
        res = {s: {"drop": d} for s, d in drops.items()}
        worst = max(drops, key=drops.get)
        res.update(_worst=drops[worst], _worst_slice=worst, _mean=float(np.mean(list(drops.values()))))
        return res

    return evaluate


COSTS = {  # layer -> drop (pp) on (clean, noise, reverb) while it is int8
    "conv1": (0.1, 2.0, 0.1),   # hurts noise only: invisible to a mean budget of 1.0, not to the worst slice
    "conv2": (0.05, 0.05, 0.05),
    "conv3": (0.3, 0.3, 0.3),
    "fc": (0.0, 0.0, 0.0),
}


def test_worst_slice_stops_as_soon_as_every_slice_is_within_budget():
    calls = []
    res = search_mixed(oracle(COSTS, calls), list(COSTS), max_drop=0.5, budget="worst-slice")
    # all-int8 worst slice: noise 2.35 pp; conv1 float -> worst 0.35 (clean/noise/reverb all 0.35) <= 0.5: stop
    assert res["excluded"] == ["conv1"]
    assert res["met"] and res["metric"] == pytest.approx(0.35)
    assert res["trace"][0]["worst"] == pytest.approx(2.35) and res["trace"][0]["worst_slice"] == "noise"
    assert res["trace"][-1]["added"] == "conv1"
    assert res["stop"] == "budget met"


def test_mean_budget_accepts_what_the_worst_slice_budget_refuses():
    res = search_mixed(oracle(COSTS, None), list(COSTS), max_drop=1.0, budget="mean")
    # mean of (0.45, 2.35, 0.45) = 1.083 > 1.0 -> conv1 float gives mean 0.35; with budget 1.2 nothing is needed
    assert res["excluded"] == ["conv1"]
    res2 = search_mixed(oracle(COSTS, None), list(COSTS), max_drop=1.2, budget="mean")
    assert res2["excluded"] == [] and res2["met"] and res2["stop"] == "budget met by all-int8"
    # while the worst-slice budget 1.2 still needs conv1 in float
    assert search_mixed(oracle(COSTS, None), list(COSTS), max_drop=1.2, budget="worst-slice")["excluded"] == ["conv1"]


def test_tight_budget_adds_layers_in_sensitivity_order_and_stops_exactly_when_met():
    res = search_mixed(oracle(COSTS, None), list(COSTS), max_drop=0.06, budget="worst-slice")
    assert res["excluded"] == ["conv1", "conv3"]  # then worst = 0.05 <= 0.06; conv2/fc stay int8
    assert res["met"] and res["metric"] == pytest.approx(0.05)
    worst = [t["worst"] for t in res["trace"]]
    assert worst == sorted(worst, reverse=True)
    # budget 0: every layer that costs anything goes float, the free one (fc) stays int8
    res0 = search_mixed(oracle(COSTS, None), list(COSTS), max_drop=0.0, budget="worst-slice")
    assert set(res0["excluded"]) == {"conv1", "conv2", "conv3"} and res0["met"]


def test_interacting_layers_trigger_a_rerank():
    # a and b only hurt together (e.g. two layers whose errors add up past a threshold); c hurts a little alone.
    def evaluate(excl):
        d = (3.0 if ("a" not in excl and "b" not in excl) else 0.0) + (0.4 if "c" not in excl else 0.0)
        return {"clean": {"drop": d}, "_worst": d, "_worst_slice": "clean", "_mean": d}

    # exclude-one ranking: a -> 0.4, b -> 0.4, c -> 3.0: a first, then the budget holds (0.4 <= 0.5)
    res = search_mixed(evaluate, ["c", "a", "b"], 0.5)
    assert res["excluded"] == ["a"]
    # a misleading initial ranking puts c first: the step does not lower the metric enough -> it goes on
    res2 = search_mixed(evaluate, ["c", "a", "b"], 0.5, rank={"c": 0.0, "a": 1.0, "b": 2.0}, rerank="on_stall")
    assert res2["excluded"][0] == "c" and res2["met"]
    stall = search_mixed(lambda e: {"x": {"drop": 1.0}, "_worst": 1.0, "_worst_slice": "x", "_mean": 1.0},
                         ["p", "q"], 0.5, rerank="on_stall")
    assert not stall["met"] and stall["stop"] == "every layer in float"
    assert stall["trace"][1]["reranked"] is True


def test_rank_key_orders_layers_by_a_continuous_measure_when_drops_tie():
    """On a small ranking subset accuracy drops come in coarse steps and tie; the KL divergence still separates the
    layers. With ``rank_key`` the search keeps the lowest-KL layer in float first (``mixed``'s default)."""
    kl = {"a": 0.05, "b": 0.01, "c": 0.04}  # mean output KL with that layer alone in float (lower = better)

    def evaluate(excl):
        d = 1.0 if "b" not in excl else 0.0  # b is the layer that matters; the others change nothing measurable
        out = {"clean": {"drop": d}, "_worst": d, "_worst_slice": "clean", "_mean": d}
        out["_kl"] = min([kl[x] for x in excl], default=0.06)
        return out

    by_budget = search_mixed(evaluate, ["a", "c", "b"], 0.5, rank={"a": 1.0, "c": 1.0, "b": 1.0}, rerank="never")
    assert by_budget["excluded"] == ["a", "c", "b"]  # tie: candidate order decides, b comes last
    by_kl = search_mixed(evaluate, ["a", "c", "b"], 0.5, rank=kl, rerank="never", rank_key=lambda r: r["_kl"])
    assert by_kl["excluded"] == ["b"] and by_kl["met"]
    # re-ranking (no ``rank`` given) reads the same key
    assert search_mixed(evaluate, ["a", "c", "b"], 0.5, rank_key=lambda r: r["_kl"])["excluded"] == ["b"]


def test_max_float_and_bad_arguments():
    res = search_mixed(oracle(COSTS, None), list(COSTS), max_drop=0.0, max_float=1)
    assert res["excluded"] == ["conv1"] and not res["met"] and res["stop"] == "max_float=1 reached"
    with pytest.raises(ConfigError):
        search_mixed(oracle(COSTS, None), list(COSTS), 0.5, budget="median")
    with pytest.raises(ConfigError):
        search_mixed(oracle(COSTS, None), list(COSTS), 0.5, rerank="sometimes")
    with pytest.raises(ConfigError):
        budget_metric({"_worst": 1, "_mean": 1}, "p95")


def test_evaluations_are_memoised():
    calls = []
    search_mixed(oracle(COSTS, calls), list(COSTS), max_drop=0.06)
    assert len(calls) == len(set(frozenset(c) for c in calls))


# ------------------------------------------------------------------------------------------------ toy ONNX model


def _toy_onnx(path, sensitive_scale: float = 40.0):
    """Two Gemm layers: ``fc1`` maps 8 features to 8 with one huge-range output channel (so per-tensor int8
    activations of fc1's output lose the small channels), ``fc2`` to 3 classes."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w1 = rng.normal(size=(8, 8)).astype(np.float32)
    w1[:, 0] *= sensitive_scale
    w2 = rng.normal(size=(8, 3)).astype(np.float32)
    w2[0] /= sensitive_scale
    g = helper.make_graph(
        [helper.make_node("MatMul", ["input", "w1"], ["h"], name="fc1"),
         helper.make_node("MatMul", ["h", "w2"], ["logits"], name="fc2")],
        "toy", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(path))
    return path


def test_quantizer_layers_and_sensitivity_on_a_toy_model(tmp_path):
    from voxquant.backends.onnxruntime import OrtSession
    from voxquant.quant.sensitivity import Quantizer, SliceSet, float_ops, layer_sensitivity, predict_slices

    fp = _toy_onnx(tmp_path / "toy.onnx")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 8)).astype(np.float32)
    ref_logits = OrtSession(fp).run(x)
    y = ref_logits.argmax(1)
    data = SliceSet({"clean": x, "noisy": x + rng.normal(scale=0.3, size=x.shape).astype(np.float32)}, y)
    q = Quantizer(fp, x[:100], "minmax", workdir=tmp_path / "w")
    layers = q.layers()
    assert [l["node"] for l in layers] == ["fc1", "fc2"]
    table = layer_sensitivity(q, data, modes=("exclude", "only"))
    assert table["int8"]["clean"]["drop"] > 0 and table["int8"]["_kl"] > 0  # the toy model loses accuracy in int8
    for l in table["layers"]:
        for mode in ("exclude", "only"):
            assert set(l[mode]) >= {"clean", "noisy", "_worst", "_mean", "_kl"} and l[mode]["_kl"] >= 0
    # a model with every quantizable layer excluded is the float model again
    all_float = q.build([l["node"] for l in layers])
    assert float_ops(all_float)["int8"] == {}
    got = predict_slices(all_float, data)
    assert np.allclose(got["clean"], ref_logits, atol=1e-4)
    # the real search on the toy model with a zero budget ends met, with the real quantizer in the loop
    from voxquant.quant.mixed import search_mixed
    from voxquant.quant.sensitivity import compare

    ref = predict_slices(fp, data)
    res = search_mixed(lambda ex: compare(ref, predict_slices(q.build(list(ex)), data), y), ["fc1", "fc2"], 0.0)
    assert res["met"] and res["excluded"] and res["metric"] <= 0.0


@pytest.mark.slow
def test_mixed_recipe_end_to_end_on_tiny_dev(tmp_path, shared_data):
    """The real recipe on 48 dev clips (2 slices): it writes a QDQ model + sidecar whose dev worst-slice drop is
    within the budget, and every float layer it reports is really float in the ONNX graph."""
    from voxquant.audio.frontend import compute_features
    from voxquant.data import load_waves, speech_commands_test, split_dev_eval
    from voxquant.data.slices import stratified_indices
    from voxquant.models.source import load_model
    from voxquant.quant import build_variant
    from voxquant.quant.export import export_onnx
    from voxquant.quant.sensitivity import float_ops

    model, meta = load_model(None)
    fp = export_onnx(model, model.example_input(), tmp_path / "model.fp32.onnx")
    dev, _ = split_dev_eval(speech_commands_test(shared_data))
    idx = stratified_indices(dev.label_ids(), 24, 5)
    calib = compute_features(load_waves(dev.subset(idx), 16000, 16000, progress=False), meta["frontend"])[:, None]
    out = build_variant("mixed", fp, tmp_path / "model.mixed.onnx", calib, weights=None, data_root=shared_data,
                        max_drop=0.0, budget="worst-slice", dev_limit=48, snrs=(0,), reverb=False, far_field=False,
                        sensitivity_modes=("exclude",), nncf=False, rknn=False)
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["met"] and side["dev_mixed"]["_worst"] <= 0.0 + 1e-9
    assert side["dev"]["slices"] == ["clean", "noise_snr0"] and side["dev"]["clips"] == 48
    fl = float_ops(out)
    # each layer the search kept in float has float weights (an initializer, no DequantizeLinear) in the written model
    import onnx

    m = onnx.load(str(out))
    inits = {i.name for i in m.graph.initializer}
    nodes = {n.name: n for n in m.graph.node}
    for f in side["float_layers"]:
        if f["op"] in ("Conv", "Gemm"):
            assert nodes[f["node"]].input[1] in inits
    assert fl["float"].get("Conv", 0) + fl["float"].get("Gemm", 0) >= sum(f["op"] in ("Conv", "Gemm") for f in side["float_layers"])


def test_recipe_group_alias_and_report_hooks():
    from voxquant.quant import REPORT_HOOKS, expand_recipes, get_recipe, run_report_hooks

    assert expand_recipes(["ptq", "qat", "mixed", "int8_static_minmax"]) == [
        "int8_static_minmax", "int8_static_entropy", "int8_static_percentile", "qat", "mixed"]
    assert expand_recipes(["fp16"]) == ["fp16"]
    assert get_recipe("mixed").needs_calibration and get_recipe("qat").precision == "int8"
    assert {"qat", "mixed"} <= set(REPORT_HOOKS)

    def broken(ctx):
        raise RuntimeError("boom")

    REPORT_HOOKS["_test_broken"] = broken
    try:
        secs = run_report_hooks(["_test_broken", "fp32"], {"variant_paths": {"_test_broken": "x"}})
    finally:
        del REPORT_HOOKS["_test_broken"]
    assert len(secs) == 1 and "failed" in secs[0]["title"] and "boom" in secs[0]["blocks"][0]["text"]
    from voxquant.report.sections import validate_section

    assert validate_section(secs[0])["blocks"][0]["kind"] == "warning"


def test_reranking_uses_the_ranking_evaluator_and_only_the_top_layers():
    # every layer costs 1 pp on the full data; nothing single-handedly fixes it -> each step stalls until the end
    def full(excl):
        d = 1.0 * (3 - len(excl))
        return {"x": {"drop": d}, "_worst": d, "_worst_slice": "x", "_mean": d}

    ranked = []

    def cheap(excl):
        ranked.append(tuple(excl))
        return full(excl)

    res = search_mixed(full, ["a", "b", "c"], 0.5, rank={"a": 0, "b": 1, "c": 2}, rerank="always",
                       rank_evaluate=cheap, rerank_top=1)
    assert res["excluded"] == ["a", "b", "c"] and res["met"]
    # after "a": only the next layer ("b") is re-measured, on the ranking evaluator; after "b" the same for "c"
    assert ranked == [("a", "b"), ("a", "b", "c")]


def test_calibration_cache_gives_the_same_model_as_calibrating_again(tmp_path):
    """The mixed search calibrates once and re-uses the ranges (ORT ``calibration_cache_path``): the model built
    from the cache must equal a freshly calibrated one; a stale cache from an earlier run is not trusted."""
    import onnx

    from voxquant.quant import build_variant
    from voxquant.quant.sensitivity import Quantizer

    fp = _toy_onnx(tmp_path / "toy.onnx")
    x = np.random.default_rng(2).normal(size=(64, 8)).astype(np.float32)
    q = Quantizer(fp, x, "minmax", workdir=tmp_path / "w")
    first = q.build([], out=tmp_path / "a.onnx")
    cache = Path(q.options["calibration_cache"])
    assert cache.is_file()
    again = q.build([], out=tmp_path / "b.onnx")  # from the cache
    fresh = build_variant("int8_static_minmax", fp, tmp_path / "c.onnx", x)  # no cache at all
    init = lambda p: {i.name: onnx.numpy_helper.to_array(i).tobytes() for i in onnx.load(str(p)).graph.initializer}  # noqa: E731
    assert init(first) == init(again) == init(fresh)
    cache.write_text("{}")
    Quantizer(fp, x, "minmax", workdir=tmp_path / "w")  # a new search removes the old cache
    assert not cache.exists()
