"""Crash-safe recording: every event is journalled to disk as it happens; a finished session becomes a MIDI file.

The journal (``antiphon-<date>-<time>.mid.journal``) is JSON lines: a header, then ``[seconds, track, [bytes]]``
per event, written and flushed by a helper thread every 0.1 s and ``fsync``-ed about every second (so
``kill -9`` loses at most ~0.1 s, a power cut ~1 s). Finishing writes the standard MIDI file (type 1: a tempo
track, then the call and the response on their own tracks) to a temporary name, ``fsync``-s it, renames it into
place and deletes the journal. Journals left by a crash are turned into MIDI files by ``recover`` on the next start.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import mido

from antiphon.daemon.tempo_map import TempoEntry, TempoMap

log = logging.getLogger(__name__)

JOURNAL_SUFFIX = ".journal"
JOURNAL_FORMAT = "antiphon-journal"
JOURNAL_VERSION = 1
TRACK_NAMES = ("call", "response")
NOTE_TYPES = ("note_on", "note_off")
TICKS_PER_BEAT = 480
SYNC_INTERVAL_S = 1.0
WRITE_INTERVAL_S = 0.1
SPLIT_IDLE_S = 60.0  # a new file starts after this long without any event

Event = tuple[float, int, list[int]]  # (seconds from the first event, track, MIDI bytes)


def write_session_midi(path: str | os.PathLike[str], events: list[Event], bpm: float,
                       tempo_map: Sequence[TempoEntry] = ()) -> Path:
    """Write events as a type-1 MIDI file (tempo track + one track per name in ``TRACK_NAMES``), atomically.

    ``tempo_map``: the grids the session heard, ``(downbeat s, bpm, signature)`` on the events' clock; without
    one the file is ``bpm`` in 4/4 from its first event.
    """
    path = Path(path)
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    start = min((e[0] for e in events), default=0.0)
    ticks = TempoMap(tempo_map or [(start, bpm, "4/4")], start, TICKS_PER_BEAT)
    midi.tracks.append(ticks.meta_track())
    for track_index, name in enumerate(TRACK_NAMES):
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)])
        now = 0
        for seconds, _track, data in sorted((e for e in events if e[1] == track_index), key=lambda e: e[0]):
            try:
                msg = mido.Message.from_bytes(data)
            except (ValueError, TypeError):
                continue
            tick = max(now, ticks.tick(seconds))
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
                header = {**item, "tempo_map": list(item.get("tempo_map", []))}
            elif isinstance(item, list) and len(item) == 4 and item[0] == "tempo" and header:
                header["tempo_map"].append(item[1:])
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
                tempo_map = [(float(t), float(b), str(s)) for t, b, s in header.get("tempo_map", [])]
                written.append(write_session_midi(target, events, bpm, tempo_map))
                log.info("recovered recording %s (%d events)", target, len(events))
            journal.unlink()
        except (OSError, ValueError) as err:
            log.error("cannot recover %s: %s", journal, err)
    return written


class SessionRecorder:
    """Records call and response events into ``folder``; one file per session (split after a long idle).

    ``record`` only appends to memory (it runs on the live loop's timing path); a writer thread journals the
    new events every ``write_interval_s`` and ``fsync``-s the journal every ``sync_interval_s``. Writing in
    the loop itself would stall it: a ``write`` waits while an ``fsync`` of the same file runs.
    """

    def __init__(self, folder: str | os.PathLike[str], bpm: float, sync_interval_s: float = SYNC_INTERVAL_S,
                 write_interval_s: float = WRITE_INTERVAL_S, split_idle_s: float = SPLIT_IDLE_S):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.bpm = bpm
        self.sync_interval_s = sync_interval_s
        self.write_interval_s = write_interval_s
        self.split_idle_s = split_idle_s
        self.path: Path | None = None
        self.files: list[Path] = []
        self._events: list[Event] = []
        self._pending: deque[Event] = deque()
        self._t_first = 0.0
        self._t_last = 0.0
        self._tempo: list[TempoEntry] = []  # every grid the session heard, on the live clock
        self._failed = False
        self._stop = threading.Event()
        self._writer: threading.Thread | None = None

    def _new_path(self) -> Path:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        path = self.folder / f"antiphon-{stamp}.mid"
        suffix = 1
        while path.exists() or path.with_name(path.name + JOURNAL_SUFFIX).exists():
            path = self.folder / f"antiphon-{stamp}-{suffix}.mid"
            suffix += 1
        return path

    def _write_forever(self, journal: Path) -> None:
        try:  # a thread inherits the live loop's real-time policy; the disk writer must not have it
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        except (OSError, AttributeError):
            pass
        header = {"format": JOURNAL_FORMAT, "version": JOURNAL_VERSION, "bpm": self.bpm,
                  "started": datetime.now().isoformat(timespec="seconds"), "tracks": list(TRACK_NAMES),
                  "tempo_map": self._relative_tempo()}
        try:
            with open(journal, "w", encoding="utf-8") as handle:
                handle.write(json.dumps(header) + "\n")
                last_sync = time.monotonic()
                while True:
                    stopping = self._stop.wait(self.write_interval_s)
                    lines = []
                    while self._pending:
                        lines.append(json.dumps(self._pending.popleft()) + "\n")
                    if lines:
                        handle.write("".join(lines))
                        handle.flush()  # in the kernel now: a killed process loses nothing written
                    if stopping or time.monotonic() - last_sync >= self.sync_interval_s:
                        os.fsync(handle.fileno())
                        last_sync = time.monotonic()
                    if stopping:
                        return
        except OSError as err:
            self._failed = True
            log.error("recording stopped: %s", err)

    def tempo(self, t: float, bpm: float, signature: str) -> None:
        """The session took a new grid: a downbeat at ``t`` (s, live clock), ``bpm``, ``signature`` ("3/4")."""
        self._tempo.append((t, bpm, signature))
        if self._writer is not None:
            self._pending.append(("tempo", round(t - self._t_first, 6), bpm, signature))

    def _relative_tempo(self) -> list[TempoEntry]:
        return [(round(t - self._t_first, 6), bpm, signature) for t, bpm, signature in self._tempo]

    def record(self, track: int, t: float, msg: mido.Message) -> None:
        """Note one message (``t`` in seconds on the live clock); the writer thread journals it."""
        if self._failed:
            return
        if self._writer is None and msg.type not in NOTE_TYPES:
            return  # a file starts at a note: the silence an idle daemon sends when stopped is not a session
        if self._writer is None:
            self.path = self._new_path()
            self._events = []
            self._t_first = t
            self._stop.clear()
            journal = self.path.with_name(self.path.name + JOURNAL_SUFFIX)
            self._writer = threading.Thread(target=self._write_forever, args=(journal,), daemon=True,
                                            name="antiphon-journal")
            self._writer.start()
        event = (round(max(0.0, t - self._t_first), 6), track, msg.bytes())
        self._events.append(event)
        self._pending.append(event)
        self._t_last = t

    def maybe_split(self, now: float) -> None:
        """Finish the current file if nothing happened for ``split_idle_s``."""
        if self._writer is not None and now - self._t_last > self.split_idle_s:
            self.finish()

    def finish(self) -> Path | None:
        """Write the session's MIDI file (temp name, fsync, rename), delete the journal; returns the file."""
        if self._writer is None:
            return None
        self._stop.set()
        self._writer.join()
        self._writer = None
        path = self.path
        journal = path.with_name(path.name + JOURNAL_SUFFIX)
        if self._failed:
            return None
        try:
            write_session_midi(path, self._events, self.bpm, self._relative_tempo())
            journal.unlink()
        except OSError as err:
            log.error("cannot finish recording %s (journal kept for recovery): %s", path, err)
            return None
        self.files.append(path)
        log.info("recording written: %s (%d events)", path, len(self._events))
        return path
