"""StepClock: fixed deadlines from t0 on an injected clock, re-anchoring and tempo changes."""

from __future__ import annotations

import numpy as np
import pytest

from antiphon.daemon.clock import SimulatedTime, StepClock, step_period_s


def test_step_period():
    assert step_period_s(120, 4) == pytest.approx(0.125)
    assert step_period_s(90, 4) == pytest.approx(60 / 360)
    for bad in (0, -10, float("nan")):
        with pytest.raises(ValueError, match="bpm"):
            step_period_s(bad, 4)


def test_deadlines_do_not_drift_when_every_sleep_wakes_late():
    sim = SimulatedTime(10.0)
    rng = np.random.default_rng(0)

    def late_sleep(seconds: float) -> None:  # every sleep overshoots by 0..3 ms, as a loaded machine does
        sim.sleep(seconds + rng.uniform(0, 0.003))

    clock = StepClock(120, 4, now=sim.now, sleep=late_sleep)
    lateness = []
    for step in range(1, 501):
        clock.wait_until(clock.deadline(step))
        lateness.append(sim.now() - clock.deadline(step))
    assert clock.deadline(500) == pytest.approx(10.0 + 500 * 0.125)
    assert min(lateness) >= 0
    assert max(lateness) <= 0.003  # each step is late by its own sleep's error only
    # Chained sleeps (sleep(period) after each step) would be ~0.75 s behind by now.
    assert sim.now() - (10.0 + 500 * 0.125) <= 0.003


def test_positions_anchor_and_next_step():
    sim = SimulatedTime(0.0)
    clock = StepClock(120, 4, now=sim.now, sleep=sim.sleep, t0=1.0)
    assert clock.position(1.25) == pytest.approx(2.0)
    assert clock.step_after(1.25) == 3
    assert clock.step_after(1.3) == 3
    clock.anchor(5.01)
    assert clock.epoch == 1
    assert clock.deadline(0) == pytest.approx(5.01)
    assert clock.step_after(5.02) == 1


def test_tempo_change_keeps_the_position_continuous():
    sim = SimulatedTime(0.0)
    clock = StepClock(120, 4, now=sim.now, sleep=sim.sleep, t0=0.0)
    at = 2.0  # step 16
    clock.set_bpm(60, at=at)
    assert clock.position(at) == pytest.approx(16.0)
    assert clock.deadline(17) - clock.deadline(16) == pytest.approx(0.25)
    assert clock.epoch == 1
