"""Bring your own data: registry, data specs, split rules, label checks, groups, calibration and noise/RIR folders,
``voxquant train --data``.

Every WAV written here is a **synthetic** test tone (``write_tone``: a sine), named ``synthetic_*``; it only
exercises file handling, never accuracy. Real-data tests take ``shared_data`` and skip without the data pack.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from voxquant.data import (
    DATASETS,
    SC12_LABELS,
    ClipSet,
    get_loader,
    group_values,
    load_calibration,
    load_dataset,
    load_noise_bank,
    load_rir_bank,
    split_dev_eval,
    split_rule,
)
from voxquant.data.slices import model_splits
from voxquant.errors import ConfigError, DataError, LabelMismatchError



def write_tone(path, sample_rate=16000, n=1600, freq=440.0, amp=0.3):
    """Write a synthetic test tone (sine, mono, 16-bit) and return its samples ``float32 [n]``."""
    import soundfile as sf

    x = (amp * np.sin(2 * np.pi * freq * np.arange(n) / sample_rate)).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x, sample_rate, subtype="PCM_16")
    return x


def synthetic_set(root, rows, header="path,label,speaker,split,accent,device", freq=None):
    """Write synthetic tone WAVs and a manifest CSV; ``rows`` = tuples of the header's values after ``path``."""
    root.mkdir(parents=True, exist_ok=True)
    lines = [header]
    for i, row in enumerate(rows):
        label = row[0]
        rel = f"wav/{label or 'x'}/synthetic_{i}.wav"
        write_tone(root / rel, n=4000, freq=freq or (300.0 + 200.0 * (hash(label) % 5)))
        lines.append(",".join([rel, *row]))
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    return root / "manifest.csv"


def _two_label_rows(n_speakers=6, per=2):
    rows = []
    for s in range(n_speakers):
        for lab in ("beta", "alpha"):
            for k in range(per):
                split = "test" if s % 3 == 0 else "train"
                rows.append((lab, f"spk{s}", split, ["de", "in", "us"][s % 3], ["phone", "laptop"][k % 2]))
    return rows


# ---------------------------------------------------------------------------------------------- manifests


def test_manifest_with_own_labels_and_extra_columns(tmp_path):
    csv_path = synthetic_set(tmp_path / "own", _two_label_rows())
    for spec in (csv_path, tmp_path / "own", str(csv_path)):
        cs = load_dataset(spec)
        assert cs.labels == ("alpha", "beta")  # sorted, not first-appearance
        assert len(cs) == 24 and cs.name == "own"
        assert cs[0].path.is_file() and cs[0].path.is_absolute()
        assert cs[0].speaker == "spk0" and cs[0].label == "beta"
        assert cs[0].meta == {"split": "test", "accent": "de", "device": "phone"}
    assert load_dataset(csv_path, name="mine").name == "mine"
    assert group_values(cs, "accent").tolist()[:4] == ["de"] * 4
    assert group_values(cs, "speaker")[3] == "spk0" and group_values(cs, "device").dtype.kind == "U"
    assert set(group_values(cs, "label")) == {"alpha", "beta"}


