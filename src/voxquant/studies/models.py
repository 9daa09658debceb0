"""The architectures of the architecture study, their front-ends and training recipes, and the trained weights.

Every model is trained by :func:`voxquant.models.train.train_model` on the ``dev`` split with the *same budget*
as the bundled DS-CNN (``voxquant train``): the same clips, the same held-out speakers for model selection, the
same augmentation (time shift, real background noise from the first half of each recording, gain), seed 0, and
the same number of epochs (:data:`STUDY_EPOCHS`: the bundled DS-CNN's recipe, 60 epochs). The
budget is counted in epochs, not minutes, because the study machine is shared: under load a 13-minute wall-clock
cap gave the slower-per-epoch CRNN 7 epochs. A 60-minute safety cap applies; the time each model took is in its
``.json``. Only the optimiser settings an architecture needs differ (recorded in each ``.json``):

==============  ===================  ======================================  ==============================
name            architecture         front-end                               optimiser
==============  ===================  ======================================  ==============================
``dscnn``       DS-CNN (bundled)     MFCC 49 x 10 (default)                  AdamW 3e-3, wd 1e-3
``crnn``        CRNN conv + 2 x GRU  MFCC 49 x 10                            AdamW 3e-3, wd 1e-3
``kwt``         tiny KWT             MFCC 49 x 10                            AdamW 2e-3, wd 5e-2
``bcresnet1``   BC-ResNet-1          log-mel 49 x 40 (default framing, no    AdamW 3e-3, wd 1e-3
                                     DCT: BC-ResNet needs 40 mel bands)
==============  ===================  ======================================  ==============================

Weights: ``src/voxquant/models/weights/<name>_sc12.pt`` + ``.json`` (architecture, front-end, recipe, held-out
and eval accuracy). ``voxquant study train-models`` (re)trains the missing ones.
"""

from __future__ import annotations

import dataclasses
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path

from voxquant.audio.frontend import DEFAULT_FRONTEND, FrontendConfig
from voxquant.errors import ConfigError
from voxquant.models.train import TrainConfig
from voxquant.models.zoo_default import DEFAULT_WEIGHTS, WEIGHTS_DIR

def _dscnn_epochs() -> int:
    """Epochs of the bundled DS-CNN's recipe (``dscnn_sc12.json`` ``train_config.epochs``; else ``TrainConfig``)."""
    import json

    try:
        return int(json.loads(DEFAULT_WEIGHTS.with_suffix(".json").read_text())["train_config"]["epochs"])
    except (OSError, KeyError, ValueError):
        return TrainConfig().epochs


#: Epoch budget of every study model: the bundled DS-CNN's (60 when these weights were trained).
STUDY_EPOCHS = _dscnn_epochs()
#: Wall-clock safety cap (minutes) of each study model's training.
STUDY_MAX_MINUTES = 60.0

#: BC-ResNet front-end: the default framing (30 ms Hann, 20 ms hop, FFT 512, 40 mel 20-4000 Hz, ln) without DCT.
LOGMEL_49x40 = dataclasses.replace(DEFAULT_FRONTEND, n_mfcc=0, name="voxquant-logmel-49x40")


@dataclass(frozen=True)
class ArchSpec:
    """One architecture of the study.

    Attributes:
        name: study name (also the weights file stem ``<name>_sc12``).
        arch: registered architecture (:data:`voxquant.models.ARCHITECTURES`).
        frontend: its feature front-end.
        train: training hyper-parameters (``arch``/``arch_kwargs`` set).
        description: one line for the table.
    """

    name: str
    arch: str
    frontend: FrontendConfig
    train: TrainConfig
    description: str
    weights: Path = field(default=None)

    @property
    def weights_path(self) -> Path:
        return self.weights if self.weights is not None else WEIGHTS_DIR / f"{self.name}_sc12.pt"


