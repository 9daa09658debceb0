"""openWakeWord v0.1 as a streaming wake-word model: its three-stage ONNX pipeline, live and batched, and its
quantized variants (fp32 / fp16 / int8 static PTQ calibrated on consecutive streaming frames).

openWakeWord (github.com/dscripka/openWakeWord, Apache-2.0 code; the pre-trained models are CC BY-NC-SA 4.0) is
not a clip classifier. Its ``openwakeword/utils.py`` ``AudioFeatures`` and ``openwakeword/model.py``
``Model.predict`` run three models on 16 kHz int16-valued audio in 80 ms steps (1280 samples):

1. ``melspectrogram.onnx`` (front-end; torchlibrosa log-mel: n_fft 512, hop 160, 32 mel, ``center=False``,
   ``10 log10`` with an ``80 dB`` top-db clamp *relative to the max of the whole input tensor*) on the step's 1280
   new samples plus the previous 480 (``raw_data_buffer[-n_samples - 160*3:]``): 8 new mel frames per step (5 on
   the very first step, whose buffer holds only 1280 samples). The caller transforms them by ``x / 10 + 2``.
2. ``embedding_model.onnx`` (Google ``speech_embedding`` re-implementation) on the last 76 mel frames of a buffer
   that starts as ``np.ones((76, 32))``: one 96-d embedding per step (windows of 76 frames, stride 8).
3. the wake-word head (``alexa_v0.1.onnx``, ``hey_mycroft_v0.1.onnx``) on the last 16 embeddings of a feature
   buffer that starts with the embeddings of 4 s of uniform random int16 noise in [-1000, 1000) (41 embeddings):
   one sigmoid probability per step.

``Model.predict`` forces the first 5 predictions to 0 ("zero predictions for first 5 frames during model
initialization": its prediction buffer holds fewer than 5 values); steps 5..14 still see some of the noise
embeddings of the initial feature buffer, from step 15 on the head sees only embeddings of real audio, and from
step 9 on every mel frame of the embedding window is real audio. This module does exactly the same, except that
the initial noise is seeded (:data:`INIT_NOISE_SEED`; upstream draws it from NumPy's global generator), so scores
are reproducible.

Detection rule: threshold 0.5 (openWakeWord README, default of ``wyoming-openwakeword --threshold``). The library
has no refractory period and no smoothing; its ``patience`` (N consecutive frames above threshold) is off by
default. Its own false-positive counter (``openwakeword/metrics.py`` ``get_false_positives``) groups activations
within ``grouping_window = 50`` frames (4 s) into one. On voxquant's test streams keywords follow each other every
1.5-3 s, so a 4 s cooldown would merge distinct keywords; :data:`RULE` therefore uses the project's 1.0 s cooldown,
the same as for every other model (:func:`voxquant.eval.streaming.detect`).

Two runners give the same probabilities (a test checks it to 1e-5):

* :class:`OpenWakeWordStream` - live: ``push(audio)`` runs the three models per completed 80 ms step, batch 1,
  exactly like ``Model.predict`` fed 1280-sample chunks (``Model.predict_clip``'s default);
* :func:`score_stream` - offline: the mel frames of all steps in one batched call (the graph up to its top-db
  clamp, the clamp then applied per step in NumPy with the step's own max, so it matches the per-step call), all
  embedding windows and all head windows batched. The head files have a fixed batch of 1; the variants built here
  (:func:`build_variant`) carry a copy with a symbolic batch dimension.

Quantization (:func:`build_variant`): the embedding model (20 Conv: 42.0 M multiply-accumulates per step, about
95 % of the pipeline's 44.4 M; the melspectrogram model does 2.2 M, the head 0.2 M) and the head (3 Gemm, 0.85 MB
of the pipeline's 3.3 MB of weights) are quantized with the project's recipe registry (:func:`voxquant.quant.build_variant`); the
melspectrogram model is the front-end (an STFT as two Conv with DFT-basis weights, Pow, MatMul with the mel
filterbank, Log and the top-db clamp) and stays float32 in every variant, as a deployment keeps its DSP front-end
in float and as ONNX Runtime's QDQ quantizer leaves Pow/Log in float anyway. Static int8 calibrates each stage on
its fp32 inputs taken from **consecutive streaming steps** of a (dev-split) calibration stream: the embedding
model on mel windows, the head on 16-embedding sequences, each a seeded sample of the steps whose windows hold only
real audio (step >= 15).

Known effect of ``int8`` (``int8_static_minmax``): ONNX Runtime's QDQ quantizer also quantizes the head's Sigmoid
output (scale ~1/255), so int8 probabilities lie on a 1/255 grid whose top value is ~1.0 (71 distinct values on a
3-minute stream vs 1,255 with a float head). The variant ``int8_embedding`` (embedding int8, head float32:
:data:`VARIANT_STAGES`) separates the two effects. Measured with ``voxquant stream --model openwakeword-alexa --hours 1
--conditions clean,noise_snr10 --recipes fp16,int8_static_minmax,int8_embedding`` (718 keywords per condition): at
threshold 0.5 FRR 1.3 / 1.4 / 1.4 % (fp32 / int8 / int8_embedding, clean) and 2.6 / 3.1 / 3.1 % (10 dB), FA/h 5 / 4 /
4 and 7 / 3 / 3; at the lowest measurable FA/h (0 false accepts in the hour) the paired int8 - fp32 difference is
-2.8 pp [-4.8, 1.1] (clean) and -8.4 pp [-24.5, 9.3] (10 dB): no measurable cost, and the float head changes nothing
measurable. (An earlier 25-minute measurement showing int8 at 100 % FRR at 0.5 FA/h counted the keyword's own repeat
triggers as false accepts: see :func:`voxquant.eval.streaming.match` ``repeat_s``.)
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from voxquant.errors import ConfigError, DataError, ModelError
from voxquant.eval.stateful import to_int16

log = logging.getLogger("voxquant")

__all__ = [
    "CHUNK_SAMPLES",
    "MIN_SAMPLES",
    "OWW_SAMPLE_RATE",
    "RULE",
    "STAGES",
    "VARIANT_RECIPES",
    "OpenWakeWordKind",
    "OpenWakeWordStream",
    "build_variant",
    "calibration_inputs",
    "default_source_dir",
    "keywords",
    "score_stream",
    "source_paths",
]

OWW_SAMPLE_RATE = 16000
"""The only sample rate of the openWakeWord models, Hz."""
CHUNK_SAMPLES = 1280
"""One prediction step: 80 ms at 16 kHz (``Model.predict`` input size)."""
MEL_CONTEXT_SAMPLES = 480
"""Samples of the previous step prepended to each step's mel call (``160 * 3`` in ``AudioFeatures``)."""
MEL_FRAMES_PER_STEP = 8
"""New mel frames per 80 ms step (after the first, which gives 5)."""
FIRST_STEP_MEL_FRAMES = 5
"""Mel frames of the first step (1280 samples, no previous context)."""
N_MELS = 32
EMBED_WINDOW = 76
"""Mel frames per embedding window."""
EMBED_DIM = 96
HEAD_FRAMES = 16
"""Embeddings per head input (``[1, 16, 96]``)."""
WARMUP_STEPS = 5
"""Predictions forced to 0 while openWakeWord's prediction buffer holds fewer than 5 values."""
INIT_NOISE_SAMPLES = 4 * OWW_SAMPLE_RATE
"""Length of the random int16 noise whose embeddings fill the initial feature buffer (4 s)."""
INIT_NOISE_RANGE = (-1000, 1000)
"""Range of that noise (``np.random.randint(-1000, 1000, ...)`` upstream)."""
INIT_NOISE_SEED = 0
"""Seed of that noise here (upstream: NumPy's global generator, i.e. not reproducible)."""
FIRST_REAL_STEP = 15
"""First step whose head input holds only embeddings of real audio (and whose mel windows are all real)."""
MIN_SAMPLES = 10 * CHUNK_SAMPLES
"""Shortest stream :func:`score_stream` accepts: 10 steps (0.8 s), the first step whose embedding window holds
76 mel frames of real audio (``5 + 8 * 9 >= 76``)."""
STAGES = ("melspectrogram", "embedding", "head")
"""Keys of a pipeline's stage paths."""
QUANTIZED_STAGES = ("embedding", "head")
"""Stages a variant quantizes (the melspectrogram front-end stays float32)."""
RULE = {"threshold": 0.5, "smooth_k": 1, "refractory_s": 1.0, "repeat_s": 2.0}
"""Publisher's detection rule on the per-step probabilities (module docstring: threshold 0.5, no smoothing; the
1.0 s cooldown is the project's, openWakeWord's own FP counter groups 4 s). ``repeat_s`` 2.0: the pipeline's context
(76 mel frames ~0.8 s + 16 embeddings of 80 ms = ~2 s) still holds a keyword for ~2 s after its end, so a trigger
there is a repeat of that keyword, not a false accept (:func:`voxquant.eval.streaming.match`)."""
FP_GROUPING_S = 50 * CHUNK_SAMPLES / OWW_SAMPLE_RATE
"""openWakeWord's ``get_false_positives(grouping_window=50)`` in seconds (4.0 s), for reference."""
VARIANT_RECIPES = {"fp32": "fp32", "fp16": "fp16", "int8": "int8_static_minmax", "int8_embedding": "int8_static_minmax"}
"""Variant name -> quantization recipe applied to the embedding model and the head. Any other recipe of the
registry that maps an ONNX file to an ONNX file (e.g. ``int8_static_entropy``, ``int8_dynamic``) is accepted by its
own name."""
#: Recipes that need a trainable torch model or a clip-level slice search and so do not apply to a third-party ONNX
#: pipeline.
VARIANT_STAGES = {"int8_embedding": ("embedding",)}
"""Variants that quantize only some of :data:`QUANTIZED_STAGES` (``int8_embedding``: the embedding model in int8,
the head kept float32 - mixed precision; it tests whether int8 output quantization of the head, a 1/255 probability
grid saturating at 1.0, is what costs the low-FA/h operating points)."""
UNSUPPORTED_RECIPES = ("qat", "mixed")
CALIB_N = 512
"""Default calibration inputs per stage (steps sampled from the calibration stream)."""
SOURCE_FOLDER = "openwakeword-v0.1"
"""Folder of the models under ``VOXQUANT_MODELS``."""
_STAGE_FILES = {"melspectrogram": "melspectrogram.onnx", "embedding": "embedding_model.onnx"}


