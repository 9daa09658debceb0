"""Natively stateful streaming wake-word models: microWakeWord v2 (ESPHome) on continuous audio.

A microWakeWord v2 ``.tflite`` (github.com/esphome/micro-wake-word-models ``models/v2``, trained with
github.com/kahrendt/microWakeWord) is not a clip classifier: it keeps its own ring buffers in resource variables
(``VAR_HANDLE`` / ``READ_VARIABLE`` / ``ASSIGN_VARIABLE``) and must be invoked once per step on consecutive
feature frames. Each invocation takes the ``[1, 3, 40]`` int8 tensor of the 3 newest 10 ms frames and returns one
uint8 probability (scale 1/256). Batch or windowed evaluation is therefore impossible: the model is driven
sequentially here, one 30 ms step at a time.

Front-end (as in microWakeWord ``microwakeword/inference.py`` and ESPHome's ``micro_wake_word``): the TFLite-Micro
audio front-end (30 ms window, 10 ms step, 40 channels, 125-7500 Hz, noise reduction, PCAN, log scale) on int16
audio, computed by the C code of PyPI ``pymicro-features`` (:class:`pymicro_features.MicroFrontend`, which
consumes 160 samples per call and already returns the uint16 features times 0.0390625 as floats). Float audio is
turned into int16 by ``x * 32768`` clipped to [-32768, 32767]. The features are quantized with the model's input
scale/zero point (``round(f / scale) + zp``, clipped to [-128, 127]; ESPHome rounds too).

Timing: the front-end emits frame ``k`` (0-based) once ``480 + 160 k`` samples are in (the 30 ms window ends
there); model step ``j`` consumes frames ``3j .. 3j+2`` and is stamped at the end of the last one,
``(480 + 160 (3j + 2)) / 16000`` seconds. Publisher detection (the model's JSON manifest): mean of the last
``sliding_window_size = 5`` outputs ``>= probability_cutoff`` (alexa 0.9), cooldown after each accept; apply it
with :func:`voxquant.eval.streaming.detect` / :func:`~voxquant.eval.streaming.det_curve` (``smooth_k=5``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from voxquant.errors import ConfigError, DataError, ModelError, require

__all__ = ["FLOAT_VARIANT_NOTE", "FRAMES_PER_STEP", "MWW_MODELS", "MWW_SAMPLE_RATE", "MicroWakeWordKind", "MicroWakeWordStream",
           "score_stream", "to_int16"]

MWW_SAMPLE_RATE = 16000
"""The only sample rate the micro front-end (and every microWakeWord model) is built for, Hz."""
FRAME_HOP_SAMPLES = 160
"""Front-end step: 10 ms at 16 kHz."""
FRAME_WINDOW_SAMPLES = 480
"""Front-end window: 30 ms at 16 kHz (the first frame ends here)."""
FRAMES_PER_STEP = 3
"""New feature frames per model invocation (v2 models: ``feature_step_size`` 10 ms, input ``[1, 3, 40]``)."""
N_FEATURES = 40
"""Channels per feature frame."""


def to_int16(audio) -> np.ndarray:
    """Audio as int16 PCM: int16 is kept; float is ``x * 32768`` rounded and clipped to [-32768, 32767].

    Args:
        audio: ``int16 [S]`` or ``float [S]`` in about [-1, 1].

    Returns:
        ``int16 [S]``.

    Raises:
        DataError: not 1-D, another integer dtype, or NaN/Inf.
    """
    a = np.asarray(audio)
    if a.ndim != 1:
        raise DataError(f"audio must be 1-D mono samples, got shape {a.shape}")
    if a.dtype == np.int16:
        return a
    if not np.issubdtype(a.dtype, np.floating):
        raise DataError(f"audio must be int16 PCM or float in [-1, 1], got dtype {a.dtype}")
    if not np.all(np.isfinite(a)):
        raise DataError("audio contains NaN or Inf")
    return np.clip(np.round(a.astype(np.float64) * 32768.0), -32768, 32767).astype(np.int16)


def _default_frontend():
    return require("pymicro_features", "stream", "The microWakeWord front-end (TFLite-Micro features)").MicroFrontend()


class MicroWakeWordStream:
    """A microWakeWord v2 model driven live: push audio, get one probability per 30 ms step.

    Args:
        model_path: the ``.tflite`` (input ``int8 [1, 3, 40]``, output ``uint8 [1, 1]``, stateful).
        frontend: an object with ``process_samples(bytes) -> obj(features: list[float], samples_read: int)`` and
            ``reset()`` (the :class:`pymicro_features.MicroFrontend` interface; features already scaled by
            0.0390625). Default: a new ``pymicro_features.MicroFrontend()``.
        threads: LiteRT interpreter threads.
        engine: ``"litert"`` (default: the published int8 graph in the LiteRT interpreter), ``"float"`` (the same
            graph in numpy with dequantized weights and float activations and state:
            :class:`voxquant.eval.tflite_numpy.NumpyTFLite`; not a publisher's float model) or ``"emulate"`` (that
            numpy graph with int8 activations fake-quantized: the check that it matches LiteRT). The numpy engines
            take the float features unquantized (``float``) or rounded to the input scale (``emulate``).

    Raises:
        ModelError: file missing or not loadable by LiteRT; an input that is not ``[1, 3, 40]`` (a model expecting
            another frame count per step, e.g. a v1 model with 20 ms steps, would be driven wrongly); an output
            that is not a single value.
        MissingExtraError: ``ai_edge_litert`` (extra ``litert``) or ``pymicro_features`` (extra ``stream``) absent.
    """

    ENGINES = ("litert", "float", "emulate")

    def __init__(self, model_path: str | Path, frontend=None, threads: int = 1, engine: str = "litert"):
        self.model_path = Path(model_path)
        if engine not in self.ENGINES:
            raise ConfigError(f"engine must be one of {', '.join(self.ENGINES)}, got {engine!r}")
        self.engine = engine
        if not self.model_path.is_file():
            raise ModelError("model file not found", self.model_path)
        self._Interpreter = require("ai_edge_litert.interpreter", "litert", "Running microWakeWord").Interpreter
        self.threads = int(threads)
        self.frontend = _default_frontend() if frontend is None else frontend
        for attr in ("process_samples", "reset"):
            if not callable(getattr(self.frontend, attr, None)):
                raise ConfigError(f"frontend {type(self.frontend).__name__} has no {attr}() method "
                                  "(expected the pymicro_features.MicroFrontend interface)")
        self._load()
        shape = tuple(int(d) for d in self.inp["shape"])
        if shape != (1, FRAMES_PER_STEP, N_FEATURES):
            raise ModelError(f"input shape {list(shape)} is not [1, {FRAMES_PER_STEP}, {N_FEATURES}]: this runner feeds "
                             f"{FRAMES_PER_STEP} new 10 ms frames of {N_FEATURES} features per call (microWakeWord v2); "
                             "driving this model with that frame count would give wrong probabilities", self.model_path)
        if int(np.prod(self.out["shape"])) != 1:
            raise ModelError(f"output shape {list(self.out['shape'])} is not a single probability", self.model_path)
        self._pending = np.zeros(0, dtype=np.int16)  # samples not yet consumed by the front-end
        self._frames: list[list[float]] = []  # feature frames not yet fed to the model
        self.n_samples = 0  # samples consumed by the front-end since reset
        self.n_frames = 0  # feature frames emitted since reset
        self.n_steps = 0  # model invocations since reset

    def _load(self) -> None:
        if self.engine != "litert" and getattr(self, "_graph", None) is not None:
            self._graph.reset()
        elif self.engine != "litert":
            from voxquant.eval.tflite_numpy import NumpyTFLite

            self._graph = NumpyTFLite(self.model_path, mode=self.engine)
        try:
            self.it = self._Interpreter(model_path=str(self.model_path), num_threads=self.threads)
            self.it.allocate_tensors()
        except Exception as exc:
            raise ModelError(f"LiteRT cannot load it: {str(exc).splitlines()[0][:200]}", self.model_path) from None
        self.inp = self.it.get_input_details()[0]
        self.out = self.it.get_output_details()[0]
        self._in_idx, self._out_idx = self.inp["index"], self.out["index"]
        in_q, out_q = self.inp["quantization"], self.out["quantization"]
        self._in_float = not np.issubdtype(self.inp["dtype"], np.integer)
        self._in_scale, self._in_zp = float(in_q[0]) or 1.0, int(in_q[1])
        self._out_scale, self._out_zp = (float(out_q[0]) or 1.0, int(out_q[1]))
        self._out_int = np.issubdtype(self.out["dtype"], np.integer)
        if not self._in_float:
            info = np.iinfo(self.inp["dtype"])
            self._in_lo, self._in_hi = info.min, info.max

    def reset(self) -> None:
        """Forget everything: a fresh interpreter (its resource variables re-initialised) and front-end state."""
        self.frontend.reset()
        self._load()
        self._pending = np.zeros(0, dtype=np.int16)
        self._frames = []
        self.n_samples = self.n_frames = self.n_steps = 0

    def step_time_s(self, j) -> np.ndarray:
        """Audio time (s, from the last reset) at which step ``j`` (int or array) is emitted: end of its last frame."""
        return (FRAME_WINDOW_SAMPLES + FRAME_HOP_SAMPLES * (FRAMES_PER_STEP * np.asarray(j) + FRAMES_PER_STEP - 1)) \
            / float(MWW_SAMPLE_RATE)

    def _quantize(self, frames: np.ndarray) -> np.ndarray:
        x = frames.reshape(self.inp["shape"]).astype(np.float32)
        if self._in_float:
            return x
        q = np.round(x / self._in_scale) + self._in_zp
        return np.clip(q, self._in_lo, self._in_hi).astype(self.inp["dtype"])

    def push(self, audio) -> np.ndarray:
        """Feed the next samples (16 kHz); run the model once per 3 new feature frames.

        Args:
            audio: ``int16 [S]`` PCM or ``float [S]`` in [-1, 1] (see :func:`to_int16`), any length; samples short
                of a whole 10 ms hop wait for the next call (the result does not depend on the chunking).

        Returns:
            ``float32 [N]`` keyword probabilities in [0, 1] of the ``N`` model steps completed by this call (their
            times: :meth:`step_time_s` of ``n_steps - N .. n_steps - 1``).

        Raises:
            DataError: bad audio (see :func:`to_int16`).
        """
        pcm = to_int16(audio)
        buf = np.concatenate([self._pending, pcm]) if self._pending.size else pcm
        n_hops = buf.size // FRAME_HOP_SAMPLES
        raw = np.ascontiguousarray(buf[: n_hops * FRAME_HOP_SAMPLES]).astype("<i2").tobytes()
        self._pending = buf[n_hops * FRAME_HOP_SAMPLES:].copy()
        step_bytes = FRAME_HOP_SAMPLES * 2
        steps = []
        pos = 0
        fe = self.frontend
        while pos + step_bytes <= len(raw):
            res = fe.process_samples(raw[pos: pos + step_bytes])
            read = int(res.samples_read)
            if read <= 0:
                raise ModelError(f"front-end {type(fe).__name__} consumed no samples", self.model_path)
            pos += read * 2
            self.n_samples += read
            if len(res.features):
                self._frames.append(res.features)
                self.n_frames += 1
                if len(self._frames) == FRAMES_PER_STEP:
                    steps.append(np.asarray(self._frames, dtype=np.float32))
                    self._frames = []
        if not steps:
            return np.zeros(0, dtype=np.float32)
        for frames in steps:
            if frames.shape != (FRAMES_PER_STEP, N_FEATURES):
                raise ModelError(f"front-end gave feature frames of shape {frames.shape[1:]}, model needs "
                                 f"{N_FEATURES}", self.model_path)
        if self.engine != "litert":  # numpy graph: all steps of this call batched (equal to one by one)
            self.n_steps += len(steps)
            return self._graph.run(np.stack(steps)).reshape(-1).astype(np.float32)
        return np.asarray([self._invoke(f) for f in steps], dtype=np.float32)

    def _invoke(self, frames: np.ndarray) -> float:
        self.it.set_tensor(self._in_idx, self._quantize(frames))
        self.it.invoke()
        y = self.it.get_tensor(self._out_idx).reshape(-1)[0]
        self.n_steps += 1
        if self._out_int:
            return float(self._out_scale * (float(y) - self._out_zp))
        return float(y)


def score_stream(model_path: str | Path, audio, sample_rate: int = MWW_SAMPLE_RATE, frontend=None,
                 threads: int = 1, engine: str = "litert") -> tuple[np.ndarray, np.ndarray]:
    """Score a whole stream with a microWakeWord v2 model, sequentially from a fresh state.

    Args:
        model_path: the ``.tflite`` (see :class:`MicroWakeWordStream`).
        audio: ``float32 [S]`` mono in [-1, 1] (or ``int16 [S]``), 16 kHz.
        sample_rate: Hz; must be 16000 (the front-end and the models are built for it; resample first).
        frontend, threads, engine: as :class:`MicroWakeWordStream` (``engine="float"``: the float reference).

    Returns:
        ``(times_s float64 [N], probs float32 [N])``: one probability per 30 ms step, stamped at the end of the
        step's last feature frame (seconds of audio). Feed them to :func:`voxquant.eval.streaming.det_curve` with
        ``smooth_k=5`` for the publisher's rule.

    Raises:
        ConfigError: ``sample_rate`` other than 16000. DataError: bad audio. ModelError: see
        :class:`MicroWakeWordStream`.
    """
    if int(sample_rate) != MWW_SAMPLE_RATE or sample_rate != int(sample_rate):
        raise ConfigError(f"microWakeWord runs at {MWW_SAMPLE_RATE} Hz only, got sample_rate={sample_rate}: "
                          "resample the audio first")
    runner = MicroWakeWordStream(model_path, frontend=frontend, threads=threads, engine=engine)
    n = int(np.asarray(audio).shape[0]) if np.ndim(audio) == 1 else 0
    chunk = 60 * MWW_SAMPLE_RATE  # pushed a minute at a time (bounded memory; the result does not depend on it)
    probs = np.concatenate([runner.push(audio[i: i + chunk]) for i in range(0, n, chunk)] or [runner.push(audio)])
    return runner.step_time_s(np.arange(probs.size)).astype(np.float64), probs


# ---- microWakeWord as a ``voxquant stream`` model kind -----------------------------------------------------------

MWW_MODELS = {
    "microwakeword-alexa": ("alexa", "alexa.tflite", 0.9, 5),
    "microwakeword-hey_jarvis": ("hey_jarvis", "hey_jarvis.tflite", 0.97, 5),
    "microwakeword-hey_mycroft": ("hey_mycroft", "hey_mycroft.tflite", 0.95, 5),
    "microwakeword-okay_nabu": ("okay_nabu", "okay_nabu.tflite", 0.97, 5),
}
"""``--model`` name -> ``(wake word, file under VOXQUANT_MODELS/esphome-microwakeword-v2, probability_cutoff,
sliding_window_size)``: the publisher's manifests ``models/v2/<word>.json`` of github.com/esphome/micro-wake-word-models
(``micro.probability_cutoff`` / ``micro.sliding_window_size``)."""
MWW_FOLDER = "esphome-microwakeword-v2"
"""Folder of the v2 models under ``VOXQUANT_MODELS``."""
MWW_SOURCE = "github.com/esphome/micro-wake-word-models models/v2/<word>.json"
FLOAT_VARIANT_NOTE = "fp32 (dequantized int8 weights, float activations; not a publisher's float model)"
"""How the float reference is labelled everywhere: microWakeWord publishes only int8 models."""


def _is_stateful_tflite(path: Path) -> bool:
    """True when ``path`` is a ``.tflite`` holding resource variables (``VAR_HANDLE``): a natively stateful model."""
    if path.suffix.lower() != ".tflite" or not path.is_file():
        return False
    schema = require("ai_edge_litert.schema_py_generated", "litert", "Reading a .tflite")
    try:
        m = schema.ModelT.InitFromPackedBuf(path.read_bytes(), 0)
    except Exception:
        return False
    codes = {max(int(c.builtinCode), int(c.deprecatedBuiltinCode)) for c in m.operatorCodes}
    return schema.BuiltinOperator.VAR_HANDLE in codes


def _word(text: str) -> str:
    return str(text).strip().lower().replace(" ", "_").replace("-", "_")


class MicroWakeWordKind:
    """microWakeWord v2 as a ``voxquant stream`` model kind (the interface: :mod:`voxquant.streaming_run`).

    Variants: ``fp32`` = :data:`FLOAT_VARIANT_NOTE` (the published graph in numpy,
    :class:`voxquant.eval.tflite_numpy.NumpyTFLite`; the reference), ``int8`` = the published ``.tflite`` in the
    LiteRT interpreter. Rule: the publisher's manifest (``probability_cutoff``, mean of the last
    ``sliding_window_size`` outputs); the manifest names no cooldown, so ``refractory_s`` is ``None`` (the run's
    ``--refractory-s``). Scores: :func:`score_stream`, one pass from a fresh state (no drift measured: the ring
    buffers hold at most ~0.6 s of history, so the state is a function of the recent audio only).

    Args:
        model_path: the v2 ``.tflite``.
        keyword: its wake word (``alexa``, ``hey_jarvis``...).
        cutoff, window: ``probability_cutoff`` and ``sliding_window_size`` of its manifest.
        name: display name.
    """

    kind = "microwakeword"
    sample_rate = MWW_SAMPLE_RATE
    min_samples = FRAME_WINDOW_SAMPLES + FRAME_HOP_SAMPLES * (FRAMES_PER_STEP - 1)
    VARIANTS = {"fp32": ("fp32", FLOAT_VARIANT_NOTE, "float"),
                "int8": ("int8", "int8 as published (LiteRT interpreter)", "litert")}

    def __init__(self, model_path: Path, keyword: str, cutoff: float, window: int, name: str):
        self.model_path = Path(model_path)
        self.keyword = keyword
        self.labels = (keyword,)
        self.default_keyword = keyword
        self.name = name
        self.rule = {"threshold": float(cutoff), "smooth_k": int(window), "refractory_s": None,
                     "source": MWW_SOURCE.replace("<word>", keyword)}
        MicroWakeWordStream(self.model_path)  # refuses a model not driven by 3 frames of 40 features per step

    @classmethod
    def resolve(cls, model, keyword: str | None = None, models_root: Path | None = None) -> "MicroWakeWordKind | None":
        """The kind for ``--model`` if it names a microWakeWord model, else ``None``.

        Args:
            model: a name of :data:`MWW_MODELS`, or a path to a stateful ``.tflite`` (resource variables) whose
                manifest is its stem in :data:`MWW_MODELS` or a ``<stem>.json`` next to it (publisher format).
            keyword: ``--keyword`` (``None`` = the model's word); must be the model's word.
            models_root: default ``VOXQUANT_MODELS``.

        Raises:
            ConfigError: a keyword other than the model's word (names it); a stateful ``.tflite`` without a manifest.
            ModelError: the model file is missing, or not driven by 3 frames per step (:class:`MicroWakeWordStream`).
        """
        import json

        from voxquant.paths import models_root as default_root

        if model is None:
            return None
        text = str(model)
        if text in MWW_MODELS:
            word, file, cutoff, window = MWW_MODELS[text]
            path = Path(models_root or default_root()) / MWW_FOLDER / file
            if not path.is_file():
                raise ModelError(f"microWakeWord model {text!r} not found (expected under VOXQUANT_MODELS/{MWW_FOLDER})",
                                 path)
            name = text
        else:
            path = Path(text)
            if not _is_stateful_tflite(path):
                return None
            known = {v[1]: (k, v) for k, v in MWW_MODELS.items()}
            manifest = path.with_suffix(".json")
            if manifest.is_file():
                try:
                    meta = json.loads(manifest.read_text())
                    word, cutoff = _word(meta["wake_word"]), float(meta["micro"]["probability_cutoff"])
                    window = int(meta["micro"]["sliding_window_size"])
                except (ValueError, KeyError, TypeError) as exc:
                    raise ConfigError(f"{manifest}: not a microWakeWord manifest (needs wake_word, "
                                      f"micro.probability_cutoff, micro.sliding_window_size): {exc}") from None
            elif path.name in known:
                word, _, cutoff, window = known[path.name][1]
            else:
                raise ConfigError(f"{path}: stateful .tflite without a manifest: put the publisher's {manifest.name} "
                                  "(wake_word, micro.probability_cutoff, micro.sliding_window_size) next to it")
            name = f"microwakeword:{path.name}"
        if keyword is not None and _word(keyword) != word:
            raise ConfigError(f"--keyword: {keyword!r} is not the wake word of model {name}; its word: {word}")
        return cls(path, word, cutoff, window, name)

    def variants(self, recipes=()) -> list[tuple[str, str, str]]:
        """``[(variant, precision, description)]``, the reference (fp32) first, then those of ``recipes`` this kind
        has besides it (``int8``), or every variant when ``recipes`` names none (e.g. the clip recipes of the
        default ``fp32,int8_static_minmax``)."""
        asked = [r for r in recipes if r in self.VARIANTS and r != "fp32"]
        names = ["fp32"] + asked if asked else list(self.VARIANTS)
        return [(n, self.VARIANTS[n][0], self.VARIANTS[n][1]) for n in dict.fromkeys(names)]

    def build(self, variant: str, models_dir: Path, calibration_audio=None) -> dict:
        """Nothing to build (both variants run the published file): the record names it and the engine used."""
        size = self.model_path.stat().st_size if variant == "int8" else None  # the float reference is no artefact
        return {"path": str(self.model_path), "files": [str(self.model_path)], "external": True,
                "engine": self.VARIANTS[variant][2], "description": self.VARIANTS[variant][1], "size_bytes": size}

    def score(self, record: dict, audio) -> tuple[np.ndarray, np.ndarray]:
        """``(times_s float64 [N], probs float32 [N])`` of ``audio`` (``float32 [S]``, 16 kHz), from a fresh state."""
        return score_stream(record["path"], audio, MWW_SAMPLE_RATE, engine=record["engine"])

    def describe(self) -> dict:
        """The results' ``model`` entry."""
        return {"name": self.name, "kind": self.kind, "path": str(self.model_path), "labels": list(self.labels),
                "frontend": {"kind": "tflite-micro (pymicro-features)", "window_ms": 30, "step_ms": 10,
                             "n_features": N_FEATURES, "frames_per_step": FRAMES_PER_STEP},
                "rule": dict(self.rule), "variant_notes": {k: v[1] for k, v in self.VARIANTS.items()}}

    def fingerprint(self) -> dict:
        """Components that change results (model bytes, rule)."""
        import hashlib

        return {"model": hashlib.sha256(self.model_path.read_bytes()).hexdigest(), "frontend": "tflite-micro",
                "rule": f"{self.rule['threshold']}/{self.rule['smooth_k']}"}
