"""Tests of voxquant.eval.ctc: CTC decoding (greedy, grammar-constrained Viterbi), WER counts and speaker-bootstrap
statistics, on hand-made log-probabilities and counts."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field

import numpy as np
import pytest

from voxquant.eval.ctc import (
    _Compiled,
    _viterbi,
    bootstrap_wer,
    corpus_wer,
    decode_batch,
    grammar_decode,
    greedy_decode,
    group_wer,
    paired_wer_diff,
    sentence_correct,
    sequence_metrics,
    wer_counts,
)

VOCAB = ("<blank>", "one", "two", "go", "left")
LOW = -20.0  # log-prob of the tokens not favoured in a hand-made frame


@dataclass(frozen=True)
class FSA:
    """Minimal grammar with the attributes eval.ctc reads."""

    start: int
    finals: frozenset
    arcs: dict = field(default_factory=dict)

    def accepts(self, words) -> bool:
        q = self.start
        for w in words:
            q = self.arcs.get(q, {}).get(w)
            if q is None:
                return False
        return q in self.finals


#: "go left" or "go" + 1..2 digits, or 1..3 digits.
CMD = FSA(0, frozenset({2, 3, 4, 5, 6, 7}), {
    0: {"go": 1, "one": 5, "two": 5},
    1: {"left": 2, "one": 3, "two": 3},
    3: {"one": 4, "two": 4},
    5: {"one": 6, "two": 6},
    6: {"one": 7, "two": 7},
})


def frames(*tokens: str, vocab=VOCAB, second: dict | None = None) -> np.ndarray:
    """``float32 [T', V]``: frame t favours ``tokens[t]`` ("-" = blank) at log-prob ~0, others at LOW; ``second``
    {t: (token, logp)} raises one more token of frame t."""
    x = np.full((len(tokens), len(vocab)), LOW, dtype=np.float32)
    for t, tok in enumerate(tokens):
        x[t, 0 if tok == "-" else vocab.index(tok)] = -0.01
    for t, (tok, lp) in (second or {}).items():
        x[t, vocab.index(tok)] = lp
    return x


# ------------------------------------------------------------------------------------------------------ decoding


def test_greedy_collapses_repeats_and_drops_blanks():
    assert greedy_decode(frames("-", "go", "go", "-", "left", "left", "-"), VOCAB) == ("go", "left")
    # a word repeated with no blank between is one word; with a blank it is two
    assert greedy_decode(frames("one", "one", "one"), VOCAB) == ("one",)
    assert greedy_decode(frames("one", "-", "one"), VOCAB) == ("one", "one")
    assert greedy_decode(frames("-", "-"), VOCAB) == ()
    assert greedy_decode(np.zeros((0, len(VOCAB)), np.float32), VOCAB) == ()


def test_grammar_decode_equals_greedy_when_greedy_is_accepted():
    x = frames("-", "go", "-", "two", "two", "-")
    assert CMD.accepts(greedy_decode(x, VOCAB))
    assert grammar_decode(x, VOCAB, CMD) == greedy_decode(x, VOCAB) == ("go", "two")


def test_grammar_decode_picks_best_accepted_path_when_greedy_is_rejected():
    # greedy reads "left go" (not accepted); the runner-ups of frames 1 and 3 make "go left" (score -3) the best
    # accepted path ("go" alone ends in the non-final state 1)
    x = frames("-", "left", "-", "go", "-", second={1: ("go", -1.0), 3: ("left", -2.0)})
    assert greedy_decode(x, VOCAB) == ("left", "go")
    assert not CMD.accepts(("left", "go"))
    assert grammar_decode(x, VOCAB, CMD) == ("go", "left")
    # a cheaper accepted alternative wins over a costlier one: "one two" via frame 1/3 runner-ups
    y = frames("-", "left", "-", "go", "-", second={1: ("one", -1.0), 3: ("two", -1.5)})
    assert grammar_decode(y, VOCAB, CMD) == ("one", "two")


def test_repeated_word_needs_a_blank_between():
    g = FSA(0, frozenset({2}), {0: {"one": 1}, 1: {"one": 2}})  # exactly "one one"
    # three "one" frames with no blank: greedy reads one word; the grammar needs a blank, so the weakest frame
    # (frame 1, blank runner-up at -1) turns blank
    x = frames("one", "one", "one", second={1: ("<blank>", -1.0)})
    assert greedy_decode(x, VOCAB) == ("one",)
    assert grammar_decode(x, VOCAB, g) == ("one", "one")
    # two frames cannot hold "one - one": nothing is accepted
    assert grammar_decode(frames("one", "one"), VOCAB, g) == ()


def test_grammar_decode_returns_empty_when_nothing_is_accepted():
    x = frames("go", "-")
    only_long = FSA(0, frozenset({3}), {0: {"go": 1}, 1: {"left": 2}, 2: {"one": 3}})  # only "go left one"
    assert grammar_decode(x, VOCAB, only_long) == ()  # 2 frames < 3 words
    assert grammar_decode(np.zeros((0, len(VOCAB)), np.float32), VOCAB, only_long) == ()  # no frames
    # a grammar accepting the empty sentence, best path all blank -> ()
    empty_ok = FSA(0, frozenset({0, 1}), {0: {"go": 1}})
    assert grammar_decode(frames("-", "-", "-"), VOCAB, empty_ok) == ()


def test_grammar_decode_brute_force_on_tiny_random_logits():
    """Enumerate all V^T' paths: Viterbi's score is the best accepted path's and its words that path's."""
    vocab = ("<blank>", "a", "b", "c")
    grammars = [
        FSA(0, frozenset({2}), {0: {"a": 1, "b": 0}, 1: {"b": 2, "a": 1}, 2: {"c": 1}}),  # loops, self-loops
        FSA(0, frozenset({0, 2}), {0: {"a": 1}, 1: {"a": 2}, 2: {"b": 0}}),              # accepts the empty sentence
        FSA(5, frozenset({7}), {5: {"c": 6}, 6: {"c": 7}, 7: {"c": 7}}),                   # "c c" (+ more c)
    ]
    rng = np.random.default_rng(0)
    paths = np.array(list(itertools.product(range(4), repeat=6)))
    for g in grammars:
        comp = _Compiled(vocab, g)
        for _ in range(15):
            x = rng.normal(0, 2, (6, 4)).astype(np.float32)
            x -= np.log(np.exp(x).sum(1, keepdims=True))
            scores = x.astype(np.float64)[np.arange(6), paths].sum(1)
            best, best_words = -np.inf, ()
            for p, s in zip(paths, scores):
                w = greedy_decode(np.eye(4, dtype=np.float32)[p], vocab)
                if s > best and g.accepts(w):
                    best, best_words = s, w
            ids, sc = _viterbi(x[None], comp, np.array([6]))
            assert sc[0] == pytest.approx(best, abs=1e-9)
            assert tuple(vocab[i] for i in ids[0]) == best_words
            assert grammar_decode(x, vocab, g) == best_words


def test_decode_batch_lengths_and_padding():
    a = frames("-", "go", "-", "left", "-", "-")
    b = frames("two", "-", "one", "one", "-", "-")  # padded: frames >= 3 are ignored
    b[3:, :] = LOW
    b[3:, VOCAB.index("left")] = 0.0  # padding that would add "left" if read
    x = np.stack([a, b])
    lengths = np.array([6, 3])
    assert decode_batch(x, VOCAB, lengths=lengths) == [("go", "left"), ("two", "one")]
    assert decode_batch(x, VOCAB, CMD, lengths=lengths) == [("go", "left"), ("two", "one")]
    assert decode_batch(x, VOCAB, CMD, lengths=np.array([6, 0])) == [("go", "left"), ()]
    # batch decoding equals one-by-one decoding
    rng = np.random.default_rng(1)
    r = rng.normal(0, 3, (5, 30, len(VOCAB))).astype(np.float32)
    lens = np.array([30, 12, 1, 25, 30])
    assert decode_batch(r, VOCAB, CMD, lens) == [grammar_decode(r[i, : lens[i]], VOCAB, CMD) for i in range(5)]


def test_decoding_rejects_bad_input():
    with pytest.raises(ValueError, match="tokens per frame"):
        greedy_decode(np.zeros((3, 4), np.float32), VOCAB)
    with pytest.raises(ValueError, match="NaN"):
        grammar_decode(np.full((3, len(VOCAB)), np.nan, np.float32), VOCAB, CMD)
    with pytest.raises(ValueError, match="'stop'"):
        grammar_decode(frames("-"), VOCAB, FSA(0, frozenset({1}), {0: {"stop": 1}}))
    with pytest.raises(ValueError, match="lengths"):
        decode_batch(np.zeros((2, 3, len(VOCAB)), np.float32), VOCAB, lengths=np.array([1, 4]))


# ----------------------------------------------------------------------------------------------------------- WER


def test_wer_counts_hand_counted():
    refs = [("go", "left"), ("one", "two", "three"), ("one", "two"), ("stop",), ("one", "two", "three")]
    hyps = [("go", "left"), ("one", "three"), ("one", "two", "two", "go"), (), ("four", "two", "three")]
    c = wer_counts(refs, hyps)
    assert c.dtype == np.int64 and c.shape == (5, 4)
    np.testing.assert_array_equal(c, [[0, 0, 0, 2],   # exact
                                      [0, 1, 0, 3],   # "two" deleted
                                      [0, 0, 2, 2],   # two inserted words
                                      [0, 1, 0, 1],   # empty hypothesis: every reference word deleted
                                      [1, 0, 0, 3]])  # one substitution
    assert corpus_wer(c) == pytest.approx(5 / 11)
    np.testing.assert_array_equal(sentence_correct(refs, hyps), [True, False, False, False, False])
    assert wer_counts(["go left"], ["go"]).tolist() == [[0, 1, 0, 2]]  # strings are split on spaces


def test_wer_counts_rejects_empty_reference_and_mismatch():
    with pytest.raises(ValueError, match="empty"):
        wer_counts([()], [("go",)])
    with pytest.raises(ValueError, match="paired"):
        wer_counts([("go",)], [])


# ---------------------------------------------------------------------------------------------------- statistics


def _synthetic_counts(n_spk: int, per_spk: int, p_err: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = n_spk * per_spk
    words = rng.integers(1, 8, n)
    sub = rng.binomial(words, p_err)
    counts = np.stack([sub, np.zeros(n, int), rng.binomial(1, p_err, n), words], 1).astype(np.int64)
    return counts, np.repeat([f"spk{i}" for i in range(n_spk)], per_spk)


def test_bootstrap_wer_ci_contains_estimate_and_shrinks_with_more_speakers():
    small, cl_s = _synthetic_counts(8, 10, 0.1, 0)
    large, cl_l = _synthetic_counts(200, 10, 0.1, 0)
    w, lo, hi = bootstrap_wer(small, cl_s, n_boot=1000, seed=0)
    assert w == corpus_wer(small) and lo < w < hi
    w2, lo2, hi2 = bootstrap_wer(large, cl_l, n_boot=1000, seed=0)
    assert lo2 < w2 < hi2
    assert hi2 - lo2 < 0.5 * (hi - lo)
    assert bootstrap_wer(small, cl_s, n_boot=1000, seed=0) == (w, lo, hi)  # deterministic in the seed


def test_bootstrap_resamples_speakers_not_utterances():
    # two speakers: one always wrong, one always right; with speakers as units the CI is wide
    counts = np.array([[1, 0, 0, 1]] * 50 + [[0, 0, 0, 1]] * 50)
    spk = np.array(["a"] * 50 + ["b"] * 50)
    _, lo, hi = bootstrap_wer(counts, spk, n_boot=500)
    _, lo_u, hi_u = bootstrap_wer(counts, np.arange(100), n_boot=500)
    assert lo == 0.0 and hi == 1.0
    assert hi_u - lo_u < 0.4


def test_paired_wer_diff_identical_is_zero_and_sign_is_variant_minus_reference():
    ref, cl = _synthetic_counts(20, 5, 0.1, 1)
    assert paired_wer_diff(ref, ref.copy(), cl, n_boot=500) == (0.0, 0.0, 0.0)
    worse = ref.copy()
    worse[:, 0] = np.minimum(worse[:, 0] + 1, worse[:, 3])  # one more substitution per utterance where possible
    d, lo, hi = paired_wer_diff(ref, worse, cl, n_boot=500)
    assert d == pytest.approx(100 * (corpus_wer(worse) - corpus_wer(ref)))
    assert 0 < lo <= d <= hi
    with pytest.raises(ValueError, match="same utterances"):
        paired_wer_diff(ref, ref[:-1], cl)


def test_group_wer_shape_and_worst_decile():
    ref, cl = _synthetic_counts(20, 5, 0.05, 2)
    var = ref.copy()
    # the variant fails every utterance of accent "b"
    accent = np.where(np.arange(len(cl)) < 50, "a", "b")
    var[accent == "b", 0] = var[accent == "b", 3]
    var[accent == "b", 2] = 0
    # speakers 0 and 1 are the reference's worst: give them many reference errors
    bad = np.isin(cl, ["spk0", "spk1"])
    ref[bad, 2] += 5
    var[bad, 2] = ref[bad, 2]
    out = group_wer(ref, var, {"accent": accent, "device": np.array([""] * len(cl))}, cl, n_boot=300)
    json.dumps(out)  # JSON-able
    rows = {e["group"]: e for e in out["columns"]["accent"]}
    assert set(rows) == {"a", "b"} and out["columns"]["device"] == []  # "" = unknown
    assert rows["b"]["wer"] == 1.0 and rows["b"]["drop"] > 0 and rows["b"]["significant"]
    assert rows["b"]["sentence_drop"] > 0 and rows["b"]["n"] == 50 and rows["b"]["n_speakers"] == 10
    assert rows["a"]["n"] == 50
    wd = out["worst_decile"]
    assert wd["speakers"] == ["spk0", "spk1"] and wd["n_speakers_total"] == 20 and wd["n"] == 10
    assert wd["drop"] == pytest.approx(100 * (corpus_wer(var[bad]) - corpus_wer(ref[bad])))
    assert len(out["per_speaker"]) == 20


def test_sequence_metrics_is_json_and_consistent():
    refs = [("go", "left"), ("one", "two"), ("one",)]
    hyps = [("go", "left"), ("one",), ("two", "go")]
    m = sequence_metrics(refs, hyps, ["s1", "s1", "s2"], n_boot=200)
    json.dumps(m)
    assert (m["substitutions"], m["deletions"], m["insertions"]) == (1, 1, 1)
    assert m["wer"] == pytest.approx(3 / 5) and m["ser"] == pytest.approx(2 / 3)
    assert (m["n_utts"], m["n_words"], m["n_speakers"]) == (3, 5, 2)
    assert m["wer_ci95"][0] <= m["wer"] <= m["wer_ci95"][1]
