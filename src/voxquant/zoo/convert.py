"""Convert third-party models to ONNX (voxquant's interchange format), so the ONNX-based quantizers can take them.

* Keras SavedModel / ``.h5`` -> ONNX through the ``[tf]`` extra: the model is loaded with
  ``tf_keras.models.load_model(path, compile=False)`` (Keras 2 semantics; with TF 2.21 plain
  ``tf.saved_model.load`` fails on the MLPerf Tiny SavedModel -- ``'_UserObject' object has no attribute
  'add_slot'``, from its saved optimizer slots -- and Keras 3 refuses the MLPerf SWW ``.h5``), wrapped in a
  ``tf.function`` with a fixed input signature and converted with ``tf2onnx.convert.from_function``.
* TFLite -> ONNX with ``tf2onnx.convert.from_tflite`` where tf2onnx supports the graph (int8 graphs come out as
  QDQ ONNX).
* TF1 frozen graphs (``.pb`` + input/output tensor names) -> ONNX with ``tf2onnx.convert.from_graph_def``.
* PyTorch ``nn.Module`` -> ONNX with :func:`voxquant.quant.export.export_onnx`.

Every conversion is checked for output parity against the original with
:func:`voxquant.models.parity.check_conversion_parity` (thresholds there: float conversions need >= 99.5 % top-1
agreement and max |diff| <= 1e-3 x output range) on the ``inputs`` the caller gives -- features of real clips, see
:func:`voxquant.zoo.models.to_onnx` -- or, without them, on 64 seeded standard-normal inputs; a failing conversion is
deleted and refused with one :class:`~voxquant.errors.ModelError`. The result is stored next to the ONNX file
(``<model>.onnx.parity.json``, :func:`voxquant.models.parity.read_parity_record`).

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
from voxquant.models.parity import check_conversion_parity, read_parity_record, write_parity_record
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


def _parity_inputs(inputs, shape: tuple, source: str = "given") -> tuple[np.ndarray, str]:
    if inputs is not None:
        return np.asarray(inputs, dtype=np.float32), source
    return np.random.default_rng(0).standard_normal((64, *tuple(shape)[1:])).astype(np.float32), "random normal"


def _checked(out: Path, predict, inputs, shape: tuple, name: str, inputs_source: str = "given", **kw) -> Path:
    """Run the parity check on a fresh conversion and store its record next to ``out``."""
    x, source = _parity_inputs(inputs, shape, inputs_source)
    write_parity_record(out, check_conversion_parity(predict, out, x, name=name, inputs_source=source, **kw))
    return out


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
                  input_name: str = "input", inputs: np.ndarray | None = None, name: str | None = None,
                  inputs_source: str = "given") -> Path:
    """Convert a Keras SavedModel/``.h5`` to ONNX with a dynamic batch.

    Args:
        path: SavedModel folder or ``.h5`` file.
        input_shape: model input shape incl. batch (the batch is made dynamic).
        out: output ``.onnx`` (default: the conversion cache).
        opset: ONNX opset.
        input_name: name of the ONNX input.
        inputs: ``float32 [N, *input_shape[1:]]`` inputs for the parity check (default: random normal).
        name: model name for messages.

    Returns:
        The ONNX path, parity-checked against the Keras model (module docstring).

    Raises:
        MissingExtraError: ``[tf]`` extra missing. ModelError: load or conversion failure, parity refused.
    """
    path = Path(path)
    out = Path(out) if out is not None else _cached(path, f"keras|{opset}|{tuple(input_shape)}|{input_name}")
    if out.is_file() and read_parity_record(out) is not None:
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
    return _checked(out, lambda b: np.asarray(model(b, training=False)), inputs, input_shape, name or path.name,
                    inputs_source=inputs_source)


def tflite_to_onnx(path: str | Path, out: str | Path | None = None, opset: int = TF_OPSET,
                   inputs: np.ndarray | None = None, name: str | None = None, inputs_source: str = "given") -> Path:
    """Convert a ``.tflite`` model to ONNX with tf2onnx (int8 graphs become QDQ graphs), parity-checked against
    LiteRT on ``inputs`` (float model input ``[N, ...]``; default random normal). Quantized graphs (QDQ nodes in
    the result) are held to the looser int8 thresholds of :func:`~voxquant.models.parity.check_conversion_parity`;
    integer model I/O is quantized / dequantized like :class:`~voxquant.zoo.tflite.TFLiteSession` does.

    Raises:
        MissingExtraError: ``[tf]`` or ``[litert]`` extra missing. ModelError: tf2onnx does not support the graph,
            parity refused.
    """
    path = Path(path)
    out = Path(out) if out is not None else _cached(path, f"tflite|{opset}")
    if out.is_file() and read_parity_record(out) is not None:
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
    from voxquant.zoo.tflite import TFLiteSession

    sess = TFLiteSession(path)
    quantized = any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in proto.graph.node)
    in_fn = sess._quantize if sess.is_int8_input else None
    out_fn = None
    if sess.output_dtype.kind in "iu":
        scale, zp = sess.output_quant
        out_fn = lambda o: (np.asarray(o, np.float32) - zp) * scale  # noqa: E731
    shape = tuple(1 if d is None else d for d in sess.input_shape)
    return _checked(out, sess.run, inputs, shape, name or path.name, inputs_source=inputs_source, quantized=quantized, onnx_input_fn=in_fn,
                    onnx_output_fn=out_fn)


def load_frozen_graph(path: str | Path):
    """Read a TF1 frozen graph (``.pb`` ``GraphDef``) -- ``[tf]`` extra.

    Raises:
        MissingExtraError: TensorFlow missing. ModelError: the file is missing or not a ``GraphDef``.
    """
    path = Path(path)
    tf = require("tensorflow", "tf", "Loading TF1 frozen graphs")
    if not path.is_file():
        raise ModelError("model file not found", path)
    gd = tf.compat.v1.GraphDef()
    try:
        gd.ParseFromString(path.read_bytes())
    except Exception as exc:
        raise ModelError(f"not a TensorFlow GraphDef ({str(exc).splitlines()[0][:160]})", path) from None
    if not gd.node:
        raise ModelError("the GraphDef has no nodes", path)
    return gd


def frozen_graph_predict(path: str | Path, input_name: str, output_name: str):
    """``predict(x float32 [N, ...]) -> float32 [N, C]`` running a frozen graph in a TF1 session (clip by clip when
    the input placeholder has a fixed batch).

    Raises:
        ModelError: a tensor name is not in the graph (message lists a few placeholders).
    """
    tf = require("tensorflow", "tf", "Running TF1 frozen graphs")
    path = Path(path)
    gd = load_frozen_graph(path)
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(gd, name="")
    try:
        t_in = graph.get_tensor_by_name(_tensor(input_name))
        t_out = graph.get_tensor_by_name(_tensor(output_name))
    except (KeyError, ValueError) as exc:
        ph = [n.name for n in gd.node if n.op == "Placeholder"][:5]
        raise ModelError(f"tensor not in the graph ({str(exc).splitlines()[0][:120]}); placeholders: {ph}", path) from None
    sess = tf.compat.v1.Session(graph=graph)
    fixed = t_in.shape.rank and t_in.shape[0] is not None

    def predict(x):
        x = np.asarray(x, np.float32)
        if fixed:
            return np.concatenate([sess.run(t_out, {t_in: x[i : i + 1]}) for i in range(x.shape[0])], axis=0)
        return sess.run(t_out, {t_in: x})

    return predict


def _tensor(name: str) -> str:
    return name if ":" in name else f"{name}:0"


def frozen_graph_to_onnx(path: str | Path, input_name: str, output_name: str, input_shape: tuple,
                         out: str | Path | None = None, opset: int = TF_OPSET, inputs: np.ndarray | None = None,
                         name: str | None = None, inputs_source: str = "given") -> Path:
    """Convert a TF1 frozen graph (``.pb``) to ONNX with ``tf2onnx.convert.from_graph_def``, parity-checked against
    the graph run in TensorFlow on ``inputs`` (default random normal).

    Args:
        path: the ``.pb`` file.
        input_name, output_name: tensor names (``"fingerprint_input:0"``; ``":0"`` is added when missing).
        input_shape: model input shape incl. batch (for the default parity inputs).
        out: output ``.onnx`` (default: the conversion cache).
        opset: ONNX opset.
        inputs, name, inputs_source: parity inputs, model name for messages, what the inputs are.

    Raises:
        MissingExtraError: ``[tf]`` extra missing. ModelError: unreadable graph, unknown tensor, conversion failure,
            parity refused.
    """
    path = Path(path)
    i_name, o_name = _tensor(input_name), _tensor(output_name)
    out = Path(out) if out is not None else _cached(path, f"pb|{opset}|{i_name}|{o_name}")
    if out.is_file() and read_parity_record(out) is not None:
        return out
    tf2onnx = require("tf2onnx", "tf", "TF1 frozen graph -> ONNX conversion")
    predict = frozen_graph_predict(path, i_name, o_name)  # also checks the tensor names
    gd = load_frozen_graph(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            proto, _ = tf2onnx.convert.from_graph_def(gd, input_names=[i_name], output_names=[o_name], opset=opset)
    except Exception as exc:
        raise ModelError(f"tf2onnx could not convert it: {str(exc).splitlines()[0][:200]}", path) from None
    _atomic_write_model(proto, out)
    return _checked(out, predict, inputs, input_shape, name or path.name,
                    inputs_source=inputs_source)


__all__ = ["TF_OPSET", "frozen_graph_predict", "frozen_graph_to_onnx", "keras_to_onnx", "load_frozen_graph", "load_keras",
           "tflite_to_onnx"]
