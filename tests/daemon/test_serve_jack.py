"""``antiphon serve`` over real JACK MIDI ports: a private dummy-driver JACK server and a test client."""

from __future__ import annotations

import os
import time

import mido
import numpy as np
import pytest
from daemon_helpers import EB_MAJOR_CALL, phrase_events, scale_pcs
from harness import Client, Daemon, JackServer, unmatched_note_ons

pytestmark = pytest.mark.jack

STEP_S = 0.125  # a 16th at 120 bpm
# JACK delivers MIDI once per period (5.3 ms here), on the way in and on the way out; the machine is shared, so
# single events may be late: most must be close, and every one nearer its own step than the next.
GRID_TOLERANCE_S = 0.025
GRID_MEDIAN_S = 0.012
EB = 3


@pytest.fixture(scope="module")
def jack():
    server = JackServer(f"antiphon-test-{os.getpid()}")
    yield server
    server.stop()


@pytest.fixture
def serve(jack, daemon_artifact, tmp_path):
    started = []

    def start(*args: str, extra_env: dict[str, str] | None = None) -> tuple[Daemon, Client]:
        daemon = Daemon(["--model", str(daemon_artifact), "--random-seed", "3", "--log-level", "INFO", *args],
                        jack.env, tmp_path, extra_env=extra_env)
        client = Client()
        started.append((daemon, client))
        return daemon, client

    yield start
    for daemon, client in started:
        client.close()
        daemon.close()


def _grid_error_s(t: float, t0: float) -> float:
    phase = ((t - t0) / STEP_S) % 1.0
    return min(phase, 1.0 - phase) * STEP_S


