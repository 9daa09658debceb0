"""voxquant.data.sequences: grammars, transcripts, the word bank, the seeded generator, real connected digits."""

from __future__ import annotations

import numpy as np
import pytest

from voxquant.audio import compute_features
from voxquant.data import sequences as S
from voxquant.errors import DataError

DIG, CMD = S.GRAMMARS["digits"], S.GRAMMARS["commands"]


def test_vocab_and_frontend():
    assert len(S.SEQ_VOCAB) == 21 and S.SEQ_VOCAB[0] == "<blank>"
    assert S.SEQ_MAX_SAMPLES == int(S.SEQ_MAX_SECONDS * 16000)
    f = compute_features(np.zeros((2, S.SEQ_MAX_SAMPLES), np.float32), S.SEQ_FRONTEND)
    assert f.shape == (2, S.SEQ_FRONTEND.n_frames(S.SEQ_MAX_SAMPLES), 40) and f.dtype == np.float32


@pytest.mark.parametrize("words", [("stop",), ("go",), ("left",), ("go", "left"), ("go", "left", "three"),
                                   ("right", "four", "two"), ("stop", "go"), ("stop", "go", "up", "one"),
                                   ("on",), ("off", "five"), ("yes",), ("no",)])
def test_commands_accepts(words):
    assert CMD.accepts(words)


@pytest.mark.parametrize("words", [(), ("go", "go"), ("left", "go"), ("go", "stop"), ("yes", "no"), ("three",),
                                   ("on", "off"), ("left", "one", "two", "three"), ("turn",)])
def test_commands_rejects(words):
    assert not CMD.accepts(words)


def test_digits_grammar():
    assert DIG.accepts(["one"]) and DIG.accepts(["nine"] * 12)
    assert not DIG.accepts(["nine"] * 13) and not DIG.accepts(["go"]) and not DIG.accepts([])
    assert DIG.words() == set(S.DIGIT_WORDS)


def test_sample_uses_available_words_and_lengths():
    rng = np.random.default_rng(0)
    lens = []
    for _ in range(400):
        w = DIG.sample(rng)
        assert DIG.accepts(w)
        lens.append(len(w))
    lens = np.array(lens)
    assert np.mean((lens >= 7) & (lens <= 10)) > 0.5 and np.mean((lens >= 3) & (lens <= 6)) > 0.1
    for _ in range(50):
        w = CMD.sample(rng, {"go", "left", "two"})
        assert CMD.accepts(w) and set(w) <= {"go", "left", "two"}
    assert CMD.sample(rng, {"three", "four"}) is None  # no command sentence of digits only
    assert DIG.sample(rng, {"go"}) is None


def test_parse_transcript_good():
    assert S.parse_transcript("3041254855", DIG) == ("three", "zero", "four", "one", "two", "five", "four",
                                                     "eight", "five", "five")
    assert S.parse_transcript("  Go Left ", CMD) == ("go", "left")
    assert S.parse_transcript("left 42", CMD) == ("left", "four", "two")


@pytest.mark.parametrize("label, grammar, problem", [
    ("", DIG, "empty transcript"),
    ("3.5", DIG, "not a word or a digit string"),
    ("go,left", CMD, "not a word or a digit string"),
    ("turn left", CMD, "'turn' is not in the vocabulary"),
    ("one oh two", DIG, "'oh' is not in the vocabulary"),
    ("go left", DIG, "not in grammar 'digits'"),
    ("left go", CMD, "not accepted by grammar 'commands'"),
    ("1234567890123", DIG, "not accepted by grammar 'digits'"),
])
def test_parse_transcript_errors(label, grammar, problem):
    with pytest.raises(DataError) as err:
        S.parse_transcript(label, grammar, "/x/rec_7.flac")
    msg = str(err.value)
    assert msg.startswith("/x/rec_7.flac: ") and problem in msg and "\n" not in msg


def test_active_region():
    x = np.zeros(16000, np.float32)
    x[8000:9600] = 0.5 * np.sin(np.arange(1600) / 3.0)
    a, b = S.active_region(x)
    assert a == 8000 - 800 and b == 9600 + 800  # 50 ms margin each side
    assert S.active_region(np.zeros(100, np.float32)) == (0, 0)


# ---- real data ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def banks(shared_data):
    return S.word_bank("dev", shared_data), S.word_bank("eval", shared_data)


