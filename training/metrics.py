"""Melody statistics, Yang & Lerch (2020) set comparison, and copy detection, on grid-symbol songs.

All functions take songs as lists of grid symbols in the model's key (C major / A minor), as in the dataset.
Statistics count notes (rests excluded) unless named otherwise; lengths are in grid steps.

Yang & Lerch, "On the evaluation of generative models in music" (2020): each song gives six features (pitch
class histogram, pitch class transition matrix, pitch range, average absolute interval, average inter-onset
interval, note length histogram); for a reference set R and a candidate set C, the *intra-set* distances
(pairs of songs within R) and the *inter-set* distances (R x C) are smoothed into densities with a Gaussian
kernel (Silverman's bandwidth); their overlapping area (OA, 1 = indistinguishable) and the Kullback-Leibler
divergence KL(intra || inter) (0 = indistinguishable) measure how far C lies from R.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from antiphon.engine.events import Note
from antiphon.engine.keyfind import MAJOR, MINOR, MODEL_TONIC, key_correlations
from antiphon.engine.melody import decode_symbols
from antiphon.training.baselines import song_events

PITCH_CLASSES = 12
DIATONIC = frozenset({0, 2, 4, 5, 7, 9, 11})  # C major / A natural minor; transposed to all 12 keys below
STEP_MAX = 2  # semitones: an interval of 1 or 2 is a step, 0 a repeat, 3 or more a leap
NOTE_LENGTH_BINS = (1, 2, 3, 4, 6, 8, 12, 16)  # steps; anything else falls in a last "other" bin
STAT_NAMES = ("scale_consistency", "pitch_range", "pitch_classes", "pitch_entropy", "repeat_share",
              "step_share", "leap_share", "rest_share", "mean_note_length", "ends_on_tonic", "notes")
YL_FEATURES = ("pitch_class_histogram", "pitch_class_transitions", "pitch_range", "average_interval",
               "inter_onset_interval", "note_length_histogram")
KDE_POINTS = 512
DENSITY_FLOOR = 1e-10


def melody_notes(symbols: Sequence[str]) -> list[Note]:
    """Notes (no rests) of a grid song."""
    return [n for n in decode_symbols(symbols) if n.pitch is not None]


def scale_consistency(pitches: Sequence[int]) -> float:
    """Share of notes in the best-fitting diatonic (major / natural minor) scale of the 12."""
    if not pitches:
        return math.nan
    counts = Counter(p % PITCH_CLASSES for p in pitches)
    best = max(sum(c for pc, c in counts.items() if (pc - shift) % PITCH_CLASSES in DIATONIC)
               for shift in range(PITCH_CLASSES))
    return best / len(pitches)


def entropy_bits(counts: Iterable[float]) -> float:
    """Shannon entropy in bits of a histogram (0 for an empty one)."""
    c = np.array([x for x in counts if x > 0], dtype=np.float64)
    if c.size == 0:
        return 0.0
    p = c / c.sum()
    return float(-(p * np.log2(p)).sum())


def melody_stats(symbols: Sequence[str]) -> dict[str, float]:
    """The statistics in ``STAT_NAMES`` for one song (NaN where a song has too few notes to say).

    ``ends_on_tonic`` is 1 when the last note's pitch class is the tonic of the song's key: songs are in the
    model's key, so the key is C major or A minor, whichever the Krumhansl-Kessler profiles correlate with
    better (``engine.keyfind``); the same rule for real and generated songs.
    """
    decoded = decode_symbols(symbols)
    notes = [n for n in decoded if n.pitch is not None]
    pitches = [n.pitch for n in notes]
    steps = sum(n.length_steps for n in decoded)
    stats = dict.fromkeys(STAT_NAMES, math.nan)
    stats["notes"] = float(len(notes))
    rest_steps = sum(n.length_steps for n in decoded if n.pitch is None)
    stats["rest_share"] = rest_steps / steps if steps else math.nan
    if not notes:
        return stats
    stats["scale_consistency"] = scale_consistency(pitches)
    stats["pitch_range"] = float(max(pitches) - min(pitches))
    stats["pitch_classes"] = float(len({p % PITCH_CLASSES for p in pitches}))
    stats["pitch_entropy"] = entropy_bits(Counter(p % PITCH_CLASSES for p in pitches).values())
    stats["mean_note_length"] = float(np.mean([n.length_steps for n in notes]))
    intervals = [abs(b - a) for a, b in zip(pitches, pitches[1:], strict=False)]
    if intervals:
        stats["repeat_share"] = sum(i == 0 for i in intervals) / len(intervals)
        stats["step_share"] = sum(0 < i <= STEP_MAX for i in intervals) / len(intervals)
        stats["leap_share"] = sum(i > STEP_MAX for i in intervals) / len(intervals)
    try:
        r = key_correlations((n.pitch, n.length_steps) for n in notes)
        tonic = MODEL_TONIC[MAJOR] if r[MODEL_TONIC[MAJOR]] >= r[PITCH_CLASSES + MODEL_TONIC[MINOR]] \
            else MODEL_TONIC[MINOR]
        stats["ends_on_tonic"] = float(pitches[-1] % PITCH_CLASSES == tonic)
    except ValueError:  # every pitch class equally weighted: no key to speak of
        pass
    return stats


def summarize_stats(rows: Sequence[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean and standard deviation of each statistic over songs (NaNs skipped)."""
    out = {}
    for name in STAT_NAMES:
        values = np.array([r[name] for r in rows], dtype=np.float64)
        values = values[~np.isnan(values)]
        out[name] = {"mean": float(values.mean()) if values.size else math.nan,
                     "std": float(values.std()) if values.size else math.nan}
    return out


