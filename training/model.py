"""The Keras LSTM (the report's architecture) and its export to the engine's weight names."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

DEFAULT_UNITS = 256
DEFAULT_DROPOUT = 0.2
DEFAULT_LEARNING_RATE = 0.001


def build_model(vocab_size: int, units: int = DEFAULT_UNITS, layers: int = 1, dropout: float = DEFAULT_DROPOUT,
                learning_rate: float = DEFAULT_LEARNING_RATE, return_sequences: bool = False,
                position_features: int = 0) -> keras.Model:
    """One-hot symbols (batch, time, V [+ P bar positions]) -> LSTM stack -> dropout -> dense softmax over V.

    With ``return_sequences`` the head predicts a symbol at every step (the per-step recipe); without, only
    after the last step (the report's recipe). Both have the same weights.
    """
    inputs = keras.Input(shape=(None, vocab_size + position_features), name="one_hot")
    x = inputs
    for k in range(layers):
        last = k == layers - 1
        x = keras.layers.LSTM(units, return_sequences=return_sequences or not last, name=f"lstm{k}")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(vocab_size, activation="softmax", name="dense")(x)
    model = keras.Model(inputs, outputs, name="antiphon_lstm")
    model.compile(loss="sparse_categorical_crossentropy",
                  optimizer=keras.optimizers.Adam(learning_rate=learning_rate), metrics=["accuracy"])
    return model


def export_weights(model: keras.Model) -> dict[str, np.ndarray]:
    """Keras layer weights -> the engine's names (see ``engine.artifact``)."""
    weights: dict[str, np.ndarray] = {}
    k = 0
    while True:
        try:
            layer = model.get_layer(f"lstm{k}")
        except ValueError:
            break
        kernel, recurrent, bias = layer.get_weights()
        weights[f"lstm{k}/kernel"] = kernel
        weights[f"lstm{k}/recurrent_kernel"] = recurrent
        weights[f"lstm{k}/bias"] = bias
        k += 1
    kernel, bias = model.get_layer("dense").get_weights()
    weights["dense/kernel"] = kernel
    weights["dense/bias"] = bias
    return weights


def import_weights(model: keras.Model, weights: dict[str, np.ndarray]) -> None:
    """Load engine-named weights into a model built with ``build_model`` (shapes must match)."""
    k = 0
    while f"lstm{k}/kernel" in weights:
        model.get_layer(f"lstm{k}").set_weights(
            [weights[f"lstm{k}/kernel"], weights[f"lstm{k}/recurrent_kernel"], weights[f"lstm{k}/bias"]])
        k += 1
    model.get_layer("dense").set_weights([weights["dense/kernel"], weights["dense/bias"]])
