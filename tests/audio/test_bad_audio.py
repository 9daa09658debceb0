"""Bad audio files (all synthetic, generated in tmp_path): each is refused with one AudioError naming the file and the
problem, through :func:`load_audio` and through ``voxquant predict FILE`` (exit 2, one stderr line).

Covers: truncated WAV (PCM, float, data chunk without bytes), FLAC and MP3; float WAV samples beyond [-1, 1]
(FLT_MAX, 1.5, -2, float64 1e300), NaN/+Inf/-Inf; WAV headers libsndfile reads unfaithfully (7/12-bit PCM,
16-bit float, odd or zero block alignment, 3 channels with a 2-byte block); unsupported subtypes (NMS ADPCM WAV,
DPCM XI); a directory. Empty files, 0-sample WAVs, text files, stereo and wrong rates are in
tests/cli/test_cli_errors.py and tests/data/test_data_bad_input.py.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from voxquant.audio.io import FLOAT_TOLERANCE, load_audio
from voxquant.cli import main
from voxquant.errors import AudioError

FLT_MAX = float(np.finfo(np.float32).max)


def _tone(n=16000, amp=0.3):
    return (amp * np.sin(np.arange(n) / 5)).astype(np.float32)


def _riff(path, tag, channels, rate, bits, block_align, data, data_size=None):
    """A hand-made RIFF/WAVE file (synthetic): one ``fmt `` chunk, one ``data`` chunk."""
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block_align, block_align, bits)
    size = len(data) if data_size is None else data_size
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", size) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(body) - 4) + body)


def _cut(path, fraction=0.5):
    b = path.read_bytes()
    path.write_bytes(b[: int(len(b) * fraction)])


def _write_cut(fmt, subtype, ext):
    def make(p):
        sf.write(str(p), _tone(), 16000, format=fmt, subtype=subtype)
        _cut(p)
    return make, ext


def _float_wav(*values, subtype="FLOAT"):
    """Writer of a float WAV: a quiet tone with ``values`` appended (``values`` may be out of range or NaN)."""
    dtype = np.float64 if subtype == "DOUBLE" else np.float32
    return lambda p: sf.write(str(p), np.r_[_tone(100).astype(np.float64), values].astype(dtype), 16000,
                              subtype=subtype)


def _mp3_supported():
    return "MPEG_LAYER_III" in sf.available_subtypes("MP3")


_PCM16 = (_tone() * 32767).astype("<i2").tobytes()

# name -> (writer, file suffix, expected text in the message)
CASES = {
    # truncation
    "truncated PCM_16 WAV": (*_write_cut("WAV", "PCM_16", ".wav"), "truncated: header says 16000 frames"),
    "truncated float WAV": (*_write_cut("WAV", "FLOAT", ".wav"), "truncated: header says 16000 frames"),
    "WAV data chunk with no bytes": (lambda p: _riff(p, 1, 1, 16000, 16, 2, b"", data_size=32000), ".wav",
                                     "truncated: header says 16000 frames, 0 decoded"),
    "truncated FLAC": (*_write_cut("FLAC", "PCM_16", ".flac"), "corrupt or truncated"),
    "truncated MP3": (*_write_cut("MP3", "MPEG_LAYER_III", ".mp3"), "truncated: header says 16000 frames"),
    # float range
    "float WAV FLT_MAX": (_float_wav(FLT_MAX), ".wav", "float samples outside [-1, 1]: max |x| = 3.4e+38"),
    "float WAV 1.5": (_float_wav(1.5), ".wav", "max |x| = 1.5"),
    "float WAV -2": (_float_wav(0.5, -2.0), ".wav", "max |x| = 2"),
    "double WAV 1e300": (_float_wav(1e300, subtype="DOUBLE"), ".wav", "max |x| = 1e+300"),
    "float WAV NaN": (_float_wav(np.nan), ".wav", "1 NaN, 0 Inf; first at frame 100"),
    "float WAV +Inf": (_float_wav(0.1, np.inf, np.inf), ".wav", "0 NaN, 2 Inf; first at frame 101"),
    "float WAV -Inf": (_float_wav(-np.inf, np.nan), ".wav", "1 NaN, 1 Inf; first at frame 100"),
    # WAV headers libsndfile reads without decoding them faithfully
    "7-bit PCM WAV": (lambda p: _riff(p, 1, 1, 16000, 7, 1, bytes(range(128)) * 10), ".wav", "7 bits per sample"),
    "12-bit PCM WAV": (lambda p: _riff(p, 1, 1, 16000, 12, 2, _PCM16), ".wav", "12 bits per sample"),
    "16-bit float WAV": (lambda p: _riff(p, 3, 1, 16000, 16, 2, _PCM16), ".wav", "16-bit float samples"),
    "odd block alignment": (lambda p: _riff(p, 1, 1, 16000, 16, 3, _PCM16[:3000]), ".wav", "block alignment 3 bytes"),
    "zero block alignment": (lambda p: _riff(p, 1, 1, 16000, 16, 0, _PCM16), ".wav", "block alignment 0 bytes"),
    "3 channels, 2-byte block": (lambda p: _riff(p, 1, 3, 16000, 16, 2, _PCM16), ".wav",
                                 "expected 3 channel(s) x 2 bytes = 6"),
    # subtypes outside SUPPORTED_SUBTYPES
    "NMS ADPCM WAV": (lambda p: sf.write(str(p), _tone(), 16000, subtype="NMS_ADPCM_16"), ".wav",
                      "unsupported audio encoding NMS_ADPCM_16"),
    "DPCM XI": (lambda p: sf.write(str(p), _tone(), 16000, format="XI", subtype="DPCM_16"), ".xi",
                "unsupported audio encoding DPCM_16"),
    # not a file
    "directory": (lambda p: p.mkdir(), ".wav", "is a directory"),
}


def _make(tmp_path, name):
    if "MP3" in name and not _mp3_supported():
        pytest.skip("the installed libsndfile cannot write MP3")
    make, ext, needle = CASES[name]
    path = tmp_path / ("synthetic_" + name.replace(" ", "_").replace(",", "") + ext)
    make(path)
    return path, needle


@pytest.mark.parametrize("name", list(CASES))
def test_load_audio_refuses(tmp_path, name):
    path, needle = _make(tmp_path, name)
    with pytest.raises(AudioError) as e:
        load_audio(path)
    assert e.value.path == path
    assert str(e.value).startswith(str(path) + ": ")
    assert needle in str(e.value)


@pytest.mark.parametrize("name", list(CASES))
def test_predict_refuses_with_one_line(capsys, tmp_path, name):
    path, needle = _make(tmp_path, name)
    code = main(["predict", str(path)])
    cap = capsys.readouterr()
    lines = [ln for ln in cap.err.splitlines() if ln.strip()]
    assert code == 2, cap.err
    assert len(lines) == 1 and "Traceback" not in cap.err, cap.err
    assert lines[0].startswith(f"error: {path}: ") and needle in lines[0]


def test_truncated_mp3_prints_no_decoder_warning(tmp_path, capfd):
    """libmpg123 writes "Xing stream size off ..." straight to fd 2; the CLI's error must stay the only line."""
    path, _ = _make(tmp_path, "truncated MP3")
    with pytest.raises(AudioError):
        load_audio(path)
    assert capfd.readouterr().err == ""


