"""Recordings survive ``kill -9`` (recovered on the next start, at most ~1 s lost) and a full disk (the recording
stops with a logged error while the playing goes on)."""

from __future__ import annotations

import os
import resource
import subprocess
import time

import mido
import numpy as np
import pytest
from rel_helpers import (
    JackServer,
    Keyboard,
    Synth,
    killed_session,
    lost_seconds,
    make_daemon_artifact,
    phrase,
    recorded_notes,
    start_daemon,
    wait_log,
)

pytestmark = pytest.mark.jack

SESSIONS = 10
LOSS_LIMIT_S = 1.0


@pytest.fixture(scope="module")
def jack():
    server = JackServer(f"antiphon-relrec-{os.getpid()}")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_daemon_artifact(tmp_path_factory.mktemp("relrec_model"), units=8)


def test_kill_9_at_random_moments_loses_at_most_a_second(jack, model, tmp_path):
    record = tmp_path / "rec"
    rng = np.random.default_rng(11)
    sessions = []
    for i in range(SESSIONS):
        sessions.append(killed_session(jack, model, tmp_path, record, 40 + i, float(rng.uniform(0.3, 2.2))))
    keyboard, synth = Keyboard(), Synth()
    try:
        daemon = start_daemon(jack, model, tmp_path, "--record", str(record))  # this start recovers the last one
        assert daemon.terminate() == 0
    finally:
        keyboard.close()
        synth.close()
    assert not list(record.glob("*.journal")) and not list(record.glob(".*.tmp"))
    paths = sorted(record.glob("*.mid"))
    tracks = [recorded_notes(path) for path in paths]
    empty = [str(mido.MidiFile(path).tracks) for path, t in zip(paths, tracks, strict=True) if not t["call"]]
    assert not empty, empty  # (the clean stop of an idle daemon must not leave a file of controllers)
    files = {t["call"][0][1]: t for t in tracks}
    assert sorted(files) == [40 + i for i in range(SESSIONS)]
    for i, (sent, heard, killed) in enumerate(sessions):
        tracks = files[40 + i]
        assert lost_seconds(sent, tracks["call"], killed) <= LOSS_LIMIT_S, (i, sent, tracks, killed)
        assert lost_seconds(heard, tracks["response"], killed) <= LOSS_LIMIT_S, (i, heard, tracks, killed)
        assert [p for _, p in tracks["call"]] == [p for _, p in sent][: len(tracks["call"])]
    assert sum(len(f["response"]) for f in files.values()) > 0  # some kills came mid-response


def _fill_disk(folder, leave_bytes: int) -> str:
    """A tiny tmpfs at ``folder``, filled up to ``leave_bytes``; or, where mounting is not allowed, nothing."""
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        return "rlimit"
    with open(folder / "filler", "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError:
            pass
    os.truncate(folder / "filler", os.path.getsize(folder / "filler") - leave_bytes)
    return "tmpfs"


def test_a_full_disk_stops_the_recording_and_the_playing_goes_on(jack, model, tmp_path):
    record = tmp_path / "full"
    keyboard, synth = Keyboard(), Synth()
    try:
        how = _fill_disk(record, 4096)
        daemon = start_daemon(jack, model, tmp_path, "--phrase-end-steps", "4", "--response-bars", "1",
                              "--record", str(record))
        try:
            if how == "rlimit":  # no mount permitted: the same error path through the file size limit (EFBIG)
                resource.prlimit(daemon.proc.pid, resource.RLIMIT_FSIZE, (2048, 2048))
            t0 = time.monotonic() + 0.1
            for k in range(6):  # fast runs of notes (128 events a phrase) until the journal hits the limit
                keyboard.play(phrase([60, 64, 67, 72] * 16, note_s=0.03), t0 + 2.5 * k)
                if wait_log(daemon, "recording stopped", 1, 0.01) is not None:
                    break
            assert wait_log(daemon, "recording stopped", 1, 3.0) is not None, daemon.output()
            t1 = time.monotonic() + 0.3
            keyboard.play(phrase([62, 65, 69, 74]), t1)
            assert synth.wait_for(lambda: synth.note_ons(since=t1 + 1.0), 3.0), daemon.output()
            assert daemon.terminate() == 0, daemon.output()
            assert "No space left" in daemon.output() or "File too large" in daemon.output()
        finally:
            daemon.close()
    finally:
        keyboard.close()
        synth.close()
        if os.path.ismount(record):
            subprocess.run(["umount", str(record)], check=True)
