"""Quantization-aware training (QAT) recipe ``qat``: PyTorch PT2E QAT -> QDQ ONNX that ONNX Runtime runs.

Steps (torchao 0.18; ``torch.ao.quantization`` is deprecated in torch 2.13):

1. the float model: voxquant weights (the ``weights`` option; ``None`` = the bundled DS-CNN) or, for a model given
   only as ONNX, ``onnx2torch.convert`` of the float ONNX file (else :class:`~voxquant.errors.ConfigError`);
2. batch norms that follow a convolution are folded into it (:func:`fold_batchnorm`: frozen BN statistics), then
   ``torch.export.export`` with a dynamic batch dimension and
   ``torchao.quantization.pt2e.quantize_pt2e.prepare_qat_pt2e`` with the XNNPACK quantizer
   (``torchao.testing.pt2e._xnnpack_quantizer.XNNPACKQuantizer``, where torchao 0.18 keeps it;
   ``get_symmetric_quantization_config(is_per_channel=True, is_qat=True)``): int8 per-tensor asymmetric
   activations, symmetric per-channel weights with fake quantization in the forward pass;
3. fine-tuning on ``dev`` with :func:`voxquant.models.train.train_model` (the spine's augmentation - time shift,
   real background noise from the *first* half of each recording, gain - plus reverberation with the training
   RIRs of :func:`voxquant.models.zoo_default.rir_split`), a few epochs at a small learning rate, seeded; the
   epoch with the best accuracy on the 10 % held-out dev speakers is kept
   (``torchao.quantization.pt2e.move_exported_model_to_train/eval`` switch dropout/BN);
4. ``torchao.quantization.pt2e.quantize_pt2e.convert_pt2e`` (Q/DQ ops, weights stored as int8), then
   ``torch.onnx.export(dynamo=True)`` with a dynamic batch: ``quantized_decomposed`` ops become ONNX
   ``QuantizeLinear``/``DequantizeLinear`` (a QDQ model ONNX Runtime fuses into int8 kernels).

**Weight range.** On x86 CPUs without VNNI ONNX Runtime's U8S8 int8 convolution uses ``VPMADDUBSW`` (u8 x s8
pairs summed into a *saturating* int16): with full-range int8 weights (|w| up to 127) two products reach
2 x 255 x 127 = 64,770 > 32,767 and the fused kernels compute garbage (see :mod:`voxquant.quant.ort`). The QAT
quantizer therefore trains **7-bit weights** (``[-63, 63]``, 2 x 255 x 63 = 32,130 fits) on such hosts
(``weight_bits=None`` -> :func:`voxquant.quant.ort.default_reduce_range`), so the exported int8 weights never
saturate; pass ``weight_bits=8`` to train for an integer-exact target. ``voxquant run`` verifies it with its
kernel check (fused kernels vs the QDQ graph simulated in float).

Sources: torchao PT2E QAT tutorial (pytorch.org/ao, "PyTorch 2 Export Quantization-Aware Training");
ONNX Runtime docs "Quantize ONNX models" (U8S8 saturation, reduce_range).

A JSON sidecar ``<out>.json`` (e.g. ``model.qat.json``) records the configuration, the training history and the
held-out accuracy of the PyTorch QAT model.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from voxquant.errors import ConfigError, MissingExtraError, require
from voxquant.quant import register_recipe, register_report_hook

#: Sentinel: the ``weights`` option was not given at all (a bare ``build_variant`` call on an ONNX file).
UNSET = object()


@dataclass
class QatConfig:
    """QAT fine-tuning settings (recorded in the sidecar JSON).

    Attributes:
        epochs: fine-tuning passes over the dev training clips (default 3: < 5 min for DS-CNN on 2 cores).
        lr: peak learning rate of the one-cycle schedule (10x below the float training's 3e-3).
        batch_size: clips per step.
        weight_decay: AdamW weight decay.
        noise_prob: probability of real background noise per clip (training half of each recording).
        snr_db: SNR range (dB) of that noise.
        reverb_prob: probability of convolving a clip with a training RIR.
        weight_bits: 7 or 8; ``None`` = 7 on x86 without VNNI (see module docstring), else 8.
        max_minutes: wall-clock cap of the fine-tuning.
        threads: torch threads.
        limit: fine-tune on at most this many dev clips (stratified; tests).
    """

    epochs: int = 3
    lr: float = 3e-4
    batch_size: int = 64
    weight_decay: float = 1e-3
    noise_prob: float = 0.8
    snr_db: tuple = (0.0, 20.0)
    reverb_prob: float = 0.3
    weight_bits: int | None = None
    max_minutes: float = 4.5
    threads: int = 2
    limit: int | None = None


def resolve_weight_bits(weight_bits: int | None) -> int:
    """7 or 8 (``None`` -> 7 on x86 CPUs without VNNI). Raises ConfigError for anything else."""
    from voxquant.quant.ort import default_reduce_range

    if weight_bits is None:
        return 7 if default_reduce_range() else 8
    if int(weight_bits) not in (7, 8):
        raise ConfigError(f"QAT weight_bits must be 7 or 8, got {weight_bits}")
    return int(weight_bits)


def make_quantizer(weight_bits: int = 8):
    """The XNNPACK PT2E quantizer for QAT: int8 asymmetric per-tensor activations, symmetric per-channel weights in
    ``[-(2^(b-1) - 1), 2^(b-1) - 1]`` (``b`` = ``weight_bits``: 127 for 8 bits, 63 for 7 bits)."""
    require("torchao", "qat", "QAT (PT2E)")
    from torchao.testing.pt2e._xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config

    class _Quantizer(XNNPACKQuantizer):
        # "gru_io_only" assumes a GRU called with an explicit initial hidden state (it indexes the second input) and
        # fails on ``gru(x)``; the GRU stays float either way (ONNX Runtime has no int8 GRU), so it is left out.
        STATIC_OPS = [op for op in XNNPACKQuantizer.STATIC_OPS if op != "gru_io_only"]

    qmax = 2 ** (int(weight_bits) - 1) - 1
    cfg = get_symmetric_quantization_config(is_per_channel=True, is_qat=True, weight_qmin=-qmax, weight_qmax=qmax)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "XNNPACKQuantizer is deprecated" (torchao keeps it under testing/)
        return _Quantizer().set_global(cfg)


def fold_batchnorm(model):
    """Fold every ``BatchNorm{1,2}d`` that directly follows a ``Conv{1,2}d`` inside an ``nn.Sequential`` into the
    convolution (``torch.nn.utils.fusion.fuse_conv_bn_eval``; the BN becomes ``nn.Identity``). Works on a deep copy.

    QAT then fine-tunes the folded weights with frozen BN statistics (the usual late-QAT practice, and what a model
    given as ONNX has anyway: the exporter folds BN). It also keeps ``convert_pt2e`` fast: its conv-BN QAT pattern
    rewriting took about 2 minutes on DS-CNN on 2 busy cores, against 4 s with BN folded. BNs elsewhere (e.g.
    BC-ResNet's SubSpectralNorm) stay as they are.

    Returns:
        The folded copy (eval mode). Outputs equal the original's in eval mode (to float rounding).
    """
    import copy

    import torch
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    model = copy.deepcopy(model).eval()

    def walk(m):
        for child in m.children():
            if isinstance(child, torch.nn.Sequential):
                for i in range(len(child) - 1):
                    a, b = child[i], child[i + 1]
                    if isinstance(a, (torch.nn.Conv1d, torch.nn.Conv2d)) and isinstance(b, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                        child[i] = fuse_conv_bn_eval(a, b)
                        child[i + 1] = torch.nn.Identity()
            walk(child)

    walk(model)
    return model


def _batch_dim():
    import torch

    return torch.export.Dim("batch", min=1, max=4096)


def prepare_qat(model, example, weight_bits: int = 8):
    """``torch.export`` (dynamic batch) + ``prepare_qat_pt2e``.

    Args:
        model: float ``nn.Module`` taking ``float32 [N, ...]``.
        example: ``float32 [B, ...]`` example input (B >= 2 so the batch dimension can be symbolic).
        weight_bits: 7 or 8.

    Returns:
        A ``torch.fx.GraphModule`` with fake-quant nodes, whose ``.train()``/``.eval()`` switch dropout and BN
        (``allow_exported_model_train_eval``).
    """
    import torch

    require("torchao", "qat", "QAT (PT2E)")
    from torchao.quantization.pt2e import allow_exported_model_train_eval
    from torchao.quantization.pt2e.quantize_pt2e import prepare_qat_pt2e

    model = model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = torch.export.export(model, (example,), dynamic_shapes=({0: _batch_dim()},)).module()
        gm = prepare_qat_pt2e(gm, make_quantizer(weight_bits))
    allow_exported_model_train_eval(gm)
    return gm


def convert_qat(gm):
    """``convert_pt2e`` of a fine-tuned QAT graph (eval mode): a graph with Q/DQ ops and int8 weights."""
    require("torchao", "qat", "QAT (PT2E)")
    from torchao.quantization.pt2e import move_exported_model_to_eval
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    move_exported_model_to_eval(gm)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qm = convert_pt2e(gm)
    move_exported_model_to_eval(qm)
    return qm


def export_qdq_onnx(qm, example, out: Path, opset: int | None = None, check: bool = True) -> Path:
    """Export a converted PT2E graph to a QDQ ONNX model with a dynamic batch (input ``input``, output ``logits``).

    Args:
        qm: output of :func:`convert_qat`.
        example: ``float32 [B, ...]`` example input.
        out: ``.onnx`` path.
        opset: ONNX opset (default :data:`voxquant.quant.export.OPSET`).
        check: compare ONNX Runtime (QDQ simulated in float, optimisation "basic") with the PyTorch graph on
            ``example``: the top-1 predictions must agree (a mismatch raises ``RuntimeError``).

    Returns:
        ``out``.
    """
    import onnx
    import torch

    from voxquant.quant.export import OPSET

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prog = torch.onnx.export(qm, (example,), None, input_names=["input"], output_names=["logits"],
                                 opset_version=opset or OPSET, dynamo=True, external_data=False, verbose=False,
                                 dynamic_shapes=({0: _batch_dim()},))
        prog.optimize()
        prog.save(str(out), external_data=False)
    m = onnx.load(str(out))
    strip_metadata(m)
    onnx.checker.check_model(m)
    onnx.save(m, str(out))
    if check:
        from voxquant.backends.onnxruntime import OrtSession

        with torch.no_grad():
            ref = qm(example).numpy()
        got = OrtSession(out, threads=1, optimization="basic").run(example.numpy())
        if (ref.argmax(-1) != got.argmax(-1)).mean() > 0.25:  # [N, C] classes or [N, T', V] CTC frames
            raise RuntimeError(f"{out}: exported QDQ ONNX disagrees with the PyTorch QAT graph "
                               f"(max |diff| {np.abs(ref - got).max():.3g})")
    return out


def strip_metadata(model) -> None:
    """Remove the exporter's per-node ``metadata_props`` (FX node text, stack scopes) in place: they carry no
    semantics and would otherwise make up about half of a small QDQ file (e.g. 59 kB of 108 kB for DS-CNN)."""
    for n in model.graph.node:
        del n.metadata_props[:]


def import_onnx2torch():
    """Import ``onnx2torch``, working around a broken ``torchvision``.

    onnx2torch imports torchvision at import time (only its NonMaxSuppression converter uses it). When torchvision
    is installed but cannot load (e.g. a wheel built for another torch: ``RuntimeError: operator torchvision::nms
    does not exist``), a stub ``torchvision`` whose ``ops`` raise is put in ``sys.modules`` for the duration of the
    import only, so every converter except NMS works; a later ``import torchvision`` behaves as before.

    Raises:
        MissingExtraError: onnx2torch is not installed.
    """
    import importlib
    import sys
    import types

    try:
        return require("onnx2torch", "qat", "QAT of a model given only as ONNX")
    except MissingExtraError:
        raise
    except RuntimeError as exc:
        if "torchvision" not in str(exc):
            raise
    for k in [k for k in sys.modules if k == "onnx2torch" or k.startswith("onnx2torch.") or k.startswith("torchvision")]:
        del sys.modules[k]

    def _unavailable(*a, **k):
        raise RuntimeError("torchvision is broken in this environment: the ONNX NonMaxSuppression op cannot be converted")

    stub = types.ModuleType("torchvision")
    stub.__path__ = []  # a package, so "from torchvision.ops import roi_align" resolves to the stub below
    ops = types.ModuleType("torchvision.ops")
    ops.__getattr__ = lambda name: _unavailable  # nms, batched_nms, roi_align, ...
    stub.ops = ops
    sys.modules["torchvision"], sys.modules["torchvision.ops"] = stub, ops
    try:
        return importlib.import_module("onnx2torch")
    finally:
        for k in ("torchvision", "torchvision.ops"):
            if sys.modules.get(k) in (stub, ops):
                del sys.modules[k]


#: Highest opset onnx2torch 1.5 converts for every op voxquant models use (e.g. ReduceMean-18 is missing).
ONNX2TORCH_OPSET = 17


def _onnx2torch_ready(path: Path):
    """The ONNX model as a ``ModelProto`` onnx2torch can convert: opset lowered to :data:`ONNX2TORCH_OPSET`
    (``onnx.version_converter``) when it is higher."""
    import onnx
    from onnx import version_converter

    m = onnx.load(str(path))
    opset = max((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset > ONNX2TORCH_OPSET:
        m = version_converter.convert_version(m, ONNX2TORCH_OPSET)
    # Reshape(allowzero=1) is unsupported by onnx2torch; it only matters when the target shape holds a 0
    from onnx import numpy_helper

    consts = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    for n in m.graph.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    consts[n.output[0]] = numpy_helper.to_array(a.t)
    for n in m.graph.node:
        if n.op_type == "Reshape" and len(n.input) > 1 and n.input[1] in consts and not (consts[n.input[1]] == 0).any():
            for a in list(n.attribute):
                if a.name == "allowzero":
                    n.attribute.remove(a)
    return m


def _static_reshapes(gm):
    """Replace onnx2torch's ``OnnxReshape`` modules whose target shape is a constant without zeros by
    ``torch.reshape(x, shape)``: their ``torch.any(shape == 0)`` test is data-dependent and stops ``torch.export``."""
    import torch

    changed = False
    for node in list(gm.graph.nodes):
        if node.op != "call_module" or type(gm.get_submodule(node.target)).__name__ != "OnnxReshape" or len(node.args) < 2:
            continue
        shp = node.args[1]
        if getattr(shp, "op", None) != "get_attr":
            continue
        value = gm
        for part in shp.target.split("."):
            value = getattr(value, part)
        if not isinstance(value, torch.Tensor) or (value == 0).any():
            continue
        with gm.graph.inserting_after(node):
            new = gm.graph.call_function(torch.reshape, (node.args[0], tuple(int(v) for v in value.tolist())))
        node.replace_all_uses_with(new)
        gm.graph.erase_node(node)
        changed = True
    if changed:
        gm.graph.eliminate_dead_code()
        gm.recompile()
    return gm


def model_info(weights=UNSET, frontend=None, labels=None, layout=None) -> dict:
    """Front-end, labels and input layout of the model a recipe works on.

    Args:
        weights: ``None`` = the bundled DS-CNN; a ``.pt`` path = voxquant weights; anything else ``voxquant run``
            accepts as ``--model`` (spec ``.toml``, zoo name, bare ``.onnx``/``.tflite``) is resolved with
            :func:`voxquant.models.source.resolve_model`; :data:`UNSET` (a bare ``build_variant`` call) = the default
            front-end and the 12 Speech Commands labels.
        frontend, labels, layout: given by the caller (they win over what ``weights`` says); ``frontend`` may be a
            :class:`~voxquant.audio.frontend.FrontendConfig` or a preset name.

    Returns:
        ``{"frontend": FrontendConfig, "labels": [...], "layout": str, "arch": str | None, "kind": "weights" |
        "onnx"}`` (``kind`` = whether voxquant PyTorch weights exist).
    """
    from voxquant.audio.frontend import DEFAULT_FRONTEND, FrontendConfig
    from voxquant.data import SC12_LABELS

    info = {"frontend": DEFAULT_FRONTEND, "labels": list(SC12_LABELS), "layout": "nchw", "arch": None, "kind": "onnx"}
    if weights is not UNSET and (weights is None or Path(str(weights)).suffix == ".pt"):
        from voxquant.models.source import load_model

        _, meta = load_model(Path(weights) if weights else None)
        info.update(frontend=meta["frontend"], labels=list(meta["labels"]), arch=meta.get("arch"), kind="weights")
    elif weights is not UNSET and frontend is None:
        from voxquant.models.source import resolve_model

        src = resolve_model(weights, None)
        info.update(frontend=src.frontend, labels=list(src.labels), layout=src.layout, arch=src.meta.get("arch"))
    if frontend is not None:
        if isinstance(frontend, str):
            from voxquant.audio.presets import get_preset

            frontend = get_preset(frontend)
        if not isinstance(frontend, FrontendConfig):
            raise ConfigError(f"frontend must be a FrontendConfig or a preset name, got {type(frontend).__name__}")
        info["frontend"] = frontend
    if labels is not None:
        info["labels"] = list(labels)
    if layout is not None:
        info["layout"] = str(layout)
    return info


def _torch_model(fp32_onnx: Path, weights, **hints):
    """``(model, meta)``: voxquant weights (``None`` = bundled, ``.pt``), else onnx2torch of ``fp32_onnx``.

    ``meta`` = :func:`model_info` plus ``source``. Raises ConfigError when the model cannot become a PyTorch module
    or its input layout is not ``nchw`` (QAT fine-tunes on ``[N, 1, T, F]`` features)."""
    info = model_info(weights, **hints)
    if info["kind"] == "weights":
        from voxquant.models.source import load_model

        model, _ = load_model(Path(weights) if weights else None)
        return model, dict(info, source=str(weights) if weights else "bundled dscnn_sc12.pt")
    if info["layout"] != "nchw":
        raise ConfigError(f"QAT fine-tunes on [N, 1, T, F] features; this model takes layout '{info['layout']}'",
                          fp32_onnx, hint="use the static int8 recipes for it")
    onnx2torch = import_onnx2torch()
    try:
        model = _static_reshapes(onnx2torch.convert(_onnx2torch_ready(Path(fp32_onnx))).eval())
    except Exception as exc:
        raise ConfigError(f"QAT needs a PyTorch model and onnx2torch cannot convert this ONNX file "
                          f"({type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''})", fp32_onnx,
                          hint="pass voxquant weights (voxquant run --model weights.pt) instead") from None
    return model, dict(info, source=f"onnx2torch({Path(fp32_onnx).name})")


def _dev_training_data(meta: dict, data_root, test_set, limit: int | None, seed: int, progress: bool):
    """Dev waves ``float32 [N, S]``, labels ``int64 [N]`` (model label order) and speakers."""
    from voxquant.data import load_waves
    from voxquant.data.slices import model_splits, stratified_subset

    fe = meta["frontend"]
    dev, _, remap = model_splits(meta["labels"], data_root, test_set)
    dev = stratified_subset(dev, limit, seed)
    waves = load_waves(dev, fe.sample_rate, fe.clip_samples, progress=progress)
    return waves, remap[dev.label_ids()], [c.speaker for c in dev.clips]


def qat_finetune(model, meta: dict, cfg: QatConfig, data_root=None, test_set=None, seed: int = 0,
                 progress: bool = False, example=None):
    """Prepare ``model`` for QAT and fine-tune it on ``dev`` (see the module docstring).

    Args:
        model: float ``nn.Module``.
        meta: ``{"frontend": FrontendConfig, "labels": [...]}`` of the model.
        cfg: :class:`QatConfig`.
        data_root, test_set: where the data is (``VOXQUANT_DATA`` by default).
        seed: seeds torch, numpy and the augmentation.
        progress: progress bar.
        example: ``float32 [B>=2, ...]`` example input (default: zeros of the front-end shape).

    Returns:
        ``(gm, info)``: the fine-tuned QAT graph (eval mode) and a JSON-able dict (config, history, held-out
        accuracy of the QAT graph, seconds, training RIRs).
    """
    import torch

    from voxquant.data import Augmenter, load_noise_bank, load_rir_bank
    from voxquant.models.train import TrainConfig, train_model
    from voxquant.models.zoo_default import rir_split, split_noise_bank

    bits = resolve_weight_bits(cfg.weight_bits)
    fe = meta["frontend"]
    t0 = time.time()
    torch.manual_seed(seed)
    if example is None:
        example = torch.zeros(2, 1, *fe.shape)
    model = fold_batchnorm(model)
    gm = prepare_qat(model, example, bits)
    waves, y, speakers = _dev_training_data(meta, data_root, test_set, cfg.limit, seed, progress)
    noise_train, _ = split_noise_bank(load_noise_bank(data_root, sample_rate=fe.sample_rate))
    rir_train, _ = rir_split(load_rir_bank(data_root, sample_rate=fe.sample_rate))
    aug = Augmenter(noise_bank=noise_train, rirs=rir_train, sample_rate=fe.sample_rate, noise_prob=cfg.noise_prob,
                    snr_db=tuple(cfg.snr_db), reverb_prob=cfg.reverb_prob)
    tcfg = TrainConfig(arch=str(meta.get("arch", "?")), epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                       weight_decay=cfg.weight_decay, seed=seed, threads=cfg.threads, noise_prob=cfg.noise_prob,
                       snr_db=tuple(cfg.snr_db), reverb_prob=cfg.reverb_prob, max_minutes=cfg.max_minutes)
    gm, hist = train_model(waves, y, speakers, tuple(meta["labels"]), aug, fe, tcfg, progress, model=gm)
    info = {"config": {**asdict(cfg), "weight_bits": bits}, "train_rirs": sorted(rir_train),
            "noise": "first half of each real background-noise recording", "n_clips": int(len(y)),
            "history": {k: hist[k] for k in ("loss", "holdout_accuracy")}, "best_epoch": hist["best_epoch"],
            "holdout_accuracy_qat_torch": hist["holdout_accuracy_best"], "n_train": hist["n_train"],
            "n_holdout": hist["n_holdout"], "seconds": time.time() - t0}
    return gm, info


@register_recipe("qat", "int8", True,
                 "int8 QAT (PT2E, torchao): fine-tuned on dev with noise + reverb, QDQ ONNX, per-channel weights "
                 "(7-bit on x86 without VNNI)")
def qat(fp32_onnx: Path, out: Path, calibration=None, weights=UNSET, data_root=None, test_set=None, seed: int = 0,
        progress: bool = False, frontend=None, labels=None, layout=None, **options):
    """Build the QAT variant (see the module docstring).

    Args:
        fp32_onnx: the float ONNX model (used only when ``weights`` is not given: onnx2torch).
        out: QDQ ``.onnx`` to write (dynamic batch).
        calibration: unused (QAT observers learn the ranges during fine-tuning); accepted for the recipe API.
        weights: voxquant weights path, ``None`` = the bundled DS-CNN; another ``--model`` (or not given) = convert
            ``fp32_onnx`` with onnx2torch (see :func:`model_info`).
        data_root, test_set, seed, progress: run context.
        frontend, labels, layout: the model's front-end / class names / input layout when the caller knows them.
        **options: :class:`QatConfig` fields (``epochs``, ``lr``, ``weight_bits``, ``limit``, ...); other keys are
            ignored.

    Returns:
        ``out``; also writes ``out.with_suffix(".json")``.

    Raises:
        ConfigError: ONNX model onnx2torch cannot convert, bad option. MissingExtraError: torchao missing.
        DataError: dev data missing.
    """
    if options.get("task") == "sequence":  # a CTC command model: its data, loss and selection (quant.sequence)
        from voxquant.quant.sequence import qat_sequence

        return qat_sequence(fp32_onnx, out, calibration, seed=seed, progress=progress,
                            **{k: v for k, v in options.items() if k != "task"})
    import torch

    fields = set(QatConfig.__dataclass_fields__)
    cfg = QatConfig(**{k: v for k, v in options.items() if k in fields})
    model, meta = _torch_model(Path(fp32_onnx), weights, frontend=frontend, labels=labels, layout=layout)
    fe = meta["frontend"]
    example = torch.zeros(2, 1, *fe.shape)
    if calibration is not None and len(calibration):
        example = torch.from_numpy(np.ascontiguousarray(calibration[:2], dtype=np.float32))
    try:
        gm, info = qat_finetune(model, meta, cfg, data_root, test_set, seed, progress, example=example)
    except (torch._dynamo.exc.Unsupported, torch._dynamo.exc.UserError) as exc:  # pragma: no cover - graph specific
        raise ConfigError(f"torch.export cannot capture this model for QAT: {str(exc).splitlines()[0][:200]}") from None
    qm = convert_qat(gm)
    export_qdq_onnx(qm, example, out)
    info.update(recipe="qat", source=meta.get("source"), onnx=str(Path(out).name), size_bytes=Path(out).stat().st_size)
    Path(out).with_suffix(".json").write_text(json.dumps(info, indent=1, default=str) + "\n")
    return out


@register_report_hook("qat")
def qat_section(ctx: dict) -> list[dict]:
    """Report section: how the QAT variant was fine-tuned, and which reverb slices it has heard (training RIRs).

    Returns:
        ``[section]`` in the schema of :mod:`voxquant.report.sections` (plain data, no markup), or ``[]`` when
        the QAT side-car JSON is missing.
    """
    from voxquant.quant import plain_text

    p = Path(ctx["variant_paths"]["qat"]).with_suffix(".json")
    if not p.is_file():
        return []
    info = json.loads(p.read_text())
    c = info["config"]
    hist = info.get("history", {})
    acc = ", ".join(f"{100 * a:.1f}" for a in hist.get("holdout_accuracy", []))
    seen = [f"reverb_{r}" for r in info.get("train_rirs", [])]
    how = (f"PT2E quantization-aware training (torchao) from {plain_text(info.get('source'))}: "
           f"{c['epochs']} epoch(s) planned, lr {c['lr']}, batch {c['batch_size']}, {c['weight_bits']}-bit per-channel "
           f"weights, int8 activations; {info['n_train']} dev clips (held-out speakers: {info['n_holdout']} clips) "
           f"with time shift, real noise (p={c['noise_prob']}, SNR {c['snr_db'][0]}-{c['snr_db'][1]} dB, first half of "
           f"each recording) and reverberation (p={c['reverb_prob']}). Held-out accuracy per epoch (PyTorch QAT "
           f"graph): {acc} %; kept epoch {info['best_epoch']}. Fine-tuning took {info['seconds'] / 60:.1f} min.")
    seen_txt = (f"**Seen in training:** the reverb slices {', '.join(seen) or '(none)'} use RIRs the QAT variant was "
                f"fine-tuned with (different clips: eval speakers are never used); compare QAT on the other rooms.")
    return [{"title": "Quantization-aware training",
             "blocks": [{"kind": "text", "text": how}, {"kind": "text", "text": seen_txt}]}]


__all__ = ["QatConfig", "convert_qat", "export_qdq_onnx", "make_quantizer", "prepare_qat", "qat", "qat_finetune",
           "resolve_weight_bits"]
