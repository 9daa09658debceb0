"""The bundled default model (``voxquant run`` with no ``--model``) and the command that trains it.

``voxquant train`` reproduces ``weights/dscnn_sc12.pt``: DS-CNN, 12 classes, the default MFCC 49x10 front-end,
trained on the ``dev`` half of the official Speech Commands v0.02 test set (see :mod:`voxquant.models.train`),
then scored once on ``eval`` for the model card (``weights/MODEL_CARD.md``).
"""

from __future__ import annotations

import json
import platform
from dataclasses import asdict
from pathlib import Path

import numpy as np

from voxquant.audio.frontend import DEFAULT_FRONTEND, FrontendConfig

WEIGHTS_DIR = Path(__file__).parent / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "dscnn_sc12.pt"


def split_noise_bank(bank: dict) -> tuple[dict, dict]:
    """Split every noise recording in time: first half for training augmentation, second half for the
    evaluation noise slices, so no noise sample used in training is ever used to score a model.

    Args:
        bank: ``{name: float32 [L]}``.

    Returns:
        ``(train_bank, eval_bank)`` with the same keys.
    """
    train = {k: v[: len(v) // 2] for k, v in bank.items()}
    ev = {k: v[len(v) // 2 :] for k, v in bank.items()}
    return train, ev


def rir_split(rirs: dict) -> tuple[dict, dict]:
    """RIRs used for training augmentation (QAT) vs evaluation slices.

    With only five real rooms, voxquant keeps all five for evaluation slices and trains (QAT only) with the
    seminar-room clap and the studio live room; the report marks these two reverb slices as "seen in training"
    when a QAT variant is present.
    """
    train_keys = [k for k in rirs if "seminar" in k or "studio" in k]
    return {k: rirs[k] for k in train_keys}, dict(rirs)


def dev_eval_data(data_root=None, frontend: FrontendConfig = DEFAULT_FRONTEND, progress: bool = True, data=None,
                  labels=None):
    """Load a labelled set, split it (:func:`voxquant.data.split_dev_eval`), decode both halves.

    Args:
        data_root: data root (default ``VOXQUANT_DATA``).
        frontend: gives the sample rate and clip length audio is decoded to (resampled, padded/cropped).
        progress: progress bars.
        data: a data spec (:func:`voxquant.data.load_dataset`: registry name, manifest CSV, folder); ``None``: the
            official Speech Commands test set (the default model's data).
        labels: class order (every clip's label must be in it); ``None``: the data's labels (sorted for a folder
            or CSV, a registered set's own order, e.g. :data:`~voxquant.data.SC12_LABELS`).

    Returns:
        ``dict`` with ``clips``/``dev``/``eval`` (:class:`~voxquant.data.ClipSet`), ``labels`` (tuple),
        ``dev_waves``/``eval_waves`` (``float32 [N, S]``), ``dev_y``/``eval_y`` (``int64 [N]`` into ``labels``),
        ``split_rule`` (str).

    Raises:
        DataError / LabelMismatchError: see :func:`voxquant.data.load_dataset` and
            :func:`voxquant.data.split_dev_eval`.
    """
    from voxquant.data import load_dataset, load_waves, speech_commands_test, split_dev_eval, split_rule

    if data is None and labels is None:
        clips = speech_commands_test(data_root)
    else:
        from voxquant.data.registry import DEFAULT_DATASET

        clips = load_dataset(data if data is not None else DEFAULT_DATASET, labels=labels, data_root=data_root)
    dev, ev = split_dev_eval(clips)
    return {
        "clips": clips,
        "labels": clips.labels,
        "split_rule": split_rule(clips),
        "dev": dev,
        "eval": ev,
        "dev_waves": load_waves(dev, frontend.sample_rate, frontend.clip_samples, progress=progress),
        "eval_waves": load_waves(ev, frontend.sample_rate, frontend.clip_samples, progress=progress),
        "dev_y": dev.label_ids(),
        "eval_y": ev.label_ids(),
    }


def train_on_dev(cfg, frontend: FrontendConfig = DEFAULT_FRONTEND, data_root=None, progress: bool = True, *,
                 data=None, labels=None, noise=None, **meta_extra):
    """Train one architecture on ``dev`` (noise augmentation from the first half of each noise recording), score it
    once on ``eval`` and describe it.

    Args:
        cfg: :class:`~voxquant.models.train.TrainConfig` (architecture, epochs, seed, ...).
        frontend: the model's front-end.
        data_root: data root (default ``VOXQUANT_DATA``).
        progress: progress bars.
        data: a data spec (:func:`voxquant.data.load_dataset`); ``None``: Speech Commands (the default model).
        labels: the model's classes, in output order; ``None``: the data's labels (see :func:`dev_eval_data`).
        noise: training-noise source for :func:`voxquant.data.load_noise_bank` (a folder of recordings, ...);
            ``None``: the data pack's real Speech Commands noise. With user ``data`` and no pack, training runs
            without noise (a warning; recorded in the metadata).
        meta_extra: extra metadata entries (e.g. a study name and description).

    Returns:
        ``(model, meta, hist)``: the trained ``nn.Module`` (eval mode), the metadata written next to the weights
        (architecture, labels, front-end, data spec and split rule, recipe, parameters, held-out and eval accuracy,
        seconds, versions) and the training history.

    Raises:
        DataError: data missing or malformed, a label without eval clips, or a label without dev clips (it could
            not be learnt). LabelMismatchError: clips whose label is not in ``labels``.
    """
    import warnings

    import torch

    from voxquant.data import Augmenter
    from voxquant.data.augment import load_noise_bank
    from voxquant.errors import DataError
    from voxquant.models.train import features_nchw, train_model

    d = dev_eval_data(data_root, frontend, progress, data=data, labels=labels)
    label_names = tuple(d["labels"])
    untrained = [lab for lab, n in d["dev"].counts().items() if n == 0]
    if untrained:
        raise DataError(f"set '{d['clips'].name}': label(s) {untrained} have no clip in the dev split "
                        f"(rule: {d['split_rule']}), so the model could not learn them")
    try:
        bank = load_noise_bank(noise if noise is not None else data_root, sample_rate=frontend.sample_rate)
        noise_source = str(noise) if noise is not None else "speech_commands_noise (real recordings, first halves)"
    except DataError as exc:
        if data is None or noise is not None:
            raise
        warnings.warn(f"training without noise augmentation: {exc}", stacklevel=2)
        bank, noise_source = {}, None
    noise_train, _ = split_noise_bank(bank)
    aug = Augmenter(noise_bank=noise_train, noise_prob=cfg.noise_prob, snr_db=tuple(cfg.snr_db),
                    sample_rate=frontend.sample_rate)
    speakers = [c.speaker for c in d["dev"].clips]
    model, hist = train_model(d["dev_waves"], d["dev_y"], speakers, label_names, aug, frontend, cfg, progress)
    with torch.no_grad():
        x = torch.from_numpy(features_nchw(d["eval_waves"], frontend))
        logits = torch.cat([model(x[i : i + 512]) for i in range(0, len(x), 512)]).numpy()
    n_params = sum(p.numel() for p in model.parameters())
    n_buffers = sum(b.numel() for n, b in model.named_buffers() if "running" in n)
    set_name = d["clips"].name
    held = ("a held-out 10% of dev speakers" if any(speakers) else "a held-out 10% of dev clips (no speaker ids)")
    meta = {
        "arch": cfg.arch,
        "arch_kwargs": dict(cfg.arch_kwargs),
        **meta_extra,
        "labels": list(label_names),
        "frontend": frontend.to_dict(),
        "input_layout": "nchw",
        "train_config": asdict(cfg),
        "n_parameters": int(n_params),
        "n_parameters_with_bn_stats": int(n_params + n_buffers),
        "data": {"spec": str(data) if data is not None else "speech-commands-v2-test",
                 "split_rule": d["split_rule"],
                 "train": f"dev split of {set_name} ({hist['n_train']} clips) minus {held} "
                          f"({hist['n_holdout']} clips) for model selection",
                 "eval": f"eval split ({len(d['eval'])} clips"
                         + (", speakers disjoint from dev)" if d["split_rule"].startswith("speaker hash") else ")"),
                 "noise": noise_source},
        "best_epoch": hist["best_epoch"],
        "epochs_run": len(hist["epoch"]),
        "holdout_accuracy": hist["holdout_accuracy_best"],
        "eval_accuracy": float((logits.argmax(1) == d["eval_y"]).mean()),
        "train_seconds": hist["seconds"],
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.processor() or platform.machine(),
    }
    return model, meta, hist


def train_default(out: Path = DEFAULT_WEIGHTS, cfg=None, data_root=None, progress: bool = True, *, data=None,
                  labels=None, noise=None, frontend: FrontendConfig = DEFAULT_FRONTEND) -> dict:
    """Train the bundled DS-CNN architecture and write ``out`` (``.pt``) + its ``.json`` metadata.

    With ``data``/``labels`` ``None`` this reproduces the default model and also writes ``MODEL_CARD.md`` beside
    it; with user data (``data``, ``labels``, ``noise``: see :func:`train_on_dev`) only the weights and metadata
    are written (the card describes the Speech Commands model).

    Returns:
        The metadata dict (labels, data spec, recipe, held-out accuracy, eval accuracy, seconds, versions).
    """
    from voxquant.models.train import TrainConfig, save_weights

    model, meta, hist = train_on_dev(cfg or TrainConfig(), frontend, data_root, progress, data=data, labels=labels,
                                     noise=noise)
    save_weights(model, out, meta)
    if data is None and labels is None:
        write_model_card(out, meta, hist)
    return meta


def write_model_card(weights: Path, meta: dict, hist: dict) -> Path:
    """Write ``MODEL_CARD.md`` next to ``weights`` from the training metadata and history."""
    cfg = meta["train_config"]
    card = Path(weights).parent / "MODEL_CARD.md"
    fe = meta["frontend"]
    card.write_text(
        f"""# Model card: `{Path(weights).name}` (voxquant default model)

* **Architecture**: DS-CNN (Zhang et al. 2017, "Hello Edge", arXiv:1711.07128), MLPerf Tiny KWS reference shape:
  64-channel 10x4 stride-2 conv + 4 depthwise-separable blocks + average pool + linear.
  {meta['n_parameters']:,} trainable parameters ({meta['n_parameters_with_bn_stats']:,} counting batch-norm running
  statistics, the way Keras counts the 24,908 of the MLPerf reference).
* **Task**: Speech Commands v0.02, 12 classes, label order `{', '.join(meta['labels'])}`.
* **Front-end**: MFCC {fe['n_mfcc']} x {1 + (fe['clip_samples'] - round(fe['window_ms'] * 16)) // round(fe['hop_ms'] * 16)} frames
  ({fe['window_ms']} ms Hann window, {fe['hop_ms']} ms hop, FFT {fe['n_fft']}, magnitude, {fe['n_mels']} mel bins
  {fe['f_min']}-{fe['f_max']} Hz (tf.signal mel matrix), ln(x + {fe['log_offset']}), DCT-II as tf.signal), no
  audio normalisation. Exact parameters: `dscnn_sc12.json`.
* **Training data**: {meta['data']['train']}. The public training partition of Speech Commands is not in
  the data pack; voxquant trains on real speech it has: half of the official test set's speakers.
* **Evaluation data**: {meta['data']['eval']}.
* **Recipe**: AdamW (lr {cfg['lr']}, weight decay {cfg['weight_decay']}), one-cycle schedule, {cfg['epochs']} epochs
  planned / {meta['epochs_run']} run, batch {cfg['batch_size']}, label smoothing {cfg['label_smoothing']}, seed
  {cfg['seed']}, {cfg['threads']} threads. Augmentation each epoch: time shift +-100 ms, real background noise (first
  half of each Speech Commands `_background_noise_` recording; the second half is kept for the evaluation noise
  slices) with probability {cfg['noise_prob']} at SNR uniform in {cfg['snr_db']} dB, gain +-6 dB.
  Model selection: best held-out accuracy (epoch {meta['best_epoch']}).
* **Results**: held-out (dev speakers) top-1 accuracy {100 * meta['holdout_accuracy']:.2f} %;
  **eval top-1 accuracy {100 * meta['eval_accuracy']:.2f} %** (fp32, PyTorch, clean).
* **Time**: {meta['train_seconds'] / 60:.1f} min on {meta['machine']} (2 cores), torch {meta['torch']}.
* **Reproduce**: `voxquant train` (writes this file, the weights and the JSON metadata).
* **Licence of the data**: Speech Commands, CC BY 4.0 (Warden 2018, arXiv:1804.03209).
"""
    )
    return card
