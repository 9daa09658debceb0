"""Training of the word-level CTC command models (:mod:`voxquant.models.ctc`) on synthetic sequences of REAL words.

* :func:`train_ctc` -- the loop: ``torch.nn.CTCLoss(blank=0, zero_infinity=True)``, AdamW, a warm-up + cosine
  learning-rate schedule driven by the fraction of the budget used (wall-clock minutes or steps, whichever is
  reached first), gradient clipping, SpecAugment time/frequency masks (Park et al. 2019), and model selection by
  the greedy word error rate on a held-out set (the best state is kept; the budget ends training cleanly).
* :func:`train_sequence_model` -- the data: sentences of both grammars (:data:`voxquant.data.sequences.GRAMMARS`)
  generated on the fly from the ``dev`` word bank (real isolated words: Speech Commands test-set dev speakers,
  FSDD train split), rendered, augmented with the first half of every real noise recording and the training RIRs,
  zero-padded to the batch's longest utterance (some batches much longer, since evaluation pads to 14 s), log-mel
  features (:data:`~voxquant.data.sequences.SEQ_FRONTEND`). 10 % of the dev speakers (by a stable hash of the
  speaker id) are held out of training and give the model-selection set. ``alphanumeric_accents`` (the real
  connected-digit evaluation) is never used.

The greedy decoder and word edit distance here are deliberately local (models must not import :mod:`voxquant.eval`).
"""

from __future__ import annotations

import copy
import math
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np


@dataclass
class CTCTrainConfig:
    """Recipe of :func:`train_ctc`.

    Attributes:
        lr: peak learning rate of AdamW; weight_decay: AdamW weight decay.
        warmup_frac: share of the budget with a linear warm-up; the rest follows a cosine to ``lr * final_lr_frac``.
        max_minutes: wall-clock budget in minutes (data preparation included); max_steps: step budget (0 = none).
        grad_clip: max global L2 norm of the gradients.
        threads: ``torch.set_num_threads``.
        eval_every_s: seconds between held-out evaluations (and one at the end).
        freq_masks, freq_mask_max: SpecAugment frequency masks per utterance and their max width (mel bins).
        time_masks_per_s, time_mask_max: time masks per second of speech-bearing input and their max width (frames).
        seed: torch / numpy seed.
        aux_weight: weight of an optional frame-level cross-entropy added to the CTC loss when ``make_batch`` also
            returns frame labels (the alignment the synthesis knows: word id inside a word, blank in gaps and
            padding); 0 (default) = pure CTC. Not what got the models off the all-blank plateau (that was
            :func:`freeze_batchnorm`); kept as an option.
    """

    lr: float = 2e-3
    weight_decay: float = 1e-3
    warmup_frac: float = 0.05
    final_lr_frac: float = 0.02
    max_minutes: float = 25.0
    max_steps: int = 0
    grad_clip: float = 5.0
    threads: int = 2
    eval_every_s: float = 150.0
    freq_masks: int = 2
    freq_mask_max: int = 6
    time_masks_per_s: float = 0.5
    time_mask_max: int = 8
    seed: int = 0
    aux_weight: float = 0.0
    extra: dict = field(default_factory=dict)


def freeze_batchnorm(model) -> int:
    """Put every BatchNorm of ``model`` in eval mode (its running statistics, initially mean 0 / variance 1, and
    its learned scale and shift are used; batch statistics never are). Returns how many.

    Why: with batch statistics both CTC models stayed on CTC's all-blank plateau (ConvCTC: loss ~3.4 per word and 0 %
    greedy accuracy after 400 steps even on single-word sentences; held-out WER 0.96-1.0 after 1,700 steps of full
    training), while the same ConvCTC with its BatchNorms frozen learned single words like a BatchNorm-free
    convolutional CTC model did (CTC loss 2.2, 25 % greedy accuracy after 375 steps; measured 2026-11-29 on this
    machine). The sentences of one batch differ wildly in length and in how much zero padding (log-mel floor) they
    carry, so batch statistics are a poor, noisy normaliser here; a frozen BatchNorm is an affine layer, and it still
    folds into the preceding convolution for export and int8.
    """
    import torch

    n = 0
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()
            n += 1
    return n


