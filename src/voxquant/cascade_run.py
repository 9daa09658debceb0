"""``voxquant cascade``: an always-on wake-word trigger handing the audio after each detection to a command model,
measured end to end on continuous streams where spoken commands follow the wake word.

The deployment claim under test: "a hybrid pipeline: int8 for the always-on trigger, fp16 for the higher-accuracy
command recognition". Four pairings (trigger fp32 / int8 x command model fp16 / int8) on the very same audio.

Steps (each stored in the run folder, so a re-run resumes and recomputes nothing):

1. streams: one seeded command stream per condition (:func:`voxquant.data.command_streams.build_command_stream`):
   Picovoice wake-word clips of the eval split, each ``wake_command`` followed after 0.15-0.6 s by a command (real
   accented connected digits or held-out synthetic digit/command sequences of eval speakers), among commands
   without the wake word and other speech; the held-out half of each real noise recording; saved under
   ``streams/<condition>/`` (``commands.csv`` = the manifest);
2. trigger: a streaming kind of ``voxquant stream`` (:func:`voxquant.streaming_run.resolve_stream_kind`; variants
   built and scored by the kind, stored as ``stream/<variant>/<condition>`` like ``voxquant stream``); detections
   with the kind's own rule (:func:`voxquant.eval.streaming.detect`);
3. the cascade: detections in time order; each starts a command capture from the detection time to an energy
   end-point (:func:`endpoint`), capped at the command model's 14 s input; detections during a capture are
   ignored (the device is listening to the command). Each capture is zero-padded to the model input;
4. command model: variants built by the engine (:func:`voxquant.engine.plan_matrix` +
   :func:`~voxquant.engine.build_artifact`, calibration = the sequence task's synthetic ``dev`` sequences), run by
   THE batched inference loop (:func:`voxquant.engine.predict_scores`, one call per variant and condition over
   every capture), decoded with the union of the ``digits`` and ``commands`` grammars
   (:func:`voxquant.eval.ctc.decode_batch`);
5. metrics per pairing and condition (:func:`cascade_metrics`) and ``cascade_results.json``, a Markdown table and
   ``report.html``.

**Rejection rule.** Grammar-constrained decoding always returns some accepted sentence when the capture has enough
frames, so a command is *executed* only when the unconstrained best path (greedy decode) holds at least one word:
a capture in which the model hears no vocabulary word at all is rejected (no command).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from voxquant.errors import ConfigError, DataError

log = logging.getLogger("voxquant")

DEFAULT_TRIGGER = "openwakeword-alexa"
#: Trigger ``--model`` prefixes / names the cascade accepts (streaming kinds of ``voxquant stream``).
TRIGGER_PREFIXES = ("openwakeword-", "microwakeword-", "dscnn-stream")
#: Acceptance window of a wake word after its end, seconds (Picovoice benchmark, as ``voxquant stream``).
HIT_AFTER_END_S = 0.5
#: End-point detector: 10 ms frames; noise floor = this percentile of the frames' dB over ``floor_window_s`` before
#: the detection; floor never below :data:`MIN_FLOOR_DB` (digital silence of clean streams).
ENDPOINT_FRAME_S = 0.010
FLOOR_PERCENTILE = 10.0
MIN_FLOOR_DB = -70.0


@dataclass
class CascadeConfig:
    """Configuration of ``voxquant cascade`` (recorded in ``cascade_results.json``).

    Attributes:
        out_dir: run folder (resumable).
        trigger: a streaming kind's ``--model`` (``openwakeword-alexa``, ``microwakeword-alexa``, ``dscnn-stream``).
        trigger_recipes: recipes of the trigger besides fp32 (the kind maps them: openWakeWord
            ``int8_static_minmax`` -> ``int8``).
        command: ``conv`` / ``conformer`` (bundled) or CTC weights ``.pt``.
        command_recipes: command-model recipes built by the engine (fp16 and int8_static_minmax: the four pairings).
        conditions: ``clean``, ``noise_snr<dB>``, ``reverb_<room>``, ``far_field`` (as ``voxquant stream``).
        hours: stream length per condition, hours.
        hangover_s: the end-point needs this much audio below the threshold after speech, seconds.
        margin_db: threshold above the noise floor, dB (3 dB: on real noise at 10 dB SNR, 9 dB cut 67 % of the
            commands before their end, 4 dB 24 %, 3 dB 9 %; measured on a 10-min stream). floor_window_s: audio before the detection the floor is
            measured on, seconds. no_speech_s: a capture without any speech ends after this many seconds.
        synth_digits, synth_commands: held-out synthetic command utterances (eval speakers) in the command pool.
        calib_n: synthetic dev sequences calibrating static int8 of the command model.
        latency_runs: timed single-capture runs of each command variant (1 thread).
        n_boot, seed, data_root, progress: as ``voxquant stream``.
    """

    out_dir: Path = Path("runs/cascade")
    trigger: str = DEFAULT_TRIGGER
    trigger_recipes: tuple = ("int8_static_minmax",)
    command: str = "conv"
    command_recipes: tuple = ("fp16", "int8_static_minmax")
    conditions: tuple = ("clean", "noise_snr10")
    hours: float = 1.0
    hangover_s: float = 0.8
    margin_db: float = 3.0
    floor_window_s: float = 1.5
    no_speech_s: float = 3.0
    synth_digits: int = 40
    synth_commands: int = 80
    calib_n: int = 100
    latency_runs: int = 10
    n_boot: int = 1000
    seed: int = 0
    data_root: Path | None = None
    progress: bool = True

    def validate(self) -> "CascadeConfig":
        """Check the fields before any work. Raises ConfigError naming the option (one line)."""
        from voxquant.errors import check_int, check_number
        from voxquant.paths import ensure_writable_dir
        from voxquant.streaming_run import parse_condition

        t = str(self.trigger or "").strip()
        if not t or not (t.startswith(TRIGGER_PREFIXES) or Path(t).expanduser().is_file()):
            raise ConfigError(f"--trigger {self.trigger!r}: not a streaming wake-word model",
                              hint="use openwakeword-alexa, microwakeword-alexa, dscnn-stream or a model file")
        c = str(self.command or "").strip()
        from voxquant.sequence_run import SEQ_MODELS

        if c not in SEQ_MODELS and not (c.endswith(".pt") and Path(c).expanduser().is_file()):
            raise ConfigError(f"--command {self.command!r}: not a command model",
                              hint=f"bundled: {', '.join(SEQ_MODELS)}, or a CTC weights .pt file")
        if isinstance(self.hours, bool) or not isinstance(self.hours, (int, float)) or not math.isfinite(self.hours) \
                or self.hours <= 0:
            raise ConfigError(f"--hours {self.hours!r}: must be a number of hours > 0")
        check_number(self.hours, "--hours (h)", 1e-4, 1000.0)
        for name in ("conditions", "command_recipes"):
            v = getattr(self, name)
            if isinstance(v, str) or not v or not all(isinstance(x, str) and x.strip() for x in v):
                raise ConfigError(f"--{name.replace('_', '-')}: must be a non-empty list of names, got {v!r}")
        for cond in self.conditions:
            parse_condition(cond)
        check_number(self.hangover_s, "hangover_s (s)", 0.05, 5.0)
        check_number(self.margin_db, "margin_db (dB)", 0.0, 40.0)
        check_number(self.floor_window_s, "floor_window_s (s)", 0.1, 10.0)
        check_number(self.no_speech_s, "no_speech_s (s)", 0.1, 14.0)
        check_int(self.n_boot, "--n-boot", 100)
        check_int(self.seed, "--seed", 0, 2**32 - 1)
        check_int(self.calib_n, "calib_n", 2)
        check_int(self.latency_runs, "latency_runs", 1)
        ensure_writable_dir(self.out_dir, "--out")
        return self

    def to_dict(self) -> dict:
        from voxquant.atomic import to_jsonable

        return to_jsonable(asdict(self))


# ------------------------------------------------------------------------------------------------ end-pointing


def frame_db(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """RMS level of consecutive :data:`ENDPOINT_FRAME_S` frames, dB re full scale: ``float64 [ceil(S / hop)]``."""
    hop = max(1, int(round(ENDPOINT_FRAME_S * sample_rate)))
    x = np.asarray(audio, dtype=np.float64)
    n = int(math.ceil(x.shape[0] / hop))
    pad = np.zeros(n * hop)
    pad[: x.shape[0]] = x
    return 20.0 * np.log10(np.sqrt(np.mean(pad.reshape(n, hop) ** 2, axis=1)) + 1e-10)


def endpoint(audio: np.ndarray, start: int, sample_rate: int, *, hangover_s: float = 0.8, margin_db: float = 3.0,
             floor_window_s: float = 1.5, no_speech_s: float = 3.0, max_s: float = 14.0) -> tuple[int, float]:
    """End of the command spoken after a trigger at sample ``start``: an energy end-of-speech detector.

    The noise floor is the :data:`FLOOR_PERCENTILE`-th percentile of the 10 ms frame levels (dB) over the
    ``floor_window_s`` seconds before ``start`` (the gap before the wake word dominates it), never below
    :data:`MIN_FLOOR_DB`; a frame is speech when its level is at least ``margin_db`` above the floor. Scanning from
    ``start``: the capture ends once speech has been seen and ``hangover_s`` seconds of consecutive non-speech
    frames follow it (the end-point is the end of that silence: when a device knows the user has stopped), or
    after ``no_speech_s`` seconds without any speech, or at ``max_s`` seconds (the model's input), or at the end of
    the audio.

    Args:
        audio: ``float32 [S]`` the stream. start: sample index of the detection. sample_rate: Hz.

    Returns:
        ``(end, floor_db)``: end sample (``start < end <= min(S, start + max_s * sample_rate)``) and the floor used.
    """
    hop = max(1, int(round(ENDPOINT_FRAME_S * sample_rate)))
    s_total = int(audio.shape[0])
    start = int(min(max(start, 0), max(s_total - 1, 0)))
    cap = min(s_total, start + int(round(max_s * sample_rate)))
    before = audio[max(0, start - int(round(floor_window_s * sample_rate))): start]
    floor = float(np.percentile(frame_db(before, sample_rate), FLOOR_PERCENTILE)) if before.size >= hop else MIN_FLOOR_DB
    floor = max(floor, MIN_FLOOR_DB)
    db = frame_db(audio[start:cap], sample_rate)
    speech = db >= floor + margin_db
    need = max(1, int(round(hangover_s / ENDPOINT_FRAME_S)))
    no_speech = max(1, int(round(no_speech_s / ENDPOINT_FRAME_S)))
    seen, run = False, 0
    for i, sp in enumerate(speech):
        if sp:
            seen, run = True, 0
            continue
        run += 1
        if (seen and run >= need) or (not seen and i + 1 >= no_speech):
            return min(cap, start + (i + 1) * hop), floor
    return max(cap, start + 1), floor


def cascade_invocations(detections_s, audio: np.ndarray, sample_rate: int, cfg: CascadeConfig,
                        max_s: float = 14.0) -> dict:
    """The command captures a cascade makes: each detection not inside an earlier capture starts one.

    Returns:
        ``{"det_s": [D'], "start": [D'] samples, "end": [D'] samples, "floor_db": [D'], "ignored": int}``
        (plain lists; ``ignored``: detections during a capture).
    """
    out = {"det_s": [], "start": [], "end": [], "floor_db": [], "ignored": 0}
    busy = -1
    for d in np.sort(np.asarray(detections_s, dtype=np.float64)):
        s = int(round(d * sample_rate))
        if s < busy:
            out["ignored"] += 1
            continue
        e, floor = endpoint(audio, s, sample_rate, hangover_s=cfg.hangover_s, margin_db=cfg.margin_db,
                            floor_window_s=cfg.floor_window_s, no_speech_s=cfg.no_speech_s, max_s=max_s)
        out["det_s"].append(float(d))
        out["start"].append(min(s, e - 1))
        out["end"].append(int(e))
        out["floor_db"].append(floor)
        busy = e
    return out


# ------------------------------------------------------------------------------------------------ metrics


def _rate_ci(ok: np.ndarray, clusters, n_boot: int, seed: int) -> dict:
    """Rate of ``ok`` with a percentile bootstrap 95 % CI resampling ``clusters`` (speakers):
    :func:`voxquant.eval.stream_groups.frr_ci` on the misses."""
    from voxquant.eval.stream_groups import frr_ci

    ok = np.asarray(ok, dtype=bool)
    if ok.size == 0:
        return {"rate": None, "ci95": [None, None], "n": 0}
    miss, lo, hi = frr_ci(~ok, n_boot=n_boot, seed=seed, clusters=np.asarray(clusters))
    return {"rate": 1.0 - miss, "ci95": [1.0 - hi, 1.0 - lo], "n": int(ok.size)}


def cascade_metrics(commands, duration_s: float, inv: dict, hyps, executed, sample_rate: int = 16000,
                    compute_ms: float | None = None, n_boot: int = 1000, seed: int = 0,
                    group_columns=("source", "native", "accent")) -> dict:
    """End-to-end metrics of one pairing on one stream (no model is run here).

    Args:
        commands: :class:`~voxquant.data.command_streams.CommandEvent` list of the stream.
        duration_s: the stream's length, seconds.
        inv: captures (:func:`cascade_invocations`): ``det_s``, ``end`` (samples).
        hyps: decoded word sequence of each capture (grammar decode). executed: ``bool [D']`` the capture's command
            is executed (the rejection rule of the module docstring).
        compute_ms: command-model compute per capture (features + model + decode, 1 thread), ms.
        n_boot, seed: bootstrap of the success rate over command speakers.

    Returns:
        ``{"n_commands", "success": {"rate", "ci95", "n"}, "trigger_hit_rate", "wrong_after_trigger",
        "rejected_after_trigger", "false_triggers", "false_triggers_per_h", "executed_by_mistake",
        "executed_by_mistake_per_h", "command_only": {"n", "triggered", "executed"}, "invocations",
        "invocations_per_h", "latency_ms": {"n", "p50", "p95", "endpoint_p50", "compute"}, "groups": {column:
        {value: {"rate", "ci95", "n"}}}}``; rates are fractions, per hour = per hour of stream.
    """
    from voxquant.eval.streaming import match

    hours = max(float(duration_s), 1e-9) / 3600.0
    det = np.asarray(inv["det_s"], dtype=np.float64)
    end_s = np.asarray(inv["end"], dtype=np.float64) / sample_rate
    executed = np.asarray(executed, dtype=bool)
    hyps = [tuple(h) for h in hyps]
    wc = [c for c in commands if c.kind == "wake_command"]
    co = [c for c in commands if c.kind == "command_only"]

    class _W:  # the wake words as keyword events (what match expects)
        def __init__(self, c):
            self.start_s, self.end_s, self.is_keyword = c.wake_start_s, c.wake_end_s, True

    m = match(det, [_W(c) for c in wc], hit_after_end_s=HIT_AFTER_END_S)
    # match sorts its events by start; wc are in stream order already (sorted by start)
    true_idx = np.full(len(wc), -1)
    used = np.zeros(det.size, dtype=bool)
    for i, t in enumerate(m.hit_times_s):
        if m.hits[i]:
            k = int(np.flatnonzero((det == t) & ~used)[0])
            true_idx[i], used[k] = k, True
    false = ~used
    success = np.zeros(len(wc), dtype=bool)
    wrong = np.zeros(len(wc), dtype=bool)
    rejected = np.zeros(len(wc), dtype=bool)
    lat = []
    ep = []
    for i, c in enumerate(wc):
        k = true_idx[i]
        if k < 0:
            continue
        if not executed[k]:
            rejected[i] = True
        elif hyps[k] == tuple(c.words):
            success[i] = True
            delay = end_s[k] - c.command_end_s
            ep.append(delay)
            lat.append(1000.0 * delay + (compute_ms or 0.0))
        else:
            wrong[i] = True
    co_trig = co_exec = 0
    for c in co:
        ks = np.flatnonzero(false & (det >= c.command_start_s) & (det <= c.command_end_s + HIT_AFTER_END_S))
        if ks.size:
            co_trig += 1
            co_exec += int(executed[ks].any())
    clusters = np.array([c.speaker for c in wc])
    groups: dict = {}
    for col in group_columns:
        vals = np.array([str(c.groups.get(col, "")) for c in wc])
        for v in sorted(set(vals) - {""}):
            sel = vals == v
            groups.setdefault(col, {})[v] = _rate_ci(success[sel], clusters[sel], n_boot, seed)
    n_false = int(false.sum())
    mistaken = int((false & executed).sum())
    return {
        "n_commands": len(wc), "success": _rate_ci(success, clusters, n_boot, seed),
        "trigger_hit_rate": float(m.hits.mean()) if len(wc) else None,
        "wrong_after_trigger": int(wrong.sum()), "wrong_after_trigger_per_h": float(wrong.sum()) / hours,
        "rejected_after_trigger": int(rejected.sum()),
        "false_triggers": n_false, "false_triggers_per_h": n_false / hours,
        "executed_by_mistake": mistaken, "executed_by_mistake_per_h": mistaken / hours,
        "command_only": {"n": len(co), "triggered": co_trig, "executed": co_exec},
        "invocations": int(det.size), "invocations_per_h": det.size / hours, "ignored_detections": inv.get("ignored", 0),
        "latency_ms": {"n": len(lat), "p50": float(np.percentile(lat, 50)) if lat else None,
                       "p95": float(np.percentile(lat, 95)) if lat else None,
                       "endpoint_p50": 1000.0 * float(np.percentile(ep, 50)) if ep else None,
                       "compute": compute_ms},
        "groups": groups, "duration_h": hours,
    }


# ------------------------------------------------------------------------------------------------ compute


def trigger_compute(kind, record: dict, hop_ms: float) -> dict:
    """MACs per hour of always-on audio of a trigger variant, split into int8 and float
    (:func:`voxquant.backends.coverage.onnx_coverage` of each ONNX graph the kind runs).

    openWakeWord: embedding + head once per 80 ms step (the melspectrogram graph has dynamic shapes: its MACs are
    not counted, ``note`` says so); a clip model: one window per ``hop_ms``. Other kinds: ``None`` values.
    """
    from voxquant.backends.coverage import onnx_coverage

    out = {"macs_per_h": None, "int8_macs_per_h": None, "note": ""}
    if getattr(kind, "kind", "") == "openwakeword":
        from voxquant.eval.openwakeword import CHUNK_SAMPLES, OWW_SAMPLE_RATE

        per_h = 3600.0 * OWW_SAMPLE_RATE / CHUNK_SAMPLES
        tot = i8 = 0.0
        for stage in ("embedding", "head"):
            cov = onnx_coverage(Path(record["paths"][stage]))
            tot += cov["macs_total"] * per_h
            i8 += cov["macs_int8"] * per_h
        out.update(macs_per_h=tot, int8_macs_per_h=i8, note="embedding + head per 80 ms step; melspectrogram "
                   "(float, dynamic shape) not counted")
    elif getattr(kind, "kind", "") == "clip" and str(record.get("path", "")).endswith(".onnx"):
        cov = onnx_coverage(Path(record["path"]))
        per_h = 3600.0 * 1000.0 / hop_ms
        out.update(macs_per_h=cov["macs_total"] * per_h, int8_macs_per_h=cov["macs_int8"] * per_h,
                   note=f"one window per {hop_ms:g} ms")
    else:
        out["note"] = f"MACs per step of kind {getattr(kind, 'kind', '?')} not known here"
    return out


# ------------------------------------------------------------------------------------------------ the run


def _command_models(cfg: CascadeConfig, store, out: Path, net, weights: Path, vocab, key: str) -> dict:
    """``{variant: record}`` of the command model's variants, built by the engine unless stored and intact."""
    from voxquant.backends.coverage import onnx_coverage
    from voxquant.data import sequences as seq
    from voxquant.data.slices import cached_array
    from voxquant.engine import (MatrixInputs, MatrixSettings, artifact_files, build_artifact, ensure_source_model,
                                 files_problem, plan_matrix, record_files)
    from voxquant.models.ctc import export_ctc_onnx
    from voxquant.sequence_run import SequenceRecipeContext, _features

    plan, skipped = plan_matrix(tuple(cfg.command_recipes), "onnx")
    if skipped:
        raise ConfigError(f"--command-recipes: {skipped[0]['reason']}")
    mdir = out / "models" / "command"
    recs, inputs = {}, None
    for spec in plan:
        rec = store.get(f"command/{spec.name}", None)
        if rec and not files_problem(rec.get("files")):
            recs[spec.name] = rec
            continue
        if inputs is None:
            n_frames = seq.SEQ_FRONTEND.n_frames(seq.SEQ_MAX_SAMPLES)
            fp32 = ensure_source_model(store, mdir / "model.fp32.onnx",
                                       lambda tmp: export_ctc_onnx(net, tmp, n_frames), key="source/command_fp32_onnx")

            def calib():
                bank = seq.word_bank("dev", cfg.data_root)
                n_d = cfg.calib_n // 2
                utts = (seq.generate(bank, seq.GRAMMARS["digits"], n_d, cfg.seed + 17)
                        + seq.generate(bank, seq.GRAMMARS["commands"], cfg.calib_n - n_d, cfg.seed + 18))
                return _features(seq.load_sequence_audio(utts, seq.SEQ_MAX_SAMPLES)[0])

            ctx = {"task": "sequence", "weights": weights, "data_root": cfg.data_root, "seed": cfg.seed,
                   "progress": False, "seq": SequenceRecipeContext(weights, vocab, cfg.seed, cfg.data_root)}
            inputs = MatrixInputs(fp32_onnx=fp32, y=np.zeros(0, dtype=np.int64), labels=tuple(vocab), slices=[],
                                  calibration=cached_array(out / "cache" / f"command_calibration_{key}.npy", calib),
                                  torch_model=net, frontend=seq.SEQ_FRONTEND, layout="nchw", recipe_context=ctx)
        t0 = time.time()
        art = build_artifact(spec, inputs, mdir, MatrixSettings(progress=False))
        cov = onnx_coverage(Path(art.path))
        rec = {"name": spec.name, "recipe": spec.recipe, "precision": spec.precision, "path": str(art.path),
               "size_bytes": int(art.size_bytes), "files": record_files(artifact_files(Path(art.path))),
               "macs_per_invocation": cov["macs_total"], "int8_macs_per_invocation": cov["macs_int8"],
               "int8_mac_share": cov["int8_mac_share"], "build_seconds": round(time.time() - t0, 1)}
        store.put(f"command/{spec.name}", rec)
        recs[spec.name] = rec
    return recs


def _segment_features(audio: np.ndarray, starts, ends, chunk: int = 32) -> np.ndarray:
    """``float32 [M, 1, T, 40]``: each capture ``audio[start:end]`` zero-padded to the command model's input."""
    from voxquant.data.sequences import SEQ_MAX_SAMPLES
    from voxquant.sequence_run import _features

    parts = []
    for i in range(0, len(starts), chunk):
        w = np.zeros((len(starts[i:i + chunk]), SEQ_MAX_SAMPLES), dtype=np.float32)
        for j, (s, e) in enumerate(zip(starts[i:i + chunk], ends[i:i + chunk])):
            seg = audio[int(s): min(int(e), int(s) + SEQ_MAX_SAMPLES)]
            w[j, : seg.shape[0]] = seg
        parts.append(_features(w))
    return np.concatenate(parts) if parts else np.zeros((0, 1, 1, 40), np.float32)


def _frames(starts, ends, stride: int) -> np.ndarray:
    from voxquant.data.sequences import SEQ_FRONTEND, SEQ_MAX_SAMPLES

    hop = int(round(SEQ_FRONTEND.sample_rate * SEQ_FRONTEND.hop_ms / 1000))
    n = np.minimum(np.asarray(ends) - np.asarray(starts), SEQ_MAX_SAMPLES)
    return (np.ceil((n / hop + 1) / stride) + 2).astype(np.int64)


def _command_latency(rec: dict, x1: np.ndarray, audio1: np.ndarray, vocab, grammar, runs: int) -> dict:
    """Compute of one capture on 1 thread: front-end + model + grammar decode, ms (p50 / p95 of ``runs``)."""
    from voxquant.backends.onnxruntime import OrtSession
    from voxquant.eval.ctc import decode_batch
    from voxquant.sequence_run import _features

    sess = OrtSession(Path(rec["path"]), threads=1)
    sess.run(x1)  # warm-up
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        x = _features(audio1[None])
        lp = np.asarray(sess.run(x))
        decode_batch(lp, vocab, grammar)
        ts.append(1000.0 * (time.perf_counter() - t0))
    return {"p50": float(np.percentile(ts, 50)), "p95": float(np.percentile(ts, 95)), "runs": runs, "threads": 1}


def _command_pool(cfg: CascadeConfig) -> list:
    from voxquant.data import sequences as seq

    real = seq.real_connected_digits(cfg.data_root)
    synth = seq.held_out_sequences(cfg.synth_digits, cfg.synth_commands, cfg.seed, cfg.data_root)
    return real + synth


def _stream(cfg: CascadeConfig, condition: str, sources: dict):
    """The saved command stream of ``condition`` (built and saved on the first call)."""
    from voxquant.data.command_streams import build_command_stream, load_command_stream, save_command_stream
    from voxquant.streaming_run import parse_condition

    folder = Path(cfg.out_dir) / "streams" / condition
    if (folder / "stream.json").is_file() and (folder / "commands.csv").is_file():
        return load_command_stream(folder)
    src = sources()
    kind, param = parse_condition(condition)
    snr = float(param) if kind in ("noise", "far_field") else None
    rir = None
    if kind == "reverb":
        if param not in src["rirs"]:
            raise ConfigError(f"--conditions: no room impulse response named {param!r}; rooms: "
                              f"{', '.join(sorted(src['rirs']))}")
        rir = src["rirs"][param]
    if kind == "far_field":
        rir = src["rirs"][next((k for k in src["rirs"] if "church" in k), next(iter(src["rirs"])))]
    if snr is not None and not src["noise"]:
        raise DataError(f"condition {condition!r} needs the real noise bank, which is missing from the data root")
    t0 = time.time()
    cs = build_command_stream(src["wake"], src["commands"], src["other"], src["noise"] if snr is not None else None,
                              keyword=src["keyword"], duration_s=cfg.hours * 3600.0, snr_db=snr, rir=rir,
                              seed=cfg.seed)
    cs.stream.info["condition"] = condition
    save_command_stream(cs, folder)
    log.info("command stream %s: %.0f s, %d commands, built in %.1f s", condition, cs.stream.duration_s,
             len(cs.commands), time.time() - t0)
    return cs


def run_cascade(cfg: CascadeConfig | None = None) -> dict:
    """The wake-word -> command-model cascade, end to end (module docstring: steps).

    Returns:
        the ``cascade_results.json`` dict: ``{"config", "trigger": {...}, "command": {...}, "conditions": [...],
        "pairings": [{"trigger", "command", "condition", **cascade_metrics, "compute": {...}}], "table", ...}``.

    Raises:
        ConfigError: bad options, unknown trigger/command, a resume under another fingerprint. DataError: missing
            data.
    """
    from voxquant import __version__
    from voxquant.atomic import write_json_atomic, write_text_atomic
    from voxquant.data import load_noise_bank, load_rir_bank
    from voxquant.data import sequences as seq
    from voxquant.data.streams import default_stream_sources
    from voxquant.engine import check_fingerprint, file_digest, predict_scores, value_digest
    from voxquant.eval.ctc import decode_batch
    from voxquant.eval.streaming import detect
    from voxquant.models.zoo_default import split_noise_bank
    from voxquant.report import ResultStore
    from voxquant.sequence_run import resolve_sequence_model
    from voxquant.streaming_run import REPEAT_S, StreamConfig, _variant_records, resolve_stream_kind

    cfg = (cfg or CascadeConfig()).validate()
    t_start = time.time()
    out = Path(cfg.out_dir)
    scfg = StreamConfig(out_dir=out, model=cfg.trigger, recipes=tuple(cfg.trigger_recipes),
                        conditions=tuple(cfg.conditions), stream_hours=cfg.hours, seed=cfg.seed,
                        data_root=cfg.data_root, progress=cfg.progress)
    kind = resolve_stream_kind(scfg)
    keyword = scfg.keyword or kind.default_keyword
    scfg.keyword = keyword
    if kind.sample_rate != 16000:
        raise ConfigError(f"--trigger {cfg.trigger}: runs at {kind.sample_rate} Hz; the cascade needs 16 kHz")
    weights, net, meta = resolve_sequence_model(cfg.command)
    vocab = tuple(meta.get("vocab") or seq.SEQ_VOCAB)
    grammar = seq.union(seq.GRAMMARS["digits"], seq.GRAMMARS["commands"])
    fp = {"trigger": value_digest(kind.fingerprint()), "command": file_digest([weights]),
          "numbers": value_digest({k: v for k, v in cfg.to_dict().items() if k not in ("out_dir", "progress",
                                                                                         "latency_runs", "n_boot")}),
          "task": "cascade", "voxquant": __version__}
    check_fingerprint(out, fp)
    store = ResultStore(out)
    key = value_digest(fp)[:16]

    cache: dict = {}

    def sources():
        if not cache:
            pos, neg = default_stream_sources(getattr(kind, "data_keyword", None) or keyword, cfg.data_root,
                                              split="eval")
            try:
                noise = split_noise_bank(load_noise_bank(cfg.data_root, sample_rate=16000))[1]
            except DataError as exc:
                log.warning("noise bank missing: %s", exc)
                noise = {}
            cache.update(wake=pos, other=neg, noise=noise, rirs=load_rir_bank(cfg.data_root, sample_rate=16000),
                         commands=_command_pool(cfg), keyword=getattr(kind, "data_keyword", None) or keyword)
        return cache

    streams = {c: _stream(cfg, c, sources) for c in cfg.conditions}
    for c in streams:
        streams[c].stream = streams[c].stream.without_audio()

    # trigger variants and scores (the streaming kind) ---------------------------------------------------------
    trig = _variant_records(scfg, store, kind)
    cmd = _command_models(cfg, store, out, net, weights, vocab, key)
    rule = kind.rule
    smooth_k = 1 if rule.get("smooth_k") is None else int(rule["smooth_k"])
    refractory = scfg.refractory_s if rule.get("refractory_s") is None else float(rule["refractory_s"])
    stride = int(getattr(net, "stride", 1))
    from voxquant.backends.onnxruntime import OrtSession
    from voxquant.data.command_streams import load_command_stream

    for c, cs in streams.items():
        audio = None
        need_dec = [v for v in cmd if not store.has(f"decode/{v}/{c}")]
        for tv in trig:
            if store.has_array(f"stream/{tv}/{c}") and store.has(f"invocations/{tv}/{c}"):
                continue
            if audio is None:
                audio = load_command_stream(out / "streams" / c).stream.audio
            if not store.has_array(f"stream/{tv}/{c}"):
                t0 = time.time()
                times, probs = kind.score(trig[tv], audio)
                store.put_array(f"stream_times/{tv}/{c}", np.asarray(times, np.float64))
                store.put_array(f"stream/{tv}/{c}", np.asarray(probs, np.float32))
                if cfg.progress:
                    print(f"trigger {tv} on {c}: {len(probs)} outputs in {time.time() - t0:.1f} s", flush=True)
            dets = detect(store.get_array(f"stream_times/{tv}/{c}"), store.get_array(f"stream/{tv}/{c}"),
                          float(rule["threshold"]), smooth_k, refractory)
            store.put(f"invocations/{tv}/{c}", cascade_invocations(dets, audio, 16000, cfg))
            need_dec = list(cmd)
        if not need_dec:
            continue
        if audio is None:
            audio = load_command_stream(out / "streams" / c).stream.audio
        invs = {tv: store.get(f"invocations/{tv}/{c}") for tv in trig}
        starts = [s for tv in trig for s in invs[tv]["start"]]
        ends = [e for tv in trig for e in invs[tv]["end"]]
        x = _segment_features(audio, starts, ends)
        frames = _frames(starts, ends, stride)
        for cv in need_dec:
            t0 = time.time()
            logp = predict_scores(OrtSession(Path(cmd[cv]["path"]), threads=1), x, batch=16, ndim=3)
            lengths = np.minimum(frames, logp.shape[1])
            hyps = decode_batch(logp, vocab, grammar, lengths=lengths)
            greedy = decode_batch(logp, vocab, None, lengths=lengths)
            cell, k = {}, 0
            for tv in trig:
                n = len(invs[tv]["start"])
                cell[tv] = {"hyps": [" ".join(h) for h in hyps[k:k + n]], "greedy": [" ".join(h) for h in greedy[k:k + n]]}
                k += n
            store.put(f"decode/{cv}/{c}", cell)
            if cfg.progress:
                print(f"command {cv} on {c}: {len(hyps)} captures in {time.time() - t0:.1f} s", flush=True)
        del x, audio

    # command compute per capture (1 thread) -------------------------------------------------------------------
    lat = {}
    for cv in cmd:
        if not store.has(f"command_latency/{cv}"):
            a1 = np.zeros(seq.SEQ_MAX_SAMPLES, np.float32)
            a1[:48000] = np.random.default_rng(cfg.seed).standard_normal(48000).astype(np.float32) * 0.05
            from voxquant.sequence_run import _features

            store.put(f"command_latency/{cv}", _command_latency(cmd[cv], _features(a1[None]), a1, vocab, grammar,
                                                                cfg.latency_runs))
        lat[cv] = store.get(f"command_latency/{cv}")

    # metrics ---------------------------------------------------------------------------------------------------
    tcomp = {tv: trigger_compute(kind, trig[tv], scfg.hop_ms) for tv in trig}
    pairings = []
    for i, (c, cs) in enumerate(streams.items()):
        for tv in trig:
            inv = store.get(f"invocations/{tv}/{c}")
            for cv in cmd:
                d = store.get(f"decode/{cv}/{c}")[tv]
                hyps = [tuple(h.split()) for h in d["hyps"]]
                executed = np.array([bool(g.strip()) for g in d["greedy"]], dtype=bool)
                m = cascade_metrics(cs.commands, cs.stream.duration_s, inv, hyps, executed,
                                    compute_ms=lat[cv]["p50"], n_boot=cfg.n_boot, seed=cfg.seed + i)
                inv_h = m["invocations_per_h"]
                cm = cmd[cv]
                t = tcomp[tv]
                cmd_h = None if cm.get("macs_per_invocation") is None else cm["macs_per_invocation"] * inv_h
                cmd_i8 = None if cm.get("int8_macs_per_invocation") is None else cm["int8_macs_per_invocation"] * inv_h
                total = None if t["macs_per_h"] is None or cmd_h is None else t["macs_per_h"] + cmd_h
                i8 = None if t["int8_macs_per_h"] is None or cmd_i8 is None else t["int8_macs_per_h"] + cmd_i8
                m["compute"] = {"trigger_macs_per_h": t["macs_per_h"], "trigger_int8_macs_per_h": t["int8_macs_per_h"],
                                "command_macs_per_h": cmd_h, "command_int8_macs_per_h": cmd_i8,
                                "total_macs_per_h": total, "int8_macs_per_h": i8,
                                "float_macs_per_h": None if total is None else total - i8,
                                "int8_share": None if not total else i8 / total, "trigger_note": t["note"]}
                pairings.append({"trigger": tv, "command": cv, "condition": c, **m})
    res = {
        "task": "cascade", "config": cfg.to_dict(), "voxquant_version": __version__,
        "trigger": {**kind.describe(), "keyword": keyword, "rule": {"threshold": rule["threshold"], "smooth_k": smooth_k,
                    "refractory_s": refractory, "repeat_s": rule.get("repeat_s", REPEAT_S)},
                    "variants": {tv: {"precision": r.get("precision"), "size_bytes": r.get("size_bytes"),
                                      "description": r.get("description")} for tv, r in trig.items()}},
        "command": {"name": str(cfg.command), "weights": str(weights), "arch": meta.get("arch"),
                    "grammar": grammar.name, "variants": {cv: {k: r.get(k) for k in (
                        "recipe", "precision", "size_bytes", "int8_mac_share", "macs_per_invocation")}
                        | {"latency_ms": lat[cv]} for cv, r in cmd.items()}},
        "conditions": [{"name": c, "duration_h": cs.stream.duration_s / 3600.0,
                        "n_wake_command": sum(x.kind == "wake_command" for x in cs.commands),
                        "n_command_only": sum(x.kind == "command_only" for x in cs.commands),
                        "n_real": sum(x.groups.get("source") == "alphanumeric_accents" for x in cs.commands),
                        "snr_db": cs.stream.info.get("snr_db"), "rir": cs.stream.info.get("rir")}
                       for c, cs in streams.items()],
        "pairings": pairings, "seconds": round(time.time() - t_start, 1),
    }
    res["table"] = cascade_table(res)
    write_json_atomic(out / "cascade_results.json", res)
    write_text_atomic(out / "cascade_table.md", res["table"] + "\n")
    write_cascade_report(res, out)
    if cfg.progress:
        print(res["table"])
    return res


# ------------------------------------------------------------------------------------------------ output


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def _g(x) -> str:
    return "-" if x is None else f"{x / 1e9:.1f}"


def cascade_table(res: dict) -> str:
    """The four pairings side by side per condition, as Markdown."""
    cols = ["trigger", "command", "condition", "commands", "success % [95% CI]", "trigger hit %",
            "false triggers/h", "executed by mistake/h", "wrong cmd after trigger/h", "cmd-only triggered",
            "latency p50/p95 ms", "GMACs/h (int8 %)", "trigger GMACs/h", "command GMACs/h"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for p in res["pairings"]:
        s = p["success"]
        lat = p["latency_ms"]
        comp = p["compute"]
        share = comp.get("int8_share")
        lines.append("| " + " | ".join([
            p["trigger"], p["command"], p["condition"], str(p["n_commands"]),
            f"{_pct(s['rate'])} [{_pct(s['ci95'][0])}, {_pct(s['ci95'][1])}]", _pct(p["trigger_hit_rate"]),
            f"{p['false_triggers_per_h']:.1f}", f"{p['executed_by_mistake_per_h']:.1f}",
            f"{p['wrong_after_trigger_per_h']:.1f}", f"{p['command_only']['triggered']}/{p['command_only']['n']}",
            "-" if lat["p50"] is None else f"{lat['p50']:.0f} / {lat['p95']:.0f}",
            f"{_g(comp['total_macs_per_h'])} ({'-' if share is None else f'{100 * share:.0f}'})",
            _g(comp["trigger_macs_per_h"]), _g(comp["command_macs_per_h"])]) + " |")
    return "\n".join(lines)


def cascade_sections(res: dict) -> list[dict]:
    """Report sections (data) of a results dict: method + table, per-group success, per-variant facts."""
    from voxquant.report.sections import section, table, text

    md = res["table"].splitlines()
    cols = [x.strip() for x in md[0].strip("|").split("|")]
    rows = [[x.strip() for x in ln.strip("|").split("|")] for ln in md[2:]]
    cfg = res["config"]
    tr = res["trigger"]
    out = [section("Wake word -> command cascade", [
        text(f"Trigger `{tr['name']}` (keyword **{tr['keyword']}**, threshold {tr['rule']['threshold']:g}, "
             f"refractory {tr['rule']['refractory_s']:g} s) hands the audio from each detection to an energy "
             f"end-point ({cfg['hangover_s']:g} s below the noise floor + {cfg['margin_db']:g} dB, capped at 14 s) "
             f"to the command model `{res['command']['name']}` ({res['command']['arch']}), decoded with the "
             f"`{res['command']['grammar']}` grammar. Success = the wake word detected in [start, end + 0.5 s] AND "
             "the executed command equal to the spoken one; a capture is executed only when the unconstrained "
             "decode holds a word. 95 % CI: percentile bootstrap over command speakers. Latency = end of the spoken "
             "command to the decoded result (end-point delay + command compute per capture on 1 thread, p50); "
             "GMACs/h: trigger per hour of always-on audio + command per capture x captures per hour; int8 % = "
             "share of those MACs in int8."),
        table(cols, rows)])]
    grows = []
    for p in res["pairings"]:
        for col, vals in (p.get("groups") or {}).items():
            for v, g in vals.items():
                grows.append([p["trigger"], p["command"], p["condition"], f"{col}={v}", g["n"],
                              f"{_pct(g['rate'])} [{_pct(g['ci95'][0])}, {_pct(g['ci95'][1])}]"])
    if grows:
        out.append(section("Success per group", [
            text("Command success per group of the command utterances (source: real accented connected digits = "
                 "alphanumeric_accents, synthetic held-out = Speech Commands / FSDD words; native / accent: real ones)."),
            table(["trigger", "command", "condition", "group", "commands", "success % [95% CI]"], grows)]))
    vrows = [[cv, v.get("precision"), f"{(v.get('size_bytes') or 0) / 1024:.0f}",
              "-" if v.get("int8_mac_share") is None else f"{100 * v['int8_mac_share']:.0f}",
              _g(v.get("macs_per_invocation")), f"{v['latency_ms']['p50']:.0f}"]
             for cv, v in res["command"]["variants"].items()]
    out.append(section("Command-model variants", [table(
        ["variant", "precision", "size KB", "int8 MACs %", "GMACs per capture", "compute per capture ms (1 thread)"],
        vrows)]))
    out.append(section("Streams", [table(
        ["condition", "hours", "wake + command", "command only", "real digit commands", "SNR dB"],
        [[c["name"], f"{c['duration_h']:.2f}", c["n_wake_command"], c["n_command_only"], c["n_real"],
          "-" if c["snr_db"] is None else f"{c['snr_db']:g}"] for c in res["conditions"]])]))
    return out


def write_cascade_report(res: dict, out: Path) -> None:
    """``report.html`` (the sections page of :mod:`voxquant.report.streaming`)."""
    from voxquant.report.streaming import write_sections_page

    write_sections_page(cascade_sections(res), Path(out) / "report.html", title="voxquant cascade report",
                        subtitle=f"trigger {res['trigger']['name']} · command {res['command']['name']}")


__all__ = ["CascadeConfig", "DEFAULT_TRIGGER", "cascade_invocations", "cascade_metrics", "cascade_sections",
           "cascade_table", "endpoint", "frame_db", "run_cascade", "trigger_compute", "write_cascade_report"]
