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

from antiphon.engine.artifact import load_artifact, load_config, save_artifact  # noqa: E402
from antiphon.engine.events import DEFAULT_ACCEPTED_DURATIONS  # noqa: E402
from antiphon.engine.meter import MAX_BAR_STEPS  # noqa: E402
from antiphon.engine.model_config import Architecture, ModelConfig  # noqa: E402
from antiphon.training.callbacks import EpochLog, TimeBudget  # noqa: E402
from antiphon.training.curves import plot_training_curves  # noqa: E402
from antiphon.training.dataset import DATASET_FILE, MAPPING_FILE, Dataset, load_dataset  # noqa: E402
from antiphon.training.distribute import (  # noqa: E402
    configure_cpu_devices,
    cpu_devices_from_env,
    is_chief,
    make_strategy,
    replica_count,
)
from antiphon.training.model import build_model, export_weights, import_weights  # noqa: E402
from antiphon.training.pipeline import PlanBatches, song_dataset, song_files  # noqa: E402
from antiphon.training.scoring import EVAL_BATCH_SIZE, compile_for_songs, song_loss, window_loss  # noqa: E402
from antiphon.training.sequences import (  # noqa: E402
    SPLIT_FRACTIONS,
    BatchPlan,
    SongPlan,
    build_stream,
    keep_test_songs_out,
    songs_to_int,
    split_songs,
)
from antiphon.training.train_settings import TrainSettings  # noqa: E402
from antiphon.training.tune import tune_song_memory  # noqa: E402

log = logging.getLogger(__name__)

MODEL_FILE = "model.keras"
CURVES_FILE = "training_curves.png"


@dataclass
class TrainResult:
    """What ``train`` wrote and measured; ``config`` is the model's ``config.json`` as a JSON object."""

    out_dir: Path
    config: dict[str, Any]
    history: dict[str, list[float]]
    window_val_loss: float
    batches_per_epoch: int
    batch_seconds: list[float] = field(repr=False)
    train_seconds: float = 0.0


@dataclass
class TrainingData:
    """The dataset, its split and the batches each side of it (step 1 of ``train``)."""

    folder: Path
    dataset: Dataset
    split: tuple[list[int], list[int], list[int]]  # train, validation, test song indices
    val_songs: list[list[int]]
    val_meters: list
    position_features: int
    train_data: Any = None  # what model.fit takes: PlanBatches or a tf.data.Dataset
    val_data: Any = None
    val_stream: Any = None  # every validation symbol in one stream (the window score)
    batches_per_epoch: int = 0


@dataclass
class Fit:
    """What fitting measured (step 3 of ``train``)."""

    history: dict[str, list[float]]
    train_seconds: float
    stopped_by_time: bool
    batch_seconds: list[float]


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


def train(data_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], settings: TrainSettings | None = None,
          **options: Any) -> TrainResult:
    """Train on the dataset folder ``data_dir`` and write the model and artifact into ``out_dir``.

    ``settings``, or ``options`` naming its fields (``recipe="song"``, ``epochs=50``, ...): see
    :class:`~training.train_settings.TrainSettings`. In a multi-worker run only the chief writes ``out_dir``.
    """
    if settings is not None and options:
        raise TypeError(f"pass settings or options, not both (got {', '.join(sorted(options))})")
    settings = settings or TrainSettings(**options)
    cpu_devices = cpu_devices_from_env(settings.cpu_devices)
    if cpu_devices is not None:
        configure_cpu_devices(cpu_devices)
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    dataset = load_dataset(data_dir)
    _set_threads(settings.threads)
    distribution = make_strategy(settings.strategy)
    replicas = replica_count(distribution)
    if settings.batch_size % replicas:
        raise ValueError(f"batch_size {settings.batch_size} must be a multiple of the {replicas} replicas")
    data = load_training_data(data_dir, dataset, settings, replicas)
    model = build_keras_model(settings, len(dataset.vocab), data.position_features, distribution)
    if settings.init_from:
        start_from(model, settings.init_from, dataset.vocab, data.position_features)
    fit = fit_model(model, data, settings)
    weights = export_weights(model)
    config = model_config(data, settings, fit, weights, replicas)
    if is_chief():  # in a multi-worker run only the chief writes; every worker holds the same weights
        export_artifact(out_dir, config, dataset.vocab, weights, settings)
        if settings.cache or settings.events:
            for line in tune_song_memory(str(out_dir), str(data_dir), cache=settings.cache, events=settings.events):
                log.info(line)
            config = load_config(out_dir)
    return TrainResult(out_dir=out_dir, config=config.as_json(), history=fit.history,
                       window_val_loss=config.training["window_val_loss"], batches_per_epoch=data.batches_per_epoch,
                       batch_seconds=fit.batch_seconds, train_seconds=fit.train_seconds)


