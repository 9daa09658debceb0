"""Run TFLite models (float, hybrid and full-int8) with the LiteRT interpreter (``ai-edge-litert``, ``[litert]`` extra).

:class:`TFLiteSession` is a :class:`voxquant.backends.base.Session`: ``run(float32 [N, ...]) -> float32 [N, C]``.
For a model whose input tensor is int8/uint8 it quantizes the float input itself with the model's own scale and
zero point and an **explicit rounding rule** (:func:`voxquant.zoo.spec.quantize_input`), and dequantizes an
integer output with the output's scale and zero point, so callers always deal in floats.

Rounding matters for reproducing published numbers: TFLite's own ``QUANTIZE`` kernel rounds half away from zero
(``"nearest"``), ONNX ``QuantizeLinear`` rounds half to even (``"nearest_even"``), and the MLPerf Tiny KWS
publisher's ``eval_quantized_model.py`` computes ``np.array(x / scale + zero_point, dtype=np.int8)``, which
truncates toward zero after adding the zero point and does not clip (``"truncate"``). Both are supported; the zoo
spec of each model says which one its publisher used.

The interpreter is created with ``num_threads=threads``. Batches are run clip by clip (``[1, ...]``): many
published int8 graphs hard-code batch 1 in RESHAPE ops, so resizing the batch is not reliable.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from voxquant.backends.base import Session
from voxquant.errors import ModelError, require
from voxquant.zoo.spec import InputQuantization, quantize_input


def _interpreter_class():
    mod = require("ai_edge_litert.interpreter", "litert", "Running TFLite models")
    return mod.Interpreter


class TFLiteSession(Session):
    """A TFLite model in the LiteRT interpreter.

    Args:
        path: ``.tflite`` file.
        threads: interpreter threads.
        rounding: rounding rule for int8 inputs (``"nearest"``, ``"nearest_even"``, ``"truncate"``).
        input_quantization: overrides the model's own input scale/zero point (normally ``None``: read from the
            model). A spec's values are checked against the model by :func:`voxquant.zoo.open_model`.
        clip: saturate quantized inputs to the int8 range (see :class:`~voxquant.zoo.spec.InputQuantization`).

    Attributes:
        input_name, input_shape: of the first input (``input_shape[0]`` is ``None`` for a dynamic batch).
        input_dtype: numpy dtype of the input tensor (``float32``, ``int8``, ``uint8``).
        input_quant: ``(scale, zero_point)`` of the input tensor (``(0.0, 0)`` for float).
        output_shape, output_dtype, output_quant: likewise for the first output.
        out_of_range: running count of input values that fell outside the integer range when quantizing.

    Raises:
        MissingExtraError: ``ai-edge-litert`` not installed.
        ModelError: the file is missing or the interpreter cannot load it (message names the file).
    """

    def __init__(self, path: str | Path, threads: int = 1, rounding: str = "nearest",
                 input_quantization: InputQuantization | None = None, clip: bool = True):
        path = Path(path)
        Interpreter = _interpreter_class()
        if not path.is_file():
            raise ModelError("model file not found", path)
        try:
            self.interp = Interpreter(model_path=str(path), num_threads=int(threads))
            self.interp.allocate_tensors()
        except Exception as exc:  # LiteRT raises ValueError/RuntimeError with its own text
            raise ModelError(f"LiteRT cannot load it: {str(exc).splitlines()[0][:200]}", path) from None
        self.path = path
        inp = self.interp.get_input_details()[0]
        out = self.interp.get_output_details()[0]
        self._in_index, self._out_index = inp["index"], out["index"]
        self.input_name = inp["name"]
        sig = inp.get("shape_signature", inp["shape"])
        self.input_shape = tuple(None if int(d) < 0 else int(d) for d in sig)
        self._fixed_shape = tuple(int(d) for d in inp["shape"])
        self.input_dtype = np.dtype(inp["dtype"])
        self.input_quant = (float(inp["quantization"][0]), int(inp["quantization"][1]))
        self.output_name = out["name"]
        self.output_shape = tuple(int(d) for d in out["shape"])
        self.output_dtype = np.dtype(out["dtype"])
        self.output_quant = (float(out["quantization"][0]), int(out["quantization"][1]))
        self.out_of_range = 0
        if self.input_dtype in (np.int8, np.uint8):
            scale, zp = self.input_quant
            if input_quantization is not None:
                scale, zp = input_quantization.scale, input_quantization.zero_point
                rounding, clip = input_quantization.rounding, input_quantization.clip
            if self.input_dtype == np.uint8:  # shift to the int8 convention, back to uint8 in _quantize
                zp -= 128
            self.quantization = InputQuantization(scale=scale, zero_point=zp, rounding=rounding, clip=clip)
        else:
            self.quantization = None

    @property
    def is_int8_input(self) -> bool:
        """Whether the input tensor is integer (the session quantizes float input itself)."""
        return self.quantization is not None

    def _quantize(self, x: np.ndarray) -> np.ndarray:
        q, n_bad = quantize_input(x, self.quantization)
        self.out_of_range += n_bad
        if self.input_dtype == np.uint8:
            return (q.astype(np.int16) + 128).astype(np.uint8)
        return q

    def run(self, x: np.ndarray) -> np.ndarray:
        """Run ``float32 [N, ...]`` (the model's input shape without batch) clip by clip.

        Returns:
            ``float32 [N, C]`` (integer outputs dequantized: ``(q - zero_point) * scale``).

        Raises:
            ModelError: ``x`` does not match the model's input shape (message names the model file).
        """
        x = np.asarray(x, dtype=np.float32)
        want = self._fixed_shape[1:]
        if tuple(x.shape[1:]) != want:
            raise ModelError(f"input of shape {list(x.shape)} does not fit the model input {list(self._fixed_shape)}",
                             self.path)
        xin = self._quantize(x) if self.quantization is not None else x.astype(self.input_dtype, copy=False)
        outs = []
        for i in range(xin.shape[0]):
            self.interp.set_tensor(self._in_index, xin[i : i + 1])
            self.interp.invoke()
            outs.append(np.array(self.interp.get_tensor(self._out_index)).reshape(1, -1))
        y = np.concatenate(outs, axis=0) if outs else np.zeros((0, int(np.prod(self.output_shape[1:]))))
        if self.output_dtype in (np.int8, np.uint8, np.int16):
            scale, zp = self.output_quant
            return ((y.astype(np.float32) - zp) * np.float32(scale)).astype(np.float32)
        return y.astype(np.float32)


__all__ = ["TFLiteSession"]
