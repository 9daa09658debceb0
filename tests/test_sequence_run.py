"""``voxquant run --task sequence`` (voxquant.sequence_run): a tiny CTC model through the one engine on real accented
connected digits (a 3-utterance manifest) and held-out synthetic sequences; bad inputs, one line each."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from cli_checks import assert_one_line_error
from voxquant.errors import ConfigError, DataError, ModelError

RECIPES = ("fp32", "fp16", "int8_static_minmax")


def _tiny_weights(path: Path) -> Path:
    import torch

    from voxquant.models.ctc import ConvCTC, save_ctc

    torch.manual_seed(0)
    cfg = {"channels": 24, "kernels": [11], "repeat": 1, "head_channels": 32}
    return save_ctc(ConvCTC(**cfg), path, {"config": cfg})


def _manifest(path: Path, data: Path, n: int = 3, rows=None) -> Path:
    src = [r for r in csv.DictReader(open(data / "alphanumeric_accents" / "manifest.csv")) if r["kind"] == "digits"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "speaker", "accent", "native"])
        for r in rows or [[str(data / "alphanumeric_accents" / r["path"]), r["label"], r["speaker"], r["accent"],
                           r["native"]] for r in src[:n]]:
            w.writerow(r)
    return path


def _cfg(out, data, weights, manifest, **kw):
    from voxquant.sequence_run import SequenceConfig

    base = dict(out_dir=out, model=weights, data=manifest, data_root=data, recipes=RECIPES, synth_digits=3,
                synth_commands=3, snrs=(10,), reverb=False, far_field=False, calib_n=6, threads=(), n_boot=100,
                progress=False)
    return SequenceConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def tiny_seq(tmp_path_factory, shared_data):
    from voxquant.sequence_run import run_sequence

    d = tmp_path_factory.mktemp("seq")
    w = _tiny_weights(d / "tiny.pt")
    m = _manifest(d / "real.csv", shared_data)
    cfg = _cfg(d / "run", shared_data, w, m)
    return cfg, run_sequence(cfg)


def test_every_variant_has_wer_per_slice_and_groups(tiny_seq):
    cfg, res = tiny_seq
    names = [s["name"] for s in res["data"]["slices"]]
    assert names == ["real_clean", "real_noise_snr10", "synth_digits_clean", "synth_digits_noise_snr10",
                     "synth_commands_clean", "synth_commands_noise_snr10"]
    assert [v["name"] for v in res["variants"]] == list(RECIPES)
    for v in res["variants"]:
        assert v["status"] == "ok", v.get("error")
        assert set(v["wer"]) == set(names)
        r = v["wer"]["real_clean"]
        assert r["n_utts"] == 3 and r["n_words"] == sum(len(x) for x in ("3041254855", "1045562375", "43126798"))
        assert r["S"] + r["D"] + r["I"] == pytest.approx(r["wer"] * r["n_words"])
        assert r["wer_ci"][0] <= r["wer"] <= r["wer_ci"][1]
        cols = v["wer_groups"]["columns"]
        assert {e["group"] for e in cols["accent"]} == {"Indian"}
        if v["name"] != "fp32":
            assert "wer_increase_ci" in r
            assert v["int8_mac_share"] is not None
    # sentence accuracy rows of the engine (paired CIs) are there too
    assert [s["name"] for s in res["variants"][1]["slices"]] == names
    assert res["recommendation"]["choice"] in RECIPES


def test_cells_match_a_fresh_decode(tiny_seq):
    """The stored WER counts are the decode of the stored model's outputs (recomputed here independently)."""
    from voxquant.backends.onnxruntime import OrtSession
    from voxquant.data.sequences import GRAMMARS
    from voxquant.eval.ctc import decode_batch, wer_counts
    from voxquant.report.store import ResultStore

    cfg, res = tiny_seq
    store = ResultStore(cfg.out_dir)
    x = np.load(next((Path(cfg.out_dir) / "cache").glob("seq_real_clean_*.npy")))
    logp = OrtSession(Path(cfg.out_dir) / "models" / "model.fp32.onnx").run(x)
    hyps = decode_batch(logp, res["model"]["vocab"], GRAMMARS["digits"])
    refs = [tuple(store.get("acc/fp32/real_clean")["hyps"][i].split()) for i in range(3)]
    assert [tuple(h) for h in hyps] == refs
    stored = store.get_array("wer_counts/fp32/real_clean")
    truth = [("three", "zero", "four", "one", "two", "five", "four", "eight", "five", "five")]
    assert stored.shape == (3, 4) and stored[0, 3] == 10
    assert (wer_counts(truth, hyps[:1]) == stored[:1]).all()


