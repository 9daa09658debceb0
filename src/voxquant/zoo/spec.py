"""Declarative model specs (TOML): how to load a third-party KWS model and feed it exactly what it was trained on.

A spec names the model file(s) and format, the input tensor (name, shape, layout, dtype and, for int8-input
models, the quantization with an explicit rounding rule), the label order and how dataset clips map onto it,
the front-end (a preset of :mod:`voxquant.audio.presets` plus overrides) and the published accuracy with its
source and test set. Example (``src/voxquant/zoo/specs/*.toml`` hold the zoo's)::

    name = "mlperf-tiny-kws-dscnn-int8"
    format = "tflite"                       # onnx | tflite | savedmodel | keras_h5 | pytorch_state_dict | tf_frozen_graph
    model = "kws_ref_model.tflite"          # relative to the spec's folder (zoo: to the models root)
    precision = "int8"

    [[files]]                               # optional: checksums (and download URLs, for the zoo)
    path = "kws_ref_model.tflite"
    sha256 = "aeea4368..."
    url = "https://raw.githubusercontent.com/mlcommons/tiny/<commit>/..."

    [input]
    name = "input_1"                        # optional; checked against the model
    shape = [1, 49, 10, 1]                  # incl. batch (1 or -1)
    layout = "nhwc"                         # see LAYOUTS
    dtype = "int8"                          # float32 | int8
    [input.quantization]                    # int8 inputs: values the model stores (checked) + rounding rule
    scale = 0.5847029
    zero_point = 83
    rounding = "truncate"                   # nearest | nearest_even | truncate

    [output]
    kind = "probabilities"                  # logits | probabilities | log_probabilities

    [labels]
    order = ["down", "go", ...]
    target = "label"                        # label | word | map (see target_label)

    [frontend]
    preset = "mlperf-tiny-mfcc"
    pad = "audio"                           # audio | features
    [frontend.overrides]                    # any FrontendConfig field

    [architecture]                          # pytorch_state_dict only
    name = "bcresnet"
    kwargs = { scale = 2 }

    [published]
    accuracy = 0.92
    source = "mlcommons/tiny .../trained_models/README.md"
    test_set = "Speech Commands v0.02 official 12-class test set (4,890 clips)"
    same_test_set = true

Models with the front-end inside the graph (an STFT / log-mel in the model, input = the waveform ``[1, 16000]``)
say ``frontend = "raw"`` (16 kHz, clip length from the input shape) or, to set them::

    [frontend]
    kind = "raw"
    sample_rate = 16000
    clip_ms = 1000                          # or clip_samples = 16000

and get input layout ``raw`` (the default for them). TF1 frozen graphs: ``format = "tf_frozen_graph"``,
``model = "graph.pb"`` and the tensor names ``input.name`` / ``output.name`` (or top-level ``input_name`` /
``output_name``), e.g. ``"fingerprint_input:0"`` / ``"labels_softmax:0"``.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voxquant.audio.frontend import FrontendConfig
from voxquant.audio.presets import get_preset
from voxquant.errors import ConfigError, ModelError

FORMATS = ("onnx", "tflite", "savedmodel", "keras_h5", "pytorch_state_dict", "tf_frozen_graph")
"""Model formats a spec may name."""

# LAYOUTS, feature_shape, to_model_layout live with the audio front-end (voxquant.audio.layout); re-exported here.
from voxquant.audio.layout import LAYOUTS, feature_shape, to_model_layout  # noqa: E402,F401

ROUNDINGS = ("nearest", "nearest_even", "truncate")
"""Float -> int8 input rounding rules (see :func:`quantize_input`)."""

OUTPUT_KINDS = ("logits", "probabilities", "log_probabilities")
TARGETS = ("label", "word", "map")
PADS = ("audio", "features")


@dataclass(frozen=True)
class InputQuantization:
    """Affine int8 input quantization ``q = clip(R(x / scale + zero_point), -128, 127)``.

    Attributes:
        scale: float step (model units per integer step).
        zero_point: integer offset.
        rounding: ``"nearest"`` (half away from zero, TFLite's ``Quantize`` kernel), ``"nearest_even"`` (ONNX
            ``QuantizeLinear``, ``np.rint``) or ``"truncate"`` (toward zero, *after* adding the zero point: the
            MLPerf Tiny publisher's ``np.array(x/scale + zero_point, dtype=np.int8)`` in
            ``eval_quantized_model.py``).
        clip: saturate to [-128, 127]. The publisher's expression does not clip (numpy's out-of-range float ->
            int8 conversion is platform-defined); :func:`quantize_input` reports how many values were clipped.
    """

    scale: float
    zero_point: int
    rounding: str = "nearest"
    clip: bool = True


@dataclass(frozen=True)
class InputSpec:
    """The model input: ``name`` (``None`` = do not check), ``shape`` incl. batch, ``layout``, ``dtype``, quantization."""

    shape: tuple[int, ...]
    layout: str = "nchw"
    name: str | None = None
    dtype: str = "float32"
    quantization: InputQuantization | None = None


@dataclass(frozen=True)
class FileEntry:
    """One file of a model: ``path`` (relative to the root), ``sha256``, ``bytes`` and download ``url`` (all optional
    except ``path``)."""

    path: str
    sha256: str | None = None
    bytes: int | None = None
    url: str | None = None


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec (see the module docstring for the TOML format).

    Attributes:
        name: model name.
        format: one of :data:`FORMATS`.
        model: entry point (file, or SavedModel folder), relative to ``root``.
        root: folder the paths are relative to (the spec's folder, or the zoo's resolved models root).
        input: :class:`InputSpec`.
        output_kind: one of :data:`OUTPUT_KINDS`.
        output_name: output tensor name (``tf_frozen_graph``: required, e.g. ``"labels_softmax:0"``), or ``None``.
        labels: class names in output order.
        target: how a dataset clip maps to a label (:func:`target_label`).
        label_map: for ``target="map"``: clip word/label -> model label; key ``"*"`` is the default.
        frontend: the front-end configuration (preset + overrides).
        frontend_preset: the preset name (for reports).
        pad: ``"audio"`` (zero-pad/crop the waveform to ``frontend.clip_samples``) or ``"features"`` (features of
            the clip as it is, frames padded with ``pad_value`` / cropped to the model's frame count: what a
            ``pad_sequence`` collate function does at training time).
        pad_value: feature padding value for ``pad="features"``.
        architecture: registered architecture name (``pytorch_state_dict``).
        architecture_kwargs: its keyword arguments.
        files: :class:`FileEntry` list (checksums / URLs).
        published: ``accuracy`` (fraction), ``source``, ``test_set``, ``same_test_set``, ``note`` ... (free-form).
        precision: informational (``fp32``, ``int8``, ``hybrid-int8``).
        description: one line.
        family: zoo family name (several formats of one model), or ``None``.
        source: the spec file, if loaded from one.
    """

    name: str
    format: str
    model: str
    root: Path
    input: InputSpec
    labels: tuple[str, ...]
    frontend: FrontendConfig
    output_kind: str = "logits"
    output_name: str | None = None
    target: str = "label"
    label_map: dict = field(default_factory=dict)
    frontend_preset: str | None = None
    pad: str = "audio"
    pad_value: float = 0.0
    architecture: str | None = None
    architecture_kwargs: dict = field(default_factory=dict)
    files: tuple[FileEntry, ...] = ()
    published: dict = field(default_factory=dict)
    precision: str = "fp32"
    description: str = ""
    family: str | None = None
    source: Path | None = None

    @property
    def model_path(self) -> Path:
        """Absolute path of the entry point."""
        return (self.root / self.model).resolve() if not Path(self.model).is_absolute() else Path(self.model)

    @property
    def n_classes(self) -> int:
        """Number of output classes (``len(labels)``)."""
        return len(self.labels)

    @property
    def feature_shape(self) -> tuple[int, int]:
        """``(T, F)`` the model expects, derived from ``input.shape`` and ``input.layout``."""
        return feature_shape(self.input.shape, self.input.layout)

    def with_root(self, root: Path) -> "ModelSpec":
        """A copy with another ``root`` (used by the zoo after resolving files)."""
        return dataclasses.replace(self, root=Path(root))

    def where(self) -> Path:
        """The file to name in error messages: the spec file if known, else the model path."""
        return self.source if self.source is not None else self.model_path


