"""Multi-word sequences for the ``sequence`` task (issue 12): vocabulary, front-end, grammars, transcripts, a bank
of REAL isolated words, a seeded generator of synthetic connected-word utterances, and the real accented connected
digits of ``alphanumeric_accents``.

* **Vocabulary** :data:`SEQ_VOCAB`: word-level CTC outputs, blank = index 0, then the 10 digits and the 10 Speech
  Commands command words (21 outputs).
* **Front-end** :data:`SEQ_FRONTEND`: 40 log-mel bands, 25 ms window, 10 ms hop, on audio zero-padded to
  :data:`SEQ_MAX_SAMPLES` (14 s at 16 kHz) -> ``float32 [N, 1398, 40]``.
* **Grammars** :data:`GRAMMARS`: finite-state acceptors (:class:`Grammar`) ``digits`` (1-12 digits) and
  ``commands`` (robot commands, see :func:`commands_grammar`).
* **Word bank** (:func:`word_bank`): real isolated words of :data:`SEQ_VOCAB` from the Speech Commands v0.02 test set
  (``_unknown_`` clips carry their real word, e.g. the digits), the 350 extra Speech Commands clips and FSDD
  (8 kHz, resampled to 16 kHz by :func:`voxquant.audio.load_audio`, soxr). Splits:

  - Speech Commands test set: :func:`voxquant.data.split_dev_eval` (its speaker-hash rule: THE speaker-disjoint
    dev/eval split of the project).
  - Speech Commands extra clips: the same speaker-hash rule (:func:`voxquant.data.splits.is_dev`), applied per
    clip. ``split_dev_eval`` itself cannot be used there: the extra manifest's ``split`` column (the official v0.02
    lists) names both halves, so the split-column rule would apply and leave ``down``/``off`` without an eval clip
    (it raises); worse, 31 of its speakers are also speakers of the test set, and only the speaker hash keeps them in
    the same half as their test-set clips.
  - FSDD: its manifest ``split`` column (repetitions 5-49 ``train`` -> dev, 0-4 ``test`` -> eval), as the design
    fixes. FSDD has only 6 speakers and every one is in both halves: the FSDD part of the banks is disjoint in
    *recordings*, not in *speakers* (the Speech Commands part is speaker-disjoint).

  Clips without a speaker id are skipped. Each clip is trimmed to its active region by an energy VAD
  (:func:`active_region`: 10 ms frames, a frame is active when its RMS is within :data:`VAD_THRESHOLD_DB` (-40 dB) of
  the clip's loudest frame, the first to the last active frame plus a margin of :data:`VAD_MARGIN_S` (50 ms) each
  side, clamped to the clip). The trimmed audio is kept in memory and cached on disk (one ``.npz`` per bank under
  ``voxquant.paths.cache_root()/sequences``, written atomically, keyed by the file list, sizes and VAD settings).

  Measured on the shared data pack (``word_bank(split).describe()``; Speech Commands = test set + extra clips):

  ===============  =====  ========  =====  ======================================================
  source           split  speakers  clips  clips per word
  ===============  =====  ========  =====  ======================================================
  speech_commands  dev      187     2,101  commands 178-207 each, digits 9-21 each (1,603 s)
  speech_commands  eval     215     2,413  commands 214-234 each, digits 13-26 each (1,861 s)
  fsdd             dev        6     2,700  270 per digit (1,146 s)
  fsdd             eval       6       300  30 per digit (124 s)
  ===============  =====  ========  =====  ======================================================

  Speech Commands speakers have few digit clips each (dev: 93 of 187 speakers have none, 65 have one digit word,
  29 have 2-6), so a Speech Commands ``digits`` utterance (one speaker) mostly repeats one or two digits; the varied
  digit strings come from FSDD (6 voices). Trimmed words: median 0.51 s (dev), 5-95 % 0.27-1.0 s, longest 2.28 s
  (FSDD).

  Building the dev bank (4,801 files decoded, FSDD resampled, trimmed) took 3.6 s here without the disk cache and
  0.4 s from it (then it stays in memory for the process).

* **Generator** (:func:`generate`): seeded; one speaker per utterance; the sentence is drawn by
  :meth:`Grammar.sample` over the words that speaker has; each word a real trimmed clip of that speaker (different
  clips of a repeated word while the speaker has them), level-matched to the speaker's median clip RMS +- a uniform
  jitter, separated by random silences; :func:`render` makes the audio.
* **Real connected digits** (:func:`real_connected_digits`): the 69 usable phone-number recordings of
  ``alphanumeric_accents`` with their accent groups: the test set the sequence models are never trained on.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, NamedTuple, Sequence

import numpy as np

from voxquant.audio import FrontendConfig
from voxquant.audio.io import load_audio
from voxquant.errors import ConfigError, DataError

# ---- vocabulary and front-end ----------------------------------------------------------------------------------

DIGIT_WORDS: tuple[str, ...] = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
"""The 10 digit words; ``DIGIT_WORDS[d]`` is the word of digit ``d``."""
COMMAND_WORDS: tuple[str, ...] = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
"""The 10 Speech Commands command words (order of :data:`voxquant.data.SC12_LABELS`)."""
SEQ_VOCAB: tuple[str, ...] = ("<blank>",) + DIGIT_WORDS + COMMAND_WORDS
"""Word-level CTC outputs: ``"<blank>"`` (index 0), the digits, the command words (21 outputs)."""
DIRECTION_WORDS: tuple[str, ...] = ("up", "down", "left", "right")
"""The four directions of the ``commands`` grammar."""

SEQ_MAX_SECONDS = 14.0
"""Longest utterance, seconds (every utterance is zero-padded to this for evaluation)."""
SEQ_SAMPLE_RATE = 16000
"""Sample rate of every sequence utterance, Hz."""
SEQ_MAX_SAMPLES = 224000
"""``SEQ_MAX_SECONDS * SEQ_SAMPLE_RATE`` samples."""

SEQ_FRONTEND = FrontendConfig(sample_rate=SEQ_SAMPLE_RATE, clip_samples=SEQ_MAX_SAMPLES, window_ms=25.0, hop_ms=10.0,
                              n_fft=512, n_mels=40, f_min=20.0, f_max=7600.0, n_mfcc=0, name="logmel40-10ms")
"""Front-end of the sequence models: 40 log-mel bands (natural log), 25 ms Hann window, 10 ms hop, 512-point FFT,
20-7600 Hz; ``compute_features`` of ``float32 [N, SEQ_MAX_SAMPLES]`` gives ``float32 [N, 1398, 40]``."""

VAD_FRAME_S = 0.010  # = voxquant.data.streams.TRIM_FRAME_S (the trimming is streams.trim_bounds)
"""Frame length of the trimming VAD, seconds."""
VAD_THRESHOLD_DB = -40.0
"""A frame is active when its RMS is within this many dB of the clip's loudest frame."""
VAD_MARGIN_S = 0.050
"""Audio kept before the first and after the last active frame, seconds."""

