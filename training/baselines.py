"""Classical baselines scored exactly like the LSTM: a predictive distribution before every token of a song.

* :class:`UnigramModel` — add-one smoothed symbol frequencies on the grid (context-free);
* :class:`NgramModel` — a grid-symbol n-gram with interpolated Witten-Bell smoothing (PPM escape method C),
  songs padded at the front with ``/`` as the LSTM sees them; the order is chosen on validation songs;
* :class:`IdyomModel` — an IDyOM-style variable-order model (Pearce 2005; Pearce & Wiggins 2004) over
  ``pitch:duration`` event tokens: a long-term PPM model fitted on the training songs combined with a
  short-term PPM model that learns from the song being predicted, by IDyOM's entropy-weighted mean.

Every model predicts each token of a song and then the end of the song (``/`` on the grid, :data:`END` for
events), so a song of n notes and rests costs the total bits of n + 1 predictions in every model and bits per
note event divide by the same ``count_events(symbols) + 1`` (see ``training.evaluate``).

The PPM machinery (escape methods, update exclusion, the LTM + STM combination) lives in ``engine/ppm.py``,
where the product mixes the same event model into the LSTM's predictions (``engine/mixture.py``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from antiphon.engine.events import DELIMITER, REST
from antiphon.engine.ppm import COMBINATIONS, END, OTHER, START, EventModel, PPMCounts, combine, song_events
from antiphon.engine.ppm_table import ESCAPES

__all__ = ["END", "OTHER", "START", "IdyomModel", "NgramModel", "PPMCounts", "UnigramModel", "combine",
           "count_events", "event_alphabet", "song_events", "tune_idyom"]


def count_events(symbols: Sequence[str]) -> int:
    """Notes plus rests of a grid song (the bits-per-event denominator is this + 1 for the end)."""
    return len(song_events(symbols))

class UnigramModel:
    """Add-one smoothed frequencies of grid symbols (the end ``/`` counted once per song)."""

    def __init__(self, songs: Iterable[Sequence[str]], alphabet: Sequence[str]):
        self.alphabet = list(alphabet)
        self.index = {s: i for i, s in enumerate(self.alphabet)}
        counts = np.ones(len(self.alphabet))
        for song in songs:
            for symbol in [*song, DELIMITER]:
                counts[self.index[symbol]] += 1
        self.probabilities = counts / counts.sum()

    def distributions(self, song: Sequence[str]) -> np.ndarray:
        """(len(song) + 1, A): the distribution before each symbol and before the end."""
        return np.tile(self.probabilities, (len(song) + 1, 1))


class NgramModel:
    """Grid n-gram (order = context length, n - 1) with interpolated Witten-Bell smoothing."""

    def __init__(self, songs: Iterable[Sequence[str]], alphabet: Sequence[str], max_order: int):
        self.alphabet = list(alphabet)
        self.index = {s: i for i, s in enumerate(self.alphabet)}
        self.max_order = max_order
        self.order = max_order
        self.counts = PPMCounts(len(self.alphabet), max_order).fit((self._indices(s) for s in songs),
                                                                   skip=max_order)

    def _indices(self, song: Sequence[str]) -> list[int]:
        # The front padding is context only: it is never predicted, as in the LSTM.
        return [self.index[s] for s in [DELIMITER] * self.max_order + list(song) + [DELIMITER]]

    def distributions(self, song: Sequence[str], order: int | None = None) -> np.ndarray:
        sequence = self._indices(song)
        order = self.order if order is None else order
        return np.array([self.counts.distribution(sequence[:t], order)
                         for t in range(self.max_order, len(sequence))])

    def choose_order(self, validation: Sequence[Sequence[str]]) -> dict[int, float]:
        """Set ``order`` to the one with the fewest validation bits; returns bits per symbol by order."""
        bits = np.zeros(self.max_order + 1)
        steps = 0
        for song in validation:
            sequence = self._indices(song)
            for t in range(self.max_order, len(sequence)):
                bits -= np.log2(self.counts.symbol_probabilities(sequence[:t], sequence[t]))
            steps += len(sequence) - self.max_order
        scores = {order: float(b / steps) for order, b in enumerate(bits)}
        self.order = min(scores, key=scores.get)
        return scores


class IdyomModel(EventModel):
    """Long-term PPM on training songs + short-term PPM on the song so far, over pitch:duration events."""

    def __init__(self, songs: Iterable[Sequence[str]], alphabet: Sequence[str], max_order: int = 4,
                 escape: str = "C", update_exclusion: bool = True, bias: float = 2.0,
                 combination: str = "geometric", short_term: bool = True):
        super().__init__(alphabet, (song_events(s) for s in songs), max_order, escape, update_exclusion, bias,
                         combination, short_term)
        self.pitch_of = np.array([_token_pitch(t) for t in self.alphabet])  # -1 rest, -2 end / other

    def encode_song(self, song: Sequence[str]) -> list[int]:
        """The alphabet indices a grid song's predictions target: each event, then the end."""
        return self.encode(song_events(song))[1:]

    def distributions(self, song: Sequence[str]) -> np.ndarray:
        """(events + 1, A) for a grid song: the distribution before each event and before the end."""
        sequence = self.encode(song_events(song))
        short = self.new_short_term()
        out = np.empty((len(sequence) - 1, len(self.alphabet)))
        for t in range(1, len(sequence)):
            history = sequence[:t]
            out[t - 1] = self.predict(history, short)
            short.update(history, sequence[t])
        return out

    def log2_probs(self, song: Sequence[str]) -> np.ndarray:
        """log2 probability of each event of a grid song and of its end, shape (events + 1,)."""
        sequence = self.encode_song(song)
        dists = self.distributions(song)
        return np.log2(dists[np.arange(len(sequence)), sequence])


