"""Open a model spec as a runnable session, check it against the spec, and convert it to ONNX.

``open_model(spec)`` dispatches on ``spec.format``:

* ``onnx`` -> :class:`voxquant.backends.onnxruntime.OrtSession`;
* ``tflite`` -> :class:`voxquant.zoo.tflite.TFLiteSession` (``[litert]`` extra), int8 inputs quantized with the
  spec's rounding rule;
* ``savedmodel`` / ``keras_h5`` / ``tf_frozen_graph`` -> converted to ONNX once (``[tf]`` extra, :mod:`voxquant.zoo.convert`) and run
  with ONNX Runtime;
* ``pytorch_state_dict`` -> the registered architecture (``spec.architecture``) built with
  ``n_classes=len(labels)``, weights loaded with ``torch.load(..., weights_only=True)`` and strict key matching,
  run in PyTorch (:class:`TorchSession`).

The result is a :class:`SpecSession`: ``run(x)`` takes the model input in the spec's layout, ``run_features`` takes
``float32 [N, T, F]`` features, both return ``float32 [N, C]`` scores in the spec's label order. Opening checks,
each failing with one :class:`~voxquant.errors.ModelError` that names the spec or model file: files present,
sha256 of listed files, input shape / name / int8 quantization as in the spec, and output size == label count.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from voxquant.backends.base import Session
from voxquant.errors import ConfigError, ModelError
from voxquant.zoo.spec import ModelSpec, check_files_exist, to_model_layout


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_files(spec: ModelSpec) -> None:
    """Check every ``spec.files`` entry that has a ``sha256`` against the file on disk.

    Raises:
        ModelError: a listed file is missing or its checksum differs (message names the file and both digests).
    """
    for f in spec.files:
        p = spec.root / f.path
        if not p.is_file():
            raise ModelError(f"model file '{p}' named by the spec does not exist", spec.where())
        if f.sha256:
            got = sha256_file(p)
            if got != f.sha256.lower():
                raise ModelError(f"checksum mismatch: sha256 {got}, the spec expects {f.sha256.lower()}", p,
                                 hint="the file is corrupt or a different version; delete it to download again")


class TorchSession(Session):
    """Run a PyTorch ``nn.Module`` (eval mode, no grad) as a :class:`Session`.

    Args:
        module: maps ``float32 [N, ...]`` to ``float32 [N, C]``.
        input_shape: model input shape incl. batch (batch may be ``None``/1/-1).
        batch: clips per forward pass.
    """

    def __init__(self, module, input_shape: tuple, batch: int = 512):
        import torch

        self.module = module.eval()
        self.input_name = "input"
        self.input_shape = (None, *tuple(int(d) for d in tuple(input_shape)[1:]))
        self.batch = batch
        self._torch = torch

    def run(self, x: np.ndarray) -> np.ndarray:
        torch = self._torch
        x = np.ascontiguousarray(x, dtype=np.float32)
        outs = []
        with torch.no_grad():
            for i in range(0, x.shape[0], self.batch):
                outs.append(self.module(torch.from_numpy(x[i : i + self.batch])).float().numpy())
        return np.concatenate(outs, axis=0) if outs else np.zeros((0, 0), np.float32)


class SpecSession(Session):
    """A backend session plus its spec: runs model-layout input or ``[N, T, F]`` features.

    Attributes:
        spec: the :class:`~voxquant.zoo.spec.ModelSpec`.
        inner: the backend :class:`Session` (``OrtSession``, ``TFLiteSession``, :class:`TorchSession`).
        artifact: the file actually run (the converted ONNX for Keras models), for size reports.
    """

    def __init__(self, spec: ModelSpec, inner: Session, artifact: Path):
        self.spec, self.inner, self.artifact = spec, inner, Path(artifact)
        self.input_name = inner.input_name
        self.input_shape = inner.input_shape

    def run(self, x: np.ndarray) -> np.ndarray:
        """``float32 [N, ...]`` in the spec's layout -> ``float32 [N, C]``."""
        return self.inner.run(x)

    def run_features(self, features: np.ndarray) -> np.ndarray:
        """``float32 [N, T, F]`` features -> ``float32 [N, C]`` (reshaped with the spec's layout)."""
        return self.inner.run(to_model_layout(features, self.spec.input.layout))


