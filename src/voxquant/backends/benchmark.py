"""One benchmark table over every backend x precision (``voxquant benchmark --formats all``).

For each row of :mod:`voxquant.backends.table` and each of its precisions: build the artefact, run it where a
runtime exists here (accuracy on the eval features and on every slice, drop vs the ONNX Runtime fp32 reference
on the same clips), measure p50 model-only and end-to-end latency at 1 thread in a fresh process
(:func:`voxquant.eval.latency.measure_latency`), and flag every reduced-precision row (int8, fp16) whose model-only
p50 is slower than the same runtime's fp32 (``speedup_vs_fp32`` = fp32 p50 / row p50; < 1 = slower).

Status of a row:

* ``✅ ok``: built, ran, and its accuracy drop vs fp32 is within ``max_drop`` percentage points;
* ``❎ accuracy``: built and ran, but the drop exceeds ``max_drop``;
* ``❌ failed``: could not build or run (missing toolchain, converter error): the reason is in the row;
* ``⬜ export-only``: the artefact was built and checked but no runtime for it exists here (TensorRT without a
  GPU, QNN, Edge TPU); accuracy/latency are not measured.

Latency of RKNN rows is "not measured" (the x86 simulator is not the NPU); RKNN accuracy comes from the simulator.
No number in the table is estimated.
"""

from __future__ import annotations

import html as _html
import inspect
import json
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from voxquant.errors import ConfigError, VoxquantError

SYMBOLS = {"ok": "✅", "accuracy": "❎", "failed": "❌", "export-only": "⬜"}
ALL = ("onnx", "tflite", "edgetpu", "rknn", "openvino", "tensorrt", "qnn")


@dataclass
class BenchRow:
    """One backend x precision.

    Attributes:
        backend, argument, precision, target: which row. status: ``ok`` / ``accuracy`` / ``failed`` /
        ``export-only``; reason: why (failure message, export-only reason, validation verdict).
        artifact: path; size_bytes: artefact size on disk (bytes).
        accuracy: top-1 on eval (fraction); drop_pp: ``100 * (acc_ref - acc)`` (pp, positive = worse);
        slices: ``{name: {"accuracy", "drop_pp"}}``; worst_slice: ``{"name", "drop_pp"}``.
        model_p50_ms, e2e_p50_ms: p50 latency at ``threads`` (ms), ``None`` when not measured;
        latency_note: why not measured. slower_than_fp32: a non-fp32 row slower (model p50) than the same
        runtime's fp32 (or ONNX Runtime fp32 when the runtime has no fp32 row). check: operator-check summary line.
        build_s: seconds to build. extra: backend-specific details (accuracy analysis, partition, ...).
    """

    backend: str
    argument: str
    precision: str
    target: str
    status: str = "failed"
    reason: str = ""
    artifact: str | None = None
    size_bytes: int | None = None
    accuracy: float | None = None
    drop_pp: float | None = None
    slices: dict = field(default_factory=dict)
    worst_slice: dict | None = None
    model_p50_ms: float | None = None
    e2e_p50_ms: float | None = None
    latency_note: str = ""
    slower_than_fp32: bool | None = None
    check: str = ""
    build_s: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def symbol(self) -> str:
        return SYMBOLS.get(self.status, "?")


@dataclass
class BenchmarkResult:
    """All rows plus the reference accuracy; ``section()`` gives the report's ``{title, html}`` entry."""

    rows: list
    reference_accuracy: float | None
    max_drop: float
    threads: int
    fp32_onnx: str
    notes: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"reference_accuracy": self.reference_accuracy, "max_drop": self.max_drop, "threads": self.threads,
                "fp32_onnx": self.fp32_onnx, "notes": self.notes,
                "rows": [dict(asdict(r), symbol=r.symbol) for r in self.rows]}

    def section(self) -> dict:
        """``{"title", "html"}`` for ``results["sections"]``."""
        return {"title": "Edge backends benchmark", "html": benchmark_html(self)}


# ------------------------------------------------------------------------------------------------------------


def parse_formats(formats) -> list[str]:
    """``"all"`` / ``"onnx,tflite"`` / list -> list of table arguments (unknown names raise ConfigError with a
    close-match suggestion)."""
    from voxquant.backends.table import _REGISTRY, get_backend

    if isinstance(formats, str):
        formats = [f.strip() for f in formats.split(",") if f.strip()]
    out = []
    for f in formats:
        if f == "all":
            out += [a for a in _REGISTRY if a not in out]
            continue
        b = get_backend(f)  # raises ConfigError with a suggestion
        if b.info.argument not in out:
            out.append(b.info.argument)
    return out


