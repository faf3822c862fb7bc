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


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


# -- preprocess ---------------------------------------------------------------------------------------------


# -- train --------------------------------------------------------------------------------------------------


if __name__ == "__main__":
    app()
