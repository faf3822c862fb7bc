"""The LSTM at run time, in numpy: next-symbol probabilities one grid step at a time.

Two predictors share the weights of one :class:`LstmModel`:

* ``window`` — exactly the report's generator: keep the last ``sequence_length`` symbols and run the LSTM
  over that window from a zero state for every new symbol (O(L) cell steps per symbol);
* ``stateful`` — carry the LSTM state (h, c) forward and do one cell step per new symbol (O(1)).

The cell follows Keras' ``LSTM`` (gate order i, f, c, o; sigmoid gates, tanh cell activation) in float32,
and the dense softmax head returns float64 probabilities that sum to 1. A model trained with bar positions
(``architecture.position_features`` P > 0, ``engine/meter.py``) takes with each symbol the position in the bar
of the step being predicted (``feed(index, position)``); ``None`` or -1 means unknown (the model saw that in
training too, for a share of songs). A one-hot input times the first
kernel is a row lookup, so layer 0's input projection is a gather of kernel rows (with the bias folded in).
The sigmoid gates are computed as ``0.5 * tanh(z / 2) + 0.5`` with the 1/2 folded into their weight
columns (an exact power-of-two scaling), so each cell step needs a single ``tanh`` over all 4U gates.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from antiphon.engine.artifact import Artifact, load_artifact
from antiphon.engine.cache import CacheConfig
from antiphon.engine.events import DELIMITER
from antiphon.engine.mixture import EventMixture, MixConfig
from antiphon.engine.model_config import ModelConfig
from antiphon.engine.predictor import STATEFUL, WINDOW, Predictor, StatefulPredictor, WindowPredictor
from antiphon.engine.vocab import Vocab

MODES = (STATEFUL, WINDOW)
# Held-out erk songs, preliminary 256-unit per-step model (benchmarks/bench_engine.py --compare-modes):
# window scored 0.0009 (validation) / 0.0019 (test) nats per step better than stateful, about 0.1-0.2%,
# and stateful was better past step 256. Practically equal; the window costs ~50x more per step (~1.1 ms
# vs ~0.02 ms at 256 units), over the "well under 1 ms" budget the model-quality issue sets, so stateful
# is the default. Re-measure on the bundled model.
DEFAULT_MODE = STATEFUL

BUNDLED_MODEL_DIR = Path(__file__).resolve().parent / "bundled"


def bundled_model_path() -> Path | None:
    """The bundled default model folder, or ``None`` if the package ships none yet."""
    return BUNDLED_MODEL_DIR if (BUNDLED_MODEL_DIR / "config.json").is_file() else None


class _Layer:
    """One LSTM layer's weights, pre-scaled so that one tanh gives all four gates."""

    def __init__(self, kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray):
        units = recurrent.shape[0]
        # z/2 for the sigmoid gates i, f, o; z for the candidate c (Keras gate order i, f, c, o).
        scale = np.full(4 * units, 0.5, dtype=np.float32)
        scale[2 * units:3 * units] = 1.0
        self.units = units
        self.kernel = np.ascontiguousarray(kernel * scale, dtype=np.float32)       # (input_dim, 4U)
        self.recurrent = np.ascontiguousarray(recurrent * scale, dtype=np.float32)  # (U, 4U)
        self.bias = np.ascontiguousarray(bias * scale, dtype=np.float32)            # (4U,)
        self.table = self.kernel + self.bias  # row lookup for a one-hot input, bias included

    def project(self, inputs: np.ndarray) -> np.ndarray:
        """Input projections for dense inputs (T, input_dim) -> (T, 4U), bias included."""
        return inputs @ self.kernel + self.bias

    def step(self, z_in: np.ndarray, h: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One cell step from the input projection ``z_in`` (4U,); returns the new (h, c)."""
        u = self.units
        t = np.tanh(z_in + h @ self.recurrent)
        gates = 0.5 * t + 0.5  # sigmoid of the unscaled pre-activations (the c block is unused)
        c = gates[u:2 * u] * c + gates[:u] * t[2 * u:3 * u]
        h = gates[3 * u:] * np.tanh(c)
        return h, c

    def run(self, z_in: np.ndarray, h: np.ndarray | None = None, c: np.ndarray | None = None,
            cells: np.ndarray | None = None) -> np.ndarray:
        """Run over input projections (T, 4U) from (h, c) (zero by default); returns every h, (T, U).

        If ``cells`` (T, U) is given, every c is written into it as well.
        """
        u = self.units
        steps = z_in.shape[0]
        out = np.empty((steps, u), dtype=np.float32)
        h = np.zeros(u, dtype=np.float32) if h is None else h
        c = np.zeros(u, dtype=np.float32) if c is None else c
        recurrent = self.recurrent
        for t in range(steps):
            a = np.tanh(z_in[t] + h @ recurrent)
            g = 0.5 * a + 0.5
            c = g[u:2 * u] * c + g[:u] * a[2 * u:3 * u]
            h = g[3 * u:] * np.tanh(c)
            out[t] = h
            if cells is not None:
                cells[t] = c
        return out


class LstmModel:
    """An LSTM stack with a dense softmax head, loaded from a model artifact (numpy only)."""

    def __init__(self, artifact: Artifact):
        self.artifact = artifact
        self.vocab: Vocab = artifact.vocab
        self.model_config: ModelConfig = artifact.model_config
        self.config: dict = artifact.config  # the same as a JSON object, for reading
        self.sequence_length: int = artifact.sequence_length
        self.steps_per_quarter: int = artifact.steps_per_quarter
        w = artifact.weights
        self.layers = [_Layer(w[f"lstm{k}/kernel"], w[f"lstm{k}/recurrent_kernel"], w[f"lstm{k}/bias"])
                       for k in range(artifact.layers)]
        self.units = artifact.units
        vocab_size = len(self.vocab)
        first = self.layers[0]
        self.position_features = artifact.position_features
        # Rows V.. of the first kernel take the one-hot bar position; they get no bias (it is in the symbol rows).
        self.position_table = np.ascontiguousarray(first.kernel[vocab_size:], dtype=np.float32)  # (P, 4U)
        first.table = np.ascontiguousarray(first.table[:vocab_size])  # (V, 4U)
        self.dense_kernel = np.ascontiguousarray(w["dense/kernel"], dtype=np.float32)  # (U, V)
        self.dense_bias = np.ascontiguousarray(w["dense/bias"], dtype=np.float32)      # (V,)
        self.delimiter: int = self.vocab.index(DELIMITER)  # the index of "/", the song boundary
        self._padding: list[tuple[np.ndarray, np.ndarray]] | None = None
        # The neural cache tuned for this model (engine/cache.py), used by stateful predictors by default.
        self.cache_config: CacheConfig | None = self.model_config.cache
        # The event model mixed into stateful predictions (engine/mixture.py), counted on first use.
        self.mix_config: MixConfig | None = self.model_config.event_model
        self._mixture: EventMixture | None = None

    @property
    def event_mixture(self) -> EventMixture | None:
        """The model's event model and mixture weights, or ``None`` if it has none."""
        if self._mixture is None and self.mix_config is not None and self.artifact.events is not None:
            alphabet, songs = self.artifact.events
            self._mixture = EventMixture.build(alphabet, songs, self.vocab, self.mix_config)
        return self._mixture

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LstmModel:
        """Load an artifact folder; raises ``ValueError`` on a malformed or mismatched artifact."""
        return cls(load_artifact(path))

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> LstmModel:
        return cls(artifact)

    def __len__(self) -> int:
        return len(self.vocab)

    def song_start(self) -> list[int]:
        """The start of every song as the model saw it in training: ``sequence_length`` symbols ``/`` (indices).

        Prime a fresh predictor with it before a song or a seed (its states are cached for the window mode).
        """
        return [self.delimiter] * self.sequence_length

    def predictor(self, mode: str = DEFAULT_MODE, cache: CacheConfig | None | bool = True,
                  events: bool = True) -> Predictor:
        """A fresh predictor (empty history) in ``mode``: ``"stateful"`` or ``"window"``.

        ``cache``: ``True`` uses the model's tuned neural cache if it has one (stateful mode only),
        ``False``/``None`` the raw LSTM, a ``CacheConfig`` that cache. ``events``: mix in the model's event
        model if it has one (stateful mode only).
        """
        if mode == STATEFUL:
            chosen = self.cache_config if cache is True else (cache or None)
            return StatefulPredictor(self, chosen, self.event_mixture if events else None)
        if mode == WINDOW:
            if isinstance(cache, CacheConfig):
                raise ValueError("the neural cache needs the stateful predictor")
            return WindowPredictor(self)
        raise ValueError(f"unknown predictor mode {mode!r}; expected one of {', '.join(MODES)}")

    def probabilities(self, h: np.ndarray) -> np.ndarray:
        """Softmax head on the top layer's output h (U,) -> float64 probabilities (V,) summing to 1."""
        logits = (h @ self.dense_kernel + self.dense_bias).astype(np.float64)
        logits -= logits.max()
        e = np.exp(logits)
        return e / e.sum()

    def predict_window(self, indices: Iterable[int]) -> np.ndarray:
        """Probabilities after running the whole sequence ``indices`` from a zero state."""
        window = self.check_indices(indices)
        if window.size == 0:
            raise ValueError("predict_window needs at least one symbol")
        return self.probabilities(self.run_window(window))

    def input_rows(self, indices: np.ndarray, positions: np.ndarray | None) -> np.ndarray:
        """Layer 0 input projections (T, 4U) of symbols (T,) with bar positions (T,) (-1: none)."""
        z = self.layers[0].table[indices]
        if positions is not None and self.position_features:
            known = (positions >= 0) & (positions < self.position_features)
            if known.any():
                z = z.copy()
                z[known] += self.position_table[positions[known]]
        return z

    def position_index(self, position: int | None) -> int:
        """A bar position as the model takes it: -1 when unknown or beyond its position inputs."""
        if position is None or not self.position_features:
            return -1
        if isinstance(position, bool) or not isinstance(position, (int, np.integer)):
            raise ValueError(f"bar position must be an integer or None, got {position!r}")
        return int(position) if 0 <= position < self.position_features else -1

    def run_window(self, window: np.ndarray, positions: np.ndarray | None = None) -> np.ndarray:
        """Top-layer h after running ``window`` (T,) from a zero state.

        The states after a run of leading ``/`` (the start padding) are the same for every window, so
        they come from a cache computed once by the same code (for one layer, bit for bit the full run's
        result), so a window that is still mostly padding costs only its real symbols.
        """
        marked = window != self.delimiter
        if positions is not None:
            marked |= positions >= 0
        symbols = np.flatnonzero(marked)
        lead = min(int(symbols[0]) if symbols.size else window.size, self.sequence_length)
        if lead:
            states = self._padding_states()
            if lead == window.size:
                return states[-1][0][lead - 1]
        layer = self.layers[0]
        # (T, 4U): one-hot @ kernel is a gather of kernel rows
        z = self.input_rows(window[lead:], None if positions is None else positions[lead:])
        h0, c0 = (states[0][0][lead - 1], states[0][1][lead - 1]) if lead else (None, None)
        hs = layer.run(z, h0, c0)
        for k, layer in enumerate(self.layers[1:], start=1):
            h0, c0 = (states[k][0][lead - 1], states[k][1][lead - 1]) if lead else (None, None)
            hs = layer.run(layer.project(hs), h0, c0)
        return hs[-1]

    def _padding_states(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per layer, (h, c) after 1..L start symbols ``/``: arrays (L, U) each, computed on first use."""
        if self._padding is None:
            length = self.sequence_length
            inputs = self.layers[0].table[np.full(length, self.delimiter, dtype=np.intp)]
            states = []
            for k, layer in enumerate(self.layers):
                cells = np.empty((length, layer.units), dtype=np.float32)
                hs = layer.run(inputs if k == 0 else layer.project(inputs), cells=cells)
                states.append((hs, cells))
                inputs = hs
            self._padding = states
        return self._padding

    def check_indices(self, indices: Iterable[int]) -> np.ndarray:
        """``indices`` as a flat intp array; ``ValueError`` naming the first one outside the vocabulary."""
        array = np.asarray(indices if isinstance(indices, np.ndarray) else list(indices))
        if array.size == 0:
            return array.astype(np.intp)
        if array.ndim != 1 or array.dtype.kind not in "iu":
            raise ValueError(f"symbol indices must be a flat sequence of integers, got dtype {array.dtype}")
        bad = array[(array < 0) | (array >= len(self.vocab))]
        if bad.size:
            raise ValueError(f"symbol index {int(bad[0])} is outside 0..{len(self.vocab) - 1}")
        return array.astype(np.intp, copy=False)


__all__ = ["LstmModel", "Predictor", "StatefulPredictor", "WindowPredictor", "MODES", "DEFAULT_MODE",
           "STATEFUL", "WINDOW", "bundled_model_path", "BUNDLED_MODEL_DIR"]
