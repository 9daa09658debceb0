"""Datasets: clips, clip sets, manifest reading, per-clip groups, and cached decoding.

The loaders of the known sets live in :mod:`voxquant.data.sets` (one module each, listed in
:data:`voxquant.data.registry.DATASETS`; ``speech_commands_test``, ``fsdd``, ``noise_clips`` and ``rirs`` are still
importable from here); user data specs are resolved by :mod:`voxquant.data.specs`.

Two on-disk layouts are understood:

* **labelled folder** - ``<root>/<label>/*.wav|*.flac``: the layout of the official
  ``speech_commands_test_set_v0.02.tar.gz`` (Warden 2018, arXiv:1804.03209).
* **manifest set** - ``<set>/manifest.csv`` with at least ``path,label`` (``path`` relative to the set
  folder) plus ``speaker,split,word,...``: the layout of every set in ``shared/data`` (see its README) and of
  what :func:`voxquant.data.fetch.fetch` writes.

Set folders are found under :func:`voxquant.paths.data_root` (``VOXQUANT_DATA``). Audio is decoded with
:func:`voxquant.audio.io.load_audio` (16 kHz mono float32, resampled with soxr, padded/cropped) and cached as
``.npy`` by :func:`load_waves`.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import logging
import os
import re
import stat
import tempfile
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from voxquant.audio.io import load_audio
from voxquant.errors import AudioError, DataError
from voxquant.paths import cache_root, data_root

SC12_LABELS: tuple[str, ...] = (
    "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "_unknown_", "_silence_",
)
"""The 12 classes of the Speech Commands KWS task, in the default order (index = class id)."""

SC_TEST_DIR = "speech_commands_v0.02_test"
SC_TEST_NUM_CLIPS = 4890
FSDD_DIR = "fsdd"
NOISE_DIR = "speech_commands_noise"
RIRS_DIR = "rirs"

AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".flac", ".ogg")

#: ``[<word>_]<speaker>_nohash_<n>`` (Speech Commands file naming; speaker = 8 hex digits in v0.02).
_SC_NAME = re.compile(r"^(?:(?P<word>[A-Za-z]+)_)?(?P<speaker>[0-9A-Za-z]+)_nohash_(?P<utt>\d+)$")

_FETCH_HINT = (
    "run `voxquant data fetch speech-commands-v2-test` (needs network), or set VOXQUANT_DATA to a folder "
    f"that holds {SC_TEST_DIR}/ (e.g. the shared data pack: VOXQUANT_DATA=../shared/data)"
)


@dataclass(frozen=True)
class Clip:
    """One labelled audio file.

    Attributes:
        path: absolute path of the audio file (WAV/FLAC).
        label: class label (e.g. ``"yes"``, ``"_unknown_"``, ``"_silence_"``, ``"7"`` for FSDD).
        speaker: the data set's own speaker id (Speech Commands: the 8-hex prefix before ``_nohash_``);
            ``None`` where not applicable (silence, noise, RIRs) or unknown.
        word: the spoken word (for ``_unknown_``: the real word), ``None`` if unknown.
        meta: every other manifest column (strings), e.g. ``split``, ``kind``, ``sample_rate``.
    """

    path: Path
    label: str
    speaker: str | None = None
    word: str | None = None
    meta: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def stem(self) -> str:
        """File name without its audio extension(s) (``x.wav.wav`` -> ``x``)."""
        return strip_audio_suffixes(self.path.name)


@dataclass
class ClipSet:
    """An ordered list of clips plus the label vocabulary that defines class ids.

    Attributes:
        name: a short name, e.g. ``"speech_commands_v0.02_test"`` or ``"...:dev"``.
        clips: the clips, in a fixed order (the order of :meth:`label_ids` and :func:`load_waves` rows).
        labels: class names; ``labels[i]`` is class id ``i``. Every clip's label must be in it.

    Raises:
        DataError: a clip's label is not in ``labels``.
    """

    name: str
    clips: list[Clip]
    labels: tuple[str, ...]

    def __post_init__(self) -> None:
        self.clips = list(self.clips)
        self.labels = tuple(self.labels)
        known = set(self.labels)
        for clip in self.clips:
            if clip.label not in known:
                raise DataError(f"label {clip.label!r} is not one of the set's labels {list(self.labels)}", clip.path)

    def __len__(self) -> int:
        return len(self.clips)

    def __iter__(self) -> Iterator[Clip]:
        return iter(self.clips)

    def __getitem__(self, i: int) -> Clip:
        return self.clips[i]

    def label_ids(self) -> np.ndarray:
        """Class ids, ``int64 [N]``, index into :attr:`labels`."""
        index = {label: i for i, label in enumerate(self.labels)}
        return np.array([index[c.label] for c in self.clips], dtype=np.int64)

    def subset(self, indices: Sequence[int] | np.ndarray, name: str | None = None) -> "ClipSet":
        """A new set with the clips at ``indices`` (ints, or a boolean mask of length N), same labels."""
        idx = np.asarray(indices)
        if idx.dtype == bool:
            if idx.shape != (len(self.clips),):
                raise ValueError(f"boolean mask has shape {idx.shape}, expected ({len(self.clips)},)")
            idx = np.flatnonzero(idx)
        return ClipSet(name or self.name, [self.clips[int(i)] for i in idx.reshape(-1)], self.labels)

    def speakers(self) -> list[str]:
        """Sorted distinct speaker ids (clips without a speaker are ignored)."""
        return sorted({c.speaker for c in self.clips if c.speaker is not None})

    def counts(self) -> dict[str, int]:
        """Number of clips per label, in :attr:`labels` order (labels with no clip give 0)."""
        c = Counter(clip.label for clip in self.clips)
        return {label: c.get(label, 0) for label in self.labels}

    def paths(self) -> list[Path]:
        """The clip paths, in order."""
        return [c.path for c in self.clips]


def strip_audio_suffixes(name: str) -> str:
    """Drop trailing audio extensions from a file name, repeatedly (``a.wav.wav`` -> ``a``)."""
    while True:
        lower = name.lower()
        for ext in AUDIO_EXTENSIONS:
            if lower.endswith(ext) and len(name) > len(ext):
                name = name[: -len(ext)]
                break
        else:
            return name


def parse_sc_name(name: str) -> tuple[str | None, str | None, str | None]:
    """Parse a Speech Commands file name.

    Args:
        name: ``<speaker>_nohash_<n>.wav`` or ``<word>_<speaker>_nohash_<n>.wav[.wav]`` (the ``_unknown_``
            naming of the test-set tarball copies), any audio extension.

    Returns:
        ``(word, speaker, utterance)``; ``word`` is ``None`` when the name has no word prefix, and all three
        are ``None`` when the name does not follow the convention (e.g. the numeric ``_silence_`` files).
    """
    m = _SC_NAME.match(strip_audio_suffixes(name))
    if not m:
        return None, None, None
    return m.group("word"), m.group("speaker"), m.group("utt")


#: Reasons an entry that looks like audio (or sits in a label folder) is not read: ``(singular, plural)``.
SKIP_REASONS: dict[str, tuple[str, str]] = {
    "dangling": ("dangling symbolic link", "dangling symbolic links"),
    "loop": ("symbolic link loop", "symbolic link loops"),
    "missing": ("missing file", "missing files"),
    "directory": ("directory named like an audio file", "directories named like audio files"),
    "fifo": ("FIFO named like an audio file", "FIFOs named like audio files"),
    "special": ("special file (socket/device) named like an audio file", "special files (sockets/devices) named like audio files"),
    "unreadable": ("unreadable file (no permission)", "unreadable files (no permission)"),
    "non-audio": ("non-audio file", "non-audio files"),
}


def entry_problem(path: str | Path) -> str | None:
    """Why ``path`` cannot be read as an audio file, or ``None`` if it is a readable regular file.

    Looks at the entry itself without opening it (opening a FIFO would block): one of the keys of
    :data:`SKIP_REASONS` except ``non-audio`` (``dangling``, ``loop``, ``missing``, ``directory``, ``fifo``,
    ``special``, ``unreadable``).
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "loop"
        if os.path.islink(path):
            return "dangling"
        if exc.errno == errno.EACCES:
            return "unreadable"
        return "missing"
    if stat.S_ISDIR(st.st_mode):
        return "directory"
    if stat.S_ISFIFO(st.st_mode):
        return "fifo"
    if not stat.S_ISREG(st.st_mode):
        return "special"
    if not os.access(path, os.R_OK):
        return "unreadable"
    return None


