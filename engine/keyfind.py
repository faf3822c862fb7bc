"""Key finding and transposition into the model's key (C major / A minor), in numpy.

``estimate_key`` is the Krumhansl-Schmuckler key finder with the Krumhansl-Kessler probe-tone profiles: a
duration-weighted pitch-class histogram is correlated (Pearson) with the major and minor profile rotated to
each of the 12 tonics, and the best of the 24 keys wins (ties: the lower tonic, major before minor).
``transposition_to_model_key`` then gives the shift in -5..+6 semitones that takes that key to C major or
A minor, the keys the model was trained in; ``fold_into_vocab`` moves pitches the model never saw by
octaves into its range.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from antiphon.engine.events import OCTAVE, Note, is_pitch_symbol
from antiphon.engine.melody import encode_notes, transpose_symbols
from antiphon.engine.vocab import Vocab

MAJOR = "major"
MINOR = "minor"
PITCH_CLASSES = 12
PITCH_CLASS_NAMES = ("C", "C#", "D", "E-", "E", "F", "F#", "G", "A-", "A", "B-", "B")

# Krumhansl & Kessler (1982) probe-tone ratings, tonic first.
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])

MODEL_TONIC = {MAJOR: 0, MINOR: 9}  # C major, A minor
SHIFT_MIN, SHIFT_MAX = -5, 6


def _profiles() -> np.ndarray:
    """(24, 12): rows 0..11 major on tonic 0..11, rows 12..23 minor."""
    rows = [np.roll(KK_MAJOR, tonic) for tonic in range(PITCH_CLASSES)]
    rows += [np.roll(KK_MINOR, tonic) for tonic in range(PITCH_CLASSES)]
    return np.array(rows)


_PROFILES = _profiles()


def key_correlations(pitches_with_durations: Iterable[tuple[int, float]]) -> np.ndarray:
    """Pearson correlation of the duration-weighted pitch-class histogram with each key, shape (24,)."""
    histogram = np.zeros(PITCH_CLASSES)
    for pitch, duration in pitches_with_durations:
        if duration < 0:
            raise ValueError(f"duration must be >= 0, got {duration} for pitch {pitch}")
        histogram[int(pitch) % PITCH_CLASSES] += float(duration)
    if not histogram.any() or np.all(histogram == histogram[0]):
        raise ValueError("cannot estimate a key: no notes, or every pitch class equally weighted")
    h = histogram - histogram.mean()
    p = _PROFILES - _PROFILES.mean(axis=1, keepdims=True)
    return (p @ h) / (np.linalg.norm(p, axis=1) * np.linalg.norm(h))


def estimate_key(pitches_with_durations: Iterable[tuple[int, float]]) -> tuple[int, str]:
    """(tonic pitch class 0..11, ``"major"`` or ``"minor"``) of notes given as (MIDI pitch, duration)."""
    best = int(np.argmax(key_correlations(pitches_with_durations)))
    return best % PITCH_CLASSES, (MAJOR if best < PITCH_CLASSES else MINOR)


def key_name(tonic_pc: int, mode: str) -> str:
    """Readable key name, e.g. ``"E- major"``."""
    return f"{PITCH_CLASS_NAMES[tonic_pc % PITCH_CLASSES]} {mode}"


def transposition_to_model_key(tonic_pc: int, mode: str) -> int:
    """Semitones in -5..+6 that move ``tonic_pc`` ``mode`` to C major (major) or A minor (minor)."""
    if mode not in MODEL_TONIC:
        raise ValueError(f"mode must be {MAJOR!r} or {MINOR!r}, got {mode!r}")
    if isinstance(tonic_pc, bool) or not isinstance(tonic_pc, (int, np.integer)) or not 0 <= tonic_pc < 12:
        raise ValueError(f"tonic pitch class must be an integer 0..11, got {tonic_pc!r}")
    shift = (MODEL_TONIC[mode] - int(tonic_pc)) % PITCH_CLASSES
    return shift - PITCH_CLASSES if shift > SHIFT_MAX else shift


def fold_into_vocab(symbols: Sequence[str], vocab: Vocab) -> list[str]:
    """Pitch symbols the vocabulary lacks moved by whole octaves to the nearest pitch it holds.

    A pitch that no octave shift brings into the vocabulary raises ``ValueError`` naming it.
    """
    out = []
    for symbol in symbols:
        if is_pitch_symbol(symbol) and symbol not in vocab:
            pitch = int(symbol)
            candidates = [p for p in range(pitch % OCTAVE, 128, OCTAVE) if str(p) in vocab]
            if not candidates:
                raise ValueError(f"pitch {symbol}: no octave of its pitch class is in the model's vocabulary")
            symbol = str(min(candidates, key=lambda p: abs(p - pitch)))
        out.append(symbol)
    return out


def notes_to_model_key(notes: Sequence[Note], vocab: Vocab) -> tuple[list[str], int, tuple[int, str]]:
    """Encode a call or seed in the model's key: (symbols, semitones applied, (tonic_pc, mode) found).

    The key is estimated from the notes' pitches weighted by their lengths; the symbols are shifted by
    ``transposition_to_model_key`` and folded by octaves into the vocabulary. Shift the model's answer by
    ``-semitones`` to bring it back into the player's key.
    """
    pitched = [(n.pitch, n.length_steps) for n in notes if n.pitch is not None]
    if not pitched:
        raise ValueError("cannot estimate the key of a phrase without notes")
    key = estimate_key(pitched)
    semitones = transposition_to_model_key(*key)
    symbols = fold_into_vocab(transpose_symbols(encode_notes(notes), semitones), vocab)
    return symbols, semitones, key
