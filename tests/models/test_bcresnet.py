"""BC-ResNet (voxquant.models.bcresnet): structure, SubSpectralNorm, registry, and the re9ulus checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from voxquant.errors import ConfigError
from voxquant.models import ARCHITECTURES, build_model
from voxquant.models.bcresnet import BCResNet, SubSpectralNorm

REPO = Path(__file__).resolve().parents[2]


def _checkpoint() -> Path | None:
    env = os.environ.get("VOXQUANT_MODELS")
    root = Path(env) if env else REPO.parent / "shared" / "models"
    p = root / "re9ulus-bcresnet2-sc35" / "model-sc-2.pt"
    return p if p.is_file() else None


def test_registered_and_shapes():
    assert "bcresnet" in ARCHITECTURES
    torch.manual_seed(0)
    m = build_model("bcresnet", 35, (32, 40), scale=1).eval()
    assert m(torch.randn(4, 1, 32, 40)).shape == (4, 35)
    # any number of frames >= 5 works (mean over time at the end)
    assert m(torch.randn(2, 1, 7, 40)).shape == (2, 35)


def test_freq_first_and_log_softmax_equivalent():
    torch.manual_seed(0)
    a = BCResNet(12, scale=1).eval()
    b = BCResNet(12, scale=1, freq_first=True, log_softmax=True).eval()
    b.load_state_dict(a.state_dict(), strict=True)
    x = torch.randn(3, 1, 32, 40)
    la, lb = a(x), b(x.transpose(2, 3))
    assert torch.allclose(torch.log_softmax(la, -1), lb, atol=1e-5)


def test_subspectral_norm_is_per_subband_batchnorm():
    torch.manual_seed(0)
    ssn = SubSpectralNorm(3, 5).eval()
    ssn.bn.running_mean.copy_(torch.randn(15))
    ssn.bn.running_var.copy_(torch.rand(15) + 0.5)
    ssn.bn.weight.data.copy_(torch.randn(15))
    ssn.bn.bias.data.copy_(torch.randn(15))
    x = torch.randn(2, 3, 20, 6)
    y = ssn(x)
    # manual: channel c, sub-band s (frequency rows 4s..4s+3) uses BN index c*5+s
    for c in range(3):
        for s in range(5):
            k = c * 5 + s
            xs = x[:, c, 4 * s : 4 * s + 4]
            ref = (xs - ssn.bn.running_mean[k]) / torch.sqrt(ssn.bn.running_var[k] + 1e-5) * ssn.bn.weight[k] + ssn.bn.bias[k]
            assert torch.allclose(y[:, c, 4 * s : 4 * s + 4], ref, atol=1e-5)


def test_bad_configurations():
    with pytest.raises(ConfigError, match="divisible by 20"):
        build_model("bcresnet", 35, (32, 30))
    with pytest.raises(ConfigError, match="positive integer"):
        build_model("bcresnet", 35, (32, 40), scale=1.5)


@pytest.mark.skipif(_checkpoint() is None, reason="re9ulus checkpoint not found (set VOXQUANT_MODELS=../shared/models)")
def test_re9ulus_checkpoint_loads_strictly():
    sd = torch.load(_checkpoint(), map_location="cpu", weights_only=True)
    m = build_model("bcresnet", 35, (32, 40), scale=2)
    assert not m.load_state_dict(sd, strict=True).missing_keys
    n_learnable = sum(p.numel() for p in m.parameters())
    n_bn_stats = sum(v.numel() for k, v in m.state_dict().items() if "running_" in k)
    assert (n_learnable, n_bn_stats) == (30939, 4640)  # the counts in shared/models/README.md
    # the wrong scale cannot load
    with pytest.raises(RuntimeError):
        build_model("bcresnet", 35, (32, 40), scale=1).load_state_dict(sd, strict=True)
