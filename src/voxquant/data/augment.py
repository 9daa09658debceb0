"""Waveform corruption for evaluation slices and training augmentation (numpy + scipy).

All functions take and return ``float32`` audio in [-1, 1] at one sample rate (16 kHz by convention); all
randomness comes from an ``np.random.Generator`` passed in (or a ``seed``), never from global state.

Level conventions (documented once, used everywhere):

* **SNR** (dB) = ``10 log10(P_speech / P_noise)`` with ``P`` the mean power (mean of squared samples) of the
  whole speech clip and of the noise segment actually added, after the noise is scaled.
* A **silent** speech clip (power below ``SILENT_POWER`` = 1e-10, i.e. under -100 dBFS: digital silence) has
  no level to define an SNR against. Its noise is then scaled from the noise alone: to the power of a
  reference speech level of ``SILENT_REF_DBFS`` = -20 dBFS RMS, minus the SNR. (Speech Commands
  ``_silence_`` clips are recorded background noise, not digital silence, so they use the normal rule.)
* **Headroom**: when a result would exceed full scale (peak > 1), the whole clip is scaled down to peak 1
  (SNR unchanged), never hard-clipped - except :func:`random_gain`, which models a real input gain stage and
  clips at +-1.
* **RIR** convolution output is aligned to the RIR's direct-path peak (``argmax |rir|``) so the word stays
  where it was, cut to the input length, and rescaled to the input's RMS level (reverberation changes the
  timbre, not the loudness the model sees).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from scipy.signal import fftconvolve

SILENT_POWER = 1e-10
SILENT_REF_DBFS = -20.0
SLICE_KINDS = ("clean", "noise", "reverb")
DEFAULT_SNRS_DB = (20.0, 10.0, 5.0, 0.0)

Bank = Sequence[np.ndarray] | Mapping[str, np.ndarray]


def _power(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64))) if x.size else 0.0


def _headroom(y: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 1.0:
        y = y / peak
    return y.astype(np.float32, copy=False)


def _bank_list(bank: Bank) -> list[np.ndarray]:
    if isinstance(bank, Mapping):
        return [np.asarray(bank[k], dtype=np.float32) for k in sorted(bank)]
    return [np.asarray(b, dtype=np.float32) for b in bank]


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Add a random segment of ``noise`` to ``speech`` at a given SNR.

    Args:
        speech: ``float32 [S]``.
        noise: ``float32 [L]``, normally ``L >= S`` (a shorter noise is tiled to ``S``).
        snr_db: wanted SNR in dB (power of the whole speech clip vs the added noise segment).
        rng: chooses the segment start, uniform in ``[0, L - S]``.

    Returns:
        ``float32 [S]``: ``speech + g * segment``, scaled down as a whole if its peak exceeds 1.
        A silent speech clip gets noise at ``SILENT_REF_DBFS - snr_db`` dBFS RMS (module docstring); a
        silent noise segment adds nothing.

    Raises:
        ValueError: ``speech`` or ``noise`` is not 1-D or ``noise`` is empty.
    """
    speech = np.asarray(speech, dtype=np.float32)
    noise = np.asarray(noise, dtype=np.float32)
    if speech.ndim != 1 or noise.ndim != 1 or noise.size == 0:
        raise ValueError(f"mix_at_snr needs 1-D speech and non-empty 1-D noise, got {speech.shape} and {noise.shape}")
    s = speech.shape[0]
    if noise.shape[0] < s:
        noise = np.resize(noise, s)
    start = int(rng.integers(0, noise.shape[0] - s + 1))
    seg = noise[start : start + s].astype(np.float64)
    p_noise = _power(seg)
    if p_noise <= 0.0:
        return speech.copy()
    p_speech = _power(speech)
    if p_speech < SILENT_POWER:
        p_speech = 10.0 ** (SILENT_REF_DBFS / 10.0)
    gain = np.sqrt(p_speech / (p_noise * 10.0 ** (snr_db / 10.0)))
    return _headroom(speech.astype(np.float64) + gain * seg)


