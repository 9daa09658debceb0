"""Speed of streaming wake-word evaluation with a DS-CNN-size clip model, on one CPU core, against the issue's targets.

Prints, from one run (ratios of times measured in this run; nothing is hard-coded):

1. **offline** real-time factor (seconds of audio scored per second of compute) of
   ``voxquant.eval.streaming.window_scores`` per variant (fp32, int8_static_minmax) and window hop (20, 40, 80,
   100 ms), next to the model-only ceiling (hop / model CPU time per window at the same batch: independent windows
   cannot be scored faster), and what exact sharing of overlapping windows could give at most
   (:func:`shared_window_macs`: the DS-CNN pads time with zeros, so only rows away from each window's edges equal
   the whole stream's; an estimate proportional to MACs, not a measurement). Target: >= 2000x per variant.
2. **live** per-hop compute of ``StreamingDetector.push`` (incremental front-end + model + smoothing, one hop of
   audio per call) vs the model call alone on a prepared window (``OrtSession.run``). Target: <= 1.5x.
3. **incremental front-end** (``IncrementalFrontend.push`` of one hop) vs recomputing the whole window's features
   (``compute_features`` of ``clip_samples``). Target: >= 10x cheaper.
4. **streaming DS-CNN** (``dscnn_stream_sc12.pt``, 'valid' time padding, :mod:`voxquant.eval.stream_conv`), 40 ms
   hop only: offline RTF of the stream graph (fp32, int8_static_minmax) over the whole audio (features computed
   once per frame + stream graph chunk by chunk; and the stream graph alone on precomputed features) vs the same
   weights' windowed clip model through ``window_scores``. Target: >= 2000x per variant. Live: per hop
   ``LiveStream.push_audio`` (incremental front-end + live state-carrying graph) vs the live graph call alone
   (``push_frames``). Target: <= 1.5x. Then the **audio-in live graph** (the MFCC front-end inside the ONNX graph,
   :func:`voxquant.eval.stream_conv.export_live_audio_graph`; int8 with the front-end kept float): per hop
   ``LiveAudioStream.push_audio`` vs the features-in live graph alone (target <= 1.5x), and the front-end's marginal
   cost (audio-in minus features-in) vs recomputing the 1 s window's features (target >= 10x cheaper).

Each ends with a ``measured Nx vs target Mx: met/NOT met`` line. Live and front-end times are medians over repeated
calls; the offline RTF divides by the process CPU time of the ``window_scores`` call (one intra-op thread: the
compute on one core, not the time other processes held the core; wall time is printed too). On a shared machine
run it on an idle core for stable numbers.

Model: the bundled DS-CNN (``voxquant.models.source.load_model(None)``) exported with
``voxquant.quant.export.export_onnx`` and its int8 static QDQ variant (``int8_static_minmax``, calibrated on 64
windows of the benchmark audio), run by ONNX Runtime with 1 intra-op thread. Audio: SYNTHETIC Gaussian noise (no
speech; the speed does not depend on the content).

Usage: ``python benchmarks/streaming_speed.py [--minutes 10] [--hop-ms 40]``
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

OFFLINE_TARGET_X = 2000.0  # offline RTF per variant (10 h of audio in under 18 s)
LIVE_TARGET_X = 1.5  # per-hop compute / model-only, at most
FRONTEND_TARGET_X = 10.0  # recompute-window / incremental, at least
HOPS_MS = (20.0, 40.0, 80.0, 100.0)


def _median_time(fn, reps: int, clock=time.perf_counter) -> float:
    ts = []
    for _ in range(reps):
        t0 = clock()
        fn()
        ts.append(clock() - t0)
    return float(np.median(ts))


def _verdict(name: str, measured: float, target: float, at_least: bool) -> str:
    ok = measured >= target if at_least else measured <= target
    return f"TARGET {name}: measured {measured:.2f}x vs target {'>=' if at_least else '<='} {target:g}x: " \
           f"{'met' if ok else 'NOT met'}"


def shared_window_macs(model, t_frames: int, n_features: int, hop_frames: int) -> tuple[float, float]:
    """MACs per window of the conv stack without and with exact sharing between overlapping windows.

    Walks the model's ``Conv2d`` layers in order (a chain, as in DS-CNN; time is axis 2 of ``[N, C, T, F]``). A
    layer's output row is *dirty* when its receptive field reaches the window's zero padding or a dirty row below:
    it differs from the same row computed on the whole stream and must be computed per window. Clean rows are
    shared: each window adds ``hop_frames / gcd(hop_frames, cumulative stride)`` new stream rows per layer.

    Returns:
        ``(full_macs, shared_macs)`` per window: every row of every conv vs dirty rows + new shared rows (an
        estimate of the exact-sharing ceiling if row-sliced convolutions ran as efficiently as whole windows).
    """
    import math

    import torch

    rows, f_in, dirty, stride, full, shared = t_frames, n_features, set(), 1, 0.0, 0.0
    for mod in model.modules():
        if not isinstance(mod, torch.nn.Conv2d):
            continue
        (kt, kf), (st, sf), (pt, pf) = mod.kernel_size, mod.stride, mod.padding
        out_rows = (rows + 2 * pt - kt) // st + 1
        f_out = (f_in + 2 * pf - kf) // sf + 1
        macs_row = f_out * mod.out_channels * (mod.in_channels // mod.groups) * kt * kf
        new_dirty = {t for t in range(out_rows)
                     if any(r < 0 or r >= rows or r in dirty for r in range(t * st - pt, t * st - pt + kt))}
        stride *= st
        full += out_rows * macs_row
        shared += (len(new_dirty) + hop_frames / math.gcd(hop_frames, stride)) * macs_row
        rows, f_in, dirty = out_rows, f_out, new_dirty
    return full, shared


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="minutes of synthetic audio for the offline RTF")
    ap.add_argument("--hop-ms", type=float, default=40.0,
                    help="window hop (ms, a multiple of the 20 ms frame hop) of the live and front-end targets and "
                         "of the offline target line")
    ap.add_argument("--batch", type=int, default=64, help="offline batch (window_scores' default)")
    ap.add_argument("--reps", type=int, default=1000, help="hops timed for the live and front-end medians")
    args = ap.parse_args()
    if args.hop_ms not in HOPS_MS:
        ap.error(f"--hop-ms must be one of {', '.join(f'{h:g}' for h in HOPS_MS)}")

    import torch

    torch.set_num_threads(1)
    from voxquant.audio.frontend import DEFAULT_FRONTEND as fe
    from voxquant.audio.frontend import compute_features
    from voxquant.audio.layout import to_model_layout
    from voxquant.backends.onnxruntime import OrtSession
    from voxquant.eval.streaming import IncrementalFrontend, StreamingDetector, window_scores
    from voxquant.models.source import load_model
    from voxquant.quant import build_variant
    from voxquant.quant.export import export_onnx

    model, meta = load_model(None)
    sr, clip = fe.sample_rate, fe.clip_samples
    rng = np.random.default_rng(0)
    n_audio = max(int(args.minutes * 60 * sr), clip * (args.batch + 1))
    audio = (0.05 * rng.standard_normal(n_audio)).astype(np.float32)  # synthetic noise
    kw = 2
    seconds = audio.size / sr
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: bundled DS-CNN ({n_params} parameters), ONNX Runtime CPU, 1 thread; front-end {fe.name}; "
          f"audio: synthetic noise, {seconds / 60:g} min; offline batch {args.batch}")

    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_onnx(model.eval(), model.example_input(), Path(tmp) / "dscnn.onnx")
        windows = to_model_layout(compute_features(audio[: clip * args.batch].reshape(args.batch, clip), fe), "nchw")
        int8 = build_variant("int8_static_minmax", fp32, Path(tmp) / "dscnn.int8_static_minmax.onnx", windows)
        sessions = {"fp32": OrtSession(fp32, threads=1), "int8_static_minmax": OrtSession(int8, threads=1)}

        # 1. offline RTF per variant and hop, and the model-only ceiling
        print("\n1. offline window_scores (features once, windows sliced and batched)")
        print(f"   {'variant':<20}{'hop ms':>7}{'windows':>9}{'wall s':>8}{'cpu s':>7}{'RTF(cpu)':>10}"
              f"{'model us/win':>14}{'ceiling RTF':>13}")
        offline, t_window = {}, {}
        for name, sess in sessions.items():
            window_scores(sess, audio[: sr * 5], fe, "nchw", kw, hop_ms=40.0, batch=args.batch)  # warm-up
            t_win = t_window[name] = _median_time(lambda: sess.run(windows), 21,  # noqa: B023
                                                  clock=time.process_time) / args.batch
            for hop_ms in HOPS_MS:
                t0, c0 = time.perf_counter(), time.process_time()
                times, _ = window_scores(sess, audio, fe, "nchw", kw, hop_ms=hop_ms, batch=args.batch)
                dt, dc = time.perf_counter() - t0, time.process_time() - c0
                offline[name, hop_ms] = seconds / dc
                print(f"   {name:<20}{hop_ms:>7g}{times.size:>9}{dt:>8.2f}{dc:>7.2f}{seconds / dc:>10.0f}"
                      f"{t_win * 1e6:>14.1f}{hop_ms / 1000 / t_win:>13.0f}")
        full, _ = shared_window_macs(model, fe.n_frames(), fe.n_features, 1)
        print(f"   exact window sharing: the conv layers pad time with zeros ('same'), so rows near each window's "
              f"edges differ from the stream's; the rest could be shared (dirty rows per window + new stream rows, "
              f"MAC-proportional estimate, {full / 1e6:.2f} M conv MACs per independent window):")
        for hop_ms in HOPS_MS:
            _, sh = shared_window_macs(model, fe.n_frames(), fe.n_features, int(round(hop_ms / fe.hop_ms)))
            est = "  ".join(f"{n} ~{hop_ms / 1000 / (t_window[n] * sh / full):.0f}x" for n in sessions)
            print(f"   hop {hop_ms:>5g} ms: {full / sh:.2f}x fewer MACs -> ceiling {est}")
        for name in sessions:
            print(_verdict(f"offline RTF, {name}, {args.hop_ms:g} ms hop", offline[name, args.hop_ms],
                           OFFLINE_TARGET_X, at_least=True))

        # 2. live per-hop compute vs model-only (fp32)
        sess = sessions["fp32"]
        hop = int(round(args.hop_ms * sr / 1000))
        need = clip + hop * args.reps
        live_audio = np.resize(audio, need) if audio.size < need else audio[:need]
        det = StreamingDetector(sess, fe, "nchw", kw, hop_ms=args.hop_ms, threshold=2.0)
        det.push(live_audio[:clip])  # fill the ring buffer
        per_hop = []
        for i in range(args.reps):
            c = live_audio[clip + i * hop : clip + (i + 1) * hop]
            t0 = time.perf_counter()
            det.push(c)
            per_hop.append(time.perf_counter() - t0)
        x1 = to_model_layout(compute_features(live_audio[:clip], fe)[None], "nchw")
        model_only = _median_time(lambda: sess.run(x1), args.reps)
        live = float(np.median(per_hop))
        print(f"\n2. live StreamingDetector.push, {args.hop_ms:g} ms hop (fp32): per hop {live * 1e6:.0f} us "
              f"(p95 {np.percentile(per_hop, 95) * 1e6:.0f} us) vs model-only {model_only * 1e6:.0f} us per window "
              f"(OrtSession.run) -> overhead {(live - model_only) * 1e6:.0f} us; live RTF "
              f"{args.hop_ms / 1000 / live:.0f}x")
        print(_verdict(f"live per-hop / model-only, {args.hop_ms:g} ms hop", live / model_only, LIVE_TARGET_X,
                       at_least=False))

        # 3. incremental front-end vs recomputing the window
        inc = IncrementalFrontend(fe)
        inc.push(live_audio[:clip])
        pos = [clip]

        def step():
            inc.push(live_audio[pos[0] : pos[0] + hop])
            pos[0] += hop

        t_inc = _median_time(step, args.reps)
        t_full = _median_time(lambda: compute_features(live_audio[:clip], fe), args.reps)
        print(f"\n3. front-end per {args.hop_ms:g} ms hop ({hop // fe.hop_length} new frames): incremental "
              f"{t_inc * 1e6:.1f} us vs recomputing the {clip / sr:g} s window {t_full * 1e6:.1f} us")
        print(_verdict(f"incremental front-end vs recompute, {args.hop_ms:g} ms hop", t_full / t_inc,
                       FRONTEND_TARGET_X, at_least=True))

        _streaming_dscnn(audio, Path(tmp), args.reps)


def _streaming_dscnn(audio: np.ndarray, tmp: Path, reps: int) -> None:
    """Section 4: the state-carrying DS-CNN (stream graph offline, live graph per hop), 40 ms hop."""
    from voxquant.backends.onnxruntime import OrtSession
    from voxquant.eval.stream_conv import (HOP_MS, LiveStream, build_graph_variant, export_graphs, live_calibration,
                                           load_stream_model, stream_calibration, stream_features, stream_logits,
                                           stream_scores)
    from voxquant.eval.streaming import window_scores
    from voxquant.quant import build_variant
    from voxquant.quant.export import export_onnx

    model, meta = load_stream_model()
    fe = meta["frontend"]
    sr, clip, kw = fe.sample_rate, fe.clip_samples, 2
    seconds = audio.size / sr
    s32, l32 = export_graphs(model, tmp / "sconv")
    cal_audio = audio[: 60 * sr]
    cal_feats = stream_features(cal_audio, fe, 0, 1 + (cal_audio.size - fe.win_length) // fe.hop_length)
    graphs = {"fp32": (s32, l32),
              "int8_static_minmax": (build_graph_variant("int8_static_minmax", s32, tmp / "sconv" / "stream.int8.onnx",
                                                         stream_calibration(cal_feats)),
                                     build_graph_variant("int8_static_minmax", l32, tmp / "sconv" / "live.int8.onnx",
                                                         live_calibration(l32, cal_feats)))}
    clip32 = export_onnx(model, model.example_input(), tmp / "sconv" / "clip.onnx")
    windows = compute_windows = None
    from voxquant.audio.frontend import compute_features
    from voxquant.audio.layout import to_model_layout

    compute_windows = to_model_layout(compute_features(audio[: clip * 64].reshape(64, clip), fe), "nchw")
    clip_sessions = {"fp32": OrtSession(clip32, threads=1),
                     "int8_static_minmax": OrtSession(build_variant("int8_static_minmax", clip32,
                                                                    tmp / "sconv" / "clip.int8.onnx", compute_windows),
                                                      threads=1)}
    print(f"\n4. streaming DS-CNN ({Path(meta.get('study_name') or 'dscnn_stream')}: 'valid' time padding), "
          f"{HOP_MS:g} ms hop, {seconds / 60:g} min")
    print(f"   {'variant':<20}{'scoring':<44}{'cpu s':>7}{'RTF(cpu)':>10}")
    all_feats = stream_features(audio, fe, 0, 1 + (audio.size - fe.win_length) // fe.hop_length)
    rtf = {}
    for name, (sp, _) in graphs.items():
        sess = OrtSession(sp, threads=1)
        stream_scores(sess, audio[: 10 * sr], fe, kw)  # warm-up
        c0 = time.process_time()
        stream_scores(sess, audio, fe, kw)
        dc = time.process_time() - c0
        rtf[name] = seconds / dc
        print(f"   {name:<20}{'stream graph, features once per frame':<44}{dc:>7.2f}{seconds / dc:>10.0f}")

        class _Pre:  # the stream graph on precomputed features: model-only time
            def run(self, x):
                return sess.run(x)

        c0 = time.process_time()
        from voxquant.models.streaming import chunk_bounds

        n_win = 1 + (audio.size - clip) // int(HOP_MS * sr / 1000)
        for _, _, f0, f1 in chunk_bounds(n_win):
            sess.run(all_feats[f0:f1][None, None])
        dm = time.process_time() - c0
        print(f"   {name:<20}{'stream graph only (features precomputed)':<44}{dm:>7.2f}{seconds / dm:>10.0f}")
        c0 = time.process_time()
        window_scores(clip_sessions[name], audio, fe, "nchw", kw, hop_ms=HOP_MS)
        dw = time.process_time() - c0
        print(f"   {name:<20}{'same weights, windowed clip model':<44}{dw:>7.2f}{seconds / dw:>10.0f}"
              f"   (stream graph {dw / dc:.1f}x faster)")
    for name in graphs:
        print(_verdict(f"offline RTF, streaming DS-CNN {name}, {HOP_MS:g} ms hop", rtf[name], OFFLINE_TARGET_X,
                       at_least=True))
    hop = int(HOP_MS * sr / 1000)
    for name, (_, lp) in graphs.items():
        live = LiveStream(lp, fe)
        live.push_audio(audio[:clip])
        per_hop, pos = [], clip
        for _ in range(reps):
            t0 = time.perf_counter()
            live.push_audio(audio[pos: pos + hop])
            per_hop.append(time.perf_counter() - t0)
            pos += hop
        fr = all_feats[:2]
        t_graph = _median_time(lambda: live.push_frames(fr), reps)  # noqa: B023
        t_live = float(np.median(per_hop))
        print(f"   live {name}: per {HOP_MS:g} ms hop {t_live * 1e6:.0f} us (p95 {np.percentile(per_hop, 95) * 1e6:.0f}"
              f" us; incremental front-end + live graph) vs live graph alone {t_graph * 1e6:.0f} us; live RTF "
              f"{HOP_MS / 1000 / t_live:.0f}x")
        print(_verdict(f"live per-hop / live-graph-only, streaming DS-CNN {name}", t_live / t_graph, LIVE_TARGET_X,
                       at_least=False))
    # the audio-in live graph: the MFCC front-end as matmuls inside the same ONNX Runtime call
    from voxquant.audio.frontend import compute_features as _cf
    from voxquant.eval.stream_conv import (LiveAudioStream, export_live_audio_graph, frontend_node_names,
                                           live_audio_calibration)

    la32 = export_live_audio_graph(model, fe, tmp / "sconv")
    la_graphs = {"fp32": la32,
                 "int8_static_minmax": build_graph_variant("int8_static_minmax", la32, tmp / "sconv" / "live_audio.int8.onnx",
                                                           live_audio_calibration(la32, cal_audio),
                                                           nodes_to_exclude=frontend_node_names(la32))}
    t_window = _median_time(lambda: _cf(audio[:clip], fe), reps)
    print(f"   audio-in live graph (front-end inside the ONNX graph: DFT/mel/DCT matmuls + log, kept float in int8); "
          f"recomputing the 1 s window's features (compute_features) {t_window * 1e6:.0f} us")
    for name, lap in la_graphs.items():
        la_live, feat_live = LiveAudioStream(lap), LiveStream(graphs[name][1], fe)
        la_live.push_audio(audio[:clip])
        feat_live.push_audio(audio[:clip])
        fr = all_feats[:2]
        per_hop, graph_only, pos = [], [], clip
        for _ in range(reps):  # interleaved, so both see the same machine load
            t0 = time.perf_counter()
            la_live.push_audio(audio[pos: pos + hop])
            t1 = time.perf_counter()
            feat_live.push_frames(fr)
            graph_only.append(time.perf_counter() - t1)
            per_hop.append(t1 - t0)
            pos += hop
        t_la, t_graph = float(np.median(per_hop)), float(np.median(graph_only))
        marginal = max(t_la - t_graph, 1e-9)
        print(f"   live audio-in {name}: per {HOP_MS:g} ms hop {t_la * 1e6:.1f} us (p95 "
              f"{np.percentile(per_hop, 95) * 1e6:.1f} us) vs features-in live graph alone {t_graph * 1e6:.1f} us -> "
              f"front-end marginal cost {marginal * 1e6:.1f} us; live RTF {HOP_MS / 1000 / t_la:.0f}x")
        print(_verdict(f"live per-hop (audio-in graph) / model-only, streaming DS-CNN {name}", t_la / t_graph,
                       LIVE_TARGET_X, at_least=False))
        print(_verdict(f"recompute-window features / front-end marginal (audio-in - features-in), {name}",
                       t_window / marginal, FRONTEND_TARGET_X, at_least=True))


if __name__ == "__main__":
    main()
