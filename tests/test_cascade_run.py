"""``voxquant cascade``: command streams, the end-point, the cascade metrics, an end-to-end tiny run, bad input."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

from cli_checks import assert_one_line_error

SR = 16000


def _wav(path: Path, seconds: float, seed: int, level: float = 0.1) -> str:
    import soundfile as sf

    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    x = np.zeros(n + 1600, np.float32)  # 50 ms of silence each side: the trimmer cuts them
    x[800:800 + n] = (rng.standard_normal(n) * level).astype(np.float32)
    sf.write(str(path), x, SR, subtype="FLOAT")
    return str(path)


@pytest.fixture(scope="module")
def toy_sources(tmp_path_factory):
    """(wake clips, commands (2 real, 2 synthetic), other speech, noise) made of seeded noise bursts."""
    from voxquant.data.sequences import SeqUtterance

    d = tmp_path_factory.mktemp("toy")
    wake = [(_wav(d / f"alexa{i}.wav", 0.6, i), "alexa") for i in range(3)]
    other = [(_wav(d / f"other{i}.wav", 0.5, 10 + i), "dog") for i in range(3)]
    real = [SeqUtterance(f"real{i}", ("one", "two"), f"spk{i}", {"source": "alphanumeric_accents", "native": "no"},
                         path=_wav(d / f"real{i}.wav", 1.2, 20 + i)) for i in range(2)]
    word = _wav(d / "word.wav", 0.4, 30)
    synth = [SeqUtterance(f"syn{i}", ("go", "left"), f"s{i}", {"source": "speech_commands"},
                          parts=((word, 0, 6400, 1.0), (word, 0, 6400, 0.8)), gaps_s=(0.1, 0.2, 0.1)) for i in range(2)]
    noise = {"n": np.random.default_rng(5).standard_normal(SR * 20).astype(np.float32) * 0.1}
    return wake, real + synth, other, noise


def test_command_stream_deterministic_commands_after_wake_words(toy_sources, tmp_path):
    from voxquant.data.command_streams import build_command_stream, load_command_stream, save_command_stream

    wake, cmds, other, noise = toy_sources
    kw = dict(keyword="alexa", duration_s=120.0, snr_db=10.0, seed=3)
    a = build_command_stream(wake, cmds, other, noise, **kw)
    b = build_command_stream(wake, cmds, other, noise, **kw)
    assert np.array_equal(a.stream.audio, b.stream.audio) and a.commands == b.commands
    c = build_command_stream(wake, cmds, other, noise, **{**kw, "seed": 4})
    assert not np.array_equal(a.stream.audio, c.stream.audio)
    wc = [x for x in a.commands if x.kind == "wake_command"]
    co = [x for x in a.commands if x.kind == "command_only"]
    assert a.commands[0].kind == "wake_command" and len(wc) >= 5 and co
    for x in wc:  # the command follows its wake word after a natural pause
        assert 0.15 - 1e-3 <= x.command_start_s - x.wake_end_s <= 0.6 + 1e-3
        assert x.words in (("one", "two"), ("go", "left"))
    assert all(math.isnan(x.wake_start_s) for x in co)
    ev = a.stream.events
    assert all(e1.end_s <= e2.start_s for e1, e2 in zip(ev, ev[1:]))  # never overlapping
    kws = [e for e in ev if e.is_keyword]
    assert [(e.start_s, e.end_s) for e in kws] == [(x.wake_start_s, x.wake_end_s) for x in wc]
    assert {x.groups["source"] for x in a.commands} == {"alphanumeric_accents", "speech_commands"}
    save_command_stream(a, tmp_path / "s")
    back = load_command_stream(tmp_path / "s")
    assert np.array_equal(back.stream.audio, a.stream.audio)
    assert [(x.kind, x.words, x.speaker, x.groups) for x in back.commands] == \
        [(x.kind, x.words, x.speaker, x.groups) for x in a.commands]


def test_union_grammar_accepts_either():
    from voxquant.data.sequences import GRAMMARS, union

    g = union(GRAMMARS["digits"], GRAMMARS["commands"])
    for s in [("go", "left", "three"), ("one", "two", "three"), ("stop",), ("three",)]:
        assert g.accepts(s)
    for s in [("go", "go"), ("left", "one", "two", "three"), ("one",) * 13, ()]:
        assert not g.accepts(s)


def test_endpoint_on_synthetic_audio():
    from voxquant.cascade_run import endpoint

    rng = np.random.default_rng(0)
    floor = rng.standard_normal(SR * 10).astype(np.float32) * 0.003  # ~ -50 dBFS
    x = floor.copy()
    for a, b in ((2.0, 2.5), (2.8, 3.5)):  # speech, a 0.3 s pause (shorter than the hangover), speech
        x[int(a * SR): int(b * SR)] += rng.standard_normal(int((b - a) * SR)).astype(np.float32) * 0.1
    end, fl = endpoint(x, int(2.0 * SR), SR, hangover_s=0.8)
    assert -55 < fl < -45
    assert abs(end / SR - (3.5 + 0.8)) <= 0.03
    end2, _ = endpoint(x, int(2.0 * SR), SR, hangover_s=0.2)  # a short hangover ends in the pause
    assert abs(end2 / SR - (2.5 + 0.2)) <= 0.03
    end3, _ = endpoint(floor, int(2.0 * SR), SR, no_speech_s=1.0)  # no speech: time-out
    assert abs(end3 / SR - 3.0) <= 0.02
    loud = x.copy()
    loud[int(2 * SR):] += rng.standard_normal(loud.size - 2 * SR).astype(np.float32) * 0.1
    end4, _ = endpoint(loud, int(2.0 * SR), SR, max_s=5.0)  # never stops talking: capped at the model input
    assert end4 == int(7.0 * SR)
    clean = np.zeros(SR * 6, np.float32)
    clean[SR * 2: SR * 3] = 0.1
    end5, fl5 = endpoint(clean, SR * 2, SR, hangover_s=0.5)  # digital silence: floor clamped
    assert fl5 == -70.0 and abs(end5 / SR - 3.5) <= 0.02


def _cmd(kind, ws, we, cs, ce, words, spk, **groups):
    from voxquant.data.command_streams import CommandEvent

    return CommandEvent(kind, ws, we, cs, ce, tuple(words.split()), f"id-{spk}", spk, "", groups)


def test_metrics_on_hand_made_detections():
    from voxquant.cascade_run import cascade_metrics

    cmds = [_cmd("wake_command", 1.0, 1.6, 2.0, 3.0, "go left", "a", native="yes"),
            _cmd("wake_command", 10.0, 10.6, 11.0, 12.0, "one two", "b", native="no"),
            _cmd("wake_command", 20.0, 20.6, 21.0, 22.0, "stop", "c", native="no"),
            _cmd("wake_command", 30.0, 30.6, 31.0, 32.0, "up", "d", native="no"),      # missed by the trigger
            _cmd("command_only", math.nan, math.nan, 40.0, 41.0, "go right", "e")]
    det = [1.2, 10.3, 20.1, 40.5, 50.0, 60.0]
    end = [3.8, 12.9, 22.5, 41.9, 50.9, 60.5]
    inv = {"det_s": det, "end": [int(e * SR) for e in end], "ignored": 1}
    hyps = [("go", "left"), ("one", "two"), ("go",), ("go", "right"), ("stop",), ()]
    executed = [True, True, True, True, True, False]
    m = cascade_metrics(cmds, 3600.0, inv, hyps, executed, compute_ms=50.0, n_boot=200)
    assert m["n_commands"] == 4
    assert m["success"]["rate"] == pytest.approx(0.5) and m["success"]["n"] == 4
    assert 0.0 <= m["success"]["ci95"][0] <= 0.5 <= m["success"]["ci95"][1] <= 1.0
    assert m["trigger_hit_rate"] == pytest.approx(0.75)
    assert m["wrong_after_trigger"] == 1 and m["rejected_after_trigger"] == 0
    assert m["false_triggers"] == 3 and m["false_triggers_per_h"] == pytest.approx(3.0)
    assert m["executed_by_mistake"] == 2  # the command-only "go right" and the "stop" at 50 s; the empty one not
    assert m["command_only"] == {"n": 1, "triggered": 1, "executed": 1}
    lat = sorted([(3.8 - 3.0) * 1000 + 50, (12.9 - 12.0) * 1000 + 50])
    assert m["latency_ms"]["n"] == 2 and m["latency_ms"]["p50"] == pytest.approx(np.mean(lat))
    assert m["groups"]["native"]["yes"]["rate"] == 1.0 and m["groups"]["native"]["no"]["rate"] == pytest.approx(1 / 3)
    assert m["invocations_per_h"] == pytest.approx(6.0)


def test_cascade_invocations_ignore_detections_during_a_capture():
    from voxquant.cascade_run import CascadeConfig, cascade_invocations

    rng = np.random.default_rng(1)
    x = rng.standard_normal(SR * 12).astype(np.float32) * 0.003
    x[SR * 2: SR * 4] += rng.standard_normal(SR * 2).astype(np.float32) * 0.1
    inv = cascade_invocations([2.1, 3.0, 3.5, 9.0], x, SR, CascadeConfig(hangover_s=0.5))
    assert inv["det_s"] == [2.1, 9.0] and inv["ignored"] == 2
    assert abs(inv["end"][0] / SR - 4.5) <= 0.03


def test_bad_input_one_line_errors(tmp_path, capsys):
    from voxquant.cli import main

    for argv, needle in ((["--trigger", "nosuchmodel"], "--trigger"), (["--command", "nosuch"], "--command"),
                         (["--hours", "0"], "--hours"), (["--hours", "-1"], "--hours")):
        code = main(["cascade", "--out", str(tmp_path / "o"), "--quiet", *argv])
        assert_one_line_error(code, capsys.readouterr().err, needle)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, shared_data):
    """A 2-minute cascade per condition: openWakeWord alexa (fp32, int8) x a tiny random ConvCTC (fp16, int8)."""
    import torch

    from voxquant.cascade_run import CascadeConfig, run_cascade
    from voxquant.models.ctc import build_ctc, save_ctc

    models = Path(os.environ.get("VOXQUANT_MODELS", Path(__file__).resolve().parents[2] / "shared" / "models"))
    if not (models / "openwakeword-v0.1" / "alexa_v0.1.onnx").is_file():
        pytest.skip(f"openWakeWord v0.1 models not found in {models} (set VOXQUANT_MODELS)")
    d = tmp_path_factory.mktemp("cascade")
    torch.manual_seed(0)
    c = {"channels": 16, "kernels": (5,), "repeat": 1, "head_channels": 16}
    w = save_ctc(build_ctc("conv", c), d / "tiny.pt", config=c)
    cfg = CascadeConfig(out_dir=d / "run", command=str(w), hours=0.03, n_boot=100, calib_n=8, synth_digits=4,
                        synth_commands=6, latency_runs=2, data_root=shared_data, progress=False)
    return cfg, run_cascade(cfg)


def test_end_to_end_four_pairings(tiny_run):
    cfg, res = tiny_run
    out = Path(cfg.out_dir)
    pairs = {(p["trigger"], p["command"]) for p in res["pairings"]}
    assert {("fp32", "fp16"), ("fp32", "int8_static_minmax"), ("int8", "fp16"), ("int8", "int8_static_minmax")} <= pairs
    assert {p["condition"] for p in res["pairings"]} == {"clean", "noise_snr10"}
    for f in ("cascade_results.json", "cascade_table.md", "report.html", "streams/clean/commands.csv"):
        assert (out / f).is_file(), f
    table = res["table"].splitlines()
    assert len(table) == 2 + len(res["pairings"]) and "success % [95% CI]" in table[0]
    p = next(p for p in res["pairings"] if p["trigger"] == "int8" and p["command"] == "int8_static_minmax")
    assert p["n_commands"] > 0 and p["compute"]["trigger_macs_per_h"] > 0
    assert p["compute"]["int8_share"] > 0.9  # int8 embedding + head + int8 command model
    q = next(p for p in res["pairings"] if p["trigger"] == "fp32" and p["command"] == "fp16")
    assert q["compute"]["int8_share"] == 0.0
    assert res["command"]["variants"]["int8_static_minmax"]["int8_mac_share"] > 0.5


def test_resume_reruns_no_model(tiny_run, monkeypatch):
    import voxquant.engine as engine
    from voxquant.cascade_run import run_cascade

    cfg, res = tiny_run

    def boom(*a, **k):
        raise AssertionError("a model ran on resume")

    monkeypatch.setattr(engine, "predict_scores", boom)
    monkeypatch.setattr(engine, "build_artifact", boom)
    again = run_cascade(cfg)
    assert again["table"] == res["table"]
