"""Hearing the synth: onsets from the signal's envelope, pitch from the spectrum, and a JACK client that records.

``AudioProbe`` records one JACK audio port and one MIDI port into preallocated arrays, each sample and event at its
absolute frame, so the audio can be laid against the MIDI the daemon played. Used by ``test_synth.py`` and
``benchmarks/bench_synth.py``.
"""

from __future__ import annotations

import time

import numpy as np

from antiphon.daemon.frameclock import frame_delta
from antiphon.daemon.jackmidi import load_jack

A4_HZ, A4_MIDI = 440.0, 69
EVENT_CAPACITY = 1 << 15
HARMONICS = 6
FUNDAMENTAL_SHARE = 0.2


def note_hz(pitch: float) -> float:
    return A4_HZ * 2.0 ** ((pitch - A4_MIDI) / 12.0)


def onsets(signal: np.ndarray, threshold: float, min_gap: int) -> list[int]:
    """Samples where ``|signal|`` first rises above ``threshold`` after at least ``min_gap`` samples below it."""
    loud = np.flatnonzero(np.abs(signal) > threshold)
    if loud.size == 0:
        return []
    starts = [int(loud[0])]
    gaps = np.flatnonzero(np.diff(loud) > min_gap)
    starts += [int(loud[i + 1]) for i in gaps]
    return starts


def first_sound(signal: np.ndarray, start: int, threshold: float = 0.0) -> int | None:
    """The first sample at or after ``start`` whose magnitude exceeds ``threshold``."""
    loud = np.flatnonzero(np.abs(signal[start:]) > threshold)
    return None if loud.size == 0 else start + int(loud[0])


def pitch_of(signal: np.ndarray, rate: int, low: int = 36, high: int = 100) -> int:
    """The MIDI pitch whose first ``HARMONICS`` harmonics hold most of the spectrum of ``signal`` (numpy FFT).

    Equal weights: a piano's fundamental can be weaker than its octave, yet only the true pitch hits every partial.
    """
    window = signal * np.hanning(signal.size)
    size = 1 << max(15, int(np.ceil(np.log2(signal.size))) + 2)  # zero-padded: fine bins for low notes
    magnitude = np.abs(np.fft.rfft(window, size))
    bin_hz = rate / size

    def level(hz: float) -> float:
        index = int(round(hz / bin_hz))
        return float(magnitude[max(0, index - 2): index + 3].max()) if index < magnitude.size - 3 else 0.0

    floor = FUNDAMENTAL_SHARE * float(magnitude.max())  # a pitch must have its own fundamental (no subharmonics)
    scores = [sum(level(h * note_hz(p)) for h in range(1, HARMONICS + 1)) if level(note_hz(p)) >= floor else 0.0
              for p in range(low, high + 1)]
    return low + int(np.argmax(scores))


class AudioProbe:
    """A JACK client recording an audio port and a MIDI port at absolute frames (from its first cycle on)."""

    def __init__(self, audio_source: str | None, midi_source: str | None, seconds: float, name: str = "ears"):
        jack = load_jack()
        self.client = jack.Client(name, no_start_server=True)
        self.rate = self.client.samplerate
        self.period = self.client.blocksize
        self.audio = np.zeros(int(seconds * self.rate) + self.period, dtype=np.float32)
        self.audio_in = self.client.inports.register("audio")
        self.midi_in = self.client.midi_inports.register("midi")
        self.event_frames = [0] * EVENT_CAPACITY
        self.event_data: list[bytes] = [b""] * EVENT_CAPACITY
        self.events = 0
        self.origin: int | None = None  # the absolute frame of audio[0]
        self.filled = 0
        self.xruns = 0
        self.client.set_process_callback(self._process)
        self.client.set_xrun_callback(self._xrun)
        self.client.activate()
        if audio_source is not None:
            self.client.connect(audio_source, self.audio_in)
        if midi_source is not None:
            self.client.connect(midi_source, self.midi_in)

    def _process(self, frames: int) -> None:
        start = self.client.last_frame_time
        if self.origin is None:
            self.origin = start
        at = frame_delta(start, self.origin)
        if 0 <= at and at + frames <= self.audio.size:
            self.audio[at:at + frames] = self.audio_in.get_array()
            self.filled = at + frames
        for offset, data in self.midi_in.incoming_midi_events():
            if self.events < EVENT_CAPACITY:
                self.event_frames[self.events] = start + offset
                self.event_data[self.events] = bytes(data)
                self.events += 1

    def _xrun(self, _delayed_usecs: float) -> None:
        self.xruns += 1

    def midi(self) -> list[tuple[int, bytes]]:
        """``(sample index into audio, bytes)`` of every MIDI event heard."""
        return [(frame_delta(self.event_frames[i], self.origin or 0), self.event_data[i]) for i in range(self.events)]

    def wait_filled(self, samples: int, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.filled < samples and time.monotonic() < deadline:
            time.sleep(0.02)

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()
