"""Feature front-end: log-mel and MFCC, in numpy (host pre-processing) and torch (training, in-graph).

One :class:`FrontendConfig` describes the whole computation; :func:`compute_features` (numpy) and
:class:`TorchFrontend` (torch) implement it identically (``tests/audio/test_frontend.py`` checks agreement
and checks the mel filterbank / MFCC against librosa).

Pipeline, in order (each step controlled by a config field):

1. audio normalisation (``audio_norm``): ``"none"``, ``"max"`` (divide by ``max(x)``, as MLPerf Tiny's
   ``get_dataset.py`` does: not abs-max) or ``"peak"`` (divide by ``max(|x|)``);
2. pre-emphasis ``y[t] = x[t] - a * x[t-1]`` (``preemphasis``; 0 disables);
3. framing: ``win_length = round(window_ms * sr / 1000)`` samples every ``hop = round(hop_ms * sr / 1000)``.
   ``center=False`` frames like ``tf.signal.stft`` (frame starts at ``k*hop``, window left-aligned, frame zero
   padded at the end to ``n_fft``); ``center=True`` frames like ``torch.stft``/librosa (signal padded by
   ``n_fft // 2`` with ``pad_mode``, window centred in the ``n_fft`` frame);
4. window (``window``: hann/hamming, ``periodic``), real FFT of size ``n_fft``;
5. spectrum: ``|X|`` (``power=1``) or ``|X|^2`` (``power=2``), multiplied by ``spectrum_scale``;
6. mel filterbank (``mel_scale``): ``"tf"`` = ``tf.signal.linear_to_mel_weight_matrix`` (triangles in the
   HTK mel domain, DC bin zeroed); ``"htk"`` = torchaudio ``melscale_fbanks(mel_scale="htk", norm=None)``
   (triangles in Hz between HTK-mel-spaced points) which equals ``librosa.filters.mel(htk=True, norm=None)``;
   ``"slaney"`` = librosa's default (Slaney mel, area norm); ``"tf_audio_ops"`` = the filterbank of TensorFlow's
   ``audio_ops.mfcc`` op (``tensorflow/core/kernels/mfcc_mel_filterbank.cc``: HTK-mel triangles, but only the
   FFT bins ``int(1.5 + f_min/df) .. int(f_max/df)`` contribute; see :func:`mel_filterbank`);
7. log (``log``): ``"ln"``, ``"log2"``, ``"log10"`` or ``"db"`` (``10*log10``) of ``max(mel, mel_floor) + log_offset``
   (``mel_floor`` defaults to 0, i.e. no floor; ``audio_ops.mfcc`` uses ``log(max(mel, 1e-12))``);
8. MFCC (``n_mfcc > 0``): DCT-II over the mel axis, ``dct_norm="tf"`` as
   ``tf.signal.mfccs_from_log_mel_spectrograms`` (unnormalised DCT-II times ``1/sqrt(2*n_mels)``) or
   ``"ortho"`` (librosa / scipy orthonormal), first ``n_mfcc`` coefficients;
9. affine output scaling ``y = (x + feature_offset) * feature_scale``, optionally clipped to ``clip``.

``kind="raw"`` is the front-end of models that compute their features inside the graph (an STFT / log-mel in
``forward``, kws_streaming-style models): :func:`compute_features` then returns the waveform itself,
``float32 [N, S]`` with ``S = clip_samples`` at ``sample_rate`` (only ``audio_norm`` applies; every other field is
ignored), and the model input layout is ``raw`` (``voxquant.zoo.spec.LAYOUTS``). For shape bookkeeping a raw clip is
``S`` "frames" of one "feature": ``n_frames() = S``, ``n_features = 1``.

The default configuration is the MLPerf Tiny KWS front-end (mlcommons/tiny
``benchmark/training/keyword_spotting/get_dataset.py``): 30 ms Hann window, 20 ms hop, FFT 512, magnitude,
40 mel bins 20-4000 Hz, ``log(x + 1e-6)``, 10 MFCC: 49 x 10 for a 1 s clip at 16 kHz; with ``audio_norm="none"``
(voxquant's own models are trained on unnormalised audio).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field

import numpy as np
import scipy.fft
import scipy.signal

from voxquant.errors import ConfigError

_WINDOWS = ("hann", "hamming")
_MEL_SCALES = ("tf", "htk", "slaney", "tf_audio_ops")
_LOGS = ("ln", "log2", "log10", "db", "none")
KINDS = ("features", "raw")
"""Front-end kinds: host-side features, or the raw waveform for models with the front-end in the graph."""


@dataclass(frozen=True)
class FrontendConfig:
    """Parameters of the feature front-end (see the module docstring for the exact computation).

    Units: ``sample_rate`` in Hz, ``clip_samples`` in samples, ``window_ms``/``hop_ms`` in milliseconds,
    ``f_min``/``f_max`` in Hz.

    Raises:
        ConfigError: on inconsistent values (window longer than ``n_fft``, ``f_max`` above Nyquist, unknown
            window/mel scale/log, ...), at construction time.
    """

    sample_rate: int = 16000
    clip_samples: int = 16000
    window_ms: float = 30.0
    hop_ms: float = 20.0
    n_fft: int = 512
    window: str = "hann"
    periodic: bool = True
    center: bool = False
    pad_mode: str = "reflect"
    audio_norm: str = "none"
    preemphasis: float = 0.0
    power: float = 1.0
    spectrum_scale: float = 1.0
    spectrum_floor: float = 0.0
    n_mels: int = 40
    f_min: float = 20.0
    f_max: float = 4000.0
    mel_scale: str = "tf"
    log: str = "ln"
    log_offset: float = 1e-6
    n_mfcc: int = 10
    dct_norm: str = "tf"
    feature_offset: float = 0.0
    feature_scale: float = 1.0
    clip: tuple[float, float] | None = None
    name: str = field(default="custom", compare=False)
    # --- added for third-party front-ends (voxquant.audio.presets); defaults keep the behaviour above ---
    mel_floor: float = 0.0
    # --- models with the front-end inside the graph: "raw" = the waveform is the model input ---
    kind: str = "features"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ConfigError(f"unknown front-end kind '{self.kind}' (choose from {', '.join(KINDS)})")
        if self.sample_rate <= 0 or self.clip_samples <= 0:
            raise ConfigError(f"need sample_rate > 0 and clip_samples > 0, got {self.sample_rate}, {self.clip_samples}")
        if self.audio_norm not in ("none", "max", "peak"):
            raise ConfigError(f"unknown audio_norm '{self.audio_norm}' (choose from none, max, peak)")
        if self.kind == "raw":
            return  # the feature fields are not used
        if self.window not in _WINDOWS:
            raise ConfigError(f"unknown window '{self.window}' (choose from {', '.join(_WINDOWS)})")
        if self.mel_scale not in _MEL_SCALES:
            raise ConfigError(f"unknown mel_scale '{self.mel_scale}' (choose from {', '.join(_MEL_SCALES)})")
        if self.log not in _LOGS:
            raise ConfigError(f"unknown log '{self.log}' (choose from {', '.join(_LOGS)})")
        if self.dct_norm not in ("tf", "ortho"):
            raise ConfigError(f"unknown dct_norm '{self.dct_norm}' (choose from tf, ortho)")
        if self.win_length > self.n_fft:
            raise ConfigError(f"window of {self.win_length} samples is longer than n_fft={self.n_fft}")
        if not 0 <= self.f_min < self.f_max <= self.sample_rate / 2 + 1e-6:
            raise ConfigError(f"need 0 <= f_min < f_max <= Nyquist, got f_min={self.f_min}, f_max={self.f_max}")
        if self.n_mfcc > self.n_mels:
            raise ConfigError(f"n_mfcc={self.n_mfcc} is larger than n_mels={self.n_mels}")
        if self.clip is not None:
            object.__setattr__(self, "clip", tuple(float(c) for c in self.clip))
        if self.mel_floor < 0:
            raise ConfigError(f"mel_floor must be >= 0, got {self.mel_floor}")

    @property
    def win_length(self) -> int:
        """Window length in samples."""
        return int(round(self.window_ms * self.sample_rate / 1000.0))

    @property
    def hop_length(self) -> int:
        """Hop in samples."""
        return int(round(self.hop_ms * self.sample_rate / 1000.0))

    @property
    def n_features(self) -> int:
        """Features per frame: ``n_mfcc`` if MFCC, else ``n_mels`` (1 for ``kind="raw"``)."""
        if self.kind == "raw":
            return 1
        return self.n_mfcc if self.n_mfcc > 0 else self.n_mels

    def n_frames(self, num_samples: int | None = None) -> int:
        """Frames produced for ``num_samples`` samples (default ``clip_samples``; ``kind="raw"``: the samples)."""
        s = self.clip_samples if num_samples is None else num_samples
        if self.kind == "raw":
            return s
        if self.center:
            return 1 + s // self.hop_length
        return 1 + (s - self.win_length) // self.hop_length

    @property
    def shape(self) -> tuple[int, int]:
        """Feature shape ``(T, F)`` of one clip of ``clip_samples`` samples."""
        return (self.n_frames(), self.n_features)

    def to_dict(self) -> dict:
        """Plain-JSON dict of every field (``clip`` as a list)."""
        d = dataclasses.asdict(self)
        if d["clip"] is not None:
            d["clip"] = list(d["clip"])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "FrontendConfig":
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown front-end parameter(s): {', '.join(sorted(unknown))}")
        d = dict(d)
        if d.get("clip") is not None:
            d["clip"] = tuple(d["clip"])
        return cls(**d)


# ----------------------------------------------------------------------------------------------------------------
# filterbanks and windows (numpy, cached; torch reuses them so both paths share constants)


def _hz_to_mel_htk(f):
    return 1127.0 * np.log1p(np.asarray(f, dtype=np.float64) / 700.0)


def _mel_to_hz_htk(m):
    return 700.0 * np.expm1(np.asarray(m, dtype=np.float64) / 1127.0)


@functools.lru_cache(maxsize=32)
def mel_filterbank(cfg_key: tuple) -> np.ndarray:
    """Mel weight matrix ``float32 [n_fft//2+1, n_mels]`` for ``(mel_scale, n_fft, sr, n_mels, f_min, f_max)``.

    ``"tf"`` follows ``tf.signal.linear_to_mel_weight_matrix`` (TensorFlow ``mel_ops.py``): triangles in the
    HTK mel domain evaluated at each FFT bin's mel value, DC bin set to zero. ``"htk"`` follows torchaudio's
    ``melscale_fbanks(norm=None, mel_scale="htk")``: triangles in Hz between mel-spaced edges (identical to
    ``librosa.filters.mel(htk=True, norm=None)``). ``"slaney"`` is ``librosa.filters.mel`` defaults
    (Slaney scale, area normalisation), computed here without librosa.
    """
    mel_scale, n_fft, sr, n_mels, f_min, f_max = cfg_key
    n_bins = n_fft // 2 + 1
    freqs = np.linspace(0.0, sr / 2.0, n_bins)
    if mel_scale == "tf_audio_ops":
        return _tf_audio_ops_filterbank(n_bins, sr, n_mels, f_min, f_max)
    if mel_scale == "tf":
        spec_mel = _hz_to_mel_htk(freqs[1:])[:, None]
        edges = np.linspace(_hz_to_mel_htk(f_min), _hz_to_mel_htk(f_max), n_mels + 2)
        lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
        lower_slopes = (spec_mel - lower) / (center - lower)
        upper_slopes = (upper - spec_mel) / (upper - center)
        w = np.maximum(0.0, np.minimum(lower_slopes, upper_slopes))
        w = np.concatenate([np.zeros((1, n_mels)), w], axis=0)
        return w.astype(np.float32)
    if mel_scale == "htk":
        m_pts = np.linspace(_hz_to_mel_htk(f_min), _hz_to_mel_htk(f_max), n_mels + 2)
        f_pts = _mel_to_hz_htk(m_pts)
    else:  # slaney (librosa.mel_frequencies(htk=False))
        f_sp = 200.0 / 3
        min_log_hz = 1000.0
        min_log_mel = min_log_hz / f_sp
        logstep = np.log(6.4) / 27.0

        def hz2mel(f):
            f = np.asarray(f, dtype=np.float64)
            return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, f / f_sp)

        def mel2hz(m):
            m = np.asarray(m, dtype=np.float64)
            return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)

        f_pts = mel2hz(np.linspace(hz2mel(f_min), hz2mel(f_max), n_mels + 2))
    f_diff = np.diff(f_pts)
    slopes = f_pts[None, :] - freqs[:, None]
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    w = np.maximum(0.0, np.minimum(down, up))
    if mel_scale == "slaney":
        enorm = 2.0 / (f_pts[2 : n_mels + 2] - f_pts[:n_mels])
        w = w * enorm[None, :]
    return w.astype(np.float32)


def _tf_audio_ops_filterbank(n_bins: int, sr: float, n_mels: int, f_min: float, f_max: float) -> np.ndarray:
    """The mel filterbank of TensorFlow's ``audio_ops.mfcc`` as a matrix ``float32 [n_bins, n_mels]``.

    Re-implements ``MfccMelFilterbank::Initialize``/``Compute`` (tensorflow/core/kernels/mfcc_mel_filterbank.cc):
    ``n_mels + 1`` centre frequencies ``mel_low + (i + 1) * (mel_high - mel_low) / (n_mels + 1)`` on the HTK mel
    scale ``1127 ln(1 + f/700)``; FFT bin ``i`` (at ``i * df``, ``df = 0.5 * sr / (n_bins - 1)``) is used only if
    ``int(1.5 + f_min/df) <= i <= int(f_max/df)`` ("always exclude DC; emulate HTK"); a used bin whose mel value lies
    between centres ``c`` and ``c+1`` gives weight ``w = (centre[c+1] - mel) / (centre[c+1] - centre[c])`` to channel
    ``c`` and ``1 - w`` to channel ``c+1`` (below the first centre only ``1 - w`` to channel 0, with
    ``centre[-1] = mel_low``). The op applies these weights to ``sqrt(spectrogram)``, i.e. to the *magnitude* when
    ``audio_spectrogram(magnitude_squared=True)`` fed it: use ``power=1`` with this filterbank to reproduce it.
    Inside ``[f_min, f_max]`` the triangles equal ``tf.signal.linear_to_mel_weight_matrix``'s; the bins admitted
    at the edges differ.
    """

    def mel(f):
        return 1127.0 * np.log1p(f / 700.0)

    df = 0.5 * sr / (n_bins - 1)
    mel_low, mel_high = mel(f_min), mel(f_max)
    spacing = (mel_high - mel_low) / (n_mels + 1)
    centres = mel_low + spacing * (np.arange(n_mels + 1) + 1)
    start, end = int(1.5 + f_min / df), int(f_max / df)
    w = np.zeros((n_bins, n_mels), dtype=np.float64)
    channel = 0
    for i in range(n_bins):
        if i < start or i > end:
            continue
        m = mel(i * df)
        while channel < n_mels and centres[channel] < m:
            channel += 1
        band = channel - 1
        if band >= 0:
            weight = (centres[band + 1] - m) / (centres[band + 1] - centres[band])
            w[i, band] += weight
        else:
            weight = (centres[0] - m) / (centres[0] - mel_low)
        if band + 1 < n_mels:
            w[i, band + 1] += 1.0 - weight
    return w.astype(np.float32)


def _fb(cfg: FrontendConfig) -> np.ndarray:
    return mel_filterbank((cfg.mel_scale, cfg.n_fft, cfg.sample_rate, cfg.n_mels, float(cfg.f_min), float(cfg.f_max)))


@functools.lru_cache(maxsize=32)
def _window(kind: str, length: int, periodic: bool) -> np.ndarray:
    return scipy.signal.get_window(kind, length, fftbins=periodic).astype(np.float32)


def window_frame(cfg: FrontendConfig) -> np.ndarray:
    """The analysis window placed in an ``n_fft`` frame, ``float32 [n_fft]`` (see ``center`` in the module doc)."""
    w = _window(cfg.window, cfg.win_length, cfg.periodic)
    frame = np.zeros(cfg.n_fft, dtype=np.float32)
    if cfg.center:
        off = (cfg.n_fft - cfg.win_length) // 2
        frame[off : off + cfg.win_length] = w
    else:
        frame[: cfg.win_length] = w
    return frame


@functools.lru_cache(maxsize=32)
def dct_matrix(n_mels: int, n_mfcc: int, norm: str) -> np.ndarray:
    """DCT-II matrix ``float32 [n_mels, n_mfcc]`` so that ``mfcc = log_mel @ D``.

    ``norm="tf"``: ``tf.signal.mfccs_from_log_mel_spectrograms`` = unnormalised DCT-II (``2*sum(...)``) scaled by
    ``1/sqrt(2*n_mels)``. ``norm="ortho"``: orthonormal DCT-II (scipy/librosa ``norm="ortho"``).
    """
    eye = np.eye(n_mels)
    if norm == "tf":
        d = scipy.fft.dct(eye, type=2, axis=-1, norm=None) / np.sqrt(2.0 * n_mels)
    else:
        d = scipy.fft.dct(eye, type=2, axis=-1, norm="ortho")
    return d[:, :n_mfcc].astype(np.float32)


# ----------------------------------------------------------------------------------------------------------------
# numpy implementation


def _log(x, cfg: FrontendConfig, xp=np):
    x = x + cfg.log_offset
    if cfg.log == "ln":
        return xp.log(x)
    if cfg.log == "log2":
        return xp.log2(x)
    if cfg.log == "log10":
        return xp.log10(x)
    if cfg.log == "db":
        return 10.0 * xp.log10(x)
    return x


def compute_features(waves: np.ndarray, cfg: FrontendConfig) -> np.ndarray:
    """Compute features in numpy.

    Args:
        waves: ``float32 [S]`` or ``[N, S]`` audio in [-1, 1] at ``cfg.sample_rate``.
        cfg: the front-end configuration.

    Returns:
        ``float32 [T, F]`` or ``[N, T, F]`` (``T = cfg.n_frames(S)``, ``F = cfg.n_features``); for
        ``cfg.kind == "raw"`` the waveform itself, ``float32 [S]`` or ``[N, S]`` (after ``audio_norm``).

    Raises:
        ValueError: if ``waves`` has more than 2 dimensions or fewer samples than one window.
    """
    x = np.asarray(waves, dtype=np.float32)
    single = x.ndim == 1
    if single:
        x = x[None]
    if x.ndim != 2:
        raise ValueError(f"waves must be [S] or [N, S], got shape {x.shape}")
    if cfg.audio_norm == "max":
        m = x.max(axis=1, keepdims=True)
        x = x / np.where(m == 0, 1.0, m)
    elif cfg.audio_norm == "peak":
        m = np.abs(x).max(axis=1, keepdims=True)
        x = x / np.where(m == 0, 1.0, m)
    if cfg.kind == "raw":
        return x[0] if single else x  # may share memory with ``waves`` (no copy of a large batch)
    if cfg.preemphasis:
        x = np.concatenate([x[:, :1], x[:, 1:] - cfg.preemphasis * x[:, :-1]], axis=1)
    if cfg.center:
        pad = cfg.n_fft // 2
        x = np.pad(x, ((0, 0), (pad, pad)), mode=cfg.pad_mode)
        flen = cfg.n_fft
    else:
        flen = cfg.win_length
    if x.shape[1] < flen:
        raise ValueError(f"need at least {flen} samples for one frame, got {x.shape[1]}")
    frames = np.lib.stride_tricks.sliding_window_view(x, flen, axis=1)[:, :: cfg.hop_length]  # [N, T, flen]
    win = window_frame(cfg)[:flen]
    spec = scipy.fft.rfft(frames * win, n=cfg.n_fft, axis=-1)  # scipy's pocketfft: ~8x faster than numpy's here
    mag = np.abs(spec).astype(np.float32, copy=False)
    if cfg.power != 1.0:
        mag = mag**cfg.power
    if cfg.spectrum_scale != 1.0:
        mag = mag * np.float32(cfg.spectrum_scale)
    if cfg.spectrum_floor:
        mag = np.maximum(mag, np.float32(cfg.spectrum_floor))
    mel = mag @ _fb(cfg)
    if cfg.mel_floor:
        mel = np.maximum(mel, np.float32(cfg.mel_floor))
    feat = _log(mel, cfg)
    if cfg.n_mfcc > 0:
        feat = feat @ dct_matrix(cfg.n_mels, cfg.n_mfcc, cfg.dct_norm)
    if cfg.feature_offset or cfg.feature_scale != 1.0:
        feat = (feat + np.float32(cfg.feature_offset)) * np.float32(cfg.feature_scale)
    if cfg.clip is not None:
        feat = np.clip(feat, cfg.clip[0], cfg.clip[1])
    feat = feat.astype(np.float32, copy=False)
    return feat[0] if single else feat


class FrameFeaturizer:
    """Features of a few frames at a time with every constant precomputed (live streaming, one hop per call).

    :func:`compute_features` pays a fixed ~35 us per call (framing views, FFT dispatch with padding, cache look-ups,
    temporaries) that dominates when a call sees only the one or two frames of a 20-40 ms hop. This class holds the
    window, mel filterbank, DCT matrix and a zero-padded ``[max_frames, n_fft]`` FFT input buffer once and runs steps
    4-9 of the module docstring (window, real FFT of ``n_fft``, magnitude/power/scale/floor, mel, log, DCT, affine,
    clip) with the same operations in the same order, so its output equals :func:`compute_features` on the same
    frames (``tests/audio/test_frontend.py`` checks every ``center=False`` preset to 1e-5).

    Args:
        cfg: a ``kind="features"`` front-end with ``center=False``, no pre-emphasis and ``audio_norm="none"``
            (framing and per-clip steps 1-3 belong to the caller: frame ``i`` is ``x[i*hop_length :][:win_length]``).
        max_frames: frames the preallocated FFT buffer holds; calls with more frames use :func:`compute_features`.

    Raises:
        ConfigError: a front-end with per-clip steps (``center``, pre-emphasis, ``audio_norm``) or ``kind="raw"``.
    """

    def __init__(self, cfg: FrontendConfig, max_frames: int = 8):
        if cfg.kind != "features" or cfg.center or cfg.preemphasis or cfg.audio_norm != "none":
            raise ConfigError(f"front-end '{cfg.name}' is not frame-local (kind={cfg.kind}, center={cfg.center}, "
                              f"preemphasis={cfg.preemphasis}, audio_norm={cfg.audio_norm}): no per-frame featurizer")
        self.cfg = cfg
        self.win_length, self.hop_length, self.n_features = cfg.win_length, cfg.hop_length, cfg.n_features
        self.max_frames = int(max_frames)
        self._win = window_frame(cfg)[: cfg.win_length].copy()
        fb = _fb(cfg)
        # only the FFT bins with a mel weight (e.g. 1..128 for 20-4000 Hz) are used: a bin of zero weight adds 0 to
        # every mel channel whatever its (floored, scaled) magnitude
        used = np.flatnonzero(np.any(fb != 0, axis=1))
        lo, hi = (int(used[0]), int(used[-1]) + 1) if used.size else (0, 1)
        self._bins = slice(lo, hi)
        self._fb = np.ascontiguousarray(fb[lo:hi])
        self._dct = np.ascontiguousarray(dct_matrix(cfg.n_mels, cfg.n_mfcc, cfg.dct_norm)) if cfg.n_mfcc > 0 else None
        self._frames = np.zeros((self.max_frames, cfg.n_fft), dtype=np.float32)  # columns >= win_length stay 0
        self._mag = np.zeros((self.max_frames, hi - lo), dtype=np.float32)
        self._mel = np.zeros((self.max_frames, cfg.n_mels), dtype=np.float32)
        self._spectral_steps = cfg.power != 1.0 or cfg.spectrum_scale != 1.0 or bool(cfg.spectrum_floor)
        self._output_steps = bool(cfg.feature_offset) or cfg.feature_scale != 1.0 or cfg.clip is not None
        self._log = {"ln": np.log, "log2": np.log2, "log10": np.log10, "db": np.log10}.get(cfg.log)

    def __call__(self, x: np.ndarray, n_frames: int) -> np.ndarray:
        """Features of the first ``n_frames`` frames of ``x``.

        Args:
            x: ``float32 [S]`` samples, ``S >= (n_frames - 1) * hop_length + win_length``.
            n_frames: frames to compute (>= 1).

        Returns:
            ``float32 [n_frames, F]`` (a new array).
        """
        cfg, k, win, hop = self.cfg, int(n_frames), self.win_length, self.hop_length
        if k > self.max_frames:
            return compute_features(x[: (k - 1) * hop + win], cfg)
        fr = self._frames[:k]
        for i in range(k):
            np.multiply(x[i * hop : i * hop + win], self._win, out=fr[i, :win])
        mag = np.abs(scipy.fft.rfft(fr, axis=-1)[:, self._bins], out=self._mag[:k])  # the weighed bins only
        if self._spectral_steps:
            if cfg.power != 1.0:
                mag = mag**cfg.power
            if cfg.spectrum_scale != 1.0:
                mag *= np.float32(cfg.spectrum_scale)
            if cfg.spectrum_floor:
                np.maximum(mag, np.float32(cfg.spectrum_floor), out=mag)
        mel = np.matmul(mag, self._fb, out=self._mel[:k])
        if cfg.mel_floor:
            np.maximum(mel, np.float32(cfg.mel_floor), out=mel)
        if cfg.log != "none":  # _log in place: log(mel + log_offset)
            np.add(mel, cfg.log_offset, out=mel)
            self._log(mel, out=mel)
            if cfg.log == "db":
                mel *= 10.0
        else:
            mel = _log(mel, cfg)
        feat = mel @ self._dct if self._dct is not None else mel.copy()  # a new array: callers keep it
        if self._output_steps:
            if cfg.feature_offset or cfg.feature_scale != 1.0:
                feat = (feat + np.float32(cfg.feature_offset)) * np.float32(cfg.feature_scale)
            if cfg.clip is not None:
                feat = np.clip(feat, cfg.clip[0], cfg.clip[1])
        return feat.astype(np.float32, copy=False)


# ----------------------------------------------------------------------------------------------------------------
# torch implementation


def TorchFrontend(cfg: FrontendConfig):  # noqa: N802 - factory that returns an nn.Module, named like a class
    """Build the torch front-end module for ``cfg`` (torch is imported lazily).

    The module maps ``float32 [N, S]`` audio to ``float32 [N, T, F]`` features, identically to
    :func:`compute_features` (same window, filterbank and DCT constants); ``kind="raw"``: ``[N, S]`` unchanged
    (after ``audio_norm``). Framing uses ``Tensor.unfold`` and
    ``torch.fft.rfft`` rather than ``torch.stft`` so that ``center=False`` matches ``tf.signal.stft`` exactly.
    """
    import torch

    class _TorchFrontend(torch.nn.Module):
        def __init__(self, cfg: FrontendConfig):
            super().__init__()
            self.cfg = cfg
            if cfg.kind == "raw":
                return
            flen = cfg.n_fft if cfg.center else cfg.win_length
            self.flen = flen
            self.register_buffer("window", torch.from_numpy(window_frame(cfg)[:flen].copy()))
            self.register_buffer("mel_fb", torch.from_numpy(_fb(cfg).copy()))
            if cfg.n_mfcc > 0:
                self.register_buffer("dct", torch.from_numpy(dct_matrix(cfg.n_mels, cfg.n_mfcc, cfg.dct_norm).copy()))
            else:
                self.dct = None

        def forward(self, x: "torch.Tensor") -> "torch.Tensor":
            cfg = self.cfg
            if cfg.audio_norm == "max":
                m = x.amax(dim=1, keepdim=True)
                x = x / torch.where(m == 0, torch.ones_like(m), m)
            elif cfg.audio_norm == "peak":
                m = x.abs().amax(dim=1, keepdim=True)
                x = x / torch.where(m == 0, torch.ones_like(m), m)
            if cfg.kind == "raw":
                return x
            if cfg.preemphasis:
                x = torch.cat([x[:, :1], x[:, 1:] - cfg.preemphasis * x[:, :-1]], dim=1)
            if cfg.center:
                pad = cfg.n_fft // 2
                x = torch.nn.functional.pad(x[:, None], (pad, pad), mode=cfg.pad_mode)[:, 0]
            frames = x.unfold(1, self.flen, cfg.hop_length) * self.window
            mag = torch.fft.rfft(frames, n=cfg.n_fft, dim=-1).abs()
            if cfg.power != 1.0:
                mag = mag.pow(cfg.power)
            return torch_spectrum_features(mag, cfg, self.mel_fb, self.dct)

    return _TorchFrontend(cfg)


def torch_spectrum_features(mag, cfg: FrontendConfig, mel_fb, dct=None):
    """The front-end after the spectrum, in torch (shared by :func:`TorchFrontend` and the streaming graphs'
    exportable per-frame MFCC, :class:`voxquant.models.streaming.FrameMFCC`): spectrum scale and floor, mel
    filterbank, mel floor, log (``cfg.log``), DCT, feature offset/scale and clip, as :func:`compute_features`.

    Args:
        mag: ``torch.float32 [..., n_bins]`` magnitude spectrum raised to ``cfg.power``.
        cfg: the front-end.
        mel_fb: ``torch.float32 [n_bins, n_mels]`` filterbank (bins the caller kept).
        dct: ``torch.float32 [n_mels, n_mfcc]`` or ``None`` (log-mel).

    Returns:
        ``torch.float32 [..., F]``.
    """
    import torch

    if cfg.spectrum_scale != 1.0:
        mag = mag * cfg.spectrum_scale
    if cfg.spectrum_floor:
        mag = mag.clamp_min(cfg.spectrum_floor)
    mel = mag @ mel_fb
    if cfg.mel_floor:
        mel = mel.clamp_min(cfg.mel_floor)
    feat = _log(mel, cfg, xp=torch)
    if dct is not None:
        feat = feat @ dct
    if cfg.feature_offset or cfg.feature_scale != 1.0:
        feat = (feat + cfg.feature_offset) * cfg.feature_scale
    if cfg.clip is not None:
        feat = feat.clamp(cfg.clip[0], cfg.clip[1])
    return feat


#: voxquant's default front-end (the MLPerf Tiny KWS MFCC shape, no audio normalisation): 49 x 10 per second.
DEFAULT_FRONTEND = FrontendConfig(name="voxquant-mfcc-49x10")
