"""Named front-end presets: the exact feature pipelines third-party KWS models were trained with.

A model is only as good as the agreement between its evaluation front-end and its training front-end (MLPerf
Tiny's own history records 15 % int8 accuracy before an input fix; openWakeWord#336 was an ONNX-vs-TFLite mel
mismatch). Each preset below is a :class:`~voxquant.audio.frontend.FrontendConfig` reproducing a publisher's
training code, and ``tests/audio/test_presets.py`` checks each one against the reference implementation
(TensorFlow ops when the ``[tf]`` extra is installed, librosa / closed-form torchaudio semantics otherwise).

Presets (parameters and sources; see also ``shared/models/README.md``):

``mlperf-tiny-mfcc`` -- mlcommons/tiny ``benchmark/training/keyword_spotting/get_dataset.py`` (``feature_type='mfcc'``,
    defaults of ``kws_util.py``): audio divided by its maximum (``wav / tf.reduce_max(wav)``, not abs-max),
    ``tf.signal.stft(frame_length=480, frame_step=320, fft_length=None -> 512, hann_window)``, ``tf.abs``,
    ``linear_to_mel_weight_matrix(40, 257, 16000, 20, 4000)``, ``log(mel + 1e-6)``,
    ``mfccs_from_log_mel_spectrograms(...)[..., :10]``: ``float32 [49, 10]`` per 1 s clip.
``tf-audio-ops-mfcc`` -- ARM-software/ML-examples ``tflu-kws-cortex-m/Training/data.py`` (Hello Edge, TF2):
    ``audio_ops.audio_spectrogram(window_size=640, stride=320, magnitude_squared=True)`` (periodic Hann, FFT 1024)
    then ``audio_ops.mfcc(spectrogram, 16000, dct_coefficient_count=10)`` with the op defaults (40 channels,
    20-4000 Hz, its own filterbank on ``sqrt`` of the power spectrum, ``log(max(x, 1e-12))``, DCT-II scaled by
    ``sqrt(2/40)``): ``[49, 10]``, flattened to 490 by the models.
``tf-audio-ops-mfcc-dnn`` -- the same with a 40 ms stride (the Arm DNN models): ``[25, 10]`` -> 250.
``torchaudio-logmel`` -- re9ulus/BC-ResNet ``get_data.py``: ``torchaudio.transforms.MelSpectrogram(sample_rate=16000,
    n_fft=1024, f_max=8000, n_mels=40)`` with torchaudio defaults (win_length 1024, hop 512, f_min 0, power 2,
    periodic Hann, ``center=True`` reflect padding, HTK mel, no filter norm), then ``log2(mel + 1e-9)``:
    ``[32, 40]`` (the model takes it transposed, ``[1, 40, 32]``).
``mlperf-sww-lfbe`` -- mlcommons/tiny ``benchmark/training/streaming_wakeword/get_dataset.py:get_lfbe_func``:
    pre-emphasis ``1 - 2**-5`` (first sample kept), ``tf.signal.stft(1024, 512, hamming_window(periodic=False))``,
    ``|X|^2 / 1024`` clipped to ``>= 1e-30``, ``linear_to_mel_weight_matrix(40, 513, 16000, 0, 8000)``,
    ``10 * log10(mel)``, ``(x + 52 - 32 + 32) / 64`` clipped to [0, 1]: ``[30, 40]``.
``raw`` -- no host front-end: the model takes the 16 kHz waveform ``float32 [N, 16000]`` and computes its features
    in the graph (``kind="raw"``; override ``sample_rate`` / ``clip_samples`` for other rates and lengths).
"""

from __future__ import annotations

import dataclasses

from voxquant.audio.frontend import DEFAULT_FRONTEND, FrontendConfig
from voxquant.errors import ConfigError

