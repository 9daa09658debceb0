"""CRNN keyword-spotting model (convolution + GRU), a Hello Edge CRNN-S-like network.

Zhang, Suda, Lai, Chandra: "Hello Edge: Keyword Spotting on Microcontrollers", arXiv:1711.07128 (2017),
Table 3 / Appendix: CRNN-S = one convolution (48 filters, 10x4, stride 2x2), two GRU layers of 60 cells and a
fully-connected layer of 84 units before the classifier. voxquant uses it mainly for operator-coverage checks:
a GRU is the op edge toolchains most often leave on the CPU (ONNX Runtime never quantizes GRU in static QDQ
mode; the Edge TPU has no GRU; RKNN supports it with restrictions).

Input ``float32 [N, 1, T, F]`` features (49 x 10 by default), output ``float32 [N, n_classes]`` logits.
"""

from __future__ import annotations

import torch
from torch import nn


class CRNN(nn.Module):
    """Conv + GRU + FC keyword spotter.

    Args:
        n_classes: output classes.
        input_shape: ``(T, F)`` frames x coefficients.
        conv_channels: filters of the convolution (48 in CRNN-S).
        kernel: convolution kernel ``(kt, kf)`` (10x4); stride 2x2; padding keeps ``ceil(T/2) x ceil(F/2)``.
        gru_hidden: GRU cells per layer (60).
        gru_layers: stacked GRU layers (2).
        fc: units of the fully connected layer (84).

    The conv output ``[N, C, T', F']`` is permuted to ``[N, T', C*F']`` and fed to a batch-first GRU; the last
    time step's hidden state goes through ``Linear(fc) + ReLU + Linear(n_classes)``.
    """

    def __init__(self, n_classes: int = 12, input_shape=(49, 10), conv_channels: int = 48, kernel=(10, 4),
                 gru_hidden: int = 60, gru_layers: int = 2, fc: int = 84):
        super().__init__()
        self.input_shape = tuple(input_shape)
        t, f = self.input_shape
        kt, kf = kernel
        self.conv = nn.Sequential(
            nn.Conv2d(1, conv_channels, kernel_size=(kt, kf), stride=2, padding=(kt // 2, kf // 2 - 1 if kf > 1 else 0)),
            nn.BatchNorm2d(conv_channels),
            nn.ReLU(),
        )
        with torch.no_grad():
            _, c, t2, f2 = self.conv(torch.zeros(1, 1, t, f)).shape
        self.seq_len, self.gru_in = int(t2), int(c * f2)
        self.gru = nn.GRU(self.gru_in, gru_hidden, num_layers=gru_layers, batch_first=True)
        self.head = nn.Sequential(nn.Linear(gru_hidden, fc), nn.ReLU(), nn.Linear(fc, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)  # [N, C, T', F']
        n, c, t, f = y.shape
        y = y.permute(0, 2, 1, 3).reshape(n, t, c * f)  # [N, T', C*F']
        out, _ = self.gru(y)
        return self.head(out[:, -1])

    def example_input(self, batch: int = 1) -> torch.Tensor:
        """A zero input ``float32 [batch, 1, T, F]``."""
        return torch.zeros(batch, 1, *self.input_shape)