# ------------------------------------------------------------------------------------------------------------
# layout + quantization helpers


def quantize_input(x: np.ndarray, q: InputQuantization) -> tuple[np.ndarray, int]:
    """Quantize float model input to int8 with the spec's rounding rule.

    ``nearest``: ``round_half_away(x / scale) + zp`` (TFLite). ``nearest_even``: ``rint(x / scale) + zp`` (ONNX).
    ``truncate``: ``trunc(x / scale + zp)`` (MLPerf Tiny's ``eval_quantized_model.py``). Arithmetic in float32
    like the publisher's numpy code.

    Args:
        x: ``float32 [N, ...]``.
        q: the quantization.

    Returns:
        ``(int8 array, n_out_of_range)``: values outside [-128, 127] before clipping (clipped when ``q.clip``;
        without clipping they wrap like a C cast through int32, which is what numpy does on x86).
    """
    v = np.asarray(x, dtype=np.float32) / np.float32(q.scale)
    if q.rounding == "nearest":
        r = np.sign(v) * np.floor(np.abs(v) + np.float32(0.5)) + q.zero_point
    elif q.rounding == "nearest_even":
        r = np.rint(v) + q.zero_point
    elif q.rounding == "truncate":
        r = np.trunc(v + np.float32(q.zero_point))
    else:
        raise ConfigError(f"unknown rounding '{q.rounding}' (choose from {', '.join(ROUNDINGS)})")
    out_of_range = int(np.count_nonzero((r < -128) | (r > 127)))
    if q.clip:
        r = np.clip(r, -128, 127)
        return r.astype(np.int8), out_of_range
    return r.astype(np.int64).astype(np.int8), out_of_range


