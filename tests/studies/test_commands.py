"""``voxquant study commands`` pieces on two tiny CTC models (conv, Conformer) run through the sequence task: the
architecture x precision table and the seed's claims with paired CIs; QAT for CTC models (quant.sequence) included."""

from __future__ import annotations

import csv

import numpy as np
import pytest


def _tiny(path, arch):
    import torch

    from voxquant.models.ctc import build_ctc, save_ctc

    torch.manual_seed(0)
    cfg = ({"channels": 24, "kernels": [11], "repeat": 1, "head_channels": 32} if arch == "conv" else
           {"d_model": 32, "heads": 2, "n_blocks": 1, "ff_mult": 2, "conv_kernel": 7, "sub_channels": 8})
    return save_ctc(build_ctc(arch, cfg), path, {"config": cfg})


pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, shared_data):
    from voxquant.sequence_run import SequenceConfig, run_sequence

    d = tmp_path_factory.mktemp("cmdstudy")
    src = [r for r in csv.DictReader(open(shared_data / "alphanumeric_accents" / "manifest.csv")) if r["kind"] == "digits"]
    natives = [r for r in src if r["native"] == "yes"][:2] + [r for r in src if r["native"] == "no"][:3]
    with open(d / "real.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "speaker", "accent", "native"])
        for r in natives:
            w.writerow([str(shared_data / "alphanumeric_accents" / r["path"]), r["label"], r["speaker"], r["accent"],
                        r["native"]])
    runs = {}
    for arch in ("conv", "conformer"):
        out = d / arch
        run_sequence(SequenceConfig(out_dir=out, model=_tiny(d / f"{arch}.pt", arch), data=d / "real.csv",
                                    data_root=shared_data, recipes=("fp32", "fp16", "int8_static_minmax", "qat"),
                                    synth_digits=2, synth_commands=2, snrs=(), reverb=False, far_field=False,
                                    calib_n=4, threads=(), n_boot=100, progress=False,
                                    recipe_options={"qat": {"minutes": 0.05, "batch_size": 2, "n_heldout": 4}}))
        runs[arch] = out
    return runs


def test_claims_are_answered_with_paired_cis(two_runs):
    from voxquant.studies.commands import claims

    ans = claims(two_runs, n_boot=200)
    names = [a["claim"] for a in ans]
    assert "attention loses more than convolution under int8" in names
    assert any(n.startswith("QAT recovers") for n in names) and any(n.startswith("fp16 loses") for n in names)
    assert any(n.startswith("non-native") for n in names)
    for a in ans:
        lo, hi = a["ci95"]
        assert lo <= a["estimate_pp"] + 1e-9 and a["estimate_pp"] <= hi + 1e-9
        assert a["answer"].startswith(("yes", "no", "cannot tell"))


def test_table_has_every_arch_and_variant(two_runs):
    from voxquant.studies.commands import table_rows, to_markdown

    rows = table_rows(two_runs)
    assert [(r["arch"], r["variant"]) for r in rows] == [(a, v) for a in ("conv", "conformer")
                                                         for v in ("fp32", "fp16", "int8_static_minmax", "qat")]
    for r in rows:
        assert "wer" in r, r
        assert r["n_params"] > 0
    # int8 rows run their MatMul/Conv in int8; the Conformer keeps Softmax / LayerNorm in float (a float MAC share)
    conf8 = next(r for r in rows if r["arch"] == "conformer" and r["variant"] == "int8_static_minmax")
    assert conf8["float_mac_share"] is not None and 0.0 <= conf8["float_mac_share"] < 1.0
    md = to_markdown(rows, [])
    assert md.count("\n| conformer |") == 4


def test_qat_sidecar_records_the_fine_tuning(two_runs):
    import json

    side = json.loads((two_runs["conv"] / "models" / "model.qat.json").read_text())
    assert side["task"] == "sequence" and side["history"]["steps"] >= 1
    assert np.isfinite(side["history"]["eval"][-1]["heldout_wer"])