PRESETS: dict[str, FrontendConfig] = {
    # voxquant's own default (the bundled DS-CNN): the MLPerf Tiny MFCC without the divide-by-max normalisation
    "voxquant-mfcc-49x10": DEFAULT_FRONTEND,
    "mlperf-tiny-mfcc": FrontendConfig(
        sample_rate=16000, clip_samples=16000, window_ms=30.0, hop_ms=20.0, n_fft=512, window="hann", periodic=True,
        center=False, audio_norm="max", power=1.0, n_mels=40, f_min=20.0, f_max=4000.0, mel_scale="tf", log="ln",
        log_offset=1e-6, n_mfcc=10, dct_norm="tf", name="mlperf-tiny-mfcc",
    ),
    "tf-audio-ops-mfcc": FrontendConfig(
        sample_rate=16000, clip_samples=16000, window_ms=40.0, hop_ms=20.0, n_fft=1024, window="hann", periodic=True,
        center=False, audio_norm="none", power=1.0, n_mels=40, f_min=20.0, f_max=4000.0, mel_scale="tf_audio_ops",
        log="ln", log_offset=0.0, mel_floor=1e-12, n_mfcc=10, dct_norm="tf", name="tf-audio-ops-mfcc",
    ),
    "tf-audio-ops-mfcc-dnn": FrontendConfig(
        sample_rate=16000, clip_samples=16000, window_ms=40.0, hop_ms=40.0, n_fft=1024, window="hann", periodic=True,
        center=False, audio_norm="none", power=1.0, n_mels=40, f_min=20.0, f_max=4000.0, mel_scale="tf_audio_ops",
        log="ln", log_offset=0.0, mel_floor=1e-12, n_mfcc=10, dct_norm="tf", name="tf-audio-ops-mfcc-dnn",
    ),
    "torchaudio-logmel": FrontendConfig(
        sample_rate=16000, clip_samples=16000, window_ms=64.0, hop_ms=32.0, n_fft=1024, window="hann", periodic=True,
        center=True, pad_mode="reflect", audio_norm="none", power=2.0, n_mels=40, f_min=0.0, f_max=8000.0,
        mel_scale="htk", log="log2", log_offset=1e-9, n_mfcc=0, name="torchaudio-logmel",
    ),
    "mlperf-sww-lfbe": FrontendConfig(
        sample_rate=16000, clip_samples=16000, window_ms=64.0, hop_ms=32.0, n_fft=1024, window="hamming",
        periodic=False, center=False, audio_norm="none", preemphasis=1.0 - 2.0**-5, power=2.0,
        spectrum_scale=1.0 / 1024.0, spectrum_floor=1e-30, n_mels=40, f_min=0.0, f_max=8000.0, mel_scale="tf",
        log="db", log_offset=0.0, n_mfcc=0, feature_offset=52.0, feature_scale=1.0 / 64.0, clip=(0.0, 1.0),
        name="mlperf-sww-lfbe",
    ),
    # models with the front-end inside the graph (STFT / log-mel in forward, kws_streaming-style): 1 s at 16 kHz
    "raw": FrontendConfig(sample_rate=16000, clip_samples=16000, kind="raw", name="raw"),
}
"""Preset name -> front-end configuration (see the module docstring for sources)."""


def preset_names() -> list[str]:
    """The preset names, in definition order."""
    return list(PRESETS)


def get_preset(name: str, **overrides) -> FrontendConfig:
    """Return preset ``name``, optionally with some fields replaced.

    Args:
        name: a key of :data:`PRESETS`.
        **overrides: :class:`FrontendConfig` fields to change (e.g. ``audio_norm="none"``); the result's ``name``
            becomes ``"<name>+<field>=<value>,..."`` unless ``name`` is among the overrides.

    Returns:
        A (frozen) :class:`FrontendConfig`.

    Raises:
        ConfigError: unknown preset (the closest name is suggested) or unknown/invalid override field.
    """
    if name not in PRESETS:
        import difflib

        close = difflib.get_close_matches(name, PRESETS, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(PRESETS)}"
        raise ConfigError(f"unknown front-end preset '{name}'", hint=hint)
    cfg = PRESETS[name]
    if not overrides:
        return cfg
    known = {f.name for f in dataclasses.fields(FrontendConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(f"unknown front-end parameter(s) {unknown} in overrides of preset '{name}'")
    if "clip" in overrides and overrides["clip"] is not None:
        overrides["clip"] = tuple(overrides["clip"])
    label = overrides.pop("name", None) or name + "+" + ",".join(f"{k}={v}" for k, v in sorted(overrides.items()))
    return dataclasses.replace(cfg, name=label, **overrides)


__all__ = ["PRESETS", "get_preset", "preset_names"]