def skipped_summary(skipped: Sequence[tuple[Path | str, str]], limit: int = 3) -> str:
    """``"3 files: 2 dangling symbolic links (a.wav, b.wav), 1 directory named like an audio file (x.wav)"``.

    Args:
        skipped: ``(path, reason)`` pairs; reasons are keys of :data:`SKIP_REASONS`.
        limit: paths named per reason (the rest are counted).
    """
    by: dict[str, list[str]] = {}
    for path, reason in skipped:
        by.setdefault(reason, []).append(str(path))
    parts = []
    for reason, paths in by.items():
        one, many = SKIP_REASONS.get(reason, (reason, reason))
        more = f", ... {len(paths) - limit} more" if len(paths) > limit else ""
        parts.append(f"{len(paths)} {one if len(paths) == 1 else many} ({', '.join(paths[:limit])}{more})")
    n = len(skipped)
    return f"{n} {'entry' if n == 1 else 'entries'}: " + ", ".join(parts)


def report_skipped(source: str | Path, skipped: Sequence[tuple[Path | str, str]]) -> None:
    """One warning line on the ``voxquant`` logger naming ``source`` and every reason with its count
    (:func:`skipped_summary`); each path also at debug level. Nothing when ``skipped`` is empty."""
    if not skipped:
        return
    log = logging.getLogger("voxquant")
    for path, reason in skipped:
        log.debug("%s: skipped %s: %s", source, path, SKIP_REASONS.get(reason, (reason,))[0])
    log.warning("%s: skipped %s", source, skipped_summary(skipped))


