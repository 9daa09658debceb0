"""Audio file I/O with clear errors.

:func:`load_audio` reads WAV/FLAC/OGG/MP3 (anything libsndfile reads) through ``soundfile``, checks it, converts
it to mono float32 in [-1, 1], resamples with ``soxr`` (VHQ) when the file's rate differs and resampling is
allowed, and pads/crops to a fixed length.

What it refuses (each as one :class:`~voxquant.errors.AudioError` naming the file), rather than guessing:

* a missing file or a directory; a file libsndfile cannot open (empty, not audio, malformed header);
* a WAV header that libsndfile would read but not faithfully: a PCM sample width that is not 8/16/24/32 bits
  (e.g. 7), a float width other than 32/64, a block alignment that is not channels x bytes per sample;
* a subtype (encoding) outside :data:`SUPPORTED_SUBTYPES`;
* a truncated file: fewer frames decoded than the header announces (the WAV ``data`` chunk size, a FLAC's
  STREAMINFO, an MP3's Xing/LAME frame count) or a decoder error after a valid header; libsndfile itself
  silently shortens a WAV whose data chunk runs past the end of the file, so WAV (RIFF/RIFX) headers are read
  here directly;
* zero frames; NaN/Inf samples; stored float samples outside [-1, 1] (unless ``out_of_range="clip"``; a
  lossy decoder's overshoot past full scale is clipped);
* more than one channel (unless ``mix_to_mono=True``); another rate (with ``resample=False``).
"""

from __future__ import annotations

import contextlib
import os
import struct
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf

from voxquant.errors import AudioError

__all__ = ["FLOAT_TOLERANCE", "SUPPORTED_SUBTYPES", "fit_length", "load_audio"]

#: libsndfile subtypes (``soundfile.info(path).subtype``) that :func:`load_audio` accepts: linear PCM, float,
#: the telephony codecs, and the lossy/lossless codecs libsndfile decodes through their reference libraries.
SUPPORTED_SUBTYPES = frozenset({
    "PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE", "ULAW", "ALAW", "IMA_ADPCM", "MS_ADPCM",
    "GSM610", "G721_32", "G723_24", "G723_40", "VORBIS", "OPUS", "MPEG_LAYER_I", "MPEG_LAYER_II",
    "MPEG_LAYER_III", "ALAC_16", "ALAC_20", "ALAC_24", "ALAC_32",
})  # fmt: skip
#: Float samples may exceed 1 by this much (rounding in the writer) and are then clipped to [-1, 1].
FLOAT_TOLERANCE = 1e-6
_OUT_OF_RANGE = ("error", "clip")
# Subtypes that store float samples: values beyond [-1, 1] are in the file (an error by default). Lossy decoders
# (Vorbis, Opus, MPEG) overshoot full scale by a few percent on loud clips; that overshoot is clipped.
_STORED_FLOAT = frozenset({"FLOAT", "DOUBLE"})
# A WAV data-chunk size at or above this is a streaming writer's placeholder ("length unknown"), not a length.
_UNKNOWN_DATA_SIZE = 0x7FFF0000
_WAVE_PCM, _WAVE_FLOAT, _WAVE_EXTENSIBLE = 0x0001, 0x0003, 0xFFFE


def fit_length(x: np.ndarray, num_samples: int) -> np.ndarray:
    """Zero-pad at the end or crop ``x`` (``[S]``) to ``num_samples`` samples (the Speech Commands convention)."""
    if x.shape[0] >= num_samples:
        return x[:num_samples]
    return np.pad(x, (0, num_samples - x.shape[0]))


