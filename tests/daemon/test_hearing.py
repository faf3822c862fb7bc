"""Playing freely (``--tempo follow``): the session hears the call's tempo, meter and downbeat and answers on
its bar line; the metronome and count-in click on the session grid; recordings carry the tempo map."""

from __future__ import annotations

import mido
import pytest
from daemon_helpers import PICKUP_44, WALTZ_34, performed, scale_pcs

from antiphon.daemon.clock import SimulatedTime, StepClock
from antiphon.daemon.config import ServeConfig
from antiphon.daemon.loop import ScriptedSource, run_loop
from antiphon.daemon.offline import LEAD_IN_S, respond_events, respond_file
from antiphon.daemon.recorder import SessionRecorder, recover
from antiphon.daemon.response import Responder
from antiphon.daemon.session import Session
from antiphon.engine.midifile import DRUM_CHANNEL, tempo_to_bpm
from antiphon.engine.model import LstmModel

FOLLOW = ServeConfig(random_seed=5)  # --tempo follow is the default
BEGIN_S = 0.5  # the session's first downbeat (a count-in's first click)


def _ons(events):
    return [(t, m) for t, m in events if m.type == "note_on" and m.velocity > 0]


def _bars_from(t: float, downbeat_s: float, bar_s: float) -> float:
    return (t - downbeat_s) / bar_s


def test_a_90_bpm_call_with_a_pickup_is_answered_on_its_bar_line_at_its_tempo(daemon_model):
    bpm, beat_s = 90.0, 60.0 / 90.0
    result = respond_events(performed(PICKUP_44, bpm, start_s=1.0), daemon_model, FOLLOW)
    [exchange] = result.exchanges
    assert exchange["bpm"] == pytest.approx(bpm, rel=0.01) and exchange["meter"] == "4/4"
    assert exchange["on_bar_line"]
    downbeat = LEAD_IN_S + 0.5 * beat_s  # the call starts LEAD_IN_S in; the pickup is an eighth
    bars = _bars_from(exchange["start_s"], downbeat, 4 * beat_s)
    assert bars == pytest.approx(round(bars), abs=0.01)  # on a bar line of the player's grid
    call_end = downbeat + 8 * beat_s * 0.85 - 2 * beat_s * 0.15  # the last note's release (gate 0.85 of a half)
    # Never later than the first bar line after one silent bar (today's rule is the upper bound).
    assert exchange["start_s"] <= call_end + 4 * beat_s + 4 * beat_s + 1e-6
    assert exchange["response_steps"] == 32  # as many bars as the call has from its downbeat
    step_s = beat_s / 4
    for t, _ in _ons(result.response):  # every answer note on the player's 16th grid
        steps = (t - downbeat) / step_s
        assert steps == pytest.approx(round(steps), abs=1e-3)
    assert {m.note % 12 for _, m in _ons(result.response)} <= scale_pcs(0)  # C major, the call's key


def test_a_waltz_is_heard_in_three_and_answered_in_whole_bars_of_three(daemon_model):
    result = respond_events(performed(WALTZ_34, 132.0, spread_s=0.008, seed=3), daemon_model, FOLLOW)
    [exchange] = result.exchanges
    assert exchange["meter"] == "3/4" and exchange["bpm"] == pytest.approx(132.0, rel=0.03)
    assert exchange["on_bar_line"] and exchange["response_steps"] == 48  # four bars of three, as the call


def test_a_rest_of_one_beat_inside_the_call_does_not_end_it(daemon_model):
    with_rest = [(0, 1, 60), (1, 1, 64), (2, 1, 67), (4, 1, 65), (5, 1, 64), (6, 2, 62),  # beat 4 of bar 1 rests
                 (8, 1, 60), (9, 1, 62), (10, 2, 64), (12, 4, 60)]
    result = respond_events(performed(with_rest, 100.0, spread_s=0.01, seed=1), daemon_model, FOLLOW)
    assert len(result.exchanges) == 1 and result.exchanges[0]["call_notes"] == 10


def test_fixed_tempo_keeps_the_bpm_grid_from_the_first_note(daemon_model):
    result = respond_events(performed(PICKUP_44, 90.0, start_s=1.0), daemon_model,
                            ServeConfig(random_seed=5, tempo="fixed"))
    [exchange] = result.exchanges
    assert exchange["bpm"] == 120.0  # not heard: the --bpm grid


