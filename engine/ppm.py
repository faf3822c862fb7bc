"""An IDyOM-style event model: variable-order PPM over ``pitch:steps`` event tokens (Pearce 2005).

A melody is a string of events: each note or rest with its length in grid steps (``"67:4"``, ``"r:2"``), then
:data:`END`. A long-term model (LTM) counts the events of the training songs after every context of up to
``max_order`` events; a short-term model (STM) counts the song being predicted as it goes. Each predicts the
next event by PPM, and the two are combined by IDyOM's entropy-weighted mean (:func:`combine`).

PPM (:class:`PPMCounts`) interpolates from the longest context seen down to a uniform order -1 over the
alphabet: ``p_k(x) = alpha_k(x) + gamma_k * p_{k-1}(x)`` with, for a context of total count T holding t
distinct symbols (t1 of them once), escape method C: ``alpha = c(x) / (T + t)``, ``gamma = t / (T + t)``;
method AX: ``alpha = c(x) / (T + t1 + 1)``, ``gamma = (t1 + 1) / (T + t1 + 1)``. With update exclusion a
symbol's count is raised in the longest context and in shorter ones only while it was new there.

The long-term model is counted into arrays at once (``engine/ppm_table.py``, the same predictions); the
short-term one here, one event at a time as the song goes.

``engine/mixture.py`` turns the event model's predictions into grid-step predictions and mixes them with the
LSTM's; ``training/baselines.py`` scores it as a baseline on its own.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from antiphon.engine.events import DELIMITER, HOLD, REST, is_pitch_symbol
from antiphon.engine.ppm_table import PPMTable, check_ppm

END = "end"  # the end-of-song event token
START = "start"  # context only, never predicted: marks the beginning of a song
OTHER = "other"  # stands for any event token outside the alphabet (e.g. a runaway note in a generated melody)
COMBINATIONS = ("geometric", "arithmetic")


def event_token(head: str, steps: int) -> str:
    """``"67:4"``: a note (or ``r`` rest) ``head`` lasting ``steps`` grid steps."""
    return f"{head}:{steps}"


def token_parts(token: str) -> tuple[str, int]:
    """``"67:4"`` -> ``("67", 4)``; the special tokens give ``(token, 0)``."""
    head, _, steps = token.partition(":")
    return (head, int(steps)) if steps.isdigit() else (token, 0)


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
    return [event_token(head, steps) for head, steps in events]


class PPMCounts:
    """Context -> symbol counts for orders 0..max_order, with interpolated PPM prediction."""

    def __init__(self, alphabet_size: int, max_order: int, escape: str = "C", update_exclusion: bool = False):
        check_ppm(alphabet_size, max_order, escape)
        self.alphabet_size = alphabet_size
        self.max_order = max_order
        self.escape = escape
        self.update_exclusion = update_exclusion
        self.tables: dict[tuple[int, ...], dict[int, int]] = {}

    def update(self, history: Sequence[int], symbol: int) -> list[tuple[tuple[int, ...], int]]:
        """Count ``symbol`` after the contexts ending ``history`` (longest first).

        Returns what changed, ``(context, count before)`` pairs, for :meth:`undo`.
        """
        changed = []
        top = min(self.max_order, len(history))
        for k in range(top, -1, -1):
            context = tuple(history[len(history) - k:])
            table = self.tables.setdefault(context, {})
            seen = table.get(symbol, 0)
            table[symbol] = seen + 1
            changed.append((context, seen))
            if self.update_exclusion and seen:
                break
        return changed

    def undo(self, symbol: int, changed: Sequence[tuple[tuple[int, ...], int]]) -> None:
        """Take back an :meth:`update` of ``symbol`` (the latest one)."""
        for context, seen in changed:
            table = self.tables[context]
            if seen:
                table[symbol] = seen
            else:
                del table[symbol]
                if not table:
                    del self.tables[context]

    def fit(self, sequences: Iterable[Sequence[int]], skip: int = 0) -> PPMCounts:
        """Count every symbol of each sequence after its first ``skip`` (context-only) symbols."""
        for sequence in sequences:
            for position in range(skip, len(sequence)):
                self.update(sequence[:position], sequence[position])
        return self

    def copy(self) -> PPMCounts:
        other = PPMCounts(self.alphabet_size, self.max_order, self.escape, self.update_exclusion)
        other.tables = {context: dict(table) for context, table in self.tables.items()}
        return other

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


class EventModel:
    """Long-term PPM fitted on songs of event tokens + a short-term PPM per song, combined by :func:`combine`.

    ``alphabet``: the event tokens (``"pitch:steps"``, ``"r:steps"``); :data:`END`, :data:`OTHER` and
    :data:`START` are added. ``songs``: training songs as lists of event tokens (without start or end).
    """

    def __init__(self, alphabet: Sequence[str], songs: Iterable[Sequence[str]], max_order: int = 4,
                 escape: str = "C", update_exclusion: bool = True, bias: float = 2.0,
                 combination: str = "geometric", short_term: bool = True):
        if combination not in COMBINATIONS:
            raise ValueError(f"combination must be one of {COMBINATIONS}, got {combination!r}")
        self.alphabet = list(dict.fromkeys([*alphabet, END, OTHER, START]))
        self.index = {s: i for i, s in enumerate(self.alphabet)}
        self.params = {"max_order": max_order, "escape": escape, "update_exclusion": update_exclusion}
        self.bias = bias
        self.combination = combination
        self.short_term = short_term
        self.long_term = PPMTable(len(self.alphabet), **self.params).fit((self.encode(s) for s in songs), skip=1)

    def encode(self, events: Sequence[str]) -> list[int]:
        """Start, event tokens and end -> alphabet indices; tokens outside the alphabet become OTHER."""
        other = self.index[OTHER]
        return [self.index[START]] + [self.index.get(t, other) for t in events] + [self.index[END]]

    def token_index(self, token: str) -> int:
        return self.index.get(token, self.index[OTHER])

    def new_short_term(self) -> PPMCounts:
        return PPMCounts(len(self.alphabet), **self.params)

    def predict(self, history: Sequence[int], short: PPMCounts | None) -> np.ndarray:
        """The next event's distribution (A,) after ``history`` (indices from START on), LTM + ``short``."""
        p = self.long_term.distribution(history)
        if self.short_term and short is not None:
            p = combine([p, short.distribution(history)], self.bias, self.combination)
        return p
