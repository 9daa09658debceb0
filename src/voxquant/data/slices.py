"""The labelled dev/eval clips of one model and its acoustic-condition slices, built in one place.

``voxquant run`` (eval slices), the mixed-precision search and QAT (dev slices / dev training data) and the studies
(eval slices) all go through these functions, so a slice called ``noise_snr10`` or ``far_field`` means the same
audio everywhere:

* ``clean``: the clips as recorded;
* ``noise``: real background noise at ``param`` dB SNR (:func:`voxquant.data.augment.make_slice`);
* ``reverb``: convolved with the real RIR named ``param``;
* ``far_field``: the church RIR (else the first RIR), then real noise at ``param`` dB SNR with seed ``seed + 1``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import numpy as np

from voxquant.errors import ConfigError

log = logging.getLogger("voxquant")


def slice_specs(rir_names, snrs=(20, 10, 5, 0), reverb: bool = True, far_field: bool = True,
                far_field_snr: float = 10.0) -> list[tuple[str, str, object]]:
    """The evaluation (and dev) slices as ``(name, kind, param)``: ``clean``; ``noise_snr<d>`` per SNR in dB of
    ``snrs`` (kind ``noise``, param the SNR); ``reverb_<room>`` per RIR name when ``reverb`` (param the name);
    ``far_field`` (param ``far_field_snr`` dB) when ``far_field`` and there is at least one RIR. THE one list
    :func:`voxquant.pipeline.run`, :mod:`voxquant.quant.mixed` and the studies build slices from."""
    specs = [("clean", "clean", None)]
    specs += [(f"noise_snr{int(s) if float(s).is_integer() else s}", "noise", float(s)) for s in snrs]
    if reverb:
        specs += [(f"reverb_{r}", "reverb", r) for r in rir_names]
    if far_field and rir_names:
        specs.append(("far_field", "far_field", far_field_snr))
    return specs


def stratified_indices(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` indices drawn without replacement, round-robin over classes (seeded), sorted.

    Args:
        labels: ``int64 [N]`` class ids.
        n: how many (capped at ``N``).
        seed: RNG seed.

    Returns:
        ``int64 [min(n, N)]``, ascending.
    """
    rng = np.random.default_rng(seed)
    n = min(n, len(labels))
    pools = {c: list(rng.permutation(np.where(labels == c)[0])) for c in np.unique(labels)}
    out: list[int] = []
    while len(out) < n:
        for c in sorted(pools):
            if pools[c] and len(out) < n:
                out.append(int(pools[c].pop()))
    return np.sort(np.array(out, dtype=np.int64))


def model_splits(labels, data_root=None, test_set=None, data=None):
    """The dev/eval split of a labelled data set (:func:`voxquant.data.split_dev_eval`), with a map to the model's
    label order.

    Args:
        labels: the model's class names (output order).
        data_root: data root (default ``VOXQUANT_DATA``), where registered sets are looked up.
        test_set: an explicit Speech Commands test-set folder (the ``<label>/*.wav`` tarball layout or the manifest
            layout); used when ``data`` is ``None``.
        data: a data spec (:func:`voxquant.data.load_dataset`: registry name, manifest CSV, folder). ``None`` and
            no ``test_set``: the official Speech Commands v0.02 test set, split exactly as the committed results.

    Returns:
        ``(dev, eval, remap)``: two :class:`~voxquant.data.ClipSet` (labels in the data's order) and
        ``int64 [n_data_labels]`` mapping a data label id to the model's class index
        (``remap[clipset.label_ids()]`` = targets; ``-1`` only for a data label that has no clip and is not a
        model label). The data may lack some model labels (warning: those classes are not measured).

    Raises:
        DataError: data missing or malformed, or a label without eval clips. LabelMismatchError (a ConfigError and a
        DataError): the data has labels the model does not have (the message lists both sets).
    """
    import logging

    from voxquant.data.specs import check_labels, load_dataset
    from voxquant.data.splits import split_dev_eval

    labels = tuple(labels)
    if data is not None:
        clips = load_dataset(data, data_root=data_root)
    else:
        from voxquant.data.sets.speech_commands import speech_commands_test

        clips = speech_commands_test(test_set or data_root)
    present = [lab for lab, n in clips.counts().items() if n > 0]
    missing = check_labels(labels, present, data if data is not None else clips.name)
    dev, ev = split_dev_eval(clips)  # a split that cannot work stops here, before any warning
    if missing:
        logging.getLogger("voxquant").warning("%s: no clips for model label(s) %s; they will not be measured",
                                              clips.name, list(missing))
    return dev, ev, np.array([labels.index(lbl) if lbl in labels else -1 for lbl in clips.labels], dtype=np.int64)


