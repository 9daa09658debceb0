"""The user's own stream audio (voxquant.data.streams.user_stream_sources, negatives_once, locate_detections):
synthetic tones written to temporary folders, no data pack needed."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import soundfile as sf

from voxquant.data.streams import (
    Segment,
    build_stream,
    locate_detections,
    negatives_warning,
    user_stream_sources,
)
from voxquant.errors import AudioError, DataError

SR = 16000


def _tone(path, seconds, freq=440.0, sr=SR, amp=0.3, seed=0, subtype="PCM_16"):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = amp * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x.astype(np.float32), sr, subtype=subtype)
    return path


@pytest.fixture
def user(tmp_path):
    """negatives: a 25 s WAV at 8 kHz and a 12 s FLAC; positives: a manifest with speaker/accent and one other word."""
    neg = tmp_path / "negs"
    _tone(neg / "kitchen.wav", 25.0, 300, sr=8000)
    _tone(neg / "sub" / "tv.flac", 12.0, 500, seed=1)
    pos = tmp_path / "pos"
    rows = ["path,label,speaker,accent"]
    for i in range(4):
        _tone(pos / f"k{i}.wav", 0.6, 900 + 50 * i, seed=10 + i)
        rows.append(f"k{i}.wav,hey_robot,spk{i % 2},{'Scottish' if i % 2 else 'Texan'}")
    _tone(pos / "other.wav", 0.6, 1500, seed=20)
    rows.append("other.wav,banana,spk9,Texan")
    (pos / "manifest.csv").write_text("\n".join(rows) + "\n")
    return neg, pos


def test_user_sources_cut_long_recordings_and_keep_groups(user, caplog):
    neg, pos = user
    with caplog.at_level(logging.WARNING, logger="voxquant"):
        p, n = user_stream_sources("Hey_Robot", negatives=neg, positives=pos, min_negative_s=1.0, piece_s=10.0)
    assert all(isinstance(s, Segment) for s in p + n)
    assert [(c.speaker, c.meta["accent"]) for c in p] == [("spk0", "Texan"), ("spk1", "Scottish")] * 2
    assert "other words left out" in caplog.text and "other.wav" in caplog.text  # 'banana' is not a positive
    kitchen = [(s.start_s, s.end_s) for s in n if s.path.name == "kitchen.wav"]
    assert kitchen == [(0.0, 10.0), (10.0, 20.0), (20.0, None)]
    assert [(s.start_s, s.end_s) for s in n if s.path.name == "tv.flac"] == [(0.0, 10.0), (10.0, None)]


def test_negatives_once_bounds_the_stream_and_events_trace_their_source(user):
    neg, pos = user
    p, n = user_stream_sources("hey_robot", negatives=neg, positives=pos, piece_s=10.0)
    s = build_stream(p, n, None, keyword="hey_robot", duration_s=600.0, snr_db=None, seed=1, negatives_once=True)
    b = s.info["bounded_by_negatives"]
    assert b["requested_s"] == 600.0 and s.duration_s == pytest.approx(b["duration_s"]) and s.duration_s < 120.0
    negs = [e for e in s.events if not e.is_keyword]
    assert sorted((e.source_path.rsplit("/", 1)[-1], round(e.source_offset_s)) for e in negs) == [
        ("kitchen.wav", 0), ("kitchen.wav", 10), ("kitchen.wav", 20), ("tv.flac", 0), ("tv.flac", 10)]
    kws = s.keyword_events()
    assert {(e.speaker, e.groups["accent"]) for e in kws} <= {("spk0", "Texan"), ("spk1", "Scottish")}
    # a detection whose window starts 3 s into the kitchen piece that starts at 10 s is traced to 13 s in the file
    e = next(e for e in negs if e.source_path.endswith("kitchen.wav") and round(e.source_offset_s) == 10)
    hits = locate_detections(s, [e.start_s + 4.0], window_s=1.0, scores=[0.99])
    assert hits[0]["file"] == e.source_path and hits[0]["time_in_file_s"] == pytest.approx(13.0, abs=0.02)
    msg = negatives_warning("hey_robot", hits + [{**hits[0], "time_in_file_s": 13.4}])
    assert msg == f"negatives may contain 'hey_robot': {e.source_path} at 0:13.0"
    assert negatives_warning("hey_robot", []) is None
    assert locate_detections(s, [kws[0].end_s + 0.01], window_s=0.001) == []  # inside a keyword: not a negative


@pytest.mark.parametrize("layout", ["label", "folder", "sc_name"])
def test_negatives_naming_the_keyword_are_an_error_listing_them(tmp_path, user, layout):
    neg, pos = user
    if layout == "label":
        _tone(tmp_path / "m" / "a.wav", 3.0)
        _tone(tmp_path / "m" / "b.wav", 3.0)
        (tmp_path / "m" / "manifest.csv").write_text("path,label\na.wav,speech\nb.wav,HEY_ROBOT\n")
        spec, bad = tmp_path / "m", "b.wav"
    elif layout == "folder":
        _tone(neg / "hey_robot" / "x.wav", 3.0)
        spec, bad = neg, "x.wav"
    else:  # Speech Commands file naming <word>_<speaker>_nohash_<n> (words without underscores)
        _tone(neg / "robot_0a1b2c3d_nohash_0.wav", 3.0)
        _tone(tmp_path / "flat" / "take.wav", 0.6)
        spec, bad, pos = neg, "robot_0a1b2c3d_nohash_0.wav", tmp_path / "flat"
    kw = "robot" if layout == "sc_name" else "hey_robot"
    with pytest.raises(DataError) as e:
        user_stream_sources(kw, negatives=spec, positives=pos)
    msg = str(e.value)
    assert f"labelled or named as the keyword '{kw}'" in msg and bad in msg and "\n" not in msg
    assert "kitchen.wav" not in msg


def test_bad_user_folders_name_the_file(tmp_path, user, caplog):
    neg, pos = user
    with pytest.raises(DataError, match="no such folder"):
        user_stream_sources("hey_robot", negatives=tmp_path / "nope", positives=pos)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="holds no audio files") as e:
        user_stream_sources("hey_robot", negatives=tmp_path / "empty", positives=pos)
    assert "empty" in str(e.value)
    (neg / "broken.wav").write_bytes(b"RIFF0000WAVEjunk")
    with pytest.raises(AudioError, match="not a readable audio file") as e:
        user_stream_sources("hey_robot", negatives=neg, positives=pos)
    assert "broken.wav" in str(e.value) and "--negatives" in str(e.value)
    (neg / "broken.wav").unlink()
    _tone(neg / "blip.wav", 0.3)
    with caplog.at_level(logging.WARNING, logger="voxquant"):
        _, n = user_stream_sources("hey_robot", negatives=neg, positives=pos, min_negative_s=1.0)
    assert "blip.wav (0.30 s)" in caplog.text and "shorter than 1 s" in caplog.text
    assert not any(s.path.name == "blip.wav" for s in n)
    only_short = tmp_path / "short"
    _tone(only_short / "a.wav", 0.5)
    with pytest.raises(DataError, match="shorter than 1 s.*a.wav.*nothing left"):
        user_stream_sources("hey_robot", negatives=only_short, positives=pos, min_negative_s=1.0)


def test_positives_without_the_keyword(tmp_path, user):
    neg, _ = user
    _tone(tmp_path / "p" / "no" / "0a1b2c3d_nohash_0.wav", 0.6)
    _tone(tmp_path / "p" / "up" / "0a1b2c3e_nohash_0.wav", 0.6)
    with pytest.raises(DataError) as e:
        user_stream_sources("hey_robot", negatives=neg, positives=tmp_path / "p")
    msg = str(e.value)
    assert "no clip of the keyword 'hey_robot'" in msg and "words found: no, up" in msg and "\n" not in msg
    # a flat folder of unlabelled recordings is the user's keyword clips; a keyword folder too (speaker from name)
    _tone(tmp_path / "flat" / "take1.ogg", 0.6, subtype="VORBIS")
    p, _ = user_stream_sources("hey_robot", negatives=neg, positives=tmp_path / "flat")
    assert [c.path.name for c in p] == ["take1.ogg"]
    _tone(tmp_path / "p" / "hey_robot" / "0a1b2c3f_nohash_1.wav", 0.6)
    p, _ = user_stream_sources("hey_robot", negatives=neg, positives=tmp_path / "p")
    assert [(c.path.name, c.speaker) for c in p] == [("0a1b2c3f_nohash_1.wav", "0a1b2c3f")]


def test_a_single_recording_as_negatives(user):
    neg, pos = user
    _, n = user_stream_sources("hey_robot", negatives=neg / "kitchen.wav", positives=pos, piece_s=10.0)
    assert [(s.path.name, s.start_s) for s in n] == [("kitchen.wav", 0.0), ("kitchen.wav", 10.0), ("kitchen.wav", 20.0)]
