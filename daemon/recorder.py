"""Crash-safe recording: every event is journalled to disk as it happens; a finished session becomes a MIDI file.

The journal (``antiphon-<date>-<time>.mid.journal``) is JSON lines: a header, then ``[seconds, track, [bytes]]``
per event, each line flushed at once and ``fsync``-ed about every second by a helper thread (so ``kill -9``
loses at most ~1 s). Finishing writes the standard MIDI file (type 1: a tempo track, then the call and the
response on their own tracks) to a temporary name, ``fsync``-s it, renames it into place and deletes the
journal. Journals left by a crash are turned into MIDI files by ``recover`` on the next start.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import datetime
from pathlib import Path

import mido

log = logging.getLogger(__name__)

JOURNAL_SUFFIX = ".journal"
JOURNAL_FORMAT = "antiphon-journal"
JOURNAL_VERSION = 1
TRACK_NAMES = ("call", "response")
TICKS_PER_BEAT = 480
SYNC_INTERVAL_S = 1.0
SPLIT_IDLE_S = 60.0  # a new file starts after this long without any event
MICROSECONDS_PER_MINUTE = 60_000_000

Event = tuple[float, int, list[int]]  # (seconds from the first event, track, MIDI bytes)


def write_session_midi(path: str | os.PathLike[str], events: list[Event], bpm: float) -> Path:
    """Write events as a type-1 MIDI file (tempo track + one track per name in ``TRACK_NAMES``), atomically."""
    path = Path(path)
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    meta = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=round(MICROSECONDS_PER_MINUTE / bpm), time=0),
                           mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0)])
    midi.tracks.append(meta)
    ticks_per_s = TICKS_PER_BEAT * bpm / 60.0
    for track_index, name in enumerate(TRACK_NAMES):
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)])
        now = 0
        for seconds, _track, data in sorted((e for e in events if e[1] == track_index), key=lambda e: e[0]):
            try:
                msg = mido.Message.from_bytes(data)
            except (ValueError, TypeError):
                continue
            tick = max(now, round(seconds * ticks_per_s))
            track.append(msg.copy(time=tick - now))
            now = tick
        midi.tracks.append(track)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        midi.save(file=handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)
    return path


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_journal(path: str | os.PathLike[str]) -> tuple[dict, list[Event]]:
    """Header and events of a journal; a torn or garbled line (a crash mid-write) is skipped."""
    header: dict = {}
    events: list[Event] = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle):
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                continue
            if number == 0 and isinstance(item, dict):
                header = item
            elif (isinstance(item, list) and len(item) == 3 and isinstance(item[0], (int, float))
                  and item[1] in (0, 1) and isinstance(item[2], list)):
                events.append((float(item[0]), int(item[1]), item[2]))
    return header, events


def recover(folder: str | os.PathLike[str]) -> list[Path]:
    """Turn every journal left in ``folder`` into its MIDI file; returns the files written."""
    written = []
    for journal in sorted(Path(folder).glob(f"*{JOURNAL_SUFFIX}")):
        try:
            header, events = read_journal(journal)
            bpm = float(header.get("bpm", 120.0))
            if events:
                target = journal.with_name(journal.name[: -len(JOURNAL_SUFFIX)])
                written.append(write_session_midi(target, events, bpm))
                log.info("recovered recording %s (%d events)", target, len(events))
            journal.unlink()
        except (OSError, ValueError) as err:
            log.error("cannot recover %s: %s", journal, err)
    return written


class SessionRecorder:
    """Records call and response events into ``folder``; one file per session (split after a long idle)."""

    def __init__(self, folder: str | os.PathLike[str], bpm: float, sync_interval_s: float = SYNC_INTERVAL_S,
                 split_idle_s: float = SPLIT_IDLE_S):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.bpm = bpm
        self.sync_interval_s = sync_interval_s
        self.split_idle_s = split_idle_s
        self.path: Path | None = None
        self.files: list[Path] = []
        self._handle = None
        self._events: list[Event] = []
        self._t_first = 0.0
        self._t_last = 0.0
        self._failed = False
        self._stop_sync = threading.Event()
        self._sync_thread: threading.Thread | None = None

    def _open(self, t: float) -> None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        path = self.folder / f"antiphon-{stamp}.mid"
        suffix = 1
        while path.exists() or path.with_name(path.name + JOURNAL_SUFFIX).exists():
            path = self.folder / f"antiphon-{stamp}-{suffix}.mid"
            suffix += 1
        self.path = path
        self._handle = open(path.with_name(path.name + JOURNAL_SUFFIX), "w", encoding="utf-8")
        header = {"format": JOURNAL_FORMAT, "version": JOURNAL_VERSION, "bpm": self.bpm,
                  "started": datetime.now().isoformat(timespec="seconds"), "tracks": list(TRACK_NAMES)}
        self._handle.write(json.dumps(header) + "\n")
        self._handle.flush()
        self._events = []
        self._t_first = t
        self._stop_sync.clear()
        self._sync_thread = threading.Thread(target=self._sync_forever, name="antiphon-journal-sync", daemon=True)
        self._sync_thread.start()

    def _sync_forever(self) -> None:
        handle = self._handle
        while not self._stop_sync.wait(self.sync_interval_s):
            try:
                os.fsync(handle.fileno())
            except (OSError, ValueError):
                return

    def record(self, track: int, t: float, msg: mido.Message) -> None:
        """Journal one message (``t`` in seconds on the live clock). A disk error stops recording, not playing."""
        if self._failed:
            return
        try:
            if self._handle is None:
                self._open(t)
            event = (round(max(0.0, t - self._t_first), 6), track, msg.bytes())
            self._events.append(event)
            self._handle.write(json.dumps(event) + "\n")
            self._handle.flush()
            self._t_last = t
        except OSError as err:
            self._failed = True
            log.error("recording stopped: %s", err)

    def maybe_split(self, now: float) -> None:
        """Finish the current file if nothing happened for ``split_idle_s``."""
        if self._handle is not None and now - self._t_last > self.split_idle_s:
            self.finish()

    def finish(self) -> Path | None:
        """Write the session's MIDI file (temp name, fsync, rename), delete the journal; returns the file."""
        if self._handle is None:
            return None
        self._stop_sync.set()
        if self._sync_thread is not None:
            self._sync_thread.join()
        journal = Path(self._handle.name)
        path = self.path
        try:
            self._handle.close()
            self._handle = None
            write_session_midi(path, self._events, self.bpm)
            journal.unlink()
        except OSError as err:
            log.error("cannot finish recording %s (journal kept for recovery): %s", path, err)
            return None
        self.files.append(path)
        log.info("recording written: %s (%d events)", path, len(self._events))
        return path