def _predict(sess, x: np.ndarray, batch: int = 256) -> np.ndarray:
    return np.concatenate([np.asarray(sess.run(x[i : i + batch])).argmax(1) for i in range(0, len(x), batch)])


def _synthetic_audio(folder: Path, n: int, frontend, seed: int = 0) -> list[Path]:
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    files = []
    for i in range(n):
        p = folder / f"synthetic_{i:03d}.wav"
        if not p.exists():
            sf.write(p, (0.1 * rng.standard_normal(frontend.clip_samples)).astype(np.float32), frontend.sample_rate)
        files.append(p)
    return files


def run_benchmark(model, formats, out_dir, eval_x: np.ndarray, eval_y: np.ndarray, *, slices: dict | None = None,
                  calibration: np.ndarray | None = None, frontend=None, latency_files: list | None = None,
                  threads: int = 1, runs: int = 200, warmup: int = 20, max_drop: float = 1.0, torch_model=None,
                  precisions: dict | None = None, backend_options: dict | None = None, measure: bool = True,
                  progress=None) -> BenchmarkResult:
    """Build, run, validate and time every backend x precision.

    Args:
        model: a ``torch.nn.Module`` (exported to ONNX opset 18 here) or a float ONNX path.
        formats: ``"all"``, a comma list or a list of table arguments (``onnx``, ``tflite``, ``edgetpu``,
            ``rknn``, ``openvino``, ``tensorrt``, ``qnn``).
        out_dir: folder for artefacts and ``benchmark.json``.
        eval_x: ``float32 [N, 1, T, F]`` eval features; eval_y: ``int64 [N]`` labels.
        slices: optional ``{name: float32 [N, 1, T, F]}`` extra eval slices with the same labels (noise, reverb).
        calibration: ``float32 [M, 1, T, F]`` dev features for static quantization (never taken from eval: without
            it the rows that need calibration are ❌ with that reason).
        frontend: :class:`~voxquant.audio.FrontendConfig` for end-to-end latency (default MLPerf Tiny config).
        latency_files: audio files for end-to-end latency (default: synthetic noise WAVs written in ``out_dir``).
        threads, runs, warmup: latency settings (1 thread for the headline).
        max_drop: validation budget in percentage points vs ONNX Runtime fp32.
        torch_model: the float ``nn.Module`` when ``model`` is ONNX (LiteRT converts from PyTorch; else onnx2torch).
        precisions: ``{argument: [precisions]}`` to restrict a backend's precisions.
        backend_options: ``{argument: {kwarg: value}}`` passed to that backend's ``convert`` (e.g. RKNN
            ``float_layers``).
        measure: measure latency (False: accuracy only, for tests).
        progress: callable receiving one status line per step.

    Returns:
        :class:`BenchmarkResult`; also written to ``out_dir/benchmark.json``. Missing toolchains and build errors
        become ❌ rows; nothing here raises for a backend failure.

    Raises:
        ConfigError: unknown format (with a close-match suggestion) or bad arrays.
    """
    from voxquant.audio.frontend import FrontendConfig
    from voxquant.backends.onnxruntime import OrtSession
    from voxquant.backends.table import get_backend

    say = progress or (lambda s: None)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fmts = parse_formats(formats)
    eval_x = np.asarray(eval_x, dtype=np.float32)
    eval_y = np.asarray(eval_y, dtype=np.int64)
    if len(eval_x) != len(eval_y) or len(eval_x) == 0:
        raise ConfigError(f"eval_x ({len(eval_x)}) and eval_y ({len(eval_y)}) must be non-empty and the same length")
    slices = {k: np.asarray(v, dtype=np.float32) for k, v in (slices or {}).items()}
    frontend = frontend or FrontendConfig()
    backend_options = backend_options or {}

    # float reference ---------------------------------------------------------------------------------------
    if isinstance(model, (str, Path)):
        fp32_onnx = Path(model)
    else:
        from voxquant.quant.export import export_onnx

        torch_model = model
        fp32_onnx = out_dir / "model.fp32.onnx"
        if not fp32_onnx.exists():
            export_onnx(model.eval(), model.example_input(), fp32_onnx)
    ref = OrtSession(fp32_onnx, threads=2)
    ref_pred = {"clean": _predict(ref, eval_x)}
    for k, v in slices.items():
        ref_pred[k] = _predict(ref, v)
    ref_acc = {k: float((p == eval_y).mean()) for k, p in ref_pred.items()}
    if measure and latency_files is None:
        latency_files = _synthetic_audio(out_dir / "latency_audio", 20, frontend)

    rows: list[BenchRow] = []
    for arg in fmts:
        b = get_backend(arg)
        precs = list((precisions or {}).get(arg, b.info.precisions))
        ok, why = b.available()
        for prec in precs:
            row = BenchRow(b.info.name, arg, prec, b.info.target)
            rows.append(row)
            if not ok:
                row.status, row.reason = "failed", f"toolchain missing: {why}"
                continue
            say(f"{arg} {prec}: building")
            t0 = time.time()
            try:
                kw = dict(backend_options.get(arg, {}))
                sig = inspect.signature(b.convert).parameters
                if "torch_model" in sig:
                    kw["torch_model"] = torch_model
                folder = out_dir / ("tflite" if arg == "edgetpu" else arg)  # edgetpu reuses the tflite int8 build
                art = b.convert(fp32_onnx, prec, folder, calibration, **kw)
            except Exception as exc:
                row.status = "failed"
                row.reason = f"build failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
                row.extra["traceback"] = traceback.format_exc()[-2000:]
                continue
            row.build_s = round(time.time() - t0, 2)
            row.artifact, row.size_bytes = str(art.path), art.size_bytes
            row.extra.update({k: v for k, v in art.extra.items() if k != "check"})
            row.check = art.extra.get("check_summary", "")
            if art.extra.get("status") == "export only" or art.extra.get("export_only"):
                row.status, row.reason = "export-only", art.extra.get("reason", "no runtime here")
                row.latency_note = "not measured: " + row.reason
                continue
            say(f"{arg} {prec}: evaluating")
            try:
                sess = b.load(art.path, threads=2)
                pred = {"clean": _predict(sess, eval_x)}
                for k, v in slices.items():
                    pred[k] = _predict(sess, v)
                if hasattr(sess, "close"):
                    sess.close()
            except Exception as exc:
                row.status = "failed"
                row.reason = f"built, but running it failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
                continue
            accs = {k: float((p == eval_y).mean()) for k, p in pred.items()}
            row.accuracy = accs["clean"]
            row.drop_pp = 100 * (ref_acc["clean"] - accs["clean"])
            row.slices = {k: {"accuracy": a, "drop_pp": 100 * (ref_acc[k] - a),
                              "agreement_with_fp32": float((pred[k] == ref_pred[k]).mean())} for k, a in accs.items()}
            worst = max(row.slices.items(), key=lambda kv: kv[1]["drop_pp"])
            row.worst_slice = {"name": worst[0], "drop_pp": worst[1]["drop_pp"]}
            bad = [k for k, s in row.slices.items() if s["drop_pp"] > max_drop]
            if bad:
                row.status = "accuracy"
                row.reason = f"drop > {max_drop:g} pp on {', '.join(bad)}"
            else:
                row.status = "ok"
                row.reason = f"drop <= {max_drop:g} pp on every slice"
            if getattr(b, "latency_note", None):
                row.latency_note = b.latency_note
            elif measure and b.info.runs_here:
                say(f"{arg} {prec}: latency")
                try:
                    from voxquant.eval.latency import measure_latency

                    lat = measure_latency(art.path, latency_files, frontend, backend=arg, threads=threads, runs=runs, warmup=warmup)
                    row.model_p50_ms = lat["model_ms"]["p50"]
                    row.e2e_p50_ms = lat["e2e_ms"]["p50"]
                    row.extra["latency"] = lat
                except Exception as exc:
                    row.latency_note = f"latency failed: {str(exc)[:200]}"
            elif not measure:
                row.latency_note = "not measured (measure=False)"
            else:
                row.latency_note = "not measured: no runtime for this target on this host"
    # int8 slower than fp32 ------------------------------------------------------------------------------------
    fp32_p50 = {r.backend: r.model_p50_ms for r in rows if r.precision == "fp32" and r.model_p50_ms}
    ort_fp32 = fp32_p50.get("onnxruntime")
    for r in rows:
        if r.precision != "fp32" and r.model_p50_ms:
            base = fp32_p50.get(r.backend, ort_fp32)
            if base:
                r.slower_than_fp32 = bool(r.model_p50_ms > base)
                r.extra["speedup_vs_fp32"] = base / r.model_p50_ms
    res = BenchmarkResult(rows, ref_acc["clean"], max_drop, threads, str(fp32_onnx), notes=[
        "accuracy reference: ONNX Runtime fp32 on the same features",
        "latency: p50 over %d runs after %d warm-up runs, %d intra-op thread(s), each row in a fresh process" % (runs, warmup, threads),
        "RKNN accuracy is from RKNN Toolkit2's x86 simulator; RK3588 NPU latency is not measured (needs the board)",
        "TensorRT/QNN/Edge TPU rows are export + operator check only on this host (no GPU, no QNN SDK, no Edge TPU compiler)",
    ])
    (out_dir / "benchmark.json").write_text(json.dumps(res.to_dict(), indent=1, default=str))
    return res