def _check_session(spec: ModelSpec, sess: Session, model_file: Path) -> None:
    want = tuple(spec.input.shape[1:])
    got = tuple(sess.input_shape[1:]) if sess.input_shape else ()
    mismatch = bool(got) and (len(got) != len(want) or any(g is not None and g != w for g, w in zip(got, want)))
    if mismatch:
        raise ModelError(
            f"model input shape {[None if d is None else d for d in sess.input_shape]} does not match the spec's "
            f"input.shape {list(spec.input.shape)}", model_file, hint=f"spec: {spec.where()}")
    if spec.input.name and sess.input_name != spec.input.name:
        raise ModelError(f"model input is named '{sess.input_name}', the spec says '{spec.input.name}'", model_file,
                         hint=f"spec: {spec.where()}")
    from voxquant.zoo.tflite import TFLiteSession

    if isinstance(sess, TFLiteSession):
        if (spec.input.dtype == "int8") != sess.is_int8_input:
            raise ModelError(f"model input dtype is {sess.input_dtype}, the spec says {spec.input.dtype}", model_file)
        q = spec.input.quantization
        if q is not None and sess.is_int8_input:
            scale, zp = sess.input_quant
            if abs(scale - q.scale) > 1e-5 * abs(scale) or zp != q.zero_point:
                raise ModelError(f"model input quantization is scale={scale:.8g}, zero_point={zp}; the spec says "
                                 f"scale={q.scale}, zero_point={q.zero_point}", model_file)
    x = np.zeros((1, *want), dtype=np.float32)
    y = sess.run(x)
    if y.ndim != 2 or y.shape[1] != spec.n_classes:
        raise ModelError(f"model output has shape {list(y.shape)}, but the spec lists {spec.n_classes} labels",
                         model_file, hint=f"fix labels.order in {spec.where()}")


def build_torch_module(spec: ModelSpec):
    """Instantiate ``spec.architecture`` and load the state dict (``weights_only=True``, strict keys).

    Raises:
        ConfigError: unknown architecture. ModelError: the file is not a loadable state dict, or its keys/shapes do
            not match the architecture (message lists a few missing/unexpected keys).
    """
    import torch

    from voxquant.models import build_model

    path = spec.model_path
    t, f = spec.feature_shape
    module = build_model(spec.architecture, n_classes=spec.n_classes, input_shape=(t, f), **spec.architecture_kwargs)
    try:
        sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelError(f"not a loadable PyTorch state dict ({str(exc).splitlines()[0][:160]})", path) from None
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise ModelError(f"expected a state dict, found {type(sd).__name__}", path)
    try:
        module.load_state_dict(sd, strict=True)
    except RuntimeError as exc:
        missing = sorted(set(module.state_dict()) - set(sd))[:3]
        unexpected = sorted(set(sd) - set(module.state_dict()))[:3]
        first = str(exc).splitlines()[1].strip()[:160] if len(str(exc).splitlines()) > 1 else str(exc)[:160]
        raise ModelError(f"state dict does not fit architecture '{spec.architecture}' {spec.architecture_kwargs} "
                         f"(missing {missing}, unexpected {unexpected}; {first})", path) from None
    return module.eval()


def open_model(spec: ModelSpec, threads: int = 1, prefer_onnx: bool = False, verify: bool = True) -> SpecSession:
    """Load the model a spec describes, check it against the spec, return a session.

    Args:
        spec: a :class:`ModelSpec` (from :func:`voxquant.zoo.load_spec` or :func:`voxquant.zoo.zoo_spec`).
        threads: intra-op threads (ONNX Runtime / LiteRT).
        prefer_onnx: run ``pytorch_state_dict`` models through their exported ONNX instead of PyTorch.
        verify: check the sha256 of files listed in the spec.

    Returns:
        :class:`SpecSession` producing ``float32 [N, C]`` scores (``spec.output_kind``) in label order.

    Raises:
        ModelError: missing file, checksum mismatch, input shape/name/quantization or label count disagreeing with
            the model (message names the file).
        MissingExtraError: TFLite without ``[litert]``, Keras without ``[tf]``.
        ConfigError: unknown format or architecture.
    """
    check_files_exist(spec)
    if verify:
        verify_files(spec)
    path = spec.model_path
    fmt = spec.format
    if fmt == "onnx":
        from voxquant.backends.onnxruntime import OrtSession

        sess, artifact = OrtSession(path, threads=threads), path
    elif fmt == "tflite":
        from voxquant.zoo.tflite import TFLiteSession

        q = spec.input.quantization
        sess = TFLiteSession(path, threads=threads, rounding=q.rounding if q else "nearest", clip=q.clip if q else True)
        artifact = path
    elif fmt in ("savedmodel", "keras_h5", "tf_frozen_graph"):
        from voxquant.backends.onnxruntime import OrtSession

        artifact = to_onnx(spec)
        sess = OrtSession(artifact, threads=threads)
    elif fmt == "pytorch_state_dict":
        if prefer_onnx:
            from voxquant.backends.onnxruntime import OrtSession

            artifact = to_onnx(spec)
            sess = OrtSession(artifact, threads=threads)
        else:
            sess, artifact = TorchSession(build_torch_module(spec), spec.input.shape), path
    else:  # pragma: no cover - parse_spec rejects it
        raise ConfigError(f"unknown model format '{fmt}'", spec.where())
    _check_session(spec, sess, path)
    return SpecSession(spec, sess, artifact)


