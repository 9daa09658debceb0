"""Nothing is lost when ``voxquant run`` is killed: SIGKILL at several points, resume, same numbers as a run that was
never interrupted, and no temporary file left behind. A recorded artefact that was truncated / replaced since is
rebuilt (never reused, never a failed resume)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import voxquant

pytestmark = pytest.mark.slow

ARGS = ["--limit", "48", "--recipes", "fp32,int8_static_minmax", "--snrs", "10", "--no-reverb", "--threads", "1",
        "--latency-runs", "5", "--n-boot", "100", "--quiet"]
#: Row fields that depend on timing (latency) or wall time; everything else must be identical after a resume.
TIMING = {"latency_ms", "peak_rss_bytes", "model_speedup_vs_fp32", "speedup_vs_fp32", "slower_than_fp32",
          "build_seconds", "latency_error", "worst_slice"}


def _cmd(out: Path) -> list[str]:
    return [sys.executable, "-c", "import sys; from voxquant.cli import main; sys.exit(main())", "run", "--out",
            str(out), *ARGS]


def _env(data: Path) -> dict:
    env = dict(os.environ)
    src = str(Path(voxquant.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([src, *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
    env["VOXQUANT_DATA"] = str(data)
    return env


def _run(out: Path, data: Path) -> None:
    p = subprocess.run(_cmd(out), env=_env(data), capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]


def _run_until(out: Path, data: Path, marker: str, timeout: float = 120) -> bool:
    """Start a run and SIGKILL it (its whole process group) as soon as ``out/marker`` exists. Returns whether the
    marker appeared before the run ended by itself."""
    proc = subprocess.Popen(_cmd(out), env=_env(data), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    t0 = time.time()
    try:
        while time.time() - t0 < timeout:
            if (out / marker).exists():
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return True
            if proc.poll() is not None:
                assert proc.returncode == 0, proc.stderr.read().decode()[-3000:]
                return False
            time.sleep(0.01)
        raise AssertionError(f"{marker} did not appear within {timeout} s")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stderr.close()


def _numbers(out: Path) -> list[dict]:
    rows = json.loads((out / "results.json").read_text())["variants"]
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


def _temps(out: Path) -> list[str]:
    from voxquant.atomic import is_temp_name

    return sorted(str(f.relative_to(out)) for f in out.rglob("*")
                  if (f.is_file() and is_temp_name(f.name)) or f.name == ".building")


@pytest.fixture(scope="module")
def reference_run(shared_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("kill") / "uninterrupted"
    _run(out, shared_data)
    return out


def test_sigkill_at_several_points_then_resume_gives_the_same_numbers(reference_run, shared_data, tmp_path):
    ref = _numbers(reference_run)
    assert [r["status"] for r in ref] == ["ok", "ok"] and all(r["slices"] for r in ref)
    assert not _temps(reference_run)

    out = tmp_path / "killed"
    # each kill lands in another phase: float export, artefact build, per-slice accuracy cells, latency
    markers = ["models/.building", "cells/source/fp32_onnx.json", "cells/variant/int8_static_minmax.json",
               "cells/acc/int8_static_minmax/clean.json", "cells/latency/fp32/t1.json"]
    killed = [m for m in markers if _run_until(out, shared_data, m)]
    assert len(killed) >= 4, f"the run ended before most kill points: killed at {killed}"
    assert not (out / "results.json").exists()
    _run(out, shared_data)  # resume to the end
    assert _numbers(out) == ref
    assert not _temps(out), _temps(out)


def test_a_truncated_or_replaced_artefact_is_rebuilt_on_resume(reference_run, shared_data):
    # runs last, in place: a variant cell names its artefact by absolute path, so a copy would still use the original
    out = reference_run
    ref = _numbers(out)
    (out / "results.json").unlink()
    q = out / "models" / "model.int8_static_minmax.onnx"
    q.write_bytes(q.read_bytes()[: q.stat().st_size // 2])  # truncated after it was recorded
    f = out / "models" / "model.fp32.onnx"
    data = bytearray(f.read_bytes())
    data[-1] ^= 0xFF  # replaced by another file of the same size
    f.write_bytes(bytes(data))
    stale = out / "cells" / "acc" / "int8_static_minmax" / "clean.json"
    before = stale.stat().st_mtime_ns
    p = subprocess.run(_cmd(out), env=_env(shared_data), capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "sha256 mismatch" in p.stderr and "int8_static_minmax" in p.stderr and "rebuilding" in p.stderr
    assert _numbers(out) == ref
    assert stale.stat().st_mtime_ns != before  # measured again on the rebuilt artefact, not reused
    cell = json.loads((out / "cells" / "variant" / "int8_static_minmax.json").read_text())
    assert cell["files"][0]["size"] == q.stat().st_size