# ------------------------------------------------------------------------------------------------ files


def default_source_dir() -> Path:
    """``<VOXQUANT_MODELS>/openwakeword-v0.1``."""
    from voxquant.paths import models_root

    return models_root() / SOURCE_FOLDER


def keywords(source_dir: str | Path | None = None) -> list[str]:
    """Wake words with a head in ``source_dir`` (``<keyword>_v0.1.onnx``), sorted; ``[]`` if the folder is absent."""
    d = Path(source_dir) if source_dir is not None else default_source_dir()
    if not d.is_dir():
        return []
    return sorted(p.name[: -len("_v0.1.onnx")] for p in d.glob("*_v0.1.onnx"))


def source_paths(keyword: str, source_dir: str | Path | None = None) -> dict[str, Path]:
    """The published fp32 pipeline of ``keyword``: ``{"melspectrogram", "embedding", "head"} -> Path``.

    Raises:
        ModelError: a file is missing (names the first one missing; the hint lists the keywords whose heads exist).
    """
    d = Path(source_dir) if source_dir is not None else default_source_dir()
    paths = {"melspectrogram": d / _STAGE_FILES["melspectrogram"], "embedding": d / _STAGE_FILES["embedding"],
             "head": d / f"{keyword}_v0.1.onnx"}
    _check_files(paths, hint=f"openWakeWord v0.1 heads present: {', '.join(keywords(d)) or 'none'}; set "
                             "VOXQUANT_MODELS to the shared models folder")
    return paths


