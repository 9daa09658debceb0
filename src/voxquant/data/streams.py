"""Continuous test streams for always-on wake-word evaluation.

A wake word is judged on continuous audio: false rejects (FRR) at a fixed false-accept rate per hour (FA/h),
not top-1 on 1-second clips. Following Picovoice's wake-word benchmark (github.com/Picovoice/wake-word-benchmark:
keyword clips mixed with background speech and noise at 10 dB SNR; a detection counts if it falls between a
clip's start and its end + 0.5 s), :func:`build_stream` places real keyword clips ("positives") and real
non-keyword speech ("negatives") one after another at random, seeded gaps, optionally convolves the speech with a
real room impulse response, and mixes real background noise under everything at a requested SNR. The placement
is returned as a manifest of :class:`Event` so a detection runner can score it.

Definitions (all documented numbers are module constants):

* **Trimming.** Each speech clip is cut to its spoken part: frames of :data:`TRIM_FRAME_S` (10 ms) whose RMS is
  at least :data:`TRIM_THRESHOLD_DB` (-40 dB) below the clip's loudest frame are "voice"; the clip is cut from the
  first to the last voice frame. Event times are therefore the word, not the file padding. An all-zero clip is
  skipped (warning).
* **Placement.** The stream starts with a gap; then clips follow, each after a gap drawn uniformly from
  ``[min_gap_s, max_gap_s]``. The first clip is always a keyword; after that each clip is a keyword with
  probability ``keyword_fraction``. Clips are drawn without replacement from a seeded permutation of each pool
  (a new permutation once a pool is used up). Placement stops at the first clip that would not end inside the
  stream. Events never overlap and are sorted by start.
* **Reverberation.** With ``rir``, the whole speech track is convolved (:func:`voxquant.data.augment.apply_rir`:
  ``scipy.signal.fftconvolve``, aligned on the RIR's direct-path peak, same RMS as the dry track). Event times stay
  those of the dry word; the reverberant tail runs on into the following gap.
* **SNR.** ``snr_db = 10 log10(P_speech / P_noise)``, both powers measured over the samples inside events (the
  speech after reverberation, the noise as added). The noise track is made by chaining random-offset crops of the
  recordings (a recording shorter than what is still needed is looped with a random rotation); which recording
  comes next is drawn at random.
* **Level.** Every trimmed speech clip is scaled to the same RMS (:data:`SPEECH_RMS`, -26 dBFS) before placement:
  the sources differ by up to ~20 dB (crowd-sourced wake-word recordings are quieter than Speech Commands clips),
  and without this a stream-wide SNR would leave quiet keywords far below the requested SNR (measured on Picovoice
  ``alexa`` among Speech Commands words at "10 dB": median keyword SNR 6.9 dB, p10 -6.1 dB). The per-keyword SNR
  obtained is recorded (``Stream.info["keyword_snr_db"]``: p10 / p50 / p90). The mix is scaled down as a whole only
  if its peak exceeds :data:`PEAK_LIMIT` (0.99); the factor is stored as ``Stream.info["gain"]``.
* **Determinism.** Placement and noise use independent generators seeded from ``seed``
  (``numpy.random.default_rng([seed, k])``), so the same inputs and seed give a bit-identical stream, and a clean
  stream (``snr_db=None``) has the same placement as its noisy twin.

Streams are saved with :func:`save_stream` (``audio.wav``/``audio.flac`` + ``events.csv`` + ``stream.json``) and
read back with :func:`load_stream`, so every model variant is scored on the very same audio.

**The user's own audio** (:func:`user_stream_sources`, ``voxquant stream --negatives DIR --positives DIR``): long
negative recordings (any length, WAV/FLAC/OGG, resampled with soxr) are cut into pieces of at most
:data:`NEGATIVE_PIECE_S` seconds (:class:`Segment`), each placed like a negative clip; with
``build_stream(..., negatives_once=True)`` every piece is used at most once, so the stream ends when the user's
negatives are used up (``Stream.info["bounded_by_negatives"]``). Each event records its source file and the offset
of its (trimmed) start in that file (``source_offset_s``), the positive clip's speaker and its group columns
(:data:`GROUP_COLUMNS` of the manifest), so a detection can be traced back to a file and a time
(:func:`locate_detections`).
"""

from __future__ import annotations

import csv
import io
import json
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from voxquant.errors import DataError

TRIM_FRAME_S = 0.010
"""Frame length (s) of the energy trimmer."""
TRIM_THRESHOLD_DB = -40.0
"""A frame is voice if its RMS is within this many dB of the clip's loudest frame."""
PEAK_LIMIT = 0.99
#: RMS every speech clip is scaled to before placement (-26 dBFS), so the stream-wide SNR holds per clip.
SPEECH_RMS = 0.05
"""The mix is scaled down as a whole when its peak exceeds this."""
AUDIO_FORMATS = {"wav": ("WAV", "FLOAT"), "flac": ("FLAC", "PCM_16")}
"""``save_stream`` formats: WAV float32 (bit-exact round trip, default) or FLAC 16-bit (smaller, quantized)."""
EVENT_FIELDS = ("start_s", "end_s", "label", "source_path", "is_keyword", "source_offset_s", "speaker", "groups")
"""Columns of ``events.csv`` (``groups``: a JSON object). Streams saved before the last three existed still load."""
LEGACY_EVENT_FIELDS = EVENT_FIELDS[:5]
#: Manifest columns a keyword event keeps as its groups (per-group FRR): accent, gender, native language, ...
GROUP_COLUMNS = ("group", "accent", "gender", "native", "native_language", "age", "dialect")
#: Longest piece (s) a long negative recording is cut into; each piece is one negative "clip" of the stream.
NEGATIVE_PIECE_S = 10.0


