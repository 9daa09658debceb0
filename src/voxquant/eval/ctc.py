"""Decoding and scoring of word-level CTC command recognisers: greedy / grammar-constrained decoding, WER, SER and
speaker-cluster bootstrap statistics.

A sequence model emits per output frame CTC log-probabilities ``float32 [T', V]`` over ``V`` tokens, token 0 being the
CTC *blank* and tokens ``1..V-1`` whole words (``vocab[i]``). A frame path ``pi`` in ``{0..V-1}^T'`` maps to a word
sequence by merging consecutive repeats and then dropping blanks (Graves, Fernandez, Gomez & Schmidhuber 2006,
"Connectionist temporal classification: labelling unsegmented sequence data with recurrent neural networks",
ICML; the many-to-one map ``B``), so a word said twice ("one one") needs a blank between its two runs.

* :func:`greedy_decode` - the best path (arg-max per frame), collapsed ("best path decoding", Graves et al. 2006 s. 3.2).
* :func:`grammar_decode` - the best path whose word sequence a finite-state grammar accepts: exact Viterbi over the
  product of the CTC topology and the grammar's states (the token-passing view of CTC + FSA decoding, e.g. Miao, Gowayyed
  & Metze 2015, "EESEN: end-to-end speech recognition using deep RNN models and WFST-based decoding", ASRU).
* :func:`wer_counts` / :func:`corpus_wer` / :func:`sentence_correct` - word error rate: the minimum number of word
  substitutions ``S``, deletions ``D`` and insertions ``I`` turning the reference into the hypothesis (Levenshtein
  alignment), ``WER = (S + D + I) / N_ref`` pooled over the corpus (as NIST sclite; computed with ``jiwer``).
* :func:`bootstrap_wer` / :func:`paired_wer_diff` / :func:`group_wer` - percentile bootstrap confidence intervals that
  resample *speakers* (clusters), not utterances, since the errors of one speaker are correlated (Bisani & Ney 2004,
  "Bootstrap estimates for confidence intervals in ASR performance evaluation", ICASSP; Efron & Tibshirani 1993,
  *An Introduction to the Bootstrap*, ch. 13). The WER of a resample is the sum of its errors over the sum of its
  reference words.

A *grammar* here is any object with ``start: int``, ``finals: frozenset[int]`` and ``arcs: dict[int, dict[str, int]]``
(state -> {word: next state}): a deterministic finite-state acceptor over words without epsilon arcs (e.g.
:class:`voxquant.data.sequences.Grammar`; this module does not import it).

Units: WER and SER are fractions in [0, 1] (WER can exceed 1 with many insertions); differences and drops are in
percentage points (pp), variant minus reference, positive = the variant is worse.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from voxquant.eval.stats import _MAX_INDICES_PER_CHUNK, is_significant
from voxquant.eval.stream_groups import WORST_SHARE

__all__ = [
    "bootstrap_wer",
    "corpus_wer",
    "decode_batch",
    "grammar_decode",
    "greedy_decode",
    "group_wer",
    "paired_wer_diff",
    "sentence_correct",
    "sequence_metrics",
    "wer_counts",
]

#: Columns of :func:`wer_counts`.
COUNT_COLUMNS = ("substitutions", "deletions", "insertions", "ref_words")

#: Utterances decoded together by :func:`decode_batch` (bounds the float64 score and back-pointer memory).
_DECODE_CHUNK = 32


# ------------------------------------------------------------------------------------------------------ decoding


def _check_logp(logp, vocab, ndim: int) -> np.ndarray:
    a = np.asarray(logp)
    if a.ndim != ndim:
        want = "[T', V]" if ndim == 2 else "[N, T', V]"
        raise ValueError(f"CTC log-probabilities must be {want}, got shape {a.shape}")
    if a.shape[-1] != len(vocab):
        raise ValueError(f"CTC output has {a.shape[-1]} tokens per frame but the vocabulary has {len(vocab)}")
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"CTC log-probabilities must be floating point, got dtype {a.dtype}")
    if np.isnan(a).any() or np.isposinf(a).any():
        raise ValueError("CTC log-probabilities contain NaN or +inf")
    return a


def _collapse(tokens: np.ndarray, vocab: Sequence[str]) -> tuple[str, ...]:
    """Graves et al.'s map B on one token path ``int [T']``: merge repeats, drop blanks (token 0)."""
    if tokens.size == 0:
        return ()
    keep = np.ones(tokens.shape, dtype=bool)
    keep[1:] = tokens[1:] != tokens[:-1]
    keep &= tokens != 0
    return tuple(vocab[int(i)] for i in tokens[keep])


def greedy_decode(logp: np.ndarray, vocab: Sequence[str]) -> tuple[str, ...]:
    """Best-path CTC decoding: the arg-max token of every frame, repeats merged, blanks dropped.

    Args:
        logp: ``float [T', V]`` per-frame CTC log-probabilities (any per-frame scores: only the arg-max is used);
            token 0 is the blank.
        vocab: ``V`` token names, ``vocab[0]`` the blank.

    Returns:
        The word sequence (tuple of ``vocab`` entries; ``()`` when every frame is blank or ``T' = 0``).

    Raises:
        ValueError: ``logp`` not 2-D, not floating point, containing NaN/+inf, or with ``V != len(vocab)``.
    """
    a = _check_logp(logp, vocab, 2)
    return _collapse(a.argmax(axis=1) if a.shape[0] else np.zeros(0, np.int64), vocab)


class _Compiled:
    """Product of the CTC topology and a grammar, as a sparse max-plus transition table.

    Product states: ``S`` *blank* states ``(q, blank)`` (grammar state ``q``, last frame blank or nothing emitted yet)
    then one *word* state ``(q, w)`` per distinct (arc target ``q``, arc word ``w``): inside word ``w`` whose arc led to
    ``q``. Per frame a state is entered from (``inc[j]``, padded with the sentinel ``n`` whose score is -inf):
    itself (blank or word repeat), a blank state from its grammar state's word states (word ends), a word state
    ``(q', w)`` from every source of an arc ``q -w-> q'``: ``(q, blank)`` and ``(q, c)`` for ``c != w`` (a repeat of
    ``w`` needs a blank in between).
    """

    def __init__(self, vocab: Sequence[str], grammar) -> None:
        try:
            start, finals, arcs = int(grammar.start), frozenset(grammar.finals), grammar.arcs
        except (AttributeError, TypeError) as exc:
            raise ValueError(f"grammar needs start, finals and arcs ({exc})") from None
        index = {w: i for i, w in enumerate(vocab)}
        states = sorted({start, *finals, *arcs, *(q for d in arcs.values() for q in d.values())})
        sidx = {q: i for i, q in enumerate(states)}
        S = len(states)
        words = set()
        for q, d in arcs.items():
            for w in d:
                if w not in index or index[w] == 0:
                    raise ValueError(f"grammar word {w!r} (arc from state {q}) is not a word of the model's "
                                     f"vocabulary {tuple(vocab[1:])}")
                words.add((sidx[d[w]], index[w]))
        word_states = sorted(words)
        n = S + len(word_states)
        self.n = n
        self.tok = np.array([0] * S + [v for _, v in word_states], dtype=np.int64)
        self.gstate = np.array(list(range(S)) + [q for q, _ in word_states], dtype=np.int64)
        self.start = sidx[start]
        self.final = np.isin(self.gstate, [sidx[q] for q in finals])
        wid = {ws: S + k for k, ws in enumerate(word_states)}
        by_state: dict[int, list[int]] = {}
        for (q, v), j in wid.items():
            by_state.setdefault(q, []).append(j)
        inc: list[list[int]] = [[j] for j in range(n)]
        for q in range(S):
            inc[q].extend(by_state.get(q, []))
        for q, d in arcs.items():
            s = sidx[q]
            for w, q2 in d.items():
                v = index[w]
                j = wid[(sidx[q2], v)]
                inc[j].append(s)
                inc[j].extend(i for i in by_state.get(s, []) if self.tok[i] != v)
        width = max(len(r) for r in inc)
        self.inc = np.full((n, width), n, dtype=np.int64)
        for j, r in enumerate(inc):
            self.inc[j, : len(r)] = r


def _viterbi(logp: np.ndarray, g: _Compiled, lengths: np.ndarray) -> tuple[list[tuple[int, ...]], np.ndarray]:
    """Max-plus forward pass + back-trace over ``logp float [N, T', V]`` (frames ``>= lengths[i]`` ignored).

    Returns the token ids of each utterance's best accepted word sequence and its path score ``float64 [N]``
    (``-inf`` and ``()`` where no path reaches a final state).
    """
    N, T, _ = logp.shape
    n = g.n
    P = g.inc.shape[1]
    # Per-frame scores of every product state, float64 so long sums keep the exact order of float32 inputs.
    lps = logp[:, :, g.tok].astype(np.float64)  # [N, T, n]
    D = np.full((N, n + 1), -np.inf)  # column n: the -inf sentinel of the padded in-edge lists
    D[:, g.start] = 0.0  # before frame 0: in the start state, nothing emitted
    # bp[t, i, j]: which in-edge of state j (column of g.inc) the best path used at frame t; edge 0 is the state
    # itself, so frames past an utterance's length (score frozen) back-trace as "stay".
    bp = np.zeros((T, N, n), dtype=np.int8 if P < 128 else np.int32)
    gather = (g.inc[None, :, :] + (np.arange(N) * (n + 1))[:, None, None]).astype(np.intp)  # [N, n, P] into D.ravel()
    Dflat = D.reshape(-1)
    pick = np.arange(N * n, dtype=np.intp).reshape(N, n) * P
    Dn = D[:, :n]
    ragged = bool((lengths < T).any())
    for t in range(T):
        cand = Dflat[gather]  # [N, n, P]
        arg = cand.argmax(axis=2)
        best = cand.reshape(-1)[pick + arg]  # (a max over the short last axis is ~4x slower than this gather)
        if ragged:
            live = (t < lengths)[:, None]
            Dn[...] = np.where(live, best + lps[:, t], Dn)
            bp[t] = np.where(live, arg, 0)
        else:
            np.add(best, lps[:, t], out=Dn)
            bp[t] = arg
    fin = np.where(g.final[None, :], D[:, :n], -np.inf)
    cur = fin.argmax(axis=1)
    score = fin[np.arange(N), cur]
    path = np.empty((T, N), dtype=np.int64)
    rows = np.arange(N)
    for t in range(T - 1, -1, -1):
        path[t] = cur
        cur = g.inc[cur, bp[t, rows, cur]]
    # cur is now the state before frame 0 (the start blank state for every reachable path)
    out = []
    for i in range(N):
        if not np.isfinite(score[i]) or T == 0:
            out.append(())
            continue
        p = path[:, i]
        prev = np.concatenate(([g.start], p[:-1]))
        entered = (p != prev) & (g.tok[p] != 0)
        out.append(tuple(int(v) for v in g.tok[p[entered]]))
    return out, score


def grammar_decode(logp: np.ndarray, vocab: Sequence[str], grammar) -> tuple[str, ...]:
    """Grammar-constrained CTC decoding: the best single path whose word sequence the grammar accepts.

    Exact Viterbi (max-plus dynamic programming) over the product of the CTC topology (blank / word tokens; a run of
    one word is one word; the same word twice needs a blank between, Graves et al. 2006) and the grammar's states:
    per frame and product state (grammar state, current token) the best log-score of a path prefix, vectorised with
    numpy over the product states; then a back-trace from the best state whose grammar state is final. It maximises
    the score of one frame path (Viterbi), not the summed probability of all paths of a word sequence.

    Cost: ``O(T' * n * P)`` with ``n`` product states (grammar states + distinct (arc target, word) pairs) and ``P``
    the largest in-degree; a Python loop over frames with ~6 numpy calls each, on float64 scores. Measured (numpy
    2.4, one core of a shared 2-core x86-64 VM, best of 7): ``T' = 700``, ``V = 21``, a 13-state digit-string grammar
    (1-12 digits; n = 133, P = 11): about 6 ms for one utterance, about 3 ms per utterance when
    :func:`decode_batch` decodes 32 together.

    Args:
        logp: ``float [T', V]`` per-frame CTC log-probabilities (float32 model output; any per-frame scores work);
            token 0 is the blank.
        vocab: ``V`` token names, ``vocab[0]`` the blank; every grammar word must be one of ``vocab[1:]``.
        grammar: ``start: int``, ``finals: frozenset[int]``, ``arcs: dict[int, dict[str, int]]`` (deterministic,
            no epsilon arcs).

    Returns:
        The accepted word sequence of the best accepted path; ``()`` when no path reaches a final state (e.g. fewer
        frames than the shortest sentence needs) and also when the best accepted path is all blank (the grammar
        accepts the empty sequence).

    Raises:
        ValueError: ``logp`` not ``[T', V]`` floating point without NaN/+inf, ``V != len(vocab)``, a grammar word
            missing from ``vocab``, or a grammar without ``start``/``finals``/``arcs``.
    """
    a = _check_logp(logp, vocab, 2)
    return decode_batch(a[None], vocab, grammar)[0]


def decode_batch(logp: np.ndarray, vocab: Sequence[str], grammar=None,
                 lengths: np.ndarray | None = None) -> list[tuple[str, ...]]:
    """Decode a batch of CTC outputs: greedy (``grammar=None``) or grammar-constrained (:func:`grammar_decode`).

    Args:
        logp: ``float [N, T', V]`` CTC log-probabilities of ``N`` utterances (padded to ``T'`` frames).
        vocab: ``V`` token names, ``vocab[0]`` the blank.
        grammar: ``None`` for best-path decoding, else a grammar as in :func:`grammar_decode`.
        lengths: ``int [N]`` valid output frames per utterance (``0 <= lengths[i] <= T'``); ``None`` = all ``T'``.
            Frames past an utterance's length are ignored (its padding never produces words).

    Returns:
        ``N`` word sequences (tuples of ``vocab`` entries), in order.

    Raises:
        ValueError: as :func:`grammar_decode`; ``lengths`` not ``[N]`` integers in ``[0, T']``.
    """
    a = _check_logp(logp, vocab, 3)
    N, T, _ = a.shape
    if lengths is None:
        L = np.full(N, T, dtype=np.int64)
    else:
        L = np.asarray(lengths)
        if L.shape != (N,) or not (np.issubdtype(L.dtype, np.integer) or L.size == 0):
            raise ValueError(f"lengths must be int [N={N}], got shape {L.shape} dtype {L.dtype}")
        L = L.astype(np.int64)
        if L.size and (L.min() < 0 or L.max() > T):
            raise ValueError(f"lengths must lie in [0, T'={T}], got {int(L.min())}..{int(L.max())}")
    vocab = tuple(vocab)
    if grammar is None:
        return [_collapse(a[i, : L[i]].argmax(axis=1) if L[i] else np.zeros(0, np.int64), vocab) for i in range(N)]
    g = _Compiled(vocab, grammar)
    out: list[tuple[str, ...]] = []
    for s in range(0, N, _DECODE_CHUNK):
        Lc = L[s : s + _DECODE_CHUNK]
        Tc = int(Lc.max()) if Lc.size else 0
        ids, _ = _viterbi(a[s : s + _DECODE_CHUNK, :Tc], g, Lc)
        out.extend(tuple(vocab[v] for v in seq) for seq in ids)
    return out


# ----------------------------------------------------------------------------------------------------------- WER


def _words(x, what: str, i: int) -> tuple[str, ...]:
    if isinstance(x, str):
        return tuple(x.split())
    ws = tuple(str(w) for w in x)
    for w in ws:
        if not w or w != w.strip() or len(w.split()) != 1:
            raise ValueError(f"{what} {i}: word {w!r} is empty or contains whitespace")
    return ws


def wer_counts(refs: Sequence, hyps: Sequence) -> np.ndarray:
    """Per-utterance word error counts (Levenshtein alignment of reference and hypothesis words).

    Each pair is aligned by ``jiwer.process_words`` (words joined with single spaces); an empty hypothesis counts
    every reference word as a deletion. Where several minimal alignments exist, jiwer's choice is kept (e.g. "a b c"
    -> "a c d" is 2 substitutions, not a deletion and an insertion; the total is the same).

    Args:
        refs: ``N`` reference word sequences (tuples of words, or space-separated strings).
        hyps: ``N`` hypothesis word sequences, same order.

    Returns:
        ``int64 [N, 4]``: per utterance (substitutions, deletions, insertions, reference words) (:data:`COUNT_COLUMNS`).

    Raises:
        ValueError: different lengths, an empty reference (the data layer refuses empty transcripts), a word with
            whitespace.
    """
    import jiwer

    if len(refs) != len(hyps):
        raise ValueError(f"wer_counts needs paired lists: {len(refs)} references vs {len(hyps)} hypotheses")
    out = np.zeros((len(refs), 4), dtype=np.int64)
    for i, (r, h) in enumerate(zip(refs, hyps)):
        rw, hw = _words(r, "reference", i), _words(h, "hypothesis", i)
        if not rw:
            raise ValueError(f"reference {i} is empty: WER is undefined for an empty transcript")
        if not hw:
            out[i] = (0, len(rw), 0, len(rw))
            continue
        o = jiwer.process_words(" ".join(rw), " ".join(hw))
        out[i] = (o.substitutions, o.deletions, o.insertions, len(rw))
    return out


def _check_counts(counts, what: str = "counts") -> np.ndarray:
    c = np.asarray(counts)
    if c.ndim != 2 or c.shape[1] != 4 or c.shape[0] == 0:
        raise ValueError(f"{what} must be int [N >= 1, 4] (S, D, I, ref words), got shape {c.shape}")
    if not np.issubdtype(c.dtype, np.integer):
        if not np.all(np.isfinite(c)) or not np.all(c == np.round(c)):
            raise ValueError(f"{what} must hold integer counts")
    c = c.astype(np.int64)
    if (c < 0).any() or (c[:, 3] < 1).any() or (c[:, 0] + c[:, 1] > c[:, 3]).any():
        raise ValueError(f"{what}: counts must be >= 0, every reference >= 1 word and S + D <= reference words")
    return c


def corpus_wer(counts: np.ndarray) -> float:
    """Pooled word error rate ``(sum S + sum D + sum I) / sum N_ref`` (a fraction; > 1 possible with insertions).

    Args:
        counts: ``int [N, 4]`` from :func:`wer_counts`.

    Raises:
        ValueError: malformed counts (see :func:`wer_counts`).
    """
    c = _check_counts(counts)
    return float(c[:, :3].sum() / c[:, 3].sum())


def sentence_correct(refs: Sequence, hyps: Sequence) -> np.ndarray:
    """``bool [N]``: the hypothesis equals the reference word for word (1 - sentence error).

    Raises:
        ValueError: different lengths, an empty reference.
    """
    if len(refs) != len(hyps):
        raise ValueError(f"sentence_correct needs paired lists: {len(refs)} references vs {len(hyps)} hypotheses")
    out = np.zeros(len(refs), dtype=bool)
    for i, (r, h) in enumerate(zip(refs, hyps)):
        rw = _words(r, "reference", i)
        if not rw:
            raise ValueError(f"reference {i} is empty: WER is undefined for an empty transcript")
        out[i] = rw == _words(h, "hypothesis", i)
    return out


# ---------------------------------------------------------------------------------------------------- statistics


def _cluster_ids(clusters, n: int) -> tuple[np.ndarray, np.ndarray]:
    c = np.asarray(clusters)
    if c.ndim != 1 or c.shape[0] != n:
        raise ValueError(f"clusters must be [N={n}] (one speaker per utterance), got shape {c.shape}")
    names, cid = np.unique(c.astype(str), return_inverse=True)
    return names, cid.ravel()


def _check_boot(n_boot: int, alpha: float) -> int:
    if int(n_boot) < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return int(n_boot)


def _cluster_boot(num: np.ndarray, den: np.ndarray, cid: np.ndarray, n_boot: int, seed: int,
                  alpha: float) -> tuple[float, float]:
    """Percentile CI of ``sum(num) / sum(den)`` when whole clusters are resampled with replacement.

    ``num``/``den`` are per utterance; they are summed per cluster, ``n_c`` clusters are drawn ``n_boot`` times from
    ``default_rng(seed)`` (in chunks of at most ``2**22`` indices) and the ratio of sums is taken per resample. The
    same ``(n_c, n_boot, seed)`` gives the same draws, so paired statistics share their resamples.
    """
    n_c = int(cid.max()) + 1
    num_c = np.bincount(cid, weights=num, minlength=n_c)
    den_c = np.bincount(cid, weights=den, minlength=n_c)
    if not num_c.any():
        return 0.0, 0.0
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_boot, _MAX_INDICES_PER_CHUNK // n_c))
    boot = np.empty(n_boot)
    done = 0
    while done < n_boot:
        m = min(chunk, n_boot - done)
        draws = rng.integers(0, n_c, size=(m, n_c))
        boot[done : done + m] = num_c[draws].sum(axis=1) / den_c[draws].sum(axis=1)
        done += m
    lo, hi = np.percentile(boot, [100.0 * alpha / 2.0, 100.0 * (1.0 - alpha / 2.0)])
    return float(lo), float(hi)


def bootstrap_wer(counts: np.ndarray, clusters, n_boot: int = 2000, seed: int = 0,
                  alpha: float = 0.05) -> tuple[float, float, float]:
    """Corpus WER with a percentile bootstrap CI over speakers (Bisani & Ney 2004).

    Whole clusters (speakers) are resampled with replacement; the WER of a resample is the sum of its errors over the
    sum of its reference words (not a mean of per-utterance WERs).

    Args:
        counts: ``int [N, 4]`` from :func:`wer_counts`.
        clusters: ``[N]`` speaker (any hashable, compared as ``str``) of each utterance.
        n_boot: resamples (>= 1). seed: ``numpy.random.default_rng`` seed. alpha: 1 - confidence level.

    Returns:
        ``(wer, lo, hi)`` as fractions.

    Raises:
        ValueError: malformed counts or clusters, ``n_boot < 1``, ``alpha`` outside (0, 1).
    """
    c = _check_counts(counts)
    n_boot = _check_boot(n_boot, alpha)
    _, cid = _cluster_ids(clusters, c.shape[0])
    err = c[:, :3].sum(axis=1).astype(np.float64)
    lo, hi = _cluster_boot(err, c[:, 3].astype(np.float64), cid, n_boot, seed, alpha)
    return corpus_wer(c), lo, hi


def _paired_pp(num_ref: np.ndarray, num_var: np.ndarray, den: np.ndarray, cid: np.ndarray, n_boot: int, seed: int,
               alpha: float) -> tuple[float, float, float]:
    d = (num_var - num_ref).astype(np.float64)
    lo, hi = _cluster_boot(d, den.astype(np.float64), cid, n_boot, seed, alpha)
    return 100.0 * float(d.sum() / den.sum()), 100.0 * lo, 100.0 * hi


def paired_wer_diff(counts_ref: np.ndarray, counts_var: np.ndarray, clusters, n_boot: int = 2000, seed: int = 0,
                    alpha: float = 0.05) -> tuple[float, float, float]:
    """WER of a variant minus WER of the reference on the same utterances, with a paired speaker-bootstrap CI.

    Both models' errors are summed over the *same* resampled speakers (Bisani & Ney 2004, paired form), so the
    interval reflects only the utterances where they differ. Identical counts give exactly ``(0.0, 0.0, 0.0)``.

    Args:
        counts_ref: ``int [N, 4]`` of the reference (fp32) model (:func:`wer_counts`).
        counts_var: ``int [N, 4]`` of the variant, same utterances and order (same reference words).
        clusters: ``[N]`` speaker of each utterance.
        n_boot, seed, alpha: as :func:`bootstrap_wer`.

    Returns:
        ``(diff_pp, lo_pp, hi_pp)``: ``100 * (WER_var - WER_ref)`` in percentage points (positive = variant worse)
        and its percentile CI.

    Raises:
        ValueError: malformed counts, different shapes or reference word counts, bad clusters / ``n_boot`` / ``alpha``.
    """
    r, v = _paired_counts(counts_ref, counts_var)
    n_boot = _check_boot(n_boot, alpha)
    _, cid = _cluster_ids(clusters, r.shape[0])
    return _paired_pp(r[:, :3].sum(1), v[:, :3].sum(1), r[:, 3], cid, n_boot, seed, alpha)


def _paired_counts(counts_ref, counts_var) -> tuple[np.ndarray, np.ndarray]:
    r = _check_counts(counts_ref, "counts_ref")
    v = _check_counts(counts_var, "counts_var")
    if r.shape != v.shape or not np.array_equal(r[:, 3], v[:, 3]):
        raise ValueError(f"counts_ref and counts_var must cover the same utterances (shapes {r.shape} vs {v.shape}, "
                         "equal reference word counts)")
    return r, v


def _entry(r: np.ndarray, v: np.ndarray, cid: np.ndarray, n_boot: int, seed: int, alpha: float) -> dict:
    """One slice entry over the utterances given (rows of the paired counts, their cluster ids)."""
    _, cid = np.unique(cid, return_inverse=True)
    er, ev = r[:, :3].sum(1), v[:, :3].sum(1)
    drop, lo, hi = _paired_pp(er, ev, r[:, 3], cid, n_boot, seed, alpha)
    ones = np.ones(len(r))
    sdrop, slo, shi = _paired_pp((er > 0).astype(np.float64), (ev > 0).astype(np.float64), ones, cid, n_boot, seed,
                                 alpha)
    return {"n": int(len(r)), "n_speakers": int(cid.max()) + 1, "n_words": int(r[:, 3].sum()),
            "wer_ref": float(er.sum() / r[:, 3].sum()), "wer": float(ev.sum() / r[:, 3].sum()),
            "drop": drop, "ci95": [lo, hi], "significant": is_significant(lo, hi),
            "ser_ref": float((er > 0).mean()), "ser": float((ev > 0).mean()),
            "sentence_drop": sdrop, "sentence_ci95": [slo, shi]}


def group_wer(counts_ref: np.ndarray, counts_var: np.ndarray, groups: Mapping[str, Sequence[str]], clusters,
              n_boot: int = 2000, seed: int = 0, min_utts: int = 1, alpha: float = 0.05) -> dict:
    """WER of reference and variant per group (accent, gender, device, ...) and on the worst-decile speakers.

    The sequence counterpart of :func:`voxquant.engine.group_slices` (clips) and
    :func:`voxquant.eval.stream_groups.group_frr` (streams): every CI is a paired percentile bootstrap that resamples
    speakers inside the group (:func:`paired_wer_diff`). The worst decile is the 10 % of speakers (at least one,
    :data:`voxquant.eval.stream_groups.WORST_SHARE`) with the highest *reference* WER (ties by name), ranked on the
    reference so the selection does not favour the variant; its entry pools their utterances.

    Args:
        counts_ref, counts_var: ``int [N, 4]`` paired counts (:func:`wer_counts`) of the reference and the variant.
        groups: ``{column: str [N]}`` group value of each utterance; ``""`` = unknown (left out of that column).
        clusters: ``[N]`` speaker of each utterance.
        n_boot, seed, alpha: bootstrap resamples, seed, 1 - confidence level.
        min_utts: groups with fewer utterances are left out.

    Returns:
        ``{"columns": {column: [entry + {"group", "name": "<column>=<value>"}]}, "worst_decile": entry +
        {"speakers": [names], "n_speakers_total"}, "per_speaker": [{"speaker", "n", "wer_ref", "wer"}]}`` where an
        entry is ``{"n" (utterances), "n_speakers", "n_words", "wer_ref", "wer" (fractions), "drop" (pp, WER_var -
        WER_ref, positive = worse), "ci95": [lo, hi] (pp), "significant" (CI excludes 0), "ser_ref", "ser"
        (fractions), "sentence_drop" (pp, sentence accuracy ref - var = SER_var - SER_ref), "sentence_ci95"}``.
        Everything is JSON-able.

    Raises:
        ValueError: malformed counts, a group column or ``clusters`` not of length ``N``, bad ``n_boot``/``alpha``.
    """
    r, v = _paired_counts(counts_ref, counts_var)
    n_boot = _check_boot(n_boot, alpha)
    names, cid = _cluster_ids(clusters, r.shape[0])
    out: dict = {"columns": {}, "worst_decile": None, "per_speaker": []}
    for col, vals in groups.items():
        vals = np.asarray(vals).astype(str)
        if vals.shape != (r.shape[0],):
            raise ValueError(f"group column {col!r} has shape {vals.shape} for {r.shape[0]} utterances")
        rows = []
        for g in sorted(set(vals.tolist()) - {""}):
            idx = np.flatnonzero(vals == g)
            if len(idx) < max(1, int(min_utts)):
                continue
            e = {"name": f"{col}={g}", "group": g}
            e.update(_entry(r[idx], v[idx], cid[idx], n_boot, seed, alpha))
            rows.append(e)
        out["columns"][col] = rows
    n_c = len(names)
    err_r = np.bincount(cid, weights=r[:, :3].sum(1), minlength=n_c)
    err_v = np.bincount(cid, weights=v[:, :3].sum(1), minlength=n_c)
    words = np.bincount(cid, weights=r[:, 3], minlength=n_c)
    utts = np.bincount(cid, minlength=n_c)
    wer_r = err_r / words
    k = max(1, int(round(WORST_SHARE * n_c)))
    worst = sorted(range(n_c), key=lambda i: (-wer_r[i], names[i]))[:k]
    idx = np.flatnonzero(np.isin(cid, worst))
    wd = {"name": "worst_decile_speakers", "speakers": [str(names[i]) for i in worst], "n_speakers_total": n_c}
    wd.update(_entry(r[idx], v[idx], cid[idx], n_boot, seed, alpha))
    out["worst_decile"] = wd
    out["per_speaker"] = [{"speaker": str(names[i]), "n": int(utts[i]), "wer_ref": float(wer_r[i]),
                           "wer": float(err_v[i] / words[i])} for i in range(n_c)]
    return out


def sequence_metrics(refs: Sequence, hyps: Sequence, clusters, *, counts: np.ndarray | None = None,
                     n_boot: int = 1000, seed: int = 0, alpha: float = 0.05) -> dict:
    """The JSON-able summary a result cell stores for one model on one set of utterances.

    Args:
        refs, hyps: ``N`` reference / hypothesis word sequences (:func:`wer_counts`).
        clusters: ``[N]`` speaker of each utterance.
        counts: the ``int [N, 4]`` of :func:`wer_counts` if already computed (else computed here).
        n_boot, seed, alpha: of the speaker-bootstrap CI of the WER (:func:`bootstrap_wer`).

    Returns:
        ``{"wer", "wer_ci95": [lo, hi], "ser" (fractions), "substitutions", "deletions", "insertions", "n_utts",
        "n_words", "n_speakers"}`` (floats and ints).

    Raises:
        ValueError: as :func:`wer_counts` and :func:`bootstrap_wer`; ``counts`` not matching ``refs``.
    """
    c = wer_counts(refs, hyps) if counts is None else _check_counts(counts)
    if c.shape[0] != len(refs):
        raise ValueError(f"counts has {c.shape[0]} rows for {len(refs)} utterances")
    wer, lo, hi = bootstrap_wer(c, clusters, n_boot=n_boot, seed=seed, alpha=alpha)
    names, _ = _cluster_ids(clusters, c.shape[0])
    s, d, i, n = (int(x) for x in c.sum(axis=0))
    return {"wer": wer, "wer_ci95": [lo, hi], "ser": float((c[:, :3].sum(1) > 0).mean()), "substitutions": s,
            "deletions": d, "insertions": i, "n_utts": int(c.shape[0]), "n_words": n, "n_speakers": len(names)}