_log = logging.getLogger(__name__)

# ---- grammars --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grammar:
    """A deterministic finite-state acceptor over words (no epsilon arcs).

    Attributes:
        name: e.g. ``"digits"``.
        start: the start state.
        finals: accepting states.
        arcs: ``{state: {word: next_state}}``.
        length_weights: relative weight of each sentence length used by :meth:`sample` (``{length: weight}``);
            ``None``: every length from 1 to :attr:`max_len` alike.
        max_len: longest sentence :meth:`sample` draws (the acceptor itself may accept longer ones when it has
            cycles; the two grammars here have none).
    """

    name: str
    start: int
    finals: frozenset[int]
    arcs: dict[int, dict[str, int]] = field(hash=False)
    length_weights: dict[int, float] | None = field(default=None, hash=False, compare=False)
    max_len: int = 16

    def accepts(self, words: Iterable[str]) -> bool:
        """True when the word sequence leads from :attr:`start` to a final state (the empty sequence: False)."""
        state, n = self.start, 0
        for w in words:
            nxt = self.arcs.get(state, {}).get(w)
            if nxt is None:
                return False
            state, n = nxt, n + 1
        return n > 0 and state in self.finals

    def words(self) -> set[str]:
        """Every word on some arc."""
        return {w for out in self.arcs.values() for w in out}

    def states(self) -> list[int]:
        """All states, sorted."""
        s = {self.start, *self.finals, *self.arcs}
        s.update(t for out in self.arcs.values() for t in out.values())
        return sorted(s)

    def _counts(self, available: set[str] | None) -> list[dict[int, int]]:
        """``counts[k][q]`` = number of word sequences of length ``k`` from state ``q`` to a final state, using only
        ``available`` words (``k`` = 0 .. :attr:`max_len`)."""
        states = self.states()
        counts = [{q: int(q in self.finals) for q in states}]
        for _ in range(self.max_len):
            prev = counts[-1]
            counts.append({q: sum(prev[t] for w, t in self.arcs.get(q, {}).items()
                                  if available is None or w in available) for q in states})
        return counts

    def can_sample(self, available: set[str] | None = None) -> bool:
        """True when some sentence of 1 .. :attr:`max_len` words uses only ``available`` words."""
        counts = self._counts(available)
        return any(counts[k][self.start] for k in range(1, self.max_len + 1))

    def sample(self, rng: np.random.Generator, available: set[str] | None = None) -> tuple[str, ...] | None:
        """A random accepted sentence that uses only ``available`` words.

        The length ``L`` is drawn first, with probability proportional to :attr:`length_weights` among the lengths
        for which such a sentence exists; then one sentence of length ``L`` uniformly among all of them (each arc
        is chosen with probability proportional to the number of completions through it).

        Args:
            rng: the random generator (the only source of randomness: same state -> same sentence).
            available: allowed words; ``None`` = all.

        Returns:
            the words, or ``None`` when no sentence of 1 .. :attr:`max_len` words uses only ``available``.
        """
        counts = self._counts(available)
        lengths = [k for k in range(1, self.max_len + 1) if counts[k][self.start] > 0]
        weights = np.array([(self.length_weights or {}).get(k, 0.0 if self.length_weights else 1.0) for k in lengths])
        if not lengths:
            return None
        if weights.sum() <= 0:  # only lengths without weight are possible: take them alike
            weights = np.ones(len(lengths))
        L = lengths[int(rng.choice(len(lengths), p=weights / weights.sum()))]
        state, out = self.start, []
        for k in range(L, 0, -1):
            options = [(w, t) for w, t in sorted(self.arcs.get(state, {}).items())
                       if (available is None or w in available) and counts[k - 1][t] > 0]
            c = np.array([counts[k - 1][t] for _, t in options], dtype=np.float64)
            w, state = options[int(rng.choice(len(options), p=c / c.sum()))]
            out.append(w)
        return tuple(out)


