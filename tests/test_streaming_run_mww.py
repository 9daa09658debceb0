"""``voxquant stream --model microwakeword-alexa``: the stateful kind through run_stream on a 2-minute stream."""

from __future__ import annotations

import json

import numpy as np
import pytest

from voxquant.errors import ConfigError

pytest.importorskip("pymicro_features", reason="pymicro-features (extra 'stream') not installed")
pytest.importorskip("ai_edge_litert.interpreter", reason="ai-edge-litert (extra 'litert') not installed")


@pytest.fixture(scope="module")
def mww_run(tmp_path_factory, shared_data):
    from voxquant.paths import models_root
    from voxquant.streaming_run import StreamConfig, run_stream

    if not (models_root() / "esphome-microwakeword-v2" / "alexa.tflite").is_file():
        pytest.skip("microWakeWord v2 alexa not under VOXQUANT_MODELS")
    out = tmp_path_factory.mktemp("stream_mww")
    cfg = StreamConfig(out_dir=out, data_root=shared_data, model="microwakeword-alexa", stream_hours=2 / 60,
                       conditions=("clean", "noise_snr10"), n_boot=100, progress=False)
    return out, run_stream(cfg)


def test_both_variants_scored_at_the_publishers_cutoff(mww_run):
    from voxquant.data.streams import load_stream
    from voxquant.eval.streaming import detect, match
    from voxquant.report.store import ResultStore

    out, res = mww_run
    assert res["variants"] == ["fp32", "int8"] and res["reference"] == "fp32"
    assert res["keyword"] == "alexa" and res["model"]["kind"] == "microwakeword"
    assert res["fixed_threshold"] == 0.9 and res["rule"]["smooth_k"] == 5
    assert "not a publisher" in res["variant_descriptions"]["fp32"]
    assert "@thr 0.9" in res["table"] and "@thr 0.5" not in res["table"]
    store = ResultStore(out)
    s = load_stream(out / "streams" / "clean")
    for v in ("fp32", "int8"):
        probs = store.get_array(f"stream/{v}/clean")
        times = store.get_array(f"stream_times/{v}/clean")
        assert probs.dtype == np.float32 and times.shape == probs.shape and probs.size > 3000
        r = match(detect(times, probs.astype(np.float64), 0.9, 5, 1.0), s.events)  # recomputed independently
        m = res["results"][v]["clean"]
        assert m["fixed"]["threshold"] == 0.9 and m["fixed"]["frr"] == pytest.approx(1.0 - r.hits.mean())
        assert m["n_keywords"] >= 5
    a, b = (store.get_array(f"stream/{v}/noise_snr10") for v in ("fp32", "int8"))
    assert np.mean(np.abs(a.astype(np.float64) - b)) < 0.02
    assert "vs fp32" in res["table"] and res["vs_fp32"]["int8"]["clean"]["fa_per_hour"] == 0.5
    disk = json.loads((out / "stream_results.json").read_text())
    assert disk["fixed_threshold"] == 0.9
    assert "not a publisher" in (out / "report.html").read_text()


def test_resume_rescores_nothing(mww_run):
    from voxquant.streaming_run import StreamConfig, run_stream

    out, res = mww_run
    cells = sorted(p.stat().st_mtime_ns for p in (out / "cells").rglob("*.npz"))
    again = run_stream(StreamConfig(out_dir=out, data_root=res["config"]["data_root"], model="microwakeword-alexa",
                                    stream_hours=2 / 60, conditions=("clean", "noise_snr10"), n_boot=100,
                                    progress=False))
    assert sorted(p.stat().st_mtime_ns for p in (out / "cells").rglob("*.npz")) == cells
    assert again["results"]["int8"]["clean"]["fixed"] == res["results"]["int8"]["clean"]["fixed"]


def test_keyword_other_than_the_models_word_is_one_clear_error(tmp_path, shared_data):
    from voxquant.paths import models_root
    from voxquant.streaming_run import StreamConfig, run_stream

    if not (models_root() / "esphome-microwakeword-v2" / "alexa.tflite").is_file():
        pytest.skip("microWakeWord v2 alexa not under VOXQUANT_MODELS")
    with pytest.raises(ConfigError, match="its word: alexa"):
        run_stream(StreamConfig(out_dir=tmp_path, data_root=shared_data, model="microwakeword-alexa", keyword="yes",
                                stream_hours=0.01, progress=False))
