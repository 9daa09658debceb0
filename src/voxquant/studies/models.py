"""The architectures of the architecture study, their front-ends and training recipes, and the trained weights.

Every model is trained by :func:`voxquant.models.train.train_model` on the ``dev`` split with the *same budget*
as the bundled DS-CNN (``voxquant train``): the same clips, the same held-out speakers for model selection, the
same augmentation (time shift, real background noise from the first half of each recording, gain), seed 0, and
the same number of epochs (:data:`STUDY_EPOCHS`: the bundled DS-CNN's recipe, 60 epochs). The
budget is counted in epochs, not minutes, because the study machine is shared: under load a 13-minute wall-clock
cap gave the slower-per-epoch CRNN 7 epochs. A 60-minute safety cap applies; the time each model took is in its
``.json``. Only the optimiser settings an architecture needs differ (recorded in each ``.json``):

==================  =====================  ======================================  ==============================
name                architecture           front-end                               optimiser
==================  =====================  ======================================  ==============================
``dscnn``           DS-CNN (bundled)       MFCC 49 x 10 (default)                  AdamW 3e-3, wd 1e-3
``dscnn_stream``    DS-CNN, 'valid' time   MFCC 49 x 10                            AdamW 3e-3, wd 1e-3
                    padding (streamable)
``crnn``            CRNN conv + 2 x GRU    MFCC 49 x 10                            AdamW 3e-3, wd 1e-3
``kwt``             tiny KWT               MFCC 49 x 10                            AdamW 2e-3, wd 5e-2
``bcresnet1``       BC-ResNet-1            log-mel 49 x 40 (default framing, no    AdamW 3e-3, wd 1e-3
                                           DCT: BC-ResNet needs 40 mel bands)
==================  =====================  ======================================  ==============================

Weights: ``src/voxquant/models/weights/<name>_sc12.pt`` + ``.json`` (architecture, front-end, recipe, held-out
and eval accuracy). ``voxquant study train-models`` (re)trains the missing ones.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
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
    "dscnn_stream": ArchSpec("dscnn_stream", "dscnn_stream", DEFAULT_FRONTEND,
                             TrainConfig(arch="dscnn_stream", epochs=STUDY_EPOCHS, max_minutes=15.0),
                             "DS-CNN with 'valid' time padding: exactly streamable (voxquant.models.streaming)"),
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
    from voxquant.models.train import save_weights
    from voxquant.models.zoo_default import train_on_dev

    spec = get_spec(name)
    model, meta, hist = train_on_dev(cfg or spec.train, spec.frontend, data_root, progress,
                                     study_name=spec.name, description=spec.description)
    meta["history"] = {"loss": hist["loss"], "holdout_accuracy": hist["holdout_accuracy"]}
    out = Path(out) if out else spec.weights_path
    save_weights(model, out, meta)
    return meta
