"""``results.json``: build, validate, load; provenance (package versions, machine); the recommendation.

Schema (``schema_version`` 1). Accuracies are fractions in [0, 1], drops and CIs are percentage points
(``drop = 100 * (acc_fp32 - acc_variant)``, positive = worse), latencies are milliseconds, sizes bytes.
``null`` marks a value that could not be measured (e.g. a variant whose conversion failed)::

    {
      "schema_version": 1,
      "voxquant_version": "0.1.0",
      "created": "2025-01-01T12:00:00+00:00",          # ISO 8601, UTC
      "config": {...},                                 # the run configuration, as given
      "seed": 0,
      "versions": {"python": "3.11.9", "implementation": "CPython", "platform": "...",
                   "packages": {"numpy": "2.1.0", "scipy": ..., "torch": ..., "onnx": ...,
                                "onnxruntime": ..., <any installed extra>: ...}},   # null = not installed
      "machine": {"cpu_model": "...", "cores": 2, "cores_logical": 16, "cpu_quota_cores": 2.0|null,
                  "cpu_flags": ["avx2", ...], "memory_bytes": ..., "arch": "x86_64", "os": "..."},
      "reference": "fp32",                             # name of the reference variant (or null)
      "labels": ["yes", "no", ...],                    # class order of per_class / confusion
      "variants": [
        {"name": "int8_static_minmax", "recipe": "int8_static_minmax", "precision": "int8",
         "backend": "onnxruntime", "status": "ok" | "failed" | "skipped", "error": null | "why",
         "size_bytes": 31234, "accuracy": 0.912, "peak_rss_bytes": 123456789,
         "latency_ms": {"threads": 1, "p50": 1.9, "p95": 2.3, "model_p50": 0.4, "model_p95": 0.5,
                        "n_runs": 200,
                        "by_threads": {"1": {"p50":..,"p95":..,"model_p50":..,"model_p95":..,"n_runs":..},
                                       "2": {...}}},
         "slower_than_fp32": false, "speedup_vs_fp32": 1.4,
         "slices": [{"name": "clean", "accuracy": 0.912, "drop": 0.41, "ci95": [-0.1, 0.9],
                     "p_value": 0.13, "n": 2445, "ref_accuracy": 0.916, "discordant": [20, 10],
                     "significant": false}, ...],
         "worst_slice": {"name": "noise_snr0", "drop": 1.2, "ci95": [0.3, 2.1]} | null,
         "per_class": {"yes": {"recall": .., "frr": .., "far": .., "support": ..}, ...},
         "confusion": [[...], ...]},                   # rows = true, cols = predicted, counts
        ...],
      "sections": [{"title": "...", "blocks": [...]}]  # optional extra report sections: plain data, no markup
                                                     # (schema: voxquant.report.sections)
    }

:func:`validate_results` checks the required part of this schema and raises :class:`ResultsSchemaError`
(a ``ValueError`` and a :class:`~voxquant.errors.VoxquantError`) naming the offending field path, e.g.
``variants[2].slices[0].ci95``.
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import os
import platform
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from voxquant.errors import VoxquantError
from voxquant.eval.rules import NOISE_MARGIN, faster_than_reference, slower_than_reference, within_budget
from voxquant.hardware import cpu_isa
from voxquant.report.format import fmt_ms
from voxquant.report.store import to_jsonable
from voxquant.report.sections import SectionError, is_legacy_section, validate_section

__all__ = [
    "CORE_PACKAGES",
    "OPTIONAL_PACKAGES",
    "SCHEMA_VERSION",
    "ResultsSchemaError",
    "build_results",
    "collect_machine",
    "collect_versions",
    "load_results",
    "make_latency",
    "make_slice",
    "recommend",
    "reference_variant",
    "validate_results",
    "variant_worst_hi",
]

SCHEMA_VERSION = 1

#: Distributions always listed in ``versions.packages`` (``null`` when absent).
CORE_PACKAGES = ("numpy", "scipy", "torch", "onnx", "onnxruntime")
#: Distributions listed only when installed (the extras and other run-relevant packages).
OPTIONAL_PACKAGES = (
    "onnxscript",
    "soundfile",
    "soxr",
    "matplotlib",
    "rich",
    "platformdirs",
    "librosa",
    "tensorflow",
    "tensorflow-cpu",
    "tf_keras",
    "tf2onnx",
    "ai-edge-litert",
    "litert-torch",
    "ai-edge-quantizer",
    "openvino",
    "nncf",
    "torchao",
    "onnx2torch",
    "onnxruntime-gpu",
)

VARIANT_STATUSES = ("ok", "failed", "skipped")


class ResultsSchemaError(VoxquantError, ValueError):
    """``results.json`` content that does not follow the schema; the message names the field path."""


# ------------------------------------------------------------------------------------------- provenance


def _dist_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def collect_versions(extra_packages: Sequence[str] = ()) -> dict:
    """Python and package versions for provenance, via :mod:`importlib.metadata` (nothing is imported).

    Args:
        extra_packages: further distribution names to record (listed even when absent, as ``null``).

    Returns:
        ``{"python": "3.11.9", "implementation": "CPython", "platform": platform.platform(),
        "packages": {dist: version | None}}`` with :data:`CORE_PACKAGES` always present, every
        installed one of :data:`OPTIONAL_PACKAGES`, and ``extra_packages``.
    """
    packages: dict[str, str | None] = {name: _dist_version(name) for name in CORE_PACKAGES}
    for name in OPTIONAL_PACKAGES:
        v = _dist_version(name)
        if v is not None:
            packages[name] = v
    for name in extra_packages:
        packages[name] = _dist_version(name)
    vox = _dist_version("voxquant")
    if vox is not None:
        packages["voxquant"] = vox
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "packages": packages,
    }


_INTERESTING_FLAGS = (
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni",
    "avx512_bf16", "avx512_fp16", "amx_int8", "amx_bf16",
    "neon", "asimd", "asimdhp", "asimddp", "i8mm", "bf16", "sve",
)  # fmt: skip


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


def _cpu_quota_cores() -> float | None:
    """CPU limit of this container from cgroup v2 ``cpu.max`` (or v1 cfs files); ``None`` if unlimited."""
    text = _read("/sys/fs/cgroup/cpu.max")
    if text:
        parts = text.split()
        if len(parts) == 2 and parts[0] != "max":
            try:
                return int(parts[0]) / int(parts[1])
            except ValueError:
                return None
        return None
    quota, period = _read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), _read("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
    try:
        q, p = int(quota or "-1"), int(period or "0")
    except ValueError:
        return None
    return q / p if q > 0 and p > 0 else None


def collect_machine() -> dict:
    """Describe the machine the numbers were measured on.

    Returns:
        ``{"cpu_model": str, "cores": int (CPUs this process may run on: scheduler affinity),
        "cores_logical": int, "cores_physical": int | None, "cpu_quota_cores": float | None (cgroup limit),
        "cpu_flags": [str] (SIMD features relevant to int8/fp16 speed: avx2, avx512_vnni, avx_vnni, asimddp,
        ...), "isa": :func:`voxquant.hardware.cpu_isa` (int8 dot product, bf16, fp16 arithmetic: the features that
        change int8/bf16 results), "memory_bytes": int | None, "arch": str, "os": str}``. Linux-specific fields are ``None``
        elsewhere.
    """
    cpuinfo = _read("/proc/cpuinfo") or ""
    model = None
    flags: set[str] = set()
    physical: set[tuple[str, str]] = set()
    phys_id = core_id = None
    for line in cpuinfo.splitlines():
        if ":" not in line:
            if phys_id is not None and core_id is not None:
                physical.add((phys_id, core_id))
            phys_id = core_id = None
            continue
        k, _, v = line.partition(":")
        k, v = k.strip().lower(), v.strip()
        if k in ("model name", "hardware", "cpu model") and model is None and v:
            model = v
        elif k in ("flags", "features"):
            flags.update(v.split())
        elif k == "physical id":
            phys_id = v
        elif k == "core id":
            core_id = v
    if phys_id is not None and core_id is not None:
        physical.add((phys_id, core_id))
    if model is None:
        model = platform.processor() or platform.machine() or "unknown"
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        cores = os.cpu_count() or 1
    mem = None
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            try:
                mem = int(line.split()[1]) * 1024
            except (IndexError, ValueError):
                mem = None
            break
    return {
        "cpu_model": model,
        "cores": int(cores),
        "cores_logical": int(os.cpu_count() or cores),
        "cores_physical": len(physical) or None,
        "cpu_quota_cores": _cpu_quota_cores(),
        "cpu_flags": sorted(f for f in _INTERESTING_FLAGS if f in flags),
        "isa": cpu_isa(),
        "memory_bytes": mem,
        "arch": platform.machine(),
        "os": platform.platform(),
    }


# ------------------------------------------------------------------------------------------- builders


def make_slice(
    name: str,
    correct_ref: np.ndarray,
    correct_var: np.ndarray,
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict:
    """One ``slices[]`` entry from paired per-clip correctness vectors.

    Args:
        name: slice name (``"clean"``, ``"noise_snr5"``, ``"rir_<name>"``...).
        correct_ref: ``bool [N]`` fp32 reference correct per clip on this slice.
        correct_var: ``bool [N]`` variant correct per clip on the same clips.
        n_boot, seed, alpha: passed to :func:`voxquant.eval.stats.paired_bootstrap_drop`.

    Returns:
        ``{"name", "accuracy" (variant, fraction), "ref_accuracy" (fraction), "drop" (pp),
        "ci95": [lo, hi] (pp), "p_value" (exact McNemar), "n", "discordant": [b, c], "significant"}``.

    Raises:
        ValueError: see :func:`~voxquant.eval.stats.paired_bootstrap_drop`.
    """
    from voxquant.eval.stats import discordant_counts, is_significant, mcnemar_exact, paired_bootstrap_drop

    drop, lo, hi = paired_bootstrap_drop(correct_ref, correct_var, n_boot=n_boot, seed=seed, alpha=alpha)
    ref = np.asarray(correct_ref, dtype=bool)
    var = np.asarray(correct_var, dtype=bool)
    b, c = discordant_counts(ref, var)
    return {
        "name": str(name),
        "accuracy": float(var.mean()),
        "ref_accuracy": float(ref.mean()),
        "drop": drop,
        "ci95": [lo, hi],
        "p_value": mcnemar_exact(ref, var),
        "n": int(ref.shape[0]),
        "discordant": [b, c],
        "significant": is_significant(lo, hi),
    }


def _lat_stats(samples: Any) -> dict:
    a = np.asarray(samples, dtype=np.float64).ravel()
    if a.size == 0 or not np.all(np.isfinite(a)) or a.min() < 0:
        raise ValueError("latency samples must be a non-empty array of finite non-negative milliseconds")
    p50, p95 = np.percentile(a, [50.0, 95.0])
    return {"p50": float(p50), "p95": float(p95), "n_runs": int(a.size)}


def make_latency(
    e2e_ms: Mapping[int, Any],
    model_ms: Mapping[int, Any] | None = None,
    headline_threads: int = 1,
) -> dict:
    """The ``latency_ms`` entry from raw per-run timings.

    Args:
        e2e_ms: ``{threads: float [R]}`` end-to-end milliseconds per utterance (read file + front-end +
            inference + softmax/argmax), R runs after warm-up, per intra-op thread count.
        model_ms: ``{threads: float [R]}`` model-only milliseconds (inference call only), same keys.
        headline_threads: thread count whose numbers are copied to the top level (the report's x axis).

    Returns:
        ``{"threads", "p50", "p95", "model_p50", "model_p95", "n_runs", "by_threads": {"<t>": {...}}}``
        (percentiles: ``numpy.percentile`` linear interpolation).

    Raises:
        ValueError: empty/non-finite/negative samples, or ``headline_threads`` not among the keys.
    """
    by: dict[str, dict] = {}
    for t in sorted(e2e_ms):
        s = _lat_stats(e2e_ms[t])
        entry = {"p50": s["p50"], "p95": s["p95"], "model_p50": None, "model_p95": None, "n_runs": s["n_runs"]}
        if model_ms is not None and t in model_ms:
            m = _lat_stats(model_ms[t])
            entry["model_p50"], entry["model_p95"] = m["p50"], m["p95"]
        by[str(int(t))] = entry
    if str(int(headline_threads)) not in by:
        raise ValueError(f"no latency samples for headline_threads={headline_threads} (have {sorted(by)})")
    head = by[str(int(headline_threads))]
    return {"threads": int(headline_threads), **head, "by_threads": by}


def reference_variant(results_or_variants: Mapping | Sequence[Mapping]) -> dict | None:
    """The fp32 reference variant: ``results["reference"]`` if set, else the first ``ok`` variant whose
    ``precision`` is ``"fp32"``; ``None`` if there is none."""
    if isinstance(results_or_variants, Mapping):
        variants = results_or_variants.get("variants") or []
        ref_name = results_or_variants.get("reference")
        if ref_name is not None:
            for v in variants:
                if v.get("name") == ref_name:
                    return v
            return None
    else:
        variants = results_or_variants
    for v in variants:
        if v.get("precision") == "fp32" and v.get("status", "ok") == "ok":
            return v
    return None


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or x is None:
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None


def _worst_slice(slices: Sequence[Mapping]) -> dict | None:
    best = None
    for s in slices:
        d = _num(s.get("drop"))
        if d is None:
            continue
        if best is None or d > best[0]:
            best = (d, s)
    if best is None:
        return None
    s = best[1]
    return {"name": s.get("name"), "drop": best[0], "ci95": list(s.get("ci95") or [None, None])}


def build_results(meta: Mapping, variants: Sequence[Mapping], *, slower_margin: float = NOISE_MARGIN) -> dict:
    """Assemble and validate the ``results.json`` dict.

    Args:
        meta: run metadata. Required: ``config`` (dict), ``seed`` (int). Optional (filled in when absent):
            ``created`` (now, UTC ISO 8601), ``versions`` (:func:`collect_versions`), ``machine``
            (:func:`collect_machine`), ``voxquant_version``, ``reference`` (name of the reference variant;
            default: first ``ok`` variant with precision ``fp32``), ``labels`` (default: keys of the first
            ``per_class``). Other keys (e.g. ``sections``, ``dataset``) are copied as they are.
        variants: per-variant dicts (see the module docstring). ``status`` defaults to ``"ok"``,
            ``error`` to ``None``; ``slower_than_fp32`` and ``speedup_vs_fp32`` are computed from the
            headline p50 (``latency_ms.p50``) vs the reference unless given; ``worst_slice`` (the slice
            with the largest drop) is computed. Inputs are not modified.
        slower_margin: a variant counts as slower than fp32 when ``p50 > ref_p50 * margin``
            (:func:`voxquant.eval.rules.slower_than_reference`).

    Returns:
        A new dict following the schema (validated), made of plain JSON types (numpy scalars and arrays are
        converted, non-finite floats become ``None``; see :func:`voxquant.report.store.to_jsonable`).

    Raises:
        ResultsSchemaError: the assembled dict does not follow the schema (message names the field).
        TypeError: a value is not JSON-able.
    """
    from voxquant import __version__

    meta = copy.deepcopy(dict(meta))
    out: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "voxquant_version": meta.pop("voxquant_version", __version__),
        "created": meta.pop("created", None)
        or _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "config": meta.pop("config", None),
        "seed": meta.pop("seed", None),
        "versions": meta.pop("versions", None) or collect_versions(),
        "machine": meta.pop("machine", None) or collect_machine(),
    }
    vs = [copy.deepcopy(dict(v)) for v in variants]
    for v in vs:
        v.setdefault("status", "ok")
        v.setdefault("error", None)
    ref_name = meta.pop("reference", None)
    ref = reference_variant({"variants": vs, "reference": ref_name}) if ref_name else reference_variant(vs)
    out["reference"] = ref.get("name") if ref is not None else None
    labels = meta.pop("labels", None)
    if labels is None:
        for v in vs:
            if isinstance(v.get("per_class"), Mapping) and v["per_class"]:
                labels = list(v["per_class"])
                break
    out["labels"] = list(labels) if labels is not None else None
    ref_lat = ref.get("latency_ms") if ref is not None else None
    ref_p50 = _num(ref_lat.get("p50")) if isinstance(ref_lat, Mapping) else None
    for v in vs:
        lat = v.get("latency_ms")
        p50 = _num(lat.get("p50")) if isinstance(lat, Mapping) else None
        is_ref = ref is not None and v.get("name") == out["reference"]
        if v.get("speedup_vs_fp32") is None:
            v["speedup_vs_fp32"] = (ref_p50 / p50) if (ref_p50 is not None and p50) else None
        if v.get("slower_than_fp32") is None:
            if is_ref:
                v["slower_than_fp32"] = False
            else:
                v["slower_than_fp32"] = slower_than_reference(p50, ref_p50, margin=slower_margin)
        v["worst_slice"] = _worst_slice(v.get("slices") or [])
    out["variants"] = vs
    out.update(meta)  # pass-through extras (sections, dataset, timings, ...)
    out = to_jsonable(out)  # plain JSON types: numpy scalars -> Python, NaN/Inf -> None
    validate_results(out)
    return out


# ------------------------------------------------------------------------------------------- validation

_NUM = "number"


def _typename(x: Any) -> str:
    return "null" if x is None else type(x).__name__


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _fail(path: str, problem: str) -> None:
    raise ResultsSchemaError(f"invalid results: {problem} at '{path}'")


def _need(d: Mapping, key: str, path: str) -> Any:
    if not isinstance(d, Mapping):
        _fail(path, f"expected an object, got {_typename(d)}")
    if key not in d:
        _fail(f"{path}.{key}" if path else key, "missing field")
    return d[key]


def _check(value: Any, kind: str, path: str, *, nullable: bool = False, lo: float | None = None,
           hi: float | None = None) -> None:  # fmt: skip
    if value is None:
        if not nullable:
            _fail(path, "null not allowed")
        return
    ok = {
        "str": isinstance(value, str),
        "int": isinstance(value, int) and not isinstance(value, bool),
        _NUM: _is_num(value),
        "bool": isinstance(value, bool),
        "dict": isinstance(value, Mapping),
        "list": isinstance(value, list),
    }[kind]
    if not ok:
        _fail(path, f"expected {kind}, got {_typename(value)}")
    if kind in ("int", _NUM):
        if value != value:  # NaN
            _fail(path, "NaN is not allowed")
        if lo is not None and value < lo:
            _fail(path, f"value {value} below {lo}")
        if hi is not None and value > hi:
            _fail(path, f"value {value} above {hi}")


def _field(d: Mapping, key: str, path: str, kind: str, **kw: Any) -> Any:
    v = _need(d, key, path)
    _check(v, kind, f"{path}.{key}" if path else key, **kw)
    return v


def validate_results(d: Mapping) -> None:
    """Check a results dict against the schema (module docstring).

    Required everywhere: the top-level fields, and for every variant ``name``, ``recipe``, ``precision``,
    ``backend``, ``status`` (one of ``ok``/``failed``/``skipped``), ``size_bytes``, ``accuracy``,
    ``latency_ms`` {``p50``, ``p95``, ``model_p50``}, ``peak_rss_bytes``, ``slower_than_fp32``, ``slices``
    (each: ``name``, ``accuracy``, ``drop``, ``ci95`` [lo, hi], ``p_value``, ``n``), ``per_class``,
    ``confusion``. Measured values may be ``null`` (``latency_ms`` itself too: timing can fail on its own),
    except that an ``ok`` variant must have ``accuracy``, ``size_bytes``, ``per_class`` and ``confusion``. Types and ranges are checked (accuracies and p-values in [0, 1],
    ``ci95`` ordered, sizes/latencies >= 0, confusion square).

    Raises:
        ResultsSchemaError: (a ``ValueError``) naming the first offending field path, e.g.
            ``variants[1].latency_ms.p50``.
    """
    if not isinstance(d, Mapping):
        _fail("$", f"expected an object, got {_typename(d)}")
    _field(d, "voxquant_version", "", "str")
    _field(d, "created", "", "str")
    _field(d, "config", "", "dict")
    _field(d, "seed", "", "int")
    versions = _field(d, "versions", "", "dict")
    _field(versions, "python", "versions", "str")
    pk = _field(versions, "packages", "versions", "dict")
    for name in CORE_PACKAGES:
        _field(pk, name, "versions.packages", "str", nullable=True)
    machine = _field(d, "machine", "", "dict")
    _field(machine, "cpu_model", "machine", "str")
    _field(machine, "cores", "machine", "int", lo=1)
    labels = d.get("labels")
    if labels is not None:
        _check(labels, "list", "labels")
    variants = _field(d, "variants", "", "list")
    if not variants:
        _fail("variants", "no variants")
    names = set()
    for i, v in enumerate(variants):
        p = f"variants[{i}]"
        name = _field(v, "name", p, "str")
        if name in names:
            _fail(f"{p}.name", f"duplicate variant name {name!r}")
        names.add(name)
        for k in ("recipe", "precision", "backend"):
            _field(v, k, p, "str")
        status = _field(v, "status", p, "str")
        if status not in VARIANT_STATUSES:
            _fail(f"{p}.status", f"unknown status {status!r} (expected one of {', '.join(VARIANT_STATUSES)})")
        ok = status == "ok"
        _field(v, "size_bytes", p, "int", nullable=not ok, lo=0)
        _field(v, "accuracy", p, _NUM, nullable=not ok, lo=0.0, hi=1.0)
        _field(v, "peak_rss_bytes", p, "int", nullable=True, lo=0)
        _field(v, "slower_than_fp32", p, "bool", nullable=True)
        lat = _field(v, "latency_ms", p, "dict", nullable=True)  # timing can fail while accuracy is known
        if lat is not None:
            for k in ("p50", "p95", "model_p50"):
                _field(lat, k, f"{p}.latency_ms", _NUM, nullable=True, lo=0.0)
            by = lat.get("by_threads")
            if by is not None:
                _check(by, "dict", f"{p}.latency_ms.by_threads")
                for t, e in by.items():
                    for k in ("p50", "p95"):
                        _field(e, k, f"{p}.latency_ms.by_threads.{t}", _NUM, nullable=True, lo=0.0)
        slices = _field(v, "slices", p, "list")
        for j, s in enumerate(slices):
            sp = f"{p}.slices[{j}]"
            _field(s, "name", sp, "str")
            _field(s, "accuracy", sp, _NUM, nullable=True, lo=0.0, hi=1.0)
            _field(s, "drop", sp, _NUM, nullable=True, lo=-100.0, hi=100.0)
            ci = _field(s, "ci95", sp, "list")
            if len(ci) != 2:
                _fail(f"{sp}.ci95", f"expected [lo, hi], got {len(ci)} values")
            for b in ci:
                _check(b, _NUM, f"{sp}.ci95", nullable=True)
            if _is_num(ci[0]) and _is_num(ci[1]) and ci[0] > ci[1]:
                _fail(f"{sp}.ci95", f"lower bound {ci[0]} above upper bound {ci[1]}")
            _field(s, "p_value", sp, _NUM, nullable=True, lo=0.0, hi=1.0)
            _field(s, "n", sp, "int", lo=0)
        per_class = _field(v, "per_class", p, "dict", nullable=not ok)
        for lab, e in (per_class or {}).items():
            cp = f"{p}.per_class.{lab}"
            for k in ("recall", "frr", "far"):
                _field(e, k, cp, _NUM, nullable=True, lo=0.0, hi=1.0)
            _field(e, "support", cp, "int", lo=0)
        cm = _field(v, "confusion", p, "list", nullable=not ok)
        if cm is not None:
            for r, row in enumerate(cm):
                _check(row, "list", f"{p}.confusion[{r}]")
                if len(row) != len(cm):
                    _fail(f"{p}.confusion[{r}]", f"matrix not square ({len(cm)} rows, {len(row)} columns)")
                for x in row:
                    _check(x, "int", f"{p}.confusion[{r}]", lo=0)
    ref = d.get("reference")
    if ref is not None and ref not in names:
        _fail("reference", f"names no variant ({ref!r})")
    sections = d.get("sections")
    if sections is not None:
        _check(sections, "list", "sections")
        for i, s in enumerate(sections):
            if is_legacy_section(s):  # {"title", "html"}: accepted until every producer is converted
                _field(s, "title", f"sections[{i}]", "str")
                _field(s, "html", f"sections[{i}]", "str")
                continue
            try:
                validate_section(s, where=f"sections[{i}]")
            except SectionError as exc:
                _fail(f"sections[{i}]", str(exc))


def load_results(path: str | Path) -> dict:
    """Read and validate a ``results.json``.

    Raises:
        VoxquantError: the file is missing or not JSON (message names the file).
        ResultsSchemaError: the content does not follow the schema (message names file and field).
    """
    path = Path(path)
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VoxquantError("results file not found", path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise VoxquantError(f"not a valid JSON file ({exc})", path) from None
    try:
        validate_results(d)
    except ResultsSchemaError as exc:
        raise ResultsSchemaError(exc.problem, path) from None
    return d


# ------------------------------------------------------------------------------------------- recommendation


def variant_worst_hi(v: Mapping, is_reference: bool = False) -> float | None:
    """Largest CI upper bound of the drop over ``v``'s slices (pp); 0 for a reference without slices;
    ``None`` when unknown (no slices or a missing bound)."""
    slices = v.get("slices") or []
    if not slices:
        return 0.0 if is_reference else None
    his = [_num((s.get("ci95") or [None, None])[1]) for s in slices]
    if any(h is None for h in his):
        return None
    return max(his)


def _speed_ms(v: Mapping) -> float | None:
    """The latency a variant is ranked by: model-only p50 (what quantization changes; the I/O and front-end part
    is shared by every variant), else the end-to-end p50."""
    lat = v.get("latency_ms") or {}
    m = _num(lat.get("model_p50"))
    return m if m is not None else _num(lat.get("p50"))


#: A quantized variant must be at least this much faster (model-only p50 ratio) than the reference to be preferred:
#: smaller p50 differences are within run-to-run noise on a shared CPU (the one rule: voxquant.eval.rules).
MIN_SPEEDUP = NOISE_MARGIN


def recommend(results: Mapping, max_drop: float = 1.0, min_speedup: float = MIN_SPEEDUP) -> dict:
    """Pick the variant to deploy.

    Rule: among ``ok`` variants whose worst-slice drop CI upper bound is within ``max_drop`` pp (the fp32 reference
    qualifies trivially), the one with the lowest model-only p50 latency; a non-reference variant is preferred to
    the reference only when it is at least ``min_speedup`` times faster (model-only p50), else the reference is
    kept. The smallest qualifying variant is named too, for size-bound targets.

    Requiring the *upper* CI bound (not the point estimate) to be within budget means a variant is only
    recommended when the data rule out a drop larger than the budget at 95 % confidence.

    Args:
        results: a results dict (schema above).
        max_drop: accuracy-drop budget in percentage points.
        min_speedup: speed-up over the reference needed to prefer a quantized variant.

    Returns:
        ``{"variant": name | None, "max_drop": float, "text": one sentence, "qualifying": [names],
        "p50_ms": float | None (model-only), "speedup_vs_fp32": float | None, "worst_hi": float | None,
        "smallest": name | None}``.
    """
    ref = reference_variant(results)
    ref_name = ref.get("name") if ref else None
    ref_speed = _speed_ms(ref) if ref else None
    cands = []
    for v in results.get("variants", []):
        if v.get("status") != "ok":
            continue
        p50 = _speed_ms(v)
        hi = variant_worst_hi(v, is_reference=v.get("name") == ref_name)
        if p50 is None or not within_budget(hi, max_drop):
            continue
        cands.append((p50, v.get("name"), v, hi))
    cands.sort(key=lambda c: (c[0], c[1]))
    base = {"max_drop": float(max_drop), "qualifying": [c[1] for c in cands]}
    if not cands:
        return {
            **base, "variant": None, "p50_ms": None, "speedup_vs_fp32": None, "worst_hi": None, "smallest": None,
            "text": f"No variant qualifies: none has a measured latency and a worst-slice accuracy drop whose "
            f"95% CI upper bound is within the {max_drop:g} pp budget.",
        }  # fmt: skip
    sized = [c for c in cands if isinstance(c[2].get("size_bytes"), int)]
    smallest = min(sized, key=lambda c: (c[2]["size_bytes"], c[0]))[2] if sized else None
    pick = cands[0]
    ref_cand = next((c for c in cands if c[1] == ref_name), None)
    if ref_cand is not None and pick[1] != ref_name and not faster_than_reference(pick[0], ref_speed, min_speedup):
        pick = ref_cand  # faster only within noise: keep the reference
    p50, name, v, hi = pick
    speed = (ref_speed / p50) if (ref_speed and p50) else None
    size_note = ""
    if smallest is not None and smallest.get("name") != name:
        size_note = (f" Smallest within budget: {smallest['name']} ({smallest['size_bytes'] / 1024:.1f} KB, worst-slice "
                     f"CI upper bound {variant_worst_hi(smallest, smallest.get('name') == ref_name):+.2f} pp).")
    if name == ref_name:
        text = (
            f"Keep {name} on this CPU: no quantized variant is both at least {min_speedup:.2f}x faster (model-only p50 "
            f"{fmt_ms(p50)} ms) and provably within the {max_drop:g} pp accuracy-drop budget.{size_note}"
        )
    else:
        ws = v.get("worst_slice") or {}
        sp = f", {speed:.2f}x vs fp32" if speed is not None else ""
        size = v.get("size_bytes")
        sz = f", {size / 1024:.1f} KB" if isinstance(size, int) else ""
        text = (
            f"Deploy {name}: fastest variant within the {max_drop:g} pp budget - model-only p50 {fmt_ms(p50)} ms{sp}{sz}; "
            f"worst-slice drop {_num(ws.get('drop')) or 0.0:+.2f} pp"
            f"{' on ' + str(ws.get('name')) if ws.get('name') else ''}, 95% CI upper bound {hi:+.2f} pp.{size_note}"
        )
    return {**base, "variant": name, "p50_ms": p50, "speedup_vs_fp32": speed, "worst_hi": hi,
            "smallest": smallest.get("name") if smallest else None, "text": text}