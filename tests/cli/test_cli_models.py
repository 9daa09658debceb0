"""`--model` forms accepted by `voxquant run`/`eval`: a bare float ONNX with --frontend, and the zoo commands."""

import json

import pytest

from voxquant.cli import main
from voxquant.models.train import load_weights
from voxquant.models.zoo_default import DEFAULT_WEIGHTS
from voxquant.quant.export import export_onnx


def test_run_with_bare_onnx_and_frontend_preset(tmp_path, shared_data, monkeypatch, capsys):
    import dataclasses

    from voxquant.pipeline import RunConfig

    if "labels" not in {f.name for f in dataclasses.fields(RunConfig)}:
        pytest.skip("RunConfig.labels not wired into voxquant.pipeline yet (bare models need --labels)")
    monkeypatch.setenv("VOXQUANT_CACHE", str(tmp_path / "cache"))
    net, _ = load_weights(DEFAULT_WEIGHTS)
    onnx_path = export_onnx(net, net.example_input(), tmp_path / "mine.onnx")
    out = tmp_path / "run"
    code = main(["run", "--model", str(onnx_path), "--frontend", "voxquant-mfcc-49x10", "--labels", "sc12",
                 "--recipes", "fp32,int8_dynamic",
                 "--limit", "48", "--calib-n", "24", "--threads", "1", "--latency-runs", "5", "--snrs", "10",
                 "--no-reverb", "--n-boot", "100", "--out", str(out), "--quiet"])
    assert code == 0, capsys.readouterr().err
    res = json.loads((out / "results.json").read_text())
    assert res["model"]["name"] == "mine" and res["model"]["input_layout"] == "nchw"
    assert [v["name"] for v in res["variants"]] == ["fp32", "int8_dynamic"]
    assert res["variants"][0]["accuracy"] > 0.5


def test_bare_onnx_without_frontend_is_a_clear_error(tmp_path, capsys):
    p = tmp_path / "m.onnx"
    p.write_bytes(b"x")
    code = main(["run", "--model", str(p), "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 2 and "needs --frontend" in capsys.readouterr().err


def test_bare_onnx_without_labels_is_a_clear_error(tmp_path, capsys):
    """A bare model's label order is never assumed to be voxquant's 12 classes."""
    from voxquant.errors import ConfigError
    from voxquant.models.source import resolve_model

    net, _ = load_weights(DEFAULT_WEIGHTS)
    p = export_onnx(net, net.example_input(), tmp_path / "m.onnx")
    with pytest.raises(ConfigError, match="needs --labels"):
        resolve_model(p, "voxquant-mfcc-49x10")
    code = main(["run", "--model", str(p), "--frontend", "voxquant-mfcc-49x10", "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "needs --labels" in err and len(err.strip().splitlines()) == 1
    src = resolve_model(p, "voxquant-mfcc-49x10", labels="sc12")
    assert src.labels[0] == "yes" and src.layout == "nchw"


def test_zoo_list(capsys):
    assert main(["zoo", "list"]) == 0
    out = capsys.readouterr().out
    assert "mlperf-tiny-kws-dscnn-int8" in out and "bcresnet2-sc35" in out