def _check_files(paths: Mapping[str, str | Path], hint: str | None = None) -> dict[str, Path]:
    missing = [s for s in STAGES if s not in paths]
    if missing:
        raise ConfigError(f"openWakeWord pipeline paths lack the stage(s) {', '.join(missing)} "
                          f"(expected keys {', '.join(STAGES)})")
    out = {s: Path(paths[s]) for s in STAGES}
    for s in STAGES:
        if not out[s].is_file():
            raise ModelError(f"openWakeWord {s} model not found", out[s], hint=hint)
    return out


# ------------------------------------------------------------------------------------------------ sessions


class _Pipeline:
    """ONNX Runtime sessions of the three stages, plus the pre-clamp melspectrogram graph for batching."""

    def __init__(self, paths: Mapping[str, str | Path], threads: int = 1):
        import onnx
        import onnxruntime as ort

        self.paths = _check_files(paths)
        so = ort.SessionOptions()
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
        so.log_severity_level = 3

        def session(p, model=None):
            try:
                return ort.InferenceSession(model.SerializeToString() if model is not None else str(p), so,
                                            providers=["CPUExecutionProvider"])
            except Exception as exc:
                raise ModelError(f"ONNX Runtime cannot load it: {str(exc).splitlines()[0][:200]}", p) from None

        self.mel = session(self.paths["melspectrogram"])
        self.emb = session(self.paths["embedding"])
        self.head = session(self.paths["head"])
        self.emb_in = self.emb.get_inputs()[0].name
        self.head_in = self.head.get_inputs()[0].name
        self._check_shapes()
        try:
            mel_model = onnx.load(str(self.paths["melspectrogram"]))
        except Exception as exc:
            raise ModelError(f"not a loadable ONNX model ({str(exc).splitlines()[0][:160]})",
                             self.paths["melspectrogram"]) from None
        pre, self.top_db, self.clip_hi = _split_top_db(mel_model, self.paths["melspectrogram"])
        pre_model = onnx.ModelProto()
        pre_model.CopyFrom(mel_model)
        del pre_model.graph.output[:]
        pre_model.graph.output.append(onnx.helper.make_tensor_value_info(pre, onnx.TensorProto.FLOAT, None))
        self.mel_pre = session(self.paths["melspectrogram"], pre_model)
        self.mel_in = self.mel.get_inputs()[0].name
        self.head_batch = self.head.get_inputs()[0].shape[0]
        self._init_features: np.ndarray | None = None

    def _check_shapes(self) -> None:
        e = self.emb.get_inputs()[0].shape
        if list(e[1:]) != [EMBED_WINDOW, N_MELS, 1]:
            raise ModelError(f"embedding input {e} is not [N, {EMBED_WINDOW}, {N_MELS}, 1]", self.paths["embedding"])
        h = self.head.get_inputs()[0].shape
        if list(h[1:]) != [HEAD_FRAMES, EMBED_DIM]:
            raise ModelError(f"wake-word head input {h} is not [1, {HEAD_FRAMES}, {EMBED_DIM}]", self.paths["head"])

    # -- stages
    def mel_frames(self, x: np.ndarray) -> np.ndarray:
        """One mel call exactly as upstream: ``float32 [S]`` int16-valued -> transformed ``float32 [T, 32]``."""
        out = self.mel.run(None, {self.mel_in: x[None].astype(np.float32)})[0]
        return (out.reshape(-1, N_MELS) / 10 + 2).astype(np.float32)

    def mel_rows(self, rows: np.ndarray, batch: int = 4096) -> np.ndarray:
        """Per-row mel calls batched: ``float32 [B, L]`` -> ``float32 [B, T, 32]``, each row clamped to its own
        ``max - top_db`` (what a separate batch-1 call per row does)."""
        outs = []
        for i in range(0, rows.shape[0], batch):
            y = self.mel_pre.run(None, {self.mel_in: np.ascontiguousarray(rows[i:i + batch], dtype=np.float32)})[0]
            y = y.reshape(y.shape[0], -1, N_MELS)
            lo = (y.max(axis=(1, 2), keepdims=True) - np.float32(self.top_db)).astype(np.float32)
            y = np.minimum(np.maximum(y, lo), self.clip_hi)
            outs.append((y / 10 + 2).astype(np.float32))
        return np.concatenate(outs) if outs else np.zeros((0, MEL_FRAMES_PER_STEP, N_MELS), np.float32)

    def embed(self, windows: np.ndarray, batch: int = 128) -> np.ndarray:
        """``float32 [N, 76, 32]`` mel windows -> ``float32 [N, 96]``."""
        outs = [self.emb.run(None, {self.emb_in: np.ascontiguousarray(windows[i:i + batch], np.float32)[..., None]})[0]
                for i in range(0, windows.shape[0], batch)]
        return np.concatenate(outs).reshape(-1, EMBED_DIM) if outs else np.zeros((0, EMBED_DIM), np.float32)

    def score(self, seqs: np.ndarray, batch: int = 4096) -> np.ndarray:
        """``float32 [N, 16, 96]`` embedding sequences -> ``float32 [N]`` probabilities."""
        if self.head_batch == 1 and seqs.shape[0] > 1:
            batch = 1  # the published head has a fixed batch of 1
        outs = [self.head.run(None, {self.head_in: np.ascontiguousarray(seqs[i:i + batch], np.float32)})[0]
                for i in range(0, seqs.shape[0], batch)]
        return np.concatenate(outs).reshape(-1).astype(np.float32) if outs else np.zeros(0, np.float32)

    def init_features(self) -> np.ndarray:
        """The initial feature buffer: embeddings of 4 s of seeded uniform int16 noise (``float32 [41, 96]``)."""
        if self._init_features is None:
            noise = np.random.default_rng(INIT_NOISE_SEED).integers(*INIT_NOISE_RANGE, INIT_NOISE_SAMPLES)
            spec = self.mel_frames(noise.astype(np.int16).astype(np.float32))
            starts = range(0, spec.shape[0] - EMBED_WINDOW + 1, MEL_FRAMES_PER_STEP)
            self._init_features = self.embed(np.stack([spec[i:i + EMBED_WINDOW] for i in starts]))
        return self._init_features