def open_module(module, spec: ModelSpec) -> SpecSession:
    """Wrap an in-memory PyTorch ``nn.Module`` (the Python API for "bring your own model") with a spec.

    The spec's ``model``/``files`` are ignored; its input shape/layout, labels and front-end are used.

    Raises:
        ModelError: the module's output size differs from the label count.
    """
    sess = TorchSession(module, spec.input.shape)
    _check_session(spec, sess, Path(f"<{type(module).__name__}>"))
    return SpecSession(spec, sess, Path(f"<{type(module).__name__}>"))


def _guess_layout(shape: tuple) -> str:
    if len(shape) == 2:
        return "flat"
    if len(shape) == 3:
        return "ntf"
    if len(shape) == 4 and shape[1] == 1:
        return "nchw"
    if len(shape) == 4 and shape[3] == 1:
        return "nhwc"
    if len(shape) == 4 and shape[2] == 1:
        return "nt1f"
    raise ModelError(f"cannot guess the feature layout of input shape {list(shape)}; write a spec")


def spec_for_file(path: str | Path, frontend: str = "mlperf-tiny-mfcc", labels=None, layout: str | None = None,
                  **frontend_overrides) -> ModelSpec:
    """A spec for a bare ``.onnx`` / ``.tflite`` file plus a front-end preset (``voxquant eval model.onnx --frontend P``).

    Args:
        path: the model file (format from the suffix).
        frontend: a preset name (:data:`voxquant.audio.presets.PRESETS`).
        labels: label order, required: a bare file says nothing about it and voxquant's 12-class order is never
            assumed (:func:`voxquant.models.source.parse_labels`: a list, ``"a,b,c"``, a file, or ``"sc12"`` to ask
            for :data:`voxquant.data.SC12_LABELS` explicitly).
        layout: input layout; default guessed from the input shape (``[N,1,T,F]`` -> nchw, ``[N,T,F,1]`` -> nhwc,
            ``[N,T,1,F]`` -> nt1f, ``[N,K]`` -> flat; ``raw`` for the ``raw`` front-end, whose ``clip_samples``
            is taken from the model's input unless overridden).
        **frontend_overrides: FrontendConfig fields to change.

    Raises:
        ModelError: missing/unreadable file or an input shape whose layout cannot be guessed.
        ConfigError: unknown preset, no ``labels``, or the preset's feature shape does not fit the model input.
    """
    from voxquant.audio.presets import get_preset
    from voxquant.models.source import parse_labels

    path = Path(path).resolve()
    if not path.is_file():
        raise ModelError("model file not found", path)
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        from voxquant.backends.onnxruntime import OrtSession

        sess = OrtSession(path)
        fmt, shape, name, dtype, quant = "onnx", sess.input_shape, sess.input_name, "float32", None
    elif suffix == ".tflite":
        from voxquant.zoo.spec import InputQuantization
        from voxquant.zoo.tflite import TFLiteSession

        sess = TFLiteSession(path)
        fmt, shape, name = "tflite", sess.input_shape, sess.input_name
        dtype = "int8" if sess.is_int8_input else "float32"
        quant = InputQuantization(*sess.input_quant) if sess.is_int8_input else None
    else:
        raise ModelError(f"cannot open '{suffix}' files without a spec (bare files: .onnx, .tflite)", path)
    if labels is None:
        raise ConfigError("a bare model needs its label order (--labels a,b,c or a file; 'sc12' for voxquant's "
                          "12-class order) or a model spec .toml", path)
    labels = parse_labels(labels, path)
    shape = tuple(1 if d is None else int(d) for d in shape)
    from voxquant.zoo.spec import InputSpec, feature_shape

    fe = get_preset(frontend, **frontend_overrides)
    if fe.kind == "raw":
        lay = layout or "raw"
        if len(shape) != 2 or lay != "raw":
            raise ConfigError(f"the raw front-end feeds waveforms [N, S]; the model input is {list(shape)}", path)
        if "clip_samples" not in frontend_overrides and shape[1] > 1:
            fe = get_preset(frontend, clip_samples=shape[1], **frontend_overrides)
        if shape[1] > 1 and shape[1] != fe.clip_samples:
            raise ConfigError(f"the raw front-end gives {fe.clip_samples} samples, the model input is {list(shape)}",
                              path)
        return ModelSpec(name=path.stem, format=fmt, model=str(path), root=path.parent,
                         input=InputSpec(shape=shape, layout="raw", name=name, dtype=dtype, quantization=quant),
                         labels=labels, frontend=fe, frontend_preset=frontend)
    lay = layout or _guess_layout(shape)
    feature_shape(shape, lay)
    t, f = feature_shape(shape, lay)
    if (lay == "flat" and fe.n_frames() * fe.n_features != f) or (lay != "flat" and (t, f) != fe.shape):
        raise ConfigError(f"front-end '{frontend}' gives {fe.shape[0]}x{fe.shape[1]} features, the model input is "
                          f"{list(shape)} ({lay})", path)
    return ModelSpec(name=path.stem, format=fmt, model=str(path), root=path.parent,
                     input=InputSpec(shape=shape, layout=lay, name=name, dtype=dtype, quantization=quant),
                     labels=labels, frontend=fe, frontend_preset=frontend)


