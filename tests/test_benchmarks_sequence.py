"""``benchmarks/sequence_rtf.py`` on a tiny CTC model with 5 timed runs: every row is produced (no timing is
asserted: CI machines are noisy)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "sequence_rtf.py"


def _bench():
    spec = importlib.util.spec_from_file_location("sequence_rtf_bench", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_sequence_rtf_produces_every_row(tmp_path, shared_data, capsys):
    import torch

    from voxquant.models.ctc import ConvCTC, save_ctc

    bench = _bench()
    torch.manual_seed(0)
    cfg = {"channels": 16, "kernels": [5], "repeat": 1, "head_channels": 16}
    w = save_ctc(ConvCTC(**cfg), tmp_path / "tiny.pt", {"config": cfg})
    litert = all(importlib.util.find_spec(m) for m in ("litert_torch", "ai_edge_litert", "ai_edge_quantizer"))
    runtimes = "onnx,tflite" if litert else "onnx"
    out, md = tmp_path / "rtf.json", tmp_path / "rtf.md"
    assert bench.main(["--archs", "conv", "--weights", f"conv={w}", "--runtimes", runtimes, "--runs", "5",
                       "--warmup", "1", "--calib-n", "4", "--timing-files", "2", "--data-root", str(shared_data),
                       "--json", str(out), "--markdown", str(md)]) == 0
    res = json.loads(out.read_text())
    rows = res["rows"]
    want = [("onnxruntime", p) for _, p in bench.ORT_RECIPES]
    if litert:
        want += [("litert", p) for p in bench.TFLITE_PRECISIONS]
    assert [(r["runtime"], r["precision"]) for r in rows] == want
    for r in rows:
        assert r["status"] == "ok", r
        assert r["p50_ms"] > 0 and r["p95_ms"] >= r["p50_ms"] and r["size_bytes"] > 0
        assert r["rtf"] == pytest.approx(r["p50_ms"] / 3000.0)
        assert r["speedup_vs_fp32"] > 0
        assert r["int8_mac_share"] is not None
        if r["precision"] == "fp32":
            assert r["speedup_vs_fp32"] == 1.0 and r["int8_mac_share"] == 0.0
        if r["precision"].startswith("int8"):
            assert r["int8_mac_share"] > 0.9
    assert {(v["arch"], v["runtime"]) for v in res["verdicts"]} == {("conv", rt) for rt, _ in want}
    assert all(v["pass"] is (v["fp32_rtf"] <= 0.02) for v in res["verdicts"])
    assert res["n_frames"] == 298 and res["machine"]["isa"]["arch"]
    assert res["models"]["conv"].startswith("weights ")
    text = capsys.readouterr().out
    assert "fp32 RTF" in text and ("PASS" in text or "FAIL" in text)
    assert "Command: `python benchmarks/sequence_rtf.py" in md.read_text()
