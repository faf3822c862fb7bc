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
                                workers=workers or None, use_cache=not no_cache, progress_bar=True)
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


if __name__ == "__main__":
    app()
