"""The one evaluation path: cells *recipe x backend x slice*, built, run and stored the same way for every row.

    audio -> features -> artefact (recipe x backend) -> session -> per-clip results -> statistics -> report

:func:`plan_matrix` turns recipes and backends into :class:`VariantSpec` rows; :func:`run_matrix` builds each
artefact through the backend table (ONNX Runtime rows through the quantization recipe registry), loads a session,
runs one batched :func:`predict` per slice, stores per-clip correctness as cells of the
:class:`~voxquant.report.store.ResultStore`, and measures latency where the runtime runs on this host;
:func:`assemble_variants` turns the stored cells into ``results.json`` variant rows with paired statistics (CIs,
McNemar p) against the one reference, ``fp32`` on ONNX Runtime. ``voxquant run``, ``voxquant benchmark``, the zoo
and the studies all call these; no other module loops over variants and slices.

Cells (keys of the result store; a variant name is the recipe for ONNX Runtime and ``recipe@backend`` otherwise):

* ``variant/<name>``: the build: ``status`` (``ok`` / ``failed`` / ``export-only``), path, size, toolchain check,
  int8 MAC share, ``files`` (path, size and sha256 of every file of the artefact: verified before the artefact is
  reused on a resume; a mismatch rebuilds the row, see :func:`invalidate_variant`);
* ``source/fp32_onnx``: the same record for the float ONNX model every artefact is built from
  (:func:`ensure_source_model`);
* ``acc/<name>/<slice>``: metrics JSON + a ``bool [N]`` array of per-clip correctness;
* ``pred/<name>/<slice>``: ``int64 [N]`` top-1 class ids (agreement between rows, e.g. with ``fp32``);
* ``kernel_check/<name>``: ONNX Runtime QDQ rows: fused int8 kernels vs the QDQ graph simulated in float;
* ``latency/<name>/t<threads>``: end-to-end and model-only latency in a fresh process.

Artefacts are built in a temporary folder and moved into ``models/`` only when complete, so a kill never leaves a
half-written model recorded as built.
"""

from __future__ import annotations

import inspect
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voxquant.errors import ConfigError, VoxquantError

log = logging.getLogger("voxquant")

#: The reference every drop is measured against.
REFERENCE = "fp32"
#: The backend of the reference and of the quantization recipe registry.
REFERENCE_BACKEND = "onnx"

#: What a recipe means on a backend with its own toolchain (``recipe -> backend precision``). ONNX Runtime rows
#: use the recipe itself (:mod:`voxquant.quant`); other backends build ``fp32``/``fp16``/dynamic int8 and their own
#: static int8 PTQ (their default MinMax-style calibration on the same calibration inputs). Recipes not listed
#: (Entropy/Percentile calibration, QAT, mixed) exist on ONNX Runtime only.
RECIPE_PRECISION = {
    "fp32": "fp32",
    "fp16": "fp16",
    "int8_dynamic": "int8-dynamic",
    "int8_static_minmax": "int8",
}

#: Below this share of identical predictions between ORT's int8 kernels and the float-simulated QDQ graph, the
#: variant gets a kernel warning in the report.
KERNEL_AGREEMENT_MIN = 0.98


@dataclass(frozen=True)
class VariantSpec:
    """One row of the matrix.

    Attributes:
        name: ``recipe`` on ONNX Runtime, else ``recipe@backend`` (e.g. ``int8_static_minmax@openvino``).
        recipe: quantization recipe (:mod:`voxquant.quant`).
        backend: backend table argument (``onnx``, ``tflite``, ``openvino``, ``rknn``, ...).
        precision: what the backend builds (``fp32``, ``fp16``, ``int8``, ``int8-dynamic``...).
    """

    name: str
    recipe: str
    backend: str
    precision: str
    prebuilt: str | None = None
    description: str = ""


def prebuilt_row(name: str, backend: str, precision: str, path: Path, description: str, recipe: str) -> VariantSpec:
    """A row whose artefact another step already built (e.g. NNCF's accuracy-controlled model, written by the
    ``mixed`` recipe as its comparator): evaluated, timed and reported exactly like every other row."""
    return VariantSpec(name, recipe, backend, precision, prebuilt=str(path), description=description)


def variant_name(recipe: str, backend: str) -> str:
    """``recipe`` for ONNX Runtime, ``recipe@backend`` otherwise."""
    return recipe if backend == REFERENCE_BACKEND else f"{recipe}@{backend}"


def parse_backends(backends) -> list[str]:
    """``"all"`` / ``"onnx,tflite"`` / a list -> table arguments in table order of appearance.

    Raises:
        ConfigError: unknown backend, with the closest match suggested.
    """
    from voxquant.backends.table import _REGISTRY, get_backend

    if isinstance(backends, str):
        backends = [b.strip() for b in backends.split(",") if b.strip()]
    out: list[str] = []
    for b in backends or []:
        if b == "all":
            out += [a for a in _REGISTRY if a not in out]
            continue
        arg = get_backend(b).info.argument  # raises ConfigError with a suggestion
        if arg not in out:
            out.append(arg)
    if not out:
        raise ConfigError("no backend given", hint="e.g. --backends onnx,tflite,openvino,rknn (or all)")
    return out