def held_out_songs(songs: list[list[str]], models: tuple[str, ...]) -> list[int]:
    """Indices of the songs that are another model's test songs (``--hold-out``); every one must be found."""
    if not models:
        return []
    from antiphon.training.eval_data import test_songs_of

    where: dict[tuple[str, ...], list[int]] = {}
    for index, song in enumerate(songs):
        where.setdefault(tuple(song), []).append(index)
    found: list[int] = []
    for model in models:
        wanted = test_songs_of(model)
        missing = [song for song in wanted if tuple(song) not in where]
        if missing:
            raise ValueError(f"{len(missing)} of the {len(wanted)} test songs of {model} are not in this dataset; "
                             "preprocess their corpus into it with the same settings")
        found += [i for song in wanted for i in where[tuple(song)]]
        log.info("holding out the %d test songs of %s", len(wanted), model)
    return found


def load_training_data(folder: Path, dataset: Dataset, settings: TrainSettings, replicas: int) -> TrainingData:
    """Split the songs (seeded) and serve each side in batches for the recipe and input pipeline."""
    recipe, batch_size, seed = settings.recipe, settings.batch_size, settings.seed
    vocab, songs, length = dataset.vocab, dataset.songs, dataset.sequence_length
    held = held_out_songs(songs, settings.hold_out)
    train_idx, val_idx, test_idx = keep_test_songs_out(songs, *split_songs(len(songs), seed, test_first=held))
    train_stream = build_stream(songs, train_idx, vocab, length)
    val_stream = build_stream(songs, val_idx, vocab, length)
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    delimiter = vocab.index("/")
    entries = dataset.manifest.get("songs") or [{}] * len(songs)
    meters = [entry.get("meter") or None for entry in entries]
    use_positions = settings.positions and recipe == "song" and any(meters)
    data = TrainingData(folder=folder, dataset=dataset, split=(train_idx, val_idx, test_idx),
                        val_songs=songs_to_int([songs[i] for i in val_idx], vocab),
                        val_meters=[meters[i] for i in val_idx],
                        position_features=MAX_BAR_STEPS if use_positions else 0, val_stream=val_stream)
    eval_batch = max(batch_size, EVAL_BATCH_SIZE)
    train_plan: BatchPlan | SongPlan
    val_plan: BatchPlan | SongPlan
    if settings.input_pipeline == "tfdata":
        if len(song_files(folder)) != len(songs):
            raise ValueError(f"{folder}: songs/ holds {len(song_files(folder))} files but {DATASET_FILE} "
                             f"{len(songs)} songs (run `antiphon preprocess` again)")
        lengths = [len(s) for s in songs]
        data.train_data = song_dataset(folder, train_idx, vocab, sequence_length=length, batch_size=batch_size,
                                       seed=seed, replicas=replicas, meters=meters, lengths=lengths,
                                       position_features=data.position_features)
        data.val_data = song_dataset(folder, val_idx, vocab, sequence_length=length, batch_size=eval_batch,
                                     lengths=lengths, replicas=replicas, meters=meters,
                                     position_features=data.position_features)
        data.batches_per_epoch = -(-len(train_idx) // batch_size)
    else:
        if recipe == "song":
            train_plan = SongPlan(songs_to_int([songs[i] for i in train_idx], vocab), len(vocab), batch_size,
                                  sequence_length=length, delimiter_index=delimiter, rng=rng,
                                  meters=[meters[i] for i in train_idx], position_features=data.position_features)
            val_plan = SongPlan(data.val_songs, len(vocab), eval_batch, sequence_length=length,
                                delimiter_index=delimiter, meters=data.val_meters,
                                position_features=data.position_features)
        else:
            plan_args = {"sequence_length": length, "chunk_length": settings.chunk_length}
            train_plan = BatchPlan(train_stream, recipe, len(vocab), batch_size, rng=rng, **plan_args)
            val_plan = BatchPlan(val_stream, recipe, len(vocab), eval_batch, **plan_args)
        data.train_data, data.val_data = PlanBatches(train_plan, shuffle=True), PlanBatches(val_plan, shuffle=False)
        data.batches_per_epoch = len(train_plan)
    log.info("%s recipe, %s input, %s strategy (%d replicas): %d train songs (%d symbols, %d batches/epoch), "
             "%d validation, %d test; vocabulary %d", recipe, settings.input_pipeline, settings.strategy, replicas,
             len(train_idx), len(train_stream), data.batches_per_epoch, len(val_idx), len(test_idx), len(vocab))
    return data


def start_from(model: keras.Model, folder: str, vocab: Any, position_features: int) -> None:
    """Start training from a trained artifact's weights (``--init-from``: a run stopped by its time budget goes on);
    its vocabulary and inputs must be this dataset's."""
    artifact = load_artifact(folder)
    if artifact.vocab != vocab or artifact.model_config.architecture.position_features != position_features:
        raise ValueError(f"{folder} has another vocabulary or other position inputs than this dataset's model")
    try:
        import_weights(model, artifact.weights)
    except ValueError as err:
        raise ValueError(f"{folder}: its weights do not fit this model ({err})") from None
    log.info("starting from the weights of %s", folder)


def build_keras_model(settings: TrainSettings, vocab_size: int, position_features: int,
                      distribution: Any) -> keras.Model:
    """The Keras LSTM to fit (under ``distribution``'s scope when there is one), compiled for the recipe."""
    with distribution.scope() if distribution is not None else contextlib.nullcontext():
        model = build_model(vocab_size, units=settings.units, layers=settings.layers, dropout=settings.dropout,
                            learning_rate=settings.learning_rate, return_sequences=settings.recipe != "window",
                            position_features=position_features)
        if settings.recipe == "song":
            compile_for_songs(model, settings.learning_rate, distributed=distribution is not None)
    return model


def fit_model(model: keras.Model, data: TrainingData, settings: TrainSettings) -> Fit:
    """Fit with per-epoch logging, the time budget and (with ``patience``) early stopping."""
    epoch_log, budget = EpochLog(settings.epochs), TimeBudget(settings.max_seconds)
    callbacks: list[keras.callbacks.Callback] = [epoch_log, budget]
    if settings.patience is not None:
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=settings.patience,
                                                       restore_best_weights=True))
    t0 = time.perf_counter()
    fit = model.fit(data.train_data, validation_data=data.val_data, epochs=settings.epochs, callbacks=callbacks,
                    verbose=settings.verbose)
    train_seconds = time.perf_counter() - t0
    history = {name: [float(v) for v in values] for name, values in fit.history.items()}
    history["epoch_seconds"] = epoch_log.seconds
    return Fit(history=history, train_seconds=train_seconds, stopped_by_time=budget.stopped_by_budget,
               batch_seconds=budget.batch_seconds)


