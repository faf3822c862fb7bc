"""No stuck notes: SIGTERM, SIGINT or an exception in the live loop, mid-call or mid-response, sustain pedal down.

The synth is a JACK client connected by name; the player's notes are passed through, so the synth hears the
player's held notes as well as the response's. Afterwards every note-on the synth saw has its note-off, and
sustain off, CC 123 and CC 120 arrived, all within 100 ms of the signal (or of the injected fault).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import mido
import numpy as np
import pytest
from rel_helpers import (
    ROOT,
    STEP_S,
    SYNTH,
    JackServer,
    Keyboard,
    Synth,
    fault_time,
    make_daemon_artifact,
    phrase,
    silence_report,
    start_daemon,
)

from antiphon.daemon.live import FAULT_ANSWER_PREFIX, FAULT_ENV

pytestmark = pytest.mark.jack

SILENCE_WITHIN_S = 0.1
CALL = [60, 62, 64, 65, 67, 65, 64, 62]  # 2 s of eighths at 120 bpm
CALL_S = len(CALL) * 0.25
LEAD_S = 0.3  # from READY to the call's first note
PHRASE_END_STEPS = 4
DAEMON_ARGS = ("--passthrough", "--phrase-end-steps", str(PHRASE_END_STEPS), "--response-bars", "2")


@pytest.fixture(scope="module")
def jack():
    server = JackServer(f"antiphon-rel-{os.getpid()}")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_daemon_artifact(tmp_path_factory.mktemp("rel_model"))


def run_case(jack, model, tmp, kind: str, moment: str, rng: np.random.Generator) -> dict:
    """One daemon life: pedal down, a call, then the stop of ``kind`` at a random ``moment``; the silence report."""
    keyboard, synth = Keyboard(), Synth()
    extra_env = {}
    if kind == "fault":  # mid-call: grid steps from the loop's start (READY); mid-response: from its first note
        extra_env[FAULT_ENV] = str(round((LEAD_S + rng.uniform(0.3, CALL_S - 0.2)) / STEP_S)) if moment == "call" \
            else f"{FAULT_ANSWER_PREFIX}{round(rng.uniform(0.1, 1.5) / STEP_S)}"
    daemon = start_daemon(jack, model, tmp, *DAEMON_ARGS, extra_env=extra_env)
    try:
        t0 = time.monotonic() + LEAD_S
        keyboard.send(mido.Message("control_change", control=64, value=127))
        events = phrase(CALL)
        if kind == "fault":
            keyboard.play(events, t0)
            try:
                code = daemon.proc.wait(15)
            except subprocess.TimeoutExpired as err:  # mid-response: the hook waits for an answer's first note
                raise AssertionError(f"no fault within 15 s (no answer?): {daemon.output()}") from err
            stopped_at = fault_time(daemon.output())
            assert stopped_at is not None, daemon.output()
        else:
            if moment == "call":
                stop_at = t0 + rng.uniform(0.3, CALL_S - 0.2)
            else:
                keyboard.play(events, t0)
                assert synth.wait_for(lambda: synth.note_ons(since=t0 + CALL_S), 3.0), daemon.output()
                stop_at = synth.note_ons(since=t0 + CALL_S)[0][0] + rng.uniform(0.0, 1.5)
            keyboard.play(events, t0, until=stop_at)
            while time.monotonic() < stop_at:
                time.sleep(0.001)
            stopped_at = time.monotonic()
            daemon.proc.send_signal(signal.SIGTERM if kind == "term" else signal.SIGINT)
            code = daemon.proc.wait(10)
        time.sleep(0.15)
        report = silence_report(synth.received, stopped_at)
        report.update(code=code, in_response=bool(synth.note_ons(since=t0 + CALL_S)) and
                      synth.note_ons(since=t0 + CALL_S)[0][0] < stopped_at, log=daemon.output(),
                      heard=[(round(t - stopped_at, 4), m.bytes()) for t, m in synth.received])
        return report
    finally:
        daemon.close()
        keyboard.close()
        synth.close()


@pytest.mark.parametrize(("kind", "moment", "seed"), [
    ("term", "call", 1), ("int", "response", 2), ("fault", "call", 3), ("fault", "response", 4)])
def test_stop_at_a_random_moment_leaves_nothing_sounding(jack, model, tmp_path, kind, moment, seed):
    report = run_case(jack, model, tmp_path, kind, moment, np.random.default_rng(seed))
    log = report["log"]
    assert report["note_ons"] > 0, log  # the synth heard something (the passthrough call at least)
    assert report["in_response"] == (moment == "response"), log
    assert report["stuck"] == [], (report["heard"], log)
    for key in ("last_off_s", "cc123_s", "cc120_s", "sustain_off_s"):
        assert report[key] is not None and report[key] <= SILENCE_WITHIN_S, (key, report[key], log)
    if kind == "fault":
        assert report["code"] != 0 and "RuntimeError: fault injected" in log
    else:
        assert report["code"] == 0 and "Traceback" not in log


def test_after_sigkill_panic_silences_the_synth(jack, model, tmp_path):
    keyboard, synth = Keyboard(), Synth()
    daemon = start_daemon(jack, model, tmp_path, *DAEMON_ARGS)
    try:
        t0 = time.monotonic() + LEAD_S
        keyboard.send(mido.Message("control_change", control=64, value=127))
        keyboard.play(phrase(CALL), t0, until=t0 + 1.0)  # keys still down (passed through) when killed
        daemon.proc.kill()
        daemon.proc.wait(5)
        time.sleep(0.05)
        stuck = silence_report(synth.received, t0)["stuck"]
        assert stuck, "a hard kill mid-call leaves the passed-through notes hanging"
        killed_at = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "antiphon", "panic", "--output", SYNTH, "--backend", "jack"],
                              cwd=ROOT, env=jack.env, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        assert synth.wait_for(lambda: not silence_report(synth.received, killed_at)["stuck"], 2.0)
        report = silence_report(synth.received, killed_at)
        assert report["cc123_s"] is not None and report["cc120_s"] is not None and report["sustain_off_s"]
    finally:
        daemon.close()
        keyboard.close()
        synth.close()