def target_label(spec: ModelSpec, label: str, word: str | None) -> str | None:
    """The model label a dataset clip should get, or ``None`` when the clip cannot be scored by this model.

    * ``target="label"``: the clip's label (e.g. the 12-class ``_unknown_``/``_silence_`` labels);
    * ``target="word"``: the spoken word (``Clip.word``; for ``_unknown_`` clips the real word), ``None`` when the
      word is not one of the model's labels (e.g. ``_silence_`` for a 35-word model);
    * ``target="map"``: ``label_map[word]``, else ``label_map[label]``, else ``label_map["*"]``, else ``None``.
    """
    if spec.target == "label":
        return label if label in spec.labels else None
    if spec.target == "word":
        return word if word in spec.labels else None
    m = spec.label_map
    for key in (word, label, "*"):
        if key is not None and key in m:
            return m[key]
    return None


# ------------------------------------------------------------------------------------------------------------
# parsing


def _get(d: dict, key: str, typ, where: Path, default=dataclasses.MISSING, section: str = ""):
    name = f"{section}.{key}" if section else key
    if key not in d:
        if default is dataclasses.MISSING:
            raise ConfigError(f"model spec lacks '{name}'", where)
        return default
    v = d[key]
    if typ is float and isinstance(v, int) and not isinstance(v, bool):
        v = float(v)
    if not isinstance(v, typ):
        tname = typ.__name__ if isinstance(typ, type) else "/".join(t.__name__ for t in typ)
        raise ConfigError(f"model spec field '{name}' must be {tname}, got {type(v).__name__}", where)
    return v


# ------------------------------------------------------------------------------------------------------------
# schema (pydantic): types, ranges and known keys of the TOML, checked before the semantics in parse_spec


