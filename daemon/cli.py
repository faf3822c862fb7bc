"""The ``antiphon`` command line (Typer). Heavy imports happen inside the commands that need them."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(
    name="antiphon",
    help="Antiphon: play a phrase, hear a continuation in the same style.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main() -> None:
    """Antiphon: a real-time MIDI call-and-response improviser with an LSTM melody model."""


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


# -- preprocess ---------------------------------------------------------------------------------------------


@app.command()
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
    import json

    from training.corpus import Settings
    from training.preprocess import preprocess as run_preprocess

    settings = Settings()
    if durations:
        try:
            accepted = tuple(sorted(float(d) for d in durations.split(",") if d.strip()))
        except ValueError as err:
            raise typer.BadParameter(f"--durations must be numbers separated by commas: {durations!r}") from err
        if not accepted or any(d <= 0 for d in accepted):
            raise typer.BadParameter(f"--durations must be positive numbers: {durations!r}")
        settings = Settings(accepted_durations=accepted)
    try:
        report = run_preprocess(inputs, out, settings=settings, sequence_length=sequence_length,
                                workers=workers or None, use_cache=not no_cache, progress_bar=True,
                                scheduler=scheduler)
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from err
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


@app.command()
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
                                                 "memory input; needs meters in the dataset).")] = True,
    song_cache: Annotated[bool, typer.Option("--song-cache/--no-song-cache",
                                             help="Tune the engine's neural song cache on validation.")] = True,
    progress: Annotated[bool, typer.Option(help="Show Keras progress bars.")] = False,
    log_level: Annotated[str, typer.Option(help="Logging level.")] = "INFO",
) -> None:
    """Train the LSTM on a preprocessed dataset; print validation loss each epoch; write model and artifact."""
    _setup_logging(log_level)
    from training.train import train as run_train

    try:
        result = run_train(data, out, recipe=recipe, epochs=epochs, batch_size=batch_size, units=units,
                           layers=layers, dropout=dropout, learning_rate=learning_rate, chunk_length=chunk_length,
                           seed=seed, patience=patience, threads=threads, verbose=1 if progress else 0,
                           max_seconds=None if max_minutes is None else max_minutes * 60.0,
                           strategy=strategy, input_pipeline=input_pipeline, cpu_devices=cpu_devices,
                           positions=positions, cache=song_cache)
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from err
    training = result.config["training"]
    if training["strategy"] != "default" or training["input"] != "memory":
        typer.echo(f"{training['strategy']} strategy, {training['replicas']} replicas, {training['input']} input")
    typer.echo(f"{training['recipe']} recipe: {training['epochs_run']} epochs in {result.train_seconds:.0f} s; "
               f"validation loss per symbol: whole songs {training['song_val_loss']:.4f}, "
               f"{result.config['sequence_length']}-step window {result.window_val_loss:.4f} "
               f"(accuracy {training['window_val_accuracy']:.3f}) -> {out}")


@app.command("tune-cache")
def tune_cache_command(
    model: Annotated[Path, typer.Option("--model", "-m", help="Model folder written by `antiphon train`.")],
    data: Annotated[Optional[Path], typer.Option(help="Dataset folder (default: the one the model names).")] = None,
) -> None:
    """Tune the model's neural cache (short-term memory of the current song) on its validation songs."""
    from training.cache_tune import tune_artifact

    try:
        result = tune_artifact(str(model), None if data is None else str(data))
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from err
    typer.echo(f"cache lam {result['lam']:.2f}, theta {result['theta']:.2f}: validation loss per symbol "
               f"{result['val_loss_without']:.4f} -> {result['val_loss']:.4f} ({model / 'config.json'})")


# -- generate -----------------------------------------------------------------------------------------------


