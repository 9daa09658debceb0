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


# ------------------------------------------------------------------------------------------------ recipe groups

#: Recipe-group aliases accepted wherever a list of recipes is (``voxquant run --recipes ptq,qat,mixed``).
#: ``ptq`` = the three calibrated static int8 recipes (reduce_range on x86 without VNNI); the diagnostic
#: ``int8_static_minmax_fullrange`` is left out (name it explicitly to get it).
RECIPE_GROUPS: dict[str, tuple[str, ...]] = {
    "ptq": ("int8_static_minmax", "int8_static_entropy", "int8_static_percentile"),
}


def expand_recipes(names) -> list[str]:
    """Expand group aliases (:data:`RECIPE_GROUPS`) in a list of recipe names, keeping order, dropping repeats.

    Args:
        names: recipe names and/or group aliases, e.g. ``["ptq", "qat", "mixed"]``.

    Returns:
        Recipe names, e.g. ``["int8_static_minmax", "int8_static_entropy", "int8_static_percentile", "qat", "mixed"]``.
        Unknown names are passed through unchanged (:func:`get_recipe` reports them).
    """
    out: list[str] = []
    for n in names:
        out.extend(RECIPE_GROUPS.get(n, (n,)))
    return list(dict.fromkeys(out))


# ------------------------------------------------------------------------------------------------ report hooks

#: ``recipe name -> hook(ctx) -> list[{"title", "blocks"}]``: extra report sections a recipe contributes to
#: ``voxquant run`` (e.g. the mixed-precision search trace and the NNCF comparison).
REPORT_HOOKS: dict[str, Callable] = {}


def register_report_hook(name: str):
    """Decorator: register ``hook(ctx) -> list[dict]`` for recipe ``name``.

    ``ctx`` (built by :func:`voxquant.pipeline.run` after the latency step) holds: ``out_dir`` (Path), ``store``
    (:class:`~voxquant.report.store.ResultStore`), ``variant_paths`` (``{recipe: Path}`` of built variants),
    ``specs`` (slices as ``(name, kind, param)``), ``slice_features`` (``f(name, kind, param) -> float32 [N, ...]``
    eval features, cached), ``y_eval`` (``int64 [N]``), ``labels``, ``frontend``, ``cfg`` (RunConfig) and
    ``eval_files`` (audio paths for latency). Hooks cache their own work in ``store``; sections are returned
    as plain data in the schema of :mod:`voxquant.report.sections` (``{"title": str, "blocks": [...]}``, no markup:
    the report validates them and renders them through its template).
    """

    def deco(fn):
        REPORT_HOOKS[name] = fn
        return fn

    return deco


def plain_text(s: object, limit: int = 500) -> str:
    """``str(s)`` cut to ``limit`` characters with ``<``/``>``/``&`` replaced by look-alikes (``‹ › ＆``), so that
    free text from exceptions and toolchains (e.g. ``<class 'int'>``) can go into a report section, which must
    hold no markup (:mod:`voxquant.report.sections` rejects tags and entities)."""
    return str(s)[:limit].replace("<", "‹").replace(">", "›").replace("&", "＆")


def run_report_hooks(recipes, ctx: dict) -> list[dict]:
    """Call the report hook of every recipe in ``recipes`` that has one and was built.

    A failing hook becomes a section that says so (the report is still written).

    Returns:
        The sections, in recipe order.
    """
    _load_builtin()
    sections: list[dict] = []
    for r in recipes:
        hook = REPORT_HOOKS.get(r)
        if hook is None or r not in ctx.get("variant_paths", {}):
            continue
        try:
            sections.extend(hook(ctx) or [])
        except Exception as exc:  # a report extra must never lose the run
            sections.append({"title": f"{r}: report section failed",
                             "blocks": [{"kind": "warning", "text": f"{type(exc).__name__}: {plain_text(exc)}"}]})
    return sections


__all__ = ["RECIPES", "RECIPE_GROUPS", "REPORT_HOOKS", "Recipe", "build_variant", "expand_recipes", "get_recipe", "plain_text", "recipe_names",
           "register_recipe", "register_report_hook", "run_report_hooks"]
