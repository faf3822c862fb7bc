"""``antiphon styles``: the bundled style models with their test figures."""

from __future__ import annotations

from typing import Annotated

import typer


def styles(
    json_out: Annotated[bool, typer.Option("--json", help="Print the table as JSON lines.")] = False,
) -> None:
    """List the bundled styles (for --style): corpus, songs, and bits per note event on their own test songs
    beside the IDyOM-style baseline (lower is better)."""
    import json

    from antiphon.engine.styles import AUTO, DEFAULT_STYLE, auto_styles, style_folders, style_summary

    rows = [style_summary(name) for name in style_folders()]
    auto = auto_styles() if DEFAULT_STYLE == AUTO else {DEFAULT_STYLE: None}
    if json_out:
        for row in rows:
            typer.echo(json.dumps(row))
        return

    def bits(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    typer.echo(f"{'style':<10} {'songs':>6} {'test':>5}  {'bits/event':>10} {'baseline':>8}  corpus")
    for row in rows:
        name = row["name"] + (" *" if row["name"] in auto else "")
        typer.echo(f"{name:<10} {row['songs'] or 0:>6} {row['test_songs']:>5}  {bits(row['bits_per_event']):>10} "
                   f"{bits(row['baseline_bits_per_event']):>8}  {row['corpus']}")
    if DEFAULT_STYLE == AUTO:
        typer.echo(f"* the default, --style {AUTO}, answers each call in the likeliest of these styles")
    else:
        typer.echo(f"* the default; --style {AUTO} answers each call in the style that finds it likeliest")
