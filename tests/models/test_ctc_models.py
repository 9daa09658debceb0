"""Word-level CTC models (voxquant.models.ctc) and their trainer (voxquant.models.train_ctc): shapes, strides, sizes,
ONNX parity, a tiny model that learns, weights-file errors."""

import numpy as np
import pytest
import torch

from voxquant.errors import ModelError
from voxquant.models.ctc import CTC_ARCHS, CTC_VOCAB, ConformerCTC, ConvCTC, export_ctc_onnx, load_ctc, n_parameters, save_ctc
from voxquant.models.train_ctc import CTCTrainConfig, greedy_decode, heldout_wer, train_ctc, word_errors

TINY = {"conv": {"channels": 16, "kernels": (5, 7), "repeat": 1, "head_channels": 16, "dropout": 0.0},
        "conformer": {"d_model": 32, "heads": 2, "n_blocks": 1, "ff_mult": 2, "conv_kernel": 5, "sub_channels": 8,
                      "dropout": 0.0}}


@pytest.mark.parametrize("arch", sorted(CTC_ARCHS))
def test_shapes_strides_and_size(arch):
    m = CTC_ARCHS[arch]().eval()
    assert m.arch == arch and m.vocab == CTC_VOCAB and len(CTC_VOCAB) == 21 and CTC_VOCAB[0] == "<blank>"
    assert m.stride == {"conv": 2, "conformer": 4}[arch]
    lo, hi = {"conv": (3e5, 1e6), "conformer": (8e5, 3e6)}[arch]
    assert lo <= n_parameters(m) <= hi
    with torch.no_grad():
        for t in (97, 100, 203):
            y = m(torch.randn(2, 1, t, 40))
            assert y.shape == (2, t // m.stride, 21) and y.dtype == torch.float32
            # log-probabilities: each frame sums to 1 in probability
            assert torch.allclose(y.exp().sum(-1), torch.ones(2, t // m.stride), atol=1e-4)
    with pytest.raises(ModelError, match=r"\[N, 1, T, 40\]"):
        m(torch.randn(2, 1, 100, 10))


def test_vocab_matches_sequences_module():
    seq = pytest.importorskip("voxquant.data.sequences")
    assert tuple(seq.SEQ_VOCAB) == CTC_VOCAB


@pytest.mark.parametrize("arch", sorted(CTC_ARCHS))
def test_onnx_export_equals_torch(arch, tmp_path):
    import onnxruntime as ort

    torch.manual_seed(0)
    m = CTC_ARCHS[arch](**TINY[arch]).eval()
    out = export_ctc_onnx(m, tmp_path / f"{arch}.onnx", n_frames=120)
    assert out.is_file() and not list(tmp_path.glob("*.data"))          # one self-contained file
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).normal(-4, 2, (3, 1, 120, 40)).astype(np.float32)   # batch 3: dynamic batch
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    with torch.no_grad():
        ref = m(torch.from_numpy(x)).numpy()
    assert got.shape == (3, 120 // m.stride, 21)
    np.testing.assert_allclose(got, ref, atol=1e-3)


def _toy_batch(n_words_max=3, batch=8, frames_per_word=12, gap=4):
    """Stand-in generator (features, not audio): word k lights mel bins 2k..2k+1 for a dozen frames, random gaps."""
    def make(step, rng):
        targets, rows = [], []
        for _ in range(batch):
            words = list(rng.integers(1, 6, size=int(rng.integers(1, n_words_max + 1))))
            x = np.full((gap + len(words) * (frames_per_word + gap) + 8, 40), -6.0, np.float32)
            t = gap
            for w in words:
                x[t : t + frames_per_word, 2 * w : 2 * w + 2] = 2.0
                t += frames_per_word + int(rng.integers(gap, gap + 3))
            rows.append(x)
            targets.append([int(w) for w in words])
        t_max = max(len(r) for r in rows)
        out = np.full((batch, 1, t_max, 40), -6.0, np.float32)
        for i, r in enumerate(rows):
            out[i, 0, : len(r)] = r
        return out + rng.normal(0, 0.3, out.shape).astype(np.float32), targets
    return make


@pytest.mark.parametrize("arch", sorted(CTC_ARCHS))
def test_tiny_model_learns(arch):
    torch.manual_seed(0)
    m = CTC_ARCHS[arch](**TINY[arch])
    make = _toy_batch()
    xh, th = make(0, np.random.default_rng(123))
    refs = [tuple(CTC_VOCAB[i] for i in t) for t in th]
    cfg = CTCTrainConfig(lr=1e-2, max_minutes=2.0, max_steps=60, threads=1, eval_every_s=1e9, freq_masks=0,
                         time_masks_per_s=0.0)
    wer0 = heldout_wer(m, xh, refs)
    m, hist = train_ctc(m, make, cfg, heldout=(xh, refs))
    assert hist["steps"] == 60 and hist["utterances"] == 480
    first, last = np.mean(hist["loss"][:5]), np.mean(hist["loss"][-5:])
    assert last < 0.5 * first, (first, last)
    assert hist["best_wer"] < wer0 and not m.training


def test_greedy_decode_and_word_errors():
    v = ("<blank>", "a", "b")
    lp = np.log(np.eye(3)[[0, 1, 1, 0, 1, 2, 2, 0]] * 0.97 + 0.01)
    assert greedy_decode(lp, v) == ("a", "a", "b")
    assert word_errors(("a", "b", "c"), ("a", "c")) == 1
    assert word_errors(("a",), ()) == 1 and word_errors((), ("x", "y")) == 2
    assert word_errors(("a", "b"), ("b", "a")) == 2


def test_save_load_roundtrip_and_errors(tmp_path):
    torch.manual_seed(0)
    m = ConvCTC(**TINY["conv"]).eval()
    p = save_ctc(m, tmp_path / "m.pt", {"config": TINY["conv"], "train": {"note": "x"}})
    m2, meta = load_ctc(p)
    assert meta["arch"] == "conv" and meta["task"] == "sequence" and meta["frontend"]["n_mels"] == 40
    x = torch.randn(1, 1, 50, 40)
    with torch.no_grad():
        assert torch.equal(m(x), m2(x))
    bad = tmp_path / "garbage.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(ModelError, match="garbage.pt"):
        load_ctc(bad)
    clf = tmp_path / "classifier.pt"
    torch.save(m.state_dict(), clf)                       # a bare state dict, no task='sequence'
    with pytest.raises(ModelError, match="classifier.pt.*sequence"):
        load_ctc(clf)
    wrong = tmp_path / "wrong.pt"
    save_ctc(ConformerCTC(**TINY["conformer"]), wrong, {"config": TINY["conv"]})   # config of another arch
    with pytest.raises(ModelError, match="wrong.pt"):
        load_ctc(wrong)
    with pytest.raises(ModelError, match="missing.pt"):
        load_ctc(tmp_path / "missing.pt")


def test_pretrain_words_learns_a_separable_word_task_and_freezes_batchnorm():
    import torch

    from voxquant.models.ctc import ConvCTC
    from voxquant.models.train_ctc import freeze_batchnorm, pretrain_words

    torch.manual_seed(0)
    m = ConvCTC(channels=16, kernels=(5,), repeat=1, head_channels=16)

    def batch(rng):  # "word" k = energy in mel band 2k in the middle of the clip
        y = rng.integers(1, 5, 16)
        x = rng.normal(-5, 0.3, (16, 1, 60, 40)).astype(np.float32)
        for i, k in enumerate(y):
            x[i, 0, 20:40, 2 * k] += 6.0
        return x, y

    info = pretrain_words(m, batch, minutes=0.15, lr=3e-3, threads=1)
    assert info["steps"] > 20 and info["accuracy_last_100"] > 0.6  # 4 classes: chance is 0.25
    m.train()
    assert freeze_batchnorm(m) > 0 and not any(b.training for b in m.modules() if isinstance(b, torch.nn.BatchNorm2d))
