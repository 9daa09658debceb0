"""Bad input through the CLI: one clear line naming the file and the problem, exit 2, no traceback."""

import subprocess
import sys
import wave

import numpy as np
import pytest
import soundfile as sf

from voxquant.cli import main
from cli_checks import assert_one_line_error  # noqa: E402  (shared CLI bad-input contract)


def _run(capsys, *argv):
    code = main(list(argv))
    cap = capsys.readouterr()
    return code, cap.out, cap.err


@pytest.fixture
def good_wav(tmp_path):
    p = tmp_path / "good.wav"
    sf.write(p, (0.1 * np.sin(np.arange(16000) / 5)).astype(np.float32), 16000)
    return p


def test_predict_good_file(capsys, good_wav):
    code, out, err = _run(capsys, "predict", str(good_wav))
    assert code == 0, err
    assert str(good_wav) in out and "%" in out


def test_corrupt_audio(capsys, tmp_path):
    p = tmp_path / "corrupt.wav"
    p.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage garbage")
    code, _, err = _run(capsys, "predict", str(p))
    assert_one_line_error(code, err, "corrupt.wav", "not a readable audio file")


def test_empty_file(capsys, tmp_path):
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    code, _, err = _run(capsys, "predict", str(p))
    assert_one_line_error(code, err, "empty.wav")


def test_zero_sample_audio(capsys, tmp_path):
    p = tmp_path / "nosamples.wav"
    with wave.open(str(p), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
    code, _, err = _run(capsys, "predict", str(p))
    assert_one_line_error(code, err, "nosamples.wav", "empty")


def test_non_audio_file(capsys, tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("these are not samples\n")
    code, _, err = _run(capsys, "predict", str(p))
    assert_one_line_error(code, err, "notes.txt", "not a readable audio file")


def test_nan_samples(capsys, tmp_path):
    p = tmp_path / "nan.wav"
    x = np.zeros(16000, np.float32)
    x[100] = np.nan
    sf.write(p, x, 16000, subtype="FLOAT")
    code, _, err = _run(capsys, "predict", str(p))
    assert_one_line_error(code, err, "nan.wav", "NaN")


def test_wrong_sample_rate_when_resampling_disallowed(capsys, tmp_path):
    p = tmp_path / "rate.wav"
    sf.write(p, np.zeros(8000, np.float32), 8000)
    code, _, err = _run(capsys, "predict", "--no-resample", str(p))
    assert_one_line_error(code, err, "rate.wav", "8000 Hz", "16000 Hz")


def test_wrong_channel_count(capsys, tmp_path):
    p = tmp_path / "stereo.wav"
    sf.write(p, np.zeros((16000, 2), np.float32), 16000)
    code, _, err = _run(capsys, "predict", str(p))
    assert_one_line_error(code, err, "stereo.wav", "2 channels")


def test_model_file_that_is_not_onnx(capsys, tmp_path, good_wav):
    p = tmp_path / "model.onnx"
    p.write_bytes(b"\x00\x01 definitely not protobuf \xff" * 10)
    code, _, err = _run(capsys, "predict", "--onnx", str(p), str(good_wav))
    assert_one_line_error(code, err, "model.onnx", "not a valid ONNX model")


def test_missing_label_folder(capsys, tmp_path):
    root = tmp_path / "sc"
    (root / "yes").mkdir(parents=True)
    sf.write(root / "yes" / "abcd1234_nohash_0.wav", np.zeros(16000, np.float32), 16000)
    code, _, err = _run(capsys, "run", "--data", str(root), "--out", str(tmp_path / "o"), "--quiet")
    # any labelled folder is data now; one clip of one label cannot be split into dev and eval: one clear error
    assert_one_line_error(code, err, "sc", "no clip in the eval split")


def test_missing_data_says_what_to_set(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("VOXQUANT_DATA", str(tmp_path / "nothing"))
    code, _, err = _run(capsys, "run", "--out", str(tmp_path / "o"), "--quiet")
    assert_one_line_error(code, err, "VOXQUANT_DATA", "voxquant data fetch speech-commands-v2-test")


def test_unknown_recipe_suggests_close_match(capsys, tmp_path):
    code, _, err = _run(capsys, "run", "--recipes", "int8_static_minmx", "--out", str(tmp_path / "o"), "--quiet")
    assert_one_line_error(code, err, "int8_static_minmax")


def test_debug_shows_traceback(tmp_path):
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    r = subprocess.run([sys.executable, "-m", "voxquant.cli", "--debug", "predict", str(p)], capture_output=True, text=True)
    assert r.returncode != 0
    assert "Traceback" in r.stderr


def test_every_command_has_help(capsys):
    for cmd in (["run"], ["train"], ["quantize"], ["eval"], ["bench"], ["predict"], ["data", "fetch"]):
        with pytest.raises(SystemExit) as e:
            main([*cmd, "--help"])
        assert e.value.code == 0
        assert "usage: voxquant" in capsys.readouterr().out
