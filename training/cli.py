"""Training's commands: ``preprocess``, ``train`` and ``tune-cache`` (and, from ``cli_eval``, ``evaluate`` and
``plot``). Each checks its extra is installed, then imports music21 or TensorFlow inside the command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from antiphon.cli_support import require_extra, setup_logging, user_errors


def register(app: typer.Typer) -> None:
    """Add training's commands to ``app``."""
    from antiphon.training.cli_eval import evaluate, plot

    app.command()(preprocess)
    app.command()(train)
    app.command("tune-cache")(tune_cache)
    app.command()(evaluate)
    app.command()(plot)


# -- preprocess ---------------------------------------------------------------------------------------------


def preprocess(
    inputs: Annotated[Optional[list[str]], typer.Argument(
        help="Files, folders or bundled music21 corpus names (e.g. 'essenFolksong', 'essenFolksong/erk*'). "
             "Default: the Essen 'erk' songs that ship with music21.")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Dataset folder to write.")] = Path("build/dataset"),
    sequence_length: Annotated[int, typer.Option(help="Delimiter run between songs (the model's context).")] = 64,
    durations: Annotated[Optional[str], typer.Option(
        help="Accepted note/rest durations in quarter lengths, comma-separated "
             "(default 0.25,0.5,0.75,1,1.5,2,3,4).")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes (default: all cores).")] = 0,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Parse everything again.")] = False,
    scheduler: Annotated[Optional[str], typer.Option(
        help="Run the per-song work on a dask.distributed cluster at this address (tcp://HOST:8786); "
             "default: $ANTIPHON_DASK_SCHEDULER, else local processes.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the full report as JSON.")] = False,
) -> None:
    """Load a corpus, keep songs with accepted durations, transpose to C major / A minor, encode, save."""
    require_extra("train", "music21", "tqdm")
    import json

    from antiphon.training.corpus import Settings
    from antiphon.training.preprocess import preprocess as run_preprocess

    settings = Settings()
    if durations:
        try:
            accepted = tuple(sorted(float(d) for d in durations.split(",") if d.strip()))
        except ValueError as err:
            raise typer.BadParameter(f"--durations must be numbers separated by commas: {durations!r}") from err
        if not accepted or any(d <= 0 for d in accepted):
            raise typer.BadParameter(f"--durations must be positive numbers: {durations!r}")
        settings = Settings(accepted_durations=accepted)
    with user_errors():
        report = run_preprocess(inputs, out, settings=settings, sequence_length=sequence_length,
                                workers=workers or None, use_cache=not no_cache, progress_bar=True,
                                scheduler=scheduler)
    skipped = ", ".join(f"{reason} {count}" for reason, count in report["skipped"].items())
    typer.echo(f"files read {report['files_read']}, songs found {report['songs_found']}, kept {report['kept']}; "
               f"skipped: {skipped}")
    typer.echo(f"parsed {report['parsed']}, from cache {report['from_cache']}, {report['seconds']:.1f} s -> {out}")
    for entry in report["skipped_songs"][:20]:
        typer.echo(f"  skipped {entry['source']}: {entry['reason']} ({entry['detail']})")
    if len(report["skipped_songs"]) > 20:
        typer.echo(f"  ... {len(report['skipped_songs']) - 20} more in {out / 'report.json'}")
    if json_out:
        typer.echo(json.dumps({k: v for k, v in report.items() if k != "skipped_songs"}))


# -- train --------------------------------------------------------------------------------------------------


