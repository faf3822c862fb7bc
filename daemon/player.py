"""Output: note-ons and note-offs with every sounding (channel, note) tracked, and the all-notes-off silence."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import mido

from antiphon.engine.midifile import MIDI_CHANNELS

SUSTAIN_PEDAL = 64
ALL_SOUND_OFF = 120
ALL_NOTES_OFF = 123
MIDI_NOTES = 128


def silence_messages(channels: Iterable[int], notes: Iterable[tuple[int, int]] = ()) -> list[mido.Message]:
    """Note-offs for ``notes`` (channel, note), then per channel: sustain off, CC 123, CC 120 (0-based channels)."""
    messages = [mido.Message("note_off", channel=ch, note=note, velocity=0) for ch, note in notes]
    for ch in sorted(set(channels)):
        messages.append(mido.Message("control_change", channel=ch, control=SUSTAIN_PEDAL, value=0))
        messages.append(mido.Message("control_change", channel=ch, control=ALL_NOTES_OFF, value=0))
        messages.append(mido.Message("control_change", channel=ch, control=ALL_SOUND_OFF, value=0))
    return messages


def panic_messages(note_channels: Iterable[int]) -> list[mido.Message]:
    """The silence sent from outside the daemon: note-offs for every note on ``note_channels``, CCs on all 16."""
    notes = [(ch, note) for ch in sorted(set(note_channels)) for note in range(MIDI_NOTES)]
    return silence_messages(range(MIDI_CHANNELS), notes)


class NotePlayer:
    """Sends notes through ``send`` and remembers which (channel, note) pairs sound, so none gets stuck."""

    def __init__(self, send: Callable[[mido.Message], None]):
        self._send = send
        self.sounding: set[tuple[int, int]] = set()
        self.channels_used: set[int] = set()

    def note_on(self, channel: int, note: int, velocity: int) -> None:
        if (channel, note) in self.sounding:  # re-strike: release first so every on has its off
            self.note_off(channel, note)
        self._send(mido.Message("note_on", channel=channel, note=note, velocity=velocity))
        self.sounding.add((channel, note))
        self.channels_used.add(channel)

    def note_off(self, channel: int, note: int) -> None:
        if (channel, note) in self.sounding:
            self.sounding.discard((channel, note))
            self._send(mido.Message("note_off", channel=channel, note=note, velocity=0))

    def release(self) -> None:
        """A note-off for every sounding note (no controllers)."""
        for channel, note in sorted(self.sounding):
            self.note_off(channel, note)

    def all_notes_off(self, channels: Iterable[int] = ()) -> None:
        """Note-offs for every sounding note, then sustain off, CC 123 and CC 120 on every channel used."""
        notes = sorted(self.sounding)
        self.sounding.clear()
        for message in silence_messages(self.channels_used | set(channels), notes):
            self._send(message)
