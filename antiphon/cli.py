"""The ``antiphon`` command line: one Typer app on which ``daemon`` and ``training`` register their commands.

This is the composition root: the only module that knows both packages. Each package's ``register`` only adds
command functions; heavy libraries are imported inside the commands that need them.
"""

from __future__ import annotations

import typer


def build_app() -> typer.Typer:
    """The app with every command registered (training's first, then the player's)."""
    from antiphon.daemon.cli import register as register_daemon
    from antiphon.training.cli import register as register_training

    app = typer.Typer(name="antiphon", help="Antiphon: play a phrase, hear a continuation in the same style.",
                      no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
    register_training(app)
    register_daemon(app)
    return app


def main() -> None:
    """Entry point of the ``antiphon`` script and ``python -m antiphon``."""
    build_app()()
