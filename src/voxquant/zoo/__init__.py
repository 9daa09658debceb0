"""Third-party models: declarative specs, loading in their native formats, the model zoo, and reproduction.

Public API (the CLI's ``voxquant zoo list|eval`` and ``--model SPEC`` call these):

* :func:`load_spec` (``spec.py``) -- TOML spec -> :class:`ModelSpec`.
* :func:`open_model` (``models.py``) -- spec -> :class:`SpecSession` (``run`` / ``run_features`` -> ``[N, C]``).
* :func:`to_onnx` -- spec -> float ONNX for the quantization recipes.
* :func:`zoo_list`, :func:`zoo_spec`, :func:`zoo_eval`, :func:`zoo_eval_all` -- the zoo.
* :class:`voxquant.zoo.tflite.TFLiteSession` -- LiteRT runner (float / hybrid / full-int8 with explicit rounding).

Heavy toolchains (LiteRT, TensorFlow) are imported lazily; a missing one raises
:class:`voxquant.errors.MissingExtraError` with the pip command.
"""

from __future__ import annotations

from voxquant.zoo.spec import InputQuantization, InputSpec, ModelSpec, load_spec, parse_spec, quantize_input


def zoo_list() -> list[dict]:
    """One dict per zoo model: ``name, family, format, precision, description, files, available, published``.

    ``available`` says whether all files are already present (``VOXQUANT_MODELS`` or the download cache) with
    correct checksums; nothing is downloaded.
    """
    from voxquant.errors import ModelError
    from voxquant.zoo.registry import _registry, resolve

    out = []
    for name, spec in sorted(_registry().items()):
        try:
            resolve(spec, download=False)
            available = True
        except ModelError:
            available = False
        out.append({
            "name": name, "family": spec.family, "format": spec.format, "precision": spec.precision,
            "description": spec.description, "files": [f.path for f in spec.files], "available": available,
            "published": dict(spec.published),
        })
    return out


def __getattr__(name):  # lazy re-exports (keep `import voxquant.zoo` light)
    lazy = {
        "open_model": "voxquant.zoo.models", "spec_for_file": "voxquant.zoo.models", "open_module": "voxquant.zoo.models", "to_onnx": "voxquant.zoo.models",
        "SpecSession": "voxquant.zoo.models", "TorchSession": "voxquant.zoo.models",
        "zoo_spec": "voxquant.zoo.registry", "zoo_names": "voxquant.zoo.registry",
        "zoo_families": "voxquant.zoo.registry", "resolve": "voxquant.zoo.registry",
        "zoo_eval": "voxquant.zoo.evaluate", "zoo_eval_all": "voxquant.zoo.evaluate",
        "evaluate_spec": "voxquant.zoo.evaluate", "spec_features": "voxquant.zoo.evaluate",
        "quantize_third_party": "voxquant.zoo.evaluate", "accent_slice": "voxquant.zoo.evaluate",
        "reproduce": "voxquant.zoo.report", "TFLiteSession": "voxquant.zoo.tflite",
    }
    if name in lazy:
        import importlib

        return getattr(importlib.import_module(lazy[name]), name)
    raise AttributeError(f"module 'voxquant.zoo' has no attribute '{name}'")


__all__ = ["InputQuantization", "InputSpec", "ModelSpec", "load_spec", "parse_spec", "quantize_input", "zoo_list",
           "open_model", "open_module", "spec_for_file", "to_onnx", "SpecSession", "TorchSession", "zoo_spec", "zoo_names",
           "zoo_families", "resolve", "zoo_eval", "zoo_eval_all", "evaluate_spec", "spec_features",
           "quantize_third_party", "accent_slice", "reproduce", "TFLiteSession"]
