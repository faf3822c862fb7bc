"""Following an external MIDI clock (``--clock external``): tempo from the pulses, transport from start/stop.

MIDI clock sends 24 pulses per quarter note; after ``start`` the first pulse is the downbeat, and grid step k
falls on pulse 6k (16ths). The tempo is the median of the last ``window`` pulse intervals
(robust to one late pulse); the grid changes tempo only when that differs from the current one by more than
``tolerance`` (so jitter does not re-anchor the grid every pulse); the grid is then put back on the pulse
count, and also whenever it has drifted from it by more than ``DRIFT_STEPS``. ``start`` puts grid step 0 on the start
message (the master's bar 1); ``stop`` halts the transport (the session ends a response and starts none);
``continue`` resumes without moving the grid.
"""

from __future__ import annotations

import logging
import statistics
from collections import deque

import mido

from antiphon.daemon.clock import SECONDS_PER_MINUTE, StepClock
from antiphon.engine.events import TEMPO_RANGE_BPM  # outside it the pulses are not a tempo

log = logging.getLogger(__name__)

PULSES_PER_QUARTER = 24
FOLLOWED_TYPES = ("clock", "start", "stop", "continue")
DEFAULT_WINDOW = 24  # pulses: one quarter note
DEFAULT_TOLERANCE = 0.005  # relative tempo change that moves the grid
DRIFT_STEPS = 0.05  # grid vs pulse count, in steps, before the grid is moved back onto the pulses


class ClockFollower:
    """Tracks an external MIDI clock and moves a :class:`StepClock` to follow it."""

    def __init__(self, clock: StepClock, window: int = DEFAULT_WINDOW, tolerance: float = DEFAULT_TOLERANCE):
        if window < 2:
            raise ValueError(f"clock window must be at least 2 pulses, got {window}")
        self.clock = clock
        self.tolerance = tolerance
        self.running = True  # a master that sends pulses without ``start`` is followed at once
        self._pulses: deque[float] = deque(maxlen=window + 1)
        self._count = 0  # pulses since start (or since the first pulse seen)
        self._started = False

    def handle(self, t: float, msg: mido.Message) -> str | None:
        """Take one clock or transport message received at ``t``; returns what changed, if anything."""
        if msg.type == "start":
            self.clock.anchor(t)
            self._pulses.clear()
            self._count = 0
            self._started = True
            self.running = True
            log.info("external clock: start")
            return "start"
        if msg.type == "continue":
            self.running = True
            log.info("external clock: continue")
            return "continue"
        if msg.type == "stop":
            self.running = False
            log.info("external clock: stop")
            return "stop"
        if msg.type != "clock":
            return None
        if not self._started:  # no start seen: the first pulse is bar 1
            self.clock.anchor(t)
            self._started = True
        position = self._count / (PULSES_PER_QUARTER / self.clock.steps_per_quarter)
        self._count += 1
        self._pulses.append(t)
        if len(self._pulses) < self._pulses.maxlen:
            return None
        times = list(self._pulses)
        interval = statistics.median(b - a for a, b in zip(times, times[1:], strict=False))
        if interval <= 0:
            return None
        bpm = SECONDS_PER_MINUTE / (interval * PULSES_PER_QUARTER)
        if not TEMPO_RANGE_BPM[0] <= bpm <= TEMPO_RANGE_BPM[1]:
            return None
        if abs(bpm - self.clock.bpm) / self.clock.bpm > self.tolerance:
            self.clock.set_bpm(bpm, at=t)
            self.clock.align(t, position)
            log.info("external clock: %.1f bpm", bpm)
            return "tempo"
        if abs(self.clock.position(t) - position) > DRIFT_STEPS:
            self.clock.align(t, position)
            return "aligned"
        return None
