"""Listening: live note events -> one quantised, one-voice call, and the phrase-end rule.

Quantising: the phrase's first note-on is call step 0; every later onset and release is rounded to the
nearest grid step from it (halves round up), and a note lasts at least one step.

One voice, by the highest-note rule (``engine.midifile.highest_voice``): at each onset step the highest note
starting there is the candidate; it is dropped while a higher kept note still sounds (the melody stays on
top); a kept note is cut where the next kept note starts. Gaps between kept notes become rests (``r``).

Phrase end: when nothing has sounded for ``phrase_end_steps`` grid steps after the call's last release, when
the phrase-end controller is pressed, or when the call reaches ``max_steps``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from antiphon.engine.events import Note
from antiphon.engine.midifile import highest_voice

MAX_CALL_STEPS = 512  # 32 bars of 16ths: a longer phrase is ended there


def _nearest(position: float) -> int:
    """The nearest grid step; halves round up (later), as a late-ish note is meant for the next step."""
    return math.floor(position + 0.5)


@dataclass(frozen=True)
class Call:
    """A finished (or snapshot) phrase: grid notes from call step 0, and how it was played."""

    notes: tuple[Note, ...]
    length_steps: int  # call step 0 to the end of the last note
    mean_velocity: int
    anchor_step: int  # grid step of call step 0
    played_notes: int  # note-ons heard, before the one-voice rule
    meter: tuple[tuple[int, int, int], ...] | None = None  # engine.meter segments from call step 0; None: 4/4


class CallListener:
    """Collects one phrase at a time from note-ons/offs at fractional grid positions."""

    def __init__(self, phrase_end_steps: int, max_steps: int = MAX_CALL_STEPS):
        if phrase_end_steps < 1:
            raise ValueError(f"phrase_end_steps must be >= 1, got {phrase_end_steps}")
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")
        self.phrase_end_steps = phrase_end_steps
        self.max_steps = max_steps
        self.version = 0  # bumped on every change, so a response computed ahead can tell it is stale
        self.reset()

    def reset(self) -> None:
        """Forget the phrase (after it ended)."""
        self._anchor_pos = 0.0
        self._anchor_step = 0
        self._spans: list[tuple[int, int, int]] = []  # (onset step, end step, pitch), call steps
        self._sounding: dict[int, int] = {}  # pitch -> onset step
        self._velocities: list[int] = []
        self._forced = False
        self.active = False
        self.version += 1

    def _step(self, position: float) -> int:
        return max(0, _nearest(position - self._anchor_pos))

    def note_on(self, pitch: int, velocity: int, position: float) -> bool:
        """A key went down at grid ``position``; returns True if it started a new phrase."""
        started = not self.active
        if started:
            self.reset()
            self.active = True
            self._anchor_pos = position
            self._anchor_step = _nearest(position)
        step = self._step(position)
        if pitch in self._sounding:  # re-struck without a release: end the old note here
            self._close(pitch, step)
        self._sounding[pitch] = step
        self._velocities.append(velocity)
        self.version += 1
        return started

    def note_off(self, pitch: int, position: float) -> None:
        """A key came up at grid ``position`` (ignored if that note is not sounding)."""
        if self.active and pitch in self._sounding:
            self._close(pitch, self._step(position))
            self.version += 1

    def release_all(self, position: float) -> None:
        """Every key came up at grid ``position`` (the keyboard sent All Notes Off or All Sound Off)."""
        if self.active and self._sounding:
            step = self._step(position)
            for pitch in list(self._sounding):
                self._close(pitch, step)
            self.version += 1

    def _close(self, pitch: int, end_step: int) -> None:
        onset = self._sounding.pop(pitch)
        self._spans.append((onset, max(end_step, onset + 1), pitch))

    def end_now(self) -> None:
        """The phrase-end controller: the phrase ends at the next step."""
        if self.active:
            self._forced = True
            self.version += 1

    @property
    def sounding(self) -> bool:
        return bool(self._sounding)

    def _end_step(self, step: int) -> int:
        """Call step where the phrase's sound ends if cut at grid ``step``."""
        ends = [end for _, end, _ in self._spans]
        ends += [max(step - self._anchor_step, onset + 1) for onset in self._sounding.values()]
        return max(ends, default=0)

    def silent_steps(self, step: int) -> int:
        """Grid steps of silence before grid ``step`` since the call's last release (0 while a key is down)."""
        if not self.active or self._sounding:
            return 0
        return max(0, step - (self._anchor_step + self._end_step(step)))

    def is_ended(self, step: int) -> bool:
        """True when, at grid ``step``, the phrase is over by the rule in the module docstring."""
        if not self.active:
            return False
        return (self._forced or self.silent_steps(step) >= self.phrase_end_steps
                or step - self._anchor_step >= self.max_steps)

    def snapshot(self, step: int) -> Call:
        """The call as it stands at grid ``step`` (notes still sounding are cut there)."""
        spans = list(self._spans)
        spans += [(onset, max(step - self._anchor_step, onset + 1), pitch) for pitch, onset in self._sounding.items()]
        spans = [(min(s, self.max_steps - 1), min(e, self.max_steps), p) for s, e, p in spans]
        notes = tuple(highest_voice(sorted(spans)))
        length = max((n.end_step for n in notes), default=0)
        velocity = round(sum(self._velocities) / len(self._velocities)) if self._velocities else 0
        return Call(notes, length, velocity, self._anchor_step, len(self._velocities))

    def finish(self, step: int) -> Call:
        """The finished call at grid ``step``; the listener is ready for the next phrase."""
        call = self.snapshot(step)
        self.reset()
        return call
