"""``voxquant stream`` (voxquant.streaming_run): real data, tiny streams (72 s), fp32 + int8_static_minmax."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from voxquant.errors import ConfigError, VoxquantError

RECIPES = ("fp32", "int8_static_minmax")
CONDITIONS = ("clean", "noise_snr10")


def _cfg(out, data, **kw):
    from voxquant.streaming_run import StreamConfig

    base = dict(out_dir=out, data_root=data, stream_hours=0.02, conditions=CONDITIONS, recipes=RECIPES, n_boot=100,
                calib_n=24, progress=False)
    return StreamConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, shared_data):
    from voxquant.streaming_run import run_stream

    out = tmp_path_factory.mktemp("stream")
    return out, run_stream(_cfg(out, shared_data))


def test_results_have_det_and_frr_ci_per_variant_and_condition(tiny_run):
    out, res = tiny_run
    assert res["variants"] == list(RECIPES)
    for v in RECIPES:
        for c in CONDITIONS:
            m = res["results"][v][c]
            det = m["det"]
            assert len(det["thresholds"]) == len(det["frr"]) == len(det["fa_per_hour"]) > 100
            assert all(0.0 <= x <= 1.0 for x in det["frr"])
            at = {t["fa_per_hour"]: t for t in m["targets"]}
            t = at[0.5]
            lo, hi = t["ci95"]
            assert 0.0 <= lo <= t["frr"] <= hi <= 1.0
            assert m["n_keywords"] >= 5 and m["latency_ms"]["n"] >= 1
            # FRR at the fixed threshold equals detect+match on the stored scores (recomputed independently)
            assert 0.0 <= m["fixed"]["frr"] <= 1.0 and m["fixed"]["fa_per_hour"] >= 0.0
    d = res["vs_fp32"]["int8_static_minmax"]["clean"]
    assert d["ci95"][0] <= d["diff"] <= d["ci95"][1]
    disk = json.loads((out / "stream_results.json").read_text())
    assert disk["results"]["fp32"]["clean"]["targets"][1]["frr"] == res["results"]["fp32"]["clean"]["targets"][1]["frr"]
    for f in ("stream_table.md", "report.html", "det_clean.png", "det_noise_snr10.png"):
        assert (out / f).stat().st_size > 0, f
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "int8_static_minmax" in html
    assert (out / "stream_table.md").read_text().count("\n") == 2 + len(RECIPES) * len(CONDITIONS)


def test_streams_use_eval_positives_only_and_share_placement(tiny_run, shared_data):
    from voxquant.data.streams import default_stream_sources, load_stream

    out, _ = tiny_run
    dev_pos, _ = default_stream_sources("yes", shared_data, split="dev")
    dev_paths = {str(c.path) for c in dev_pos}
    clean, noisy = (load_stream(out / "streams" / c) for c in CONDITIONS)
    kws = [e.source_path for e in clean.keyword_events()]
    assert kws and not set(kws) & dev_paths
    assert [(e.start_s, e.source_path) for e in clean.events] == [(e.start_s, e.source_path) for e in noisy.events]
    assert noisy.info["snr_db"] == 10.0 and clean.info["snr_db"] is None


def test_scores_match_stored_metrics(tiny_run):
    """The stored probability cells reproduce the reported FRR at threshold 0.5."""
    from voxquant.data.streams import load_stream
    from voxquant.eval.streaming import detect, match
    from voxquant.report.store import ResultStore

    out, res = tiny_run
    s = load_stream(out / "streams" / "clean")
    p = ResultStore(out).get_array("stream/fp32/clean").astype(np.float64)
    hop = int(0.040 * 16000)
    t = (np.arange(p.size) * hop + 16000) / 16000.0
    r = match(detect(t, p, 0.5, 1, 1.0), s.events)
    assert math.isclose(1.0 - r.hits.mean(), res["results"]["fp32"]["clean"]["fixed"]["frr"])


def test_resume_recomputes_nothing(tiny_run, shared_data, monkeypatch):
    import voxquant.engine as engine
    import voxquant.streaming_run as sr
    from voxquant.data import streams

    out, res = tiny_run

    def boom(*a, **k):
        raise AssertionError("recomputed on resume")

    monkeypatch.setattr(sr, "window_scores", boom)
    monkeypatch.setattr(engine, "build_artifact", boom)
    monkeypatch.setattr(streams, "build_stream", boom)
    again = sr.run_stream(_cfg(out, shared_data))
    for v in RECIPES:
        for c in CONDITIONS:
            assert again["results"][v][c]["targets"] == res["results"][v][c]["targets"]


def test_bad_keyword_one_clear_error(tmp_path, shared_data):
    from voxquant.streaming_run import run_stream

    with pytest.raises(ConfigError) as e:
        run_stream(_cfg(tmp_path / "o", shared_data, keyword="alexa"))
    msg = str(e.value)
    assert "'alexa'" in msg and "yes" in msg and "stop" in msg and "\n" not in msg
    assert not (tmp_path / "o" / "streams").exists()


def test_config_validation_and_short_stream(tmp_path, shared_data):
    from voxquant.streaming_run import run_stream

    with pytest.raises(ConfigError, match="--conditions"):
        _cfg(tmp_path, shared_data, conditions=("clean", "rain")).validate()
    with pytest.raises(ConfigError, match="--n-boot"):
        _cfg(tmp_path, shared_data, n_boot=5).validate()
    with pytest.raises(VoxquantError, match="shorter than one model window"):
        run_stream(_cfg(tmp_path / "s", shared_data, stream_hours=0.0002))


def test_cli_bad_keyword_exit_2(tmp_path, shared_data, capsys):
    from voxquant.cli import main

    rc = main(["stream", "--out", str(tmp_path / "c"), "--keyword", "hello", "--hours", "0.02",
               "--data-root", str(shared_data), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error: --keyword") and "yes" in err[0]


def test_paired_frr_diff_ci():
    from voxquant.eval.streaming import Event, bootstrap_frr_diff_ci, det_curve

    ev = [Event(10.0 * i + 1, 10.0 * i + 2) for i in range(20)]
    t = np.arange(0.05, 200, 0.05)
    p = np.zeros_like(t)
    for i, e in enumerate(ev):
        p[(t > e.start_s) & (t < e.end_s)] = 0.9 if i % 2 else 0.3  # half the keywords score 0.3
        p[(t > e.start_s + 4) & (t < e.end_s + 4)] = 0.35  # a non-keyword scoring above them
    a = det_curve(t, p, ev, 200 / 3600)
    q = p.copy()
    q[(p > 0.2) & (p < 0.32)] = 0.9  # b detects every keyword
    b = det_curve(t, q, ev, 200 / 3600)
    assert bootstrap_frr_diff_ci(a, a, 0.5, n_boot=200) == (0.0, 0.0, 0.0)
    d, lo, hi = bootstrap_frr_diff_ci(a, b, 0.5, n_boot=200)
    assert d == pytest.approx(-0.5) and lo <= d <= hi < 0
    with pytest.raises(ConfigError, match="same stream"):
        bootstrap_frr_diff_ci(a, det_curve(t, p, ev[:5], 200 / 3600), 0.5)
