"""The event model (``engine/ppm.py``) mixed into the LSTM's grid-step predictions.

The LSTM predicts grid symbols; the event model predicts whole events (``"67:4"``). At each grid step the
event model still says two things about the step being predicted:

* **hold**: the current event (head ``67``, ``d`` steps so far) goes on, with probability
  ``P(steps > d | head) / P(steps >= d | head)`` under the event model's prediction made when it started;
* **heads**: if an event starts here (the current one ending after ``d`` steps), which one: its next-event
  distribution summed over lengths, per onset symbol (a pitch or ``r``).

Both are mixed with the LSTM's own hold probability and its onset distribution by weighted geometric means
(``hold_weight`` and ``pitch_weight`` on the event model's side); whether the song ends at an onset is left to
the LSTM, which knows where the bar lines are (the event model's end, mixed in, made sampled songs run on)::

    p(_) = mix(p_lstm(_), p_event(hold))          p(/) = (1 - p(_)) p_lstm(/ | onset)
    p(s) = (1 - p(_)) (1 - p_lstm(/ | onset)) mix(p_lstm(s | onset, no end), p_event(s | no end))

The weights are tuned on validation songs (``training/event_tune.py``) and kept in the model's config under
``event_model``; the long-term model's songs are kept in ``events.json`` (:func:`check_events`) and counted
when the model loads (a quarter of a second for the bundled model). The short-term model learns from the song
fed so far and empties at ``/`` like the neural cache; once a predictor is told that what follows is its own
output (``Predictor.mark_own_output``, after the seed or the player's call), it stops learning: sampled
melodies that taught themselves fell into loops of repeated notes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from antiphon.engine.events import DELIMITER, HOLD, REST, is_pitch_symbol
from antiphon.engine.ppm import COMBINATIONS, END, START, EventModel, PPMCounts, event_token, token_parts
from antiphon.engine.ppm_table import ESCAPES
from antiphon.engine.vocab import Vocab

EVENTS_FILE = "events.json"
TINY = 1e-300
HOLD_CLIP = 1e-6  # the event model's hold probability is kept inside [HOLD_CLIP, 1 - HOLD_CLIP]


@dataclass(frozen=True)
class MixConfig:
    """The event model's settings and its weights in the mixture (config ``event_model``)."""

    pitch_weight: float
    hold_weight: float
    max_order: int = 8
    escape: str = "AX"
    update_exclusion: bool = True
    bias: float = 2.0
    combination: str = "arithmetic"

    def __post_init__(self) -> None:
        for name in ("pitch_weight", "hold_weight"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"event_model.{name} must be in [0, 1], got {value!r}")
        if not 0 <= self.max_order <= 64:
            raise ValueError(f"event_model.max_order must be 0..64, got {self.max_order!r}")
        if self.escape not in ESCAPES or self.combination not in COMBINATIONS:
            raise ValueError(f"event_model: escape must be one of {ESCAPES} and combination one of "
                             f"{COMBINATIONS}, got {self.escape!r} / {self.combination!r}")

    @classmethod
    def from_config(cls, config: Any) -> MixConfig | None:
        """The ``event_model`` object of a model config, or ``None`` when absent."""
        if config is None:
            return None
        if not isinstance(config, dict):
            raise ValueError(f"model config 'event_model' must be an object, got {config!r}")
        unknown = sorted(set(config) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"model config 'event_model' has unknown keys {unknown}")
        try:
            return cls(**config)
        except TypeError as err:
            raise ValueError(f"model config 'event_model' is incomplete or mistyped: {err}") from err

    def as_config(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def check_events(data: Any, vocab: Vocab, where: str) -> tuple[list[str], list[list[int]]]:
    """Validate ``events.json`` (``{"alphabet": [tokens], "songs": [[token index, ...], ...]}``)."""
    if not isinstance(data, dict) or not isinstance(data.get("alphabet"), list) \
            or not isinstance(data.get("songs"), list):
        raise ValueError(f"{where}: expected an object with lists 'alphabet' and 'songs'")
    alphabet = data["alphabet"]
    for token in alphabet:
        head, steps = token_parts(token) if isinstance(token, str) else ("", 0)
        if steps <= 0 or not (head == REST or (is_pitch_symbol(head) and head in vocab)):
            raise ValueError(f"{where}: bad event token {token!r} (expected 'pitch:steps' or 'r:steps' with a "
                             "pitch of the vocabulary)")
    songs = data["songs"]
    for song in songs:
        if not isinstance(song, list) or not all(
                isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(alphabet) for i in song):
            raise ValueError(f"{where}: every song must be a list of token indices 0..{len(alphabet) - 1}")
    return alphabet, songs


def mix(probs: np.ndarray, heads: np.ndarray, hold: np.ndarray | float, hold_index: int, end_index: int,
        pitch_weight: float, hold_weight: float) -> np.ndarray:
    """The mixture of the module docstring over any leading axes.

    ``probs`` (..., V): the LSTM; ``heads`` (..., V): the event model's onset distribution (``_`` and ``/``
    are ignored); ``hold`` (...): its hold probability, NaN where it has none (the LSTM's is kept).
    """
    probs = np.asarray(probs, dtype=np.float64)
    p_hold = probs[..., hold_index]
    p_end = probs[..., end_index] / np.maximum(1.0 - p_hold, TINY)  # the LSTM's P(/ | an onset)
    others = np.ones(probs.shape[-1], dtype=bool)
    others[[hold_index, end_index]] = False
    log_q = (1.0 - pitch_weight) * np.log(np.maximum(probs[..., others], TINY)) \
        + pitch_weight * np.log(np.maximum(np.asarray(heads)[..., others], TINY))
    q = np.exp(log_q - log_q.max(axis=-1, keepdims=True))
    q /= q.sum(axis=-1, keepdims=True)
    hold = np.asarray(hold, dtype=np.float64)
    known = ~np.isnan(hold)
    h_event = np.clip(np.where(known, hold, 0.5), HOLD_CLIP, 1.0 - HOLD_CLIP)
    log_h = (1.0 - hold_weight) * np.log(np.clip(p_hold, TINY, 1.0)) + hold_weight * np.log(h_event)
    log_o = (1.0 - hold_weight) * np.log(np.clip(1.0 - p_hold, TINY, 1.0)) + hold_weight * np.log(1.0 - h_event)
    new_hold = np.where(known, 1.0 / (1.0 + np.exp(log_o - log_h)), p_hold)
    out = np.empty(probs.shape)
    onset = 1.0 - new_hold
    out[..., others] = q * (onset * (1.0 - p_end))[..., None]
    out[..., end_index] = onset * p_end
    out[..., hold_index] = new_hold
    return out


class EventMixture:
    """An event model bound to a vocabulary: the shared, read-only half of the mixture."""

    def __init__(self, model: EventModel, vocab: Vocab, config: MixConfig):
        self.model = model
        self.vocab = vocab
        self.config = config
        self.hold_index = vocab.index(HOLD)
        self.delimiter = vocab.index(DELIMITER)
        self.rest = vocab.index(REST)
        head_of, steps_of = [], []
        for token in model.alphabet:
            head, steps = token_parts(token)
            symbol = DELIMITER if token == END else head
            head_of.append(vocab.index(symbol) if symbol in vocab else -1)
            steps_of.append(steps)
        self.head_of = np.array(head_of, dtype=np.intp)  # (A,) vocab index of each token's onset symbol, -1
        self.steps_of = np.array(steps_of, dtype=np.intp)  # (A,) its length in steps (0 for END etc.)
        self._heads_mask = self.head_of >= 0

    @classmethod
    def build(cls, alphabet: list[str], songs: list[list[int]], vocab: Vocab, config: MixConfig) -> EventMixture:
        """Count the long-term model from ``events.json``'s songs (token indices into ``alphabet``)."""
        model = EventModel(alphabet, ([alphabet[i] for i in song] for song in songs), config.max_order,
                           config.escape, config.update_exclusion, config.bias, config.combination)
        return cls(model, vocab, config)

    def heads(self, distribution: np.ndarray) -> np.ndarray:
        """Next-event distribution (A,) -> probability of each onset symbol (V,), 0 at ``_``."""
        mask = self._heads_mask
        out = np.bincount(self.head_of[mask], weights=distribution[mask], minlength=len(self.vocab))
        return out / out.sum()

    def hold(self, distribution: np.ndarray, head: int, steps: int) -> float:
        """P(the event ``head`` goes on past ``steps``) under the distribution made when it started; NaN if none."""
        same = self.head_of == head
        at_least = float(distribution[same & (self.steps_of >= steps)].sum())
        if at_least <= 0.0:
            return float("nan")
        return float(distribution[same & (self.steps_of > steps)].sum()) / at_least

    def new_song(self) -> SongEvents:
        return SongEvents(self)


class SongEvents:
    """The song fed so far, as events: the short-term model, the finished events and the current one."""

    def __init__(self, mixture: EventMixture):
        self.mixture = mixture
        self.reset()

    def reset(self) -> None:
        model = self.mixture.model
        self.short: PPMCounts = model.new_short_term()
        self.history: list[int] = [model.index[START]]  # START and the finished events' tokens
        self.head: int | None = None  # vocab index of the current event's onset symbol
        self.steps = 0
        self._started: np.ndarray | None = None  # the prediction the current event started from
        self._next: np.ndarray | None = None  # the prediction for an event starting at the next step
        self.learning = True  # False: the symbols fed are the model's own; the short-term model ignores them

    def _current_token(self) -> int:
        return self.mixture.model.token_index(event_token(self.mixture.vocab.symbols[self.head], self.steps))

    def feed(self, index: int) -> None:
        """One grid symbol (vocab index)."""
        mixture = self.mixture
        if index == mixture.delimiter:
            self.reset()
            return
        if index == mixture.hold_index and self.head is not None:
            self.steps += 1
        else:
            if self.head is not None:  # the current event ends: the short-term model learns it
                token = self._current_token()
                if self.learning:
                    self.short.update(self.history, token)
                self.history.append(token)
            self.head = mixture.rest if index == mixture.hold_index else index  # a leading "_" is a rest
            self.steps = 1
            self._started = self._next
        self._next = None

    def _predict_next(self) -> np.ndarray:
        if self._next is None:
            model = self.mixture.model
            if self.head is None:
                self._next = model.predict(self.history, self.short)
            elif not self.learning:
                self._next = model.predict(self.history + [self._current_token()], self.short)
            else:  # as if the current event ended here: learn it for a moment, predict, take it back
                token = self._current_token()
                changed = self.short.update(self.history, token)
                self._next = model.predict(self.history + [token], self.short)
                self.short.undo(token, changed)
        return self._next

    def components(self) -> tuple[np.ndarray, float]:
        """The event model's onset distribution (V,) and hold probability (NaN if none) for the next step."""
        mixture = self.mixture
        heads = mixture.heads(self._predict_next())
        if self.head is None:
            return heads, float("nan")
        if self._started is None:  # the short-term model has not changed since the event started
            self._started = mixture.model.predict(self.history, self.short)
        return heads, mixture.hold(self._started, self.head, self.steps)

    def mix(self, probs: np.ndarray) -> np.ndarray:
        """The LSTM's next-step probabilities (V,) mixed with the event model's."""
        heads, hold = self.components()
        config = self.mixture.config
        return mix(probs, heads, hold, self.mixture.hold_index, self.mixture.delimiter, config.pitch_weight,
                   config.hold_weight)

    def copy(self) -> SongEvents:
        other = SongEvents.__new__(SongEvents)
        other.mixture = self.mixture
        other.short = self.short.copy()
        other.history = list(self.history)
        other.head, other.steps, other.learning = self.head, self.steps, self.learning
        other._started, other._next = self._started, self._next  # never written in place
        return other
