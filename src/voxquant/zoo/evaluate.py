"""Evaluate zoo / spec models on real speech and reproduce the publishers' numbers.

* :func:`spec_features` -- clips -> ``float32 [N, T, F]`` through the spec's front-end (and padding rule).
* :func:`evaluate_spec` -- accuracy with a Wilson 95 % CI on the clips the model can score.
* :func:`zoo_eval` / :func:`zoo_eval_all` -- the reproduction table (official 4,890-clip test set, its ``eval``
  split, FSDD digits for BC-ResNet).
* :func:`quantize_third_party` -- voxquant's PTQ recipes on the MLPerf Tiny fp32 SavedModel vs the publisher's int8.
* :func:`accent_slice` -- BC-ResNet-2 fp32 vs int8 PTQ per FSDD speaker and accent group.
* :func:`reproduce` -- all of it, rendered to ``docs/reproduction.md`` (``scripts/reproduce_zoo.py``).

Scoring: a clip's target is ``voxquant.zoo.spec.target_label`` (12-class label, spoken word, or a mapping);
clips without a target for a model (e.g. ``_silence_`` for the 35-word BC-ResNet) are not scored by it, and the
row says how many clips were scored. FSDD digits ``"0".."9"`` are scored as the words ``zero``..``nine``.
Accuracies are fractions in [0, 1]; differences are in percentage points (``100 * (ours - published)``).
"""

from __future__ import annotations

import os

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voxquant.audio.frontend import compute_features
from voxquant.audio.io import load_audio
from voxquant.errors import ConfigError
from voxquant.zoo.spec import ModelSpec, target_label

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
"""FSDD label ``"d"`` -> Speech Commands word ``DIGIT_WORDS[d]``."""

ACCENT_GROUPS = {"USA/neutral": "US", "DEU/German": "German", "BEL/French": "Belgian-French", "GRC/Greek": "Greek"}
"""FSDD ``accent`` column -> accent group name used in the tables."""


def clip_word(clip) -> str | None:
    """The spoken word of a clip: ``Clip.word``, or the digit word for FSDD's ``"0".."9"`` labels."""
    if clip.word:
        return clip.word
    if len(clip.label) == 1 and clip.label.isdigit():
        return DIGIT_WORDS[int(clip.label)]
    return None


def targets(spec: ModelSpec, clipset) -> np.ndarray:
    """Target class ids ``int64 [N]`` in the spec's label order; ``-1`` for clips the model cannot score."""
    index = {lab: i for i, lab in enumerate(spec.labels)}
    out = np.full(len(clipset), -1, dtype=np.int64)
    for i, clip in enumerate(clipset.clips):
        t = target_label(spec, clip.label, clip_word(clip))
        if t is not None:
            out[i] = index[t]
    return out


