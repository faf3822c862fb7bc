"""Helpers for the engine tests: small real artifacts with random weights."""

from __future__ import annotations

import numpy as np

from antiphon.engine.artifact import expected_shapes, save_artifact
from antiphon.engine.events import STEPS_PER_QUARTER
from antiphon.engine.vocab import Vocab

PITCHES = [str(p) for p in range(60, 77)]  # with / r _ : 20 symbols


def random_weights(vocab_size: int, units: int, layers: int, seed: int, scale: float = 0.4) -> dict:
    rng = np.random.default_rng(seed)
    return {name: (rng.standard_normal(shape) * scale).astype(np.float32)
            for name, shape in expected_shapes(vocab_size, units, layers).items()}


def make_artifact(folder, units: int = 24, layers: int = 1, sequence_length: int = 16, seed: int = 0,
                  symbols=None) -> tuple:
    vocab = Vocab.build(symbols if symbols is not None else PITCHES)
    weights = random_weights(len(vocab), units, layers, seed)
    config = {"architecture": {"units": units, "layers": layers, "vocab_size": len(vocab)},
              "sequence_length": sequence_length, "steps_per_quarter": STEPS_PER_QUARTER}
    save_artifact(folder, config, vocab, weights)
    return folder, vocab, weights
