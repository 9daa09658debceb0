"""Verified download + safe extraction (voxquant.data.fetch) against a local HTTP server.

The archive served is built here from a few tiny, clearly synthetic sine-tone WAVs in the layout of the
official ``speech_commands_test_set_v0.02.tar.gz``; no network is used.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import http.server
import io
import socket
import tarfile
import threading
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf

from voxquant.data import REGISTRY, SC12_LABELS, fetch, load_waves, speech_commands_test
from voxquant.data.fetch import MANIFEST_COLUMNS
from voxquant.errors import ConfigError, DataError

NAME = "speech-commands-v2-test"


def test_registry_entry():
    spec = REGISTRY[NAME]
    assert spec.url == "https://storage.googleapis.com/download.tensorflow.org/data/speech_commands_test_set_v0.02.tar.gz"
    assert spec.size == 112_563_277
    assert len(spec.sha256) == 64 and int(spec.sha256, 16) >= 0


def _names():
    """Member names of the fake archive: (tar name, label)."""
    out = []
    for lab in SC12_LABELS:
        if lab == "_unknown_":
            out.append((f"./{lab}/bed_0123abcd_nohash_1.wav", lab))
        elif lab == "_silence_":
            out.append((f"./{lab}/7.wav", lab))
        else:
            out.append((f"./{lab}/0123abcd_nohash_0.wav", lab))
            out.append((f"./{lab}/fedcba98_nohash_3.wav", lab))
    return out


def _wav_bytes(i):
    t = np.arange(800) / 16000
    x = (0.1 * np.sin(2 * np.pi * (200 + 10 * i) * t)).astype(np.float32)  # synthetic tone, not speech
    buf = io.BytesIO()
    sf.write(buf, x, 16000, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _add(tar, name, data, **kw):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for k, v in kw.items():
        setattr(info, k, v)
    tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def served(tmp_path):
    """A local HTTP server on 127.0.0.1 serving ``tmp_path/www``; stops after the test (or after 60 s)."""
    www = tmp_path / "www"
    www.mkdir()
    originals = {}
    with tarfile.open(www / "sc_test.tar.gz", "w:gz") as tar:
        for i, (name, _lab) in enumerate(_names()):
            originals[name] = data = _wav_bytes(i)
            _add(tar, name, data)
        _add(tar, "./LICENSE", b"CC BY 4.0 (test fixture)\n")
    evil = {}
    for label, kw in {"dotdot": {"name": "../evil.wav"}, "abs": {"name": "/tmp/evil.wav"},
                      "link": {"name": "./yes/link.wav", "type": tarfile.SYMTYPE, "linkname": "/etc/passwd"}}.items():
        with tarfile.open(www / f"{label}.tar.gz", "w:gz") as tar:
            _add(tar, "./yes/0123abcd_nohash_0.wav", _wav_bytes(0))
            name = kw.pop("name")
            _add(tar, name, b"" if "type" in kw else _wav_bytes(1), **kw)
        evil[label] = www / f"{label}.tar.gz"
    handler = functools.partial(_QuietHandler, directory=str(www))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    guard = threading.Timer(60.0, server.shutdown)
    guard.daemon = True
    guard.start()
    try:
        yield {"base": f"http://127.0.0.1:{server.server_address[1]}", "www": www, "originals": originals, "evil": evil}
    finally:
        guard.cancel()
        server.shutdown()
        server.server_close()
        thread.join(5)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _patched_spec(monkeypatch, path, sha=None, size=None):
    data = path.read_bytes()
    spec = replace(REGISTRY[NAME], size=len(data) if size is None else size,
                   sha256=hashlib.sha256(data).hexdigest() if sha is None else sha)
    monkeypatch.setitem(REGISTRY, NAME, spec)
    return spec


def _dead_url():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/x.tar.gz"


def test_manifest_columns_match_shared_pack(shared_data):
    with open(shared_data / "speech_commands_v0.02_test" / "manifest.csv", newline="") as fh:
        assert next(csv.reader(fh)) == list(MANIFEST_COLUMNS)


def test_fetch_installs_shared_layout(served, tmp_path, monkeypatch):
    _patched_spec(monkeypatch, served["www"] / "sc_test.tar.gz")
    root = tmp_path / "data"
    set_dir = fetch(NAME, root=root, url=served["base"] + "/sc_test.tar.gz", progress=True)
    assert set_dir == root / "speech_commands_v0.02_test"
    assert not (root / ".downloads" / REGISTRY[NAME].archive).exists()  # archive removed after install
    assert not list(root.glob(".*partial*"))
    assert (set_dir / "LICENSE").is_file()
    with open(set_dir / "manifest.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        cols = reader.fieldnames
    assert cols == list(MANIFEST_COLUMNS) == [
        "path", "label", "speaker", "split", "word", "utterance", "dataset_file", "official_list",
        "sample_rate", "num_samples", "duration_s", "source_path", "source_wav_sha256",
    ]
    assert len(rows) == len(_names())
    by_path = {r["path"]: r for r in rows}
    unk = by_path["audio/_unknown_/bed_0123abcd_nohash_1.wav"]
    assert (unk["label"], unk["speaker"], unk["word"], unk["utterance"], unk["dataset_file"]) == (
        "_unknown_", "0123abcd", "bed", "1", "bed/0123abcd_nohash_1.wav")
    sil = by_path["audio/_silence_/7.wav"]
    assert (sil["speaker"], sil["word"], sil["dataset_file"]) == ("", "_silence_", "")
    for r in rows:
        src = served["originals"]["./" + r["source_path"]]
        assert r["source_wav_sha256"] == hashlib.sha256(src).hexdigest()
        assert (r["sample_rate"], r["num_samples"], r["duration_s"], r["split"]) == ("16000", "800", "0.0500", "test")
    with pytest.warns(UserWarning, match="expected 4890"):
        cs = speech_commands_test(root)
    assert cs.labels == SC12_LABELS and len(cs) == len(_names())
    w = load_waves(cs, cache=False)
    ref, _ = sf.read(io.BytesIO(served["originals"]["./yes/0123abcd_nohash_0.wav"]), dtype="float32")
    np.testing.assert_array_equal(w[0, :800], ref)
    # already installed: no network needed
    assert fetch(NAME, root=root, url=_dead_url(), progress=False) == set_dir


def test_fetch_reuses_verified_archive(served, tmp_path, monkeypatch):
    _patched_spec(monkeypatch, served["www"] / "sc_test.tar.gz")
    root = tmp_path / "data"
    fetch(NAME, root=root, url=served["base"] + "/sc_test.tar.gz", progress=False, keep_archive=True)
    assert (root / ".downloads" / REGISTRY[NAME].archive).is_file()
    # offline re-install from the cached, re-verified archive
    assert (fetch(NAME, root=root, url=_dead_url(), progress=False, force=True) / "manifest.csv").is_file()


def test_fetch_sha256_mismatch(served, tmp_path, monkeypatch):
    path = served["www"] / "sc_test.tar.gz"
    wrong = "0" * 64
    _patched_spec(monkeypatch, path, sha=wrong)
    root = tmp_path / "data"
    with pytest.raises(DataError, match="sha256 mismatch") as ei:
        fetch(NAME, root=root, url=served["base"] + "/sc_test.tar.gz", progress=False)
    msg = str(ei.value)
    assert wrong in msg and hashlib.sha256(path.read_bytes()).hexdigest() in msg
    assert REGISTRY[NAME].archive in msg
    assert not (root / "speech_commands_v0.02_test").exists()
    assert not list((root / ".downloads").iterdir())  # no partial or unverified file left


def test_fetch_size_mismatch_with_real_registry_entry(served, tmp_path):
    with pytest.raises(DataError, match=r"size mismatch: .* expected 112563277 bytes"):
        fetch(NAME, root=tmp_path / "data", url=served["base"] + "/sc_test.tar.gz", progress=False)


def test_fetch_http_404(served, tmp_path):
    with pytest.raises(DataError, match="could not download .*404"):
        fetch(NAME, root=tmp_path / "data", url=served["base"] + "/nope.tar.gz", progress=False)


def test_fetch_offline_says_what_to_set(tmp_path):
    with pytest.raises(DataError) as ei:
        fetch(NAME, root=tmp_path / "data", url=_dead_url(), progress=False, timeout=5)
    msg = str(ei.value)
    assert "could not download" in msg and "VOXQUANT_DATA" in msg and f"voxquant data fetch {NAME}" in msg


@pytest.mark.parametrize("kind, match", [("dotdot", "unsafe path"), ("abs", "unsafe path"), ("link", "link or device")])
def test_fetch_rejects_unsafe_archives(served, tmp_path, monkeypatch, kind, match):
    _patched_spec(monkeypatch, served["evil"][kind])
    root = tmp_path / "data"
    with pytest.raises(DataError, match=match):
        fetch(NAME, root=root, url=f"{served['base']}/{kind}.tar.gz", progress=False)
    assert not (tmp_path / "evil.wav").exists() and not (root / "speech_commands_v0.02_test").exists()


def test_fetch_unknown_name(tmp_path):
    with pytest.raises(ConfigError, match="unknown data set"):
        fetch("imagenet", root=tmp_path)
