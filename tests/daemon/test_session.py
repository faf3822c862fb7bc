"""The session state machine on simulated time with a real (tiny) model: the offline twin of the live daemon."""

from __future__ import annotations

from dataclasses import replace

import mido
import pytest
from daemon_helpers import EB_MAJOR_CALL, make_daemon_artifact, phrase_events, scale_pcs
from harness import unmatched_note_ons

from antiphon.daemon.clock import SimulatedTime, StepClock
from antiphon.daemon.config import ServeConfig
from antiphon.daemon.loop import ScriptedSource, run_loop
from antiphon.daemon.offline import LEAD_IN_S, make_sampler, respond_events
from antiphon.daemon.response import Responder
from antiphon.daemon.session import Session
from antiphon.engine.artifact import load_artifact
from antiphon.engine.model import LstmModel

STEP_S = 0.125
CONFIG = ServeConfig(random_seed=5, tempo="fixed")  # the --bpm grid from each call; follow: test_hearing.py


def _ons(events):
    return [(t, m) for t, m in events if m.type == "note_on" and m.velocity > 0]


def test_answers_an_e_flat_call_in_e_flat_on_the_step_after_the_phrase_end(daemon_model):
    result = respond_events(phrase_events(EB_MAJOR_CALL), daemon_model, CONFIG)
    [exchange] = result.exchanges
    assert exchange["key"] == "E- major" and exchange["semitones"] == -3
    assert exchange["call_steps"] == 32 and exchange["call_notes"] == 8
    # The call's first note is step 0; it lasts 32 steps; 16 silent steps end it; the response plays from there.
    assert exchange["phrase_end_step"] == 48
    assert exchange["start_s"] == pytest.approx(LEAD_IN_S + 48 * STEP_S)
    assert exchange["response_steps"] == 32  # as long as the call
    ons = _ons(result.response)
    assert len(ons) >= 4
    assert {m.note % 12 for _, m in ons} <= scale_pcs(3)
    for t, _ in result.response:
        steps = (t - LEAD_IN_S) / STEP_S
        assert steps == pytest.approx(round(steps))  # every message on a grid step
        assert exchange["start_s"] <= t <= exchange["start_s"] + 32 * STEP_S
    assert {m.velocity for _, m in ons} == {90}  # the call's mean velocity
    assert not unmatched_note_ons(result.response)


def test_same_call_in_c_is_the_same_answer_a_minor_third_lower(daemon_model):
    in_eb = respond_events(phrase_events(EB_MAJOR_CALL), daemon_model, CONFIG)
    in_c = respond_events(phrase_events([p - 3 for p in EB_MAJOR_CALL]), daemon_model, CONFIG)
    assert [m.note - 3 for _, m in _ons(in_c.response)] != []
    assert [m.note for _, m in _ons(in_eb.response)] == [m.note + 3 for _, m in _ons(in_c.response)]


def test_response_bars_and_velocity_follow_the_call(daemon_model):
    events = phrase_events([60, 62, 64, 65], velocity=60) + phrase_events([67], start_s=2.0, velocity=100)
    result = respond_events(events, daemon_model, replace(CONFIG, response_bars=2, output_channel=3))
    [exchange] = result.exchanges
    assert exchange["response_steps"] == 32
    ons = _ons(result.response)
    assert {m.velocity for _, m in ons} == {round((4 * 60 + 100) / 5)}
    assert {m.channel for _, m in ons} == {2}


def test_barge_in_stops_the_response_and_the_new_call_is_answered(daemon_model):
    first = phrase_events(EB_MAJOR_CALL)  # answered from 6.0 s (after the lead-in: 6.5 s) for 4 s
    barge_s = 7.03
    second = phrase_events([70, 72, 74, 75], start_s=barge_s)
    result = respond_events(first + second, daemon_model, CONFIG)
    assert [e["barged_in"] for e in result.exchanges] == [True, False]
    barge_t = barge_s + LEAD_IN_S
    second_end = result.exchanges[1]["start_s"]
    before = [t for t, _ in _ons(result.response) if t < barge_t]
    during = [t for t, _ in _ons(result.response) if barge_t <= t < second_end]
    assert before and not during
    offs_at_barge = [m for t, m in result.response if t == barge_t and m.type == "note_off"]
    assert offs_at_barge, "the sounding response note is released at the barge-in itself"
    assert _ons(result.response)[-1][0] >= second_end
    assert not unmatched_note_ons(result.response)