def _wav_header(path: Path) -> dict | None:
    """The ``fmt `` fields and ``data`` chunk size of a RIFF/RIFX WAVE file, or ``None`` for other files.

    Reads the chunk list (the WAVE layout of Microsoft's "Multimedia Programming Interface and Data
    Specifications 1.0", 1991, and the WAVE_FORMAT_EXTENSIBLE addendum). Returns a dict with ``tag`` (format
    code; the sub-format's for WAVE_FORMAT_EXTENSIBLE), ``channels``, ``block_align``, ``bits`` and
    ``data_size`` (bytes, ``None`` when absent or a streaming placeholder); ``None`` also when the chunks cannot
    be walked (libsndfile then reports the problem).
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
                return None
            end = "<" if head[:4] == b"RIFF" else ">"
            out: dict = {"data_size": None}
            while True:
                ck = fh.read(8)
                if len(ck) < 8:
                    break
                cid, size = ck[:4], struct.unpack(end + "I", ck[4:])[0]
                if cid == b"fmt ":
                    fmt = fh.read(size)
                    if len(fmt) < 16:
                        return None
                    tag, ch, _sr, _bps, align, bits = struct.unpack(end + "HHIIHH", fmt[:16])
                    if tag == _WAVE_EXTENSIBLE and len(fmt) >= 26:
                        tag = struct.unpack(end + "H", fmt[24:26])[0]
                    out.update(tag=tag, channels=ch, block_align=align, bits=bits)
                    fh.seek(size % 2, 1)
                elif cid == b"data":
                    out["data_size"] = size if 0 < size < _UNKNOWN_DATA_SIZE else None
                    break
                else:
                    fh.seek(size + size % 2, 1)
            return out if "tag" in out else None
    except OSError:
        return None


_FD2_LOCK = threading.Lock()


@contextlib.contextmanager
def _quiet_decoder(path: Path) -> Iterator[None]:
    """Silence file descriptor 2 while an MP3 is opened and decoded.

    libmpg123 (libsndfile's MP3 decoder) prints warnings such as "Xing stream size off by more than 1%" straight
    to fd 2, which would add a line before the CLI's one-line error; the problem is reported by
    :func:`load_audio` itself. Other files are decoded without touching fd 2.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(3)
    except OSError:
        head = b""  # unreadable: libsndfile reports it
    is_mp3 = path.suffix.lower() == ".mp3" or head == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] >= 0xE0)
    if not is_mp3:
        yield
        return
    with _FD2_LOCK:
        saved = None
        try:
            sys.stderr.flush()
            saved = os.dup(2)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.close(devnull)
        except (OSError, ValueError, AttributeError):  # no real fd 2 (embedded interpreter)
            saved = None
        try:
            yield
        finally:
            if saved is not None:
                os.dup2(saved, 2)
                os.close(saved)


def _check_wav_header(hdr: dict, path: Path) -> None:
    """Refuse WAV ``fmt `` fields that libsndfile reads without decoding them faithfully."""
    tag, ch, align, bits = hdr["tag"], hdr["channels"], hdr["block_align"], hdr["bits"]
    if tag == _WAVE_PCM and bits not in (8, 16, 24, 32):
        raise AudioError(f"unsupported WAV header: {bits} bits per sample (PCM must be 8, 16, 24 or 32; "
                         "other widths are left- or right-justified depending on the writer)", path,
                         hint="re-encode it, e.g. sox IN -b 16 OUT.wav")
    if tag == _WAVE_FLOAT and bits not in (32, 64):
        raise AudioError(f"unsupported WAV header: {bits}-bit float samples (must be 32 or 64)", path)
    if tag in (_WAVE_PCM, _WAVE_FLOAT) and ch > 0 and align != ch * bits // 8:
        raise AudioError(f"inconsistent WAV header: block alignment {align} bytes, expected {ch} channel(s) x "
                         f"{bits // 8} bytes = {ch * bits // 8}", path)


