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
    monkeypatch.setattr(engine, "predict", boom)  # clip top-1 cells are reused too
    again = sr.run_stream(_cfg(out, shared_data))
    for v in RECIPES:
        for c in CONDITIONS:
            assert again["results"][v][c]["targets"] == res["results"][v][c]["targets"]
    assert again["clip_vs_stream"] == res["clip_vs_stream"]


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


def test_size_compute_budget_and_clip_drop_are_stored(tiny_run):
    from voxquant.eval.stats import paired_bootstrap_drop
    from voxquant.report.store import ResultStore

    out, res = tiny_run
    for v in RECIPES:
        assert res["artifacts"][v]["size_bytes"] > 1000
        for c in CONDITIONS:
            comp = res["results"][v][c]["compute"]
            assert comp["cpu_s"] > 0 and comp["cpu_s_per_audio_h"] == pytest.approx(comp["cpu_s"] / comp["audio_h"], rel=1e-3)
            b = res["at_budget"][v][c]
            assert b["fa_per_hour"] == 0.5
            if v != "fp32":  # at the default budget (0.5 FA/h) the paired difference is the vs_fp32 one, in pp
                assert b["diff_pp"] == pytest.approx(100 * res["vs_fp32"][v][c]["diff"])
    assert res["artifacts"]["int8_static_minmax"]["size_bytes"] < res["artifacts"]["fp32"]["size_bytes"]
    cvs = res["clip_vs_stream"]
    assert cvs["n_clips"] > 1000  # the whole eval split, not the stream's few clips
    store = ResultStore(out)
    ref, q = (store.get_array(f"clip/{v}") for v in RECIPES)
    assert ref.dtype == bool and ref.size == cvs["n_clips"] and 0.8 < ref.mean() <= 1.0  # the DS-CNN's 12-class top-1
    d, lo, hi = paired_bootstrap_drop(ref, q, 100, 0)
    r = cvs["variants"]["int8_static_minmax"]
    assert (r["clip_drop_pp"], *r["clip_ci95_pp"]) == (d, lo, hi)
    s = r["stream"]["clean"]
    assert s["stream_minus_clip_pp"] == pytest.approx(s["dfrr_pp"] - d)
    md = (out / "stream_table.md").read_text().splitlines()
    assert "size" in md[0] and "CPU s / h audio" in md[0] and " KB |" in md[2]
    rec = res["recommendation"]
    assert rec["overall"]["variant"] is None and rec["lines"][0].startswith("Cannot tell at 0.5 FA/h")  # 0.02 h
    assert set(rec["per_condition"]) == set(CONDITIONS)


def _res(diffs: dict, n_kw=20, hours=3.0, sizes=None):
    """A minimal results dict for recommend_stream: diffs = {variant: {condition: (diff, lo, hi)}} in pp."""
    sizes = sizes or {"fp32": 200_000, "fp16": 100_000, "int8": 60_000}
    conds = sorted({c for d in diffs.values() for c in d})
    ab = {"fp32": {c: {"frr": 0.05, "ref_frr": 0.05, "diff_pp": 0.0, "ci95_pp": [0.0, 0.0]} for c in conds}}
    for v, per in diffs.items():
        ab[v] = {c: {"frr": 0.05 + d / 100, "ref_frr": 0.05, "diff_pp": d, "ci95_pp": [lo, hi]} for c, (d, lo, hi) in per.items()}
    return {"variants": ["fp32", *diffs], "conditions": [{"name": c, "n_keywords": n_kw, "duration_h": hours} for c in conds],
            "artifacts": {v: {"size_bytes": sizes[v]} for v in ["fp32", *diffs]}, "at_budget": ab}


def test_recommendation_smallest_within_by_ci_upper_bound():
    from voxquant.streaming_run import recommend_stream

    rec = recommend_stream(_res({"fp16": {"clean": (0.0, -0.2, 0.3)}, "int8": {"clean": (0.3, -0.4, 0.9)}}), 0.5, 1.0)
    assert rec["overall"]["variant"] == "int8" and rec["per_condition"]["clean"]["variant"] == "int8"
    t = rec["per_condition"]["clean"]["text"]
    assert t.startswith("int8: FRR 5.3 % vs 5.0 % at 0.5 FA/h (+0.3 pp, 95 % CI [-0.4, 0.9]) on clean"), t
    # the point estimate is within, the CI upper bound is not: int8 is not recommended; fp16 is
    rec = recommend_stream(_res({"fp16": {"clean": (0.0, -0.2, 0.3)}, "int8": {"clean": (0.3, 0.1, 1.2)}}), 0.5, 1.0)
    assert rec["overall"]["variant"] == "fp16"
    # every variant clearly worse: keep fp32
    rec = recommend_stream(_res({"fp16": {"clean": (3.0, 2.0, 4.0)}, "int8": {"clean": (5.0, 4.0, 6.0)}}), 0.5, 1.0)
    assert rec["overall"]["variant"] == "fp32" and "keep fp32" in rec["overall"]["text"]
    assert "exceeds" in " ".join(rec["per_condition"]["clean"]["notes"])
    # worst condition decides overall
    rec = recommend_stream(_res({"fp16": {"clean": (0.0, -0.2, 0.3), "far": (0.0, -0.2, 0.3)},
                                 "int8": {"clean": (0.0, -0.2, 0.3), "far": (2.0, 1.5, 2.5)}}), 0.5, 1.0)
    assert rec["overall"]["variant"] == "fp16" and rec["per_condition"]["clean"]["variant"] == "int8"


