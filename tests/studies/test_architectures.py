"""Architecture study: the study models build, export and quantize; a tiny study writes its table and resumes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from voxquant.errors import ConfigError, ModelError
from voxquant.models import build_model
from voxquant.studies.architectures import ArchStudyConfig, run_study
from voxquant.studies.models import ARCH_SPECS, STUDY_EPOCHS, get_spec


@pytest.mark.parametrize("name", list(ARCH_SPECS))
def test_study_models_build_with_their_frontend_shape(name):
    spec = get_spec(name)
    m = build_model(spec.arch, 12, spec.frontend.shape, **spec.train.arch_kwargs).eval()
    with torch.no_grad():
        assert m(torch.zeros(3, 1, *spec.frontend.shape)).shape == (3, 12)
    # same budget: every study model trains as many epochs as the DS-CNN recipe
    assert spec.train.epochs == STUDY_EPOCHS and spec.train.arch == spec.arch


def test_unknown_architecture_and_missing_weights(tmp_path):
    with pytest.raises(ConfigError):
        get_spec("lstm-xl")
    from voxquant.studies import models

    spec = models.ArchSpec("ghost", "kwt", models.DEFAULT_FRONTEND, models.TrainConfig(arch="kwt"), "x",
                           weights=tmp_path / "ghost_sc12.pt")
    models.ARCH_SPECS["ghost"] = spec
    try:
        with pytest.raises(ModelError, match="train-models"):
            run_study(ArchStudyConfig(out_dir=tmp_path, archs=("ghost",), progress=False))
    finally:
        del models.ARCH_SPECS["ghost"]


def test_kwt_exports_and_static_int8_keeps_layernorm_float(tmp_path):
    from voxquant.quant import build_variant
    from voxquant.quant.export import export_onnx
    from voxquant.quant.sensitivity import float_ops

    torch.manual_seed(0)
    m = build_model("kwt", 12, (49, 10)).eval()
    fp = export_onnx(m, m.example_input(), tmp_path / "kwt.onnx")
    calib = np.random.default_rng(0).normal(size=(16, 1, 49, 10)).astype(np.float32)
    ops = float_ops(build_variant("int8_static_minmax", fp, tmp_path / "kwt.int8.onnx", calib))
    assert ops["int8"].get("MatMul", 0) + ops["int8"].get("Gemm", 0) >= 4  # projections run QLinearMatMul/QGemm
    # ONNX Runtime has no integer LayerNormalization or Erf (GELU) kernel: they run float between DQ and Q
    assert ops["float"].get("LayerNormalization") == 4 and "Erf" in ops["float"]


def test_tiny_study_writes_one_table_and_resumes(tmp_path, shared_data, monkeypatch):
    cfg = ArchStudyConfig(out_dir=tmp_path, archs=("dscnn",), recipes=("fp32", "int8_static_minmax"), limit=48,
                          latency_runs=5, calib_n=16, n_boot=100, data_root=shared_data, progress=False)
    res = run_study(cfg)
    assert [(r["arch"], r["variant"]) for r in res["rows"]] == [("dscnn", "fp32"), ("dscnn", "int8_static_minmax")]
    int8 = res["rows"][1]
    assert int8["status"] == "ok" and int8["int8_ops"]["Conv"] == 9 and int8["p50_ms"] > 0 and int8["size_bytes"] > 0
    assert int8["worst_slice"]["ci95"][0] <= int8["worst_slice"]["drop"] <= int8["worst_slice"]["ci95"][1]
    md = (tmp_path / "architectures.md").read_text()
    assert "| dscnn | int8_static_minmax |" in md and "| dscnn | fp32 |" in md
    assert json.loads((tmp_path / "architectures.json").read_text())["models"]["dscnn"]["arch"] == "dscnn"
    import voxquant.quant as quant

    def boom(*a, **k):
        raise AssertionError("recomputed a finished cell")

    monkeypatch.setattr(quant, "build_variant", boom)
    again = run_study(cfg)
    assert [r["accuracy"] for r in again["rows"]] == [r["accuracy"] for r in res["rows"]]