def _schema():
    """The pydantic models of a spec's TOML (built lazily: pydantic is imported only when a spec is read)."""
    from typing import Annotated, Any

    from pydantic import AfterValidator, BaseModel, ConfigDict, Field

    def _not_zero(d: int) -> int:
        if d == 0:
            raise ValueError("a dimension must be >= 1, or -1 for a dynamic one")
        return d

    strict = ConfigDict(extra="forbid", strict=True)
    Dim = Annotated[int, Field(ge=-1), AfterValidator(_not_zero)]

    class Quantization(BaseModel):
        model_config = strict
        scale: Annotated[float, Field(gt=0, allow_inf_nan=False)]
        zero_point: Annotated[int, Field(ge=-128, le=255)]
        rounding: str = "nearest"
        clip: bool = True

    class Input(BaseModel):
        model_config = strict
        name: str | None = None
        shape: Annotated[list[Dim], Field(min_length=1)]
        layout: str | None = None
        dtype: str = "float32"
        quantization: Quantization | None = None

    class Output(BaseModel):
        model_config = strict
        kind: str = "logits"
        name: str | None = None

    class Labels(BaseModel):
        model_config = strict
        order: list[str]
        target: str = "label"
        map: dict[str, str] = {}

    class Frontend(BaseModel):
        model_config = strict
        preset: str | None = None
        kind: str | None = None
        pad: str = "audio"
        pad_value: Annotated[float, Field(allow_inf_nan=False)] = 0.0
        overrides: dict[str, Any] = {}
        sample_rate: Annotated[int, Field(gt=0)] | None = None
        clip_samples: Annotated[int, Field(gt=0)] | None = None
        clip_ms: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
        audio_norm: str | None = None

    class Architecture(BaseModel):
        model_config = strict
        name: str
        kwargs: dict[str, Any] = {}

    class File(BaseModel):
        model_config = strict
        path: str
        sha256: str | None = None
        bytes: Annotated[int, Field(ge=0)] | None = None
        url: str | None = None

    class Spec(BaseModel):
        model_config = strict
        name: Annotated[str, Field(min_length=1)]
        format: str
        model: Annotated[str, Field(min_length=1)]
        precision: str = "fp32"
        description: str = ""
        family: str | None = None
        licence: str | None = None
        source: str | None = None
        input_name: str | None = None
        output_name: str | None = None
        files: list[File] = []
        input: Input
        output: Output = Output()
        labels: Labels
        frontend: Frontend
        architecture: Architecture | None = None
        published: dict[str, Any] = {}

    sections = {"": Spec, "input": Input, "input.quantization": Quantization, "output": Output, "labels": Labels,
                "frontend": Frontend, "architecture": Architecture, "files": File}
    return Spec, sections


def validate_spec_dict(data: dict, where: Path) -> None:
    """Check a spec's TOML against the schema: known keys only, each of the right type and range.

    ``input.shape`` must be a non-empty list of integers, each >= 1 or -1 (dynamic); ``input.quantization.scale``
    > 0; ``frontend`` a table (or the string ``"raw"``); ``frontend.overrides`` is checked against
    :class:`FrontendConfig` by :func:`parse_spec`.

    Raises:
        ConfigError: naming ``where``, the dotted field (``input.shape[0]``), what it must be and the value given;
            an unknown field gets the closest known name (``did you mean``).
    """
    from pydantic import ValidationError

    from voxquant.models.checks import did_you_mean

    Spec, sections = _schema()
    if data.get("frontend") == "raw":
        data = dict(data, frontend={"kind": "raw"})
    elif "frontend" in data and not isinstance(data["frontend"], dict):
        raise ConfigError(f"model spec field 'frontend' must be a table or \"raw\", got {data['frontend']!r}", where)
    try:
        Spec.model_validate(data)
    except ValidationError as exc:
        e = exc.errors()[0]
        loc = list(e["loc"])
        key = ""
        for x in loc:
            key += f"[{x}]" if isinstance(x, int) else (f".{x}" if key else str(x))
        if e["type"] == "extra_forbidden":
            section = ".".join(str(x) for x in loc[:-1] if not isinstance(x, int))
            known = sections.get(section, Spec).model_fields
            what = "unknown model spec field" if not section else "unknown field"
            raise ConfigError(f"{what} '{key}'{did_you_mean(loc[-1], known)}", where) from None
        if e["type"] == "missing":
            raise ConfigError(f"model spec lacks '{key}'", where) from None
        got = e.get("input")
        raise ConfigError(f"model spec field '{key}': {e['msg'].lower()}, got {got!r}", where) from None


