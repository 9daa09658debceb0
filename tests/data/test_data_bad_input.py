"""Bad input through the data path: each is a VoxquantError subclass naming the file and the problem."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from voxquant.data import SC12_LABELS, load_labelled_folder, load_manifest, load_waves, speech_commands_test
from voxquant.errors import AudioError, DataError, VoxquantError


def _one_clip_set(tmp_path, make):
    """A labelled folder ``yes/`` whose one clip is written by ``make(path)``."""
    path = tmp_path / "set" / "yes" / "0123abcd_nohash_0.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    make(path)
    return load_labelled_folder(tmp_path / "set", ["yes"]), path


def _tone(n=1600):
    return (0.3 * np.sin(np.arange(n) * 0.1)).astype(np.float32)


CASES = {
    "corrupt": (lambda p: p.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)) * 4), "not a readable audio file"),
    "empty file": (lambda p: p.write_bytes(b""), "not a readable audio file"),
    "zero samples": (lambda p: sf.write(str(p), np.zeros(0, np.float32), 16000, subtype="PCM_16"), "empty"),
    "not audio": (lambda p: p.write_text("this is a text file, not a WAV\n"), "not a readable audio file"),
    "NaN samples": (lambda p: sf.write(str(p), np.where(np.arange(1600) == 7, np.nan, _tone()).astype(np.float32), 16000, subtype="FLOAT"), "NaN"),
    "stereo": (lambda p: sf.write(str(p), np.stack([_tone(), _tone()], 1), 16000, subtype="PCM_16"), "expected mono audio, got 2 channels"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_audio_file_names_file_and_problem(tmp_path, case):
    make, problem = CASES[case]
    cs, path = _one_clip_set(tmp_path, make)
    with pytest.raises(AudioError, match=problem) as ei:
        load_waves(cs, cache=False)
    assert isinstance(ei.value, VoxquantError)
    assert str(path) in str(ei.value) and ei.value.path == path


def test_unexpected_rate_with_resampling_disallowed(tmp_path):
    cs, path = _one_clip_set(tmp_path, lambda p: sf.write(str(p), _tone(), 22050, subtype="PCM_16"))
    with pytest.raises(AudioError, match="sample rate is 22050 Hz, expected 16000 Hz") as ei:
        load_waves(cs, resample=False)
    assert str(path) in str(ei.value)
    assert load_waves(cs).shape == (1, 16000)  # allowed by default: resampled


def test_missing_audio_file_listed_in_manifest(tmp_path):
    set_dir = tmp_path / "myset"
    set_dir.mkdir()
    (set_dir / "manifest.csv").write_text("path,label,speaker\naudio/yes/gone.flac,yes,0123abcd\n")
    cs = load_manifest(set_dir)
    with pytest.raises(AudioError, match="file not found") as ei:
        load_waves(cs)
    assert "gone.flac" in str(ei.value)


def test_missing_label_folder(tmp_path):
    (tmp_path / "yes").mkdir()
    sf.write(str(tmp_path / "yes" / "0123abcd_nohash_0.wav"), _tone(), 16000)
    with pytest.raises(DataError, match="label folder 'no' is missing") as ei:
        load_labelled_folder(tmp_path, ["yes", "no"])
    assert str(tmp_path / "no") in str(ei.value)


def test_label_folders_without_audio(tmp_path):
    for lab in ("yes", "no"):
        (tmp_path / lab).mkdir()
    with pytest.raises(DataError, match="no audio files"):
        load_labelled_folder(tmp_path, ["yes", "no"])


def test_missing_dataset_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("VOXQUANT_DATA", str(tmp_path / "nothing-here"))
    with pytest.raises(DataError) as ei:
        speech_commands_test()
    msg = str(ei.value)
    assert "speech_commands_v0.02_test" in msg and "not found" in msg
    assert "voxquant data fetch speech-commands-v2-test" in msg and "VOXQUANT_DATA" in msg


def test_incomplete_tarball_layout_names_missing_folder(tmp_path):
    root = tmp_path / "speech_commands_v0.02_test"
    for lab in SC12_LABELS[:-1]:  # no _silence_ folder
        (root / lab).mkdir(parents=True)
        sf.write(str(root / lab / "0123abcd_nohash_0.wav"), _tone(), 16000)
    with pytest.raises(DataError, match="label folder '_silence_' is missing"):
        speech_commands_test(tmp_path)


@pytest.mark.parametrize(
    "text, labels, problem",
    [
        ("file,label\na.wav,yes\n", None, r"lacks column\(s\) \['path'\]"),
        ("path,label\n", None, "no clips"),
        ("path,label\n,yes\n", None, "line 2: empty path"),
        ("path,label\na.wav,yes,extra\n", None, "line 2: more fields than the header"),
        ("path,label\na.wav,yes\n", ("yes", "no"), r"no clips for label\(s\) \['no'\]"),
    ],
)
def test_bad_manifest(tmp_path, text, labels, problem):
    (tmp_path / "manifest.csv").write_text(text)
    with pytest.raises(DataError, match=problem) as ei:
        load_manifest(tmp_path, labels=labels)
    assert "manifest.csv" in str(ei.value)


def test_missing_manifest(tmp_path):
    with pytest.raises(DataError, match="manifest.csv not found"):
        load_manifest(tmp_path)