def test_report_and_json_written(tiny_seq):
    cfg, res = tiny_seq
    html = (Path(cfg.out_dir) / "report.html").read_text()
    for title in ("Summary: architecture x precision", "WER per slice", "Per speaker group", "Error types and decoding",
                  "What ran in int8, what stayed float", "Provenance"):
        assert title in html
    assert html.count("data:image/png;base64") >= 2  # WER vs cost + WER per accent
    assert json.loads((Path(cfg.out_dir) / "sequence_results.json").read_text())["task"] == "sequence"


def test_resume_recomputes_nothing(tiny_seq, monkeypatch):
    from voxquant import engine
    from voxquant.sequence_run import run_sequence

    cfg, res = tiny_seq

    def boom(*a, **k):
        raise AssertionError("a stored cell was recomputed")

    monkeypatch.setattr(engine, "build_artifact", boom)
    monkeypatch.setattr(engine, "_score", boom)
    again = run_sequence(cfg)
    assert again["variants"][2]["wer"] == res["variants"][2]["wer"]


@pytest.mark.parametrize("label, needle", [
    ("go turn left", "turn"),            # a word outside the grammar / vocabulary
    ("", "empty"),                       # an empty transcript
    ("3.5", "3.5"),                      # not a word sequence
])
def test_bad_transcripts_one_clear_error(tmp_path, shared_data, label, needle):
    from voxquant.sequence_run import load_real_set

    audio = next((shared_data / "alphanumeric_accents" / "audio" / "digits").glob("*.flac"))
    m = _manifest(tmp_path / "bad.csv", shared_data, rows=[[str(audio), label, "s1", "x", "no"]])
    with pytest.raises(DataError) as e:
        load_real_set(_cfg(tmp_path / "o", shared_data, None, m, grammar="commands" if "go" in label else "digits"))
    msg = str(e.value)
    assert needle in msg and audio.name in msg, msg  # the problem and the file it is about
    assert "\n" not in msg


def test_label_column_missing_and_long_utterance(tmp_path, shared_data):
    import soundfile as sf

    from voxquant.sequence_run import load_real_set, run_sequence

    bad = tmp_path / "nolabel.csv"
    bad.write_text("path,words\nx.wav,one\n")
    with pytest.raises(DataError, match="path,label"):
        load_real_set(_cfg(tmp_path / "o", shared_data, None, bad))
    long = tmp_path / "long.wav"
    sf.write(long, np.random.default_rng(0).normal(0, 0.05, 16000 * 15).astype(np.float32), 16000)
    m = _manifest(tmp_path / "long.csv", shared_data, rows=[[str(long), "one two", "s1", "x", "no"]])
    w = _tiny_weights(tmp_path / "tiny.pt")
    with pytest.raises(DataError) as e:
        run_sequence(_cfg(tmp_path / "run", shared_data, w, m, recipes=("fp32",)))
    assert "long.wav" in str(e.value) and "14" in str(e.value)


def test_model_must_be_a_ctc_model(tmp_path):
    from voxquant.sequence_run import resolve_sequence_model

    clf = Path(__file__).resolve().parents[1] / "src" / "voxquant" / "models" / "weights" / "dscnn_sc12.pt"
    with pytest.raises(ModelError, match="sequence"):
        resolve_sequence_model(clf)
    with pytest.raises(ConfigError, match="conformer"):
        resolve_sequence_model("conformr")


def test_run_task_sequence_maps_options_and_refuses_others(tmp_path):
    from voxquant.pipeline import RunConfig, sequence_config

    sc = sequence_config(RunConfig(task="sequence", out_dir=tmp_path))
    assert sc.model == "conv" and sc.recipes[0] == "fp32" and "qat" in sc.recipes and sc.snrs == (10, 0)
    assert sequence_config(RunConfig(task="sequence", out_dir=tmp_path, snrs=(5,))).snrs == (5,)
    with pytest.raises(ConfigError, match="--limit"):
        sequence_config(RunConfig(task="sequence", out_dir=tmp_path, limit=5))


def test_cli_bad_model_one_line(tmp_path, capsys):
    from voxquant.cli import main

    code = main(["run", "--task", "sequence", "--model", "conformr", "--out", str(tmp_path / "r"), "--quiet"])
    assert_one_line_error(code, capsys.readouterr().err, "conformr")