# ------------------------------------------------------------------------------------------------------------
# rendering


def _f(x, fmt):
    return "—" if x is None else format(x, fmt)


def _row_cells(r: BenchRow) -> list[str]:
    size = "—" if r.size_bytes is None else f"{r.size_bytes / 1024:.1f} KiB"
    acc = "—" if r.accuracy is None else f"{100 * r.accuracy:.2f}%"
    drop = "—" if r.drop_pp is None else f"{r.drop_pp:+.2f}"
    worst = "—" if not r.worst_slice else f"{r.worst_slice['name']} {r.worst_slice['drop_pp']:+.2f}"
    mp = _f(r.model_p50_ms, ".3f") if r.model_p50_ms is not None else ("n/m" if r.latency_note else "—")
    ep = _f(r.e2e_p50_ms, ".3f") if r.e2e_p50_ms is not None else ("n/m" if r.latency_note else "—")
    sp = r.extra.get("speedup_vs_fp32")
    flag = f"SLOWER than fp32 ({sp:.2f}x)" if r.slower_than_fp32 else (f"{sp:.2f}x vs fp32" if sp else "")
    note = "; ".join(x for x in (flag, r.reason if r.status != "ok" else "", r.check) if x)
    return [r.backend, r.precision, f"{r.symbol} {r.status}", size, acc, drop, worst, mp, ep, note]