def digits_grammar(max_digits: int = 12) -> Grammar:
    """``digits``: 1 to ``max_digits`` digit words (a digit string such as a phone number, read digit by digit).

    Sampling lengths: mostly 7-10 (phone numbers; 10 the most frequent), some 3-6, few 1-2 and 11-12.
    """
    arcs = {i: {w: i + 1 for w in DIGIT_WORDS} for i in range(max_digits)}
    weights = {1: 1.0, 2: 1.0, 3: 2.0, 4: 2.0, 5: 2.0, 6: 2.0, 7: 5.0, 8: 5.0, 9: 5.0, 10: 10.0, 11: 1.5, 12: 1.5}
    return Grammar("digits", 0, frozenset(range(1, max_digits + 1)), arcs,
                   {k: v for k, v in weights.items() if k <= max_digits}, max_len=max_digits)


def commands_grammar() -> Grammar:
    """``commands``: a small robot command language over :data:`COMMAND_WORDS` and the digits.

    ::

        sentence := "stop" | "go" | "yes" | "no"
                  | move                        # "left", "go left", "go left three", "left four two"
                  | "stop" "go"                 # stop, then go on
                  | "stop" move                 # "stop go right five", "stop up"
                  | switch                      # "on", "off", "on three" (switch device three on)
        move     := ["go"] dir [digit [digit]]  # a direction and an optional step count 0-99
        switch   := ("on" | "off") [digit]
        dir      := "up" | "down" | "left" | "right"

    Not accepted, e.g.: ``"go go"``, ``"left go"``, ``"go stop"``, ``"yes no"``, ``"three"``, ``"on off"``,
    ``"left one two three"``. At most 5 words (``"stop go left four two"``). Sampling lengths: 1-3 words mostly.
    """
    S, STOP, GO, DIR, D1, D2, SW, END = range(8)
    arcs: dict[int, dict[str, int]] = {
        S: {"stop": STOP, "go": GO, "yes": END, "no": END, "on": SW, "off": SW, **{d: DIR for d in DIRECTION_WORDS}},
        STOP: {"go": GO, **{d: DIR for d in DIRECTION_WORDS}},
        GO: {d: DIR for d in DIRECTION_WORDS},
        DIR: {w: D1 for w in DIGIT_WORDS},
        D1: {w: D2 for w in DIGIT_WORDS},
        SW: {w: END for w in DIGIT_WORDS},
    }
    return Grammar("commands", S, frozenset({STOP, GO, DIR, D1, D2, SW, END}), arcs,
                   {1: 3.0, 2: 4.0, 3: 3.0, 4: 1.5, 5: 0.5}, max_len=5)


def union(g1: Grammar, g2: Grammar, name: str | None = None) -> Grammar:
    """The grammar accepting every sentence of ``g1`` or of ``g2`` (product construction of the two deterministic
    acceptors; a missing arc goes to a dead state, dropped from the result), e.g. the digits-or-commands grammar
    of a command recogniser behind a wake word.

    States are numbered in breadth-first order from the start (``0``); a state is final when either side is.
    :meth:`Grammar.sample` draws a length with ``max(g1.max_len, g2.max_len)`` as the longest and, when both have
    length weights, their sum per length.

    Returns:
        :class:`Grammar` named ``name`` (default ``"<g1>|<g2>"``).
    """
    dead = None
    start = (g1.start, g2.start)
    index = {start: 0}
    order = [start]
    arcs: dict[int, dict[str, int]] = {}
    k = 0
    while k < len(order):
        a, b = order[k]
        out1 = g1.arcs.get(a, {}) if a is not dead else {}
        out2 = g2.arcs.get(b, {}) if b is not dead else {}
        for w in sorted(set(out1) | set(out2)):
            nxt = (out1.get(w, dead), out2.get(w, dead))
            if nxt not in index:
                index[nxt] = len(order)
                order.append(nxt)
            arcs.setdefault(k, {})[w] = index[nxt]
        k += 1
    finals = frozenset(i for (a, b), i in index.items()
                       if (a is not dead and a in g1.finals) or (b is not dead and b in g2.finals))
    weights = None
    if g1.length_weights and g2.length_weights:
        weights = {n: g1.length_weights.get(n, 0.0) + g2.length_weights.get(n, 0.0)
                   for n in set(g1.length_weights) | set(g2.length_weights)}
    return Grammar(name or f"{g1.name}|{g2.name}", 0, finals, arcs, weights, max(g1.max_len, g2.max_len))


GRAMMARS: dict[str, Grammar] = {"digits": digits_grammar(), "commands": commands_grammar()}
"""Grammar name -> :class:`Grammar`: ``digits`` (:func:`digits_grammar`), ``commands`` (:func:`commands_grammar`)."""

_TOKEN = re.compile(r"[a-z]+|[0-9]+")


