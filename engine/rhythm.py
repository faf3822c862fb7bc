"""Hearing the rhythm of a freely played phrase: tempo, beat phase, meter, downbeat and the 16th-grid notes.

Input: note-on and note-off times in seconds (any clock, the same for all calls) and MIDI pitches. Output: a
:class:`Rhythm` whose :class:`Grid` gives the tempo (quarter notes per minute) and a bar line (seconds), and
whose notes are one voice on the 16th grid (``STEPS_PER_QUARTER`` steps per quarter) with step 0 at the bar
line where the phrase's first (pickup) bar begins.

Method: every (tempo, phase, meter, bar offset) hypothesis is scored (``engine/rhythm_score.py``): onset
timing error, a metrical onset model that makes too-fine grids pay for empty steps and too-coarse ones for
onsets on weak 16ths (the interval to the next onset by bar position: long notes on strong beats), the
phrase's end (its last release just before a bar line, 2, 4 or 8 bars), velocity accents when velocities are
given, a log-normal tempo prior on the beat, a meter prior, and with a running ``session``
a continuity term (same meter, tempo within a few %, bar lines on the session's) against a fixed cost for a
change. Convention for the half/double ambiguity: the grid that explains the onsets with the fewest empty
steps *and* no onsets on weak 16ths wins, so a phrase of even eighths at 150 bpm is heard as eighths at
150 bpm (not 16ths at 75); only the tempo prior separates the genuinely ambiguous cases (even quarters).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from antiphon.engine.events import STEPS_PER_QUARTER, Note
from antiphon.engine.midifile import highest_voice
from antiphon.engine.rhythm_score import (
    DEVELOPMENT_TABLES,
    METER_PRIOR,
    METERS,
    RhythmTables,
    accent_scores,
    circular_anchors,
    fit_grids,
    ioi_logs,
    ioi_scores,
    metrical_scores,
    phrase_end_scores,
    tempo_prior,
)

RhythmBits = Callable[[tuple[Note, ...], list[list[int]]], float]


@dataclass(frozen=True)
class Grid:
    """A tempo and bar grid: ``bpm`` quarters per minute, a bar line at ``origin_s`` (s), ``bar_steps`` 16ths."""

    bpm: float
    origin_s: float
    bar_steps: int
    signature: str

    def __post_init__(self):
        if not (math.isfinite(self.bpm) and self.bpm > 0 and math.isfinite(self.origin_s)):
            raise ValueError(f"grid needs a positive bpm and a finite origin, got {self.bpm}, {self.origin_s}")
        if self.bar_steps <= 0:
            raise ValueError(f"bar_steps must be positive, got {self.bar_steps}")

    @property
    def step_s(self) -> float:
        """Seconds per 16th step."""
        return 60.0 / (self.bpm * STEPS_PER_QUARTER)

    @property
    def bar_s(self) -> float:
        """Seconds per bar."""
        return self.step_s * self.bar_steps

    def position(self, t: float) -> float:
        """Fractional step of time ``t`` (s) from the origin."""
        return (t - self.origin_s) / self.step_s

    def time_of(self, step: float) -> float:
        """Time (s) of grid ``step`` (counted from the origin)."""
        return self.origin_s + step * self.step_s

    def bar_line_after(self, t: float, strict: bool = False) -> float:
        """Time (s) of the first bar line at or after ``t`` (after it, if ``strict``)."""
        bars = self.position(t) / self.bar_steps
        n = math.floor(bars) + 1 if strict else math.ceil(bars - 1e-9)
        return self.time_of(n * self.bar_steps)


@dataclass(frozen=True)
class RhythmConfig:
    """Knobs of :func:`estimate_rhythm`; the ``use_*`` switches exist for ablations. The weights were set by a
    random search on the development tunes (``benchmarks/tune_rhythm.py``), never the benchmark's."""

    min_bpm: float = 40.0  # quarter notes per minute
    max_bpm: float = 240.0
    tempo_step: float = 0.012  # spacing of the tempo candidates (relative)
    chord_ms: float = 35.0  # onsets closer than this are one chord
    timing_sd_ms: float = 20.0
    max_drift: float = 0.08  # largest tempo change across a phrase the grid follows (relative)
    tempo_center_bpm: float = 100.0  # beats (quarter, or dotted quarter in 6/8) per minute
    tempo_sd: float = 0.3  # natural-log units (0.45 before the IOI and phrase-end terms)
    prior_bpm_sd: float = 0.2  # around a caller's prior_bpm, natural-log units
    session_tempo_sd: float = 0.04
    session_phase_sd_steps: float = 0.6
    change_cost: float = 15.0  # nats: leaving the session's tempo, bar lines or meter (times session_trust)
    min_trust: float = 0.2  # the least session_trust counts for
    follow_end: float = 1.0  # the grid a phrase hands on: its mean tempo (0) .. the tempo it ended at (1)
    fill_gaps: float = 0.5  # a note held for at least this share of the time to the next onset lasts until it
    rhythm_bits_weight: float = 1.0
    rhythm_bits_top: int = 6  # distinct best hypotheses re-scored by rhythm_bits
    meters: tuple[str, ...] = ("2/4", "3/4", "4/4", "6/8")
    meter_prior: dict = field(default_factory=lambda: dict(METER_PRIOR))
    ioi_weight: float = 0.6  # the IOI model (replaces the onset model's on/off part; use_ioi=False: back to it)
    ioi_floor: float = 0.02
    ioi_smooth: float = 12.0  # pseudo-counts pulling each IOI distribution towards the coarser one
    last_weight: float = 0.75  # the prior on the last onset's bar position (where tunes end)
    prefer_common_nats: float = 2.0  # a 2/4 reading yields to 4/4 with the same bar lines unless this much better
    end_weight: float = 2.0  # the last note's release falls short of (at most at) the next bar line
    end_floor: float = 0.125
    bars_cost: float = 3.0  # nats for a phrase that is not 2, 4 or 8 bars long (pickup apart)
    use_metrical: bool = True
    use_ioi: bool = True
    use_ioi_context: bool = True  # the IOI model also conditioned on the IOI before (else on the position only)
    tables: RhythmTables = DEVELOPMENT_TABLES  # the counts of the IOI model and the first / last-note priors
    velocity_accent: float = 8.0  # MIDI velocity a player adds on a downbeat (half on a mid-bar, a quarter on beats)
    use_velocity: bool = True
    use_tempo_prior: bool = True
    use_session: bool = True