def plan_matrix(recipes, backends) -> tuple[list[VariantSpec], list[dict]]:
    """The variant rows for ``recipes x backends``, with ``fp32`` on ONNX Runtime always first (the reference).

    Returns:
        ``(plan, skipped)``: the rows, and ``[{"recipe", "backend", "reason"}]`` for combinations that do not exist
        (a recipe only ONNX Runtime implements; a precision the backend cannot build, e.g. RKNN has no fp32).

    Raises:
        ConfigError: unknown recipe or backend.
    """
    from voxquant.backends.table import get_backend
    from voxquant.quant import expand_recipes, get_recipe

    recipes = list(dict.fromkeys([REFERENCE, *expand_recipes(recipes)]))
    for r in recipes:
        get_recipe(r)  # fail fast on an unknown recipe
    backs = parse_backends(backends)
    plan = [VariantSpec(REFERENCE, REFERENCE, REFERENCE_BACKEND, "fp32")]
    skipped = []
    for b in backs:
        info = get_backend(b).info
        for r in recipes:
            if b == REFERENCE_BACKEND:
                if r != REFERENCE:
                    plan.append(VariantSpec(r, r, b, get_recipe(r).precision))
                continue
            prec = RECIPE_PRECISION.get(r)
            if prec is None:
                skipped.append({"recipe": r, "backend": b, "reason": f"{r} is an ONNX Runtime recipe; {b} builds "
                                f"{', '.join(info.precisions)} with its own toolchain"})
            elif prec not in info.precisions:
                skipped.append({"recipe": r, "backend": b, "reason": f"{b} cannot build {prec} "
                                f"(it builds {', '.join(info.precisions)})"})
            else:
                plan.append(VariantSpec(variant_name(r, b), r, b, prec))
    return plan, skipped


def predict_scores(session, x: np.ndarray, batch: int = 512, *, ndim: int = 2) -> np.ndarray:
    """Output scores of ``x`` through ``session`` in batches: THE batched inference loop of voxquant.

    :func:`predict` (top-1 ids) is this plus an argmax; callers that need the scores themselves (an argmax restricted
    to some classes, a softmax, output divergences) call this.

    Args:
        session: a :class:`~voxquant.backends.base.Session` (anything with ``run(float32 [n, ...]) -> [n, C]``).
        x: ``float32 [N, ...]`` model inputs.
        batch: clips per call.
        ndim: dimensions of the output: 2 = ``[N, C]`` class scores; 3 = e.g. CTC log-probabilities
            ``[N, T', V]`` (the sequence task).

    Returns:
        ``float32 [N, C]`` (``[0, 0]`` for ``N = 0``), or ``[N, ...]`` with ``ndim`` dimensions.

    Raises:
        ModelError: the model's outputs are not ``[n, C]`` scores (one row per input clip; ``ndim`` dimensions) or
            contain NaN / Inf.
    """
    from voxquant.errors import ModelError

    out = []
    for i in range(0, len(x), batch):
        xb = x[i : i + batch]
        s = np.asarray(session.run(xb))
        if s.ndim != ndim or s.shape[0] != len(xb):
            want = "[N, classes]" if ndim == 2 else f"{ndim} dimensions, one row per input"
            raise ModelError(f"model output has shape {list(s.shape)}; expected {want}")
        if not np.all(np.isfinite(s)):
            raise ModelError("model output contains NaN or Inf")
        out.append(s.astype(np.float32, copy=False))
    return np.concatenate(out) if out else np.zeros((0,) * ndim, dtype=np.float32)


def predict(session, x: np.ndarray, batch: int = 512) -> np.ndarray:
    """Top-1 class ids of ``x`` through ``session`` in batches: THE batched predict of voxquant.

    Args:
        session: a :class:`~voxquant.backends.base.Session`.
        x: ``float32 [N, ...]`` model inputs.
        batch: clips per call.

    Returns:
        ``int64 [N]``.

    Raises:
        ModelError: the model's outputs are not ``[N, C]`` scores or contain NaN (:func:`predict_scores`).
    """
    s = predict_scores(session, x, batch)
    return s.argmax(1).astype(np.int64) if len(s) else np.zeros(0, dtype=np.int64)


def check_output_width(session, x: np.ndarray, n_labels: int, path: Path) -> None:
    """Refuse a model whose output size differs from its label count (it would be scored against the wrong
    classes: a 5-class model against 12 labels "reaches" 12 %).

    Raises:
        ModelError: naming the model file, both sizes.
    """
    from voxquant.errors import ModelError

    out = np.asarray(session.run(x[:1]))
    if out.ndim != 2 or out.shape[1] != n_labels:
        raise ModelError(f"model outputs {list(out.shape)} scores per clip but has {n_labels} labels",
                         path, hint="check --labels / the spec's labels: one name per output, in output order")


