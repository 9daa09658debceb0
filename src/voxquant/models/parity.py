"""Checks that a float model is what it claims: conversion parity and a sane fp32 baseline.

* :func:`check_conversion_parity` -- every conversion to ONNX (TFLite / Keras / TF1 ``.pb`` / PyTorch) is run
  against the original on the same inputs; a converter that silently changes the model (tf2onnx once dropped 24 of
  38 fully-connected biases of a third-party transformer: 96.8 % top-1 agreement, and nothing caught it) is refused
  with one :class:`~voxquant.errors.ModelError` naming the model, both numbers and the thresholds.
* :func:`check_baseline` -- the float model's clean accuracy must be above chance (exact binomial test) and not far
  below its published accuracy; otherwise the label order or the front-end is almost certainly wrong and every
  quantization number that follows would be meaningless.

Only numpy, scipy and onnxruntime are used here (no higher voxquant layer).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Callable

import numpy as np

from voxquant.errors import ModelError

#: Float -> float conversions: the ONNX model's top-1 class must agree with the original on >= 99.5 % of inputs
#: (with the usual 200-clip check set: at most one disagreement, i.e. a near tie) ...
FLOAT_MIN_TOP1 = 0.995
#: ... and its outputs may differ by at most 1e-3 x the original's output range (max - min over all inputs and
#: classes): float32 reassociation differences are ~1e-6 relative; a dropped bias or a wrong constant is >= 1e-2.
FLOAT_MAX_REL_DIFF = 1e-3
#: Conversions of already-quantized graphs (int8 TFLite -> QDQ ONNX) re-round in another runtime: one output
#: quantization step is typically 1/256 of the range and a flipped rounding can move a near-tie: >= 99 % top-1
#: agreement and max |diff| <= 5e-2 x range.
QUANTIZED_MIN_TOP1 = 0.99
QUANTIZED_MAX_REL_DIFF = 5e-2


def _ort_predict(onnx_path: Path, x: np.ndarray, batch: int, in_fn=None, out_fn=None) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        sess = ort.InferenceSession(str(onnx_path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelError(f"ONNX Runtime cannot load the converted model ({str(exc).splitlines()[0][:200]})",
                         onnx_path) from None
    inp = sess.get_inputs()[0]
    fixed_batch = inp.shape[0] if isinstance(inp.shape[0], int) else None
    step = fixed_batch or batch
    if in_fn is not None:
        x = in_fn(x)
    outs = []
    for i in range(0, x.shape[0], step):
        chunk = x[i : i + step]
        if fixed_batch and chunk.shape[0] != fixed_batch:  # a fixed batch of 1 (most TF graphs): one at a time
            outs.extend(sess.run(None, {inp.name: chunk[j : j + 1]})[0] for j in range(chunk.shape[0]))
        else:
            outs.append(sess.run(None, {inp.name: chunk})[0])
    outs = [out_fn(o) if out_fn is not None else o for o in outs]
    return np.concatenate([np.asarray(o, dtype=np.float64).reshape(o.shape[0], -1) for o in outs], axis=0)


def _original_predict(fn: Callable, x: np.ndarray, batch: int) -> np.ndarray:
    outs = []
    for i in range(0, x.shape[0], batch):
        o = np.asarray(fn(x[i : i + batch]), dtype=np.float64)
        outs.append(o.reshape(min(batch, x.shape[0] - i), -1))
    return np.concatenate(outs, axis=0)


def check_conversion_parity(original_predict: Callable[[np.ndarray], np.ndarray], onnx_path: str | Path,
                            inputs: np.ndarray, *, name: str | None = None, quantized: bool = False,
                            min_top1: float | None = None, max_rel_diff: float | None = None,
                            inputs_source: str = "given", batch: int = 64, remove_on_failure: bool = True,
                            onnx_input_fn: Callable | None = None, onnx_output_fn: Callable | None = None) -> dict:
    """Compare a converted ONNX model with the original it came from, on the same inputs.

    Thresholds (``quantized=False``, float conversions): top-1 agreement >= :data:`FLOAT_MIN_TOP1` (99.5 %) and
    ``max |onnx - original| <= FLOAT_MAX_REL_DIFF (1e-3) x output range`` (range = max - min of the original's
    outputs over all inputs and classes). ``quantized=True`` (an int8 graph converted to QDQ ONNX):
    :data:`QUANTIZED_MIN_TOP1` (99 %) and :data:`QUANTIZED_MAX_REL_DIFF` (5e-2 x range). Both can be overridden.

    Args:
        original_predict: the original model, ``float32 [n, ...]`` model input -> ``[n, C]`` scores (called in
            batches of ``batch``).
        onnx_path: the converted ``.onnx``.
        inputs: ``float32 [N, ...]`` model inputs, ideally features of real clips (``N >= 200`` makes the top-1
            threshold meaningful).
        name: model name for messages (default: the ONNX file name).
        quantized: use the looser thresholds of already-quantized source graphs.
        min_top1, max_rel_diff: override the thresholds.
        inputs_source: what the inputs are (``"real clips"``, ``"synthetic"``...), recorded.
        batch: inputs per call.
        remove_on_failure: delete ``onnx_path`` when refused (so no cache keeps a bad conversion).
        onnx_input_fn, onnx_output_fn: adapt the ONNX model's I/O when it is not float (an int8-I/O TFLite graph:
            quantize ``inputs`` the way the original runtime does, dequantize its outputs).

    Returns:
        ``{"n", "inputs", "max_abs_diff", "output_range", "rel_diff", "top1_agreement", "min_top1",
        "max_rel_diff", "passed": True}`` (plain JSON types), for the model source's meta / the report.

    Raises:
        ModelError: top-1 agreement or max |diff| outside the thresholds (message: model, both numbers, both
            thresholds, the input count); outputs of different sizes; ``inputs`` empty; ONNX not loadable.
    """
    onnx_path = Path(onnx_path)
    name = name or onnx_path.stem
    x = np.ascontiguousarray(inputs, dtype=np.float32)
    if x.ndim < 1 or x.shape[0] == 0:
        raise ModelError(f"parity check of '{name}' needs at least one input", onnx_path)
    min_top1 = (QUANTIZED_MIN_TOP1 if quantized else FLOAT_MIN_TOP1) if min_top1 is None else float(min_top1)
    max_rel = (QUANTIZED_MAX_REL_DIFF if quantized else FLOAT_MAX_REL_DIFF) if max_rel_diff is None else float(max_rel_diff)
    ref = _original_predict(original_predict, x, batch)
    got = _ort_predict(onnx_path, x, batch, onnx_input_fn, onnx_output_fn)
    if ref.shape != got.shape:
        if remove_on_failure:
            onnx_path.unlink(missing_ok=True)
        raise ModelError(f"converted ONNX of '{name}' gives outputs of shape {list(got.shape)}, the original "
                         f"{list(ref.shape)}", onnx_path)
    finite = bool(np.isfinite(got).all())
    diff = float(np.abs(got - ref).max()) if finite else math.inf
    rng = float(ref.max() - ref.min())
    rel = diff / rng if rng > 0 else (0.0 if diff == 0 else math.inf)
    top1 = float(np.mean(got.argmax(1) == ref.argmax(1)))
    res = {"n": int(x.shape[0]), "inputs": inputs_source, "max_abs_diff": diff, "output_range": rng,
           "rel_diff": rel, "top1_agreement": top1, "min_top1": min_top1, "max_rel_diff": max_rel,
           "quantized_source": bool(quantized)}
    if top1 < min_top1 or not rel <= max_rel:
        if remove_on_failure:
            onnx_path.unlink(missing_ok=True)
        raise ModelError(
            f"conversion of '{name}' to ONNX changed the model: top-1 agreement {100 * top1:.2f} % (needs >= "
            f"{100 * min_top1:.1f} %), max |diff| {diff:.3g} = {rel:.3g} x output range {rng:.3g} (needs <= "
            f"{max_rel:g} x range), on {x.shape[0]} {inputs_source} inputs", onnx_path,
            hint="the converter dropped or altered part of the graph; try another opset or converter, or export "
                 "the float model to ONNX yourself")
    res["passed"] = True
    return res


def parity_record_path(onnx_path: str | Path) -> Path:
    """Where the parity result of a converted model is kept: ``<model>.onnx.parity.json`` next to it."""
    p = Path(onnx_path)
    return p.with_name(p.name + ".parity.json")


def write_parity_record(onnx_path: str | Path, record: dict) -> None:
    """Store a :func:`check_conversion_parity` result next to the ONNX file (read by :func:`read_parity_record`)."""
    parity_record_path(onnx_path).write_text(json.dumps(record, indent=1))


def read_parity_record(onnx_path: str | Path) -> dict | None:
    """The stored parity result of a converted ONNX file, or ``None`` (not converted by voxquant, or unchecked)."""
    p = parity_record_path(onnx_path)
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


# ------------------------------------------------------------------------------------------------ baseline

#: Significance level of the baseline tests (one-sided exact binomial).
BASELINE_ALPHA = 0.01
#: Refuse when the float accuracy is more than this many percentage points below the published one (and the gap is
#: significant); smaller significant gaps only give a note.
BASELINE_MAX_GAP_PP = 20.0
#: Gaps below this (pp) give no note at all.
BASELINE_NOTE_GAP_PP = 2.0


def check_baseline(accuracy: float, n_classes: int, published: float | None, model_name: str,
                   n_clips: int) -> str | None:
    """Sanity-check the fp32 model's clean accuracy before anything is quantized.

    Rules (exact binomial tests from :func:`scipy.stats.binomtest`, ``k = round(accuracy * n_clips)`` correct):

    1. **chance**: refused when the accuracy is not significantly above chance ``1 / n_classes`` (one-sided test,
       H1: accuracy > chance, ``p >= BASELINE_ALPHA = 0.01``). When the set is so small that even 50 % correct
       would not pass that test (e.g. <= 4 clips for 12 classes), nothing is refused and a note says so: tiny
       evaluation sets are not refused on noise.
    2. **published**: refused when the accuracy is more than :data:`BASELINE_MAX_GAP_PP` (20) points below
       ``published`` *and* significantly below it (one-sided test, H1: accuracy < published, p < 0.01). A
       significant gap of more than :data:`BASELINE_NOTE_GAP_PP` (2) points gives a note instead.

    Args:
        accuracy: fp32 clean accuracy, fraction in [0, 1].
        n_classes: number of output classes (>= 2).
        published: the spec's published accuracy (fraction) or ``None``.
        model_name: for messages.
        n_clips: clips the accuracy was measured on.

    Returns:
        ``None`` when all is well, else a one-line note for the report (milder gap, or too few clips to test).

    Raises:
        ModelError: at/below chance (hint: label order? front-end?) or far below the published accuracy.
        ValueError: ``accuracy`` outside [0, 1], ``n_classes < 2`` or ``n_clips < 1``.
    """
    from scipy.stats import binomtest

    if not 0.0 <= accuracy <= 1.0 or n_classes < 2 or n_clips < 1:
        raise ValueError(f"need 0 <= accuracy <= 1, n_classes >= 2, n_clips >= 1; got {accuracy}, {n_classes}, {n_clips}")
    chance = 1.0 / n_classes
    k = int(round(accuracy * n_clips))
    half = int(math.ceil(n_clips / 2))
    if binomtest(half, n_clips, chance, alternative="greater").pvalue >= BASELINE_ALPHA:
        return (f"fp32 baseline of '{model_name}' not checked against chance: {n_clips} clips are too few to tell "
                f"even 50 % from chance ({100 * chance:.1f} %)")
    p_chance = binomtest(k, n_clips, chance, alternative="greater").pvalue
    if p_chance >= BASELINE_ALPHA:
        raise ModelError(
            f"float model '{model_name}' scores {100 * accuracy:.2f} % on {n_clips} clean clips, not above chance "
            f"(1/{n_classes} = {100 * chance:.1f} %; binomial p = {p_chance:.2g} >= {BASELINE_ALPHA})",
            hint="label order? front-end? sample rate? check the spec's labels.order and frontend")
    if published is None:
        return None
    gap = 100.0 * (float(published) - accuracy)
    if gap <= BASELINE_NOTE_GAP_PP:
        return None
    p_gap = binomtest(k, n_clips, min(max(float(published), 0.0), 1.0), alternative="less").pvalue
    if p_gap >= BASELINE_ALPHA:
        return None
    if gap > BASELINE_MAX_GAP_PP:
        raise ModelError(
            f"float model '{model_name}' scores {100 * accuracy:.2f} % on {n_clips} clean clips, {gap:.1f} points "
            f"below its published {100 * published:.2f} % (refused above {BASELINE_MAX_GAP_PP:g} points; binomial "
            f"p = {p_gap:.2g})", hint="label order? front-end? is the spec's published test set this one?")
    return (f"fp32 accuracy of '{model_name}' is {gap:.1f} points below its published {100 * published:.2f} % "
            f"({100 * accuracy:.2f} % on {n_clips} clips; binomial p = {p_gap:.2g}): different test split or "
            f"front-end details?")


__all__ = ["BASELINE_ALPHA", "BASELINE_MAX_GAP_PP", "BASELINE_NOTE_GAP_PP", "FLOAT_MAX_REL_DIFF", "FLOAT_MIN_TOP1",
           "QUANTIZED_MAX_REL_DIFF", "QUANTIZED_MIN_TOP1", "check_baseline", "check_conversion_parity",
           "parity_record_path", "read_parity_record", "write_parity_record"]
