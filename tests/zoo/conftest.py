"""Fixtures for the zoo tests: the shared third-party models, an isolated cache, small real-clip subsets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def find_shared_models() -> Path | None:
    """``VOXQUANT_MODELS`` (CI: ``../shared/models``) or ``<repo>/../shared/models`` if it holds ``manifest.json``."""
    env = os.environ.get("VOXQUANT_MODELS")
    root = Path(env).expanduser() if env else REPO.parent / "shared" / "models"
    return root if (root / "manifest.json").is_file() else None


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Zoo tests write decoded waves and converted models to a per-session temp cache, never the user's."""
    monkeypatch.setenv("VOXQUANT_CACHE", str(tmp_path_factory.getbasetemp() / "voxquant-cache"))


@pytest.fixture
def shared_models(monkeypatch) -> Path:
    """The shared model folder, exported as ``VOXQUANT_MODELS`` (skips the test when absent)."""
    root = find_shared_models()
    if root is None:
        pytest.skip("third-party models not found: set VOXQUANT_MODELS to a folder with the shared/models layout "
                    "(CI uses VOXQUANT_MODELS=../shared/models)")
    monkeypatch.setenv("VOXQUANT_MODELS", str(root))
    return root


@pytest.fixture
def sc_subset(shared_data):
    """About 60 clips of the official test set (every 80th clip: all 12 labels), for quick accuracy checks."""
    from voxquant.data import speech_commands_test

    cs = speech_commands_test(shared_data)
    return cs.subset(list(range(0, len(cs), 80)))
