"""Classification metrics for keyword spotting: accuracy, per-keyword FRR/FAR, confusion matrix.

Definitions (per keyword ``k``, over ``N`` clips; the usual KWS conventions, e.g. Warden 2018,
"Speech Commands: A Dataset for Limited-Vocabulary Speech Recognition", arXiv:1804.03209, and the
detection-error definitions of the NIST DET framework, Martin et al. 1997):

* ``recall[k]``  = TP_k / support_k - fraction of clips whose true label is ``k`` that are predicted ``k``.
* ``frr[k]``     = 1 - recall[k] - false-reject rate: clips of keyword ``k`` missed (predicted as anything else).
* ``far[k]``     = FP_k / (N - support_k) - false-accept rate: fraction of clips of *other* classes
  (including ``_unknown_`` and ``_silence_``) predicted as ``k``.

Rates that are undefined (a class with no clips for recall/FRR; no clips of other classes for FAR) are
``None``, so the dict stays valid JSON (no NaN).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["classification_metrics", "confusion_matrix", "softmax"]


def _check_labels_vector(name: str, y: np.ndarray, n_classes: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D [N], got shape {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name} must hold integer class ids, got dtype {y.dtype}")
    y = y.astype(np.int64, copy=False)
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"{name} holds class ids outside [0, {n_classes}): min {y.min()}, max {y.max()}")
    return y


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Count matrix of (true, predicted) pairs.

    Args:
        y_true: ``int [N]`` true class ids in ``[0, n_classes)``.
        y_pred: ``int [N]`` predicted class ids in ``[0, n_classes)``.
        n_classes: ``C``.

    Returns:
        ``int64 [C, C]``: entry ``[i, j]`` counts clips of true class ``i`` predicted as ``j``
        (rows = true, columns = predicted).

    Raises:
        ValueError: shapes differ, not 1-D, non-integer dtype or ids out of range.
    """
    y_true = _check_labels_vector("y_true", y_true, n_classes)
    y_pred = _check_labels_vector("y_pred", y_pred, n_classes)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in length: {y_true.shape[0]} vs {y_pred.shape[0]}")
    flat = np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes).astype(np.int64)


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> dict:
    """Top-1 accuracy, per-class recall / FRR / FAR / support and the confusion matrix.

    Args:
        y_true: ``int64 [N]`` true class ids (indices into ``labels``).
        y_pred: ``int64 [N]`` predicted class ids (e.g. ``logits.argmax(1)``).
        labels: ``C`` class names in id order (e.g. ``voxquant.data.SC12_LABELS``).

    Returns:
        JSON-ready dict::

            {"n": N,
             "accuracy": float in [0, 1] (fraction, not %),  # None when N == 0
             "per_class": {label: {"recall": float|None, "frr": float|None,
                                   "far": float|None, "support": int}},
             "confusion": [[int] * C] * C}  # rows = true, cols = predicted

        ``frr = 1 - recall``; ``far`` = fraction of clips of other classes predicted as this label
        (see the module docstring for definitions and sources).

    Raises:
        ValueError: mismatched / non-1-D inputs, non-integer ids, ids outside ``[0, C)``, duplicate or
            empty ``labels``.
    """
    labels = tuple(str(lab) for lab in labels)
    if not labels:
        raise ValueError("labels must not be empty")
    if len(set(labels)) != len(labels):
        raise ValueError(f"labels must be unique, got {labels}")
    n_classes = len(labels)
    cm = confusion_matrix(y_true, y_pred, n_classes)
    n = int(cm.sum())
    tp = np.diag(cm)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    per_class: dict[str, dict] = {}
    for k, label in enumerate(labels):
        sup = int(support[k])
        recall = float(tp[k] / sup) if sup else None
        others = n - sup
        false_accepts = int(predicted[k] - tp[k])
        per_class[label] = {
            "recall": recall,
            "frr": (1.0 - recall) if recall is not None else None,
            "far": float(false_accepts / others) if others else None,
            "support": sup,
        }
    return {
        "n": n,
        "accuracy": float(tp.sum() / n) if n else None,
        "per_class": per_class,
        "confusion": cm.tolist(),
    }


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax (the max is subtracted before ``exp``).

    Args:
        logits: ``float [N, C]`` (any shape; normalised along ``axis``). Finite values expected.
        axis: class axis (default last).

    Returns:
        ``float32`` array of the same shape; each slice along ``axis`` sums to 1 (to float32 precision).
        Large logits (e.g. 1e4) do not overflow.

    Raises:
        ValueError: ``logits`` contains NaN or Inf, or is empty along ``axis``.
    """
    x = np.asarray(logits, dtype=np.float32)
    if x.ndim == 0 or x.shape[axis] == 0:
        raise ValueError(f"softmax needs a non-empty class axis, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("softmax input contains NaN or Inf")
    z = x - x.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=axis, keepdims=True)).astype(np.float32, copy=False)
