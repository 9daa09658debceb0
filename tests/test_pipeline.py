"""`voxquant run` end to end on a small stratified subset of the real eval split, and its resume."""

import json

import numpy as np
import pytest

from voxquant.pipeline import RunConfig, run, stratified_indices
from voxquant.report import validate_results


def test_stratified_indices_cover_every_class_and_are_seeded():
    y = np.repeat(np.arange(12), 30)
    a = stratified_indices(y, 48, seed=3)
    assert len(a) == 48 and len(set(a)) == 48
    assert np.bincount(y[a], minlength=12).tolist() == [4] * 12
    assert np.array_equal(a, stratified_indices(y, 48, seed=3))
    assert not np.array_equal(a, stratified_indices(y, 48, seed=4))


@pytest.fixture(scope="module")
def small_run(tmp_path_factory, shared_data):
    out = tmp_path_factory.mktemp("run")
    cfg = RunConfig(out_dir=out, recipes=("fp32", "fp16", "int8_static_minmax"), snrs=(10,), limit=96, calib_n=48,
                    threads=(1,), latency_runs=10, latency_warmup=2, n_boot=200, data_root=shared_data, progress=False)
    return cfg, run(cfg)


def test_run_writes_report_and_valid_results(small_run):
    cfg, res = small_run
    out = cfg.out_dir
    for f in ("results.json", "report.html", "results.csv"):
        assert (out / f).is_file() and (out / f).stat().st_size > 0
    on_disk = json.loads((out / "results.json").read_text())
    validate_results(on_disk)
    from voxquant.report import find_markup

    assert find_markup(on_disk) == []  # results are data: no markup anywhere in results.json
    names = [v["name"] for v in on_disk["variants"]]
    assert names == ["fp32", "fp16", "int8_static_minmax"]
    slices = [s["name"] for s in on_disk["variants"][0]["slices"]]
    assert slices[:2] == ["clean", "noise_snr10"] and "far_field" in slices and any(s.startswith("reverb_") for s in slices)
    for v in on_disk["variants"]:
        assert v["status"] == "ok"
        assert 0.0 <= v["accuracy"] <= 1.0
        assert v["size_bytes"] > 0
        assert v["latency_ms"]["p50"] > v["latency_ms"]["model_p50"] > 0  # e2e includes I/O + front-end
        for s in v["slices"]:
            assert s["n"] == 96
            lo, hi = s["ci95"]
            assert lo <= s["drop"] <= hi
            assert 0.0 <= s["p_value"] <= 1.0
    ref = on_disk["variants"][0]
    assert all(s["drop"] == 0 for s in ref["slices"])
    # the bundled model is far above chance (1/12) on clean speech even on 96 clips
    assert ref["accuracy"] > 0.5
    # fp16 keeps the prediction of almost every clip
    assert abs(on_disk["variants"][1]["slices"][0]["drop"]) <= 3.0
    assert on_disk["config"]["seed"] == 0 and "packages" in on_disk["versions"]
    html = (out / "report.html").read_text()
    assert "data:image/png;base64" in html and "int8_static_minmax" in html


def test_rerun_resumes_without_recomputing(small_run, monkeypatch):
    cfg, first = small_run
    import voxquant.eval.latency as lat
    import voxquant.quant as quant
    import voxquant.backends.onnxruntime as ortb

    def boom(*a, **k):
        raise AssertionError("recomputed a finished cell")

    monkeypatch.setattr(quant, "build_variant", boom)
    monkeypatch.setattr(lat, "measure_latency", boom)
    monkeypatch.setattr(ortb.OrtSession, "run", boom)
    again = run(cfg)
    assert [v["accuracy"] for v in again["variants"]] == [v["accuracy"] for v in first["variants"]]


def test_resume_under_another_model_or_config_stops(small_run, tmp_path):
    """A run folder remembers what computed it: another model (or a number-changing option) is refused, naming
    what changed, before any cell is reused."""
    import shutil
    from dataclasses import replace

    from voxquant.errors import ConfigError
    from voxquant.models.zoo_default import DEFAULT_WEIGHTS

    cfg, _ = small_run
    other = tmp_path / "other.pt"
    shutil.copy(DEFAULT_WEIGHTS, other)
    shutil.copy(DEFAULT_WEIGHTS.with_suffix(".json"), other.with_suffix(".json"))
    with open(other, "ab") as fh:  # same architecture, different bytes: another model as far as results go
        fh.write(b"\0")
    with pytest.raises(ConfigError, match="different run .*model"):
        run(replace(cfg, model=other))
    with pytest.raises(ConfigError, match="different run .*numbers"):
        run(replace(cfg, seed=1))
    fp = json.loads((cfg.out_dir / "fingerprint.json").read_text())
    assert set(fp) == {"model", "data", "frontend", "numbers", "voxquant"} and len(fp["data"]) == 64


