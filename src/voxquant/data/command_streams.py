"""Continuous test streams of spoken commands behind a wake word, for the wake-word -> command-model cascade.

A cascade (an always-on wake-word trigger that hands the audio after a detection to a command recogniser) is judged
end to end on continuous audio where commands follow the wake word, among commands said *without* the wake word and
other speech. :func:`build_command_stream` places, one after another at seeded gaps (uniform in ``gap_s``, default
1.5-4 s: long enough for an end-of-speech detector to close each command before the next speech), three kinds of
items:

* ``wake_command`` (probability ``p_wake_command``; the first item always): a real wake-word clip, a natural pause
  (uniform in ``wake_gap_s``, default 0.15-0.6 s), then a command utterance;
* ``command_only`` (probability ``p_command_only``): a command utterance without the wake word (a cascade must not
  execute it: the trigger should not fire);
* ``other``: a clip of other speech (the wake-word streams' negatives: Speech Commands words, other wake words).

Commands are :class:`voxquant.data.sequences.SeqUtterance`: real accented connected-digit recordings
(:func:`~voxquant.data.sequences.real_connected_digits`) and synthetic held-out sequences of ``eval`` speakers
(:func:`~voxquant.data.sequences.held_out_sequences`), drawn from two seeded pools (a real one with probability
``real_fraction``), each pool a seeded permutation reused round after round (so each recording is used several
times over hours of stream). Each command is cut to its active region (:func:`voxquant.data.sequences.active_region`,
-40 dB re the loudest 10 ms frame, 50 ms margins), and every placed piece of speech is scaled to the same RMS
(:data:`voxquant.data.streams.SPEECH_RMS`), as the wake-word streams do. Reverberation, real background noise at an
SNR over the speech events, and the peak limit are those of :func:`voxquant.data.streams.build_stream`
(:func:`~voxquant.data.streams.mix_noise_at_snr`, :func:`~voxquant.data.streams.limit_peak`).

The result is a :class:`~voxquant.data.streams.Stream` (events: wake words as keyword events; commands and other
speech as non-keyword events, so :func:`voxquant.eval.streaming.match` scores the trigger on it unchanged) plus the
list of :class:`CommandEvent` (the manifest the cascade is scored against), saved together with
:func:`save_command_stream` (the stream files + ``commands.csv``) and read back with :func:`load_command_stream`.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voxquant.errors import DataError

#: Columns of ``commands.csv``.
COMMAND_FIELDS = ("kind", "wake_start_s", "wake_end_s", "command_start_s", "command_end_s", "words", "command_id",
                  "speaker", "wake_speaker", "groups")
#: Item kinds of a command stream.
KINDS = ("wake_command", "command_only")


@dataclass(frozen=True)
class CommandEvent:
    """One command placed in a stream.

    Attributes:
        kind: ``"wake_command"`` (after a wake word) or ``"command_only"`` (no wake word before it).
        wake_start_s, wake_end_s: span of the wake word in the stream, seconds (NaN for ``command_only``).
        command_start_s, command_end_s: span of the (trimmed) command, seconds.
        words: the command's words (:data:`voxquant.data.sequences.SEQ_VOCAB`).
        command_id: the :class:`~voxquant.data.sequences.SeqUtterance` id.
        speaker: the command's speaker (bootstrap cluster); wake_speaker: the wake-word clip's speaker.
        groups: the command's groups (``source``, ``accent``, ``native``, ...).
    """

    kind: str
    wake_start_s: float
    wake_end_s: float
    command_start_s: float
    command_end_s: float
    words: tuple
    command_id: str
    speaker: str
    wake_speaker: str = ""
    groups: dict = field(default_factory=dict, hash=False, compare=False)


@dataclass
class CommandStream:
    """A stream (:class:`~voxquant.data.streams.Stream`) and its commands (sorted by start)."""

    stream: object
    commands: list


def _command_audio(utt, cache: dict) -> np.ndarray:
    """The active region of a command utterance (``float32``), rendered once."""
    from voxquant.data.sequences import active_region, render

    if utt.id not in cache:
        x = render(utt)
        a, b = active_region(x)
        if b <= a:
            raise DataError(f"command {utt.id}: silent recording", utt.path)
        cache[utt.id] = np.ascontiguousarray(x[a:b], dtype=np.float32)
    return cache[utt.id]


def _scaled(x: np.ndarray) -> np.ndarray:
    from voxquant.data.streams import SPEECH_RMS

    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0
    return x * np.float32(SPEECH_RMS / rms) if rms > 0 else x


def build_command_stream(wake_clips, commands, other_speech, noise, *, keyword: str, duration_s: float,
                         sample_rate: int = 16000, snr_db: float | None = 10.0, rir: np.ndarray | None = None,
                         seed: int = 0, gap_s: tuple = (1.5, 4.0), wake_gap_s: tuple = (0.15, 0.6),
                         p_wake_command: float = 0.5, p_command_only: float = 0.15,
                         real_fraction: float = 0.5) -> CommandStream:
    """Build a seeded command stream (module docstring: items, pools, level, noise).

    Args:
        wake_clips: clips of the wake word (as :func:`voxquant.data.streams.build_stream`'s positives).
        commands: :class:`~voxquant.data.sequences.SeqUtterance` list; real ones (``path`` set) and synthetic ones
            form two pools.
        other_speech: other speech clips (the negatives of a wake-word stream).
        noise: ``{name: float32 [L]}`` real noise at ``sample_rate`` (``None`` when ``snr_db`` is ``None``).
        keyword: the wake word. duration_s: length, seconds. sample_rate: must be 16000 (commands are 16 kHz).
        snr_db: speech-to-noise ratio over the speech events, dB; ``None``: clean. rir: room impulse response.
        seed: integer seed (placement: ``default_rng([seed, 0])``; noise: ``default_rng([seed, 1])``).
        gap_s: (min, max) seconds between items. wake_gap_s: (min, max) pause between wake word and command.
        p_wake_command, p_command_only: probabilities of the two command kinds (the rest: other speech).
        real_fraction: probability that a command is drawn from the real pool (when both pools are non-empty).

    Returns:
        :class:`CommandStream`; ``stream.audio`` is ``float32 [round(duration_s * sample_rate)]``.

    Raises:
        DataError: no wake clips / commands / other speech, bad gaps or probabilities, a duration too short for the
            first wake word and command, bad noise or RIR.
    """
    from voxquant.data.augment import apply_rir
    from voxquant.data.streams import Event, Stream, _as_items, _Pool, _same_word, limit_peak, mix_noise_at_snr

    if sample_rate != 16000:
        raise DataError(f"command stream: commands are 16 kHz audio, got sample_rate={sample_rate}")
    for name, (lo, hi) in (("gap_s", gap_s), ("wake_gap_s", wake_gap_s)):
        if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo <= hi):
            raise DataError(f"command stream: {name} must be (min, max) with 0 <= min <= max, got {(lo, hi)}")
    if not (0 <= p_wake_command and 0 <= p_command_only and p_wake_command + p_command_only <= 1):
        raise DataError(f"command stream: p_wake_command + p_command_only must lie in [0, 1], got "
                        f"{p_wake_command} + {p_command_only}")
    if not isinstance(duration_s, (int, float)) or not math.isfinite(duration_s) or duration_s <= 0:
        raise DataError(f"command stream: duration_s must be a positive number, got {duration_s!r}")
    wake = [it for it in _as_items(wake_clips, "wake clips") if _same_word(it.word, keyword)]
    other = [it for it in _as_items(other_speech, "other speech") if not _same_word(it.word, keyword)]
    if not wake:
        raise DataError(f"command stream: no clip of the wake word {keyword!r}")
    if not other:
        raise DataError("command stream: no other speech")
    commands = list(commands or [])
    if not commands:
        raise DataError("command stream: no command utterances")
    real = [u for u in commands if u.path is not None]
    synth = [u for u in commands if u.path is None]

    n = int(round(duration_s * sample_rate))
    rng = np.random.default_rng([int(seed), 0])
    cache: dict = {}
    wake_pool = _Pool(wake, rng, sample_rate, cache)
    other_pool = _Pool(other, rng, sample_rate, cache)
    orders: dict = {"real": [], "synth": []}
    pools = {"real": real, "synth": synth}
    cmd_cache: dict = {}

    def draw_command():
        which = "real" if (real and (not synth or rng.random() < real_fraction)) else "synth"
        if not orders[which]:
            orders[which] = [int(i) for i in rng.permutation(len(pools[which]))]
        u = pools[which][orders[which].pop(0)]
        return u, _scaled(_command_audio(u, cmd_cache))

    speech = np.zeros(n, dtype=np.float32)
    events: list = []
    cmds: list = []
    cursor, first = 0, True
    while True:
        gap = int(round(rng.uniform(*gap_s) * sample_rate))
        r = rng.random()
        kind = "wake_command" if first or r < p_wake_command else (
            "command_only" if r < p_wake_command + p_command_only else "other")
        pieces = []  # (offset from item start, audio, Event builder)
        if kind == "wake_command":
            item, x, off = wake_pool.draw()
            x = _scaled(x)
            pause = int(round(rng.uniform(*wake_gap_s) * sample_rate))
            u, c = draw_command()
            pieces = [(0, x, ("wake", item, off)), (x.shape[0] + pause, c, ("command", u))]
        elif kind == "command_only":
            u, c = draw_command()
            pieces = [(0, c, ("command", u))]
        else:
            item, x, off = other_pool.draw()
            pieces = [(0, _scaled(x), ("other", item, off))]
        start = cursor + gap
        end = start + max(o + a.shape[0] for o, a, _ in pieces)
        if end > n:
            if first:
                raise DataError(f"command stream: duration_s={duration_s} is too short for the first wake word and "
                                f"command ({(end - cursor) / sample_rate:.1f} s)")
            break
        spans = {}
        for o, a, what in pieces:
            s0 = start + o
            speech[s0 : s0 + a.shape[0]] += a
            t0, t1 = s0 / sample_rate, (s0 + a.shape[0]) / sample_rate
            spans[what[0]] = (t0, t1)
            if what[0] == "command":
                u = what[1]
                events.append(Event(t0, t1, " ".join(u.words), str(u.path or u.id), False, 0.0, u.speaker,
                                    {k: str(v) for k, v in u.groups.items()}))
            else:
                it = what[1]
                events.append(Event(t0, t1, keyword if what[0] == "wake" else it.word, it.path, what[0] == "wake",
                                    what[2], it[2], it[3]))
        if kind != "other":
            u = pieces[-1][2][1]
            ws, we = spans.get("wake", (math.nan, math.nan))
            cs, ce = spans["command"]
            cmds.append(CommandEvent(kind, ws, we, cs, ce, tuple(u.words), u.id, u.speaker,
                                     pieces[0][2][1][2] if kind == "wake_command" else "",
                                     {k: str(v) for k, v in u.groups.items()}))
        cursor, first = end, False

    if rir is not None:
        h = np.asarray(rir, dtype=np.float32)
        if h.ndim != 1 or h.size == 0 or not np.any(h) or not np.all(np.isfinite(h)):
            raise DataError(f"command stream: rir must be a non-empty, non-zero, finite 1-D array, got {h.shape}")
        speech = apply_rir(speech, h)
    info = {"seed": int(seed), "snr_db": snr_db, "rir": rir is not None, "gap_s": list(gap_s),
            "wake_gap_s": list(wake_gap_s), "p_wake_command": p_wake_command, "p_command_only": p_command_only,
            "real_fraction": real_fraction, "n_real_commands": len(real), "n_synthetic_commands": len(synth),
            "noise": []}
    if snr_db is not None:
        mix_noise_at_snr(speech, events, sample_rate, noise, float(snr_db), np.random.default_rng([int(seed), 1]),
                         info)
    limit_peak(speech, info)
    return CommandStream(Stream(audio=speech, sample_rate=sample_rate, events=events, keyword=keyword, info=info),
                         cmds)


def save_command_stream(cs: CommandStream, folder: str | Path) -> Path:
    """:func:`voxquant.data.streams.save_stream` plus ``commands.csv`` (:data:`COMMAND_FIELDS`; ``words``
    space-separated, ``groups`` a JSON object), all atomic. Returns ``folder``."""
    from voxquant.atomic import write_text_atomic
    from voxquant.data.streams import save_stream

    folder = Path(folder)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(COMMAND_FIELDS), lineterminator="\n")
    w.writeheader()
    for c in cs.commands:
        w.writerow({"kind": c.kind, "wake_start_s": repr(float(c.wake_start_s)), "wake_end_s": repr(float(c.wake_end_s)),
                    "command_start_s": repr(float(c.command_start_s)), "command_end_s": repr(float(c.command_end_s)),
                    "words": " ".join(c.words), "command_id": c.command_id, "speaker": c.speaker,
                    "wake_speaker": c.wake_speaker, "groups": json.dumps(c.groups, sort_keys=True)})
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(folder / "commands.csv", buf.getvalue())
    save_stream(cs.stream, folder)  # stream.json last: its presence marks a complete folder
    return folder


def load_command_stream(folder: str | Path, audio: bool = True) -> CommandStream:
    """Read a stream written by :func:`save_command_stream` (``audio=False``: the manifest only,
    :meth:`~voxquant.data.streams.Stream.without_audio`).

    Raises:
        DataError: as :func:`voxquant.data.streams.load_stream`; a missing or malformed ``commands.csv`` (names the
            file and line).
    """
    from voxquant.data.streams import load_stream

    folder = Path(folder)
    s = load_stream(folder)
    if not audio:
        s = s.without_audio()
    path = folder / "commands.csv"
    if not path.is_file():
        raise DataError("not a command stream (no commands.csv)", folder)
    cmds = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) != COMMAND_FIELDS:
            raise DataError(f"commands.csv columns must be {list(COMMAND_FIELDS)}, got {reader.fieldnames}", path)
        for i, row in enumerate(reader, start=2):
            try:
                if row["kind"] not in KINDS:
                    raise ValueError(row["kind"])
                groups = json.loads(row["groups"] or "{}")
                cmds.append(CommandEvent(row["kind"], float(row["wake_start_s"]), float(row["wake_end_s"]),
                                         float(row["command_start_s"]), float(row["command_end_s"]),
                                         tuple(row["words"].split()), row["command_id"], row["speaker"],
                                         row["wake_speaker"], dict(groups)))
            except (KeyError, ValueError, TypeError):
                raise DataError(f"line {i}: bad command row {row}", path) from None
    return CommandStream(s, cmds)


__all__ = ["COMMAND_FIELDS", "KINDS", "CommandEvent", "CommandStream", "build_command_stream", "load_command_stream",
           "save_command_stream"]