LONG_SIGNAL_SAMPLES = 1 << 22
"""Above this many samples (~4.2 M, 262 s at 16 kHz) a single signal (a continuous test stream) is reverberated by
overlap-add of 1 M-sample blocks into a float32 output with in-place scaling: one full-length FFT of a 3-hour stream
needs several GB of complex buffers, the blocks a few MB (same result to float rounding)."""


def _apply_rir_long(x: np.ndarray, h: np.ndarray, d: int) -> np.ndarray:
    """:func:`apply_rir` of one long ``float32 [S]`` signal with bounded memory (output ``float32 [S]``): overlap-add
    of float64 FFT convolutions of 1 M-sample blocks into a float32 output (the only full-length buffer)."""
    s = x.size

    y = np.zeros(s, dtype=np.float32)
    step = 1 << 20
    for a in range(0, s, step):
        conv = fftconvolve(x[a : a + step].astype(np.float64), h)  # [len + K - 1], output index a + i of the full y
        lo = a - d  # where conv[0] lands in the aligned output
        i0, i1 = max(lo, 0), min(lo + conv.size, s)
        if i1 > i0:
            y[i0:i1] += conv[i0 - lo : i1 - lo].astype(np.float32)

    def power(a: np.ndarray) -> float:  # float64 accumulation in 1 M-sample chunks (no float64 copy of the signal)
        step = 1 << 20
        return sum(float(np.dot(a[i : i + step].astype(np.float64), a[i : i + step].astype(np.float64)))
                   for i in range(0, a.size, step)) / a.size if a.size else 0.0

    p_in, p_out = power(x), power(y)
    if p_in < SILENT_POWER or p_out <= 0:
        return x.copy()
    y *= np.float32(np.sqrt(p_in / p_out))
    peak = max(float(y.max()), -float(y.min()))
    if peak > 1.0:
        y /= np.float32(peak)
    return y


def apply_rir(speech: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Reverberate with a room impulse response (RIR).

    ``y = fftconvolve(speech, rir)``, taken from the RIR's direct-path peak (``argmax |rir|``) for
    ``S`` samples (so the utterance is not delayed), then rescaled to the input's RMS (and scaled down if its
    peak would exceed 1). Silent input returns a copy. A single signal longer than :data:`LONG_SIGNAL_SAMPLES`
    goes through block overlap-add into float32 (bounded memory; same result to float rounding).

    Args:
        speech: ``float32 [S]`` or a batch ``[N, S]`` (convolved along the last axis).
        rir: ``float32 [K]`` at the same sample rate.

    Returns:
        ``float32``, same shape as ``speech``.

    Raises:
        ValueError: ``rir`` is not a non-empty 1-D array or is all zeros.
    """
    x = np.asarray(speech, dtype=np.float32)
    h = np.asarray(rir, dtype=np.float64)
    if h.ndim != 1 or h.size == 0 or not np.any(h):
        raise ValueError(f"RIR must be a non-empty, non-zero 1-D array, got shape {h.shape}")
    batch = x.reshape(-1, x.shape[-1]) if x.ndim > 1 else x[None, :]
    s = batch.shape[-1]
    d = int(np.argmax(np.abs(h)))
    if batch.shape[0] == 1 and s > LONG_SIGNAL_SAMPLES:
        return _apply_rir_long(batch[0], h, d).reshape(x.shape)
    out = np.empty_like(batch)
    step = 128  # bounds the complex FFT buffers (~128 x next_fast_len(S+K) x 16 bytes)
    for i in range(0, batch.shape[0], step):
        xb = batch[i : i + step].astype(np.float64)
        y = fftconvolve(xb, h[None, :], axes=-1)[:, d : d + s]
        rms_in = np.sqrt(np.mean(xb**2, axis=-1, keepdims=True))
        rms_out = np.sqrt(np.mean(y**2, axis=-1, keepdims=True))
        ok = (rms_in[:, 0] ** 2 >= SILENT_POWER) & (rms_out[:, 0] > 0)
        y = np.where(ok[:, None], y * (rms_in / np.where(rms_out > 0, rms_out, 1.0)), xb)
        peak = np.max(np.abs(y), axis=-1, keepdims=True)
        y = np.where(peak > 1.0, y / np.maximum(peak, 1e-30), y)
        out[i : i + step] = y
    return out.reshape(x.shape)


def time_shift(x: np.ndarray, max_shift_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Shift by a uniform random integer in ``[-max, +max]`` samples along the last axis, zero-filled (no wrap).

    Args:
        x: ``float32 [S]`` (or ``[..., S]``: one shift for the whole array).
        max_shift_samples: e.g. 1,600 = 100 ms at 16 kHz.
        rng: random source.

    Returns:
        ``float32``, same shape; positive shift delays the signal.
    """
    x = np.asarray(x, dtype=np.float32)
    k = int(rng.integers(-max_shift_samples, max_shift_samples + 1)) if max_shift_samples > 0 else 0
    if k == 0:
        return x.copy()
    out = np.zeros_like(x)
    if abs(k) >= x.shape[-1]:
        return out
    if k > 0:
        out[..., k:] = x[..., :-k]
    else:
        out[..., :k] = x[..., -k:]
    return out