def note_length_distribution(songs: Iterable[Sequence[str]]) -> dict[str, float]:
    """Share of notes of each length (steps, ``NOTE_LENGTH_BINS`` plus "other"), pooled over songs."""
    counts = Counter(_length_bin(n.length_steps) for s in songs for n in melody_notes(s))
    total = sum(counts.values()) or 1
    labels = [str(b) for b in NOTE_LENGTH_BINS] + ["other"]
    return {label: counts.get(i, 0) / total for i, label in enumerate(labels)}


def _length_bin(steps: int) -> int:
    return NOTE_LENGTH_BINS.index(steps) if steps in NOTE_LENGTH_BINS else len(NOTE_LENGTH_BINS)


def yang_lerch_features(symbols: Sequence[str]) -> dict[str, np.ndarray]:
    """The six per-song features (each a 1-D array; scalars have length 1)."""
    notes = melody_notes(symbols)
    pitches = [n.pitch for n in notes]
    pch = np.zeros(PITCH_CLASSES)
    for p in pitches:
        pch[p % PITCH_CLASSES] += 1
    pctm = np.zeros((PITCH_CLASSES, PITCH_CLASSES))
    for a, b in zip(pitches, pitches[1:], strict=False):
        pctm[a % PITCH_CLASSES, b % PITCH_CLASSES] += 1
    nlh = np.zeros(len(NOTE_LENGTH_BINS) + 1)
    for n in notes:
        nlh[_length_bin(n.length_steps)] += 1
    onsets = [n.start_step for n in notes]
    return {
        "pitch_class_histogram": pch / max(pch.sum(), 1),
        "pitch_class_transitions": (pctm / max(pctm.sum(), 1)).ravel(),
        "pitch_range": np.array([max(pitches) - min(pitches) if pitches else 0.0]),
        "average_interval": np.array([np.mean(np.abs(np.diff(pitches))) if len(pitches) > 1 else 0.0]),
        "inter_onset_interval": np.array([np.mean(np.diff(onsets)) if len(onsets) > 1 else 0.0]),
        "note_length_histogram": nlh / max(nlh.sum(), 1),
    }


