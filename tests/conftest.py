"""Shared test fixtures: where the real data pack is.

The real data is read from ``VOXQUANT_DATA`` (CI: ``../shared/data``), else from ``<repo>/../shared/data``.
Tests that need it take the ``shared_data`` fixture and are skipped, with the reason, when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def find_shared_data() -> Path | None:
    """The data root holding ``speech_commands_v0.02_test/manifest.csv``, or ``None``."""
    env = os.environ.get("VOXQUANT_DATA")
    root = Path(env).expanduser() if env else REPO.parent / "shared" / "data"
    return root if (root / "speech_commands_v0.02_test" / "manifest.csv").is_file() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of the real data pack (skips the test when it is not there)."""
    root = find_shared_data()
    if root is None:
        pytest.skip(
            "real data pack not found: set VOXQUANT_DATA to a folder holding speech_commands_v0.02_test/ "
            "(CI uses VOXQUANT_DATA=../shared/data)"
        )
    return root


# ---- tiny toy models shared by the backend and target tests (exported once per session) ----


def _export(model, path):
    from voxquant.quant.export import export_onnx

    export_onnx(model.eval(), model.example_input(), path)
    return path


@pytest.fixture(scope="session")
def tiny_dscnn(tmp_path_factory):
    """``(torch_model, onnx_path)``: a DS-CNN with 8 channels, 1 block, 12 classes, input [N,1,49,10]."""
    import torch

    from voxquant.models.dscnn import DSCNN

    torch.manual_seed(0)
    m = DSCNN(n_classes=12, channels=8, n_blocks=1).eval()
    return m, _export(m, tmp_path_factory.mktemp("dscnn") / "dscnn.onnx")


@pytest.fixture(scope="session")
def tiny_crnn(tmp_path_factory):
    """``(torch_model, onnx_path)``: a CRNN (conv 8 + 1-layer GRU of 8 + FC 8), input [N,1,49,10]."""
    import torch

    from voxquant.models.crnn import CRNN

    torch.manual_seed(0)
    m = CRNN(n_classes=12, conv_channels=8, gru_hidden=8, gru_layers=1, fc=8).eval()
    return m, _export(m, tmp_path_factory.mktemp("crnn") / "crnn.onnx")


@pytest.fixture(scope="session")
def calib():
    """``float32 [24, 1, 49, 10]`` standard-normal calibration inputs (seed 0)."""
    return np.random.default_rng(0).standard_normal((24, 1, 49, 10)).astype(np.float32)


@pytest.fixture(scope="session")
def feats():
    """``float32 [16, 1, 49, 10]`` test inputs (seed 1)."""
    return np.random.default_rng(1).standard_normal((16, 1, 49, 10)).astype(np.float32)