def load_audio(
    path: str | Path,
    sample_rate: int = 16000,
    num_samples: int | None = None,
    *,
    resample: bool = True,
    mix_to_mono: bool = False,
    out_of_range: str = "error",
) -> np.ndarray:
    """Read one audio file as mono float32 in [-1, 1].

    Args:
        path: audio file (WAV, FLAC, OGG, MP3, ...; anything libsndfile decodes, see the module docstring).
        sample_rate: wanted rate in Hz. A file at another rate is resampled with soxr (VHQ) when ``resample``
            is true, else rejected. The resampler's overshoot beyond full scale is clipped to [-1, 1].
        num_samples: pad (zeros at the end) or crop to this many samples; ``None`` keeps the length.
        resample: allow resampling.
        mix_to_mono: average multi-channel files; when false a multi-channel file is rejected.
        out_of_range: what to do with stored float samples (subtypes FLOAT/DOUBLE) beyond [-1, 1]:
            ``"error"`` (default) raises, ``"clip"`` clips them to [-1, 1]. Up to :data:`FLOAT_TOLERANCE`
            beyond 1 is always clipped, and so is a lossy decoder's overshoot (Vorbis/Opus/MP3 decode loud
            clips a few percent past full scale). NaN/Inf samples are always an error.

    Returns:
        ``float32 [S]`` in [-1, 1] (``S = num_samples`` when given).

    Raises:
        AudioError: file missing or a directory; not audio, corrupt or truncated; unsupported subtype or
            unfaithful WAV header (e.g. 7 bits per sample); 0 frames; NaN/Inf samples; samples outside
            [-1, 1] with ``out_of_range="error"``; unexpected rate (with ``resample=False``) or channel count
            (with ``mix_to_mono=False``). The message names the file and the problem.
        ValueError: ``out_of_range`` is not ``"error"`` or ``"clip"`` (a programming error).
    """
    if out_of_range not in _OUT_OF_RANGE:
        raise ValueError(f"out_of_range must be one of {_OUT_OF_RANGE}, got {out_of_range!r}")
    path = Path(path)
    if path.is_dir():
        raise AudioError("is a directory, not an audio file", path)
    if not path.is_file():
        raise AudioError("file not found", path)
    hdr = _wav_header(path)
    if hdr is not None:
        _check_wav_header(hdr, path)
    with _quiet_decoder(path):
        frames, sr, subtype, x = _decode(path)
    expected = frames
    if hdr is not None and hdr["data_size"] is not None and hdr["block_align"] > 0:
        expected = max(frames, hdr["data_size"] // hdr["block_align"])
    if x.shape[0] < expected:
        raise AudioError(f"truncated: header says {expected} frames, {x.shape[0]} decoded", path)
    if x.shape[0] == 0:
        raise AudioError("audio file is empty (0 samples)", path)
    finite = np.isfinite(x)
    if not finite.all():
        n_nan, n_inf = int(np.isnan(x).sum()), int(np.isinf(x).sum())
        first = int(np.argmin(finite.all(axis=1)))
        raise AudioError(f"audio contains NaN or Inf samples ({n_nan} NaN, {n_inf} Inf; first at frame {first})",
                         path)
    peak = float(np.abs(x).max())
    if peak > 1.0:
        if subtype in _STORED_FLOAT and peak > 1.0 + FLOAT_TOLERANCE and out_of_range == "error":
            raise AudioError(f"float samples outside [-1, 1]: max |x| = {peak:.3g}", path,
                             hint="pass out_of_range='clip' to clip them")
        x = np.clip(x, -1.0, 1.0)
    if x.shape[1] != 1:
        if not mix_to_mono:
            raise AudioError(f"expected mono audio, got {x.shape[1]} channels", path,
                             hint="pass mix_to_mono=True to average them")
        x = x.mean(axis=1, keepdims=True)
    x = x[:, 0].astype(np.float32, copy=False)
    if sr != sample_rate:
        if not resample:
            raise AudioError(f"sample rate is {sr} Hz, expected {sample_rate} Hz", path)
        import soxr

        x = np.clip(soxr.resample(x, sr, sample_rate, quality="VHQ"), -1.0, 1.0).astype(np.float32)
    if num_samples is not None:
        x = fit_length(x, num_samples)
    return np.ascontiguousarray(x, dtype=np.float32)


def _decode(path: Path) -> tuple[int, int, str, np.ndarray]:
    """Open and decode with libsndfile: (header frames, rate in Hz, subtype, samples ``[S, C]``)."""
    try:
        snd = sf.SoundFile(str(path))
    except Exception as exc:  # soundfile raises LibsndfileError / RuntimeError with libsndfile's text
        raise AudioError(f"not a readable audio file ({_first_line(exc)})", path) from None
    with snd:
        frames, sr, subtype = snd.frames, snd.samplerate, snd.subtype
        if subtype not in SUPPORTED_SUBTYPES:
            raise AudioError(f"unsupported audio encoding {subtype or 'unknown'!s} ({snd.format_info})", path,
                             hint="re-encode it as 16-bit PCM WAV or FLAC")
        try:
            # DOUBLE files are read as float64 so that values beyond float32's range are reported, not turned to Inf
            # non-seekable streams (GSM 6.10 WAV) need a frame count; a short read returns the frames present
            x = snd.read(-1 if snd.seekable() else frames, dtype="float64" if subtype == "DOUBLE" else "float32",
                         always_2d=True)
        except Exception as exc:
            raise AudioError(f"corrupt or truncated: decoding failed after a valid header ({_first_line(exc)})",
                             path) from None
    return frames, sr, subtype, x


def _first_line(exc: BaseException) -> str:
    """libsndfile's message, first line, at most 120 characters."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:120]
