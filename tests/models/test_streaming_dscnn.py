"""Streaming conversion of the 'valid'-time-padding DS-CNN (voxquant.models.streaming): exact in torch."""

from __future__ import annotations

import pytest
import torch

from voxquant.errors import ModelError
from voxquant.models import build_model
from voxquant.models.streaming import (CONTEXT_FRAMES, WARMUP_HOPS, LiveGraph, StreamGraph, chunk_bounds, n_outputs)


def _model(seed=0):
    torch.manual_seed(seed)
    m = build_model("dscnn_stream", 12, (49, 10)).eval()
    for mod in m.modules():  # non-trivial batch-norm statistics, so a wrong fold or offset would show
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.normal_()
            mod.running_var.uniform_(0.5, 2.0)
            mod.weight.data.normal_(1.0, 0.3)
            mod.bias.data.normal_()
    return m


def _windowed(m, x, n):
    with torch.no_grad():
        return torch.cat([m(x[:, :, 2 * k: 2 * k + 49]) for k in range(n)])


def test_valid_padding_geometry():
    m = _model()
    with torch.no_grad():
        assert m.blocks(m.stem(torch.zeros(1, 1, 49, 10))).shape == (1, 64, 12, 5)
    assert n_outputs(49) == n_outputs(48) == 1 and n_outputs(47) == 0 and n_outputs(49 + 2 * 7) == 8
    with pytest.raises(ValueError):
        build_model("dscnn", 12, (49, 10), time_padding="causal")


def test_stream_graph_equals_windowed_clip_model_on_every_window_and_chunking_does_not_matter():
    m = _model()
    n = 40
    x = torch.randn(1, 1, 48 + 2 * (n - 1) + 1, 10)
    ref = _windowed(m, x, n)
    sg = StreamGraph(m)
    with torch.no_grad():
        y = sg(x)
        assert y.shape == (n, 12)
        assert (y - ref).abs().max() < 1e-4
        # chunks overlapping by CONTEXT_FRAMES frames give the same rows
        parts = [sg(x[:, :, f0:f1])[: w1 - w0] for w0, w1, f0, f1 in chunk_bounds(n, 7)]
    assert all(f1 - f0 <= 2 * 7 + CONTEXT_FRAMES for _, _, f0, f1 in chunk_bounds(n, 7))
    assert (torch.cat(parts) - y).abs().max() < 1e-5


@pytest.mark.parametrize("hop_frames", [2, 4])
def test_live_graph_from_zero_state_equals_windows_after_warmup(hop_frames):
    m = _model(1)
    n = 30
    x = torch.randn(1, 1, 48 + 2 * (n - 1) + 2 * WARMUP_HOPS, 10)
    x = x[:, :, : x.shape[2] - x.shape[2] % hop_frames]
    ref = _windowed(m, x, n)
    lg = LiveGraph(m, hop_frames)
    st = lg.zero_states()
    assert [tuple(s.shape) for s in st] == [s for _, s in lg.state_shapes()]
    outs = []
    with torch.no_grad():
        for h in range(x.shape[2] // hop_frames):
            y, *st = lg(x[:, :, h * hop_frames: (h + 1) * hop_frames], *st)
            assert y.shape == (hop_frames // 2, 12)
            outs.append(y)
    live = torch.cat(outs)[WARMUP_HOPS:]
    k = min(n, len(live))
    assert k == n
    assert (live[:k] - ref[:k]).abs().max() < 1e-4
    # the warm-up outputs are not the windows' (zero state): the warm-up is needed
    assert (torch.cat(outs)[:k] - ref[:k]).abs().max() > 1e-3


def test_same_padding_model_is_refused():
    m = build_model("dscnn", 12, (49, 10))
    with pytest.raises(ModelError, match="valid"):
        StreamGraph(m)
    with pytest.raises(ValueError, match="multiple"):
        LiveGraph(_model(), 3)
