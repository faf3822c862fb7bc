"""Tune the neural cache (``engine/cache.py``) of a trained model on validation songs.

Every validation song is scored from the start padding with the stateful predictor; the model's
probabilities and top-layer states are computed once, and every (lam, theta) pair on the grid is scored on
them. The pair with the lowest mean loss per symbol (end marker included) wins, if it beats the raw model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from antiphon.engine.cache import CacheConfig
from antiphon.engine.events import DELIMITER
from antiphon.engine.meter import bar_positions
from antiphon.engine.model import LstmModel

LAMBDAS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4)
THETAS = (0.03, 0.1, 0.3, 0.6, 1.0, 2.0)


def score_with_caches(model: LstmModel, songs: Sequence[Sequence[str]], lambdas: Sequence[float] = LAMBDAS,
                      thetas: Sequence[float] = THETAS,
                      meters: Sequence[list | None] | None = None) -> tuple[float, np.ndarray, int]:
    """Total nats of the raw model, a (len(thetas), len(lambdas)) array of totals with each cache, symbols.

    ``meters`` (one per song, ``engine.meter``) give the bar positions for a model with position inputs.
    """
    vocab = model.vocab
    padding = vocab.encode([DELIMITER] * model.sequence_length)
    lam = np.asarray(lambdas, dtype=np.float64)
    raw_total = 0.0
    totals = np.zeros((len(thetas), len(lambdas)))
    count = 0
    for number, song in enumerate(songs):
        predictor = model.predictor("stateful", cache=False, events=False)
        probs = predictor.prime(padding)
        states: list[np.ndarray] = []
        targets: list[int] = []
        meter = None if meters is None else meters[number]
        positions = bar_positions(meter, len(song) + 1).tolist()
        for step, index in enumerate(vocab.encode(list(song) + [DELIMITER])):
            h = predictor._h[-1]
            p_true = float(probs[index])
            raw_total -= math.log(max(p_true, 1e-300))
            if states:
                dots = np.asarray(states) @ h  # (n,)
                hit = np.asarray(targets) == index
                for a, theta in enumerate(thetas):
                    scores = dots * theta
                    weights = np.exp(scores - scores.max())
                    vote = float(weights[hit].sum() / weights.sum())
                    totals[a] -= np.log(np.maximum((1.0 - lam) * p_true + lam * vote, 1e-300))
            else:
                totals -= math.log(max(p_true, 1e-300))
            states.append(h.copy())
            targets.append(index)
            count += 1
            probs = predictor.feed(index, positions[step + 1] if step < len(song) else None)
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


def split_songs_of(model: LstmModel, data_dir: str | None = None, part: str = "validation") -> tuple[list, list]:
    """The songs of one part of a model's stored split, and their meters, from its dataset folder."""
    from antiphon.training.dataset import load_dataset

    config = model.config
    data = data_dir or (config.get("dataset") or {}).get("path")
    if not data:
        raise ValueError("the model's config names no dataset; pass the dataset folder")
    dataset = load_dataset(data)
    indices = (config.get("split") or {}).get(part)
    if not indices:
        raise ValueError(f"the model's config holds no {part} split")
    if max(indices) >= len(dataset.songs):
        raise ValueError(f"{data} has {len(dataset.songs)} songs; the model's split needs more: wrong dataset?")
    entries = dataset.manifest.get("songs") or [{}] * len(dataset.songs)
    return [dataset.songs[i] for i in indices], [entries[i].get("meter") or None for i in indices]


def write_config(model_dir: str, config: dict[str, Any]) -> None:
    """Rewrite a model's ``config.json`` and check the folder is still a valid artifact."""
    import json
    from pathlib import Path

    from antiphon.engine.artifact import CONFIG_FILE

    path = Path(model_dir) / CONFIG_FILE
    path.write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
    LstmModel.load(model_dir)


def tune_artifact(model_dir: str, data_dir: str | None = None) -> dict[str, Any]:
    """Tune the cache of a saved model on its own validation songs and store it in its ``config.json``."""
    model = LstmModel.load(model_dir)
    songs, meters = split_songs_of(model, data_dir)
    result = tune_cache(model, songs, meters)
    config = model.config
    config["cache"] = {"lam": result["lam"], "theta": result["theta"]}
    config.setdefault("training", {})["cache_tuning"] = result
    write_config(model_dir, config)
    return result


def tune_song_memory(model_dir: str, data_dir: str | None = None, cache: bool = True,
                     events: bool = True, pitch_weight: float | None = None,
                     hold_weight: float | None = None) -> list[str]:
    """Tune a saved model's memory of the current song on validation: the neural cache, then the event model
    mixed into the LSTM (``training/event_tune.py``). Returns one line per part saying what it chose."""
    lines = []
    if cache:
        result = tune_artifact(model_dir, data_dir)
        lines.append(f"neural cache lam {result['lam']:.2f}, theta {result['theta']:.2f}: validation loss per "
                     f"symbol {result['val_loss_without']:.4f} -> {result['val_loss']:.4f}")
    if events:
        from antiphon.training.event_tune import tune_events_artifact

        mixed = tune_events_artifact(model_dir, data_dir, pitch_weight, hold_weight)
        lines.append(f"event model pitch weight {mixed['pitch_weight']:.1f}, hold weight "
                     f"{mixed['hold_weight']:.1f}: validation bits per symbol "
                     f"{mixed['val_bits_per_step_without']:.4f} -> {mixed['val_bits_per_step']:.4f}")
    return lines
