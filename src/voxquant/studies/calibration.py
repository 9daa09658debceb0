"""Calibration-data study (``voxquant study calibration``): does poor calibration data explain most int8 drops?

One float model (default: the bundled DS-CNN) is quantized with ONNX Runtime static int8 (QDQ, per-channel weights,
``reduce_range`` on x86 without VNNI: the ``int8_static_<method>`` recipes) using calibration sets that differ in

* **composition** (all from ``dev`` unless said otherwise; speech never from ``eval``):

  - ``clean``: clean dev clips, stratified over the 12 classes and all dev speakers (the ``voxquant run`` default);
  - ``noise``: the same kind of clips with real background noise added (probability 0.8, SNR uniform 0-20 dB,
    noise from the *first* half of each recording - the eval noise slices use the second half);
  - ``noise_reverb``: as ``noise``, after reverberation (probability 0.5) with the *training* RIRs of
    :func:`voxquant.models.zoo_default.rir_split` (seminar room, studio);
  - ``few_speakers``: clean clips from only the 4 dev speakers with the most clips (low speaker diversity,
    no ``_silence_``), drawn by the same stratified sampler over the classes those speakers recorded: a
    speaker-mismatched calibration set;
  - ``unseen_speakers``: clean clips of ``speech_commands_v0.02_extra`` from speakers of the official train /
    validation partitions (the 39 extra clips of test-set speakers are dropped, so none of these speakers is in
    ``dev`` or ``eval``); keywords plus 25 other words, no ``_silence_``; at most 311 clips;

* **size**: 32, 128, 512 clips (``unseen_speakers`` has only 311: its 512 row uses 311);
* **method**: MinMax, Entropy, Percentile (99.999).

Every variant is scored on the ``eval`` slices of ``voxquant run`` (clean, noise at 20/10/5/0 dB, each real RIR,
far field): accuracy per slice, drop vs fp32 on the same clips with a paired bootstrap 95 % CI.
Each variant is one cell of a :class:`~voxquant.report.store.ResultStore` (resumable); ``calibration.md`` /
``calibration.json`` summarise the cells, including the spread of the mean drop explained by each factor.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from voxquant.errors import ConfigError
from voxquant.progress import step_bar

COMPOSITIONS = ("clean", "noise", "noise_reverb", "few_speakers", "unseen_speakers")
SIZES = (32, 128, 512)
METHODS = ("minmax", "entropy", "percentile")


@dataclass
class CalibStudyConfig:
    """Configuration of the calibration study (recorded in ``calibration.json``).

    Attributes:
        out_dir: output folder (cells, models, tables).
        model: voxquant weights (``None`` = bundled DS-CNN).
        compositions, sizes, methods: the grid (full factorial).
        seed: seed of the calibration draws and of the slices / bootstrap.
        snrs: eval noise SNRs.
        limit: evaluate on at most this many eval clips (stratified; ``None`` = all 2,604).
        n_boot: bootstrap resamples.
        threads: ONNX Runtime threads for evaluation.
        few_speakers: number of speakers of the ``few_speakers`` composition.
        data_root, test_set: data location.
        progress: progress bar.
    """

    out_dir: Path = Path("runs/study-calibration")
    model: Path | None = None
    compositions: tuple = COMPOSITIONS
    sizes: tuple = SIZES
    methods: tuple = METHODS
    seed: int = 0
    snrs: tuple = (20, 10, 5, 0)
    limit: int | None = None
    n_boot: int = 1000
    threads: int = 2
    few_speakers: int = 4
    data_root: Path | None = None
    test_set: Path | None = None
    progress: bool = True

    def to_dict(self) -> dict:
        """The configuration as plain JSON types (recorded in the results)."""
        from voxquant.report.store import to_jsonable

        return to_jsonable(asdict(self))


def calibration_waves(composition: str, size: int, frontend, seed: int = 0, data_root=None, test_set=None,
                      few_speakers: int = 4) -> tuple[np.ndarray, dict]:
    """Build one calibration set's audio.

    Args:
        composition: one of :data:`COMPOSITIONS`.
        size: wanted number of clips (capped by what exists).
        frontend: the model's front-end (sample rate, clip length).
        seed: draw seed (the same seed gives the same clean clips for ``clean``/``noise``/``noise_reverb``,
            so the three differ only in the corruption).

    Returns:
        ``(waves float32 [n, S], info)`` with ``info = {"n", "speakers", "source"}``.

    Raises:
        ConfigError: unknown composition. DataError: data missing.
    """
    from voxquant.data import Augmenter, load_manifest, load_noise_bank, load_rir_bank, load_waves, speech_commands_test, split_dev_eval
    from voxquant.data.slices import stratified_indices
    from voxquant.models.zoo_default import rir_split, split_noise_bank
    from voxquant.paths import data_root as default_root

    if composition not in COMPOSITIONS:
        raise ConfigError(f"unknown calibration composition '{composition}'", hint=f"known: {', '.join(COMPOSITIONS)}")
    sr, n_s = frontend.sample_rate, frontend.clip_samples
    if composition == "unseen_speakers":
        root = Path(data_root) if data_root else default_root()
        extra = load_manifest(root / "speech_commands_v0.02_extra")
        test_speakers = set(speech_commands_test(test_set or data_root).speakers())
        # 39 extra clips come from the official test list (22 of them from eval speakers): never use them
        extra = extra.subset(np.array([c.speaker not in test_speakers for c in extra.clips]), name="extra (non-test speakers)")
        idx = stratified_indices(extra.label_ids(), size, seed)
        sub = extra.subset(idx, name=f"extra[{len(idx)}]")
        overlap = len(set(sub.speakers()) & test_speakers)
        return load_waves(sub, sr, n_s, progress=False), {
            "n": len(sub), "speakers": len(sub.speakers()), "source": "speech_commands_v0.02_extra",
            "speakers_in_test_set": overlap}
    dev, _ = split_dev_eval(speech_commands_test(test_set or data_root))
    if composition == "few_speakers":
        counts: dict = {}
        for c in dev.clips:
            if c.speaker:
                counts[c.speaker] = counts.get(c.speaker, 0) + 1
        top = sorted(counts, key=lambda s: (-counts[s], s))[:few_speakers]
        pool = np.array([i for i, c in enumerate(dev.clips) if c.speaker in top])
        idx = pool[stratified_indices(dev.label_ids()[pool], size, seed)]
        sub = dev.subset(idx, name=f"dev few speakers[{len(idx)}]")
        return load_waves(sub, sr, n_s, progress=False), {"n": len(sub), "speakers": len(top), "source": "dev",
                                                          "speaker_ids": top, "pool": int(len(pool))}
    idx = stratified_indices(dev.label_ids(), size, seed)
    sub = dev.subset(idx, name=f"dev calib[{len(idx)}]")
    waves = load_waves(sub, sr, n_s, progress=False)
    info = {"n": len(sub), "speakers": len(sub.speakers()), "source": "dev (stratified)"}
    if composition == "clean":
        return waves, info
    noise, _ = split_noise_bank(load_noise_bank(data_root, sample_rate=sr))
    rirs = rir_split(load_rir_bank(data_root, sample_rate=sr))[0] if composition == "noise_reverb" else {}
    aug = Augmenter(noise_bank=noise, rirs=rirs, sample_rate=sr, shift_ms=0.0, noise_prob=0.8, snr_db=(0.0, 20.0),
                    gain_db=(0.0, 0.0), reverb_prob=0.5 if rirs else 0.0)
    info.update(noise="first half of each real recording, p=0.8, SNR U(0, 20) dB",
                reverb=f"training RIRs {sorted(rirs)}, p=0.5" if rirs else None)
    return aug(waves, np.random.default_rng([seed, 17])), info


def run_study(cfg: CalibStudyConfig | None = None) -> dict:
    """Run (or resume) the calibration study; writes ``calibration.json`` and ``calibration.md`` in ``cfg.out_dir``.

    Returns:
        The summary dict (config, fp32 accuracy per slice, one row per variant with per-slice entries).
    """
    from voxquant.audio.frontend import compute_features
    from voxquant.backends.onnxruntime import OrtSession
    from voxquant.engine import predict
    from voxquant.models.source import load_model
    from voxquant.quant import get_recipe
    from voxquant.quant.export import export_onnx
    from voxquant.report import ResultStore, make_slice
    from voxquant.report.store import write_json_atomic, write_text_atomic
    from voxquant.studies.common import eval_slices

    cfg = cfg or CalibStudyConfig()
    for m in cfg.methods:
        if m not in METHODS:
            raise ConfigError(f"unknown calibration method '{m}'", hint=f"known: {', '.join(METHODS)}")
    t0 = time.time()
    out = Path(cfg.out_dir)
    store = ResultStore(out)
    model, meta = load_model(cfg.model)
    fe, labels = meta["frontend"], meta["labels"]
    fp32 = out / "models" / "model.fp32.onnx"
    if not fp32.is_file():
        export_onnx(model, model.example_input(), fp32)
    data, specs, ev = eval_slices(fe, labels, cfg.data_root, cfg.test_set, cfg.seed, cfg.snrs, limit=cfg.limit,
                                  cache_dir=out / "cache", progress=cfg.progress)
    names = [s[0] for s in specs]

    def correct(path: Path) -> dict:
        sess = OrtSession(path, threads=cfg.threads)
        return {k: predict(sess, x) == data.y for k, x in data.x.items()}

    if not all(store.has_array(f"fp32/{n}") for n in names):
        for k, v in correct(fp32).items():
            store.put_array(f"fp32/{k}", v)
    ref = {n: store.get_array(f"fp32/{n}") for n in names}
    grid = list(itertools.product(cfg.compositions, cfg.sizes, cfg.methods))
    bar = step_bar("calibration study", cfg.progress, len(grid))
    for i, (comp, size, method) in enumerate(grid):
        key = f"variant/{comp}/{size}/{method}"
        if not store.has(key):
            tv = time.time()
            waves, info = calibration_waves(comp, size, fe, cfg.seed, cfg.data_root, cfg.test_set, cfg.few_speakers)
            calib = compute_features(waves, fe)[:, None]
            path = out / "models" / f"model.{comp}.{size}.{method}.onnx"
            get_recipe(f"int8_static_{method}").fn(fp32, path, calib)
            for k, v in correct(path).items():
                store.put_array(f"acc/{comp}/{size}/{method}/{k}", v)
            store.put(key, {"calibration": info, "size_bytes": path.stat().st_size, "seconds": time.time() - tv})
            path.unlink()  # the models are cheap to rebuild; keep the study folder small
        bar(i, f"{comp} {size} {method}")
    bar(None, "")
    rows = []
    for comp, size, method in grid:
        cell = store.get(f"variant/{comp}/{size}/{method}")
        slices = [make_slice(n, ref[n], store.get_array(f"acc/{comp}/{size}/{method}/{n}"), n_boot=cfg.n_boot, seed=cfg.seed)
                  for n in names]
        worst = max(slices, key=lambda s: s["drop"])
        rows.append({"composition": comp, "size": size, "method": method, "calibration": cell["calibration"],
                     "accuracy": slices[0]["accuracy"], "mean_drop": float(np.mean([s["drop"] for s in slices])),
                     "worst": {"name": worst["name"], "drop": worst["drop"], "ci95": worst["ci95"]}, "slices": slices})
    summary = {"config": cfg.to_dict(), "model": {"arch": meta.get("arch"), "weights": str(cfg.model or "bundled dscnn_sc12.pt")},
               "eval_clips": int(len(data.y)), "slices": names,
               "fp32": {n: float(ref[n].mean()) for n in names}, "rows": rows, "factors": factor_spread(rows),
               "seconds": time.time() - t0}
    write_json_atomic(out / "calibration.json", summary)
    write_text_atomic(out / "calibration.md", calibration_markdown(summary))
    return summary


def factor_spread(rows: list[dict]) -> dict:
    """How much each factor moves the drops: for each factor, the marginal mean of the mean-over-slices drop and
    of the worst-slice drop per level, and their range (max - min, pp)."""
    out = {}
    for f in ("composition", "size", "method"):
        levels = list(dict.fromkeys(r[f] for r in rows))
        mean_by = {str(l): float(np.mean([r["mean_drop"] for r in rows if r[f] == l])) for l in levels}
        worst_by = {str(l): float(np.mean([r["worst"]["drop"] for r in rows if r[f] == l])) for l in levels}
        out[f] = {"mean_drop_by_level": mean_by, "worst_drop_by_level": worst_by,
                  "range_mean_drop": max(mean_by.values()) - min(mean_by.values()) if mean_by else 0.0,
                  "range_worst_drop": max(worst_by.values()) - min(worst_by.values()) if worst_by else 0.0}
    return out


def calibration_markdown(summary: dict) -> str:
    """The study's tables as markdown (what ``docs/studies.md`` quotes)."""
    from voxquant.studies.common import fmt_drop, md_table

    names = summary["slices"]
    short = {n: n.replace("noise_snr", "snr").replace("reverb_", "rv:") for n in names}
    head = ["composition", "n", "method", "clean acc %", "mean drop pp", "worst-slice drop pp [95% CI] (slice)"] + \
           [short[n] for n in names[1:]]
    rows = []
    for r in summary["rows"]:
        rows.append([r["composition"], r["calibration"]["n"], r["method"], f"{100 * r['accuracy']:.2f}",
                     f"{r['mean_drop']:+.2f}", f"{fmt_drop(r['worst'])} ({short[r['worst']['name']]})"]
                    + [f"{s['drop']:+.2f}" for s in r["slices"][1:]])
    fp = summary["fp32"]
    txt = (f"fp32 reference ({summary['eval_clips']} eval clips): clean {100 * fp[names[0]]:.2f} %, "
           + ", ".join(f"{short[n]} {100 * fp[n]:.2f} %" for n in names[1:]) + ".\n\n")
    txt += md_table(head, rows)
    txt += "\nFactor spread (marginal means over the other two factors; pp):\n\n"
    frows = []
    for f, d in summary["factors"].items():
        lv = ", ".join(f"{k}: {v:+.2f}" for k, v in d["mean_drop_by_level"].items())
        lw = ", ".join(f"{k}: {v:+.2f}" for k, v in d["worst_drop_by_level"].items())
        frows.append([f, lv, f"{d['range_mean_drop']:.2f}", lw, f"{d['range_worst_drop']:.2f}"])
    txt += md_table(["factor", "mean drop by level", "range", "worst-slice drop by level", "range"], frows)
    others = [r for r in summary["rows"] if r["method"] != "entropy"]
    if others and len(others) < len(summary["rows"]):
        txt += "\nThe same without the Entropy rows (MinMax and Percentile only):\n\n"
        frows = []
        for f, d in factor_spread(others).items():
            lv = ", ".join(f"{k}: {v:+.2f}" for k, v in d["mean_drop_by_level"].items())
            lw = ", ".join(f"{k}: {v:+.2f}" for k, v in d["worst_drop_by_level"].items())
            frows.append([f, lv, f"{d['range_mean_drop']:.2f}", lw, f"{d['range_worst_drop']:.2f}"])
        txt += md_table(["factor", "mean drop by level", "range", "worst-slice drop by level", "range"], frows)
    return txt


__all__ = ["COMPOSITIONS", "METHODS", "SIZES", "CalibStudyConfig", "calibration_markdown", "calibration_waves",
           "factor_spread", "run_study"]
