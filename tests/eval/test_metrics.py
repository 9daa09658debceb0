"""Tests of voxquant.eval.metrics: expected values come from brute-force loops written here."""

from __future__ import annotations

import numpy as np
import pytest

from voxquant.eval.metrics import classification_metrics, confusion_matrix, softmax

LABELS = ("yes", "no", "up", "_unknown_")


def _brute(y_true, y_pred, n_classes):
    cm = [[0] * n_classes for _ in range(n_classes)]
    for t, p in zip(y_true, y_pred):
        cm[t][p] += 1
    n = len(y_true)
    per = {}
    for k in range(n_classes):
        sup = sum(1 for t in y_true if t == k)
        tp = sum(1 for t, p in zip(y_true, y_pred) if t == k and p == k)
        fa = sum(1 for t, p in zip(y_true, y_pred) if t != k and p == k)
        per[k] = (tp / sup if sup else None, fa / (n - sup) if n - sup else None, sup)
    acc = sum(1 for t, p in zip(y_true, y_pred) if t == p) / n
    return cm, acc, per


def test_small_hand_example():
    y_true = np.array([0, 0, 1, 1, 2, 3], dtype=np.int64)
    y_pred = np.array([0, 1, 1, 1, 0, 3], dtype=np.int64)
    m = classification_metrics(y_true, y_pred, LABELS)
    # "yes": 2 clips, 1 recognised -> recall 1/2; 1 of the 4 other clips (the "up" clip) predicted "yes".
    assert m["per_class"]["yes"]["recall"] == pytest.approx(1 / 2)
    assert m["per_class"]["yes"]["frr"] == pytest.approx(1 / 2)
    assert m["per_class"]["yes"]["far"] == pytest.approx(1 / 4)
    assert m["per_class"]["up"]["recall"] == 0.0
    assert m["per_class"]["up"]["far"] == 0.0
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["n"] == 6
    assert m["confusion"][0] == [1, 1, 0, 0]
    assert list(m["per_class"]) == list(LABELS)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n, c = 300, len(LABELS)
    y_true = rng.integers(0, c, n)
    y_pred = np.where(rng.random(n) < 0.7, y_true, rng.integers(0, c, n))
    m = classification_metrics(y_true, y_pred, LABELS)
    cm, acc, per = _brute(y_true.tolist(), y_pred.tolist(), c)
    assert m["confusion"] == cm
    assert m["accuracy"] == pytest.approx(acc)
    for k, lab in enumerate(LABELS):
        rec, far, sup = per[k]
        e = m["per_class"][lab]
        assert e["support"] == sup
        assert e["recall"] == pytest.approx(rec)
        assert e["frr"] == pytest.approx(1 - rec)
        assert e["far"] == pytest.approx(far)
    # rows = true: row sums are the supports; column sums the prediction counts
    assert [sum(r) for r in m["confusion"]] == [per[k][2] for k in range(c)]
    assert np.array_equal(confusion_matrix(y_true, y_pred, c), np.array(cm))


def test_undefined_rates_are_none_and_json_safe():
    import json

    y = np.array([0, 0, 1], dtype=np.int64)
    m = classification_metrics(y, y, LABELS)
    assert m["per_class"]["up"]["recall"] is None and m["per_class"]["up"]["frr"] is None
    assert m["per_class"]["up"]["support"] == 0
    json.dumps(m, allow_nan=False)
    only_one = classification_metrics(np.zeros(3, np.int64), np.zeros(3, np.int64), LABELS)
    assert only_one["per_class"]["yes"]["far"] is None  # no clips of other classes


@pytest.mark.parametrize(
    "y_true,y_pred",
    [
        (np.array([0, 1]), np.array([0])),
        (np.array([0, 4]), np.array([0, 1])),
        (np.array([0, -1]), np.array([0, 1])),
        (np.array([0.0, 1.0]), np.array([0, 1])),
        (np.zeros((2, 2), np.int64), np.zeros((2, 2), np.int64)),
    ],
)
def test_bad_inputs(y_true, y_pred):
    with pytest.raises(ValueError):
        classification_metrics(y_true, y_pred, LABELS)


def test_bad_labels():
    with pytest.raises(ValueError):
        classification_metrics(np.array([0]), np.array([0]), ("a", "a"))
    with pytest.raises(ValueError):
        classification_metrics(np.array([0]), np.array([0]), ())


def test_softmax_matches_definition_and_is_stable():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 12)).astype(np.float32)
    p = softmax(x)
    ref = np.exp(x.astype(np.float64)) / np.exp(x.astype(np.float64)).sum(1, keepdims=True)
    assert p.dtype == np.float32 and p.shape == x.shape
    np.testing.assert_allclose(p, ref, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-6)
    big = softmax(x * 1000.0 + 1e4)  # naive exp would overflow
    assert np.all(np.isfinite(big))
    np.testing.assert_allclose(softmax(x + 50.0), p, rtol=1e-5, atol=1e-7)  # shift invariance
    assert np.array_equal(big.argmax(1), x.argmax(1))


def test_softmax_rejects_nan():
    with pytest.raises(ValueError):
        softmax(np.array([[0.0, np.nan]]))
