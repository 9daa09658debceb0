"""ONNX models and voxquant weights that load but do not fit: one ModelError naming the file, exit 2 in the CLI.

The ONNX models are built with ``onnx.helper`` (tests/onnx_builders.py) (a Flatten + MatMul classifier), each broken in one way.
"""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from onnx import TensorProto as T

from voxquant.cli import main
from voxquant.errors import ConfigError, ModelError
from voxquant.models.checks import check_model_io, check_onnx_file, copy_onnx
from voxquant.models.train import load_weights

from onnx_builders import make_onnx  # noqa: E402  (shared with the bad-input corpus)
from cli_checks import assert_one_line_error  # noqa: E402  (shared CLI bad-input contract)

FE = "voxquant-mfcc-49x10"


# (file name, builder kwargs, words the error must hold); the label count is 12 everywhere
BAD = [
    ("int_input.onnx", {"in_type": T.INT8}, "int8"),
    ("two_inputs.onnx", {"n_inputs": 2}, "2 inputs"),
    ("rank3.onnx", {"out_rank": 3}, "rank 3"),
    ("nan_out.onnx", {"nan": True}, "NaN"),
    ("wrong_shape.onnx", {"in_shape": (1, 1, 40, 10)}, "40"),
    ("opset99.onnx", {"opset": 99}, "opset 99"),
]
WIDTH = ("out35.onnx", {"n_out": 35}, "35 scores per clip but has 12 labels")


def _ext_missing(folder: Path) -> Path:
    p = make_onnx(folder / "ext" / "ext_model.onnx", external=True)
    (folder / "ext" / "ext_model.onnx.data").unlink()
    return p


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


@pytest.fixture
def wav(tmp_path):
    p = tmp_path / "clip.wav"
    sf.write(p, (0.1 * np.sin(np.arange(16000) / 5)).astype(np.float32), 16000)
    return p


# ---------------------------------------------------------------------------------------------------- Python API


@pytest.mark.parametrize("name, kw, words", BAD + [WIDTH])
def test_check_model_io_names_file_and_problem(tmp_path, name, kw, words):
    from voxquant.audio.presets import get_preset

    p = make_onnx(tmp_path / name, **kw)
    with pytest.raises(ModelError, match=words) as e:
        check_model_io(p, get_preset(FE), "nchw", 12)
    assert e.value.path == p


def test_good_model_passes_and_external_data_is_checked(tmp_path):
    from voxquant.audio.presets import get_preset

    check_model_io(make_onnx(tmp_path / "ok.onnx"), get_preset(FE), "nchw", 12)
    check_model_io(make_onnx(tmp_path / "e" / "ok.onnx", external=True), get_preset(FE), "nchw", 12)
    with pytest.raises(ModelError, match="ext_model.onnx.data' is missing") as e:
        check_onnx_file(_ext_missing(tmp_path))
    assert e.value.path.name == "ext_model.onnx"
    d = tmp_path / "folder.onnx"
    d.mkdir()
    with pytest.raises(ModelError, match="folder"):
        check_onnx_file(d)


def test_copies_carry_external_data(tmp_path):
    """copy_onnx and the fp32 recipe give a self-contained model when the source keeps its weights in .onnx.data."""
    from voxquant.quant import build_variant

    src = make_onnx(tmp_path / "src" / "m.onnx", external=True)
    a = copy_onnx(src, tmp_path / "out" / "copy.onnx")
    b = build_variant("fp32", src, tmp_path / "out" / "m.fp32.onnx", None)
    shutil.rmtree(tmp_path / "src")  # the copies must not need the source's data file
    x = np.zeros((1, 1, 49, 10), np.float32)
    import onnxruntime as ort

    ys = [ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0] for p in (a, b)]
    assert ys[0].shape == (1, 12) and np.array_equal(ys[0], ys[1])
    assert not list((tmp_path / "out").glob("*.data"))  # embedded (< 2 GiB)


def test_resolve_model_refuses_bare_integer_model(tmp_path):
    from voxquant.models.source import resolve_model

    p = make_onnx(tmp_path / "int.onnx", in_type=T.INT8)
    with pytest.raises(ModelError, match="int8") as e:
        resolve_model(p, frontend=FE, labels="sc12")
    assert e.value.path == p


def test_resolve_model_export_checks_nan_and_width(tmp_path):
    from voxquant.models.source import resolve_model

    for name, kw, words in (("nan_out.onnx", {"nan": True}, "NaN"), WIDTH):
        p = make_onnx(tmp_path / name, **kw)
        src = resolve_model(p, frontend=FE, labels="sc12")
        with pytest.raises(ModelError, match=words) as e:
            src.export(tmp_path / "out" / "model.fp32.onnx")
        assert e.value.path.name == name  # the user's file, not the copy


# ---------------------------------------------------------------------------------------------------- CLI


@pytest.mark.parametrize("name, kw, words", BAD + [WIDTH])
def test_predict_onnx(capsys, tmp_path, wav, name, kw, words):
    p = make_onnx(tmp_path / name, **kw)
    code, out, err = _run(capsys, "predict", "--onnx", p, wav)
    assert_one_line_error(code, err, name, words)
    assert not out


def test_predict_onnx_external_data(capsys, tmp_path, wav):
    ok = make_onnx(tmp_path / "ok" / "m.onnx", external=True)
    code, out, err = _run(capsys, "predict", "--onnx", ok, wav)
    assert code == 0 and "%" in out, err
    code, out, err = _run(capsys, "predict", "--onnx", _ext_missing(tmp_path), wav)
    assert_one_line_error(code, err, "ext_model.onnx", "ext_model.onnx.data", "missing")