ARCH_SPECS: dict[str, ArchSpec] = {
    "dscnn": ArchSpec("dscnn", "dscnn", DEFAULT_FRONTEND, TrainConfig(arch="dscnn"),
                      "DS-CNN (Hello Edge / MLPerf Tiny), conv only", weights=DEFAULT_WEIGHTS),
    "crnn": ArchSpec("crnn", "crnn", DEFAULT_FRONTEND, TrainConfig(arch="crnn", epochs=STUDY_EPOCHS, max_minutes=STUDY_MAX_MINUTES),
                     "CRNN-S (Hello Edge): conv 48 + 2 x GRU 60 + FC 84"),
    "kwt": ArchSpec("kwt", "kwt", DEFAULT_FRONTEND, TrainConfig(arch="kwt", lr=2e-3, weight_decay=0.05, epochs=STUDY_EPOCHS,
                                                                   max_minutes=STUDY_MAX_MINUTES),
                    "tiny KWT (Berg et al. 2021): dim 64, 2 post-norm blocks, 2 heads"),
    "bcresnet1": ArchSpec("bcresnet1", "bcresnet", LOGMEL_49x40,
                          TrainConfig(arch="bcresnet", arch_kwargs={"scale": 1}, epochs=STUDY_EPOCHS,
                                      max_minutes=STUDY_MAX_MINUTES),
                          "BC-ResNet-1 (Kim et al. 2021), broadcast residual CNN"),
}


def get_spec(name: str) -> ArchSpec:
    """Look up an :class:`ArchSpec`; unknown names raise :class:`ConfigError` listing the known ones."""
    if name not in ARCH_SPECS:
        raise ConfigError(f"unknown study architecture '{name}'", hint=f"known: {', '.join(ARCH_SPECS)}")
    return ARCH_SPECS[name]


def train_architecture(name: str, out: Path | None = None, cfg: TrainConfig | None = None, data_root=None,
                       progress: bool = True) -> dict:
    """Train one study architecture on ``dev`` and write ``<out>.pt`` + ``<out>.json``.

    Args:
        name: key of :data:`ARCH_SPECS`.
        out: weights path (default: the spec's file under ``src/voxquant/models/weights``).
        cfg: override the spec's :class:`TrainConfig` (tests use a tiny one).
        data_root: data root (default ``VOXQUANT_DATA``).
        progress: progress bars.

    Returns:
        The metadata written to the ``.json`` (held-out accuracy on the 10 % held-out dev speakers used for model
        selection, eval accuracy scored once for the record, seconds, parameters, versions).

    Raises:
        ConfigError: unknown name. DataError: data missing.
    """
    import numpy as np
    import torch

    from voxquant.data import SC12_LABELS, Augmenter
    from voxquant.data.augment import load_noise_bank
    from voxquant.models.train import features_nchw, save_weights, train_model
    from voxquant.models.zoo_default import dev_eval_data, split_noise_bank

    spec = get_spec(name)
    cfg = cfg or spec.train
    fe = spec.frontend
    d = dev_eval_data(data_root, fe, progress)
    noise_train, _ = split_noise_bank(load_noise_bank(data_root))
    aug = Augmenter(noise_bank=noise_train, noise_prob=cfg.noise_prob, snr_db=tuple(cfg.snr_db))
    speakers = [c.speaker for c in d["dev"].clips]
    model, hist = train_model(d["dev_waves"], d["dev_y"], speakers, SC12_LABELS, aug, fe, cfg, progress)
    with torch.no_grad():
        x = torch.from_numpy(features_nchw(d["eval_waves"], fe))
        logits = torch.cat([model(x[i : i + 512]) for i in range(0, len(x), 512)]).numpy()
    eval_acc = float((logits.argmax(1) == d["eval_y"]).mean())
    n_params = sum(p.numel() for p in model.parameters())
    meta = {
        "arch": spec.arch,
        "arch_kwargs": dict(cfg.arch_kwargs),
        "study_name": spec.name,
        "description": spec.description,
        "labels": list(SC12_LABELS),
        "frontend": fe.to_dict(),
        "input_layout": "nchw",
        "train_config": asdict(cfg),
        "n_parameters": int(n_params),
        "data": {"train": f"dev split of speech_commands_v0.02_test ({hist['n_train']} clips) minus a held-out "
                          f"10% of dev speakers ({hist['n_holdout']} clips) for model selection",
                 "eval": f"eval split ({len(d['eval'])} clips, speakers disjoint from dev)"},
        "best_epoch": hist["best_epoch"],
        "epochs_run": len(hist["epoch"]),
        "holdout_accuracy": hist["holdout_accuracy_best"],
        "eval_accuracy": eval_acc,
        "train_seconds": hist["seconds"],
        "history": {"loss": hist["loss"], "holdout_accuracy": hist["holdout_accuracy"]},
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.processor() or platform.machine(),
    }
    out = Path(out) if out else spec.weights_path
    save_weights(model, out, meta)
    del np
    return meta