def spec_features(spec: ModelSpec, clipset, pad: str | None = None, cache: bool = True) -> np.ndarray:
    """Features of every clip through the spec's front-end, ``float32 [N, T, F]``.

    Args:
        spec: the model spec (front-end, ``pad``, ``pad_value``).
        clipset: a :class:`voxquant.data.ClipSet`.
        pad: override ``spec.pad``: ``"audio"`` -- waveform zero-padded/cropped to ``clip_samples`` (decoded through
            the cached :func:`voxquant.data.load_waves`); ``"features"`` -- features of the clip as recorded
            (cropped to ``clip_samples`` if longer), frames padded with ``spec.pad_value`` up to the model's frame
            count (a ``pad_sequence`` collate function's semantics).
        cache: use the decoded-wave cache (``pad="audio"``).

    Raises:
        AudioError: unreadable clip (names the file).
    """
    from voxquant.data import load_waves

    fe = spec.frontend
    pad = pad or spec.pad
    if pad == "audio":
        waves = load_waves(clipset, fe.sample_rate, fe.clip_samples, cache=cache)
        return compute_features(waves, fe)
    t_model = fe.n_frames()
    min_len = (fe.n_fft // 2 + 1) if fe.center else fe.win_length
    out = np.full((len(clipset), t_model, fe.n_features), spec.pad_value, dtype=np.float32)
    for i, clip in enumerate(clipset.clips):
        x = load_audio(clip.path, fe.sample_rate, None)[: fe.clip_samples]
        if x.shape[0] < min_len:
            x = np.pad(x, (0, min_len - x.shape[0]))
        f = compute_features(x, fe)[:t_model]
        out[i, : f.shape[0]] = f
    return out


@dataclass
class EvalResult:
    """Accuracy of one model on one clip set.

    Attributes:
        model, split: names. n: clips scored. correct: how many were right.
        accuracy: ``correct / n``. ci95: Wilson 95 % interval (fractions).
        y_true, y_pred: ``int64 [N_all]`` (``-1`` target = not scored), kept for paired tests.
        scores: ``float32 [N_all, C]``. extra: anything else (e.g. 10-digit accuracy).
    """

    model: str
    split: str
    n: int
    correct: int
    accuracy: float
    ci95: tuple[float, float]
    y_true: np.ndarray = field(repr=False)
    y_pred: np.ndarray = field(repr=False)
    scores: np.ndarray = field(repr=False)
    extra: dict = field(default_factory=dict)

    @property
    def correct_mask(self) -> np.ndarray:
        """``bool [n]`` per scored clip (for McNemar / bootstrap)."""
        keep = self.y_true >= 0
        return self.y_pred[keep] == self.y_true[keep]

    def subset(self, mask: np.ndarray, split: str) -> "EvalResult":
        """The result restricted to clips ``mask`` (``bool [N_all]``), recomputing accuracy and CI."""
        return _result(self.model, split, self.y_true[mask], self.scores[mask], self.extra.get("digit_ids"))


def _result(model: str, split: str, y_true: np.ndarray, scores: np.ndarray, digit_ids=None) -> EvalResult:
    from voxquant.eval.stats import wilson_ci

    y_pred = scores.argmax(axis=1).astype(np.int64) if len(scores) else np.zeros(0, np.int64)
    keep = y_true >= 0
    n = int(keep.sum())
    correct = int((y_pred[keep] == y_true[keep]).sum())
    acc = correct / n if n else float("nan")
    ci = wilson_ci(correct, n) if n else (float("nan"), float("nan"))
    extra = {}
    if digit_ids is not None:
        d = np.asarray(digit_ids)
        extra["digit_ids"] = list(map(int, d))
        dig = keep & np.isin(y_true, d)
        if n and dig.sum() == n:  # every scored clip is a digit (FSDD): also score a 10-way digit classifier
            sub = d[scores[dig][:, d].argmax(axis=1)]
            extra["accuracy_digits10"] = float(np.mean(sub == y_true[dig]))
            extra["correct_digits10"] = int(np.sum(sub == y_true[dig]))
    return EvalResult(model, split, n, correct, acc, ci, y_true, y_pred, scores, extra)


def evaluate_spec(spec: ModelSpec, clipset, session=None, split: str = "", threads: int = 1, pad: str | None = None,
                  features: np.ndarray | None = None) -> EvalResult:
    """Score a model on a clip set.

    Args:
        spec: the model spec.
        clipset: clips (any labels; see :func:`targets`).
        session: an open :class:`voxquant.zoo.models.SpecSession` (default: :func:`voxquant.zoo.open_model`).
        split: name for the result.
        threads: for a newly opened session.
        pad: front-end padding override (:func:`spec_features`).
        features: precomputed ``[N, T, F]`` features (skip the front-end).

    Returns:
        :class:`EvalResult`; for models with the ten digit words among their labels ``extra`` also holds
        ``accuracy_digits10`` (argmax restricted to those ten classes).
    """
    from voxquant.engine import predict_scores
    from voxquant.zoo.models import open_model
    from voxquant.zoo.spec import to_model_layout

    sess = session if session is not None else open_model(spec, threads=threads)
    y = targets(spec, clipset)
    feats = features if features is not None else spec_features(spec, clipset, pad=pad)
    scores = predict_scores(sess, to_model_layout(feats, spec.input.layout))
    digit_ids = [spec.labels.index(w) for w in DIGIT_WORDS] if all(w in spec.labels for w in DIGIT_WORDS) else None
    return _result(spec.name, split, y, scores, digit_ids)


# ------------------------------------------------------------------------------------------------------------
# the zoo table


def _data(data_root):
    from voxquant.data import fsdd, speech_commands_test, split_dev_eval

    test = speech_commands_test(data_root)
    dev, ev = split_dev_eval(test)
    eval_ids = {id(c) for c in ev.clips}
    eval_mask = np.array([id(c) in eval_ids for c in test.clips], dtype=bool)
    return test, dev, ev, eval_mask, (lambda: fsdd(data_root))


def _row(spec: ModelSpec, res: EvalResult, set_name: str, seconds: float, comparable_split: bool) -> dict:
    pub = spec.published
    pacc = pub.get("accuracy")
    row = {
        "model": spec.name, "family": spec.family, "format": spec.format, "precision": spec.precision,
        "split": res.split, "test_set": set_name, "n": res.n, "correct": res.correct, "accuracy": res.accuracy,
        "ci95": list(res.ci95), "published_accuracy": pacc, "published_text": pub.get("text"),
        "published_source": pub.get("source"), "published_test_set": pub.get("test_set"),
        "same_test_set": bool(pub.get("same_test_set", False)) and comparable_split,
        "diff_pp": (100.0 * (res.accuracy - pacc)) if pacc is not None else None, "seconds": round(seconds, 2),
    }
    for k in ("accuracy_digits10", "correct_digits10"):
        if k in res.extra:
            row[k] = res.extra[k]
    keep = res.y_true >= 0
    recall = {}
    for i, lab in enumerate(spec.labels):
        m = keep & (res.y_true == i)
        if m.any():
            recall[lab] = [int((res.y_pred[m] == i).sum()), int(m.sum())]
    row["recall"] = recall  # label -> [correct, n]
    if spec.format == "tflite":
        row["input_out_of_range"] = res.extra.get("input_out_of_range")
    return row


def zoo_eval(name: str, split: str = "test", data_root=None, threads: int = 1, limit: int | None = None,
             download: bool = True, keep_results: bool = False) -> list[dict]:
    """Evaluate zoo model(s) on a Speech Commands split or FSDD.

    Args:
        name: a zoo model, a family (e.g. ``"arm-kws-int8"``) or ``"all"``.
        split: ``"test"`` (the 4,890-clip official test set), ``"eval"`` / ``"dev"`` (its speaker-disjoint halves,
            :func:`voxquant.data.split_dev_eval`) or ``"fsdd"`` (all 3,000 FSDD clips; only models whose labels
            include the digit words).
        data_root: data root (default ``VOXQUANT_DATA``).
        threads: intra-op threads.
        limit: evaluate only every ``len/limit``-th clip (about ``limit`` clips, spread over all labels): for tests.
        download: allow downloading missing model files.
        keep_results: add the :class:`EvalResult` under ``"result"`` in each row.

    Returns:
        One dict per model: ``model, family, format, precision, split, test_set, n, correct, accuracy, ci95,
        published_accuracy, published_source, published_test_set, same_test_set, diff_pp, seconds`` (+
        ``accuracy_digits10`` for FSDD).

    Raises:
        ConfigError: unknown model/split, or ``fsdd`` for a model without digit words.
        DataError / ModelError: data or model files unavailable.
    """
    from voxquant.zoo.models import open_model
    from voxquant.zoo.registry import expand, zoo_spec

    if split not in ("test", "eval", "dev", "fsdd"):
        raise ConfigError(f"unknown split '{split}' (choose from test, eval, dev, fsdd)")
    names = expand(name)
    if split == "fsdd":
        from voxquant.data import fsdd

        clips = fsdd(data_root)
        set_name = "FSDD (3,000 clips, 6 speakers, 8 kHz resampled to 16 kHz)"
    else:
        test, dev, ev, _, _ = _data(data_root)
        clips = {"test": test, "eval": ev, "dev": dev}[split]
        set_name = {"test": "SC v2 official test set (4,890)", "eval": "its eval split", "dev": "its dev split"}[split]
    if limit:
        step = max(1, len(clips) // int(limit))
        clips = clips.subset(np.arange(0, len(clips), step), name=f"{clips.name}[::{step}]")
    rows = []
    for n in names:
        spec = zoo_spec(n, download=download)
        if split == "fsdd" and not all(w in spec.labels for w in DIGIT_WORDS):
            if len(names) == 1:
                raise ConfigError(f"zoo model '{n}' has no digit-word labels; it cannot be scored on FSDD")
            continue
        t0 = time.perf_counter()
        sess = open_model(spec, threads=threads)
        res = evaluate_spec(spec, clips, session=sess, split=split)
        res.extra["input_out_of_range"] = getattr(sess.inner, "out_of_range", None)
        row = _row(spec, res, set_name, time.perf_counter() - t0, comparable_split=split == "test")
        if keep_results:
            row["result"] = res
        rows.append(row)
    return rows


def zoo_eval_all(out_path: str | Path, data_root=None, threads: int = 1, download: bool = True,
                 fsdd_pad_audio: bool = True) -> dict:
    """Evaluate every zoo model on the full official test set, its ``eval`` split, and FSDD (digit-word models).

    The ``eval`` numbers are the ``test`` predictions restricted to the eval clips (no second inference).

    Args:
        out_path: where to write; ``<stem>.json`` (all rows) and ``<stem>.md`` (the markdown table) are written
            next to each other whatever the suffix.
        data_root: data root (default ``VOXQUANT_DATA``).
        threads: intra-op threads.
        download: allow downloading missing model files.
        fsdd_pad_audio: also score FSDD with waveform zero-padding (a front-end sensitivity row).

    Returns:
        ``{"rows": [...], "markdown": str, "json": path, "md": path}``.
    """
    from voxquant.engine import predict_scores
    from voxquant.zoo.models import open_model
    from voxquant.zoo.registry import zoo_names, zoo_spec
    from voxquant.zoo.spec import to_model_layout

    test, dev, ev, eval_mask, get_fsdd = _data(data_root)
    rows: list[dict] = []
    fsdd_clips = None
    for name in zoo_names():
        spec = zoo_spec(name, download=download)
        t0 = time.perf_counter()
        sess = open_model(spec, threads=threads)
        res = evaluate_spec(spec, test, session=sess, split="test")
        res.extra["input_out_of_range"] = getattr(sess.inner, "out_of_range", None)
        dt = time.perf_counter() - t0
        rows.append(_row(spec, res, "SC v2 official test set (4,890)", dt, comparable_split=True))
        rows.append(_row(spec, res.subset(eval_mask, "eval"), "eval split of the official test set", 0.0,
                         comparable_split=False))
        if all(w in spec.labels for w in DIGIT_WORDS):
            fsdd_clips = fsdd_clips or get_fsdd()
            for pad in ([None, "audio"] if fsdd_pad_audio and spec.pad != "audio" else [None]):
                r = evaluate_spec(spec, fsdd_clips, session=sess, split="fsdd" if pad is None else "fsdd-pad-audio",
                                  pad=pad)
                row = _row(spec, r, "FSDD (3,000 clips)", 0.0, comparable_split=False)
                row["diff_pp"] = row["published_accuracy"] = None  # nothing is published on FSDD
                rows.append(row)
    for name in zoo_names():  # what each 12-class model says for 1 s of digital silence (all-zero audio)
        spec = zoo_spec(name, download=False)
        if "_silence_" in spec.labels:
            sess = open_model(spec, threads=threads)
            z = compute_features(np.zeros((1, spec.frontend.clip_samples), np.float32), spec.frontend)
            y = predict_scores(sess, to_model_layout(z, spec.input.layout))[0]
            for r in rows:
                if r["model"] == name:
                    r["zero_audio_prediction"] = [spec.labels[int(y.argmax())], float(y.max())]
    md = render_zoo_table(rows)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    jpath, mpath = out.with_suffix(".json"), out.with_suffix(".md")
    from voxquant.atomic import write_text_atomic

    write_text_atomic(jpath, json.dumps({"rows": rows}, indent=1, default=float))
    write_text_atomic(mpath, md + "\n")
    return {"rows": rows, "markdown": md, "json": jpath, "md": mpath}


def _pct(x, nd=2):
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{100 * x:.{nd}f}"


def render_zoo_table(rows: list[dict]) -> str:
    """Markdown table: model, format, set, n, published [source ref], ours [Wilson 95 % CI], difference; then the
    numbered list of published sources and the test set each number was measured on."""
    head = ("| model | format / precision | evaluated on | n | published | ours [95% CI] | ours − published (pt) |\n"
            "|---|---|---|---:|---|---|---:|")
    lines = [head]
    refs: dict[tuple, int] = {}
    for r in rows:
        pub = "–"
        if r.get("published_source") and r["split"] == "test":
            key = (r["published_source"], r.get("published_test_set"))
            refs.setdefault(key, len(refs) + 1)
        if r.get("published_accuracy") is not None:
            k = refs.get((r["published_source"], r.get("published_test_set")))
            pub = f"{_pct(r['published_accuracy'])} %" + (f" [{k}]" if k else "") + (
                "" if r["same_test_set"] else " *(other test set)*")
        elif r.get("published_source") and r["split"] == "test":
            pub = f"none [{refs[(r['published_source'], r.get('published_test_set'))]}]"
        ours = f"**{_pct(r['accuracy'])}** [{_pct(r['ci95'][0])}, {_pct(r['ci95'][1])}]"
        if "accuracy_digits10" in r:
            ours += f"; 10-digit argmax {_pct(r['accuracy_digits10'])}"
        diff = "–" if r.get("diff_pp") is None else f"{r['diff_pp']:+.2f}"
        split = {"test": "official test (4,890)", "eval": "eval split", "fsdd": "FSDD 3,000 (feature pad, as trained)",
                 "fsdd-pad-audio": "FSDD 3,000 (audio zero-pad)"}.get(r["split"], r["split"])
        lines.append(f"| {r['model']} | {r['format']} / {r['precision']} | {split} | {r['n']} | {pub} | {ours} | {diff} |")
    lines.append("")
    lines.append("Published numbers, sources and the test set each was measured on:")
    lines.append("")
    for (src, test_set), k in refs.items():
        lines.append(f"{k}. {src}. Test set: {test_set}.")
    return "\n".join(lines)


def rounding_sensitivity(name: str = "mlperf-tiny-kws-dscnn-int8", data_root=None, threads: int = 1,
                         download: bool = True) -> list[dict]:
    """Accuracy of an int8-input TFLite zoo model on the official test set under each input rounding rule.

    Returns:
        One dict per rule (``truncate`` without and with clipping, ``nearest``, ``nearest_even``): ``rounding, clip,
        accuracy, ci95, n, out_of_range`` (input values outside [-128, 127] before clipping, over all clips) and
        ``agree_with_spec`` (fraction of clips whose prediction equals the spec's rule).
    """
    import dataclasses

    from voxquant.zoo.models import SpecSession
    from voxquant.zoo.registry import zoo_spec
    from voxquant.zoo.tflite import TFLiteSession

    spec = zoo_spec(name, download=download)
    test, *_ = _data(data_root)
    feats = spec_features(spec, test)
    q = spec.input.quantization
    runs = [("truncate", False), ("truncate", True), ("nearest", True), ("nearest_even", True)]
    base = None
    rows = []
    for rounding, clip in runs:
        sess = TFLiteSession(spec.model_path, threads=threads, rounding=rounding, clip=clip)
        s2 = dataclasses.replace(spec, input=dataclasses.replace(spec.input, quantization=dataclasses.replace(
            q, rounding=rounding, clip=clip)))
        res = evaluate_spec(s2, test, session=SpecSession(s2, sess, spec.model_path), features=feats)
        if rounding == q.rounding and clip == q.clip:
            base = res.y_pred
        rows.append({"rounding": rounding, "clip": clip, "accuracy": res.accuracy, "ci95": list(res.ci95), "n": res.n,
                     "out_of_range": sess.out_of_range, "y_pred": res.y_pred})
    for r in rows:
        r["agree_with_spec"] = float(np.mean(r.pop("y_pred") == base)) if base is not None else None
    return rows


# ------------------------------------------------------------------------------------------------------------
# item 7: quantize a third-party float model


def ort_session(path: str | Path, threads: int = 1, int8_kernels: bool = True):
    """An ONNX Runtime CPU session; with ``int8_kernels=False`` graph optimisation stops at ``ORT_ENABLE_BASIC``.

    At ``BASIC`` the QDQ pairs are not fused into ORT's integer kernels (``QLinearConv`` ...), so a QDQ model runs
    as float ops on the dequantized tensors: the arithmetic an int8 device with 32-bit accumulation computes,
    without the x86 AVX2 ``VPMADDUBSW`` int16 saturation of ORT's u8s8 kernels on CPUs without VNNI (ONNX Runtime
    docs, "Quantize ONNX models", FAQ on U8U8 / ``reduce_range``). Returns a :class:`~voxquant.backends.base.Session`.
    """
    import onnxruntime as ort

    from voxquant.backends.onnxruntime import OrtSession

    sess = OrtSession(Path(path), threads=threads)
    if not int8_kernels:
        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        so.log_severity_level = 3
        sess.sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return sess


def _calibration(spec: ModelSpec, dev, n: int, seed: int = 0) -> np.ndarray:
    """``n`` dev clips drawn by THE calibration sampler (:func:`voxquant.data.slices.stratified_subset`: class-
    stratified, seeded), as model inputs in the spec's layout."""
    from voxquant.data.slices import stratified_subset
    from voxquant.zoo.spec import to_model_layout

    return to_model_layout(spec_features(spec, stratified_subset(dev, n, seed)), spec.input.layout)


def _matrix(out_dir: Path, fp32_onnx: Path, recipes, y: np.ndarray, labels, slices: list, calib: np.ndarray,
            threads: int, recipe_options: dict | None = None):
    """fp32 + ``recipes`` on ONNX Runtime through the engine (:func:`voxquant.engine.run_matrix`), in the
    :class:`~voxquant.report.store.ResultStore` of ``out_dir`` (resumable). No latency cells (the zoo measures
    model-only latency itself). Returns ``(store, plan, {variant: path})``."""
    from voxquant.engine import MatrixInputs, MatrixSettings, plan_matrix, run_matrix
    from voxquant.report.store import ResultStore

    plan, _ = plan_matrix(list(recipes), "onnx")
    store = ResultStore(out_dir)
    inputs = MatrixInputs(fp32_onnx=Path(fp32_onnx), y=y, labels=tuple(labels), calibration=calib,
                          slices=[(name, (lambda x=x: x)) for name, x in slices])
    settings = MatrixSettings(eval_threads=threads, threads=(),
                              recipe_options={r: dict(recipe_options or {}) for r in recipes}, progress=False)
    paths = run_matrix(store, out_dir, plan, inputs, settings)
    for spec in plan:
        cell = store.get(f"variant/{spec.name}")
        if cell["status"] != "ok":
            from voxquant.errors import ModelError

            raise ModelError(f"{spec.name}: {cell.get('error') or cell['status']}", Path(fp32_onnx))
    return store, plan, paths


def model_latency_ms(session, x1: np.ndarray, runs: int = 200, warmup: int = 20) -> dict:
    """Model-only latency of ``session.run`` on one clip ``x1`` (``[1, ...]``): p50/p95 in ms over ``runs``."""
    for _ in range(warmup):
        session.run(x1)
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        session.run(x1)
        ts.append(time.perf_counter_ns() - t0)
    a = np.asarray(ts) / 1e6
    return {"p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)), "runs": runs}


def quantize_third_party(out_dir: str | Path, data_root=None, n_calib: int = 200,
                         recipes=("int8_static_minmax", "int8_static_entropy", "int8_static_percentile",
                                  "int8_static_minmax_fullrange"),
                         threads: int = 1, latency_runs: int = 200, download: bool = True) -> dict:
    """voxquant PTQ of the MLPerf Tiny fp32 SavedModel vs the publisher's int8 TFLite, on the same clips.

    The SavedModel is converted to ONNX (tf_keras + tf2onnx) and each recipe is applied with ``n_calib`` clips drawn
    from ``dev`` by THE calibration sampler (:func:`voxquant.data.slices.stratified_indices`, class-stratified,
    seed 0) through the same front-end (``mlperf-tiny-mfcc``). fp32 and the recipes are built and scored by the one
    evaluation engine (:func:`voxquant.engine.run_matrix`, two matrices: the registry's recipes with per-channel
    weights in ``out_dir/per-channel`` and the same recipes with ``per_channel=False`` in ``out_dir/per-tensor``,
    resumable result stores, one slice: the test set); every int8 row is run on ONNX Runtime's int8 kernels and
    checked, on the test clips, against the same file run without int8-kernel fusion (the engine's kernel check: the QDQ arithmetic
    itself, free of x86 u8s8 kernel saturation, reported as agreement). They and the publisher's
    ``kws_ref_model.tflite`` (truncating input quantization, as its publisher; not built by a recipe, so scored
    through :func:`evaluate_spec` on the same features) are scored on the ``eval`` split (never used for
    calibration) and on the full test set.

    Returns:
        ``{"rows": [...], "n_calib", "eval_n", "threads"}``; a row: ``name, kind, size_bytes, accuracy_eval, ci95_eval,
        accuracy_test, ci95_test, mcnemar_p_vs_publisher, mcnemar_p_vs_fp32`` (exact McNemar on the eval clips),
        ``drop_vs_fp32_pp``, ``agree_fp32`` (fraction of eval clips with the fp32 prediction), ``latency_ms``
        (model-only p50/p95, batch 1), ``int8_kernels_vs_qdq`` and ``accuracy_eval_qdq_unfused`` (ours only), ``path``.

    Raises:
        MissingExtraError: ``[tf]``/``[litert]`` missing. DataError/ModelError: data or models unavailable.
    """
    from voxquant.backends.onnxruntime import OrtSession
    from voxquant.engine import predict
    from voxquant.eval.stats import mcnemar_exact, wilson_ci
    from voxquant.quant import recipe_names
    from voxquant.zoo.models import open_model, sha256_file, to_onnx
    from voxquant.zoo.registry import zoo_spec
    from voxquant.zoo.spec import to_model_layout

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    test, dev, ev, eval_mask, _ = _data(data_root)
    fp32_spec = zoo_spec("mlperf-tiny-kws-dscnn-fp32", download=download)
    pub_spec = zoo_spec("mlperf-tiny-kws-dscnn-int8", download=download)
    fp32_onnx = to_onnx(fp32_spec)
    calib = _calibration(fp32_spec, dev, n_calib)
    feats = spec_features(fp32_spec, test)
    x = to_model_layout(feats, fp32_spec.input.layout)
    x1 = x[:1]
    y = targets(fp32_spec, test)
    if (y < 0).any():
        raise ConfigError(f"{fp32_spec.where()}: {int((y < 0).sum())} test clips have no target for this model")

    # the publisher's int8 TFLite is not built from the fp32 model by a recipe: scored on its own (same clips)
    pub_sess = open_model(pub_spec, threads=threads)
    pub_res = evaluate_spec(pub_spec, test, session=pub_sess, split="test", features=feats)

    # ours: fp32 + each recipe, per-channel and per-tensor weights: two matrices of the engine on the whole test set
    # (one slice; eval = its eval clips); the engine's kernel check compares int8 kernels with the QDQ graph simulated
    # in float on the same clips
    recipes = [r for r in recipes if r in recipe_names()]  # *_fullrange exists only in newer voxquant.quant
    slices = [("test", x)]
    grids = {"per-channel": _matrix(out_dir / "per-channel", fp32_onnx, recipes, y, fp32_spec.labels, slices, calib,
                                    threads),
             "per-tensor": _matrix(out_dir / "per-tensor", fp32_onnx, recipes, y, fp32_spec.labels, slices, calib,
                                   threads, {"per_channel": False})}
    store = grids["per-channel"][0]

    def pred(st, name: str, split: str) -> np.ndarray:
        return st.get_array(f"pred/{name}/{split}")

    entries = [("fp32 (SavedModel -> ONNX)", "fp32", store, "fp32", fp32_onnx, None)]
    for r in recipes:
        for w, (st, _, paths) in grids.items():
            entries.append((f"voxquant {r} ({w} weights)", "ours", st, r, paths[r], None))
    y_ev = y[eval_mask]
    fp_pred_ev = pred(store, "fp32", "test")[eval_mask]
    fp_ok = fp_pred_ev == y_ev
    pub_pred = pub_res.y_pred
    pub_ok = pub_pred[eval_mask] == y_ev

    def row(label, kind, path, p_test, sess, kc=None):
        p_ev = p_test[eval_mask]
        unfused = None
        if kc:  # accuracy of the QDQ arithmetic itself (no int8-kernel fusion) on the eval clips
            unfused = float(np.mean(predict(ort_session(path, threads, int8_kernels=False), x[eval_mask]) == y_ev))
        ok = p_ev == y_ev
        ok_t = p_test == y
        return {
            "name": label, "kind": kind, "path": str(path), "size_bytes": int(Path(path).stat().st_size),
            "sha256": sha256_file(Path(path)),
            "accuracy_eval": float(ok.mean()), "ci95_eval": list(wilson_ci(int(ok.sum()), len(ok))), "n_eval": int(len(ok)),
            "accuracy_test": float(ok_t.mean()), "ci95_test": list(wilson_ci(int(ok_t.sum()), len(ok_t))),
            "mcnemar_p_vs_publisher": mcnemar_exact(pub_ok, ok), "mcnemar_p_vs_fp32": mcnemar_exact(fp_ok, ok),
            "drop_vs_fp32_pp": 100.0 * (float(fp_ok.mean()) - float(ok.mean())),
            "agree_fp32": float(np.mean(p_ev == fp_pred_ev)),
            "latency_ms": model_latency_ms(sess, x1, runs=latency_runs),
            "input_out_of_range": getattr(getattr(sess, "inner", sess), "out_of_range", None),
            "int8_kernels_vs_qdq": kc["agreement"] if kc else None,
            "accuracy_eval_qdq_unfused": unfused,
        }

    rows = []
    for label, kind, st, name, path, _ in entries:
        kc = st.get(f"kernel_check/{name}") if st.has(f"kernel_check/{name}") else None
        rows.append(row(label, kind, path, pred(st, name, "test"), OrtSession(Path(path), threads=threads), kc))
        if label.startswith("fp32"):
            rows.append(row("publisher int8 (kws_ref_model.tflite, LiteRT)", "publisher", pub_spec.model_path,
                            pub_pred, pub_sess))
    try:
        from voxquant.quant.ort import default_reduce_range

        rr = bool(default_reduce_range())
    except ImportError:  # older voxquant.quant
        rr = None
    from voxquant.hardware import cpu_isa

    return {"rows": rows, "n_calib": int(len(calib)), "eval_n": int(eval_mask.sum()), "threads": threads,
            "reduce_range": rr, "isa": cpu_isa(), "cores": os.cpu_count()}


# ------------------------------------------------------------------------------------------------------------
# item 8: accent slice


def accent_slice(out_dir: str | Path, data_root=None, n_calib: int = 200,
                 recipes=("int8_static_minmax", "int8_static_percentile"), threads: int = 1, n_boot: int = 2000,
                 download: bool = True) -> dict:
    """BC-ResNet-2 fp32 vs int8 PTQ on FSDD, per speaker and per accent group, with CIs.

    fp32 = the state dict exported to ONNX (checked equal to the PyTorch predictions); int8 = voxquant's static
    PTQ recipes with ``n_calib`` Speech Commands ``dev`` clips (THE stratified sampler, seed 0) as calibration -- no
    FSDD clip is used for fitting anything. fp32 and the recipes are built, scored and kernel-checked by the engine
    (:func:`voxquant.engine.run_matrix`, one slice ``fsdd``, store ``out_dir/matrix``); this function tabulates the
    stored per-clip correctness per group. Scored on all 3,000 FSDD clips (35-way argmax, target = the digit word), front-end
    padding as the publisher trained (``pad="features"``).

    Returns:
        ``{"groups": [...], "recipes": [...], "agreement_torch_onnx": float}``; a group row: ``group, kind
        ("speaker"/"accent"/"all"), n, fp32 {acc, ci95}, <recipe> {acc, ci95, drop_pp, drop_ci95, mcnemar_p}``.
    """
    from voxquant.data import fsdd
    from voxquant.eval.stats import mcnemar_exact, paired_bootstrap_drop, wilson_ci
    from voxquant.zoo.models import open_model, to_onnx
    from voxquant.zoo.registry import zoo_spec
    from voxquant.zoo.spec import to_model_layout

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = zoo_spec("bcresnet2-sc35", download=download)
    test, dev, ev, eval_mask, _ = _data(data_root)
    clips = fsdd(data_root)
    feats = spec_features(spec, clips)
    fp32_onnx = to_onnx(spec, out_dir / "bcresnet2-sc35.fp32.onnx")
    torch_res = evaluate_spec(spec, clips, session=open_model(spec), features=feats)
    y = torch_res.y_true
    if (y < 0).any():
        raise ConfigError(f"{spec.where()}: {int((y < 0).sum())} FSDD clips have no target for this model")
    calib = _calibration(spec, dev, n_calib)
    store, _, _ = _matrix(out_dir / "matrix", fp32_onnx, recipes, y, spec.labels,
                          [("fsdd", to_model_layout(feats, spec.input.layout))], calib, threads)
    correct = {r: store.get_array(f"acc/{r}/fsdd") for r in ("fp32", *recipes)}
    agreement = float(np.mean(torch_res.y_pred == store.get_array("pred/fp32/fsdd")))
    kernel_agreement = {r: store.get(f"kernel_check/{r}")["agreement"] for r in recipes
                        if store.has(f"kernel_check/{r}")}
    speakers = np.array([c.speaker for c in clips.clips])
    accents = np.array([ACCENT_GROUPS.get(c.meta.get("accent", ""), c.meta.get("accent", "?")) for c in clips.clips])
    groups = [("all", "all", np.ones(len(clips), bool))]
    groups += [(a, "accent", accents == a) for a in ("US", "German", "Belgian-French", "Greek")]
    groups += [(f"{s} ({accents[speakers == s][0]})", "speaker", speakers == s) for s in sorted(set(speakers))]
    rows = []
    for gname, kind, m in groups:
        ok32 = correct["fp32"][m]
        row = {"group": gname, "kind": kind, "n": int(m.sum()),
               "fp32": {"acc": float(ok32.mean()), "ci95": list(wilson_ci(int(ok32.sum()), int(m.sum())))}}
        for r in recipes:
            ok = correct[r][m]
            d, lo, hi = paired_bootstrap_drop(ok32, ok, n_boot=n_boot, seed=0)
            row[r] = {"acc": float(ok.mean()), "ci95": list(wilson_ci(int(ok.sum()), int(m.sum()))), "drop_pp": d,
                      "drop_ci95": [lo, hi], "mcnemar_p": mcnemar_exact(ok32, ok)}
        rows.append(row)
    try:
        from voxquant.quant.ort import default_reduce_range

        rr = bool(default_reduce_range())
    except ImportError:  # older voxquant.quant
        rr = None
    return {"groups": rows, "recipes": list(recipes), "agreement_torch_onnx": agreement, "n_calib": int(len(calib)),
            "int8_kernel_vs_qdq_agreement": kernel_agreement, "reduce_range": rr}


__all__ = ["ACCENT_GROUPS", "DIGIT_WORDS", "EvalResult", "accent_slice", "clip_word", "evaluate_spec",
           "model_latency_ms", "ort_session", "quantize_third_party", "render_zoo_table", "rounding_sensitivity", "spec_features", "targets", "zoo_eval",
           "zoo_eval_all"]