def parse_spec(data: dict, root: Path, source: Path | None = None) -> ModelSpec:
    """Build a :class:`ModelSpec` from a parsed TOML dict (see :func:`load_spec`).

    Raises:
        ConfigError: missing/ill-typed/out-of-range/unknown fields (:func:`validate_spec_dict`, pydantic), ill-typed
            front-end overrides, ``model`` naming a folder (a file for ``savedmodel``), unknown
            format/layout/rounding/target/preset (message names ``source`` and the field).
    """
    where = source if source is not None else Path(root)
    validate_spec_dict(data, where)
    name = _get(data, "name", str, where)
    fmt = _get(data, "format", str, where)
    if fmt not in FORMATS:
        from voxquant.models.checks import did_you_mean

        raise ConfigError(f"unknown model format '{fmt}'{did_you_mean(fmt, FORMATS)} (choose from {', '.join(FORMATS)})",
                          where)
    model = _get(data, "model", str, where)
    model_path = Path(model) if Path(model).is_absolute() else Path(root) / model
    if fmt != "savedmodel" and model_path.is_dir():
        raise ConfigError(f"model spec field 'model' names a folder ({model_path}); format '{fmt}' needs a file", where)
    if fmt == "savedmodel" and model_path.is_file():
        raise ConfigError(f"model spec field 'model' names a file ({model_path}); format 'savedmodel' needs the "
                          "SavedModel folder", where)

    files = []
    for i, f in enumerate(_get(data, "files", list, where, default=[])):
        if not isinstance(f, dict) or "path" not in f:
            raise ConfigError(f"files[{i}] needs a 'path'", where)
        files.append(FileEntry(path=str(f["path"]), sha256=f.get("sha256"), bytes=f.get("bytes"), url=f.get("url")))

    inp = _get(data, "input", dict, where)
    shape = tuple(int(d) for d in _get(inp, "shape", list, where, section="input"))
    fe_raw = data.get("frontend")
    is_raw = fe_raw == "raw" or (isinstance(fe_raw, dict) and (fe_raw.get("kind") == "raw" or fe_raw.get("preset") == "raw"))
    layout = _get(inp, "layout", str, where, default="raw" if is_raw else "nchw", section="input")
    try:
        feature_shape(shape, layout)
    except ConfigError as exc:
        raise ConfigError(exc.problem, where) from None
    dtype = _get(inp, "dtype", str, where, default="float32", section="input")
    if dtype not in ("float32", "int8"):
        raise ConfigError(f"input.dtype must be float32 or int8, got '{dtype}'", where)
    quant = None
    if "quantization" in inp:
        qd = _get(inp, "quantization", dict, where, section="input")
        rounding = _get(qd, "rounding", str, where, default="nearest", section="input.quantization")
        if rounding not in ROUNDINGS:
            raise ConfigError(f"unknown rounding '{rounding}' (choose from {', '.join(ROUNDINGS)})", where)
        quant = InputQuantization(
            scale=_get(qd, "scale", float, where, section="input.quantization"),
            zero_point=_get(qd, "zero_point", int, where, section="input.quantization"),
            rounding=rounding,
            clip=_get(qd, "clip", bool, where, default=True, section="input.quantization"),
        )
    input_name = inp.get("name", data.get("input_name"))
    if fmt == "tf_frozen_graph" and input_name and ":" not in input_name:
        input_name += ":0"  # a TF tensor name (and the ONNX input name tf2onnx gives it)
    input_spec = InputSpec(shape=shape, layout=layout, name=input_name, dtype=dtype, quantization=quant)

    out = _get(data, "output", dict, where, default={})
    kind = _get(out, "kind", str, where, default="logits", section="output")
    output_name = out.get("name", data.get("output_name"))
    if fmt == "tf_frozen_graph" and output_name and ":" not in output_name:
        output_name += ":0"
    if fmt == "tf_frozen_graph" and not (input_name and output_name):
        raise ConfigError("format 'tf_frozen_graph' needs the tensor names input.name and output.name "
                          "(e.g. 'fingerprint_input:0', 'labels_softmax:0')", where)
    if kind not in OUTPUT_KINDS:
        raise ConfigError(f"unknown output.kind '{kind}' (choose from {', '.join(OUTPUT_KINDS)})", where)

    lab = _get(data, "labels", dict, where)
    order = _get(lab, "order", list, where, section="labels")
    if not order or not all(isinstance(x, str) for x in order) or len(set(order)) != len(order):
        raise ConfigError("labels.order must be a non-empty list of distinct strings", where)
    target = _get(lab, "target", str, where, default="label", section="labels")
    if target not in TARGETS:
        raise ConfigError(f"unknown labels.target '{target}' (choose from {', '.join(TARGETS)})", where)
    label_map = dict(_get(lab, "map", dict, where, default={}, section="labels"))
    bad = sorted({v for v in label_map.values() if v not in order})
    if bad:
        raise ConfigError(f"labels.map maps to unknown label(s) {bad}", where)
    if target == "map" and not label_map:
        raise ConfigError("labels.target = 'map' needs a [labels.map] table", where)

    if data.get("frontend") == "raw":
        data = dict(data, frontend={"kind": "raw"})
    fe = _get(data, "frontend", dict, where)
    if is_raw:
        frontend = _raw_frontend(fe, shape, layout, where)
        preset = "raw"
    else:
        preset = _get(fe, "preset", str, where, default=None, section="frontend")
        overrides = dict(_get(fe, "overrides", dict, where, default={}, section="frontend"))
        try:
            base = dataclasses.asdict(get_preset(preset)) if preset else {}
        except ConfigError as exc:
            raise ConfigError(exc.problem, where, hint=exc.hint) from None
        from voxquant.models.checks import validate_frontend

        validate_frontend({**base, **overrides}, where, field="frontend.overrides")  # names an ill-typed override
        try:
            frontend = get_preset(preset, **overrides) if preset else FrontendConfig.from_dict(overrides)
        except ConfigError as exc:
            raise ConfigError(exc.problem, where, hint=exc.hint) from None
        if layout == "raw":
            raise ConfigError("input.layout 'raw' (waveform input) needs frontend = \"raw\"", where)
    pad = _get(fe, "pad", str, where, default="audio", section="frontend")
    if pad not in PADS:
        raise ConfigError(f"unknown frontend.pad '{pad}' (choose from {', '.join(PADS)})", where)
    pad_value = _get(fe, "pad_value", float, where, default=0.0, section="frontend")
    if is_raw and pad != "audio":
        raise ConfigError("a raw-audio front-end pads the waveform: frontend.pad must be 'audio'", where)

    t, f = feature_shape(shape, layout)
    if layout == "raw":
        if t > 0 and t != frontend.clip_samples:
            raise ConfigError(f"raw-audio front-end gives {frontend.clip_samples} samples, input shape {list(shape)} "
                              f"wants {t}", where)
    elif layout == "flat":
        if frontend.n_frames() * frontend.n_features != f:
            raise ConfigError(
                f"front-end gives {frontend.n_frames()}x{frontend.n_features} = "
                f"{frontend.n_frames() * frontend.n_features} values, input shape {list(shape)} wants {f}", where)
    elif (t, f) != (frontend.n_frames(), frontend.n_features) and t > 0:
        raise ConfigError(
            f"front-end gives {frontend.n_frames()} frames x {frontend.n_features} features, input shape "
            f"{list(shape)} ({layout}) wants {t} x {f}", where)

    arch = _get(data, "architecture", dict, where, default={})
    if fmt == "pytorch_state_dict" and "name" not in arch:
        raise ConfigError("format 'pytorch_state_dict' needs [architecture] name = <registered architecture>", where)

    published = dict(_get(data, "published", dict, where, default={}))
    return ModelSpec(
        name=name, format=fmt, model=model, root=Path(root), input=input_spec, labels=tuple(order),
        frontend=frontend, output_kind=kind, output_name=output_name, target=target, label_map=label_map, frontend_preset=preset, pad=pad,
        pad_value=pad_value, architecture=arch.get("name"), architecture_kwargs=dict(arch.get("kwargs", {})),
        files=tuple(files), published=published, precision=str(data.get("precision", "fp32")),
        description=str(data.get("description", "")), family=data.get("family"), source=source,
    )