@dataclass(frozen=True)
class Event:
    """One clip placed in a stream.

    Attributes:
        start_s: start of the (trimmed) word in the stream, seconds.
        end_s: its end, seconds (``> start_s``).
        label: the clip's word (for Speech Commands ``_unknown_`` clips: the real word).
        source_path: the source audio file (string, as given).
        is_keyword: true for a positive (keyword) clip.
        source_offset_s: where the placed (trimmed) audio starts inside ``source_path``, seconds.
        speaker: the clip's speaker id (``""`` when unknown).
        groups: the clip's :data:`GROUP_COLUMNS` values from its manifest, e.g. ``{"accent": "Indian"}``.
    """

    start_s: float
    end_s: float
    label: str
    source_path: str
    is_keyword: bool
    source_offset_s: float = 0.0
    speaker: str = ""
    groups: dict = field(default_factory=dict, hash=False, compare=False)


@dataclass
class Stream:
    """A continuous test stream and the manifest of what was placed where.

    Attributes:
        audio: ``float32 [S]`` mono in [-1, 1] (scaled down only if needed: ``info["gain"]``).
        sample_rate: Hz.
        events: :class:`Event` list, sorted by start, non-overlapping, all inside ``[0, S / sample_rate]``.
        keyword: the wake word of the positives.
        info: build parameters (seed, snr_db, rir, noise names, gaps, gain, ...), JSON-able.
        num_samples: the stream's length in samples when ``audio`` was dropped (:meth:`without_audio`), else ``-1``.
    """

    audio: np.ndarray
    sample_rate: int
    events: list[Event]
    keyword: str
    info: dict = field(default_factory=dict)
    num_samples: int = -1

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        n = self.audio.shape[0] if self.num_samples < 0 else self.num_samples
        return n / float(self.sample_rate)

    def without_audio(self) -> "Stream":
        """A copy without the samples (events, info and length kept): hours-long streams are ~58 MB per 10 minutes
        of float32, so a runner keeps only the manifest of each condition and reloads the audio when it scores."""
        return Stream(audio=np.zeros(0, dtype=np.float32), sample_rate=self.sample_rate, events=self.events,
                      keyword=self.keyword, info=self.info, num_samples=int(round(self.duration_s * self.sample_rate)))

    def keyword_events(self) -> list[Event]:
        """The positive events only."""
        return [e for e in self.events if e.is_keyword]


# ---- sources -------------------------------------------------------------------------------------------------


def _clip_word(clip) -> str:
    word = getattr(clip, "word", None)
    return str(word) if word and clip.label.startswith("_") else str(clip.label)


@dataclass(frozen=True)
class Segment:
    """A span of an audio file used as one clip of a stream (a piece of a long negative recording).

    Attributes:
        path: the audio file.
        label: its word (``""`` for unlabelled negative audio).
        start_s: start of the span in the file, seconds.
        end_s: its end, seconds (``None``: the end of the file).
        speaker: speaker id or ``None``.
        meta: manifest columns (as :attr:`voxquant.data.Clip.meta`).
    """

    path: Path
    label: str
    start_s: float = 0.0
    end_s: float | None = None
    speaker: str | None = None
    meta: dict = field(default_factory=dict, hash=False, compare=False)
    word: str | None = None


class _Item(tuple):
    """(path, word, speaker, groups, start_s, end_s) of one placeable clip."""

    __slots__ = ()

    def __new__(cls, path, word, speaker="", groups=None, start_s=0.0, end_s=None):
        return super().__new__(cls, (str(path), str(word), str(speaker or ""), dict(groups or {}), float(start_s),
                                     None if end_s is None else float(end_s)))

    path = property(lambda self: self[0])
    word = property(lambda self: self[1])


def _as_items(source, what: str) -> list[_Item]:
    """ClipSet / list of Clip or Segment / list of (path, label) -> [_Item]."""
    items = []
    if source is None:
        raise DataError(f"{what}: no clips given (None)")
    for i, entry in enumerate(source):
        if hasattr(entry, "path") and hasattr(entry, "label"):
            meta = getattr(entry, "meta", None) or {}
            groups = {k: str(meta[k]) for k in GROUP_COLUMNS if str(meta.get(k) or "").strip()}
            items.append(_Item(entry.path, _clip_word(entry), getattr(entry, "speaker", None), groups,
                               getattr(entry, "start_s", 0.0), getattr(entry, "end_s", None)))
        elif isinstance(entry, (tuple, list)) and len(entry) == 2:
            items.append(_Item(entry[0], entry[1]))
        else:
            raise DataError(f"{what}: entry {i} is neither a Clip nor a (path, label) pair: {entry!r}")
    return items


def _same_word(a: str, b: str) -> bool:
    return a.strip().lower() == b.strip().lower()


def _split_sets(cs, split: str):
    from voxquant.data.splits import split_dev_eval

    if split == "all":
        return cs
    if split not in ("dev", "eval"):
        raise DataError(f"split must be 'dev', 'eval' or 'all', got {split!r}")
    dev, ev = split_dev_eval(cs)
    return dev if split == "dev" else ev


