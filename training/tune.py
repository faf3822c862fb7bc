"""Tune a saved model's memory of the current song: its neural cache, then its event model."""

from __future__ import annotations

from antiphon.training.cache_tune import tune_cache_artifact
from antiphon.training.event_tune import tune_events_artifact


def tune_song_memory(model_dir: str, data_dir: str | None = None, cache: bool = True,
                     events: bool = True, pitch_weight: float | None = None,
                     hold_weight: float | None = None) -> list[str]:
    """Tune a saved model's memory of the current song on validation: the neural cache
    (``training/cache_tune.py``), then the event model mixed into the LSTM (``training/event_tune.py``).
    Returns one line per part saying what it chose."""
    lines = []
    if cache:
        result = tune_cache_artifact(model_dir, data_dir)
        lines.append(f"neural cache lam {result['lam']:.2f}, theta {result['theta']:.2f}: validation loss per "
                     f"symbol {result['val_loss_without']:.4f} -> {result['val_loss']:.4f}")
    if events:
        mixed = tune_events_artifact(model_dir, data_dir, pitch_weight, hold_weight)
        lines.append(f"event model pitch weight {mixed['pitch_weight']:.1f}, hold weight "
                     f"{mixed['hold_weight']:.1f}: validation bits per symbol "
                     f"{mixed['val_bits_per_step_without']:.4f} -> {mixed['val_bits_per_step']:.4f}")
    return lines
