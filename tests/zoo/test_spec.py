"""Model specs: parsing, layouts, int8 input rounding, label targets, and one clear error per kind of bad input."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest

from voxquant.errors import ConfigError, MissingExtraError, ModelError
from voxquant.zoo import load_spec, open_model, open_module
from voxquant.zoo.spec import InputQuantization, quantize_input, target_label, to_model_layout

from zoo_helpers import tiny_onnx

SC12 = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "_unknown_", "_silence_"]


def write_spec(folder: Path, model="m.onnx", fmt="onnx", shape=(1, 1, 49, 10), layout="nchw", labels=SC12,
               extra="", files="", preset="mlperf-tiny-mfcc") -> Path:
    text = f'''name = "t"
format = "{fmt}"
model = "{model}"
{files}
[input]
shape = {list(shape)}
layout = "{layout}"

[labels]
order = {labels!r}

[frontend]
preset = "{preset}"
{extra}
'''.replace("'", '"')
    p = folder / "spec.toml"
    p.write_text(text)
    return p


def test_valid_spec_loads_and_runs(tmp_path):
    tiny_onnx(tmp_path / "m.onnx")
    spec = load_spec(write_spec(tmp_path))
    assert spec.format == "onnx" and spec.labels == tuple(SC12) and spec.feature_shape == (49, 10)
    assert spec.frontend.name == "mlperf-tiny-mfcc" and spec.model_path == (tmp_path / "m.onnx").resolve()
    sess = open_model(spec)
    y = sess.run_features(np.zeros((3, 49, 10), np.float32))
    assert y.shape == (3, 12) and y.dtype == np.float32


def test_missing_model_file_names_it(tmp_path):
    spec = load_spec(write_spec(tmp_path, model="absent.onnx"))
    with pytest.raises(ModelError, match="absent.onnx.*does not exist") as e:
        open_model(spec)
    assert "spec.toml" in str(e.value)


def test_wrong_input_shape_is_reported(tmp_path):
    tiny_onnx(tmp_path / "m.onnx", in_shape=(1, 32, 40))
    spec = load_spec(write_spec(tmp_path))  # spec says [1, 1, 49, 10]
    with pytest.raises(ModelError, match=r"input shape .*32, 40.*does not match.*49, 10"):
        open_model(spec)


def test_label_count_mismatch_is_reported(tmp_path):
    tiny_onnx(tmp_path / "m.onnx", n_out=10)
    spec = load_spec(write_spec(tmp_path))
    with pytest.raises(ModelError, match=r"output has shape \[1, 10\].*12 labels"):
        open_model(spec)


def test_checksum_mismatch_is_reported(tmp_path):
    m = tiny_onnx(tmp_path / "m.onnx")
    good = hashlib.sha256(m.read_bytes()).hexdigest()
    files = f'[[files]]\npath = "m.onnx"\nsha256 = "{"0" * 64}"\n'
    with pytest.raises(ModelError, match="checksum mismatch"):
        open_model(load_spec(write_spec(tmp_path, files=files)))
    files = f'[[files]]\npath = "m.onnx"\nsha256 = "{good}"\n'
    open_model(load_spec(write_spec(tmp_path, files=files)))  # the right digest passes


def test_tflite_without_litert_extra(tmp_path, monkeypatch):
    (tmp_path / "m.tflite").write_bytes(b"TFL3 not really")
    spec = load_spec(write_spec(tmp_path, model="m.tflite", fmt="tflite", shape=(1, 49, 10, 1), layout="nhwc"))
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    with pytest.raises(MissingExtraError, match=r"voxquant\[litert\]"):
        open_model(spec)


def test_keras_without_tf_extra(tmp_path, monkeypatch):
    (tmp_path / "m.h5").write_bytes(b"\x89HDF not really")
    spec = load_spec(write_spec(tmp_path, model="m.h5", fmt="keras_h5", shape=(1, 49, 10, 1), layout="nhwc"))
    for mod in ("tensorflow", "tf_keras", "tf2onnx"):
        monkeypatch.setitem(sys.modules, mod, None)
    with pytest.raises(MissingExtraError, match=r"voxquant\[tf\]"):
        open_model(spec)


@pytest.mark.parametrize("extra, match", [
    ('[published]\naccuracy = 0.9\n[bogus]\nx = 1', "unknown model spec field"),
    ("", None),
])
def test_unknown_top_level_field(tmp_path, extra, match):
    tiny_onnx(tmp_path / "m.onnx")
    if match:
        with pytest.raises(ConfigError, match=match):
            load_spec(write_spec(tmp_path, extra=extra))
    else:
        load_spec(write_spec(tmp_path, extra=extra))


def test_bad_specs_raise_config_errors_naming_the_file(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("name = [unclosed")
    with pytest.raises(ConfigError, match="bad.toml.*not a valid TOML"):
        load_spec(p)
    with pytest.raises(ConfigError, match="unknown front-end preset 'mlperf-tiny-mfc'.*did you mean 'mlperf-tiny-mfcc'"):
        load_spec(write_spec(tmp_path, preset="mlperf-tiny-mfc"))
    with pytest.raises(ConfigError, match="unknown model format"):
        load_spec(write_spec(tmp_path, fmt="caffe"))
    with pytest.raises(ConfigError, match="front-end gives 49 frames x 10 features.*wants 32 x 40"):
        load_spec(write_spec(tmp_path, shape=(1, 1, 32, 40)))
    with pytest.raises(ConfigError, match="model spec not found"):
        load_spec(tmp_path / "nope.toml")


def test_layouts():
    f = np.arange(2 * 49 * 10, dtype=np.float32).reshape(2, 49, 10)
    assert to_model_layout(f, "nchw").shape == (2, 1, 49, 10)
    assert to_model_layout(f, "nhwc").shape == (2, 49, 10, 1)
    assert np.array_equal(to_model_layout(f, "flat")[1], f[1].ravel())  # row-major frames
    assert np.array_equal(to_model_layout(f, "nchw_ft")[0, 0], f[0].T)
    assert to_model_layout(f, "nt1f").shape == (2, 49, 1, 10)
    with pytest.raises(ConfigError):
        to_model_layout(f, "nwhc")


def test_int8_input_rounding_modes():
    x = np.array([-0.3, -0.75, 0.75, 1.25, 100.0], np.float32)
    base = dict(scale=0.5, zero_point=83)
    q, bad = quantize_input(x, InputQuantization(**base, rounding="truncate"))
    assert q.tolist() == [82, 81, 84, 85, 127] and bad == 1  # trunc(x/s + zp): the MLPerf publisher's rule
    q, _ = quantize_input(x, InputQuantization(**base, rounding="nearest"))
    assert q.tolist() == [82, 81, 85, 86, 127]  # half away from zero (TFLite)
    q, _ = quantize_input(x, InputQuantization(**base, rounding="nearest_even"))
    assert q.tolist() == [82, 81, 85, 85, 127]  # rint: 2.5 -> 2, 1.5 -> 2 (ONNX QuantizeLinear)
    assert q.dtype == np.int8


def test_targets(tmp_path):
    tiny_onnx(tmp_path / "m.onnx")
    spec = load_spec(write_spec(tmp_path, extra=""))
    assert target_label(spec, "_unknown_", "cat") == "_unknown_"
    p = write_spec(tmp_path, labels=["Marvin", "Silence", "Unknown"])
    text = p.read_text().replace('[labels]', '[labels]\ntarget = "map"') + (
        '\n[labels.map]\nmarvin = "Marvin"\n_silence_ = "Silence"\n"*" = "Unknown"\n')
    p.write_text(text)
    spec = load_spec(p)
    assert [target_label(spec, lab, w) for lab, w in [("_unknown_", "marvin"), ("_silence_", None), ("yes", "yes")]] \
        == ["Marvin", "Silence", "Unknown"]


def test_open_module_python_api(tmp_path):
    import torch

    tiny_onnx(tmp_path / "m.onnx")
    spec = load_spec(write_spec(tmp_path))
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(490, 12))
    y = open_module(module, spec).run_features(np.zeros((2, 49, 10), np.float32))
    assert y.shape == (2, 12)
    with pytest.raises(ModelError, match="12 labels"):
        open_module(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(490, 5)), spec)


def test_bare_onnx_with_a_frontend_preset(tmp_path):
    from voxquant.zoo import spec_for_file

    tiny_onnx(tmp_path / "m.onnx", in_shape=(1, 49, 10))
    with pytest.raises(ConfigError, match="needs its label order"):  # voxquant's 12 labels are never assumed
        spec_for_file(tmp_path / "m.onnx", "mlperf-tiny-mfcc")
    spec = spec_for_file(tmp_path / "m.onnx", "mlperf-tiny-mfcc", labels="sc12")
    assert spec.input.layout == "nchw" and spec.labels[-1] == "_silence_"
    assert open_model(spec).run_features(np.zeros((1, 49, 10), np.float32)).shape == (1, 12)
    with pytest.raises(ConfigError, match="gives 32x40 features"):
        spec_for_file(tmp_path / "m.onnx", "torchaudio-logmel", labels="sc12")
    (tmp_path / "m.pb").write_bytes(b"x")
    with pytest.raises(ModelError, match="without a spec"):
        spec_for_file(tmp_path / "m.pb")