def train(
    data: Annotated[Path, typer.Option("--data", "-d", help="Dataset folder written by `antiphon preprocess`.")]
        = Path("build/dataset"),
    out: Annotated[Path, typer.Option("--out", "-o", help="Model folder to write: the runtime artifact "
                                      "(weights.npz, vocab.json, config.json), model.keras and "
                                      "training_curves.png.")] = Path("build/model"),
    recipe: Annotated[str, typer.Option(help="song (whole songs from the start padding, a target at every step; "
                                        "the default), per_step (a target at every step of fixed chunks) or "
                                        "window (the report's: one-hot window -> next symbol).")] = "song",
    epochs: Annotated[int, typer.Option(help="Maximum number of epochs.")] = 50,
    batch_size: Annotated[int, typer.Option(help="Sequences per batch.")] = 64,
    units: Annotated[int, typer.Option(help="LSTM units.")] = 256,
    layers: Annotated[int, typer.Option(help="Stacked LSTM layers.")] = 1,
    dropout: Annotated[float, typer.Option(help="Dropout rate after the LSTM.")] = 0.2,
    learning_rate: Annotated[float, typer.Option(help="Adam learning rate.")] = 0.001,
    chunk_length: Annotated[int, typer.Option(help="Steps per training chunk (per_step recipe).")] = 128,
    seed: Annotated[int, typer.Option(help="Seed for the song split, weights and batch order.")] = 0,
    patience: Annotated[Optional[int], typer.Option(
        help="Stop after this many epochs without a better validation loss and keep the best epoch.")] = None,
    max_minutes: Annotated[Optional[float], typer.Option(help="Stop training after this much wall time.")] = None,
    threads: Annotated[Optional[int], typer.Option(help="TensorFlow CPU threads (default: all cores).")] = None,
    strategy: Annotated[str, typer.Option(
        help="default (one device: a GPU when TensorFlow sees one), mirrored (every local GPU) or multiworker "
             "(several machines, each given its role by TF_CONFIG). --batch-size is the global batch.")]
        = "default",
    input_pipeline: Annotated[Optional[str], typer.Option(
        "--input", help="memory (numpy batches of the loaded songs) or tfdata (a tf.data pipeline streamed "
                        "from the dataset's songs/*.txt; song recipe only). Default: tfdata under mirrored "
                        "or multiworker, else memory.")] = None,
    cpu_devices: Annotated[Optional[int], typer.Option(
        hidden=True, help="Split the CPU into N logical devices (to try mirrored without GPUs); "
                          "also $ANTIPHON_CPU_DEVICES.")] = None,
    positions: Annotated[bool, typer.Option(help="Feed each step's bar position as extra inputs (song recipe, "
                                                 "either input; needs meters in the dataset).")] = True,
    song_cache: Annotated[bool, typer.Option("--song-cache/--no-song-cache",
                                             help="Tune the engine's neural song cache on validation.")] = True,
    event_model: Annotated[bool, typer.Option("--event-model/--no-event-model",
                                              help="Fit the IDyOM-style event model and tune its mixture with "
                                                   "the LSTM on validation.")] = True,
    hold_out: Annotated[Optional[list[Path]], typer.Option(
        help="A model folder whose test songs must be this model's test songs (found in this dataset by "
             "their notes; its dataset folder must exist), so both are scored on the same songs. "
             "Repeatable.")] = None,
    init_from: Annotated[Optional[Path], typer.Option(
        help="Start from this trained model's weights (same dataset vocabulary): go on with a run that its time "
             "budget stopped.")] = None,
    progress: Annotated[bool, typer.Option(help="Show Keras progress bars.")] = False,
    log_level: Annotated[str, typer.Option(help="Logging level.")] = "INFO",
) -> None:
    """Train the LSTM on a preprocessed dataset; print validation loss each epoch; write model and artifact."""
    require_extra("train", "tensorflow")
    setup_logging(log_level)
    from antiphon.training.train import train as run_train

    with user_errors():
        result = run_train(data, out, recipe=recipe, epochs=epochs, batch_size=batch_size, units=units,
                           layers=layers, dropout=dropout, learning_rate=learning_rate, chunk_length=chunk_length,
                           seed=seed, patience=patience, threads=threads, verbose=1 if progress else 0,
                           max_seconds=None if max_minutes is None else max_minutes * 60.0,
                           strategy=strategy, input_pipeline=input_pipeline, cpu_devices=cpu_devices,
                           positions=positions, cache=song_cache, events=event_model,
                           hold_out=tuple(str(p) for p in hold_out or ()),
                           init_from=None if init_from is None else str(init_from))
    training = result.config["training"]
    if training["strategy"] != "default" or training["input"] != "memory":
        typer.echo(f"{training['strategy']} strategy, {training['replicas']} replicas, {training['input']} input")
    typer.echo(f"{training['recipe']} recipe: {training['epochs_run']} epochs in {result.train_seconds:.0f} s; "
               f"validation loss per symbol: whole songs {training['song_val_loss']:.4f}, "
               f"{result.config['sequence_length']}-step window {result.window_val_loss:.4f} "
               f"(accuracy {training['window_val_accuracy']:.3f}) -> {out}")


def tune_cache(
    model: Annotated[Path, typer.Option("--model", "-m", help="Model folder written by `antiphon train`.")],
    data: Annotated[Optional[Path], typer.Option(help="Dataset folder (default: the one the model names).")] = None,
    event_model: Annotated[bool, typer.Option("--event-model/--no-event-model",
                                              help="Then fit and tune the event model.")] = True,
    pitch_weight: Annotated[Optional[float], typer.Option(
        help="Fix the event model's pitch weight (0-1) instead of the validation-best one.")] = None,
    hold_weight: Annotated[Optional[float], typer.Option(
        help="Fix the event model's hold weight (0-1) instead of the validation-best one.")] = None,
) -> None:
    """Tune the model's memory of the current song on its validation songs: the neural cache, then the
    IDyOM-style event model mixed into the LSTM."""
    from antiphon.training.tune import tune_song_memory

    with user_errors():
        lines = tune_song_memory(str(model), None if data is None else str(data), events=event_model,
                                 pitch_weight=pitch_weight, hold_weight=hold_weight)
    typer.echo("\n".join(lines) + f" ({model / 'config.json'})")
