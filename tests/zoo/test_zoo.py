"""The model zoo: registry contents, pinned sources, resolution (VOXQUANT_MODELS, cache, verified download from a
local HTTP server), and quick real-speech evaluations of the zoo models (about 60 clips each)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import re
import threading

import numpy as np
import pytest

from voxquant.errors import ConfigError, ModelError
from voxquant.zoo import zoo_list
from voxquant.zoo.registry import expand, resolve, zoo_families, zoo_names, zoo_spec
from voxquant.zoo.spec import parse_spec

ARM = [f"arm-{a}-{s}-int8" for a in ("dnn", "cnn", "ds-cnn", "basic-lstm") for s in "sml"]


def test_registry_has_the_required_entries():
    names = set(zoo_names())
    want = {"mlperf-tiny-kws-dscnn-int8", "mlperf-tiny-kws-dscnn-hybrid", "mlperf-tiny-kws-dscnn-fp32",
            "bcresnet2-sc35", "mlperf-tiny-sww-int8", "mlperf-tiny-sww-fp32", *ARM}
    assert want <= names
    assert sorted(expand("arm-kws-int8")) == sorted(ARM)
    assert set(expand("mlperf-tiny-kws-dscnn")) == {f"mlperf-tiny-kws-dscnn-{k}" for k in ("int8", "hybrid", "fp32")}
    assert expand("all") == zoo_names() and "mlperf-tiny-sww" in zoo_families()
    with pytest.raises(ConfigError, match="did you mean 'bcresnet2-sc35'"):
        expand("bcresnet2-sc36")


def test_every_file_is_pinned_to_a_commit_with_sha256():
    for name in zoo_names():
        spec = zoo_spec(name, resolve_files=False)
        assert spec.files, name
        for f in spec.files:
            assert re.fullmatch(r"[0-9a-f]{64}", f.sha256), (name, f.path)
            assert f.bytes and f.bytes > 0
            assert re.match(r"https://raw\.githubusercontent\.com/[^/]+/[^/]+/[0-9a-f]{40}/", f.url), (name, f.url)
        assert spec.published.get("source") and spec.published.get("test_set")


def test_zoo_checksums_match_the_shared_manifest(shared_models):
    manifest = {m["path"]: m for m in json.loads((shared_models / "manifest.json").read_text())}
    for name in zoo_names():
        for f in zoo_spec(name, resolve_files=False).files:
            assert manifest[f.path]["sha256"] == f.sha256 and manifest[f.path]["bytes"] == f.bytes, f.path
    rows = {r["name"]: r for r in zoo_list()}
    assert all(r["available"] for r in rows.values())


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def http_root(tmp_path):
    """Serve ``tmp_path/www`` on 127.0.0.1 (random port) for the duration of a test; yields (folder, base URL)."""
    www = tmp_path / "www"
    www.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(www)))
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield www, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _spec_with_file(url: str, payload: bytes, sha: str | None = None, root=None):
    data = {
        "name": "dl-test", "format": "onnx", "model": "pub/m.onnx",
        "files": [{"path": "pub/m.onnx", "sha256": sha or hashlib.sha256(payload).hexdigest(),
                   "bytes": len(payload), "url": url}],
        "input": {"shape": [1, 1, 49, 10]}, "labels": {"order": ["a", "b"]},
        "frontend": {"preset": "mlperf-tiny-mfcc"},
    }
    return parse_spec(data, root=root or "/nonexistent")


def test_download_into_cache_verified(http_root, tmp_path, monkeypatch):
    www, base = http_root
    payload = b"pretend model bytes " * 100
    (www / "m.onnx").write_bytes(payload)
    monkeypatch.setenv("VOXQUANT_MODELS", str(tmp_path / "empty-models"))
    monkeypatch.setenv("VOXQUANT_CACHE", str(tmp_path / "cache"))
    spec = _spec_with_file(f"{base}/m.onnx", payload)
    with pytest.raises(ModelError, match="not found.*VOXQUANT_MODELS"):
        resolve(spec, download=False)
    root = resolve(spec)
    assert root == tmp_path / "cache" / "models"
    assert (root / "pub" / "m.onnx").read_bytes() == payload
    (www / "m.onnx").unlink()  # now served nowhere: the verified cache copy is used
    assert resolve(spec) == root


def test_download_checksum_mismatch(http_root, tmp_path, monkeypatch):
    www, base = http_root
    payload = b"tampered model" * 10
    (www / "m.onnx").write_bytes(payload)
    monkeypatch.setenv("VOXQUANT_MODELS", str(tmp_path / "empty-models"))
    monkeypatch.setenv("VOXQUANT_CACHE", str(tmp_path / "cache"))
    spec = _spec_with_file(f"{base}/m.onnx", payload, sha="1" * 64)
    with pytest.raises(ModelError, match="sha256 mismatch"):
        resolve(spec)
    assert not (tmp_path / "cache" / "models" / "pub" / "m.onnx").exists()  # nothing unverified is kept
    spec404 = _spec_with_file(f"{base}/missing.onnx", payload)
    with pytest.raises(ModelError, match="HTTP 404"):
        resolve(spec404)


def test_corrupt_file_in_models_root(tmp_path, monkeypatch):
    (tmp_path / "models" / "pub").mkdir(parents=True)
    (tmp_path / "models" / "pub" / "m.onnx").write_bytes(b"corrupt")
    monkeypatch.setenv("VOXQUANT_MODELS", str(tmp_path / "models"))
    spec = _spec_with_file("http://127.0.0.1:9/none", b"the real bytes")
    with pytest.raises(ModelError, match="m.onnx: checksum mismatch"):
        resolve(spec)


# ------------------------------------------------------------------------------------------------------------
# quick real-speech checks (about 60 clips; the full test set runs only in scripts/reproduce_zoo.py)


@pytest.mark.parametrize("name, floor", [
    ("mlperf-tiny-kws-dscnn-int8", 0.80), ("mlperf-tiny-kws-dscnn-hybrid", 0.80), ("arm-ds-cnn-s-int8", 0.75),
    ("arm-dnn-s-int8", 0.65), ("mlperf-tiny-sww-int8", 0.80),
])
def test_tflite_zoo_models_on_real_speech(name, floor, shared_models, shared_data):
    pytest.importorskip("ai_edge_litert", reason="needs the [litert] extra")
    (row,) = zoo_eval_rows(name, shared_data)
    assert row["n"] >= 55 and row["accuracy"] > floor  # chance is 1/12 (1/3 for the wake-word model)
    assert row["ci95"][0] <= row["accuracy"] <= row["ci95"][1]


def test_bcresnet_on_real_speech(shared_models, shared_data):
    (row,) = zoo_eval_rows("bcresnet2-sc35", shared_data)
    assert row["n"] < 62  # _silence_ clips are not scored by the 35-word model
    assert row["accuracy"] > 0.85  # chance 1/35; published 96.0 % on testing_list


@pytest.mark.slow
def test_keras_savedmodel_via_onnx(shared_models, shared_data):
    pytest.importorskip("tf_keras", reason="needs the [tf] extra")
    pytest.importorskip("tf2onnx", reason="needs the [tf] extra")
    (row,) = zoo_eval_rows("mlperf-tiny-kws-dscnn-fp32", shared_data)
    assert row["accuracy"] > 0.85


def zoo_eval_rows(name, data_root):
    from voxquant.zoo import zoo_eval

    return zoo_eval(name, "test", data_root=data_root, limit=60)


def test_fsdd_split_requires_digit_words(shared_models, shared_data):
    from voxquant.zoo import zoo_eval

    with pytest.raises(ConfigError, match="no digit-word labels"):
        zoo_eval("arm-ds-cnn-s-int8", "fsdd", data_root=shared_data)
    (row,) = zoo_eval("bcresnet2-sc35", "fsdd", data_root=shared_data, limit=50)
    assert row["accuracy_digits10"] >= row["accuracy"] and row["accuracy_digits10"] > 0.5
    assert np.isfinite(row["accuracy"])