def parse_transcript(label: str, grammar: Grammar, path: str | Path | None = None) -> tuple[str, ...]:
    """A transcript -> the word sequence of :data:`SEQ_VOCAB` words, checked against ``grammar``.

    Args:
        label: a digit string (``"3041254855"`` -> ``("three", "zero", "four", ...)``, one word per digit) or
            space-separated words (``"Go left"`` -> ``("go", "left")``, lower-cased; a token of digits inside is
            read digit by digit: ``"left 42"`` -> ``("left", "four", "two")``). ``"oh"`` for zero is not a
            vocabulary word.
        grammar: the grammar the sentence must be in.
        path: the file the transcript belongs to (named in errors).

    Returns:
        the words, a tuple of ``str``.

    Raises:
        DataError (naming ``path``): empty transcript; a token that is not a word or digit string (``"3.5"``,
        ``"go,left"``); a word outside :data:`SEQ_VOCAB` (``"turn"``, ``"oh"``); a word the grammar does not use;
        a sentence the grammar does not accept.
    """
    text = str(label).strip()
    if not text:
        raise DataError("empty transcript", path)
    words: list[str] = []
    for token in text.lower().split():
        if not _TOKEN.fullmatch(token):
            raise DataError(f"transcript {text!r}: {token!r} is not a word or a digit string "
                            "(expected space-separated words or digits)", path)
        if token.isdigit():
            words += [DIGIT_WORDS[int(ch)] for ch in token]
            continue
        if token not in SEQ_VOCAB[1:]:
            raise DataError(f"transcript {text!r}: word {token!r} is not in the vocabulary "
                            f"({', '.join(SEQ_VOCAB[1:])})", path)
        words.append(token)
    outside = [w for w in words if w not in grammar.words()]
    if outside:
        raise DataError(f"transcript {text!r}: word {outside[0]!r} is not in grammar '{grammar.name}'", path)
    if not grammar.accepts(words):
        raise DataError(f"transcript {text!r}: the sentence {' '.join(words)!r} is not accepted by grammar "
                        f"'{grammar.name}'", path)
    return tuple(words)


# ---- utterances ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeqUtterance:
    """One multi-word utterance: a real recording (``path``) or a synthetic one made of real word clips (``parts``).

    Attributes:
        id: unique id, e.g. ``"digits-eval-s0-000012"`` or ``"alnum-R_14L9qNxUlipFmsF"``.
        words: the transcript (words of :data:`SEQ_VOCAB`).
        speaker: speaker id (the data set's own).
        groups: group columns, ``{"source": "speech_commands" | "fsdd" | "alphanumeric_accents", "accent": ...}``.
        parts: ``((path, start_sample, end_sample, gain), ...)``, one per word in order: the trimmed word is samples
            ``start:end`` of ``load_audio(path, 16000)``, multiplied by ``gain``; empty for a real recording.
        gaps_s: silence before each word and after the last (``len(words) + 1`` values, seconds); empty for a real
            recording.
        path: the audio file of a real recording; ``None`` for a synthetic one.
    """

    id: str
    words: tuple[str, ...]
    speaker: str
    groups: dict = field(hash=False)
    parts: tuple = ()
    gaps_s: tuple[float, ...] = ()
    path: str | None = None

    @property
    def num_samples(self) -> int:
        """Length in samples at 16 kHz of a synthetic utterance (what :func:`render` returns); -1 for a real one."""
        if self.path is not None:
            return -1
        return sum(_gap_samples(g) for g in self.gaps_s) + sum(int(e) - int(s) for _, s, e, _ in self.parts)


def _gap_samples(seconds: float) -> int:
    return int(round(float(seconds) * SEQ_SAMPLE_RATE))


# ---- word bank -------------------------------------------------------------------------------------------------


class WordClip(NamedTuple):
    """One trimmed isolated word: samples ``start:end`` of ``load_audio(path, 16000)``, RMS of that region."""

    path: str
    start: int
    end: int
    rms: float


@dataclass
class WordBank:
    """Real isolated words per speaker, for :func:`generate`.

    Attributes:
        split: ``"dev"`` or ``"eval"``.
        clips: ``{speaker: {word: [WordClip, ...]}}`` (speakers and words sorted, clips in manifest order).
        groups: ``{speaker: {"source": "speech_commands" | "fsdd", "accent": FSDD's manifest accent or
            "unknown"}}``.
        level: ``{speaker: median RMS of the speaker's trimmed clips}`` (linear, full scale = 1).
    """

    split: str
    clips: dict[str, dict[str, list[WordClip]]]
    groups: dict[str, dict[str, str]]
    level: dict[str, float]

    def speakers(self, source: str | None = None) -> list[str]:
        """Sorted speaker ids (of one ``source`` if given)."""
        return sorted(s for s in self.clips if source is None or self.groups[s]["source"] == source)

    def sources(self) -> list[str]:
        """Sorted source names present."""
        return sorted({g["source"] for g in self.groups.values()})

    def words_of(self, speaker: str) -> set[str]:
        """Words the speaker has at least one clip of."""
        return set(self.clips[speaker])

    def describe(self) -> dict:
        """Counts for reports and model cards.

        Returns:
            ``{"split", "sources": {source: {"speakers": n, "clips": n, "seconds": trimmed audio s,
            "words": {word: clips}}}, "total_clips"}`` (words in :data:`SEQ_VOCAB` order).
        """
        out: dict[str, dict] = {}
        for src in self.sources():
            words: Counter = Counter()
            seconds = 0.0
            spk = self.speakers(src)
            for s in spk:
                for w, cl in self.clips[s].items():
                    words[w] += len(cl)
                    seconds += sum(c.end - c.start for c in cl) / SEQ_SAMPLE_RATE
            out[src] = {"speakers": len(spk), "clips": int(sum(words.values())), "seconds": round(seconds, 1),
                        "words": {w: int(words[w]) for w in SEQ_VOCAB[1:] if words[w]}}
        return {"split": self.split, "sources": out, "total_clips": int(sum(v["clips"] for v in out.values()))}


