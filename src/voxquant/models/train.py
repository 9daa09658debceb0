"""Training of KWS models on the ``dev`` split (``voxquant train``).

Recipe (recorded in the model card written next to the weights):

* data: the ``dev`` half of a labelled set's split (:func:`voxquant.data.split_dev_eval`): by default the
  official Speech Commands v0.02 12-class test set (speaker-disjoint), or the user's data
  (``voxquant train --data SPEC``, :func:`voxquant.data.load_dataset`); 10 % of the dev speakers (of the dev clips
  when speakers are unknown) are held out for model selection (best epoch by held-out accuracy). ``eval`` is never
  touched while training.
* augmentation, fresh every epoch: time shift (+-100 ms), real background noise from ``speech_commands_noise``
  (first half of each recording only: the second half is reserved for the evaluation noise slices) at a random
  SNR, random gain; optional reverberation (QAT recipe).
* optimiser: AdamW, one-cycle learning-rate schedule, label smoothing 0.05, seeded.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from voxquant.audio.frontend import DEFAULT_FRONTEND, FrontendConfig, compute_features
from voxquant.progress import step_bar


@dataclass
class TrainConfig:
    """Training hyper-parameters (all recorded in the model card).

    Attributes:
        arch: registered architecture name.
        epochs: passes over the training clips.
        batch_size: clips per step.
        lr: peak learning rate of the one-cycle schedule.
        weight_decay: AdamW weight decay.
        label_smoothing: cross-entropy label smoothing.
        seed: seed of torch and numpy generators.
        threads: torch intra-op threads.
        holdout_frac: fraction of dev speakers held out for model selection.
        noise_prob: probability of adding background noise to a clip.
        snr_db: (low, high) SNR range in dB for training noise.
        reverb_prob: probability of convolving with a training RIR (0 = off).
        max_minutes: stop early when the wall-clock budget (minutes) is spent.
    """

    arch: str = "dscnn"
    epochs: int = 60
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-3
    label_smoothing: float = 0.05
    seed: int = 0
    threads: int = 1
    holdout_frac: float = 0.1
    noise_prob: float = 0.8
    snr_db: tuple = (0.0, 20.0)
    reverb_prob: float = 0.0
    max_minutes: float = 14.5
    arch_kwargs: dict = field(default_factory=dict)


def features_nchw(waves: np.ndarray, frontend: FrontendConfig) -> np.ndarray:
    """Features in model layout: ``float32 [N, S]`` audio -> ``float32 [N, 1, T, F]``."""
    return compute_features(waves, frontend)[:, None]


def split_holdout(speakers: list, frac: float, seed: int) -> np.ndarray:
    """Boolean mask ``[N]`` of clips whose speaker falls in a seeded ``frac`` of speakers (``None`` speakers by index)."""
    rng = np.random.default_rng(seed)
    uniq = sorted({s for s in speakers if s})
    held = set(rng.choice(uniq, size=max(1, int(round(frac * len(uniq)))), replace=False)) if uniq else set()
    mask = np.array([(s in held) if s else (i % int(round(1 / frac)) == 0) for i, s in enumerate(speakers)])
    return mask


def train_model(
    waves: np.ndarray,
    labels: np.ndarray,
    speakers: list,
    label_names: tuple,
    augment,
    frontend: FrontendConfig = DEFAULT_FRONTEND,
    cfg: TrainConfig | None = None,
    progress: bool = True,
    init_state: dict | None = None,
    model=None,
):
    """Train a model.

    Args:
        waves: ``float32 [N, S]`` training audio (16 kHz).
        labels: ``int64 [N]`` class ids into ``label_names``.
        speakers: speaker id per clip (``None`` for ``_silence_``), for the held-out selection split.
        label_names: class names in output order.
        augment: callable ``augment(waves [B, S], rng) -> [B, S]`` applied to every training batch
            (e.g. :class:`voxquant.data.Augmenter`), or ``None``.
        frontend: feature front-end.
        cfg: hyper-parameters.
        progress: show a progress bar.
        init_state: optional ``state_dict`` to start from (fine-tuning).
        model: optional prebuilt module (e.g. a QAT-prepared graph); then ``cfg.arch`` is ignored.

    Returns:
        ``(model, history)``: the module (eval mode, best held-out epoch) and a dict with per-epoch losses and
        held-out accuracies plus ``best_epoch``, ``holdout_accuracy``, ``seconds``.
    """
    import torch
    from torch import nn

    from voxquant.models import build_model

    cfg = cfg or TrainConfig()
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    hold = split_holdout(speakers, cfg.holdout_frac, cfg.seed)
    tr_idx, ho_idx = np.where(~hold)[0], np.where(hold)[0]
    x_ho = torch.from_numpy(features_nchw(waves[ho_idx], frontend))
    y_ho = torch.from_numpy(labels[ho_idx])
    if model is None:
        model = build_model(cfg.arch, n_classes=len(label_names), input_shape=frontend.shape, **cfg.arch_kwargs)
    if init_state is not None:
        model.load_state_dict(init_state)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = int(np.ceil(len(tr_idx) / cfg.batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch, pct_start=0.15)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    hist = {"epoch": [], "loss": [], "holdout_accuracy": []}
    best = (-1.0, None, -1)
    t0 = time.time()
    bar = step_bar("training", progress, cfg.epochs)
    for ep in range(cfg.epochs):
        model.train()
        perm = rng.permutation(tr_idx)
        w_ep = waves[perm]
        if augment is not None:
            w_ep = augment(w_ep, rng)
        x_ep = torch.from_numpy(features_nchw(w_ep, frontend))
        y_ep = torch.from_numpy(labels[perm])
        tot = 0.0
        for b in range(steps_per_epoch):
            sl = slice(b * cfg.batch_size, (b + 1) * cfg.batch_size)
            opt.zero_grad()
            loss = loss_fn(model(x_ep[sl]), y_ep[sl])
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item() * len(y_ep[sl])
        model.eval()
        with torch.no_grad():
            acc = float((model(x_ho).argmax(1) == y_ho).float().mean()) if len(ho_idx) else float("nan")
        hist["epoch"].append(ep)
        hist["loss"].append(tot / len(tr_idx))
        hist["holdout_accuracy"].append(acc)
        if acc > best[0]:
            best = (acc, {k: v.detach().clone() for k, v in model.state_dict().items()}, ep)
        bar(ep, f"loss {tot / len(tr_idx):.3f} held-out acc {acc:.3f}")
        if (time.time() - t0) / 60 > cfg.max_minutes:
            break
    bar(None, "")
    if best[1] is not None:
        model.load_state_dict(best[1])
    model.eval()
    hist.update(best_epoch=best[2], holdout_accuracy_best=best[0], seconds=time.time() - t0,
                n_train=int(len(tr_idx)), n_holdout=int(len(ho_idx)), config=asdict(cfg))
    return model, hist


def save_weights(model, path: Path, meta: dict) -> None:
    """Save ``state_dict`` to ``path`` (``.pt``) and ``meta`` (JSON: architecture, labels, front-end, recipe,
    metrics) to ``path.with_suffix('.json')``, each atomically (:mod:`voxquant.atomic`: a kill leaves the old file
    or the new one, never half of one)."""
    import torch

    from voxquant.atomic import write_atomic, write_text_atomic

    path = Path(path)
    write_atomic(path, lambda fh: torch.save(model.state_dict(), fh))
    write_text_atomic(path.with_suffix(".json"), json.dumps(meta, indent=2, default=str) + "\n")


def load_weights(path: Path):
    """Load a model saved by :func:`save_weights`.

    The ``.pt`` is read with ``torch.load(..., weights_only=True)`` (no arbitrary unpickling); the ``.json`` beside
    it must be a JSON object with ``arch`` (a registered architecture), ``labels`` (a non-empty list of distinct
    names) and ``frontend`` (a :class:`FrontendConfig` dict); ``arch_kwargs`` is optional.

    Returns:
        ``(model, meta)`` with the model in eval mode and ``meta['frontend']`` a :class:`FrontendConfig`.

    Raises:
        ModelError: missing ``.pt`` or ``.json`` (each named), a ``.json`` that is not valid JSON or lacks / mistypes a
            field (names the ``.json`` and the field), a ``.pt`` that is not a PyTorch weights file or not a
            state dict (names the ``.pt``), or weights that do not fit the recorded architecture.
        ConfigError: invalid front-end parameters or an unknown architecture in the ``.json`` (names the ``.json``).
    """
    import pickle

    import torch

    from voxquant.errors import ConfigError, ModelError
    from voxquant.models import build_model

    path = Path(path)
    meta_path = path.with_suffix(".json")
    if path.is_dir():
        raise ModelError("is a folder, not a voxquant weights file (.pt)", path)
    if not path.is_file():
        raise ModelError("weights file not found", path)
    if not meta_path.is_file():
        raise ModelError(f"the weights' metadata file {meta_path.name} is missing (save_weights writes it beside "
                         f"the .pt: architecture, labels, front-end)", meta_path)
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"not valid JSON ({exc})", meta_path) from None
    except OSError as exc:
        raise ModelError(f"cannot read the weights' metadata ({exc.strerror})", meta_path) from None
    if not isinstance(meta, dict):
        raise ModelError(f"the weights' metadata must be a JSON object, got {type(meta).__name__}", meta_path)
    for key, typ in (("arch", str), ("labels", list), ("frontend", dict)):
        if key not in meta:
            raise ModelError(f"the weights' metadata lacks '{key}'", meta_path)
        if not isinstance(meta[key], typ):
            raise ModelError(f"field '{key}' must be a JSON {'string' if typ is str else typ.__name__.replace('dict', 'object')}, "
                             f"got {type(meta[key]).__name__}", meta_path)
    labels = meta["labels"]
    if not labels or not all(isinstance(x, str) for x in labels) or len(set(labels)) != len(labels):
        raise ModelError("field 'labels' must be a non-empty list of distinct names", meta_path)
    arch_kwargs = meta.get("arch_kwargs", {})
    if not isinstance(arch_kwargs, dict):
        raise ModelError(f"field 'arch_kwargs' must be a JSON object, got {type(arch_kwargs).__name__}", meta_path)
    try:
        from voxquant.models.checks import validate_frontend

        fe = validate_frontend(meta["frontend"], meta_path)
        shape = fe.shape
    except (TypeError, ValueError) as exc:  # values of the right type that FrontendConfig still refuses
        raise ConfigError(f"field 'frontend' holds an invalid value ({exc})", meta_path) from None
    try:
        model = build_model(meta["arch"], n_classes=len(labels), input_shape=shape, **arch_kwargs)
    except ConfigError as exc:
        raise ConfigError(f"field 'arch': {exc.problem}", meta_path, hint=exc.hint) from None
    except (TypeError, ValueError) as exc:  # unknown / ill-typed arch_kwargs
        raise ModelError(f"field 'arch_kwargs' does not fit architecture '{meta['arch']}' ({exc})", meta_path) from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise ModelError("holds objects other than tensors, which voxquant does not unpickle (weights_only=True)",
                         path, hint="save a plain state_dict, e.g. with voxquant.models.train.save_weights") from None
    except Exception as exc:  # torch.load raises many types on a file that is not a torch archive
        raise ModelError(f"not a PyTorch weights file ({type(exc).__name__})", path) from None
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise ModelError(f"not a voxquant state dict (a dict of parameter name -> tensor), got {type(state).__name__}",
                         path, hint="save weights with voxquant.models.train.save_weights")
    try:
        model.load_state_dict(state)
    except Exception as exc:
        raise ModelError(f"weights do not fit architecture '{meta['arch']}': {str(exc).splitlines()[0][:160]}", path) from None
    meta["frontend"] = fe
    return model.eval(), meta