def default_stream_sources(keyword: str, data_root: str | Path | None = None, split: str = "eval", *,
                           require_positives: bool = True):
    """Pick positives and negatives for a stream from the shared data pack.

    Positives: the clips of ``keyword`` - one of Picovoice's six wake words (``picovoice-wakewords``: alexa,
    computer, jarvis, smart_mirror, snowboy, view_glass) or any Speech Commands v0.02 word (the 12-class test set,
    whose ``_unknown_`` clips carry their real word; e.g. ``yes`` or ``marvin``). Negatives: every Speech Commands
    test clip of another word (``_silence_`` excluded), plus, for a Picovoice keyword, the other five wake words.
    A keyword clip never appears among negatives.

    Args:
        keyword: the wake word (case-insensitive).
        data_root: data pack root (default ``VOXQUANT_DATA``).
        split: ``"eval"`` (default, the held-out half of :func:`voxquant.data.split_dev_eval`), ``"dev"`` or ``"all"``.
        require_positives: ``False`` when the caller brings its own positives (an empty positives list is then
            returned instead of an error).

    Returns:
        ``(positives, negatives)``: two lists of :class:`~voxquant.data.Clip`.

    Raises:
        DataError: no clip of ``keyword`` (names the words available; only with ``require_positives``), a bad
            ``split``, or a missing set.
    """
    from voxquant.data.specs import load_dataset

    sc = _split_sets(load_dataset("speech-commands-v2-test", data_root=data_root), split)
    sc_clips = [c for c in sc.clips if c.label != "_silence_"]
    pico_clips: list = []
    available = {_clip_word(c) for c in sc_clips}
    try:
        pico = _split_sets(load_dataset("picovoice-wakewords", data_root=data_root), split)
        pico_clips = list(pico.clips)
        available |= {_clip_word(c) for c in pico_clips}
    except DataError:
        pico = None
    pico_words = {_clip_word(c).lower() for c in pico_clips}
    positives = [c for c in sc_clips + pico_clips if _same_word(_clip_word(c), keyword)]
    if not positives and require_positives:
        raise DataError(
            f"keyword {keyword!r} has no clips in the data pack (split {split!r}); words available: "
            f"{', '.join(sorted(available))}"
        )
    negatives = [c for c in sc_clips if not _same_word(_clip_word(c), keyword)]
    if keyword.lower() in pico_words:
        negatives += [c for c in pico_clips if not _same_word(_clip_word(c), keyword)]
    return positives, negatives


def _log():
    import logging

    return logging.getLogger("voxquant")


def _candidate_words(clip, root: Path) -> list[str]:
    """Every name that says which word a clip holds: its label, its word, the word of a Speech-Commands-style file
    name (``<word>_<speaker>_nohash_<n>``) and the folders between ``root`` and the file."""
    from voxquant.data.datasets import parse_sc_name

    names = [clip.label, getattr(clip, "word", None) or "", parse_sc_name(Path(clip.path).name)[0] or ""]
    try:
        names += list(Path(clip.path).resolve().relative_to(root.resolve()).parts[:-1])
    except ValueError:
        pass
    return [n for n in names if n and not n.startswith("_")]


def _user_clips(spec: str | Path, option: str):
    """Load a user folder / manifest with the data layer's loader (:func:`voxquant.data.load_calibration`)."""
    from voxquant.data.specs import list_audio_files, load_calibration

    from voxquant.data.datasets import AUDIO_EXTENSIONS, Clip

    path = Path(spec).expanduser()
    if not path.exists():
        raise DataError(f"{option}: no such folder or manifest", path)
    if path.is_file() and path.name.lower().endswith(AUDIO_EXTENSIONS):  # one recording
        return path.parent, [Clip(path.resolve(), "")]
    if path.is_dir() and not (path / "manifest.csv").is_file() and not list_audio_files(path):
        raise DataError(f"{option}: the folder holds no audio files (.wav, .flac, .ogg; searched recursively) "
                        "and no manifest.csv", path)
    return (path if path.is_dir() else path.parent), load_calibration(path, name=path.name).clips


def _duration_s(path: Path, option: str) -> float:
    import soundfile as sf

    from voxquant.errors import AudioError

    try:
        info = sf.info(str(path))
    except Exception as exc:  # libsndfile's error: not audio, truncated header, no permission
        raise AudioError(f"{option}: not a readable audio file ({str(exc).splitlines()[0][:120]})", path) from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioError(f"{option}: the file holds no audio frames", path)
    return info.frames / float(info.samplerate)