def active_region(x: np.ndarray, sample_rate: int = SEQ_SAMPLE_RATE, threshold_db: float = VAD_THRESHOLD_DB,
                  margin_s: float = VAD_MARGIN_S) -> tuple[int, int]:
    """The active (speech) region of an isolated-word clip by frame energy.

    Frames of :data:`VAD_FRAME_S` (10 ms, the last zero-padded); a frame is active when its RMS >= the loudest
    frame's RMS times ``10 ** (threshold_db / 20)``; the region runs from the first to the end of the last active
    frame, widened by ``margin_s`` each side and clamped to the clip (the trimmer of
    :mod:`voxquant.data.streams`, plus the margin).

    Args:
        x: ``float32 [S]``.
        sample_rate: Hz.
        threshold_db: negative dB re the loudest frame.
        margin_s: seconds kept each side.

    Returns:
        ``(start, end)`` sample indices, ``0 <= start <= end <= S``; ``(0, 0)`` for an all-zero clip.
    """
    from voxquant.data.streams import trim_bounds

    x = np.asarray(x)
    a, b = trim_bounds(x, sample_rate, threshold_db)
    if a == b == 0:
        return 0, 0
    margin = int(round(margin_s * sample_rate))
    return max(0, a - margin), min(x.shape[0], b + margin)


#: In-memory trimmed audio: path -> (start, end, float32 [end - start]) of its active region at 16 kHz.
_TRIMMED: dict[str, tuple[int, int, np.ndarray]] = {}

_BANK_CACHE_VERSION = "wordbank-v1"


def _bank_entries(split: str, data_root) -> list[tuple[object, str, str, dict[str, str]]]:
    """``[(clip, word, speaker, groups)]`` of the bank's clips, in a fixed order."""
    from voxquant.data.specs import load_dataset
    from voxquant.data.splits import is_dev, split_dev_eval

    vocab = set(SEQ_VOCAB[1:])
    out = []

    def keep(clip):
        word = str(clip.word or clip.label).strip().lower()
        return word if word in vocab and clip.speaker else None

    sc = load_dataset("speech-commands-v2-test", data_root=data_root)
    dev, ev = split_dev_eval(sc)
    extra = load_dataset("speech-commands-v2-extra", data_root=data_root)
    extra_clips = [c for c in extra.clips if c.speaker and is_dev(c) == (split == "dev")]
    for clip in list((dev if split == "dev" else ev).clips) + extra_clips:
        word = keep(clip)
        if word:
            out.append((clip, word, clip.speaker, {"source": "speech_commands", "accent": "unknown"}))
    fsdd = load_dataset("fsdd", data_root=data_root)
    want = "train" if split == "dev" else "test"
    for clip in fsdd.clips:
        if str(clip.meta.get("split", "")).strip().lower() != want:
            continue
        digit = str(clip.label).strip()
        clip_word = DIGIT_WORDS[int(digit)] if digit.isdigit() and len(digit) == 1 else None
        if clip_word and clip.speaker:
            accent = str(clip.meta.get("accent") or "").strip() or "unknown"
            out.append((clip, clip_word, clip.speaker, {"source": "fsdd", "accent": accent}))
    return out


def _cache_file(split: str, entries) -> Path:
    from voxquant.paths import cache_root

    h = hashlib.sha256(f"{_BANK_CACHE_VERSION}|{split}|{VAD_FRAME_S}|{VAD_THRESHOLD_DB}|{VAD_MARGIN_S}".encode())
    for clip, *_ in entries:
        p = Path(clip.path)
        try:
            size = p.stat().st_size
        except OSError:
            size = -1
        h.update(f"|{p}:{size}".encode())
    return cache_root() / "sequences" / f"{_BANK_CACHE_VERSION}-{split}-{h.hexdigest()[:16]}.npz"


def _load_bank_cache(path: Path, n: int):
    try:
        with np.load(path, allow_pickle=False) as z:
            audio, bounds, offsets = z["audio"], z["bounds"], z["offsets"]
        if bounds.shape != (n, 2) or offsets.shape != (n + 1,):
            return None
        return audio, bounds, offsets
    except (OSError, ValueError, KeyError) as exc:  # a damaged cache is rebuilt
        _log.warning("word bank cache %s unreadable (%s); rebuilding", path, exc)
        return None


def _save_bank_cache(path: Path, audio, bounds, offsets) -> None:
    from voxquant.atomic import write_atomic

    def write(fh):
        buf = io.BytesIO()
        np.savez(buf, audio=audio, bounds=bounds, offsets=offsets)
        fh.write(buf.getvalue())

    try:
        write_atomic(path, write)
    except OSError as exc:  # the cache is an optimisation only
        _log.warning("word bank cache %s not written (%s)", path, exc)


