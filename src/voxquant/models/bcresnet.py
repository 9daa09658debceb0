"""BC-ResNet: broadcasted residual learning for keyword spotting (Kim et al., Interspeech 2021, arXiv:2106.04140).

This is voxquant's own implementation of the layer structure of the *unofficial* re9ulus/BC-ResNet code
(github.com/re9ulus/BC-ResNet, ``bc_resnet_model.py`` + ``subspectral_norm.py``, MIT), written so that its
published checkpoint ``example_model/model-sc-2.pt`` (scale 2, 35 classes) loads with strict key matching:

* ``input_conv``: Conv2d(1, 16s, 5x5, stride (2, 1) -- frequency halved, padding 2);
* stages of a *transition* block ``t<k>`` followed by *normal* blocks ``n<k><j>``:
  ``t1(16s -> 8s)``, ``n11``; ``t2(8s -> 12s, stride 2, dilation 2)``, ``n21``;
  ``t3(12s -> 16s, stride 2, dilation 4)``, ``n31..n33``; ``t4(16s -> 20s, dilation 8)``, ``n41..n43``;
* ``dw_conv``: Conv2d(20s, 20s, 5x5, no padding, **groups=20** -- a quirk of the re9ulus code: only depthwise for
  scale 1), ``onexone_conv``: 1x1 to 32s, mean over time, ``head_conv``: 1x1 to the classes.

Normal block (``f2`` = frequency-wise depthwise conv (3x1) + SubSpectralNorm; ``f1`` on the frequency-averaged map =
temporal depthwise conv (1x3, dilated) + BN + SiLU + pointwise conv + Dropout2d)::

    y = ReLU(x + f2(x) + broadcast_F(f1(mean_F(f2(x)))))

Transition block (``f2`` = pointwise conv + BN + ReLU + frequency depthwise conv (3x1, optional stride 2) + SSN)::

    z = f2(x);  y = ReLU(z + broadcast_F(f1(mean_F(z))))

SubSpectralNorm (Chang et al. 2021, arXiv:2103.13620) with 5 sub-bands: ``[N, C, F, T]`` viewed as
``[N, 5C, F/5, T]``, batch-normalised per (channel, sub-band), viewed back; its ``BatchNorm2d(5C)`` lives at
``<block>.f2.<i>.bn``.

Input: ``float32 [N, 1, T, F]`` (voxquant's convention; ``freq_first=True`` takes the publisher's
``[N, 1, F, T]``) with ``F = 40`` log-mel bins (any ``F`` divisible by 20 works: two stride-2 stages and 5
sub-bands) and ``T >= 5`` frames (32 for 1 s with the ``torchaudio-logmel`` preset). Output: ``float32 [N, C]``
logits, or log-probabilities with ``log_softmax=True`` (what the publisher's ``forward`` returns; same argmax).
"""

from __future__ import annotations

import torch
from torch import nn

from voxquant.errors import ConfigError

#: Number of sub-bands of SubSpectralNorm in the re9ulus implementation.
SUB_BANDS = 5