def scan_label_folder(folder: Path, exts: tuple[str, ...]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The readable audio files of one label folder (sorted by name) and the entries skipped, with their reason.

    An entry whose name ends in one of ``exts`` but is not a readable regular file (dangling symlink, symlink
    loop, directory, FIFO, ...) and any other file (``non-audio``) is skipped; sub-folders without an audio
    extension are not entries of a label folder and are ignored silently.
    """
    good: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    for f in sorted(folder.iterdir()):
        problem = entry_problem(f)
        if not f.name.lower().endswith(exts):
            if problem is None:
                skipped.append((f, "non-audio"))
            continue
        if problem is None:
            good.append(f)
        else:
            skipped.append((f, problem))
    return good, skipped


def load_labelled_folder(
    root: str | Path,
    labels: Sequence[str] | None = None,
    extensions: Iterable[str] = AUDIO_EXTENSIONS,
    name: str | None = None,
) -> ClipSet:
    """Load a ``<root>/<label>/*.wav|*.flac`` folder (the official Speech Commands test tarball layout).

    Speaker ids and words come from the ``[<word>_]<speaker>_nohash_<n>`` file names (:func:`parse_sc_name`);
    for a file without a word prefix the word is its folder label. Files are sorted by label order, then name.

    Args:
        root: folder holding one sub-folder per label.
        labels: expected labels (class order). ``None``: every sub-folder that holds audio, sorted.
        extensions: audio extensions to take (case-insensitive); other files are ignored.
        name: the set name (default: the folder name).

    Returns:
        A :class:`ClipSet` (``meta`` holds ``utterance`` when parsed).

    Raises:
        DataError: ``root`` is not a folder, a label folder of ``labels`` is missing (the message names the
            folder), or no audio file was found.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError("data folder not found", root)
    exts = tuple(e.lower() for e in extensions)
    scans: dict[str, tuple[list[Path], list[tuple[Path, str]]]] = {}
    if labels is None:
        for d in sorted(root.iterdir()):
            if d.is_dir() and not d.name.lower().endswith(exts):
                good, bad = scan_label_folder(d, exts)
                if good or any(r != "non-audio" for _, r in bad):  # a label folder: audio, or entries named so
                    scans[d.name] = (good, bad)
        labels = sorted(name for name, (good, _) in scans.items() if good)
    labels = tuple(labels)
    clips: list[Clip] = []
    skipped: list[tuple[Path, str]] = []
    for label in labels:
        folder = root / label
        if not folder.is_dir():
            raise DataError(f"label folder '{label}' is missing", folder, hint=f"expected one folder per label: {list(labels)}")
        good, bad = scans.get(label) or scan_label_folder(folder, exts)
        skipped += bad
        for f in good:
            word, speaker, utt = parse_sc_name(f.name)
            meta = {"utterance": utt} if utt is not None else {}
            clips.append(Clip(f.resolve(), label, speaker, word or label, meta))
    for label, (good, bad) in scans.items():
        if label not in labels:
            skipped += bad  # label folders left with no usable audio
    if not clips:
        why = f"; skipped {skipped_summary(skipped)}" if skipped else ""
        raise DataError(f"no audio files ({', '.join(exts)}) found in the label folders{why}", root)
    report_skipped(root, skipped)
    return ClipSet(name or root.name, clips, labels)


#: Manifest columns that become :class:`Clip` fields; every other column goes to ``Clip.meta``.
CLIP_COLUMNS: tuple[str, ...] = ("path", "label", "speaker", "word")

_MAX_LISTED = 5


def _listing(items: Sequence[str], limit: int = _MAX_LISTED) -> str:
    items = list(items)
    more = f" ... ({len(items) - limit} more)" if len(items) > limit else ""
    return "; ".join(items[:limit]) + more


def manifest_path(spec: str | Path) -> Path:
    """The manifest file of ``spec``: ``spec`` itself when it is a file, else ``<spec>/manifest.csv``."""
    p = Path(spec).expanduser()
    return p if p.suffix.lower() == ".csv" or p.is_file() else p / "manifest.csv"


def read_manifest(csv_path: str | Path, label_required: bool = True) -> tuple[list[str], list[tuple[int, dict]]]:
    """Read and check a manifest CSV (header row, then one row per clip).

    Args:
        csv_path: the CSV file. Required column ``path``; ``label`` too unless ``label_required`` is false.
        label_required: whether ``label`` must be a column and non-empty in every row.

    Returns:
        ``(columns, rows)``: the header, and ``(line_number, {column: str})`` per data row (line numbers as in
        a text editor, header = line 1; blank lines are skipped).

    Raises:
        DataError: file missing or unreadable (not UTF-8, bad CSV), no header, a required column missing (the
            message lists the columns it has), a row with more or fewer fields than the header, or an empty
            ``path``/``label`` (the message names the file and the first offending lines).
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise DataError(f"{csv_path.name} not found", csv_path)
    rows: list[tuple[int, dict]] = []
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            columns = [c.strip() for c in (reader.fieldnames or [])]
            reader.fieldnames = columns
            for row in reader:
                rows.append((reader.line_num, row))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read manifest ({exc})", csv_path) from None
    dup = sorted({c for c in columns if columns.count(c) > 1})
    if dup:  # csv.DictReader would keep the last one silently
        raise DataError(f"manifest header repeats column(s) {dup}", csv_path, hint="each column name must appear once")
    required = ["path", "label"] if label_required else ["path"]
    missing = [c for c in required if c not in columns]
    if missing:
        raise DataError(f"manifest lacks column(s) {missing} (has {columns})", csv_path,
                        hint="the first line must be a header such as path,label,speaker,split")
    bad = []
    for line, row in rows:
        if None in row:
            bad.append(f"line {line}: more fields than the header's {len(columns)}")
        elif any(v is None for v in row.values()):
            bad.append(f"line {line}: fewer fields than the header's {len(columns)}")
        elif not (row["path"] or "").strip():
            bad.append(f"line {line}: empty path")
        elif label_required and not (row["label"] or "").strip():
            bad.append(f"line {line}: empty label")
    if bad:
        raise DataError(f"{len(bad)} bad row(s): {_listing(bad)}", csv_path)
    return columns, rows


def clips_from_rows(csv_path: str | Path, rows: Iterable[tuple[int, dict]]) -> list[Clip]:
    """Turn manifest rows (:func:`read_manifest`) into clips.

    ``path`` is taken relative to the CSV's folder (absolute paths are kept); ``label`` (default ``""``),
    ``speaker`` and ``word`` (empty = ``None``) become fields, every other column goes to ``Clip.meta`` as a
    string (values stripped of surrounding blanks). ``meta["manifest_line"]`` is not added: rows are identified
    by path.
    """
    base = Path(csv_path).resolve().parent
    clips = []
    for _, row in rows:
        row = {k: (v or "").strip() for k, v in row.items()}
        meta = {k: v for k, v in row.items() if k not in CLIP_COLUMNS}
        clips.append(Clip(base / row["path"], row.get("label", ""), row.get("speaker") or None,
                          row.get("word") or None, meta))
    return clips


def check_files_exist(clips: Sequence[Clip], source: str | Path) -> None:
    """Raise one :class:`DataError` naming ``source`` and the first audio files that are missing or cannot be read
    (dangling symlinks, symlink loops, directories or FIFOs named like audio; :func:`entry_problem`), with the
    count per reason."""
    bad = [(c.path, p) for c in clips if (p := entry_problem(c.path)) is not None]
    if not bad:
        return
    if all(p == "missing" for _, p in bad):
        raise DataError(f"{len(bad)} of {len(clips)} audio file(s) not found: {_listing([str(x) for x, _ in bad])}",
                        source, hint="manifest paths are relative to the manifest's folder")
    raise DataError(f"{len(bad)} of {len(clips)} audio file(s) cannot be read: {skipped_summary(bad)}", source,
                    hint="manifest paths are relative to the manifest's folder")


def load_manifest(set_dir: str | Path, labels: Sequence[str] | None = None, name: str | None = None) -> ClipSet:
    """Load a ``manifest.csv`` set (the ``shared/data`` layout), keeping only the clips of ``labels``.

    This is the permissive reader of the bundled sets (it filters); user data goes through
    :func:`voxquant.data.load_dataset`, which rejects labels it was not asked for.

    Args:
        set_dir: the set folder holding ``manifest.csv``, or a manifest CSV file. Columns: ``path`` (relative to
            the CSV's folder) and ``label``; ``speaker`` and ``word`` are used when present (empty = ``None``);
            all other columns go to ``Clip.meta`` as strings (:func:`clips_from_rows`).
        labels: class order. When given, only clips with these labels are kept and every label must have at
            least one clip. ``None``: the distinct labels in order of first appearance.
        name: the set name (default: the folder name).

    Returns:
        A :class:`ClipSet` in manifest row order.

    Raises:
        DataError: manifest missing, unreadable, lacking ``path``/``label`` columns, a malformed row (see
            :func:`read_manifest`), empty, or a label of ``labels`` has no clip (the message names the manifest).
    """
    manifest = manifest_path(set_dir)
    set_dir = manifest.resolve().parent
    _, rows = read_manifest(manifest)
    keep = set(labels) if labels is not None else None
    clips = [c for c in clips_from_rows(manifest, rows) if keep is None or c.label in keep]
    if labels is None:
        labels = tuple(dict.fromkeys(c.label for c in clips))
    else:
        present = {c.label for c in clips}
        absent = [label for label in labels if label not in present]
        if absent:
            raise DataError(f"no clips for label(s) {absent}", manifest)
    if not clips:
        raise DataError("manifest has no clips", manifest)
    return ClipSet(name or set_dir.name, clips, tuple(labels))


def group_values(clipset: ClipSet, column: str) -> np.ndarray:
    """The value of one manifest column per clip, for per-group accuracy (accent, gender, device, speaker...).

    Args:
        clipset: the clips.
        column: ``"speaker"``, ``"label"``, ``"word"``, or any other manifest column (kept in ``Clip.meta``).
            Clips without a value (no speaker, a column absent from one of several merged manifests) get ``""``.

    Returns:
        ``np.ndarray`` of ``str`` (numpy unicode dtype), shape ``[N]``, in clip order.

    Raises:
        DataError: no clip of the set has that column (the message lists the columns it has).
    """
    fields = {"speaker": lambda c: c.speaker, "label": lambda c: c.label, "word": lambda c: c.word}
    if column in fields:
        values = [fields[column](c) or "" for c in clipset.clips]
    else:
        if not any(column in c.meta for c in clipset.clips):
            available = sorted(set(fields) | {k for c in clipset.clips for k in c.meta})
            raise DataError(f"set '{clipset.name}' has no column '{column}' to group by; available columns: "
                            f"{', '.join(available)}")
        values = [str(c.meta.get(column, "")) for c in clipset.clips]
    return np.array(values, dtype=str) if values else np.array([], dtype=str)


def _set_dir(root: str | Path | None, folder: str) -> Path:
    """``root`` may be the data root (holding ``folder``) or the set folder itself; default data_root()."""
    base = Path(root).expanduser() if root is not None else data_root()
    if base.name == folder or (base / "manifest.csv").is_file():
        return base
    return base / folder


def _missing(set_dir: Path, what: str, hint: str | None = None) -> DataError:
    return DataError(
        f"{what} not found (no manifest.csv)",
        set_dir,
        hint=hint or f"set VOXQUANT_DATA to a folder that holds {set_dir.name}/ (e.g. the shared data pack: VOXQUANT_DATA=../shared/data)",
    )


#: Loaders that live in :mod:`voxquant.data.sets` (one module per data set), importable from here as before.
_MOVED = {
    "speech_commands_test": "voxquant.data.sets.speech_commands",
    "fsdd": "voxquant.data.sets.fsdd",
    "noise_clips": "voxquant.data.sets.speech_commands_noise",
    "rirs": "voxquant.data.sets.rirs",
}


def __getattr__(name: str):
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ----------------------------------------------------------------------------------------------------------
# decoding + cache

_CACHE_VERSION = "waves-v2"  # bump when load_audio changes what it returns (v2: range checks, overshoot clipped)


def waves_cache_key(clipset: ClipSet, sample_rate: int, num_samples: int | None, resample: bool = True) -> str:
    """Hex digest identifying a decode: resolved paths, file sizes and mtimes (ns), and the parameters.

    Raises:
        AudioError: a clip file does not exist.
    """
    h = hashlib.sha256(f"{_CACHE_VERSION}|{sample_rate}|{num_samples}|{resample}".encode())
    for clip in clipset.clips:
        try:
            st = os.stat(clip.path)
        except OSError:
            raise AudioError("file not found", clip.path) from None
        h.update(f"\n{clip.path}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:32]


def _progress(items: Sequence, description: str, enabled: bool):
    if not enabled:
        return items
    from rich.progress import track

    return track(items, description=description, transient=True)


def load_waves(
    clipset: ClipSet,
    sample_rate: int = 16000,
    num_samples: int = 16000,
    cache: bool = True,
    *,
    resample: bool = True,
    progress: bool | None = None,
) -> np.ndarray:
    """Decode every clip to a fixed-length batch.

    Each clip goes through :func:`voxquant.audio.io.load_audio` (truncation, header/subtype, mono, NaN/Inf and
    float-range checks, soxr VHQ resampling, zero-pad at the end / crop to ``num_samples``). With ``cache``, the batch is stored as
    ``<cache_root()>/waves/<key>.npy`` (:func:`waves_cache_key`: paths + sizes + mtimes + parameters; written
    atomically, temp file + ``os.replace``) and later calls load it back.

    Args:
        clipset: the clips (row order = clip order).
        sample_rate: output rate in Hz (FSDD's 8 kHz files are resampled to it).
        num_samples: output length in samples (16,000 = 1 s at 16 kHz).
        cache: read/write the ``.npy`` cache.
        resample: allow resampling; with ``False`` a file at another rate raises AudioError.
        progress: show a rich progress bar; ``None`` = only when there are more than 200 clips.

    Returns:
        ``float32 [N, num_samples]`` in [-1, 1].

    Raises:
        AudioError: a file is missing, corrupt, truncated, empty, not audio, has an unsupported encoding or WAV
            header, NaN/Inf or out-of-range float samples, more than one channel, or an unexpected rate with
            ``resample=False`` (the message names the file).
    """
    n = len(clipset)
    path = None
    if cache and n:
        key = waves_cache_key(clipset, sample_rate, num_samples, resample)
        path = cache_root() / "waves" / f"{key}.npy"
        if path.is_file():
            try:
                arr = np.load(path, allow_pickle=False)
                if arr.shape == (n, num_samples) and arr.dtype == np.float32:
                    return arr
            except (OSError, ValueError, EOFError):
                pass  # corrupt cache entry: decode again and overwrite
    out = np.empty((n, num_samples), dtype=np.float32)
    show = progress if progress is not None else n > 200
    for i, clip in enumerate(_progress(clipset.clips, f"decoding {clipset.name}", show)):
        out[i] = load_audio(clip.path, sample_rate, num_samples, resample=resample)
    if path is not None:
        _atomic_save_npy(path, out)
    return out


#: A temporary file of the shared decode cache older than this, with no writer pid in its name, is stale.
_CACHE_TEMP_MAX_AGE_S = 24 * 3600


def _atomic_save_npy(path: Path, arr: np.ndarray) -> None:
    """Save a decode-cache entry atomically (:func:`voxquant.atomic.save_npy_atomic`), first deleting the temporary
    files killed writers left in the cache folder (only those whose process is gone: other runs share the cache).
    A read-only cache warns instead of failing."""
    from voxquant.atomic import remove_stale_temps, save_npy_atomic

    try:
        remove_stale_temps(path.parent, legacy_max_age_s=_CACHE_TEMP_MAX_AGE_S)
        save_npy_atomic(path, arr)
    except OSError as exc:  # a read-only cache must not break decoding
        warnings.warn(f"{path}: could not write the wave cache ({exc})", stacklevel=3)


def shared_manifest_set(root: str | Path | None, folder: str, what: str, sort_labels: bool = False) -> ClipSet:
    """A registered set in the shared layout: ``<root>/<folder>/manifest.csv`` loaded with its columns.

    Args:
        root: data root (default ``VOXQUANT_DATA``); folder: the set's folder; what: its name for messages.
        sort_labels: order the label vocabulary alphabetically (else the manifest's order).

    Raises:
        DataError: the set is not under ``root`` / ``VOXQUANT_DATA`` (the message says how to get it).
    """
    set_dir = _set_dir(root, folder)
    if not (set_dir / "manifest.csv").is_file():
        raise _missing(set_dir, what)
    cs = load_manifest(set_dir, name=folder)
    return ClipSet(cs.name, cs.clips, tuple(sorted(cs.labels))) if sort_labels else cs


