"""Fit the LSTM on a preprocessed dataset folder and write the Keras model and the runtime artifact.

The output folder is itself the runtime artifact (``weights.npz``, ``vocab.json``, ``config.json``, loaded by
``engine.artifact.load_artifact``), and also holds ``model.keras`` (the same weights as a Keras model in the
report's inference form: one-hot window in, next-symbol distribution out) and ``training_curves.png``.

Each recipe reports its own validation loss each epoch (the window recipe's is next-symbol loss after a
window; the per-step recipe's the mean over every step of validation chunks; the song recipe's the mean
over every symbol of each validation song, scored from the start padding). For a fair comparison the final
weights of any recipe are also scored two fixed ways at the end: next-symbol loss after a ``sequence_length``
window over every validation window (``window_val_loss``), and per-symbol loss of whole validation songs from
the start padding with the state carried through (``song_val_loss``, how the engine generates and scores).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from antiphon.engine.artifact import load_artifact, save_artifact  # noqa: E402
from antiphon.engine.events import DEFAULT_ACCEPTED_DURATIONS  # noqa: E402
from antiphon.engine.meter import MAX_BAR_STEPS  # noqa: E402
from antiphon.training.cache_tune import tune_song_memory  # noqa: E402
from antiphon.training.callbacks import EpochLog, TimeBudget  # noqa: E402
from antiphon.training.curves import plot_training_curves  # noqa: E402
from antiphon.training.dataset import DATASET_FILE, MAPPING_FILE, load_dataset  # noqa: E402
from antiphon.training.distribute import (  # noqa: E402
    STRATEGIES,
    configure_cpu_devices,
    cpu_devices_from_env,
    is_chief,
    make_strategy,
    replica_count,
)
from antiphon.training.model import (  # noqa: E402
    DEFAULT_DROPOUT,
    DEFAULT_LEARNING_RATE,
    DEFAULT_UNITS,
    build_model,
    export_weights,
    import_weights,
)
from antiphon.training.pipeline import INPUTS, PlanBatches, song_dataset, song_files  # noqa: E402
from antiphon.training.scoring import EVAL_BATCH_SIZE, compile_for_songs, song_loss, window_loss  # noqa: E402
from antiphon.training.sequences import (  # noqa: E402
    DEFAULT_CHUNK_LENGTH,
    RECIPES,
    SPLIT_FRACTIONS,
    BatchPlan,
    SongPlan,
    build_stream,
    songs_to_int,
    split_songs,
)

log = logging.getLogger(__name__)

MODEL_FILE = "model.keras"
CURVES_FILE = "training_curves.png"
DEFAULT_EPOCHS = 50
DEFAULT_RECIPE = "song"
DEFAULT_BATCH_SIZE = 64


@dataclass
class TrainResult:
    """What ``train`` wrote and measured."""

    out_dir: Path
    config: dict[str, Any]
    history: dict[str, list[float]]
    window_val_loss: float
    batches_per_epoch: int
    batch_seconds: list[float] = field(repr=False)
    train_seconds: float = 0.0


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _set_threads(threads: int | None) -> None:
    if threads is None:
        return
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # TensorFlow already started in this process: keep its settings
        log.debug("TensorFlow already initialised; thread settings unchanged")


def _check_args(recipe: str, epochs: int, batch_size: int, units: int, layers: int, dropout: float,
                learning_rate: float, chunk_length: int, patience: int | None, strategy: str,
                input_pipeline: str) -> None:
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    if input_pipeline not in INPUTS:
        raise ValueError(f"unknown input {input_pipeline!r}; choose one of {', '.join(INPUTS)}")
    if input_pipeline == "tfdata" and recipe != "song":
        raise ValueError(f"the tfdata input serves the song recipe only, not {recipe!r}; use input 'memory'")
    if strategy != "default" and input_pipeline != "tfdata":
        raise ValueError(f"strategy {strategy!r} trains the song recipe on the tfdata input only; got recipe "
                         f"{recipe!r}, input {input_pipeline!r}")
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("units", units), ("layers", layers),
                        ("chunk_length", chunk_length)):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    if not learning_rate > 0.0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate!r}")
    if patience is not None and patience <= 0:
        raise ValueError(f"patience must be a positive integer, got {patience!r}")


def train(data_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], *, recipe: str = DEFAULT_RECIPE,
          epochs: int = DEFAULT_EPOCHS, batch_size: int = DEFAULT_BATCH_SIZE, units: int = DEFAULT_UNITS,
          layers: int = 1, dropout: float = DEFAULT_DROPOUT, learning_rate: float = DEFAULT_LEARNING_RATE,
          seed: int = 0, chunk_length: int = DEFAULT_CHUNK_LENGTH, patience: int | None = None,
          max_seconds: float | None = None, threads: int | None = None, verbose: int = 0,
          strategy: str = "default", input_pipeline: str | None = None,
          cpu_devices: int | None = None, cache: bool = True, positions: bool = True,
          events: bool = True) -> TrainResult:
    """Train on the dataset folder ``data_dir`` and write the model and artifact into ``out_dir``.

    ``recipe`` is ``"song"`` (whole songs from the start padding, a target at every step), ``"per_step"`` (a
    target at every step of ``chunk_length`` chunks) or ``"window"`` (the report's: a ``sequence_length``
    window -> the next symbol). ``patience`` enables early stopping on the
    validation loss, restoring the best epoch's weights. ``max_seconds`` stops training after that much
    wall time (at a batch end, then validates). ``threads`` caps TensorFlow's CPU threads. ``cache`` tunes the
    engine's neural cache (``engine/cache.py``) on the validation songs and stores it in the config;
    ``events`` then fits and tunes the event model mixed into it (``engine/mixture.py``).
    ``positions`` feeds the bar position of each step as extra inputs (song recipe, in-memory input, when the
    dataset has meters; ``engine/meter.py``).

    ``strategy`` is ``"default"``, ``"mirrored"`` (every local GPU, else every logical CPU device) or
    ``"multiworker"`` (machines named in ``TF_CONFIG``; only the chief writes ``out_dir``); ``batch_size``
    is the global batch, split across replicas. ``input_pipeline`` is ``"memory"`` (batches built in numpy
    from the loaded songs) or ``"tfdata"`` (``training.pipeline``, streamed from ``songs/*.txt``; song recipe
    only); by default ``tfdata`` under a distributed strategy, else ``memory``. ``cpu_devices`` (or
    ``$ANTIPHON_CPU_DEVICES``) splits the CPU into that many logical devices before TensorFlow starts.
    """
    if input_pipeline is None:
        input_pipeline = "tfdata" if strategy != "default" and recipe == "song" else "memory"
    _check_args(recipe, epochs, batch_size, units, layers, dropout, learning_rate, chunk_length, patience,
                strategy, input_pipeline)
    cpu_devices = cpu_devices_from_env(cpu_devices)
    if cpu_devices is not None:
        configure_cpu_devices(cpu_devices)
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    dataset = load_dataset(data_dir)
    vocab, songs, length = dataset.vocab, dataset.songs, dataset.sequence_length
    train_idx, val_idx, test_idx = split_songs(len(songs), seed)
    train_stream = build_stream(songs, train_idx, vocab, length)
    val_stream = build_stream(songs, val_idx, vocab, length)

    _set_threads(threads)
    distribution = make_strategy(strategy)
    replicas = replica_count(distribution)
    if batch_size % replicas:
        raise ValueError(f"batch_size {batch_size} must be a multiple of the {replicas} replicas")
    chief = is_chief()
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    plan_args = {"sequence_length": length, "chunk_length": chunk_length}
    delimiter = vocab.index("/")
    val_songs = songs_to_int([songs[i] for i in val_idx], vocab)
    entries = dataset.manifest.get("songs") or [{}] * len(songs)
    meters = [entry.get("meter") or None for entry in entries]
    use_positions = positions and recipe == "song" and input_pipeline == "memory" and any(meters)
    position_features = MAX_BAR_STEPS if use_positions else 0
    val_meters = [meters[i] for i in val_idx]
    train_plan: BatchPlan | SongPlan
    val_plan: BatchPlan | SongPlan
    if input_pipeline == "tfdata":
        if len(song_files(data_dir)) != len(songs):
            raise ValueError(f"{data_dir}: songs/ holds {len(song_files(data_dir))} files but {DATASET_FILE} "
                             f"{len(songs)} songs (run `antiphon preprocess` again)")
        train_data: Any = song_dataset(data_dir, train_idx, vocab, sequence_length=length, batch_size=batch_size,
                                       seed=seed, replicas=replicas)
        val_data: Any = song_dataset(data_dir, val_idx, vocab, sequence_length=length,
                                     batch_size=max(batch_size, EVAL_BATCH_SIZE), lengths=[len(s) for s in songs],
                                     replicas=replicas)
        batches_per_epoch = -(-len(train_idx) // batch_size)
    elif recipe == "song":
        train_plan = SongPlan(songs_to_int([songs[i] for i in train_idx], vocab), len(vocab), batch_size,
                              sequence_length=length, delimiter_index=delimiter, rng=rng,
                              meters=[meters[i] for i in train_idx], position_features=position_features)
        val_plan = SongPlan(val_songs, len(vocab), max(batch_size, EVAL_BATCH_SIZE), sequence_length=length,
                            delimiter_index=delimiter, meters=val_meters, position_features=position_features)
    else:
        train_plan = BatchPlan(train_stream, recipe, len(vocab), batch_size, rng=rng, **plan_args)
        val_plan = BatchPlan(val_stream, recipe, len(vocab), max(batch_size, EVAL_BATCH_SIZE), **plan_args)
    if input_pipeline == "memory":
        train_data, val_data = PlanBatches(train_plan, shuffle=True), PlanBatches(val_plan, shuffle=False)
        batches_per_epoch = len(train_plan)
    log.info("%s recipe, %s input, %s strategy (%d replicas): %d train songs (%d symbols, %d batches/epoch), "
             "%d validation, %d test; vocabulary %d", recipe, input_pipeline, strategy, replicas, len(train_idx),
             len(train_stream), batches_per_epoch, len(val_idx), len(test_idx), len(vocab))

    with distribution.scope() if distribution is not None else contextlib.nullcontext():
        model = build_model(len(vocab), units=units, layers=layers, dropout=dropout, learning_rate=learning_rate,
                            return_sequences=recipe != "window", position_features=position_features)
        if recipe == "song":
            compile_for_songs(model, learning_rate, distributed=distribution is not None)
    epoch_log, budget = EpochLog(epochs), TimeBudget(max_seconds)
    callbacks: list[keras.callbacks.Callback] = [epoch_log, budget]
    if patience is not None:
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience,
                                                       restore_best_weights=True))
    t0 = time.perf_counter()
    fit = model.fit(train_data, validation_data=val_data, epochs=epochs, callbacks=callbacks, verbose=verbose)
    train_seconds = time.perf_counter() - t0
    history = {name: [float(v) for v in values] for name, values in fit.history.items()}
    history["epoch_seconds"] = epoch_log.seconds

    weights = export_weights(model)
    if recipe == "window" and history.get("val_loss"):
        # Keras's validation already is the window-context score; the kept weights are the last epoch's, or
        # the best epoch's (the first minimum) when early stopping restored them.
        kept = int(np.argmin(history["val_loss"])) if patience is not None else len(history["val_loss"]) - 1
        val_loss, val_accuracy = history["val_loss"][kept], history["val_accuracy"][kept]
    elif position_features:
        val_loss, val_accuracy = float("nan"), float("nan")  # windows carry no bar positions: not comparable
    else:
        val_loss, val_accuracy = window_loss(weights, val_stream, vocab_size=len(vocab), units=units,
                                             layers=layers, sequence_length=length)
    log.info("window-context validation loss %.4f, accuracy %.4f", val_loss, val_accuracy)
    if recipe == "song" and history.get("val_loss"):
        kept = int(np.argmin(history["val_loss"])) if patience is not None else len(history["val_loss"]) - 1
        song_val, song_acc = history["val_loss"][kept], history["val_accuracy"][kept]
    else:
        song_val, song_acc = song_loss(weights, val_songs, vocab_size=len(vocab), units=units, layers=layers,
                                       sequence_length=length, delimiter_index=delimiter, meters=val_meters,
                                       position_features=position_features)
    log.info("whole-song validation loss %.4f, accuracy %.4f", song_val, song_acc)

    settings = dataset.manifest.get("settings", {})
    val_losses = history.get("val_loss", [])
    config = {
        "architecture": {"type": "lstm", "units": units, "layers": layers, "vocab_size": len(vocab),
                         "dropout": dropout, "position_features": position_features},
        "sequence_length": length,
        "steps_per_quarter": dataset.steps_per_quarter,
        "accepted_durations": list(settings.get("accepted_durations", DEFAULT_ACCEPTED_DURATIONS)),
        "corpus": dataset.manifest.get("corpus"),
        "dataset": {"path": str(data_dir), "songs": len(songs),
                    "dataset_sha256": _file_sha256(data_dir / DATASET_FILE),
                    "mapping_sha256": _file_sha256(data_dir / MAPPING_FILE)},
        "split": {"seed": seed, "fractions": list(SPLIT_FRACTIONS), "train": train_idx, "validation": val_idx,
                  "test": test_idx},
        "training": {
            "recipe": recipe, "epochs": epochs, "epochs_run": len(epoch_log.seconds), "batch_size": batch_size,
            "learning_rate": learning_rate, "chunk_length": chunk_length if recipe == "per_step" else None,
            "patience": patience, "max_seconds": max_seconds, "stopped_by_time": budget.stopped_by_budget,
            "seed": seed, "train_seconds": train_seconds, "batches_per_epoch": batches_per_epoch,
            "strategy": strategy, "replicas": replicas, "input": input_pipeline,
            "best_epoch": int(np.argmin(val_losses)) + 1 if val_losses else None,
            "window_val_loss": val_loss, "window_val_accuracy": val_accuracy,
            "song_val_loss": song_val, "song_val_accuracy": song_acc,
            "history": history,
        },
    }
    if chief:  # in a multi-worker run only the chief writes; every worker holds the same weights
        out_dir.mkdir(parents=True, exist_ok=True)
        save_artifact(out_dir, config, vocab, weights)
        inference = build_model(len(vocab), units=units, layers=layers, dropout=dropout,
                                learning_rate=learning_rate, position_features=position_features)
        import_weights(inference, weights)
        # Saved uncompiled: an inference model needs no optimizer state.
        keras.Model(inference.inputs, inference.outputs, name=inference.name).save(out_dir / MODEL_FILE)
        plot_training_curves(history, out_dir / CURVES_FILE, recipe=recipe, window_val_loss=val_loss)
        if cache or events:
            for line in tune_song_memory(str(out_dir), str(data_dir), cache=cache, events=events):
                log.info(line)
            config = load_artifact(out_dir).config
    return TrainResult(out_dir=out_dir, config=config, history=history, window_val_loss=val_loss,
                       batches_per_epoch=batches_per_epoch, batch_seconds=budget.batch_seconds,
                       train_seconds=train_seconds)
