"""Tune the neural cache (``engine/cache.py``) of a trained model on validation songs.

Every validation song is scored from the song start with the stateful predictor; the model's probabilities
and top-layer states are computed once, and every (lam, theta) pair on the grid is scored on them with the
engine's own :class:`~engine.cache.SongCache` (its ring of states and its vote), so the tuner scores exactly
what the product runs. The pair with the lowest mean loss per symbol (end marker included) wins, if it beats
the raw model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from antiphon.engine.cache import DEFAULT_CAPACITY, CacheConfig, SongCache
from antiphon.engine.events import DELIMITER
from antiphon.engine.meter import bar_positions
from antiphon.engine.model import LstmModel
from antiphon.training.tune_data import split_songs_of, store_config

LAMBDAS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4)
THETAS = (0.03, 0.1, 0.3, 0.6, 1.0, 2.0)
TINY = 1e-300  # probability floor for the log of a symbol the model deems impossible


def score_with_caches(model: LstmModel, songs: Sequence[Sequence[str]], lambdas: Sequence[float] = LAMBDAS,
                      thetas: Sequence[float] = THETAS, meters: Sequence[list | None] | None = None,
                      capacity: int = DEFAULT_CAPACITY) -> tuple[float, np.ndarray, int]:
    """Total nats of the raw model, a (len(thetas), len(lambdas)) array of totals with each cache, symbols.

    ``meters`` (one per song, ``engine.meter``) give the bar positions for a model with position inputs.
    ``capacity`` is the cache's (the engine's default unless a test wants a small ring).
    """
    vocab = model.vocab
    lam = np.asarray(lambdas, dtype=np.float64)  # (L,)
    raw_total = 0.0
    totals = np.zeros((len(thetas), len(lambdas)))
    count = 0
    start = model.predictor("stateful", cache=False, events=False)
    start.prime(model.song_start())
    memory = SongCache(CacheConfig(lam=0.0, theta=0.0, capacity=capacity), model.units, len(vocab))
    for number, song in enumerate(songs):
        predictor = start.clone()
        memory.reset()
        probs = start.last_probabilities
        meter = None if meters is None else meters[number]
        positions = bar_positions(meter, len(song) + 1).tolist()
        for step, index in enumerate(vocab.encode([*song, DELIMITER])):
            state = predictor.top_state
            p_true = float(probs[index])
            raw_total -= math.log(max(p_true, TINY))
            if len(memory):
                vote = memory.votes(state, thetas)[:, index]  # (T,)
                # The same float64 sum as SongCache.mix: (1 - lam) * p + lam * vote.
                mixed = (1.0 - lam)[None, :] * p_true + lam[None, :] * vote[:, None]  # (T, L)
                totals -= np.log(np.maximum(mixed, TINY))
            else:
                totals -= math.log(max(p_true, TINY))
            memory.add(state, index)
            count += 1
            if step < len(song):
                probs = predictor.feed(index, positions[step + 1])
    return raw_total, totals, count


def tune_cache(model: LstmModel, songs: Sequence[Sequence[str]],
               meters: Sequence[list | None] | None = None) -> dict[str, Any]:
    """Best cache for ``songs``: ``{"lam", "theta", "val_loss", "val_loss_without"}`` (lam 0 if none helps)."""
    if not songs:
        raise ValueError("no validation songs to tune the cache on")
    raw, totals, count = score_with_caches(model, songs, meters=meters)
    a, b = np.unravel_index(int(np.argmin(totals)), totals.shape)
    best = float(totals[a, b]) / count
    without = raw / count
    if best >= without:
        return {"lam": 0.0, "theta": 0.0, "val_loss": without, "val_loss_without": without}
    config = CacheConfig(lam=LAMBDAS[b], theta=THETAS[a])
    return {"lam": config.lam, "theta": config.theta, "val_loss": best, "val_loss_without": without}


def tune_cache_artifact(model_dir: str, data_dir: str | None = None) -> dict[str, Any]:
    """Tune the cache of a saved model on its own validation songs and store it in its ``config.json``."""
    model = LstmModel.load(model_dir)
    songs, meters = split_songs_of(model, data_dir)
    result = tune_cache(model, songs, meters)
    config = model.model_config.with_training(cache_tuning=result)
    store_config(model_dir, replace(config, cache=CacheConfig(lam=result["lam"], theta=result["theta"])))
    return result
