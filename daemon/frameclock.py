"""JACK time for the daemon: monotonic seconds <-> JACK frames, and the ring that carries events to the callback.

The daemon keeps its deadlines on ``time.monotonic()``; JACK counts frames (an unsigned 32-bit counter that wraps
about every 25 hours at 48 kHz). ``FrameClock`` maps linearly between the two with the sample rate from one anchor
(monotonic time, frame), so two deadlines a given time apart always land the same number of frames apart. The
anchor comes from the process callback: each cycle it notes ``last_frame_time`` and the monotonic time it woke
up at. A wake-up is never early, only late by a varying amount, so the earliest (time - frames / rate) over the
recent cycles is where cycle starts really lie. (``jack_frame_time`` read from another thread wandered by up to
12 ms on this machine's dummy driver; the lower envelope of wake-ups is steady to a frame.) The anchor is moved
only when the clocks have drifted apart by more than ``DRIFT_S`` (checked about once a second, and at once
after an xrun or skipped cycles, using only the cycles since), so a call and its answer share one mapping and
the answer's grid stays whole in frames. (With a 2-frame threshold the dummy driver's wake-up envelope, which
wanders by ~0.2 ms over ten seconds at 1,024 frames without drifting, moved answers by 3 frames now and then.)

``EventRing`` is a single-producer, single-consumer ring of preallocated slots: the producer (the daemon's threads,
serialised by one lock of their own) fills a slot and then advances ``write``; the JACK process callback reads up
to ``write`` and advances ``read``. The callback takes no lock; under CPython each index update is one atomic
store. A scheduled note-on not yet sent can be cancelled (a barge-in's note-off, a stop): the callback skips it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

FRAME_WRAP = 1 << 32  # jack_nframes_t is an unsigned 32-bit counter
HALF_WRAP = 1 << 31
WINDOW_CYCLES = 512  # cycle wake-ups the anchor is fitted to (2.7 s at 256 frames)
MIN_CYCLES = 8  # the first fit, at start
# After an xrun, fewer cycles than this since: no new fit yet, the old anchor stays. A fit to a few wake-ups can be
# late by a busy machine's whole scheduling delay (answers came ~24 ms early once, on a loaded run).
REFIT_CYCLES = 32
DRIFT_S = 0.0005  # re-anchor when the audio clock has drifted this far from the monotonic clock
CHECK_S = 1.0  # how often the drift is checked
ASAP = -1  # a slot's frame for "send in the next cycle, at its start"
NOTE_ON = 0x90
NOTE_OFF = 0x80
CONTROL_CHANGE = 0xB0
ALL_NOTES_OFF = 123
ALL_SOUND_OFF = 120
SUSTAIN = 64


def frame_delta(a: int, b: int) -> int:
    """``a - b`` for two frame counts on the wrapping 32-bit counter (valid within +-12 hours at 48 kHz)."""
    return ((a - b + HALF_WRAP) % FRAME_WRAP) - HALF_WRAP


class FrameClock:
    """One linear map between monotonic seconds and JACK frames, fitted to the process callback's wake-ups."""

    def __init__(self, rate: int, now: Callable[[], float] = time.monotonic, drift_s: float = DRIFT_S,
                 check_s: float = CHECK_S, window: int = WINDOW_CYCLES):
        self.rate = rate
        self.now = now
        self.drift_frames = round(drift_s * rate)
        self.check_s = check_s
        self.anchors = 0
        self.stale = False
        self._anchor = (now(), 0)  # (monotonic seconds, frame), replaced whole: readers see one pair or the other
        self._checked = float("-inf")
        self._samples: list[tuple[int, float]] = [(0, 0.0)] * window
        self._count = 0
        self._since = 0  # samples before this one belong to the time before an xrun

    # -- the callback's side ------------------------------------------------------------------------------------

    def observe(self, frame: int, t: float) -> None:
        """A cycle starting at ``frame`` woke up at monotonic ``t`` (called by the process callback)."""
        self._samples[self._count % len(self._samples)] = (frame, t)
        self._count += 1

    def restart(self) -> None:
        """Frames may have jumped (xrun, skipped cycles): fit only what comes after, as soon as it can."""
        self._since = self._count
        self.stale = True

    # -- the daemon's side --------------------------------------------------------------------------------------

    @property
    def cycles(self) -> int:
        """Process cycles observed so far (the callback's count; read by the daemon to wait for graph changes)."""
        return self._count

    def estimate(self) -> tuple[float, int] | None:
        """(monotonic time, frame) of the latest cycle start, from the earliest wake-ups; ``None`` if too few."""
        count = self._count
        first = max(self._since, count - len(self._samples))
        if count - first < (REFIT_CYCLES if self.anchors and self._since else MIN_CYCLES):
            return None
        samples = [self._samples[i % len(self._samples)] for i in range(first, count)]
        ref = samples[-1][0]
        return min(t - frame_delta(frame, ref) / self.rate for frame, t in samples), ref

    def check(self, force: bool = False) -> None:
        """Move the anchor if the clocks drifted apart (at most once per ``check_s`` unless stale or forced)."""
        now = self.now()
        if not (force or self.stale or now - self._checked >= self.check_s):
            return
        fit = self.estimate()
        if fit is None:
            return  # too few cycles since an xrun: keep the old anchor a little longer
        self._checked, self.stale = now, False
        t, frame = fit
        if force or self.anchors == 0 or abs(frame_delta(frame, self.to_frame(t))) > self.drift_frames:
            self._anchor = (t, frame)
            self.anchors += 1

    def to_frame(self, t: float) -> int:
        """The JACK frame (on the wrapping counter) at monotonic time ``t``."""
        t0, f0 = self._anchor
        return (f0 + round((t - t0) * self.rate)) % FRAME_WRAP

    def to_time(self, frame: int) -> float:
        """The monotonic time of JACK frame ``frame``."""
        t0, f0 = self._anchor
        return t0 + frame_delta(frame, f0) / self.rate


