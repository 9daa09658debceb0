"""The bad-input corpus (tests/corpus/corpus_cases.py): every bad input gets one clear error naming the file or the
option, every unusual-but-valid input a documented success; never a traceback, never a silent success, and no
work before validation.

Each record is its own test id (``test_case[<id>]``). Outcomes:

* ``clear-error``: CLI exit 2 with exactly one stderr line ``error: ...`` naming the file/option; API: a
  ``VoxquantError`` whose message names it.
* ``documented-success``: exit 0 / a return value where the record expects ``ok``.
* ``traceback``: any other exception (or a CLI exit status other than 0 and 2); ``silent-success``: exit 0 / a
  return value where an error is expected; ``unclear-error``: an error that is not one line or does not name the
  file/option; ``work-started``: the tripwire fired (validation let the input through to real work);
  ``unexpected-error``: a clear error where the record expects ``ok``.

The summary at the end of the pytest run (conftest.py) counts the cases by kind and outcome.
"""

from __future__ import annotations

import os
import traceback

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corpus_builders import WorkStarted
from corpus_cases import CASES, DOOR

from voxquant.errors import VoxquantError


def _named(text: str, needles) -> list:
    """The needles (a string, or a tuple of alternatives) that ``text`` does not name."""
    missing = []
    for n in needles:
        alts = n if isinstance(n, tuple) else (n,)
        if not any(str(a) in text for a in alts):
            missing.append(n)
    return missing


def run_cli(argv, needles, capsys):
    """``(outcome, detail)`` of ``voxquant.cli.main(argv)``."""
    from voxquant.cli import main

    try:
        code = main([str(a) for a in argv])
    except WorkStarted as exc:
        return "work-started", f"reached {exc} before any error"
    except SystemExit as exc:  # argparse usage errors and --help/--version
        code = exc.code if isinstance(exc.code, int) else 2
    except Exception:  # noqa: BLE001 - anything else is a traceback
        return "traceback", traceback.format_exc(limit=-3)
    err = capsys.readouterr().err
    if code == 0:
        return "ok", err
    if code != 2:
        return "traceback", f"exit {code}: {err}"
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    if len(lines) != 1 or not lines[0].startswith("error: ") or "Traceback" in err:
        return "unclear-error", f"not one 'error: ' line: {err!r}"
    missing = _named(lines[0], needles)
    if missing:
        return "unclear-error", f"{lines[0]!r} does not name {missing}"
    return "error", lines[0]


def run_api(call, needles):
    try:
        call()
    except WorkStarted as exc:
        return "work-started", f"reached {exc} before any error"
    except VoxquantError as exc:
        missing = _named(str(exc), needles)
        if missing:
            return "unclear-error", f"{type(exc).__name__}: {exc} does not name {missing}"
        return "error", f"{type(exc).__name__}: {exc}"
    except Exception:  # noqa: BLE001
        return "traceback", traceback.format_exc(limit=-3)
    return "ok", ""


def _params():
    out = []
    for c in CASES:
        marks = [pytest.mark.xfail(strict=False, reason=c.xfail)] if c.xfail else []
        out.append(pytest.param(c, id=c.id, marks=marks))
    return out


@pytest.fixture
def empty_data(tmp_path, monkeypatch):
    root = tmp_path / "empty_data_root"
    root.mkdir()
    monkeypatch.setenv("VOXQUANT_DATA", str(root))
    return root


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("case", _params())
def test_case(case, request, tmp_path, monkeypatch, capsys, tally):
    if case.data == "shared":
        monkeypatch.setenv("VOXQUANT_DATA", str(request.getfixturevalue("shared_data")))
    else:
        request.getfixturevalue("empty_data")
    monkeypatch.chdir(tmp_path)  # relative defaults (runs/...) land in tmp
    if not case.work_ok:
        request.getfixturevalue("tripwire")
    work = tmp_path / "case"
    work.mkdir()
    target, needles = case.build(work)
    capsys.readouterr()
    if case.entry.startswith("cli:"):
        result, detail = run_cli(target, needles, capsys)
    else:
        result, detail = run_api(target, needles)
    if case.expect == "error":
        outcome = {"error": "clear-error", "ok": "silent-success"}.get(result, result)
    else:
        outcome = {"ok": "documented-success", "error": "unexpected-error"}.get(result, result)
    tally(case, outcome)
    good = "clear-error" if case.expect == "error" else "documented-success"
    assert outcome == good, f"{case.entry} {outcome}: {detail}"


