"""Validate at the door: every bad option value is one line naming the option and the value, exit 2, before any
work (no data is loaded: the option checks come before model and data resolution)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voxquant.cli import main
from voxquant.errors import ConfigError
from voxquant.paths import ensure_writable_dir
from voxquant.pipeline import RunConfig
from cli_checks import assert_one_line_error  # noqa: E402  (shared CLI bad-input contract)


@pytest.fixture(autouse=True)
def _no_work(monkeypatch):
    """Any data or model loading would mean validation came too late: make it fail loudly."""
    import voxquant.models.source as source

    def boom(*a, **k):
        raise AssertionError("work started before the options were validated")

    monkeypatch.setattr(source, "resolve_model", boom)
    monkeypatch.setattr(source, "load_model", boom)
    import voxquant.pipeline as pipeline

    monkeypatch.setattr(pipeline, "resolve_model", boom)


def _err(capsys, *argv):
    code = main(list(argv))
    return code, capsys.readouterr().err


RUN_CASES = [
    (["--threads", "-1"], "--threads", "-1"),
    (["--threads", "0"], "--threads", "0"),
    (["--threads", "abc"], "--threads", "abc"),
    (["--threads", "1.5"], "--threads", "1.5"),
    (["--n-boot", "0"], "--n-boot", "0"),
    (["--n-boot", "99"], "--n-boot", "99"),
    (["--n-boot", "x"], "--n-boot", "x"),
    (["--latency-runs", "0"], "--latency-runs", "0"),
    (["--seed", "-1"], "--seed", "-1"),
    (["--seed", "abc"], "--seed", "abc"),
    (["--snrs", "nan"], "--snrs", "nan"),
    (["--snrs", "inf"], "--snrs", "inf"),
    (["--snrs", "1e308"], "--snrs", "1e+308"),
    (["--snrs", "10,-40"], "--snrs", "-40"),
    (["--snrs", "abc"], "--snrs", "abc"),
    (["--max-drop", "nan"], "--max-drop", "nan"),
    (["--max-drop", "-1"], "--max-drop", "-1"),
    (["--max-drop", "inf"], "--max-drop", "inf"),
    (["--limit", "-5"], "--limit", "-5"),
    (["--limit", "0"], "--limit", "0"),
    (["--calib-n", "0"], "--calib-n", "0"),
    (["--calib-n", "abc"], "--calib-n", "abc"),
    (["--recipes", ""], "--recipes", "empty"),
    (["--recipes", ","], "--recipes", "empty"),
    (["--backends", ""], "--backends", "empty"),
    (["--budget", "worst"], "--budget", "worst"),
    (["--no-such-option"], "--no-such-option"),
]


@pytest.mark.parametrize("extra,option,value", [c if len(c) == 3 else (*c, "") for c in RUN_CASES])
def test_run_option_refused(capsys, tmp_path, extra, option, value):
    code, err = _err(capsys, "run", "--out", str(tmp_path / "o"), *extra)
    assert_one_line_error(code, err, option, value)
    assert not (tmp_path / "o").exists()  # nothing created


def test_argparse_error_is_one_line(capsys):
    code, err = _err(capsys, "run", "--calib-n", "abc")
    assert_one_line_error(code, err, "--calib-n: invalid int value 'abc'", "voxquant run --help")
    code, err = _err(capsys, "bogus-command")
    assert_one_line_error(code, err, "bogus-command")
    code, err = _err(capsys, "predict")  # a required positional missing
    assert_one_line_error(code, err, "files")


def test_out_is_a_file(capsys, tmp_path):
    f = tmp_path / "taken.txt"
    f.write_text("x")
    assert_one_line_error(*_err(capsys, "run", "--out", str(f)), "--out", "taken.txt", "is a file")
    assert_one_line_error(*_err(capsys, "run", "--out", str(f / "sub")), "--out", "below", "taken.txt")


def test_out_not_writable(capsys):
    assert_one_line_error(*_err(capsys, "run", "--out", "/proc/x"), "--out", "/proc/x")
    assert_one_line_error(*_err(capsys, "quantize", "--out", "/proc/x"), "--out", "/proc/x")
    assert_one_line_error(*_err(capsys, "benchmark", "--out", "/proc/x"), "--out", "/proc/x")


def test_out_dangling_symlink(capsys, tmp_path):
    (tmp_path / "link").symlink_to(tmp_path / "nowhere" / "deeper")
    assert_one_line_error(*_err(capsys, "run", "--out", str(tmp_path / "link")), "--out", "dangling")


def test_ensure_writable_dir_leaves_nothing(tmp_path):
    target = tmp_path / "a" / "b"
    assert ensure_writable_dir(target) == target
    assert list(tmp_path.iterdir()) == []  # the probe folder is removed, nothing created
    (tmp_path / "d").mkdir()
    ensure_writable_dir(tmp_path / "d")
    assert list((tmp_path / "d").iterdir()) == []


def test_toml_values_are_validated_too(capsys, tmp_path):
    p = tmp_path / "run.toml"
    for line, needle in (("threads = [0]", "--threads"), ("snrs = [nan]", "--snrs"), ("snrs = [2.5, 1e308]", "--snrs"), ("n_boot = 0", "--n-boot"),
                         ("far_field_snr = inf", "far_field_snr"), ("latency_warmup = -1", "latency_warmup"),
                         ("eval_threads = 0", "eval_threads"), ("recipes = []", "--recipes"),
                         ("seed = -3", "--seed"), ("max_drop = nan", "--max-drop")):
        p.write_text(line + "\n")
        assert_one_line_error(*_err(capsys, "run", "--config", str(p), "--out", str(tmp_path / "o")), needle)


def test_python_api_validates(tmp_path):
    import voxquant.pipeline as pipeline

    with pytest.raises(ConfigError, match=r"--n-boot \(n_boot\): .* got 0"):  # the CLI option and the API key
        pipeline.run(RunConfig(out_dir=tmp_path / "o", n_boot=0))
    with pytest.raises(ConfigError, match="--threads"):
        RunConfig(out_dir=tmp_path / "o", threads=(True,)).validate()
    with pytest.raises(ConfigError, match="--limit"):
        RunConfig(out_dir=tmp_path / "o", limit=2.5).validate()
    with pytest.raises(ConfigError, match="recipe_options.mixed.max_drop"):
        RunConfig(out_dir=tmp_path / "o", recipe_options={"mixed": {"max_drop": math.nan}}).validate()
    RunConfig(out_dir=tmp_path / "o").validate()  # the defaults pass
    RunConfig(out_dir=tmp_path / "o", threads=()).validate()  # no latency is allowed


@pytest.mark.parametrize("argv,needle", [
    (["train", "--epochs", "0"], "--epochs"),
    (["train", "--epochs", "x"], "--epochs"),
    (["train", "--threads", "-1"], "--threads"),
    (["train", "--max-minutes", "nan"], "--max-minutes"),
    (["train", "--max-minutes", "0"], "--max-minutes"),
    (["train", "--seed", "-1"], "--seed"),
    (["quantize", "--calib-n", "0"], "--calib-n"),
    (["quantize", "--recipes", ""], "--recipes"),
    (["quantize", "--seed", "-2"], "--seed"),
    (["eval", "--limit", "-5"], "--limit"),
    (["eval", "--latency-runs", "0"], "--latency-runs"),
    (["bench", "m.onnx", "--runs", "-1"], "--runs"),
    (["bench", "m.onnx", "--warmup", "-1"], "--warmup"),
    (["bench", "m.onnx", "--threads", "abc"], "--threads"),
    (["bench", "m.onnx", "--threads", "0"], "--threads"),
    (["bench", "m.onnx", "--threads", ""], "--threads"),
    (["benchmark", "--runs", "-1"], "--runs"),
    (["benchmark", "--snrs", "nan"], "--snrs"),
    (["benchmark", "--snrs", "x"], "--snrs"),
    (["benchmark", "--threads", "0"], "--threads"),
    (["benchmark", "--max-drop", "inf"], "--max-drop"),
    (["benchmark", "--limit", "0"], "--limit"),
    (["benchmark", "--formats", ""], "--formats"),
    (["zoo", "eval", "x", "--threads", "0"], "--threads"),
    (["zoo", "eval", "x", "--limit", "-1"], "--limit"),
    (["study", "calibration", "--sizes", "a"], "--sizes"),
    (["study", "calibration", "--sizes", "0"], "--sizes"),
    (["study", "architectures", "--qat-epochs", "0"], "--qat-epochs"),
    (["study", "architectures", "--max-drop", "nan"], "--max-drop"),
])
def test_other_commands_refuse_bad_values(capsys, tmp_path, monkeypatch, argv, needle):
    monkeypatch.chdir(tmp_path)  # default output folders land in tmp
    assert_one_line_error(*_err(capsys, *argv), needle)


def test_train_out_is_a_folder(capsys, tmp_path):
    assert_one_line_error(*_err(capsys, "train", "--out", str(tmp_path)), "--out", "is a folder")


# ------------------------------------------------------------------------------------------------ properties

BAD_FLOATS = st.one_of(st.sampled_from([math.nan, math.inf, -math.inf]),
                       st.floats(min_value=60.0001, max_value=1e308), st.floats(max_value=-30.0001, min_value=-1e308))
INT_OPTIONS = {"--threads": 1, "--latency-runs": 1, "--n-boot": 100, "--calib-n": 1, "--limit": 1, "--seed": 0}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(option=st.sampled_from(sorted(INT_OPTIONS)), data=st.data())
def test_property_int_options(capsys, tmp_path, option, data):
    low = INT_OPTIONS[option]
    value = data.draw(st.one_of(st.integers(max_value=low - 1, min_value=-(2**70)),
                                st.sampled_from(["nan", "inf", "1.5", "x", "1e3"])))
    code, err = _err(capsys, "run", "--out", str(tmp_path / "o"), option, str(value))
    assert_one_line_error(code, err, option)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(option=st.sampled_from(["--snrs", "--max-drop"]), value=BAD_FLOATS)
def test_property_float_options(capsys, tmp_path, option, value):
    if option == "--max-drop" and 0 <= value <= 100:
        return
    code, err = _err(capsys, "run", "--out", str(tmp_path / "o"), option, repr(value))
    assert_one_line_error(code, err, option)


def test_toml_accepts_fractional_snrs(tmp_path):
    from voxquant.cli import build_parser, run_config_from_args

    p = tmp_path / "run.toml"
    p.write_text(f'snrs = [2.5, 0]\nout_dir = "{tmp_path / "o"}"\n')
    cfg = run_config_from_args(build_parser().parse_args(["run", "--config", str(p)]))
    assert cfg.snrs == (2.5, 0)