@functools.lru_cache(maxsize=4)
def _word_bank(split: str, root_key: str | None) -> WordBank:
    entries = _bank_entries(split, root_key)
    cache = _cache_file(split, entries)
    cached = _load_bank_cache(cache, len(entries)) if cache.is_file() else None
    if cached is None:
        pieces, bounds = [], np.zeros((len(entries), 2), dtype=np.int64)
        for i, (clip, *_rest) in enumerate(entries):
            x = load_audio(clip.path, SEQ_SAMPLE_RATE)
            a, b = active_region(x)
            bounds[i] = (a, b)
            pieces.append(x[a:b])
        offsets = np.concatenate([[0], np.cumsum([p.shape[0] for p in pieces])]).astype(np.int64)
        audio = np.concatenate(pieces).astype(np.float32) if pieces else np.zeros(0, np.float32)
        _save_bank_cache(cache, audio, bounds, offsets)
    else:
        audio, bounds, offsets = cached
    clips: dict[str, dict[str, list[WordClip]]] = {}
    groups: dict[str, dict[str, str]] = {}
    for i, (clip, word, speaker, grp) in enumerate(entries):
        a, b = int(bounds[i, 0]), int(bounds[i, 1])
        x = audio[offsets[i]: offsets[i + 1]]
        if b <= a:
            continue  # silent clip
        _TRIMMED[str(clip.path)] = (a, b, x)
        rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
        if rms <= 0.0:
            continue
        clips.setdefault(speaker, {}).setdefault(word, []).append(WordClip(str(clip.path), a, b, rms))
        groups.setdefault(speaker, dict(grp))
    clips = {s: {w: clips[s][w] for w in sorted(clips[s])} for s in sorted(clips)}
    level = {s: float(np.median([c.rms for cl in clips[s].values() for c in cl])) for s in clips}
    return WordBank(split, clips, {s: groups[s] for s in clips}, level)


def word_bank(split: str, data_root: str | Path | None = None) -> WordBank:
    """The bank of real isolated words of one split (module docstring: sources, split rules, VAD, counts).

    Built once per process and split (then returned from memory; the trimmed audio is also cached on disk).

    Args:
        split: ``"dev"`` (for training) or ``"eval"`` (held-out test sequences).
        data_root: data root (default ``VOXQUANT_DATA``).

    Returns:
        :class:`WordBank`.

    Raises:
        ConfigError: ``split`` is not ``dev``/``eval``.
        DataError: a set is missing under the data root; AudioError: an unreadable clip (names the file).
    """
    if split not in ("dev", "eval"):
        raise ConfigError(f"word bank split must be 'dev' or 'eval', got {split!r}")
    return _word_bank(split, None if data_root is None else str(Path(data_root).expanduser().resolve()))


# ---- generation and rendering ----------------------------------------------------------------------------------


def generate(bank: WordBank, grammar: Grammar, n: int, seed: int, min_gap_s: float = 0.06, max_gap_s: float = 0.35,
             edge_s: tuple[float, float] = (0.1, 0.6), level_jitter_db: float = 2.0,
             source_weights: dict[str, float] | None = None, max_seconds: float = SEQ_MAX_SECONDS
             ) -> list[SeqUtterance]:
    """Seeded synthetic utterances of real isolated words.

    Per utterance: a source is drawn (``source_weights``, default all sources alike, among those with a speaker
    that can say some sentence of ``grammar``), then a speaker of it uniformly among those speakers, then a sentence
    by ``grammar.sample(rng, bank.words_of(speaker))``. Each word is a clip of that speaker (a repeated word takes
    the speaker's other clips of it, in a seeded order, before reusing one), scaled to the speaker's median clip
    RMS times ``10 ** (u / 20)``, ``u ~ U(-level_jitter_db, level_jitter_db)``. Silences: ``U(edge_s)`` before the
    first and after the last word, ``U(min_gap_s, max_gap_s)`` between words. An utterance longer than
    ``max_seconds`` gets its silences shrunk to ``min_gap_s`` / ``edge_s[0]``; if still too long the sentence is
    drawn again (up to 20 times).

    Args:
        bank: :func:`word_bank`.
        grammar: e.g. ``GRAMMARS["digits"]``.
        n: number of utterances.
        seed: random seed; the same ``(bank, grammar, n, seed, options)`` give an identical list.
        min_gap_s, max_gap_s: between-word silence range, seconds.
        edge_s: leading / trailing silence range, seconds.
        level_jitter_db: per-word level jitter, dB.
        source_weights: ``{source: weight}`` for the source draw (missing sources: 0).
        max_seconds: longest utterance, seconds (<= :data:`SEQ_MAX_SECONDS`).

    Returns:
        ``n`` :class:`SeqUtterance` with ids ``"<grammar>-<split>-s<seed>-<i:06d>"``; groups are the speaker's.

    Raises:
        DataError: no speaker of the bank can say a sentence of ``grammar`` (or of the weighted sources), or no
            sentence fits in ``max_seconds``.
        ConfigError: bad gap / edge / n values.
    """
    if n < 0 or not (0 <= min_gap_s <= max_gap_s) or not (0 <= edge_s[0] <= edge_s[1]) or level_jitter_db < 0:
        raise ConfigError(f"generate: bad options n={n}, gaps=({min_gap_s}, {max_gap_s}), edge_s={edge_s}, "
                          f"level_jitter_db={level_jitter_db}")
    max_n = int(round(min(max_seconds, SEQ_MAX_SECONDS) * SEQ_SAMPLE_RATE))
    able: dict[str, list[str]] = {}
    for s in bank.speakers():
        if grammar.can_sample(bank.words_of(s)):
            able.setdefault(bank.groups[s]["source"], []).append(s)
    weights = {src: (1.0 if source_weights is None else float(source_weights.get(src, 0.0))) for src in sorted(able)}
    sources = [src for src in weights if weights[src] > 0]
    if not sources:
        raise DataError(f"word bank '{bank.split}': no speaker can say a sentence of grammar '{grammar.name}'"
                        + (f" in sources {sorted(source_weights)}" if source_weights else ""))
    p = np.array([weights[s] for s in sources])
    p = p / p.sum()
    rng = np.random.default_rng([int(seed), int(hashlib.sha256(grammar.name.encode()).hexdigest()[:8], 16)])
    out = []
    for i in range(n):
        src = sources[int(rng.choice(len(sources), p=p))]
        speaker = able[src][int(rng.integers(len(able[src])))]
        for _attempt in range(20):
            words = grammar.sample(rng, bank.words_of(speaker))
            order = {w: [int(k) for k in rng.permutation(len(bank.clips[speaker][w]))] for w in sorted(set(words))}
            used: Counter = Counter()
            parts = []
            for w in words:
                clips = bank.clips[speaker][w]
                clip = clips[order[w][used[w] % len(clips)]]
                used[w] += 1
                jitter = rng.uniform(-level_jitter_db, level_jitter_db) if level_jitter_db else 0.0
                gain = bank.level[speaker] / clip.rms * 10.0 ** (jitter / 20.0)
                parts.append((clip.path, clip.start, clip.end, float(gain)))
            gaps = [float(rng.uniform(*edge_s))] + [float(rng.uniform(min_gap_s, max_gap_s))
                                                     for _ in range(len(words) - 1)] + [float(rng.uniform(*edge_s))]
            speech = sum(e - s for _, s, e, _ in parts)
            if speech + sum(_gap_samples(g) for g in gaps) > max_n:
                gaps = [edge_s[0]] + [min_gap_s] * (len(words) - 1) + [edge_s[0]]
            if speech + sum(_gap_samples(g) for g in gaps) <= max_n:
                break
        else:
            raise DataError(f"word bank '{bank.split}': speaker {speaker}: no sentence of grammar '{grammar.name}' "
                            f"fits in {max_n / SEQ_SAMPLE_RATE:.1f} s after 20 draws")
        out.append(SeqUtterance(f"{grammar.name}-{bank.split}-s{seed}-{i:06d}", tuple(words), speaker,
                                dict(bank.groups[speaker]), tuple(parts), tuple(gaps)))
    return out


