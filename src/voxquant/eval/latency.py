"""Latency and memory: end-to-end per utterance and model-only, p50/p95, peak RSS.

End to end = read the audio file (soundfile) + front-end (numpy, :func:`voxquant.audio.compute_features`) +
inference (batch 1) + post-processing (softmax, argmax): what one utterance costs on the host.
Model-only = inference alone on precomputed features.

Each variant is measured in a fresh child process (``multiprocessing`` spawn context) so that its peak resident
set size (``ru_maxrss``) is its own and one variant's allocator state cannot slow another.
Timings use ``time.perf_counter_ns`` after ``warmup`` untimed runs; ``intra_op_num_threads`` is fixed and
recorded. Percentiles are numpy's linear-interpolation percentiles over ``runs`` samples.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class LatencyConfig:
    """How latency is measured.

    Attributes:
        runs: timed runs per measurement (at least 200 for the report).
        warmup: untimed runs first.
        threads: intra-op thread counts to measure (each one a separate measurement).
    """

    runs: int = 200
    warmup: int = 20
    threads: tuple = (1, 2)


def _percentiles(ns: list[int]) -> dict:
    a = np.asarray(ns, dtype=np.float64) / 1e6
    return {"p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)), "mean": float(a.mean()), "min": float(a.min())}


def _peak_rss_bytes() -> int:
    """Peak resident set size of this process in bytes: ``VmHWM`` of ``/proc/self/status`` (per address space,
    so a spawned child reports its own peak; ``getrusage().ru_maxrss`` survives ``exec`` on Linux and would
    report the parent's), falling back to ``ru_maxrss`` where ``/proc`` is missing."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def _measure(job: dict) -> dict:
    """Child-process body: load the model, time end-to-end and model-only runs, report peak RSS."""
    import numpy as np

    from voxquant.audio.frontend import FrontendConfig, compute_features
    from voxquant.audio.io import load_audio
    from voxquant.backends.table import load_session

    fe = FrontendConfig.from_dict(job["frontend"])
    files = job["files"]
    runs, warmup = job["runs"], job["warmup"]
    from voxquant.toolchain_log import toolchain_output

    with toolchain_output(Path(job["model"]).parent, f"latency child: load {Path(job['model']).name}"):
        sess = load_session(job["backend"], Path(job["model"]), threads=job["threads"])  # runtime banners -> log
    layout = job.get("layout", "nchw")
    from voxquant.audio.layout import to_model_layout

    def to_input(feat):
        return np.ascontiguousarray(to_model_layout(feat[None], layout), dtype=np.float32)

    def e2e(path):
        w = load_audio(path, fe.sample_rate, fe.clip_samples)
        x = to_input(compute_features(w, fe))
        logits = sess.run(x)[0]
        e = np.exp(logits - logits.max())
        p = e / e.sum()
        return int(p.argmax())

    feats = [to_input(compute_features(load_audio(f, fe.sample_rate, fe.clip_samples), fe)) for f in files]
    for i in range(warmup):
        e2e(files[i % len(files)])
        sess.run(feats[i % len(feats)])
    t_e2e, t_model, t_fe = [], [], []
    for i in range(runs):
        f = files[i % len(files)]
        t0 = time.perf_counter_ns()
        e2e(f)
        t_e2e.append(time.perf_counter_ns() - t0)
    for i in range(runs):
        x = feats[i % len(feats)]
        t0 = time.perf_counter_ns()
        sess.run(x)
        t_model.append(time.perf_counter_ns() - t0)
    for i in range(runs):
        f = files[i % len(files)]
        t0 = time.perf_counter_ns()
        compute_features(load_audio(f, fe.sample_rate, fe.clip_samples), fe)
        t_fe.append(time.perf_counter_ns() - t0)
    return {
        "threads": job["threads"],
        "runs": runs,
        "warmup": warmup,
        "e2e_ms": _percentiles(t_e2e),
        "model_ms": _percentiles(t_model),
        "io_frontend_ms": _percentiles(t_fe),
        "peak_rss_bytes": _peak_rss_bytes(),
        "e2e_samples_ms": [t / 1e6 for t in t_e2e],
        "model_samples_ms": [t / 1e6 for t in t_model],
    }


def _child(job, q):
    try:
        q.put(("ok", _measure(job)))
    except BaseException as exc:  # report, never hang the parent
        q.put(("error", f"{type(exc).__name__}: {exc}"))


def _measure_model(job: dict) -> dict:
    """Child-process body of :func:`measure_model_latency`: load the model, time ``session.run`` alone."""
    import numpy as np

    from voxquant.backends.table import load_session
    from voxquant.toolchain_log import toolchain_output

    with toolchain_output(Path(job["model"]).parent, f"latency child: load {Path(job['model']).name}"):
        sess = load_session(job["backend"], Path(job["model"]), threads=job["threads"])
    xs = np.ascontiguousarray(job["x"], dtype=np.float32)
    feats = [xs[i : i + 1] for i in range(len(xs))]
    for i in range(job["warmup"]):
        sess.run(feats[i % len(feats)])
    t_model, t_cpu = [], []
    for i in range(job["runs"]):
        x = feats[i % len(feats)]
        c0 = time.process_time_ns()
        t0 = time.perf_counter_ns()
        sess.run(x)
        t_model.append(time.perf_counter_ns() - t0)
        t_cpu.append(time.process_time_ns() - c0)
    return {"threads": job["threads"], "runs": job["runs"], "warmup": job["warmup"], "model_ms": _percentiles(t_model),
            "model_cpu_ms": _percentiles(t_cpu), "peak_rss_bytes": _peak_rss_bytes(),
            "model_samples_ms": [t / 1e6 for t in t_model]}


def _model_child(job, q):
    try:
        q.put(("ok", _measure_model(job)))
    except BaseException as exc:  # report, never hang the parent
        q.put(("error", f"{type(exc).__name__}: {exc}"))


def _run_child(target, job: dict, threads: int, model, timeout_s: float) -> dict:
    """Run ``target(job, queue)`` in a fresh spawned process with numpy's BLAS/OpenMP pools pinned to ``threads``."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(job, q), daemon=True)
    # the child inherits the environment at start: pin numpy's BLAS/OpenMP pools to the measured thread count so
    # the front-end (a small matmul) does not fight the model's threads, before numpy is imported there
    pools = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    saved = {k: os.environ.get(k) for k in pools}
    os.environ.update({k: str(threads) for k in pools})
    try:
        p.start()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    try:
        status, payload = q.get(timeout=timeout_s)
    except Exception:
        p.kill()
        raise RuntimeError(f"{model}: latency measurement timed out after {timeout_s} s") from None
    p.join(timeout=10)
    if status != "ok":
        raise RuntimeError(f"{model}: latency measurement failed: {payload}")
    return payload


def measure_model_latency(model: Path, x, backend: str = "onnxruntime", threads: int = 1, runs: int = 200,
                          warmup: int = 20, timeout_s: float = 600) -> dict:
    """Model-only latency of one artefact at one thread count in a fresh process: ``session.run`` on precomputed
    inputs, batch 1 (no file I/O, no front-end; for models whose input is not one clip of a classifier's front-end,
    e.g. a CTC command model at a chosen input length).

    Args:
        model: artefact path.
        x: ``float32 [K, ...]`` model inputs (each run takes one, cycling through the K), e.g. ``[K, 1, T, 40]``.
        backend: backend argument or name (:func:`voxquant.backends.table.load_session`).
        threads: intra-op threads; runs, warmup: timed and untimed runs.

    Returns:
        ``{"model_ms": {"p50", "p95", "mean", "min"} (wall-clock ms), "model_cpu_ms": the same over the process CPU
        time of each run (what the run cost the cores, whatever else shared them), "model_samples_ms": [ms],
        "peak_rss_bytes", "threads", "runs", "warmup"}``.

    Raises:
        ConfigError: ``x`` is not a non-empty batch of inputs.
        RuntimeError: the child failed (message carries the child's error) or timed out.
    """
    from voxquant.errors import ConfigError

    xs = np.ascontiguousarray(x, dtype=np.float32)
    if xs.ndim < 2 or len(xs) == 0:
        raise ConfigError(f"measure_model_latency needs float32 [K, ...] inputs with K >= 1, got shape {xs.shape}")
    job = {"model": str(model), "x": xs, "backend": backend, "threads": int(threads), "runs": int(runs),
           "warmup": int(warmup)}
    return _run_child(_model_child, job, int(threads), model, timeout_s)


def measure_latency(model: Path, files: list, frontend, backend: str = "onnxruntime", threads: int = 1,
                    runs: int = 200, warmup: int = 20, layout: str = "nchw", timeout_s: float = 600) -> dict:
    """Measure one model at one thread count in a fresh process.

    Args:
        model: artefact path.
        files: audio files cycled through (at least one; use >= ``runs`` distinct files for honest I/O times).
        frontend: :class:`~voxquant.audio.FrontendConfig`.
        backend: backend name in :data:`voxquant.backends.table.BACKENDS`.
        threads: intra-op threads.
        runs, warmup: timed and untimed iterations.
        layout: the model's input layout (``voxquant.audio.layout.to_model_layout``: ``"nchw"`` = ``[1,1,T,F]``,
            ``"nhwc"``, ``"flat"`` = ``[1, T*F]``, ...).

    Returns:
        dict with ``e2e_ms``, ``model_ms``, ``io_frontend_ms`` (each ``p50``, ``p95``, ``mean``, ``min`` in ms),
        the raw per-run ``e2e_samples_ms`` / ``model_samples_ms`` lists, ``peak_rss_bytes`` (of the child
        process, after loading the model and all runs), ``threads``, ``runs``, ``warmup``.

    Raises:
        RuntimeError: the child failed (message carries the child's error) or timed out.
    """
    job = {"model": str(model), "files": [str(f) for f in files], "frontend": frontend.to_dict(), "backend": backend,
           "threads": threads, "runs": runs, "warmup": warmup, "layout": layout}
    return _run_child(_child, job, threads, model, timeout_s)
