"""The one loop that owns time, shared by live and offline runs: only the input source and the clock differ.

Between deadlines it hands input to the session as it arrives; at each step's deadline it ticks the session
(which sends what is due at once) and then computes ahead for the next step.
"""

from __future__ import annotations

import math
import queue
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Protocol

import mido

from antiphon.daemon.clock import SimulatedTime, StepClock
from antiphon.daemon.session import Session

SPIN_S = 0.0005  # the last half millisecond before a deadline is busy-waited: sleeps wake late by ~0.1 ms
WAKE_S = 0.02  # a stop request (SIGTERM) is seen within this long, not only at the next step's deadline

PULSES_PER_STEP = 6  # MIDI clock: 24 pulses per quarter note, 4 steps per quarter
Event = tuple[float, mido.Message]


class InputSource(Protocol):
    def next_event(self, until: float) -> Event | None:
        """The next input event if one arrives before ``until``; else wait until ``until`` and return ``None``."""


class QueueSource:
    """Live input: events the MIDI callback timestamped and put on a bounded queue."""

    def __init__(self, events: queue.Queue, now: Callable[[], float] = time.monotonic, spin_s: float = SPIN_S,
                 stop: Callable[[], bool] | None = None, wake_s: float = WAKE_S):
        self.events = events
        self.now = now
        self.spin_s = spin_s
        self.stop = stop
        self.wake_s = wake_s

    def next_event(self, until: float) -> Event | None:
        """As ``InputSource.next_event``, but returns ``None`` early (within ``wake_s``) once ``stop()`` is true."""
        while True:
            remaining = until - self.now()
            if remaining <= 0 or (self.stop is not None and self.stop()):
                return None
            try:
                if remaining > self.spin_s:
                    return self.events.get(timeout=min(remaining - self.spin_s, self.wake_s))
                return self.events.get_nowait()
            except queue.Empty:
                continue


class ScriptedSource:
    """Offline input: a time-sorted list of events replayed on simulated time."""

    def __init__(self, events: Iterable[Event], time_source: SimulatedTime):
        self.events = deque(sorted(events, key=lambda e: e[0]))
        self.time = time_source

    def next_event(self, until: float) -> Event | None:
        if self.events and self.events[0][0] <= until:
            t, msg = self.events.popleft()
            self.time.advance_to(t)
            return t, msg
        self.time.advance_to(until)
        return None

    @property
    def exhausted(self) -> bool:
        return not self.events


def _next_pulse(clock: StepClock, step: int, pulses_per_step: int) -> tuple[int, int]:
    """(step, pulse) of the first clock pulse after now, ``step`` being the next grid step."""
    into = (clock.now() - clock.deadline(step - 1)) / (clock.period_s / pulses_per_step)
    pulse = math.floor(into) + 1
    return (step, 0) if pulse >= pulses_per_step else (step - 1, pulse)


def run_loop(session: Session, clock: StepClock, source: InputSource, stop: Callable[[], bool],
             on_step: Callable[[int, float], None] | None = None, on_pulse: Callable[[], None] | None = None,
             pulses_per_step: int = PULSES_PER_STEP) -> None:
    """Run until ``stop()`` is true (checked once per input event and once per step).

    ``on_step(step, lateness_s)`` runs after each step's work; ``lateness_s`` is how long after the deadline
    the step's messages were sent. ``on_pulse()``, if given, runs ``pulses_per_step`` times per step on the
    same grid (MIDI clock out: 24 per quarter = 6 per 16th); when the grid is re-anchored the pulses follow it.
    """
    epoch = clock.epoch
    step = clock.step_after(clock.now())
    pulse_step, pulse = step, 0
    while not stop():
        due = clock.deadline(step)
        pulse_due = clock.deadline(pulse_step) + pulse * clock.period_s / pulses_per_step
        if on_pulse is not None:
            due = min(due, pulse_due)
        event = source.next_event(due)
        if event is not None:
            session.handle(*event)
            if clock.epoch != epoch:  # re-anchored at a new call, or a tempo change: find the next step again
                epoch = clock.epoch
                step = clock.step_after(clock.now())
                pulse_step, pulse = _next_pulse(clock, step, pulses_per_step)
            continue
        deadline = clock.deadline(step)
        if clock.now() >= deadline:
            session.tick(step)
            lateness = clock.now() - deadline
            session.compute_ahead(step)
            if on_step is not None:
                on_step(step, lateness)
            step += 1
            if clock.epoch != epoch:  # a heard call moved the grid: the next step on the new one, never a step
                epoch = clock.epoch  # within half a period of the one just played (it would play twice)
                step = clock.step_after(clock.now())
                while clock.deadline(step) < deadline + clock.period_s / 2:
                    step += 1
                pulse_step, pulse = _next_pulse(clock, step, pulses_per_step)
        if on_pulse is not None and clock.now() >= pulse_due:
            on_pulse()
            pulse += 1
            if pulse == pulses_per_step:
                pulse_step, pulse = pulse_step + 1, 0