def _feature_matrix(songs: Sequence[Sequence[str]], name: str) -> np.ndarray:
    return np.array([yang_lerch_features(s)[name] for s in songs])  # (songs, dims)


def _pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between rows of a (n, d) and b (m, d) -> (n, m)."""
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.maximum(sq, 0.0))


def kde(samples: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Gaussian kernel density of 1-D ``samples`` on ``grid`` (Silverman's bandwidth)."""
    samples = np.asarray(samples, dtype=np.float64)
    iqr = np.percentile(samples, 75) - np.percentile(samples, 25)
    spread = min(samples.std(), iqr / 1.34) or samples.std()
    width = 0.9 * (spread or 1.0) * samples.size ** -0.2
    density = np.zeros_like(grid)
    for chunk in np.array_split(samples, max(1, samples.size // 2048)):
        density += np.exp(-0.5 * ((grid[:, None] - chunk[None, :]) / width) ** 2).sum(1)
    step = grid[1] - grid[0]
    return density / (density.sum() * step)


def overlap_and_kl(intra: np.ndarray, inter: np.ndarray) -> tuple[float, float]:
    """Overlapping area and KL(intra || inter) of the two distance densities."""
    both = np.concatenate([intra, inter])
    pad = 0.1 * (both.max() - both.min()) or 1.0
    grid = np.linspace(both.min() - pad, both.max() + pad, KDE_POINTS)
    step = grid[1] - grid[0]
    f, g = kde(intra, grid), kde(inter, grid)
    overlap = float(np.minimum(f, g).sum() * step)
    f_, g_ = np.maximum(f, DENSITY_FLOOR), np.maximum(g, DENSITY_FLOOR)
    kl = float((f_ * np.log(f_ / g_)).sum() * step)
    return overlap, max(kl, 0.0)


def compare_sets(reference: Sequence[Sequence[str]], candidate: Sequence[Sequence[str]],
                 rng: np.random.Generator, max_distances: int = 20_000) -> dict[str, dict[str, float]]:
    """Yang & Lerch OA and KL of ``candidate`` against ``reference`` for each feature.

    Distance samples are subsampled to ``max_distances`` with ``rng`` (the densities are smooth; this keeps
    500 x 180 songs fast).
    """
    if len(reference) < 2 or not candidate:
        raise ValueError(f"need >= 2 reference songs and >= 1 candidate, got {len(reference)} and "
                         f"{len(candidate)}")
    out = {}
    for name in YL_FEATURES:
        ref, cand = _feature_matrix(reference, name), _feature_matrix(candidate, name)
        d_ref = _pairwise(ref, ref)
        intra = d_ref[np.triu_indices(len(ref), k=1)]
        inter = _pairwise(ref, cand).ravel()
        intra = intra if intra.size <= max_distances else rng.choice(intra, max_distances, replace=False)
        inter = inter if inter.size <= max_distances else rng.choice(inter, max_distances, replace=False)
        overlap, kl = overlap_and_kl(intra, inter)
        out[name] = {"oa": overlap, "kl": kl}
    return out


def passages(songs: Iterable[Sequence[str]], length: int) -> set[tuple[str, ...]]:
    """Every run of ``length`` consecutive events (``pitch:steps`` tokens) in the songs."""
    found: set[tuple[str, ...]] = set()
    for song in songs:
        events = song_events(song)
        found.update(tuple(events[i:i + length]) for i in range(len(events) - length + 1))
    return found


def copy_rate(songs: Sequence[Sequence[str]], known: set[tuple[str, ...]], length: int) -> float:
    """Share of songs holding at least one ``length``-event passage from ``known`` (see ``passages``)."""
    if not songs:
        return math.nan
    copied = 0
    for song in songs:
        events = song_events(song)
        copied += any(tuple(events[i:i + length]) in known for i in range(len(events) - length + 1))
    return copied / len(songs)
