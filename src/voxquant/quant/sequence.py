"""QAT and accuracy-bounded mixed precision for CTC command models (the ``qat`` and ``mixed`` recipes when the run's
task is ``sequence``; :mod:`voxquant.sequence_run` passes ``task="sequence"`` and a context object ``seq``).

Both reuse the classification machinery: PT2E QAT (:func:`voxquant.quant.qat.prepare_qat` / ``convert_qat`` /
``export_qdq_onnx``, XNNPACK quantizer: int8 per-tensor activations, per-channel weights) and the greedy
exclude-one search of :func:`voxquant.quant.mixed.search_mixed` over ONNX Runtime static int8
(:class:`voxquant.quant.sensitivity.Quantizer`). What differs is the data and the metric, which the context
provides (this layer cannot import :mod:`voxquant.eval`):

``seq`` (a :class:`voxquant.sequence_run.SequenceRecipeContext`) has
    ``load_model() -> (torch model, meta)``; ``batches(pad_to_frames, seed) -> (make_batch, heldout, description)``
    (:func:`voxquant.models.train_ctc.sequence_batches`); ``dev_slices() -> {name: x float32 [N, 1, T, F]}`` (synthetic
    ``dev`` sequences of speakers held out of training, clean / real noise / reverb); ``dev_groups(name) ->
    {group: bool [N]}``; ``correct(name, logp float32 [N, T', V]) -> bool [N]`` (grammar decode == reference).

**QAT**: fine-tune the fake-quantized graph with the training recipe's CTC loss on generated ``dev`` sequences (noise,
reverb, SpecAugment), at the fixed input length the model is exported with; keep the state with the best
held-out greedy WER; export QDQ ONNX.

**mixed** (worst-group budget): the sentence-accuracy drop vs fp32 of every (condition x speaker group) cell of the
dev slices must stay within ``max_drop`` pp; layers ranked by the mean per-frame KL divergence of the CTC posteriors
from fp32 (continuous, moves before any sentence flips), kept in float one at a time until the budget holds.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from voxquant.errors import ConfigError


def _kl_frames(ref_logp: np.ndarray, var_logp: np.ndarray) -> float:
    """Mean over utterances and frames of ``KL(p_ref || p_var)`` (nats) for CTC log-probabilities ``[N, T', V]``."""
    p = np.exp(ref_logp.astype(np.float64))
    return float(np.mean(np.sum(p * (ref_logp.astype(np.float64) - var_logp.astype(np.float64)), axis=-1)))


def fold_ctc_batchnorm(model):
    """Every BatchNorm of a CTC command model folded into the convolution before it (a deep copy, eval mode):
    those directly after a conv in an ``nn.Sequential`` (:func:`voxquant.quant.qat.fold_batchnorm`) and the
    attribute pairs of the CTC blocks (``pw`` -> ``bn`` in ConvCTC's separable convs, ``dw`` -> ``bn`` in the
    Conformer's conv module). Outputs equal the original's (eval) to float rounding; with no BatchNorm left, the PT2E
    QAT graph has no conv-BN pattern whose training form would switch to batch statistics (these models were trained
    with frozen BatchNorm: running statistics 0 / 1).
    """
    import torch
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    from voxquant.quant.qat import fold_batchnorm

    model = fold_batchnorm(model)
    for m in model.modules():
        bn = getattr(m, "bn", None)
        if not isinstance(bn, torch.nn.BatchNorm2d):
            continue
        name = "pw" if isinstance(getattr(m, "pw", None), torch.nn.Conv2d) else "dw"
        conv = getattr(m, name, None)
        if isinstance(conv, torch.nn.Conv2d):
            setattr(m, name, fuse_conv_bn_eval(conv, bn))
            m.bn = torch.nn.Identity()
    return model


def compare_groups(seq, ref: dict, var: dict) -> dict:
    """Sentence-accuracy drops (pp) of ``var`` vs ``ref`` per dev slice and per group within it.

    Args:
        ref, var: ``{slice: float32 [N, T', V]}`` log-probabilities.

    Returns:
        ``{"<slice>/<group>": {"drop": pp, "n": int}, ..., "_worst": pp, "_worst_slice": name, "_mean": pp (pooled
        over all dev utterances), "_kl": mean frame KL}``.
    """
    out: dict = {}
    pooled_r, pooled_v, kls = [], [], []
    for name in ref:
        cr, cv = seq.correct(name, ref[name]), seq.correct(name, var[name])
        pooled_r.append(cr)
        pooled_v.append(cv)
        kls.append(_kl_frames(ref[name], var[name]))
        for g, mask in seq.dev_groups(name).items():
            if mask.sum():
                out[f"{name}/{g}"] = {"drop": float(100 * (cr[mask].mean() - cv[mask].mean())), "n": int(mask.sum())}
    worst = max(out, key=lambda k: out[k]["drop"])
    out["_worst"] = out[worst]["drop"]
    out["_worst_slice"] = worst
    out["_mean"] = float(100 * (np.concatenate(pooled_r).mean() - np.concatenate(pooled_v).mean()))
    out["_kl"] = float(np.mean(kls))
    return out


def qat_sequence(fp32_onnx: Path, out: Path, calibration=None, *, seq, seed: int = 0, progress: bool = False,
                 minutes: float = 6.0, lr: float = 5e-5, batch_size: int = 8, weight_bits: int | None = None,
                 n_heldout: int = 40, **_) -> Path:
    """Build the QAT variant of a CTC command model (see the module docstring).

    Args:
        fp32_onnx: the float ONNX export (its fixed input length is the QAT graph's).
        out: QDQ ``.onnx`` to write; the sidecar ``out.with_suffix(".json")`` records the fine-tuning.
        calibration: ``float32 [N, 1, T, F]`` (two rows are the export example; QAT learns its own ranges).
        seq: the sequence recipe context. seed: seeds everything. minutes: fine-tuning budget (wall clock).
        lr: peak learning rate. batch_size: utterances per step. weight_bits: 7/8 (default: 7 on x86 without VNNI).
        n_heldout: held-out sentences per grammar for the model selection.

    Returns:
        ``out``.

    Raises:
        MissingExtraError: torchao missing. ConfigError: the graph cannot be captured by ``torch.export``.
    """
    import torch

    from voxquant.models.train_ctc import CTCTrainConfig, train_ctc
    from voxquant.quant.qat import convert_qat, export_qdq_onnx, prepare_qat, resolve_weight_bits

    t0 = time.time()
    model, meta = seq.load_model()
    bits = resolve_weight_bits(weight_bits)
    example = torch.from_numpy(np.ascontiguousarray(calibration[:2], dtype=np.float32))
    n_frames = int(example.shape[2])
    folded = fold_ctc_batchnorm(model)
    try:
        gm = prepare_qat(folded, example, bits)
    except (torch._dynamo.exc.Unsupported, torch._dynamo.exc.UserError) as exc:  # pragma: no cover - graph specific
        raise ConfigError(f"torch.export cannot capture this model for QAT: {str(exc).splitlines()[0][:200]}") from None
    gm.vocab, gm.stride, gm.arch = model.vocab, model.stride, getattr(model, "arch", "?")
    # The CTC models were trained with BatchNorm frozen (models.train_ctc.freeze_batchnorm): their BNs are affine
    # layers with running statistics 0 / 1, and a BN the fold above could not reach (not directly after a conv in a
    # Sequential) would switch to batch statistics in train mode -- a different function (QAT started at 12x the
    # float model's CTC loss and collapsed to all-blank). So the QAT graph stays in eval mode throughout: BN uses its
    # running statistics, dropout is off, and the fake-quant observers (enabled independently of the mode) still
    # learn their ranges while the weights are fine-tuned.
    import types

    gm.train = types.MethodType(lambda self, mode=True: self, gm)
    gm.eval = types.MethodType(lambda self: self, gm)
    make_batch, heldout, data_desc = seq.batches(n_frames, seed, batch_size=batch_size, n_heldout=n_heldout)
    cfg = CTCTrainConfig(lr=lr, max_minutes=minutes, warmup_frac=0.1, seed=seed, threads=2,
                         eval_every_s=max(30.0, minutes * 60 / 4))
    torch.manual_seed(seed)
    gm, hist = train_ctc(gm, make_batch, cfg, heldout=heldout, progress=progress)
    qm = convert_qat(gm)
    export_qdq_onnx(qm, example, out)
    hist.pop("loss", None)
    info = {"recipe": "qat", "task": "sequence", "weight_bits": bits, "minutes": minutes, "lr": lr,
            "batch_size": batch_size, "n_frames": n_frames, "data": data_desc, "history": hist,
            "heldout_wer_qat_torch": hist.get("best_wer"), "seconds": time.time() - t0,
            "onnx": Path(out).name, "size_bytes": Path(out).stat().st_size}
    Path(out).with_suffix(".json").write_text(json.dumps(info, indent=1, default=str) + "\n")
    return out


def mixed_sequence(fp32_onnx: Path, out: Path, calibration: np.ndarray, *, seq, max_drop: float = 2.0,
                   method: str = "minmax", rerank: str = "on_stall", max_float: int | None = None,
                   threads: int = 2, rank_limit: int | None = 48, **_) -> Path:
    """Build the mixed-precision variant of a CTC command model with a worst-group budget (module docstring).

    Args:
        fp32_onnx: float ONNX. out: ``.onnx`` to write (+ ``.json`` sidecar: float layers, trace, dev drops).
        calibration: ``float32 [N, 1, T, F]`` static calibration inputs (synthetic dev sequences).
        seq: the sequence recipe context. max_drop: budget in pp of sentence accuracy, per dev (condition x group)
            cell. method: static calibration method. rerank, max_float: see :func:`voxquant.quant.mixed.search_mixed`.
        rank_limit: utterances per dev slice used for the exclude-one ranking (the search steps use all).

    Returns:
        ``out``.

    Raises:
        ConfigError: bad method / max_drop.
    """
    from voxquant.quant.mixed import search_mixed
    from voxquant.quant.sensitivity import Quantizer, float_ops

    if method not in ("minmax", "entropy", "percentile"):
        raise ConfigError(f"unknown calibration method '{method}' for mixed", hint="minmax, entropy or percentile")
    t0 = time.time()
    out = Path(out)
    work = out.parent / f"{out.stem}.work"
    data = seq.dev_slices()
    ref = {k: seq.logp(fp32_onnx, x, threads) for k, x in data.items()}
    q = Quantizer(Path(fp32_onnx), calibration, method, workdir=work)
    layers = q.layers()
    cands = [l["node"] for l in layers]
    sub = {k: slice(0, rank_limit) for k in data} if rank_limit else {k: slice(None) for k in data}

    def evaluate(excl):
        path = q.build(list(excl))
        return compare_groups(seq, ref, {k: seq.logp(path, x, threads) for k, x in data.items()})

    def rank_evaluate(excl):
        path = q.build(list(excl))
        return {"_kl": float(np.mean([_kl_frames(ref[k][sub[k]], seq.logp(path, x[sub[k]], threads))
                                      for k, x in data.items()])), "_worst": 0.0, "_mean": 0.0}

    rank = {c: rank_evaluate([c])["_kl"] for c in cands}
    res = search_mixed(evaluate, cands, max_drop, "worst-slice", rank=rank, rerank=rerank, max_float=max_float,
                       rank_evaluate=rank_evaluate, rank_key=lambda r: float(r["_kl"]))
    q.build(res["excluded"], out=out)
    info = {l["node"]: l for l in layers}
    side = {"recipe": "mixed", "task": "sequence", "budget": "worst dev (condition x group) sentence-accuracy drop",
            "max_drop": max_drop, "method": method, "met": res["met"], "stop": res["stop"],
            "float_layers": [{"node": n, "layer": info[n].get("layer"), "op": info[n].get("op")} for n in res["excluded"]],
            "n_layers": len(layers), "rank_kl": rank, "trace": res["trace"], "dev_int8": res["int8"],
            "dev_mixed": res["result"], "dev_slices": {k: int(len(x)) for k, x in data.items()},
            "float_ops": float_ops(out), "seconds": time.time() - t0, "onnx": out.name}
    from voxquant.atomic import write_text_atomic

    write_text_atomic(out.with_suffix(".json"), json.dumps(side, indent=1, default=str) + "\n")
    for f in work.glob("variant_*.onnx"):
        f.unlink()
    return out


__all__ = ["compare_groups", "fold_ctc_batchnorm", "mixed_sequence", "qat_sequence"]