def _kept_epoch(history: dict[str, list[float]], settings: TrainSettings) -> int:
    """The epoch whose weights were kept: the last, or the best (the first minimum) when early stopping."""
    return int(np.argmin(history["val_loss"])) if settings.patience is not None else len(history["val_loss"]) - 1


def final_scores(data: TrainingData, settings: TrainSettings, history: dict[str, list[float]],
                 weights: dict[str, np.ndarray]) -> dict[str, float]:
    """The kept weights' validation loss and accuracy after a window and over whole songs (nats per symbol)."""
    vocab_size, length = len(data.dataset.vocab), data.dataset.sequence_length
    if settings.recipe == "window" and history.get("val_loss"):
        # Keras's validation already is the window-context score.
        kept = _kept_epoch(history, settings)
        val_loss, val_accuracy = history["val_loss"][kept], history["val_accuracy"][kept]
    elif data.position_features:
        val_loss, val_accuracy = float("nan"), float("nan")  # windows carry no bar positions: not comparable
    else:
        val_loss, val_accuracy = window_loss(weights, data.val_stream, vocab_size=vocab_size, units=settings.units,
                                             layers=settings.layers, sequence_length=length)
    log.info("window-context validation loss %.4f, accuracy %.4f", val_loss, val_accuracy)
    if settings.recipe == "song" and history.get("val_loss"):
        kept = _kept_epoch(history, settings)
        song_val, song_acc = history["val_loss"][kept], history["val_accuracy"][kept]
    else:
        song_val, song_acc = song_loss(weights, data.val_songs, vocab_size=vocab_size, units=settings.units,
                                       layers=settings.layers, sequence_length=length,
                                       delimiter_index=data.dataset.vocab.index("/"), meters=data.val_meters,
                                       position_features=data.position_features)
    log.info("whole-song validation loss %.4f, accuracy %.4f", song_val, song_acc)
    return {"window_val_loss": val_loss, "window_val_accuracy": val_accuracy, "song_val_loss": song_val,
            "song_val_accuracy": song_acc}


