"""Frame-accurate MIDI on JACK: one JACK client whose process callback writes every event at its own frame.

python-rtmidi's JACK backend writes each message at frame 0 of the next cycle, so its timing error is spread
over a whole period (21 ms at 1,024 frames). Here the daemon hands events ahead of time, each with its deadline on
``time.monotonic()``; ``FrameClock`` turns the deadline into a frame and ``EventRing`` carries it to the process
callback, which only copies the events due in its cycle into the port buffer at their offsets (a late one goes
at offset 0 and is counted). Input is stamped the same way: ``last_frame_time + offset`` of each event, mapped
back to monotonic seconds, so the grid is anchored where the note was played, not where Python saw it.

The callback takes no lock and logs nothing. It runs Python, so it needs the interpreter lock: the switch
interval is shortened (``SWITCH_INTERVAL_S``) so that the live loop hands it over within a fraction of a period.
Input events go from the callback into a second ring; a byte on a pipe wakes a reader thread that parses them
and puts ``(t, mido.Message)`` on the daemon's input queue, as the rtmidi callback does.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable

import mido

from antiphon.daemon.frameclock import (
    ALL_NOTES_OFF,
    ASAP,
    EventRing,
    FrameClock,
    cancels,
    frame_delta,
    silences,
    undone_by,
)

log = logging.getLogger(__name__)

CLIENT_NAME = "antiphon"
OUTPUT_PORT = "antiphon out"
INPUT_PORT = "antiphon in"
LEAD_PERIODS = 2  # events are handed to the callback this many periods (plus the margin) before they are due
LEAD_MARGIN_S = 0.003
SWITCH_INTERVAL_S = 0.0002  # CPython's default 5 ms would hold the callback off for several periods
SWITCH_ENV = "ANTIPHON_SWITCH_INTERVAL_S"  # benchmark knob: another interval, to measure what it buys
DRAIN_TIMEOUT_S = 0.5
AHEAD_MARGIN_S = 0.005  # input stamped later than two periods and this after it was read: the frame clock is off
ANCHOR_WAIT_S = 2.0  # at start: cycles to fit the frame clock to
# JACK applies a new connection at the start of a later cycle, not in the one under way when connect returns
# (a note-off sent at once after reconnecting was lost about once in 300): wait this many of our cycles first.
CONNECT_CYCLES = 3
# What the callback wrote in its last cycle is read by the clients downstream later in that cycle; leaving the
# graph at once (deactivate) can take the port away before they read it, and a closing note-off is lost.
DELIVER_CYCLES = 2
# An xrun can lose what the last cycles carried (our callback late, or a client downstream): the messages among
# them that silence notes (note-offs, all notes off, sustain up) are sent again, unless a later note-on or pedal
# undid them. A note-off twice is harmless; a lost one is a stuck note.
RESEND_CYCLES = 4
CYCLE_HISTORY = 8
NO_MIDI_SYSTEM = ("no MIDI system: no ALSA sequencer (/dev/snd/seq) and no JACK server running; start one with "
                  "`jackd -d alsa` or PipeWire's pipewire-jack (`pw-jack antiphon ...`)")
NO_JACK_SERVER = ("no JACK server running; start one with `jackd -d alsa` or PipeWire's pipewire-jack "
                  "(`pw-jack antiphon ...`)")


def _quiet(_message: str) -> None:
    """libjack's error and info lines ("Cannot connect to server socket ...") would repeat ours in 20 lines."""


def load_jack():
    """The ``jack`` module with libjack's own messages silenced; ``ValueError`` when libjack is missing."""
    try:
        import jack
    except OSError as err:  # JACK-Client loads libjack when imported
        raise ValueError(f"JACK is not installed ({err}): apt-get install libjack-jackd2-0 (or jackd2)") from err
    jack.set_error_function(_quiet)
    jack.set_info_function(_quiet)
    return jack


def open_client(name: str, missing: str = NO_JACK_SERVER):
    """A JACK client that never starts a server; ``ValueError(missing)`` when no server runs."""
    jack = load_jack()
    try:
        return jack.Client(name, no_start_server=True)
    except jack.JackOpenError as err:
        raise ValueError(missing) from err


def jack_port_names() -> tuple[list[str], list[str]]:
    """(MIDI sources to listen to, MIDI destinations to play to) on the running JACK server."""
    client = open_client("antiphon-ports")
    try:
        ins = [p.name for p in client.get_ports(is_midi=True, is_output=True)]
        outs = [p.name for p in client.get_ports(is_midi=True, is_input=True)]
    finally:
        client.close()
    return ins, outs


