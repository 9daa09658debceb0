"""Shared pieces of the studies: the eval slices exactly as ``voxquant run`` builds them, and small table helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def eval_slices(frontend, labels, data_root=None, test_set=None, seed: int = 0, snrs=(20, 10, 5, 0),
                reverb: bool = True, far_field: bool = True, far_field_snr: float = 10.0, limit: int | None = None,
                cache_dir: Path | None = None, progress: bool = False):
    """Eval-split features per slice, built like :func:`voxquant.pipeline.run` does.

    Slices (:func:`voxquant.data.slices.slice_specs`): clean; real noise at each SNR from the **second** half of each
    noise recording (seed ``seed``); every real RIR; far field (church RIR, then noise at ``far_field_snr`` dB,
    seed ``seed + 1``).

    Args:
        frontend: the model's front-end.
        labels: the model's class names (data labels are remapped to this order).
        data_root, test_set: data location.
        seed: slice seed.
        limit: at most this many eval clips (stratified; tests).
        cache_dir: cache folder for the features (``.npy`` per slice); ``None`` = no cache.

    Returns:
        ``(SliceSet, specs, clipset)``: features ``float32 [N, 1, T, F]`` per slice name, labels ``int64 [N]``,
        the ``(name, kind, param)`` list and the eval :class:`~voxquant.data.ClipSet`.
    """
    from voxquant.audio.frontend import compute_features
    from voxquant.data import load_noise_bank, load_rir_bank, load_waves
    from voxquant.data.slices import model_splits, slice_features, slice_specs, stratified_subset
    from voxquant.models.zoo_default import split_noise_bank
    from voxquant.quant.sensitivity import SliceSet

    _, ev, remap = model_splits(labels, data_root, test_set)
    ev = stratified_subset(ev, limit, seed)
    y = remap[ev.label_ids()]
    _, noise = split_noise_bank(load_noise_bank(data_root, sample_rate=frontend.sample_rate))
    rirs = load_rir_bank(data_root, sample_rate=frontend.sample_rate) if (reverb or far_field) else {}
    specs = slice_specs(list(rirs), tuple(snrs), reverb, far_field, far_field_snr)
    x = slice_features(specs, lambda: load_waves(ev, frontend.sample_rate, frontend.clip_samples, progress=progress),
                       lambda w: compute_features(w, frontend)[:, None], noise, rirs, seed,
                       cache_path=lambda name: Path(cache_dir) / f"{name}_{len(ev)}_{seed}.npy" if cache_dir else None)
    return SliceSet(x, y), specs, ev


def md_table(headers: list[str], rows: list[list]) -> str:
    """A GitHub-flavoured markdown table."""
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def fmt_drop(s: dict | None) -> str:
    """``+1.23 [+0.40, +2.10]`` from a ``make_slice`` entry (pp), or ``-``."""
    if not s:
        return "-"
    return f"{s['drop']:+.2f} [{s['ci95'][0]:+.2f}, {s['ci95'][1]:+.2f}]"