HEADERS = ["backend", "precision", "status", "size", "accuracy", "Δ vs fp32 (pp)", "worst slice (pp)",
           "p50 model ms", "p50 e2e ms", "notes"]


def benchmark_html(res: BenchmarkResult) -> str:
    """HTML fragment: the table, then per-row details (operator checks, RKNN per-layer analysis, partitions)."""
    e = _html.escape
    out = [f"<p>Reference (ONNX Runtime fp32) accuracy: {100 * (res.reference_accuracy or 0):.2f}%. "
           f"Validation budget: {res.max_drop:g} pp on every slice. Latency at {res.threads} thread(s); "
           "n/m = not measured (see notes).</p>", "<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in HEADERS) + "</tr>"]
    for r in res.rows:
        out.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in _row_cells(r)) + "</tr>")
    out.append("</table>")
    for r in res.rows:
        det = []
        if r.latency_note:
            det.append(f"<p>latency: {e(r.latency_note)}</p>")
        aa = r.extra.get("accuracy_analysis")
        if aa:
            worst = sorted([a for a in aa if a.get("single_cos") is not None], key=lambda a: a["single_cos"])[:8]
            det.append("<p>RKNN accuracy_analysis (simulator vs float, worst single-layer cosine):</p><table><tr><th>layer</th>"
                       "<th>op</th><th>entire cos</th><th>single cos</th></tr>" + "".join(
                           f"<tr><td>{e(a['layer'])}</td><td>{e(a['op'])}</td><td>{_f(a['entire_cos'], '.5f')}</td>"
                           f"<td>{_f(a['single_cos'], '.5f')}</td></tr>" for a in worst) + "</table>")
        part = r.extra.get("edgetpu")
        if part:
            det.append(f"<pre>{e(json.dumps(part, indent=1)[:3000])}</pre>")
        if r.extra.get("prepare_changes"):
            det.append(f"<p>ONNX preparation: {e('; '.join(r.extra['prepare_changes']))}</p>")
        if det:
            out.append(f"<details><summary>{e(r.backend)} {e(r.precision)}</summary>{''.join(det)}</details>")
    out.append("<ul>" + "".join(f"<li><small>{e(n)}</small></li>" for n in res.notes) + "</ul>")
    return "\n".join(out)


def benchmark_table(res: BenchmarkResult):
    """A ``rich.table.Table`` of the rows."""
    from rich.table import Table

    t = Table(title=f"voxquant benchmark (reference fp32 accuracy {100 * (res.reference_accuracy or 0):.2f}%, "
                    f"{res.threads} thread)")
    for h in HEADERS:
        t.add_column(h, overflow="fold")
    for r in res.rows:
        t.add_row(*_row_cells(r))
    return t