def test_labelled_folder_spec(tmp_path):
    for lab in ("up", "down"):
        for i in range(2):
            write_tone(tmp_path / "set" / lab / f"synthetic_{i}.wav")
    cs = load_dataset(tmp_path / "set")
    assert cs.labels == ("down", "up") and len(cs) == 4
    write_tone(tmp_path / "flat" / "synthetic.wav")
    with pytest.raises(DataError, match="without labels"):
        load_dataset(tmp_path / "flat")
    with pytest.raises(DataError, match="not a registered data set"):
        load_dataset(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no manifest.csv and no label sub-folders"):
        load_dataset(tmp_path / "empty")


def test_missing_files_and_bad_rows_are_named(tmp_path):
    csv_path = synthetic_set(tmp_path, [("a", "s1", "", "", ""), ("b", "s2", "", "", "")])
    text = csv_path.read_text() + "wav/a/gone.wav,a,s3,,,\n"
    csv_path.write_text(text)
    with pytest.raises(DataError, match=r"1 of 3 audio file\(s\) not found: .*gone\.wav") as ei:
        load_dataset(csv_path)
    assert "manifest.csv" in str(ei.value)
    csv_path.write_text("path,label\nwav/a/synthetic_0.wav,a\nwav/b/synthetic_1.wav,b,oops\n,a\n")
    with pytest.raises(DataError, match=r"2 bad row\(s\): line 3: more fields .*; line 4: empty path"):
        load_dataset(csv_path)


# ---------------------------------------------------------------------------------------------- labels


def test_label_mismatch_lists_both_sets(tmp_path):
    csv_path = synthetic_set(tmp_path, _two_label_rows(3, 1))
    with pytest.raises(LabelMismatchError) as ei:
        load_dataset(csv_path, labels=("alpha", "gamma"))
    msg = str(ei.value)
    assert "manifest.csv" in msg and "'beta'" in msg and "'gamma'" in msg
    assert ei.value.extra == ("beta",) and ei.value.missing == ("gamma",)
    assert isinstance(ei.value, ConfigError) and isinstance(ei.value, DataError)
    # model order is kept; a model label without clips is only a warning
    with pytest.warns(UserWarning, match="gamma"):
        cs = load_dataset(csv_path, labels=("beta", "gamma", "alpha"))
    assert cs.labels == ("beta", "gamma", "alpha") and cs.label_ids()[0] == 0
    with pytest.raises(ConfigError, match="duplicates"):
        load_dataset(csv_path, labels=("alpha", "alpha", "beta"))


def test_model_splits_on_user_data(tmp_path):
    csv_path = synthetic_set(tmp_path, _two_label_rows())
    dev, ev, remap = model_splits(("beta", "alpha"), data=csv_path)
    assert dev.labels == ("alpha", "beta") and remap.tolist() == [1, 0]
    assert {c.meta["split"] for c in dev} == {"train"} and {c.meta["split"] for c in ev} == {"test"}
    with pytest.raises(ConfigError, match="labels differ"):
        model_splits(SC12_LABELS, data=csv_path)


# ---------------------------------------------------------------------------------------------- splits


def _clipset(tmp_path, rows, header="path,label,speaker,split"):
    return load_dataset(synthetic_set(tmp_path, rows, header=header))


def test_split_column_wins(tmp_path):
    rows = [("a", "s1", "TRAIN"), ("a", "s1", "test"), ("b", "s2", "valid"), ("b", "s2", "Eval"),
            ("a", "s3", "calib"), ("b", "s3", "validation")]
    cs = _clipset(tmp_path, rows)
    dev, ev = split_dev_eval(cs)
    assert [c.path.name for c in ev] == ["synthetic_1.wav", "synthetic_3.wav"]
    assert len(dev) == 4 and split_rule(cs) == "split column"
    assert ev.name.endswith(":eval") and dev.labels == ev.labels == cs.labels


def test_split_column_with_unknown_value_is_an_error(tmp_path):
    cs = _clipset(tmp_path, [("a", "s1", "train"), ("a", "s2", "test"), ("a", "s3", "holdout")])
    with pytest.raises(DataError, match=r"unknown split value.*synthetic_2\.wav: 'holdout'"):
        split_dev_eval(cs)


def _parity_dev(key):
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest(), 16) % 2 == 0


def test_speaker_disjoint_when_speakers_known_and_one_valued_split_column_ignored(tmp_path):
    rows = [(lab, f"spk{s}", "test") for s in range(12) for lab in ("a", "b")]
    cs = _clipset(tmp_path, rows)
    assert split_rule(cs) == "speaker hash"
    dev, ev = split_dev_eval(cs)
    assert not set(dev.speakers()) & set(ev.speakers()) and len(dev) + len(ev) == 24
    assert all(_parity_dev(c.speaker) for c in dev) and not any(_parity_dev(c.speaker) for c in ev)


def test_file_name_fallback_without_speakers(tmp_path):
    cs = _clipset(tmp_path, [(lab, "") for _ in range(8) for lab in ("a", "b")], header="path,label,speaker")
    assert split_rule(cs) == "file-name hash"
    dev, ev = split_dev_eval(cs)
    assert all(_parity_dev(c.stem) for c in dev) and not any(_parity_dev(c.stem) for c in ev)
    assert len(dev) and len(ev)


def test_every_label_needs_eval_clips(tmp_path):
    cs = _clipset(tmp_path, [("a", "s1", "train"), ("b", "s2", "train"), ("a", "s3", "test")])
    with pytest.raises(DataError, match=r"label\(s\) \['b'\] have no clip in the eval split \(rule: split column\)"):
        split_dev_eval(cs)


def test_speech_commands_split_unchanged(shared_data):
    for dev, ev in (split_dev_eval(load_dataset("speech-commands-v2-test", data_root=shared_data)),
                    model_splits(SC12_LABELS, shared_data)[:2]):
        assert (len(dev), len(dev.speakers()), len(ev), len(ev.speakers())) == (2286, 114, 2604, 125)
        assert dev.labels == SC12_LABELS


# ---------------------------------------------------------------------------------------------- groups, calibration


def test_group_values_missing_column_lists_available(tmp_path):
    cs = load_dataset(synthetic_set(tmp_path, _two_label_rows(2, 1)))
    with pytest.raises(DataError, match=r"no column 'gender'.*available columns: accent, device, label, speaker, "
                                        r"split, word"):
        group_values(cs, "gender")
    assert group_values(ClipSet("e", [], ("a",)), "speaker").shape == (0,)


