"""Keras callbacks for ``antiphon train``: per-epoch logging and a wall-time budget."""

from __future__ import annotations

import logging
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

log = logging.getLogger(__name__)


class EpochLog(keras.callbacks.Callback):
    """Logs each epoch's losses and keeps its wall time."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds.append(time.perf_counter() - self._start)
        logs = logs or {}
        log.info("epoch %d/%d: loss %.4f, val_loss %.4f, val_accuracy %.4f (%.1f s)", epoch + 1, self.epochs,
                 logs.get("loss", float("nan")), logs.get("val_loss", float("nan")),
                 logs.get("val_accuracy", float("nan")), self.seconds[-1])


class TimeBudget(keras.callbacks.Callback):
    """Stops training once ``max_seconds`` of wall time have passed; records every training batch's time."""

    def __init__(self, max_seconds: float | None):
        super().__init__()
        self.max_seconds = max_seconds
        self.batch_seconds: list[float] = []
        self.stopped_by_budget = False
        self._t0 = 0.0
        self._batch_start = 0.0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._t0 = time.perf_counter()

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._batch_start = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        now = time.perf_counter()
        self.batch_seconds.append(now - self._batch_start)
        if self.max_seconds is not None and now - self._t0 >= self.max_seconds:
            self.stopped_by_budget = True
            self.model.stop_training = True