PEAK_LIMIT = 0.99
"""A rendered utterance whose peak exceeds 1 is scaled as a whole to this peak (never clipped)."""


def _trimmed(path: str, start: int, end: int) -> np.ndarray:
    hit = _TRIMMED.get(path)
    if hit is not None and hit[0] <= start and end <= hit[1]:
        return hit[2][start - hit[0]: end - hit[0]]
    x = load_audio(path, SEQ_SAMPLE_RATE)
    if end > x.shape[0]:
        raise DataError(f"word clip has {x.shape[0]} samples, the utterance uses samples {start}:{end}", path)
    return x[start:end]


def render(utt: SeqUtterance, sample_rate: int = SEQ_SAMPLE_RATE) -> np.ndarray:
    """The audio of an utterance.

    Synthetic: silence ``gaps_s[0]``, word 1 (trimmed clip times its gain), silence ``gaps_s[1]``, ..., word n,
    silence ``gaps_s[n]`` (each gap ``round(g * 16000)`` samples); if the peak exceeds 1 the whole utterance is
    scaled to a peak of :data:`PEAK_LIMIT` (never clipped). Real: ``load_audio(utt.path, 16000)``. Deterministic.

    Args:
        utt: :class:`SeqUtterance`.
        sample_rate: must be 16000 (the bank's rate).

    Returns:
        ``float32 [S]`` in [-1, 1], ``S = utt.num_samples`` for a synthetic utterance.

    Raises:
        ConfigError: another sample rate. AudioError / DataError: a file is unreadable or shorter than recorded.
    """
    if sample_rate != SEQ_SAMPLE_RATE:
        raise ConfigError(f"render: sequence utterances are {SEQ_SAMPLE_RATE} Hz, got sample_rate={sample_rate}")
    if utt.path is not None:
        return load_audio(utt.path, SEQ_SAMPLE_RATE)
    pieces = [np.zeros(_gap_samples(utt.gaps_s[0]), np.float32)]
    for (path, start, end, gain), gap in zip(utt.parts, utt.gaps_s[1:]):
        pieces.append(_trimmed(str(path), int(start), int(end)) * np.float32(gain))
        pieces.append(np.zeros(_gap_samples(gap), np.float32))
    x = np.concatenate(pieces).astype(np.float32)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > 1.0:
        x = (x * np.float32(PEAK_LIMIT / peak)).astype(np.float32)
    return x


def word_spans(utt: SeqUtterance) -> list[tuple[int, int]]:
    """Sample span ``[start, end)`` of each word in :func:`render`'s audio of a synthetic utterance (the alignment
    the synthesis knows exactly; peak scaling, :class:`voxquant.data.Augmenter` noise/gain and RIRs (aligned to their
    direct path) do not move it).

    Raises:
        ValueError: a real recording (no alignment is known).
    """
    if utt.path is not None:
        raise ValueError(f"{utt.path}: a real recording has no known word alignment")
    pos = _gap_samples(utt.gaps_s[0])
    spans = []
    for (_, start, end, _), gap in zip(utt.parts, utt.gaps_s[1:]):
        n = int(end) - int(start)
        spans.append((pos, pos + n))
        pos += n + _gap_samples(gap)
    return spans


