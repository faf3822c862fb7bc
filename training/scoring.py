"""Keras scoring of held-out songs for ``antiphon train``: window loss (the report's) and whole-song loss."""

from __future__ import annotations

import keras
import numpy as np

from antiphon.training.distribute import GlobalWeightedCrossentropy
from antiphon.training.model import DEFAULT_LEARNING_RATE, build_model, import_weights
from antiphon.training.pipeline import PlanBatches
from antiphon.training.sequences import BatchPlan, SongPlan

EVAL_BATCH_SIZE = 256  # larger batches for scoring only: same numbers, fewer Python round trips


def window_loss(weights: dict[str, np.ndarray], stream: np.ndarray, *, vocab_size: int, units: int, layers: int,
                sequence_length: int) -> tuple[float, float]:
    """Next-symbol loss (nats) and accuracy after a ``sequence_length`` window, over every window of ``stream``."""
    model = build_model(vocab_size, units=units, layers=layers, return_sequences=False)
    import_weights(model, weights)
    plan = BatchPlan(stream, "window", vocab_size, EVAL_BATCH_SIZE, sequence_length=sequence_length)
    scores = model.evaluate(PlanBatches(plan, shuffle=False), verbose=0, return_dict=True)
    return float(scores["loss"]), float(scores["accuracy"])


def compile_for_songs(model: keras.Model, learning_rate: float, distributed: bool = False) -> None:
    # Padding steps carry weight 0; the loss is the mean over the weighted (real) steps only.
    loss = (GlobalWeightedCrossentropy() if distributed
            else keras.losses.SparseCategoricalCrossentropy(reduction="mean_with_sample_weight"))
    model.compile(loss=loss,
                  optimizer=keras.optimizers.Adam(learning_rate=learning_rate), weighted_metrics=["accuracy"])


def song_loss(weights: dict[str, np.ndarray], int_songs: list[np.ndarray], *, vocab_size: int, units: int,
              layers: int, sequence_length: int, delimiter_index: int, meters: list | None = None,
              position_features: int = 0) -> tuple[float, float]:
    """Per-symbol loss (nats) and accuracy of whole songs scored from the start padding, end marker included."""
    model = build_model(vocab_size, units=units, layers=layers, return_sequences=True,
                        position_features=position_features)
    import_weights(model, weights)
    compile_for_songs(model, DEFAULT_LEARNING_RATE)
    plan = SongPlan(int_songs, vocab_size, EVAL_BATCH_SIZE, sequence_length=sequence_length,
                    delimiter_index=delimiter_index, meters=meters, position_features=position_features)
    scores = model.evaluate(PlanBatches(plan, shuffle=False), verbose=0, return_dict=True)
    return float(scores["loss"]), float(scores["accuracy"])
