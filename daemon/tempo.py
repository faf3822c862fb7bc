"""The session's one tempo and bar grid: the step clock's tempo and phase, and the meter.

Everything that needs the beat reads it here: listening (``daemon.hearing``), playing, the metronome, the bar
positions given to the model and the recorder's tempo map. Grid step ``n`` of the clock is a downbeat when
``n % bar_steps == 0``: the clock's step 0 always lies on a bar line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from antiphon.daemon.clock import StepClock
from antiphon.engine.meter import meter_from_signature
from antiphon.engine.rhythm import Grid

log = logging.getLogger(__name__)



def beat_steps(signature: str, steps_per_quarter: int) -> int:
    """Grid steps per beat: a dotted quarter in compound meters (6/8, 9/8, 12/8), else the denominator's note."""
    top, _, bottom = signature.partition("/")
    unit = steps_per_quarter * 4 // int(bottom)
    compound = int(bottom) == 8 and int(top) % 3 == 0 and int(top) > 3
    return 3 * unit if compound else unit


class SessionTempo:
    """Tempo, phase and meter of the session; ``known`` once a call, a count-in or a click has set them.

    ``on_change(t, bpm, signature)`` hears every new grid (the recorder's tempo map): ``t`` is a downbeat.
    """

    def __init__(self, clock: StepClock, signature: str = "4/4", known: bool = False,
                 on_change: Callable[[float, float, str], None] | None = None):
        self.clock = clock
        self.on_change = on_change
        self.known = known
        self.trust = 1.0  # how sure the grid is: a count-in, the click or a controller 1; a heard phrase its confidence
        self._set_signature(signature)

    def _set_signature(self, signature: str) -> None:
        spq = self.clock.steps_per_quarter
        self.signature = signature
        self.bar_steps = meter_from_signature(signature, spq)[0][1]
        self.beat_steps = beat_steps(signature, spq)

    @property
    def bpm(self) -> float:
        return self.clock.bpm

    def grid(self) -> Grid:
        """The running grid (its origin is the clock's step 0, a bar line)."""
        return Grid(self.clock.bpm, self.clock.t0, self.bar_steps, self.signature)

    def set_grid(self, grid: Grid, trust: float = 1.0) -> None:
        """Take a grid heard in a call (or set by a count-in): tempo, bar lines and meter (no-op if the same)."""
        self.trust = trust
        if self.known and grid.signature == self.signature and self._same(grid):
            return
        if grid.signature != self.signature:
            self._set_signature(grid.signature)
        self.clock.set_grid(grid.bpm, grid.origin_s)
        self.known = True
        self._note(grid.origin_s)

    def _same(self, grid: Grid) -> bool:
        """The running grid already has this tempo and these bar lines (to a microsecond)."""
        if abs(grid.bpm / self.clock.bpm - 1) > 1e-9:
            return False
        bars = (grid.origin_s - self.clock.t0) / (self.bar_steps * self.clock.period_s)
        return abs(bars - round(bars)) * self.bar_steps * self.clock.period_s < 1e-6

    def start(self, t: float, bpm: float | None = None) -> None:
        """A downbeat at ``t`` (s) at ``bpm`` (default: the clock's), in the current meter."""
        self.clock.set_grid(self.clock.bpm if bpm is None else bpm, t)
        self.known = True
        self.trust = 1.0
        self._note(t)

    def set_bpm(self, bpm: float, at: float) -> None:
        """A new tempo from ``at`` (s), the grid position there kept (the tempo controller)."""
        self.clock.set_bpm(bpm, at=at)
        self.trust = 1.0
        self._note(at)

    def _note(self, t: float) -> None:
        """Tell the tempo map: every real change (tempo, meter, or bar lines moved) is an entry."""
        log.info("tempo %.1f bpm, %s", self.bpm, self.signature)
        if self.on_change is not None:
            self.on_change(t, self.bpm, self.signature)

    def is_downbeat(self, step: int) -> bool:
        return step % self.bar_steps == 0

    def is_beat(self, step: int) -> bool:
        return step % self.beat_steps == 0