def load_sequence_audio(utts: Sequence[SeqUtterance], max_samples: int = SEQ_MAX_SAMPLES
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Audio of utterances, zero-padded at the end to one length.

    Args:
        utts: real (``path``: :func:`voxquant.audio.load_audio` at 16 kHz) or synthetic (:func:`render`) utterances.
        max_samples: the padded length.

    Returns:
        ``(waves float32 [N, max_samples], lengths int64 [N])`` (samples before padding).

    Raises:
        DataError: an utterance longer than ``max_samples`` (names its file, or its id and first word clip).
    """
    waves = np.zeros((len(utts), int(max_samples)), dtype=np.float32)
    lengths = np.zeros(len(utts), dtype=np.int64)
    for i, u in enumerate(utts):
        x = render(u)
        if x.shape[0] > max_samples:
            where = u.path if u.path is not None else None
            what = f"utterance {u.id}" + ("" if where else f" (first word clip {u.parts[0][0]})" if u.parts else "")
            raise DataError(f"{what} is {x.shape[0]} samples ({x.shape[0] / SEQ_SAMPLE_RATE:.2f} s), longer than "
                            f"{max_samples} ({max_samples / SEQ_SAMPLE_RATE:.2f} s)", where,
                            hint="shorten the recording or raise the maximum length")
        waves[i, : x.shape[0]] = x
        lengths[i] = x.shape[0]
    return waves, lengths


# ---- real and held-out test sequences --------------------------------------------------------------------------

ALNUM_GROUP_COLUMNS: tuple[str, ...] = ("accent", "native", "native_language", "gender", "recording_device")
"""Manifest columns of ``alphanumeric_accents`` kept as groups of a real connected-digit utterance."""
ALNUM_METADATA_SLIP: tuple[str, str] = ("R_1bhWwiBjHlA1GcF", "7")
"""(speaker, prompt) of the digit recording excluded as a metadata slip (shared data README, section 5)."""


def real_connected_digits(data_root: str | Path | None = None) -> list[SeqUtterance]:
    """The real accented connected digits: ``alphanumeric_accents`` recordings of ``kind == digits``.

    70 speakers (16 native languages) each read a randomised phone-number prompt digit by digit. The recording of
    speaker ``R_1bhWwiBjHlA1GcF`` is excluded: its prompt is ``7``, which the shared data README (section 5,
    "Caveat: 6 of the 70 digit prompts are not 10 digits long (..., and ``7`` for ``R_1bhWwiBjHlA1GcF``, clearly a
    metadata slip)") documents as a metadata slip, so its transcript is not what was said. The other 69 prompts
    (the other 5 of 8-9 digits included) are the transcripts, via ``parse_transcript(label, GRAMMARS["digits"])``.
    The prompt is what the speaker was asked to say, not a verified transcript.

    Returns:
        69 :class:`SeqUtterance` (manifest order), ``id = "alnum-<speaker>"``, ``path`` = the FLAC, ``groups`` =
        ``{"source": "alphanumeric_accents", accent, native, native_language, gender, recording_device}``
        (empty manifest values -> ``"unknown"``).

    Raises:
        DataError: the set is missing, or a prompt is not a digit sentence (names the file).
    """
    from voxquant.data.specs import load_dataset

    cs = load_dataset("alphanumeric-accents", data_root=data_root)
    out = []
    for clip in cs.clips:
        if str(clip.meta.get("kind", "")).strip() != "digits":
            continue
        if (clip.speaker, str(clip.label).strip()) == ALNUM_METADATA_SLIP:
            continue
        words = parse_transcript(clip.label, GRAMMARS["digits"], clip.path)
        groups = {"source": "alphanumeric_accents"}
        groups.update({k: (str(clip.meta.get(k) or "").strip() or "unknown") for k in ALNUM_GROUP_COLUMNS})
        out.append(SeqUtterance(f"alnum-{clip.speaker}", words, str(clip.speaker), groups, path=str(clip.path)))
    return out


def held_out_sequences(n_digits: int, n_commands: int, seed: int, data_root: str | Path | None = None
                       ) -> list[SeqUtterance]:
    """The synthetic held-out test set: ``generate`` from ``word_bank("eval")`` with both grammars.

    Returns:
        ``n_digits`` ``digits`` utterances then ``n_commands`` ``commands`` utterances (same ``seed``; ids differ by
        grammar).

    Raises:
        DataError: as :func:`word_bank` / :func:`generate`.
    """
    bank = word_bank("eval", data_root)
    return (generate(bank, GRAMMARS["digits"], n_digits, seed)
            + generate(bank, GRAMMARS["commands"], n_commands, seed))


__all__ = [
    "word_spans",
    "ALNUM_GROUP_COLUMNS",
    "ALNUM_METADATA_SLIP",
    "COMMAND_WORDS",
    "DIGIT_WORDS",
    "DIRECTION_WORDS",
    "GRAMMARS",
    "PEAK_LIMIT",
    "SEQ_FRONTEND",
    "SEQ_MAX_SAMPLES",
    "SEQ_MAX_SECONDS",
    "SEQ_SAMPLE_RATE",
    "SEQ_VOCAB",
    "VAD_MARGIN_S",
    "VAD_THRESHOLD_DB",
    "Grammar",
    "SeqUtterance",
    "WordBank",
    "WordClip",
    "active_region",
    "commands_grammar",
    "digits_grammar",
    "generate",
    "held_out_sequences",
    "load_sequence_audio",
    "parse_transcript",
    "real_connected_digits",
    "union",
    "render",
    "word_bank",
]
