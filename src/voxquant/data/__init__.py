"""Data: loaders of known sets (:mod:`voxquant.data.registry`), user data specs, the dev/eval split,
augmentation, verified download.

See :mod:`voxquant.data.datasets` (clips, manifests, decoding), :mod:`voxquant.data.registry` +
:mod:`voxquant.data.sets` (known sets), :mod:`voxquant.data.specs` (bring your own data),
:mod:`voxquant.data.splits`, :mod:`voxquant.data.augment`, :mod:`voxquant.data.streams` (continuous wake-word test streams) and
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
    group_values,
    load_labelled_folder,
    load_manifest,
    load_waves,
    parse_sc_name,
    read_manifest,
)
from voxquant.data.fetch import REGISTRY, RemoteDataset, fetch
from voxquant.data.registry import DATASETS, DEFAULT_DATASET, dataset_names, get_loader
from voxquant.data.sets.alphanumeric_accents import alphanumeric_accents
from voxquant.data.sets.fsdd import fsdd
from voxquant.data.sets.picovoice import picovoice_wakewords
from voxquant.data.sets.rirs import rirs
from voxquant.data.sets.speech_commands import speech_commands_extra, speech_commands_test
from voxquant.data.sets.speech_commands_noise import noise_clips
from voxquant.data.specs import check_labels, load_calibration, load_dataset, with_labels
from voxquant.data.splits import split_dev_eval, split_rule, split_summary
from voxquant.data.streams import (
    Event,
    Stream,
    build_stream,
    default_stream_sources,
    load_stream,
    save_stream,
    stream_manifest,
)

__all__ = [
    "DATASETS",
    "DEFAULT_DATASET",
    "REGISTRY",
    "SC12_LABELS",
    "Augmenter",
    "Clip",
    "ClipSet",
    "Event",
    "RemoteDataset",
    "Stream",
    "alphanumeric_accents",
    "apply_rir",
    "build_stream",
    "check_labels",
    "dataset_names",
    "default_stream_sources",
    "fetch",
    "fsdd",
    "get_loader",
    "group_values",
    "load_calibration",
    "load_dataset",
    "load_labelled_folder",
    "load_manifest",
    "load_noise_bank",
    "load_rir_bank",
    "load_stream",
    "load_waves",
    "make_slice",
    "mix_at_snr",
    "noise_clips",
    "parse_sc_name",
    "picovoice_wakewords",
    "random_gain",
    "read_manifest",
    "rirs",
    "save_stream",
    "speech_commands_extra",
    "speech_commands_test",
    "split_dev_eval",
    "split_rule",
    "split_summary",
    "stream_manifest",
    "time_shift",
    "with_labels",
]
