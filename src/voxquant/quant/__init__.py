"""Quantization recipes in one registry (name -> :class:`Recipe`), in the spirit of ONNX Runtime's quantization
registry: every recipe maps a float ONNX model (+ optional calibration inputs) to a new ONNX model.

Built-in recipes (``voxquant.quant.ort``): ``fp32``, ``fp16``, ``int8_dynamic``, ``int8_static_minmax``,
``int8_static_entropy``, ``int8_static_percentile``. QAT and mixed precision register here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from voxquant.errors import ConfigError


@dataclass(frozen=True)
class Recipe:
    """A quantization recipe.

    Attributes:
        name: registry key, e.g. ``"int8_static_minmax"``.
        fn: ``fn(fp32_onnx: Path, out: Path, calibration: float32 [N, ...] | None, **options) -> Path``.
        precision: label for reports, e.g. ``"int8"`` / ``"fp16"`` / ``"int8/fp32 mixed"``.
        needs_calibration: whether ``calibration`` inputs are required (static PTQ).
        description: one line for ``--help`` and the report.
    """

    name: str
    fn: Callable
    precision: str
    needs_calibration: bool
    description: str


RECIPES: dict[str, Recipe] = {}


def register_recipe(name: str, precision: str, needs_calibration: bool, description: str):
    """Decorator registering a recipe function under ``name``."""

    def deco(fn):
        RECIPES[name] = Recipe(name, fn, precision, needs_calibration, description)
        return fn

    return deco


def get_recipe(name: str) -> Recipe:
    """Look up a recipe; unknown names raise :class:`ConfigError` with the closest match."""
    _load_builtin()
    if name not in RECIPES:
        import difflib

        close = difflib.get_close_matches(name, RECIPES, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(RECIPES)}"
        raise ConfigError(f"unknown quantization recipe '{name}'", hint=hint)
    return RECIPES[name]


def build_variant(name: str, fp32_onnx: Path, out: Path, calibration: np.ndarray | None = None, **options) -> Path:
    """Apply recipe ``name`` to ``fp32_onnx`` writing ``out``; returns ``out``.

    Raises:
        ConfigError: unknown recipe, or calibration missing for a static recipe.
    """
    recipe = get_recipe(name)
    if recipe.needs_calibration and (calibration is None or len(calibration) == 0):
        raise ConfigError(f"recipe '{name}' needs calibration data")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(recipe.fn(Path(fp32_onnx), out, calibration, **options))


def _load_builtin():
    import voxquant.quant.ort  # noqa: F401  (registers the ONNX Runtime recipes)

    for mod in ("voxquant.quant.qat", "voxquant.quant.mixed"):
        try:
            __import__(mod)
        except ImportError:
            pass


def recipe_names() -> list[str]:
    """All registered recipe names."""
    _load_builtin()
    return list(RECIPES)


__all__ = ["RECIPES", "Recipe", "build_variant", "get_recipe", "recipe_names", "register_recipe"]
