"""The click: General MIDI percussion (channel 10) on every beat of the session grid, accented on the downbeat.

It reads the session's tempo and meter (``daemon.tempo``), so it follows tempo changes, the calls' bar lines
and an external MIDI clock. A count-in is the click for a number of bars before the first call, at ``--bpm``.
Clicks go to the output only: they are never recorded as the player's call, and the listener ignores the
percussion channel. Every click is released a step later, and ``stop`` silences it with everything else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import mido

from antiphon.daemon.player import NotePlayer
from antiphon.daemon.tempo import SessionTempo
from antiphon.engine.midifile import DRUM_CHANNEL

log = logging.getLogger(__name__)


class Metronome:
    """Clicks at grid steps: ``tick(step)`` at each step's deadline (after the music's messages)."""

    def __init__(self, send: Callable[[mido.Message], None], tempo: SessionTempo, notes: tuple[int, int],
                 velocities: tuple[int, int], enabled: bool = False):
        self.player = NotePlayer(send)
        self.tempo = tempo
        self.notes = notes  # (downbeat, other beats)
        self.velocities = velocities
        self.enabled = enabled
        self.count_in_until: int | None = None  # grid step where a count-in ends

    def count_in(self, bars: int, first_step: int) -> None:
        """Click ``bars`` bars from grid ``first_step`` (a downbeat) whether or not the metronome is on."""
        self.count_in_until = first_step + bars * self.tempo.bar_steps
        log.info("count-in: %d bar(s) at %.1f bpm, %s", bars, self.tempo.bpm, self.tempo.signature)

    def set_enabled(self, on: bool) -> None:
        if on != self.enabled:
            self.enabled = on
            log.info("metronome %s", "on" if on else "off")
            if not on:
                self.player.release()

    def tick(self, step: int) -> None:
        """Grid ``step`` is due: release the last click, and click if the step is a beat."""
        self.player.release()
        counting = self.count_in_until is not None
        if counting and step >= self.count_in_until:
            self.count_in_until = None
            counting = False
        if not (self.enabled or counting) or not self.tempo.known or not self.tempo.is_beat(step):
            return
        accent = 0 if self.tempo.is_downbeat(step) else 1
        self.player.note_on(DRUM_CHANNEL, self.notes[accent], self.velocities[accent])

    def stop(self) -> None:
        """Silence: note-offs and the all-notes-off controllers on the percussion channel if it was used."""
        self.count_in_until = None
        self.player.all_notes_off()