def _split_top_db(model, path) -> tuple[str, float, np.float32]:
    """Find the melspectrogram graph's final top-db clamp: ``Clip(x, ReduceMax(x) - top_db, hi)``.

    Returns:
        (name of ``x``, ``top_db`` in dB, ``hi``).

    Raises:
        ModelError: the graph does not end in that pattern (not openWakeWord's melspectrogram).
    """
    from onnx import numpy_helper

    g = model.graph
    producer = {o: n for n in g.node for o in n.output}
    consts = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    consts.update({n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in g.node
                   if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value"})
    bad = ModelError("not openWakeWord's melspectrogram graph (expected it to end in a top-db clamp "
                     "Clip(x, ReduceMax(x) - top_db))", path)
    last = producer.get(g.output[0].name)
    if last is None or last.op_type != "Clip" or len(last.input) < 2:
        raise bad
    x = last.input[0]
    node = producer.get(last.input[1])
    while node is not None and node.op_type == "Cast":
        node = producer.get(node.input[0])
    if node is None or node.op_type != "Sub" or node.input[1] not in consts:
        raise bad
    rmax = producer.get(node.input[0])
    if rmax is None or rmax.op_type != "ReduceMax" or rmax.input[0] != x or len(rmax.input) > 1 or any(
            a.name == "axes" for a in rmax.attribute):
        raise bad  # only a global max (all axes) is reproduced per row here
    hi = consts.get(last.input[2]) if len(last.input) > 2 and last.input[2] else None
    hi = np.float32(np.finfo(np.float32).max if hi is None else float(np.asarray(hi).ravel()[0]))
    return x, float(np.asarray(consts[node.input[1]]).ravel()[0]), hi


# ------------------------------------------------------------------------------------------------ live


class OpenWakeWordStream:
    """openWakeWord driven live: push audio, get one probability per completed 80 ms step.

    Matches ``openwakeword.Model.predict`` fed 1280-sample chunks (module docstring: buffers, warm-up zeros).

    Args:
        paths: ``{"melspectrogram", "embedding", "head"} -> .onnx`` (:func:`source_paths` or a built variant).
        threads: ONNX Runtime intra-op threads (openWakeWord uses 1).

    Raises:
        ModelError: a missing or unloadable file, or a stage with the wrong input shape.
    """

    def __init__(self, paths: Mapping[str, str | Path], threads: int = 1):
        self._pipe = paths if isinstance(paths, _Pipeline) else _Pipeline(paths, threads)
        self.reset()

    def reset(self) -> None:
        """Forget all audio: empty sample buffer, mel buffer of ones, feature buffer of noise embeddings."""
        self._pending = np.zeros(0, dtype=np.int16)
        self._tail = np.zeros(0, dtype=np.float32)  # the previous step's last 480 samples
        self._mel = np.ones((EMBED_WINDOW, N_MELS), dtype=np.float32)
        self._feat = self._pipe.init_features()[-HEAD_FRAMES:].copy()
        self.n_steps = 0

    @staticmethod
    def step_time_s(j) -> np.ndarray:
        """Audio time (s, from the last reset) at which step ``j`` (int or array) is emitted: the end of its chunk."""
        return (np.asarray(j, dtype=np.float64) + 1) * CHUNK_SAMPLES / OWW_SAMPLE_RATE

    def push(self, audio) -> np.ndarray:
        """Feed the next samples; run the pipeline once per completed 1280-sample step.

        Args:
            audio: ``int16 [S]`` PCM or ``float [S]`` in [-1, 1] (``x * 32768``, rounded and clipped), 16 kHz, any
                length; samples short of a whole step wait for the next call (the result does not depend on the
                chunking).

        Returns:
            ``float32 [N]`` probabilities of the ``N`` steps completed by this call (0 for the first 5 steps after
            a reset, as openWakeWord).

        Raises:
            DataError: not 1-D, NaN/Inf, or a non-audio dtype.
        """
        pcm = to_int16(audio)
        buf = np.concatenate([self._pending, pcm]) if self._pending.size else pcm
        n = buf.size // CHUNK_SAMPLES
        self._pending = buf[n * CHUNK_SAMPLES:].copy()
        probs = np.empty(n, dtype=np.float32)
        p = self._pipe
        for k in range(n):
            x = np.concatenate([self._tail, buf[k * CHUNK_SAMPLES:(k + 1) * CHUNK_SAMPLES].astype(np.float32)])
            self._mel = np.vstack([self._mel, p.mel_frames(x)])[-EMBED_WINDOW:]
            self._feat = np.vstack([self._feat, p.embed(self._mel[None])])[-HEAD_FRAMES:]
            probs[k] = 0.0 if self.n_steps < WARMUP_STEPS else p.score(self._feat[None])[0]
            self._tail = x[-MEL_CONTEXT_SAMPLES:]
            self.n_steps += 1
        return probs


# ------------------------------------------------------------------------------------------------ offline


def _check_audio(audio, sample_rate, what: str = "audio") -> np.ndarray:
    if sample_rate != OWW_SAMPLE_RATE:
        raise ConfigError(f"openWakeWord runs at {OWW_SAMPLE_RATE} Hz only, got sample_rate={sample_rate}: "
                          "resample the audio first")
    pcm = to_int16(audio)
    if pcm.size < MIN_SAMPLES:
        raise DataError(f"{what} is {pcm.size / OWW_SAMPLE_RATE:.3f} s long, shorter than one openWakeWord embedding "
                        f"window ({EMBED_WINDOW} mel frames = {MIN_SAMPLES / OWW_SAMPLE_RATE:.2f} s at 80 ms steps)")
    return pcm


def _stream_features(pipe: _Pipeline, pcm: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Mel buffer and feature buffer of a whole stream, as the live runner builds them step by step.

    Returns:
        ``(mel float32 [76 + 5 + 8 (N-1), 32], feats float32 [41 + N, 96], N)``: step ``c``'s embedding window is
        ``mel[5 + 8c : 81 + 8c]``, its head input ``feats[26 + c : 42 + c]``.
    """
    from numpy.lib.stride_tricks import sliding_window_view

    x = pcm.astype(np.float32)
    n = x.size // CHUNK_SAMPLES
    first = pipe.mel_frames(x[:CHUNK_SAMPLES])
    rows = sliding_window_view(x, CHUNK_SAMPLES + MEL_CONTEXT_SAMPLES)[CHUNK_SAMPLES - MEL_CONTEXT_SAMPLES::CHUNK_SAMPLES]
    rest = pipe.mel_rows(rows[: n - 1]).reshape(-1, N_MELS)
    mel = np.vstack([np.ones((EMBED_WINDOW, N_MELS), np.float32), first, rest])
    wins = sliding_window_view(mel, EMBED_WINDOW, axis=0)[FIRST_STEP_MEL_FRAMES::MEL_FRAMES_PER_STEP][:n]
    emb = pipe.embed(np.transpose(wins, (0, 2, 1)))
    init = pipe.init_features()
    return mel, np.vstack([init, emb]), n


def _head_windows(feats: np.ndarray, n_init: int, n: int) -> np.ndarray:
    from numpy.lib.stride_tricks import sliding_window_view

    s = n_init - HEAD_FRAMES + 1
    return np.transpose(sliding_window_view(feats, HEAD_FRAMES, axis=0)[s:s + n], (0, 2, 1))


def score_stream(paths: Mapping[str, str | Path], audio, sample_rate: int = OWW_SAMPLE_RATE, threads: int = 1,
                 _pipe: _Pipeline | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Score a whole stream offline, batched; equal to :class:`OpenWakeWordStream` pushed the same audio.

    Args:
        paths: ``{"melspectrogram", "embedding", "head"} -> .onnx``.
        audio: ``float32 [S]`` mono in [-1, 1] (or ``int16 [S]``), 16 kHz, at least :data:`MIN_SAMPLES` samples.
        sample_rate: Hz; must be 16000.
        threads: ONNX Runtime intra-op threads.

    Returns:
        ``(times_s float64 [N], probs float32 [N])``, ``N = S // 1280``: one probability per 80 ms step, stamped at
        the end of the step; the first 5 are 0 (openWakeWord's warm-up). Apply :data:`RULE` with
        :func:`voxquant.eval.streaming.det_curve`.

    Raises:
        ConfigError: ``sample_rate`` other than 16000. DataError: audio shorter than :data:`MIN_SAMPLES`, not 1-D,
        NaN/Inf. ModelError: a missing/unloadable file (named) or a wrong stage shape.
    """
    pcm = _check_audio(audio, sample_rate)
    pipe = _pipe if _pipe is not None else _Pipeline(paths, threads)
    _, feats, n = _stream_features(pipe, pcm)
    init_n = pipe.init_features().shape[0]
    probs = pipe.score(_head_windows(feats, init_n, n))
    probs[:WARMUP_STEPS] = 0.0
    return OpenWakeWordStream.step_time_s(np.arange(n)), probs


# ------------------------------------------------------------------------------------------------ variants


def _batch_dynamic_head(src: Path, dst: Path) -> Path:
    """Copy of a head whose input/output batch dimension is symbolic (the published files fix it to 1)."""
    import onnx

    try:
        m = onnx.load(str(src))
    except Exception as exc:
        raise ModelError(f"not a loadable ONNX model ({str(exc).splitlines()[0][:160]})", src) from None
    for v in list(m.graph.input) + list(m.graph.output):
        dims = v.type.tensor_type.shape.dim
        if dims:
            dims[0].ClearField("dim_value")
            dims[0].dim_param = "batch"
    del m.graph.value_info[:]  # re-inferred by ONNX Runtime; stale fixed shapes would conflict
    onnx.checker.check_model(m)
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(m, str(dst))
    return dst


def calibration_inputs(paths: Mapping[str, str | Path], calibration_audio, n: int = CALIB_N, seed: int = 0,
                       threads: int = 1) -> dict[str, np.ndarray]:
    """Calibration inputs of the embedding model and the head, from consecutive steps of one stream.

    The fp32 pipeline runs over ``calibration_audio`` as in :func:`score_stream`; ``n`` steps are drawn without
    replacement (``numpy.random.default_rng(seed)``) among the steps ``>= 15`` (windows of real audio only), and
    their inputs taken: the mel window the embedding model sees and the 16-embedding sequence the head sees.

    Args:
        paths: the fp32 pipeline (:func:`source_paths`).
        calibration_audio: ``float32 [S]`` 16 kHz stream audio (a dev-split stream; at least 16 steps).
        n: inputs per stage (fewer if the stream has fewer steps).
        seed: sampling seed.

    Returns:
        ``{"embedding": float32 [n, 76, 32, 1], "head": float32 [n, 16, 96]}``, in stream order.

    Raises:
        DataError: audio shorter than 16 steps (1.28 s) or bad. ModelError: see :func:`score_stream`.
    """
    pcm = _check_audio(calibration_audio, OWW_SAMPLE_RATE, "calibration audio")
    if pcm.size < (FIRST_REAL_STEP + 1) * CHUNK_SAMPLES:
        raise DataError(f"calibration audio is {pcm.size / OWW_SAMPLE_RATE:.2f} s long: need at least "
                        f"{(FIRST_REAL_STEP + 1) * CHUNK_SAMPLES / OWW_SAMPLE_RATE:.2f} s (16 steps of 80 ms)")
    pipe = _Pipeline(paths, threads)
    mel, feats, steps = _stream_features(pipe, pcm)
    valid = np.arange(FIRST_REAL_STEP, steps)
    from voxquant.data.slices import stratified_indices

    # THE calibration sampler (one class here: every step of the stream), seeded, in stream order
    idx = valid[stratified_indices(np.zeros(valid.size, dtype=np.int64), int(n), seed)]
    start = FIRST_STEP_MEL_FRAMES + MEL_FRAMES_PER_STEP * idx
    emb_in = np.stack([mel[s:s + EMBED_WINDOW] for s in start])[..., None].astype(np.float32)
    heads = _head_windows(feats, pipe.init_features().shape[0], steps)[idx].astype(np.float32)
    return {"embedding": emb_in, "head": heads}


def _recipe_for(variant: str) -> str:
    from voxquant.quant import get_recipe

    name = VARIANT_RECIPES.get(variant, variant)
    if variant in UNSUPPORTED_RECIPES:
        raise ConfigError(f"recipe '{variant}' does not apply to openWakeWord (it needs a trainable torch model); "
                          f"use one of {', '.join(VARIANT_RECIPES)} or an ONNX PTQ recipe")
    get_recipe(name)  # ConfigError for an unknown name
    return name


def build_variant(name: str, paths: Mapping[str, str | Path], out_dir: str | Path, calibration_audio=None,
                  calib_n: int = CALIB_N, seed: int = 0) -> dict[str, Path]:
    """Build one variant of the openWakeWord pipeline: the recipe applied to the embedding model and the head.

    Args:
        name: ``fp32``, ``fp16``, ``int8`` (= ``int8_static_minmax``: QDQ, per-channel int8 weights, int8
            activations, MinMax ranges) or another ONNX recipe of :mod:`voxquant.quant` by name.
        paths: the published fp32 pipeline (:func:`source_paths`).
        out_dir: folder for the variant's files (``embedding_<name>.onnx``, ``head_<name>.onnx``).
        calibration_audio: ``float32 [S]`` 16 kHz audio of a (dev-split) stream; required by static recipes
            (:func:`calibration_inputs`).
        calib_n, seed: calibration inputs per stage and their sampling seed.

    Returns:
        ``{"melspectrogram": the published front-end (float32, never quantized), "embedding": Path, "head": Path}``;
        every head is a batch-dynamic copy (:func:`score_stream` batches it).

    Raises:
        ConfigError: unknown or unsupported recipe (qat, mixed), calibration audio missing for a static recipe.
        ModelError: a missing/unloadable input file. DataError: calibration audio too short.
    """
    from voxquant.quant import build_variant as quant_build

    src = _check_files(paths)
    recipe = _recipe_for(name)
    from voxquant.quant import get_recipe

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    calib = None
    if get_recipe(recipe).needs_calibration:
        if calibration_audio is None:
            raise ConfigError(f"openWakeWord variant '{name}' ({recipe}) needs calibration audio (a dev-split stream)")
        calib = calibration_inputs(src, calibration_audio, n=calib_n, seed=seed)
    head32 = _batch_dynamic_head(src["head"], out / "head_fp32.onnx")
    result = {"melspectrogram": src["melspectrogram"]}
    stages = VARIANT_STAGES.get(name, QUANTIZED_STAGES)
    for stage, fp32_file in (("embedding", src["embedding"]), ("head", head32)):
        target = out / f"{stage}_{name}.onnx"
        if stage == "embedding" and stage not in stages:
            result[stage] = src["embedding"]
            continue
        if (name == "fp32" or stage not in stages) and stage == "head":
            result[stage] = head32
            continue
        tmp = target.with_suffix(".tmp.onnx")
        quant_build(recipe, fp32_file, tmp, None if calib is None else calib[stage])
        tmp.replace(target)
        result[stage] = target
    return result


# ------------------------------------------------------------------------------------------------ model kind


class OpenWakeWordKind:
    """The openWakeWord v0.1 pipeline as a model kind of ``voxquant stream`` (one instance per keyword).

    Attributes:
        sample_rate: 16000.
        keyword: the wake word (one of :attr:`keywords`).
        source_dir: folder of the published files (default ``<VOXQUANT_MODELS>/openwakeword-v0.1``).
        rule: :data:`RULE` (threshold 0.5, no smoothing, 1.0 s cooldown).

    Raises:
        ConfigError: ``keyword`` has no head in ``source_dir`` (names the ones present).
    """

    name = "openwakeword"
    sample_rate = OWW_SAMPLE_RATE
    rule = dict(RULE)

    def __init__(self, keyword: str, source_dir: str | Path | None = None, threads: int = 1, calib_n: int = CALIB_N,
                 seed: int = 0):
        self.source_dir = Path(source_dir) if source_dir is not None else default_source_dir()
        self.keyword = str(keyword).strip().lower().replace(" ", "_")
        if self.keyword not in self.keywords:
            raise ConfigError(f"openWakeWord v0.1 has no model for keyword {keyword!r}",
                              hint=f"keywords in {self.source_dir}: {', '.join(self.keywords) or 'none'}")
        self.threads, self.calib_n, self.seed = int(threads), int(calib_n), int(seed)
        self._pipes: dict[tuple, _Pipeline] = {}

    @property
    def keywords(self) -> list[str]:
        """Wake words whose head file is present (e.g. ``["alexa", "hey_mycroft"]``)."""
        return keywords(self.source_dir)

    kind = "openwakeword"
    #: Shortest scorable audio (samples): one embedding window of 76 mel frames (0.8 s + the mel model's context).
    min_samples = int(0.8 * OWW_SAMPLE_RATE)

    @classmethod
    def resolve(cls, model, keyword: str | None = None, models_root: Path | None = None) -> "OpenWakeWordKind | None":
        """The kind for ``--model openwakeword-<keyword>`` (e.g. ``openwakeword-alexa``), else ``None``.

        Raises:
            ConfigError: a ``--keyword`` other than the model's word; no head for that word (names those present).
        """
        text = str(model) if model is not None else ""
        if not text.startswith("openwakeword-"):
            return None
        word = text[len("openwakeword-"):].strip().lower()
        if keyword is not None and str(keyword).strip().lower().replace(" ", "_") != word:
            raise ConfigError(f"--keyword: {keyword!r} is not the wake word of model {text}; its word: {word}")
        source = Path(models_root) / SOURCE_FOLDER if models_root is not None else None
        return cls(word, source_dir=source)

    @property
    def labels(self) -> tuple[str, ...]:
        return (self.keyword,)

    @property
    def default_keyword(self) -> str:
        return self.keyword

    def variant_names(self, recipes: Sequence[str]) -> list[str]:
        """The variants to build for ``recipes``: ``fp32`` first, then each applicable recipe once.

        ``qat`` and ``mixed`` are dropped with a warning (they need a trainable model). Recipe names with a short
        alias (``fp16``, ``int8_static_minmax`` -> ``int8``) map to it; ``int8_embedding`` (int8 embedding, float
        head) is asked by its name.

        Raises:
            ConfigError: an unknown recipe name.
        """
        alias = {"fp32": "fp32", "fp16": "fp16", "int8_static_minmax": "int8"}
        out = ["fp32"]
        for r in recipes:
            if r in UNSUPPORTED_RECIPES:
                log.warning("openWakeWord: recipe '%s' skipped (needs a trainable torch model)", r)
                continue
            _recipe_for(r)
            v = alias.get(r, r)
            if v not in out:
                out.append(v)
        return out

    def variants(self, recipes: Sequence[str]) -> list[tuple[str, str, str]]:
        """``[(variant, precision, description)]`` of :meth:`variant_names` (the ``voxquant stream`` kind interface)."""
        from voxquant.quant import get_recipe

        out = []
        for v in self.variant_names(recipes):
            recipe = _recipe_for(v)
            stages = () if v == "fp32" else VARIANT_STAGES.get(v, QUANTIZED_STAGES)
            desc = ("as published (float32 ONNX)" if v == "fp32" else
                    f"{recipe} on the {' and '.join(stages)} model(s); melspectrogram front-end float32")
            out.append((v, get_recipe(recipe).precision, desc))
        return out

    def build(self, variant: str, models_dir: str | Path,
              calibration_audio_fn: Callable[[], np.ndarray] | None = None) -> dict:
        """Build ``variant`` under ``models_dir/openwakeword_<keyword>/<variant>/``.

        Args:
            variant: see :func:`build_variant`.
            models_dir: output folder of built models.
            calibration_audio_fn: ``() -> float32 [S]`` 16 kHz dev-split stream audio; called only for static
                recipes.

        Returns:
            ``{"kind", "keyword", "variant", "recipe", "precision", "quantized_stages", "paths": {stage: str},
            "build_s"}`` (JSON-able).
        """
        from voxquant.quant import get_recipe

        recipe = _recipe_for(variant)
        t0 = time.perf_counter()
        needs = get_recipe(recipe).needs_calibration
        audio = calibration_audio_fn() if needs and calibration_audio_fn is not None else None
        folder = Path(models_dir) / f"openwakeword_{self.keyword}" / variant
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        paths = build_variant(variant, source_paths(self.keyword, self.source_dir), tmp, audio, calib_n=self.calib_n,
                              seed=self.seed)
        shutil.rmtree(folder, ignore_errors=True)
        tmp.replace(folder)
        paths = {s: (folder / p.name if p.parent == tmp else p) for s, p in paths.items()}
        files = [str(p) for p in paths.values()]
        return {"kind": self.name, "keyword": self.keyword, "variant": variant, "recipe": recipe,
                "precision": get_recipe(recipe).precision, "quantized_stages": [] if variant == "fp32"
                else list(VARIANT_STAGES.get(variant, QUANTIZED_STAGES)), "paths": {s: str(p) for s, p in paths.items()},
                "path": str(paths["head"]), "files": files,
                "size_bytes": int(sum(Path(f).stat().st_size for f in files)),
                "build_s": round(time.perf_counter() - t0, 3)}

    def describe(self) -> dict:
        """The results' ``model`` entry of ``voxquant stream``."""
        return {"name": f"openwakeword-{self.keyword}", "kind": self.kind, "path": str(self.source_dir),
                "labels": [self.keyword], "rule": dict(self.rule),
                "frontend": {"kind": "openWakeWord melspectrogram.onnx (x/10 + 2)", "chunk_ms": 80,
                             "embedding_window_frames": 76, "head_embeddings": 16}}

    def fingerprint(self) -> dict:
        """Components that change results (published file bytes, rule, calibration size and seed)."""
        import hashlib

        h = hashlib.sha256()
        for f in source_paths(self.keyword, self.source_dir).values():
            h.update(Path(f).read_bytes())
        return {"model": h.hexdigest(), "frontend": "openwakeword-melspectrogram",
                "rule": f"{self.rule['threshold']}/{self.rule['smooth_k']}/{self.rule['refractory_s']}",
                "calibration": f"{self.calib_n}/{self.seed}"}

    def score(self, record: Mapping, audio) -> tuple[np.ndarray, np.ndarray]:
        """``(times_s float64 [N], probs float32 [N])`` of ``audio`` (``float32 [S]``, 16 kHz) for a built record
        (:func:`score_stream`; sessions are cached per record)."""
        key = tuple(record["paths"][s] for s in STAGES)
        if key not in self._pipes:
            self._pipes[key] = _Pipeline(record["paths"], self.threads)
        return score_stream(record["paths"], audio, _pipe=self._pipes[key])
