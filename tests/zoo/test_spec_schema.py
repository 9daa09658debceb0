"""Model spec TOML files checked by a schema: every error names the spec file and the field."""

import pytest

from voxquant.errors import ConfigError
from voxquant.zoo.spec import load_spec

from zoo_helpers import tiny_onnx

SC12 = ["_silence_", "_unknown_", "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]


def _spec(folder, shape="[1, 1, 49, 10]", model='"m.onnx"', extra_input="", frontend='preset = "mlperf-tiny-mfcc"',
          extra_top="", fmt="onnx"):
    p = folder / "spec.toml"
    p.write_text(f'''name = "t"
format = "{fmt}"
model = {model}
{extra_top}
[input]
shape = {shape}
layout = "nchw"
{extra_input}
[labels]
order = {SC12!r}

[frontend]
{frontend}
'''.replace("'", '"'))
    return p


def test_valid_spec_still_loads(tmp_path):
    tiny_onnx(tmp_path / "m.onnx")
    spec = load_spec(_spec(tmp_path))
    assert spec.input.shape == (1, 1, 49, 10) and spec.frontend.n_mfcc == 10


def test_dynamic_batch_is_allowed(tmp_path):
    assert load_spec(_spec(tmp_path, shape="[-1, 1, 49, 10]")).input.shape[0] == -1


@pytest.mark.parametrize("kw, words", [
    ({"shape": '["a"]'}, ["input.shape[0]", "'a'"]),
    ({"shape": "[1, 1, -49, 10]"}, ["input.shape[2]", "-49"]),
    ({"shape": "[1, 1, 49.5, 10]"}, ["input.shape[2]", "49.5"]),
    ({"shape": "[]"}, ["input.shape"]),
    ({"shape": '"1x49x10"'}, ["input.shape"]),
    ({"frontend": 'preset = "mlperf-tiny-mfcc"\n[frontend.overrides]\nn_mfcc = "ten"'},
     ["frontend.overrides.n_mfcc", "'ten'"]),
    ({"frontend": 'preset = "mlperf-tiny-mfcc"\n[frontend.overrides]\nn_mfc = 10'},
     ["frontend.overrides.n_mfc", "did you mean 'n_mfcc'"]),
    ({"frontend": 'preset = "mlperf-tiny-mfcc"\npadd = "audio"'}, ["frontend.padd", "did you mean 'pad'"]),
    ({"extra_input": 'layuot = "nchw"'}, ["input.layuot", "did you mean 'layout'"]),
    ({"extra_top": 'descripton = "x"'}, ["unknown model spec field 'descripton'", "did you mean 'description'"]),
    ({"extra_input": "[input.quantization]\nscale = -1.0\nzero_point = 0"}, ["input.quantization.scale"]),
    ({"extra_input": "[input.quantization]\nscale = 0.5\nzero_point = 1.5"}, ["input.quantization.zero_point"]),
    ({"model": "3"}, ["'model'", "3"]),
    ({"fmt": "onx"}, ["unknown model format 'onx'", "did you mean 'onnx'"]),
])
def test_bad_field_is_named_with_the_file(tmp_path, kw, words):
    tiny_onnx(tmp_path / "m.onnx")
    with pytest.raises(ConfigError) as e:
        load_spec(_spec(tmp_path, **kw))
    msg = str(e.value)
    assert msg.startswith(str((tmp_path / "spec.toml").resolve())), msg
    for w in words:
        assert w in msg, (w, msg)


def test_model_pointing_at_a_folder(tmp_path):
    (tmp_path / "weights").mkdir()
    with pytest.raises(ConfigError, match="'model' names a folder") as e:
        load_spec(_spec(tmp_path, model='"weights"'))
    assert e.value.path.name == "spec.toml"


def test_every_bundled_spec_loads():
    from pathlib import Path

    import voxquant.zoo

    specs = sorted((Path(voxquant.zoo.__file__).parent / "specs").glob("*.toml"))
    assert len(specs) >= 10
    for p in specs:
        assert load_spec(p).name


def test_cli_eval_with_bad_spec(tmp_path, capsys):
    from voxquant.cli import main

    p = _spec(tmp_path, shape='["a"]')
    code = main(["eval", "--model", str(p), "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and "spec.toml" in lines[0] and "input.shape[0]" in lines[0], err
