"""DS-CNN shape/parameter count, the bundled weights, training and save/load."""

import json

import numpy as np
import pytest
import torch

from voxquant.errors import ConfigError, ModelError
from voxquant.models import build_model
from voxquant.models.train import TrainConfig, load_weights, save_weights, split_holdout, train_model
from voxquant.models.zoo_default import DEFAULT_WEIGHTS, split_noise_bank


def test_dscnn_matches_mlperf_reference_size():
    m = build_model("dscnn", 12, (49, 10))
    n = sum(p.numel() for p in m.parameters())
    n_bn_stats = sum(b.numel() for name, b in m.named_buffers() if "running" in name)
    # Keras counts BN moving mean/variance as parameters: the MLPerf Tiny reference has 24,908
    assert n + n_bn_stats == 24908
    out = m.eval()(torch.zeros(3, 1, 49, 10))
    assert out.shape == (3, 12)
    # stem: 49x10 -> 25x5 (the reference's 'same' padding with stride 2)
    assert m.stem(torch.zeros(1, 1, 49, 10)).shape == (1, 64, 25, 5)


def test_unknown_architecture():
    with pytest.raises(ConfigError, match="unknown architecture 'resnet'"):
        build_model("resnet", 12, (49, 10))


def test_bundled_weights_load_with_their_frontend():
    model, meta = load_weights(DEFAULT_WEIGHTS)
    assert meta["labels"][-2:] == ["_unknown_", "_silence_"] and len(meta["labels"]) == 12
    assert meta["frontend"].shape == (49, 10)
    assert DEFAULT_WEIGHTS.stat().st_size < 1_000_000
    assert (DEFAULT_WEIGHTS.parent / "MODEL_CARD.md").is_file()
    assert 0.5 < meta["eval_accuracy"] <= 1.0


def test_save_load_roundtrip_and_mismatch(tmp_path):
    m = build_model("dscnn", 12, (49, 10)).eval()
    meta = {"arch": "dscnn", "labels": [str(i) for i in range(12)], "frontend": DEFAULT_WEIGHTS and json.loads(
        DEFAULT_WEIGHTS.with_suffix(".json").read_text())["frontend"]}
    save_weights(m, tmp_path / "w.pt", meta)
    m2, meta2 = load_weights(tmp_path / "w.pt")
    x = torch.randn(2, 1, 49, 10)
    assert torch.allclose(m(x), m2(x))
    meta["labels"] = meta["labels"][:5]  # now the classifier does not fit
    (tmp_path / "w.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="do not fit"):
        load_weights(tmp_path / "w.pt")
    with pytest.raises(ModelError, match="not found"):
        load_weights(tmp_path / "missing.pt")


def test_holdout_is_speaker_disjoint_and_seeded():
    speakers = [f"s{i // 5}" for i in range(200)] + [None] * 20
    mask = split_holdout(speakers, 0.1, seed=1)
    held = {s for s, m in zip(speakers, mask) if m and s}
    kept = {s for s, m in zip(speakers, mask) if not m and s}
    assert held and not (held & kept)
    assert np.array_equal(mask, split_holdout(speakers, 0.1, seed=1))


def test_noise_bank_split_halves_do_not_overlap():
    bank = {"a": np.arange(10, dtype=np.float32), "b": np.arange(7, dtype=np.float32)}
    tr, ev = split_noise_bank(bank)
    for k in bank:
        assert len(tr[k]) + len(ev[k]) == len(bank[k])
        assert np.array_equal(np.concatenate([tr[k], ev[k]]), bank[k])


def test_tiny_training_learns_separable_data():
    # two classes of synthetic tones (clearly synthetic): 1 kHz vs 2.5 kHz; the model must beat chance quickly
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    waves, labels = [], []
    for i in range(80):
        f = 1000 if i % 2 == 0 else 2500
        waves.append(0.3 * np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) + 0.01 * rng.standard_normal(16000))
        labels.append(i % 2)
    waves = np.asarray(waves, np.float32)
    labels = np.asarray(labels, np.int64)
    speakers = [f"spk{i % 20}" for i in range(80)]
    cfg = TrainConfig(epochs=6, batch_size=16, lr=5e-3, holdout_frac=0.2, threads=1)
    model, hist = train_model(waves, labels, speakers, ("low", "high"), None, cfg=cfg, progress=False)
    assert hist["holdout_accuracy_best"] >= 0.9
    assert hist["loss"][-1] < hist["loss"][0]
