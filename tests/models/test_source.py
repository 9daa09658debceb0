"""Model sources: raw-audio models (front-end in the graph), conversion parity, baseline sanity."""

from __future__ import annotations

import numpy as np
import pytest

from voxquant.errors import ConfigError, ModelError

torch = pytest.importorskip("torch")


def _raw_model(n_classes: int = 4):
    """A raw-audio KWS model: waveform [N, 16000] -> log-mel in forward (TorchFrontend, DFT) -> conv head."""
    from voxquant.audio import TorchFrontend
    from voxquant.audio.presets import get_preset

    class RawKWS(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fe = TorchFrontend(get_preset("torchaudio-logmel"))
            self.conv = torch.nn.Conv2d(1, 8, 3, padding=1)
            self.fc = torch.nn.Linear(8, n_classes)

        def forward(self, x):
            f = self.fe(x)[:, None]  # [N, 1, 32, 40]
            return self.fc(torch.relu(self.conv(f)).mean((2, 3)))

    torch.manual_seed(0)
    return RawKWS().eval()


def _waves(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(16000) / 16000
    w = 0.05 * rng.standard_normal((n, 16000))
    w += 0.3 * np.sin(2 * np.pi * rng.uniform(200, 3000, (n, 1)) * t)
    return w.astype(np.float32)


def test_raw_audio_model_exports_evaluates_and_quantizes(tmp_path):
    """A model with its STFT/log-mel inside forward: raw front-end, ORT evaluation, static int8, float ops listed."""
    from voxquant.audio.frontend import compute_features
    from voxquant.audio.presets import get_preset
    from voxquant.backends.onnxruntime import OrtSession
    from voxquant.models.parity import check_conversion_parity
    from voxquant.quant import build_variant
    from voxquant.quant.export import export_onnx
    from voxquant.quant.ort import frontend_float_ops
    from voxquant.zoo.spec import to_model_layout

    fe = get_preset("raw")
    waves = _waves(24)
    x = to_model_layout(compute_features(waves, fe), "raw")
    assert x.shape == (24, 16000) and x.dtype == np.float32 and np.array_equal(x, waves)

    net = _raw_model()
    fp32 = export_onnx(net, torch.from_numpy(x[:1]), tmp_path / "raw.fp32.onnx")
    got = OrtSession(fp32).run(x)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    assert got.shape == (24, 4) and np.abs(got - ref).max() < 1e-3
    rec = check_conversion_parity(lambda b: net(torch.from_numpy(b)).detach().numpy(), fp32, x, name="raw-kws")
    assert rec["passed"] and rec["top1_agreement"] == 1.0 and rec["n"] == 24

    int8 = build_variant("int8_static_minmax", fp32, tmp_path / "raw.int8.onnx", x[:16])
    y8 = OrtSession(int8).run(x)
    assert y8.shape == (24, 4) and np.isfinite(y8).all()
    assert {"DFT", "Log"} <= set(frontend_float_ops(fp32))  # float model: the whole front-end is float
    ops = frontend_float_ops(int8)
    # the DFT (no int8 kernel anywhere) and the log stay float; the conv head is quantized
    assert "DFT" in ops and "Log" in ops and "Conv" not in ops


def test_frontend_float_ops_of_a_conv_dft_model(tmp_path):
    """kws_streaming-style STFT as a conv1d with a DFT-basis weight: the conv is quantized, power/log stay float."""
    from voxquant.quant import build_variant
    from voxquant.quant.export import export_onnx
    from voxquant.quant.ort import frontend_float_ops

    n_fft, hop, n_bins = 256, 128, 64
    k = np.arange(n_fft)[None, :] * np.arange(n_bins)[:, None]
    win = np.hanning(n_fft)
    basis = np.concatenate([np.cos(2 * np.pi * k / n_fft) * win, -np.sin(2 * np.pi * k / n_fft) * win])

    class ConvSTFT(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.stft = torch.nn.Conv1d(1, 2 * n_bins, n_fft, stride=hop, bias=False)
            self.stft.weight.data = torch.tensor(basis[:, None, :], dtype=torch.float32)
            self.conv = torch.nn.Conv1d(n_bins, 8, 3)
            self.fc = torch.nn.Linear(8, 3)

        def forward(self, x):
            s = self.stft(x[:, None])
            power = s[:, :n_bins].pow(2) + s[:, n_bins:].pow(2)
            logp = torch.log(power + 1e-6)
            return self.fc(torch.relu(self.conv(logp)).mean(2))

    torch.manual_seed(0)
    net = ConvSTFT().eval()
    x = _waves(16)
    fp32 = export_onnx(net, torch.from_numpy(x[:1]), tmp_path / "convstft.onnx")
    int8 = build_variant("int8_static_minmax", fp32, tmp_path / "convstft.int8.onnx", x)
    ops = frontend_float_ops(int8)
    assert "Pow" in ops and "Log" in ops and "Conv" not in ops


def _gemm_model_onnx(tmp_path):
    from voxquant.quant.export import export_onnx

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(20, 16), torch.nn.ReLU(), torch.nn.Linear(16, 5)).eval()
    with torch.no_grad():
        net[2].bias.copy_(torch.linspace(-2, 2, 5))
    return net, export_onnx(net, torch.zeros(1, 20), tmp_path / "gemm.onnx")


def test_parity_check_refuses_a_dropped_bias(tmp_path):
    """A conversion that zeroes one Gemm bias (what tf2onnx did to a transformer) is refused with the numbers."""
    import onnx
    from onnx import numpy_helper

    from voxquant.models.parity import check_conversion_parity

    net, path = _gemm_model_onnx(tmp_path)
    x = np.random.default_rng(0).standard_normal((300, 20)).astype(np.float32)
    predict = lambda b: net(torch.from_numpy(b)).detach().numpy()  # noqa: E731
    ok = check_conversion_parity(predict, path, x, name="gemm")
    assert ok["passed"] and ok["top1_agreement"] == 1.0 and ok["rel_diff"] < 1e-5

    m = onnx.load(str(path))
    gemms = [n for n in m.graph.node if n.op_type == "Gemm" and len(n.input) == 3]
    assert gemms, [n.op_type for n in m.graph.node]
    bias = next(i for i in m.graph.initializer if i.name == gemms[-1].input[2])
    bias.CopyFrom(numpy_helper.from_array(np.zeros_like(numpy_helper.to_array(bias)), bias.name))
    bad = tmp_path / "gemm_bad.onnx"
    onnx.save(m, str(bad))
    with pytest.raises(ModelError) as ei:
        check_conversion_parity(predict, bad, x, name="gemm-converted", inputs_source="test")
    msg = str(ei.value)
    assert "gemm-converted" in msg and "top-1 agreement" in msg and "needs >= 99.5 %" in msg
    assert "max |diff|" in msg and "needs <= 0.001 x range" in msg and "300 test inputs" in msg
    assert not bad.exists()  # a refused conversion is not left behind


def test_torch_export_records_parity_in_the_model_source(tmp_path):
    from voxquant.models.parity import read_parity_record
    from voxquant.models.source import resolve_model

    src = resolve_model(None)
    x = np.random.default_rng(0).standard_normal((8, 1, 49, 10)).astype(np.float32)
    out = src.export(tmp_path / "m.onnx", inputs=x)
    rec = src.meta["conversion_parity"]
    assert rec["passed"] and rec["n"] == 8 and rec["inputs"] == "given" and read_parity_record(out) == rec


def test_check_baseline():
    from voxquant.models.parity import check_baseline

    with pytest.raises(ModelError, match="not above chance .*label order"):
        check_baseline(0.09, 12, None, "m", 500)
    with pytest.raises(ModelError, match="not above chance"):
        check_baseline(0.0, 12, 0.9, "m", 40)
    assert check_baseline(0.90, 12, 0.92, "m", 500) is None
    with pytest.raises(ModelError, match="points below its published"):
        check_baseline(0.50, 12, 0.92, "m", 500)
    note = check_baseline(0.85, 12, 0.92, "m", 1000)
    assert note and "7.0 points below" in note
    # tiny sets are not refused on noise: 3 clips cannot tell even 50 % from chance
    assert "too few" in check_baseline(0.0, 12, 0.92, "m", 3)
    # a 20+ point gap on a handful of clips is not significant: no refusal
    assert check_baseline(0.6, 12, 0.92, "m", 5) is None
    with pytest.raises(ValueError):
        check_baseline(1.5, 12, None, "m", 10)


def test_parse_labels(tmp_path):
    from voxquant.data import SC12_LABELS
    from voxquant.models.source import parse_labels

    assert parse_labels("sc12") == tuple(SC12_LABELS)
    assert parse_labels("a, b,c") == ("a", "b", "c")
    f = tmp_path / "labels.txt"
    f.write_text("x\ny\n\n")
    assert parse_labels(str(f)) == ("x", "y")
    with pytest.raises(ConfigError, match="distinct"):
        parse_labels("a,a")