@dataclass(frozen=True)
class Rhythm:
    """What was heard; ``notes`` count steps from the bar line where the first (pickup) bar begins."""

    grid: Grid  # the phrase's mean tempo; origin_s: its first downbeat (s)
    notes: tuple[Note, ...]
    pickup_steps: int  # steps from the first note to the first downbeat (0: starts on a downbeat)
    meter: list[list[int]]  # engine.meter segments for the notes
    confidence: float  # 0..1
    timing_error_ms: float  # RMS onset deviation from the grid
    drift: float = 0.0  # tempo change across the phrase, relative (+: faster at the end)
    continued: bool = False  # True when heard as a continuation of the session's grid
    score: float = 0.0  # the chosen hypothesis's log score (natural log; comparable within one call only)
    end_grid: Grid | None = None  # the grid the player goes on with: the tempo at the last onset, through it
    end_origin_step: int = 0  # the step of ``notes`` at end_grid.origin_s (a bar line)

    @property
    def next_grid(self) -> Grid:
        """The grid what follows the phrase is played on (``end_grid``, else ``grid``)."""
        return self.end_grid or self.grid


def _check(onsets_s, offsets_s, pitches) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    on, off = np.asarray(onsets_s, dtype=float), np.asarray(offsets_s, dtype=float)
    pitch = np.asarray(pitches)
    if on.ndim != 1 or off.ndim != 1 or pitch.ndim != 1:
        raise ValueError("onsets, offsets and pitches must be flat sequences")
    if not len(on) == len(off) == len(pitch):
        raise ValueError(f"lengths differ: {len(on)} onsets, {len(off)} offsets, {len(pitch)} pitches")
    if len(on) == 0:
        raise ValueError("no notes")
    if not (np.isfinite(on).all() and np.isfinite(off).all()) or (on < 0).any() or (off < 0).any():
        raise ValueError("note times must be finite and non-negative seconds")
    if (off < on).any():
        raise ValueError("a note-off comes before its note-on")
    if not np.issubdtype(pitch.dtype, np.integer) or (pitch < 0).any() or (pitch > 127).any():
        raise ValueError("pitches must be MIDI numbers 0..127")
    order = np.argsort(on, kind="stable")
    return on[order], off[order], pitch[order].astype(int)