@dataclass
class MatrixInputs:
    """What the matrix needs, prepared by the caller (``voxquant run``, the zoo, the studies, tests).

    Attributes:
        fp32_onnx: the float ONNX model (interchange format; every artefact is built from it).
        y: ``int64 [N]`` targets of the eval clips (model class ids).
        labels: class names in output order.
        slices: ``[(name, features())]``: each slice's model inputs ``float32 [N, ...]``, computed lazily.
        calibration: ``float32 [M, ...]`` calibration inputs (never eval clips), ``None`` = none.
        torch_model: the float ``nn.Module`` when known (LiteRT converts from PyTorch, else via onnx2torch).
        frontend: :class:`~voxquant.audio.FrontendConfig` (end-to-end latency).
        layout: model input layout (``voxquant.zoo.spec.to_model_layout``).
        latency_files: audio files for end-to-end latency.
        recipe_context: keyword context every ONNX Runtime recipe receives (QAT and mixed precision need the
            float weights and dev data).
        task: how a session's outputs become per-clip results; ``None`` = classification (top-1 of ``[N, C]``
            scores against ``y``). Another task (e.g. :class:`voxquant.sequence_run.SequenceTask`: CTC decoding
            and word errors) is an object with ``check_output(session, x, path)`` (raise ``ModelError`` for a model
            whose outputs do not fit) and ``score(session, slice_name, x) -> {"correct": bool [N], "pred": int64
            [N, ...] (the decision per clip: rows compared between variants), "metrics": dict (the cell), "arrays":
            {name: array} (stored as ``<name>/<variant>/<slice>``)}``; ``y`` and ``labels`` are then unused.
    """

    fp32_onnx: Path
    y: np.ndarray
    labels: tuple
    slices: list
    calibration: np.ndarray | None = None
    torch_model: object = None
    frontend: object = None
    layout: str = "nchw"
    latency_files: list = field(default_factory=list)
    recipe_context: dict = field(default_factory=dict)
    task: object = None


