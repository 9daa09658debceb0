"""Convert third-party models to ONNX (voxquant's interchange format), so the ONNX-based quantizers can take them.

* Keras SavedModel / ``.h5`` -> ONNX through the ``[tf]`` extra: the model is loaded with
  ``tf_keras.models.load_model(path, compile=False)`` (Keras 2 semantics; with TF 2.21 plain
  ``tf.saved_model.load`` fails on the MLPerf Tiny SavedModel -- ``'_UserObject' object has no attribute
  'add_slot'``, from its saved optimizer slots -- and Keras 3 refuses the MLPerf SWW ``.h5``), wrapped in a
  ``tf.function`` with a fixed input signature and converted with ``tf2onnx.convert.from_function``.
* TFLite -> ONNX with ``tf2onnx.convert.from_tflite`` where tf2onnx supports the graph (int8 graphs come out as
  QDQ ONNX).
* PyTorch ``nn.Module`` -> ONNX with :func:`voxquant.quant.export.export_onnx`.

Converted files are cached under ``<cache_root()>/zoo/onnx/`` keyed by the sha256 of the source file(s) and the
converter settings, so a model is converted once.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from voxquant.errors import ModelError, require
from voxquant.paths import cache_root

#: ONNX opset of converted TF models (tf2onnx's well-tested range; ORT quantization handles it).
TF_OPSET = 13


def _sha256_tree(path: Path) -> str:
    h = hashlib.sha256()
    files = sorted(p for p in Path(path).rglob("*") if p.is_file()) if Path(path).is_dir() else [Path(path)]
    for f in files:
        h.update(str(f.relative_to(path) if Path(path).is_dir() else f.name).encode())
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _cached(src: Path, tag: str) -> Path:
    key = hashlib.sha256(f"{_sha256_tree(src)}|{tag}".encode()).hexdigest()[:24]
    return cache_root() / "zoo" / "onnx" / f"{Path(src).stem}-{key}.onnx"


def _atomic_write_model(model_proto, out: Path) -> None:
    import onnx

    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=out.stem, suffix=".onnx.tmp", dir=out.parent)
    os.close(fd)
    try:
        onnx.save(model_proto, tmp)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_keras(path: str | Path):
    """Load a Keras SavedModel folder or ``.h5`` file with ``tf_keras`` (Keras 2), without compiling.

    Raises:
        MissingExtraError: ``tf_keras``/``tensorflow`` not installed (``[tf]`` extra).
        ModelError: the file is missing or Keras cannot load it (message names the file).
    """
    path = Path(path)
    require("tensorflow", "tf", "Loading Keras models")
    tf_keras = require("tf_keras", "tf", "Loading Keras models")
    if not path.exists():
        raise ModelError("model file not found", path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return tf_keras.models.load_model(str(path), compile=False)
    except Exception as exc:
        raise ModelError(f"tf_keras cannot load it: {str(exc).splitlines()[0][:200]}", path) from None


def keras_to_onnx(path: str | Path, input_shape: tuple, out: str | Path | None = None, opset: int = TF_OPSET,
                  input_name: str = "input") -> Path:
    """Convert a Keras SavedModel/``.h5`` to ONNX with a dynamic batch.

    Args:
        path: SavedModel folder or ``.h5`` file.
        input_shape: model input shape incl. batch (the batch is made dynamic).
        out: output ``.onnx`` (default: the conversion cache).
        opset: ONNX opset.
        input_name: name of the ONNX input.

    Returns:
        The ONNX path. The converted graph is checked against the Keras model on random input
        (``max |diff| < 1e-4``), else :class:`ModelError`.

    Raises:
        MissingExtraError: ``[tf]`` extra missing. ModelError: load or conversion failure.
    """
    path = Path(path)
    out = Path(out) if out is not None else _cached(path, f"keras|{opset}|{tuple(input_shape)}|{input_name}")
    if out.is_file():
        return out
    tf = require("tensorflow", "tf", "Keras -> ONNX conversion")
    tf2onnx = require("tf2onnx", "tf", "Keras -> ONNX conversion")
    model = load_keras(path)
    spec = (tf.TensorSpec((None, *tuple(input_shape)[1:]), tf.float32, name=input_name),)

    @tf.function(input_signature=spec)
    def fn(x):
        return model(x, training=False)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            proto, _ = tf2onnx.convert.from_function(fn, input_signature=spec, opset=opset)
    except Exception as exc:
        raise ModelError(f"tf2onnx could not convert it: {str(exc).splitlines()[0][:200]}", path) from None
    _atomic_write_model(proto, out)
    x = np.random.default_rng(0).standard_normal((2, *tuple(input_shape)[1:])).astype(np.float32)
    _check_against(out, np.asarray(model(x, training=False)), x, path)
    return out


def tflite_to_onnx(path: str | Path, out: str | Path | None = None, opset: int = TF_OPSET) -> Path:
    """Convert a ``.tflite`` model to ONNX with tf2onnx (int8 graphs become QDQ graphs).

    Raises:
        MissingExtraError: ``[tf]`` extra missing. ModelError: tf2onnx does not support the graph.
    """
    path = Path(path)
    out = Path(out) if out is not None else _cached(path, f"tflite|{opset}")
    if out.is_file():
        return out
    tf2onnx = require("tf2onnx", "tf", "TFLite -> ONNX conversion")
    if not path.is_file():
        raise ModelError("model file not found", path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            proto, _ = tf2onnx.convert.from_tflite(str(path), opset=opset)
    except Exception as exc:
        raise ModelError(f"tf2onnx could not convert it: {str(exc).splitlines()[0][:200]}", path) from None
    _atomic_write_model(proto, out)
    return out


def _check_against(onnx_path: Path, ref: np.ndarray, x: np.ndarray, src: Path, atol: float = 1e-4) -> None:
    from voxquant.backends.onnxruntime import OrtSession

    got = OrtSession(onnx_path).run(x)
    diff = float(np.abs(got - ref.reshape(got.shape)).max())
    if diff > atol:
        onnx_path.unlink(missing_ok=True)
        raise ModelError(f"converted ONNX disagrees with the original (max |diff| {diff:.3g} > {atol})", src)


__all__ = ["TF_OPSET", "keras_to_onnx", "load_keras", "tflite_to_onnx"]
