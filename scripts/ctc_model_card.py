"""Write src/voxquant/models/weights/MODEL_CARD_CTC.md from the two committed .pt files' metadata (run after training:
``python scripts/ctc_model_card.py``)."""
import torch
from pathlib import Path
W = Path(__file__).resolve().parents[1] / "src" / "voxquant" / "models" / "weights"
ARCH = {
 "conv": "QuartzNet/Jasper-style (Kriman et al. 2020, arXiv:1910.10261), `ConvCTC`: (11 x 40) stride-2 conv stem "
         "(= Conv1d over the 40 mel bands, time stride 2), 5 blocks x 2 depthwise-separable time convs (kernels "
         "13, 15, 17, 21, 25; 128 channels; BatchNorm (frozen during training: an affine layer), ReLU, 1x1-conv residual), separable conv k=29 to 192 "
         "channels, 1x1 conv to 21, log-softmax. All convs are `Conv2d` with (k, 1) kernels on [N, C, T, 1].",
 "conformer": "Conformer (Gulati et al. 2020, arXiv:2005.08100), `ConformerCTC`: 2 x (3x3 stride-2 conv) "
         "subsampling (64 ch; x4 in time, 40 -> 10 mel), linear to d_model 128, absolute sinusoidal positional "
         "encoding (not the paper's relative encoding: a constant table, plain ONNX Add, quantizer-friendly), 3 "
         "Conformer blocks (macaron half-step FFNs x4 with Swish, 4-head self-attention written as MatMul/Softmax, "
         "conv module: pointwise + GLU, depthwise k=15, BatchNorm (frozen during training), Swish, pointwise; LayerNorm), linear to 21, "
         "log-softmax. No attention mask (evaluation feeds one zero-padded 14 s shape without lengths).",
}
out = ["# Model card: word-level CTC command models (`ctc_conv_cmd.pt`, `ctc_conformer_cmd.pt`)", "",
       "Task `sequence` (issue 12): multi-word command recognition. Input `float32 [N, 1, T, 40]` log-mel frames "
       "(`voxquant.data.sequences.SEQ_FRONTEND`: 25 ms window, 10 ms hop, FFT 512, 40 mel 20-7600 Hz, ln(x + 1e-6)); "
       "output CTC log-probabilities `float32 [N, T // stride, 21]` over `<blank>` + 10 digits + the 10 Speech "
       "Commands command words. Load with `voxquant.models.ctc.load_ctc`; reproduce with "
       "`voxquant.models.train_ctc.train_sequence_model(arch, out, minutes, seed=0, threads=2)` (not bit-exact: "
       "the budget is wall-clock minutes, so the step count depends on the machine's load).", ""]
for arch in ("conv", "conformer"):
    p = W / f"ctc_{arch}_cmd.pt"
    if not p.is_file():
        out += [f"## `{p.name}`", "", "**Not trained** (see the report).", ""]
        continue
    m = torch.load(p, weights_only=True)
    t = m["train"]; d = t["data"]; r = t["recipe"]
    evals = t["eval"]
    curve = ", ".join(f"{e['step']}: {e['heldout_wer']*100:.1f} %" for e in evals)
    out += [f"## `{p.name}` ({arch}, stride {4 if arch == 'conformer' else 2})", "",
            f"* **Architecture**: {ARCH[arch]}",
            f"* **Parameters**: {t['n_parameters']:,} trainable; config `{m['config'] or 'constructor defaults'}`; "
            f"file {p.stat().st_size/1e6:.1f} MB.",
            f"* **Training data** (generated on the fly, never stored): {d['words']}. Sentences from both grammars "
            f"(`GRAMMARS`: digits {d['grammars']['digits']:.0%}, commands {d['grammars']['commands']:.0%}); "
            f"{d['sentences']}. 10 % of the dev speakers (crc32(speaker) % 100 < 10) are held out of training. "
            "Note the digit words of the dev bank come mostly from FSDD's 6 speakers (Speech Commands has ~15 "
            "clips per digit in the dev half), so accented/unseen-speaker digits are the hard case.",
            f"* **Augmentation**: noise {d['augmentation']['noise']}; reverb: {d['augmentation']['rir']}; gain "
            f"{d['augmentation']['gain_db']} dB; SpecAugment {d['augmentation']['spec_augment']}; "
            f"{d['augmentation']['padding']}.",
            (f"* **Stage 1, isolated-word pre-training** (`pretrain_words`): {d['pretrain']['seconds'] / 60:.1f} min, "
             f"{d['pretrain']['steps']} steps, pooled cross-entropy on single-word sentences; train-batch accuracy at "
             f"the end {100 * (d['pretrain']['accuracy_last_100'] or 0):.0f} %." if d.get("pretrain") else "* No pre-training stage."),
            f"* **Stage 2, recipe**: CTC (blank 0, zero_infinity), AdamW (peak lr {r['lr']}, weight decay {r['weight_decay']}), "
            f"linear warm-up {r['warmup_frac']:.0%} of the budget then cosine to {r['final_lr_frac']} x peak (schedule on "
            f"the elapsed share of the {r['max_minutes']:.1f}-min budget), grad-norm clip {r['grad_clip']}, batch "
            f"{t['batch_size']}, {r['threads']} torch threads, seed {t['seed']}, denormals flushed, BatchNorm frozen (`freeze_batchnorm`: with batch statistics neither model left the all-blank plateau).",
            f"* **Training run**: {t['seconds']/60:.1f} min wall clock on a shared 2-core x86_64 CPU (1 torch thread; "
            f"the conv and conformer runs ran side by side), {t['steps']} CTC steps, {t['utterances_seen']:,} "
            f"sentences seen; the weights are the checkpoint of the best held-out evaluation (step {t['best_step']}); "
            f"run ended normally: {t['final']}. torch {t['torch']}.",
            (f"* **Continued** (`voxquant.models.train_ctc.continue_training`: more stage-2 CTC on "
             f"`models.train_ctc.sequence_batches` data): {t['continued']['minutes']} min at lr {t['continued']['lr']}, "
             f"held-out greedy WER {100 * t['continued']['heldout_wer']:.1f} % on "
             f"{t['continued']['data']['heldout']} (best step {t['continued']['best_step']})."
             if t.get("continued") else "* Not continued after stage 2."),
            f"* **Model selection / result**: greedy-decoding WER on {d['heldout']}: "
            f"**{t['heldout_wer']*100:.1f} %** (best; curve step: WER = {curve}).",
            f"* **Never used for training or selection**: {d['never_used']}. Its WER (the real accented "
            "connected-digit result) is measured by the `sequence` task, not here.", ""]
out += ["## Caveats", "",
        "* Trained in minutes on 2 shared CPU cores: these are small demonstration models for measuring what "
        "quantization costs, not competitive recognizers. The held-out WER above is on *synthetic* sequences of "
        "isolated words (concatenated with silences), clean; real connected speech (coarticulation, accents) is "
        "harder -- `alphanumeric_accents` is never seen in training and is the honest test.",
        "* FSDD speakers appear in both the dev and eval word banks (disjoint recordings, not speakers).", ""]
(W / "MODEL_CARD_CTC.md").write_text("\n".join(out))
print("\n".join(out))
