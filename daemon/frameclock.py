"""JACK time for the daemon: monotonic seconds <-> JACK frames, and the ring that carries events to the callback.

The daemon keeps its deadlines on ``time.monotonic()``; JACK counts frames (an unsigned 32-bit counter that wraps
about every 25 hours at 48 kHz). ``FrameClock`` holds one anchor, a (monotonic time, frame) pair sampled from
``jack_frame_time``, and maps linearly with the sample rate, so two deadlines a given time apart always land the
same number of frames apart. It is re-anchored after an xrun (frames may have jumped) and when the audio clock has
drifted from the monotonic one by more than ``DRIFT_FRAMES``, checked about once a second.

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
ANCHOR_SAMPLES = 7  # (monotonic, frame) readings per anchoring; the tightest pair wins
DRIFT_FRAMES = 2  # re-anchor when the audio clock has drifted this far from the monotonic clock
CHECK_S = 1.0  # how often the drift is checked
ASAP = -1  # a slot's frame for "send in the next cycle, at its start"
NOTE_ON = 0x90
NOTE_OFF = 0x80
CONTROL_CHANGE = 0xB0
ALL_NOTES_OFF = 123
ALL_SOUND_OFF = 120


def frame_delta(a: int, b: int) -> int:
    """``a - b`` for two frame counts on the wrapping 32-bit counter (valid within +-12 hours at 48 kHz)."""
    return ((a - b + HALF_WRAP) % FRAME_WRAP) - HALF_WRAP


class FrameClock:
    """One linear map between monotonic seconds and JACK frames; ``stale`` asks for a new anchor."""

    def __init__(self, frame_time: Callable[[], int], rate: int, now: Callable[[], float] = time.monotonic,
                 drift_frames: int = DRIFT_FRAMES, check_s: float = CHECK_S):
        self.frame_time = frame_time
        self.rate = rate
        self.now = now
        self.drift_frames = drift_frames
        self.check_s = check_s
        self.anchors = 0
        self.stale = False
        self._anchor = (0.0, 0)  # (monotonic seconds, frame), replaced whole: readers see one pair or the other
        self._checked = 0.0
        self.anchor()

    def _sample(self) -> tuple[float, int]:
        """The (monotonic, frame) reading with the narrowest bracket of monotonic readings around it."""
        best = None
        for _ in range(ANCHOR_SAMPLES):
            before = self.now()
            frame = self.frame_time()
            after = self.now()
            if best is None or after - before < best[0]:
                best = (after - before, (before + after) / 2, frame)
        return best[1], best[2]

    def anchor(self) -> None:
        """Take a new (monotonic, frame) anchor."""
        self.stale = False
        self._anchor = self._sample()
        self._checked = self._anchor[0]
        self.anchors += 1

    def check(self) -> None:
        """Re-anchor if an xrun asked for it, or (at most once per ``check_s``) if the clocks drifted apart."""
        if self.stale:
            self.anchor()
            return
        if self.now() - self._checked < self.check_s:
            return
        t, frame = self._sample()
        self._checked = t
        if abs(frame_delta(frame, self.to_frame(t))) > self.drift_frames:
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
