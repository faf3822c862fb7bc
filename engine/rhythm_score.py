"""Scoring tempo / phase / meter / bar-offset hypotheses for :mod:`antiphon.engine.rhythm` (numpy only).

Times are seconds relative to the phrase's first onset; grid steps are 16ths (``STEPS_PER_QUARTER`` = 4).
For every tempo candidate the onsets are fitted to a grid ``t = a + b k + c k^2`` (``b`` seconds per step,
``c`` a bounded tempo drift) by least squares, then every meter and bar offset is scored on top of that fit:

* timing: a Gaussian (``timing_sd_ms``) on each onset's deviation from its grid step, with an outlier floor;
* metrical (Temperley-style onset model): every grid step of the phrase's span holds an onset with a
  probability that depends on its metrical level (downbeat > half bar > beat > eighth > sixteenth), so a grid
  that is too fine pays for its many empty steps and one that is too coarse pays for onsets on weak 16ths;
  the first note's position (pickup) and the last note's position (phrases end on strong beats) add priors;
* IOI by position (agogic accent): in place of the on/off part of the onset model, a model of the interval
  to the next onset given the bar position of an onset and the interval before it (long notes on strong
  beats, 16ths off them, the figures a style uses), counted on development tunes (engine/rhythm_tables.py);
* the phrase end: its last release falls a little before the next bar line, and a phrase spans 2, 4 or 8 bars;
* velocity accents on strong positions, when the caller gives velocities that vary;
* a log-normal tempo prior on the beat (quarter, dotted quarter in 6/8) and a prior over meters.
All scores are natural logs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from antiphon.engine.rhythm_tables import FIRST_COUNTS, IOI_COUNTS, LAST_COUNTS

# Per meter, for each bar position (16ths from the downbeat): the share of grid steps holding an onset, where
# a song's first note falls, and where its last note falls. Counted (add-one) on the 282 tunes of Essen
# ``boehme20`` (a development set: the bundled model was trained on ``erk``, the benchmark uses other tunes).
# Only the onset shares are still used; the first / last positions come from engine/rhythm_tables.py.
_TABLES = {
    "2/4": ((0.95, 0.04, 0.53, 0.18, 0.85, 0.05, 0.73, 0.15),
            (0.381, 0.008, 0.008, 0.008, 0.042, 0.008, 0.534, 0.008),
            (0.771, 0.008, 0.025, 0.008, 0.161, 0.008, 0.008, 0.008)),
    "3/4": ((0.95, 0.02, 0.15, 0.15, 0.61, 0.02, 0.32, 0.04, 0.79, 0.02, 0.47, 0.1),
            (0.34, 0.007, 0.007, 0.007, 0.007, 0.007, 0.104, 0.007, 0.438, 0.007, 0.062, 0.007),
            (0.785, 0.007, 0.007, 0.007, 0.118, 0.007, 0.007, 0.007, 0.035, 0.007, 0.007, 0.007)),
    "4/4": ((0.95, 0.02, 0.08, 0.03, 0.48, 0.02, 0.34, 0.03, 0.79, 0.02, 0.16, 0.04, 0.81, 0.02, 0.36, 0.05),
            (0.24, 0.004, 0.004, 0.004, 0.012, 0.004, 0.004, 0.004, 0.037, 0.004, 0.11, 0.004, 0.508, 0.004,
             0.053, 0.004),
            (0.703, 0.004, 0.004, 0.004, 0.037, 0.004, 0.004, 0.004, 0.207, 0.004, 0.004, 0.004, 0.004, 0.004,
             0.004, 0.004)),
    "6/8": ((0.95, 0.02, 0.16, 0.08, 0.68, 0.02, 0.82, 0.02, 0.23, 0.05, 0.91, 0.04),
            (0.202, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.702, 0.01),
            (0.721, 0.01, 0.01, 0.01, 0.01, 0.01, 0.183, 0.01, 0.01, 0.01, 0.01, 0.01)),
}
MIN_ONSET_P = 0.05  # live players use more 16ths than the Essen songs do
METER_PRIOR = {"2/4": 0.2, "3/4": 0.25, "4/4": 0.35, "6/8": 0.2}


@dataclass(frozen=True, eq=False)  # hashed by identity: the IOI logs are cached per tables object
class RhythmTables:
    """The counts the IOI model and the first / last-note priors are made of, per meter (the layout of
    engine/rhythm_tables.py: ``ioi[meter][p][c][d - 1]``, ``first[meter][p]``, ``last[meter][p]``)."""

    ioi: dict
    first: dict
    last: dict


@dataclass(frozen=True)
class MeterTable:
    signature: str
    bar_steps: int
    beat_steps: int  # 4 (quarter) or 6 (dotted quarter)
    levels: np.ndarray  # metrical level of each bar position


def _meter_table(signature: str) -> MeterTable:
    bar = {"2/4": 8, "3/4": 12, "4/4": 16, "6/8": 12}[signature]
    beat = 6 if signature == "6/8" else 4
    pos = np.arange(bar)
    levels = np.where(pos % 2 == 1, 4, 3)
    levels[pos % beat == 0] = 2
    if signature == "4/4":
        levels[8] = 1
    if signature == "6/8":
        levels[6] = 1
    levels[0] = 0
    return MeterTable(signature, bar, beat, levels)


METERS = {sig: _meter_table(sig) for sig in METER_PRIOR}
DEVELOPMENT_TABLES = RhythmTables(IOI_COUNTS, FIRST_COUNTS, LAST_COUNTS)  # counted on the development tunes


def count_tables(tunes: Iterable[tuple[str, Sequence[int]]]) -> RhythmTables:
    """:class:`RhythmTables` counted on whole tunes, each a meter and its onsets in 16ths from a bar line."""
    tunes = list(tunes)
    unknown = {sig for sig, _ in tunes} - set(METERS)
    if unknown:
        raise ValueError(f"no meter table for {sorted(unknown)}; the meters are {list(METERS)}")
    ioi, first, last = {}, {}, {}
    for sig, table in METERS.items():
        bar = table.bar_steps
        counts = np.zeros((bar, 5, 2 * bar), dtype=int)
        ends = np.zeros((2, bar), dtype=int)
        for tune_sig, onsets in tunes:
            if tune_sig != sig or len(onsets) == 0:
                continue
            steps = np.unique(np.asarray(onsets, dtype=int))
            ends[0, steps[0] % bar] += 1
            ends[1, steps[-1] % bar] += 1
            iois = np.diff(steps)
            before = np.concatenate([[0], np.minimum(iois[:-1], 4)])
            for a, c, d in zip(steps[:-1], before, iois, strict=True):
                counts[a % bar, c, min(d, 2 * bar) - 1] += 1
        ioi[sig] = tuple(tuple(tuple(int(x) for x in r) for r in row) for row in counts)
        first[sig], last[sig] = (tuple(int(x) for x in e) for e in ends)
    return RhythmTables(ioi, first, last)


def _level_logs(table: MeterTable, metrical: bool,
                tables: RhythmTables) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """log q, log(1-q), log first-note prior, log last-note prior per bar position.

    The first/last-note priors are mixed half and half with the onset shares, as a call cut from a tune (or
    played live) starts and ends less predictably than a whole song.
    """
    q_tab = np.array(_TABLES[table.signature][0])
    first_tab = np.array(tables.first[table.signature]) + 1.0  # add-one
    last_tab = np.array(tables.last[table.signature]) + 1.0
    q = np.maximum(q_tab, MIN_ONSET_P)
    if not metrical:  # no preference between positions; the grid still pays for its empty steps
        q = np.full_like(q, q.mean())
        first = last = np.full(table.bar_steps, 1.0 / table.bar_steps)
    else:
        first = 0.5 * first_tab / first_tab.sum() + 0.5 * q / q.sum()
        last = 0.5 * last_tab / last_tab.sum() + 0.5 * q / q.sum()
    return np.log(q), np.log1p(-q), np.log(first), np.log(last)


@dataclass
class GridFit:
    """Per tempo candidate (rows): grid fit ``t = a + b k + c k^2`` and each onset's step ``k``."""

    a: np.ndarray  # (T,) seconds
    b: np.ndarray  # (T,) seconds per step
    c: np.ndarray  # (T,) seconds per step^2 (drift)
    k: np.ndarray  # (T, n) int steps, k[:, 0] == 0
    timing: np.ndarray  # (T,) timing log-likelihood
    rms_ms: np.ndarray  # (T,) RMS deviation, ms

    def time_of(self, rows: np.ndarray, steps: np.ndarray) -> np.ndarray:
        return self.a[rows] + self.b[rows] * steps + self.c[rows] * steps * steps

    def take(self, rows: np.ndarray) -> GridFit:
        """The fits of ``rows`` only."""
        return GridFit(self.a[rows], self.b[rows], self.c[rows], self.k[rows], self.timing[rows], self.rms_ms[rows])

    def distinct(self) -> np.ndarray:
        """Sorted rows with distinct steps ``k`` (the first of each): a grid is fitted to its steps, so rows with
        the same steps hold the same hypothesis."""
        return np.sort(np.unique(self.k, axis=0, return_index=True)[1])


