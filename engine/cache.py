"""A neural cache over the current song: the model's own short-term memory of what followed similar states.

Folk melodies repeat their phrases. After each symbol, the cache remembers the LSTM's top-layer state h_i
that predicted it and the symbol x_i itself. At a new step with state h it looks back over the song so far::

    p_cache(s) = sum_i [x_i = s] softmax_i(theta * h . h_i)
    p(s)       = (1 - lam) * p_model(s) + lam * p_cache(s)

so a state like one seen before votes for what came next then (Grave, Joulin & Usunier 2017, "Improving
neural language models with a continuous cache"). It is the LSTM's counterpart of IDyOM's short-term model.
``theta`` (sharpness) and ``lam`` (mixing weight) are tuned on validation songs and stored in the model's
config. The cache empties whenever a ``/`` is fed, so it holds only the current song.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_CAPACITY = 1024  # steps remembered: 64 bars of 16ths, twice the longest erk song


@dataclass(frozen=True)
class CacheConfig:
    """Mixing weight ``lam`` in [0, 1), sharpness ``theta`` >= 0 (per unit of h . h_i)."""

    lam: float
    theta: float
    capacity: int = DEFAULT_CAPACITY

    def __post_init__(self) -> None:
        if not 0.0 <= self.lam < 1.0:
            raise ValueError(f"cache lam must be in [0, 1), got {self.lam!r}")
        if not self.theta >= 0.0:
            raise ValueError(f"cache theta must be >= 0, got {self.theta!r}")
        if self.capacity <= 0:
            raise ValueError(f"cache capacity must be positive, got {self.capacity!r}")

    @classmethod
    def from_config(cls, config: dict | None) -> CacheConfig | None:
        """The ``cache`` object of a model config (``{"lam": ..., "theta": ...}``), or ``None``."""
        if not config:
            return None
        try:
            return cls(lam=float(config["lam"]), theta=float(config["theta"]))
        except (KeyError, TypeError) as err:
            raise ValueError(f"model config 'cache' must hold numbers 'lam' and 'theta', got {config!r}") from err

    def as_config(self) -> dict[str, float]:
        """The ``cache`` object of a model config (the capacity is the engine's, not the model's)."""
        return {"lam": self.lam, "theta": self.theta}


class SongCache:
    """Stored (state, next symbol) pairs of the current song and the mixture they give."""

    def __init__(self, config: CacheConfig, units: int, vocab_size: int):
        self.config = config
        self.vocab_size = vocab_size
        self._states = np.zeros((config.capacity, units), dtype=np.float32)  # (capacity, U)
        self._symbols = np.zeros(config.capacity, dtype=np.intp)
        self._count = 0

    def __len__(self) -> int:
        return min(self._count, self.config.capacity)

    def reset(self) -> None:
        self._count = 0

    def add(self, state: np.ndarray, symbol: int) -> None:
        """Remember that ``state`` (U,) was followed by ``symbol``; the oldest entry goes when full."""
        slot = self._count % self.config.capacity
        self._states[slot] = state
        self._symbols[slot] = symbol
        self._count += 1

    def mix(self, probs: np.ndarray, state: np.ndarray) -> np.ndarray:
        """The model's probabilities (V,) mixed with the cache's vote at ``state`` (U,); sums to 1."""
        if len(self) == 0 or self.config.lam == 0.0:
            return probs
        lam = self.config.lam
        return (1.0 - lam) * probs + lam * self._vote(self._dots(state), self.config.theta)

    def votes(self, state: np.ndarray, thetas: Sequence[float]) -> np.ndarray:
        """The cache's distributions (len(thetas), V) at ``state`` (U,), one per sharpness; the cache must hold
        an entry. :meth:`mix` uses exactly this vote, so the tuner (``training/cache_tune.py``) scores what runs."""
        if len(self) == 0:
            raise ValueError("an empty song cache has no vote")
        dots = self._dots(state)
        return np.array([self._vote(dots, theta) for theta in thetas])

    def _dots(self, state: np.ndarray) -> np.ndarray:
        """h . h_i (n,) for every stored state, in float64."""
        return (self._states[:len(self)] @ state).astype(np.float64)

    def _vote(self, dots: np.ndarray, theta: float) -> np.ndarray:
        """softmax_i(theta * h . h_i) summed per stored symbol: a distribution (V,)."""
        scores = dots * theta
        scores -= scores.max()
        weights = np.exp(scores)
        return np.bincount(self._symbols[:dots.size], weights=weights, minlength=self.vocab_size) / weights.sum()

    def copy(self) -> SongCache:
        other = SongCache.__new__(SongCache)
        other.config = self.config
        other.vocab_size = self.vocab_size
        other._states = np.zeros_like(self._states)
        other._symbols = np.zeros_like(self._symbols)
        n = len(self)
        other._states[:n] = self._states[:n]
        other._symbols[:n] = self._symbols[:n]
        other._count = self._count
        return other
