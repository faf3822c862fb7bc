"""Shared parts of the reliability tests and ``benchmarks/bench_reliability.py``.

A JACK keyboard (a virtual output port) and a JACK synth (a virtual input port that timestamps what it hears),
``antiphon serve`` connected to them by name (``--input`` / ``--output``), and /proc readings of the daemon.
The JACK server, the daemon subprocess and the small model come from the daemon tests' harness.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import mido

HERE = Path(__file__).resolve().parent
DAEMON_TESTS = HERE.parent / "daemon"
if str(DAEMON_TESTS) not in sys.path:
    sys.path.insert(0, str(DAEMON_TESTS))

from daemon_helpers import make_daemon_artifact  # noqa: E402
from harness import JACK_BACKEND, ROOT, Daemon, JackServer, unmatched_note_ons  # noqa: E402

from antiphon.daemon.ports import close_input  # noqa: E402

__all__ = ["ROOT", "Daemon", "JackServer", "make_daemon_artifact", "unmatched_note_ons"]

KEYBOARD = "relkbd"
SYNTH = "relsynth"
STEP_S = 0.125  # a 16th at 120 bpm
ALL_NOTES_OFF = 123
ALL_SOUND_OFF = 120
SUSTAIN = 64


def backend() -> mido.Backend:
    return mido.Backend(JACK_BACKEND, load=True)


class Keyboard:
    """A JACK client with one MIDI output port, ``relkbd:keys``; the daemon's ``--input relkbd``."""

    def __init__(self):
        self.port = backend().open_output("keys", virtual=True, client_name=KEYBOARD)

    def send(self, msg: mido.Message) -> None:
        self.port.send(msg)

    def send_raw(self, data: list[int]) -> None:
        """Bytes as they are, without mido's range checks (out-of-range data bytes, stray status bytes)."""
        self.port._rt.send_message(data)

    def play(self, events: list[tuple[float, mido.Message]], t0: float, until: float = float("inf")) -> float:
        """Send each (seconds, message) at ``t0 + seconds``; stop before ``until``; returns the last send time."""
        last = t0
        for t, msg in events:
            target = t0 + t
            if target >= until:
                break
            while (remaining := target - time.monotonic()) > 0:
                time.sleep(min(remaining, 0.001) if remaining < 0.002 else remaining - 0.001)
            self.port.send(msg)
            last = time.monotonic()
        return last

    def close(self) -> None:
        self.port.close()


class Synth:
    """A JACK client with one MIDI input port, ``relsynth:sound``; timestamps everything it receives."""

    def __init__(self):
        self.received: list[tuple[float, mido.Message]] = []
        self.port = backend().open_input("sound", virtual=True, client_name=SYNTH, callback=self._heard)

    def _heard(self, msg: mido.Message) -> None:
        self.received.append((time.monotonic(), msg))

    def note_ons(self, since: float = float("-inf")) -> list[tuple[float, mido.Message]]:
        return [(t, m) for t, m in list(self.received) if t >= since and m.type == "note_on" and m.velocity > 0]

    def wait_for(self, predicate, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.005)
        return predicate()

    def close(self) -> None:
        close_input(self.port)


def start_daemon(jack: JackServer, model: Path, tmp: Path, *args: str, extra_env: dict | None = None) -> Daemon:
    """``antiphon serve`` connected by name to the keyboard and synth (the harness's ``--virtual`` turned off)."""
    # The fixed grid: these tests time their phrases by --phrase-end-steps (tempo following is tested elsewhere).
    return Daemon(["--no-virtual", "--input", KEYBOARD, "--output", SYNTH, "--model", str(model), "--tempo", "fixed",
                   "--random-seed", "3", "--log-level", "INFO", *args], jack.env, tmp, extra_env=extra_env)


def phrase(pitches, note_s: float = 0.25, gate: float = 0.9, velocity: int = 90) -> list[tuple[float, mido.Message]]:
    events = []
    for i, pitch in enumerate(pitches):
        events.append((i * note_s, mido.Message("note_on", note=pitch, velocity=velocity)))
        events.append((i * note_s + gate * note_s, mido.Message("note_off", note=pitch, velocity=0)))
    return sorted(events, key=lambda e: e[0])


