"""The player's commands: ``generate``, ``serve``, ``respond``, ``render``, ``styles``, ``ports`` and ``panic``.

They need numpy, mido, python-rtmidi and typer only (the light install); nothing here imports ``training``.
"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the player's commands to ``app``."""
    from antiphon.daemon.cli_generate import generate
    from antiphon.daemon.cli_render import render
    from antiphon.daemon.cli_serve import panic, ports, respond, serve
    from antiphon.daemon.cli_styles import styles

    for command in (generate, serve, respond, render, styles, ports, panic):
        app.command()(command)