def _token_pitch(token: str) -> int:
    head = token.split(":")[0]
    if head == REST:
        return -1
    return int(head) if head.isdigit() else -2


def event_alphabet(songs: Iterable[Sequence[str]], pitches: Iterable[str] = ()) -> list[str]:
    """Every event token of ``songs``, plus each pitch (and rest) with every duration seen (sorted)."""
    seen = {t for song in songs for t in song_events(song)}
    heads = {t.split(":")[0] for t in seen} | set(pitches) | {REST}
    steps = {int(t.split(":")[1]) for t in seen}
    tokens = {f"{h}:{d}" for h in heads for d in steps}
    return sorted(tokens, key=lambda t: (_token_pitch(t), int(t.split(":")[1])))


def tune_idyom(train: Sequence[Sequence[str]], validation: Sequence[Sequence[str]], alphabet: Sequence[str],
               orders: Sequence[int] = (4, 6, 8, 12), biases: Sequence[float] = (0.5, 1, 2, 4),
               ) -> tuple[IdyomModel, dict[str, float]]:
    """Choose order and escape (LTM + STM, arithmetic, bias 1), then the combination, on validation bits.

    Update exclusion is always on: it won every comparison on ``erk`` validation songs. Returns the tuned
    model and the validation bits per event of every trial.
    """
    def bits(model: IdyomModel) -> float:
        total = events = 0.0
        for song in validation:
            lp = model.log2_probs(song)
            total -= lp.sum()
            events += len(lp)
        return total / events

    trials: dict[str, float] = {}
    best, best_bits = None, math.inf
    for order in orders:
        for escape in ESCAPES:
            model = IdyomModel(train, alphabet, order, escape, True, bias=1.0, combination="arithmetic")
            score = bits(model)
            trials[f"order={order} escape={escape}"] = score
            if score < best_bits:
                best, best_bits = model, score
    assert best is not None
    chosen = (best.bias, best.combination)
    for combination in COMBINATIONS:
        for bias in biases:
            best.bias, best.combination = bias, combination
            score = bits(best)
            name = f"order={best.params['max_order']} escape={best.params['escape']}"
            trials[f"{name} {combination} bias={bias}"] = score
            if score < best_bits:
                chosen, best_bits = (bias, combination), score
    best.bias, best.combination = chosen
    return best, trials