def _raw_frontend(fe: dict, shape: tuple, layout: str, where: Path) -> FrontendConfig:
    """The ``kind="raw"`` front-end of a spec: ``sample_rate`` (default 16000) and ``clip_samples`` / ``clip_ms``
    (default: the input's sample count)."""
    known = {"kind", "preset", "sample_rate", "clip_samples", "clip_ms", "audio_norm", "pad", "pad_value"}
    unknown = sorted(set(fe) - known)
    if unknown:
        raise ConfigError(f"unknown field(s) {unknown} for a raw-audio front-end (allowed: {', '.join(sorted(known))})",
                          where)
    if layout != "raw":
        raise ConfigError(f"a raw-audio front-end feeds input layout 'raw' ([N, S]), not '{layout}'", where)
    sr = _get(fe, "sample_rate", int, where, default=16000, section="frontend")
    if "clip_samples" in fe and "clip_ms" in fe:
        raise ConfigError("give frontend.clip_samples or frontend.clip_ms, not both", where)
    if "clip_ms" in fe:
        clip = int(round(_get(fe, "clip_ms", float, where, section="frontend") * sr / 1000.0))
    elif "clip_samples" in fe:
        clip = _get(fe, "clip_samples", int, where, section="frontend")
    elif shape[-1] > 0:
        clip = int(shape[-1])
    else:
        raise ConfigError("input.shape has a dynamic sample count: give frontend.clip_samples or clip_ms", where)
    try:
        return FrontendConfig(kind="raw", sample_rate=sr, clip_samples=clip, name="raw",
                              audio_norm=_get(fe, "audio_norm", str, where, default="none", section="frontend"))
    except ConfigError as exc:
        raise ConfigError(exc.problem, where) from None


def load_spec(path: str | Path, root: str | Path | None = None) -> ModelSpec:
    """Read a model spec TOML file.

    Args:
        path: the ``.toml`` file.
        root: folder that ``model`` and ``files[].path`` are relative to (default: the spec's folder).

    Returns:
        The :class:`ModelSpec` (files are not opened here; :func:`voxquant.zoo.open_model` checks them).

    Raises:
        ConfigError: the file is missing, not valid TOML, or a field is missing/invalid (the message names the
            spec file).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError("model spec not found", path)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not a valid TOML model spec ({exc})", path) from None
    return parse_spec(data, Path(root) if root is not None else path.parent.resolve(), source=path.resolve())


def check_files_exist(spec: ModelSpec) -> None:
    """Raise :class:`ModelError` naming the spec and the missing file if the entry point or a listed file is absent."""
    paths = [spec.model_path] + [(spec.root / f.path) for f in spec.files]
    for p in paths:
        if not p.exists():
            raise ModelError(f"model file '{p}' named by the spec does not exist", spec.where(),
                             hint="fix 'model'/'files' in the spec, or set VOXQUANT_MODELS for zoo models")
