"""Streaming conversion of the 'valid'-time-padding DS-CNN (architecture ``dscnn_stream``).

Method: Rybakov, Kononenko, Subrahmanya, Visontai, Laurenzo, "Streaming keyword spotting on mobile devices",
Interspeech 2020 (arXiv:2005.06720) and google-research ``kws_streaming`` (``layers/stream.py``: a time convolution
wrapped so that each call receives only the new time steps and concatenates them to a state holding its last
``kernel - 1`` input steps; ``train/test.py``: conversion to "internal" and "external" state). Because every time
convolution of :class:`~voxquant.models.dscnn.DSCNN` with ``time_padding="valid"`` sees real frames only, the
converted forms below compute EXACTLY the windowed clip model (no edge effects), only faster.

Geometry for the 49 x 10 MFCC front-end (20 ms frame hop): the stem (kernel 10, stride 2) turns frames ``2i ..
2i+9`` into trunk step ``i``; each of the four 3-tap depthwise blocks removes two steps, so trunk output step ``j``
sees frames ``2j .. 2j+25``; the clip model's global average pool over a window starting at frame ``2k`` is the mean
of trunk output steps ``k .. k+11`` (``POOL_STEPS``), which read frames ``2k .. 2k+47`` (the window's 49th frame is
never read: (49 - 10) // 2 + 1 = 20 stem steps cover 48 frames). So at a hop of 2 frames (40 ms) window ``k``'s
logits are a 12-step sliding mean of the trunk output followed by the classifier.

* :class:`StreamGraph` (offline): features ``float32 [1, 1, T, F]`` of a chunk (``T >= 48``) -> logits
  ``float32 [T_out, C]`` with ``T_out = (T - 10) // 2 - 18``: one output per 2-frame hop, output ``k`` = the clip
  model on frames ``2k .. 2k+48``. The trunk runs once over the chunk; pooling is ``AvgPool1d(12, stride=1)``; the
  linear layer is a 1x1 ``Conv1d``. Chunks overlapping by :data:`CONTEXT_FRAMES` frames give the same outputs as
  one long chunk (:func:`chunk_bounds`).
* :class:`LiveGraph` (state-carrying, external state): per call the ``hop_frames`` new feature frames plus one state
  tensor per time convolution (its last ``kernel - 1`` input steps: 8 frames for the stem, 2 steps per depthwise
  block) and the pooling buffer (the last 11 trunk output steps, frequency-averaged) -> logits
  ``[hop_frames // 2, C]`` and the new states. Driven from zero states, the outputs of the first
  :data:`WARMUP_HOPS` 2-frame hops (46 frames) are warm-up; from then on output ``m`` equals window ``m - 23``
  (the states then hold real frames only: no priming graph is needed).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

#: Frames of one DS-CNN stem step (kernel height) and the stem stride (frames per trunk step).
STEM_KERNEL, STEM_STRIDE = 10, 2
#: Trunk output steps averaged per window (49-frame window: 20 stem steps - 4 blocks x 2).
POOL_STEPS = 12
#: Frames the stream graph needs for its first output (the window minus its unread last frame).
RECEPTIVE_FRAMES = 48
#: Frames a chunk must share with the previous one so that chunked outputs equal one pass.
CONTEXT_FRAMES = RECEPTIVE_FRAMES - STEM_STRIDE
#: 2-frame hops of warm-up of the live graph from zero states.
WARMUP_HOPS = CONTEXT_FRAMES // STEM_STRIDE


def check_streamable(model) -> None:
    """Raise :class:`~voxquant.errors.ModelError` unless ``model`` is a DS-CNN with ``time_padding="valid"`` and
    the pooling geometry above (49-frame input: 12 pooled trunk steps)."""
    from voxquant.errors import ModelError
    from voxquant.models.dscnn import DSCNN

    if not isinstance(model, DSCNN) or getattr(model, "time_padding", "same") != "valid":
        raise ModelError(f"streaming conversion needs a DS-CNN with 'valid' time padding (architecture "
                         f"'dscnn_stream'), got {type(model).__name__} "
                         f"(time_padding={getattr(model, 'time_padding', None)!r})")
    if n_outputs(model.input_shape[0]) != 1 or _n_blocks(model) * 2 + POOL_STEPS != (model.input_shape[0] - STEM_KERNEL) // STEM_STRIDE + 1:
        raise ModelError(f"streaming conversion supports the 49-frame DS-CNN with 4 blocks, got input "
                         f"{model.input_shape} and {_n_blocks(model)} blocks")


def _n_blocks(model) -> int:
    return len(model.blocks) // 6


def _blocks(model) -> list[nn.Sequential]:
    return [nn.Sequential(*list(model.blocks)[6 * i: 6 * i + 6]) for i in range(_n_blocks(model))]


def _linear_as_conv(linear: nn.Linear) -> nn.Conv1d:
    conv = nn.Conv1d(linear.in_features, linear.out_features, 1)
    with torch.no_grad():
        conv.weight.copy_(linear.weight[:, :, None])
        conv.bias.copy_(linear.bias)
    return conv


def n_outputs(n_frames: int) -> int:
    """Stream-graph outputs for ``n_frames`` feature frames: ``(n_frames - 10) // 2 - 18`` (0 below 48 frames)."""
    return max(0, (int(n_frames) - STEM_KERNEL) // STEM_STRIDE + 1 - 8 - (POOL_STEPS - 1))


def chunk_bounds(n_windows: int, chunk_windows: int = 4096) -> list[tuple[int, int, int, int]]:
    """Frame ranges of the chunks that score windows ``0 .. n_windows-1`` (hop 2 frames) with bounded memory.

    Returns:
        ``[(w0, w1, f0, f1)]``: windows ``w0 .. w1-1`` come from the stream graph on frames ``f0 .. f1-1``
        (``f0 = 2 * w0``, ``f1 = 2 * (w1 - 1) + 48``; consecutive chunks overlap by :data:`CONTEXT_FRAMES`).
    """
    if chunk_windows < 1:
        raise ValueError(f"chunk_windows must be >= 1, got {chunk_windows}")
    return [(w0, min(w0 + chunk_windows, n_windows), STEM_STRIDE * w0,
             STEM_STRIDE * (min(w0 + chunk_windows, n_windows) - 1) + RECEPTIVE_FRAMES)
            for w0 in range(0, n_windows, chunk_windows)]


class StreamGraph(nn.Module):
    """Offline stream graph of a ``dscnn_stream`` model (module docstring).

    Args:
        model: trained :class:`~voxquant.models.dscnn.DSCNN` with ``time_padding="valid"`` (copied; eval mode).

    Input ``float32 [1, 1, T, F]`` (``T >= 48``), output logits ``float32 [T_out, C]``, ``T_out`` =
    :func:`n_outputs` ``(T)``.

    Raises:
        ModelError: a model that is not streamable (:func:`check_streamable`).
    """

    def __init__(self, model):
        super().__init__()
        check_streamable(model)
        m = copy.deepcopy(model).eval()
        self.stem, self.blocks = m.stem, m.blocks
        self.pool = nn.AvgPool1d(POOL_STEPS, stride=1)
        self.fc = _linear_as_conv(m.head[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.stem(x)).mean(dim=3)  # [1, C, T']
        return self.fc(self.pool(h))[0].transpose(0, 1)  # [T_out, classes]


class LiveGraph(nn.Module):
    """State-carrying (external state) graph of a ``dscnn_stream`` model (module docstring).

    Args:
        model: trained :class:`~voxquant.models.dscnn.DSCNN` with ``time_padding="valid"`` (copied; eval mode).
        hop_frames: new feature frames per call, a positive multiple of the stem stride 2 (2 = 40 ms at a 20 ms
            frame hop).

    ``forward(x, stem_state, block_state_1, ..., pool_state)``: ``x float32 [1, 1, hop_frames, F]``, states as
    :meth:`state_shapes`; returns ``(logits float32 [hop_frames // 2, C], *new_states)`` in the same order.

    Raises:
        ModelError: a model that is not streamable. ValueError: a bad ``hop_frames``.
    """

    def __init__(self, model, hop_frames: int = 2):
        super().__init__()
        check_streamable(model)
        if hop_frames < STEM_STRIDE or hop_frames % STEM_STRIDE:
            raise ValueError(f"hop_frames must be a positive multiple of the stem stride {STEM_STRIDE}, got {hop_frames}")
        m = copy.deepcopy(model).eval()
        self.hop_frames = int(hop_frames)
        self.n_features = int(model.input_shape[1])
        self.stem = m.stem
        self.block_list = nn.ModuleList(_blocks(m))
        self.channels = int(m.head[-1].in_features)
        self.freq_steps = int(self.stem(torch.zeros(1, 1, STEM_KERNEL, self.n_features)).shape[-1])
        self.fc = m.head[-1]

    def state_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """``[(name, shape)]`` of the state inputs in call order: ``stem_state [1, 1, 8, F]``, ``block<i>_state
        [1, C, 2, F']`` per block, ``pool_state [1, C, 11]``."""
        c, f2 = self.channels, self.freq_steps
        out = [("stem_state", (1, 1, STEM_KERNEL - STEM_STRIDE, self.n_features))]
        out += [(f"block{i + 1}_state", (1, c, 2, f2)) for i in range(len(self.block_list))]
        return out + [("pool_state", (1, c, POOL_STEPS - 1))]

    def zero_states(self) -> list[torch.Tensor]:
        """Zero state tensors (:meth:`state_shapes`), the start of a stream."""
        return [torch.zeros(s) for _, s in self.state_shapes()]

    def forward(self, x: torch.Tensor, *states: torch.Tensor):
        keep_stem = STEM_KERNEL - STEM_STRIDE
        xs = torch.cat([states[0], x], dim=2)  # [1, 1, 8 + hop, F]
        new = [xs[:, :, -keep_stem:]]
        h = self.stem(xs)  # [1, C, n, F']
        for i, blk in enumerate(self.block_list):
            hin = torch.cat([states[1 + i], h], dim=2)  # [1, C, 2 + n, F']
            new.append(hin[:, :, -2:])
            h = blk(hin)
        buf = torch.cat([states[-1], h.mean(dim=3)], dim=2)  # [1, C, 11 + n]
        new.append(buf[:, :, -(POOL_STEPS - 1):])
        pooled = nn.functional.avg_pool1d(buf, POOL_STEPS, stride=1)[0].transpose(0, 1)  # [n, C]
        return (self.fc(pooled), *new)


# ------------------------------------------------------------------------------------------------ audio-in live graph


def _check_frame_local(frontend) -> None:
    from voxquant.errors import ConfigError

    if frontend.kind != "features" or frontend.center or frontend.preemphasis or frontend.audio_norm != "none":
        raise ConfigError(f"front-end '{frontend.name}' is not frame-local (kind={frontend.kind}, center="
                          f"{frontend.center}, preemphasis={frontend.preemphasis}, audio_norm={frontend.audio_norm}): "
                          "it cannot run inside the live graph")
    if frontend.win_length <= frontend.hop_length:
        raise ConfigError(f"front-end '{frontend.name}': window ({frontend.win_length} samples) must be longer than "
                          f"the frame hop ({frontend.hop_length}) for an audio-tail state")


class FrameMFCC(nn.Module):
    """The per-frame front-end (:func:`voxquant.audio.frontend.compute_features`, ``center=False``) as ONNX-exportable
    matmuls: each frame ``x[i*hop : i*hop + win]`` times a DFT basis with the analysis window folded in (only the FFT
    bins that carry mel weight, e.g. 1..128 for 20-4000 Hz at ``n_fft`` 512: a zero-weight bin adds nothing),
    magnitude ``sqrt(re^2 + im^2)`` (``|X|^power``), spectrum scale/floor, mel matmul, mel floor, log, DCT matmul,
    affine, clip -- steps 4-9 of the front-end module docstring in the same order. The basis is built in float64
    from ``exp(-2 pi i n k / n_fft)`` (the zero padding of the frame to ``n_fft`` contributes nothing) and cast to
    float32; agreement with ``compute_features`` is ~1e-5 on speech (``tests/eval/test_live_audio.py``).

    Args:
        frontend: a frame-local :class:`~voxquant.audio.frontend.FrontendConfig` (``kind="features"``,
            ``center=False``, no pre-emphasis, ``audio_norm="none"``).
        n_frames: frames per call.

    ``forward(x float32 [1, (n_frames - 1) * hop_length + win_length]) -> float32 [1, n_frames, F]``.

    Raises:
        ConfigError: a front-end that is not frame-local, or a window not longer than the hop.
    """

    def __init__(self, frontend, n_frames: int):
        super().__init__()
        import numpy as np

        from voxquant.audio.frontend import dct_matrix, mel_filterbank, window_frame

        _check_frame_local(frontend)
        cfg = self.cfg = frontend
        self.n_frames, self.win, self.hop = int(n_frames), cfg.win_length, cfg.hop_length
        fb = mel_filterbank((cfg.mel_scale, cfg.n_fft, cfg.sample_rate, cfg.n_mels, float(cfg.f_min), float(cfg.f_max)))
        used = np.flatnonzero(np.any(fb != 0, axis=1))
        lo, hi = (int(used[0]), int(used[-1]) + 1) if used.size else (0, 1)
        self.n_bins = hi - lo
        w = window_frame(cfg)[: self.win].astype(np.float64)
        ang = 2.0 * np.pi * np.outer(np.arange(self.win), np.arange(lo, hi)) / cfg.n_fft
        basis = np.concatenate([w[:, None] * np.cos(ang), -w[:, None] * np.sin(ang)], axis=1)
        self.register_buffer("basis", torch.from_numpy(basis.astype(np.float32)))  # [win, 2 * n_bins]
        self.register_buffer("mel_fb", torch.from_numpy(np.ascontiguousarray(fb[lo:hi])))
        dct = dct_matrix(cfg.n_mels, cfg.n_mfcc, cfg.dct_norm) if cfg.n_mfcc > 0 else None
        self.register_buffer("dct", torch.from_numpy(dct.copy()) if dct is not None else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cfg, nb = self.cfg, self.n_bins
        frames = torch.stack([x[:, i * self.hop: i * self.hop + self.win] for i in range(self.n_frames)], dim=1)
        y = frames @ self.basis  # [1, n, 2 * n_bins]
        re, im = y[..., :nb], y[..., nb:]
        power = re * re + im * im
        mag = power if cfg.power == 2.0 else torch.sqrt(power)
        if cfg.power not in (1.0, 2.0):
            mag = mag.pow(cfg.power)
        from voxquant.audio.frontend import torch_spectrum_features

        return torch_spectrum_features(mag, cfg, self.mel_fb, self.dct)


class LiveGraphWithFrontend(nn.Module):
    """:class:`LiveGraph` with the front-end inside: raw audio of one hop in, logits out (external state).

    Framing: frame ``k`` of the stream starts at sample ``k * hop_length`` (``compute_features``, ``center=False``).
    Hop ``m`` of the live graph consumes frames ``2m, 2m+1`` (``hop_frames`` = 2), which cover samples
    ``[640m, 640m + 800)``; call ``m`` therefore receives the ``hop_frames * hop_length`` = 640 samples
    ``[160 + 640m, 800 + 640m)`` and an ``audio_tail`` state holding the ``win_length - hop_length`` = 160 samples
    before them. The caller primes ``audio_tail`` with the stream's first 160 samples (not zeros); from then on the
    graph keeps it (``new_audio_tail`` = the last 160 samples of ``tail ++ audio``). So output ``m`` equals
    :class:`LiveGraph` hop ``m`` on ``compute_features`` of the stream: warm-up for ``m < WARMUP_HOPS``, then the
    window starting at frame ``2(m - 23)``. No extra latency: the incremental numpy front-end also needs sample 800
    before it has frames 0 and 1.

    Args:
        model: trained ``dscnn_stream`` DS-CNN (copied; eval mode).
        frontend: its :class:`~voxquant.audio.frontend.FrontendConfig` (frame-local; ``n_features`` = the model's).
        hop_frames: feature frames per call (multiple of 2).

    ``forward(audio float32 [1, hop_frames * hop_length], audio_tail float32 [1, win_length - hop_length],
    *live_states)`` -> ``(logits float32 [hop_frames // 2, C], new_audio_tail, *new_live_states)``.

    Raises:
        ModelError: a model that is not streamable. ConfigError: a front-end that is not frame-local or whose
        feature count differs from the model's input.
    """

    def __init__(self, model, frontend, hop_frames: int = 2):
        super().__init__()
        from voxquant.errors import ConfigError

        self.live = LiveGraph(model, hop_frames)
        if frontend.n_features != self.live.n_features:
            raise ConfigError(f"front-end '{frontend.name}' gives {frontend.n_features} features per frame, the model "
                              f"takes {self.live.n_features}")
        self.frontend = FrameMFCC(frontend, hop_frames)
        self.hop_frames = self.live.hop_frames
        self.hop_samples = self.hop_frames * frontend.hop_length
        self.tail_samples = frontend.win_length - frontend.hop_length

    def state_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """``[("audio_tail", (1, win_length - hop_length)), *LiveGraph.state_shapes()]``."""
        return [("audio_tail", (1, self.tail_samples)), *self.live.state_shapes()]

    def forward(self, audio: torch.Tensor, audio_tail: torch.Tensor, *states: torch.Tensor):
        xs = torch.cat([audio_tail, audio], dim=1)  # [1, tail + hop_samples] = the hop's frames exactly
        feats = self.frontend(xs)[:, None]  # [1, 1, hop_frames, F]
        logits, *new = self.live(feats, *states)
        return (logits, xs[:, -self.tail_samples:], *new)