def greedy_decode(logp: np.ndarray, vocab) -> tuple[str, ...]:
    """Best-path CTC decoding: ``float32 [T', V]`` log-probs -> words (argmax per frame, repeats collapsed, blank 0
    dropped)."""
    best = np.asarray(logp).argmax(-1)
    keep = np.r_[True, best[1:] != best[:-1]] & (best != 0)
    return tuple(vocab[i] for i in best[keep])


def word_errors(ref, hyp) -> int:
    """Levenshtein distance between two word sequences (substitutions + deletions + insertions)."""
    d = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, d[0] = d[0], i
        for j, h in enumerate(hyp, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (r != h))
    return d[-1]


def heldout_wer(model, x, refs, batch: int = 16) -> float:
    """Greedy corpus WER (fraction) of ``model`` on features ``x`` (``float32 [N, 1, T, F]`` numpy or tensor)."""
    import torch

    was = model.training
    model.eval()
    errs = n = 0
    with torch.no_grad():
        for i in range(0, len(refs), batch):
            lp = model(torch.as_tensor(x[i : i + batch])).numpy()
            for r, row in zip(refs[i : i + batch], lp):
                errs += word_errors(r, greedy_decode(row, model.vocab))
                n += len(r)
    model.train(was)
    if was:
        freeze_batchnorm(model)
    return errs / max(n, 1)


def spec_augment(x, rng: np.random.Generator, cfg: CTCTrainConfig, frames_per_s: float = 100.0):
    """SpecAugment (Park et al. 2019) in place on ``torch.float32 [N, 1, T, F]``: frequency and time masks filled
    with each utterance's mean feature value."""
    n, _, t, f = x.shape
    for i in range(n):
        fill = float(x[i].mean())
        for _ in range(cfg.freq_masks):
            w = int(rng.integers(0, cfg.freq_mask_max + 1))
            f0 = int(rng.integers(0, max(f - w, 1)))
            x[i, :, :, f0 : f0 + w] = fill
        for _ in range(int(rng.poisson(cfg.time_masks_per_s * t / frames_per_s))):
            w = int(rng.integers(0, cfg.time_mask_max + 1))
            t0 = int(rng.integers(0, max(t - w, 1)))
            x[i, :, t0 : t0 + w, :] = fill
    return x


