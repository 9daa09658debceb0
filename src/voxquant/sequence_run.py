"""``voxquant run --task sequence``: multi-word command recognition (CTC) under quantization, on the one path.

    utterances -> log-mel [N, 1, T, 40] -> artefact (recipe x backend, :func:`voxquant.engine.run_matrix`)
    -> session -> CTC log-probabilities [N, T', V] -> decoded word sequences (:class:`SequenceTask`)
    -> per-utterance word errors -> WER / SER with bootstrap CIs over speakers -> report

Data (:mod:`voxquant.data.sequences`):

* **real connected digits** (``real_*`` slices): the accent-labelled phone numbers read digit by digit of
  ``alphanumeric_accents`` (69 speakers; never used for training or calibration), decoded with the ``digits``
  grammar; per accent / native-vs-non-native / speaker groups on the clean slice;
* **held-out synthetic sequences** (``synth_digits_*``, ``synth_commands_*``): sequences of real isolated words of
  ``eval`` speakers (speaker-disjoint from everything fitted), decoded with their grammar;
* each set under the same acoustic conditions as ``voxquant run`` (:func:`voxquant.data.slices.slice_specs`:
  real background noise at each SNR from the held-out half of each recording, real RIRs, far field), applied to
  each utterance before it is zero-padded to the model's fixed input length (so an SNR is the SNR over the
  utterance, not over the padding).

Variants: the engine's recipes on the float ONNX export (``fp32``, ``fp16``, (``int8_dynamic`` on request),
``int8_static_minmax`` calibrated on synthetic ``dev`` sequences, ``qat`` and ``mixed`` through
:mod:`voxquant.quant.sequence`), on every backend asked for. Each cell stores the grammar-constrained decode (the
headline: a command grammar is what a robot runs) and the unconstrained greedy decode.

Statistics: sentence accuracy drops with paired CIs and McNemar (the engine's :func:`assemble_variants`), and
WER with S/D/I counts, WER increase vs fp32 with a paired bootstrap over speakers (:mod:`voxquant.eval.ctc`), per
slice and per group. RTF = model-only latency p50 of one padded input (1 thread, fresh process) / its duration.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from voxquant.errors import ConfigError, DataError, ModelError

log = logging.getLogger("voxquant")

#: Bundled command models: ``--model`` name -> weights file in ``voxquant/models/weights``.
SEQ_MODELS = {"conv": "ctc_conv_cmd.pt", "conformer": "ctc_conformer_cmd.pt"}
#: Recipes of a sequence run (report order; fp32 is the reference). ``int8_dynamic`` is available
#: (``--recipes``) but not a default: on x86 ONNX Runtime runs the ConvCTC's dynamic int8 about 10x slower than fp32
#: (``docs/results/sequence-rtf.md``), which would dominate the run's time on 14 s inputs.
SEQ_RECIPES = ("fp32", "fp16", "int8_static_minmax", "qat", "mixed")
#: Group columns of the real connected digits reported by default (clean slice).
SEQ_GROUP_BY = ("accent", "native")
#: Output token rows compared between variants (kernel check, agreement): longer hypotheses are cut here.
MAX_HYP_WORDS = 24


@dataclass
class SequenceConfig:
    """Configuration of a sequence run (recorded in ``sequence_results.json``).

    Attributes:
        out_dir: run folder.
        model: ``"conv"`` / ``"conformer"`` (bundled) or a voxquant CTC weights ``.pt``.
        recipes: quantization recipes (``fp32`` first is added when missing).
        backends: backend table arguments (``onnx``, ``tflite``, ...).
        data: the real evaluation set: ``None`` = the accented connected digits of ``alphanumeric_accents``, or a
            manifest CSV with ``path,label[,speaker][,group columns]`` whose labels are word sequences of the
            ``grammar``.
        grammar: grammar of ``data`` (``digits`` or ``commands``).
        synth_digits, synth_commands: held-out synthetic utterances per grammar (``eval`` speakers).
        snrs, reverb, far_field, far_field_snr: acoustic conditions (as ``voxquant run``).
        calib_n: synthetic ``dev`` sequences for static int8 calibration.
        group_by: manifest columns of ``data`` reported per group (``speaker`` is always added).
        max_drop: budget in pp: WER increase allowed by the recommendation; the ``mixed`` recipe's worst-group
            sentence-accuracy budget unless ``recipe_options["mixed"]["max_drop"]`` says otherwise.
        threads, latency_runs, latency_warmup: RTF measurement (model-only, fresh process).
        seed, n_boot, eval_threads, data_root, progress, recipe_options: as ``voxquant run``.
    """

    out_dir: Path = Path("runs/sequence")
    model: str | Path = "conv"
    recipes: tuple = SEQ_RECIPES
    backends: tuple = ("onnx",)
    data: object = None
    grammar: str = "digits"
    synth_digits: int = 60
    synth_commands: int = 60
    snrs: tuple = (10, 0)
    reverb: bool = True
    far_field: bool = True
    far_field_snr: float = 10.0
    calib_n: int = 100
    group_by: tuple = SEQ_GROUP_BY
    max_drop: float = 2.0
    threads: tuple = (1,)
    latency_runs: int = 30
    latency_warmup: int = 5
    seed: int = 0
    n_boot: int = 2000
    eval_threads: int = 1
    data_root: Path | None = None
    progress: bool = True
    recipe_options: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        from voxquant.report.store import to_jsonable

        return to_jsonable(asdict(self))


# ------------------------------------------------------------------------------------------------ model


def resolve_sequence_model(model) -> tuple[Path, object, dict]:
    """``--model`` of a sequence run -> ``(weights path, torch model (eval), meta)``.

    Raises:
        ConfigError: an unknown name. ModelError: a file that is not voxquant CTC weights (from ``load_ctc``).
    """
    from voxquant.models.ctc import load_ctc

    if model is None:
        model = "conv"
    name = str(model)
    if name in SEQ_MODELS:
        path = Path(__file__).resolve().parent / "models" / "weights" / SEQ_MODELS[name]
        if not path.is_file():
            raise ModelError(f"bundled command model '{name}' is missing from this install", path)
    else:
        path = Path(name)
        if path.suffix != ".pt":
            import difflib

            close = difflib.get_close_matches(name, SEQ_MODELS, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"bundled: {', '.join(SEQ_MODELS)}, or a CTC weights .pt"
            raise ConfigError(f"--model {name}: not a command model for --task sequence", hint=hint)
        if not path.is_file():
            raise ConfigError(f"--model {name}: no such file")
    net, meta = load_ctc(path)
    return path, net, meta


# ------------------------------------------------------------------------------------------------ the task


def _token_rows(hyps, vocab) -> np.ndarray:
    """Hypotheses as ``int64 [N, MAX_HYP_WORDS]`` token ids, ``-1`` padded (compared between variants)."""
    idx = {w: i for i, w in enumerate(vocab)}
    out = np.full((len(hyps), MAX_HYP_WORDS), -1, dtype=np.int64)
    for i, h in enumerate(hyps):
        ids = [idx.get(w, -2) for w in h][:MAX_HYP_WORDS]
        out[i, : len(ids)] = ids
    return out


class SequenceTask:
    """How a CTC model's outputs become per-utterance results (the engine's task hook, see
    :class:`voxquant.engine.MatrixInputs`).

    Args:
        vocab: output token names, blank first (``voxquant.data.sequences.SEQ_VOCAB``).
        sets: ``{slice name: (refs [tuple[str, ...]] * N, grammar, frames int64 [N], clusters str [N])}``:
            reference word sequences, the grammar decoding is constrained to, each utterance's valid output frames
            (its unpadded length; the padding is not decoded) and its speaker (bootstrap cluster).
        batch: utterances per session call.
    """

    def __init__(self, vocab, sets: dict, batch: int = 16):
        self.vocab = tuple(vocab)
        self.sets = sets
        self.batch = batch

    def check_output(self, session, x: np.ndarray, path: Path) -> None:
        """Raises ModelError: the model's output is not ``[N, T', len(vocab)]`` log-probabilities."""
        out = np.asarray(session.run(np.ascontiguousarray(x[:1])))
        if out.ndim != 3 or out.shape[-1] != len(self.vocab):
            raise ModelError(f"a CTC command model outputs [N, frames, {len(self.vocab)}] log-probabilities; this one "
                             f"outputs {list(out.shape)}", path)

    def score(self, session, slice_name: str, x: np.ndarray) -> dict:
        """Decode one slice: grammar-constrained (headline) and greedy; word errors per utterance.

        Returns:
            ``{"correct": bool [N] (sentence right, grammar decode), "pred": int64 [N, 24] token rows,
            "metrics": {... :func:`voxquant.eval.ctc.sequence_metrics`, "greedy": {...}, "hyps": [str]},
            "arrays": {"wer_counts": int64 [N, 4], "wer_counts_greedy": int64 [N, 4]}}``.
        """
        from voxquant.engine import predict_scores
        from voxquant.eval.ctc import decode_batch, sentence_correct, sequence_metrics, wer_counts

        refs, grammar, frames, clusters = self.sets[slice_name]
        logp = predict_scores(session, x, batch=self.batch, ndim=3)
        lengths = np.minimum(np.asarray(frames, dtype=np.int64), logp.shape[1])
        hyps = decode_batch(logp, self.vocab, grammar, lengths=lengths)
        greedy = decode_batch(logp, self.vocab, None, lengths=lengths)
        metrics = sequence_metrics(refs, hyps, clusters)
        metrics["greedy"] = sequence_metrics(refs, greedy, clusters)
        metrics["hyps"] = [" ".join(h) for h in hyps]
        return {"correct": sentence_correct(refs, hyps), "pred": _token_rows(hyps, self.vocab), "metrics": metrics,
                "arrays": {"wer_counts": wer_counts(refs, hyps), "wer_counts_greedy": wer_counts(refs, greedy)}}


class SequenceRecipeContext:
    """What the ``qat`` and ``mixed`` recipes need for a CTC command model (:mod:`voxquant.quant.sequence`), given to
    them by this (higher) layer: the float model, training batches, ``dev`` slices and the decode-and-compare rule.

    Dev slices: synthetic sequences of the ``dev`` speakers the training held out for model selection
    (:func:`voxquant.models.train_ctc.speaker_held_out`; never ``eval`` speakers, never the real connected digits),
    ``n_per_grammar`` per grammar, clean, real noise at 10 dB from the TRAINING half of each noise recording, and a
    training room's RIR; groups: word source (Speech Commands / FSDD) and accent where known.
    """

    def __init__(self, weights: Path, vocab, seed: int = 0, data_root=None, n_per_grammar: int = 40):
        self.weights, self.vocab, self.seed, self.data_root = Path(weights), tuple(vocab), seed, data_root
        self.n = n_per_grammar
        self._dev = None

    def load_model(self):
        from voxquant.models.ctc import load_ctc

        return load_ctc(self.weights)

    def batches(self, pad_to_frames: int, seed: int, batch_size: int = 8, n_heldout: int = 40):
        """``(make_batch, heldout, description)`` of :func:`voxquant.models.train_ctc.sequence_batches` (the training
        recipe's data), every batch padded to ``pad_to_frames`` frames (the exported input length)."""
        from voxquant.models.train_ctc import sequence_batches

        return sequence_batches(seed=seed, data_root=self.data_root, pad_to_frames=pad_to_frames, batch_size=batch_size,
                                n_heldout=n_heldout)

    def _build(self):
        from voxquant.data import load_noise_bank, load_rir_bank
        from voxquant.data import sequences as seq
        from voxquant.models.train_ctc import speaker_held_out
        from voxquant.models.zoo_default import rir_split, split_noise_bank

        bank = seq.word_bank("dev", self.data_root)
        noise_train, _ = split_noise_bank(load_noise_bank(self.data_root, sample_rate=16000))
        rir_train, _ = rir_split(load_rir_bank(self.data_root, sample_rate=16000))
        room = sorted(rir_train)[0]
        utts, grams = [], []
        for gi, g in enumerate(("digits", "commands")):
            cand = [u for u in seq.generate(bank, seq.GRAMMARS[g], 20 * self.n, self.seed + 31 + gi)
                    if speaker_held_out(u.speaker)][: self.n]
            utts += cand
            grams += [seq.GRAMMARS[g]] * len(cand)
        audio = _unpadded(utts, self.data_root)
        conds = {"clean": ("clean", None), "noise_snr10": ("noise", 10.0), f"reverb_{room}": ("reverb", room)}
        x = {name: _features(condition_utterances(audio, k, p, noise_train, rir_train, self.seed + 7,
                                                  seq.SEQ_MAX_SAMPLES)) for name, (k, p) in conds.items()}
        hop = int(round(seq.SEQ_FRONTEND.sample_rate * seq.SEQ_FRONTEND.hop_ms / 1000))
        groups = {"all": np.ones(len(utts), dtype=bool)}
        for col in ("source", "accent"):
            for val in sorted({str(u.groups.get(col, "?")) for u in utts}):
                groups[f"{col}={val}"] = np.array([str(u.groups.get(col, "?")) == val for u in utts])
        self._dev = {"x": x, "refs": [tuple(u.words) for u in utts], "grammars": grams, "groups": groups,
                     "lengths": np.array([len(a) // hop + 1 for a in audio])}

    def dev_slices(self) -> dict:
        """``{condition: float32 [N, 1, T, 40]}``."""
        if self._dev is None:
            self._build()
        return self._dev["x"]

    def dev_groups(self, name: str) -> dict:
        """``{group: bool [N]}`` (the same for every condition)."""
        if self._dev is None:
            self._build()
        return self._dev["groups"]

    def logp(self, model: Path, x: np.ndarray, threads: int = 2) -> np.ndarray:
        """CTC log-probabilities ``float32 [N, T', V]`` of an ONNX model (ONNX Runtime, :func:`engine.predict_scores`)."""
        from voxquant.backends.onnxruntime import OrtSession
        from voxquant.engine import predict_scores

        return predict_scores(OrtSession(Path(model), threads=threads), x, batch=16, ndim=3)

    def correct(self, name: str, logp: np.ndarray) -> np.ndarray:
        """Sentence correct (grammar decode of each utterance with its own grammar == reference): ``bool [N]``."""
        from voxquant.eval.ctc import grammar_decode

        d = self._dev
        stride = max(1, int(round(d["x"][name].shape[2] / logp.shape[1])))
        return np.array([grammar_decode(logp[i, : int(np.ceil(d["lengths"][i] / stride)) + 2], self.vocab,
                                        d["grammars"][i]) == d["refs"][i] for i in range(len(d["refs"]))])


# ------------------------------------------------------------------------------------------------ data


def _features(waves: np.ndarray) -> np.ndarray:
    from voxquant.audio.frontend import compute_features
    from voxquant.data.sequences import SEQ_FRONTEND

    return np.ascontiguousarray(compute_features(waves, SEQ_FRONTEND)[:, None], dtype=np.float32)


def condition_utterances(audio: list, kind: str, param, noise_bank, rirs, seed: int, max_samples: int) -> np.ndarray:
    """One acoustic condition applied to each unpadded utterance, then zero-padded: ``float32 [N, max_samples]``.

    The noise of utterance ``i`` is drawn with seed ``[seed, i]`` inside :func:`voxquant.data.slices.condition_waves`
    (called per utterance with slice seed ``seed * 100003 + i``), so every variant sees the same audio.
    Reverberation tails beyond ``max_samples`` are cut.
    """
    from voxquant.data.slices import condition_waves

    out = np.zeros((len(audio), max_samples), dtype=np.float32)
    for i, w in enumerate(audio):
        y = condition_waves(np.asarray(w, dtype=np.float32)[None], kind, param, noise_bank, rirs,
                            seed=int(seed) * 100003 + i)[0]
        n = min(len(y), max_samples)
        out[i, :n] = y[:n]
    return out


def _unpadded(utts, data_root) -> list:
    """Each utterance's audio (``float32 [S_i]``), via :func:`voxquant.data.sequences.load_sequence_audio`."""
    from voxquant.data.sequences import SEQ_MAX_SAMPLES, load_sequence_audio

    waves, lengths = load_sequence_audio(utts, SEQ_MAX_SAMPLES)
    return [waves[i, : int(lengths[i])] for i in range(len(utts))]


def load_real_set(cfg: SequenceConfig) -> tuple[list, object, str]:
    """The real evaluation utterances, their grammar and a description.

    Raises:
        DataError: a bad manifest (one line naming the file and the row). ConfigError: unknown grammar.
    """
    from voxquant.data import sequences as seq

    if cfg.grammar not in seq.GRAMMARS:
        raise ConfigError(f"unknown grammar '{cfg.grammar}'", hint=f"choose from {', '.join(seq.GRAMMARS)}")
    grammar = seq.GRAMMARS[cfg.grammar]
    if cfg.data is None or str(cfg.data) == "alphanumeric-accents":
        if cfg.grammar != "digits":
            raise ConfigError("the accented connected digits are phone numbers: use grammar 'digits'")
        return seq.real_connected_digits(cfg.data_root), grammar, "alphanumeric_accents digits (real connected speech)"
    return manifest_utterances(Path(cfg.data), grammar), grammar, str(cfg.data)


def manifest_utterances(path: Path, grammar) -> list:
    """A user's manifest of recorded commands (``path,label[,speaker][,columns]``) as utterances.

    Raises:
        DataError: missing file or column, a label that is not a word sequence of ``grammar`` (naming the row's
            audio file), an audio file that does not exist.
    """
    import csv

    from voxquant.data.sequences import SeqUtterance, parse_transcript

    path = Path(path)
    if not path.is_file():
        raise DataError("no such manifest", path)
    try:
        rows = list(csv.DictReader(path.open(newline="", encoding="utf-8")))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"unreadable manifest: {exc}", path) from None
    if not rows or "path" not in rows[0] or "label" not in rows[0]:
        raise DataError("a sequence manifest needs the columns path,label (label = the spoken word sequence)", path)
    utts = []
    for i, r in enumerate(rows):
        audio = Path(r["path"]) if Path(r["path"]).is_absolute() else path.parent / r["path"]
        if not audio.is_file():
            raise DataError(f"row {i + 2}: audio file not found: {audio}", path)
        words = parse_transcript(r["label"] or "", grammar, audio)
        groups = {k: (v or "?") for k, v in r.items() if k not in ("path", "label", "speaker")}
        utts.append(SeqUtterance(id=audio.stem, words=words, speaker=r.get("speaker") or audio.stem, groups=groups,
                                 parts=(), gaps_s=(), path=str(audio)))
    return utts


# ------------------------------------------------------------------------------------------------ the run


def _slice_specs(cfg: SequenceConfig, rir_names) -> list:
    from voxquant.data.slices import slice_specs

    return slice_specs(rir_names, snrs=tuple(cfg.snrs), reverb=cfg.reverb, far_field=cfg.far_field,
                       far_field_snr=cfg.far_field_snr)


def run_sequence(cfg: SequenceConfig | None = None) -> dict:
    """Run the sequence task: every variant x every slice through the engine, then WER statistics and the report.

    Returns:
        the ``sequence_results.json`` dict (also written, with ``report.html``, to ``cfg.out_dir``).

    Raises:
        VoxquantError: bad model/data/option (one line), resume under another fingerprint.
    """
    from voxquant.data import load_noise_bank, load_rir_bank
    from voxquant.data import sequences as seq
    from voxquant.data.slices import cached_array
    from voxquant.engine import (MatrixInputs, MatrixSettings, check_fingerprint, ensure_source_model, file_digest,
                                 plan_matrix, remove_stale_temps, run_matrix, value_digest)
    from voxquant.models.ctc import export_ctc_onnx
    from voxquant.models.zoo_default import split_noise_bank
    from voxquant.report import ResultStore, write_json_atomic
    from voxquant.toolchain_log import run_log_folder

    cfg = cfg or SequenceConfig()
    t_start = time.time()
    recipes = tuple(dict.fromkeys(("fp32", *cfg.recipes)))
    plan, skipped = plan_matrix(recipes, cfg.backends)
    out = Path(cfg.out_dir)
    weights, net, meta = resolve_sequence_model(cfg.model)
    meta = {**meta, "n_params": int(sum(p.numel() for p in net.parameters()))}
    vocab = tuple(meta.get("vocab") or seq.SEQ_VOCAB)
    real, grammar, real_desc = load_real_set(cfg)
    synth = {"synth_digits": (seq.held_out_sequences(cfg.synth_digits, 0, cfg.seed, cfg.data_root), seq.GRAMMARS["digits"]),
             "synth_commands": (seq.held_out_sequences(0, cfg.synth_commands, cfg.seed, cfg.data_root),
                                seq.GRAMMARS["commands"])}
    synth = {k: v for k, v in synth.items() if len(v[0])}
    sets = {"real": (real, grammar), **synth}
    n_frames = seq.SEQ_FRONTEND.n_frames(seq.SEQ_MAX_SAMPLES)

    fp = {"model": file_digest([weights]), "data": value_digest({k: [(u.id, u.words, u.path, u.parts) for u in v[0]]
                                                                    for k, v in sets.items()}),
          "numbers": value_digest({"seed": cfg.seed, "calib_n": cfg.calib_n, "far_field_snr": cfg.far_field_snr,
                                   "recipe_options": cfg.recipe_options, "grammar": cfg.grammar}),
          "frontend": value_digest(seq.SEQ_FRONTEND.to_dict()), "task": "sequence"}
    check_fingerprint(out, fp)
    (out / "models").mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)
    store = ResultStore(out)
    key = value_digest(fp)[:16]

    noise_eval, rirs = {}, {}
    try:
        _, noise_eval = split_noise_bank(load_noise_bank(cfg.data_root, sample_rate=16000))
    except DataError as exc:
        log.warning("noise slices skipped: %s", exc)
    try:
        rirs = load_rir_bank(cfg.data_root, sample_rate=16000) if (cfg.reverb or cfg.far_field) else {}
    except DataError as exc:
        log.warning("reverb slices skipped: %s", exc)
    specs = [s for s in _slice_specs(cfg, list(rirs)) if s[1] not in ("noise", "far_field") or noise_eval]

    audio = {name: _unpadded(utts, cfg.data_root) for name, (utts, _) in sets.items()}  # unpadded, seconds each

    def audio_of(set_name):
        return audio[set_name]

    hop = int(round(seq.SEQ_FRONTEND.sample_rate * seq.SEQ_FRONTEND.hop_ms / 1000))
    stride = int(getattr(net, "stride", 1))
    slices, task_sets, slice_meta = [], {}, []
    for set_name, (utts, gram) in sets.items():
        lengths = np.array([len(w) for w in audio[set_name]], dtype=np.int64)
        frames = np.ceil((lengths / hop + 1) / stride).astype(np.int64) + 2
        clusters = np.array([u.speaker for u in utts])
        for cond, kind, param in specs:
            name = f"{set_name}_{cond}"
            task_sets[name] = ([tuple(u.words) for u in utts], gram, frames, clusters)
            slice_meta.append({"name": name, "set": set_name, "condition": cond, "kind": kind, "param": param,
                               "grammar": gram.name, "n": len(utts)})
            slices.append((name, (lambda s=set_name, k=kind, p=param, n=name: cached_array(
                out / "cache" / f"seq_{n}_{key}.npy",
                lambda: _features(condition_utterances(audio_of(s), k, p, noise_eval, rirs, cfg.seed,
                                                       seq.SEQ_MAX_SAMPLES))))))

    def calib_features():
        dev_bank = seq.word_bank("dev", cfg.data_root)
        n_d = cfg.calib_n // 2
        utts = (seq.generate(dev_bank, seq.GRAMMARS["digits"], n_d, cfg.seed + 17)
                + seq.generate(dev_bank, seq.GRAMMARS["commands"], cfg.calib_n - n_d, cfg.seed + 18))
        waves, _ = seq.load_sequence_audio(utts, seq.SEQ_MAX_SAMPLES)
        return _features(waves)

    calib = cached_array(out / "cache" / f"seq_calibration_{key}.npy", calib_features)
    fp32_onnx = ensure_source_model(store, out / "models" / "model.fp32.onnx",
                                    lambda tmp: export_ctc_onnx(net, tmp, n_frames))
    groups = {"speaker": np.array([u.speaker for u in real])}
    for col in cfg.group_by:
        if col != "speaker":
            vals = [u.groups.get(col) for u in real]
            if all(v is None for v in vals):
                raise ConfigError(f"--group-by {col}: the evaluation data has no column '{col}'",
                                  hint=f"columns: {', '.join(sorted(real[0].groups)) if real else 'none'}")
            groups[col] = np.array([v or "?" for v in vals])
    task = SequenceTask(vocab, task_sets)
    ctx = {"task": "sequence", "weights": weights, "data_root": cfg.data_root, "seed": cfg.seed,
           "progress": cfg.progress, "max_drop": cfg.max_drop,
           "seq": SequenceRecipeContext(weights, vocab, cfg.seed, cfg.data_root)}
    lat_files = [u.path for u in real if u.path][:5]
    from voxquant.data.sequences import SEQ_FRONTEND

    inputs = MatrixInputs(fp32_onnx=fp32_onnx, y=np.zeros(0, dtype=np.int64), labels=vocab, slices=slices,
                          calibration=calib, torch_model=net, frontend=SEQ_FRONTEND, layout="nchw",
                          latency_files=lat_files, recipe_context=ctx, task=task)
    settings = MatrixSettings(eval_threads=cfg.eval_threads, threads=tuple(cfg.threads), latency_runs=cfg.latency_runs,
                              latency_warmup=cfg.latency_warmup, recipe_options=cfg.recipe_options, progress=cfg.progress)
    with run_log_folder(out):
        run_matrix(store, out, plan, inputs, settings)
    res = assemble_sequence(cfg, store, plan, slice_meta, task_sets, groups, weights, meta, real_desc,
                            time.time() - t_start, skipped)
    write_json_atomic(out / "sequence_results.json", res)
    write_sequence_report(res, out)
    if cfg.progress:
        print(sequence_table(res))
    return res


# ------------------------------------------------------------------------------------------------ statistics


def assemble_sequence(cfg: SequenceConfig, store, plan, slice_meta: list, task_sets: dict, groups: dict, weights: Path,
                      meta: dict, real_desc: str, seconds: float, skipped: list) -> dict:
    """``sequence_results.json`` from the stored cells (no model is run here).

    Per variant: the engine's rows (:func:`voxquant.engine.assemble_variants`: size, int8 MAC share, float ops,
    sentence-accuracy slices and groups with paired CIs, latency) plus ``wer``: per slice WER / SER / S, D, I (grammar
    and greedy decode) and the WER increase vs fp32 with a paired bootstrap CI over speakers; ``wer_groups``: per
    group column and value on the first (real clean) slice; ``rtf``: model-only p50 / input duration.
    """
    from voxquant.data.sequences import SEQ_MAX_SECONDS
    from voxquant.engine import REFERENCE, assemble_variants
    from voxquant.eval.ctc import group_wer, paired_wer_diff

    names = [m["name"] for m in slice_meta]
    variants = assemble_variants(store, plan, names, threads=tuple(cfg.threads), n_boot=cfg.n_boot, seed=cfg.seed,
                                 groups=groups)

    def counts(v, s, kind="wer_counts"):
        k = f"{kind}/{v}/{s}"
        return store.get_array(k) if store.has_array(k) else None

    for v in variants:
        if v.get("status") != "ok":
            continue
        v["wer"] = {}
        for s in names:
            c = counts(v["name"], s)
            if c is None:
                continue
            cell = store.get(f"acc/{v['name']}/{s}")
            clusters = task_sets[s][3]
            row = {"wer": cell["wer"], "wer_ci": list(cell["wer_ci95"]), "ser": cell["ser"],
                   "S": cell["substitutions"], "D": cell["deletions"], "I": cell["insertions"],
                   "n_utts": cell["n_utts"], "n_words": cell["n_words"], "n_speakers": cell.get("n_speakers"),
                   "greedy_wer": cell["greedy"]["wer"], "greedy_ser": cell["greedy"]["ser"]}
            ref = counts(REFERENCE, s)
            if ref is not None and v["name"] != REFERENCE:
                d, dlo, dhi = paired_wer_diff(ref, c, clusters, cfg.n_boot, cfg.seed)
                row.update(wer_increase_pp=d, wer_increase_ci=[dlo, dhi])
                g = counts(REFERENCE, s, "wer_counts_greedy")
                cg = counts(v["name"], s, "wer_counts_greedy")
                if g is not None and cg is not None:
                    row["greedy_wer_increase_pp"] = paired_wer_diff(g, cg, clusters, cfg.n_boot, cfg.seed)[0]
            v["wer"][s] = row
        first = names[0]
        ref, c = counts(REFERENCE, first), counts(v["name"], first)
        if ref is not None and c is not None:
            v["wer_groups"] = group_wer(ref, c, groups, task_sets[first][3], cfg.n_boot, cfg.seed)
        lat = v.get("latency_ms") or {}
        if lat.get("model_p50"):
            v["rtf"] = lat["model_p50"] / (1000.0 * SEQ_MAX_SECONDS)
        cov = v.get("coverage") or {}
        macs = cov.get("macs_total")
        v["float_mac_share"] = (None if v.get("int8_mac_share") is None else 1.0 - float(v["int8_mac_share"]))
        v["macs_per_input"] = macs
    res = {
        "task": "sequence", "config": cfg.to_dict(), "reference": REFERENCE,
        "model": {"name": str(cfg.model), "weights": str(weights), "arch": meta.get("arch"),
                  "n_params": meta.get("n_params"), "vocab": list(meta.get("vocab") or []),
                  "train": meta.get("train"), "input_seconds": SEQ_MAX_SECONDS},
        "data": {"real": real_desc, "slices": slice_meta, "groups": sorted(groups),
                 "real_groups": {k: [str(x) for x in vals] for k, vals in groups.items()}},
        "variants": variants, "matrix_skipped": skipped, "seconds": seconds,
    }
    refs = task_sets[names[0]][0]
    hyps = {v["name"]: store.get(f"acc/{v['name']}/{names[0]}").get("hyps") for v in variants
            if v.get("status") == "ok" and store.has(f"acc/{v['name']}/{names[0]}")}
    acc = groups.get("accent")
    res["examples"] = [{"speaker": str(groups["speaker"][i]), "accent": None if acc is None else str(acc[i]),
                        "ref": " ".join(refs[i]), "hyps": {k: (h[i] if h else None) for k, h in hyps.items()}}
                       for i in range(min(12, len(refs)))]
    from voxquant.hardware import cpu_isa

    res["machine"] = {"isa": cpu_isa()}
    res["recommendation"] = recommend_sequence(res, cfg.max_drop)
    return res


#: Fewest speakers a group needs to be a "worst group" candidate (a 1-speaker group's CI is a point: no evidence).
MIN_GROUP_SPEAKERS = 3


def worst_group(v: dict, column: str | None = None, min_speakers: int = MIN_GROUP_SPEAKERS) -> dict | None:
    """The group (of ``column``, else of every non-speaker column) of at least ``min_speakers`` speakers with the
    largest WER increase vs fp32 on the real clean slice: ``{"column", "value", "drop_pp", "ci", "n", "n_speakers"}``
    (``None`` for the reference or when no group is large enough)."""
    best = None
    for col, rows in ((v.get("wer_groups") or {}).get("columns") or {}).items():
        if col == "speaker" or (column and col != column):
            continue
        for g in rows:
            if g.get("drop") is None or (g.get("n_speakers") or 0) < min_speakers:
                continue
            if best is None or g["drop"] > best["drop_pp"]:
                best = {"column": col, "value": g["group"], "drop_pp": g["drop"], "ci": g.get("ci95"), "n": g.get("n"),
                        "n_speakers": g.get("n_speakers")}
    return best


def recommend_sequence(res: dict, max_drop: float) -> dict:
    """The smallest variant whose WER increase vs fp32 is within ``max_drop`` pp on EVERY slice, judged on the
    upper bound of the paired bootstrap CI (:func:`voxquant.eval.rules.within_budget`); ties by size.

    Returns:
        ``{"choice", "reason", "budget_pp", "candidates": [{"name", "worst_slice", "worst_ci_hi", "ok"}]}``.
    """
    from voxquant.eval.rules import within_budget

    cands = []
    for v in res["variants"]:
        if v.get("status") != "ok":
            continue
        rows = [(s, r) for s, r in (v.get("wer") or {}).items() if "wer_increase_ci" in r]
        if v["name"] == res["reference"]:
            cands.append({"name": v["name"], "worst_slice": None, "worst_ci_hi": 0.0, "ok": True,
                          "size_bytes": v.get("size_bytes")})
            continue
        if not rows:
            continue
        s, r = max(rows, key=lambda sr: sr[1]["wer_increase_ci"][1])
        cands.append({"name": v["name"], "worst_slice": s, "worst_ci_hi": r["wer_increase_ci"][1],
                      "ok": within_budget(r["wer_increase_ci"][1], max_drop), "size_bytes": v.get("size_bytes")})
    ok = sorted([c for c in cands if c["ok"]], key=lambda c: (c["size_bytes"] or 0))
    if not ok:
        return {"choice": None, "reason": "no variant measured", "budget_pp": max_drop, "candidates": cands}
    choice = ok[0]
    if choice["name"] == res["reference"]:
        reason = (f"no smaller variant is within {max_drop:g} pp of fp32's WER on every slice at the upper end of its "
                  "95 % CI (with this many speakers an int8 loss cannot be ruled out): keep fp32")
    else:
        reason = (f"{choice['name']}: smallest variant whose WER increase is within {max_drop:g} pp on every slice, "
                  f"upper CI bound {choice['worst_ci_hi']:+.2f} pp on its worst slice ({choice['worst_slice']})")
    return {"choice": choice["name"], "reason": reason, "budget_pp": max_drop, "candidates": cands}


def sequence_table(res: dict) -> str:
    """The architecture x precision table as Markdown: WER on the real clean slice [CI], WER increase vs fp32
    [CI], worst accent group's increase, worst slice, float MAC share, size, RTF."""
    first = res["data"]["slices"][0]["name"]
    lines = [f"model {res['model']['name']} ({res['model'].get('arch')}), real set: {res['data']['real']}", "",
             "| variant | precision | WER % [95% CI] | ΔWER pp vs fp32 [95% CI] | SER % | worst accent ΔWER pp | "
             "worst slice ΔWER pp | float MACs % | size KB | RTF (1 thread) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for v in res["variants"]:
        if v.get("status") != "ok":
            lines.append(f"| {v['name']} | {v.get('precision')} | {v.get('status')}: {v.get('error') or ''} |||||||| ")
            continue
        r = (v.get("wer") or {}).get(first, {})
        inc = (f"{r['wer_increase_pp']:+.2f} [{r['wer_increase_ci'][0]:+.2f}, {r['wer_increase_ci'][1]:+.2f}]"
               if "wer_increase_pp" in r else "reference")
        wg = worst_group(v, "accent")
        ws = max(((s, x) for s, x in (v.get("wer") or {}).items() if "wer_increase_pp" in x),
                 key=lambda sx: sx[1]["wer_increase_pp"], default=None)
        fm = v.get("float_mac_share")
        lines.append(
            f"| {v['name']} | {v.get('precision')} | "
            + (f"{100 * r['wer']:.1f} [{100 * r['wer_ci'][0]:.1f}, {100 * r['wer_ci'][1]:.1f}]" if r else "-")
            + f" | {inc} | " + (f"{100 * r['ser']:.1f}" if r else "-")
            + " | " + (f"{wg['value']} {wg['drop_pp']:+.1f}" if wg else "-")
            + " | " + (f"{ws[0]} {ws[1]['wer_increase_pp']:+.1f}" if ws else "-")
            + " | " + ("-" if fm is None else f"{100 * fm:.0f}")
            + f" | {v.get('size_bytes', 0) / 1024:.0f} | " + (f"{v['rtf']:.4f}" if v.get("rtf") else "-") + " |")
    rec = res.get("recommendation") or {}
    lines += ["", f"recommendation: {rec.get('reason', '-')}"]
    return "\n".join(lines)


def _pct(x, digits: int = 1) -> str:
    return "-" if x is None else f"{100 * x:.{digits}f}"


def _ci(pp, ci) -> str:
    return "-" if pp is None else (f"{pp:+.1f} [{ci[0]:+.1f}, {ci[1]:+.1f}]" if ci else f"{pp:+.1f}")


def _ok(res: dict) -> list[dict]:
    return [v for v in res["variants"] if v.get("status") == "ok"]


def sequence_sections(res: dict) -> list[dict]:
    """The report of a sequence run as data sections (:mod:`voxquant.report.sections`): summary table and
    recommendation, WER per slice, per speaker group (figure + table), worst-decile speakers, error types and
    greedy vs grammar decoding, what ran in float, recipe details (QAT, mixed), example transcripts, provenance."""
    from voxquant.report.sections import figure, list_block, section, table, text, warning

    ok = _ok(res)
    first = res["data"]["slices"][0]["name"]
    out = []
    rec = res.get("recommendation") or {}
    rows, hl = [], []
    for i, v in enumerate(res["variants"]):
        if v.get("status") != "ok":
            rows.append([v["name"], v.get("precision"), f"{v.get('status')}: {v.get('error') or ''}"[:120]] + [None] * 7)
            continue
        r = (v.get("wer") or {}).get(first, {})
        wg = worst_group(v, "accent")
        ws = max(((s, x) for s, x in (v.get("wer") or {}).items() if "wer_increase_pp" in x),
                 key=lambda sx: sx[1]["wer_increase_pp"], default=None)
        rows.append([v["name"], v.get("precision"),
                     f"{_pct(r.get('wer'))} [{_pct((r.get('wer_ci') or [None])[0])}, {_pct((r.get('wer_ci') or [None, None])[1])}]" if r else "-",
                     _ci(r.get("wer_increase_pp"), r.get("wer_increase_ci")) if "wer_increase_pp" in r else "reference",
                     _pct(r.get("ser")),
                     f"{wg['value']}: {_ci(wg['drop_pp'], wg['ci'])}" if wg else "-",
                     f"{ws[0]}: {ws[1]['wer_increase_pp']:+.1f}" if ws else "-",
                     _pct(v.get("float_mac_share"), 0),
                     round((v.get("size_bytes") or 0) / 1024, 1),
                     None if not v.get("rtf") else round(v["rtf"], 4)])
        if v.get("name") == rec.get("choice"):
            hl.append([i, -1])
    out.append(section("Summary: architecture x precision", [
        text(f"Model **{res['model']['name']}** ({res['model'].get('arch')}, {res['model'].get('n_params') or '?'} "
             f"parameters), real set: {res['data']['real']}. WER and its 95 % CI: bootstrap over speakers "
             "(Bisani & Ney 2004); increases vs fp32 on the same utterances, paired. Grammar-constrained decoding."),
        table(["variant", "precision", f"WER % {first} [95% CI]", "ΔWER pp vs fp32 [95% CI]", "SER %",
               "worst accent ΔWER pp (>= 3 speakers)", "worst slice ΔWER pp", "float MACs %", "size KB", "RTF (1 thread)"],
              rows, highlight=hl, caption="Highlighted: the recommendation. RTF = model-only p50 of one "
              f"{res['model'].get('input_seconds')} s input / its duration."),
        text(f"**Recommendation** (budget {rec.get('budget_pp')} pp WER increase, CI upper bound on every slice): "
             f"{rec.get('reason', '-')}"),
        figure("seq_wer_cost", {"title": f"{res['model']['name']}: WER vs compute", "points": [
            {"name": v["name"], "wer": (v.get("wer") or {}).get(first, {}).get("wer"),
             "lo": ((v.get("wer") or {}).get(first, {}).get("wer_ci") or [None])[0],
             "hi": ((v.get("wer") or {}).get(first, {}).get("wer_ci") or [None, None])[1],
             "rtf": v.get("rtf"), "size_bytes": v.get("size_bytes")} for v in ok]},
            caption="WER on the real connected digits (clean) against the real-time factor; marker area ~ size."),
    ]))
    # per slice
    names = [m["name"] for m in res["data"]["slices"]]
    srows = []
    for s_ in names:
        row = [s_, next(m["n"] for m in res["data"]["slices"] if m["name"] == s_)]
        for v in ok:
            r = (v.get("wer") or {}).get(s_)
            row.append("-" if not r else (f"{_pct(r['wer'])}" + ("" if "wer_increase_pp" not in r else
                                                                  f" ({_ci(r['wer_increase_pp'], r['wer_increase_ci'])})")))
        srows.append(row)
    out.append(section("WER per slice", [
        text("Each set (real connected digits; held-out synthetic digit strings and robot commands of eval speakers) "
             "under each acoustic condition: WER % (increase vs fp32 in pp [95% CI]). Noise is real background noise "
             "from the held-out half of each recording; reverb uses real RIRs."),
        table(["slice", "utterances", *[v["name"] for v in ok]], srows)]))
    # groups
    blocks = []
    for col in [c for c in res["data"]["groups"] if c != "speaker"]:
        labels, per = [], {}
        ref = next((v for v in ok if v["name"] == res["reference"]), None)
        entries = {v["name"]: {e["group"]: e for e in ((v.get("wer_groups") or {}).get("columns") or {}).get(col, [])}
                   for v in ok}
        labels = sorted({g for d in entries.values() for g in d})
        if not labels:
            continue
        grows = []
        for g in labels:
            e0 = next((entries[v["name"]][g] for v in ok if g in entries[v["name"]]), None)
            row = [g, e0.get("n_speakers") if e0 else None, _pct(e0.get("wer_ref")) if e0 else "-"]
            for v in ok:
                if v is ref:
                    continue
                e = entries[v["name"]].get(g)
                row.append("-" if not e else _ci(e["drop"], e.get("ci95")))
            grows.append(row)
        for v in ok:
            d = {"wer": [], "lo": [], "hi": []}
            for g in labels:
                e = entries[v["name"]].get(g)
                d["wer"].append(e["wer"] if e else None)
                d["lo"].append(None)
                d["hi"].append(None)
            per[v["name"]] = d
        blocks += [figure("seq_group_wer", {"title": f"WER per {col} (real connected digits, clean)", "groups": labels,
                                            "variants": per}, caption=f"WER per {col} group and variant."),
                   table([col, "speakers", "fp32 WER %", *[f"{v['name']} ΔWER pp [95% CI]" for v in ok if v is not ref]],
                         grows, caption="CIs resample speakers within the group; groups of 1-2 speakers have "
                         "uninformative CIs.")]
    wd = [(v["name"], (v.get("wer_groups") or {}).get("worst_decile")) for v in ok if v["name"] != res["reference"]]
    wd = [(n, e) for n, e in wd if e]
    if wd:
        blocks.append(table(["variant", "worst-decile speakers", "fp32 WER %", "variant WER %", "ΔWER pp [95% CI]"],
                            [[n, len(e.get("speakers") or []), _pct(e.get("wer_ref")), _pct(e.get("wer")),
                              _ci(e.get("drop"), e.get("ci95"))] for n, e in wd],
                            caption="The 10 % of speakers with the highest fp32 WER: are the hardest speakers hit harder?"))
    if blocks:
        out.append(section("Per speaker group (accent, native vs non-native)", blocks))
    # errors
    erows = []
    for v in ok:
        r = (v.get("wer") or {}).get(first)
        if r:
            erows.append([v["name"], r["S"], r["D"], r["I"], r["n_words"], _pct(r["wer"]), _pct(r.get("greedy_wer")),
                          _pct(r.get("ser")), _pct(r.get("greedy_ser"))])
    out.append(section("Error types and decoding", [
        text("Substitutions, deletions and insertions on the real connected digits (clean); grammar-constrained vs "
             "unconstrained greedy CTC decoding of the same outputs."),
        table(["variant", "S", "D", "I", "reference words", "WER % grammar", "WER % greedy", "SER % grammar",
               "SER % greedy"], erows)]))
    # float ops
    frows = []
    for v in ok:
        cov = v.get("coverage") or {}
        fc = cov.get("float_compute") or {}
        frows.append([v["name"], v.get("precision"), _pct(v.get("int8_mac_share"), 0),
                      ", ".join(f"{k} x{n}" for k, n in sorted(fc.items())) or "-", cov.get("note") or ""])
    out.append(section("What ran in int8, what stayed float", [
        text("Share of the model's multiply-accumulates that run in int8 and the compute ops left in float (attention "
             "MatMul / Softmax / LayerNorm / Swish for the Conformer), read from each built artefact."),
        table(["variant", "precision", "int8 MACs %", "float compute ops", "note"], frows)]))
    # recipes
    rblocks = []
    for v in ok:
        side = v.get("recipe_details")
        if not side:
            continue
        if v["recipe"] == "qat":
            rblocks.append(text(f"**qat**: fine-tuned {side.get('minutes')} min, held-out greedy WER of the QAT graph "
                                f"{_pct(side.get('heldout_wer_qat_torch'))} %, weight bits {side.get('weight_bits')}."))
        if v["recipe"] == "mixed":
            fl = ", ".join(f"{x.get('layer') or x.get('node')} ({x.get('op')})" for x in side.get("float_layers") or [])
            rblocks.append(text(f"**mixed**: budget {side.get('max_drop')} pp ({side.get('budget')}); met: "
                                f"{side.get('met')} ({side.get('stop')}); {len(side.get('float_layers') or [])} of "
                                f"{side.get('n_layers')} layers in float: {fl or 'none'}."))
    if rblocks:
        out.append(section("QAT and mixed precision", rblocks))
    # examples
    ex = res.get("examples") or []
    if ex:
        out.append(section("Example transcripts (real connected digits, clean)", [
            table(["speaker", "accent", "reference", *[k for k in ex[0]["hyps"]]],
                  [[e["speaker"], e.get("accent"), e["ref"], *e["hyps"].values()] for e in ex])]))
    prov = [f"machine ISA: {res.get('machine', {}).get('isa')}", f"seconds: {res.get('seconds', 0):.0f}",
            f"weights: {res['model'].get('weights')}"]
    tr = res["model"].get("train") or {}
    if tr:
        prov.append(f"training: {tr.get('seconds')} s, held-out greedy WER {tr.get('heldout_wer')}, "
                    f"{tr.get('utterances_seen')} utterances seen")
    skipped = res.get("matrix_skipped") or []
    blocks = [list_block(prov)]
    if skipped:
        blocks.append(warning("; ".join(f"{x['recipe']}@{x['backend']}: {x['reason']}" for x in skipped)))
    out.append(section("Provenance", blocks))
    return out


def write_sequence_report(res: dict, out: Path) -> None:
    """``report.html`` (a sections page rendered with the report's Jinja2 templates) into ``out``."""
    from voxquant.report.streaming import write_sections_page

    write_sections_page(sequence_sections(res), Path(out) / "report.html",
                        title="voxquant command recognition (sequence) report",
                        subtitle=f"model {res['model']['name']} · {res['data']['real']}")


__all__ = ["SEQ_MODELS", "SEQ_RECIPES", "SequenceConfig", "SequenceRecipeContext", "SequenceTask", "assemble_sequence", "condition_utterances",
           "load_real_set", "manifest_utterances", "recommend_sequence", "resolve_sequence_model", "run_sequence",
           "sequence_sections", "sequence_table", "worst_group", "write_sequence_report"]
