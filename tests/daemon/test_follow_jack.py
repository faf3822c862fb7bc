"""``antiphon serve`` playing freely over real JACK MIDI ports: a client plays the opening of a real tune at
90 bpm with a human timing spread, and the answer comes at 90 bpm, on the call's bar line; the metronome clicks
on channel 10 at the session tempo."""

from __future__ import annotations

import os
import re
import time

import numpy as np
import pytest
from daemon_helpers import performed
from harness import Client, Daemon, Disturbed, JackServer, graph_disturbed, rerun_when_disturbed, unmatched_note_ons

from antiphon.engine.midifile import DRUM_CHANNEL

pytestmark = pytest.mark.jack

# "Muss i denn" (Silcher, 1827), its first two bars in C: two eighths of pickup, in quarter notes from bar 1.
MUSS_I_DENN = [(-1, 0.5, 60), (-0.5, 0.5, 62), (0, 1, 64), (1, 1, 64), (2, 1, 64), (3, 0.5, 62), (3.5, 0.5, 64),
               (4, 1, 65), (5, 1, 65), (6, 2, 65)]
BPM = 90.0
BEAT_S = 60.0 / BPM
STEP_S = BEAT_S / 4
# JACK delivers MIDI once per period (5.3 ms here) on the way in and out, and the machine is shared.
GRID_TOLERANCE_S = 0.025
SAME_PHASE_S = 0.012  # every answer event on its fitted grid, give or take a JACK period and the load


@pytest.fixture(scope="module")
def jack():
    server = JackServer(f"antiphon-follow-{os.getpid()}")
    yield server
    server.stop()


def _start(jack, daemon_artifact, tmp_path, *args: str) -> tuple[Daemon, Client]:
    daemon = Daemon(["--model", str(daemon_artifact), "--random-seed", "3", "--log-level", "DEBUG", *args],
                    jack.env, tmp_path)
    return daemon, Client()


@rerun_when_disturbed
def test_a_real_tunes_phrase_at_90_bpm_is_answered_at_90_bpm_on_its_bar_line(jack, daemon_artifact, tmp_path):
    daemon, client = _start(jack, daemon_artifact, tmp_path)
    try:
        call = performed(MUSS_I_DENN, BPM, start_s=1.0, spread_s=0.01, seed=4)
        t0 = time.monotonic() + 0.2
        client.play(call, t0)
        downbeat = t0 + 1.0 + 0 * BEAT_S  # the tune's bar 1 (its pickup starts a beat earlier)
        release = t0 + max(t for t, m in call if m.type == "note_off")
        # The answer: on the first bar line after 1.5 silent beats, two bars long.
        expected = downbeat + 12 * BEAT_S
        assert client.wait_until(lambda: client.notes("note_on", since=release), expected - time.monotonic() + 2)
        time.sleep(max(0.0, expected + 8 * BEAT_S + 0.3 - time.monotonic()))
        assert daemon.terminate() == 0
        time.sleep(0.05)
        answer = [(t, m) for t, m in client.notes("note_on", since=release)]
        assert answer, daemon.output()
        heard = re.search(r"tempo (89\.\d|90\.\d) bpm, 4/4", daemon.output())  # the tempo and meter it heard
        assert heard, daemon.output()
        # The bar line on the heard grid: the grid is fitted to the call's onsets, so it is exact at their mean beat
        # and a tempo a few tenths of a bpm off moves the bar line 9.7 beats later by up to ~25 ms.
        centre = float(np.mean([beat for beat, _, _ in MUSS_I_DENN]))
        expected = downbeat + centre * BEAT_S + (12 - centre) * 60.0 / float(heard.group(1))
        first = answer[0][0]  # the answer starts on the bar line; it may open with a rest
        assert expected - GRID_TOLERANCE_S <= first < expected + BEAT_S, (first - expected, daemon.output()[-3000:])
        offs = [t for t, _ in client.notes("note_off", since=release)]
        # The answer is on one 16th grid: the tempo it heard (within 1 bpm of 90, above) and one phase. The heard
        # tempo is a few tenths of a bpm off from ten notes with a 10 ms spread, which moves the answer's events
        # up to ~25 ms from the player's exact grid over 12 beats and two bars, so the grid is fitted to them.
        times = np.array([t for t, _ in answer] + offs) - first
        steps = np.round(times / STEP_S)
        slope, intercept = np.polyfit(steps, times, 1)
        assert abs(60.0 / (4 * slope) - BPM) <= 1.0, slope
        residuals = times - (slope * steps + intercept)
        if np.max(np.abs(residuals)) > SAME_PHASE_S and graph_disturbed(daemon.output()):
            raise Disturbed(f"xruns while the answer played: {sorted(residuals)[-3:]}")
        assert np.max(np.abs(residuals)) <= SAME_PHASE_S, sorted(residuals)
        assert not unmatched_note_ons(client.received)
    finally:
        client.close()
        daemon.close()


def test_the_metronome_clicks_on_channel_10_at_the_session_tempo(jack, daemon_artifact, tmp_path):
    daemon, client = _start(jack, daemon_artifact, tmp_path, "--metronome", "--bpm", "100", "--meter", "3/4")
    try:
        assert client.wait_until(lambda: len(client.notes("note_on")) >= 7, 10.0), daemon.output()
        assert daemon.terminate() == 0
        time.sleep(0.05)
        clicks = [(t, m) for t, m in client.notes("note_on") if m.channel == DRUM_CHANNEL]
        gaps = [b[0] - a[0] for a, b in zip(clicks, clicks[1:], strict=False)]
        assert all(abs(g - 0.6) <= GRID_TOLERANCE_S for g in gaps), gaps
        notes = [m.note for _, m in clicks]
        assert notes[notes.index(76):][:4] == [76, 77, 77, 76]  # accented on each downbeat of 3/4
        assert not unmatched_note_ons(client.received)
    finally:
        client.close()
        daemon.close()