def user_stream_sources(keyword: str, *, negatives: str | Path | None = None, positives: str | Path | None = None,
                        data_root: str | Path | None = None, split: str = "eval", min_negative_s: float = 1.0,
                        piece_s: float = NEGATIVE_PIECE_S) -> tuple[list, list]:
    """Positives and negatives for a stream from the user's own audio, the rest from the data pack.

    Both are read by the data layer's loader (:func:`voxquant.data.load_calibration`): a single audio file, a
    folder with a ``manifest.csv`` (``path,label[,speaker][,accent,gender,...]``, label optional) or a folder of audio files
    (WAV/FLAC/OGG, searched recursively, any sample rate: resampled with soxr when the stream is built).

    * ``negatives``: long recordings of anything but the keyword (TV, conversation, household noise). Each is cut
      into pieces of at most ``piece_s`` seconds (:class:`Segment`; a last piece shorter than ``min_negative_s``
      joins the one before). Build with ``negatives_once=True`` so each piece is used once: the stream's hours are
      then bounded by what was given. A file whose label, word, Speech-Commands word (``yes_<id>_nohash_0.wav``)
      or folder name is the keyword is an error (listed). Files shorter than ``min_negative_s`` are skipped with a
      warning naming them (``voxquant`` logger).
    * ``positives``: clips of the keyword. A clip counts when its label or word is the keyword or, unlabelled,
      when its Speech-Commands word or folder name is the keyword or it has no such name (a flat folder of the
      user's keyword recordings). Clips of other words are left out (a warning on the ``voxquant`` logger). ``speaker`` and the group
      columns (:data:`GROUP_COLUMNS`) of a manifest go to the keyword events (per-group FRR).

    Args:
        keyword: the wake word (case-insensitive).
        negatives, positives: folder or manifest CSV, or ``None`` for the data pack's
            (:func:`default_stream_sources`, ``split``).
        data_root: data pack root for what the user does not give.
        split: data pack split (``"eval"``).
        min_negative_s: shortest usable negative recording, seconds (e.g. the model's window).
        piece_s: longest piece of a negative recording, seconds.

    Returns:
        ``(positives, negatives)``: lists of :class:`~voxquant.data.Clip` / :class:`Segment`.

    Raises:
        DataError: a folder that does not exist or holds no audio, a malformed manifest (the data layer's
            message), negatives naming the keyword (lists the files), every negative shorter than
            ``min_negative_s``, positives without a clip of the keyword (lists the words found).
        AudioError: an unreadable negative file (named).
    """
    from voxquant.data.datasets import parse_sc_name

    if not piece_s > 0 or not min_negative_s >= 0:
        raise DataError(f"stream: piece_s must be > 0 and min_negative_s >= 0, got {piece_s}, {min_negative_s}")
    pos: list = []
    neg: list = []
    if positives is None or negatives is None:
        pos, neg = default_stream_sources(keyword, data_root, split, require_positives=positives is None)
    if positives is not None:
        root, clips = _user_clips(positives, "--positives")
        pos, others = [], []
        for c in clips:
            names = _candidate_words(c, root)
            named = [n for n in names if _same_word(n, keyword)]
            if named or not names:
                speaker = c.speaker or parse_sc_name(Path(c.path).name)[1]
                pos.append(Segment(Path(c.path), keyword, speaker=speaker, meta=dict(c.meta)))
            else:
                others.append((c.path, names[0]))
        if not pos:
            words = sorted({w for _, w in others})
            raise DataError(f"--positives: no clip of the keyword {keyword!r} (by label, word, file name or folder); "
                            f"words found: {', '.join(words[:20]) or 'none'}", positives)
        if others:
            _log().warning("--positives %s: %d clip(s) of other words left out (e.g. %s: %r)", positives,
                           len(others), others[0][0], others[0][1])
    if negatives is not None:
        root, clips = _user_clips(negatives, "--negatives")
        named = [str(c.path) for c in clips if any(_same_word(n, keyword) for n in _candidate_words(c, root))]
        if named:
            more = f" ... ({len(named) - 5} more)" if len(named) > 5 else ""
            raise DataError(f"--negatives: {len(named)} file(s) are labelled or named as the keyword {keyword!r}: "
                            f"{'; '.join(named[:5])}{more}", negatives,
                            hint="remove them from the negatives (keyword clips belong in --positives)")
        neg, short = [], []
        for c in clips:
            dur = _duration_s(Path(c.path), "--negatives")
            if dur < min_negative_s:
                short.append(f"{c.path} ({dur:.2f} s)")
                continue
            k = max(1, int(math.ceil(dur / piece_s)))
            bounds = [min(dur, i * piece_s) for i in range(k)] + [dur]
            if k > 1 and bounds[-1] - bounds[-2] < min_negative_s:
                del bounds[-2]
            for a, b in zip(bounds[:-1], bounds[1:]):
                neg.append(Segment(Path(c.path), c.label or "", a, None if b >= dur else b, c.speaker, dict(c.meta)))
        if short:
            msg = (f"--negatives: {len(short)} file(s) shorter than {min_negative_s:g} s: "
                   f"{'; '.join(short[:5])}{' ...' if len(short) > 5 else ''}")
            if not neg:
                raise DataError(msg + "; nothing left", negatives)
            _log().warning("%s (skipped)", msg)
    return pos, neg


def _clock(t: float) -> str:
    """``754.4`` -> ``"12:34.4"``, ``3725.0`` -> ``"1:02:05.0"``."""
    m, sec = divmod(max(0.0, float(t)), 60.0)
    h, m = divmod(int(m), 60)
    return f"{h}:{m:02d}:{sec:04.1f}" if h else f"{m}:{sec:04.1f}"


def locate_detections(stream: Stream, detections_s, window_s: float, scores=None) -> list[dict]:
    """Trace detections back to the negative recording and the time in it they come from.

    A detection at ``t`` (the end of the model window ``[t - window_s, t]``) is assigned to the non-keyword event
    its window overlaps most; the time reported is where that window starts inside the event's source file
    (``source_offset_s + max(0, t - window_s - start_s)``), so a keyword hidden in a negative recording at ``x``
    seconds is reported within about one window of ``x``. Detections whose window overlaps no non-keyword event
    are left out.

    Args:
        stream: the stream (events with ``source_path`` and ``source_offset_s``).
        detections_s: ``float [D]`` detection times, seconds of stream audio.
        window_s: the model's window, seconds.
        scores: optional ``float [D]`` score of each detection.

    Returns:
        ``[{"file", "time_in_file_s", "stream_time_s", "score"}]`` in stream order.
    """
    negs = [e for e in stream.events if not e.is_keyword]
    starts = np.array([e.start_s for e in negs])
    ends = np.array([e.end_s for e in negs])
    out = []
    for i, t in enumerate(np.asarray(detections_s, dtype=np.float64).ravel()):
        if not negs:
            break
        overlap = np.minimum(ends, t) - np.maximum(starts, t - window_s)
        j = int(np.argmax(overlap))
        if overlap[j] <= 0:
            continue
        e = negs[j]
        out.append({"file": e.source_path, "time_in_file_s": e.source_offset_s + max(0.0, t - window_s - e.start_s),
                    "stream_time_s": float(t), "score": None if scores is None else float(np.ravel(scores)[i])})
    return out


