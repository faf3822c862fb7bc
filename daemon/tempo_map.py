"""A session's tempo map in a MIDI file: seconds -> ticks through the grids the session heard, bars where felt.

Each entry is ``(t, bpm, signature)`` with ``t`` (s) a downbeat of the grid that starts there. The file starts
on a downbeat at or before its first event; each grid runs a whole number of bars to the next entry (its
tempo nudged so that they fit exactly), so a DAW's bar lines fall where the player's did.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import mido

from antiphon.engine.meter import meter_from_signature
from antiphon.engine.midifile import bpm_to_tempo

TempoEntry = tuple[float, float, str]  # (downbeat time s, bpm, signature)
QUARTERS_PER_STEP = 0.25  # bar lengths come from engine.meter at 4 steps per quarter


@dataclass(frozen=True)
class _Segment:
    t: float  # s
    tick: int
    ticks_per_s: float
    bpm: float
    signature: str


def _bar_quarters(signature: str) -> float:
    return meter_from_signature(signature, 4)[0][1] * QUARTERS_PER_STEP


class TempoMap:
    """Seconds -> ticks for one file whose first event is at ``start_s`` (seconds on the same clock as entries)."""

    def __init__(self, entries: Sequence[TempoEntry], start_s: float, ticks_per_beat: int):
        if not entries:
            raise ValueError("a tempo map needs at least one entry")
        entries = sorted(entries)
        before = [e for e in entries if e[0] <= start_s]
        entries = before[-1:] + [e for e in entries if e[0] > start_s]  # the grid in force at the start, then on
        t0, bpm0, sig0 = entries[0]
        bar0 = _bar_quarters(sig0) * 60.0 / bpm0
        begin = t0 + math.floor((start_s - t0) / bar0 + 1e-9) * bar0  # a downbeat at or before the first event
        self.segments: list[_Segment] = []
        self.ticks_per_beat = ticks_per_beat
        t, tick, bpm, sig = begin, 0, bpm0, sig0
        for t_next, bpm_next, sig_next in entries[1:]:
            bar_s = _bar_quarters(sig) * 60.0 / bpm
            bars = round((t_next - t) / bar_s)
            if bars < 1:  # a new grid within half a bar: it replaces the one before
                bpm, sig = bpm_next, sig_next
                continue
            fitted_bpm = _bar_quarters(sig) * bars * 60.0 / (t_next - t)
            self.segments.append(_Segment(t, tick, ticks_per_beat * fitted_bpm / 60.0, fitted_bpm, sig))
            tick += round(bars * _bar_quarters(sig) * ticks_per_beat)
            t, bpm, sig = t_next, bpm_next, sig_next
        self.segments.append(_Segment(t, tick, ticks_per_beat * bpm / 60.0, bpm, sig))

    def tick(self, t: float) -> int:
        """The tick of time ``t`` (s); before the file's start, tick 0."""
        segment = self.segments[0]
        for candidate in self.segments:
            if candidate.t <= t + 1e-9:
                segment = candidate
        return max(0, segment.tick + round((t - segment.t) * segment.ticks_per_s))

    def meta_track(self) -> mido.MidiTrack:
        """Tempo and time signature at each segment's first tick."""
        track = mido.MidiTrack()
        now = 0
        for segment in self.segments:
            top, _, bottom = segment.signature.partition("/")
            track.append(mido.MetaMessage("set_tempo", tempo=bpm_to_tempo(segment.bpm), time=segment.tick - now))
            track.append(mido.MetaMessage("time_signature", numerator=int(top), denominator=int(bottom), time=0))
            now = segment.tick
        return track
