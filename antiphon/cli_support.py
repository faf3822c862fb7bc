"""What every command shares: logging set-up, user errors as one line and exit code 2, missing extras.

``antiphon.daemon`` and ``antiphon.training`` both use this module; it imports neither.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import typer

USAGE_ERROR = 2  # exit code for a bad value or a missing part (Typer's own for bad options)


def setup_logging(level: str) -> None:
    """Log to stderr at ``level`` (DEBUG, INFO, WARNING or ERROR) with times and module names."""
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` on stderr; returns the exit to raise (code 2)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(USAGE_ERROR)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a ``ValueError`` raised inside into its one-line message and exit code 2."""
    try:
        yield
    except ValueError as err:
        raise fail(str(err)) from err


def require_extra(extra: str, *modules: str) -> None:
    """Exit with a one-line message naming ``pip install 'antiphon[extra]'`` if any module is not installed."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise fail(f"this command needs {', '.join(missing)}: pip install 'antiphon[{extra}]'")
