"""``antiphon generate``: continue a seed melody with the model; MIDI and MusicXML out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from antiphon.cli_support import user_errors
from antiphon.engine.events import DEFAULT_ONSET_TOP_P, DEFAULT_TOP_P

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


def generate(
    seed: Annotated[str, typer.Option(help="Seed symbols in the model's key, e.g. '67 _ 67 _ 65 _ _ _'.")] = "",
    seed_file: Annotated[Optional[Path], typer.Option(
        help="Seed from a MIDI file: quantised to the grid (highest note wins), transposed into the model's "
             "key; the output is transposed back.")] = None,
    steps: Annotated[int, typer.Option(help="Most symbols (grid steps) to generate; stops early at '/'.")] = 256,
    temperature: Annotated[float, typer.Option(help="Base sampling temperature.")] = 1.0,
    top_p: Annotated[float, typer.Option(
        help="Nucleus: sample among the likeliest symbols holding this share (1 = all).")] = DEFAULT_TOP_P,
    onset_top_p: Annotated[float, typer.Option(
        help="Nucleus over what to play when a note starts (1 = all).")] = DEFAULT_ONSET_TOP_P,
    weight: Annotated[Optional[list[str]], typer.Option(
        help="Symbol weight SYMBOL=W (repeatable); default r=0.9, others 1.0.")] = None,
    fixed_temperature: Annotated[bool, typer.Option(
        "--fixed-temperature", help="Sample at the base temperature always (no entropy rule).")] = False,
    random_seed: Annotated[Optional[int], typer.Option(help="Seed of the random generator (reproducible).")] = None,
    bpm: Annotated[Optional[float], typer.Option(help="Tempo of the written files [default: 120].")] = None,
    model: Annotated[Optional[Path], typer.Option(
        help="Model artifact folder (default: the bundled styles, see --style).")] = None,
    style: Annotated[Optional[str], typer.Option(
        help="A bundled style (see `antiphon styles`), or auto (the default): the style whose model finds the "
             "seed likeliest (without a seed: german).")] = None,
    mode: Annotated[Optional[str], typer.Option(help="Predictor: 'stateful' or 'window' (the report's).")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="MIDI file to write (seed + continuation).")] = Path(
        "generated.mid"),
    musicxml: Annotated[Optional[Path], typer.Option(help="Also write the melody as MusicXML.")] = None,
    meter: Annotated[str, typer.Option(help="Time signature of the seed (bar positions for the model), or "
                                            "'none'.")] = "4/4",
    pickup: Annotated[int, typer.Option(help="Steps of pickup before the seed's first downbeat.")] = 0,
    wav: Annotated[Optional[Path], typer.Option(help="Also render the melody to this WAV (built-in synth).")] = None,
    soundfont: Annotated[Optional[str], typer.Option(help="SoundFont (.sf2) for --wav (default: Debian's GM).")]
        = None,
    program: Annotated[int, typer.Option(help="General MIDI program 0-127 for --wav (73 flute).")] = 73,
) -> None:
    """Continue a seed melody with the model and write it as MIDI (and optionally MusicXML)."""
    import numpy as np

    from antiphon.engine.events import DEFAULT_BPM
    from antiphon.engine.keyfind import fold_into_vocab, key_name, notes_to_model_key
    from antiphon.engine.melody import decode_symbols, transpose_symbols
    from antiphon.engine.meter import bar_positions, meter_from_signature
    from antiphon.engine.midifile import read_midi_notes, write_midi
    from antiphon.engine.model import DEFAULT_MODE, LstmModel
    from antiphon.engine.sampler import DEFAULT_WEIGHTS, EntropySampler, SamplerConfig, parse_seed
    from antiphon.engine.sampler import generate as generate_symbols
    from antiphon.engine.styles import SEEDLESS_STYLE, call_scorer, likeliest, model_folders, score_call

    if seed and seed_file:
        raise typer.BadParameter("give --seed or --seed-file, not both")
    if steps < 0:
        raise typer.BadParameter(f"--steps must be >= 0, got {steps}")
    weights = {**DEFAULT_WEIGHTS, **_parse_weights(weight or [])}
    bpm = DEFAULT_BPM if bpm is None else bpm
    if not bpm > 0:
        raise typer.BadParameter(f"--bpm must be positive, got {bpm}")
    with user_errors():
        models = {name: LstmModel.load(folder)
                  for name, folder in model_folders(None if model is None else str(model), style).items()}
        config = SamplerConfig(temperature=temperature, adaptive=not fixed_temperature, weights=weights,
                               top_p=top_p, onset_top_p=onset_top_p)

        def seed_for(lstm: LstmModel) -> tuple[list[str], int, str]:
            """The seed in this model's key, the semitones it was moved by and its key's name."""
            if seed_file is None:
                return parse_seed(seed), 0, ""
            symbols, moved, key = notes_to_model_key(
                read_midi_notes(seed_file, steps_per_quarter=lstm.steps_per_quarter), lstm.vocab)
            return symbols, moved, key_name(*key)

        name, lstm = next(iter(models.items()))
        if len(models) > 1 and not seed and seed_file is None:
            name = SEEDLESS_STYLE if SEEDLESS_STYLE in models else name
            lstm = models[name]
            typer.echo(f"style {name} (no seed to choose a style by)")
        elif len(models) > 1:
            costs = {}
            for candidate, other in models.items():
                symbols = fold_into_vocab(seed_for(other)[0], other.vocab)
                scorer = call_scorer(other, mode or DEFAULT_MODE)
                positions = bar_positions(meter_from_signature(meter, other.steps_per_quarter, pickup),
                                          len(symbols) + 1).tolist()[1:]
                costs[candidate] = score_call(scorer, other.vocab.encode(symbols), positions)
            name = likeliest(costs)
            lstm = models[name]
            typer.echo(f"style {name} (seed bits: " + ", ".join(f"{k} {v:.1f}" for k, v in costs.items()) + ")")
        sampler = EntropySampler(lstm.vocab, config, np.random.default_rng(random_seed))
        predictor = lstm.predictor(mode or DEFAULT_MODE)
        seed_symbols, semitones, seed_key = seed_for(lstm)
        if seed_key:
            typer.echo(f"seed key {seed_key}, transposed {semitones:+d} semitones into the model's key")
        segments = meter_from_signature(meter, lstm.steps_per_quarter, pickup)
        continuation = generate_symbols(predictor, sampler, seed_symbols, steps, segments)
        melody = transpose_symbols(seed_symbols + continuation, -semitones)
    notes = decode_symbols(melody)
    write_midi(notes, out, bpm=bpm, steps_per_quarter=lstm.steps_per_quarter)
    typer.echo(" ".join(melody))
    typer.echo(f"{len(continuation)} symbols generated after a {len(seed_symbols)}-symbol seed "
               f"({predictor.mode} mode) -> {out}")
    if musicxml is not None:
        from antiphon.engine.musicxml import write_musicxml

        beats, beat_type = (int(v) for v in meter.split("/")) if segments else (4, 4)
        write_musicxml(notes, musicxml, bpm=bpm, steps_per_quarter=lstm.steps_per_quarter, beats=beats,
                       beat_type=beat_type, pickup_steps=pickup if segments else 0)
        typer.echo(f"MusicXML -> {musicxml}")
    if wav is not None:
        from antiphon.daemon.synth import check_program, midi_file_events, render_to_wav

        with user_errors():
            render_to_wav(midi_file_events(out, {}), wav, soundfont, {0: check_program("program", program)})
        typer.echo(f"audio -> {wav}")
