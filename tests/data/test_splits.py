"""The speaker-disjoint dev/eval split of the official test set (voxquant.data.splits)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from voxquant.data import SC12_LABELS, Clip, split_dev_eval, split_summary
from voxquant.data.splits import is_dev

# Observed with the rule of voxquant.data.splits on the 4,890-clip set: (clips, speakers) per label.
# Pinned so that any change of the rule (or of the data) is caught.
EXPECTED = {
    "dev": {
        "yes": (195, 79), "no": (189, 72), "up": (202, 79), "down": (185, 77), "left": (195, 78),
        "right": (184, 82), "on": (187, 79), "off": (191, 85), "stop": (190, 79), "go": (174, 68),
        "_unknown_": (192, 78), "_silence_": (202, 0), "_total_": (2286, 114),
    },
    "eval": {
        "yes": (224, 83), "no": (216, 81), "up": (223, 78), "down": (221, 88), "left": (217, 90),
        "right": (212, 83), "on": (209, 81), "off": (211, 81), "stop": (221, 77), "go": (228, 82),
        "_unknown_": (216, 92), "_silence_": (206, 0), "_total_": (2604, 125),
    },
}


def test_split_counts_pinned(sc_test):
    dev, ev = split_dev_eval(sc_test)
    summary = split_summary(dev, ev)
    got = {s: {lab: (v["clips"], v["speakers"]) for lab, v in per.items()} for s, per in summary.items()}
    assert got == EXPECTED


def test_split_is_a_speaker_disjoint_stratified_partition(sc_test):
    dev, ev = split_dev_eval(sc_test)
    assert dev.name.endswith(":dev") and ev.name.endswith(":eval")
    assert dev.labels == ev.labels == SC12_LABELS
    dev_paths, ev_paths = set(dev.paths()), set(ev.paths())
    assert not dev_paths & ev_paths
    assert dev_paths | ev_paths == set(sc_test.paths()) and len(dev) + len(ev) == len(sc_test)
    assert not set(dev.speakers()) & set(ev.speakers())
    assert len(dev.speakers()) + len(ev.speakers()) == 239
    assert 0.4 < len(dev.speakers()) / 239 < 0.6 and 0.4 < len(dev) / len(sc_test) < 0.6
    for lab in SC12_LABELS:
        n_dev, n_ev = dev.counts()[lab], ev.counts()[lab]
        assert n_dev > 0 and n_ev > 0
        assert 0.35 < n_dev / (n_dev + n_ev) < 0.65, lab
    # order preserved within each split
    pos = {p: i for i, p in enumerate(sc_test.paths())}
    assert [pos[p] for p in dev.paths()] == sorted(pos[p] for p in dev.paths())


def test_split_rule_is_the_documented_one(sc_test):
    dev, _ = split_dev_eval(sc_test)
    dev_paths = set(dev.paths())
    for c in sc_test.clips[::7]:
        key = c.speaker if c.speaker is not None else c.path.name.split(".")[0]
        expect_dev = int(hashlib.sha256(key.encode("utf-8")).hexdigest(), 16) % 2 == 0
        assert (c.path in dev_paths) == expect_dev


def test_split_independent_of_file_layout():
    """The WAV tarball names and the FLAC pack names give the same split."""
    pairs = [
        ("/a/_unknown_/bed_0c540988_nohash_0.wav.wav", "/b/audio/_unknown_/bed_0c540988_nohash_0.flac", "_unknown_", "0c540988"),
        ("/a/_silence_/1024.wav", "/b/audio/_silence_/1024.flac", "_silence_", None),
        ("/a/_silence_/1037.wav", "/b/audio/_silence_/1037.flac", "_silence_", None),
    ]
    for wav, flac, label, spk in pairs:
        assert is_dev(Clip(Path(wav), label, spk)) == is_dev(Clip(Path(flac), label, spk))
