"""Data: Speech Commands / FSDD / noise / RIR loaders, the dev/eval split, augmentation, verified download.

See :mod:`voxquant.data.datasets`, :mod:`voxquant.data.splits`, :mod:`voxquant.data.augment` and
:mod:`voxquant.data.fetch`.
"""

from voxquant.data.augment import (
    Augmenter,
    apply_rir,
    load_noise_bank,
    load_rir_bank,
    make_slice,
    mix_at_snr,
    random_gain,
    time_shift,
)
from voxquant.data.datasets import (
    SC12_LABELS,
    Clip,
    ClipSet,
    fsdd,
    load_labelled_folder,
    load_manifest,
    load_waves,
    noise_clips,
    parse_sc_name,
    rirs,
    speech_commands_test,
)
from voxquant.data.fetch import REGISTRY, RemoteDataset, fetch
from voxquant.data.splits import split_dev_eval, split_summary

__all__ = [
    "REGISTRY",
    "SC12_LABELS",
    "Augmenter",
    "Clip",
    "ClipSet",
    "RemoteDataset",
    "apply_rir",
    "fetch",
    "fsdd",
    "load_labelled_folder",
    "load_manifest",
    "load_noise_bank",
    "load_rir_bank",
    "load_waves",
    "make_slice",
    "mix_at_snr",
    "noise_clips",
    "parse_sc_name",
    "random_gain",
    "rirs",
    "speech_commands_test",
    "split_dev_eval",
    "split_summary",
    "time_shift",
]