def benchmark_markdown(res: BenchmarkResult) -> str:
    """The table as Markdown (for closing notes and logs)."""
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    for r in res.rows:
        lines.append("| " + " | ".join(c.replace("|", "/") for c in _row_cells(r)) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------------------
# CLI glue


@dataclass
class BenchmarkConfig:
    """What ``voxquant benchmark`` needs.

    Attributes:
        out_dir: output folder. model: voxquant weights (``.pt``) or a float ``.onnx``; ``None`` = bundled DS-CNN.
        formats: ``"all"`` or a comma list. limit: eval clips (stratified; ``None`` = all of ``eval``).
        calib_n: calibration clips from ``dev``. snrs: noise slices (dB). runs/warmup/threads: latency.
        max_drop: validation budget (pp). data_root: data root. seed: sampling seed.
    """

    out_dir: Path = Path("runs/benchmark")
    model: Path | None = None
    formats: str = "all"
    limit: int | None = None
    calib_n: int = 200
    snrs: tuple = (10, 0)
    runs: int = 200
    warmup: int = 20
    threads: int = 1
    max_drop: float = 1.0
    data_root: Path | None = None
    seed: int = 0
    progress: bool = True


def benchmark_cli(cfg: BenchmarkConfig) -> BenchmarkResult:
    """``voxquant benchmark``: real Speech Commands ``eval`` (and noise slices), ``dev`` calibration, the default
    (or given) model; prints the rich table and writes ``benchmark.json``, ``benchmark.md`` and
    ``benchmark.html`` (the section fragment) into ``cfg.out_dir``.

    Raises:
        VoxquantError: missing data / bad model / unknown format (one clear line).
    """
    from voxquant.audio.frontend import compute_features
    from voxquant.data import load_noise_bank, load_waves, make_slice
    from voxquant.data.slices import model_splits, stratified_indices, stratified_subset
    from voxquant.pipeline import load_model

    parse_formats(cfg.formats)  # fail fast on a typo
    say = print if cfg.progress else None
    torch_model = None
    if cfg.model is not None and Path(cfg.model).suffix == ".onnx":
        _, meta = load_model(None)  # an ONNX model is assumed to take the default model's front-end and labels
        model = Path(cfg.model)
    else:
        torch_model, meta = load_model(cfg.model)
        model = torch_model
    fe = meta["frontend"]
    dev, ev, remap = model_splits(meta["labels"], cfg.data_root)
    ev = stratified_subset(ev, cfg.limit, cfg.seed)
    y = remap[ev.label_ids()]
    waves = load_waves(ev, fe.sample_rate, fe.clip_samples, progress=cfg.progress)
    x = compute_features(waves, fe)[:, None]
    cal_idx = stratified_indices(dev.label_ids(), cfg.calib_n, cfg.seed)
    cal = compute_features(load_waves(dev.subset(cal_idx, name="calibration"), fe.sample_rate, fe.clip_samples, progress=False), fe)[:, None]
    slices = {}
    try:
        from voxquant.models.zoo_default import split_noise_bank

        _, noise_eval = split_noise_bank(load_noise_bank(cfg.data_root, sample_rate=fe.sample_rate))
        for s in cfg.snrs:
            slices[f"noise_snr{int(s)}"] = compute_features(make_slice(waves, "noise", float(s), noise_bank=noise_eval, seed=cfg.seed), fe)[:, None]
    except VoxquantError as exc:
        if say:
            say(f"noise slices skipped: {exc}")
    files = [c.path for c in ev.clips[: max(1, min(cfg.runs, len(ev.clips)))]]
    res = run_benchmark(model, cfg.formats, cfg.out_dir, x, y, slices=slices, calibration=cal, frontend=fe,
                        latency_files=files, threads=cfg.threads, runs=cfg.runs, warmup=cfg.warmup,
                        max_drop=cfg.max_drop, torch_model=torch_model, progress=say)
    out = Path(cfg.out_dir)
    (out / "benchmark.md").write_text(benchmark_markdown(res) + "\n")
    (out / "benchmark.html").write_text(benchmark_html(res))
    if cfg.progress:
        from rich.console import Console

        Console().print(benchmark_table(res))
    return res


__all__ = ["BenchRow", "BenchmarkConfig", "BenchmarkResult", "benchmark_cli", "benchmark_html", "benchmark_markdown",
           "benchmark_table", "parse_formats", "run_benchmark"]