def _linear(t: np.ndarray, k: np.ndarray, b0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    km = k.mean(axis=1, keepdims=True)
    tm = t.mean(axis=1, keepdims=True)
    var = ((k - km) ** 2).sum(axis=1)
    cov = ((k - km) * (t - tm)).sum(axis=1)
    b = np.where(var > 0, cov / np.maximum(var, 1e-12), b0)
    b = np.clip(b, 0.7 * b0, 1.3 * b0)
    a = tm[:, 0] - b * km[:, 0]
    return a, b


def circular_anchors(t: np.ndarray, periods: np.ndarray) -> np.ndarray:
    """Grid phase (s) for each step period (s): the circular mean of all onsets ``t`` (s) at that period."""
    z = np.exp(2j * np.pi * t[None, :] / periods[:, None]).mean(axis=1)
    return np.angle(z) / (2 * np.pi) * periods


def fit_grids(t: np.ndarray, periods: np.ndarray, anchors: np.ndarray, sd_s: float, max_drift: float) -> GridFit:
    """Fit each candidate step period (s), starting from a grid point at ``anchors`` (s), to onsets ``t`` (s).

    ``t`` is sorted with t[0] == 0. Returns the fitted grids with each onset's step re-based to k[:, 0] == 0.
    """
    n = len(t)
    a, b = anchors.astype(float), periods.astype(float)
    c = np.zeros_like(b)
    for _ in range(2):
        k = np.rint((t[None, :] - a[:, None]) / b[:, None])
        a, b = _linear(t[None, :], k, periods)
    k = np.rint((t[None, :] - a[:, None]) / b[:, None])
    a, b = _linear(t[None, :], k, periods)
    if n >= 5 and max_drift > 0:  # a bounded quadratic term follows a tempo drift across the phrase
        kc = k - k.mean(axis=1, keepdims=True)
        x = np.stack([np.ones_like(kc), kc, kc * kc], axis=2)
        xtx = np.einsum("tni,tnj->tij", x, x) + np.eye(3) * 1e-9
        coef = np.linalg.solve(xtx, np.einsum("tni,n->ti", x, t)[..., None])[..., 0]
        span = np.maximum(k[:, -1] - k[:, 0], 1)
        c_new = coef[:, 2]
        ok = np.abs(2 * c_new * span / np.maximum(coef[:, 1], 1e-9)) <= max_drift
        km = k.mean(axis=1)
        c = np.where(ok, c_new, 0.0)
        b = np.where(ok, coef[:, 1] - 2 * c_new * km, b)
        a = np.where(ok, coef[:, 0] - coef[:, 1] * km + c_new * km * km, a)
        k = np.rint((t[None, :] - a[:, None] - c[:, None] * k * k) / b[:, None])
    k0 = k[:, 0]
    a, b, k = a + b * k0 + c * k0 * k0, b + 2 * c * k0, k - k0[:, None]  # re-based so that k[:, 0] == 0
    a, b = _linear(t[None, :] - c[:, None] * k * k, k, b)
    err = t[None, :] - (a[:, None] + b[:, None] * k + c[:, None] * k * k)
    dup = (np.diff(k, axis=1) <= 0).sum(axis=1)  # two onsets on one step: the grid is too coarse
    logl = np.log(np.exp(-0.5 * (err / sd_s) ** 2) + 0.02).sum(axis=1) - 25.0 * dup
    rms = np.sqrt((err ** 2).mean(axis=1)) * 1000
    return GridFit(a, b, c, k.astype(np.int64), logl, rms)


def metrical_scores(k: np.ndarray, table: MeterTable, metrical: bool = True, onsets: bool = True,
                    last_weight: float = 1.0, tables: RhythmTables = DEVELOPMENT_TABLES) -> np.ndarray:
    """(T, bar_steps) log score of each bar position of the first onset, for onset steps ``k`` (T, n); without
    ``onsets`` only the first and last notes' position priors."""
    bar = table.bar_steps
    logq, log1q, logf, logl = _level_logs(table, metrical, tables)
    rows = np.arange(k.shape[0])[:, None]
    on = np.bincount((rows * bar + k % bar).ravel(), minlength=k.shape[0] * bar).reshape(-1, bar).astype(float)
    length = k[:, -1] + 1
    r = np.arange(bar)
    total = (length[:, None] // bar) + (r[None, :] < (length[:, None] % bar))
    off = np.maximum(total - on, 0)
    idx = (r[None, :] + r[:, None]) % bar  # idx[pos0, r]: bar position of residue r when the first note is at pos0
    score = on @ logq[idx].T + off @ log1q[idx].T if onsets else np.zeros((k.shape[0], bar))
    score = score + logf[None, :]
    last_pos = (k[:, -1:] + r[None, :]) % bar
    return score + last_weight * logl[last_pos]


def tempo_prior(bpm: np.ndarray, beat_steps: int, center_bpm: float, sd: float) -> np.ndarray:
    """Log-normal prior on the beat rate (quarter bpm scaled to the meter's beat), natural log, peak 0."""
    beat_bpm = bpm * 4.0 / beat_steps
    return -0.5 * (np.log(beat_bpm / center_bpm) / sd) ** 2


@lru_cache(maxsize=64)
def ioi_logs(signature: str, floor: float = 0.02, smooth: float = 20.0,
             tables: RhythmTables = DEVELOPMENT_TABLES) -> tuple[np.ndarray, np.ndarray]:
    """Log tables of the interval (IOI) to the next onset, for each bar position of the phrase's first onset
    (columns): ``first`` (bar * cap rows, ``cap`` two bars) log P(IOI | bar position) at row ``r * cap + d - 1``
    for an onset ``r`` steps after the first (mod the bar) followed by the next ``d`` steps later;
    ``second`` (bar * 4 * cap rows) log P(IOI | bar position, the IOI before: 1, 2, 3, 4+ steps) at row
    ``(r * 4 + before - 1) * cap + d - 1``.

    Counted on the development tunes (engine/rhythm_tables.py) unless other ``tables`` are given; each row is
    smoothed towards the coarser distribution (all positions; no IOI before) and mixed with a ``floor`` share of
    a uniform one.
    """
    counts = np.asarray(tables.ioi[signature], dtype=float)  # (bar, 5, cap)
    bar, _, cap = counts.shape
    c1 = counts.sum(axis=1)
    marginal = (c1.sum(axis=0) + 0.5) / (c1.sum() + 0.5 * cap)
    cond1 = (c1 + smooth * marginal) / (c1.sum(axis=1, keepdims=True) + smooth)
    c2 = counts[:, 1:]
    cond2 = (c2 + smooth * cond1[:, None, :]) / (c2.sum(axis=2, keepdims=True) + smooth)
    r = np.arange(bar)
    pos = (r[:, None] + r[None, :]) % bar  # pos[r, pos0]: bar position of an onset r steps after the first
    first = np.log((1 - floor) * cond1 + floor / cap)[pos].transpose(0, 2, 1).reshape(bar * cap, bar)
    second = np.log((1 - floor) * cond2 + floor / cap)[pos].transpose(0, 2, 3, 1).reshape(bar * 4 * cap, bar)
    return np.ascontiguousarray(first), np.ascontiguousarray(second)


def ioi_scores(k: np.ndarray, logs: tuple[np.ndarray, np.ndarray], context: bool = True) -> np.ndarray:
    """(T, bar) log P of the IOIs of onset steps ``k`` (T, n) under ``logs`` (see :func:`ioi_logs`: the first
    IOI by its onset's position, the others also by the IOI before unless not ``context``), for each bar
    position of the first onset."""
    first, second = logs
    bar = first.shape[1]
    cap = first.shape[0] // bar
    t, n = k.shape
    if n < 2:
        return np.zeros((t, bar))
    d = np.clip(np.diff(k, axis=1), 1, cap)
    if not context:
        return first[(k[:, :-1] % bar) * cap + d - 1].sum(axis=1)
    score = first[(k[:, 0] % bar) * cap + d[:, 0] - 1]
    if n > 2:
        row = ((k[:, 1:-1] % bar) * 4 + np.minimum(d[:, :-1], 4) - 1) * cap + d[:, 1:] - 1
        score = score + second[row].sum(axis=1)
    return score


def phrase_end_scores(last_on: np.ndarray, kend: np.ndarray, bar: int, weight: float, floor: float,
                      bars_cost: float) -> np.ndarray:
    """(T, bar) score of the phrase's end for each bar position of the first onset: its last note (onset at
    step ``last_on``, released at step ``kend``, both (T,) from the first onset) is held for a good share of
    the time to the next bar line (a phrase ends at a bar line), and the phrase spans 2, 4 or 8 whole bars
    from its first downbeat to the bar line after its release, or to its last note when that note lands on a
    downbeat (a phrase that closes on the next bar's first beat), else ``bars_cost`` nats."""
    r = np.arange(bar)
    p_last = (last_on[:, None] + r[None, :]) % bar
    to_line = bar - p_last  # steps from the last onset to the next bar line
    share = np.maximum(kend - last_on, 1e-3)[:, None] / to_line
    score = weight * np.log(floor + (1 - floor) * np.exp(-0.5 * (np.log(share / 0.8) / 0.3) ** 2))
    if bars_cost:
        down = (bar - r) % bar  # the first downbeat's step
        bars = np.ceil((kend[:, None] - down[None, :]) / bar - 0.1)
        landing = np.where(p_last == 0, (last_on[:, None] - down[None, :]) / bar, -1)
        score = score - bars_cost * ~(np.isin(bars, (2, 4, 8)) | np.isin(landing, (2, 4, 8)))
    return score


ACCENT_OF_LEVEL = np.array([1.0, 0.5, 0.25, 0.0, 0.0])  # share of the downbeat's accent, per metrical level


def accent_scores(k: np.ndarray, velocity: np.ndarray, table: MeterTable, accent: float) -> np.ndarray:
    """(T, bar) log-likelihood ratio of velocities ``velocity`` (n,) under accents of ``accent`` (MIDI
    velocity) on each hypothesis's strong positions, against none: velocity ~ N(mu + accent x strength, sd),
    mu fitted, sd the velocities' own spread (at least 3). Velocities that hardly vary score 0."""
    bar = table.bar_steps
    dev = velocity - velocity.mean()
    if len(velocity) < 3 or float(dev.std()) < 2.0:
        return np.zeros((k.shape[0], bar))
    sd = max(float(dev.std()), 3.0)
    t, n = k.shape
    r = np.arange(bar)
    strength = (accent * ACCENT_OF_LEVEL[table.levels])[(r[None, :] + r[:, None]) % bar]  # [pos0, residue]
    cell = (np.arange(t)[:, None] * bar + k % bar).ravel()
    count = np.bincount(cell, minlength=t * bar).reshape(t, bar).astype(float)
    loud = np.bincount(cell, weights=np.tile(dev, t), minlength=t * bar).reshape(t, bar)
    a_dev = loud @ strength.T  # sum over notes of accent x deviation (the deviations sum to 0)
    a_sum, a_sq = count @ strength.T, count @ (strength * strength).T
    return (a_dev - 0.5 * (a_sq - a_sum * a_sum / n)) / (sd * sd)

