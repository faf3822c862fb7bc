"""The vocabulary: its order, the JSON round trip, encode/decode, and refusal of bad files and symbols."""

from __future__ import annotations

import json

import pytest

from antiphon.engine.events import DELIMITER, HOLD, REST
from antiphon.engine.vocab import Vocab


def test_build_puts_the_specials_first_then_pitches_low_to_high():
    vocab = Vocab.build(["72", "60", "_", "64", "60"])
    assert vocab.symbols == [DELIMITER, REST, HOLD, "60", "64", "72"]
    assert len(vocab) == 6 and "64" in vocab and "61" not in vocab
    assert vocab.pitch_range() == (60, 72)
    assert Vocab.build([]).pitch_range() is None


def test_save_and_load_round_trip(tmp_path):
    vocab = Vocab.build(str(p) for p in range(55, 80, 2))
    path = tmp_path / "vocab.json"
    vocab.save(path)
    loaded = Vocab.load(path)
    assert loaded == vocab and hash(loaded) == hash(vocab)
    assert loaded.symbols == vocab.symbols
    assert json.loads(path.read_text()) == {s: i for i, s in enumerate(vocab.symbols)}


def test_encode_decode_round_trip():
    vocab = Vocab.build(["60", "62", "64"])
    melody = ["60", HOLD, "62", REST, HOLD, "64", DELIMITER]
    assert vocab.decode(vocab.encode(melody)) == melody
    assert [vocab.symbol(vocab.index(s)) for s in melody] == melody


def test_unknown_symbols_are_named():
    vocab = Vocab.build(["60"])
    with pytest.raises(ValueError, match="'61' at position 2"):
        vocab.encode(["60", HOLD, "61"])
    with pytest.raises(ValueError, match="'C4'"):
        vocab.index("C4")


@pytest.mark.parametrize("mapping, message", [
    ({}, "non-empty"),
    (["/", "r"], "non-empty JSON object"),
    ({"/": 0, "r": "1"}, "'r': '1' is not str -> int"),
    ({"/": 0, "r": True}, "not str -> int"),
    ({"/": 0, "C4": 1}, "invalid symbol 'C4'"),
    ({"/": 0, "128": 1}, "invalid symbol '128'"),
    ({"/": 0, "r": 2}, "exactly 0..N-1"),
    ({"/": 0, "r": 0}, "exactly 0..N-1"),
])
def test_bad_mappings_are_refused(mapping, message):
    with pytest.raises(ValueError, match=message):
        Vocab(mapping)


def test_bad_files_are_refused(tmp_path):
    with pytest.raises(ValueError, match="missing"):
        Vocab.load(tmp_path / "absent.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"/": 0,')
    with pytest.raises(ValueError, match="not valid JSON"):
        Vocab.load(broken)
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"symbols": 3}')
    with pytest.raises(ValueError, match="invalid symbol 'symbols'"):
        Vocab.load(wrong)
