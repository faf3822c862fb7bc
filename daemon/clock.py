"""The step grid in time: deadlines ``t0 + n * period`` on a monotonic clock (no drift from chained sleeps)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

SECONDS_PER_MINUTE = 60.0


def step_period_s(bpm: float, steps_per_quarter: int) -> float:
    """Seconds per grid step at ``bpm`` quarter notes per minute."""
    if not (math.isfinite(bpm) and bpm > 0):
        raise ValueError(f"bpm must be a positive number, got {bpm!r}")
    if steps_per_quarter <= 0:
        raise ValueError(f"steps_per_quarter must be positive, got {steps_per_quarter!r}")
    return SECONDS_PER_MINUTE / (bpm * steps_per_quarter)


class StepClock:
    """Grid step ``n`` is due at ``t0 + n * period``.

    ``now`` and ``sleep`` are passed in (``time.monotonic`` / ``time.sleep`` live, a simulated clock offline
    and in tests). ``epoch`` counts re-anchorings, so a loop waiting for a deadline notices that the grid moved.
    """

    def __init__(self, bpm: float, steps_per_quarter: int, now: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, t0: float | None = None):
        self.steps_per_quarter = steps_per_quarter
        self.period_s = step_period_s(bpm, steps_per_quarter)
        self.bpm = float(bpm)
        self.now = now
        self.sleep = sleep
        self.t0 = now() if t0 is None else float(t0)
        self.epoch = 0

    def deadline(self, step: int) -> float:
        """Time at which grid step ``step`` is due (seconds on the ``now`` clock)."""
        return self.t0 + step * self.period_s

    def position(self, t: float) -> float:
        """Grid position of time ``t`` in (fractional) steps."""
        return (t - self.t0) / self.period_s

    def step_after(self, t: float) -> int:
        """The first step whose deadline is strictly after ``t``."""
        return math.floor(self.position(t)) + 1

    def anchor(self, t: float) -> None:
        """Restart the grid so that step 0 falls at ``t`` (a new phrase's first note)."""
        self.t0 = float(t)
        self.epoch += 1

    def set_bpm(self, bpm: float, at: float | None = None) -> None:
        """Change tempo at time ``at`` (default now), keeping the grid position there continuous."""
        at = self.now() if at is None else at
        position = self.position(at)
        self.period_s = step_period_s(bpm, self.steps_per_quarter)
        self.bpm = float(bpm)
        self.t0 = at - position * self.period_s
        self.epoch += 1

    def set_grid(self, bpm: float, t0: float) -> None:
        """A new tempo and phase at once: step 0 at ``t0`` (seconds), ``bpm`` quarter notes per minute."""
        self.period_s = step_period_s(bpm, self.steps_per_quarter)
        self.bpm = float(bpm)
        self.t0 = float(t0)
        self.epoch += 1

    def align(self, t: float, position: float) -> None:
        """Move the grid (same tempo) so that time ``t`` is at grid position ``position`` (steps)."""
        self.t0 = float(t) - position * self.period_s
        self.epoch += 1

    def wait_until(self, t: float) -> None:
        """Sleep until ``t``; returns at once if it has passed."""
        remaining = t - self.now()
        while remaining > 0:
            self.sleep(remaining)
            remaining = t - self.now()


class SimulatedTime:
    """A clock for offline runs and tests: ``now`` returns virtual seconds, ``sleep`` advances them."""

    def __init__(self, start: float = 0.0):
        self.t = float(start)

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.t += seconds

    def advance_to(self, t: float) -> None:
        self.t = max(self.t, float(t))