def test_banks_split_and_describe(banks):
    dev, ev = banks
    sc_dev, sc_ev = set(dev.speakers("speech_commands")), set(ev.speakers("speech_commands"))
    assert sc_dev and sc_ev and not (sc_dev & sc_ev)  # the Speech Commands part is speaker-disjoint
    clips = lambda b: {c.path for s in b.clips for cl in b.clips[s].values() for c in cl}  # noqa: E731
    assert not (clips(dev) & clips(ev))  # FSDD: same 6 speakers, disjoint recordings
    d = dev.describe()
    assert set(d["sources"]) == {"speech_commands", "fsdd"}
    assert d["sources"]["fsdd"]["words"] == {w: 270 for w in S.DIGIT_WORDS}
    assert set(d["sources"]["speech_commands"]["words"]) == set(S.SEQ_VOCAB[1:])
    assert ev.describe()["sources"]["fsdd"]["clips"] == 300
    assert all(g["accent"] != "unknown" for s, g in dev.groups.items() if g["source"] == "fsdd")


def test_generate_deterministic_one_speaker(banks):
    dev = banks[0]
    a = S.generate(dev, DIG, 30, seed=3)
    assert a == S.generate(dev, DIG, 30, seed=3)
    assert [u.words for u in a] != [u.words for u in S.generate(dev, DIG, 30, seed=4)]
    assert {u.groups["source"] for u in a} == {"speech_commands", "fsdd"}
    owner = {c.path: s for s in dev.clips for cl in dev.clips[s].values() for c in cl}
    for u in a + S.generate(dev, CMD, 30, seed=3):
        assert (DIG if u.id.startswith("digits") else CMD).accepts(u.words)
        assert {owner[p[0]] for p in u.parts} == {u.speaker}  # every word from the utterance's speaker
        assert len(u.gaps_s) == len(u.words) + 1
    x = S.render(a[0])
    assert x.dtype == np.float32 and x.shape == (a[0].num_samples,) and np.array_equal(x, S.render(a[0]))
    waves, lengths = S.load_sequence_audio(a)
    assert waves.shape == (30, S.SEQ_MAX_SAMPLES) and waves.dtype == np.float32 and lengths.max() <= S.SEQ_MAX_SAMPLES
    assert np.abs(waves).max() <= 1.0
    assert not np.any(waves[0, lengths[0]:])


def test_load_sequence_audio_too_long(banks, shared_data):
    u = S.generate(banks[1], DIG, 1, seed=0)[0]
    with pytest.raises(DataError, match=f"utterance {u.id} .*longer than 1000"):
        S.load_sequence_audio([u], max_samples=1000)
    real = S.real_connected_digits(shared_data)[0]
    with pytest.raises(DataError) as err:
        S.load_sequence_audio([real], max_samples=1000)
    assert str(err.value).startswith(real.path + ": ")


def test_real_connected_digits(shared_data):
    utts = S.real_connected_digits(shared_data)
    assert len(utts) == 69 and len({u.speaker for u in utts}) == 69
    assert S.ALNUM_METADATA_SLIP[0] not in {u.speaker for u in utts}
    assert all(DIG.accepts(u.words) and u.path and not u.parts for u in utts)
    accents = {u.groups["accent"] for u in utts}
    assert "Indian" in accents and len(accents) > 5
    assert set(utts[0].groups) == {"source", *S.ALNUM_GROUP_COLUMNS}


def test_held_out_sequences(shared_data):
    h = S.held_out_sequences(5, 4, seed=1, data_root=shared_data)
    assert [u.id.split("-")[0] for u in h] == ["digits"] * 5 + ["commands"] * 4
    assert all(u.id.split("-")[1] == "eval" for u in h)


def test_word_spans_locate_every_word_in_the_rendered_audio(shared_data):
    from voxquant.data.sequences import GRAMMARS, generate, render, word_bank, word_spans
    from voxquant.models.train_ctc import frame_labels

    bank = word_bank("dev", shared_data)
    for u in generate(bank, GRAMMARS["commands"], 4, seed=5) + generate(bank, GRAMMARS["digits"], 4, seed=6):
        x = render(u)
        spans = word_spans(u)
        assert len(spans) == len(u.words) and spans[-1][1] <= len(x)
        inside = np.zeros(len(x), dtype=bool)
        for s0, s1 in spans:
            assert np.abs(x[s0:s1]).max() > 0
            inside[s0:s1] = True
        assert not np.any(x[~inside])  # the gaps are the synthesized silence, nothing else
        lab = frame_labels([u], 1 + (len(x) - 400) // 160, 1)[0]
        centre = np.arange(len(lab)) * 160 + 0.5 * 160 + 200
        assert set(lab[~inside[np.minimum(centre.astype(int), len(x) - 1)]]) <= {0}
        assert (lab > 0).sum() > 0