class JackMidi:
    """The JACK client: an output and an input port, the process callback, the frame clock, the reader thread."""

    def __init__(self, missing: str = NO_JACK_SERVER, ring_size: int = 4096):
        self.client = open_client(CLIENT_NAME, missing)
        self.rate = self.client.samplerate
        self.period = self.client.blocksize
        self.lead_s = LEAD_PERIODS * self.period / self.rate + LEAD_MARGIN_S
        self.out_port = self.client.midi_outports.register(OUTPUT_PORT)
        self.in_port = self.client.midi_inports.register(INPUT_PORT)
        self.clock = FrameClock(self.rate)
        self.ring = EventRing(ring_size)
        self.in_frames = [0] * ring_size
        self.in_data: list[bytes] = [b""] * ring_size
        self.in_write = self.in_read = self.in_dropped = 0
        self.late = self.lost = self.xruns = self.cycle_gaps = self.cancelled = self.resent = 0
        # How far into its cycle the callback had finished, at the latest, and how often past the cycle's end: an
        # xrun while these stay well inside the period was not this client's doing.
        self.busiest = self.overran = self.busiest_cycle = 0
        # Whose doing an overrun was: the frame the callback was woken at (the OS's scheduling, not ours) and how
        # long its body took (its work, and waiting for the interpreter lock: ours). Maxima over all cycles, and
        # for the cycles that overran, the largest body among them.
        self.latest_wake = self.longest_body = self.overran_body = 0
        self.ahead = 0  # input stamped later than it was read (a stale frame clock): taken as read now
        self.ahead_max_s = 0.0
        self.ahead_limit_s = 2 * self.period / self.rate + AHEAD_MARGIN_S
        self._starts = [0] * CYCLE_HISTORY  # ring.read at the start of each recent cycle
        self._cycle = 0
        self._xruns_seen = 0
        self._dropped_seen = 0
        self._stamps = threading.local()  # per thread: the loop's stamp must not catch the port watcher's sends
        self.on_input: Callable[[float, mido.Message], None] | None = None
        self.audio = None  # a ``daemon.synth.BlockRenderer`` once the built-in synth is attached
        self.users = 0
        self._next_cycle: int | None = None
        self._lock = threading.Lock()  # producers only (loop, port watcher); the callback never takes it
        self._closing = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._switch = sys.getswitchinterval()
        sys.setswitchinterval(float(os.environ.get(SWITCH_ENV) or SWITCH_INTERVAL_S))
        self.client.set_process_callback(self._process)
        self.client.set_xrun_callback(self._xrun)
        self.client.set_shutdown_callback(self._shutdown)
        self._reader = threading.Thread(target=self._read_input, name="antiphon-jack-in", daemon=True)
        self._reader.start()
        self.client.activate()
        deadline = time.monotonic() + ANCHOR_WAIT_S
        while not self.clock.anchors and time.monotonic() < deadline:
            time.sleep(self.period / self.rate)
            self.clock.check(force=True)
        if not self.clock.anchors:
            self.release()
            raise ValueError("the JACK server runs no process cycles (is its driver stuck?)")

    @property
    def stamp(self) -> float | None:
        """While set (by this thread), ``send`` schedules at this deadline (see ``StampedSession``)."""
        return getattr(self._stamps, "t", None)

    @stamp.setter
    def stamp(self, t: float | None) -> None:
        self._stamps.t = t

    # -- the real-time side: no lock, no logging, nothing but copying -------------------------------------------

    def _process(self, frames: int) -> None:
        woke = self.client.frames_since_cycle_start
        out = self.out_port
        out.clear_buffer()
        start = self.client.last_frame_time
        ring = self.ring
        lost = self.xruns != self._xruns_seen
        if self._next_cycle is not None and start != self._next_cycle:
            self.cycle_gaps += 1  # cycles skipped: the frame clock must be anchored again
            self.clock.restart()
            lost = True
        if lost:
            self._xruns_seen = self.xruns
            first = self._starts[(self._cycle - RESEND_CYCLES) % CYCLE_HISTORY] if self._cycle >= RESEND_CYCLES else 0
            self._resend(out, first, ring.read)
        self._starts[self._cycle % CYCLE_HISTORY] = ring.read
        self._cycle += 1
        self.clock.observe(start, time.monotonic())
        self._next_cycle = (start + frames) & 0xFFFFFFFF
        index, end, last = ring.read, ring.write, 0
        audio = self.audio
        if audio is not None:
            audio.begin(frames)
        while index != end:
            slot = index & ring.mask
            if not ring.cancelled[slot]:
                offset = 0
                frame = ring.frames[slot]
                if frame != ASAP:
                    offset = frame_delta(frame, start)
                    if offset >= frames:
                        break  # due in a later cycle; the ring is in time order
                    if offset < 0:
                        self.late += 1
                        offset = 0
                if offset < last:
                    offset = last
                try:
                    out.write_midi_event(offset, ring.data[slot])
                except Exception:  # noqa: BLE001 - the port buffer is full: count it, never stop the callback
                    self.lost += 1
                if audio is not None:  # the synth renders up to the event's frame, then hears it
                    audio.render_to(offset)
                    audio.apply(ring.data[slot])
                last = offset
            index += 1
        ring.read = index
        if audio is not None:
            audio.finish(frames)
        got = False
        for offset, data in self.in_port.incoming_midi_events():
            if self.in_write - self.in_read > self.ring.mask:
                self.in_dropped += 1
                continue
            slot = self.in_write & self.ring.mask
            self.in_frames[slot] = start + offset
            self.in_data[slot] = bytes(data)
            self.in_write += 1
            got = True
        if got:
            try:
                os.write(self._wake_w, b"\0")
            except BlockingIOError:
                pass  # the reader has wake-ups pending already
        done = self.client.frames_since_cycle_start
        body = done - woke
        if done > self.busiest:
            self.busiest = done
            self.busiest_cycle = self._cycle
        if woke > self.latest_wake:
            self.latest_wake = woke
        if body > self.longest_body:
            self.longest_body = body
        if done >= frames:
            self.overran += 1
            if body > self.overran_body:
                self.overran_body = body

    def _resend(self, out, first: int, end: int) -> None:
        """Write again, at offset 0, the silencing messages sent from ring index ``first`` up to ``end``."""
        ring = self.ring
        for index in range(max(first, end - ring.mask), end):
            slot = index & ring.mask
            data = ring.data[slot]
            if ring.cancelled[slot] or not silences(data):
                continue
            undone = False
            for after in range(index + 1, end):
                if not ring.cancelled[after & ring.mask] and undone_by(data, ring.data[after & ring.mask]):
                    undone = True
                    break
            if undone:
                continue
            try:
                out.write_midi_event(0, data)
                self.resent += 1
            except Exception:  # noqa: BLE001 - the port buffer is full: count it, never stop the callback
                self.lost += 1

    def _xrun(self, delayed_usecs: float) -> None:
        self.xruns += 1
        self.clock.restart()

    def _shutdown(self, status, reason: str) -> None:
        log.error("the JACK server shut down: %s", reason)

    # -- input: parse outside the callback ----------------------------------------------------------------------

    def _read_input(self) -> None:
        while True:
            try:
                if not os.read(self._wake_r, 4096):
                    return
            except OSError:
                return
            self.clock.check()
            while self.in_read != self.in_write:
                slot = self.in_read & self.ring.mask
                frame, data = self.in_frames[slot], self.in_data[slot]
                self.in_read += 1
                callback = self.on_input
                if callback is None:
                    continue
                try:
                    msg = mido.Message.from_bytes(data)
                except (ValueError, IndexError, KeyError, TypeError):  # garbage (a truncated pitch bend: IndexError)
                    continue
                # An event is stamped within the cycle that delivers it, so up to a period after the callback
                # began; later than that the frame clock is off (frames lost to xruns): taken as read now.
                t, now = self.clock.to_time(frame), time.monotonic()
                if t > now + self.ahead_limit_s:
                    self.ahead += 1
                    self.ahead_max_s = max(self.ahead_max_s, t - now)
                    t = now
                try:
                    callback(t, msg)
                except Exception:  # noqa: BLE001 - the reader must outlive any one message
                    log.exception("JACK input: handling %r failed", msg)
            if self.in_dropped != self._dropped_seen and self.on_input is not None:
                # Input was lost (the ring was full): a lost note-off would hold the phrase open for good, so
                # the keyboard is taken to have let go of every key, as after its own All Notes Off.
                self._dropped_seen = self.in_dropped
                try:
                    self.on_input(time.monotonic(), mido.Message("control_change", control=ALL_NOTES_OFF, value=0))
                except Exception:  # noqa: BLE001 - the reader must outlive any one message
                    log.exception("JACK input: releasing the keys after lost input failed")

    # -- output: the daemon's side ------------------------------------------------------------------------------

    def send(self, msg: mido.Message) -> None:
        """At the deadline in ``stamp`` if set, else at the start of the next cycle."""
        if self.stamp is not None:
            self.send_at(msg, self.stamp)
            return
        data = bytes(msg.bytes())
        with self._lock:
            void = cancels(data)
            if void is not None:
                self.cancelled += self.ring.cancel_note_ons(*void)
            self.ring.push(ASAP, data)

    def send_at(self, msg: mido.Message, t: float) -> None:
        """Play ``msg`` at the JACK frame of monotonic time ``t`` (no earlier than the next cycle)."""
        data = bytes(msg.bytes())
        with self._lock:
            self.clock.check()
            self.ring.push(self.clock.to_frame(t), data)

    def drain(self, timeout_s: float = DRAIN_TIMEOUT_S) -> bool:
        """Wait until the callback has written every queued event; ``False`` on timeout."""
        deadline = time.monotonic() + timeout_s
        while self.ring.pending and time.monotonic() < deadline:
            time.sleep(self.period / self.rate / 2)
        return not self.ring.pending

    def port_names(self) -> tuple[list[str], list[str]]:
        """(MIDI sources, MIDI destinations) on the server, listed through this client (the port watcher's lister)."""
        return ([p.name for p in self.client.get_ports(is_midi=True, is_output=True)],
                [p.name for p in self.client.get_ports(is_midi=True, is_input=True)])

    def connect_output(self, name: str) -> None:
        """Connect the output to ``name``; returns once what is sent next reaches it."""
        self.out_port.disconnect()
        self._connect(self.out_port, name)
        self.wait_cycles(CONNECT_CYCLES)

    def settle(self, timeout_s: float = DRAIN_TIMEOUT_S) -> bool:
        """Wait for ``DELIVER_CYCLES`` cycles in a row without an xrun (after one, the callback sends the last
        cycles' note-offs again), so what was sent last has reached the clients downstream; ``False`` on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            xruns, gaps = self.xruns, self.cycle_gaps
            if not self.wait_cycles(DELIVER_CYCLES, max(0.0, deadline - time.monotonic())):
                return False
            if (self.xruns, self.cycle_gaps) == (xruns, gaps):
                return True
        return False

    def wait_cycles(self, count: int, timeout_s: float = DRAIN_TIMEOUT_S) -> bool:
        """Wait until the callback has begun ``count`` more cycles; ``False`` on timeout (a stalled graph)."""
        target = self.clock.cycles + count
        deadline = time.monotonic() + timeout_s
        while self.clock.cycles < target and time.monotonic() < deadline:
            time.sleep(self.period / self.rate / 2)
        return self.clock.cycles >= target

    def connect_input(self, name: str) -> None:
        self.in_port.disconnect()
        self._connect(name, self.in_port)

    def _connect(self, source, destination) -> None:
        """``RuntimeError`` when JACK refuses (a port listed before its client is active, or gone again): the
        port watcher then tries again on its next look, as it does for rtmidi's errors."""
        try:
            self.client.connect(source, destination)
        except load_jack().JackError as err:
            raise RuntimeError(str(err)) from err

    def summary(self) -> str:
        return (f"{self.period} frames at {self.rate} Hz, lead {self.lead_s * 1e3:.1f} ms; late {self.late}, "
                f"cancelled note-ons {self.cancelled}, resent after xruns {self.resent}, "
                f"xruns {self.xruns}, skipped cycles {self.cycle_gaps}, anchors {self.clock.anchors}, "
                f"lost {self.lost + self.ring.dropped}, input dropped {self.in_dropped}, input stamped after its "
                f"reading {self.ahead} (by up to {self.ahead_max_s * 1e3:.1f} ms); callback done by frame "
                f"{self.busiest} of {self.period} at the latest (cycle {self.busiest_cycle}), "
                f"{self.overran} cycles past their end; woken by frame {self.latest_wake} at the latest, body "
                f"{self.longest_body} frames at most ({self.overran_body} in the cycles past their end)")

    def release(self) -> None:
        """One handle fewer; the last one closes the client."""
        self.users -= 1
        if self.users > 0 or self._closing:
            return
        self._closing = True
        if not self.drain():
            log.warning("JACK output: %d events not sent before closing", self.ring.pending)
        self.settle()
        log.info("JACK MIDI: %s", self.summary())
        self.client.deactivate()
        self.client.close()
        if self.audio is not None:
            self.audio.close()
        os.close(self._wake_w)
        self._reader.join(1.0)
        os.close(self._wake_r)
        sys.setswitchinterval(self._switch)
