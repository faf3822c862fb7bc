"""Listening with ``--tempo follow``: a phrase's notes in seconds, its rhythm heard, the answer's bar line.

While the player plays, note-ons and -offs are kept as times. Once no key is down the phrase's rhythm is heard
(``engine.rhythm``: tempo, beat, meter, downbeat; against the session's grid from the second call on) and the
session grid takes it. The answer starts on the first bar line that follows at least ``end_beats`` beats of
silence after the last release: the end-of-phrase rule scales with the tempo, and it never waits longer than
the first bar line after one silent bar (today's fixed rule, the upper bound). Hearing runs after a step's
messages are sent (``Session.compute_ahead``), so it never delays a step.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from antiphon.daemon.phrase import MAX_CALL_STEPS, Call
from antiphon.daemon.tempo import SessionTempo
from antiphon.engine.events import Note
from antiphon.engine.meter import bar_positions
from antiphon.engine.midifile import highest_voice
from antiphon.engine.rhythm import Rhythm, RhythmConfig, estimate_rhythm

log = logging.getLogger(__name__)


@dataclass
class Played:
    """One key press: times in seconds; ``off_s`` is None while the key is down."""

    on_s: float
    off_s: float | None
    pitch: int
    velocity: int


class PhraseHearing:
    """Collects one phrase at a time (seconds) and hears it against the session's tempo."""

    def __init__(self, tempo: SessionTempo, end_beats: float, prior_bpm: float, max_steps: int = MAX_CALL_STEPS,
                 config: RhythmConfig | None = None):
        self.tempo = tempo
        self.end_beats = end_beats
        self.prior_bpm = prior_bpm
        self.max_steps = max_steps
        self.config = config or RhythmConfig()
        self.version = 0
        self.reset()

    def reset(self) -> None:
        """Forget the phrase (after it ended)."""
        self.played: list[Played] = []
        self._down: dict[int, Played] = {}
        self._heard: tuple[int, Rhythm | None] | None = None  # (version, rhythm)
        self.forced = False
        self.active = False
        self.version += 1

    @property
    def sounding(self) -> bool:
        return bool(self._down)

    def note_on(self, t: float, pitch: int, velocity: int) -> bool:
        """A key went down at ``t`` (s); returns True if it started a new phrase."""
        started = not self.active
        if started:
            self.reset()
            self.active = True
        if pitch in self._down:  # re-struck without a release
            self._down.pop(pitch).off_s = t
        note = Played(t, None, pitch, velocity)
        self.played.append(note)
        self._down[pitch] = note
        self.version += 1
        return started

    def note_off(self, t: float, pitch: int) -> None:
        if self.active and pitch in self._down:
            self._down.pop(pitch).off_s = t
            self.version += 1

    def release_all(self, t: float) -> None:
        """Every key came up (All Notes Off / All Sound Off from the keyboard)."""
        if self.active and self._down:
            for note in self._down.values():
                note.off_s = t
            self._down.clear()
            self.version += 1

    def end_now(self) -> None:
        """The phrase-end controller: answer on the next bar line."""
        if self.active:
            self.forced = True
            self.version += 1

    def too_long(self, now: float) -> bool:
        """The phrase has run ``max_steps`` grid steps: it ends (as in fixed mode)."""
        return self.active and now - self.played[0].on_s >= self.max_steps * self.tempo.clock.period_s

    def hear(self) -> Rhythm | None:
        """The phrase's rhythm once no key is down (cached until the phrase changes); the session grid takes it.

        ``None`` while a key is down, or when no rhythm can be heard (logged; the grid stays as it was).
        """
        if not self.active or self._down:
            return None
        if self._heard is not None and self._heard[0] == self.version:
            return self._heard[1]
        session = self.tempo.grid() if self.tempo.known else None
        try:
            rhythm = estimate_rhythm([n.on_s for n in self.played], [n.off_s for n in self.played],
                                     [n.pitch for n in self.played], prior_bpm=self.prior_bpm, session=session,
                                     config=self.config)
        except ValueError as err:  # bad musical input is logged and dropped, never raised in the loop
            log.warning("cannot hear this phrase's rhythm: %s", err)
            rhythm = None
        self._heard = (self.version, rhythm)
        if rhythm is not None:
            self.tempo.set_grid(rhythm.grid)
            log.debug("heard %.1f bpm %s, pickup %d, confidence %.2f, timing error %.1f ms%s", rhythm.grid.bpm,
                      rhythm.grid.signature, rhythm.pickup_steps, rhythm.confidence, rhythm.timing_error_ms,
                      " (session grid)" if rhythm.continued else "")
        return rhythm

    def answer_step(self, now: float) -> int | None:
        """Grid step (a bar line) where the answer starts, or ``None`` while the phrase goes on (a step after
        ``now`` at the earliest: the session computes the answer when that step is the next one)."""
        if not self.active or (self._down and not self.forced):
            return None
        if self.hear() is None and not self.forced:
            return None
        clock = self.tempo.clock
        earliest = clock.step_after(now)
        if self.forced:
            return self.tempo.bar_line_from(earliest)
        last_release = max(n.off_s for n in self.played)
        silence_until = last_release + self.end_beats * self.tempo.beat_s()
        return self.tempo.bar_line_from(max(earliest, math.ceil(clock.position(silence_until) - 1e-6)))

    def call(self) -> Call:
        """The heard phrase as a call for the model: notes from its first note, with its meter.

        Without a rhythm (the phrase could not be heard) the notes are quantised on the running grid.
        """
        rhythm = self.hear()
        clock = self.tempo.clock
        bar = self.tempo.bar_steps
        if rhythm is not None:
            first = rhythm.notes[0].start_step
            notes = tuple(Note(n.pitch, n.start_step - first, n.length_steps) for n in rhythm.notes)
            anchor = -rhythm.pickup_steps  # the first downbeat is the clock's step 0
            position = int(bar_positions(rhythm.meter, first + 1)[first])
            bar = rhythm.grid.bar_steps
        else:
            anchor = round(clock.position(self.played[0].on_s))
            notes = tuple(Note(n.pitch, max(0, round(clock.position(n.on_s)) - anchor),
                               max(1, round(clock.position(n.off_s if n.off_s is not None else clock.now())
                                            - clock.position(n.on_s))))
                          for n in self.played)
            position = anchor % bar
        notes = _one_voice(notes)
        length = max(n.end_step for n in notes)
        velocity = round(sum(n.velocity for n in self.played) / len(self.played))
        return Call(notes, length, velocity, anchor, len(self.played), meter=((0, bar, position % bar),))


def _one_voice(notes: tuple[Note, ...]) -> tuple[Note, ...]:
    return tuple(highest_voice(sorted((n.start_step, n.end_step, n.pitch) for n in notes)))
