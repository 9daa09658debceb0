"""``voxquant run --task sequence --backends onnx,tflite``: the LiteRT rows of a sequence run go through the same
engine path as ONNX Runtime's (14-s input, CTC log-probabilities ``[N, T', V]`` per clip) and, for a tiny CTC
model, the fp32 ``.tflite`` decodes to the same words as the fp32 ONNX model on every slice."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from test_sequence_run import _cfg, _manifest, _tiny_weights

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("litert_torch", "ai_edge_litert", "ai_edge_quantizer")),
    reason="litert-torch / ai-edge-litert / ai-edge-quantizer not installed (pip install voxquant[litert])")

RECIPES = ("fp32", "int8_static_minmax")


@pytest.fixture(scope="module")
def tiny_seq_litert(tmp_path_factory, shared_data):
    from voxquant.sequence_run import run_sequence

    d = tmp_path_factory.mktemp("seq_litert")
    w = _tiny_weights(d / "tiny.pt")
    m = _manifest(d / "real.csv", shared_data)
    cfg = _cfg(d / "run", shared_data, w, m, recipes=RECIPES, backends=("onnx", "tflite"))
    return cfg, run_sequence(cfg)


def test_tflite_rows_run(tiny_seq_litert):
    cfg, res = tiny_seq_litert
    by = {v["name"]: v for v in res["variants"]}
    assert set(by) == {"fp32", "int8_static_minmax", "fp32@tflite", "int8_static_minmax@tflite"}
    for name, v in by.items():
        assert v["status"] == "ok", f"{name}: {v.get('error')}"
        assert set(v["wer"]) == {s["name"] for s in res["data"]["slices"]}
    assert by["int8_static_minmax@tflite"]["int8_mac_share"] > 0.9


def test_tflite_fp32_wer_cells_equal_onnxruntime_fp32(tiny_seq_litert):
    from voxquant.report.store import ResultStore

    cfg, res = tiny_seq_litert
    store = ResultStore(cfg.out_dir)
    by = {v["name"]: v for v in res["variants"]}
    for s in (m["name"] for m in res["data"]["slices"]):
        ort, lite = store.get(f"acc/fp32/{s}"), store.get(f"acc/fp32@tflite/{s}")
        assert lite["hyps"] == ort["hyps"], s
        for k in ("wer", "ser", "substitutions", "deletions", "insertions", "n_words"):
            assert lite[k] == ort[k], (s, k)
        assert (store.get_array(f"wer_counts/fp32@tflite/{s}") == store.get_array(f"wer_counts/fp32/{s}")).all()
        assert (store.get_array(f"pred/fp32@tflite/{s}") == store.get_array(f"pred/fp32/{s}")).all()
        assert by["fp32@tflite"]["wer"][s]["wer_increase_pp"] == 0.0


def test_tflite_session_keeps_the_time_axis(tiny_seq_litert):
    """The LiteRT session returns ``[N, T', V]`` log-probabilities at the 14-s input, equal to ONNX Runtime's."""
    from voxquant.backends.litert import LiteRtSession
    from voxquant.backends.onnxruntime import OrtSession
    from voxquant.data.sequences import SEQ_FRONTEND, SEQ_MAX_SAMPLES

    cfg, _ = tiny_seq_litert
    x = np.load(next((Path(cfg.out_dir) / "cache").glob("seq_real_clean_*.npy")))
    assert x.shape[1:] == (1, SEQ_FRONTEND.n_frames(SEQ_MAX_SAMPLES), 40)
    tfl = next((Path(cfg.out_dir) / "models" / "tflite").glob("*litert-fp32.tflite"))
    got = LiteRtSession(tfl).run(x)
    ref = OrtSession(Path(cfg.out_dir) / "models" / "model.fp32.onnx").run(x)
    assert got.shape == ref.shape and got.ndim == 3 and got.shape[-1] == 21
    assert np.abs(got - ref).max() < 1e-3
