"""Download known data sets with size + sha256 verification and safe extraction.

Registry (:data:`REGISTRY`):

* ``speech-commands-v2-test`` - the official Speech Commands v0.02 12-class test set,
  ``https://storage.googleapis.com/download.tensorflow.org/data/speech_commands_test_set_v0.02.tar.gz``,
  112,563,277 bytes, sha256 ``cc2a00c1...acd51df``. Size and digest as recorded by TensorFlow Datasets,
  ``tensorflow_datasets/url_checksums/speech_commands.txt`` (github.com/tensorflow/datasets, commit
  333639b37af6c6fedf3610a4a2d42f1c6ef6f7d5), for the same file at ``download.tensorflow.org``.
  Licence CC BY 4.0 (Warden 2018, arXiv:1804.03209).

:func:`fetch` streams the archive into ``<root>/.downloads/`` with a progress bar, verifies it, extracts it
safely (absolute paths, ``..``, links and device files are rejected) into a staging folder and moves that to
``<root>/<folder>/`` with a ``manifest.csv`` in the layout of ``shared/data`` - so
:func:`voxquant.data.speech_commands_test` reads a fetched set and the shared pack the same way.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import shutil
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from voxquant.data.datasets import SC12_LABELS, SC_TEST_DIR, AUDIO_EXTENSIONS, parse_sc_name, strip_audio_suffixes
from voxquant.errors import ConfigError, DataError
from voxquant.paths import data_root


@dataclass(frozen=True)
class RemoteDataset:
    """A downloadable data set.

    Attributes:
        name: registry key, used as ``voxquant data fetch <name>``.
        url: download URL (HTTP(S)).
        size: exact archive size in bytes.
        sha256: hex sha256 of the archive.
        folder: set folder created under the data root.
        archive: archive file name.
        description: one line for ``--help`` / listings.
        checksum_source: where ``size``/``sha256`` come from.
    """

    name: str
    url: str
    size: int
    sha256: str
    folder: str
    archive: str
    description: str
    checksum_source: str


REGISTRY: dict[str, RemoteDataset] = {
    "speech-commands-v2-test": RemoteDataset(
        name="speech-commands-v2-test",
        url="https://storage.googleapis.com/download.tensorflow.org/data/speech_commands_test_set_v0.02.tar.gz",
        size=112_563_277,
        sha256="cc2a00c1147c2254e9be3fa0f779d8c17421dc349b86366567a8edfa9acd51df",
        folder=SC_TEST_DIR,
        archive="speech_commands_test_set_v0.02.tar.gz",
        description="official Speech Commands v0.02 12-class test set (4,890 clips, 16 kHz, CC BY 4.0)",
        checksum_source="tensorflow/datasets tensorflow_datasets/url_checksums/speech_commands.txt",
    ),
}

MANIFEST_COLUMNS = (
    "path", "label", "speaker", "split", "word", "utterance", "dataset_file", "official_list",
    "sample_rate", "num_samples", "duration_s", "source_path", "source_wav_sha256",
)
"""Columns of the manifest written by :func:`fetch` (the same as ``shared/data/speech_commands_v0.02_test``)."""

_CHUNK = 1 << 20


def _offline_hint(spec: RemoteDataset) -> str:
    return (
        f"connect to the network and run `voxquant data fetch {spec.name}` again, or set VOXQUANT_DATA to a folder "
        f"that already holds {spec.folder}/ (e.g. VOXQUANT_DATA=../shared/data)"
    )


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def download(
    url: str, dest: Path, size: int, sha256: str, progress: bool = True, timeout: float = 60.0, hint: str | None = None
) -> Path:
    """Stream ``url`` to ``dest`` (via ``dest.part``), verifying the byte count and sha256.

    Args:
        url: HTTP(S) URL.
        dest: final file; written only after verification (``os.replace``).
        size: expected size in bytes (the transfer stops as soon as it is exceeded).
        sha256: expected hex digest.
        progress: show a rich progress bar (bytes, rate, ETA).
        timeout: socket timeout in seconds.
        hint: appended to the network error (what to do offline).

    Returns:
        ``dest``.

    Raises:
        DataError: the download fails (no network, HTTP error, timeout), or the size or sha256 differs (the
            message names the file and gives both sizes / both digests). The partial file is removed.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    h = hashlib.sha256()
    got = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(part, "wb") as out:
            bar = None
            if progress:
                from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

                bar = Progress(
                    "[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                    TransferSpeedColumn(), TimeRemainingColumn(),
                )
                bar.start()
                task = bar.add_task(f"downloading {dest.name}", total=size)
            try:
                while True:
                    block = resp.read(_CHUNK)
                    if not block:
                        break
                    got += len(block)
                    if got > size:
                        break
                    h.update(block)
                    out.write(block)
                    if bar is not None:
                        bar.update(task, advance=len(block))
            finally:
                if bar is not None:
                    bar.stop()
    except urllib.error.HTTPError as exc:
        part.unlink(missing_ok=True)
        raise DataError(f"could not download {url} (HTTP {exc.code} {exc.reason})", dest, hint="check the URL or mirror") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        part.unlink(missing_ok=True)
        reason = getattr(exc, "reason", None) or exc
        raise DataError(f"could not download {url} ({reason})", dest, hint=hint) from None
    if got != size:
        part.unlink(missing_ok=True)
        more = "more than" if got > size else "only"
        raise DataError(f"size mismatch: received {more} {got} bytes, expected {size} bytes from {url}", dest)
    digest = h.hexdigest()
    if digest != sha256.lower():
        part.unlink(missing_ok=True)
        raise DataError(f"sha256 mismatch: got {digest}, expected {sha256.lower()} (downloaded from {url})", dest)
    os.replace(part, dest)
    return dest


