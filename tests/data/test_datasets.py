"""Loaders, ClipSet API, layouts and the decode cache (voxquant.data.datasets)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from voxquant.audio.io import load_audio
from voxquant.data import (
    SC12_LABELS,
    Clip,
    ClipSet,
    fsdd,
    load_labelled_folder,
    load_manifest,
    load_waves,
    noise_clips,
    parse_sc_name,
    rirs,
    speech_commands_test,
)
from voxquant.data import datasets as ds_mod
from voxquant.errors import AudioError, DataError

# per-label counts of the official v0.02 test set (shared/data/README.md, section 1a)
SC_COUNTS = {
    "yes": 419, "no": 405, "up": 425, "down": 406, "left": 412, "right": 396,
    "on": 396, "off": 402, "stop": 411, "go": 402, "_unknown_": 408, "_silence_": 408,
}


def test_sc12_labels_order():
    assert SC12_LABELS == ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "_unknown_", "_silence_")


@pytest.mark.parametrize(
    "name, expected",
    [
        ("0a2b400e_nohash_3.wav", (None, "0a2b400e", "3")),
        ("backward_0c540988_nohash_0.wav.wav", ("backward", "0c540988", "0")),
        ("bed_c50225fa_nohash_12.flac", ("bed", "c50225fa", "12")),
        ("1024.wav", (None, None, None)),
        ("README.md", (None, None, None)),
    ],
)
def test_parse_sc_name(name, expected):
    assert parse_sc_name(name) == expected


def test_official_test_set(sc_test):
    assert len(sc_test) == 4890
    assert sc_test.labels == SC12_LABELS
    assert sc_test.counts() == SC_COUNTS
    assert len(sc_test.speakers()) == 239
    ids = sc_test.label_ids()
    assert ids.dtype == np.int64 and ids.shape == (4890,)
    assert np.bincount(ids, minlength=12).tolist() == list(SC_COUNTS.values())
    for c in sc_test.clips:
        assert c.path.is_absolute()
        if c.label == "_silence_":
            assert c.speaker is None
        else:
            # the manifest's speaker column agrees with the file name convention
            word, speaker, _ = parse_sc_name(c.path.name)
            assert speaker == c.speaker and len(c.speaker) == 8
            assert c.word == (word if c.label == "_unknown_" else c.label)
        assert c.meta["split"] == "test"
    unknown_words = {c.word for c in sc_test.clips if c.label == "_unknown_"}
    assert len(unknown_words) == 25 and not unknown_words & set(SC12_LABELS)
    assert all(p.is_file() for p in sc_test.paths())


def test_data_root_env(shared_data, monkeypatch):
    monkeypatch.setenv("VOXQUANT_DATA", str(shared_data))
    assert len(speech_commands_test()) == 4890
    # the set folder itself is accepted as root too
    assert len(speech_commands_test(shared_data / "speech_commands_v0.02_test")) == 4890


def test_clipset_api(sc_small):
    assert len(sc_small) == 24
    assert sc_small.counts() == {lab: 2 for lab in SC12_LABELS}
    sub = sc_small.subset([0, 5, 23])
    assert [c.path for c in sub] == [sc_small[0].path, sc_small[5].path, sc_small[23].path]
    assert sub.labels == sc_small.labels
    mask = np.zeros(24, bool)
    mask[[1, 2]] = True
    assert [c.path for c in sc_small.subset(mask)] == [sc_small[1].path, sc_small[2].path]
    assert sc_small.label_ids().tolist() == [i // 2 for i in range(24)]
    assert sc_small.speakers() == sorted({c.speaker for c in sc_small if c.speaker})
    with pytest.raises(DataError, match="not one of the set's labels"):
        ClipSet("x", [Clip(Path("/a.wav"), "maybe")], ("yes", "no"))
    assert hash(sc_small[0])  # frozen and hashable despite the meta dict


def test_load_waves_matches_load_audio_and_caches(sc_small, monkeypatch, tmp_path):
    monkeypatch.setenv("VOXQUANT_CACHE", str(tmp_path / "cache"))
    w = load_waves(sc_small)
    assert w.shape == (24, 16000) and w.dtype == np.float32
    assert np.abs(w).max() <= 1.0
    for i in (0, 13, 23):
        np.testing.assert_array_equal(w[i], load_audio(sc_small[i].path, 16000, 16000))
    files = list((tmp_path / "cache" / "waves").glob("*.npy"))
    assert len(files) == 1 and not list((tmp_path / "cache" / "waves").glob("*.tmp"))

    def boom(*a, **k):
        raise AssertionError("decoded although cached")

    monkeypatch.setattr(ds_mod, "load_audio", boom)
    np.testing.assert_array_equal(load_waves(sc_small), w)
    # another length is another cache entry (and needs decoding)
    with pytest.raises(AssertionError, match="decoded although cached"):
        load_waves(sc_small, num_samples=8000)


def test_cache_key_tracks_mtime_and_params(tmp_path, tone):
    for i in range(3):
        tone(tmp_path / "yes" / f"0000000{i}_nohash_0.wav")
    cs = load_labelled_folder(tmp_path, ["yes"])
    k1 = ds_mod.waves_cache_key(cs, 16000, 16000)
    assert ds_mod.waves_cache_key(cs, 16000, 16000) == k1
    assert ds_mod.waves_cache_key(cs, 16000, 8000) != k1
    assert ds_mod.waves_cache_key(cs, 8000, 16000) != k1
    st = os.stat(cs[1].path)
    os.utime(cs[1].path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert ds_mod.waves_cache_key(cs, 16000, 16000) != k1


def test_tarball_layout(tmp_path, tone):
    """A plain labelled folder (the official tarball layout, no manifest) is read by speech_commands_test."""
    root = tmp_path / "speech_commands_v0.02_test"
    for lab in SC12_LABELS:
        if lab == "_unknown_":
            tone(root / lab / "bed_0123abcd_nohash_1.wav.wav")
        elif lab == "_silence_":
            tone(root / lab / "17.wav")
        else:
            tone(root / lab / "0123abcd_nohash_0.wav")
            tone(root / lab / "89abcdef_nohash_2.wav")
    (root / "LICENSE").write_text("not audio\n")
    with pytest.warns(UserWarning, match="expected 4890 clips"):
        cs = speech_commands_test(tmp_path)
    assert len(cs) == 10 * 2 + 2 and cs.labels == SC12_LABELS
    unk = [c for c in cs if c.label == "_unknown_"][0]
    assert (unk.word, unk.speaker, unk.meta["utterance"]) == ("bed", "0123abcd", "1")
    sil = [c for c in cs if c.label == "_silence_"][0]
    assert (sil.word, sil.speaker, sil.stem) == ("_silence_", None, "17")
    assert cs.speakers() == ["0123abcd", "89abcdef"]
    # labels=None: every folder that holds audio, sorted
    assert load_labelled_folder(root).labels == tuple(sorted(SC12_LABELS))
    w = load_waves(cs, cache=False)
    assert w.shape == (22, 16000) and np.all(w[:, 1600:] == 0)
    # the extracted tarball folder under any name is accepted as root too
    plain = root.rename(tmp_path / "speech_commands_test_set_v0.02")
    with pytest.warns(UserWarning):
        assert len(speech_commands_test(plain)) == 22


def test_load_manifest_labels_filter(shared_data):
    cs = load_manifest(shared_data / "speech_commands_v0.02_test", labels=("yes", "no"))
    assert cs.counts() == {"yes": 419, "no": 405}
    assert {"word", "speaker", "path", "label"}.isdisjoint(cs[0].meta)
    assert cs[0].meta["source_wav_sha256"]


def test_fsdd_8k_resampled(shared_data):
    cs = fsdd(shared_data)
    assert len(cs) == 3000 and cs.labels == tuple("0123456789")
    assert cs.speakers() == ["george", "jackson", "lucas", "nicolas", "theo", "yweweler"]
    clip = cs[0]
    assert clip.meta["sample_rate"] == "8000"
    n8 = int(clip.meta["num_samples"])
    w = load_waves(cs.subset([0]), cache=False)[0]
    n16 = 2 * n8
    assert w.shape == (16000,)
    assert np.all(w[n16 + 16 :] == 0)  # zero padding after the resampled utterance
    assert np.sqrt(np.mean(w[:n16] ** 2)) > 1e-3
    with pytest.raises(AudioError, match="8000 Hz, expected 16000 Hz") as ei:
        load_waves(cs.subset([0]), cache=False, resample=False)
    assert clip.path.name in str(ei.value)


def test_noise_and_rirs(shared_data):
    nc = noise_clips(shared_data)
    assert len(nc) == 6
    kinds = {c.label: c.meta["kind"] for c in nc}
    assert kinds["white_noise"] == kinds["pink_noise"] == "synthetic"
    assert sum(k == "recorded" for k in kinds.values()) == 4
    real = noise_clips(shared_data, include_synthetic=False)
    assert set(real.labels) == {"doing_the_dishes", "dude_miaowing", "exercise_bike", "running_tap"}
    r = rirs(shared_data)
    assert len(r) == 5 and "concert_hall" in r.labels


@pytest.mark.parametrize("loader, folder", [(fsdd, "fsdd"), (noise_clips, "speech_commands_noise"), (rirs, "rirs")])
def test_missing_sets_say_what_to_set(loader, folder, tmp_path, monkeypatch):
    monkeypatch.setenv("VOXQUANT_DATA", str(tmp_path))
    with pytest.raises(DataError, match="VOXQUANT_DATA") as ei:
        loader()
    assert str(tmp_path / folder) in str(ei.value)
