"""Fixtures of the eval tests: the shared third-party models folder (``VOXQUANT_MODELS``, default
``../shared/models`` beside the checkout) and the microWakeWord v2 ``alexa`` model in it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def models_root() -> Path:
    """``VOXQUANT_MODELS`` or ``../shared/models`` beside the checkout (it may not exist: tests skip)."""
    env = os.environ.get("VOXQUANT_MODELS")
    return Path(env).expanduser() if env else REPO.parent / "shared" / "models"


@pytest.fixture(scope="session")
def shared_models() -> Path:
    """The shared models folder (tests check the files they need and skip with the reason)."""
    return models_root()


@pytest.fixture(scope="module")
def alexa_model(shared_models) -> Path:
    """microWakeWord v2 ``alexa.tflite`` (stateful int8); skips when absent."""
    p = shared_models / "esphome-microwakeword-v2" / "alexa.tflite"
    if not p.is_file():
        pytest.skip(f"microWakeWord v2 model not found at {p} (set VOXQUANT_MODELS)")
    return p