def negatives_warning(keyword: str, hits: Sequence[Mapping]) -> str | None:
    """One line ``"negatives may contain 'yes': a.wav at 12:03.4, 45:10.2; b.wav at 0:05.1"`` (``None`` without
    hits); times within 1 s of each other in the same file are listed once."""
    by: dict[str, list[float]] = {}
    for h in sorted(hits, key=lambda h: (h["file"], h["time_in_file_s"])):
        ts = by.setdefault(h["file"], [])
        if not ts or h["time_in_file_s"] - ts[-1] > 1.0:
            ts.append(h["time_in_file_s"])
    if not by:
        return None
    return f"negatives may contain {keyword!r}: " + "; ".join(
        f"{f} at {', '.join(_clock(t) for t in ts)}" for f, ts in by.items())


# ---- building --------------------------------------------------------------------------------------------------


def trim_silence(x: np.ndarray, sample_rate: int, threshold_db: float = TRIM_THRESHOLD_DB) -> np.ndarray:
    """Cut leading and trailing silence by frame energy (module docstring: 10 ms frames, -40 dB re loudest frame).

    Args:
        x: ``float32 [N]``.
        sample_rate: Hz.
        threshold_db: voice threshold relative to the loudest frame's RMS, dB (negative).

    Returns:
        ``float32 [M]``, ``M <= N``, a contiguous slice of ``x`` (whole frames); empty if ``x`` is all zeros.
    """
    x = np.asarray(x, dtype=np.float32)
    a, b = trim_bounds(x, sample_rate, threshold_db)
    return x[a:b]


def trim_bounds(x: np.ndarray, sample_rate: int, threshold_db: float = TRIM_THRESHOLD_DB) -> tuple[int, int]:
    """``(a, b)``: the sample range :func:`trim_silence` keeps: 10 ms frames whose RMS is within ``threshold_db``
    of the loudest frame, first to last (``a == b == 0`` for silence). Also the word trimming of
    :func:`voxquant.data.sequences.active_region`."""
    hop = max(1, int(round(TRIM_FRAME_S * sample_rate)))
    n = int(math.ceil(x.shape[0] / hop))
    if n == 0:
        return 0, 0
    padded = np.zeros(n * hop, dtype=np.float64)
    padded[: x.shape[0]] = x
    rms = np.sqrt(np.mean(padded.reshape(n, hop) ** 2, axis=1))
    peak = float(rms.max())
    if peak <= 0.0:
        return 0, 0
    voice = np.flatnonzero(rms >= peak * 10.0 ** (threshold_db / 20.0))
    return int(voice[0] * hop), int(min(x.shape[0], (voice[-1] + 1) * hop))


class _Pool:
    """Draws clips without replacement from seeded permutations; decodes each file once (a long recording cut into
    segments is decoded once and sliced) and trims each clip or segment once."""

    def __init__(self, items, rng, sample_rate, cache):
        self.items, self.rng, self.sr, self.cache = items, rng, sample_rate, cache
        self.order: list[int] = []
        self.rounds = 0  # permutations started: > 1 means some clip is drawn a second time

    def _audio(self, item: _Item) -> tuple[int, np.ndarray]:
        """(offset of the trimmed audio in the file, samples; trimmed audio float32)."""
        key = (item.path, item[4], item[5])
        if key not in self.cache:
            if item.path not in self.cache:
                from voxquant.audio.io import load_audio

                self.cache[item.path] = load_audio(item.path, self.sr, mix_to_mono=True)
            full = self.cache[item.path]
            lo = int(round(item[4] * self.sr))
            hi = full.shape[0] if item[5] is None else min(full.shape[0], int(round(item[5] * self.sr)))
            a, b = trim_bounds(full[lo:hi], self.sr)
            self.cache[key] = (lo + a, full[lo + a : lo + b])
        return self.cache[key]

    @property
    def used_up(self) -> bool:
        """Every clip has been drawn once (the next draw would repeat one)."""
        return not self.order and self.rounds >= 1

    def draw(self) -> tuple[_Item, np.ndarray, float]:
        """(item, trimmed audio, offset in its file in seconds)."""
        for _ in range(2 * len(self.items) + 1):
            if not self.order:
                self.order = [int(i) for i in self.rng.permutation(len(self.items))]
                self.rounds += 1
            item = self.items[self.order.pop(0)]
            off, x = self._audio(item)
            if x.size:
                return item, x, off / self.sr
            warnings.warn(f"stream: skipping silent clip {item.path}", stacklevel=3)
        raise DataError(f"stream: every clip is silent (e.g. {self.items[0].path})")


def _noise_track(noise: Mapping[str, np.ndarray], n: int, rng: np.random.Generator) -> tuple[np.ndarray, list]:
    names = sorted(noise)
    out = np.zeros(n, dtype=np.float32)  # the recordings are float32: no rounding, half the memory of float64
    used, filled = [], 0
    while filled < n:
        name = names[int(rng.integers(len(names)))]
        rec = noise[name]
        need = n - filled
        if rec.shape[0] > need:
            off = int(rng.integers(0, rec.shape[0] - need + 1))
            seg = rec[off : off + need]
        else:
            off = int(rng.integers(0, rec.shape[0]))
            seg = np.roll(rec, -off)
        out[filled : filled + seg.shape[0]] = seg
        used.append({"name": name, "offset": off, "at_s": filled, "samples": int(seg.shape[0])})
        filled += seg.shape[0]
    return out, used


