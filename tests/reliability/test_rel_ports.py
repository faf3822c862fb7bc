"""Ports that come and go: the keyboard's and the synth's JACK clients exit and come back; the daemon notices,
reopens them by name, keeps answering on the grid, and leaks no threads or file descriptors."""

from __future__ import annotations

import os
import time

import pytest
from rel_helpers import (
    STEP_S,
    JackServer,
    Keyboard,
    Synth,
    bounce,
    fd_count,
    make_daemon_artifact,
    phrase,
    start_daemon,
    thread_count,
    unmatched_note_ons,
    wait_log,
)

pytestmark = pytest.mark.jack

CYCLES = 3
NOTICE_WITHIN_S = 2.0
CALL = [60, 64, 67, 72, 67, 64, 62, 60]


def grid_error_s(t: float, t0: float) -> float:
    phase = ((t - t0) / STEP_S) % 1.0
    return min(phase, 1.0 - phase) * STEP_S


def test_ports_that_vanish_are_reopened_by_name(tmp_path):
    jack = JackServer(f"antiphon-relports-{os.getpid()}")
    keyboard, synth = Keyboard(), Synth()
    daemon = None
    try:
        model = make_daemon_artifact(tmp_path / "model", units=8)
        daemon = start_daemon(jack, model, tmp_path, "--phrase-end-steps", "4", "--response-bars", "2")
        pid = daemon.proc.pid
        # One warm-up cycle each way first: the first reopen loads what later ones reuse.
        keyboard, _, back = bounce(jack, daemon, "input", keyboard, 1, 0.1)
        assert back is not None, daemon.output()
        synth, _, back = bounce(jack, daemon, "output", synth, 1, 0.1)
        assert back is not None, daemon.output()
        threads, fds = thread_count(pid), fd_count(pid)
        for cycle in range(2, CYCLES + 2):
            keyboard, noticed, back = bounce(jack, daemon, "input", keyboard, cycle, 0.2)
            assert noticed is not None and noticed <= NOTICE_WITHIN_S, daemon.output()
            assert back is not None and back <= NOTICE_WITHIN_S, daemon.output()
            synth, noticed, back = bounce(jack, daemon, "output", synth, cycle, 0.2)
            assert noticed is not None and noticed <= NOTICE_WITHIN_S, daemon.output()
            assert back is not None and back <= NOTICE_WITHIN_S, daemon.output()
        assert wait_log(daemon, "input port 'relkbd:keys' is back: reopened", CYCLES + 1, 2.0) is not None
        time.sleep(0.3)
        assert (thread_count(pid), fd_count(pid)) == (threads, fds), daemon.output()

        # Still answers, on the grid of the call, through the reopened ports.
        t0 = time.monotonic() + 0.2
        keyboard.play(phrase(CALL), t0)
        assert synth.wait_for(lambda: len(synth.note_ons(since=t0)) >= 3, 4.0), daemon.output()
        time.sleep(0.5)
        assert daemon.terminate() == 0
        time.sleep(0.1)
        ons = [t for t, _ in synth.note_ons(since=t0)]
        errors = sorted(grid_error_s(t, t0) for t in ons)
        assert errors[len(errors) // 2] <= 0.012, errors
        assert not unmatched_note_ons(synth.received)
        assert "Traceback" not in daemon.output()
    finally:
        if daemon is not None:
            daemon.close()
        keyboard.close()
        synth.close()
        jack.stop()


def test_a_port_that_never_comes_back_is_logged_not_fatal(tmp_path):
    jack = JackServer(f"antiphon-relgone-{os.getpid()}")
    keyboard, synth = Keyboard(), Synth()
    try:
        model = make_daemon_artifact(tmp_path / "model", units=8)
        daemon = start_daemon(jack, model, tmp_path)
        try:
            keyboard.close()
            assert wait_log(daemon, "input port 'relkbd' vanished", 1, NOTICE_WITHIN_S) is not None
            time.sleep(1.0)
            assert daemon.proc.poll() is None
            assert daemon.terminate() == 0
            assert "Traceback" not in daemon.output()
        finally:
            daemon.close()
    finally:
        synth.close()
        jack.stop()
