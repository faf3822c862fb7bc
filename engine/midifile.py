"""Standard MIDI files <-> grid notes (mido, imported inside the functions so ``engine`` stays light).

Reading keeps one voice by the highest-note rule: notes are quantised to the nearest grid step (onset and
end; at least one step long); at each onset step the highest note starting there is the candidate, and it is
dropped if a higher kept note is still sounding (the melody stays on top); a kept note is cut where the next
kept note starts. Drum channel notes (channel 10) are ignored. Timing is in beats (``ticks_per_beat``), so
tempo changes don't move notes on the grid.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from antiphon.engine.events import DEFAULT_BPM, MIDI_PITCH_MAX, MIDI_PITCH_MIN, STEPS_PER_QUARTER, Note

TICKS_PER_BEAT = 480
DEFAULT_VELOCITY = 80
DRUM_CHANNEL = 9  # MIDI channel 10, zero-based
MIDI_CHANNELS = 16
MICROSECONDS_PER_MINUTE = 60_000_000  # a set_tempo meta event holds microseconds per quarter note


def bpm_to_tempo(bpm: float) -> int:
    """Quarter notes per minute -> a set_tempo value (microseconds per quarter)."""
    return round(MICROSECONDS_PER_MINUTE / bpm)


def tempo_to_bpm(tempo: int) -> float:
    """A set_tempo value (microseconds per quarter) -> quarter notes per minute."""
    return MICROSECONDS_PER_MINUTE / tempo


def write_midi(notes: Iterable[Note], path: str | os.PathLike[str], *, bpm: float = DEFAULT_BPM,
               steps_per_quarter: int = STEPS_PER_QUARTER, velocity: int = DEFAULT_VELOCITY, channel: int = 0,
               ticks_per_beat: int = TICKS_PER_BEAT, program: int | None = None) -> Path:
    """Write notes (rests skipped) as a type-0 standard MIDI file at ``bpm``; returns the path."""
    import mido

    if not bpm > 0:
        raise ValueError(f"bpm must be positive, got {bpm}")
    if steps_per_quarter <= 0 or ticks_per_beat % steps_per_quarter:
        raise ValueError(f"steps_per_quarter {steps_per_quarter} must be positive and divide ticks_per_beat "
                         f"{ticks_per_beat}")
    if not 1 <= velocity <= 127:
        raise ValueError(f"velocity must be 1..127, got {velocity}")
    if not 0 <= channel < MIDI_CHANNELS:
        raise ValueError(f"channel must be 0..15, got {channel}")
    ticks_per_step = ticks_per_beat // steps_per_quarter
    events: list[tuple[int, int, int]] = []  # (tick, order: offs before ons, pitch)
    for note in notes:
        if note.is_rest:
            continue
        valid = MIDI_PITCH_MIN <= note.pitch <= MIDI_PITCH_MAX and note.length_steps > 0
        if not valid or note.start_step < 0:
            raise ValueError(f"cannot write {note}: pitch must be 0..127, start >= 0 and length > 0")
        events.append((note.start_step * ticks_per_step, 1, note.pitch))
        events.append((note.end_step * ticks_per_step, 0, note.pitch))
    events.sort()
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=bpm_to_tempo(bpm), time=0))
    if program is not None:
        track.append(mido.Message("program_change", program=program, channel=channel, time=0))
    now = 0
    for tick, is_on, pitch in events:
        kind = "note_on" if is_on else "note_off"
        track.append(mido.Message(kind, note=pitch, velocity=velocity if is_on else 0, channel=channel,
                                  time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    midi = mido.MidiFile(type=0, ticks_per_beat=ticks_per_beat)
    midi.tracks.append(track)
    path = Path(path)
    midi.save(path)
    return path


def open_midi(source: str | os.PathLike[str] | bytes, name: str | None = None):
    """A ``mido.MidiFile`` from a path or the file's bytes, checked: readable, type 0 or 1, ticks per beat.

    Every reader of MIDI files goes through here; a bad file is a ``ValueError`` naming it.
    """
    import io

    import mido

    label = name or ("MIDI data" if isinstance(source, bytes) else str(source))
    try:
        midi = (mido.MidiFile(file=io.BytesIO(source)) if isinstance(source, bytes) else mido.MidiFile(source))
    except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError) as err:
        raise ValueError(f"cannot read MIDI file {label}: {err}") from err
    if midi.type == 2:
        raise ValueError(f"{label}: MIDI type 2 (independent sequences) is not supported")
    if midi.ticks_per_beat <= 0:
        raise ValueError(f"{label}: SMPTE time division is not supported")
    return midi


def read_midi_notes(path: str | os.PathLike[str], *, steps_per_quarter: int = STEPS_PER_QUARTER,
                    trim_leading: bool = True) -> list[Note]:
    """Read a MIDI file as one voice of grid notes (highest-note rule, see the module docstring).

    With ``trim_leading`` the first note starts at step 0. Raises ``ValueError`` for an unreadable file or
    one with no notes.
    """
    import mido

    midi = open_midi(path)
    raw = _note_spans(mido.merge_tracks(midi.tracks))
    if not raw:
        raise ValueError(f"{path} holds no notes")
    scale = steps_per_quarter / midi.ticks_per_beat
    quantised = []
    for start_tick, end_tick, pitch in raw:
        start = round(start_tick * scale)
        end = max(round(end_tick * scale), start + 1)
        quantised.append((start, end, pitch))
    notes = highest_voice(quantised)
    if trim_leading:
        offset = notes[0].start_step
        notes = [Note(n.pitch, n.start_step - offset, n.length_steps) for n in notes]
    return notes


def _note_spans(messages) -> list[tuple[int, int, int]]:
    """(start tick, end tick, pitch) of every note in a merged track; overlapping same-pitch notes nest."""
    tick = 0
    sounding: dict[tuple[int, int], list[int]] = {}
    spans = []
    for message in messages:
        tick += message.time
        if message.type not in ("note_on", "note_off") or message.channel == DRUM_CHANNEL:
            continue
        key = (message.channel, message.note)
        if message.type == "note_on" and message.velocity > 0:
            sounding.setdefault(key, []).append(tick)
        elif sounding.get(key):
            spans.append((sounding[key].pop(0), tick, message.note))
    for (_, pitch), starts in sounding.items():  # never released: end at the last event
        spans.extend((start, max(tick, start), pitch) for start in starts)
    return sorted(spans)


def highest_voice(spans: Iterable[tuple[int, int, int]]) -> list[Note]:
    """One voice from quantised (start step, end step, pitch) spans by the highest-note rule."""
    by_onset: dict[int, tuple[int, int]] = {}
    for start, end, pitch in spans:
        if start not in by_onset or pitch > by_onset[start][1]:
            by_onset[start] = (end, pitch)
    kept: list[list[int]] = []  # [start, end, pitch]
    for start in sorted(by_onset):
        end, pitch = by_onset[start]
        if kept and kept[-1][1] > start and kept[-1][2] > pitch:
            continue  # a higher note still sounds: keep the melody on top
        if kept and kept[-1][1] > start:
            kept[-1][1] = start
        kept.append([start, end, pitch])
    return [Note(pitch, start, end - start) for start, end, pitch in kept]
