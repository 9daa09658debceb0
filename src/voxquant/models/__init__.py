"""Model architectures (a registry: name -> constructor), training, and the bundled default weights.

``ARCHITECTURES`` maps an architecture name to a constructor ``f(n_classes, input_shape, **kw) -> nn.Module``
taking ``float32 [N, 1, T, F]`` features. New architectures register with :func:`register_architecture`.
"""

from __future__ import annotations

from typing import Callable

ARCHITECTURES: dict[str, Callable] = {}


def register_architecture(name: str):
    """Decorator: register ``f(n_classes, input_shape, **kw) -> torch.nn.Module`` under ``name``."""

    def deco(fn):
        ARCHITECTURES[name] = fn
        return fn

    return deco


@register_architecture("dscnn")
def _dscnn(n_classes: int = 12, input_shape=(49, 10), **kw):
    from voxquant.models.dscnn import DSCNN

    return DSCNN(n_classes=n_classes, input_shape=input_shape, **kw)


@register_architecture("dscnn_stream")
def _dscnn_stream(n_classes: int = 12, input_shape=(49, 10), **kw):
    """DS-CNN with 'valid' time padding: exactly streamable (:mod:`voxquant.models.streaming`)."""
    from voxquant.models.dscnn import DSCNN

    return DSCNN(n_classes=n_classes, input_shape=input_shape, time_padding="valid", **kw)


@register_architecture("crnn")
def _crnn(n_classes: int = 12, input_shape=(49, 10), **kw):
    from voxquant.models.crnn import CRNN

    return CRNN(n_classes=n_classes, input_shape=input_shape, **kw)


@register_architecture("bcresnet")
def _bcresnet(n_classes: int = 35, input_shape=(32, 40), **kw):
    """BC-ResNet (Kim et al. 2021) in the re9ulus layout; ``scale`` kw (default 1). See :mod:`voxquant.models.bcresnet`."""
    from voxquant.models.bcresnet import build_bcresnet

    return build_bcresnet(n_classes=n_classes, input_shape=input_shape, **kw)


@register_architecture("kwt")
def _kwt(n_classes: int = 12, input_shape=(49, 10), **kw):
    """Tiny keyword transformer (Berg et al. 2021, arXiv:2104.00769). See :mod:`voxquant.models.kwt`."""
    from voxquant.models.kwt import KWT

    return KWT(n_classes=n_classes, input_shape=input_shape, **kw)


def build_model(name: str, n_classes: int, input_shape, **kw):
    """Instantiate a registered architecture.

    Raises:
        ConfigError: unknown name (the message lists the registered ones).
    """
    from voxquant.errors import ConfigError

    if name not in ARCHITECTURES:
        raise ConfigError(f"unknown architecture '{name}' (registered: {', '.join(sorted(ARCHITECTURES))})")
    return ARCHITECTURES[name](n_classes=n_classes, input_shape=tuple(input_shape), **kw)


__all__ = ["ARCHITECTURES", "register_architecture", "build_model"]