def model_config(data: TrainingData, settings: TrainSettings, fit: Fit, weights: dict[str, np.ndarray],
                 replicas: int) -> ModelConfig:
    """The model's config: architecture, grid, corpus identity, split and the training record."""
    dataset, folder, history = data.dataset, data.folder, fit.history
    train_idx, val_idx, test_idx = data.split
    val_losses = history.get("val_loss", [])
    durations = dataset.manifest.get("settings", {}).get("accepted_durations", DEFAULT_ACCEPTED_DURATIONS)
    return ModelConfig(
        architecture=Architecture(type="lstm", units=settings.units, layers=settings.layers,
                                  vocab_size=len(dataset.vocab), dropout=settings.dropout,
                                  position_features=data.position_features),
        sequence_length=dataset.sequence_length, steps_per_quarter=dataset.steps_per_quarter,
        accepted_durations=tuple(durations), corpus=dataset.manifest.get("corpus"),
        dataset={"path": str(folder), "songs": len(dataset.songs),
                 "dataset_sha256": _file_sha256(folder / DATASET_FILE),
                 "mapping_sha256": _file_sha256(folder / MAPPING_FILE)},
        split={"seed": settings.seed, "fractions": list(SPLIT_FRACTIONS), "held_out_from": list(settings.hold_out),
               "train": train_idx,
               "validation": val_idx, "test": test_idx},
        training={
            "recipe": settings.recipe, "epochs": settings.epochs, "epochs_run": len(history["epoch_seconds"]),
            "batch_size": settings.batch_size, "learning_rate": settings.learning_rate,
            "chunk_length": settings.chunk_length if settings.recipe == "per_step" else None,
            "patience": settings.patience, "max_seconds": settings.max_seconds,
            "stopped_by_time": fit.stopped_by_time, "seed": settings.seed, "train_seconds": fit.train_seconds,
            "batches_per_epoch": data.batches_per_epoch, "strategy": settings.strategy, "replicas": replicas,
            "input": settings.input_pipeline, "best_epoch": int(np.argmin(val_losses)) + 1 if val_losses else None,
            **final_scores(data, settings, history, weights),
            "history": history,
        })


def export_artifact(out_dir: Path, config: ModelConfig, vocab: Any, weights: dict[str, np.ndarray],
                    settings: TrainSettings) -> None:
    """Write the runtime artifact, the Keras inference model and the training curves into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    save_artifact(out_dir, config, vocab, weights)
    inference = build_model(len(vocab), units=settings.units, layers=settings.layers, dropout=settings.dropout,
                            learning_rate=settings.learning_rate,
                            position_features=config.architecture.position_features)
    import_weights(inference, weights)
    # Saved uncompiled: an inference model needs no optimizer state.
    keras.Model(inference.inputs, inference.outputs, name=inference.name).save(out_dir / MODEL_FILE)
    plot_training_curves(config.training["history"], out_dir / CURVES_FILE, recipe=settings.recipe,
                         window_val_loss=config.training["window_val_loss"])
