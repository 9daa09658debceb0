"""The one evaluation path: plan, build through the backend table, batched predict, cells, statistics, resume."""

from __future__ import annotations

import numpy as np
import pytest

from voxquant.engine import (
    MatrixInputs, MatrixSettings, assemble_variants, check_fingerprint, group_slices, plan_matrix, predict,
    remove_stale_temps, run_matrix,
)
from voxquant.errors import ConfigError, ModelError
from voxquant.report import ResultStore


def test_plan_puts_the_reference_first_and_lists_what_does_not_exist():
    plan, skipped = plan_matrix(("int8_static_entropy", "fp16"), "openvino,rknn")
    assert plan[0].name == "fp32" and plan[0].backend == "onnx"
    names = [p.name for p in plan]
    assert names == ["fp32", "fp32@openvino", "fp16@openvino", "fp16@rknn"]
    reasons = {(s["recipe"], s["backend"]): s["reason"] for s in skipped}
    assert "ONNX Runtime recipe" in reasons[("int8_static_entropy", "openvino")]
    assert "cannot build fp32" in reasons[("fp32", "rknn")]
    with pytest.raises(ConfigError, match="did you mean 'openvino'"):
        plan_matrix(("fp32",), "openvnio")
    with pytest.raises(ConfigError):
        plan_matrix(("int9",), "onnx")


def test_predict_refuses_bad_outputs():
    class Bad:
        def __init__(self, out):
            self.out = out

        def run(self, x):
            return self.out(x)

    x = np.zeros((5, 3), np.float32)
    assert predict(Bad(lambda x: np.eye(5, 4, dtype=np.float32)[: len(x)]), x).tolist() == [0, 1, 2, 3, 0]
    with pytest.raises(ModelError, match="NaN"):
        predict(Bad(lambda x: np.full((len(x), 4), np.nan, np.float32)), x)
    with pytest.raises(ModelError, match="shape"):
        predict(Bad(lambda x: np.zeros((len(x), 2, 2), np.float32)), x)


@pytest.fixture(scope="module")
def arrays():
    rng = np.random.default_rng(3)
    return rng.standard_normal((48, 1, 49, 10)).astype(np.float32), rng.integers(0, 12, 48)


def _inputs(onnx_path, arrays, calib, torch_model=None):
    x, y = arrays
    return MatrixInputs(fp32_onnx=onnx_path, y=y, labels=tuple(str(i) for i in range(12)), calibration=calib,
                        torch_model=torch_model, slices=[("clean", lambda: x), ("noisy", lambda: x + 0.5)])


def test_matrix_rows_on_every_backend_get_the_same_statistics(tiny_dscnn, calib, arrays, tmp_path, monkeypatch):
    monkeypatch.setenv("VOXQUANT_RKNN_VENV", str(tmp_path / "no-rknn-venv"))  # the toolchain-missing path
    plan, _ = plan_matrix(("fp32", "int8_static_minmax"), "onnx,openvino,rknn,qnn")
    store = ResultStore(tmp_path / "run")
    settings = MatrixSettings(threads=(), progress=False)
    built = run_matrix(store, tmp_path / "run", plan, _inputs(tiny_dscnn[1], arrays, calib), settings)
    rows = {v["name"]: v for v in assemble_variants(store, plan, ["clean", "noisy"], threads=(), n_boot=200)}
    assert rows["fp32"]["status"] == "ok" and rows["fp32"]["backend"] == "onnxruntime"
    for name in ("int8_static_minmax", "fp32@openvino", "int8_static_minmax@openvino"):
        v = rows[name]
        assert v["status"] == "ok", (name, v.get("error"))
        assert [s["name"] for s in v["slices"]] == ["clean", "noisy"]
        for s in v["slices"]:
            assert len(s["ci95"]) == 2 and 0.0 <= s["p_value"] <= 1.0
        assert "int8_mac_share" in v
    assert rows["fp32@openvino"]["slices"][0]["drop"] == pytest.approx(0.0, abs=100 / 48 + 1e-9)
    assert rows["int8_static_minmax@rknn"]["status"] == "failed"
    assert "toolchain missing" in rows["int8_static_minmax@rknn"]["error"]
    assert rows["int8_static_minmax@qnn"]["status"] == "skipped" and rows["int8_static_minmax@qnn"]["export_only"]
    assert "int8_static_minmax@qnn" in built and built["int8_static_minmax@qnn"].exists()
    assert not (tmp_path / "run" / "models" / ".building").exists()  # built in a temp folder, moved when complete
    assert store.has("kernel_check/int8_static_minmax")

    # resume: nothing is rebuilt or re-evaluated
    before = {k: store.path(k).stat().st_mtime_ns for k in store.keys()}
    run_matrix(store, tmp_path / "run", plan, _inputs(tiny_dscnn[1], arrays, calib), settings)
    assert {k: store.path(k).stat().st_mtime_ns for k in store.keys()} == before