def test_an_answer_plays_its_whole_length_even_when_the_model_would_end_the_song(tmp_path):
    # The same kind of model, but one that nearly always says "/": the answer still starts with a note on its
    # first step and runs its whole length (the sampler's answer shape, engine/sampler.py).
    loaded = load_artifact(make_daemon_artifact(tmp_path / "ender"))
    loaded.weights["dense/bias"][loaded.vocab.index("/")] = 12.0
    ender = LstmModel.from_artifact(loaded)
    result = respond_events(phrase_events(EB_MAJOR_CALL), ender, CONFIG)
    [exchange] = result.exchanges
    assert exchange["response_steps"] == 32 and exchange["response_notes"] >= 1
    first = min(t for t, m in _ons(result.response))
    assert first == pytest.approx(exchange["start_s"], abs=1e-6)


def test_input_channel_filter_and_passthrough(daemon_model):
    events = phrase_events(EB_MAJOR_CALL, channel=4)
    ignored = respond_events(events, daemon_model, replace(CONFIG, input_channel=1))
    assert ignored.exchanges == [] and not _ons(ignored.response)
    echoed = respond_events(events, daemon_model, replace(CONFIG, input_channel=5, passthrough=True))
    assert len(echoed.exchanges) == 1
    echo = [m.note for t, m in _ons(echoed.response) if t < echoed.exchanges[0]["start_s"]]
    assert echo == EB_MAJOR_CALL


def test_controllers_end_the_phrase_set_temperature_and_tempo(daemon_model):
    cfg = replace(CONFIG, phrase_end_cc=20, temperature_cc=21, tempo_cc=22, panic_cc=23)
    call = phrase_events([63, 65, 67, 68])  # released by 1.95 s
    controls = [(0.1, mido.Message("control_change", control=21, value=127)),
                (2.3, mido.Message("control_change", control=20, value=127))]
    result = respond_events(call + controls, daemon_model, cfg)
    [exchange] = result.exchanges
    assert exchange["phrase_end_step"] == 19  # the step after the controller (2.3 s = step 18.4)
    tempo = [(0.1, mido.Message("control_change", control=22, value=0))]
    slow = respond_events(call + tempo, daemon_model, cfg)
    assert slow.bpm == pytest.approx(40.0)


def test_all_notes_off_from_the_keyboard_ends_held_notes_and_the_phrase(daemon_model):
    held = [(0.0, mido.Message("note_on", note=63, velocity=80)), (0.5, mido.Message("note_on", note=67, velocity=80))]
    cfg = replace(CONFIG, passthrough=True)
    [stuck] = respond_events(held, daemon_model, cfg).exchanges  # no note-off ever: cut at the maximum length
    assert stuck["phrase_end_step"] > 100
    released = respond_events(held + [(1.0, mido.Message("control_change", control=123, value=0))], daemon_model, cfg)
    [exchange] = released.exchanges
    assert exchange["phrase_end_step"] == 8 + cfg.phrase_end_steps  # silence counted from the CC (step 8)
    assert not unmatched_note_ons(released.response)


def test_the_response_is_computed_one_step_ahead(daemon_model):
    sim = SimulatedTime(0.0)
    clock = StepClock(120, 4, now=sim.now, sleep=sim.sleep, t0=0.0)
    sent = []
    cfg = replace(CONFIG, phrase_end_steps=4)
    session = Session(cfg, Responder(daemon_model, make_sampler(daemon_model, cfg), cfg.mode), clock,
                      lambda m: sent.append(m))
    session.handle(0.0, mido.Message("note_on", note=60, velocity=80))
    session.handle(0.24, mido.Message("note_off", note=60))  # call: steps 0-1, ends at step 2 + 4 silent
    for step in range(1, 5):
        session.tick(step)
        session.compute_ahead(step)
    assert session.response is None
    session.tick(5)
    session.compute_ahead(5)
    assert session._prepared is not None, "primed and sampled at step 5 for step 6"
    prepared = session._prepared[2]
    session.tick(6)
    assert session.response is prepared


