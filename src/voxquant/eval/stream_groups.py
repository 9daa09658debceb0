"""Per-speaker-group FRR of a wake-word detector on a stream, at a tuned operating point.

The clip report shows accuracy per group and on the worst-decile speakers (:func:`voxquant.engine.group_slices`);
this is the streaming counterpart: each keyword event carries its clip's speaker and group columns
(:class:`voxquant.data.streams.Event`), and FRR is taken per group at the threshold tuned to a FA/h target (the
operating point of :func:`voxquant.eval.streaming.frr_at_fa_per_hour`, conservative: the lowest FRR of a swept
threshold whose FA/h is at or below the target; among equal FRRs the lowest threshold). The FA/h side is the same
for every group (one stream), so only the keywords are resampled: a percentile bootstrap of the group's miss rate
over its keyword events (Efron & Tibshirani 1993, *An Introduction to the Bootstrap*, ch. 13).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from voxquant.errors import ConfigError

#: Share of speakers in the worst-decile group (as :func:`voxquant.engine.group_slices`: at least one speaker).
WORST_SHARE = 0.1


def tuned_index(curve, fa_h: float) -> int | None:
    """Index into ``curve.thresholds`` of the operating point at ``fa_h`` FA/h (``None``: no threshold reaches it).

    Args:
        curve: a :class:`voxquant.eval.streaming.DetCurve`.
        fa_h: FA/h target, >= 0.
    """
    ok = np.asarray(curve.fa_per_hour) <= float(fa_h)
    if not ok.any():
        return None
    best = float(np.asarray(curve.frr)[ok].min())
    return int(np.flatnonzero(ok & (np.asarray(curve.frr) == best))[0])


def frr_ci(missed: np.ndarray, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0,
           clusters: np.ndarray | None = None) -> tuple[float, float, float]:
    """FRR of a set of keyword events and its percentile bootstrap CI.

    Args:
        missed: ``bool [E]`` (E >= 1) per keyword event, true when missed.
        n_boot: resamples (>= 1). alpha: 1 - confidence level. seed: generator seed.
        clusters: ``int [E]`` sampling unit of each event (speaker or source clip,
            :func:`voxquant.eval.streaming.keyword_clusters`): clusters are resampled, not events.

    Returns:
        ``(frr, lo, hi)`` as fractions in [0, 1].

    Raises:
        ConfigError: no events, ``n_boot < 1`` or ``alpha`` outside (0, 1).
    """
    m = np.asarray(missed, dtype=np.float64).ravel()
    if m.size == 0 or n_boot < 1 or not 0 < alpha < 1:
        raise ConfigError(f"frr_ci needs events, n_boot >= 1 and 0 < alpha < 1 (got {m.size}, {n_boot}, {alpha})")
    rng = np.random.default_rng(seed)
    if clusters is None:
        reps = m[rng.integers(0, m.size, (int(n_boot), m.size))].mean(axis=1)
    else:
        _, cid = np.unique(np.asarray(clusters).ravel(), return_inverse=True)
        n_c = int(cid.max()) + 1
        missed_c = np.bincount(cid, weights=m, minlength=n_c)
        size_c = np.bincount(cid, minlength=n_c).astype(np.float64)
        draws = rng.integers(0, n_c, (int(n_boot), n_c))
        reps = missed_c[draws].sum(axis=1) / size_c[draws].sum(axis=1)
    lo, hi = np.percentile(reps, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(m.mean()), float(lo), float(hi)


def keyword_groups(events: Sequence) -> dict[str, np.ndarray]:
    """``{column: str [E]}`` of the keyword events in stream order: ``speaker`` and every group column any of them
    has (``""`` where unknown). Columns without any known value are left out."""
    kws = sorted((e for e in events if e.is_keyword), key=lambda e: e.start_s)
    cols = {"speaker": [str(getattr(e, "speaker", "") or "") for e in kws]}
    names = sorted({k for e in kws for k in (getattr(e, "groups", None) or {})})
    for k in names:
        cols[k] = [str((getattr(e, "groups", None) or {}).get(k, "")) for e in kws]
    return {k: np.array(v, dtype=str) for k, v in cols.items() if any(v)}


def group_frr(curve, groups: Mapping[str, np.ndarray], fa_h: float = 0.5, *, n_boot: int = 1000, seed: int = 0,
              worst_speakers: Sequence[str] | None = None, ref_missed: np.ndarray | None = None) -> dict:
    """FRR per group at the threshold tuned to ``fa_h`` FA/h, with bootstrap CIs, and on the worst-decile speakers.

    Args:
        curve: :class:`voxquant.eval.streaming.DetCurve` of one detector on one stream (``hits [K, E]``).
        groups: ``{column: str [E]}`` per keyword event in the curve's order (:func:`keyword_groups`); ``""`` =
            unknown (left out of that column).
        fa_h: FA/h target of the operating point.
        n_boot, seed: bootstrap resamples and seed.
        worst_speakers: the speakers of the worst-decile group, chosen on the *reference* (fp32) detector so the
            selection does not favour the variant (``None``: rank this detector's own speakers, i.e. this is the
            reference).
        ref_missed: ``bool [E]`` misses of the reference at its own tuned threshold, for ``frr_ref`` of the
            worst-decile entry (``None``: this detector's).

    Returns:
        ``{"fa_per_hour", "threshold", "columns": {column: [{"group", "n", "frr", "ci95"}]}, "worst_decile_speakers":
        {"speakers", "n_speakers", "n", "frr", "ci95", "frr_ref"} | None}``; ``threshold`` ``None`` (and no
        columns) when no swept threshold reaches ``fa_h``.

    Raises:
        ConfigError: a group column whose length is not the curve's number of keyword events.
    """
    n_kw = int(curve.hits.shape[1])
    for col, vals in groups.items():
        if len(vals) != n_kw:
            raise ConfigError(f"group column {col!r} has {len(vals)} values for {n_kw} keyword events")
    j = tuned_index(curve, fa_h)
    out: dict = {"fa_per_hour": float(fa_h), "threshold": None, "columns": {}, "worst_decile_speakers": None}
    if j is None:
        return out
    missed = ~np.asarray(curve.hits[j], dtype=bool)
    cl = getattr(curve, "clusters", None)  # resample speakers / source clips, not placements
    out["threshold"] = float(curve.thresholds[j])
    for col, vals in groups.items():
        vals = np.asarray(vals).astype(str)
        rows = []
        for g in sorted(set(vals.tolist()) - {""}):
            idx = vals == g
            frr, lo, hi = frr_ci(missed[idx], n_boot, seed=seed, clusters=None if cl is None else cl[idx])
            rows.append({"group": g, "n": int(idx.sum()), "frr": frr, "ci95": [lo, hi]})
        out["columns"][col] = rows
    spk = np.asarray(groups.get("speaker", np.array([], dtype=str))).astype(str)
    known = sorted(set(spk.tolist()) - {""})
    if known:
        ref = missed if ref_missed is None else np.asarray(ref_missed, dtype=bool)
        if worst_speakers is None:
            frr_ref = {s: float(ref[spk == s].mean()) for s in known}
            k = max(1, int(round(WORST_SHARE * len(known))))
            worst_speakers = sorted(known, key=lambda s: (-frr_ref[s], s))[:k]
        idx = np.isin(spk, list(worst_speakers))
        if idx.any():
            frr, lo, hi = frr_ci(missed[idx], n_boot, seed=seed, clusters=None if cl is None else cl[idx])
            out["worst_decile_speakers"] = {"speakers": list(worst_speakers), "n_speakers": len(known),
                                            "n": int(idx.sum()), "frr": frr, "ci95": [lo, hi],
                                            "frr_ref": float(ref[idx].mean())}
    return out


__all__ = ["WORST_SHARE", "frr_ci", "group_frr", "keyword_groups", "tuned_index"]