@pytest.mark.parametrize("name, kw, words", BAD)
def test_quantize_onnx_refuses_and_writes_nothing(capsys, tmp_path, name, kw, words):
    p = make_onnx(tmp_path / name, **kw)
    out = tmp_path / "q"
    code, _, err = _run(capsys, "quantize", "--onnx", p, "--frontend", FE, "--recipes", "int8_dynamic", "--out", out)
    assert_one_line_error(code, err, name, words)
    assert not list(out.glob("*.onnx"))


def test_quantize_onnx_good_and_external_data(capsys, tmp_path):
    ok = make_onnx(tmp_path / "ok" / "m.onnx", external=True)
    code, out, err = _run(capsys, "quantize", "--onnx", ok, "--frontend", FE, "--recipes", "fp32,int8_dynamic",
                          "--out", tmp_path / "q")
    assert code == 0, err
    assert (tmp_path / "q" / "m.fp32.onnx").is_file() or list((tmp_path / "q").glob("*fp32*.onnx"))
    code, _, err = _run(capsys, "quantize", "--onnx", _ext_missing(tmp_path), "--frontend", FE, "--recipes",
                        "int8_dynamic", "--out", tmp_path / "q2")
    assert_one_line_error(code, err, "ext_model.onnx", "missing")


def test_bench_refuses_wrong_width(capsys, tmp_path):
    p = make_onnx(tmp_path / WIDTH[0], **WIDTH[1])
    code, _, err = _run(capsys, "bench", p, "--runs", "2", "--warmup", "1")
    assert_one_line_error(code, err, WIDTH[0], WIDTH[2])


@pytest.mark.parametrize("name, kw, words", [BAD[0], BAD[2], BAD[3], BAD[4], BAD[5], WIDTH])
def test_run_with_bad_onnx(capsys, tmp_path, shared_data, name, kw, words):
    p = make_onnx(tmp_path / name, **kw)
    code, _, err = _run(capsys, "run", "--model", p, "--frontend", FE, "--labels", "sc12", "--limit", "24",
                        "--recipes", "fp32", "--backends", "onnx", "--out", tmp_path / "run", "--quiet")
    assert_one_line_error(code, err, name)
    assert any(w in err for w in (words, "40x10", "[1, 1, 40, 10]")), err


def test_eval_with_missing_external_data(capsys, tmp_path, shared_data):
    code, _, err = _run(capsys, "eval", "--model", _ext_missing(tmp_path), "--frontend", FE, "--labels", "sc12",
                        "--limit", "24", "--out", tmp_path / "ev", "--quiet")
    assert_one_line_error(code, err, "ext_model.onnx", "missing")


# ---------------------------------------------------------------------------------------------------- .pt weights


def _weights(tmp_path, name, pt=None, meta=None, no_json=False) -> Path:
    from voxquant.models.zoo_default import DEFAULT_WEIGHTS

    p = tmp_path / f"{name}.pt"
    if pt is None:
        shutil.copyfile(DEFAULT_WEIGHTS, p)
    else:
        pt(p)
    if not no_json:
        good = json.loads(Path(DEFAULT_WEIGHTS).with_suffix(".json").read_text())
        text = meta(good) if callable(meta) else (meta if meta is not None else json.dumps(good))
        p.with_suffix(".json").write_text(text if isinstance(text, str) else json.dumps(text))
    return p


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo unpickled",))


WEIGHTS = [
    ("no_json", {"no_json": True}, ModelError, "no_json.json", "missing"),
    ("bad_json", {"meta": "{not json"}, ModelError, "bad_json.json", "not valid JSON"),
    ("list_json", {"meta": "[1, 2]"}, ModelError, "list_json.json", "JSON object"),
    ("no_arch", {"meta": lambda m: {k: v for k, v in m.items() if k != "arch"}}, ModelError, "no_arch.json", "'arch'"),
    ("bad_arch", {"meta": lambda m: dict(m, arch="nope")}, ConfigError, "bad_arch.json", "unknown architecture"),
    ("ten", {"meta": lambda m: dict(m, frontend=dict(m["frontend"], n_mfcc="ten"))}, ConfigError, "ten.json",
     "frontend.n_mfcc"),
    ("typo", {"meta": lambda m: dict(m, frontend=dict(m["frontend"], n_mfc=10))}, ConfigError, "typo.json",
     "did you mean 'n_mfcc'"),
    ("text", {"pt": lambda p: p.write_text("hello")}, ModelError, "text.pt", "not a PyTorch weights file"),
    ("tensor", {"pt": lambda p: torch.save(torch.zeros(3), p)}, ModelError, "tensor.pt", "not a voxquant state dict"),
    ("evil", {"pt": lambda p: torch.save({"a": _Evil()}, p)}, ModelError, "evil.pt", "does not unpickle"),
    ("five", {"meta": lambda m: dict(m, labels=m["labels"][:5])}, ModelError, "five.pt", "do not fit"),
]


@pytest.mark.parametrize("name, kw, exc, file, words", WEIGHTS)
def test_bad_weights(tmp_path, capsys, wav, name, kw, exc, file, words):
    p = _weights(tmp_path, name, **kw)
    with pytest.raises(exc, match=words) as e:
        load_weights(p)
    assert e.value.path.name == file
    code, out, err = _run(capsys, "predict", "--weights", p, wav)
    assert_one_line_error(code, err, file, words)
    assert "unpickled" not in out


def test_good_weights_load(tmp_path):
    model, meta = load_weights(_weights(tmp_path, "good"))
    assert len(meta["labels"]) == 12 and not model.training