def _run_session(model: LstmModel, config: ServeConfig, events, until_s: float):
    sim = SimulatedTime(0.0)
    clock = StepClock(config.bpm, model.steps_per_quarter, now=sim.now, sleep=sim.sleep, t0=0.0)
    sent = []
    session = Session(config, Responder(model, None, config.mode), clock, lambda m: sent.append((sim.now(), m)))
    session.begin(BEGIN_S)
    run_loop(session, clock, ScriptedSource(events, sim), lambda: sim.now() >= until_s)
    session.stop()
    return session, sent


def _clicks(sent):
    return [(t, m.note) for t, m in sent if m.type == "note_on" and m.channel == DRUM_CHANNEL and m.velocity > 0]


def test_the_metronome_clicks_every_beat_accented_on_the_downbeat_and_a_controller_stops_it(daemon_model):
    config = ServeConfig(random_seed=5, bpm=100.0, meter="3/4", metronome=True, metronome_cc=30)
    stop_at = BEGIN_S + 6 * 0.6 + 0.1  # after six beats (two bars of 3/4 at 100 bpm), the controller: off
    events = [(stop_at, mido.Message("control_change", control=30, value=0))]
    session, sent = _run_session(daemon_model, config, events, until_s=10.0)
    clicks = _clicks(sent)
    assert [t for t, _ in clicks] == pytest.approx([BEGIN_S + k * 0.6 for k in range(7)], abs=1e-6)
    assert [note for _, note in clicks] == [76, 77, 77, 76, 77, 77, 76]
    offs = [m for _, m in sent if m.type == "note_off" and m.channel == DRUM_CHANNEL]
    assert len(offs) >= len(clicks)  # every click released


def test_a_count_in_clicks_its_bars_then_stops_and_fixes_the_tempo(daemon_model):
    config = ServeConfig(random_seed=5, bpm=80.0, count_in=1)
    session, sent = _run_session(daemon_model, config, [], until_s=8.0)
    assert [t for t, _ in _clicks(sent)] == pytest.approx([BEGIN_S + k * 0.75 for k in range(4)], abs=1e-6)
    assert session.tempo.known and session.tempo.bpm == 80.0


def test_clicks_never_enter_the_call(daemon_model):
    config = ServeConfig(random_seed=5, bpm=120.0, metronome=True)
    clicks_in = [(k * 0.5, mido.Message("note_on", channel=DRUM_CHANNEL, note=76, velocity=100)) for k in range(8)]
    session, _ = _run_session(daemon_model, config, clicks_in, until_s=5.0)
    assert session.exchanges == [] and not session.hearing.active


def _write_performance(path, events, file_bpm: float) -> None:
    """A type-0 file whose notes sit at the performance's seconds under a tempo meta of ``file_bpm``."""
    ticks_per_s = 480 * file_bpm / 60.0
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=round(60_000_000 / file_bpm), time=0)])
    now = 0
    for t, msg in events:
        tick = round(t * ticks_per_s)
        track.append(msg.copy(time=tick - now))
        now = tick
    midi = mido.MidiFile(type=0, ticks_per_beat=480)
    midi.tracks.append(track)
    midi.save(path)


def test_respond_hears_the_played_tempo_when_the_files_tempo_is_wrong(daemon_model, tmp_path):
    call = tmp_path / "played.mid"
    _write_performance(call, performed(PICKUP_44, 90.0, start_s=1.0, spread_s=0.005, seed=2), file_bpm=120.0)
    out = tmp_path / "answer.mid"
    result = respond_file(call, out, daemon_model, FOLLOW, with_call=True)
    assert result.exchanges[0]["bpm"] == pytest.approx(90.0, rel=0.02)
    midi = mido.MidiFile(out)
    tempo = next(m for m in midi.tracks[0] if m.type == "set_tempo")
    signature = next(m for m in midi.tracks[0] if m.type == "time_signature")
    assert tempo_to_bpm(tempo.tempo) == pytest.approx(90.0, rel=0.02)
    assert (signature.numerator, signature.denominator) == (4, 4)
    # The file's bars are the player's: the call's first downbeat (after the eighth pickup) is on a bar line.
    ticks = 0
    first_on = None
    for msg in midi.tracks[1]:
        ticks += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            first_on = ticks if first_on is None else first_on
            if msg.note == 72:
                off_bar = min(ticks % 1920, 1920 - ticks % 1920)  # ticks from the nearest bar line (480 per beat)
                assert off_bar <= 20, ticks  # within 20 ticks (about 1/100 of a bar)
                break
    assert first_on is not None


