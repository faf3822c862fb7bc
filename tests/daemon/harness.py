"""Real-MIDI test harness: a private JACK server, ``antiphon serve`` as a subprocess, and a JACK test client.

Used by the daemon's JACK tests and by ``benchmarks/bench_daemon.py``.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import mido
import pytest

from antiphon.daemon.ports import close_input

ROOT = Path(__file__).resolve().parents[2]
JACK_BACKEND = "mido.backends.rtmidi/UNIX_JACK"
NOT_FINISHED = re.compile(r"client = (\S+) was not finished, state = (\w+)")  # jackd's xrun log line
DISTURBED_RUNS = 5  # tries of a test that a busy machine can disturb, before it fails


class Disturbed(Exception):
    """The machine disturbed the JACK graph under a test (xruns, cycles it missed): the test is run again."""


# Exact-frame tests hold only on an undisturbed graph; each such test raises Disturbed when the graph was, and runs
# again, up to DISTURBED_RUNS times in all: a test disturbed every time fails (it is never skipped).
rerun_when_disturbed = pytest.mark.flaky(reruns=DISTURBED_RUNS - 1, only_rerun=["^Disturbed: "])


def graph_disturbed(daemon_output: str) -> bool:
    """Whether serve's closing JACK MIDI line counts xruns or skipped cycles (events may have gone late)."""
    found = re.search(r"JACK MIDI: .* xruns (\d+), skipped cycles (\d+)", daemon_output)
    return found is not None and int(found.group(1)) + int(found.group(2)) > 0


def spin_a_core() -> subprocess.Popen:
    """A process that keeps one core busy (a benchmark's "busy" condition) until killed or its parent is gone."""
    spin = "import os\nparent = os.getppid()\nwhile os.getppid() == parent:\n    pass"
    return subprocess.Popen([sys.executable, "-c", spin])


class JackServer:
    """``jackd --no-realtime -d dummy`` under a unique server name (set in ``env`` and in this process).

    ``realtime``: ``--realtime`` instead (SCHED_FIFO for the server and its clients' process threads), for a
    benchmark's comparison where the system allows it; tests never use it.
    """

    def __init__(self, name: str, rate: int = 48000, period: int = 256, realtime: bool = False):
        self.name = name
        self.env = {**os.environ, "JACK_DEFAULT_SERVER": name}
        os.environ["JACK_DEFAULT_SERVER"] = name  # this process's own JACK clients use it too
        # Its output goes to a file: jackd blocks once a pipe nobody reads fills up (it logs every xrun).
        self.log = tempfile.TemporaryFile()
        priority = ["--realtime"] if realtime else ["--no-realtime"]  # real-time: benchmarks only, where allowed
        self.proc = subprocess.Popen(["jackd", *priority, "-d", "dummy", "-r", str(rate), "-p", str(period)],
                                     env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        waited = subprocess.run(["jack_wait", "-w", "-t", "10"], env=self.env, capture_output=True, text=True)
        if waited.returncode != 0 or self.proc.poll() is not None:
            log = self.output()
            self.stop()
            raise RuntimeError(f"jackd did not start: {waited.stdout} {waited.stderr} {log}")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-4000:]

    def not_finished(self) -> Counter:
        """(client, state) of every client the server found unfinished at an xrun so far, counted. State
        ``Triggered``: the client was signalled but not yet running (the OS woke it late); ``Running``: it was
        running past the cycle's end (its own work, or a wait inside it)."""
        self.log.seek(0)
        return Counter(NOT_FINISHED.findall(self.log.read().decode(errors="replace")))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Daemon:
    """``antiphon serve --backend jack --virtual`` in a subprocess; ``ready_s`` is spawn -> READY=1 (sd_notify)."""

    def __init__(self, args: list[str], env: dict[str, str], tmp: Path, timeout_s: float = 20.0,
                 extra_env: dict[str, str] | None = None, command: list[str] | None = None, cwd: Path = ROOT):
        self.notify_path = tmp / f"notify-{time.monotonic_ns()}.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.notify_path))
        self.log_path = tmp / f"serve-{time.monotonic_ns()}.log"
        self.log = open(self.log_path, "w")
        command = command or [sys.executable, "-m", "antiphon"]  # another install's `antiphon` script, say
        cmd = [*command, "serve", "--backend", "jack", "--virtual", *args]
        started = time.monotonic()
        env = {**env, **(extra_env or {}), "NOTIFY_SOCKET": str(self.notify_path)}
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.messages = self.wait_for("READY=1", timeout_s)
        self.ready_s = time.monotonic() - started

    def wait_for(self, state: str, timeout_s: float) -> list[str]:
        """Datagrams received until one holds ``state``."""
        deadline = time.monotonic() + timeout_s
        got = []
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"antiphon serve exited with {self.proc.returncode}: {self.output()}")
            self.sock.settimeout(0.1)
            try:
                data = self.sock.recv(4096).decode()
            except TimeoutError:
                continue
            got.append(data)
            if state in data.split("\n"):
                return got
        raise RuntimeError(f"no {state} from antiphon serve within {timeout_s} s: {self.output()}")

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text()

    def terminate(self, timeout_s: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout_s)
        finally:
            self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.sock.close()
        self.log.close()
        self.notify_path.unlink(missing_ok=True)