# ------------------------------------------------------------------------------------------------ properties


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(st.binary(min_size=0, max_size=600), st.sampled_from([".wav", ".flac", ".mp3", ".ogg"]))
def test_random_bytes_never_crash_load_audio(tmp_path_factory, data, suffix):
    """Any bytes named like audio: an AudioError naming the file, or float32 samples in [-1, 1]."""
    from voxquant.audio.io import load_audio

    p = tmp_path_factory.mktemp("fuzz") / f"fuzz{suffix}"
    p.write_bytes(data)
    try:
        x = load_audio(p, 16000, 16000)
    except VoxquantError as exc:
        assert p.name in str(exc)
    else:
        assert x.dtype == np.float32 and x.shape == (16000,) and np.all(np.abs(x) <= 1)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=1, max_size=50))
def test_float_wav_values(tmp_path_factory, values):
    """A float WAV of any values: loads iff every value is finite and within [-1, 1] (+ tolerance), else names it."""
    from voxquant.audio.io import FLOAT_TOLERANCE, load_audio

    p = tmp_path_factory.mktemp("fv") / "values.wav"
    v = np.asarray(values, np.float32)
    sf.write(str(p), v, 16000, subtype="FLOAT")
    ok = bool(np.all(np.isfinite(v)) and np.all(np.abs(v) <= 1 + FLOAT_TOLERANCE))
    try:
        x = load_audio(p, 16000)
    except VoxquantError as exc:
        assert not ok and "values.wav" in str(exc)
    else:
        assert ok and np.all(np.abs(x) <= 1)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(st.binary(min_size=0, max_size=400))
def test_random_bytes_never_crash_onnx_check(tmp_path_factory, data):
    """Any bytes named .onnx: ModelError naming the file."""
    from voxquant.models.checks import check_onnx_file

    p = tmp_path_factory.mktemp("fo") / "fuzz.onnx"
    p.write_bytes(data)
    try:
        check_onnx_file(p)
    except VoxquantError as exc:
        assert "fuzz.onnx" in str(exc)


_OPT_TEXT = st.one_of(st.text(alphabet="0123456789-.,eainf x", max_size=8),
                      st.floats(allow_nan=True, allow_infinity=True).map(repr),
                      st.integers(-10**12, 10**12).map(str))


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(st.sampled_from(["--threads", "--snrs", "--n-boot", "--limit", "--calib-n", "--max-drop", "--seed"]), _OPT_TEXT)
def test_run_option_text_never_crashes(tmp_path_factory, opt, value):
    """Any text as a numeric ``voxquant run`` option (empty data root): exit 2 with one ``error:`` line, never a
    traceback or a usage block (a valid value reaches the data check, whose line names VOXQUANT_DATA)."""
    import contextlib
    import io

    from voxquant.cli import main

    tmp = tmp_path_factory.mktemp("opt")
    err = io.StringIO()
    old = os.environ.get("VOXQUANT_DATA")
    os.environ["VOXQUANT_DATA"] = str(tmp / "nothing")
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = main(["run", "--out", str(tmp / "o"), "--quiet", opt, value])
            except SystemExit as exc:
                code = exc.code
    finally:
        if old is None:
            os.environ.pop("VOXQUANT_DATA")
        else:
            os.environ["VOXQUANT_DATA"] = old
    lines = [ln for ln in err.getvalue().splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (opt, value, err.getvalue())