def _check_noise(noise) -> dict[str, np.ndarray]:
    if not isinstance(noise, Mapping) or not noise:
        raise DataError("stream: noise must be a non-empty {name: float32 [L]} mapping (e.g. load_noise_bank())")
    out = {}
    for k, v in noise.items():
        a = np.asarray(v, dtype=np.float32)
        if a.ndim != 1 or a.size == 0 or not np.all(np.isfinite(a)):
            raise DataError(f"stream: noise {k!r} must be a non-empty, finite 1-D array, got shape {a.shape}")
        if not np.any(a):
            raise DataError(f"stream: noise {k!r} is all zeros")
        out[str(k)] = a
    return out


def mix_noise_at_snr(speech: np.ndarray, events: Sequence[Event], sample_rate: int, noise: Mapping[str, np.ndarray],
                     snr_db: float, rng: np.random.Generator, info: dict) -> None:
    """Add real background noise under a speech track, in place, at ``snr_db`` over the samples inside ``events``
    (module docstring: SNR); records ``noise``, ``noise_gain`` and ``keyword_snr_db`` (p10/p50/p90 over keyword
    events) in ``info``.

    Args:
        speech: ``float32 [S]`` speech track (modified in place).
        events: the placed clips (non-overlapping); their spans define the speech power.
        sample_rate: Hz. noise: ``{name: float32 [L]}`` (checked: :func:`_check_noise`). snr_db: dB.
        rng: generator of the noise track (:func:`build_stream` uses ``default_rng([seed, 1])``).
        info: the stream's info dict (updated).

    Raises:
        DataError: malformed noise, or noise silent under every event.
    """
    bank = _check_noise(noise)
    n = speech.shape[0]
    # Memory: the mix is built in place in ``speech`` (float32; sums in float64 chunk by chunk) from a float32 noise
    # track, and event powers are summed per event (events never overlap): ~8 bytes per sample of stream.
    spans = [(int(round(e.start_s * sample_rate)), int(round(e.end_s * sample_rate))) for e in events]
    noise_track, used = _noise_track(bank, n, rng)
    count = sum(max(0, b - a) for a, b in spans)
    p_s = sum(float(np.dot(speech[a:b].astype(np.float64), speech[a:b].astype(np.float64)))
              for a, b in spans) / max(count, 1)
    p_n = sum(float(np.dot(noise_track[a:b].astype(np.float64), noise_track[a:b].astype(np.float64)))
              for a, b in spans) / max(count, 1)
    if p_n <= 0.0:
        raise DataError("stream: the noise is silent under every event; cannot set an SNR")
    g = math.sqrt(p_s / (p_n * 10.0 ** (snr_db / 10.0)))
    info["noise"] = used
    info["noise_gain"] = g
    per = []  # SNR actually obtained under each keyword event (before the noise is added in place)
    for e, (a, b) in zip(events, spans):
        if e.is_keyword and b > a:
            pn = float(np.mean((g * noise_track[a:b].astype(np.float64)) ** 2))
            if pn > 0.0:
                per.append(10.0 * math.log10(float(np.mean(speech[a:b].astype(np.float64) ** 2)) / pn))
    if per:
        info["keyword_snr_db"] = [float(np.percentile(per, q)) for q in (10, 50, 90)]
    step = 1 << 20
    for a in range(0, n, step):
        speech[a : a + step] = speech[a : a + step].astype(np.float64) + g * noise_track[a : a + step].astype(np.float64)


def limit_peak(audio: np.ndarray, info: dict) -> None:
    """Scale ``audio`` (in place) down as a whole when its peak exceeds :data:`PEAK_LIMIT`; ``info["gain"]`` = the
    factor (1.0 when untouched)."""
    n = audio.shape[0]
    peak = max(float(audio.max()), -float(audio.min())) if n else 0.0
    gain = PEAK_LIMIT / peak if peak > PEAK_LIMIT else 1.0
    info["gain"] = gain
    if gain != 1.0:
        audio *= np.float32(gain)