def _parse_weights(items: list[str]) -> dict[str, float]:
    """``["r=0.9", "_=1.2"]`` -> {symbol: weight}; a malformed item is a ``BadParameter`` naming it."""
    weights: dict[str, float] = {}
    for item in items:
        symbol, sep, value = item.partition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = float("nan")
        if not sep or not symbol.strip() or not weight >= 0 or weight == float("inf"):
            raise typer.BadParameter(f"--weight expects SYMBOL=W with W a finite number >= 0, got {item!r}")
        weights[symbol.strip()] = weight
    return weights


@app.command()
def generate(
    seed: Annotated[str, typer.Option(help="Seed symbols in the model's key, e.g. '67 _ 67 _ 65 _ _ _'.")] = "",
    seed_file: Annotated[Optional[Path], typer.Option(
        help="Seed from a MIDI file: quantised to the grid (highest note wins), transposed into the model's "
             "key; the output is transposed back.")] = None,
    steps: Annotated[int, typer.Option(help="Most symbols (grid steps) to generate; stops early at '/'.")] = 256,
    temperature: Annotated[float, typer.Option(help="Base sampling temperature.")] = 1.0,
    weight: Annotated[Optional[list[str]], typer.Option(
        help="Symbol weight SYMBOL=W (repeatable); default r=0.9, others 1.0.")] = None,
    fixed_temperature: Annotated[bool, typer.Option(
        "--fixed-temperature", help="Sample at the base temperature always (no entropy rule).")] = False,
    random_seed: Annotated[Optional[int], typer.Option(help="Seed of the random generator (reproducible).")] = None,
    bpm: Annotated[Optional[float], typer.Option(help="Tempo of the written files [default: 120].")] = None,
    model: Annotated[Optional[Path], typer.Option(
        help="Model artifact folder (default: the bundled model, engine/bundled/).")] = None,
    mode: Annotated[Optional[str], typer.Option(help="Predictor: 'stateful' or 'window' (the report's).")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="MIDI file to write (seed + continuation).")] = Path(
        "generated.mid"),
    musicxml: Annotated[Optional[Path], typer.Option(help="Also write the melody as MusicXML.")] = None,
    meter: Annotated[str, typer.Option(help="Time signature of the seed (bar positions for the model), or "
                                            "'none'.")] = "4/4",
    pickup: Annotated[int, typer.Option(help="Steps of pickup before the seed's first downbeat.")] = 0,
) -> None:
    """Continue a seed melody with the model and write it as MIDI (and optionally MusicXML)."""
    import numpy as np

    from engine.events import DEFAULT_BPM
    from engine.keyfind import key_name, notes_to_model_key
    from engine.melody import decode_symbols, transpose_symbols
    from engine.midifile import read_midi_notes, write_midi
    from engine.model import DEFAULT_MODE, LstmModel, bundled_model_path
    from engine.sampler import DEFAULT_WEIGHTS, EntropySampler, SamplerConfig, parse_seed
    from engine.sampler import generate as generate_symbols

    if seed and seed_file:
        raise typer.BadParameter("give --seed or --seed-file, not both")
    if steps < 0:
        raise typer.BadParameter(f"--steps must be >= 0, got {steps}")
    if model is None:
        model = bundled_model_path()
        if model is None:
            typer.echo("error: no --model given and no bundled model in engine/bundled/; train one with "
                       "`antiphon train` and pass --model DIR", err=True)
            raise typer.Exit(2)
    weights = {**DEFAULT_WEIGHTS, **_parse_weights(weight or [])}
    bpm = DEFAULT_BPM if bpm is None else bpm
    if not bpm > 0:
        raise typer.BadParameter(f"--bpm must be positive, got {bpm}")
    try:
        lstm = LstmModel.load(model)
        config = SamplerConfig(temperature=temperature, adaptive=not fixed_temperature, weights=weights)
        sampler = EntropySampler(lstm.vocab, config, np.random.default_rng(random_seed))
        predictor = lstm.predictor(mode or DEFAULT_MODE)
        semitones = 0
        if seed_file is not None:
            seed_symbols, semitones, key = notes_to_model_key(
                read_midi_notes(seed_file, steps_per_quarter=lstm.steps_per_quarter), lstm.vocab)
            typer.echo(f"seed key {key_name(*key)}, transposed {semitones:+d} semitones into the model's key")
        else:
            seed_symbols = parse_seed(seed)
        from engine.meter import meter_from_signature

        segments = meter_from_signature(meter, lstm.steps_per_quarter, pickup)
        continuation = generate_symbols(predictor, sampler, seed_symbols, steps, segments)
        melody = transpose_symbols(seed_symbols + continuation, -semitones)
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from err
    notes = decode_symbols(melody)
    write_midi(notes, out, bpm=bpm, steps_per_quarter=lstm.steps_per_quarter)
    typer.echo(" ".join(melody))
    typer.echo(f"{len(continuation)} symbols generated after a {len(seed_symbols)}-symbol seed "
               f"({predictor.mode} mode) -> {out}")
    if musicxml is not None:
        from training.export import write_musicxml

        write_musicxml(notes, musicxml, bpm=bpm, steps_per_quarter=lstm.steps_per_quarter)
        typer.echo(f"MusicXML -> {musicxml}")


