"""Tests of the atomic, resumable result store."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from voxquant.errors import VoxquantError
from voxquant.report import store as store_mod
from voxquant.report.store import ResultStore, write_json_atomic


def _stray_files(root):
    return [p for p in root.rglob("*") if p.is_file() and (p.name.startswith(".") or p.name.endswith(".tmp"))]


def test_put_get_roundtrip(tmp_path):
    st = ResultStore(tmp_path)
    key = "dscnn/int8_static_minmax/noise_snr5"
    assert not st.has(key) and key not in st
    obj = {"accuracy": 0.5, "n": 10, "ci95": [-0.1, 0.2], "name": "ünïcode"}
    path = st.put(key, obj)
    assert path == tmp_path / "cells" / "dscnn" / "int8_static_minmax" / "noise_snr5.json"
    assert st.has(key) and st.get(key) == obj
    assert st.keys() == [key] and len(st) == 1


def test_numpy_values_and_nan_are_converted(tmp_path):
    st = ResultStore(tmp_path)
    st.put("a", {"x": np.float32(0.25), "n": np.int64(3), "v": np.arange(3), "bad": float("nan"), "ok": np.bool_(True)})
    assert st.get("a") == {"x": 0.25, "n": 3, "v": [0, 1, 2], "bad": None, "ok": True}


def test_get_missing(tmp_path):
    st = ResultStore(tmp_path)
    with pytest.raises(KeyError):
        st.get("nope")
    assert st.get("nope", None) is None
    with pytest.raises(KeyError):
        st.get_array("nope")


@pytest.mark.parametrize("key", ["a b/c:d", "../escape", "./x/..", ".hidden", "x%2Fy/z", "ümlaut/ß"])
def test_odd_keys_roundtrip_and_stay_inside(tmp_path, key):
    st = ResultStore(tmp_path / "run")
    p = st.put(key, {"k": key})
    assert (tmp_path / "run" / "cells") in p.parents
    assert st.keys() == [key]
    assert st.get(key) == {"k": key}


@pytest.mark.parametrize("key", ["", "a//b", "/a", "a/"])
def test_bad_keys(tmp_path, key):
    with pytest.raises(ValueError):
        ResultStore(tmp_path).put(key, 1)


def test_keys_prefix_and_resume(tmp_path):
    st = ResultStore(tmp_path)
    for v in ("fp32", "fp16", "int8"):
        for s in ("clean", "snr0"):
            st.put(f"dscnn/{v}/{s}", {"v": v, "s": s})
    st.put("latency/fp32/t1", {"p50": 1.0})
    again = ResultStore(tmp_path)  # a resumed run: a new instance sees everything
    assert len(again.keys("dscnn/")) == 6
    assert again.keys("dscnn/fp16/") == ["dscnn/fp16/clean", "dscnn/fp16/snr0"]
    assert again.has("latency/fp32/t1") and again.get("dscnn/int8/snr0") == {"v": "int8", "s": "snr0"}


def test_crash_in_replace_keeps_old_content_and_leaves_no_partial_file(tmp_path, monkeypatch):
    st = ResultStore(tmp_path)
    st.put("k", {"version": 1})

    def boom(src, dst):
        raise OSError("simulated crash during rename")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="simulated"):
        st.put("k", {"version": 2})
    with pytest.raises(OSError):
        st.put("new", {"x": 1})
    monkeypatch.undo()
    assert st.get("k") == {"version": 1}
    assert not st.has("new")
    assert _stray_files(tmp_path) == []
    assert st.keys() == ["k"]


def test_crash_during_write_leaves_nothing(tmp_path, monkeypatch):
    st = ResultStore(tmp_path)
    st.put("k", {"version": 1})

    def fsync_fails(fd):
        raise OSError("simulated disk error")

    monkeypatch.setattr(os, "fsync", fsync_fails)
    with pytest.raises(OSError):
        st.put("k", {"version": 2})
    with pytest.raises(OSError):
        st.put_array("k", np.ones(3))
    monkeypatch.undo()
    assert st.get("k") == {"version": 1}
    assert not st.has_array("k")
    assert _stray_files(tmp_path) == []


def test_unserialisable_object_writes_nothing(tmp_path):
    st = ResultStore(tmp_path)
    with pytest.raises(TypeError):
        st.put("k", {"x": object()})
    assert not st.has("k") and _stray_files(tmp_path) == []


def test_temp_files_are_ignored_by_keys(tmp_path):
    st = ResultStore(tmp_path)
    st.put("a/b", 1)
    (tmp_path / "cells" / "a" / ".b.json.123.tmp").write_text("{half")
    assert st.keys() == ["a/b"]


def test_arrays_roundtrip(tmp_path):
    st = ResultStore(tmp_path)
    correct = np.random.default_rng(0).random(1000) < 0.9
    st.put_array("dscnn/fp16/clean", correct)
    st.put_array("dscnn/fp16/logits", np.arange(24, dtype=np.float32).reshape(2, 12))
    back = ResultStore(tmp_path).get_array("dscnn/fp16/clean")
    assert back.dtype == np.bool_ and np.array_equal(back, correct)
    assert ResultStore(tmp_path).get_array("dscnn/fp16/logits").shape == (2, 12)
    assert st.array_keys("dscnn/") == ["dscnn/fp16/clean", "dscnn/fp16/logits"]
    assert st.keys() == []  # arrays are not JSON cells
    with pytest.raises(ValueError):
        st.put_array("obj", np.array([object()]))
    st.discard("dscnn/fp16/clean")
    assert not st.has_array("dscnn/fp16/clean")


def test_corrupt_cell_is_a_clear_error(tmp_path):
    st = ResultStore(tmp_path)
    p = st.put("k", {"a": 1})
    p.write_text("{not json")
    with pytest.raises(VoxquantError, match="corrupt result cell") as ei:
        st.get("k")
    assert str(p) in str(ei.value)


def test_write_json_atomic(tmp_path):
    p = write_json_atomic(tmp_path / "sub" / "results.json", {"a": [1, 2], "b": np.float64(0.5)})
    assert json.loads(p.read_text()) == {"a": [1, 2], "b": 0.5}
    assert store_mod.to_jsonable((1, np.int16(2))) == [1, 2]


def test_written_files_get_normal_permissions(tmp_path):
    if os.name != "posix":
        pytest.skip("POSIX permissions")
    mask = os.umask(0o022)
    try:
        p = write_json_atomic(tmp_path / "results.json", {"a": 1})
    finally:
        os.umask(mask)
    assert p.stat().st_mode & 0o777 == 0o644  # like open(), not mkstemp's 0600
