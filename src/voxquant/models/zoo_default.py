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


def dev_eval_data(data_root=None, frontend: FrontendConfig = DEFAULT_FRONTEND, progress: bool = True):
    """Load the official test set, split it, decode both halves.

    Returns:
        ``dict`` with ``dev``/``eval`` (:class:`~voxquant.data.ClipSet`), ``dev_waves``/``eval_waves``
        (``float32 [N, S]``), ``dev_y``/``eval_y`` (``int64 [N]`` in ``SC12_LABELS`` order).
    """
    from voxquant.data import load_waves, speech_commands_test, split_dev_eval

    clips = speech_commands_test(data_root)
    dev, ev = split_dev_eval(clips)
    return {
        "dev": dev,
        "eval": ev,
        "dev_waves": load_waves(dev, frontend.sample_rate, frontend.clip_samples, progress=progress),
        "eval_waves": load_waves(ev, frontend.sample_rate, frontend.clip_samples, progress=progress),
        "dev_y": dev.label_ids(),
        "eval_y": ev.label_ids(),
    }


def train_on_dev(cfg, frontend: FrontendConfig = DEFAULT_FRONTEND, data_root=None, progress: bool = True, **meta_extra):
    """Train one architecture on ``dev`` (noise augmentation from the first half of each noise recording), score it
    once on ``eval`` and describe it.

    Args:
        cfg: :class:`~voxquant.models.train.TrainConfig` (architecture, epochs, seed, ...).
        frontend: the model's front-end.
        data_root: data root (default ``VOXQUANT_DATA``).
        progress: progress bars.
        meta_extra: extra metadata entries (e.g. a study name and description).

    Returns:
        ``(model, meta, hist)``: the trained ``nn.Module`` (eval mode), the metadata written next to the weights
        (architecture, labels, front-end, recipe, parameters, held-out and eval accuracy, seconds, versions) and
        the training history.

    Raises:
        DataError: data missing.
    """
    import torch

    from voxquant.data import SC12_LABELS, Augmenter
    from voxquant.data.augment import load_noise_bank
    from voxquant.models.train import features_nchw, train_model

    d = dev_eval_data(data_root, frontend, progress)
    noise_train, _ = split_noise_bank(load_noise_bank(data_root))
    aug = Augmenter(noise_bank=noise_train, noise_prob=cfg.noise_prob, snr_db=tuple(cfg.snr_db))
    speakers = [c.speaker for c in d["dev"].clips]
    model, hist = train_model(d["dev_waves"], d["dev_y"], speakers, SC12_LABELS, aug, frontend, cfg, progress)
    with torch.no_grad():
        x = torch.from_numpy(features_nchw(d["eval_waves"], frontend))
        logits = torch.cat([model(x[i : i + 512]) for i in range(0, len(x), 512)]).numpy()
    n_params = sum(p.numel() for p in model.parameters())
    n_buffers = sum(b.numel() for n, b in model.named_buffers() if "running" in n)
    meta = {
        "arch": cfg.arch,
        "arch_kwargs": dict(cfg.arch_kwargs),
        **meta_extra,
        "labels": list(SC12_LABELS),
        "frontend": frontend.to_dict(),
        "input_layout": "nchw",
        "train_config": asdict(cfg),
        "n_parameters": int(n_params),
        "n_parameters_with_bn_stats": int(n_params + n_buffers),
        "data": {"train": f"dev split of speech_commands_v0.02_test ({hist['n_train']} clips) minus a held-out "
                          f"10% of dev speakers ({hist['n_holdout']} clips) for model selection",
                 "eval": f"eval split ({len(d['eval'])} clips, speakers disjoint from dev)"},
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


def train_default(out: Path = DEFAULT_WEIGHTS, cfg=None, data_root=None, progress: bool = True) -> dict:
    """Train the default DS-CNN and write ``out`` (+ ``.json`` metadata + ``MODEL_CARD.md`` beside it).

    Returns:
        The metadata dict (recipe, held-out accuracy, eval accuracy, seconds, versions).
    """
    from voxquant.models.train import TrainConfig, save_weights

    model, meta, hist = train_on_dev(cfg or TrainConfig(), DEFAULT_FRONTEND, data_root, progress)
    save_weights(model, out, meta)
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