# -- evaluate ---------------------------------------------------------------------------------------------


@app.command()
def evaluate(
    model: Annotated[Optional[Path], typer.Option(
        help="Model artifact folder (default: the bundled model).")] = None,
    corpus: Annotated[Optional[list[str]], typer.Option(
        help="Score these songs instead of the model's test split (files, folders or music21 corpus names; "
             "preprocessed the same way). Repeatable.")] = None,
    dataset: Annotated[Optional[Path], typer.Option(
        help="The dataset folder the model was trained on (default: the one its config.json names).")] = None,
    samples: Annotated[int, typer.Option(
        help="Melodies to sample per sampler setting (0: likelihood only).")] = 500,
    seed: Annotated[int, typer.Option(help="Random seed for sampling and the bootstrap.")] = 0,
    mode: Annotated[Optional[str], typer.Option(help="Predictor: 'stateful' or 'window'.")] = None,
    json_file: Annotated[Optional[Path], typer.Option(
        "--json", help="Write the JSON report here too.")] = None,
    markdown: Annotated[Optional[Path], typer.Option(help="Write a markdown report here.")] = None,
    histograms: Annotated[Optional[Path], typer.Option(
        help="PNG of melody-statistic histograms, generated vs real (default: beside --markdown).")] = None,
) -> None:
    """Score a model on held-out songs next to classical baselines, and judge melodies sampled from it."""
    import json
    import shlex
    import sys

    from engine.model import DEFAULT_MODE, bundled_model_path
    from training.evaluate import evaluate as run_evaluate
    from training.report import format_table, json_safe, write_outputs

    model = model or bundled_model_path()
    if model is None:
        typer.echo("error: no --model given and no bundled model in engine/bundled/", err=True)
        raise typer.Exit(2)
    try:
        report = run_evaluate(model, dataset=dataset, corpus=corpus, samples=samples, seed=seed,
                              mode=mode or DEFAULT_MODE, log=lambda line: typer.echo(line, err=True))
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from err
    command = "antiphon " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    written = write_outputs(report, json_path=json_file and str(json_file),
                            markdown_path=markdown and str(markdown),
                            histograms_path=histograms and str(histograms), command=command)
    typer.echo(format_table(report))
    for kind, path in written.items():
        typer.echo(f"{kind} -> {path}")
    typer.echo(json.dumps(json_safe(report)))


# -- plot ---------------------------------------------------------------------------------------------------


@app.command()
def plot(
    midi_file: Annotated[Path, typer.Argument(help="MIDI file: a generated melody or a recorded session.")],
    out: Annotated[Optional[Path], typer.Option(
        "--out", "-o", help="PNG to write (default: FILE.png).")] = None,
    title: Annotated[Optional[str], typer.Option(help="Title (default: the file name).")] = None,
) -> None:
    """Draw a MIDI file as a piano roll PNG (call and response tracks in two colours)."""
    from training.plot import plot_piano_roll

    try:
        path = plot_piano_roll(midi_file, out or midi_file.with_suffix(".png"), title=title)
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from err
    typer.echo(f"piano roll -> {path}")


