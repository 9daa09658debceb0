"""Shared test fixtures: where the real data pack is.

The real data is read from ``VOXQUANT_DATA`` (CI: ``../shared/data``), else from ``<repo>/../shared/data``.
Tests that need it take the ``shared_data`` fixture and are skipped, with the reason, when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

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
