"""voxquant.atomic (one atomic-write helper for every file) and the engine's artefact records."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from voxquant.atomic import (atomic_path, is_temp_name, remove_stale_temps, save_npy_atomic, write_atomic,
                             write_text_atomic)


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    f = write_text_atomic(tmp_path / "a.json", "old")

    def boom(fh):
        fh.write(b"half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        write_atomic(f, boom)
    with pytest.raises(RuntimeError), atomic_path(f) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert f.read_text() == "old" and os.listdir(tmp_path) == ["a.json"]
    with atomic_path(f) as tmp:
        assert is_temp_name(tmp.name) and tmp.parent == tmp_path
        tmp.write_text("new")
    assert f.read_text() == "new" and os.listdir(tmp_path) == ["a.json"]


def test_stale_temps_of_dead_writers_are_removed_live_ones_kept(tmp_path):
    dead = tmp_path / "cache" / f".x.npy.{_dead_pid()}-abc123.tmp"
    live = tmp_path / "cache" / f".y.npy.{os.getpid()}-abc123.tmp"
    legacy = tmp_path / "cells" / ".acc.json.k2j3h4.tmp"
    legacy_feat = tmp_path / "cache" / ".features_clean.npy.tmp.npy"
    keep = tmp_path / "cache" / "features_clean.npy"
    for f in (dead, live, legacy, legacy_feat, keep):
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"x")
    assert remove_stale_temps(tmp_path, legacy_max_age_s=None) == 1  # legacy files kept without an age
    assert not dead.exists() and live.exists() and legacy.exists()
    old = time.time() - 7200
    os.utime(legacy, (old, old))
    assert remove_stale_temps(tmp_path, legacy_max_age_s=3600) == 1 and not legacy.exists() and legacy_feat.exists()
    assert remove_stale_temps(tmp_path, legacy_max_age_s=0) == 1
    assert sorted(f.name for f in tmp_path.rglob("*") if f.is_file()) == sorted([live.name, keep.name])


def test_store_reexports_the_helpers():
    from voxquant import atomic
    from voxquant.report import store

    assert store.write_json_atomic is atomic.write_json_atomic and store.to_jsonable is atomic.to_jsonable
    assert store.write_bytes_atomic is atomic.write_bytes_atomic


def test_cached_array_recomputes_an_unreadable_cache(tmp_path):
    from voxquant.data.slices import cached_array

    f = tmp_path / "f.npy"
    save_npy_atomic(f, np.arange(4.0))
    f.write_bytes(f.read_bytes()[:20])  # cut short (e.g. by a writer that was not atomic)
    out = cached_array(f, lambda: np.ones(3))
    np.testing.assert_array_equal(out, np.ones(3))
    np.testing.assert_array_equal(np.load(f), np.ones(3))


def test_artefact_records_notice_truncation_replacement_and_loss(tmp_path):
    from voxquant.engine import artifact_files, files_problem, record_files

    xml, bin_ = tmp_path / "m.xml", tmp_path / "m.bin"
    xml.write_text("<net/>")
    bin_.write_bytes(b"\x01" * 100)
    files = artifact_files(xml)
    assert files == [xml, bin_]
    rec = record_files(files)
    assert files_problem(rec) is None
    bin_.write_bytes(b"\x01" * 50)
    assert "50 bytes" in files_problem(rec)
    bin_.write_bytes(b"\x02" * 100)
    assert "sha256" in files_problem(rec)
    bin_.unlink()
    assert "missing" in files_problem(rec)
    rk = tmp_path / "m.rknn"
    rk.write_bytes(b"r")
    (tmp_path / "m.rknn.json").write_text("{}")
    assert [f.name for f in artifact_files(rk)] == ["m.rknn", "m.rknn.json"]


def test_onnx_external_data_is_part_of_the_artefact(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from voxquant.engine import artifact_files

    w = numpy_helper.from_array(np.ones((64, 64), np.float32), "w")
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64])], [w])
    p = tmp_path / "m.onnx"
    onnx.save(helper.make_model(g), str(p), save_as_external_data=True, location="weights.bin", size_threshold=0)
    assert [f.name for f in artifact_files(p)] == ["m.onnx", "weights.bin"]


def test_invalidate_variant_drops_exactly_that_rows_cells(tmp_path):
    from voxquant.engine import invalidate_variant
    from voxquant.report.store import ResultStore

    s = ResultStore(tmp_path)
    for name in ("int8", "int8@rknn", "int8_x"):
        s.put(f"variant/{name}", {"status": "ok"})
        s.put(f"acc/{name}/clean", {})
        s.put_array(f"acc/{name}/clean", np.ones(3, bool))
        s.put_array(f"pred/{name}/clean", np.ones(3, np.int64))
        s.put(f"latency/{name}/t1", {})
        s.put(f"kernel_check/{name}", {})
    invalidate_variant(s, "int8")
    assert not [k for k in s.keys() + s.array_keys() if k.split("/")[1] == "int8"]
    assert len(s.keys()) == 8 and len(s.array_keys()) == 4
