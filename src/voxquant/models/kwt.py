"""KWT-style keyword transformer, tiny size (attention architecture for the architecture study).

Berg, O'Connor, Cruz: "Keyword Transformer: A Self-Attention Model for Keyword Spotting", Interspeech 2021,
arXiv:2104.00769. KWT treats every time frame of the feature map as one token (a ``1 x F`` patch), projects it
linearly to ``dim``, prepends a learned class token, adds learned position embeddings and runs a ViT encoder
(multi-head self-attention + MLP with GELU, LayerNorm, residuals); the class token's output goes through a linear
head. The paper's smallest model (KWT-1) has ``dim=64, depth=12, heads=1, mlp_dim=256`` (607k parameters) on
40 MFCC x 98 frames; voxquant's ``kwt`` default is a *tiny* version sized for the DS-CNN budget:
``dim=64, depth=2, heads=2, mlp_dim=128`` on the default 49 x 10 MFCC input (about 73k parameters, ~290 kB).
Like KWT it uses post-norm blocks (the paper found PostNorm better than PreNorm for KWS).

Attention is written out with ``matmul`` + ``softmax`` (no fused ``scaled_dot_product_attention``), so the
exported ONNX graph has plain ``MatMul``/``Softmax``/``LayerNormalization`` nodes that every quantizer can see:
ONNX Runtime's static QDQ quantizer quantizes the ``MatMul``/``Gemm`` nodes and leaves ``LayerNormalization``,
``Softmax`` and ``Gelu``/``Erf`` in float - which is what the architecture study measures.

Input ``float32 [N, 1, T, F]``, output ``float32 [N, n_classes]`` logits.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class Attention(nn.Module):
    """Multi-head self-attention with explicit matmuls.

    Args:
        dim: token width ``D``.
        heads: number of heads ``H`` (``D`` divisible by ``H``).
        dropout: dropout on the attention weights (training only).

    ``[N, L, D] -> [N, L, D]``.
    """

    def __init__(self, dim: int, heads: int, dropout: float = 0.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads, self.head_dim = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.drop = nn.Dropout(dropout)
        self.scale = 1.0 / math.sqrt(self.head_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, l, d = x.shape
        qkv = self.qkv(x).reshape(n, l, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)  # [3, N, H, L, Dh]
        q, k, v = qkv[0], qkv[1], qkv[2]
        att = torch.softmax(torch.matmul(q * self.scale, k.transpose(-2, -1)), dim=-1)  # [N, H, L, L]
        y = torch.matmul(self.drop(att), v)  # [N, H, L, Dh]
        return self.proj(y.transpose(1, 2).reshape(n, l, d))


class Block(nn.Module):
    """Post-norm transformer block: ``x = LN(x + MHSA(x)); x = LN(x + MLP(x))`` (KWT's PostNorm)."""

    def __init__(self, dim: int, heads: int, mlp_dim: int, dropout: float):
        super().__init__()
        self.att = Attention(dim, heads, dropout)
        self.norm1 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(mlp_dim, dim), nn.Dropout(dropout))
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.att(x))
        return self.norm2(x + self.mlp(x))


class KWT(nn.Module):
    """Tiny keyword transformer (see the module docstring).

    Args:
        n_classes: output classes.
        input_shape: ``(T, F)`` frames x features; each frame is one token.
        dim: token width (64).
        depth: transformer blocks (2; KWT-1 has 12).
        heads: attention heads (2).
        mlp_dim: hidden width of the MLP (128).
        dropout: dropout inside the blocks (0.1).
    """

    def __init__(self, n_classes: int = 12, input_shape=(49, 10), dim: int = 64, depth: int = 2, heads: int = 2,
                 mlp_dim: int = 128, dropout: float = 0.1):
        super().__init__()
        self.input_shape = tuple(input_shape)
        t, f = self.input_shape
        self.embed = nn.Linear(f, dim)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, t + 1, dim) * 0.02)
        self.blocks = nn.Sequential(*[Block(dim, heads, mlp_dim, dropout) for _ in range(depth)])
        self.head = nn.Linear(dim, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``float32 [N, 1, T, F]`` -> ``float32 [N, n_classes]``."""
        tok = self.embed(x[:, 0])  # [N, T, D]
        cls = self.cls.expand(tok.shape[0], -1, -1)
        z = torch.cat([cls, tok], dim=1) + self.pos
        z = self.blocks(z)
        return self.head(z[:, 0])

    def example_input(self, batch: int = 1) -> torch.Tensor:
        """A zero input ``float32 [batch, 1, T, F]``."""
        return torch.zeros(batch, 1, *self.input_shape)


__all__ = ["KWT", "Attention", "Block"]
