"""Recording: journal as it goes, a finished MIDI file with call and response tracks, recovery after kill -9."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import mido
import pytest

from antiphon.daemon.recorder import JOURNAL_SUFFIX, SessionRecorder, read_journal, recover
from antiphon.daemon.session import CALL_TRACK, RESPONSE_TRACK


def _track_notes(midi: mido.MidiFile, index: int) -> list[tuple[float, int]]:
    """(seconds, note) of the note-ons of one track at the file's tempo (120 bpm here)."""
    out, ticks = [], 0
    for msg in midi.tracks[index]:
        ticks += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            out.append((ticks / midi.ticks_per_beat * 0.5, msg.note))
    return out


def test_finished_file_has_call_and_response_tracks_at_their_times(tmp_path):
    recorder = SessionRecorder(tmp_path, bpm=120)
    t = 100.0  # seconds on the live clock: the file starts at the first event
    recorder.record(CALL_TRACK, t, mido.Message("note_on", note=63, velocity=90))
    recorder.record(CALL_TRACK, t + 0.45, mido.Message("note_off", note=63))
    recorder.record(RESPONSE_TRACK, t + 1.5, mido.Message("note_on", note=70, velocity=90))
    recorder.record(RESPONSE_TRACK, t + 1.75, mido.Message("note_off", note=70))
    path = recorder.finish()
    assert path is not None and path.exists() and path.suffix == ".mid"
    assert not list(tmp_path.glob("*" + JOURNAL_SUFFIX)) and not list(tmp_path.glob(".*.tmp"))
    midi = mido.MidiFile(path)
    assert [tr.name for tr in midi.tracks] == ["", "call", "response"]
    assert _track_notes(midi, 1) == [(0.0, 63)]
    assert _track_notes(midi, 2) == [(pytest.approx(1.5, abs=0.002), 70)]
    assert recorder.finish() is None  # nothing more to write
    recorder.record(CALL_TRACK, t + 200, mido.Message("note_on", note=60))
    second = recorder.finish()
    assert second != path and len(recorder.files) == 2


def test_journal_lags_at_most_the_write_interval_and_splits_when_idle(tmp_path):
    recorder = SessionRecorder(tmp_path, bpm=120, write_interval_s=0.05, split_idle_s=10)
    recorder.record(CALL_TRACK, 0.0, mido.Message("note_on", note=60, velocity=1))
    time.sleep(0.3)
    [journal] = tmp_path.glob("*" + JOURNAL_SUFFIX)
    header, events = read_journal(journal)
    assert header["bpm"] == 120 and events == [(0.0, CALL_TRACK, [0x90, 60, 1])]
    recorder.maybe_split(5.0)
    assert recorder.files == []
    recorder.maybe_split(10.5)
    assert len(recorder.files) == 1


CRASHING_SESSION = textwrap.dedent("""
    import os, signal, sys, time
    import mido
    from antiphon.daemon.recorder import SessionRecorder
    recorder = SessionRecorder(sys.argv[1], bpm=120)
    start = time.monotonic()
    for i in range(40):  # 2 s of notes, one every 50 ms
        t = time.monotonic()
        recorder.record(i % 2, t, mido.Message("note_on", note=40 + i, velocity=80))
        print(i, round(t - start, 3), flush=True)
        time.sleep(0.05)
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_kill_9_loses_at_most_the_last_second_and_is_recovered(tmp_path):
    proc = subprocess.run([sys.executable, "-c", CRASHING_SESSION, str(tmp_path)], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == -signal.SIGKILL
    sent = [line.split() for line in proc.stdout.splitlines()]
    assert len(sent) == 40 and not list(tmp_path.glob("*.mid"))
    # A torn last line, as a crash in mid-write leaves it, is skipped.
    [journal] = tmp_path.glob("*" + JOURNAL_SUFFIX)
    with open(journal, "a") as handle:
        handle.write('[1.23, 0, [144, 6')
    [recovered] = recover(tmp_path)
    assert not list(tmp_path.glob("*" + JOURNAL_SUFFIX))
    midi = mido.MidiFile(recovered)
    notes = sorted(_track_notes(midi, 1) + _track_notes(midi, 2))
    assert [n for _, n in notes] == [40 + i for i in range(len(notes))]
    last_kept = float(sent[len(notes) - 1][1])
    assert float(sent[-1][1]) - last_kept <= 1.0
    for (t, _), (_, t_sent) in zip(notes, sent, strict=False):
        assert t == pytest.approx(float(t_sent), abs=0.005)
    assert recover(tmp_path) == []  # nothing left to recover
