"""A long-term PPM model counted at once from whole songs into numpy arrays, read-only after.

:class:`PPMTable` predicts exactly as :class:`~antiphon.engine.ppm.PPMCounts` fitted on the same songs (the same
counts, the same arithmetic), but counts with a few sorts instead of one Python dict update per context and
event, and holds its counts in arrays rather than a dict per context. A style's event model of order 12 over
500,000 events has ~1.4 million contexts: ~1.5 s and several hundred MB as dicts, a fraction of either here,
which is what lets ``antiphon serve`` load every style and still be ready within 2 s.

Contexts are numbered order by order. The context of order k before an event is its context of order k - 1
(the k - 1 latest events) extended by one older event x; its key is ``rank(order k - 1) * A + x``, and its rank
is its place among the sorted keys of order k. Update exclusion (``PPMCounts.update``) raises a count in a
shorter context only while the symbol is new in the longer one, so that count is the number of distinct
longer contexts the symbol followed, plus the events whose whole history was that context (a song's start):
counting depends on no order of the songs, and each order is counted from the one above it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

ESCAPES = ("C", "AX")  # PPM's escape methods (engine/ppm.py describes them)


def check_ppm(alphabet_size: int, max_order: int, escape: str) -> None:
    """Raise ``ValueError`` on PPM settings no model can take (both PPM classes check with this)."""
    if alphabet_size <= 0:
        raise ValueError(f"alphabet_size must be positive, got {alphabet_size}")
    if max_order < 0:
        raise ValueError(f"max_order must be >= 0, got {max_order}")
    if escape not in ESCAPES:
        raise ValueError(f"escape must be one of {ESCAPES}, got {escape!r}")


class PPMTable:
    """Read-only PPM over ``alphabet_size`` symbols with contexts of up to ``max_order``; see :meth:`fit`."""

    def __init__(self, alphabet_size: int, max_order: int, escape: str = "C", update_exclusion: bool = False):
        check_ppm(alphabet_size, max_order, escape)
        self.alphabet_size = alphabet_size
        self.max_order = max_order
        self.escape = escape
        self.update_exclusion = update_exclusion
        empty = np.zeros(0, dtype=np.int64)
        # Per order k: the sorted keys of its contexts (unused at order 0, whose one context is ()), where each
        # context's symbols start in ``symbols``/``counts`` (CSR), and each context's escape weight and PPM
        # denominator (total count + escape weight).
        self.keys = [empty] * (max_order + 1)
        self.starts = [np.zeros(1, dtype=np.int64)] * (max_order + 1)
        self.symbols = [np.zeros(0, dtype=np.int32)] * (max_order + 1)
        self.counts = [np.zeros(0, dtype=np.int32)] * (max_order + 1)
        self.escapes = [np.zeros(0)] * (max_order + 1)
        self.denominators = [np.zeros(0)] * (max_order + 1)

    def fit(self, sequences: Iterable[Sequence[int]], skip: int = 0) -> PPMTable:
        """Count every symbol of each sequence after its first ``skip`` (context-only) symbols, as
        ``PPMCounts.fit`` does; replaces any earlier counts."""
        a, top_order = self.alphabet_size, self.max_order
        arrays = [np.asarray(s, dtype=np.int64) for s in sequences]
        flat = np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int64)
        if flat.size and (flat.min() < 0 or flat.max() >= a):
            raise ValueError(f"symbols must lie in [0, {a})")
        lengths = np.array([len(s) for s in arrays], dtype=np.int64)
        where = np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths)  # place in its song
        counted = np.flatnonzero(where >= skip)
        place, target = where[counted], flat[counted]
        top = np.minimum(place, top_order)  # the longest context before each counted symbol
        # Context ranks order by order, over the counted symbols whose history is that long (-1 elsewhere).
        ranks = [np.zeros(len(counted), dtype=np.int64)]
        keys: list[np.ndarray] = [np.zeros(1, dtype=np.int64)]
        for k in range(1, top_order + 1):
            have = np.flatnonzero(place >= k)
            found, rank = np.unique(ranks[k - 1][have] * a + flat[counted[have] - k], return_inverse=True)
            ranks.append(np.full(len(counted), -1, dtype=np.int64))
            ranks[k][have] = rank
            keys.append(found)
        # (context rank * A + symbol, count) per order, from the longest order down.
        pairs: list[tuple[np.ndarray, np.ndarray]] = [(np.zeros(0, dtype=np.int64),) * 2] * (top_order + 1)
        for k in range(top_order, -1, -1):
            own = (top == k) if self.update_exclusion else (place >= k)
            new = [ranks[k][own] * a + target[own]]
            weights = [np.ones(len(new[0]), dtype=np.int64)]
            if self.update_exclusion and k < top_order:
                above = pairs[k + 1][0]  # each distinct (longer context, symbol) counts once in the shorter one
                new.append(keys[k + 1][above // a] // a * a + above % a)
                weights.append(np.ones(len(above), dtype=np.int64))
            found, index = np.unique(np.concatenate(new), return_inverse=True)
            pairs[k] = (found, np.bincount(index, weights=np.concatenate(weights)).astype(np.int64))
        self._store(pairs, keys)
        return self

    def _store(self, pairs: list[tuple[np.ndarray, np.ndarray]], keys: list[np.ndarray]) -> None:
        """Keep the contexts that hold counts, renumbered in key order (a longer context with counts always
        has its shorter one: its first count was counted there too)."""
        a = self.alphabet_size
        kept_below = np.zeros(1, dtype=np.int64)
        for k, (found, counts) in enumerate(pairs):
            context = found // a
            kept, first = np.unique(context, return_index=True)
            if k:
                parents = keys[k][kept] // a
                renumbered = np.searchsorted(kept_below, parents)
                if len(parents) and not np.array_equal(kept_below[np.minimum(renumbered, len(kept_below) - 1)],
                                                       parents):
                    raise AssertionError(f"order {k} holds a context whose shorter one holds no count")
                self.keys[k] = renumbered * a + keys[k][kept] % a
            kept_below = kept
            self.starts[k] = np.append(first, len(found)).astype(np.int64)
            self.symbols[k] = (found % a).astype(np.int32)
            self.counts[k] = counts.astype(np.int32)
            totals = np.add.reduceat(counts, first).astype(np.float64) if len(found) else np.zeros(0)
            if self.escape == "C":
                escapes = np.diff(self.starts[k]).astype(np.float64)
            else:
                singles = (counts == 1).astype(np.int64)
                escapes = (np.add.reduceat(singles, first) + 1).astype(np.float64) if len(found) else np.zeros(0)
            self.escapes[k] = escapes
            self.denominators[k] = totals + escapes

    def distribution(self, history: Sequence[int], max_order: int | None = None) -> np.ndarray:
        """Predictive distribution (alphabet_size,) after ``history``, using contexts up to ``max_order``."""
        a = self.alphabet_size
        p = np.full(a, 1.0 / a)
        n = len(history)
        top = min(self.max_order if max_order is None else min(max_order, self.max_order), n)
        context = 0
        for k in range(top + 1):
            if k == 0:
                if not len(self.escapes[0]):
                    break
            else:
                key = context * a + int(history[n - k])
                keys = self.keys[k]
                context = int(keys.searchsorted(key))
                if context == len(keys) or keys[context] != key:
                    break  # a longer context than an unseen one is unseen too
            lo, hi = self.starts[k][context], self.starts[k][context + 1]
            denominator = self.denominators[k][context]
            p *= self.escapes[k][context] / denominator
            p[self.symbols[k][lo:hi]] += self.counts[k][lo:hi].astype(np.float64) / denominator
        return p