def test_recommendation_says_cannot_tell_when_the_ci_is_wider_than_the_budget():
    from voxquant.streaming_run import recommend_stream

    rec = recommend_stream(_res({"int8": {"clean": (0.0, -5.0, 5.0)}}, n_kw=21, hours=2.0), 0.5, 1.0)
    assert rec["overall"]["variant"] == "fp32"
    note = rec["per_condition"]["clean"]["notes"][0]
    assert "cannot tell at this stream length: 21 keywords, 2.00 hours; need more hours" in note, note
    # 0.1 h cannot measure 0.5 FA/h at all (one false accept = 10 FA/h), even with a tight paired CI
    rec = recommend_stream(_res({"int8": {"clean": (0.0, 0.0, 0.0)}}, n_kw=21, hours=0.1), 0.5, 1.0)
    assert rec["overall"]["variant"] is None and rec["overall"]["text"].startswith("Cannot tell at 0.5 FA/h")
    t = rec["per_condition"]["clean"]["text"]
    assert "cannot tell at this stream length: 21 keywords, 0.10 hours" in t and "need more hours" in t, t


def test_run_task_stream_goes_through_run_stream(tiny_run, shared_data, monkeypatch):
    """voxquant run --task stream = run_stream on the mapped StreamConfig (resumes the same folder: no second loop)."""
    import voxquant.streaming_run as sr
    from voxquant.pipeline import RunConfig, run, stream_config

    out, res = tiny_run
    cfg = RunConfig(out_dir=out, task="stream", recipes=RECIPES, conditions=CONDITIONS, stream_hours=0.02, n_boot=100,
                    calib_n=24, data_root=shared_data, progress=False, max_drop=2.0, fa_budget=0.5)
    sc = stream_config(cfg)
    assert (sc.stream_hours, sc.max_frr_increase, sc.conditions, sc.recipes) == (0.02, 2.0, CONDITIONS, RECIPES)
    seen = []
    real = sr.run_stream
    monkeypatch.setattr(sr, "run_stream", lambda c: seen.append(c) or real(c))
    again = run(cfg)
    assert seen and again["results"]["int8_static_minmax"]["clean"]["targets"] == \
        res["results"]["int8_static_minmax"]["clean"]["targets"]
    assert again["recommendation"]["max_frr_increase_pp"] == 2.0


def test_run_task_validation_one_line(tmp_path, capsys):
    from voxquant.cli import main
    from voxquant.pipeline import TASKS, RunConfig, stream_config

    rc = main(["run", "--task", "sentences", "--out", str(tmp_path / "r")])  # not a task (sequence is one now)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--task" in err[0] and all(t in err[0] for t in TASKS)
    with pytest.raises(ConfigError, match="--keyword.*only for --task stream"):
        RunConfig(out_dir=tmp_path / "r", keyword="yes").validate()
    with pytest.raises(ConfigError, match="--backends.*not supported with --task stream"):
        stream_config(RunConfig(out_dir=tmp_path / "r", task="stream", backends=("tflite",)).validate())


def test_cli_run_task_stream(tmp_path, shared_data, capsys, monkeypatch):
    from voxquant.cli import main

    monkeypatch.setenv("VOXQUANT_DATA", str(shared_data))  # voxquant run's data root (it has no --data-root)
    out = tmp_path / "cli"
    rc = main(["run", "--task", "stream", "--out", str(out), "--recipes", "fp32", "--conditions", "clean",
               "--hours", "0.02", "--n-boot", "100", "--calib-n", "24", "--fa-budget", "1", "--quiet"])
    assert rc == 0 and "stream_results.json" in capsys.readouterr().out
    res = json.loads((out / "stream_results.json").read_text())
    assert res["recommendation"]["fa_per_hour"] == 1.0 and res["at_budget"]["fp32"]["clean"]["fa_per_hour"] == 1.0