class EventRing:
    """Preallocated slots (frame, MIDI bytes, cancelled) between the daemon and the process callback."""

    def __init__(self, size: int = 4096):
        if size & (size - 1):
            raise ValueError(f"ring size must be a power of two, got {size}")
        self.mask = size - 1
        self.frames = [ASAP] * size
        self.data: list[bytes] = [b""] * size
        self.cancelled = bytearray(size)
        self.write = 0  # advanced by the producer only
        self.read = 0  # advanced by the callback only
        self.dropped = 0

    @property
    def pending(self) -> int:
        return self.write - self.read

    def push(self, frame: int, data: bytes) -> bool:
        """Queue ``data`` for ``frame`` (``ASAP``: the next cycle's start); ``False`` (and counted) when full."""
        if self.write - self.read > self.mask:
            self.dropped += 1
            return False
        slot = self.write & self.mask
        self.frames[slot] = frame
        self.data[slot] = data
        self.cancelled[slot] = 0
        self.write += 1  # last: the callback sees the slot only once it is complete
        return True

    def cancel_note_ons(self, status: int, note: int | None) -> int:
        """Cancel scheduled note-ons not yet sent on ``status``'s channel (one ``note``, or all); returns how many.

        A slot the callback is reading at this moment is either skipped or sent; either way it goes before the
        message that cancels it, which is queued after this call, so every note-on keeps its note-off after it.
        """
        channel = status & 0x0F
        count = 0
        for index in range(self.read, self.write):
            slot = index & self.mask
            data = self.data[slot]
            if (self.frames[slot] != ASAP and len(data) == 3 and data[0] == NOTE_ON | channel and data[2] > 0
                    and (note is None or data[1] == note) and not self.cancelled[slot]):
                self.cancelled[slot] = 1
                count += 1
        return count


def cancels(data: bytes) -> tuple[int, int | None] | None:
    """(status, note or ``None`` for all) of the scheduled note-ons an immediate message makes void, if any."""
    if len(data) != 3:
        return None
    kind = data[0] & 0xF0
    if kind == NOTE_OFF or (kind == NOTE_ON and data[2] == 0):
        return data[0], data[1]
    if kind == CONTROL_CHANGE and data[1] in (ALL_NOTES_OFF, ALL_SOUND_OFF):
        return data[0], None
    return None


def undone_by(data: bytes, later: bytes) -> bool:
    """Whether ``later`` (sent after ``data``) starts what ``data`` silenced, so ``data`` must not be sent again:
    a note-on of the same note (or of any note, after an all-notes-off), or the sustain pedal pressed again."""
    if len(later) != 3 or (later[0] & 0x0F) != (data[0] & 0x0F):
        return False
    if data[0] & 0xF0 == CONTROL_CHANGE and data[1] == SUSTAIN:
        return later[0] & 0xF0 == CONTROL_CHANGE and later[1] == SUSTAIN and later[2] >= 64
    void = cancels(data)
    return (later[0] & 0xF0 == NOTE_ON and later[2] > 0 and void is not None
            and (void[1] is None or later[1] == void[1]))


def silences(data: bytes) -> bool:
    """A note-off, an all-notes-off / all-sound-off or a sustain release: safe to send twice."""
    return cancels(data) is not None or (len(data) == 3 and data[0] & 0xF0 == CONTROL_CHANGE
                                         and data[1] == SUSTAIN and data[2] < 64)