def test_calibration_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="calibration folder has no audio files"):
        load_calibration(tmp_path / "empty")
    with pytest.raises(DataError, match="calibration folder not found"):
        load_calibration(tmp_path / "absent")
    write_tone(tmp_path / "cal" / "synthetic_b.wav")
    write_tone(tmp_path / "cal" / "sub" / "synthetic_a.flac")
    cs = load_calibration(tmp_path / "cal")
    assert cs.labels == ("",) and [c.path.name for c in cs] == ["synthetic_a.flac", "synthetic_b.wav"]  # sorted by relative path (sub/ < synthetic_b)
    # a manifest without a label column is fine for calibration
    write_tone(tmp_path / "m" / "synthetic.wav")
    (tmp_path / "m" / "manifest.csv").write_text("path,device\nsynthetic.wav,phone\n")
    cm = load_calibration(tmp_path / "m")
    assert cm.labels == ("",) and cm[0].meta == {"device": "phone"}
    with pytest.raises(DataError, match="lacks column"):
        load_dataset(tmp_path / "m")


def test_user_noise_and_rir_folders(tmp_path):
    x = write_tone(tmp_path / "noise" / "synthetic_street.wav", n=8000, freq=1000.0)
    write_tone(tmp_path / "noise" / "cafe" / "synthetic_1.flac", n=8000, sample_rate=8000)
    bank = load_noise_bank(tmp_path / "noise")
    assert list(bank) == ["cafe/synthetic_1", "synthetic_street"]
    assert bank["cafe/synthetic_1"].shape == (16000,) and np.allclose(bank["synthetic_street"], x, atol=1e-4)
    assert list(load_noise_bank(tmp_path / "noise" / "synthetic_street.wav")) == ["synthetic_street"]
    (tmp_path / "none").mkdir()
    with pytest.raises(DataError, match="noise folder has no audio files"):
        load_noise_bank(tmp_path / "none")
    with pytest.raises(DataError, match="RIR folder has no audio files"):
        load_rir_bank(tmp_path / "none")
    with pytest.raises(DataError, match="RIR folder not found"):
        load_rir_bank(tmp_path / "absent")
    write_tone(tmp_path / "rirs" / "synthetic_room.wav", n=800)
    assert list(load_rir_bank(tmp_path / "rirs")) == ["synthetic_room"]


# ---------------------------------------------------------------------------------------------- registry


def test_registry_round_trip(tmp_path, monkeypatch):
    for name in DATASETS:
        assert callable(get_loader(name))
    with pytest.raises(ConfigError, match="unknown data set 'nope'; known: speech-commands-v2-test"):
        get_loader("nope")
    synthetic_set(tmp_path / "fsdd", [("a", "s1", "train", "", ""), ("a", "s2", "test", "", "")])
    monkeypatch.setitem(DATASETS, "toy", "voxquant.data.datasets:load_manifest")
    cs = load_dataset("toy", data_root=tmp_path / "fsdd")
    assert len(cs) == 2 and cs.name == "fsdd"


def test_fsdd_via_registry(shared_data):
    cs = load_dataset("fsdd", data_root=shared_data)
    assert len(cs) == 3000 and cs.labels == tuple("0123456789")
    assert split_rule(cs) == "split column"
    dev, ev = split_dev_eval(cs)
    assert (len(dev), len(ev)) == (2700, 300) and set(ev.counts().values()) == {30}
    assert {c.meta["repetition"] for c in ev} == {"0", "1", "2", "3", "4"}
    assert set(group_values(cs, "accent")) >= {"GRC/Greek"}
    assert load_dataset(shared_data / "fsdd").labels == cs.labels  # the folder spec reads the same set


# ---------------------------------------------------------------------------------------------- train --data


def test_train_on_a_synthetic_two_label_set(tmp_path):
    from voxquant.cli import main

    csv_path = synthetic_set(tmp_path / "data", _two_label_rows(6, 2))
    write_tone(tmp_path / "noise" / "synthetic_hum.wav", n=32000, freq=50.0)
    out = tmp_path / "w" / "own.pt"
    rc = main(["train", "--data", str(csv_path), "--epochs", "1", "--out", str(out), "--noise",
               str(tmp_path / "noise"), "--quiet"])
    assert rc == 0 and out.is_file()
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["labels"] == ["alpha", "beta"] and meta["epochs_run"] == 1
    assert meta["data"]["spec"] == str(csv_path) and meta["data"]["split_rule"] == "split column"
    assert 0.0 <= meta["holdout_accuracy"] <= 1.0 and 0.0 <= meta["eval_accuracy"] <= 1.0
    assert not (out.parent / "MODEL_CARD.md").exists()
    from voxquant.models.train import load_weights

    model, m = load_weights(out)
    assert m["labels"] == ["alpha", "beta"]
    # labels the data does not have in --labels order -> one clear line, exit 2
    assert main(["train", "--data", str(csv_path), "--labels", "alpha", "--epochs", "1", "--out", str(out),
                 "--quiet"]) == 2
