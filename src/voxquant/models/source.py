"""Any ``--model`` input -> one :class:`ModelSource`: front-end, labels, input layout and a checked float ONNX export.

Accepted (:func:`resolve_model`): voxquant weights (``.pt`` + ``.json``; ``None`` = the bundled DS-CNN), a model
spec (``.toml``, formats of :data:`voxquant.zoo.spec.FORMATS` incl. TF1 frozen graphs ``.pb`` and raw-audio models
with ``frontend = "raw"``), a zoo name, or a bare float ``.onnx`` / ``.tflite`` with a front-end preset *and* a
label order (a bare file says nothing about its labels: voxquant's 12-label order is never assumed).

Every conversion to ONNX made here is checked for output parity against the original
(:func:`voxquant.models.parity.check_conversion_parity`), on features of real dev clips when the data is present
(else on the given inputs, else on synthetic waveforms through the model's front-end); the result is recorded in
``ModelSource.meta["conversion_parity"]`` and next to the ONNX file (``<model>.onnx.parity.json``).

Layering note: the spec machinery lives in :mod:`voxquant.zoo` (a higher layer); it is imported lazily, inside
:func:`resolve_model`, as is the torch exporter of :mod:`voxquant.quant.export`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voxquant.errors import ConfigError, ModelError, VoxquantError

log = logging.getLogger("voxquant")

#: Real dev clips used for conversion-parity checks when the caller gives no inputs.
PARITY_N = 200


def load_model(path: Path | None):
    """Load voxquant weights (``.pt`` + ``.json``; default: the bundled DS-CNN).

    Returns:
        ``(torch_model, meta)`` (see :func:`voxquant.models.train.load_weights`).
    """
    from voxquant.models.train import load_weights
    from voxquant.models.zoo_default import DEFAULT_WEIGHTS

    return load_weights(Path(path) if path else DEFAULT_WEIGHTS)


@dataclass
class ModelSource:
    """What the pipeline needs of a float model, whatever it came as.

    Attributes:
        name: for the report.
        frontend: its :class:`~voxquant.audio.FrontendConfig` (``kind="raw"``: the model takes the waveform).
        labels: class names in output order.
        layout: input layout (``voxquant.audio.layout.LAYOUTS``: ``nchw`` = ``[N,1,T,F]``, ``nhwc``, ``flat``,
            ``raw`` = ``[N, S]`` waveform ...).
        export: ``export(out: Path, inputs: np.ndarray | None = None) -> Path`` writes the float32 ONNX model;
            conversions are parity-checked on ``inputs`` (model-layout ``float32 [N, ...]``, e.g. the calibration
            features) or, when ``None``, on :func:`parity_inputs`; the check result lands in
            ``meta["conversion_parity"]``.
        torch_model: the float ``nn.Module`` when the model came as voxquant weights (LiteRT converts from it).
        meta: extra facts for the report (architecture, parameters, model-card / published accuracy, conversion
            parity...).
    """

    name: str
    frontend: object
    labels: tuple
    layout: str
    export: object
    meta: dict = field(default_factory=dict)
    torch_model: object = None


def parse_labels(labels, where: str | Path | None = None) -> tuple[str, ...]:
    """Normalise a label order given on the command line or in Python.

    Args:
        labels: a sequence of class names; a comma-separated string; ``"sc12"`` (voxquant's 12-class order,
            :data:`voxquant.data.SC12_LABELS`, asked for explicitly); or a text file with one name per line.
        where: file to name in errors.

    Raises:
        ConfigError: empty or duplicate names, or an unreadable labels file.
    """
    if isinstance(labels, (str, Path)):
        s = str(labels).strip()
        if s.lower() == "sc12":
            from voxquant.data import SC12_LABELS

            return tuple(SC12_LABELS)
        p = Path(s)
        if "," not in s and p.suffix in (".txt", ".labels", ".csv") or p.is_file():
            try:
                names = [ln.strip() for ln in p.read_text().splitlines() if ln.strip()]
            except OSError as exc:
                raise ConfigError(f"cannot read the labels file ({exc.strerror})", p) from None
        else:
            names = [x.strip() for x in s.split(",") if x.strip()]
    else:
        names = [str(x) for x in labels]
    if not names or len(set(names)) != len(names):
        raise ConfigError(f"labels must be a non-empty list of distinct names, got {names[:5]}", where)
    return tuple(names)


def parity_inputs(frontend, layout: str, n: int = PARITY_N, seed: int = 0, data_root=None) -> tuple[np.ndarray, str]:
    """Model inputs for a conversion-parity check: ``n`` real dev clips, else synthetic waveforms.

    Real clips: a stratified draw of ``n`` clips from the ``dev`` half of the Speech Commands test set (the
    calibration half; the ``eval`` half stays untouched), through ``frontend`` and into ``layout``. Without the data:
    ``n`` seeded waveforms (white noise at 8 levels from -60 to -6 dBFS, plus tones) through the same front-end.

    Returns:
        ``(float32 [n, ...] in layout, "real clips" | "synthetic")``.
    """
    from voxquant.audio.frontend import compute_features
    from voxquant.audio.layout import to_model_layout

    try:
        from voxquant.data import load_waves, speech_commands_test, split_dev_eval
        from voxquant.data.slices import stratified_indices

        dev, _ = split_dev_eval(speech_commands_test(data_root))
        idx = stratified_indices(dev.label_ids(), min(n, len(dev)), seed)
        waves = load_waves(dev.subset(idx, name="parity"), frontend.sample_rate, frontend.clip_samples, progress=False)
        source = "real clips"
    except VoxquantError as exc:
        log.info("conversion parity on synthetic input (%s)", exc)
        rng = np.random.default_rng(seed)
        s = frontend.clip_samples
        levels = 10.0 ** (np.linspace(-60, -6, 8) / 20.0)
        waves = rng.standard_normal((n, s)).astype(np.float32) * levels[np.arange(n) % 8, None].astype(np.float32)
        t = np.arange(s) / frontend.sample_rate
        for i in range(0, n, 3):
            waves[i] += 0.3 * np.sin(2 * np.pi * rng.uniform(100, 3000) * t).astype(np.float32)
        source = "synthetic"
    return to_model_layout(compute_features(waves, frontend), layout), source


def _torch_export(net, meta_out: dict, name: str, frontend, layout: str, n_labels: int):
    def export(out, inputs=None):
        import torch

        from voxquant.models.parity import check_conversion_parity, write_parity_record
        from voxquant.quant.export import export_onnx

        out = export_onnx(net, net.example_input(), Path(out))
        x, source = (np.asarray(inputs, np.float32), "given") if inputs is not None else parity_inputs(frontend, layout)

        def predict(b):
            with torch.no_grad():
                return net(torch.from_numpy(np.ascontiguousarray(b))).numpy()

        from voxquant.models.checks import check_model_io

        check_model_io(out, frontend, layout, n_labels, probe=False)  # the parity check below runs it
        rec = check_conversion_parity(predict, out, x, name=name, inputs_source=source)
        write_parity_record(out, rec)
        meta_out["conversion_parity"] = rec
        return out

    return export


def resolve_model(model: Path | str | None, frontend: str | None = None, labels=None) -> ModelSource:
    """Resolve ``--model`` into a :class:`ModelSource`.

    Args:
        model: ``None`` / a ``.pt`` (voxquant weights with their ``.json``), a spec ``.toml``, a bare float
            ``.onnx`` / ``.tflite``, or a zoo name.
        frontend: front-end preset for a bare file (``"raw"`` for a model that takes the 16 kHz waveform).
        labels: label order of a bare file (see :func:`parse_labels`; ``"sc12"`` = voxquant's 12 classes);
            required for bare files, ignored otherwise.

    Raises:
        ModelError / ConfigError: missing file, unknown zoo name, a model with integer inputs (quantize the float
            model instead), a bare model without ``frontend`` or without ``labels``, a bare ``.pb`` (its tensor
            names need a spec). A bare ``.onnx`` is checked at once (:func:`voxquant.models.checks.check_model_io`:
            opset, external data, one float32 input, one rank-2 output); every ``export`` checks the written ONNX
            against the front-end, the layout and the label count (input shape, output ``[N, labels]``, finite
            outputs) and raises :class:`ModelError` naming the file.
    """
    p = Path(model) if model else None
    if p is None or p.suffix == ".pt":
        net, meta = load_model(p)
        name = p.name if p else "dscnn_sc12.pt (bundled)"
        info = {"arch": meta.get("arch"), "n_parameters": meta.get("n_parameters"),
                "eval_accuracy_card": meta.get("eval_accuracy"), "files": _weight_files(p)}
        return ModelSource(name=name, frontend=meta["frontend"], labels=tuple(meta["labels"]), layout="nchw",
                           export=_torch_export(net, info, name, meta["frontend"], "nchw", len(meta["labels"])), meta=info,
                           torch_model=net)
    from voxquant.zoo import load_spec, spec_for_file, to_onnx, zoo_spec

    if p.suffix == ".toml":
        spec = load_spec(p)
        missing = [f for f in [spec.model_path, *(spec.root / e.path for e in spec.files)] if not Path(f).exists()]
        if missing:  # a user spec's files must be there (zoo names download theirs)
            raise ModelError(f"model file '{missing[0]}' named by the spec does not exist", p,
                             hint="fix 'model'/'files' in the spec, or use the zoo name for a zoo model")
    elif p.suffix in (".onnx", ".tflite"):
        if not frontend:
            raise ConfigError(f"{p}: a bare model needs --frontend (a preset name, e.g. mlperf-tiny-mfcc, or raw)")
        if labels is None:
            raise ConfigError(f"{p}: a bare model needs --labels (its class names in output order, comma-separated "
                              f"or a file; 'sc12' for voxquant's 12-class order) or a model spec .toml")
        if p.suffix == ".onnx":
            from voxquant.models.checks import check_model_io

            check_model_io(p, probe=False)  # the file and its graph, before guessing a layout from its input
        spec = spec_for_file(p, frontend=frontend, labels=parse_labels(labels, p))
    elif p.suffix == ".pb":
        raise ConfigError(f"{p}: a TF1 frozen graph needs a model spec .toml (format = \"tf_frozen_graph\" with "
                          f"input.name and output.name)")
    elif p.exists():
        raise ModelError("unsupported model file (use voxquant weights .pt, a spec .toml, .onnx or .tflite)", p)
    else:
        spec = zoo_spec(str(model))
    if spec.input.dtype != "float32":
        raise ModelError(f"model '{spec.name}' takes {spec.input.dtype} input: quantize its float version instead", spec.model_path)
    files = [str(f) for f in (getattr(spec, "model_path", None), p if p is not None and p.suffix == ".toml" else None) if f]
    meta = {"spec": spec.name, "format": spec.format, "published": spec.published, "files": files}

    def export(out, inputs=None):
        from voxquant.models.checks import check_model_io

        io = (spec.frontend, spec.input.layout, len(spec.labels))
        if spec.format == "onnx":
            check_model_io(spec.model_path, *io)  # the user's file, named in the error, before it is copied
            path = to_onnx(spec, out, inputs=inputs)
        else:
            path = to_onnx(spec, out, inputs=inputs)
            try:
                check_model_io(path, *io)
            except ModelError as exc:  # name the model the user gave, and the conversion
                raise ModelError(f"{exc.problem} (in its ONNX conversion {path})", spec.model_path,
                                 hint=exc.hint) from None
        from voxquant.models.parity import read_parity_record

        rec = read_parity_record(path)
        if rec is not None:
            meta["conversion_parity"] = rec
        return path

    return ModelSource(name=spec.name, frontend=spec.frontend, labels=tuple(spec.labels), layout=spec.input.layout,
                       export=export, meta=meta)


def _weight_files(p: Path | None) -> list[str]:
    """The files of voxquant weights (``.pt`` and its ``.json``), default: the bundled DS-CNN (fingerprinted)."""
    from voxquant.models.zoo_default import DEFAULT_WEIGHTS

    w = Path(p) if p else Path(DEFAULT_WEIGHTS)
    return [str(f) for f in (w, w.with_suffix(".json")) if f.exists()]


__all__ = ["ModelSource", "PARITY_N", "load_model", "parity_inputs", "parse_labels", "resolve_model"]