# ---- what still loads: no false refusals ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "fmt,subtype,endian",
    [("WAV", s, "FILE") for s in ("PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE", "ULAW", "ALAW",
                                  "IMA_ADPCM", "MS_ADPCM", "GSM610")]
    + [("WAVEX", "PCM_24", "FILE"), ("WAVEX", "FLOAT", "FILE"), ("WAV", "PCM_16", "BIG"), ("FLAC", "PCM_16", "FILE"),
       ("OGG", "VORBIS", "FILE"), ("AIFF", "PCM_16", "FILE")],
)
def test_valid_files_load(tmp_path, fmt, subtype, endian):
    path = tmp_path / f"synthetic_{subtype}.{fmt.lower()}"
    sf.write(str(path), _tone(), 16000, format=fmt, subtype=subtype, endian=endian)
    x = load_audio(path, num_samples=16000)
    assert x.dtype == np.float32 and x.shape == (16000,)
    assert np.abs(x).max() <= 1.0
    assert np.abs(x).max() > 0.2  # the tone, not silence


def test_valid_mp3_loads(tmp_path):
    if not _mp3_supported():
        pytest.skip("the installed libsndfile cannot write MP3")
    path = tmp_path / "synthetic.mp3"
    sf.write(str(path), _tone(), 16000, format="MP3", subtype="MPEG_LAYER_III")
    assert load_audio(path).shape[0] == 16000