def random_gain(x: np.ndarray, min_db: float, max_db: float, rng: np.random.Generator) -> np.ndarray:
    """Multiply by ``10 ** (g / 20)`` with ``g`` uniform in ``[min_db, max_db]`` dB, clipped to [-1, 1].

    Returns:
        ``float32``, same shape as ``x``.
    """
    g = float(rng.uniform(min_db, max_db))
    return np.clip(np.asarray(x, dtype=np.float32) * np.float32(10.0 ** (g / 20.0)), -1.0, 1.0)


def make_slice(
    waves: np.ndarray,
    kind: str,
    param: float | int | str | None = None,
    noise_bank: Bank | None = None,
    rirs: Bank | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Build one evaluation slice from clean clips.

    Args:
        waves: ``float32 [N, S]`` clean clips.
        kind: ``"clean"`` (copy, ``param`` ignored); ``"noise"`` (``param`` = SNR in dB: each clip gets a
            segment of one noise recording chosen with ``np.random.default_rng([seed, i])``; the choice of
            recording and segment depends only on ``seed`` and the clip index ``i``, so every model variant,
            and every SNR, sees the same noise - only its gain changes); ``"reverb"`` (``param`` = key of
            ``rirs`` when it is a mapping, else an index; every clip convolved with that RIR,
            :func:`apply_rir`).
        param: see ``kind``.
        noise_bank: real noise recordings, ``float32 [L_j]`` each (sorted by key when a mapping). Use
            :func:`load_noise_bank` (which leaves out the synthetic white/pink noise by default).
        rirs: RIRs ``float32 [K_j]`` (see :func:`load_rir_bank`).
        seed: the slice seed.

    Returns:
        ``float32 [N, S]``.

    Raises:
        ValueError: unknown ``kind``, missing ``param``/``noise_bank``/``rirs``, or unknown RIR key/index.
    """
    waves = np.asarray(waves, dtype=np.float32)
    if waves.ndim != 2:
        raise ValueError(f"waves must be [N, S], got shape {waves.shape}")
    if kind == "clean":
        return waves.copy()
    if kind == "noise":
        if param is None or noise_bank is None or len(noise_bank) == 0:
            raise ValueError("a noise slice needs param=SNR in dB and a non-empty noise_bank")
        bank = _bank_list(noise_bank)
        out = np.empty_like(waves)
        for i in range(waves.shape[0]):
            rng = np.random.default_rng([int(seed), i])
            noise = bank[int(rng.integers(len(bank)))]
            out[i] = mix_at_snr(waves[i], noise, float(param), rng)
        return out
    if kind == "reverb":
        if rirs is None or param is None:
            raise ValueError("a reverb slice needs rirs and param = RIR key or index")
        try:
            rir = rirs[param] if isinstance(rirs, Mapping) else list(rirs)[int(param)]
        except (KeyError, IndexError, ValueError, TypeError):
            keys = list(rirs) if isinstance(rirs, Mapping) else list(range(len(rirs)))
            raise ValueError(f"unknown RIR {param!r}; have {keys}") from None
        return apply_rir(waves, rir)
    raise ValueError(f"unknown slice kind {kind!r}; expected one of {SLICE_KINDS}")


def _bank_clips(root: str | Path, set_folder: str, what: str, include_synthetic: bool = True) -> list:
    """``[(key, path)]`` of a noise/RIR bank folder: the pack's set, a manifest, or a folder of audio files."""
    from voxquant.data.datasets import check_files_exist, clips_from_rows, read_manifest
    from voxquant.data.specs import list_audio_files

    p = Path(root).expanduser()
    if p.is_file():
        if p.suffix.lower() == ".csv":
            manifest = p
        elif p.name.lower().endswith((".wav", ".flac")):
            return [(strip_ext(p.name), p.resolve())]
        else:
            from voxquant.errors import DataError

            raise DataError(f"{what} must be a folder of WAV/FLAC files, one audio file, or a manifest CSV", p)
    else:
        if (p / set_folder / "manifest.csv").is_file():
            p = p / set_folder
        manifest = p / "manifest.csv"
    if manifest.is_file():
        _, rows = read_manifest(manifest, label_required=False)
        clips = [c for c in clips_from_rows(manifest, rows) if include_synthetic or c.meta.get("kind") != "synthetic"]
        check_files_exist(clips, manifest)
        labels = [c.label for c in clips]
        unique = all(labels) and len(set(labels)) == len(labels)
        base = manifest.resolve().parent
        keys = labels if unique else [_rel_key(c.path, base) for c in clips]
        out = list(zip(keys, [c.path for c in clips]))
    else:
        from voxquant.errors import DataError

        if not p.is_dir():
            raise DataError(f"{what} folder not found", p,
                            hint=f"give a folder of WAV/FLAC files, or a data root holding {set_folder}/ "
                                 "(e.g. the shared data pack: VOXQUANT_DATA=../shared/data)")
        if any((d / "manifest.csv").is_file() for d in p.iterdir() if d.is_dir()):
            raise DataError(f"looks like a data root (sub-folders with manifest.csv) but has no {set_folder}/", p,
                            hint=f"give a folder of {what} WAV/FLAC files instead")
        files = list_audio_files(p)
        out = [(_rel_key(f, p), f.resolve()) for f in files]
    if not out:
        from voxquant.errors import DataError

        raise DataError(f"{what} folder has no audio files (.wav, .flac, searched recursively)", p)
    return out


def strip_ext(name: str) -> str:
    from voxquant.data.datasets import strip_audio_suffixes

    return strip_audio_suffixes(name)


def _rel_key(path: Path, base: Path) -> str:
    try:
        rel = Path(path).resolve().relative_to(base.resolve())
    except ValueError:
        rel = Path(Path(path).name)
    return (rel.parent / strip_ext(rel.name)).as_posix()


def load_noise_bank(
    root: str | Path | None = None, include_synthetic: bool = False, sample_rate: int = 16000
) -> dict[str, np.ndarray]:
    """Load background-noise recordings as ``{name: float32 [L]}``.

    Args:
        root: ``None`` (default): the Speech Commands background-noise set of the data root (``VOXQUANT_DATA``),
            where only the 4 **real** recordings are kept (doing_the_dishes, dude_miaowing, exercise_bike,
            running_tap) unless ``include_synthetic`` (adds white_noise and pink_noise), name order. Otherwise
            one of: a data root holding ``speech_commands_noise/``; a set folder with ``manifest.csv`` (or the CSV
            itself; ``label`` optional, rows with ``kind`` = ``synthetic`` dropped unless ``include_synthetic``);
            **a user's own folder of WAV/FLAC recordings** (searched recursively, sorted); one audio file.
            Names: the manifest label when labels are unique, else the path relative to the folder without
            extension.
        include_synthetic: keep rows whose ``kind`` column is ``synthetic``.
        sample_rate: Hz; files are resampled (soxr) and multi-channel files averaged to mono.

    Raises:
        DataError: the set/folder is missing, a folder has no audio files, a data root lacks the set, or a
            manifest is malformed. AudioError: a bad file (named).
    """
    from voxquant.audio.io import load_audio

    if root is None:
        from voxquant.data.sets.speech_commands_noise import noise_clips

        return {c.label: load_audio(c.path, sample_rate) for c in noise_clips(None, include_synthetic=include_synthetic)}
    from voxquant.data.datasets import NOISE_DIR

    items = _bank_clips(root, NOISE_DIR, "noise", include_synthetic)
    bank = {k: load_audio(f, sample_rate, mix_to_mono=True) for k, f in items}
    return bank


def load_rir_bank(root: str | Path | None = None, sample_rate: int = 16000) -> dict[str, np.ndarray]:
    """Load room impulse responses as ``{room: float32 [K]}`` (manifest order; files: sorted by path).

    Args:
        root: ``None``: the pack's 5 real RIRs (:func:`voxquant.data.rirs`, ``VOXQUANT_DATA``). Otherwise a data
            root holding ``rirs/``, a set folder with ``manifest.csv`` (or the CSV), **a user's own folder of
            WAV/FLAC impulse responses** (recursive), or one file. Names as in :func:`load_noise_bank`; the
            far-field slice uses the RIR whose name contains ``church``, else the first.
        sample_rate: Hz (resampled with soxr). Multi-channel RIRs are rejected (pick one channel).

    Raises:
        DataError: the set/folder is missing or has no audio files. AudioError: a bad file, multi-channel, or an
            all-zero response.
    """
    from voxquant.audio.io import load_audio
    from voxquant.errors import AudioError

    if root is None:
        from voxquant.data.sets.rirs import rirs as rir_clips

        return {c.label: load_audio(c.path, sample_rate) for c in rir_clips(None)}
    from voxquant.data.datasets import RIRS_DIR

    out = {}
    for key, f in _bank_clips(root, RIRS_DIR, "RIR"):
        x = load_audio(f, sample_rate)
        if not np.any(x):
            raise AudioError("impulse response is all zeros", f)
        out[key] = x
    return out


@dataclass
class Augmenter:
    """Training-time augmentation of one clip or a batch, in this order: reverb, time shift, noise, gain.

    Attributes:
        noise_bank: real background-noise recordings (``float32 [L]`` each); empty = no noise.
        rirs: RIRs for optional reverberation; empty = none.
        sample_rate: Hz, to convert ``shift_ms``.
        shift_ms: maximum time shift, +- ms (default 100 ms = 1,600 samples at 16 kHz).
        noise_prob: probability of adding noise to a clip (default 0.8).
        snr_db: (low, high) SNR range in dB, uniform (default 0-20 dB).
        gain_db: (low, high) gain range in dB, uniform (default +-6 dB).
        reverb_prob: probability of convolving with a random RIR (default 0).

    Call: ``aug(x, rng)`` with ``x`` ``float32 [S]`` or ``[N, S]`` -> same shape (each row independently).
    """

    noise_bank: Bank = field(default_factory=list)
    rirs: Bank = field(default_factory=list)
    sample_rate: int = 16000
    shift_ms: float = 100.0
    noise_prob: float = 0.8
    snr_db: tuple[float, float] = (0.0, 20.0)
    gain_db: tuple[float, float] = (-6.0, 6.0)
    reverb_prob: float = 0.0

    def __post_init__(self) -> None:
        self._noise = _bank_list(self.noise_bank)
        self._rirs = _bank_list(self.rirs)

    def one(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Augment one clip ``float32 [S]`` -> ``float32 [S]``."""
        x = np.asarray(x, dtype=np.float32)
        if self._rirs and self.reverb_prob > 0 and rng.random() < self.reverb_prob:
            x = apply_rir(x, self._rirs[int(rng.integers(len(self._rirs)))])
        x = time_shift(x, int(round(self.shift_ms * self.sample_rate / 1000.0)), rng)
        if self._noise and rng.random() < self.noise_prob:
            noise = self._noise[int(rng.integers(len(self._noise)))]
            x = mix_at_snr(x, noise, float(rng.uniform(*self.snr_db)), rng)
        return random_gain(x, self.gain_db[0], self.gain_db[1], rng)

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 1:
            return self.one(x, rng)
        return np.stack([self.one(row, rng) for row in x]).astype(np.float32, copy=False)