def _chords(on: np.ndarray, chord_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Group index of each (sorted) onset, and each group's mean time (s)."""
    group = np.zeros(len(on), dtype=int)
    start = on[0]
    for i in range(1, len(on)):
        if on[i] - start > chord_s:
            start = on[i]
            group[i] = group[i - 1] + 1
        else:
            group[i] = group[i - 1]
    times = np.bincount(group, weights=on) / np.bincount(group)
    return group, times


def estimate_rhythm(onsets_s: Sequence[float], offsets_s: Sequence[float], pitches: Sequence[int], *,
                    prior_bpm: float | None = None, session: Grid | None = None,
                    config: RhythmConfig = RhythmConfig(), rhythm_bits: RhythmBits | None = None,
                    velocities: Sequence[int] | None = None, session_trust: float = 1.0, cut: bool = False) -> Rhythm:
    """Hear a phrase: note-on/off times (s) and MIDI pitches -> :class:`Rhythm`.

    ``prior_bpm`` (quarters per minute) centres the tempo prior; ``session`` (the previous call's grid) makes
    the phrase continue its tempo and bar lines unless it clearly departs from them. ``rhythm_bits(notes,
    meter)`` may return a model's information content (bits) of a hypothesis's quantised rhythm; the best few
    hypotheses are re-scored with it. ``velocities`` (MIDI, one per note), when they vary, let accents mark
    the strong beats. ``session_trust`` (0..1) is how sure the session is of its grid (a grid heard in one
    ambiguous phrase: its confidence): the cost of leaving it scales with it, so a second phrase can correct
    a first one heard wrong. ``cut``: the phrase did not end by itself (the phrase-end controller or its
    maximum length cut it while the player went on), so where its last note falls and is released says
    nothing of the bar lines: the phrase-end terms are left out. Raises ValueError on bad input.
    """
    on, off, pitch = _check(onsets_s, offsets_s, pitches)
    vel = None
    if velocities is not None:
        vel = np.asarray(velocities, dtype=float)
        if vel.shape != on.shape or not np.isfinite(vel).all() or (vel < 0).any() or (vel > 127).any():
            raise ValueError("velocities must be MIDI numbers 0..127, one per note")
        vel = vel[np.argsort(np.asarray(onsets_s, dtype=float), kind="stable")]
    if prior_bpm is not None and not (math.isfinite(prior_bpm) and prior_bpm > 0):
        raise ValueError(f"prior_bpm must be a positive number, got {prior_bpm}")
    if not 0.0 <= session_trust <= 1.0:
        raise ValueError(f"session_trust must be in 0..1, got {session_trust}")
    change_cost = config.change_cost * max(session_trust, config.min_trust)
    group, gt = _chords(on, config.chord_ms / 1000)
    accents = None
    if vel is not None and config.use_velocity and len(gt) >= 3:
        loud = np.full(len(gt), -np.inf)
        np.maximum.at(loud, group, vel)  # a chord's loudest note
        accents = loud
    t0 = gt[0]
    t = gt - t0
    bpms = np.exp(np.arange(math.log(config.min_bpm), math.log(config.max_bpm), config.tempo_step))
    if session is not None:
        bpms = np.concatenate([bpms, session.bpm * np.exp(np.linspace(-0.06, 0.06, 13))])
    if prior_bpm is not None:
        bpms = np.concatenate([bpms, [prior_bpm]])
    periods = 60.0 / (bpms * STEPS_PER_QUARTER)
    anchors = [circular_anchors(t, periods)]
    if session is not None:  # the session's grid points near the phrase
        anchors.append(((session.origin_s - t0) % session.step_s) * np.ones_like(periods))
    periods = np.tile(periods, len(anchors))
    # Grids with the first and last onsets on steps, M steps apart: spaced finely enough for long phrases.
    lo, hi = 60.0 / (config.max_bpm * STEPS_PER_QUARTER), 60.0 / (config.min_bpm * STEPS_PER_QUARTER)
    exact = t[-1] / np.arange(max(1, math.ceil(t[-1] / hi)), math.floor(t[-1] / lo) + 1)
    periods = np.concatenate([periods, exact, exact])
    anchors += [np.zeros_like(exact), circular_anchors(t, exact)]
    fit = fit_grids(t, periods, np.concatenate(anchors), config.timing_sd_ms / 1000, config.max_drift)
    fit = fit.take(fit.distinct())
    span = fit.k[:, -1]
    bpm = 60.0 / ((fit.b + fit.c * span) * STEPS_PER_QUARTER)  # mean tempo over the phrase
    in_range = (bpm >= config.min_bpm * 0.97) & (bpm <= config.max_bpm * 1.03)
    if in_range.any():
        fit, span, bpm, in_range = fit.take(in_range), span[in_range], bpm[in_range], in_range[in_range]
    # Where the phrase stops sounding (its last release), in steps of each grid from the first onset.
    last_on = fit.k[:, -1].astype(float)
    release = float(off[group == group[-1]].max()) - t0
    kend = (release - fit.a) / fit.b
    kend = np.maximum((release - fit.a - fit.c * kend * kend) / fit.b, last_on)

    scores, rows, pos0s, meter_ids = [], [], [], []
    for m, sig in enumerate(config.meters):
        table = METERS[sig]
        bar = table.bar_steps
        score = fit.timing[:, None] + metrical_scores(fit.k, table, config.use_metrical,
                                                      onsets=not (config.use_ioi and config.use_metrical),
                                                      last_weight=0.0 if cut else config.last_weight,
                                                      tables=config.tables)
        if config.use_ioi and config.use_metrical:
            logs = ioi_logs(sig, config.ioi_floor, config.ioi_smooth, config.tables)
            score = score + config.ioi_weight * ioi_scores(fit.k, logs, config.use_ioi_context)
        if config.use_tempo_prior:
            if prior_bpm is not None:
                score = score + tempo_prior(bpm, 4, prior_bpm, config.prior_bpm_sd)[:, None]
            else:
                score = score + tempo_prior(bpm, table.beat_steps, config.tempo_center_bpm, config.tempo_sd)[:, None]
        score = score + math.log(config.meter_prior.get(sig, 0.1))
        pos0 = np.arange(bar)
        if accents is not None:
            score = score + accent_scores(fit.k, accents, table, config.velocity_accent)
        if config.use_metrical and len(gt) >= 3 and not cut:  # a note or two tell little of the bar lines
            score = score + phrase_end_scores(last_on, kend, bar, config.end_weight, config.end_floor,
                                              config.bars_cost)
        if session is not None and config.use_session:
            kd = (bar - pos0[None, :]) % bar
            down = t0 + fit.time_of(np.arange(len(bpm))[:, None], kd)
            dev = (down - session.origin_s) / session.bar_s
            dev_steps = (dev - np.rint(dev)) * session.bar_steps
            cont = (-0.5 * (np.log(bpm / session.bpm)[:, None] / config.session_tempo_sd) ** 2
                    - 0.5 * (dev_steps / config.session_phase_sd_steps) ** 2)
            if bar != session.bar_steps or sig != session.signature:
                cont = np.full_like(cont, -np.inf)
            score = score + np.maximum(cont, -change_cost)
        score = np.where(in_range[:, None], score, -np.inf)
        scores.append(score.ravel())
        rows.append(np.repeat(np.arange(len(bpm)), bar))
        pos0s.append(np.tile(pos0, len(bpm)))
        meter_ids.append(np.full(score.size, m))
    score, row, pos0, meter_id = (np.concatenate(x) for x in (scores, rows, pos0s, meter_ids))
    bar_of = np.array([METERS[s].bar_steps for s in config.meters])[meter_id]
    down_step = (bar_of - pos0) % bar_of
    down_t = t0 + fit.time_of(row, down_step)
    hyp_bpm = bpm[row]

    def same(i: int, j: np.ndarray) -> np.ndarray:
        """Hypotheses ``j`` that hear the phrase like ``i``: tempo within 4%, same bar length, same downbeat."""
        return ((np.abs(np.log(hyp_bpm[j] / hyp_bpm[i])) < 0.04) & (bar_of[j] == bar_of[i])
                & (np.abs(down_t[j] - down_t[i]) < 0.5 * 60.0 / (hyp_bpm[i] * STEPS_PER_QUARTER)))

    def build(i: int) -> tuple[tuple[Note, ...], list[list[int]]]:
        r, p0, bar = row[i], int(pos0[i]), int(bar_of[i])
        x = off - t0
        kend = (x - fit.a[r]) / fit.b[r]
        kend = (x - fit.a[r] - fit.c[r] * kend * kend) / fit.b[r]
        start = fit.k[r][group] + p0
        end = np.maximum(np.rint(kend).astype(int) + p0, start + 1)
        nxt = np.concatenate([start[1:], [start[-1]]])  # next onset step (the chord's own for the last notes)
        nxt = np.where(nxt > start, nxt, np.maximum.accumulate(start[::-1])[::-1])
        if config.fill_gaps > 0:
            held = (x - (on - t0)) / np.maximum(fit.time_of(np.full(len(nxt), r), nxt - p0) - (on - t0), 1e-9)
            end = np.where((nxt > start) & (end < nxt) & (held >= config.fill_gaps), nxt, end)
        spans = sorted(zip(start.tolist(), end.tolist(), pitch.tolist(), strict=True))
        return tuple(highest_voice(spans)), [[0, bar, 0]]

    order = np.argsort(-score)
    best = int(order[0])
    if rhythm_bits is not None and config.rhythm_bits_weight > 0:
        chosen: list[int] = []
        for i in order[:400]:
            if not np.isfinite(score[i]) or len(chosen) >= config.rhythm_bits_top:
                break
            if not chosen or not same(int(i), np.array(chosen)).any():
                chosen.append(int(i))
        score = score.copy()
        for i in chosen:
            score[i] -= config.rhythm_bits_weight * math.log(2) * float(rhythm_bits(*build(i)))
        best = max(chosen, key=lambda i: score[i])
    others = ~same(best, np.arange(len(score)))
    if config.prefer_common_nats > 0 and config.meters[meter_id[best]] == "2/4" and "4/4" in config.meters:
        # The same reading in 4/4 (same tempo and first downbeat, every other bar line) unless 2/4 is clearly
        # better: most players think in 4/4; the tables' 2/4 is mostly Chinese folk song.
        alike = ((meter_id == config.meters.index("4/4")) & (np.abs(np.log(hyp_bpm / hyp_bpm[best])) < 0.04)
                 & (np.abs(down_t - down_t[best]) < 0.5 * 60.0 / (hyp_bpm[best] * STEPS_PER_QUARTER)))
        if alike.any():
            j = int(np.flatnonzero(alike)[np.argmax(score[alike])])
            if score[best] - score[j] < config.prefer_common_nats:
                score = score.copy()
                score[j] = score[best]
                best = j
                others &= ~same(best, np.arange(len(score)))
    runner_up = score[others].max() if others.any() else -np.inf
    margin = score[best] - runner_up
    confidence = 1.0 if not np.isfinite(margin) else float(np.tanh(max(margin, 0.0) / 2))
    notes, meter = build(best)
    sig = config.meters[meter_id[best]]
    r = row[best]
    kspan = max(int(span[r]), 1)
    drift = float(-2 * fit.c[r] * kspan / (fit.b[r] + 2 * fit.c[r] * kspan))  # period shrinks -> faster
    grid = Grid(float(bpm[r]), float(down_t[best]), int(bar_of[best]), sig)
    end_grid, end_step = _end_grid(fit, r, int(down_step[best]), int(pos0[best]), grid, t0, config.follow_end)
    continued = False
    if session is not None and config.use_session:
        dev = (grid.origin_s - session.origin_s) / session.bar_s
        continued = (sig == session.signature and abs(math.log(grid.bpm / session.bpm)) < 0.08
                     and abs(dev - round(dev)) * session.bar_steps < 2)
    return Rhythm(grid, notes, int(down_step[best]), meter, confidence, float(fit.rms_ms[r]), drift, continued,
                  float(score[best]), end_grid, end_step)


def _end_grid(fit, r: int, down: int, pos0: int, grid: Grid, t0: float, follow_end: float) -> tuple[Grid, int]:
    """The grid a phrase hands on: its tempo at the last onset (``follow_end`` of the way from the mean tempo),
    through the fitted time of the last onset, with its origin on the last bar line at or before that onset.
    Returns it and the origin's step in the phrase's notes (numbered from the first bar's start).

    A player who drifted keeps the tempo they ended at; the mean-tempo grid through the first downbeat would
    put the answer's bar line early or late by the drift times the bars since the phrase's middle.
    """
    kspan = int(fit.k[r, -1])
    mean_period = fit.b[r] + fit.c[r] * kspan
    period = mean_period + follow_end * (fit.b[r] + 2 * fit.c[r] * kspan - mean_period)
    bar = grid.bar_steps
    last_bar = down + bar * max(0, (kspan - down) // bar)  # fit steps (first onset: 0)
    origin = t0 + float(fit.time_of(np.array([r]), np.array([kspan]))[0]) - (kspan - last_bar) * period
    bpm = 60.0 / (period * STEPS_PER_QUARTER)
    return Grid(float(bpm), float(origin), bar, grid.signature), last_bar + pos0