@dataclass
class MatrixSettings:
    """How the matrix is measured.

    Attributes:
        eval_threads: threads of the accuracy sessions.
        threads: latency thread counts (the first is the headline); empty = no latency.
        latency_runs, latency_warmup: timed / untimed runs per latency cell.
        recipe_options: ``{recipe: {kwarg: value}}`` for ONNX Runtime recipes.
        backend_options: ``{backend: {kwarg: value}}`` for ``Backend.convert``.
        progress: show progress bars.
    """

    eval_threads: int = 1
    threads: tuple = (1, 2)
    latency_runs: int = 200
    latency_warmup: int = 20
    recipe_options: dict = field(default_factory=dict)
    backend_options: dict = field(default_factory=dict)
    progress: bool = True


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as one line for a result row: its type, the first line of its message and, when the message
    spans several lines (a toolchain's traceback), its last line, which names the real error."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    if not lines:
        return type(exc).__name__
    text = lines[0] if len(lines) == 1 else f"{lines[0]} ... {lines[-1]}"
    return text[:limit]


def _jsonable_extra(extra: dict) -> dict:
    from voxquant.report.store import to_jsonable

    keep = {}
    for k, v in (extra or {}).items():
        try:
            keep[k] = to_jsonable(v)
        except TypeError:
            keep[k] = str(v)
    return keep


def _move_into(tmp: Path, dest: Path) -> list[Path]:
    """Move every file of ``tmp`` into ``dest`` (``os.replace``: atomic per file on one volume); returns the moved
    files at their new place."""
    dest.mkdir(parents=True, exist_ok=True)
    moved = []
    for f in sorted(tmp.rglob("*")):
        if f.is_file():
            target = dest / f.relative_to(tmp)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(f, target)
            moved.append(target)
    return moved


def remove_stale_temps(out_dir: Path) -> int:
    """Delete temporary files an interrupted run left in ``out_dir``: artefact build folders
    (``models/.building``) and every :mod:`voxquant.atomic` temporary file (result cells, ``cache/`` features,
    reports, ``results.json``...). Returns how many files were removed.

    The decode cache (``VOXQUANT_CACHE/waves``) is shared between runs; its writer removes the temporary files of
    dead writers itself (:func:`voxquant.data.datasets.load_waves`)."""
    from voxquant.atomic import remove_stale_temps as remove_temps

    n = 0
    out_dir = Path(out_dir)
    building = out_dir / "models" / ".building"
    if building.exists():
        n += sum(1 for f in building.rglob("*") if f.is_file())
        shutil.rmtree(building, ignore_errors=True)
    return n + remove_temps(out_dir, legacy_max_age_s=0.0)


# ------------------------------------------------------------------------------------------- artefact records


def artifact_files(path: Path) -> list[Path]:
    """Every file of the artefact ``path``: the file itself plus its sidecars that exist (ONNX external data,
    ``<model>.data``, OpenVINO's ``.bin``, ``<model>.json`` such as RKNN's input sidecar); a folder = its files.

    Returns:
        sorted-by-role paths, the main file first (it is listed even when missing, so a check notices).
    """
    p = Path(path)
    if p.is_dir():
        return sorted(f for f in p.rglob("*") if f.is_file())
    files = [p]
    extra = [p.with_name(p.name + ".data"), p.with_name(p.name + ".json")]
    if p.suffix == ".xml":
        extra.append(p.with_suffix(".bin"))
    if p.suffix == ".onnx" and p.is_file():
        try:
            import onnx
            from onnx.external_data_helper import _get_all_tensors

            m = onnx.load(str(p), load_external_data=False)
            for t in _get_all_tensors(m):
                if t.data_location == onnx.TensorProto.EXTERNAL:
                    loc = next((e.value for e in t.external_data if e.key == "location"), None)
                    if loc:
                        extra.append(p.parent / loc)
        except Exception:  # noqa: BLE001 - an unreadable model is caught by its hash / by loading it
            pass
    for f in extra:
        if f.is_file() and f not in files:
            files.append(f)
    return files


def record_files(paths) -> list[dict]:
    """``[{"path", "size", "sha256"}]`` of ``paths`` (the record a cell keeps to verify an artefact on resume)."""
    out = []
    for f in paths:
        f = Path(f)
        out.append({"path": str(f), "size": f.stat().st_size, "sha256": file_digest([f])})
    return out


def files_problem(records, base: Path | None = None) -> str | None:
    """What is wrong with recorded files now (missing, other size, other sha256), or ``None`` when all match.

    Args:
        records: from :func:`record_files`.
        base: check the files of these names in this folder instead of the recorded paths (a run folder that was
            moved or copied: the model in use is the one next to it).
    """
    for r in records or []:
        f = Path(r["path"]) if base is None else Path(base) / Path(r["path"]).name
        if not f.is_file():
            return f"{f} is missing"
        size = f.stat().st_size
        if size != r.get("size"):
            return f"{f} has {size} bytes, {r.get('size')} when it was built (truncated or replaced)"
        if file_digest([f]) != r.get("sha256"):
            return f"{f} differs from the file that was built (sha256 mismatch)"
    return None


def _artifact_problem(cell: dict) -> str | None:
    if cell.get("status") not in ("ok", "export-only"):
        return None
    if "files" in cell:
        return files_problem(cell["files"])
    p = Path(cell.get("path") or "")
    return None if p.exists() else f"{p} is missing"  # a cell of an older voxquant: no hashes recorded


def invalidate_variant(store, name: str) -> list[str]:
    """Discard ``variant/<name>`` and every cell measured on that artefact (``acc/``, ``pred/``, ``latency/``
    ``<name>/*``, ``kernel_check/<name>``), so the row is rebuilt and measured again. Returns the keys dropped."""
    keys = {f"variant/{name}", f"kernel_check/{name}"}
    for pre in ("acc", "pred", "latency"):
        keys |= set(store.keys(f"{pre}/{name}/")) | set(store.array_keys(f"{pre}/{name}/"))
    for k in sorted(keys):
        store.discard(k)
    return sorted(keys)


#: Cell prefixes derived from the float ONNX model (all of them: every artefact is built from it).
_DERIVED = ("variant/", "acc/", "pred/", "kernel_check/", "latency/")


def ensure_source_model(store, path: Path, export, key: str = "source/fp32_onnx") -> Path:
    """The float ONNX model every artefact is built from, written once and verified on every resume.

    The model is exported into ``<path.parent>/.building/export`` and moved into place only when complete; its
    files' sizes and sha256 are recorded in the cell ``key``. On a resume a recorded model that is missing,
    truncated or replaced is exported again (with a logged warning); if the new export differs from the record,
    every cell derived from the old model is discarded (:data:`_DERIVED`).

    Args:
        store: the run's :class:`~voxquant.report.store.ResultStore`.
        path: final model path (e.g. ``out/models/model.fp32.onnx``).
        export: ``export(tmp_path)`` writes the model (and any external data) at ``tmp_path``.

    Returns:
        ``path``.
    """
    path = Path(path)
    rec = store.get(key, None)
    if path.is_file() and rec:
        why = files_problem(rec.get("files"), base=path.parent)
        if why:
            log.warning("%s; exporting the float model again", why)
            for f in artifact_files(path):
                f.unlink(missing_ok=True)
    if not path.is_file():
        tmp = path.parent / ".building" / "export"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            export(tmp / path.name)
            _move_into(tmp, path.parent)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            try:
                tmp.parent.rmdir()
            except OSError:
                pass
    files = record_files(artifact_files(path))
    if rec and [r["sha256"] for r in rec.get("files", [])] != [r["sha256"] for r in files]:
        dropped = [k for pre in _DERIVED for k in store.keys(pre)]
        if dropped:
            log.warning("%s: the float model differs from the one the stored results were built from; "
                        "discarding %d derived cells", path, len(dropped))
        for pre in _DERIVED:
            for k in set(store.keys(pre)) | set(store.array_keys(pre)):
                store.discard(k)
    if rec is None or rec.get("files") != files:
        store.put(key, {"path": str(path), "files": files})
    return path


def build_artifact(spec: VariantSpec, inputs: MatrixInputs, models_dir: Path, settings: MatrixSettings):
    """Build one row's artefact atomically (temp folder, then moved into ``models_dir``).

    Returns:
        :class:`~voxquant.backends.base.Artifact` with its final path.

    Raises:
        VoxquantError: bad input (propagated); any other exception is a toolchain failure for the caller to record.
    """
    from voxquant.backends.base import Artifact
    from voxquant.backends.table import get_backend
    from voxquant.quant import build_variant, get_recipe

    models_dir = Path(models_dir)
    tmp = models_dir / ".building" / spec.name.replace("@", "_at_")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        if spec.backend == REFERENCE_BACKEND:
            rec = get_recipe(spec.recipe)
            fname = f"model.{spec.recipe}.onnx"
            build_variant(spec.recipe, inputs.fp32_onnx, tmp / fname,
                          inputs.calibration if rec.needs_calibration else None,
                          **{**inputs.recipe_context, **settings.recipe_options.get(spec.recipe, {})})
            _move_into(tmp, models_dir)
            path = models_dir / fname
            size = sum(f.stat().st_size for f in models_dir.glob(fname + "*"))
            return Artifact(path=path, backend="onnxruntime", precision=spec.precision, size_bytes=size)
        b = get_backend(spec.backend)
        kw = dict(settings.backend_options.get(spec.backend, {}))
        if "torch_model" in inspect.signature(b.convert).parameters:
            kw["torch_model"] = inputs.torch_model
        needs_cal = spec.precision.startswith("int8") and spec.precision != "int8-dynamic"
        art = b.convert(inputs.fp32_onnx, spec.precision, tmp, inputs.calibration if needs_cal else None, **kw)
        dest = models_dir / spec.backend
        rel = Path(art.path).resolve().relative_to(tmp.resolve())
        _move_into(tmp, dest)
        art.path = dest / rel
        return art
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            tmp.parent.rmdir()  # only when empty
        except OSError:
            pass


def _coverage(spec: VariantSpec, path: Path, fp32_onnx: Path) -> dict:
    """int8 MAC share of an artefact (``Backend.int8_coverage``), or ``None`` with the reason."""
    from voxquant.backends.table import get_backend

    b = get_backend(spec.backend)
    fn = getattr(b, "int8_coverage", None)
    if fn is None:
        return {"int8_mac_share": None, "note": f"{spec.backend} does not expose per-layer precision"}
    try:
        return fn(Path(path), Path(fp32_onnx))
    except Exception as exc:  # a reader failure must not lose the row
        return {"int8_mac_share": None, "note": f"could not read per-layer precision: {type(exc).__name__}: {str(exc)[:200]}"}


def _is_qdq(path: Path) -> bool:
    """Whether an ONNX model is a static QDQ model (QuantizeLinear nodes, no DynamicQuantizeLinear)."""
    import onnx

    ops = {n.op_type for n in onnx.load(str(path), load_external_data=False).graph.node}
    return "QuantizeLinear" in ops and "DynamicQuantizeLinear" not in ops


def _progress(enabled: bool):
    from voxquant.progress import progress

    return progress(enabled)


def run_matrix(store, out_dir: Path, plan: list[VariantSpec], inputs: MatrixInputs,
               settings: MatrixSettings | None = None) -> dict[str, Path]:
    """Build, evaluate and time every row of ``plan`` that is not already in ``store`` (resume).

    Args:
        store: :class:`~voxquant.report.store.ResultStore` of the run folder.
        out_dir: the run folder (artefacts go to ``out_dir/models``).
        plan: rows from :func:`plan_matrix`.
        inputs, settings: see :class:`MatrixInputs`, :class:`MatrixSettings`.

    Returns:
        ``{variant name: artefact path}`` for every row that built (evaluated or export-only).

    Raises:
        VoxquantError: bad input (a toolchain failure is a ``failed`` row instead).
    """
    from voxquant.backends.table import get_backend

    settings = settings or MatrixSettings()
    out_dir = Path(out_dir)
    models = out_dir / "models"
    models.mkdir(parents=True, exist_ok=True)
    y = np.asarray(inputs.y, dtype=np.int64)
    feats: dict[str, np.ndarray] = {}

    def slice_x(name, fn):
        if name not in feats:
            feats[name] = np.asarray(fn(), dtype=np.float32)
        return feats[name]

    built: dict[str, Path] = {}
    with _progress(settings.progress) as prog:
        task = prog.add_task("variants x slices", total=len(plan) * len(inputs.slices)) if prog else None
        for spec in plan:
            key = f"variant/{spec.name}"
            why = _artifact_problem(store.get(key)) if store.has(key) else None
            if why:  # truncated, replaced or deleted since it was recorded: never reuse it, build it again
                log.warning("%s: %s; rebuilding it and measuring it again", spec.name, why)
                invalidate_variant(store, spec.name)
            if not store.has(key) and spec.prebuilt:
                p = Path(spec.prebuilt)
                if p.is_file():
                    files = record_files(artifact_files(p))  # the artefact's files (IR: .xml + .bin), sizes once
                    store.put(key, {**spec.__dict__, "status": "ok", "path": str(p),
                                    "size_bytes": int(sum(f["size"] for f in files)), "files": files,
                                    "build_seconds": None, "check_summary": "",
                                    "coverage": _coverage(spec, p, inputs.fp32_onnx)})
                else:
                    store.put(key, {**spec.__dict__, "status": "failed", "error": f"not built: {p} is missing"})
            if not store.has(key):
                t0 = time.time()
                ok, why = get_backend(spec.backend).available()
                if not ok:
                    store.put(key, {"status": "failed", "error": f"toolchain missing: {why}", **spec.__dict__})
                else:
                    try:
                        art = build_artifact(spec, inputs, models, settings)
                        extra = _jsonable_extra(art.extra)
                        export_only = bool(extra.get("export_only") or extra.get("status") == "export only")
                        store.put(key, {
                            **spec.__dict__, "status": "export-only" if export_only else "ok", "path": str(art.path),
                            "size_bytes": int(art.size_bytes), "build_seconds": time.time() - t0,
                            "files": record_files(artifact_files(Path(art.path))),
                            "check_summary": extra.get("check_summary", ""), "export_reason": extra.get("reason"),
                            "coverage": _coverage(spec, art.path, inputs.fp32_onnx),
                            "extra": {k: v for k, v in extra.items() if k not in ("check_summary",)}})
                    except VoxquantError:
                        raise
                    except Exception as exc:  # a toolchain failure is a row in the report, not a crash
                        store.put(key, {**spec.__dict__, "status": "failed", "error": f"{type(exc).__name__}: {one_line(exc)}"})
            cell = store.get(key)
            if cell["status"] in ("ok", "export-only"):
                built[spec.name] = Path(cell["path"])
            sess = None
            for name, fn in inputs.slices:
                ckey = f"acc/{spec.name}/{name}"
                if cell["status"] == "ok" and not store.has(ckey):
                    try:
                        if sess is None:
                            from voxquant.toolchain_log import toolchain_output

                            with toolchain_output(out_dir, f"load {spec.name}"):  # runtime banners -> toolchain.log
                                sess = get_backend(spec.backend).load(Path(cell["path"]), threads=settings.eval_threads)
                            if spec.name == REFERENCE:
                                if inputs.task is not None:
                                    inputs.task.check_output(sess, slice_x(name, fn), Path(cell["path"]))
                                else:
                                    check_output_width(sess, slice_x(name, fn), len(inputs.labels), Path(cell["path"]))
                        scored = _score(inputs, sess, name, slice_x(name, fn), y)
                    except VoxquantError as exc:
                        if spec.name == REFERENCE:
                            raise
                        store.put(key, {**cell, "status": "failed", "error": f"built, but running it failed: {one_line(exc)}"})
                        break
                    except Exception as exc:
                        if spec.name == REFERENCE:
                            raise
                        store.put(key, {**cell, "status": "failed",
                                        "error": f"built, but running it failed: {type(exc).__name__}: {one_line(exc)}"})
                        break
                    store.put_array(f"pred/{spec.name}/{name}", scored["pred"])
                    for aname, arr in scored.get("arrays", {}).items():
                        store.put_array(f"{aname}/{spec.name}/{name}", arr)
                    store.put_array(ckey, scored["correct"])
                    store.put(ckey, scored["metrics"])
                if prog:
                    prog.update(task, advance=1, description=f"{spec.name} / {name}")
            if (spec.backend == REFERENCE_BACKEND and store.get(key)["status"] == "ok" and _is_qdq(Path(cell["path"]))
                    and not store.has(f"kernel_check/{spec.name}") and inputs.slices):
                from voxquant.backends.onnxruntime import OrtSession

                name, fn = inputs.slices[0]
                x = slice_x(name, fn)
                sim = _score(inputs, OrtSession(Path(cell["path"]), threads=settings.eval_threads, optimization="basic"),
                             name, x, y)
                kern = _score(inputs, sess or OrtSession(Path(cell["path"]), threads=settings.eval_threads), name, x, y)
                same = np.all((sim["pred"] == kern["pred"]).reshape(len(sim["pred"]), -1), axis=1)
                store.put(f"kernel_check/{spec.name}", {"qdq_simulated_accuracy": float(sim["correct"].mean()),
                                                        "kernel_accuracy": float(kern["correct"].mean()),
                                                        "agreement": float(same.mean())})
            if sess is not None and hasattr(sess, "close"):
                sess.close()
    _measure_latency(store, plan, inputs, settings)
    return built


def _score(inputs: MatrixInputs, session, slice_name: str, x: np.ndarray, y: np.ndarray) -> dict:
    """Per-clip results of one slice: the task's ``score`` (:class:`MatrixInputs`), else classification (top-1 of
    :func:`predict` against ``y``)."""
    if inputs.task is not None:
        res = inputs.task.score(session, slice_name, x)
        res["correct"] = np.asarray(res["correct"], dtype=bool)
        return res
    from voxquant.eval.metrics import classification_metrics

    pred = predict(session, x)
    return {"correct": pred == y, "pred": pred, "metrics": classification_metrics(y, pred, inputs.labels), "arrays": {}}


def latency_note(backend: str) -> str | None:
    """Why latency is not measured for ``backend`` on this host, or ``None`` when it is."""
    from voxquant.backends.table import get_backend

    b = get_backend(backend)
    if getattr(b, "latency_note", None):
        return b.latency_note
    if not b.info.runs_here:
        return "not measured: no runtime for this target on this host"
    return None


def _measure_latency(store, plan, inputs: MatrixInputs, settings: MatrixSettings) -> None:
    from voxquant.eval.latency import measure_latency

    rows = [s for s in plan if store.get(f"variant/{s.name}")["status"] == "ok" and latency_note(s.backend) is None]
    if not settings.threads or not inputs.latency_files or inputs.frontend is None:
        return
    with _progress(settings.progress) as prog:
        task = prog.add_task("latency", total=len(rows) * len(settings.threads)) if prog else None
        for spec in rows:
            path = Path(store.get(f"variant/{spec.name}")["path"])
            for t in settings.threads:
                lkey = f"latency/{spec.name}/t{t}"
                if not store.has(lkey):
                    try:
                        res = measure_latency(path, inputs.latency_files, inputs.frontend, spec.backend, threads=t,
                                              runs=settings.latency_runs, warmup=settings.latency_warmup,
                                              layout=inputs.layout)
                    except RuntimeError as exc:
                        res = {"error": str(exc)}
                    store.put(lkey, res)
                if prog:
                    prog.update(task, advance=1, description=f"latency {spec.name} @ {t} thread(s)")


def assemble_variants(store, plan: list[VariantSpec], slice_names: list[str], *, threads=(1, 2), n_boot: int = 2000,
                      seed: int = 0, groups: dict | None = None) -> list[dict]:
    """``results.json`` variant rows from the stored cells (no model is run here).

    Every row, on every backend, gets the same statistics: per slice accuracy, drop vs ``fp32`` (ONNX Runtime) on
    the same clips with a paired bootstrap 95 % CI and McNemar's exact p (:func:`voxquant.report.make_slice`);
    latency where measured, ``slower_than_fp32`` by :func:`voxquant.eval.rules.slower_than_reference` against the
    same runtime's fp32 row when there is one (else ONNX Runtime's fp32), and ``int8_mac_share``.

    Args:
        groups: ``{column: str [N]}`` group value per eval clip (``--group-by`` columns, ``speaker``): each adds
            per-group slices on the clean slice (see :func:`group_slices`).
    """
    from voxquant.eval.rules import slower_than_reference
    from voxquant.quant import get_recipe
    from voxquant.report import make_latency, make_slice as make_slice_entry

    ref_correct = {n: store.get_array(f"acc/{REFERENCE}/{n}") for n in slice_names if store.has_array(f"acc/{REFERENCE}/{n}")}
    variants = []
    fp32_model_p50: dict[str, float] = {}
    for spec in plan:
        rec = get_recipe(spec.recipe)
        built = store.get(f"variant/{spec.name}")
        v = {"name": spec.name, "recipe": spec.recipe, "precision": rec.precision if spec.backend == REFERENCE_BACKEND
             and not spec.prebuilt else spec.precision, "backend": _backend_name(spec.backend),
             "backend_argument": spec.backend, "description": spec.description or rec.description}
        cov = built.get("coverage") or {}
        v["int8_mac_share"] = cov.get("int8_mac_share")
        v["coverage"] = cov
        if built.get("check_summary"):
            v["check_summary"] = built["check_summary"]
        if built["status"] != "ok":
            v.update(status="failed" if built["status"] == "failed" else "skipped",
                     error=built.get("error") or (_export_reason(built.get("export_reason"))
                                                  if built["status"] == "export-only" else None),
                     size_bytes=built.get("size_bytes"), accuracy=None, latency_ms=None, peak_rss_bytes=None,
                     slices=[], per_class=None, confusion=None)
            v["export_only"] = built["status"] == "export-only"
            variants.append(v)
            continue
        v.update(status="ok", size_bytes=built["size_bytes"], build_seconds=built.get("build_seconds"))
        slices = []
        for name in slice_names:
            if name in ref_correct and store.has_array(f"acc/{spec.name}/{name}"):
                slices.append(make_slice_entry(name, ref_correct[name], store.get_array(f"acc/{spec.name}/{name}"),
                                               n_boot=n_boot, seed=seed))
        v["slices"] = slices
        if groups and slice_names and slice_names[0] in ref_correct and store.has_array(f"acc/{spec.name}/{slice_names[0]}"):
            v["groups"] = group_slices(ref_correct[slice_names[0]], store.get_array(f"acc/{spec.name}/{slice_names[0]}"),
                                       groups, n_boot=n_boot, seed=seed)
        if store.has(f"kernel_check/{spec.name}"):
            kc = store.get(f"kernel_check/{spec.name}")
            v["kernel_check"] = kc
            if kc["agreement"] < KERNEL_AGREEMENT_MIN:
                v["kernel_warning"] = (
                    f"ONNX Runtime's fused int8 kernels agree with the QDQ graph simulated in float on only "
                    f"{100 * kc['agreement']:.1f}% of clean clips (simulated accuracy {100 * kc['qdq_simulated_accuracy']:.2f}%, "
                    f"kernel {100 * kc['kernel_accuracy']:.2f}%): on x86 without VNNI the U8S8 kernels saturate "
                    f"(VPMADDUBSW); use reduce_range (the default static recipes do) or run on the target.")
        first = store.get(f"acc/{spec.name}/{slice_names[0]}") if slice_names else {}
        v["accuracy"] = first.get("accuracy")
        v["per_class"] = first.get("per_class")
        v["confusion"] = first.get("confusion")
        lats = {t: store.get(f"latency/{spec.name}/t{t}") for t in threads if store.has(f"latency/{spec.name}/t{t}")}
        good = {t: lat for t, lat in lats.items() if "error" not in lat}
        if good and threads and threads[0] in good:
            v["latency_ms"] = make_latency({t: lat["e2e_samples_ms"] for t, lat in good.items()},
                                           {t: lat["model_samples_ms"] for t, lat in good.items()}, headline_threads=threads[0])
            v["latency_ms"]["io_frontend_p50"] = good[threads[0]]["io_frontend_ms"]["p50"]
            v["peak_rss_bytes"] = max(lat["peak_rss_bytes"] for lat in good.values())
            mp50 = v["latency_ms"]["model_p50"]
            if spec.recipe == REFERENCE:
                fp32_model_p50[spec.backend] = mp50
                v["slower_than_fp32"] = False
            ref = fp32_model_p50.get(spec.backend, fp32_model_p50.get(REFERENCE_BACKEND))
            if ref:
                # speed-up and "slower" both on model-only p50 (what quantization changes), vs the same runtime's fp32
                v["model_speedup_vs_fp32"] = v["speedup_vs_fp32"] = ref / mp50
                v["slower_than_fp32"] = bool(slower_than_reference(mp50, ref)) if spec.recipe != REFERENCE else False
        else:
            v["latency_ms"] = None
            v["peak_rss_bytes"] = None
            v["latency_error"] = ("; ".join(lat.get("error", "") for lat in lats.values())
                                  or latency_note(spec.backend) or "not measured")
        variants.append(v)
    return variants


def _export_reason(reason: str | None) -> str:
    reason = (reason or "no runtime here").strip()
    return reason if reason.lower().startswith("export only") else f"export only: {reason}"


def _backend_name(argument: str) -> str:
    from voxquant.backends.table import get_backend

    return get_backend(argument).info.name


def group_slices(ref_correct: np.ndarray, var_correct: np.ndarray, groups: dict, *, n_boot: int = 2000,
                 seed: int = 0, min_clips: int = 1) -> dict:
    """Per-group drops with paired CIs, and the worst-decile speakers.

    Args:
        ref_correct, var_correct: ``bool [N]`` per-clip correctness of the reference and the variant (same clips).
        groups: ``{column: str [N]}``; the column ``speaker`` (when present) also gives the worst-decile entry.

    Returns:
        ``{column: [slice entries named "<column>=<value>" with "group" and "n"]}`` and, with speakers,
        ``"worst_decile_speakers"``: the slice entry over the clips of the 10 % of speakers (at least one) with the
        lowest *reference* accuracy (ranked by the reference, not the variant, so the selection is not biased
        toward the variant's own errors), plus ``"speakers"`` (how many) and ``"per_speaker"``
        ``[{speaker, n, accuracy_ref, accuracy}]``.
    """
    from voxquant.report import make_slice as make_slice_entry

    out: dict = {}
    for col, vals in groups.items():
        vals = np.asarray(vals).astype(str)
        rows = []
        for g in sorted(set(vals.tolist())):
            idx = np.where(vals == g)[0]
            if len(idx) < min_clips:
                continue
            e = make_slice_entry(f"{col}={g}", ref_correct[idx], var_correct[idx], n_boot=n_boot, seed=seed)
            e["group"] = g
            e["accuracy_ref"] = float(ref_correct[idx].mean())
            rows.append(e)
        out[col] = rows
        if col == "speaker":
            spk = sorted(set(vals.tolist()))
            acc_ref = {s: float(ref_correct[vals == s].mean()) for s in spk}
            k = max(1, int(round(0.1 * len(spk))))
            worst = sorted(spk, key=lambda s: (acc_ref[s], s))[:k]
            idx = np.where(np.isin(vals, worst))[0]
            wd = make_slice_entry("worst_decile_speakers", ref_correct[idx], var_correct[idx], n_boot=n_boot, seed=seed)
            wd["speakers"] = worst
            wd["accuracy_ref"] = float(ref_correct[idx].mean())
            out["worst_decile_speakers"] = wd
            out["per_speaker"] = [{"speaker": s, "n": int((vals == s).sum()), "accuracy_ref": acc_ref[s],
                                   "accuracy": float(var_correct[vals == s].mean())} for s in spk]
    return out


# ------------------------------------------------------------------------------------------------ fingerprint


def file_digest(paths) -> str:
    """sha256 over the bytes of ``paths`` (files; a folder = its files, sorted), hex."""
    import hashlib

    h = hashlib.sha256()
    for p in paths:
        p = Path(p)
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        for f in files:
            h.update(f.name.encode())
            with open(f, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()


def value_digest(obj) -> str:
    """sha256 of a JSON-able value (sorted keys), hex."""
    import hashlib
    import json

    from voxquant.report.store import to_jsonable

    return hashlib.sha256(json.dumps(to_jsonable(obj), sort_keys=True, default=str).encode()).hexdigest()


def check_fingerprint(out_dir: Path, fingerprint: dict) -> None:
    """Record ``fingerprint`` (``{component: digest or value}``) in ``out_dir/fingerprint.json`` on the first run;
    on a resume, stop when any component differs.

    Raises:
        ConfigError: ``"<out>: results were computed with another <component> ..."`` naming every component that
            changed, with the hint to use a new ``--out`` (or delete the folder).
    """
    from voxquant.report.store import write_json_atomic

    out_dir = Path(out_dir)
    path = out_dir / "fingerprint.json"
    if path.is_file():
        import json

        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError):
            old = None
        if not isinstance(old, dict):
            raise ConfigError(f"{path}: unreadable run fingerprint", hint="delete the run folder or use a new --out")
        changed = [k for k in sorted(set(old) | set(fingerprint)) if old.get(k) != fingerprint.get(k)]
        if changed:
            def short(x):
                s = str(x)
                return s[:12] if len(s) == 64 else s[:60]

            what = "; ".join(f"{k}: {short(old.get(k))} -> {short(fingerprint.get(k))}" for k in changed)
            raise ConfigError(f"{out_dir}: this folder holds results of a different run ({what})",
                              hint="use a new --out, or delete the folder to recompute")
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, fingerprint)


__all__ = ["KERNEL_AGREEMENT_MIN", "MatrixInputs", "MatrixSettings", "RECIPE_PRECISION", "REFERENCE", "VariantSpec",
           "artifact_files", "assemble_variants", "build_artifact", "ensure_source_model", "files_problem",
           "invalidate_variant", "record_files", "check_fingerprint", "prebuilt_row", "file_digest", "group_slices", "latency_note",
           "parse_backends", "plan_matrix", "predict", "predict_scores", "remove_stale_temps", "run_matrix", "value_digest",
           "variant_name"]