def test_mlperf_streaming_wake_word_label_map(tmp_path, shared_data):
    """The float MLPerf Tiny streaming wake-word model (labels Marvin/Silence/Unknown, a label map over Speech
    Commands words, probability outputs) runs through voxquant stream."""
    from voxquant.errors import ModelError
    from voxquant.streaming_run import run_stream

    try:
        from voxquant.models.source import resolve_model

        resolve_model("mlperf-tiny-sww-fp32", None, None)
    except (ModelError, ConfigError) as exc:
        pytest.skip(f"MLPerf streaming wake-word model not available: {exc}")
    pytest.importorskip("tf_keras")
    res = run_stream(_cfg(tmp_path / "m", shared_data, model="mlperf-tiny-sww-fp32", keyword="Marvin",
                          conditions=("clean",)))
    m = res["results"]["fp32"]["clean"]
    assert m["n_keywords"] >= 5
    # probabilities are not softmaxed again: a detector at 0.5 finds most keywords on clean audio
    assert m["fixed"]["frr"] < 0.5
    cvs = res["clip_vs_stream"]["variants"]["fp32"]
    assert cvs["clip_top1"] > 0.8  # Marvin / Silence / Unknown on the eval split
    with pytest.raises(ConfigError, match="Unknown"):
        run_stream(_cfg(tmp_path / "u", shared_data, model="mlperf-tiny-sww-fp32", keyword="Unknown"))


def test_stream_report_in_headless_chromium(tiny_run):
    """report.html of the stream run as a person sees it: recommendation first, the table, the clip-vs-stream
    comparison and one drawn DET figure per condition (headless Chromium, as tests/report/test_report_browser.py)."""
    import html as _html
    import re
    import shutil
    import subprocess

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    out, res = tiny_run
    probe_js = """<script>window.addEventListener('load', () => { const r = {
      headings: [...document.querySelectorAll('section h2')].map(h => [h.textContent, h.getBoundingClientRect().height]),
      images: [...document.images].map(i => [i.complete, i.naturalWidth, i.naturalHeight, i.getBoundingClientRect().width]),
      tables: document.querySelectorAll('section table').length};
      const pre = document.createElement('pre'); pre.id = 'vq-probe'; pre.textContent = JSON.stringify(r);
      document.body.appendChild(pre); });</script>"""
    probe = out / "probe.html"
    probe.write_text((out / "report.html").read_text(encoding="utf-8").replace("</body>", probe_js + "</body>"),
                     encoding="utf-8")
    cmd = [chromium, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars", "--no-first-run",
           "--disable-dev-shm-usage", "--virtual-time-budget=10000"]
    r = subprocess.run([*cmd, "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120)
    m = re.search(r'<pre id="vq-probe">(.*?)</pre>', r.stdout, re.S)
    assert m, f"chromium printed no probe result (rc {r.returncode}): {r.stderr[-800:]}"
    got = json.loads(_html.unescape(m.group(1)))
    titles = [t for t, _ in got["headings"]]
    assert titles == ["Recommendation", "Streaming wake-word evaluation", "Clip-level vs streaming drop",
                      *[f"DET curve: {c}" for c in CONDITIONS], "FRR per speaker group at 0.5 FA/h"], titles
    assert all(h > 10 for _, h in got["headings"])
    assert got["tables"] == 4
    assert len(got["images"]) == len(CONDITIONS)
    for complete, w, h, shown in got["images"]:
        assert complete and w > 200 and h > 100 and shown > 200
    shot = out / "report.png"
    subprocess.run([*cmd, f"--screenshot={shot}", "--window-size=1280,2600", (out / "report.html").as_uri()],
                   capture_output=True, text=True, timeout=120)
    assert shot.is_file() and shot.stat().st_size > 20_000


def test_recommendation_orders_unknown_sizes_by_precision():
    """A float reference emulated from a published int8 model has no artefact size: variants without a size are
    ordered by precision (int8 before fp32), so a within-budget int8 is still recommended."""
    from voxquant.streaming_run import recommend_stream

    res = _res({"int8": {"clean": (0.0, -0.2, 0.1)}}, sizes={"fp32": None, "int8": None})
    res["artifacts"]["fp32"]["precision"], res["artifacts"]["int8"]["precision"] = "fp32", "int8"
    assert recommend_stream(res, 0.5, 1.0)["per_condition"]["clean"]["variant"] == "int8"
    res = _res({"int8": {"clean": (0.5, 0.1, 1.4)}}, sizes={"fp32": None, "int8": None})
    res["artifacts"]["fp32"]["precision"], res["artifacts"]["int8"]["precision"] = "fp32", "int8"
    assert recommend_stream(res, 0.5, 1.0)["per_condition"]["clean"]["variant"] == "fp32"
