"""Architecture study (``voxquant study architectures``): do recurrent and attention layers lose more under int8?

For each architecture of :data:`voxquant.studies.models.ARCH_SPECS` (DS-CNN, CRNN, tiny KWT, BC-ResNet-1; the
weights committed under ``src/voxquant/models/weights``) the study runs :func:`voxquant.pipeline.run` with the
recipes fp32, fp16, int8 dynamic, int8 static PTQ (MinMax), int8 QAT and mixed precision (worst-slice budget) on
the full ``eval`` split and every slice, then writes **one table**: architecture x variant -> clean accuracy on
``eval``, worst-slice drop vs the architecture's own fp32 with its paired bootstrap 95 % CI, p50 end-to-end and
model-only latency (ONNX Runtime, 1 thread), file size, and the ops that stayed float in the ONNX graph
(:func:`voxquant.quant.sensitivity.float_ops`).

Every architecture's run is a resumable ``voxquant run`` folder (``<out>/<arch>/``); re-running the study
recomputes nothing finished. The table goes to ``<out>/architectures.md`` and ``architectures.json``.

Budget (2 cores): defaults keep the study under 30 minutes on an idle 2-core machine by measuring latency at 1
thread only (200 runs), a 2-epoch QAT and a mixed-precision search that ranks layers by output KL divergence on
200 dev clips (:mod:`voxquant.quant.mixed`), keeps at most 16 layers in float (BC-ResNet-1 has 113 quantized
layers: uncapped, its greedy search was still running after 13 minutes when stopped; a capped search that stops
short of the budget is reported as "budget not met") and skips the NNCF / RKNN comparators (those are in
``voxquant run --recipes ptq,qat,mixed``).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

STUDY_RECIPES = ("fp32", "fp16", "int8_dynamic", "int8_static_minmax", "qat", "mixed")


@dataclass
class ArchStudyConfig:
    """Configuration of the architecture study.

    Attributes:
        out_dir: output folder.
        archs: study architectures (keys of :data:`voxquant.studies.models.ARCH_SPECS`).
        recipes: variants per architecture.
        max_drop: mixed-precision budget (pp, worst slice).
        budget: ``"worst-slice"`` or ``"mean"``.
        qat_epochs: QAT fine-tuning epochs.
        threads: latency thread counts (first = headline).
        latency_runs: timed runs per latency measurement.
        limit: eval clips (``None`` = all; tests use a few).
        calib_n: calibration clips.
        n_boot: bootstrap resamples.
        mixed_options: extra options of the mixed recipe.
        qat_options: extra options of the QAT recipe.
        data_root, test_set: data location.
        progress: progress bars.
    """

    out_dir: Path = Path("runs/study-architectures")
    archs: tuple = ("dscnn", "crnn", "kwt", "bcresnet1")
    recipes: tuple = STUDY_RECIPES
    max_drop: float = 0.5
    budget: str = "worst-slice"
    qat_epochs: int = 2
    threads: tuple = (1,)
    latency_runs: int = 200
    limit: int | None = None
    calib_n: int = 200
    n_boot: int = 1000
    mixed_options: dict = field(default_factory=lambda: {"nncf": False, "rknn": False, "rank_limit": 200,
                                                         "max_float": 16, "sensitivity_modes": ("exclude",)})
    qat_options: dict = field(default_factory=dict)
    data_root: Path | None = None
    test_set: Path | None = None
    progress: bool = True

    def to_dict(self) -> dict:
        """The configuration as plain JSON types (recorded in the results)."""
        from voxquant.report.store import to_jsonable

        return to_jsonable(asdict(self))


def run_study(cfg: ArchStudyConfig | None = None) -> dict:
    """Run (or resume) the study and write ``architectures.md`` / ``architectures.json`` in ``cfg.out_dir``.

    Returns:
        ``{"config", "rows": [one per architecture x variant], "models": {...}, "seconds"}``.

    Raises:
        ConfigError: unknown architecture. ModelError: weights missing (train them with
        ``voxquant study train-models``).
    """
    from voxquant.errors import ModelError
    from voxquant.pipeline import RunConfig, run
    from voxquant.report.store import write_json_atomic, write_text_atomic
    from voxquant.studies.models import get_spec

    cfg = cfg or ArchStudyConfig()
    t0 = time.time()
    out = Path(cfg.out_dir)
    specs = [get_spec(a) for a in cfg.archs]
    for s in specs:
        if not s.weights_path.is_file():
            raise ModelError("weights of the study architecture not found", s.weights_path,
                             hint=f"train them: voxquant study train-models --archs {s.name}")
    rows, models = [], {}
    for s in specs:
        rc = RunConfig(out_dir=out / s.name, model=s.weights_path, recipes=tuple(cfg.recipes), threads=tuple(cfg.threads),
                       latency_runs=cfg.latency_runs, latency_warmup=20, n_boot=cfg.n_boot, limit=cfg.limit,
                       calib_n=cfg.calib_n, max_drop=cfg.max_drop, data_root=cfg.data_root, test_set=cfg.test_set,
                       progress=cfg.progress,
                       recipe_options={"mixed": {"max_drop": cfg.max_drop, "budget": cfg.budget, **cfg.mixed_options},
                                       "qat": {"epochs": cfg.qat_epochs, **cfg.qat_options}})
        res = run(rc)
        meta = json.loads(s.weights_path.with_suffix(".json").read_text())
        models[s.name] = {"arch": s.arch, "description": s.description, "n_parameters": meta.get("n_parameters"),
                          "frontend": meta["frontend"].get("name"), "epochs_run": meta.get("epochs_run"),
                          "train_seconds": meta.get("train_seconds"), "holdout_accuracy": meta.get("holdout_accuracy")}
        rows.extend(arch_rows(s.name, res, out / s.name))
    summary = {"config": cfg.to_dict(), "models": models, "rows": rows, "seconds": time.time() - t0}
    write_json_atomic(out / "architectures.json", summary)
    write_text_atomic(out / "architectures.md", architectures_markdown(summary))
    return summary


def arch_rows(name: str, results: dict, run_dir: Path) -> list[dict]:
    """One row per variant of one architecture's ``voxquant run`` results (+ float ops read from its ONNX files)."""
    from voxquant.quant.sensitivity import float_ops

    rows = []
    for v in results["variants"]:
        path = run_dir / "models" / f"model.{v['name']}.onnx"
        ops = float_ops(path) if path.is_file() and v["status"] == "ok" else None
        side = path.with_suffix(".json")
        float_layers, search = None, None
        if v["name"] == "mixed" and side.is_file():
            sc = json.loads(side.read_text())
            float_layers = [f["layer"] for f in sc.get("float_layers", [])]
            search = {"met": sc.get("met"), "stop": sc.get("stop"), "n_layers": sc.get("n_layers"),
                         "dev_worst": (sc.get("dev_mixed") or {}).get("_worst"), "seconds": sc.get("seconds")}
        lat = v.get("latency_ms") or {}
        rows.append({"arch": name, "variant": v["name"], "status": v["status"], "error": v.get("error"),
                     "accuracy": v.get("accuracy"), "worst_slice": v.get("worst_slice"),
                     "mean_drop": (sum(s["drop"] for s in v["slices"]) / len(v["slices"])) if v.get("slices") else None,
                     "p50_ms": lat.get("p50"), "model_p50_ms": lat.get("model_p50"), "size_bytes": v.get("size_bytes"),
                     "float_ops": ops["float"] if ops else None, "int8_ops": ops["int8"] if ops else None,
                     "mixed_float_layers": float_layers, "mixed_search": search, "kernel_warning": v.get("kernel_warning")})
    return rows


