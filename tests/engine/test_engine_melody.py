"""Encode/decode round trips of grid symbols, by example and by property."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from antiphon.engine.events import DELIMITER, HOLD, REST, Note
from antiphon.engine.melody import decode_symbols, encode_notes, transpose_symbols

SYMBOLS = st.one_of(st.sampled_from([REST, HOLD]), st.integers(0, 127).map(str))


@st.composite
def melodies(draw):
    """Back-to-back notes and rests from step 0, never two rests in a row (they would merge)."""
    notes, step, last_rest = [], 0, False
    for _ in range(draw(st.integers(0, 30))):
        pitch = draw(st.one_of(st.none(), st.integers(0, 127)) if not last_rest else st.integers(0, 127))
        length = draw(st.integers(1, 16))
        notes.append(Note(pitch, step, length))
        step, last_rest = step + length, pitch is None
    return notes


def test_examples():
    assert encode_notes([Note(63, 0, 4)]) == ["63", "_", "_", "_"]
    assert decode_symbols(["_", "_", "60", "_", "r", "62", "/", "64"]) == [
        Note(None, 0, 2), Note(60, 2, 2), Note(None, 4, 1), Note(62, 5, 1)]
    with pytest.raises(ValueError, match="'x'"):
        decode_symbols(["60", "x"])


@settings(max_examples=300, deadline=None)
@given(melodies())
def test_decode_inverts_encode(notes):
    symbols = encode_notes(notes)
    assert len(symbols) == sum(n.length_steps for n in notes)
    assert decode_symbols(symbols) == notes


@settings(max_examples=300, deadline=None)
@given(st.lists(SYMBOLS, max_size=80))
def test_any_symbol_sequence_decodes_and_reencodes_to_the_same_notes(symbols):
    notes = decode_symbols(symbols)
    again = encode_notes(notes)
    assert len(again) == len(symbols)
    assert decode_symbols(again) == notes
    # Onsets of pitches are kept exactly where they were.
    assert [(i, s) for i, s in enumerate(symbols) if s.isdigit()] == [(i, s) for i, s in enumerate(again)
                                                                      if s.isdigit()]


@settings(max_examples=100, deadline=None)
@given(st.lists(SYMBOLS, max_size=40), st.integers(-5, 6))
def test_transposition_round_trip(symbols, semitones):
    try:
        moved = transpose_symbols(symbols, semitones)
    except ValueError as err:
        assert "leaves the MIDI range" in str(err)
        return
    assert transpose_symbols(moved, -semitones) == symbols
    assert decode_symbols(symbols + [DELIMITER]) == decode_symbols(symbols)
