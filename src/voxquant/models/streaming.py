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