def architectures_markdown(summary: dict) -> str:
    """The architecture table as markdown (what ``docs/studies.md`` quotes)."""
    from voxquant.quant.sensitivity import format_ops
    from voxquant.studies.common import fmt_drop, md_table

    head = ["architecture", "variant", "eval acc %", "worst-slice drop pp [95% CI] (slice)", "mean drop pp",
            "p50 ms e2e / model (1 thr)", "size kB", "ops still float"]
    rows = []
    for r in summary["rows"]:
        if r["status"] != "ok":
            rows.append([r["arch"], r["variant"], "failed", (r.get("error") or "")[:80], "", "", "", ""])
            continue
        ws = r["worst_slice"]
        ws_txt = "0 (reference)" if r["variant"] == "fp32" else (f"{fmt_drop(ws)} ({ws['name']})" if ws else "-")
        lat = "-" if r["p50_ms"] is None else f"{r['p50_ms']:.2f} / {r['model_p50_ms']:.3f}"
        fl = format_ops(r["float_ops"]) if r["variant"] not in ("fp32", "fp16") else "all"
        if r.get("mixed_float_layers"):
            fl += f" (kept float: {', '.join(r['mixed_float_layers'])})"
        ms = r.get("mixed_search")
        if ms:
            dev = "" if ms.get("dev_worst") is None else f", dev worst-slice drop {ms['dev_worst']:+.2f}"
            fl += (f" [search: {len(r.get('mixed_float_layers') or [])} of {ms.get('n_layers')} layers float; "
                   f"{'budget met' if ms.get('met') else 'budget NOT met: ' + str(ms.get('stop'))}{dev}]")
        if r.get("kernel_warning"):
            fl += " [kernel warning]"
        rows.append([r["arch"], r["variant"], f"{100 * r['accuracy']:.2f}", ws_txt,
                     "-" if r["mean_drop"] is None else f"{r['mean_drop']:+.2f}", lat, f"{r['size_bytes'] / 1024:.1f}", fl])
    models = "".join(f"* `{k}`: {m['description']}; {m['n_parameters']:,} parameters; front-end {m['frontend']}; "
                     f"{m['epochs_run']} epochs ({(m['train_seconds'] or 0) / 60:.1f} min); held-out dev accuracy "
                     f"{100 * (m['holdout_accuracy'] or 0):.1f} %\n" for k, m in summary["models"].items())
    return models + "\n" + md_table(head, rows)


__all__ = ["ArchStudyConfig", "STUDY_RECIPES", "arch_rows", "architectures_markdown", "run_study"]
