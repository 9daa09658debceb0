"""Streaming (state-carrying) DS-CNN: ONNX export, quantization with its state, scoring, and the ``voxquant stream``
model kind ``--model dscnn-stream``.

The torch graphs are :class:`voxquant.models.streaming.StreamGraph` (offline: a chunk of feature frames -> one
logit row per 2-frame hop) and :class:`voxquant.models.streaming.LiveGraph` (one 40 ms hop + external state -> its
logits + new state), converted from the bundled ``dscnn_stream_sc12.pt`` (DS-CNN with 'valid' time padding: both
equal the windowed clip model exactly; method of google-research ``kws_streaming``, Rybakov et al. 2020,
arXiv:2005.06720).

* :func:`export_graphs` exports both through :func:`voxquant.quant.export.export_onnx` (ONNX checker + numeric check);
  the stream graph has a symbolic time axis.
* :func:`build_graph_variant` applies a recipe of :func:`voxquant.quant.build_variant` to either graph. Static int8
  calibrates on CONSECUTIVE frames of a dev-split stream: the stream graph on chunks of it, the live graph on its
  consecutive hops with the state inputs the float graph produced on the previous hop (:func:`live_calibration`),
  so every state tensor gets a calibrated range.
* :func:`stream_scores` scores a whole stream with the stream graph chunk by chunk (features once per frame,
  bounded memory); :class:`LiveStream` runs the live graph hop by hop on audio (incremental front-end).
* :func:`export_live_audio_graph` / :class:`LiveAudioStream`: the live graph with the MFCC front-end inside
  (:class:`voxquant.models.streaming.LiveGraphWithFrontend`: 640 samples + a 160-sample audio-tail state in, same
  logits as :class:`LiveStream`); int8 keeps the front-end float (``nodes_to_exclude=``:func:`frontend_node_names`:
  quantizing the DFT/mel/DCT matmuls too left top-1 agreement with fp32 at 0.62 on 8 s of noise bursts, vs 0.98
  with the front-end float); calibration on consecutive hops (:func:`live_audio_calibration`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from voxquant.errors import ConfigError, DataError, ModelError

log = logging.getLogger(__name__)

#: ``--model`` name of the bundled streaming DS-CNN.
MODEL_NAME = "dscnn-stream"
#: The only window hop (ms) of the streaming DS-CNN: 2 frames of 20 ms (the stem stride).
HOP_MS = 40.0
#: Windows per stream-graph call (chunk of 2 * 4096 + 46 frames, ~82 s of audio; bounded memory).
CHUNK_WINDOWS = 4096
#: Windows per calibration chunk of the stream graph.
CALIB_CHUNK_WINDOWS = 256
#: Recipes the kind can apply (ONNX Runtime recipes on a given ONNX graph; ``qat`` / ``mixed`` need the clip model).
SUPPORTED_RECIPES = ("fp32", "fp16", "int8_dynamic", "int8_static_minmax", "int8_static_entropy",
                     "int8_static_percentile", "int8_static_minmax_fullrange")


def default_weights() -> Path:
    """``src/voxquant/models/weights/dscnn_stream_sc12.pt``."""
    from voxquant.models.zoo_default import WEIGHTS_DIR

    return WEIGHTS_DIR / "dscnn_stream_sc12.pt"


def load_stream_model(path: str | Path | None = None):
    """``(model, meta)`` of a ``dscnn_stream`` weights file (default :func:`default_weights`).

    Raises:
        ModelError: missing/invalid file (:func:`voxquant.models.train.load_weights`) or another architecture.
    """
    from voxquant.models.streaming import check_streamable
    from voxquant.models.train import load_weights

    p = Path(path) if path is not None else default_weights()
    model, meta = load_weights(p)
    try:
        check_streamable(model)
    except ModelError as exc:
        raise ModelError(exc.problem, p) from None
    return model, meta


def export_graphs(model, out_dir: str | Path, hop_frames: int = 2) -> tuple[Path, Path]:
    """Export the stream graph (``stream.fp32.onnx``: input ``features [1, 1, time, F]``, output ``logits
    [time_out, C]``) and the live graph (``live.fp32.onnx``: inputs ``features [1, 1, hop_frames, F]`` + the states
    of :meth:`~voxquant.models.streaming.LiveGraph.state_shapes`, outputs ``logits [hop_frames // 2, C]`` + ``new_<state>``)
    of a ``dscnn_stream`` model into ``out_dir``; both pass the ONNX checker and equal the torch graphs (1e-4).

    Returns:
        ``(stream_onnx, live_onnx)``.
    """
    import torch

    from voxquant.models.streaming import RECEPTIVE_FRAMES, LiveGraph, StreamGraph
    from voxquant.quant.export import export_onnx

    out_dir = Path(out_dir)
    f = int(model.input_shape[1])
    sg = StreamGraph(model)
    ex = torch.randn(1, 1, RECEPTIVE_FRAMES + 2 * 40, f, generator=torch.Generator().manual_seed(0))
    t = torch.export.Dim("time", min=RECEPTIVE_FRAMES, max=1 << 20)
    stream = export_onnx(sg, ex, out_dir / "stream.fp32.onnx", input_names=["features"], output_names=["logits"],
                         dynamic_shapes=({2: t},))
    lg = LiveGraph(model, hop_frames)
    names = [n for n, _ in lg.state_shapes()]
    g = torch.Generator().manual_seed(1)
    ex_live = (torch.randn(1, 1, hop_frames, f, generator=g), *[torch.rand(s, generator=g) for _, s in lg.state_shapes()])
    live = export_onnx(lg, ex_live, out_dir / "live.fp32.onnx", input_names=["features", *names],
                       output_names=["logits", *[f"new_{n}" for n in names]], dynamic_batch=False)
    return stream, live


def stream_features(audio: np.ndarray, frontend, f0: int, f1: int) -> np.ndarray:
    """``float32 [f1 - f0, F]``: frames ``f0 .. f1-1`` of ``compute_features(audio)`` (frame ``k`` starts at sample
    ``k * hop_length``, ``center=False``), computed from the audio they cover only."""
    from voxquant.audio.frontend import compute_features

    hop, win = frontend.hop_length, frontend.win_length
    return compute_features(audio[f0 * hop: (f1 - 1) * hop + win], frontend)


def _check_frontend(frontend) -> None:
    from voxquant.eval.streaming import features_are_sliceable

    if not features_are_sliceable(frontend, HOP_MS) or frontend.hop_ms * 2 != HOP_MS:
        raise ConfigError(f"the streaming DS-CNN needs a per-frame front-end with a {HOP_MS / 2:g} ms frame hop "
                          f"(got {frontend.name}, hop {frontend.hop_ms:g} ms)")


def n_windows(n_samples: int, frontend) -> int:
    """Windows of a stream at the 40 ms hop (as :func:`voxquant.eval.streaming.window_scores`)."""
    return 1 + (int(n_samples) - frontend.clip_samples) // int(round(HOP_MS * frontend.sample_rate / 1000.0))


def stream_logits(session, audio: np.ndarray, frontend, chunk_windows: int = CHUNK_WINDOWS) -> np.ndarray:
    """Per-window logits ``float32 [W, C]`` of a stream through the stream graph, chunk by chunk.

    Window ``k`` covers samples ``[k * 640, k * 640 + clip_samples)`` (40 ms hop) exactly as
    :func:`voxquant.eval.streaming.window_scores`; its logits equal the clip model's on that window.

    Args:
        session: object with ``run(float32 [1, 1, T, F]) -> float32 [T_out, C]`` (an ``OrtSession`` of a stream
            graph variant, or a wrapper of the torch graph).
        audio: ``float32 [S]`` mono stream at ``frontend.sample_rate``.
        frontend: the model's front-end (per-frame, 20 ms frame hop).
        chunk_windows: windows per call (memory bound; the result does not depend on it).

    Raises:
        DataError: audio not 1-D / non-finite / shorter than one window. ConfigError: another front-end framing.
    """
    from voxquant.models.streaming import chunk_bounds

    _check_frontend(frontend)
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim != 1 or not np.all(np.isfinite(x)):
        raise DataError(f"stream audio must be finite 1-D float32 [S], got shape {x.shape}")
    if x.size < frontend.clip_samples:
        raise DataError(f"stream of {x.size} samples is shorter than one window ({frontend.clip_samples} samples)")
    w = n_windows(x.size, frontend)
    out = None
    for w0, w1, f0, f1 in chunk_bounds(w, chunk_windows):
        feats = stream_features(x, frontend, f0, f1)
        y = np.asarray(session.run(feats[None, None]), dtype=np.float32)
        if out is None:
            out = np.empty((w, y.shape[1]), np.float32)
        out[w0:w1] = y[: w1 - w0]
    return out


def stream_scores(session, audio: np.ndarray, frontend, keyword_index: int,
                  chunk_windows: int = CHUNK_WINDOWS) -> tuple[np.ndarray, np.ndarray]:
    """``(times_s float64 [W], probs float32 [W])``: softmax keyword probability per 40 ms window (time = window
    end), as :func:`voxquant.eval.streaming.window_scores` at ``hop_ms=40`` on the windowed model."""
    from scipy.special import softmax

    y = stream_logits(session, audio, frontend, chunk_windows)
    if not 0 <= keyword_index < y.shape[1]:
        raise ConfigError(f"keyword_index {keyword_index} is outside the model's {y.shape[1]} outputs")
    starts = np.arange(len(y), dtype=np.int64) * int(round(HOP_MS * frontend.sample_rate / 1000.0))
    return (starts + frontend.clip_samples) / float(frontend.sample_rate), softmax(y, axis=1)[:, keyword_index]


def _ping_pong_bindings(sess, x: np.ndarray, out: np.ndarray) -> tuple[list, list]:
    """Two ONNX Runtime IO bindings of a live graph (input 0 = ``x``, output 0 = ``out``, then states): call ``p``
    reads the state buffers ``st[p]`` and writes ``st[1 - p]``, so a hop allocates and converts nothing
    (kws_streaming's external state, kept by the caller).

    Returns:
        ``(st, bindings)``: ``st[p]`` = zeroed ``float32`` state arrays in input order, ``bindings[p]``.
    """
    ins, outs = sess.get_inputs(), sess.get_outputs()
    st = [[np.zeros(i.shape, np.float32) for i in ins[1:]] for _ in range(2)]
    binds = []
    for p in range(2):
        b = sess.io_binding()
        b.bind_input(ins[0].name, "cpu", 0, np.float32, list(x.shape), x.ctypes.data)
        b.bind_output(outs[0].name, "cpu", 0, np.float32, list(out.shape), out.ctypes.data)
        for i, o, a, z in zip(ins[1:], outs[1:], st[p], st[1 - p]):
            b.bind_input(i.name, "cpu", 0, np.float32, list(a.shape), a.ctypes.data)
            b.bind_output(o.name, "cpu", 0, np.float32, list(z.shape), z.ctypes.data)
        binds.append(b)
    return st, binds


class LiveStream:
    """The live graph driven hop by hop (external state kept here), from zero states.

    Args:
        path: live-graph ONNX (any variant of :func:`build_graph_variant`).
        frontend: the model's front-end (20 ms frame hop).
        threads: ONNX Runtime intra-op threads.

    :meth:`push_frames` takes ``float32 [2, F]`` feature frames and returns logits ``float32 [C]``;
    :meth:`push_audio` takes audio, runs :class:`~voxquant.eval.streaming.IncrementalFrontend` and returns the
    logits of every completed hop ``float32 [n, C]``. The first :data:`~voxquant.models.streaming.WARMUP_HOPS` hops
    are warm-up (zero state); hop ``m >= 23`` is the window ending at frame ``2m + 1``.

    Raises:
        ModelError: the file is not a live graph (input count / names).
    """

    def __init__(self, path: str | Path, frontend, threads: int = 1):
        from voxquant.backends.onnxruntime import OrtSession

        self.sess = OrtSession(Path(path), threads=int(threads)).sess  # the project's CPU session settings
        ins = self.sess.get_inputs()
        if len(ins) < 3 or ins[0].name != "features":
            raise ModelError("not a streaming DS-CNN live graph (inputs features + states)", Path(path))
        self.input_names = [i.name for i in ins]
        self.output_names = [o.name for o in self.sess.get_outputs()]
        self.hop_frames = int(ins[0].shape[2])
        self.frontend = frontend
        self.reset()

    def reset(self) -> None:
        """Zero states and a fresh incremental front-end."""
        from voxquant.eval.streaming import IncrementalFrontend

        outs = self.sess.get_outputs()
        f = self.frontend.n_features
        self._feat = np.zeros((1, 1, self.hop_frames, f), np.float32)
        self._out = np.zeros((self.hop_frames // 2, int(outs[0].shape[1])), np.float32)
        self._st, self._bind = _ping_pong_bindings(self.sess, self._feat, self._out)
        self._p = 0
        self._fe = IncrementalFrontend(self.frontend)
        self._frames = np.zeros((0, f), np.float32)

    @property
    def states(self) -> list[np.ndarray]:
        """The current state tensors (inputs of the next call), in input order."""
        return self._st[self._p]

    def push_frames(self, frames: np.ndarray) -> np.ndarray:
        """One hop: ``float32 [hop_frames, F]`` -> logits ``float32 [hop_frames // 2, C]`` (a new array).

        Raises:
            DataError: another frame count (the live graph is fixed to ``hop_frames`` frames per call).
        """
        f = np.asarray(frames, np.float32)
        if f.shape != self._feat.shape[2:]:
            raise DataError(f"live streaming DS-CNN takes {self.hop_frames} frames x {self.frontend.n_features} "
                            f"features per call, got {f.shape}")
        self._feat[0, 0] = f
        self.sess.run_with_iobinding(self._bind[self._p])
        self._p = 1 - self._p
        return self._out.copy()

    def push_audio(self, samples: np.ndarray) -> np.ndarray:
        """Audio -> logits ``float32 [n, C]`` of the hops that became complete (possibly ``n = 0``)."""
        new = self._fe.push(samples)
        if not len(self._frames) and len(new) == self.hop_frames:  # one hop in, one hop out: no buffering
            return self.push_frames(new)
        if len(new):
            self._frames = np.concatenate([self._frames, new]) if len(self._frames) else new
        outs = []
        while len(self._frames) >= self.hop_frames:
            outs.append(self.push_frames(self._frames[: self.hop_frames]))
            self._frames = self._frames[self.hop_frames:]
        return np.concatenate(outs) if outs else np.zeros((0, self._out.shape[1]), np.float32)


def live_calibration(live_fp32: str | Path, features: np.ndarray, hop_frames: int = 2) -> dict:
    """Calibration inputs of the live graph from CONSECUTIVE hops: ``{input name: float32 [N, ...]}`` where hop
    ``i`` feeds frames ``i*hop .. i*hop+hop-1`` of ``features`` and the states the float live graph returned on
    hop ``i-1`` (zero before the first), so the state inputs carry the real, consecutive values they carry when
    streaming.

    Args:
        live_fp32: the float live graph (:func:`export_graphs`).
        features: ``float32 [T, F]`` features of a dev-split stream.
    """
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(live_fp32), so, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    states = [np.zeros(i.shape, np.float32) for i in sess.get_inputs()[1:]]
    n = len(features) // hop_frames
    cols: dict = {k: [] for k in names}
    for i in range(n):
        feed = [features[i * hop_frames: (i + 1) * hop_frames][None, None].astype(np.float32), *states]
        for k, v in zip(names, feed):
            cols[k].append(v[0])
        states = sess.run(None, dict(zip(names, feed)))[1:]
    return {k: np.stack(v) for k, v in cols.items()}


def stream_calibration(features: np.ndarray, chunk_windows: int = CALIB_CHUNK_WINDOWS) -> np.ndarray:
    """Calibration inputs of the stream graph: consecutive chunks ``float32 [N, 1, T, F]`` of ``features``
    (``T = 2 * chunk_windows + 46``, overlapping by the receptive field, covering every frame once as a window)."""
    from voxquant.models.streaming import chunk_bounds

    w = 1 + (len(features) - 48) // 2 if len(features) >= 48 else 0
    chunks = [features[f0:f1] for w0, w1, f0, f1 in chunk_bounds(w, chunk_windows) if w1 - w0 == chunk_windows]
    if not chunks:
        raise DataError(f"calibration stream of {len(features)} frames is shorter than one calibration chunk "
                        f"({2 * chunk_windows + 46} frames)")
    return np.stack(chunks)[:, None].astype(np.float32)


def build_graph_variant(recipe: str, fp32_onnx: str | Path, out: str | Path, calibration=None, **options) -> Path:
    """Apply ``recipe`` (:func:`voxquant.quant.build_variant`) to a stream or live graph; ``calibration`` from
    :func:`stream_calibration` / :func:`live_calibration` / :func:`live_audio_calibration` for static recipes;
    ``options`` go to the recipe (e.g. ``nodes_to_exclude``).

    Raises:
        ConfigError: a recipe the kind does not support (``qat``, ``mixed``: they need the clip model), or
            calibration missing for a static recipe.
    """
    from voxquant.quant import build_variant

    if recipe not in SUPPORTED_RECIPES:
        raise ConfigError(f"recipe '{recipe}' is not available for the streaming DS-CNN",
                          hint=f"use one of {', '.join(SUPPORTED_RECIPES)}")
    return build_variant(recipe, Path(fp32_onnx), Path(out), calibration, **options)


class ClipsThroughStreamGraph:
    """A stream-graph session seen as a clip model: ``run(float32 [N, 1, T, F]) -> float32 [N, C]``.

    The ``N`` clips' feature frames are laid end to end (each padded with zero frames to an even length ``T'``, so
    every clip starts on a stem-stride step) and run through the stream graph in ONE call; the output step of the
    window starting at clip ``i`` (step ``i * T' / 2``) is exactly that clip's logits (valid time padding: a window
    sees only its own 49 frames). Lets :func:`voxquant.engine.predict` score the very graph the stream was scored
    with.
    """

    def __init__(self, session):
        self.session = session

    def run(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 4 or x.shape[1] != 1:
            raise ConfigError(f"ClipsThroughStreamGraph needs [N, 1, T, F] features, got shape {x.shape}")
        n, _, t, f = x.shape
        if n == 0:
            return np.zeros((0, 0), np.float32)
        pad = t + (t % 2)
        buf = np.zeros((n, pad, f), np.float32)
        buf[:, :t] = x[:, 0]
        y = np.asarray(self.session.run(buf.reshape(1, 1, n * pad, f)), dtype=np.float32)
        return y[np.arange(n) * (pad // 2)]


class DSCNNStreamKind:
    """``voxquant stream --model dscnn-stream``: the bundled streaming DS-CNN scored with its offline stream graph
    (the kind interface of :func:`voxquant.streaming_run.resolve_stream_kind`).

    Variants are recipes applied to the stream graph (static int8 calibrated on consecutive frames of the run's
    dev-split calibration stream); the live graph of each variant is built beside it (same recipe; calibration on
    consecutive hops of the same stream) for live use and checks, not for scoring. The rule is the fixed
    threshold 0.5 with the run's ``--smooth-k`` / ``--refractory-s``; the hop is fixed at 40 ms.

    Raises:
        ConfigError: a keyword that is not one of the model's words; ``--hop-ms`` other than 40.
        ModelError: missing / invalid weights.
    """

    kind = "dscnn_stream"
    default_keyword = "yes"
    sample_rate = 16000

    def __init__(self, keyword: str | None = None, weights: str | Path | None = None):
        self.weights = Path(weights) if weights is not None else default_weights()
        self.model, self.meta = load_stream_model(self.weights)
        self.fe = self.meta["frontend"]
        _check_frontend(self.fe)
        self.name = MODEL_NAME
        self.labels = tuple(self.meta["labels"])
        self.sample_rate = self.fe.sample_rate
        self.min_samples = self.fe.clip_samples
        self.rule = {"threshold": 0.5, "smooth_k": None, "refractory_s": None,
                     "source": "voxquant default (threshold 0.5); streaming DS-CNN, 40 ms hop"}
        self.keyword = keyword or self.default_keyword
        self._kw_index = self.check_keyword(self.keyword)
        self.data_keyword = self.keyword
        self._fp32: tuple | None = None

    @classmethod
    def resolve(cls, model, keyword: str | None = None, models_root=None) -> "DSCNNStreamKind | None":
        """The kind for ``--model dscnn-stream``, else ``None``."""
        text = str(model) if model is not None else ""
        if text != MODEL_NAME:
            return None
        return cls(keyword)

    def check_config(self, cfg) -> None:
        """Refuse a ``--hop-ms`` other than 40 (the stream graph emits one output per 2-frame stem step)."""
        if float(cfg.hop_ms) != HOP_MS:
            raise ConfigError(f"--hop-ms {cfg.hop_ms:g}: the streaming DS-CNN ({MODEL_NAME}) scores every {HOP_MS:g} ms "
                              f"(its stem stride of 2 frames); drop --hop-ms or use {HOP_MS:g}")

    @property
    def words(self) -> list[str]:
        return [lab for lab in self.labels if not lab.startswith("_")]

    def check_keyword(self, keyword: str) -> int:
        """Index of ``keyword`` among the model's labels. Raises ConfigError naming the model's words."""
        if keyword not in self.words:
            raise ConfigError(f"--keyword: {keyword!r} is not a word of model {MODEL_NAME}; its labels: "
                              f"{', '.join(self.words)}")
        return self.labels.index(keyword)

    def variants(self, recipes: Sequence[str]) -> list[tuple[str, str, str]]:
        """``[(variant, precision, description)]``: ``fp32`` first, then each supported recipe once (``qat`` /
        ``mixed`` and other recipes needing the clip model are skipped with a warning)."""
        from voxquant.quant import get_recipe

        out = ["fp32"]
        for r in recipes:
            get_recipe(r)  # unknown names raise ConfigError
            if r not in SUPPORTED_RECIPES:
                log.warning("%s: recipe '%s' skipped (not available for the stream graph)", MODEL_NAME, r)
            elif r not in out:
                out.append(r)
        return [(v, get_recipe(v).precision, f"{get_recipe(v).description}; stream graph (state-carrying DS-CNN)")
                for v in out]

    def _export(self, models_dir: Path) -> tuple[Path, Path]:
        if self._fp32 is None or not all(p.is_file() for p in self._fp32):
            folder = Path(models_dir) / "dscnn_stream"
            stream, live = folder / "stream.fp32.onnx", folder / "live.fp32.onnx"
            self._fp32 = (stream, live) if stream.is_file() and live.is_file() else export_graphs(self.model, folder)
        return self._fp32

    def build(self, variant: str, models_dir: str | Path,
              calibration_audio_fn: Callable[[], np.ndarray] | None = None) -> dict:
        """Build ``variant`` of both graphs under ``models_dir/dscnn_stream/`` (``stream.<variant>.onnx``,
        ``live.<variant>.onnx``); ``path`` is the stream graph."""
        from voxquant.quant import get_recipe

        stream_fp, live_fp = self._export(Path(models_dir))
        folder = stream_fp.parent
        calib_s = calib_l = None
        if get_recipe(variant).needs_calibration:
            if calibration_audio_fn is None:
                raise ConfigError(f"recipe '{variant}' needs a calibration stream")
            audio = np.asarray(calibration_audio_fn(), np.float32)
            n_frames = 1 + (audio.size - self.fe.win_length) // self.fe.hop_length
            feats = stream_features(audio, self.fe, 0, n_frames)
            calib_s = stream_calibration(feats)
            calib_l = live_calibration(live_fp, feats)
        s = build_graph_variant(variant, stream_fp, folder / f"stream.{variant}.onnx", calib_s)
        lv = build_graph_variant(variant, live_fp, folder / f"live.{variant}.onnx", calib_l)
        files = [str(s), str(lv)]
        return {"recipe": variant, "path": str(s), "live_path": str(lv), "files": files,
                "size_bytes": int(Path(s).stat().st_size)}

    def clip_eval(self, cfg, records: dict):
        """What ``voxquant stream`` needs to score every variant's **stream graph** on the eval clips (the split the
        streams are built from) through THE batched predict, for the clip-vs-stream comparison of the same quantized
        graph (:func:`voxquant.streaming_run.clip_accuracy`).

        Returns:
            ``(src, eval_clips, y_eval, session_for)``: an object with ``frontend`` and ``layout``, the eval
            :class:`~voxquant.data.ClipSet`, ``int64 [N]`` class ids and ``variant -> session`` giving a
            :class:`ClipsThroughStreamGraph` of that variant's stream graph.
        """
        from types import SimpleNamespace

        from voxquant.backends.onnxruntime import OrtSession
        from voxquant.data.slices import model_splits

        _, ev, remap = model_splits(self.labels, cfg.data_root)
        return (SimpleNamespace(frontend=self.fe, layout="nchw"), ev, remap[ev.label_ids()],
                lambda v: ClipsThroughStreamGraph(OrtSession(Path(records[v]["path"]), threads=1)))

    def score(self, record: dict, audio) -> tuple[np.ndarray, np.ndarray]:
        """Stream-graph scores of ``audio`` (:func:`stream_scores`)."""
        from voxquant.backends.onnxruntime import OrtSession

        return stream_scores(OrtSession(Path(record["path"]), threads=1), audio, self.fe, self._kw_index)

    def describe(self) -> dict:
        return {"name": MODEL_NAME, "kind": self.kind, "path": str(self.weights), "frontend": self.fe.to_dict(),
                "labels": list(self.labels), "keyword_index": self._kw_index, "rule": dict(self.rule),
                "hop_ms": HOP_MS, "eval_accuracy": self.meta.get("eval_accuracy")}

    def fingerprint(self) -> dict:
        """Components that change results: the weights' bytes (``.pt`` + ``.json``), the front-end, the hop."""
        import hashlib
        import json

        h = hashlib.sha256()
        for f in (self.weights, self.weights.with_suffix(".json")):
            h.update(f.read_bytes())
        fe = hashlib.sha256(json.dumps(self.fe.to_dict(), sort_keys=True, default=str).encode()).hexdigest()[:16]
        return {"model": h.hexdigest()[:16], "frontend": fe, "hop_ms": HOP_MS}


# ------------------------------------------------------------------------------------------------ audio-in live graph


def export_live_audio_graph(model, frontend, out_dir: str | Path, hop_frames: int = 2) -> Path:
    """Export the audio-in live graph (:class:`voxquant.models.streaming.LiveGraphWithFrontend`: the MFCC front-end
    as matmuls inside the state-carrying DS-CNN) to ``out_dir/live_audio.fp32.onnx`` through
    :func:`voxquant.quant.export.export_onnx` (ONNX checker + equality with the torch graph to 1e-4).

    Inputs ``audio float32 [1, hop_frames * hop_length]``, ``audio_tail float32 [1, win_length - hop_length]`` and the
    live graph's states; outputs ``logits [hop_frames // 2, C]``, ``new_audio_tail`` and ``new_<state>``.

    Raises:
        ModelError: a model that is not streamable. ConfigError: a front-end that cannot run frame by frame.
    """
    import torch

    from voxquant.models.streaming import LiveGraphWithFrontend
    from voxquant.quant.export import export_onnx

    g = LiveGraphWithFrontend(model, frontend, hop_frames)
    names = [n for n, _ in g.state_shapes()]
    gen = torch.Generator().manual_seed(2)
    ex = (0.1 * torch.randn(1, g.hop_samples, generator=gen),
          *[(0.1 * torch.randn(s, generator=gen)) if n == "audio_tail" else torch.rand(s, generator=gen)
            for n, s in g.state_shapes()])
    return export_onnx(g, ex, Path(out_dir) / "live_audio.fp32.onnx", input_names=["audio", *names],
                       output_names=["logits", *[f"new_{n}" for n in names]], dynamic_batch=False)


def frontend_node_names(onnx_path: str | Path) -> list[str]:
    """Names of the nodes of an audio-in live graph that compute the front-end: the ancestors of the first ``Conv``
    (the DS-CNN stem) that depend on the ``audio`` / ``audio_tail`` inputs only, i.e. the framing, DFT matmul,
    magnitude, mel matmul, log and DCT matmul. Passed as ``nodes_to_exclude`` they keep the front-end float in a
    static int8 variant (the DFT / mel / DCT ``MatMul`` would otherwise be quantized).

    Raises:
        ModelError: no ``Conv`` node (not a live DS-CNN graph).
    """
    import onnx

    m = onnx.load(str(onnx_path), load_external_data=False)
    nodes = list(m.graph.node)
    producer = {o: n for n in nodes for o in n.output}
    conv = next((n for n in nodes if n.op_type == "Conv"), None)
    if conv is None:
        raise ModelError("no Conv node: not a streaming DS-CNN live graph", Path(onnx_path))
    seen: dict[str, object] = {}
    stack = [conv.input[0]]
    while stack:
        p = producer.get(stack.pop())
        if p is None or p.name in seen:
            continue
        seen[p.name] = p
        stack.extend(i for i in p.input if i)

    graph_inputs = {i.name for i in m.graph.input}
    memo: dict[str, frozenset] = {}

    def sources(n) -> frozenset:  # graph inputs a node depends on
        if n.name not in memo:
            memo[n.name] = frozenset()
            memo[n.name] = frozenset().union(*[{i} if i in graph_inputs else sources(producer[i]) if i in producer
                                               else set() for i in n.input])
        return memo[n.name]

    audio_only = {"audio", "audio_tail"}
    return [n.name for n in nodes if n.name in seen and sources(n) and sources(n) <= audio_only]


def live_audio_calibration(live_audio_fp32: str | Path, audio: np.ndarray) -> dict:
    """Calibration inputs of the audio-in live graph from CONSECUTIVE hops of ``audio`` (``float32 [S]``, a dev-split
    stream): ``{input name: float32 [N, ...]}``; the ``audio_tail`` starts as the stream's first samples and every
    state input is what the float graph returned on the previous hop (as :func:`live_calibration`).

    Raises:
        DataError: audio shorter than the tail plus one hop.
    """
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(live_audio_fp32), so, providers=["CPUExecutionProvider"])
    ins = sess.get_inputs()
    names = [i.name for i in ins]
    hop, tail = int(ins[0].shape[1]), int(ins[1].shape[1])
    x = np.asarray(audio, np.float32).ravel()
    n = (x.size - tail) // hop
    if n < 1:
        raise DataError(f"calibration audio of {x.size} samples is shorter than the tail plus one hop ({tail + hop})")
    states = [x[None, :tail], *[np.zeros(i.shape, np.float32) for i in ins[2:]]]
    cols: dict = {k: [] for k in names}
    for i in range(n):
        feed = [x[None, tail + i * hop: tail + (i + 1) * hop], *states]
        for k, v in zip(names, feed):
            cols[k].append(v[0])
        states = sess.run(None, dict(zip(names, feed)))[1:]
    return {k: np.stack(v) for k, v in cols.items()}


class LiveAudioStream:
    """The audio-in live graph (:func:`export_live_audio_graph`, any variant) driven hop by hop from raw audio: the
    front-end runs inside ONNX Runtime, the host only buffers samples.

    The stream's first ``win_length - hop_length`` samples prime the ``audio_tail`` state; then every
    ``hop_frames * hop_length`` samples (640 at 40 ms) make one call. Outputs are exactly :class:`LiveStream`'s
    on the same audio (hop ``m >= WARMUP_HOPS`` is the window starting at frame ``2(m - 23)``). States are kept in
    ping-pong buffers bound once (ONNX Runtime IO binding), as in :class:`LiveStream`.

    Args:
        path: audio-in live graph ONNX (inputs ``audio``, ``audio_tail``, states).
        threads: ONNX Runtime intra-op threads.

    Raises:
        ModelError: the file is not an audio-in live graph.
    """

    def __init__(self, path: str | Path, threads: int = 1):
        from voxquant.backends.onnxruntime import OrtSession

        self.sess = OrtSession(Path(path), threads=int(threads)).sess  # the project's CPU session settings
        ins = self.sess.get_inputs()
        if len(ins) < 3 or ins[0].name != "audio" or ins[1].name != "audio_tail":
            raise ModelError("not an audio-in streaming DS-CNN live graph (inputs audio, audio_tail, states)", Path(path))
        self.hop_samples, self.tail_samples = int(ins[0].shape[1]), int(ins[1].shape[1])
        self.reset()

    def reset(self) -> None:
        """Zero states, empty sample buffer (the next samples prime the audio tail)."""
        outs = self.sess.get_outputs()
        self._audio = np.zeros((1, self.hop_samples), np.float32)
        self._out = np.zeros(tuple(int(d) for d in outs[0].shape), np.float32)
        self._st, self._bind = _ping_pong_bindings(self.sess, self._audio, self._out)
        self._p = 0
        self._primed = 0  # samples of the initial audio tail received so far
        self._pending = np.zeros(0, np.float32)  # samples of an incomplete hop

    @property
    def states(self) -> list[np.ndarray]:
        """The current state tensors (``audio_tail`` first), inputs of the next call."""
        return self._st[self._p]

    def push_hop(self, samples: np.ndarray) -> np.ndarray:
        """One call on exactly ``hop_samples`` samples (after priming) -> logits ``float32 [hop_frames // 2, C]``."""
        self._audio[0] = samples
        self.sess.run_with_iobinding(self._bind[self._p])
        self._p = 1 - self._p
        return self._out.copy()

    def push_audio(self, samples: np.ndarray) -> np.ndarray:
        """Audio ``float32 [n]`` -> logits ``float32 [k, C]`` of the hops that became complete (possibly ``k = 0``)."""
        x = samples if isinstance(samples, np.ndarray) and samples.dtype == np.float32 and samples.ndim == 1 \
            else np.asarray(samples, np.float32).ravel()
        if self._primed == self.tail_samples and not self._pending.size and x.size == self.hop_samples:
            return self.push_hop(x)  # one hop in, one hop out: no buffering
        if self._primed < self.tail_samples:
            k = min(self.tail_samples - self._primed, x.size)
            self._st[self._p][0][0, self._primed: self._primed + k] = x[:k]
            self._primed += k
            x = x[k:]
        buf = np.concatenate([self._pending, x]) if self._pending.size else x
        outs = []
        n = buf.size // self.hop_samples
        for i in range(n):
            outs.append(self.push_hop(buf[i * self.hop_samples: (i + 1) * self.hop_samples]))
        self._pending = buf[n * self.hop_samples:].copy()
        return np.concatenate(outs) if outs else np.zeros((0, self._out.shape[1]), np.float32)