def test_answers_in_the_calls_key_on_the_grid_and_records_both_tracks(serve, tmp_path):
    record = tmp_path / "rec"
    daemon, client = serve("--tempo", "fixed", "--phrase-end-steps", "8", "--record", str(record))
    call = phrase_events(EB_MAJOR_CALL)  # two bars of quarter notes, released at 90 %
    t0 = time.monotonic() + 0.2
    client.play(call, t0)
    call_end = t0 + 8 * 0.5  # the second bar's end (the last release quantises to it)
    time.sleep(max(0.0, call_end + 1.0 + 4.0 + 0.4 - time.monotonic()))  # 8 silent steps, a 32-step response
    assert daemon.terminate() == 0
    time.sleep(0.05)

    ons = client.notes("note_on")
    assert len(ons) >= 3, daemon.output()
    first = ons[0][0]
    assert call_end + 8 * STEP_S - GRID_TOLERANCE_S <= first <= call_end + 16 * STEP_S + GRID_TOLERANCE_S
    errors = sorted(_grid_error_s(t, t0) for t, _ in ons + client.notes("note_off"))
    assert errors[len(errors) // 2] <= GRID_MEDIAN_S, errors
    assert errors[int(0.9 * (len(errors) - 1))] <= GRID_TOLERANCE_S, errors
    assert errors[-1] < STEP_S / 2, errors
    assert ons[-1][0] <= call_end + 1.0 + 4.0 + GRID_TOLERANCE_S  # as long as the call (32 steps)
    assert not unmatched_note_ons(client.received)
    assert {m.note % 12 for _, m in ons} <= scale_pcs(EB)
    assert "key E- major" in daemon.output()
    assert any(m.type == "control_change" and m.control == 123 for _, m in client.received)

    files = sorted(record.glob("*.mid"))
    assert len(files) == 1 and not list(record.glob("*.journal"))
    midi = mido.MidiFile(files[0])
    names = [t.name for t in midi.tracks]
    assert names[1:] == ["call", "response"]
    call_notes = [m.note for m in midi.tracks[1] if m.type == "note_on" and m.velocity > 0]
    response_notes = [m.note for m in midi.tracks[2] if m.type == "note_on" and m.velocity > 0]
    assert call_notes == EB_MAJOR_CALL
    assert response_notes == [m.note for _, m in ons]
    # The recording keeps real time: the response starts where it was heard, relative to the call.
    beat_s = 60.0 / 120.0
    ticks = 0
    first_response_tick = None
    for m in midi.tracks[2]:
        ticks += m.time
        if m.type == "note_on" and m.velocity > 0:
            first_response_tick = ticks
            break
    recorded_offset_s = first_response_tick / midi.ticks_per_beat * beat_s
    assert abs(recorded_offset_s - (first - t0)) < 0.03


def test_barge_in_stops_the_response_and_the_new_call_is_heard(serve):
    daemon, client = serve("--tempo", "fixed", "--phrase-end-steps", "8")
    t0 = time.monotonic() + 0.2
    client.play(phrase_events([63, 67, 70, 72]), t0)  # one bar; the response is due 8 steps after it
    assert client.wait_until(lambda: client.notes("note_on"), 4.0), daemon.output()
    t_first, first = client.notes("note_on")[0]
    barge_at = t_first + 0.03  # the response's first note is sounding (it lasts at least one step)
    client.play(phrase_events([70, 72, 74]), barge_at)
    time.sleep(max(0.0, barge_at + 1.5 + 1.0 + 1.5 + 0.3 - time.monotonic()))
    assert daemon.terminate() == 0

    offs = [(t, m) for t, m in client.notes("note_off", since=t_first) if m.note == first.note]
    # At once: well within one 16th (125 ms at 120 bpm); 30 ms when the machine is quiet, more under load.
    assert offs and offs[0][0] - barge_at < 0.0625, "the sounding response note is released at once"
    ons_after = [t for t, _ in client.notes("note_on", since=barge_at)]
    new_call_end = barge_at + 1.5
    assert not [t for t in ons_after if t < new_call_end + 8 * STEP_S - GRID_TOLERANCE_S], \
        "no response note while the new call is played"
    assert [t for t in ons_after if t >= new_call_end], "the new call is answered"
    assert "barge-in" in daemon.output()
    assert not unmatched_note_ons(client.received)


def test_sigterm_mid_response_leaves_no_note_sounding(serve, tmp_path):
    record = tmp_path / "rec"
    daemon, client = serve("--tempo", "fixed", "--phrase-end-steps", "4", "--response-bars", "4", "--record",
                           str(record))
    t0 = time.monotonic() + 0.2
    client.play(phrase_events([63, 65, 67, 70], note_s=0.25), t0)
    assert client.wait_until(lambda: client.notes("note_on"), 3.0), daemon.output()
    time.sleep(0.01)
    assert daemon.terminate() == 0  # how fast it silences is measured by benchmarks/bench_reliability.py
    time.sleep(0.1)
    assert not unmatched_note_ons(client.received)
    controls = [m.control for _, m in client.received if m.type == "control_change"]
    assert {64, 123, 120} <= set(controls)
    assert client.received[-1][1].type == "control_change"  # the silence comes last
    midi = mido.MidiFile(sorted(record.glob("*.mid"))[0])
    assert [m.note for m in midi.tracks[1] if m.type == "note_on"] == [63, 65, 67, 70]
    assert [m.note for m in midi.tracks[2] if m.type == "note_on" and m.velocity > 0] == \
        [m.note for _, m in client.notes("note_on")]


def test_ready_watchdog_fed_by_the_loop_and_clock_out(serve):
    daemon, client = serve("--send-clock", extra_env={"WATCHDOG_USEC": "200000"})
    assert "antiphon" in client.inport.name  # the client looked once, right after READY: the ports were open
    daemon.sock.setblocking(False)
    while True:  # drop what came before the count starts
        try:
            daemon.sock.recv(100)
        except BlockingIOError:
            break
    daemon.sock.settimeout(0.5)
    pings, started = 0, time.monotonic()
    while time.monotonic() - started < 1.0:
        if daemon.sock.recv(100) == b"WATCHDOG=1":
            pings += 1
    assert 6 <= pings <= 9  # at the first step (8 per second) after half the watchdog period (0.1 s)
    assert daemon.terminate() == 0
    time.sleep(0.05)
    kinds = [m.type for _, m in client.received if m.type in ("start", "clock", "stop")]
    assert kinds[-1] == "stop"
    clocks = [t for t, m in client.received if m.type == "clock"]
    assert len(clocks) >= 48  # 24 per quarter at 120 bpm: 48 per second
    intervals = np.diff(clocks)
    assert np.median(intervals) == pytest.approx(STEP_S / 6, abs=0.002)


def test_panic_and_ports_commands_reach_a_jack_port(jack, tmp_path):
    import subprocess
    import sys

    from harness import JACK_BACKEND, ROOT

    from antiphon.daemon.ports import close_input

    received = []
    backend = mido.Backend(JACK_BACKEND, load=True)
    synth = backend.open_input("hanging synth", virtual=True, client_name="synth",
                               callback=lambda m: received.append(m))
    try:
        listed = subprocess.run([sys.executable, "-m", "antiphon", "ports", "--backend", "jack"], cwd=ROOT,
                                env=jack.env, capture_output=True, text=True, timeout=30)
        assert listed.returncode == 0 and "hanging synth" in listed.stdout
        done = subprocess.run([sys.executable, "-m", "antiphon", "panic", "--output", "HANGING", "--backend",
                               "jack", "--channel", "1", "--channel", "10"], cwd=ROOT, env=jack.env,
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        deadline = time.monotonic() + 2
        while len(received) < 2 * 128 + 48 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        close_input(synth)
    offs = {(m.channel, m.note) for m in received if m.type == "note_off"}
    assert offs == {(c, n) for c in (0, 9) for n in range(128)}
    controls = {(m.channel, m.control) for m in received if m.type == "control_change"}
    assert controls == {(c, cc) for c in range(16) for cc in (64, 123, 120)}
    missing = subprocess.run([sys.executable, "-m", "antiphon", "panic", "--output", "no such synth",
                              "--backend", "jack"], cwd=ROOT, env=jack.env, capture_output=True, text=True,
                             timeout=30)
    assert missing.returncode == 2 and "no output port matches" in missing.stderr


def test_follows_an_external_midi_clock(serve):
    daemon, client = serve("--clock", "external", "--phrase-end-steps", "8")
    bpm = 100.0
    pulse_s = 60.0 / (bpm * 24)
    t0 = time.monotonic() + 0.2
    clock = [(0.0, mido.Message("start"))] + [(k * pulse_s, mido.Message("clock")) for k in range(int(9.0 / pulse_s))]
    quarter = 60.0 / bpm
    call = phrase_events([63, 67, 70, 72], start_s=4 * quarter, note_s=quarter)  # bar 2 of the master
    client.play(sorted(clock + call, key=lambda e: e[0]), t0)
    ons = client.notes("note_on")
    assert ons, daemon.output()
    assert "external clock: start" in daemon.output()
    step_s = quarter / 4
    # On the master's 100-bpm grid: every note-on at the same phase of its 16ths, up to JACK's period jitter
    # (the constant latency of the start message and of the notes through JACK is not an error).
    phases = np.array([((t - t0) / step_s) % 1.0 for t, _ in ons])
    reference = phases[0]
    spread = np.abs((phases - reference + 0.5) % 1.0 - 0.5) * step_s
    assert np.median(spread) <= GRID_MEDIAN_S and spread.max() <= GRID_TOLERANCE_S, spread
    assert daemon.terminate() == 0
    assert not unmatched_note_ons(client.received)
