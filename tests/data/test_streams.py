"""Continuous test streams (voxquant.data.streams): placement, determinism, SNR, RIR, save/load, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from voxquant.data.streams import (
    Event,
    build_stream,
    default_stream_sources,
    load_stream,
    save_stream,
    stream_manifest,
    trim_silence,
)
from voxquant.errors import DataError

SR = 16000


def _write_clip(path, x):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x.astype(np.float32), SR, subtype="FLOAT")
    return path


def _tone_clip(path, freq, n_word, pad, amp=0.3, seed=0):
    """Synthetic 'word': a tone burst with a little noise, padded with `pad` samples of silence each side."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_word) / SR
    word = amp * np.sin(2 * np.pi * freq * t) + 0.02 * rng.standard_normal(n_word)
    return _write_clip(path, np.concatenate([np.zeros(pad), word, np.zeros(pad)])), word.astype(np.float32)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """3 synthetic 'kw' clips (tones, 0.4-0.6 s + 0.2 s padding), 4 negative clips, a noise bank, a RIR."""
    root = tmp_path_factory.mktemp("synth_streams")
    pos, words = [], {}
    for i, (f, n) in enumerate([(700, 6400), (900, 8000), (1100, 9600)]):
        p, w = _tone_clip(root / "kw" / f"synthetic_kw_{i}.wav", f, n, 3200, seed=i)
        pos.append((p, "kw"))
        words[str(p)] = w
    neg = []
    for i, f in enumerate([300, 400, 1500, 2000]):
        p, _ = _tone_clip(root / "other" / f"synthetic_other_{i}.wav", f, 5000 + 1000 * i, 1600, seed=10 + i)
        neg.append((p, f"other{i}"))
    rng = np.random.default_rng(5)
    noise = {"synthetic_white": (0.1 * rng.standard_normal(SR * 7)).astype(np.float32),
             "synthetic_brown": (0.02 * np.cumsum(rng.standard_normal(SR * 3)) / 50).astype(np.float32)}
    k = np.arange(int(0.4 * SR))
    rir = (np.exp(-k / (0.08 * SR)) * rng.standard_normal(k.size)).astype(np.float32)
    rir[0] = 3.0
    return {"pos": pos, "neg": neg, "noise": noise, "rir": rir, "words": words}


def _build(s, **kw):
    args = dict(keyword="kw", duration_s=20.0, snr_db=10.0, seed=3)
    args.update(kw)
    return build_stream(s["pos"], s["neg"], s["noise"], **args)


def test_trim_silence_cuts_padding():
    x = np.concatenate([np.zeros(1600), 0.5 * np.ones(3200), np.zeros(800)]).astype(np.float32)
    y = trim_silence(x, SR)
    assert y.shape[0] == 3200 and np.all(y == 0.5)
    assert trim_silence(np.zeros(100, np.float32), SR).size == 0


def test_events_sorted_inside_nonoverlapping_and_correlate(synth):
    st = _build(synth, snr_db=None)
    assert st.audio.dtype == np.float32 and st.audio.shape == (20 * SR,)
    assert np.max(np.abs(st.audio)) <= 1.0
    ev = st.events
    assert len(st.keyword_events()) >= 3 and any(not e.is_keyword for e in ev)
    assert ev[0].is_keyword
    for a, b in zip(ev, ev[1:]):
        assert a.end_s <= b.start_s
    for e in ev:
        assert 0.0 <= e.start_s < e.end_s <= st.duration_s
        assert e.end_s - e.start_s >= 0.25  # the shortest synthetic word is 0.31 s
    for a, b in zip(ev, ev[1:]):
        assert b.start_s - a.end_s >= 0.5 - 1e-9
    for e in st.keyword_events():
        word = synth["words"][e.source_path]
        seg = st.audio[round(e.start_s * SR) : round(e.end_s * SR)]
        # trimming keeps whole 10 ms frames around the word: the event is the word, not its 0.2 s padding
        assert abs(seg.shape[0] - word.shape[0]) <= 160
        m = min(seg.shape[0], word.shape[0])
        r = np.corrcoef(seg[:m], word[:m])[0, 1]
        assert r > 0.95, (e, r)
    assert all(e.label == "kw" for e in st.keyword_events())
    assert {e.label for e in ev if not e.is_keyword} <= {"other0", "other1", "other2", "other3"}


