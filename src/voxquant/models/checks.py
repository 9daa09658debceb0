"""Checks that an ONNX model file is usable by voxquant before anything is built or scored from it.

* :func:`check_onnx_file`: the file exists, parses as ONNX, declares an opset this ``onnx`` / ONNX Runtime can
  run, and every external-data file its initializers name (``model.onnx.data``, written by default by the
  torch >= 2.5 exporter) is present.
* :func:`check_model_io`: the graph has one float32 input whose static shape fits the front-end's features in the
  given layout, and one output ``[N, C]`` with ``C`` = the number of labels; optionally one probe input is run
  through ONNX Runtime to check that the output really is ``[1, C]`` and finite (no NaN / Inf).
* :func:`copy_onnx`: copy a model so that its external data travels with it (or is embedded).

All failures raise :class:`voxquant.errors.ModelError` naming the model file and the problem.

Layering: this module sits in :mod:`voxquant.models` and imports only :mod:`voxquant.audio` and the ``onnx`` /
``onnxruntime`` libraries (lazily), never :mod:`voxquant.backends`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from voxquant.errors import ModelError

#: Oldest default-domain opset ONNX Runtime still runs.
MIN_OPSET = 7

#: Largest model that protobuf can hold in one file (bytes); larger models keep their external data.
PROTOBUF_LIMIT = 2**31 - 1


def max_opset() -> int:
    """Newest default-domain (``ai.onnx``) opset the installed ``onnx`` knows (``onnx.defs.onnx_opset_version``)."""
    import onnx

    return int(onnx.defs.onnx_opset_version())


def external_data_files(model, base: Path) -> list[Path]:
    """The files that ``model``'s initializers keep their data in (``location`` of external tensors).

    Args:
        model: an ``onnx.ModelProto`` loaded with ``load_external_data=False``.
        base: the folder of the ``.onnx`` file (locations are relative to it).

    Returns:
        Distinct paths, in first-use order (may be empty).
    """
    import onnx

    out: list[Path] = []
    for t in _all_tensors(model):
        if t.HasField("data_location") and t.data_location == onnx.TensorProto.EXTERNAL:
            loc = {e.key: e.value for e in t.external_data}.get("location")
            if loc:
                p = Path(base) / loc
                if p not in out:
                    out.append(p)
    return out


def _all_tensors(model):
    from onnx.external_data_helper import _get_all_tensors

    return _get_all_tensors(model)


def check_onnx_file(path: str | Path):
    """Check that ``path`` is an ONNX model voxquant can open.

    Args:
        path: the ``.onnx`` file.

    Returns:
        The ``onnx.ModelProto`` (external data not loaded).

    Raises:
        ModelError: missing file, a folder, not ONNX (protobuf parse error), no default-domain opset or one outside
            [:data:`MIN_OPSET`, :func:`max_opset`], or a missing external-data file (named, with a hint to copy it
            next to the model).
    """
    import onnx

    path = Path(path)
    if path.is_dir():
        raise ModelError("is a folder, not an ONNX model file", path)
    if not path.is_file():
        raise ModelError("model file not found", path)
    try:
        m = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError / ValidationError with protobuf text
        raise ModelError(f"not a valid ONNX model ({type(exc).__name__})", path) from None
    if not m.graph.node and not m.graph.output:
        raise ModelError("not a valid ONNX model (empty graph)", path)
    opsets = {o.domain: o.version for o in m.opset_import}
    v = opsets.get("", opsets.get("ai.onnx"))
    if v is None:
        raise ModelError("the model declares no ai.onnx opset", path)
    hi = max_opset()
    if not MIN_OPSET <= v <= hi:
        raise ModelError(f"unsupported ONNX opset {v} (this onnx / ONNX Runtime runs opsets {MIN_OPSET}..{hi})", path,
                         hint="re-export the model with a supported opset_version")
    for f in external_data_files(m, path.parent):
        if not f.is_file():
            raise ModelError(f"its external weight file '{f.name}' is missing (looked in {f.parent})", path,
                             hint="copy the .onnx.data file next to the model, or re-save it with the data embedded")
    return m


def expected_input_shape(frontend, layout: str) -> tuple[int, ...]:
    """Model input shape (batch 1) that ``frontend`` features take in ``layout``.

    Returns:
        e.g. ``(1, 1, 49, 10)`` for a 49x10 front-end in ``nchw``; ``(1, S)`` for a raw front-end.
    """
    from voxquant.audio.layout import to_model_layout

    if getattr(frontend, "kind", None) == "raw":
        return (1, int(frontend.clip_samples))
    t, f = frontend.n_frames(), frontend.n_features
    return tuple(to_model_layout(np.zeros((1, t, f), np.float32), layout).shape)


def _dims(value_info) -> list:
    """Static dims of a graph input/output (``None`` = symbolic/unknown); ``None`` when the rank is unknown."""
    tt = value_info.type.tensor_type
    if not tt.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]


def check_model_io(onnx_path: str | Path, frontend=None, layout: str = "nchw", n_labels: int | None = None,
                   probe: bool = True) -> None:
    """Refuse an ONNX model whose inputs/outputs do not fit what voxquant will feed it and score from it.

    Static checks (from the graph, no session): exactly one graph input (initializers excluded), of type float32
    (an integer-input model must be quantized from its float version); its static dims equal
    :func:`expected_input_shape` (``frontend``, ``layout``) except the batch and symbolic dims; exactly one output,
    of rank 2 (``[N, C]``) with ``C == n_labels`` when both are known. With ``probe``: one input of the expected
    shape (seeded noise, ``float32``) is run through ONNX Runtime (CPU) and the output must be ``[1, n_labels]``
    and finite.

    Args:
        onnx_path: the ``.onnx`` file (checked with :func:`check_onnx_file` first).
        frontend: the :class:`~voxquant.audio.FrontendConfig` that makes the inputs; ``None`` skips the input-shape
            check and the probe.
        layout: model input layout (``voxquant.audio.layout.LAYOUTS``).
        n_labels: label count; ``None`` skips the width check.
        probe: run the one-input probe.

    Raises:
        ModelError: naming ``onnx_path`` and the problem (integer input, several inputs/outputs, wrong input shape,
            output not ``[N, C]``, ``C`` != label count, NaN / Inf output, ONNX Runtime cannot load or run it).
    """
    path = Path(onnx_path)
    m = check_onnx_file(path)
    import onnx

    inits = {i.name for i in m.graph.initializer}
    inputs = [i for i in m.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise ModelError(f"the model has {len(inputs)} inputs ({', '.join(i.name for i in inputs) or 'none'}); "
                         "voxquant feeds exactly one (the features or the waveform)", path)
    inp = inputs[0]
    et = inp.type.tensor_type.elem_type
    if et != onnx.TensorProto.FLOAT:
        tname = onnx.TensorProto.DataType.Name(et).lower() if et else "non-tensor"
        raise ModelError(f"input '{inp.name}' is {tname}, voxquant feeds float32",
                         path, hint="use the float model; voxquant quantizes it")
    if len(m.graph.output) != 1:
        raise ModelError(f"the model has {len(m.graph.output)} outputs; voxquant scores exactly one [N, classes]", path)
    out_dims = _dims(m.graph.output[0])
    if out_dims is not None and len(out_dims) != 2:
        raise ModelError(f"output '{m.graph.output[0].name}' has rank {len(out_dims)} ({_fmt(out_dims)}); "
                         "voxquant scores [N, classes]", path)
    if out_dims is not None and n_labels is not None and out_dims[1] is not None and out_dims[1] != n_labels:
        raise ModelError(f"the model outputs {out_dims[1]} scores per clip but has {n_labels} labels", path,
                         hint="check --labels / the spec's labels: one name per output, in output order")
    if frontend is None:
        return
    want = expected_input_shape(frontend, layout)
    got = _dims(inp)
    if got is not None:
        bad = len(got) != len(want) or any(g is not None and g != w for g, w in list(zip(got, want))[1:])
        if bad:
            raise ModelError(f"input '{inp.name}' is {_fmt(got)} but front-end '{getattr(frontend, 'name', '?')}' "
                             f"makes {list(want)} ({layout})", path,
                             hint="pick the front-end preset the model was trained with (--frontend)")
    if probe:
        _probe(path, inp.name, want, n_labels)


def _fmt(dims) -> str:
    return "[" + ",".join("?" if d is None else str(d) for d in dims) + "]"


def _probe(path: Path, name: str, shape: tuple, n_labels: int | None) -> None:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    try:
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        x = (np.random.default_rng(0).standard_normal(shape) * 0.1).astype(np.float32)
        y = np.asarray(sess.run(None, {name: x})[0])
    except Exception as exc:
        raise ModelError(f"ONNX Runtime cannot run it: {str(exc).splitlines()[0][:200]}", path) from None
    if y.ndim != 2 or y.shape[0] != 1:
        raise ModelError(f"one input clip gives output {list(y.shape)}; voxquant scores [N, classes]", path)
    if n_labels is not None and y.shape[1] != n_labels:
        raise ModelError(f"the model outputs {y.shape[1]} scores per clip but has {n_labels} labels", path,
                         hint="check --labels / the spec's labels: one name per output, in output order")
    if not np.all(np.isfinite(y)):
        raise ModelError("the model outputs NaN or Inf on a test input", path)


def copy_onnx(src: str | Path, dst: str | Path) -> Path:
    """Copy an ONNX model so the copy is self-contained.

    A model without external data is copied byte for byte. One with external data (``model.onnx.data``) is
    re-saved with the data embedded when it fits in one protobuf (< 2 GiB), else copied with its data files beside
    it (same relative ``location``).

    Raises:
        ModelError: ``src`` is not a usable ONNX file (:func:`check_onnx_file`).
    """
    import onnx

    src, dst = Path(src), Path(dst)
    m = check_onnx_file(src)
    dst.parent.mkdir(parents=True, exist_ok=True)
    ext = external_data_files(m, src.parent)
    if src.resolve() == dst.resolve():
        return dst
    if not ext:
        shutil.copyfile(src, dst)
        return dst
    if sum(f.stat().st_size for f in ext) + src.stat().st_size < PROTOBUF_LIMIT:
        full = onnx.load(str(src), load_external_data=True)
        onnx.save(full, str(dst), save_as_external_data=False)
        return dst
    shutil.copyfile(src, dst)
    for f in ext:
        target = dst.parent / f.relative_to(src.parent)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, target)
    return dst




def did_you_mean(word: str, choices) -> str:
    """``" (did you mean 'x'?)"`` for the closest of ``choices`` (``difflib``, cutoff 0.6), else ``""``."""
    import difflib

    m = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{m[0]}'?)" if m else ""


def validate_frontend(frontend, where: str | Path | None, field: str = "frontend"):
    """Type-check every field of a :class:`~voxquant.audio.FrontendConfig` (``n_mfcc = "ten"``, ``window_ms = "x"``,
    ``n_mels = 40.5`` ...) with pydantic against the dataclass annotations.

    Args:
        frontend: a ``FrontendConfig`` (as built from a file, possibly with ill-typed values) or a dict of its fields.
        where: the file to name in the error (a spec ``.toml`` or a weights ``.json``).
        field: the name of the front-end section in that file, prefixed to the offending key.

    Returns:
        The validated ``FrontendConfig`` (numeric strings such as ``"10"`` converted).

    Raises:
        ConfigError: naming ``where``, ``<field>.<key>``, the expected type and the value given; for a dict, an
            unknown key (with the closest known one).
    """
    import dataclasses

    from pydantic import TypeAdapter, ValidationError

    from voxquant.audio.frontend import FrontendConfig
    from voxquant.errors import ConfigError

    if dataclasses.is_dataclass(frontend):
        data = dataclasses.asdict(frontend)
    else:
        data = dict(frontend)
        known = [f.name for f in dataclasses.fields(FrontendConfig)]
        for k in sorted(set(data) - set(known)):
            raise ConfigError(f"unknown key '{field}.{k}'{did_you_mean(k, known)}", where)
    try:
        return TypeAdapter(FrontendConfig).validate_python(data)
    except ValidationError as exc:
        e = exc.errors()[0]
        key = ".".join(str(x) for x in (field, *e["loc"]))
        raise ConfigError(f"'{key}': {e['msg'].lower()}, got {e.get('input')!r}", where) from None
    except ConfigError as exc:  # FrontendConfig's own checks (__post_init__)
        raise ConfigError(f"'{field}': {exc.problem}", where, hint=exc.hint) from None


__all__ = ["MIN_OPSET", "check_model_io", "check_onnx_file", "copy_onnx", "did_you_mean", "expected_input_shape",
           "external_data_files", "max_opset", "validate_frontend"]
