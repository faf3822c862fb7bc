"""Frame-accurate JACK MIDI: events land on their exact frames, input carries its frame, nothing is left sounding.

Over a private dummy-driver JACK server (256 frames); the peer is a JACK-Client probe that plays and hears at exact
frames. No timed asserts: frame equality is exactness, not speed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import mido
import pytest
from daemon_helpers import phrase_events
from harness import ROOT, Daemon, Disturbed, JackServer, rerun_when_disturbed, unmatched_note_ons
from jack_probe import FrameProbe

from antiphon.daemon.frameclock import FrameClock

pytestmark = pytest.mark.jack

STEP_FRAMES = 6000  # a 16th at 120 bpm and 48 kHz: 125 ms


@pytest.fixture(scope="module")
def jack():
    server = JackServer(f"antiphon-frames-{os.getpid()}")
    yield server
    server.stop()


@pytest.fixture
def engine_and_probe(jack):
    from antiphon.daemon.jackmidi import JackMidi

    engine = JackMidi()
    engine.users = 1
    engine.clock.check_s = float("inf")  # no drift re-anchoring mid-test: the dummy driver runs on the system clock
    keys, synth = FrameProbe("keys", listen=False), FrameProbe("synth", speak=False)
    yield engine, keys, synth
    keys.close()
    synth.close()
    engine.release()


def _note(kind: str, note: int, velocity: int = 90) -> mido.Message:
    return mido.Message(kind, note=note, velocity=velocity if kind == "note_on" else 0)


def _wait_heard(probe: FrameProbe, count: int, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while probe.heard < count and time.monotonic() < deadline:
        time.sleep(0.01)


@rerun_when_disturbed
def test_scheduled_events_land_on_their_exact_frames_off_the_period_grid(engine_and_probe):
    engine, _, probe = engine_and_probe
    time.sleep(0.1)
    # clients joining the graph may cost an xrun; count from here
    engine.xruns = engine.late = engine.cycle_gaps = probe.xruns = probe.cycle_gaps = 0
    start = engine.clock.to_frame(time.monotonic() + 0.2)
    start -= start % engine.period  # a period boundary; the events sit at odd offsets from it
    wanted = [start + offset for offset in (37, 255, 256 + 1, 3 * 256 + 129, 6000 + 11, 6000 + 12, 20000 + 201)]
    for i, frame in enumerate(wanted):
        engine.send_at(_note("note_on" if i % 2 == 0 else "note_off", 60 + i), engine.clock.to_time(frame))
    _wait_heard(probe, len(wanted))
    if engine.xruns or engine.late or probe.xruns or engine.cycle_gaps or probe.cycle_gaps:
        raise Disturbed(f"the machine was too busy: {engine.summary()}")
    assert [frame for frame, _ in probe.received()] == wanted
    assert [m.note for _, m in probe.received()] == [60 + i for i in range(len(wanted))]


def test_input_is_stamped_with_the_frame_it_was_played_at(engine_and_probe):
    engine, probe, _ = engine_and_probe
    heard: list[tuple[float, mido.Message]] = []
    engine.on_input = lambda t, msg: heard.append((t, msg))
    start = probe.frame_now() + 4 * probe.period
    probe.play([(0.0, _note("note_on", 64)), (0.0123, _note("note_off", 64))], start)
    probe.wait_played()
    deadline = time.monotonic() + 5
    while len(heard) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    frames = [engine.clock.to_frame(t) for t, _ in heard]
    assert frames == [start, start + round(0.0123 * probe.rate)]
    assert [m.type for _, m in heard] == ["note_on", "note_off"]


def test_input_stamped_later_than_it_was_read_is_taken_as_read_then(engine_and_probe):
    # A frame clock left a second behind the audio clock (frames lost to xruns, not yet re-anchored) would stamp
    # input a second in the future: a phrase would then never fall silent. Such input counts as read at once.
    engine, probe, _ = engine_and_probe
    heard: list[tuple[float, float]] = []
    engine.on_input = lambda t, msg: heard.append((t, time.monotonic()))
    t0, f0 = engine.clock._anchor
    engine.clock._anchor = (t0 + 1.0, f0)  # every frame now maps to a second later
    engine.clock.check = lambda force=False: None  # and nothing (an xrun's re-fit) puts it right during the test
    probe.play([(0.0, _note("note_on", 64))], probe.frame_now() + 4 * probe.period)
    probe.wait_played()
    deadline = time.monotonic() + 5
    while not heard and time.monotonic() < deadline:
        time.sleep(0.01)
    [(stamp, seen)] = heard
    assert engine.ahead == 1 and 0.9 < engine.ahead_max_s < 1.1
    assert stamp <= seen  # stamped no later than the callback that handled it saw it


@rerun_when_disturbed
def test_a_release_cancels_scheduled_note_ons_and_note_offs_still_come(engine_and_probe):
    engine, _, probe = engine_and_probe
    soon = time.monotonic() + 0.3
    engine.send_at(_note("note_on", 60), soon)  # scheduled, then barged in on before it is due
    engine.send(_note("note_off", 60))
    engine.send_at(_note("note_on", 62), soon + 0.01)
    engine.send_at(_note("note_off", 62), soon + 0.02)
    engine.send(mido.Message("control_change", control=123, value=0))  # stop: all notes off cancels the rest
    engine.send_at(_note("note_on", 65), soon + 0.05)  # a new note after the stop plays
    engine.send_at(_note("note_off", 65), soon + 0.06)
    _wait_heard(probe, 5)
    time.sleep(0.1)
    if probe.xruns or probe.cycle_gaps:
        raise Disturbed(f"xruns on a busy machine (a cycle's events can be lost): {engine.summary()}")
    heard = [m for _, m in probe.received()]
    # First in, first out: the immediate all-notes-off goes after the note-off scheduled before it.
    assert [(m.type, getattr(m, "note", None)) for m in heard] == [
        ("note_off", 60), ("note_off", 62), ("control_change", None), ("note_on", 65), ("note_off", 65)]
    assert engine.cancelled == 2
    assert not unmatched_note_ons([(0, m) for m in heard])


def test_after_an_xrun_the_last_cycles_silencing_messages_are_sent_again(engine_and_probe):
    engine, _, probe = engine_and_probe
    for message in (_note("note_on", 60), _note("note_off", 60), _note("note_on", 62), _note("note_off", 62),
                    _note("note_on", 62), mido.Message("control_change", control=64, value=0)):
        engine.send(message)
    _wait_heard(probe, 6)
    engine._xrun(0.0)  # what the server calls when a cycle was lost (the graph's, or ours)
    _wait_heard(probe, 8)
    time.sleep(0.05)
    heard = [(m.type, getattr(m, "note", getattr(m, "control", None))) for _, m in probe.received()]
    last_on_62 = max(i for i, h in enumerate(heard) if h == ("note_on", 62))
    again = heard[last_on_62 + 2:]  # after the first note-on of 62's second life and the pedal release
    # The note-off of 60 and the pedal release again (a real xrun on a busy machine may add more of them);
    # never 62's note-off, which the later note-on of 62 undid.
    assert ("note_off", 60) in again and ("control_change", 64) in again
    assert set(again) <= {("note_off", 60), ("control_change", 64)}
    assert engine.resent >= 2


def test_frame_clock_fits_the_earliest_wake_ups_and_re_anchors_only_when_frames_jump():
    rate, period = 48000, 256
    times = iter([100.0] * 1000)
    clock = FrameClock(rate, now=lambda: next(times), check_s=0.0)
    wake_late = [0.0004, 0.0, 0.002, 0.0001, 0.0007, 0.0, 0.003, 0.0002, 0.0005, 0.0]  # never early
    for k, late in enumerate(wake_late):
        clock.observe(k * period, 10.0 + k * period / rate + late)
    clock.check()
    assert clock.anchors == 1 and clock.to_frame(10.0 + 5 * period / rate) == 5 * period
    for k, late in enumerate(wake_late, start=len(wake_late)):  # same clocks, other jitter: the anchor stays
        clock.observe(k * period, 10.0 + k * period / rate + late / 2)
    clock.check()
    assert clock.anchors == 1
    for k, late in enumerate(wake_late * 60, start=2 * len(wake_late)):  # the envelope wanders 10 frames (0.2 ms)
        clock.observe(k * period, 10.0 + (k * period + 10) / rate + late)
    clock.check()
    assert clock.anchors == 1  # not a drift worth moving a playing answer's grid for
    clock.restart()  # an xrun: frames jumped 1,000 ahead of the monotonic clock
    assert clock.stale
    after = wake_late * 4  # REFIT_CYCLES of them before a new fit
    for k, late in enumerate(after[:-10], start=2 * len(wake_late)):
        clock.observe(k * period + 1000, 10.0 + k * period / rate + late)
    clock.check()
    assert clock.anchors == 1 and clock.stale  # too few wake-ups since the xrun: the old anchor stays
    for k, late in enumerate(after[-10:], start=2 * len(wake_late) + len(after) - 10):
        clock.observe(k * period + 1000, 10.0 + k * period / rate + late)
    clock.check()
    assert clock.anchors == 2 and not clock.stale
    assert clock.to_frame(10.0 + 30 * period / rate) == 30 * period + 1000
    assert clock.to_time(30 * period + 1000) == pytest.approx(10.0 + 30 * period / rate, abs=0.5 / rate)


@rerun_when_disturbed
def test_after_an_xrun_the_schedule_stays_exact(engine_and_probe):
    engine, _, probe = engine_and_probe
    xruns = engine.xruns
    engine._xrun(1234.0)  # what JACK calls (its notification thread) after an xrun
    assert engine.xruns == xruns + 1 and engine.clock.stale
    deadline = time.monotonic() + 2.0
    while engine.clock.stale and time.monotonic() < deadline:  # cycles to fit the frame clock to again
        time.sleep(0.02)
        engine.clock.check()
    t = time.monotonic() + 0.2
    engine.send_at(_note("note_on", 70), t)  # the send checks the anchor first
    assert not engine.clock.stale
    frame = engine.clock.to_frame(t)
    engine.send_at(_note("note_off", 70), engine.clock.to_time(frame + 1000))
    _wait_heard(probe, 2)
    if engine.xruns > xruns + 1 or engine.late or probe.cycle_gaps:
        raise Disturbed(f"real xruns on a busy machine: {engine.summary()}")
    assert [f for f, _ in probe.received()] == [frame, frame + 1000]


@pytest.fixture
def daemon(jack, daemon_artifact, tmp_path):
    started = []

    def start(*args: str) -> tuple[Daemon, FrameProbe, FrameProbe]:
        daemon = Daemon(["--jack-frames", "--model", str(daemon_artifact), "--random-seed", "3", "--log-level",
                         "INFO", *args],
                        jack.env, tmp_path)
        keys, synth = FrameProbe("keys", listen=False), FrameProbe("synth", speak=False)
        started.append((daemon, keys, synth))
        return daemon, keys, synth

    yield start
    for daemon, keys, synth in started:
        keys.close()
        synth.close()
        daemon.close()


def _late_count(output: str) -> int:
    """Events the daemon sent late, or every one if the graph had xruns (frames then jump)."""
    found = re.search(r"JACK MIDI: .* late (\d+), .* xruns (\d+), skipped cycles (\d+)", output)
    assert found, output[-2000:]
    late, xruns, skipped = (int(g) for g in found.groups())
    return late if xruns + skipped == 0 else 1 << 30


@rerun_when_disturbed
def test_daemon_answers_on_exact_grid_frames_and_a_barge_in_before_a_step_cancels_it(daemon):
    serve, keys, synth = daemon("--tempo", "fixed", "--phrase-end-steps", "8")
    start = keys.frame_now() + 48000 // 5
    start += 101 - start % keys.period  # off the period grid
    keys.play(phrase_events([63, 67, 70, 72]), start)  # one bar; the response starts 8 steps after it
    response_at = start + 24 * STEP_FRAMES
    barge = response_at + 6 * STEP_FRAMES - 288  # 6 ms before a step: its notes are scheduled (lead 13.7 ms)
    keys.play(phrase_events([70, 72, 74, 75]), barge)
    keys.wait_played()
    time.sleep(0.2)
    assert serve.terminate() == 0
    heard = synth.received()
    notes = [(f, m) for f, m in heard if m.type in ("note_on", "note_off")]
    off_grid = [f for f, _ in notes if f < barge and (f - start) % STEP_FRAMES]  # the barge-in's releases: at once
    allowed = _late_count(serve.output()) if not synth.cycle_gaps + keys.cycle_gaps else len(notes)
    assert notes and len(off_grid) <= allowed, (off_grid, serve.output()[-2000:])
    ons = [f for f, m in notes if m.type == "note_on" and m.velocity > 0]
    anchors = re.search(r"JACK MIDI: .* anchors (\d+)", serve.output())
    if anchors and int(anchors.group(1)) > 1 and ons and ons[0] < response_at:
        raise Disturbed(f"the frame clock was re-anchored mid-test on a busy machine ({anchors.group(0)})")
    assert ons and ons[0] >= response_at
    # A note scheduled for the step after the barge-in is cancelled if the barge-in is handled before its cycle
    # (6 ms here), else released at once; nothing starts once the new call is under way.
    assert not [f for f in ons if barge + STEP_FRAMES // 2 <= f], "no response note while the new call is played"
    assert "barge-in" in serve.output()
    assert not unmatched_note_ons(heard)


def test_sigterm_with_notes_scheduled_leaves_nothing_sounding(daemon):
    serve, keys, probe = daemon("--tempo", "fixed", "--phrase-end-steps", "4", "--response-bars", "4")
    start = keys.frame_now() + 48000 // 5
    keys.play(phrase_events([63, 65, 67, 70], note_s=0.25), start)
    deadline = time.monotonic() + 5
    while not any(m.type == "note_on" for _, m in probe.received()) and time.monotonic() < deadline:
        time.sleep(0.002)
    # just before a grid step: the loop has handed that step's messages over already
    first = next(f for f, m in probe.received() if m.type == "note_on")
    ahead = (STEP_FRAMES - (probe.frame_now() - first) % STEP_FRAMES) / probe.rate
    time.sleep(max(0.0, ahead - 0.004))
    assert serve.terminate() == 0
    time.sleep(0.1)
    heard = probe.received()
    assert not unmatched_note_ons(heard)
    assert {64, 123, 120} <= {m.control for _, m in heard if m.type == "control_change"}
    assert heard[-1][1].type == "control_change"  # the silence comes last


def _run(args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "JACK_DEFAULT_SERVER": f"antiphon-nobody-{os.getpid()}"}  # no server under this name
    return subprocess.run([sys.executable, "-m", "antiphon", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def test_no_midi_system_is_one_line_and_exit_2():
    for args in (["serve", "--backend", "jack", "--virtual"], ["ports", "--backend", "jack"]):
        done = _run(args)
        assert done.returncode == 2, done.stderr
        lines = (done.stdout + done.stderr).strip().splitlines()
        assert len(lines) == 1 and "no JACK server running" in lines[0] and "jackd -d alsa" in lines[0], lines
    if os.path.exists("/dev/snd/seq"):
        pytest.skip("this machine has an ALSA sequencer: the no-MIDI-system case is not reachable here")
    for args in (["serve", "--virtual"], ["ports"]):
        done = _run(args)
        lines = (done.stdout + done.stderr).strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1, lines
        assert lines[0].startswith("error: no MIDI system: no ALSA sequencer (/dev/snd/seq) and no JACK server")


def _wait(predicate, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)
    return predicate()


def test_a_port_listed_before_its_client_is_active_is_a_retryable_error(engine_and_probe):
    # A synth coming back registers its ports before it activates; the port watcher can see them in between.
    # JACK refuses that connection: it must reach the watcher as an error it retries, not kill its thread.
    from antiphon.daemon.jackmidi import load_jack

    engine, _, _ = engine_and_probe
    late = load_jack().Client("late-synth", no_start_server=True)
    try:
        port = late.midi_inports.register("in")
        with pytest.raises(RuntimeError):
            engine.connect_output(port.name)
        late.activate()
        engine.connect_output(port.name)
        assert [p.name for p in engine.out_port.connections] == [port.name]
    finally:
        late.deactivate()
        late.close()


@rerun_when_disturbed
def test_the_port_watcher_on_the_frame_path_lists_ports_without_rtmidi(engine_and_probe, monkeypatch):
    # rtmidi's JACK clients open (jack_activate) holding the interpreter lock while the server waits for this
    # client's cycle, whose Python callback waits for that lock: serve hung at start. Listing goes through
    # the engine's own JACK-Client client instead; a watcher that still made rtmidi clients would die here.
    import rtmidi

    from antiphon.daemon import jackports
    from antiphon.daemon.reconnect import InputHolder, PortWatcher, SwitchableOutput

    engine, keys, synth = engine_and_probe

    def no_rtmidi(*_args, **_kwargs):
        raise AssertionError("an rtmidi client on the JACK frame path")

    monkeypatch.setattr(rtmidi, "MidiIn", no_rtmidi)
    monkeypatch.setattr(rtmidi, "MidiOut", no_rtmidi)
    monkeypatch.setattr(jackports, "_shared", engine)
    output = SwitchableOutput(jackports.JackOutput(engine, synth.inp.name))
    inputs = InputHolder(jackports.JackInput(engine, keys.out.name, lambda _msg: None), lambda _msg: None)
    watcher = PortWatcher("jack", "keys", "synth", inputs, output, lambda: [(0, 59)], interval_s=0.05,
                          **jackports.jack_reopeners(engine))
    watcher.start()
    try:
        synth.close()
        assert _wait(lambda: not output.present)
        back = FrameProbe("synth", speak=False, listen=False)  # the watcher connects it
        try:
            assert _wait(lambda: watcher.reopened["output"] == 1)
            # The reconnect's note-off goes at once, and only once the connection is in JACK's graph (JACK makes
            # it live from a later cycle: sent in the cycle under way, it was lost about once in 300 reconnects).
            _wait(lambda: back.heard >= 1)
            if not back.heard and (engine.xruns or back.xruns or engine.cycle_gaps or back.cycle_gaps):
                raise Disturbed(f"xruns on a busy machine (a cycle's events can be lost): {engine.summary()}")
            assert [(m.type, m.note) for _, m in back.received()] == [("note_off", 59)]
        finally:
            back.close()
    finally:
        watcher.stop()
        inputs.close()
        output.close()
    synth.close = lambda: None  # closed above


def test_a_send_from_another_thread_is_not_stamped_with_the_loops_deadline(engine_and_probe):
    # The loop stamps its step's messages; the port watcher's reconnect note-offs, sent meanwhile from its own
    # thread, must go at once (cancelling scheduled note-ons of that note), not at the loop's step deadline.
    import threading

    engine, _, _ = engine_and_probe
    due = time.monotonic() + 0.3
    engine.send_at(_note("note_on", 59), due)
    engine.stamp = due + 0.1
    try:
        other = threading.Thread(target=engine.send, args=(_note("note_off", 59),))
        other.start()
        other.join()
    finally:
        engine.stamp = None
    assert engine.cancelled == 1


def test_what_is_sent_right_after_connecting_reaches_the_new_port(engine_and_probe):
    # JACK makes a connection live from a cycle that starts after it is made. Hold the callback inside the cycle
    # under way while connecting: a note-off sent at once would be written in that cycle and never arrive.
    import threading

    engine, _, _ = engine_and_probe
    peer = FrameProbe("peer", speak=False, listen=False)
    hold, held = threading.Event(), threading.Event()
    observe = engine.clock.observe

    def held_observe(frame: int, t: float) -> None:
        if hold.is_set():
            held.set()
            until = time.monotonic() + 0.05  # or until something is queued: a send right after connecting
            while engine.ring.pending == 0 and time.monotonic() < until:
                time.sleep(0.0005)
            hold.clear()
        observe(frame, t)

    engine.clock.observe = held_observe
    try:
        hold.set()
        assert held.wait(5.0)
        engine.connect_output(peer.inp.name)  # made while the cycle is held
        engine.send(_note("note_off", 59))
        _wait(lambda: peer.heard >= 1, 2.0)
        assert [(m.type, m.note) for _, m in peer.received()] == [("note_off", 59)], engine.summary()
    finally:
        engine.clock.observe = observe
        peer.close()


def test_malformed_input_is_skipped_and_the_reader_goes_on(engine_and_probe):
    # A truncated pitch bend made mido raise IndexError in the reader thread, which died: no input after it.
    engine, keys, _ = engine_and_probe
    heard: list[mido.Message] = []
    engine.on_input = lambda _t, msg: heard.append(msg)
    start = keys.frame_now() + 4 * keys.period
    garbage = (b"\xe0\x10", b"\x90", b"\xb0\x07", b"\xf0\x01")
    for offset, data in enumerate((*garbage, bytes(_note("note_on", 61).bytes()))):
        keys.schedule.append((start + offset, data))
    keys.wait_played()
    assert _wait(lambda: len(heard) >= 1)
    assert [(m.type, m.note) for m in heard] == [("note_on", 61)]
    assert engine._reader.is_alive()