def test_a_recording_killed_mid_session_recovers_with_its_tempo_map(tmp_path):
    recorder = SessionRecorder(tmp_path, 120.0, write_interval_s=0.01)
    recorder.tempo(9.5, 90.0, "3/4")  # the grid a call was heard in: a downbeat at 9.5 s
    recorder.record(0, 10.0, mido.Message("note_on", note=60, velocity=90))
    recorder.record(0, 10.5, mido.Message("note_off", note=60, velocity=0))
    import time

    time.sleep(0.1)  # the writer thread journals; then the process "dies" (no finish)
    recorder._stop.set()
    recorder._writer.join()
    [path] = recover(tmp_path)
    meta = mido.MidiFile(path).tracks[0]
    assert tempo_to_bpm(next(m.tempo for m in meta if m.type == "set_tempo")) == pytest.approx(90.0)
    sig = next(m for m in meta if m.type == "time_signature")
    assert (sig.numerator, sig.denominator) == (3, 4)
    note = next(m for m in mido.MidiFile(path).tracks[1] if m.type == "note_on")
    assert note.time == round(0.5 * 480 * 90 / 60)  # the note came half a second after the downbeat


def test_a_phrase_cut_by_the_controller_is_answered_on_its_bar_line_while_the_player_plays_on(daemon_model):
    from dataclasses import replace

    from daemon_helpers import phrase_events

    config = replace(FOLLOW, phrase_end_cc=20)
    notes = phrase_events([60, 62, 64, 65, 67, 65, 64, 62] * 4, note_s=0.25, gate=1.0)  # 8 bars at 120, legato
    cut_at = 4.1  # after 2 bars of a phrase that never pauses
    events = sorted(notes + [(cut_at, mido.Message("control_change", control=20, value=127))], key=lambda e: e[0])
    result = respond_events(events, daemon_model, config)
    first = result.exchanges[0]
    # Answered on the first bar line after the controller (bars of 2 s), not when the playing stops at 8 s;
    # the notes played after the cut are not part of the call, and they barge in on the answer.
    assert LEAD_IN_S + cut_at < first["start_s"] <= LEAD_IN_S + cut_at + 2.0 + 1e-6
    assert first["call_notes"] <= 18 and first["on_bar_line"]


def test_a_phrase_that_reaches_its_maximum_length_is_answered_while_the_player_plays_on(daemon_model):
    # 512 steps (32 bars at 120 bpm, 64 s) of legato eighths that never pause, then 4 s more: the phrase is cut at
    # its maximum length and answered on the next bar line. (Ending it again at every step used to change it at
    # every step, and the answer planned for it never started: the daemon fell silent for good.)
    from daemon_helpers import phrase_events

    notes = phrase_events([60, 62, 64, 65, 67, 65, 64, 62] * 34, note_s=0.25, gate=1.0)  # 68 s
    result = respond_events(notes, daemon_model, FOLLOW)
    first = result.exchanges[0]
    assert LEAD_IN_S + 64.0 <= first["start_s"] <= LEAD_IN_S + 64.0 + 2.0 + 1e-6 and first["on_bar_line"]


def test_a_key_whose_release_was_lost_ends_the_phrase_after_two_bars_alone(daemon_model):
    # The last note's note-off never arrives (an xrun dropped it): two bars after the last thing played, the
    # phrase is over and answered on the next bar line, not after 32 bars.
    from daemon_helpers import EB_MAJOR_CALL, phrase_events

    events = phrase_events(EB_MAJOR_CALL, note_s=0.5, gate=0.9)[:-1]  # quarters at 120; the last release lost
    last_on = 7 * 0.5
    result = respond_events(events, daemon_model, FOLLOW)
    [exchange] = result.exchanges
    assert exchange["on_bar_line"] and exchange["bpm"] == pytest.approx(120, rel=0.02)
    assert LEAD_IN_S + last_on + 4.0 <= exchange["start_s"] <= LEAD_IN_S + last_on + 4.0 + 2.0 + 1e-6
