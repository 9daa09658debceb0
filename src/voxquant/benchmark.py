"""``voxquant benchmark --formats all``: ``voxquant run --backends all`` with the backend table's view of it.

There is no second evaluation loop: the benchmark is a :class:`~voxquant.pipeline.RunConfig` whose backends are
the ``--formats`` and whose recipes are the ones every backend implements (``fp32``, ``fp16``, dynamic int8,
static int8 MinMax; :data:`voxquant.engine.RECIPE_PRECISION`), run by :func:`voxquant.pipeline.run`. The same
slices, CIs, McNemar p, latency and verdicts as ``voxquant run`` (same ``results.json``, same report); this module
only prints the rows as one table per backend x precision with a status symbol:

* ``✅ ok``: ran here and within the budget (:func:`voxquant.eval.rules.within_budget`: the worst slice's 95 % CI
  upper bound of the drop vs fp32 is at most ``max_drop`` pp);
* ``❎ accuracy``: ran here, not provably within the budget;
* ``❌ failed``: could not build or run (missing toolchain, converter error): the reason is in the row;
* ``⬜ export-only``: built and checked, but no runtime for it exists here (TensorRT without a GPU, QNN, Edge TPU).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from voxquant.eval.rules import within_budget

SYMBOLS = {"ok": "✅", "accuracy": "❎", "failed": "❌", "export-only": "⬜"}
#: The recipes of the benchmark: the ones every backend builds with its own toolchain.
BENCH_RECIPES = ("fp32", "fp16", "int8_dynamic", "int8_static_minmax")
HEADERS = ["backend", "precision", "status", "size", "accuracy", "worst slice drop pp [95% CI]", "int8 MACs",
           "p50 model ms", "p50 e2e ms", "notes"]


@dataclass
class BenchmarkConfig:
    """What ``voxquant benchmark`` needs (the rest are :class:`~voxquant.pipeline.RunConfig` defaults).

    Attributes:
        out_dir: output folder (a run folder: resumable, fingerprinted). model: as ``voxquant run --model``.
        formats: ``"all"`` or a comma list of backends. limit: eval clips (stratified; ``None`` = all of ``eval``).
        calib_n: calibration clips from ``dev``. snrs: noise slices (dB). runs/warmup/threads: latency.
        max_drop: budget (pp). data_root: data root. seed: sampling seed. frontend: preset for a bare model.
    """

    out_dir: Path = Path("runs/benchmark")
    model: Path | None = None
    formats: str = "all"
    limit: int | None = None
    calib_n: int = 200
    snrs: tuple = (20, 10, 5, 0)
    runs: int = 200
    warmup: int = 20
    threads: int = 1
    max_drop: float = 1.0
    data_root: Path | None = None
    seed: int = 0
    progress: bool = True
    frontend: str | None = None

    def validate(self) -> "BenchmarkConfig":
        """Check every field before any work (named by its ``voxquant benchmark`` option): ``--limit`` ``None`` or
        >= 1, ``--calib-n`` >= 1, ``--snrs`` finite within :attr:`voxquant.pipeline.RunConfig.SNR_RANGE` dB,
        ``--runs`` >= 1, ``--warmup`` >= 0, ``--threads`` >= 1, ``--max-drop`` finite in [0, 100] pp, ``--seed``
        in [0, 2**32 - 1], ``--formats`` non-empty, ``--out`` writable (:func:`voxquant.paths.ensure_writable_dir`).

        Returns:
            ``self``.

        Raises:
            ConfigError: the first bad option, naming it and the value.
        """
        from voxquant.errors import ConfigError, check_int, check_number
        from voxquant.paths import ensure_writable_dir
        from voxquant.pipeline import RunConfig

        if self.limit is not None:
            check_int(self.limit, "--limit", 1)
        check_int(self.calib_n, "--calib-n", 1)
        for s in self.snrs:
            check_number(s, "--snrs (dB)", *RunConfig.SNR_RANGE)
        check_int(self.runs, "--runs", 1)
        check_int(self.warmup, "--warmup", 0)
        check_int(self.threads, "--threads", 1, 4096)
        check_number(self.max_drop, "--max-drop (pp)", 0.0, 100.0)
        check_int(self.seed, "--seed", 0, 2**32 - 1)
        if not isinstance(self.formats, str) or not self.formats.strip(" ,"):
            raise ConfigError(f"--formats: must be 'all' or a comma list of backends, got {self.formats!r}")
        ensure_writable_dir(self.out_dir, "--out")
        return self


def row_status(v: dict, max_drop: float) -> str:
    """``ok`` / ``accuracy`` / ``failed`` / ``export-only`` of a ``results.json`` variant row."""
    from voxquant.report.results import variant_worst_hi

    if v.get("export_only"):
        return "export-only"
    if v.get("status") != "ok":
        return "failed"
    hi = variant_worst_hi(v, is_reference=v.get("recipe") == "fp32" and v.get("backend") == "onnxruntime")
    return "ok" if within_budget(hi, max_drop) else "accuracy"


def row_cells(v: dict, max_drop: float) -> list[str]:
    """One table row (strings) of a ``results.json`` variant."""
    st = row_status(v, max_drop)
    size = "—" if v.get("size_bytes") is None else f"{v['size_bytes'] / 1024:.1f} KiB"
    acc = "—" if v.get("accuracy") is None else f"{100 * v['accuracy']:.2f}%"
    ws = v.get("worst_slice") or {}
    worst = "—"
    if ws.get("name") is not None and ws.get("drop") is not None:
        ci = ws.get("ci95") or [None, None]
        worst = f"{ws['name']} {ws['drop']:+.2f}" + (f" [{ci[0]:+.2f}, {ci[1]:+.2f}]" if None not in ci else "")
    share = v.get("int8_mac_share")
    share_s = "—" if share is None else f"{100 * share:.0f}%"
    lat = v.get("latency_ms") or {}
    mp = f"{lat['model_p50']:.3f}" if lat.get("model_p50") is not None else "n/m"
    ep = f"{lat['p50']:.3f}" if lat.get("p50") is not None else "n/m"
    sp = v.get("model_speedup_vs_fp32")
    flag = f"SLOWER than fp32 ({sp:.2f}x)" if v.get("slower_than_fp32") else (f"{sp:.2f}x vs fp32" if sp else "")
    notes = [flag, v.get("error") or "" if st in ("failed", "export-only") else "", v.get("check_summary") or "",
             "" if lat else (v.get("latency_error") or "")]
    note = "; ".join(x for x in notes if x)
    prec = v.get("precision") or ""
    return [v.get("backend", ""), prec, f"{SYMBOLS[st]} {st}", size, acc, worst, share_s, mp, ep, note]


def benchmark_markdown(results: dict, max_drop: float = 1.0) -> str:
    """The backend table of a ``results.json`` dict as Markdown (logs, closing notes, CI)."""
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    for v in results.get("variants", []):
        lines.append("| " + " | ".join(c.replace("|", "/") for c in row_cells(v, max_drop)) + " |")
    return "\n".join(lines)


def benchmark_table(results: dict, max_drop: float = 1.0):
    """A ``rich.table.Table`` of the rows."""
    from rich.table import Table

    t = Table(title=f"voxquant benchmark (budget {max_drop:g} pp vs ONNX Runtime fp32; worst slice upper CI bound)")
    for h in HEADERS:
        t.add_column(h, overflow="fold")
    for v in results.get("variants", []):
        t.add_row(*row_cells(v, max_drop))
    return t


def benchmark_cli(cfg: BenchmarkConfig) -> dict:
    """``voxquant benchmark``: :func:`voxquant.pipeline.run` with ``backends = formats`` and
    :data:`BENCH_RECIPES`; writes the run folder (``results.json``, ``report.html``...) plus ``benchmark.md``, and
    prints the table (Markdown when stdout is not a terminal).

    Returns:
        the ``results.json`` dict.

    Raises:
        ConfigError: a bad option (:meth:`BenchmarkConfig.validate`), before any work.
        VoxquantError: missing data / bad model / unknown format (one clear line).
    """
    import sys

    from voxquant.engine import parse_backends
    from voxquant.pipeline import RunConfig, run

    cfg.validate()
    backends = tuple(parse_backends(cfg.formats))  # fail fast on a typo
    rc = RunConfig(out_dir=Path(cfg.out_dir), model=cfg.model, frontend=cfg.frontend, recipes=BENCH_RECIPES,
                   backends=backends, snrs=tuple(cfg.snrs), calib_n=cfg.calib_n, seed=cfg.seed,
                   threads=(int(cfg.threads),), latency_runs=cfg.runs, latency_warmup=cfg.warmup,
                   max_drop=cfg.max_drop, limit=cfg.limit, data_root=cfg.data_root, progress=cfg.progress)
    res = run(rc)
    md = benchmark_markdown(res, cfg.max_drop)
    from voxquant.atomic import write_text_atomic

    write_text_atomic(Path(cfg.out_dir) / "benchmark.md", md + "\n")
    if cfg.progress:
        if sys.stdout.isatty():
            from rich.console import Console

            Console().print(benchmark_table(res, cfg.max_drop))
        else:
            print(md)
    return res


__all__ = ["BENCH_RECIPES", "BenchmarkConfig", "benchmark_cli", "benchmark_markdown", "benchmark_table",
           "row_cells", "row_status"]