# -- daemon -------------------------------------------------------------------------------------------------


def _serve_config(config_file: Optional[Path], **values):
    """Build the daemon's config (defaults < TOML file < command line); a bad value exits with its message."""
    from daemon.config import build_config

    try:
        return build_config(config_file, **values)
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from err


@app.command()
def serve(
    model: Annotated[Optional[str], typer.Option(help="Model artifact folder (default: the bundled model).")] = None,
    config: Annotated[Optional[Path], typer.Option(help="TOML file with any of these options (CLI wins).")] = None,
    input: Annotated[Optional[str], typer.Option(help="Input port: case-insensitive part of its name.")] = None,
    output: Annotated[Optional[str], typer.Option(help="Output port: case-insensitive part of its name.")] = None,
    virtual: Annotated[Optional[bool], typer.Option(
        "--virtual/--no-virtual", help="Create ports named 'antiphon in' / 'antiphon out'.")] = None,
    backend: Annotated[Optional[str], typer.Option(
        help="alsa or jack (default: ALSA where /dev/snd/seq exists, else JACK).")] = None,
    bpm: Annotated[Optional[float], typer.Option(help="Tempo of the grid (default 120).")] = None,
    input_channel: Annotated[Optional[int], typer.Option(help="Listen on this channel only (1-16).")] = None,
    output_channel: Annotated[Optional[int], typer.Option(help="Play on this channel (1-16, default 1).")] = None,
    phrase_end_steps: Annotated[Optional[int], typer.Option(
        help="Silent grid steps that end a phrase (default 16 = one bar).")] = None,
    phrase_end_cc: Annotated[Optional[int], typer.Option(help="Controller that ends a phrase at once.")] = None,
    response_bars: Annotated[Optional[int], typer.Option(help="Response length in bars (default: call's).")] = None,
    temperature: Annotated[Optional[float], typer.Option(help="Base sampling temperature (default 1.0).")] = None,
    temperature_cc: Annotated[Optional[int], typer.Option(help="Controller setting temperature 0.1-2.0.")] = None,
    tempo_cc: Annotated[Optional[int], typer.Option(help="Controller setting tempo 40-240 bpm.")] = None,
    panic_cc: Annotated[Optional[int], typer.Option(help="Controller that silences everything.")] = None,
    passthrough: Annotated[Optional[bool], typer.Option(
        "--passthrough/--no-passthrough", help="Echo the player's notes to the output.")] = None,
    clock: Annotated[Optional[str], typer.Option(help="internal, or external (follow MIDI clock).")] = None,
    send_clock: Annotated[Optional[bool], typer.Option("--send-clock/--no-send-clock", help="Send MIDI clock.")] = None,
    record: Annotated[Optional[str], typer.Option(help="Folder for session recordings (MIDI files).")] = None,
    log_level: Annotated[Optional[str], typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = None,
    mode: Annotated[Optional[str], typer.Option(help="Predictor: stateful or window.")] = None,
    random_seed: Annotated[Optional[int], typer.Option(help="Seed of the sampler's random generator.")] = None,
    realtime_priority: Annotated[Optional[int], typer.Option(
        help="SCHED_FIFO priority 1-99 for the live loop where permitted (tighter timing on a busy machine).")] = None,
) -> None:
    """Listen on a MIDI input; answer each phrase with a continuation on the output, on the beat."""
    import time

    started = time.monotonic()
    values = {k: v for k, v in locals().items() if k not in ("config", "started", "time")}
    cfg = _serve_config(config, **values)
    _setup_logging(cfg.log_level)
    from daemon.live import serve as run_serve

    try:
        code = run_serve(cfg, started=started)
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from err
    raise typer.Exit(code)


@app.command()
def respond(
    call: Annotated[Path, typer.Argument(help="MIDI file holding the call (one or more phrases).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="MIDI file to write.")] = Path("response.mid"),
    model: Annotated[Optional[str], typer.Option(help="Model artifact folder (default: the bundled model).")] = None,
    config: Annotated[Optional[Path], typer.Option(help="TOML file with serve options (CLI wins).")] = None,
    bpm: Annotated[Optional[float], typer.Option(help="Grid tempo (default: the file's tempo, else 120).")] = None,
    phrase_end_steps: Annotated[Optional[int], typer.Option(help="Silent steps that end a phrase.")] = None,
    response_bars: Annotated[Optional[int], typer.Option(help="Response length in bars (default: call's).")] = None,
    temperature: Annotated[Optional[float], typer.Option(help="Base sampling temperature.")] = None,
    mode: Annotated[Optional[str], typer.Option(help="Predictor: stateful or window.")] = None,
    random_seed: Annotated[Optional[int], typer.Option(help="Seed of the sampler's random generator.")] = None,
    with_call: Annotated[bool, typer.Option("--with-call", help="Write the call and the response as tracks.")] = False,
    log_level: Annotated[Optional[str], typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = None,
) -> None:
    """Answer the phrases of a MIDI file offline: the live session logic on a simulated clock, no ports."""
    cfg = _serve_config(config, model=model, bpm=bpm, phrase_end_steps=phrase_end_steps,
                        response_bars=response_bars, temperature=temperature, mode=mode,
                        random_seed=random_seed, log_level=log_level)
    _setup_logging(cfg.log_level)
    from daemon.live import resolve_model
    from daemon.offline import respond_file
    from engine.model import LstmModel

    try:
        result = respond_file(call, out, LstmModel.load(resolve_model(cfg.model)), cfg, with_call=with_call,
                              bpm_from_file=bpm is None)
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from err
    for ex in result.exchanges:
        typer.echo(f"call {ex['call_steps']} steps in {ex['key']} -> response {ex['response_steps']} steps, "
                   f"{ex['response_notes']} notes")
    typer.echo(f"{len(result.exchanges)} response(s) -> {out}")


@app.command()
def ports(
    backend: Annotated[Optional[str], typer.Option(help="Only this backend: alsa or jack.")] = None,
) -> None:
    """List MIDI input and output ports for each backend."""
    from daemon.ports import BACKENDS, port_names

    for name in [backend] if backend else list(BACKENDS):
        try:
            inputs, outputs = port_names(name)
        except ValueError as err:
            typer.echo(f"{name}: unavailable ({err})")
            continue
        typer.echo(f"{name} inputs:  " + (", ".join(inputs) or "none"))
        typer.echo(f"{name} outputs: " + (", ".join(outputs) or "none"))


@app.command()
def panic(
    output: Annotated[Optional[str], typer.Option(help="Output port: case-insensitive part of its name.")] = None,
    backend: Annotated[Optional[str], typer.Option(help="alsa or jack (default as for serve).")] = None,
    channel: Annotated[Optional[list[int]], typer.Option(
        help="Channel(s) 1-16 for note-offs (repeatable; default: the config's output channel, else 1).")] = None,
    config: Annotated[Optional[Path], typer.Option(help="Take output, backend and channel from this TOML.")] = None,
) -> None:
    """Silence a synth: note-offs, sustain off, all notes off (CC 123), all sound off (CC 120) on all channels."""
    from daemon.live import panic as send_panic

    _setup_logging("INFO")
    cfg = _serve_config(config, output=output, backend=backend)
    if cfg.output is None:
        typer.echo("error: no output port: give --output NAME or a --config with 'output'", err=True)
        raise typer.Exit(2)
    channels = channel or [cfg.output_channel]
    if any(not 1 <= c <= 16 for c in channels):
        raise typer.BadParameter(f"--channel must be 1..16, got {channels}")
    try:
        send_panic(cfg.output, cfg.backend, channels)
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from err


if __name__ == "__main__":
    app()