def stratified_subset(clips, limit: int | None, seed: int):
    """``clips`` itself when ``limit`` is falsy, else a class-stratified seeded subset of ``limit`` clips."""
    if not limit:
        return clips
    return clips.subset(stratified_indices(clips.label_ids(), limit, seed), name=f"{clips.name}[:{limit}]")


def condition_waves(waves: np.ndarray, kind: str, param, noise_bank=None, rirs=None, seed: int = 0) -> np.ndarray:
    """One acoustic condition applied to clean clips (see the module docstring for ``kind``/``param``).

    Args:
        waves: ``float32 [N, S]`` clean clips.
        kind: ``"clean" | "noise" | "reverb" | "far_field"``.
        param: SNR in dB (noise, far_field) or RIR name (reverb).
        noise_bank: real noise recordings; rirs: ``{name: float32 [K]}``.
        seed: slice seed.

    Returns:
        ``float32 [N, S]``.

    Raises:
        ValueError: unknown kind or a missing bank (from :func:`voxquant.data.augment.make_slice`).
    """
    from voxquant.data.augment import make_slice

    if kind == "far_field":
        if not rirs:
            raise ValueError("a far_field slice needs RIRs")
        far = next((k for k in rirs if "church" in k), next(iter(rirs)))
        return make_slice(make_slice(waves, "reverb", far, rirs=rirs), "noise", param, noise_bank=noise_bank, seed=seed + 1)
    return make_slice(waves, kind, param, noise_bank=noise_bank, rirs=rirs, seed=seed)


def cached_array(path: Path | None, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """``np.load(path)`` when it exists, else ``compute()`` saved atomically to ``path`` (no cache when ``None``).

    A cache file that cannot be read (not a ``.npy``, cut short) is computed again and replaced, never trusted.
    """
    from voxquant.atomic import save_npy_atomic

    if path is not None and Path(path).is_file():
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            log.warning("%s: unreadable feature cache (%s); computing it again", path, exc)
    arr = compute()
    if path is not None:
        save_npy_atomic(path, arr)
    return arr


def slice_features(specs, get_waves: Callable[[], np.ndarray], featurize: Callable[[np.ndarray], np.ndarray],
                   noise_bank=None, rirs=None, seed: int = 0,
                   cache_path: Callable[[str], Path | None] = lambda name: None) -> dict:
    """Features of every slice in ``specs``, computed (or read from the cache) one slice at a time.

    Args:
        specs: ``[(name, kind, param)]`` (:func:`slice_specs`).
        get_waves: returns the clean ``float32 [N, S]`` clips; called at most once, and only when a slice is not
            cached (decoding thousands of clips is the slow part).
        featurize: ``float32 [N, S]`` -> the model's input features.
        noise_bank, rirs, seed: see :func:`condition_waves`.
        cache_path: slice name -> ``.npy`` cache file (or ``None``).

    Returns:
        ``{name: features}``.
    """
    waves = []

    def clean():
        if not waves:
            waves.append(get_waves())
        return waves[0]

    return {name: cached_array(cache_path(name),
                               lambda: featurize(condition_waves(clean(), kind, param, noise_bank, rirs, seed)))
            for name, kind, param in specs}


__all__ = ["cached_array", "condition_waves", "model_splits", "slice_features", "stratified_indices",
           "stratified_subset"]
