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
from dataclasses import dataclass

from antiphon.daemon.phrase import MAX_CALL_STEPS, Call
from antiphon.daemon.tempo import SessionTempo, beat_steps
from antiphon.engine.events import STEPS_PER_QUARTER, Note
from antiphon.engine.meter import bar_positions
from antiphon.engine.midifile import highest_voice
from antiphon.engine.rhythm import Grid, Rhythm, RhythmConfig, estimate_rhythm

log = logging.getLogger(__name__)

MIN_SILENCE_S = 0.15  # no hearing before this much silence: shorter gaps are between a phrase's notes
# A key held this many bars with nothing else played ends the phrase: its release was most likely lost (an xrun
# drops the cycles that carried it), and the player, who has stopped, is waiting for an answer.
HELD_ALONE_BARS = 2.0


@dataclass
class Played:
    """One key press: times in seconds; ``off_s`` is None while the key is down."""

    on_s: float
    off_s: float | None
    pitch: int
    velocity: int


class PhraseHearing:
    """Collects one phrase at a time (seconds) and hears it against the session's tempo."""

    def __init__(self, tempo: SessionTempo, end_beats: float, bpm: float, max_steps: int = MAX_CALL_STEPS,
                 config: RhythmConfig | None = None, prior_bpm: float | None = None):
        """``bpm``: the grid before anything is heard; ``prior_bpm``: the tempo a first call is heard around (the
        player's ``--bpm``), else the rhythm model's own tempo prior."""
        self.tempo = tempo
        self.end_beats = end_beats
        self.bpm = bpm
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
        self._session: Grid | None = None  # the session's grid when the phrase began
        self._trust = 1.0  # and how sure the session was of it
        self.forced = False
        self.active = False
        self._last_event_s = 0.0
        self.version += 1

    @property
    def sounding(self) -> bool:
        return bool(self._down)

    def note_on(self, t: float, pitch: int, velocity: int) -> bool:
        """A key went down at ``t`` (s); returns True if it started a new phrase."""
        if self.active and self.forced:
            return False  # the phrase was cut (maximum length, phrase-end controller): it waits for its answer
        started = not self.active
        if started:
            self.reset()
            self.active = True
            self._session = self.tempo.grid() if self.tempo.known else None
            self._trust = self.tempo.trust
        if pitch in self._down:  # re-struck without a release
            self._down.pop(pitch).off_s = t
        note = Played(t, None, pitch, velocity)
        self.played.append(note)
        self._down[pitch] = note
        self._last_event_s = t
        self.version += 1
        return started

    def note_off(self, t: float, pitch: int) -> None:
        if self.active and pitch in self._down:
            self._down.pop(pitch).off_s = t
            self._last_event_s = t
            self.version += 1

    def release_all(self, t: float) -> None:
        """Every key came up (All Notes Off / All Sound Off from the keyboard)."""
        if self.active and self._down:
            for note in self._down.values():
                note.off_s = t
            self._down.clear()
            self._last_event_s = t
            self.version += 1

    def end_now(self) -> None:
        """The phrase-end controller: answer on the next bar line. (Once: a second call changes nothing, so an
        answer planned for the cut phrase stays planned.)"""
        if self.active and not self.forced:
            self.forced = True
            self.version += 1

    def too_long(self, now: float) -> bool:
        """The phrase has run ``max_steps`` grid steps (it ends, as in fixed mode), or a key has been held alone
        for ``HELD_ALONE_BARS`` bars of the session's grid (a lost release: it ends too)."""
        if not self.active:
            return False
        period = self.tempo.clock.period_s
        if now - self.played[0].on_s >= self.max_steps * period:
            return True
        return bool(self._down) and now - self._last_event_s >= HELD_ALONE_BARS * self.tempo.bar_steps * period

    def silent_s(self, now: float) -> float:
        """Seconds since the phrase's last release (0 while a key is down or before any phrase)."""
        if not self.active or self._down:
            return 0.0
        return now - max(n.off_s for n in self.played)

    def hear(self) -> Rhythm | None:
        """The phrase's rhythm (cached until the phrase changes), heard against the grid the session had when
        the phrase began; ``None`` when it cannot be heard (logged). The session grid is not touched here:
        the session takes the rhythm's grid only once it commits to an answer (a pause inside a phrase must
        not move the beat the rest of the phrase is heard against)."""
        if self._heard is not None and self._heard[0] == self.version:
            return self._heard[1]
        try:
            rhythm = estimate_rhythm([n.on_s for n in self.played], [n.off_s for n in self.played],
                                     [n.pitch for n in self.played], prior_bpm=self.prior_bpm, session=self._session,
                                     config=self.config, velocities=[n.velocity for n in self.played],
                                     session_trust=self._trust, cut=self.forced)
            log.debug("heard %.1f bpm %s, pickup %d, confidence %.2f, timing error %.1f ms%s", rhythm.grid.bpm,
                      rhythm.grid.signature, rhythm.pickup_steps, rhythm.confidence, rhythm.timing_error_ms,
                      " (session grid)" if rhythm.continued else "")
        except ValueError as err:  # bad musical input is logged and dropped, never raised in the loop
            log.debug("cannot hear this phrase's rhythm: %s", err)
            rhythm = None
        self._heard = (self.version, rhythm)
        return rhythm

    def trust(self) -> float:
        """How sure the session may be of :meth:`grid`: the heard rhythm's confidence (at least the session's
        when the phrase continued its grid); the session's own without a rhythm."""
        rhythm = self.hear()
        if rhythm is None:
            return self._trust if self._session is not None else 0.0
        return max(rhythm.confidence, self._trust) if rhythm.continued else rhythm.confidence

    def grid(self) -> Grid:
        """The phrase's grid: as heard, else the session's, else ``bpm`` from the phrase's first note."""
        rhythm = self.hear()
        if rhythm is not None:
            return rhythm.next_grid
        if self._session is not None:
            return self._session
        return Grid(self.bpm, self.played[0].on_s, self.tempo.bar_steps, self.tempo.signature)

    def answer_time(self, now: float) -> float | None:
        """When the answer starts (s, a bar line of the phrase's grid), or ``None`` while the phrase goes on.

        The first bar line after ``end_beats`` silent beats, no later than the first bar line after a silent
        bar; with the phrase-end controller, the first bar line from ``now`` on. Nothing is heard before
        ``MIN_SILENCE_S`` of silence (a gap between two notes of a phrase is not worth a hearing).
        """
        if not self.active or (self._down and not self.forced):
            return None
        if not self.forced and self.silent_s(now) < MIN_SILENCE_S:
            return None
        grid = self.grid()
        soonest = now + 1e-6  # a bar line exactly now has passed: its step is due already
        if self.forced:
            return grid.bar_line_after(soonest)
        release = max(n.off_s for n in self.played)
        beat_s = beat_steps(grid.signature, STEPS_PER_QUARTER) * grid.step_s
        wait = min(release + self.end_beats * beat_s, release + grid.bar_s)
        return grid.bar_line_after(max(wait, soonest))

    def call(self) -> Call:
        """The heard phrase as a call for the model: notes from its first note, with its meter; ``anchor_step``
        is the first note's step on the session clock (which has taken the phrase's grid by now).

        Without a rhythm (the phrase could not be heard) the notes are quantised on the phrase's grid.
        """
        rhythm = self.hear()
        clock = self.tempo.clock
        bar = self.tempo.bar_steps
        if rhythm is not None:
            first = rhythm.notes[0].start_step
            notes = tuple(Note(n.pitch, n.start_step - first, n.length_steps) for n in rhythm.notes)
            # Counted from the grid's origin (a bar line the clock has taken), not by extrapolating the clock
            # back to the first note: with a drift that could land a step off and move every bar position.
            anchor = round(clock.position(rhythm.next_grid.origin_s)) - rhythm.end_origin_step + first
            position = int(bar_positions(rhythm.meter, first + 1)[first])
            bar = rhythm.grid.bar_steps
        else:
            anchor = round(clock.position(self.played[0].on_s))
            end = clock.now()
            notes = tuple(Note(n.pitch, max(0, round(clock.position(n.on_s)) - anchor),
                               max(1, round(clock.position(n.off_s if n.off_s is not None else end)
                                            - clock.position(n.on_s))))
                          for n in self.played)
            position = anchor % bar
        notes = _one_voice(notes)
        length = max(n.end_step for n in notes)
        velocity = round(sum(n.velocity for n in self.played) / len(self.played))
        return Call(notes, length, velocity, anchor, len(self.played), meter=((0, bar, position % bar),))


def _one_voice(notes: tuple[Note, ...]) -> tuple[Note, ...]:
    return tuple(highest_voice(sorted((n.start_step, n.end_step, n.pitch) for n in notes)))