def to_onnx(spec: ModelSpec, out: str | Path | None = None, inputs: np.ndarray | None = None) -> Path:
    """A float ONNX file of the spec's model (for the ONNX-based quantization recipes).

    ``onnx``: the file itself (or a copy at ``out``). ``savedmodel``/``keras_h5``: tf_keras + tf2onnx.
    ``tflite``: tf2onnx's TFLite front-end (int8 models become QDQ graphs). ``tf_frozen_graph``: tf2onnx's
    GraphDef front-end with the spec's input/output tensor names. ``pytorch_state_dict``:
    :func:`voxquant.quant.export.export_onnx` of the loaded module with a dynamic batch.

    Every conversion is parity-checked against the original
    (:func:`voxquant.models.parity.check_conversion_parity`) on ``inputs`` (model-layout ``float32 [N, ...]``) or,
    when ``None``, on :func:`voxquant.models.source.parity_inputs` (200 real dev clips through the spec's front-end
    when the data is present, else synthetic waveforms); the record is kept next to the ONNX file
    (:func:`voxquant.models.parity.read_parity_record`).

    Raises:
        MissingExtraError: ``[tf]`` needed and missing. ModelError: conversion failure or parity refused (names the
            model and both numbers).
    """
    from voxquant.zoo import convert

    check_files_exist(spec)
    path = spec.model_path

    def parity_x() -> dict:
        if inputs is not None:
            return {"inputs": np.asarray(inputs, np.float32), "inputs_source": "given"}
        from voxquant.models.source import parity_inputs

        x, source = parity_inputs(spec.frontend, spec.input.layout)
        return {"inputs": x, "inputs_source": source}

    if spec.format == "onnx":
        if out is None:
            return path
        from voxquant.models.checks import copy_onnx

        return copy_onnx(path, out)  # carries external data (model.onnx.data) along
    from voxquant.models.parity import check_conversion_parity, read_parity_record, write_parity_record

    cached = None
    if spec.format in ("savedmodel", "keras_h5"):
        cached = convert._cached(path, f"keras|{convert.TF_OPSET}|{tuple(spec.input.shape)}|{spec.input.name or 'input'}")
    elif spec.format == "tflite":
        cached = convert._cached(path, f"tflite|{convert.TF_OPSET}")
    elif spec.format == "tf_frozen_graph":
        cached = convert._cached(path, f"pb|{convert.TF_OPSET}|{convert._tensor(spec.input.name)}|"
                                       f"{convert._tensor(spec.output_name)}")
    if out is None and cached is not None and cached.is_file() and read_parity_record(cached) is not None:
        return cached  # converted and checked before: skip loading the parity inputs
    if spec.format in ("savedmodel", "keras_h5"):
        return convert.keras_to_onnx(path, spec.input.shape, out=out, input_name=spec.input.name or "input",
                                     **parity_x(), name=spec.name)
    if spec.format == "tflite":
        return convert.tflite_to_onnx(path, out=out, **parity_x(), name=spec.name)
    if spec.format == "tf_frozen_graph":
        return convert.frozen_graph_to_onnx(path, spec.input.name, spec.output_name, spec.input.shape, out=out,
                                            **parity_x(), name=spec.name)
    if spec.format == "pytorch_state_dict":
        import torch

        from voxquant.quant.export import export_onnx

        if out is None:
            out = convert._cached(path, f"torch|{spec.architecture}|{sorted(spec.architecture_kwargs.items())}|{spec.input.shape}")
            if Path(out).is_file() and read_parity_record(out) is not None:
                return Path(out)
        module = build_torch_module(spec)
        example = torch.zeros((1, *spec.input.shape[1:]), dtype=torch.float32)
        out = export_onnx(module, example, Path(out))
        px = parity_x()
        rec = check_conversion_parity(TorchSession(module, spec.input.shape).run, out, px["inputs"], name=spec.name,
                                      inputs_source=px["inputs_source"])
        write_parity_record(out, rec)
        return out
    raise ConfigError(f"cannot convert format '{spec.format}' to ONNX", spec.where())  # pragma: no cover


__all__ = ["SpecSession", "TorchSession", "build_torch_module", "open_model", "open_module", "sha256_file",
           "spec_for_file", "to_onnx", "verify_files"]