def test_clock_out_pulses_six_per_step_and_follow_the_re_anchored_grid(daemon_model):
    sim = SimulatedTime(0.0)
    clock = StepClock(120, 4, now=sim.now, sleep=sim.sleep, t0=0.0)
    session = Session(CONFIG, Responder(daemon_model, make_sampler(daemon_model, CONFIG), CONFIG.mode), clock,
                      lambda m: None)
    note_at = 1.03  # between grid steps: the call's first note re-anchors the grid here
    source = ScriptedSource([(note_at, mido.Message("note_on", note=60, velocity=80)),
                             (note_at + 0.2, mido.Message("note_off", note=60))], sim)
    pulses: list[float] = []
    run_loop(session, clock, source, stop=lambda: sim.now() > 2.0, on_pulse=lambda: pulses.append(sim.now()))
    pulse_s = STEP_S / 6
    before = [t for t in pulses if t < note_at]
    after = [t for t in pulses if t > note_at]
    assert before[0] == pytest.approx(STEP_S)  # from the first step after the start
    assert len(before) == 44 and all(b - a == pytest.approx(pulse_s) for a, b in zip(before, before[1:], strict=False))
    assert all(((t - note_at) / pulse_s) == pytest.approx(round((t - note_at) / pulse_s)) for t in after)
    assert after[0] - note_at == pytest.approx(pulse_s)  # no gap: the pulses go on from the new anchor
    assert len(after) == pytest.approx((2.0 - note_at) / pulse_s, abs=1)


def test_bar_positions_follow_the_responses_true_place_in_the_bar(tmp_path):
    """A model with bar-position inputs hears where in the bar each response step really falls."""
    model = LstmModel.load(make_daemon_artifact(tmp_path / "positions", position_features=16, seed=3))

    def answer(silence_steps: int) -> list[int]:
        cfg = replace(CONFIG, phrase_end_steps=silence_steps)
        result = respond_events(phrase_events(EB_MAJOR_CALL), model, cfg)
        return [m.note for _, m in _ons(result.response)]

    one_bar, two_bars, off_beat = answer(16), answer(32), answer(20)
    assert one_bar and one_bar == two_bars  # same place in the bar, same seed: the same answer
    assert off_beat != one_bar  # a quarter later in the bar: the model is told, and answers differently


def test_with_the_built_in_synth_the_echo_has_its_own_channel_and_program(daemon_model):
    config = replace(CONFIG, passthrough=True, synth=True, output_channel=9, call_program=0, program=73)
    result = respond_events(phrase_events(EB_MAJOR_CALL), daemon_model, config)
    echoed = {m.channel for t, m in _ons(result.response) if t < result.exchanges[0]["start_s"]}
    assert echoed == {10}  # channel 11: the next melodic channel after 9 (10, the drum channel, is skipped)
    answer = {m.channel for t, m in _ons(result.response) if t >= result.exchanges[0]["start_s"]}
    assert answer == {8}


def _rhythm_style(folder, hold_bias: float) -> LstmModel:
    """A model whose habit is long notes (hold_bias > 0) or short ones (< 0)."""
    loaded = load_artifact(make_daemon_artifact(folder))
    loaded.weights["dense/bias"][loaded.vocab.index("_")] = hold_bias
    return LstmModel.from_artifact(loaded)


def test_auto_style_answers_each_call_in_the_style_that_finds_it_likeliest(tmp_path):
    long_notes, short_notes = _rhythm_style(tmp_path / "long", 5.0), _rhythm_style(tmp_path / "short", -5.0)
    responder = Responder(long_notes, make_sampler(long_notes, CONFIG), CONFIG.mode, "long")
    responder.add_style("short", short_notes, make_sampler(short_notes, CONFIG))
    slow = phrase_events([60, 64, 67, 72], note_s=2.0)  # whole notes at 120 bpm
    fast = phrase_events([60, 62, 64, 65, 67, 69, 71, 72] * 2, note_s=0.125)  # 16th notes
    [on_slow] = respond_events(slow, responder, CONFIG).exchanges
    assert on_slow["style"] == "long" and responder.costs["long"] < responder.costs["short"]
    [on_fast] = respond_events(fast, responder, CONFIG).exchanges
    assert on_fast["style"] == "short" and responder.costs["short"] < responder.costs["long"]
    # With one style there is nothing to choose: the answer names it and no call is scored.
    alone = Responder(short_notes, make_sampler(short_notes, CONFIG), CONFIG.mode, "short")
    assert respond_events(slow, alone, CONFIG).exchanges[0]["style"] == "short" and alone.costs == {}
