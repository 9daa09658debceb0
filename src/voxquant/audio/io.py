"""Audio file I/O with clear errors.

:func:`load_audio` reads WAV/FLAC/OGG (anything libsndfile reads) through ``soundfile``, checks it, converts it
to mono float32 in [-1, 1], resamples with ``soxr`` (VHQ) when the file's rate differs and resampling is
allowed, and pads/crops to a fixed length.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from voxquant.errors import AudioError


def fit_length(x: np.ndarray, num_samples: int) -> np.ndarray:
    """Zero-pad at the end or crop ``x`` (``[S]``) to ``num_samples`` samples (the Speech Commands convention)."""
    if x.shape[0] >= num_samples:
        return x[:num_samples]
    return np.pad(x, (0, num_samples - x.shape[0]))


def load_audio(
    path: str | Path,
    sample_rate: int = 16000,
    num_samples: int | None = None,
    *,
    resample: bool = True,
    mix_to_mono: bool = False,
) -> np.ndarray:
    """Read one audio file as mono float32.

    Args:
        path: audio file (WAV, FLAC, ...).
        sample_rate: wanted rate in Hz. A file at another rate is resampled with soxr when ``resample`` is
            true, else rejected.
        num_samples: pad (zeros at the end) or crop to this many samples; ``None`` keeps the length.
        resample: allow resampling.
        mix_to_mono: average multi-channel files; when false a multi-channel file is rejected.

    Returns:
        ``float32 [S]`` in [-1, 1].

    Raises:
        AudioError: file missing, not audio or corrupt, empty, NaN/Inf samples, unexpected rate (with
            ``resample=False``) or channel count (with ``mix_to_mono=False``). The message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError("file not found", path)
    try:
        x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError / RuntimeError with libsndfile's text
        raise AudioError(f"not a readable audio file ({str(exc).splitlines()[0][:120]})", path) from None
    if x.shape[0] == 0:
        raise AudioError("audio file is empty (0 samples)", path)
    if x.shape[1] != 1:
        if not mix_to_mono:
            raise AudioError(f"expected mono audio, got {x.shape[1]} channels", path, hint="pass mix_to_mono=True to average them")
        x = x.mean(axis=1, keepdims=True)
    x = x[:, 0]
    if not np.all(np.isfinite(x)):
        raise AudioError("audio contains NaN or Inf samples", path)
    if sr != sample_rate:
        if not resample:
            raise AudioError(f"sample rate is {sr} Hz, expected {sample_rate} Hz", path)
        import soxr

        x = soxr.resample(x, sr, sample_rate, quality="VHQ").astype(np.float32)
    if num_samples is not None:
        x = fit_length(x, num_samples)
    return np.ascontiguousarray(x, dtype=np.float32)