def _safe_members(tar: tarfile.TarFile, archive: Path) -> list[tuple[tarfile.TarInfo, PurePosixPath]]:
    """Every member with its normalised relative path; raise on anything unsafe."""
    out = []
    for m in tar.getmembers():
        name = m.name.replace("\\", "/")
        rel = PurePosixPath(name)
        if name.startswith("/") or rel.is_absolute() or ".." in rel.parts or (rel.parts and ":" in rel.parts[0]):
            raise DataError(f"unsafe path in archive: {m.name!r} (absolute or '..')", archive)
        if not (m.isfile() or m.isdir()):
            raise DataError(f"unsupported archive member {m.name!r} (link or device file)", archive)
        parts = [p for p in rel.parts if p not in ("", ".")]
        if parts:
            out.append((m, PurePosixPath(*parts)))
    return out


def _read_testing_list(root: Path) -> set[str]:
    lst = root / "speech_commands_v0.02_meta" / "testing_list.txt"
    if not lst.is_file():
        return set()
    return {line.strip() for line in lst.read_text(encoding="utf-8").splitlines() if line.strip()}


def extract_speech_commands(archive: Path, dest: Path, testing_list: set[str] | None = None) -> int:
    """Extract a Speech Commands test tarball into ``dest`` in the shared-data layout and write its manifest.

    Audio ``<...>/<label>/<file>.wav`` (label in :data:`SC12_LABELS`) goes to ``dest/audio/<label>/<stem>.wav``
    (a doubled ``.wav.wav`` becomes ``.wav``); other files keep their relative path. ``manifest.csv`` gets
    :data:`MANIFEST_COLUMNS`; ``official_list`` is ``testing`` when ``testing_list`` (the official
    ``testing_list.txt``) is given and names the clip, else empty.

    Returns:
        Number of audio clips written.

    Raises:
        DataError: not a readable tar archive, an unsafe member, an unreadable audio member, or no audio.
    """
    import soundfile as sf

    testing_list = testing_list or set()
    rows = []
    try:
        tar = tarfile.open(archive, "r:*")
    except (tarfile.TarError, OSError) as exc:
        raise DataError(f"not a readable tar archive ({exc})", archive) from None
    with tar:
        members = _safe_members(tar, archive)
        dest.mkdir(parents=True, exist_ok=True)
        for m, rel in members:
            if m.isdir():
                continue
            src = tar.extractfile(m)
            if src is None:  # pragma: no cover - regular files always have data
                continue
            data = src.read()
            is_audio = rel.name.lower().endswith(AUDIO_EXTENSIONS) and len(rel.parts) >= 2 and rel.parts[-2] in SC12_LABELS
            if not is_audio:
                target = dest.joinpath(*rel.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                continue
            label = rel.parts[-2]
            stem = strip_audio_suffixes(rel.name)
            ext = ".flac" if rel.name.lower().endswith(".flac") else ".wav"
            target = dest / "audio" / label / f"{stem}{ext}"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            try:
                info = sf.info(io.BytesIO(data))
            except Exception as exc:
                raise DataError(f"archive member {m.name!r} is not readable audio ({str(exc).splitlines()[0][:100]})", archive) from None
            word, speaker, utt = parse_sc_name(rel.name)
            word = word or label
            dataset_file = f"{word}/{speaker}_nohash_{utt}.wav" if speaker is not None else ""
            rows.append({
                "path": f"audio/{label}/{stem}{ext}",
                "label": label,
                "speaker": speaker or "",
                "split": "test",
                "word": word,
                "utterance": utt or "",
                "dataset_file": dataset_file,
                "official_list": "testing" if dataset_file and dataset_file in testing_list else "",
                "sample_rate": info.samplerate,
                "num_samples": info.frames,
                "duration_s": f"{info.frames / info.samplerate:.4f}",
                "source_path": str(rel),
                "source_wav_sha256": hashlib.sha256(data).hexdigest(),
            })
    if not rows:
        raise DataError(f"no audio files under label folders {list(SC12_LABELS)} in the archive", archive)
    order = {lab: i for i, lab in enumerate(SC12_LABELS)}
    rows.sort(key=lambda r: (order[r["label"]], r["path"]))
    with open(dest / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=MANIFEST_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    return len(rows)


def fetch(
    name: str,
    root: str | Path | None = None,
    url: str | None = None,
    progress: bool = True,
    *,
    force: bool = False,
    keep_archive: bool = False,
    timeout: float = 60.0,
) -> Path:
    """Download, verify and install a registered data set under the data root.

    Args:
        name: a key of :data:`REGISTRY` (``speech-commands-v2-test``).
        root: data root (default :func:`voxquant.paths.data_root`, i.e. ``VOXQUANT_DATA`` or the user cache).
        url: override the download URL (a mirror); size and sha256 are still checked.
        progress: progress bar while downloading.
        force: re-install even if ``<root>/<folder>/manifest.csv`` exists.
        keep_archive: keep the verified archive in ``<root>/.downloads/`` (otherwise deleted after extraction;
            a verified archive already there is reused without network).
        timeout: socket timeout in seconds.

    Returns:
        The set folder ``<root>/<folder>`` (holding ``manifest.csv`` and ``audio/<label>/...``).

    Raises:
        ConfigError: unknown ``name``.
        DataError: offline / download failed (says what to set), size or sha256 mismatch (names the file and
            both values), unsafe or unreadable archive.
    """
    if name not in REGISTRY:
        raise ConfigError(f"unknown data set {name!r}; known: {sorted(REGISTRY)}")
    spec = REGISTRY[name]
    root = Path(root).expanduser() if root is not None else data_root()
    set_dir = root / spec.folder
    if (set_dir / "manifest.csv").is_file() and not force:
        return set_dir
    archive = root / ".downloads" / spec.archive
    if archive.is_file() and not (archive.stat().st_size == spec.size and _sha256_file(archive) == spec.sha256):
        archive.unlink()
    if not archive.is_file():
        download(url or spec.url, archive, spec.size, spec.sha256, progress=progress, timeout=timeout, hint=_offline_hint(spec))
    staging = root / f".{spec.folder}.partial-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    try:
        extract_speech_commands(archive, staging, _read_testing_list(root))
        if set_dir.exists():
            shutil.rmtree(set_dir)
        os.replace(staging, set_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    if not keep_archive:
        archive.unlink(missing_ok=True)
    return set_dir
