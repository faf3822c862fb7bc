"""Following an external MIDI clock: tempo from pulses, bar 1 at start, responses gated by the transport."""

from __future__ import annotations

from dataclasses import replace

import mido
import pytest
from daemon_helpers import EB_MAJOR_CALL, phrase_events
from harness import unmatched_note_ons

from antiphon.daemon.clock import SimulatedTime, StepClock
from antiphon.daemon.config import ServeConfig
from antiphon.daemon.midiclock import ClockFollower
from antiphon.daemon.offline import LEAD_IN_S, respond_events

EXTERNAL = ServeConfig(random_seed=5, clock="external", virtual=True)


def pulses(bpm: float, start_s: float, end_s: float) -> list[tuple[float, mido.Message]]:
    interval = 60.0 / (bpm * 24)
    count = int((end_s - start_s) / interval)
    return [(start_s + k * interval, mido.Message("clock")) for k in range(count)]


def test_follower_takes_the_tempo_and_bar_one_from_the_master():
    sim = SimulatedTime()
    clock = StepClock(120, 4, now=sim.now, sleep=sim.sleep, t0=0.0)
    follower = ClockFollower(clock)
    assert follower.handle(1.0, mido.Message("start")) == "start"
    assert clock.t0 == 1.0 and follower.running
    changes = [follower.handle(t, m) for t, m in pulses(90, 1.0, 3.0)]
    assert "tempo" in changes
    assert clock.bpm == pytest.approx(90, rel=1e-6)
    # A pulse a little late does not move the grid (median of the window, tolerance 0.5%).
    assert follower.handle(3.0 + 0.004, mido.Message("clock")) is None and clock.bpm == pytest.approx(90)
    assert follower.handle(4.0, mido.Message("stop")) == "stop" and not follower.running
    assert follower.handle(5.0, mido.Message("continue")) == "continue" and follower.running
    with pytest.raises(ValueError, match="window"):
        ClockFollower(clock, window=1)


def test_session_answers_on_the_masters_grid_and_stops_with_its_transport(daemon_model):
    # The master starts, runs at 90 bpm; the call comes in on its grid.
    call = phrase_events(EB_MAJOR_CALL, start_s=1.0, note_s=60 / 90)
    events = [(0.0, mido.Message("start"))] + pulses(90, 0.0, 12.0) + call
    result = respond_events(sorted(events, key=lambda e: e[0]), daemon_model, EXTERNAL)
    assert result.bpm == pytest.approx(90, rel=1e-3)
    [exchange] = result.exchanges
    step_s = 60 / (90 * 4)
    ons = [(t, m) for t, m in result.response if m.type == "note_on" and m.velocity > 0]
    assert ons
    for t, _ in ons:  # on the master's 16th grid, counted from its start message
        steps = (t - LEAD_IN_S) / step_s
        assert steps == pytest.approx(round(steps), abs=1e-6)
    # The same with a stop message halfway through the response: it ends there, nothing left sounding.
    stop_at = exchange["start_s"] - LEAD_IN_S + 8 * step_s + 0.01
    stopped = respond_events(sorted(events + [(stop_at, mido.Message("stop"))], key=lambda e: e[0]),
                             daemon_model, EXTERNAL)
    [cut] = stopped.exchanges
    assert cut["barged_in"] and cut["response_steps"] <= 9
    assert not unmatched_note_ons(stopped.response)
    assert all(t <= stop_at + LEAD_IN_S + 1e-6 for t, m in stopped.response if m.type == "note_on")


def test_internal_clock_ignores_the_masters_pulses(daemon_model):
    call = phrase_events(EB_MAJOR_CALL, start_s=1.0)
    events = pulses(90, 0.0, 8.0) + call
    result = respond_events(sorted(events, key=lambda e: e[0]), daemon_model, replace(EXTERNAL, clock="internal"))
    assert result.bpm == pytest.approx(120, rel=1e-6)  # the played tempo, not the pulses' 90
