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

PPM (:class:`PPMCounts`) interpolates from the longest context seen down to a uniform order -1 over the
alphabet: ``p_k(x) = alpha_k(x) + gamma_k * p_{k-1}(x)`` with, for a context of total count T holding t
distinct symbols (t1 of them once), escape method C: ``alpha = c(x) / (T + t)``, ``gamma = t / (T + t)``;
method AX: ``alpha = c(x) / (T + t1 + 1)``, ``gamma = (t1 + 1) / (T + t1 + 1)``. With update exclusion a
symbol's count is raised in the longest context and in shorter ones only while it was new there.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from engine.events import DELIMITER, HOLD, REST, is_pitch_symbol

END = "end"  # the end-of-song event token
START = "start"  # context only, never predicted: marks the beginning of a song
OTHER = "other"  # stands for any event token outside the alphabet (e.g. a runaway note in a generated melody)
ESCAPES = ("C", "AX")
COMBINATIONS = ("geometric", "arithmetic")


def song_events(symbols: Sequence[str]) -> list[str]:
    """Grid symbols -> event tokens ``"pitch:steps"`` / ``"r:steps"`` (one per note or rest onset).

    Consecutive rests stay separate events (as their ``r`` onsets on the grid); a leading ``_`` with no onset
    before it is a rest. Decoding stops at ``/``.
    """
    events: list[list] = []
    for symbol in symbols:
        if symbol == DELIMITER:
            break
        if symbol == HOLD:
            if events:
                events[-1][1] += 1
            else:
                events.append([REST, 1])
        elif symbol == REST or is_pitch_symbol(symbol):
            events.append([symbol, 1])
        else:
            raise ValueError(f"unknown grid symbol {symbol!r}")
    return [f"{head}:{steps}" for head, steps in events]


def count_events(symbols: Sequence[str]) -> int:
    """Notes plus rests of a grid song (the bits-per-event denominator is this + 1 for the end)."""
    return len(song_events(symbols))


class PPMCounts:
    """Context -> symbol counts for orders 0..max_order, with interpolated PPM prediction."""

    def __init__(self, alphabet_size: int, max_order: int, escape: str = "C", update_exclusion: bool = False):
        if alphabet_size <= 0:
            raise ValueError(f"alphabet_size must be positive, got {alphabet_size}")
        if max_order < 0:
            raise ValueError(f"max_order must be >= 0, got {max_order}")
        if escape not in ESCAPES:
            raise ValueError(f"escape must be one of {ESCAPES}, got {escape!r}")
        self.alphabet_size = alphabet_size
        self.max_order = max_order
        self.escape = escape
        self.update_exclusion = update_exclusion
        self.tables: dict[tuple[int, ...], dict[int, int]] = {}

    def update(self, history: Sequence[int], symbol: int) -> None:
        """Count ``symbol`` after the contexts ending ``history`` (longest first)."""
        top = min(self.max_order, len(history))
        for k in range(top, -1, -1):
            table = self.tables.setdefault(tuple(history[len(history) - k:]), {})
            seen = table.get(symbol, 0)
            table[symbol] = seen + 1
            if self.update_exclusion and seen:
                break

    def fit(self, sequences: Iterable[Sequence[int]], skip: int = 0) -> PPMCounts:
        """Count every symbol of each sequence after its first ``skip`` (context-only) symbols."""
        for sequence in sequences:
            for position in range(skip, len(sequence)):
                self.update(sequence[:position], sequence[position])
        return self

    def distribution(self, history: Sequence[int], max_order: int | None = None) -> np.ndarray:
        """Predictive distribution (alphabet_size,) after ``history``, using contexts up to ``max_order``."""
        p = np.full(self.alphabet_size, 1.0 / self.alphabet_size)
        top = min(self.max_order if max_order is None else min(max_order, self.max_order), len(history))
        n = len(history)
        for k in range(top + 1):
            table = self.tables.get(tuple(history[n - k:]))
            if not table:
                break  # a longer context than an unseen one is unseen too
            counts = np.fromiter(table.values(), dtype=np.float64, count=len(table))
            total = counts.sum()
            if self.escape == "C":
                escape = float(len(table))
            else:
                escape = float(np.count_nonzero(counts == 1) + 1)
            denom = total + escape
            p *= escape / denom
            p[np.fromiter(table.keys(), dtype=np.intp, count=len(table))] += counts / denom
        return p

    def symbol_probabilities(self, history: Sequence[int], symbol: int) -> np.ndarray:
        """``p(symbol)`` with contexts up to order k, for k = 0..max_order (shape (max_order + 1,))."""
        out = np.empty(self.max_order + 1)
        p = 1.0 / self.alphabet_size
        n = len(history)
        for k in range(self.max_order + 1):
            table = self.tables.get(tuple(history[n - k:])) if k <= n else None
            if table:
                total = sum(table.values())
                escape = len(table) if self.escape == "C" else sum(c == 1 for c in table.values()) + 1
                p = (table.get(symbol, 0) + escape * p) / (total + escape)
            out[k] = p
        return out


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


