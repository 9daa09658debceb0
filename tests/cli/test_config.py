"""``voxquant run --config run.toml``: one source of defaults (RunConfig), the file, then the command line."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from voxquant.cli import build_parser, main, run_config_from_args
from voxquant.errors import ConfigError
from voxquant.pipeline import DEFAULT_RECIPES, RunConfig


def _cfg(argv):
    return run_config_from_args(build_parser().parse_args(["run", *argv]))


def test_no_options_gives_the_dataclass_defaults():
    cfg = _cfg([])
    for f in dataclasses.fields(RunConfig):
        if f.name != "recipe_options":
            assert getattr(cfg, f.name) == getattr(RunConfig(), f.name), f.name
    assert cfg.recipes == DEFAULT_RECIPES
    assert cfg.recipe_options == {"mixed": {"max_drop": RunConfig().max_drop, "budget": "worst-slice"}}


def test_toml_drives_the_run_config(tmp_path):
    p = tmp_path / "run.toml"
    p.write_text('out_dir = "runs/x"\nrecipes = ["fp32", "int8_dynamic"]\nsnrs = [10, 0]\nreverb = false\n'
                 'limit = 50\nmax_drop = 2.5\nbackends = ["onnx", "tflite"]\n')
    cfg = _cfg(["--config", str(p)])
    assert cfg.out_dir == Path("runs/x") and cfg.recipes == ("fp32", "int8_dynamic") and cfg.snrs == (10, 0)
    assert cfg.reverb is False and cfg.far_field is True and cfg.limit == 50 and cfg.backends == ("onnx", "tflite")
    assert cfg.recipe_options["mixed"]["max_drop"] == 2.5
    assert cfg.n_boot == RunConfig().n_boot


def test_cli_overrides_the_file(tmp_path):
    p = tmp_path / "run.toml"
    p.write_text('[run]\nlimit = 50\nseed = 3\nrecipes = ["fp32"]\n')
    cfg = _cfg(["--config", str(p), "--limit", "7", "--recipes", "fp16,int8_dynamic", "--quiet"])
    assert cfg.limit == 7 and cfg.recipes == ("fp16", "int8_dynamic") and cfg.seed == 3 and cfg.progress is False


def test_typo_gets_a_suggestion(tmp_path, capsys):
    p = tmp_path / "run.toml"
    p.write_text("recipies = [\"fp32\"]\n")
    with pytest.raises(ConfigError, match=r"unknown key 'recipies'.*did you mean 'recipes'"):
        _cfg(["--config", str(p)])
    assert main(["run", "--config", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(p) in err and "recipes" in err


@pytest.mark.parametrize("line,key", [('limit = "ten"', "limit"), ("reverb = 1", "reverb"), ('snrs = ["a"]', "snrs"),
                                      ("n_boot = 1.5", "n_boot")])
def test_wrong_type_names_the_key(tmp_path, line, key):
    p = tmp_path / "run.toml"
    p.write_text(line + "\n")
    with pytest.raises(ConfigError, match=rf"key '{key}' must be"):
        _cfg(["--config", str(p)])


def test_help_shows_the_dataclass_defaults(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--help"])
    out = "".join(capsys.readouterr().out.split())  # argparse wraps long words: compare without whitespace
    d = RunConfig()
    assert "[--configCONFIG]" in out and f"[{d.out_dir}]" in out
    assert "[" + ",".join(str(s) for s in d.snrs) + "]" in out
    assert "[" + ",".join(d.recipes) + "]" in out
    assert f"[{d.n_boot}]" in out and f"[{d.latency_runs}]" in out and f"[{d.max_drop}]" in out
