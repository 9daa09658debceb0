"""Model input layouts: how front-end features ``float32 [N, T, F]`` (or a raw waveform ``[N, S]``) map onto a
model's input tensor. Part of the audio front-end layer, so that models, quant, eval and zoo all use one mapping
(re-exported by :mod:`voxquant.zoo.spec` for spec files)."""

from __future__ import annotations

import numpy as np

from voxquant.errors import ConfigError

LAYOUTS = {
    "nchw": "[N, 1, T, F] (voxquant's convention)",
    "nhwc": "[N, T, F, 1] (TensorFlow image layout, e.g. MLPerf Tiny KWS [1,49,10,1])",
    "flat": "[N, T*F] (row-major frames, e.g. Arm Hello-Edge [1,490])",
    "nchw_ft": "[N, 1, F, T] (frequency first, e.g. torchaudio-style models)",
    "nt1f": "[N, T, 1, F] (e.g. MLPerf Tiny streaming wake word [1,30,1,40])",
    "ntf": "[N, T, F] (sequence models)",
    "raw": "[N, S] waveform (front-end inside the model: frontend kind 'raw', e.g. kws_streaming [1,16000])",
}
"""How ``float32 [N, T, F]`` features map onto the model input."""


def feature_shape(shape, layout: str) -> tuple[int, int]:
    """``(T, F)`` implied by a model input ``shape`` (incl. batch) in ``layout``.

    Raises:
        ConfigError: unknown layout or a shape of the wrong rank for it. For ``flat`` the frame split is not
            knowable from the shape: ``(-1, size)`` is returned and the front-end decides.
    """
    s = tuple(int(d) for d in shape)
    want = {"nchw": 4, "nhwc": 4, "flat": 2, "nchw_ft": 4, "nt1f": 4, "ntf": 3, "raw": 2}
    if layout not in want:
        raise ConfigError(f"unknown input layout '{layout}' (choose from {', '.join(LAYOUTS)})")
    if len(s) != want[layout]:
        raise ConfigError(f"input shape {list(s)} has rank {len(s)}, layout '{layout}' needs rank {want[layout]}")
    if layout == "nchw":
        return s[2], s[3]
    if layout == "nhwc":
        return s[1], s[2]
    if layout == "nchw_ft":
        return s[3], s[2]
    if layout == "nt1f":
        return s[1], s[3]
    if layout == "ntf":
        return s[1], s[2]
    if layout == "raw":
        return s[1], 1
    return -1, s[1]


def to_model_layout(features: np.ndarray, layout: str) -> np.ndarray:
    """Reshape ``float32 [N, T, F]`` features into the model input layout (:data:`LAYOUTS`).

    Layout ``raw`` takes the waveform of a ``kind="raw"`` front-end, ``float32 [N, S]`` (or ``[N, S, 1]``), and
    passes it through as ``[N, S]``.

    Raises:
        ConfigError: unknown layout; ValueError: ``features`` not 3-D (not ``[N, S]`` for ``raw``).
    """
    x = np.asarray(features, dtype=np.float32)
    if layout == "raw":
        if x.ndim == 3 and x.shape[2] == 1:
            x = x[..., 0]
        if x.ndim != 2:
            raise ValueError(f"layout 'raw' takes waveforms [N, S], got shape {x.shape}")
        return x
    if x.ndim != 3:
        raise ValueError(f"features must be [N, T, F], got shape {x.shape}")
    n, t, f = x.shape
    if layout == "nchw":
        return x[:, None]
    if layout == "nhwc":
        return x[..., None]
    if layout == "flat":
        return x.reshape(n, t * f)
    if layout == "nchw_ft":
        return np.ascontiguousarray(x.transpose(0, 2, 1)[:, None])
    if layout == "nt1f":
        return x[:, :, None, :]
    if layout == "ntf":
        return x
    raise ConfigError(f"unknown input layout '{layout}' (choose from {', '.join(LAYOUTS)})")