def test_build_failure_is_a_row(tiny_dscnn, calib, arrays, tmp_path, monkeypatch):
    import voxquant.quant as quant

    real = quant.build_variant

    def flaky(name, *a, **k):
        if name == "int8_static_minmax":
            raise RuntimeError("toolchain exploded")
        return real(name, *a, **k)

    monkeypatch.setattr(quant, "build_variant", flaky)
    plan, _ = plan_matrix(("int8_static_minmax",), "onnx")
    store = ResultStore(tmp_path)
    run_matrix(store, tmp_path, plan, _inputs(tiny_dscnn[1], arrays, calib), MatrixSettings(threads=(), progress=False))
    rows = {v["name"]: v for v in assemble_variants(store, plan, ["clean"], threads=(), n_boot=100)}
    assert rows["fp32"]["status"] == "ok" and rows["int8_static_minmax"]["status"] == "failed"
    assert rows["int8_static_minmax"]["error"] == "RuntimeError: toolchain exploded"
    # bad input is not a row: it stops with one clear error
    monkeypatch.undo()
    with pytest.raises(ConfigError):
        run_matrix(ResultStore(tmp_path / "b"), tmp_path / "b", plan, _inputs(tiny_dscnn[1], arrays, None),
                   MatrixSettings(threads=(), progress=False))


def test_group_slices_and_worst_decile_speakers():
    rng = np.random.default_rng(0)
    spk = np.repeat([f"s{i}" for i in range(20)], 10)
    ref = rng.random(200) < 0.9
    ref[spk == "s3"] = False  # the hardest speaker for the reference
    ref[spk == "s7"] = np.arange(10) < 2
    var = ref.copy()
    var[:30] = False
    g = group_slices(ref, var, {"speaker": spk, "accent": np.where(np.arange(200) < 100, "a", "b")}, n_boot=200)
    assert [e["group"] for e in g["accent"]] == ["a", "b"]
    a = g["accent"][0]
    assert a["n"] == 100 and a["drop"] >= 0 and len(a["ci95"]) == 2
    assert sorted(g["worst_decile_speakers"]["speakers"]) == ["s3", "s7"]  # 10 % of 20 speakers, ranked by reference
    assert len(g["per_speaker"]) == 20


def test_fingerprint_stops_a_resume_under_another_model(tmp_path):
    fp = {"model": "a" * 64, "data": "d" * 64, "frontend": "f", "numbers": "n", "voxquant": "0.1.0"}
    check_fingerprint(tmp_path, fp)
    check_fingerprint(tmp_path, dict(fp))  # same run: resumes
    with pytest.raises(ConfigError, match="different run .*model: aaaaaaaaaaaa -> bbbbbbbbbbbb"):
        check_fingerprint(tmp_path, {**fp, "model": "b" * 64})


def test_stale_temps_are_removed(tmp_path):
    (tmp_path / "models" / ".building" / "x").mkdir(parents=True)
    (tmp_path / "models" / ".building" / "x" / "model.onnx").write_bytes(b"half")
    (tmp_path / "cells").mkdir()
    (tmp_path / "cells" / ".acc.json.abc.tmp").write_text("{")
    (tmp_path / "cells" / "acc.json").write_text("{}")
    assert remove_stale_temps(tmp_path) == 2
    assert (tmp_path / "cells" / "acc.json").exists() and not (tmp_path / "models" / ".building").exists()


def test_predict_scores_batches_and_predict_is_its_argmax():
    from voxquant.engine import predict, predict_scores

    class Fake:
        calls = []

        def run(self, x):
            self.calls.append(len(x))
            return np.stack([x[:, 0], -x[:, 0], x[:, 1]], axis=1).astype(np.float64)

    x = np.random.default_rng(0).normal(size=(7, 2)).astype(np.float32)
    s = predict_scores(Fake(), x, batch=3)
    assert s.dtype == np.float32 and s.shape == (7, 3) and Fake.calls == [3, 3, 1]
    assert np.array_equal(predict(Fake(), x, batch=3), s.argmax(1))
    assert predict_scores(Fake(), x[:0]).shape == (0, 0) and predict(Fake(), x[:0]).shape == (0,)

    class Nan(Fake):
        def run(self, x):
            return np.full((len(x), 3), np.nan)

    with pytest.raises(ModelError, match="NaN"):
        predict_scores(Nan(), x)
