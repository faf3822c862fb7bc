"""Training curves as a PNG: training and validation loss per epoch (matplotlib, no display needed)."""

from __future__ import annotations

import os
from pathlib import Path


def plot_training_curves(history: dict[str, list[float]], path: str | os.PathLike[str], *, recipe: str = "",
                         window_val_loss: float | None = None) -> Path:
    """Write loss and val_loss per epoch (nats per symbol) to ``path``; returns the path.

    ``window_val_loss``, the final validation loss measured with the report's window context, is drawn as
    a dashed line so recipes with different per-epoch losses can be compared on one scale.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    losses = history.get("loss", [])
    if not losses:
        raise ValueError("history has no 'loss' values to plot")
    epochs = range(1, len(losses) + 1)
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    try:
        ax.plot(epochs, losses, marker="o", markersize=3, label="training loss")
        val = history.get("val_loss", [])
        if val:
            ax.plot(range(1, len(val) + 1), val, marker="o", markersize=3, label="validation loss")
        if window_val_loss is not None and window_val_loss == window_val_loss:  # NaN: not measured
            ax.axhline(window_val_loss, color="grey", linestyle="--", linewidth=1,
                       label=f"final validation loss, window context ({window_val_loss:.3f})")
        ax.set_xlabel("epoch")
        ax.set_ylabel("cross-entropy (nats per symbol)")
        ax.set_title(f"Antiphon training curves{f' ({recipe} recipe)' if recipe else ''}")
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        out = Path(path)
        fig.savefig(out)
    finally:
        plt.close(fig)
    return out