def silence_report(received: list[tuple[float, mido.Message]], stopped_at: float) -> dict:
    """Stuck notes and how long after ``stopped_at`` the last note-off and the CC 123 / CC 120 / CC 64=0 came."""
    def last(pred) -> float | None:
        times = [t for t, m in received if pred(m)]
        return max(times) - stopped_at if times else None

    def cc(number: int, value: int | None = None):
        return lambda m: m.type == "control_change" and m.control == number and (value is None or m.value == value)

    offs = [t for t, m in received if m.type == "note_off" or (m.type == "note_on" and m.velocity == 0)]
    return {"stuck": unmatched_note_ons(received),
            "note_ons": sum(1 for _, m in received if m.type == "note_on" and m.velocity > 0),
            "last_off_s": max(offs) - stopped_at if offs else None,
            "cc123_s": last(cc(ALL_NOTES_OFF)), "cc120_s": last(cc(ALL_SOUND_OFF)),
            "sustain_off_s": last(cc(SUSTAIN, 0))}


FAULT_RE = re.compile(r"raising in the live loop at monotonic ([0-9.]+)")


def fault_time(output: str) -> float | None:
    found = FAULT_RE.search(output)
    return float(found.group(1)) if found else None


# -- /proc readings ---------------------------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def thread_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[len("socket:["):-1]))
    return inodes


NET_TABLES = ("tcp", "tcp6", "udp", "udp6", "raw", "raw6", "udplite", "udplite6", "unix", "netlink", "packet")


def socket_kinds(pid: int) -> dict[int, str]:
    """Each socket inode the process holds -> the /proc/<pid>/net table it is listed in ("?" if none)."""
    owned = socket_inodes(pid)
    kinds = {inode: "?" for inode in owned}
    for table in NET_TABLES:
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        lines = path.read_text().splitlines()[1:]
        column = {"unix": 6, "packet": 8}.get(table, 9)  # the inode column of each table's layout
        for line in lines:
            parts = line.split()
            if len(parts) > column and parts[column].isdigit() and int(parts[column]) in owned:
                kinds[int(parts[column])] = table
    return kinds


def jack_connections(jack: JackServer, port: str) -> list[str]:
    """Ports connected to ``port`` (``jack_lsp -c``)."""
    out = subprocess.run(["jack_lsp", "-c", port], env=jack.env, capture_output=True, text=True, timeout=10).stdout
    lines = out.splitlines()
    return [line.strip() for line in lines[1:] if line.startswith((" ", "\t"))]


# -- ports that come and go ---------------------------------------------------------------------------------------

KEYBOARD_PORT = f"{KEYBOARD}:keys"
SYNTH_PORT = f"{SYNTH}:sound"


def wait_log(daemon: Daemon, text: str, count: int, timeout_s: float) -> float | None:
    """Seconds until ``text`` occurs ``count`` times in the daemon's log (``None`` if it did not in time)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if daemon.output().count(text) >= count:
            return time.monotonic() - started
        time.sleep(0.01)
    return None


def wait_connected(jack: JackServer, port: str, timeout_s: float) -> float | None:
    """Seconds until something is connected to ``port`` (``None`` if nothing was within ``timeout_s``)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if jack_connections(jack, port):
            return time.monotonic() - started
        time.sleep(0.02)
    return None


def bounce(jack: JackServer, daemon: Daemon, kind: str, part, cycle: int, away_s: float, timeout_s: float = 5.0):
    """Close the keyboard (``kind`` "input") or synth ("output") ``part``, wait until the daemon noticed and
    ``away_s`` passed, bring it back; returns (the new part, seconds to notice, seconds to reconnect)."""
    part.close()
    t_gone = time.monotonic()
    noticed = wait_log(daemon, f"{kind} port '{KEYBOARD if kind == 'input' else SYNTH}' vanished", cycle, timeout_s)
    time.sleep(max(0.0, t_gone + away_s - time.monotonic()))
    new = Keyboard() if kind == "input" else Synth()
    back = wait_connected(jack, KEYBOARD_PORT if kind == "input" else SYNTH_PORT, timeout_s)
    return new, (None if noticed is None else noticed), back


# -- floods and garbage -------------------------------------------------------------------------------------------