def test_streaming_placeholder_data_size_is_not_truncation(tmp_path):
    """Writers on a pipe put 0xFFFFFFFF in the data size ("unknown"); that is not a truncated file."""
    path = tmp_path / "synthetic_streamed.wav"
    _riff(path, 1, 1, 16000, 16, 2, _PCM16, data_size=0xFFFFFFFF)
    assert load_audio(path).shape == (16000,)


def test_clip_option_and_tolerance(tmp_path):
    path = tmp_path / "synthetic_loud.wav"
    sf.write(str(path), np.array([0.5, 3.0, -FLT_MAX, 0.0], np.float32), 16000, subtype="FLOAT")
    np.testing.assert_array_equal(load_audio(path, out_of_range="clip"), [0.5, 1.0, -1.0, 0.0])
    sf.write(str(path), np.array([1.0, -1.0, 1.0 + FLOAT_TOLERANCE / 2], np.float32), 16000, subtype="FLOAT")
    x = load_audio(path)  # rounding-sized excess: accepted, clipped to keep the [-1, 1] promise
    assert x.max() == 1.0 and x.min() == -1.0
    nan = tmp_path / "synthetic_nan.wav"
    sf.write(str(nan), np.array([0.1, np.nan], np.float32), 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        load_audio(nan, out_of_range="clip")  # clipping cannot repair NaN
    with pytest.raises(ValueError, match="out_of_range"):
        load_audio(path, out_of_range="wrap")


def test_lossy_overshoot_and_resampler_overshoot_stay_in_range(tmp_path):
    """A near-full-scale square wave: Vorbis decoding and soxr resampling both ring past 1; load_audio keeps [-1, 1]."""
    sq = 0.999 * np.sign(np.sin(np.arange(16000) * 2 * np.pi * 440 / 16000)).astype(np.float32)
    ogg = tmp_path / "synthetic_square.ogg"
    sf.write(str(ogg), sq, 16000, subtype="VORBIS")
    assert np.abs(sf.read(str(ogg))[0]).max() > 1.0  # the premise: the decoder overshoots
    assert np.abs(load_audio(ogg)).max() <= 1.0
    wav8k = tmp_path / "synthetic_square_8k.wav"
    sf.write(str(wav8k), sq[::2], 8000, subtype="PCM_16")
    assert np.abs(load_audio(wav8k, 16000)).max() <= 1.0


def test_multichannel_is_refused_or_averaged(tmp_path):
    path = tmp_path / "synthetic_stereo.wav"
    sf.write(str(path), np.stack([np.full(100, 0.5), np.full(100, -0.25)], 1).astype(np.float32), 16000,
             subtype="FLOAT")
    with pytest.raises(AudioError, match="expected mono audio, got 2 channels"):
        load_audio(path)
    np.testing.assert_allclose(load_audio(path, mix_to_mono=True), 0.125)


# ---- property: a float WAV loads iff every sample is finite and within [-1, 1] --------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(arrays(np.float32, st.integers(1, 64),
              elements=st.one_of(st.floats(-1, 1, width=32), st.floats(width=32, allow_nan=True, allow_infinity=True))))
def test_float_wav_loads_iff_finite_and_in_range(tmp_path, x):
    path = tmp_path / "synthetic_property.wav"
    sf.write(str(path), x, 16000, subtype="FLOAT")
    ok = bool(np.all(np.isfinite(x))) and float(np.abs(x).max()) <= 1.0 + FLOAT_TOLERANCE
    if ok:
        y = load_audio(path)
        np.testing.assert_array_equal(y, np.clip(x, -1, 1))
    else:
        with pytest.raises(AudioError, match="NaN or Inf|outside \\[-1, 1\\]"):
            load_audio(path)
