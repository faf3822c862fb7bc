"""Fit a trained model's event model and tune its mixture with the LSTM (``engine/mixture.py``) on validation.

1. The event model's alphabet is every pitch of the vocabulary (and ``r``) with every length seen in the
   training songs; its settings (order, escape, LTM + STM combination) are tuned on validation songs by
   ``training.baselines.tune_idyom``, the same search as the IDyOM-style baseline of ``antiphon evaluate``.
2. Every validation song is run once through the LSTM (with its neural cache, as the product runs it) and once
   through the event model; each (pitch weight, hold weight) pair on the grid is scored on those numbers.
   The pair with the fewest validation bits wins; with both weights 0 the model keeps no event model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from antiphon.engine.artifact import save_events
from antiphon.engine.events import DELIMITER, is_pitch_symbol
from antiphon.engine.meter import bar_positions
from antiphon.engine.mixture import EventMixture, MixConfig, mix
from antiphon.engine.model import LstmModel
from antiphon.engine.ppm import song_events
from antiphon.training.baselines import event_alphabet, tune_idyom
from antiphon.training.tune_data import split_songs_of, store_config

PITCH_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
HOLD_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)


def fit_event_model(model: LstmModel, train: Sequence[Sequence[str]],
                    validation: Sequence[Sequence[str]]) -> tuple[list[str], list[list[int]], dict[str, Any]]:
    """Alphabet, training songs as token indices, and the tuned settings (``MixConfig`` fields but weights)."""
    pitches = [s for s in model.vocab.symbols if is_pitch_symbol(s)]
    alphabet = event_alphabet(train, pitches)
    index = {token: i for i, token in enumerate(alphabet)}
    songs = [[index[t] for t in song_events(song)] for song in train]
    tuned, _ = tune_idyom(train, validation, alphabet)
    settings = {**tuned.params, "bias": float(tuned.bias), "combination": tuned.combination}
    return alphabet, songs, settings


def song_components(model: LstmModel, mixture: EventMixture, song: Sequence[str],
                    meter: list | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For the predictions of ``song``'s symbols and its end: LSTM rows (n, V), event heads (n, V), event
    hold probabilities (n,) and the targets (n,)."""
    vocab = model.vocab
    predictor = model.predictor("stateful", cache=True, events=False)
    predictor.prime(model.song_start())
    events = mixture.new_song()
    targets = vocab.encode([*song, DELIMITER])
    positions = bar_positions(meter, len(song) + 1).tolist()
    lstm, heads, holds = [predictor.last_probabilities], [], []
    for step, index in enumerate(targets):
        h, p_hold = events.components()
        heads.append(h)
        holds.append(p_hold)
        if step < len(song):
            lstm.append(predictor.feed(index, positions[step + 1]))
            events.feed(index)
    return np.array(lstm), np.array(heads), np.array(holds), np.array(targets)


def mixture_bits(rows: Sequence[tuple], mixture: EventMixture, pitch_weight: float, hold_weight: float) -> float:
    """Bits per step of the mixture with these weights on ``rows`` (from :func:`song_components`)."""
    bits = steps = 0.0
    for lstm, heads, holds, targets in rows:
        mixed = mix(lstm, heads, holds, mixture.hold_index, mixture.delimiter, pitch_weight, hold_weight)
        bits -= np.log2(mixed[np.arange(len(targets)), targets]).sum()
        steps += len(targets)
    return float(bits / steps)


def tune_weights(rows: Sequence[tuple], mixture: EventMixture) -> dict[str, Any]:
    """The weight pair with the fewest bits per step on ``rows``, and the LSTM-alone figure."""
    grid = np.array([[mixture_bits(rows, mixture, w_pitch, w_hold) for w_hold in HOLD_WEIGHTS]
                     for w_pitch in PITCH_WEIGHTS])
    a, b = np.unravel_index(int(np.argmin(grid)), grid.shape)
    return {"pitch_weight": PITCH_WEIGHTS[a], "hold_weight": HOLD_WEIGHTS[b],
            "val_bits_per_step": float(grid[a, b]), "val_bits_per_step_without": float(grid[0, 0])}


def tune_events_artifact(model_dir: str, data_dir: str | None = None, pitch_weight: float | None = None,
                         hold_weight: float | None = None) -> dict[str, Any]:
    """Fit and tune the event model of a saved model; store it (``events.json``, config ``event_model``).

    ``pitch_weight`` / ``hold_weight`` fix a weight instead of the validation-best one (which is still
    recorded): the likelihood-best mixture is not always the best to sample from (see the bundled model's
    README).
    """
    model = LstmModel.load(model_dir)
    train, _ = split_songs_of(model, data_dir, "train")
    validation, meters = split_songs_of(model, data_dir, "validation")
    alphabet, songs, settings = fit_event_model(model, train, validation)
    trial = EventMixture.build(alphabet, songs, model.vocab, MixConfig(0.0, 0.0, **settings))
    rows = [song_components(model, trial, s, m) for s, m in zip(validation, meters, strict=True)]
    result = {**tune_weights(rows, trial), "settings": settings}
    chosen = {"pitch_weight": pitch_weight, "hold_weight": hold_weight}
    if any(value is not None for value in chosen.values()):
        result["validation_best"] = {name: result[name] for name in chosen}
        result.update({name: float(value) for name, value in chosen.items() if value is not None})
        result["val_bits_per_step"] = mixture_bits(rows, trial, result["pitch_weight"], result["hold_weight"])
    config = model.model_config.with_training(event_tuning=result)
    if result["pitch_weight"] == 0.0 and result["hold_weight"] == 0.0:
        config = replace(config, event_model=None)  # it does not help this model
    else:
        save_events(model_dir, alphabet, songs)
        config = replace(config, event_model=MixConfig(result["pitch_weight"], result["hold_weight"], **settings))
    store_config(model_dir, config)
    return result