def garbage_batch(rng, size: int) -> list[list[int]]:
    """``size`` raw messages: notes (some out of range), lone note-offs, 20-note chords, SysEx, clock, stray bytes."""
    out: list[list[int]] = []
    while len(out) < size:
        kind = rng.integers(10)
        channel = int(rng.integers(16))
        if kind < 3:
            out.append([0x90 | channel, int(rng.integers(128)), int(rng.integers(1, 128))])
        elif kind == 3:
            out.append([0x80 | channel, int(rng.integers(128)), 0])  # note-off, usually without its note-on
        elif kind == 4:
            base = int(rng.integers(30, 90))
            out += [[0x90, base + i, 100] for i in range(20)] + [[0x80, base + i, 0] for i in range(20)]
        elif kind == 5:
            out.append([0xF0, *rng.integers(0, 128, int(rng.integers(1, 200))).tolist(), 0xF7])
        elif kind == 6:
            out += [[0xF8]] * 8 + [[0xFE], [0xFA], [0xFC]]
        elif kind == 7:  # data bytes out of range, truncated messages, stray status bytes
            out.append([0x90 | channel, int(rng.integers(128, 256)), int(rng.integers(128, 256))])
            out.append([int(rng.integers(0x80, 0xF0))])
            out.append([0xB0 | channel, int(rng.integers(256))])
        elif kind == 8:
            out.append([0xB0 | channel, int(rng.integers(128)), int(rng.integers(128))])
            out.append([0xE0 | channel, int(rng.integers(128)), int(rng.integers(128))])
        else:
            out.append([0xC0 | channel, int(rng.integers(128))])
            out.append([0xD0 | channel, int(rng.integers(128))])
    return out[:size]


def flood(keyboard: Keyboard, rate_per_s: int, seconds: float, rng) -> int:
    """Send garbage at ``rate_per_s`` raw messages per second for ``seconds``; returns how many were sent."""
    batch_s = 0.005
    per_batch = max(1, round(rate_per_s * batch_s))
    sent, started = 0, time.monotonic()
    while time.monotonic() - started < seconds:
        for data in garbage_batch(rng, per_batch):
            try:
                keyboard.send_raw(data)
            except Exception:  # rtmidi refuses some malformed byte strings itself; the rest go out
                continue
            sent += 1
        ahead = (sent / rate_per_s) - (time.monotonic() - started)
        if ahead > 0:
            time.sleep(ahead)
    for note in range(128):  # the flood ends with every key released (as a keyboard's own panic would)
        keyboard.send_raw([0x80, note, 0])
    return sent


LATENESS_RE = re.compile(r"lateness p50 ([0-9.]+) ms, p99 ([0-9.]+) ms, max ([0-9.]+) ms")


def lateness_ms(output: str) -> tuple[float, float, float] | None:
    """(p50, p99, max) step lateness in ms from the daemon's stop line."""
    found = LATENESS_RE.search(output)
    return tuple(float(x) for x in found.groups()) if found else None


# -- recordings ---------------------------------------------------------------------------------------------------

def recorded_notes(path: Path) -> dict[str, list[tuple[float, int]]]:
    """(seconds from the file's start, pitch) of every note-on on the call and response tracks."""
    midi = mido.MidiFile(path)
    tempo = next((m.tempo for m in midi.tracks[0] if m.type == "set_tempo"), 500000)
    out = {}
    for track in midi.tracks[1:]:
        ticks, notes = 0, []
        for m in track:
            ticks += m.time
            if m.type == "note_on" and m.velocity > 0:
                notes.append((mido.tick2second(ticks, midi.ticks_per_beat, tempo), m.note))
        out[track.name] = notes
    return out


def killed_session(jack: JackServer, model: Path, tmp: Path, record: Path, first_pitch: int, kill_after_s: float):
    """One session killed with SIGKILL ``kill_after_s`` after its call starts (the next start recovers it).

    Returns (note-ons sent [(t, pitch)], note-ons heard [(t, pitch)], kill time); times on the monotonic clock.
    """
    keyboard, synth = Keyboard(), Synth()
    daemon = start_daemon(jack, model, tmp, "--phrase-end-steps", "4", "--response-bars", "2",
                          "--record", str(record))
    try:
        t0 = time.monotonic() + 0.1
        events = phrase([first_pitch, 60, 62, 64])  # 1 s; the response starts half a second after it
        kill_at = t0 + kill_after_s
        keyboard.play(events, t0, until=kill_at)
        while time.monotonic() < kill_at:
            time.sleep(0.001)
        daemon.proc.kill()
        killed = time.monotonic()
        daemon.proc.wait(5)
        sent = [(t0 + t, m.note) for t, m in events if t0 + t < killed and m.type == "note_on"]
        heard = [(t, m.note) for t, m in synth.note_ons()]
        return sent, heard, killed
    finally:
        daemon.close()
        keyboard.close()
        synth.close()


def lost_seconds(sent: list[tuple[float, int]], recorded: list[tuple[float, int]], killed: float) -> float:
    """How far before the kill the oldest note-on missing from the recording was (0 when none is missing)."""
    missing = sent[len(recorded):] if [p for _, p in sent[:len(recorded)]] == [p for _, p in recorded] else sent
    return max((killed - t for t, _ in missing), default=0.0)