def build_stream(
    positives,
    negatives_speech,
    noise: Mapping[str, np.ndarray] | None,
    *,
    keyword: str,
    duration_s: float,
    sample_rate: int = 16000,
    snr_db: float | None = 10.0,
    rir: np.ndarray | None = None,
    min_gap_s: float = 0.5,
    max_gap_s: float = 2.0,
    keyword_fraction: float = 0.5,
    seed: int = 0,
    negatives_once: bool = False,
) -> Stream:
    """Build a continuous, seeded test stream (module docstring: trimming, placement, reverberation, SNR, level).

    Args:
        positives: clips of ``keyword``: a :class:`~voxquant.data.ClipSet`, a list of Clip, or of ``(path, label)``.
            Every label must be ``keyword`` (case-insensitive).
        negatives_speech: other speech, same forms. Clips labelled ``keyword`` are dropped with a warning.
        noise: ``{name: float32 [L]}`` real recordings at ``sample_rate`` (e.g. ``load_noise_bank()`` or the eval
            half of ``split_noise_bank``); ignored (may be ``None``) when ``snr_db`` is ``None``.
        keyword: the wake word.
        duration_s: stream length, seconds.
        sample_rate: Hz; clips are resampled when needed.
        snr_db: speech-to-noise ratio over the events, dB (Picovoice's benchmark: 10); ``None``: clean.
        rir: ``float32 [K]`` room impulse response at ``sample_rate`` applied to the speech, or ``None``.
        min_gap_s, max_gap_s: gap before each clip, uniform in ``[min_gap_s, max_gap_s]`` seconds.
        keyword_fraction: probability that a clip after the first is a keyword (the first always is).
        seed: integer seed.
        negatives_once: use every negative clip (or :class:`Segment`) at most once: the stream ends, after one
            more gap, where the next negative would repeat one, so it may be shorter than ``duration_s``
            (``info["bounded_by_negatives"]`` = ``{"requested_s", "duration_s"}``; the user's recordings bound the
            hours of negatives). Default: pools are reshuffled and reused.

    Returns:
        :class:`Stream` with ``audio float32 [round(duration_s * sample_rate)]`` (shorter with ``negatives_once``).

    Raises:
        DataError: no positives, positives of another label, no clip of ``keyword`` (names the labels given),
            empty negatives (or only keyword clips), ``duration_s`` too short for one gap plus one keyword clip,
            bad gaps/fraction/SNR, empty or malformed noise, a bad RIR. AudioError: an unreadable clip (named).
    """
    from voxquant.data.augment import apply_rir

    if not isinstance(keyword, str) or not keyword.strip():
        raise DataError(f"stream: keyword must be a non-empty string, got {keyword!r}")
    for name, v in (("duration_s", duration_s), ("min_gap_s", min_gap_s), ("max_gap_s", max_gap_s)):
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
            raise DataError(f"stream: {name} must be a finite number >= 0, got {v!r}")
    if max_gap_s < min_gap_s:
        raise DataError(f"stream: max_gap_s ({max_gap_s}) < min_gap_s ({min_gap_s})")
    if not 0.0 <= keyword_fraction <= 1.0:
        raise DataError(f"stream: keyword_fraction must be in [0, 1], got {keyword_fraction!r}")
    if snr_db is not None and (not isinstance(snr_db, (int, float)) or not math.isfinite(snr_db)):
        raise DataError(f"stream: snr_db must be a finite number or None, got {snr_db!r}")

    pos = _as_items(positives, "positives")
    neg = _as_items(negatives_speech, "negatives")
    labels = sorted({it.word for it in pos})
    if not pos or not any(_same_word(it.word, keyword) for it in pos):
        raise DataError(f"stream: no clip of keyword {keyword!r} among the positives; labels given: {labels or 'none'}")
    others = [w for w in labels if not _same_word(w, keyword)]
    if others:
        raise DataError(f"stream: positives for keyword {keyword!r} also hold other labels: {others}")
    dropped = [it.path for it in neg if _same_word(it.word, keyword)]
    if dropped:
        warnings.warn(
            f"stream: {len(dropped)} negative clip(s) are labelled with the keyword {keyword!r} and were dropped "
            f"(e.g. {dropped[0]})",
            stacklevel=2,
        )
        neg = [it for it in neg if not _same_word(it.word, keyword)]
    if not neg:
        raise DataError(f"stream: no negative speech for keyword {keyword!r} (the negatives are empty)")
    clean = snr_db is None
    bank = None if clean else _check_noise(noise)
    h = None
    if rir is not None:
        h = np.asarray(rir, dtype=np.float32)
        if h.ndim != 1 or h.size == 0 or not np.any(h) or not np.all(np.isfinite(h)):
            raise DataError(f"stream: rir must be a non-empty, non-zero, finite 1-D array, got shape {h.shape}")

    n = int(round(duration_s * sample_rate))
    rng_place = np.random.default_rng([int(seed), 0])
    cache: dict[str, np.ndarray] = {}
    pos_pool = _Pool(pos, rng_place, sample_rate, cache)
    neg_pool = _Pool(neg, rng_place, sample_rate, cache)

    speech = np.zeros(n, dtype=np.float32)  # clips never overlap: placing them in float32 rounds nothing further
    events: list[Event] = []
    cursor = 0
    first = True
    bounded = False
    while True:
        gap = int(round(rng_place.uniform(min_gap_s, max_gap_s) * sample_rate))
        is_kw = first or bool(rng_place.random() < keyword_fraction)
        if negatives_once and not is_kw and neg_pool.used_up:
            if cursor + gap < n:
                n, bounded = cursor + gap, True
            break
        item, x, offset_s = (pos_pool if is_kw else neg_pool).draw()
        path, word = item.path, item.word
        rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0
        if rms > 0.0:
            x = x * (SPEECH_RMS / rms)
        start = cursor + gap
        if start + x.shape[0] > n:
            if first:
                raise DataError(
                    f"stream: duration_s={duration_s} is too short for one gap ({gap / sample_rate:.2f} s) plus one "
                    f"{keyword!r} clip ({x.shape[0] / sample_rate:.2f} s, {path})"
                )
            break
        speech[start : start + x.shape[0]] += x
        events.append(Event(start / sample_rate, (start + x.shape[0]) / sample_rate, keyword if is_kw else word,
                            path, is_kw, offset_s, item[2], item[3]))
        cursor = start + x.shape[0]
        first = False

    if bounded:
        speech = speech[:n]
    if h is not None:
        speech = apply_rir(speech, h)  # float32 in and out (overlap-add for long streams)
    info: dict = {"seed": int(seed), "snr_db": snr_db, "min_gap_s": min_gap_s, "max_gap_s": max_gap_s,
                  "keyword_fraction": keyword_fraction, "rir": h is not None, "noise": []}
    if bounded:
        info["bounded_by_negatives"] = {"requested_s": float(duration_s), "duration_s": n / float(sample_rate)}
    if not clean:
        mix_noise_at_snr(speech, events, sample_rate, bank, float(snr_db), np.random.default_rng([int(seed), 1]), info)
    limit_peak(speech, info)
    audio = speech
    return Stream(audio=audio, sample_rate=int(sample_rate), events=events, keyword=keyword, info=info)


