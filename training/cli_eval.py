"""``antiphon evaluate`` and ``plot``: a model's scores beside classical baselines, and piano rolls."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from antiphon.cli_support import fail, require_extra, user_errors

# -- evaluate ---------------------------------------------------------------------------------------------


def evaluate(
    model: Annotated[Optional[Path], typer.Option(
        help="Model artifact folder (default: the bundled model).")] = None,
    corpus: Annotated[Optional[list[str]], typer.Option(
        help="Score these songs instead of the model's test split (files, folders or music21 corpus names; "
             "preprocessed the same way). Repeatable.")] = None,
    test_of: Annotated[Optional[Path], typer.Option(
        help="Score the test songs of this other model (e.g. engine/bundled), so two models meet the same songs.")]
        = None,
    calls: Annotated[bool, typer.Option(
        "--calls", help="Judge answers to calls: each test song cut after 2 and 4 bars, the rest its true "
                        "continuation (bits per event given the call, and answers next to the real ones).")]
        = False,
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
    require_extra("train", "music21", "matplotlib")
    import json
    import shlex
    import sys

    from antiphon.engine.model import DEFAULT_MODE, bundled_model_path
    from antiphon.training.evaluate import evaluate as run_evaluate
    from antiphon.training.report import format_table, json_safe, write_outputs

    model = model or bundled_model_path()
    if model is None:
        raise fail("no --model given and no bundled model in engine/bundled/")
    with user_errors():
        report = run_evaluate(model, dataset=dataset, corpus=corpus, test_of=test_of, samples=samples, seed=seed,
                              mode=mode or DEFAULT_MODE, calls=calls, log=lambda line: typer.echo(line, err=True))
    if calls:
        from antiphon.training.calls import format_calls

        if json_file is not None:
            json_file.write_text(json.dumps(json_safe(report), indent=1) + "\n", encoding="utf-8")
        typer.echo(format_calls(report["calls"]))
        typer.echo(json.dumps(json_safe(report)))
        return
    command = "antiphon " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    written = write_outputs(report, json_path=json_file and str(json_file),
                            markdown_path=markdown and str(markdown),
                            histograms_path=histograms and str(histograms), command=command)
    typer.echo(format_table(report))
    for kind, path in written.items():
        typer.echo(f"{kind} -> {path}")
    typer.echo(json.dumps(json_safe(report)))


# -- plot ---------------------------------------------------------------------------------------------------


def plot(
    midi_file: Annotated[Path, typer.Argument(help="MIDI file: a generated melody or a recorded session.")],
    out: Annotated[Optional[Path], typer.Option(
        "--out", "-o", help="PNG to write (default: FILE.png).")] = None,
    title: Annotated[Optional[str], typer.Option(help="Title (default: the file name).")] = None,
) -> None:
    """Draw a MIDI file as a piano roll PNG (call and response tracks in two colours)."""
    require_extra("plot", "matplotlib")
    from antiphon.training.plot import plot_piano_roll

    with user_errors():
        path = plot_piano_roll(midi_file, out or midi_file.with_suffix(".png"), title=title)
    typer.echo(f"piano roll -> {path}")