class Client:
    """A JACK MIDI client wired to the daemon's virtual ports; timestamps every message it receives."""

    def __init__(self, daemon_port: str = "antiphon"):
        backend = mido.Backend(JACK_BACKEND, load=True)
        self.received: list[tuple[float, mido.Message]] = []
        # No waiting: the daemon says READY only after its ports are open.
        ins = [n for n in backend.get_input_names() if daemon_port in n and "out" in n]
        outs = [n for n in backend.get_output_names() if daemon_port in n and "in" in n.split(":")[-1]]
        if not ins or not outs:
            raise RuntimeError(f"daemon ports not found: inputs {backend.get_input_names()}, "
                               f"outputs {backend.get_output_names()}")
        self.inport = backend.open_input(ins[0], callback=self._on_message)
        self.outport = backend.open_output(outs[0])

    def _on_message(self, msg: mido.Message) -> None:
        self.received.append((time.monotonic(), msg))

    def play(self, events: list[tuple[float, mido.Message]], t0: float) -> None:
        """Send each (seconds, message) at ``t0 + seconds`` on the monotonic clock."""
        for t, msg in events:
            target = t0 + t
            while (remaining := target - time.monotonic()) > 0:
                time.sleep(min(remaining, 0.001) if remaining < 0.002 else remaining - 0.001)
            self.outport.send(msg)

    def notes(self, kind: str = "note_on", since: float = float("-inf")) -> list[tuple[float, mido.Message]]:
        out = []
        for t, m in list(self.received):
            if t < since:
                continue
            is_on = m.type == "note_on" and m.velocity > 0
            is_off = m.type == "note_off" or (m.type == "note_on" and m.velocity == 0)
            if (kind == "note_on" and is_on) or (kind == "note_off" and is_off):
                out.append((t, m))
        return out

    def wait_until(self, predicate, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.002)
        return predicate()

    def close(self) -> None:
        close_input(self.inport)
        self.outport.close()


def unmatched_note_ons(received: list[tuple[float, mido.Message]]) -> list[tuple[int, int]]:
    """(channel, note) pairs whose last note-on has no later note-off."""
    sounding: dict[tuple[int, int], int] = {}
    for _, m in received:
        if m.type == "note_on" and m.velocity > 0:
            sounding[(m.channel, m.note)] = sounding.get((m.channel, m.note), 0) + 1
        elif m.type in ("note_on", "note_off"):
            key = (m.channel, m.note)
            if sounding.get(key):
                sounding[key] -= 1
    return [key for key, count in sounding.items() if count]