# ---- manifest, save, load ----------------------------------------------------------------------------------------


def stream_manifest(stream: Stream) -> list[dict]:
    """The events as dicts (keys :data:`EVENT_FIELDS`; ``groups`` a dict), in stream order."""
    return [asdict(e) for e in stream.events]


def save_stream(stream: Stream, folder: str | Path, audio_format: str = "wav") -> Path:
    """Write ``audio.<wav|flac>``, ``events.csv`` and ``stream.json`` into ``folder`` (atomic writes).

    Args:
        stream: the stream.
        folder: created if missing.
        audio_format: ``"wav"`` (float32, bit-exact) or ``"flac"`` (16-bit PCM, lossy by quantization).

    Returns:
        ``folder`` as a Path.

    Raises:
        DataError: an unknown ``audio_format``. OSError: the folder is not writable.
    """
    import soundfile as sf

    from voxquant.atomic import atomic_path, write_json_atomic, write_text_atomic

    if audio_format not in AUDIO_FORMATS:
        raise DataError(f"save_stream: audio_format must be one of {sorted(AUDIO_FORMATS)}, got {audio_format!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fmt, subtype = AUDIO_FORMATS[audio_format]
    audio_name = f"audio.{audio_format}"
    with atomic_path(folder / audio_name) as tmp:
        sf.write(str(tmp), stream.audio, stream.sample_rate, format=fmt, subtype=subtype)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(EVENT_FIELDS), lineterminator="\n")
    w.writeheader()
    for row in stream_manifest(stream):
        w.writerow({**row, "start_s": repr(row["start_s"]), "end_s": repr(row["end_s"]),
                    "source_offset_s": repr(float(row["source_offset_s"])),
                    "groups": json.dumps(row["groups"], sort_keys=True)})
    write_text_atomic(folder / "events.csv", buf.getvalue())
    write_json_atomic(folder / "stream.json", {
        "audio": audio_name, "sample_rate": stream.sample_rate, "keyword": stream.keyword,
        "num_samples": int(stream.audio.shape[0]), "events": "events.csv", "info": stream.info,
    })
    return folder


def load_stream(folder: str | Path) -> Stream:
    """Read a stream written by :func:`save_stream`.

    Returns:
        :class:`Stream` (audio ``float32 [S]``; events from ``events.csv``).

    Raises:
        DataError: missing folder/files, malformed ``stream.json`` or ``events.csv`` (names the file and row), or
            audio whose rate/length disagrees with ``stream.json``. AudioError: an unreadable audio file.
    """
    from voxquant.audio.io import load_audio

    folder = Path(folder)
    meta_path = folder / "stream.json"
    if not meta_path.is_file():
        raise DataError("not a saved stream (no stream.json)", folder)
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        audio_path = folder / str(meta["audio"])
        sr, keyword, num = int(meta["sample_rate"]), str(meta["keyword"]), int(meta["num_samples"])
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"malformed stream.json ({type(exc).__name__}: {exc})", meta_path) from None
    if not audio_path.is_file():
        raise DataError(f"the stream's audio file {audio_path.name} is missing", folder)
    audio = load_audio(audio_path, sr, resample=False)
    if audio.shape[0] != num:
        raise DataError(f"audio has {audio.shape[0]} samples, stream.json says {num}", audio_path)
    ev_path = folder / "events.csv"
    if not ev_path.is_file():
        raise DataError("the stream's events.csv is missing", folder)
    events = []
    with ev_path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) not in (EVENT_FIELDS, LEGACY_EVENT_FIELDS):
            raise DataError(f"events.csv columns must be {list(EVENT_FIELDS)}, got {reader.fieldnames}", ev_path)
        for i, row in enumerate(reader, start=2):
            try:
                kw = {"True": True, "False": False}[row["is_keyword"]]
                groups = json.loads(row.get("groups") or "{}")
                if not isinstance(groups, dict):
                    raise TypeError("groups is not a JSON object")
                e = Event(float(row["start_s"]), float(row["end_s"]), row["label"], row["source_path"], kw,
                          float(row.get("source_offset_s") or 0.0), row.get("speaker") or "", groups)
            except (KeyError, ValueError, TypeError):
                raise DataError(f"line {i}: bad event row {row}", ev_path) from None
            if not (0.0 <= e.start_s < e.end_s <= num / sr + 1e-9):
                raise DataError(f"line {i}: event [{e.start_s}, {e.end_s}] s is outside the stream", ev_path)
            events.append(e)
    return Stream(audio=audio, sample_rate=sr, events=events, keyword=keyword, info=dict(meta.get("info") or {}))


__all__ = [
    "AUDIO_FORMATS",
    "EVENT_FIELDS",
    "GROUP_COLUMNS",
    "NEGATIVE_PIECE_S",
    "Segment",
    "locate_detections",
    "negatives_warning",
    "user_stream_sources",
    "PEAK_LIMIT",
    "TRIM_FRAME_S",
    "TRIM_THRESHOLD_DB",
    "Event",
    "Stream",
    "build_stream",
    "default_stream_sources",
    "limit_peak",
    "load_stream",
    "mix_noise_at_snr",
    "save_stream",
    "stream_manifest",
    "trim_silence",
]
