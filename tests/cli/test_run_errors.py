"""`voxquant run` refuses what would give a wrong number: one clear line naming the file and the problem, exit 2."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from voxquant.cli import main


def _err(capsys, *argv):
    code = main(list(argv))
    err = capsys.readouterr().err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def _synthetic_set(folder, labels=("hello", "bye"), n=6):
    """A tiny labelled manifest of synthetic tones (labelled synthetic), two speakers."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["path,label,speaker,accent"]
    for li, lab in enumerate(labels):
        for i in range(n):
            p = folder / f"synthetic_{lab}_{i}.wav"
            t = np.arange(16000) / 16000
            sf.write(p, (0.2 * np.sin(2 * np.pi * (300 + 200 * li + 7 * i) * t)).astype(np.float32), 16000)
            rows.append(f"{p.name},{lab},spk{i % 2},{'x' if i % 2 else 'y'}")
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n")
    return folder / "manifest.csv"


def test_labels_that_do_not_match(capsys, tmp_path, shared_data):
    csv = _synthetic_set(tmp_path / "data")
    line = _err(capsys, "run", "--data", str(csv), "--out", str(tmp_path / "out"), "--quiet")
    assert "hello" in line and "yes" in line  # both label sets are named


def test_output_size_differs_from_label_count(capsys, tmp_path, shared_data):
    import torch

    from voxquant.models.dscnn import DSCNN
    from voxquant.quant.export import export_onnx

    torch.manual_seed(0)
    m = DSCNN(n_classes=5, channels=8, n_blocks=1).eval()
    onnx_path = export_onnx(m, m.example_input(), tmp_path / "five.onnx")
    line = _err(capsys, "run", "--model", str(onnx_path), "--frontend", "voxquant-mfcc-49x10", "--labels", "sc12",
                "--out", str(tmp_path / "out"), "--limit", "24", "--recipes", "fp32", "--threads", "1",
                "--no-reverb", "--snrs", "10", "--quiet")
    assert "5" in line and "12 labels" in line and "five.onnx" in line  # the user's file, not the copy voxquant makes


def test_group_by_a_missing_column(capsys, tmp_path, shared_data):
    line = _err(capsys, "run", "--group-by", "accent", "--out", str(tmp_path / "out"), "--limit", "24", "--quiet")
    assert "accent" in line and "available" in line


def test_empty_calibration_folder(capsys, tmp_path, shared_data):
    (tmp_path / "empty").mkdir()
    line = _err(capsys, "run", "--calib", str(tmp_path / "empty"), "--out", str(tmp_path / "out"), "--limit", "24",
                "--quiet")
    assert "empty" in line


def test_resume_under_another_fingerprint(capsys, tmp_path, shared_data):
    args = ["run", "--out", str(tmp_path / "out"), "--limit", "24", "--recipes", "fp32", "--threads", "1",
            "--latency-runs", "5", "--no-reverb", "--snrs", "10", "--n-boot", "100", "--quiet"]
    assert main(args) == 0
    capsys.readouterr()
    line = _err(capsys, *args, "--seed", "3")
    assert str(tmp_path / "out") in line and "different run" in line and "numbers" in line
