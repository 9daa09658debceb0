"""Small word-level CTC models for multi-word command recognition (issue 12, task "sequence").

Two architectures, both ``forward(x float32 [N, 1, T, 40]) -> float32 [N, T', 21]`` CTC **log-probabilities**
(``log_softmax`` over the vocabulary inside the model, blank = index 0), ``T' = T // stride``:

* :class:`ConvCTC` -- QuartzNet/Jasper-style (Kriman et al. 2020, "QuartzNet: Deep automatic speech recognition
  with 1D time-channel separable convolutions", arXiv:1910.10261): a strided stem (x2 in time), blocks of
  depthwise-separable time convolutions with growing kernels, BatchNorm, ReLU and residual connections, 1x1
  convolutions to the vocabulary. Every convolution is written as ``Conv2d`` with a ``(k, 1)`` kernel on an
  ``[N, C, T, 1]`` tensor (the stem is a ``(11, 40)`` kernel over the whole mel axis): the same maths as
  ``Conv1d``, in the NCHW 2-D convolutions every backend/quantizer of voxquant handles best.
* :class:`ConformerCTC` -- Conformer (Gulati et al. 2020, "Conformer: Convolution-augmented Transformer for Speech
  Recognition", arXiv:2005.08100): 2-layer conv2d subsampling x4, Conformer blocks (macaron half-step FFNs with
  Swish, multi-head self-attention, convolution module with pointwise conv + GLU + depthwise conv + BatchNorm +
  Swish + pointwise conv, final LayerNorm), a linear layer to the vocabulary. **Positional encoding**: absolute
  sinusoidal (Vaswani et al. 2017) added after the subsampling, instead of the paper's relative positional
  encoding (Transformer-XL): it is a constant table, exports to plain ONNX ``Add`` and needs no custom attention
  kernels that quantizers/converters choke on. No attention mask: evaluation feeds one static, zero-padded shape
  (14 s) without lengths, so the model is trained on padded batches the same way.

Weights file (``.pt``, :func:`save_ctc` / :func:`load_ctc`): ``torch.save({"arch", "config": ctor kwargs,
"state_dict", "vocab", "frontend": FrontendConfig dict, "task": "sequence", "train": {...}})``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from voxquant.errors import ModelError

#: Word-level CTC vocabulary (blank = 0). Kept equal to ``voxquant.data.sequences.SEQ_VOCAB`` (checked by a test);
#: duplicated here so that constructing a model does not import the data layer.
CTC_VOCAB = ("<blank>", "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
             "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
N_MELS = 40


def _check_input(x: torch.Tensor, n_mels: int) -> None:
    if x.dim() != 4 or x.shape[1] != 1 or x.shape[3] != n_mels:
        raise ModelError(f"CTC model input must be float32 [N, 1, T, {n_mels}], got {tuple(x.shape)}")


def _small_output_init(layer: nn.Module, scale: float = 0.1) -> None:
    """Start near uniform log-probabilities (default init gave initial CTC losses ~40x log(21) per word)."""
    with torch.no_grad():
        layer.weight.mul_(scale)
        layer.bias.zero_()


class _SepConv(nn.Module):
    """Depthwise (k x 1, groups=C) + pointwise (1x1) conv + BatchNorm on ``[N, C, T, 1]``."""

    def __init__(self, c_in: int, c_out: int, k: int):
        super().__init__()
        self.dw = nn.Conv2d(c_in, c_in, (k, 1), padding=(k // 2, 0), groups=c_in, bias=False)
        self.pw = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x):
        return self.bn(self.pw(self.dw(x)))


class _QuartzBlock(nn.Module):
    """QuartzNet block B_i: ``repeat`` separable conv units (ReLU between), a 1x1 conv + BN residual added before
    the last ReLU."""

    def __init__(self, c_in: int, c_out: int, k: int, repeat: int, dropout: float):
        super().__init__()
        self.units = nn.ModuleList([_SepConv(c_in if i == 0 else c_out, c_out, k) for i in range(repeat)])
        self.res = nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out))
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        y = x
        for i, u in enumerate(self.units):
            y = u(y)
            if i < len(self.units) - 1:
                y = self.drop(F.relu(y))
        return self.drop(F.relu(y + self.res(x)))


class ConvCTC(nn.Module):
    """QuartzNet-style CTC model (Kriman et al. 2020), stride 2 in time.

    Args:
        n_vocab: outputs (21 = :data:`CTC_VOCAB`).
        n_mels: mel bands of the input (40).
        channels: width of the blocks.
        kernels: one time-kernel per block (odd), e.g. ``(13, 15, 17, 21, 25)`` -- QuartzNet's growing kernels.
        repeat: separable units per block (QuartzNet's R).
        head_channels: width of the last separable conv (kernel 29) before the 1x1 classifier.

    Defaults (the committed ``ctc_conv_cmd.pt``): 128 channels, 5 blocks x 2 units, 362,197 parameters -- a
    QuartzNet 5x2 narrowed to fit a 2-core CPU training budget.
        dropout: dropout after each ReLU while training.

    Input ``float32 [N, 1, T, n_mels]`` (log-mel frames at 10 ms); output ``float32 [N, T // 2, n_vocab]``
    log-probabilities. The stem pads 5 frames before and 4 after, so ``T' = T // 2`` exactly. Receptive field
    (default): about 2 x (11 + sum of (k - 1) x repeat + 28) frames ~ 4 s.
    """

    arch = "conv"
    stride = 2

    def __init__(self, n_vocab: int = len(CTC_VOCAB), n_mels: int = N_MELS, channels: int = 128,
                 kernels=(13, 15, 17, 21, 25), repeat: int = 2, head_channels: int = 192, dropout: float = 0.1):
        super().__init__()
        self.vocab = CTC_VOCAB if n_vocab == len(CTC_VOCAB) else tuple(str(i) for i in range(n_vocab))
        self.n_mels = n_mels
        self.stem = nn.Sequential(nn.Conv2d(1, channels, (11, n_mels), stride=(2, 1), bias=False),
                                  nn.BatchNorm2d(channels), nn.ReLU())
        self.blocks = nn.Sequential(*[_QuartzBlock(channels, channels, int(k), repeat, dropout) for k in kernels])
        self.head = nn.Sequential(_SepConv(channels, head_channels, 29), nn.ReLU(), nn.Dropout(dropout),
                                  nn.Conv2d(head_channels, n_vocab, 1))
        _small_output_init(self.head[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.n_mels)
        x = F.pad(x, (0, 0, 5, 4))                      # time: 5 before, 4 after -> T // 2 frames out
        y = self.head(self.blocks(self.stem(x)))        # [N, V, T', 1]
        return F.log_softmax(y[..., 0].transpose(1, 2), dim=-1)


class _FeedForward(nn.Module):
    def __init__(self, d: int, mult: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, d * mult), nn.SiLU(), nn.Dropout(dropout),
                                 nn.Linear(d * mult, d), nn.Dropout(dropout))

    def forward(self, x):
        return self.net(x)


class _SelfAttention(nn.Module):
    """Pre-LN multi-head self-attention written with Linear/MatMul/Softmax (no fused attention op)."""

    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        self.ln = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.heads, self.dk = heads, d // heads
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        n, t, d = x.shape
        q, k, v = self.qkv(self.ln(x)).reshape(n, t, 3, self.heads, self.dk).permute(2, 0, 3, 1, 4)
        att = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(self.dk)), dim=-1)
        y = torch.matmul(self.drop(att), v).transpose(1, 2).reshape(n, t, d)
        return self.drop(self.out(y))


class _ConvModule(nn.Module):
    """Conformer convolution module: LN, pointwise (2d) + GLU, depthwise (k), BatchNorm, Swish, pointwise."""

    def __init__(self, d: int, k: int, dropout: float):
        super().__init__()
        self.ln = nn.LayerNorm(d)
        self.pw1 = nn.Linear(d, 2 * d)
        self.dw = nn.Conv2d(d, d, (k, 1), padding=(k // 2, 0), groups=d, bias=False)
        self.bn = nn.BatchNorm2d(d)
        self.pw2 = nn.Linear(d, d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):                                          # [N, T, d]
        y = F.glu(self.pw1(self.ln(x)), dim=-1)
        y = F.silu(self.bn(self.dw(y.transpose(1, 2).unsqueeze(-1))))   # [N, d, T, 1]
        return self.drop(self.pw2(y[..., 0].transpose(1, 2)))


class _ConformerBlock(nn.Module):
    def __init__(self, d: int, heads: int, ff_mult: int, conv_kernel: int, dropout: float):
        super().__init__()
        self.ff1 = _FeedForward(d, ff_mult, dropout)
        self.att = _SelfAttention(d, heads, dropout)
        self.conv = _ConvModule(d, conv_kernel, dropout)
        self.ff2 = _FeedForward(d, ff_mult, dropout)
        self.ln = nn.LayerNorm(d)

    def forward(self, x):
        x = x + 0.5 * self.ff1(x)
        x = x + self.att(x)
        x = x + self.conv(x)
        x = x + 0.5 * self.ff2(x)
        return self.ln(x)


def sinusoidal_table(n: int, d: int) -> torch.Tensor:
    """Absolute sinusoidal positional encoding (Vaswani et al. 2017): ``float32 [n, d]``."""
    pos = torch.arange(n, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10000.0) / d))
    pe = torch.zeros(n, d)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe


class ConformerCTC(nn.Module):
    """Small Conformer CTC model (Gulati et al. 2020), stride 4 in time.

    Args:
        n_vocab: outputs (21).
        n_mels: mel bands (40; must be divisible by 4).
        d_model: attention width; heads: attention heads; n_blocks: Conformer blocks; ff_mult: FFN expansion;
        conv_kernel: depthwise kernel of the conv module (odd); sub_channels: channels of the subsampling convs;
        dropout: dropout while training; max_frames: length of the positional table in output frames (>= T // 4;
        default 1024 = 41 s of audio).

    Defaults (the committed ``ctc_conformer_cmd.pt``): d_model 128, 4 heads, 3 blocks, FFN x4, conv kernel 15,
    1,269,781 parameters.

    Input ``float32 [N, 1, T, n_mels]``; output ``float32 [N, T // 4, n_vocab]`` log-probabilities. The input is
    cropped to a multiple of 4 frames, then two 3x3 stride-2 convs (padding 1) halve time and frequency twice.
    """

    arch = "conformer"
    stride = 4

    def __init__(self, n_vocab: int = len(CTC_VOCAB), n_mels: int = N_MELS, d_model: int = 128, heads: int = 4,
                 n_blocks: int = 3, ff_mult: int = 4, conv_kernel: int = 15, sub_channels: int = 64,
                 dropout: float = 0.1, max_frames: int = 1024):
        super().__init__()
        if n_mels % 4:
            raise ModelError(f"ConformerCTC needs n_mels divisible by 4, got {n_mels}")
        self.vocab = CTC_VOCAB if n_vocab == len(CTC_VOCAB) else tuple(str(i) for i in range(n_vocab))
        self.n_mels = n_mels
        self.sub = nn.Sequential(nn.Conv2d(1, sub_channels, 3, stride=2, padding=1, bias=False),
                                 nn.BatchNorm2d(sub_channels), nn.ReLU(),
                                 nn.Conv2d(sub_channels, sub_channels, 3, stride=2, padding=1), nn.ReLU())
        self.proj = nn.Linear(sub_channels * (n_mels // 4), d_model)
        self.register_buffer("pe", sinusoidal_table(max_frames, d_model), persistent=False)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList([_ConformerBlock(d_model, heads, ff_mult, conv_kernel, dropout)
                                     for _ in range(n_blocks)])
        self.out = nn.Linear(d_model, n_vocab)
        _small_output_init(self.out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.n_mels)
        t = (x.shape[2] // 4) * 4
        y = self.sub(x[:, :, :t])                              # [N, C, T/4, F/4]
        n, c, t4, f4 = y.shape
        y = self.proj(y.permute(0, 2, 1, 3).reshape(n, t4, c * f4))
        y = self.drop(y + self.pe[:t4])
        for b in self.blocks:
            y = b(y)
        return F.log_softmax(self.out(y), dim=-1)


CTC_ARCHS = {"conv": ConvCTC, "conformer": ConformerCTC}


def n_parameters(model: nn.Module) -> int:
    """Trainable parameters (BatchNorm running statistics excluded)."""
    return int(sum(p.numel() for p in model.parameters()))


def build_ctc(arch: str, config: dict | None = None) -> nn.Module:
    """Construct ``CTC_ARCHS[arch](**config)``. Raises ModelError for an unknown architecture."""
    if arch not in CTC_ARCHS:
        raise ModelError(f"unknown CTC architecture {arch!r} (known: {sorted(CTC_ARCHS)})")
    return CTC_ARCHS[arch](**(config or {}))


def save_ctc(model: nn.Module, path, meta: dict | None = None, config: dict | None = None) -> Path:
    """Save a CTC model atomically (:func:`voxquant.atomic.write_atomic`) in the sequence weights format.

    Args:
        model: a :class:`ConvCTC` / :class:`ConformerCTC`.
        path: ``.pt`` file to write.
        meta: optional keys merged into the saved dict (``frontend`` dict, ``train`` description, ...; converted to
            plain JSON types so that the file loads with ``weights_only=True``); ``config``
            (constructor kwargs) is taken from ``meta["config"]`` or ``config`` or the model's ``config`` attribute.

    Returns:
        ``path``.
    """
    from voxquant.atomic import write_atomic

    import json

    from voxquant.atomic import to_jsonable

    # plain JSON types only (e.g. torch.__version__ is a TorchVersion): load_ctc reads with weights_only=True
    meta = json.loads(json.dumps(to_jsonable(dict(meta or {}))))
    cfg = meta.pop("config", None) or config or getattr(model, "config", None) or {}
    obj = {"arch": model.arch, "config": json.loads(json.dumps(to_jsonable(dict(cfg)))), "state_dict": model.state_dict(), "vocab": list(model.vocab),
           "task": "sequence", **meta}
    if "frontend" not in obj:
        from voxquant.audio.frontend import FrontendConfig

        obj["frontend"] = FrontendConfig(sample_rate=16000, clip_samples=224000, window_ms=25.0, hop_ms=10.0,
                                         n_fft=512, n_mels=40, f_min=20.0, f_max=7600.0, n_mfcc=0,
                                         name="logmel40-10ms").to_dict()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda fh: torch.save(obj, fh))
    return path


def load_ctc(path) -> tuple[nn.Module, dict]:
    """Load a CTC sequence model saved by :func:`save_ctc`.

    Args:
        path: ``.pt`` weights file (read with ``torch.load(weights_only=True)``: no arbitrary unpickling).

    Returns:
        ``(model, meta)``: the model in eval mode (``config`` attribute = constructor kwargs) and the saved dict
        without ``state_dict``.

    Raises:
        ModelError: missing file, not a torch file, not a dict with ``task == "sequence"`` (e.g. a classifier's
            state dict), an unknown architecture, a vocabulary that differs from the model's, or weights that do
            not fit the recorded architecture -- the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: CTC weights file not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a corrupt/foreign file
        raise ModelError(f"{path}: not a PyTorch weights file ({type(exc).__name__}: {str(exc)[:200]})") from None
    if not isinstance(obj, dict) or obj.get("task") != "sequence" or "state_dict" not in obj or "arch" not in obj:
        raise ModelError(f"{path}: not a voxquant sequence (CTC) model: expected a dict with task='sequence', "
                         f"'arch' and 'state_dict' (see voxquant.models.ctc.save_ctc)")
    cfg = obj.get("config") or {}
    if not isinstance(cfg, dict):
        raise ModelError(f"{path}: 'config' must be a dict of constructor arguments, got {type(cfg).__name__}")
    try:
        model = build_ctc(str(obj["arch"]), cfg)
    except ModelError as exc:
        raise ModelError(f"{path}: {exc}") from None
    except TypeError as exc:
        raise ModelError(f"{path}: bad 'config' for architecture {obj['arch']!r}: {exc}") from None
    vocab = tuple(obj.get("vocab") or ())
    if vocab != tuple(model.vocab):
        raise ModelError(f"{path}: vocabulary {vocab} differs from the model's {tuple(model.vocab)}")
    try:
        model.load_state_dict(obj["state_dict"])
    except (RuntimeError, KeyError, TypeError) as exc:
        raise ModelError(f"{path}: weights do not fit architecture {obj['arch']!r}: {str(exc)[:300]}") from None
    model.config = dict(cfg)
    model.eval()
    meta = {k: v for k, v in obj.items() if k != "state_dict"}
    return model, meta


def export_ctc_onnx(model: nn.Module, out, n_frames: int, opset: int = 18, *, atol: float = 1e-3,
                    seed: int = 0) -> Path:
    """Export a CTC model to one self-contained ONNX file (fixed time length, symbolic batch) and check it.

    Uses ``torch.onnx.export(dynamo=True)`` with ``external_data=False`` on both the export and the save (torch
    2.13 would otherwise write a ``.onnx.data`` side file), like :func:`voxquant.quant.export.export_onnx` (which
    models may not import: it is a higher layer). The file is written under a temporary name and moved onto
    ``out`` only when the ONNX checker passes and ONNX Runtime's log-probabilities on a random batch of 2 inputs
    (``float32 [2, 1, n_frames, 40]``, log-mel-like values) match the torch model (max |diff| <= ``atol``).

    Args:
        model: :class:`ConvCTC` / :class:`ConformerCTC` (put in eval mode).
        out: ``.onnx`` path; n_frames: input frames T (e.g. 1398 for 14 s at 10 ms hop); opset: ONNX opset.
        atol: parity tolerance on log-probabilities.

    Returns:
        ``out``. Input ``input`` ``float32 [batch, 1, n_frames, 40]``; output ``logprobs`` ``[batch, T', 21]``.

    Raises:
        ModelError: the export fails or ONNX Runtime disagrees with torch (names ``out`` and the max |diff|).
    """
    import logging
    import warnings

    import onnx
    import onnxruntime as ort

    from voxquant.atomic import atomic_path

    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    model = model.eval()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    n_mels = getattr(model, "n_mels", N_MELS)
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((2, 1, int(n_frames), n_mels)) * 3.0 - 5.0).astype(np.float32)
    xt = torch.from_numpy(x)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prog = torch.onnx.export(model, (xt[:1],), None, input_names=["input"], output_names=["logprobs"],
                                     opset_version=opset, dynamo=True, external_data=False, verbose=False,
                                     dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=4096)},))
            prog.optimize()
    except Exception as exc:  # noqa: BLE001 - the exporter raises many types
        raise ModelError(f"{out}: ONNX export of the {getattr(model, 'arch', '?')} CTC model failed: "
                         f"{type(exc).__name__}: {str(exc)[:300]}") from None
    with atomic_path(out) as tmp:
        prog.save(str(tmp), external_data=False)
        onnx.checker.check_model(onnx.load(str(tmp)))
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        sess = ort.InferenceSession(str(tmp), so, providers=["CPUExecutionProvider"])
        got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        with torch.no_grad():
            ref = model(xt).numpy()
        if got.shape != ref.shape:
            raise ModelError(f"{out}: exported ONNX output shape {got.shape} differs from torch {ref.shape}")
        diff = float(np.abs(got - ref).max())
        if not diff <= atol:
            raise ModelError(f"{out}: exported ONNX disagrees with the torch model (max |diff| of log-probs "
                             f"{diff:.3g} > {atol})")
    return out