def test_benchmark_reports_the_same_accuracies_as_run(small_run, tmp_path):
    """`voxquant benchmark` is `voxquant run --backends ...`: the ONNX Runtime rows it reports are the run's."""
    from voxquant.benchmark import BenchmarkConfig, benchmark_cli, benchmark_markdown

    cfg, first = small_run
    res = benchmark_cli(BenchmarkConfig(out_dir=tmp_path / "bench", formats="onnx", limit=cfg.limit,
                                        calib_n=cfg.calib_n, snrs=cfg.snrs, runs=10, warmup=2,
                                        data_root=cfg.data_root, progress=False))
    by_name = {v["name"]: v for v in res["variants"]}
    for v in first["variants"]:
        if v["name"] in by_name:
            assert [s["accuracy"] for s in by_name[v["name"]]["slices"]] == [s["accuracy"] for s in v["slices"]]
    assert {"fp32", "fp16", "int8_static_minmax", "int8_dynamic"} <= set(by_name)
    md = benchmark_markdown(res)
    assert md.count("\n") == len(res["variants"]) + 1 and "✅" in md
    assert (tmp_path / "bench" / "benchmark.md").is_file() and (tmp_path / "bench" / "report.html").is_file()


def test_run_a_raw_audio_model(tmp_path, shared_data):
    """`frontend = "raw"` end to end: the bundled DS-CNN behind its own front-end inside the graph (MFCC via DFT),
    exported to ONNX, evaluated and quantized by `voxquant run`; the report names the front-end ops left float."""
    import torch

    from voxquant.audio import TorchFrontend
    from voxquant.models.source import load_model
    from voxquant.quant.export import export_onnx

    net, meta = load_model(None)

    class Raw(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fe, self.net = TorchFrontend(meta["frontend"]), net

        def forward(self, x):
            return self.net(self.fe(x)[:, None])

    model = Raw().eval()
    onnx_path = export_onnx(model, torch.zeros(1, meta["frontend"].clip_samples), tmp_path / "raw_dscnn.onnx")
    cfg = RunConfig(out_dir=tmp_path / "out", model=onnx_path, frontend="raw", labels=",".join(meta["labels"]),
                    recipes=("fp32", "int8_static_minmax"), snrs=(10,), reverb=False, far_field=False, limit=96,
                    calib_n=48, threads=(), n_boot=100, data_root=shared_data, progress=False)
    res = run(cfg)
    by = {v["name"]: v for v in res["variants"]}
    assert res["model"]["input_layout"] == "raw" and res["model"]["frontend"]["kind"] == "raw"
    assert by["fp32"]["accuracy"] > 0.6  # the real model: far above chance (8.3 %)
    q = by["int8_static_minmax"]
    assert q["status"] == "ok" and "DFT" in q["frontend_float_ops"]
    # the DFT of the in-graph front-end stays float and holds most of the MACs: this "int8" model is mostly float
    assert 0.0 < q["int8_mac_share"] < 0.5 and "DFT" in q["coverage"]["float_compute"]
    titles = [s["title"] for s in res["sections"]]
    assert "Model" in titles
    assert "front-end ops still float" in (cfg.out_dir / "report.html").read_text()


@pytest.mark.slow
def test_nncf_comparator_is_an_ordinary_row(tmp_path, shared_data):
    """The mixed recipe's NNCF comparator (accuracy control, mean budget) is a row of the matrix: same slices, CIs,
    McNemar p, int8 coverage and latency as every other row, and the mixed section reads that row."""
    pytest.importorskip("nncf", reason="NNCF not installed (pip install -c constraints.txt 'voxquant[openvino]')")
    from voxquant.pipeline import NNCF_ROW

    cfg = RunConfig(out_dir=tmp_path / "out", recipes=("mixed",), snrs=(10,), reverb=False, far_field=False,
                    limit=96, calib_n=48, threads=(1,), latency_runs=5, latency_warmup=1, n_boot=100,
                    data_root=shared_data, progress=False,
                    recipe_options={"mixed": {"max_drop": 1.0, "dev_limit": 120, "rank_limit": 60, "rknn": False,
                                              "sensitivity_modes": ("exclude",), "max_float": 3,
                                              "snrs": (10,), "reverb": False, "far_field": False}})
    res = run(cfg)
    by = {v["name"]: v for v in res["variants"]}
    row = by.get(NNCF_ROW)
    assert row is not None and row["status"] == "ok", row
    assert row["backend"] == "openvino" and [s["name"] for s in row["slices"]] == [s["name"] for s in by["fp32"]["slices"]]
    assert all(len(s["ci95"]) == 2 and 0 <= s["p_value"] <= 1 for s in row["slices"])
    assert row["int8_mac_share"] is not None and row["latency_ms"]["model_p50"] > 0
    mixed = next(s for s in res["sections"] if s["title"].startswith("Mixed precision"))
    table = next(b for b in mixed["blocks"] if b["kind"] == "table")
    assert any(str(r[0]).startswith("NNCF") and "not run" not in str(r[1]) for r in table["rows"])