def test_same_seed_bit_identical_other_seed_differs(synth):
    a, b, c = _build(synth), _build(synth), _build(synth, seed=4)
    assert a.audio.tobytes() == b.audio.tobytes() and a.events == b.events
    assert a.events != c.events


@pytest.mark.parametrize("snr", [0.0, 10.0, 20.0])
def test_snr_achieved(synth, snr):
    noisy = _build(synth, snr_db=snr)
    clean = _build(synth, snr_db=None)
    assert noisy.events == clean.events  # placement is independent of the noise
    s = clean.audio.astype(np.float64) / clean.info["gain"]
    n = noisy.audio.astype(np.float64) / noisy.info["gain"] - s
    mask = np.zeros(s.size, bool)
    for e in noisy.events:
        mask[round(e.start_s * SR) : round(e.end_s * SR)] = True
    measured = 10 * np.log10(np.mean(s[mask] ** 2) / np.mean(n[mask] ** 2))
    assert abs(measured - snr) < 0.5, measured
    assert np.mean(n[~mask] ** 2) > 0  # the noise runs under the gaps too


def test_rir_lengthens_energy_tail(synth):
    dry = _build(synth, snr_db=None)
    wet = _build(synth, snr_db=None, rir=synth["rir"])
    assert dry.events == wet.events
    tail_dry = tail_wet = 0.0
    for e in dry.events:
        a = round(e.end_s * SR)
        tail_dry += float(np.sum(dry.audio[a : a + SR // 10].astype(np.float64) ** 2))
        tail_wet += float(np.sum(wet.audio[a : a + SR // 10].astype(np.float64) ** 2))
    assert tail_dry == 0.0 and tail_wet > 0.0


@pytest.mark.parametrize("fmt", ["wav", "flac"])
def test_save_load_round_trip(synth, tmp_path, fmt):
    st = _build(synth)
    save_stream(st, tmp_path / "s", audio_format=fmt)
    back = load_stream(tmp_path / "s")
    assert back.events == st.events and back.keyword == "kw" and back.sample_rate == SR
    assert back.info["seed"] == 3
    if fmt == "wav":
        assert back.audio.tobytes() == st.audio.tobytes()
    else:
        assert np.max(np.abs(back.audio - st.audio)) <= 1.0 / 32768 + 1e-7
    e0 = st.events[0]
    assert stream_manifest(back)[0] == {"start_s": e0.start_s, "end_s": e0.end_s, "label": "kw",
                                        "source_path": e0.source_path, "is_keyword": True,
                                        "source_offset_s": e0.source_offset_s, "speaker": "", "groups": {}}
    assert e0.source_offset_s == pytest.approx(0.2, abs=0.011)  # the synthetic clips carry 0.2 s of padding


def test_load_bad_folders(synth, tmp_path):
    with pytest.raises(DataError, match="stream.json"):
        load_stream(tmp_path)
    st = _build(synth)
    save_stream(st, tmp_path / "s")
    (tmp_path / "s" / "events.csv").write_text("start_s,end_s,label,source_path,is_keyword\n1,x,kw,p,True\n")
    with pytest.raises(DataError, match="line 2"):
        load_stream(tmp_path / "s")
    (tmp_path / "s" / "stream.json").write_text("{not json")
    with pytest.raises(DataError, match="malformed stream.json"):
        load_stream(tmp_path / "s")


def test_bad_inputs(synth):
    pos, neg, noise = synth["pos"], synth["neg"], synth["noise"]
    with pytest.raises(DataError, match=r"no clip of keyword 'hey'.*kw"):
        build_stream(pos, neg, noise, keyword="hey", duration_s=10)
    with pytest.raises(DataError, match="no clip of keyword"):
        build_stream([], neg, noise, keyword="kw", duration_s=10)
    with pytest.raises(DataError, match="too short"):
        build_stream(pos, neg, noise, keyword="kw", duration_s=0.5)
    with pytest.raises(DataError, match="negatives are empty"):
        build_stream(pos, [], noise, keyword="kw", duration_s=10)
    with pytest.raises(DataError, match="other labels"):
        build_stream(pos + neg[:1], neg, noise, keyword="kw", duration_s=10)
    with pytest.raises(DataError, match="noise"):
        build_stream(pos, neg, {}, keyword="kw", duration_s=10, snr_db=10)
    with pytest.raises(DataError, match="all zeros"):
        build_stream(pos, neg, {"z": np.zeros(100, np.float32)}, keyword="kw", duration_s=10)
    with pytest.raises(DataError, match="rir"):
        build_stream(pos, neg, noise, keyword="kw", duration_s=10, rir=np.zeros(10, np.float32))
    with pytest.raises(DataError, match="max_gap_s"):
        build_stream(pos, neg, noise, keyword="kw", duration_s=10, min_gap_s=2, max_gap_s=1)
    with pytest.raises(DataError, match="snr_db"):
        build_stream(pos, neg, noise, keyword="kw", duration_s=10, snr_db=float("nan"))
    with pytest.raises(DataError, match="duration_s"):
        build_stream(pos, neg, noise, keyword="kw", duration_s=-1)
    # negatives holding the keyword: dropped with a warning naming how many; only-keyword negatives -> error
    with pytest.warns(UserWarning, match="1 negative clip"):
        st = build_stream(pos, neg + pos[:1], noise, keyword="kw", duration_s=10)
    assert all(not (e.source_path == str(pos[0][0]) and not e.is_keyword) for e in st.events)
    with pytest.warns(UserWarning), pytest.raises(DataError, match="negatives are empty"):
        build_stream(pos, pos, noise, keyword="kw", duration_s=10)
    assert isinstance(st.events[0], Event)


def test_real_yes_stream(shared_data):
    """60 s of Speech Commands `yes` among other words, with real background noise at 10 dB."""
    from voxquant.data import load_noise_bank
    from voxquant.models.zoo_default import split_noise_bank

    pos, neg = default_stream_sources("yes", shared_data)
    assert pos and all(c.label == "yes" for c in pos)
    assert not any((c.word or c.label) == "yes" for c in neg) and not any(c.label == "_silence_" for c in neg)
    _, eval_noise = split_noise_bank(load_noise_bank(shared_data))
    st = build_stream(pos, neg, eval_noise, keyword="yes", duration_s=60, snr_db=10, seed=0)
    assert st.audio.shape == (60 * SR,) and np.isfinite(st.audio).all()
    kws = st.keyword_events()
    assert len(kws) >= 5 and len(st.events) - len(kws) >= 5
    assert all(0.1 < e.end_s - e.start_s <= 1.0 for e in st.events)  # trimmed 1-s clips
    assert {n["name"] for n in st.info["noise"]} <= set(eval_noise)
    with pytest.raises(DataError, match="'nosuchword'.*yes"):
        default_stream_sources("nosuchword", shared_data)


def test_clipset_input_uses_real_word_of_unknown(synth):
    """A ClipSet works as input; a Speech Commands-style `_unknown_` clip is labelled (and screened) by its word."""
    from pathlib import Path

    from voxquant.data import Clip, ClipSet

    pos = ClipSet("kw", [Clip(Path(p), "kw") for p, _ in synth["pos"]], ("kw",))
    neg = ClipSet("neg", [Clip(Path(synth["neg"][0][0]), "_unknown_", word="marvin"),
                          Clip(Path(synth["pos"][0][0]), "_unknown_", word="kw")], ("_unknown_",))
    with pytest.warns(UserWarning, match="1 negative clip"):
        st = build_stream(pos, neg, synth["noise"], keyword="kw", duration_s=15, seed=1)
    assert {e.label for e in st.events if not e.is_keyword} == {"marvin"}
