"""Encode notes as grid symbols and decode symbols back to notes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from antiphon.engine.events import DELIMITER, HOLD, MIDI_PITCH_MAX, MIDI_PITCH_MIN, REST, Note, is_pitch_symbol


def encode_notes(notes: Iterable[Note]) -> list[str]:
    """Encode notes and rests as one symbol per grid step.

    A note is its MIDI number then ``_`` for every further step (a quarter note on 63 at 4 steps per
    quarter is ``63 _ _ _``); a rest is ``r`` then ``_``. Gaps between notes become rests; notes must
    not overlap and must have a positive length.
    """
    symbols: list[str] = []
    for note in sorted(notes, key=lambda n: n.start_step):
        if note.length_steps <= 0:
            raise ValueError(f"note length must be positive, got {note.length_steps} steps at {note.start_step}")
        if note.start_step < len(symbols):
            raise ValueError(f"note at step {note.start_step} overlaps the previous note (ends at {len(symbols)})")
        if note.start_step > len(symbols):
            gap = note.start_step - len(symbols)
            symbols.append(REST)
            symbols.extend([HOLD] * (gap - 1))
        if note.pitch is None:
            symbols.append(REST)
        else:
            if not MIDI_PITCH_MIN <= note.pitch <= MIDI_PITCH_MAX:
                raise ValueError(f"MIDI pitch out of range 0..127: {note.pitch}")
            symbols.append(str(note.pitch))
        symbols.extend([HOLD] * (note.length_steps - 1))
    return symbols


def decode_symbols(symbols: Sequence[str], *, merge_rests: bool = True) -> list[Note]:
    """Decode grid symbols to notes and rests.

    Decoding stops at the first ``/``. A ``_`` with nothing before it starts a rest, so any symbol sequence
    decodes. Consecutive rests merge into one unless ``merge_rests`` is false. Unknown symbols raise
    ``ValueError`` naming them.
    """
    notes: list[Note] = []
    pitch: int | None = None
    start = 0
    active = False
    for step, symbol in enumerate(symbols):
        if symbol == DELIMITER:
            break
        if symbol == HOLD:
            if not active:
                active, pitch, start = True, None, step
            continue
        if symbol != REST and not is_pitch_symbol(symbol):
            raise ValueError(f"unknown symbol {symbol!r} at step {step}")
        new_pitch = None if symbol == REST else int(symbol)
        if active and not (merge_rests and pitch is None and new_pitch is None):
            notes.append(Note(pitch, start, step - start))
            active = False
        if not active:
            active, pitch, start = True, new_pitch, step
    else:
        step = len(symbols)
    if active:
        notes.append(Note(pitch, start, step - start))
    return notes


def transpose_symbols(symbols: Sequence[str], semitones: int) -> list[str]:
    """Shift every pitch symbol by ``semitones``; raises ``ValueError`` if a pitch leaves 0..127."""
    out = []
    for symbol in symbols:
        if is_pitch_symbol(symbol):
            pitch = int(symbol) + semitones
            if not MIDI_PITCH_MIN <= pitch <= MIDI_PITCH_MAX:
                raise ValueError(f"transposing {symbol} by {semitones} leaves the MIDI range")
            out.append(str(pitch))
        else:
            out.append(symbol)
    return out