def entropy_bits(p: np.ndarray) -> float:
    nonzero = p[p > 0]
    return float(-(nonzero * np.log2(nonzero)).sum())


def combine(distributions: Sequence[np.ndarray], bias: float, method: str = "geometric") -> np.ndarray:
    """IDyOM's entropy-weighted mean: weight ``(H(p) / log2 A) ** -bias``; geometric or arithmetic."""
    if method not in COMBINATIONS:
        raise ValueError(f"combination must be one of {COMBINATIONS}, got {method!r}")
    h_max = math.log2(len(distributions[0]))
    weights = np.array([max(entropy_bits(p) / h_max, 1e-12) ** -bias for p in distributions])
    weights /= weights.sum()
    if method == "arithmetic":
        return sum(w * p for w, p in zip(weights, distributions, strict=True))
    log_p = sum(w * np.log2(p) for w, p in zip(weights, distributions, strict=True))
    q = np.exp2(log_p - log_p.max())
    return q / q.sum()


class IdyomModel:
    """Long-term PPM on training songs + short-term PPM on the song so far, over pitch:duration events."""

    def __init__(self, songs: Iterable[Sequence[str]], alphabet: Sequence[str], max_order: int = 4,
                 escape: str = "C", update_exclusion: bool = True, bias: float = 2.0,
                 combination: str = "geometric", short_term: bool = True):
        self.alphabet = list(dict.fromkeys([*alphabet, END, OTHER, START]))
        self.index = {s: i for i, s in enumerate(self.alphabet)}
        self.params = {"max_order": max_order, "escape": escape, "update_exclusion": update_exclusion}
        self.bias = bias
        self.combination = combination
        self.short_term = short_term
        self.long_term = PPMCounts(len(self.alphabet), **self.params).fit(
            (self.encode(song_events(s)) for s in songs), skip=1)
        self.pitch_of = np.array([_token_pitch(t) for t in self.alphabet])  # -1 rest, -2 end / other

    def encode(self, events: Sequence[str]) -> list[int]:
        """Start, event tokens and end -> alphabet indices; tokens outside the alphabet become OTHER."""
        other = self.index[OTHER]
        return [self.index[START]] + [self.index.get(t, other) for t in events] + [self.index[END]]

    def encode_song(self, song: Sequence[str]) -> list[int]:
        """The alphabet indices a grid song's predictions target: each event, then the end."""
        return self.encode(song_events(song))[1:]

    def distributions(self, song: Sequence[str]) -> np.ndarray:
        """(events + 1, A) for a grid song: the distribution before each event and before the end."""
        sequence = self.encode(song_events(song))
        short = PPMCounts(len(self.alphabet), **self.params)
        out = np.empty((len(sequence) - 1, len(self.alphabet)))
        for t in range(1, len(sequence)):
            history = sequence[:t]
            p = self.long_term.distribution(history)
            if self.short_term:
                p = combine([p, short.distribution(history)], self.bias, self.combination)
            out[t - 1] = p
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
