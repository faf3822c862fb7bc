"""A JACK-Client test peer that plays and hears MIDI at exact frames (an rtmidi client cannot see inside a period).

It connects its output to ``antiphon:antiphon in`` (``speak``) and ``antiphon:antiphon out`` to its input
(``listen``); both the rtmidi and the frame-accurate daemon name their ports so. One probe doing both makes a
feedback loop in JACK's graph, which delays one direction by a period: use a "keys" and a "synth" probe instead.
Events to play are scheduled by frame; every event heard is kept with its frame, ``last_frame_time + offset``.
Used by ``test_jack_frames.py`` and ``benchmarks/bench_daemon.py``.
"""

from __future__ import annotations

import time

import mido
import numpy as np

from antiphon.daemon.frameclock import frame_delta
from antiphon.daemon.jackmidi import load_jack

CAPACITY = 1 << 16
CYCLES = 1 << 21  # cycles whose start frame and wake-up time are kept (46 minutes at 64 frames)
LOST_STEP_S = 1e-4  # a jump of the wake-up envelope from one cycle to the next larger than this is a stall


class FrameProbe:
    """Plays ``(frame, message)`` events at their frames and records ``(frame, message)`` for what it hears."""

    def __init__(self, name: str = "probe", peer: str = "antiphon", speak: bool = True, listen: bool = True):
        jack = load_jack()
        self.client = jack.Client(name, no_start_server=True)
        self.rate = self.client.samplerate
        self.period = self.client.blocksize
        self.out = self.client.midi_outports.register("out")
        self.inp = self.client.midi_inports.register("in")
        self.heard_frames = [0] * CAPACITY
        self.heard_data: list[bytes] = [b""] * CAPACITY
        self.heard = 0
        self.schedule: list[tuple[int, bytes]] = []  # appended only; the callback walks it with ``played``
        self.played = 0
        self.xruns = self.cycle_gaps = 0  # xruns reported; cycles whose start frame jumped (a busy graph)
        self._next_cycle: int | None = None
        self.cycle_frames = np.zeros(CYCLES, dtype=np.int64)  # each cycle's first frame, and when it woke
        self.cycle_woken = np.zeros(CYCLES)
        self.cycles = 0
        self.client.set_process_callback(self._process)
        self.client.set_xrun_callback(self._xrun)
        self.client.activate()
        if speak:
            self.client.connect(self.out, self._port(f"{peer} in", is_input=True))
        if listen:
            self.client.connect(self._port(f"{peer} out", is_output=True), self.inp)

    def _port(self, short: str, **kind: bool) -> str:
        """The full name of port ``short`` (rtmidi puts its input and output in two clients, one renamed)."""
        names = [p.name for p in self.client.get_ports(is_midi=True, **kind) if p.name.split(":", 1)[-1] == short]
        if len(names) != 1:
            raise RuntimeError(f"expected one port named {short!r}, found {names}")
        return names[0]

    def _process(self, frames: int) -> None:
        self.out.clear_buffer()
        start = self.client.last_frame_time
        if self._next_cycle is not None and start != self._next_cycle:
            self.cycle_gaps += 1
        self._next_cycle = (start + frames) & 0xFFFFFFFF
        if self.cycles < CYCLES:
            self.cycle_frames[self.cycles], self.cycle_woken[self.cycles] = start, time.monotonic()
            self.cycles += 1
        schedule, last = self.schedule, 0
        while self.played < len(schedule):
            frame, data = schedule[self.played]
            offset = frame_delta(frame, start)
            if offset >= frames:
                break
            offset = min(max(offset, last, 0), frames - 1)
            self.out.write_midi_event(offset, data)
            last = offset
            self.played += 1
        for offset, data in self.inp.incoming_midi_events():
            if self.heard < CAPACITY:
                self.heard_frames[self.heard] = start + offset
                self.heard_data[self.heard] = bytes(data)
                self.heard += 1

    def _xrun(self, _delayed_usecs: float) -> None:
        self.xruns += 1

    def frame_now(self) -> int:
        return self.client.frame_time

    def play(self, events: list[tuple[float, mido.Message]], start_frame: int) -> None:
        """Schedule ``(seconds after start, message)`` events at ``start_frame + round(seconds * rate)``."""
        for t, msg in sorted(events, key=lambda e: e[0]):
            self.schedule.append((start_frame + round(t * self.rate), bytes(msg.bytes())))

    def received(self, since: int = 0) -> list[tuple[int, mido.Message]]:
        """``(frame, message)`` for everything heard (from index ``since``)."""
        return [(self.heard_frames[i], mido.Message.from_bytes(self.heard_data[i])) for i in range(since, self.heard)]

    def lost_before(self, frames) -> np.ndarray:
        """Seconds of wall clock the server's frame count lost before each of ``frames`` (time the listener heard).

        A server that stalls (an xrun) goes on counting frames from where it was, so frames fall behind the wall
        clock at each stall (the dummy driver at 64 frames: ~85 ms in 30 s). A cycle's true start is the lower
        envelope of its wake-ups, and what frames lost only grows: the least lag from a cycle on is the one it had.
        Only sudden steps of that envelope count (more than LOST_STEP_S from one cycle to the next), not its slow
        wander (up to 0.24 ms over seconds at 1,024 frames, which comes back).
        """
        k = self.cycles
        lag = self.cycle_woken[:k] - self.cycle_frames[:k] / self.rate
        envelope = np.minimum.accumulate(lag[::-1])[::-1]
        steps = np.diff(envelope, prepend=envelope[0])
        lost = np.cumsum(np.where(steps > LOST_STEP_S, steps, 0.0))
        cycle = np.searchsorted(self.cycle_frames[:k], np.asarray(frames, dtype=np.int64), side="right") - 1
        return lost[np.clip(cycle, 0, k - 1)]

    def wait_played(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.played < len(self.schedule) and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()
