"""Predictors over one :class:`~engine.model.LstmModel`: ``stateful`` (carry the state) and ``window`` (the report's).

See ``engine/model.py`` for the modes; both return next-symbol probabilities one grid step at a time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from antiphon.engine.cache import CacheConfig, SongCache
from antiphon.engine.mixture import EventMixture

if TYPE_CHECKING:
    from antiphon.engine.model import LstmModel

STATEFUL = "stateful"
WINDOW = "window"


class Predictor:
    """Next-symbol probabilities from the symbols fed so far (see the module docstring for the modes)."""

    mode: str = ""

    def __init__(self, model: LstmModel):
        self.model = model
        self.vocab = model.vocab
        self._last: np.ndarray | None = None

    @property
    def last_probabilities(self) -> np.ndarray | None:
        """The probabilities returned by the latest ``feed``/``prime`` (``None`` after ``reset``)."""
        return self._last

    def reset(self) -> None:
        """Forget the history: zero LSTM state, empty window."""
        raise NotImplementedError

    def feed(self, index: int, position: int | None = None) -> np.ndarray:
        """Consume one symbol index; return next-symbol probabilities, shape (V,), float64, sum 1.

        ``position``: bar position of the step being predicted (models with position inputs; else ignored).
        """
        raise NotImplementedError

    def prime(self, indices: Iterable[int], positions: Iterable[int | None] | None = None) -> np.ndarray:
        """Feed many symbol indices (with the bar positions of the steps they predict); return the last output."""
        raise NotImplementedError

    def mark_own_output(self) -> None:
        """What is fed from now on is sampled from this predictor (not given): the event model's short-term
        memory stops learning from it. Feeding ``/`` or ``reset`` starts a song that is given again."""

    def _positions(self, positions: Iterable[int | None] | None, count: int) -> np.ndarray | None:
        if positions is None:
            return None
        out = np.array([self.model.position_index(p) for p in positions], dtype=np.intp)
        if out.size != count:
            raise ValueError(f"got {out.size} bar positions for {count} symbols")
        return out

    def clone(self) -> Predictor:
        """An independent copy of the current state (to compute ahead without disturbing this one)."""
        raise NotImplementedError

    def _check(self, index: int) -> int:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) \
                or not 0 <= index < len(self.vocab):
            raise ValueError(f"symbol index {index!r} is outside 0..{len(self.vocab) - 1}")
        return int(index)


class StatefulPredictor(Predictor):
    """Carries (h, c) of every layer forward: one cell step per symbol."""

    mode = STATEFUL

    def __init__(self, model: LstmModel, cache: CacheConfig | None = None, events: EventMixture | None = None):
        super().__init__(model)
        self.cache = None if cache is None else SongCache(cache, model.units, len(model.vocab))
        self.events = None if events is None else events.new_song()
        self.reset()

    @property
    def top_state(self) -> np.ndarray:
        """The top layer's output h (U,) after the symbols fed so far: what the softmax head and the song cache
        read. Each step makes a new array, so a reference kept stays as it was."""
        return self._h[-1]

    def reset(self) -> None:
        u = self.model.units
        self._h = [np.zeros(u, dtype=np.float32) for _ in self.model.layers]
        self._c = [np.zeros(u, dtype=np.float32) for _ in self.model.layers]
        self._last = None
        if self.cache is not None:
            self.cache.reset()
        if self.events is not None:
            self.events.reset()

    def mark_own_output(self) -> None:
        if self.events is not None:
            self.events.learning = False

    def _output(self) -> np.ndarray:
        probs = self.model.probabilities(self._h[-1])
        if self.cache is not None:
            probs = self.cache.mix(probs, self._h[-1])
        return probs if self.events is None else self.events.mix(probs)

    def _advance(self, index: int, position: int = -1) -> None:
        if self.cache is not None:
            # The state that predicted this symbol, and the symbol: one cache entry. A "/" ends the song.
            if index == self.model.delimiter:
                self.cache.reset()
            else:
                self.cache.add(self._h[-1], index)
        if self.events is not None:
            self.events.feed(index)
        layers = self.model.layers
        z = layers[0].table[index]
        if position >= 0:
            z = z + self.model.position_table[position]
        for k, layer in enumerate(layers):
            if k:
                z = self._h[k - 1] @ layer.kernel + layer.bias
            self._h[k], self._c[k] = layer.step(z, self._h[k], self._c[k])

    def feed(self, index: int, position: int | None = None) -> np.ndarray:
        self._advance(self._check(index), self.model.position_index(position))
        self._last = self._output()
        return self._last

    def prime(self, indices: Iterable[int], positions: Iterable[int | None] | None = None) -> np.ndarray:
        array = self.model.check_indices(indices)
        if array.size == 0:
            raise ValueError("prime needs at least one symbol")
        marks = self._positions(positions, array.size)
        for k, index in enumerate(array.tolist()):
            self._advance(index, -1 if marks is None else int(marks[k]))
        self._last = self._output()
        return self._last

    def clone(self) -> StatefulPredictor:
        other = StatefulPredictor.__new__(StatefulPredictor)
        Predictor.__init__(other, self.model)
        other.cache = None if self.cache is None else self.cache.copy()
        other.events = None if self.events is None else self.events.copy()
        other._h = [h.copy() for h in self._h]
        other._c = [c.copy() for c in self._c]
        other._last = None if self._last is None else self._last.copy()
        return other


class WindowPredictor(Predictor):
    """The report's generator: the last ``sequence_length`` symbols, run from a zero state every time."""

    mode = WINDOW

    def __init__(self, model: LstmModel):
        super().__init__(model)
        self._window: deque[int] = deque(maxlen=model.sequence_length)
        self._marks: deque[int] = deque(maxlen=model.sequence_length)  # bar positions, -1 unknown

    def reset(self) -> None:
        self._window.clear()
        self._marks.clear()
        self._last = None

    def feed(self, index: int, position: int | None = None) -> np.ndarray:
        self._window.append(self._check(index))
        self._marks.append(self.model.position_index(position))
        return self._predict()

    def prime(self, indices: Iterable[int], positions: Iterable[int | None] | None = None) -> np.ndarray:
        array = self.model.check_indices(indices)
        if array.size == 0:
            raise ValueError("prime needs at least one symbol")
        marks = self._positions(positions, array.size)
        length = self.model.sequence_length
        self._window.extend(array[-length:].tolist())
        self._marks.extend([-1] * min(array.size, length) if marks is None else marks[-length:].tolist())
        return self._predict()

    def _predict(self) -> np.ndarray:
        window = np.fromiter(self._window, dtype=np.intp, count=len(self._window))
        marks = None
        if self.model.position_features:
            marks = np.fromiter(self._marks, dtype=np.intp, count=len(self._marks))
        self._last = self.model.probabilities(self.model.run_window(window, marks))
        return self._last

    def clone(self) -> WindowPredictor:
        other = WindowPredictor(self.model)
        other._window.extend(self._window)
        other._marks.extend(self._marks)
        other._last = None if self._last is None else self._last.copy()
        return other