class SubSpectralNorm(nn.Module):
    """Batch normalisation per frequency sub-band: ``[N, C, F, T] -> [N, C*S, F/S, T] -> BN -> [N, C, F, T]``.

    Args:
        channels: ``C``.
        sub_bands: ``S``; ``F`` must be divisible by it at run time.
        eps: BN epsilon.
    """

    def __init__(self, channels: int, sub_bands: int = SUB_BANDS, eps: float = 1e-5):
        super().__init__()
        self.sub_bands = sub_bands
        self.bn = nn.BatchNorm2d(channels * sub_bands, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, f, t = x.shape
        y = self.bn(x.reshape(n, c * self.sub_bands, f // self.sub_bands, t))
        return y.reshape(n, c, f, t)


def _temporal_branch(ch: int, dilation: int, dropout: float) -> nn.Sequential:
    """``f1``: temporal depthwise (1x3, dilated, 'same') + BN + SiLU + pointwise + Dropout2d (indices 0..4)."""
    return nn.Sequential(
        nn.Conv2d(ch, ch, kernel_size=(1, 3), padding=(0, dilation), dilation=(1, dilation), groups=ch),
        nn.BatchNorm2d(ch),
        nn.SiLU(),
        nn.Conv2d(ch, ch, kernel_size=1),
        nn.Dropout2d(dropout),
    )


class NormalBlock(nn.Module):
    """BC-ResNet normal block (same channels, same resolution). Keys: ``f2.0`` conv, ``f2.1.bn`` SSN, ``f1.{0,1,3}``."""

    def __init__(self, ch: int, dilation: int = 1, dropout: float = 0.1):
        super().__init__()
        self.f2 = nn.Sequential(nn.Conv2d(ch, ch, kernel_size=(3, 1), padding=(1, 0), groups=ch), SubSpectralNorm(ch))
        self.f1 = _temporal_branch(ch, dilation, dropout)
        self.activation = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.f2(x)
        x2 = self.f1(x1.mean(dim=2, keepdim=True))
        return self.activation(x + x1 + x2)  # x2 [N,C,1,T] broadcasts over frequency


class TransitionBlock(nn.Module):
    """BC-ResNet transition block (channel change, optional frequency stride 2).

    Keys: ``f2.0`` pointwise conv, ``f2.1`` BN, ``f2.3`` frequency depthwise conv, ``f2.4.bn`` SSN, ``f1.{0,1,3}``.
    """

    def __init__(self, cin: int, cout: int, dilation: int = 1, stride: int = 1, dropout: float = 0.1):
        super().__init__()
        self.f2 = nn.Sequential(
            nn.Conv2d(cin, cout, kernel_size=1),
            nn.BatchNorm2d(cout),
            nn.ReLU(),
            nn.Conv2d(cout, cout, kernel_size=(3, 1), stride=(stride, 1), padding=(1, 0), groups=cout),
            SubSpectralNorm(cout),
        )
        self.f1 = _temporal_branch(cout, dilation, dropout)
        self.activation = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.f2(x)
        return self.activation(z + self.f1(z.mean(dim=2, keepdim=True)))


class BCResNet(nn.Module):
    """BC-ResNet-``scale`` with the re9ulus layer names (see the module docstring).

    Args:
        n_classes: output classes (35 for the re9ulus checkpoint).
        scale: channel multiplier (integer; 2 for ``model-sc-2.pt``). ``20 * scale`` must be divisible by
            ``dw_groups``.
        dropout: Dropout2d rate of the temporal branches (training only).
        freq_first: input is ``[N, 1, F, T]`` (publisher) instead of ``[N, 1, T, F]`` (voxquant).
        log_softmax: return log-probabilities like the publisher's ``forward`` (default: logits).
        dw_groups: groups of ``dw_conv`` (20 in the re9ulus code regardless of scale).

    Raises:
        ConfigError: non-positive or non-integer ``scale``, or channels not divisible by ``dw_groups``.
    """

    def __init__(self, n_classes: int = 35, scale: int = 1, dropout: float = 0.1, freq_first: bool = False,
                 log_softmax: bool = False, dw_groups: int = 20):
        super().__init__()
        if not float(scale).is_integer() or scale < 1:
            raise ConfigError(f"BC-ResNet scale must be a positive integer (re9ulus layout), got {scale}")
        s = int(scale)
        if (20 * s) % dw_groups:
            raise ConfigError(f"BC-ResNet: 20*scale={20 * s} channels are not divisible by dw_groups={dw_groups}")
        self.scale, self.freq_first, self.log_softmax = s, freq_first, log_softmax
        self.input_conv = nn.Conv2d(1, 16 * s, kernel_size=(5, 5), stride=(2, 1), padding=2)
        self.t1 = TransitionBlock(16 * s, 8 * s, dropout=dropout)
        self.n11 = NormalBlock(8 * s, dropout=dropout)
        self.t2 = TransitionBlock(8 * s, 12 * s, dilation=2, stride=2, dropout=dropout)
        self.n21 = NormalBlock(12 * s, dilation=2, dropout=dropout)
        self.t3 = TransitionBlock(12 * s, 16 * s, dilation=4, stride=2, dropout=dropout)
        self.n31 = NormalBlock(16 * s, dilation=4, dropout=dropout)
        self.n32 = NormalBlock(16 * s, dilation=4, dropout=dropout)
        self.n33 = NormalBlock(16 * s, dilation=4, dropout=dropout)
        self.t4 = TransitionBlock(16 * s, 20 * s, dilation=8, dropout=dropout)
        self.n41 = NormalBlock(20 * s, dilation=8, dropout=dropout)
        self.n42 = NormalBlock(20 * s, dilation=8, dropout=dropout)
        self.n43 = NormalBlock(20 * s, dilation=8, dropout=dropout)
        self.dw_conv = nn.Conv2d(20 * s, 20 * s, kernel_size=(5, 5), groups=dw_groups)
        self.onexone_conv = nn.Conv2d(20 * s, 32 * s, kernel_size=1)
        self.head_conv = nn.Conv2d(32 * s, n_classes, kernel_size=1)

    #: ``(T, F)`` of the features (set by :func:`build_bcresnet`; ``(32, 40)`` = the torchaudio-logmel preset).
    input_shape: tuple = (32, 40)

    def example_input(self, batch: int = 1) -> torch.Tensor:
        """A zero input ``float32 [batch, 1, T, F]`` (``[batch, 1, F, T]`` with ``freq_first``), as every voxquant
        model provides (used for ONNX export)."""
        t, f = self.input_shape
        return torch.zeros(batch, 1, f, t) if self.freq_first else torch.zeros(batch, 1, t, f)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``float32 [N, 1, T, F]`` (or ``[N, 1, F, T]`` with ``freq_first``) -> ``float32 [N, n_classes]``."""
        if not self.freq_first:
            x = x.transpose(2, 3)
        x = self.input_conv(x)
        for block in (self.t1, self.n11, self.t2, self.n21, self.t3, self.n31, self.n32, self.n33,
                      self.t4, self.n41, self.n42, self.n43):
            x = block(x)
        x = self.onexone_conv(self.dw_conv(x))
        x = self.head_conv(x.mean(dim=3, keepdim=True))  # [N, C, 1, 1]
        x = x.flatten(1)
        return torch.log_softmax(x, dim=-1) if self.log_softmax else x


def build_bcresnet(n_classes: int = 35, input_shape=(32, 40), scale: int = 1, **kw) -> BCResNet:
    """Registry constructor (``voxquant.models.build_model("bcresnet", ...)``).

    Args:
        n_classes: output classes.
        input_shape: ``(T, F)`` of the features; ``F`` must be divisible by 20 (40 for the preset).
        scale: channel multiplier.
        **kw: passed to :class:`BCResNet`.

    Raises:
        ConfigError: ``F`` not divisible by 20, or invalid ``scale``.
    """
    t, f = tuple(input_shape)[-2:]
    if f % (4 * SUB_BANDS):
        raise ConfigError(f"BC-ResNet needs a frequency size divisible by {4 * SUB_BANDS}, got input_shape {tuple(input_shape)}")
    if t < 5:
        raise ConfigError(f"BC-ResNet needs at least 5 frames, got input_shape {tuple(input_shape)}")
    model = BCResNet(n_classes=n_classes, scale=scale, **kw)
    model.input_shape = (int(t), int(f))
    return model


__all__ = ["BCResNet", "NormalBlock", "SubSpectralNorm", "TransitionBlock", "build_bcresnet"]