def train_ctc(model, make_batch: Callable, cfg: CTCTrainConfig, heldout=None, on_best: Callable | None = None,
              progress: bool = False):
    """Train a CTC model until the time/step budget ends; keep the state with the best held-out greedy WER.

    Args:
        model: :class:`~voxquant.models.ctc.ConvCTC` / :class:`~voxquant.models.ctc.ConformerCTC` (``stride``,
            ``vocab``).
        make_batch: ``make_batch(step: int, rng: np.random.Generator) -> (x, targets)`` with ``x``
            ``float32 [B, 1, T, F]`` (numpy or tensor, every utterance padded to ``T``) and ``targets`` a list of
            ``B`` int label sequences (indices into ``model.vocab``, no blank). Every output frame counts
            (``input_lengths = T // stride``): padding is trained as blank, as evaluation pads with zeros.
        cfg: :class:`CTCTrainConfig`.
        heldout: ``(x float32 [M, 1, T, F], refs: list of word tuples)`` for model selection; ``None``: the last
            state is kept (and ``history['heldout_wer']`` is empty).
        on_best: called as ``on_best(model, history)`` each time a new best held-out WER is reached (e.g. to save
            a checkpoint).
        progress: print one line per evaluation.

    Returns:
        ``(model, history)``: the model in eval mode with the best weights loaded; history has ``loss`` (per step),
        ``eval`` (list of ``{step, seconds, heldout_wer, lr}``), ``best_wer``, ``best_step``, ``steps``,
        ``seconds``, ``utterances`` (seen), ``config``.
    """
    import torch

    torch.set_num_threads(max(1, int(cfg.threads)))
    # log-mel of zero-padded audio drives activations/gradients into denormals: 5-10x slower CPU steps without this
    # (restored to torch's default, off, at the end)
    torch.set_flush_denormal(True)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    ctc = torch.nn.CTCLoss(blank=0, zero_infinity=True)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    budget_s = cfg.max_minutes * 60.0
    hist = {"loss": [], "eval": [], "best_wer": None, "best_step": None, "utterances": 0, "config": asdict(cfg)}
    best_state = None
    t0 = time.time()
    last_eval = t0
    step = 0

    def lr_at(frac: float) -> float:
        if frac < cfg.warmup_frac:
            return cfg.lr * max(frac / cfg.warmup_frac, 0.01)
        p = min((frac - cfg.warmup_frac) / max(1.0 - cfg.warmup_frac, 1e-9), 1.0)
        return cfg.lr * (cfg.final_lr_frac + (1 - cfg.final_lr_frac) * 0.5 * (1 + math.cos(math.pi * p)))

    def evaluate() -> None:
        nonlocal best_state
        if heldout is None:
            return
        w = heldout_wer(model, heldout[0], heldout[1])
        hist["eval"].append({"step": step, "seconds": round(time.time() - t0, 1), "heldout_wer": w,
                             "lr": opt.param_groups[0]["lr"],
                             "loss": float(np.mean(hist["loss"][-50:])) if hist["loss"] else None})
        if progress:
            print(f"[train_ctc {model.arch}] step {step} {time.time() - t0:.0f}s loss "
                  f"{hist['eval'][-1]['loss']} held-out WER {w:.3f}", flush=True)
        if hist["best_wer"] is None or w < hist["best_wer"]:
            hist["best_wer"], hist["best_step"] = w, step
            best_state = copy.deepcopy(model.state_dict())
            if on_best is not None:
                on_best(model, hist)

    model.train()
    freeze_batchnorm(model)
    while True:
        elapsed = time.time() - t0
        frac = max(elapsed / budget_s if budget_s > 0 else 0.0, step / cfg.max_steps if cfg.max_steps else 0.0)
        if frac >= 1.0:
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(frac)
        batch = make_batch(step, rng)
        x, targets = batch[0], batch[1]
        frame_labels = batch[2] if len(batch) > 2 else None
        x = spec_augment(torch.as_tensor(x, dtype=torch.float32).clone(), rng, cfg)
        logp = model(x)                                              # [B, T', V]
        b, tp, _ = logp.shape
        tl = torch.tensor([len(t) for t in targets], dtype=torch.long)
        flat = torch.tensor([i for t in targets for i in t], dtype=torch.long)
        loss = ctc(logp.transpose(0, 1), flat, torch.full((b,), tp, dtype=torch.long), tl)
        if frame_labels is not None and cfg.aux_weight > 0:
            st = int(getattr(model, "stride", 1))  # labels come at the input frame rate
            fl = torch.as_tensor(np.asarray(frame_labels)[:, st // 2 :: st], dtype=torch.long)[:, :tp]
            if fl.shape[1] < tp:  # frames beyond the labels: blank
                fl = torch.nn.functional.pad(fl, (0, tp - fl.shape[1]), value=0)
            loss = loss + cfg.aux_weight * torch.nn.functional.nll_loss(logp.reshape(-1, logp.shape[-1]),
                                                                         fl.reshape(-1), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        hist["loss"].append(float(loss.detach()))
        hist["utterances"] += b
        step += 1
        if time.time() - last_eval >= cfg.eval_every_s:
            evaluate()
            last_eval = time.time()
    evaluate()
    torch.set_flush_denormal(False)
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    hist.update(steps=step, seconds=time.time() - t0)
    return model, hist


def frame_labels(utts, n_out: int, stride: int, hop: int = 160, win: int = 400) -> np.ndarray:
    """Frame-level targets ``int64 [B, n_out]`` of synthetic utterances at the model's output rate: the word's
    vocabulary index for output frames whose centre sample lies inside the word
    (:func:`voxquant.data.sequences.word_spans`), blank (0) in gaps and padding.

    Args:
        utts: synthetic :class:`~voxquant.data.sequences.SeqUtterance`. n_out: output frames. stride: the model's
            time stride (output frame j covers input frames ``j*stride .. j*stride+stride-1``). hop, win: front-end
            hop and window in samples.
    """
    from voxquant.data.sequences import SEQ_VOCAB, word_spans

    index = {w: i for i, w in enumerate(SEQ_VOCAB)}
    centre = (np.arange(n_out) * stride + stride / 2.0) * hop + win / 2.0
    out = np.zeros((len(utts), n_out), dtype=np.int64)
    for b, u in enumerate(utts):
        for w, (s0, s1) in zip(u.words, word_spans(u)):
            out[b, (centre >= s0) & (centre < s1)] = index[w]
    return out


def pretrain_words(model, make_words_batch: Callable, minutes: float, lr: float = 1e-3, threads: int = 1,
                   seed: int = 0, progress: bool = False) -> dict:
    """Stage 1 of the CTC recipe: teach the encoder the words as isolated-word classification.

    Each batch holds single-word sentences; the model's word log-probabilities are pooled over time
    (``logsumexp_t log p_t(w)``, w != blank) and trained with cross-entropy against the word. The same network and
    output layer as CTC, so stage 2 (:func:`train_ctc`) starts from an encoder that already tells the words apart.
    Measured on ConvCTC (2026-11-29, this machine): pooled cross-entropy reached 75 % train-batch accuracy on single
    words in 275 steps, while CTC from scratch was still at chance (loss ~3.4) after 400 steps.

    Args:
        model: a CTC model. make_words_batch: ``rng -> (x float32 [B, 1, T, 40], y int64 [B] vocabulary indices)``.
        minutes: wall-clock budget. lr: AdamW learning rate. threads: torch threads. seed: seeds.

    Returns:
        ``{"steps", "seconds", "loss_per_100_steps", "accuracy_last_100"}``.
    """
    import torch

    torch.set_num_threads(max(1, int(threads)))
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed + 7)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-3)
    model.train()
    freeze_batchnorm(model)
    t0, losses, accs, step = time.time(), [], [], 0
    while time.time() - t0 < minutes * 60.0:
        x, y = make_words_batch(rng)
        lp = model(torch.as_tensor(x, dtype=torch.float32))
        pooled = torch.logsumexp(lp[:, :, 1:], dim=1)
        target = torch.as_tensor(y, dtype=torch.long) - 1
        loss = torch.nn.functional.cross_entropy(pooled, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        losses.append(float(loss.detach()))
        accs.append(float((pooled.argmax(1) == target).float().mean()))
        step += 1
        if progress and step % 200 == 0:
            print(f"[pretrain_words {getattr(model, 'arch', '?')}] step {step} {time.time() - t0:.0f}s loss "
                  f"{np.mean(losses[-100:]):.3f} acc {np.mean(accs[-100:]):.3f}", flush=True)
    model.eval()
    return {"steps": step, "seconds": round(time.time() - t0, 1),
            "loss_per_100_steps": [round(float(np.mean(losses[i : i + 100])), 4) for i in range(0, len(losses), 100)],
            "accuracy_last_100": float(np.mean(accs[-100:])) if accs else None}


def training_sources(data_root=None):
    """The training audio of the CTC recipe, shared by :func:`train_sequence_model` and :func:`sequence_batches`:
    ``(bank, augment, frontend, training room names)`` = the ``dev`` word bank, an :class:`voxquant.data.Augmenter` (real noise: first half
    of each recording, p 0.7 at 5-30 dB; training rooms' RIRs, p 0.25; gain -10..+6 dB; no time shift, so word
    alignments hold) and the log-mel :class:`voxquant.audio.TorchFrontend`.

    Raises:
        DataError: the word bank, noise or RIR data is missing.
    """
    from voxquant.audio.frontend import TorchFrontend
    from voxquant.data import Augmenter
    from voxquant.data.augment import load_noise_bank, load_rir_bank
    from voxquant.data.sequences import SEQ_FRONTEND, word_bank
    from voxquant.models.zoo_default import rir_split, split_noise_bank

    sr = SEQ_FRONTEND.sample_rate
    bank = word_bank("dev", data_root)
    noise_train, _ = split_noise_bank(load_noise_bank(data_root, sample_rate=sr))
    rir_train, _ = rir_split(load_rir_bank(data_root, sample_rate=sr))
    aug = Augmenter(noise_bank=noise_train, rirs=rir_train, sample_rate=sr, shift_ms=0.0, noise_prob=0.7,
                    snr_db=(5.0, 30.0), gain_db=(-10.0, 6.0), reverb_prob=0.25)
    return bank, aug, TorchFrontend(SEQ_FRONTEND), sorted(rir_train)


def speaker_held_out(speaker: str, frac_pct: int = 10) -> bool:
    """Stable speaker split: ``crc32(speaker) % 100 < frac_pct`` -> held out of training (model selection)."""
    return zlib.crc32(str(speaker).encode()) % 100 < frac_pct


#: Default architecture configs of the committed models.
DEFAULT_CONFIGS = {"conv": {"channels": 128, "head_channels": 192}, "conformer": {"d_model": 128, "n_blocks": 3}}  # = ctor defaults
#: Default recipes (peak learning rate) per architecture.
DEFAULT_LR = {"conv": 1e-3, "conformer": 3e-4}


def train_sequence_model(arch: str, out, minutes: float = 25.0, seed: int = 0, threads: int = 2, data_root=None,
                         progress: bool = True, *, batch_size: int = 16, config: dict | None = None,
                         digits_share: float = 0.6, long_pad_prob: float = 0.1, n_heldout: int = 60,
                         lr: float | None = None, max_seconds: float = 10.0, eval_every_s: float = 240.0,
                         curriculum_share: float = 0.25, curriculum_seconds: float = 4.0,
                         source_weights: dict | None = None, pretrain_minutes: float = 0.0) -> dict:
    """Train a CTC command model on generated sequences of real dev words and save it (:func:`save_ctc`).

    Args:
        arch: ``"conv"`` or ``"conformer"`` (:data:`~voxquant.models.ctc.CTC_ARCHS`).
        out: ``.pt`` path (written atomically at each new best held-out WER and at the end).
        minutes: wall-clock training budget.
        seed: seed of sentence generation, augmentation, SpecAugment and the model's initialisation.
        threads: torch threads.
        data_root: data root (default ``VOXQUANT_DATA``).
        progress: print progress lines.
        batch_size: utterances per step; config: constructor kwargs (default :data:`DEFAULT_CONFIGS`);
        digits_share: share of training sentences from the ``digits`` grammar (rest: ``commands``);
        long_pad_prob: probability that a batch gets extra trailing zeros up to a random length <= 14 s;
        n_heldout: held-out sentences per grammar (dev speakers excluded from training); lr: peak LR;
        max_seconds: longest generated training sentence (shorter than 14 s to save CPU time; the held-out set
        uses the full :data:`~voxquant.data.sequences.SEQ_MAX_SECONDS`); eval_every_s: seconds between held-out
        evaluations; curriculum_share, curriculum_seconds: during the first share of the budget only sentences of
        at most that many seconds are drawn (short first, as SortaGrad, Amodei et al. 2016: CTC leaves its
        all-blank plateau sooner); source_weights: ``{grammar: {source: weight}}`` for
        :func:`~voxquant.data.sequences.generate` (default digits: FSDD 0.7, Speech Commands 0.3 -- the Speech
        Commands dev speakers have only ~15 clips per digit, so their digit sentences repeat one or two words).

    Returns:
        The saved metadata dict (``arch``, ``config``, ``vocab``, ``frontend``, ``task``, ``train``).

    Raises:
        DataError: the word bank / noise / RIR data is missing (from :mod:`voxquant.data`). ModelError: unknown arch.
    """
    import torch

    from voxquant.data.sequences import GRAMMARS, SEQ_FRONTEND, SEQ_MAX_SAMPLES, SEQ_VOCAB, generate, render
    from voxquant.errors import ModelError
    from voxquant.models.ctc import CTC_VOCAB, build_ctc, n_parameters, save_ctc

    if tuple(SEQ_VOCAB) != CTC_VOCAB:
        raise ModelError(f"voxquant.data.sequences.SEQ_VOCAB {SEQ_VOCAB} differs from models.ctc.CTC_VOCAB")
    t_start = time.time()
    torch.manual_seed(seed)
    cfg_model = dict(DEFAULT_CONFIGS.get(arch, {}) if config is None else config)
    model = build_ctc(arch, cfg_model)
    model.config = cfg_model
    word_index = {w: i for i, w in enumerate(SEQ_VOCAB)}
    sr = SEQ_FRONTEND.sample_rate

    bank, aug, fe, rir_train = training_sources(data_root)

    def features(waves: list) -> np.ndarray:
        s = max(len(w) for w in waves)
        pad = np.zeros((len(waves), s), np.float32)
        for i, w in enumerate(waves):
            pad[i, : len(w)] = w
        with torch.no_grad():
            return fe(torch.from_numpy(pad)).unsqueeze(1).numpy()

    # held-out: dev speakers excluded from training, clean renders padded to 14 s like evaluation
    held = []
    for gi, gname in enumerate(("digits", "commands")):
        cand = [u for u in generate(bank, GRAMMARS[gname], 20 * n_heldout, seed=10_000 + seed * 7 + gi)
                if speaker_held_out(u.speaker)]
        held += cand[:n_heldout]
    held_waves = []
    for u in held:
        w = render(u, sr)
        held_waves.append(np.pad(w, (0, max(SEQ_MAX_SAMPLES - len(w), 0))))
    held_x = features(held_waves)
    held_refs = [tuple(u.words) for u in held]
    held_speakers = sorted({u.speaker for u in held})

    if source_weights is None:
        source_weights = {"digits": {"fsdd": 0.7, "speech_commands": 0.3}}
    pools = {"digits": [], "commands": []}
    chunk = {"digits": 0, "commands": 0}

    t_train = [None]

    def draw(gname: str):
        if not pools[gname]:
            gi = 0 if gname == "digits" else 1
            us = generate(bank, GRAMMARS[gname], 2048, seed=seed * 1_000_003 + chunk[gname] * 2 + gi,
                          max_seconds=max_seconds, source_weights=source_weights.get(gname))
            chunk[gname] += 1
            pools[gname] = [u for u in us if not speaker_held_out(u.speaker)][::-1]
        if t_train[0] is None:
            t_train[0] = time.time()
        if time.time() - t_train[0] < curriculum_share * minutes * 60.0:   # short sentences first (SortaGrad-like)
            for k in range(len(pools[gname]) - 1, -1, -1):
                if pools[gname][k].num_samples <= curriculum_seconds * sr:
                    return pools[gname].pop(k)
        return pools[gname].pop()

    queue: list = []

    def make_batch(step: int, rng: np.random.Generator):
        if not queue:   # length buckets: 8 batches' worth of sentences sorted by length (less padding compute)
            cand = [draw("digits" if rng.random() < digits_share else "commands") for _ in range(8 * batch_size)]
            cand.sort(key=lambda u: u.num_samples)
            batches = [cand[i : i + batch_size] for i in range(0, len(cand), batch_size)]
            queue.extend(batches[i] for i in rng.permutation(len(batches)))
        utts = queue.pop()
        waves = [aug.one(render(u, sr), rng) for u in utts]
        if rng.random() < long_pad_prob:
            longest = max(len(w) for w in waves)
            target = int(rng.integers(longest, SEQ_MAX_SAMPLES + 1))
            waves[0] = np.pad(waves[0], (0, target - len(waves[0])))
        x = features(waves)
        return x, [[word_index[w] for w in u.words] for u in utts], frame_labels(utts, x.shape[2], 1)

    cfg = CTCTrainConfig(lr=lr if lr is not None else DEFAULT_LR.get(arch, 2e-3),
                         max_minutes=max(minutes - (time.time() - t_start) / 60.0, 0.5), threads=threads, seed=seed,
                         eval_every_s=eval_every_s)
    data_desc = {
        "words": "dev word bank (voxquant.data.sequences.word_bank('dev')): real isolated words of Speech Commands "
                 "test-set + extra dev speakers and FSDD train split, trimmed",
        "grammars": {"digits": digits_share, "commands": round(1 - digits_share, 3)},
        "sentences": f"voxquant.data.sequences.generate defaults (gaps 60-350 ms, edges 100-600 ms), source weights "
                     f"{source_weights} (default: sources alike), at most {max_seconds} s; during the first "
                     f"{curriculum_share:.0%} of the budget only sentences <= {curriculum_seconds} s",
        "augmentation": {"noise": "first half of each real Speech Commands noise recording, p=0.7, SNR 5-30 dB",
                         "rir": f"training rooms {sorted(rir_train)} p=0.25", "gain_db": [-10, 6],
                         "spec_augment": {"freq_masks": cfg.freq_masks, "freq_mask_max": cfg.freq_mask_max,
                                          "time_masks_per_s": cfg.time_masks_per_s,
                                          "time_mask_max": cfg.time_mask_max},
                         "padding": f"batches of similar lengths (8 batches' worth sorted by length), padded to its longest utterance; p={long_pad_prob} a batch padded to a "
                                    f"random length up to {SEQ_MAX_SAMPLES / sr:.0f} s"},
        "heldout": f"{len(held)} generated sentences ({n_heldout} per grammar) of {len(held_speakers)} dev speakers "
                   "excluded from training (crc32(speaker) % 100 < 10), clean, zero-padded to 14 s",
        "never_used": "alphanumeric_accents (real connected digits: evaluation only)",
    }

    def meta_for(hist: dict, final: bool) -> dict:
        return {"config": cfg_model, "frontend": SEQ_FRONTEND.to_dict(),
                "train": {"final": final, "arch": arch, "n_parameters": n_parameters(model), "seed": seed,
                          "batch_size": batch_size, "heldout_wer": hist.get("best_wer"),
                          "best_step": hist.get("best_step"), "steps": hist.get("steps"),
                          "utterances_seen": hist.get("utterances"),
                          "seconds": round(time.time() - t_start, 1), "eval": list(hist.get("eval", [])),
                          "recipe": hist.get("config"), "data": data_desc, "torch": str(torch.__version__)}}

    def on_best(m, hist):
        save_ctc(m, out, meta_for(hist, final=False))

    if progress:
        print(f"[train_sequence_model {arch}] {n_parameters(model):,} parameters; held-out {len(held)} sentences "
              f"of {len(held_speakers)} speakers; data ready in {time.time() - t_start:.0f}s", flush=True)
    pre = None
    if pretrain_minutes > 0:
        from voxquant.data.sequences import SeqUtterance

        singles = [(spk, w, c) for spk, words in sorted(bank.clips.items()) if not speaker_held_out(spk)
                   for w, clips in sorted(words.items()) for c in clips]

        def make_words_batch(rng):  # single-word sentences: one real word clip between two short silences
            pick = [singles[int(i)] for i in rng.integers(0, len(singles), batch_size)]
            utts = [SeqUtterance(id=f"w{k}", words=(w,), speaker=spk, groups={}, parts=((c.path, c.start, c.end, 1.0),),
                                 gaps_s=tuple(float(g) for g in rng.uniform(0.1, 0.5, 2))) for k, (spk, w, c) in enumerate(pick)]
            return features([aug.one(render(u, sr), rng) for u in utts]), np.array([word_index[u.words[0]] for u in utts])

        pre = pretrain_words(model, make_words_batch, pretrain_minutes, lr=cfg.lr, threads=threads, seed=seed,
                             progress=progress)
        data_desc["pretrain"] = {"what": "isolated-word classification (pooled over time) on single-word sentences "
                                         "of the same dev bank and augmentation", **pre}
        cfg.max_minutes = max(minutes - (time.time() - t_start) / 60.0, 0.5)
    model, hist = train_ctc(model, make_batch, cfg, heldout=(held_x, held_refs), on_best=on_best, progress=progress)
    loss = hist.pop("loss")
    hist["loss_per_100_steps"] = [round(float(np.mean(loss[i : i + 100])), 4) for i in range(0, len(loss), 100)]
    meta = meta_for(hist, final=True)
    meta["train"]["loss_per_100_steps"] = hist["loss_per_100_steps"]
    save_ctc(model, out, meta)
    return {"arch": arch, "vocab": list(SEQ_VOCAB), "task": "sequence", "path": str(Path(out)), **meta}


def sequence_batches(seed: int = 0, data_root=None, *, pad_to_frames: int | None = None, batch_size: int = 8,
                     digits_share: float = 0.6, n_heldout: int = 40):
    """Training batches of the CTC command recipe (the data of :func:`train_sequence_model`) for fine-tuning, e.g.
    QAT (:mod:`voxquant.quant.sequence`): generated sentences of both grammars from the ``dev`` word bank (speakers
    held out by :func:`speaker_held_out` excluded), real noise (training halves) and training RIRs, log-mel.

    Args:
        seed: seed of the sentences and the augmentation.
        data_root: data root (default ``VOXQUANT_DATA``).
        pad_to_frames: every batch (and the held-out set) zero-padded / cut to exactly this many feature frames
            (a model exported with a fixed input length); ``None`` = the batch's longest utterance.
        batch_size: utterances per batch. digits_share: share of ``digits`` sentences. n_heldout: held-out
            sentences per grammar (clean, for model selection).

    Returns:
        ``(make_batch, heldout, description)``: ``make_batch(step, rng) -> (x float32 [B, 1, T, 40], targets:
        list of int lists, frame labels int64 [B, T] (:func:`frame_labels` at the input frame rate))`` as
        :func:`train_ctc` takes it; ``heldout = (x float32 [M, 1, T, 40], refs)``.

    Raises:
        DataError: the word bank, noise or RIR data is missing.
    """
    import torch

    from voxquant.data.sequences import GRAMMARS, SEQ_FRONTEND, SEQ_VOCAB, generate, render

    sr = SEQ_FRONTEND.sample_rate
    hop = int(round(sr * SEQ_FRONTEND.hop_ms / 1000))
    n_samples = None
    if pad_to_frames is not None:  # the fewest samples that give pad_to_frames frames
        n_samples = (int(pad_to_frames) - 1) * hop + int(round(sr * SEQ_FRONTEND.window_ms / 1000))
    bank, aug, fe, rir_train = training_sources(data_root)
    index = {w: i for i, w in enumerate(SEQ_VOCAB)}

    def features(waves: list) -> np.ndarray:
        s = n_samples if n_samples is not None else max(len(w) for w in waves)
        pad = np.zeros((len(waves), s), np.float32)
        for i, w in enumerate(waves):
            pad[i, : min(len(w), s)] = w[:s]
        with torch.no_grad():
            x = fe(torch.from_numpy(pad)).unsqueeze(1).numpy()
        return x if pad_to_frames is None else x[:, :, : int(pad_to_frames)]

    held = []
    for gi, g in enumerate(("digits", "commands")):
        held += [u for u in generate(bank, GRAMMARS[g], 20 * n_heldout, seed=20_000 + seed * 7 + gi)
                 if speaker_held_out(u.speaker)][:n_heldout]
    heldout = (features([render(u, sr) for u in held]), [tuple(u.words) for u in held])
    pools: dict = {"digits": [], "commands": []}
    chunk = {"digits": 0, "commands": 0}

    def draw(g: str):
        if not pools[g]:
            us = generate(bank, GRAMMARS[g], 1024, seed=seed * 1_000_003 + 500 + chunk[g] * 2 + (g == "commands"))
            chunk[g] += 1
            pools[g] = [u for u in us if not speaker_held_out(u.speaker)][::-1]
        return pools[g].pop()

    def make_batch(step: int, rng: np.random.Generator):
        utts = [draw("digits" if rng.random() < digits_share else "commands") for _ in range(batch_size)]
        x = features([aug.one(render(u, sr), rng) for u in utts])
        return x, [[index[w] for w in u.words] for u in utts], frame_labels(utts, x.shape[2], 1)

    desc = {"words": "dev word bank, speakers held out by speaker_held_out excluded", "batch_size": batch_size,
            "digits_share": digits_share, "noise": "training halves of the real noise recordings, p=0.7, 5-30 dB",
            "rir": f"training rooms {sorted(rir_train)} p=0.25", "pad_to_frames": pad_to_frames,
            "heldout": f"{len(held)} clean generated sentences of held-out dev speakers"}
    return make_batch, heldout, desc


def continue_training(path, minutes: float, lr: float, threads: int = 1, seed: int = 1, data_root=None,
                      progress: bool = True) -> dict:
    """Continue stage 2 (CTC) of a saved command model for ``minutes`` on :func:`sequence_batches` data (its own
    held-out sentences of held-out dev speakers), saving the best checkpoint back to ``path`` with the continuation
    recorded in ``train["continued"]``. How the committed Conformer got past 60 % held-out WER (its 17-min budget ended
    while its WER was still falling fast).

    Returns:
        ``{"heldout_wer", "steps", "seconds"}``.

    Raises:
        ModelError: ``path`` is not a CTC weights file. DataError: data missing.
    """
    from voxquant.models.ctc import load_ctc, save_ctc

    model, meta = load_ctc(path)
    make_batch, held, desc = sequence_batches(seed=seed, data_root=data_root, batch_size=16, n_heldout=50)
    cfg = CTCTrainConfig(lr=lr, max_minutes=minutes, warmup_frac=0.02, threads=threads, eval_every_s=180)
    t0 = time.time()

    def on_best(m, hist):
        tr = dict(meta["train"])
        tr["continued"] = {"minutes": minutes, "lr": lr, "heldout_wer": hist.get("best_wer"),
                           "best_step": hist.get("best_step"), "data": desc, "eval": list(hist.get("eval", []))}
        keep = {k: v for k, v in meta.items() if k not in ("arch", "state_dict", "vocab", "task")}
        save_ctc(m, path, {**keep, "train": tr})

    model, hist = train_ctc(model, make_batch, cfg, heldout=held, on_best=on_best, progress=progress)
    return {"heldout_wer": hist.get("best_wer"), "steps": hist.get("steps"), "seconds": time.time() - t0}
