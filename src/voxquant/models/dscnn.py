"""DS-CNN keyword-spotting model.

Zhang, Suda, Lai, Chandra: "Hello Edge: Keyword Spotting on Microcontrollers", arXiv:1711.07128 (2017), and the
MLPerf Tiny KWS reference model (mlcommons/tiny ``benchmark/training/keyword_spotting/keras_model.py``,
``model_architecture='ds_cnn'``): a 64-channel 10x4 stride-2 convolution, four depthwise-separable blocks
(3x3 depthwise + 1x1 pointwise, each followed by batch norm and ReLU), global average pooling and a linear
classifier. With 12 classes this has 24,908 parameters, the count of the MLPerf Tiny reference.

``time_padding="valid"`` (architecture ``dscnn_stream``) pads only the frequency axis: every time convolution
sees real frames only, so the output on a window depends on that window alone and the model converts EXACTLY to a
streaming form that computes only the new time steps per hop (Rybakov et al., "Streaming keyword spotting on
mobile devices", Interspeech 2020, arXiv:2005.06720, google-research ``kws_streaming``: streaming models use
causal/valid time padding). For 49 x 10 MFCC input the trunk output has 12 time steps instead of 25 (stem:
(49 - 10) // 2 + 1 = 20, each 3-tap depthwise block removes 2). See :mod:`voxquant.models.streaming`.
"""

from __future__ import annotations

import torch
from torch import nn


class DSCNN(nn.Module):
    """DS-CNN (MLPerf Tiny KWS reference shape).

    Args:
        n_classes: number of output classes (12 for Speech Commands 12-class).
        channels: feature maps in every layer (64 in the reference).
        n_blocks: depthwise-separable blocks (4 in the reference).
        input_shape: ``(T, F)`` feature frames x coefficients (49 x 10 in the reference); only used for
            documentation and ``example_input``.
        dropout: dropout before the classifier (0.4 in the reference; the first 0.2 is after the stem).
        time_padding: ``"same"`` (reference: zero padding at both window edges in time) or ``"valid"`` (no time
            padding; the streamable variant, see the module docstring).

    Raises:
        ValueError: ``time_padding`` is neither ``"same"`` nor ``"valid"``.

    Input ``float32 [N, 1, T, F]`` features, output ``float32 [N, n_classes]`` logits (no softmax: the
    post-processing applies it).
    """

    def __init__(self, n_classes: int = 12, channels: int = 64, n_blocks: int = 4, input_shape=(49, 10), dropout: float = 0.4,
                 time_padding: str = "same"):
        super().__init__()
        if time_padding not in ("same", "valid"):
            raise ValueError(f"time_padding must be 'same' or 'valid', got {time_padding!r}")
        self.input_shape = tuple(input_shape)
        self.time_padding = time_padding
        valid = time_padding == "valid"
        # Symmetric padding (5, 1) gives the reference's 'same' output size (ceil(T/2), ceil(F/2)) for 49 x 10.
        self.stem = nn.Sequential(
            nn.Conv2d(1, channels, kernel_size=(10, 4), stride=2, padding=(0 if valid else 5, 1)),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Dropout(0.2),
        )
        blocks = []
        for _ in range(n_blocks):
            blocks += [
                nn.Conv2d(channels, channels, kernel_size=3, padding=(0 if valid else 1, 1), groups=channels),
                nn.BatchNorm2d(channels),
                nn.ReLU(),
                nn.Conv2d(channels, channels, kernel_size=1),
                nn.BatchNorm2d(channels),
                nn.ReLU(),
            ]
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))

    def example_input(self, batch: int = 1) -> torch.Tensor:
        """A zero input ``float32 [batch, 1, T, F]``."""
        return torch.zeros(batch, 1, *self.input_shape)
