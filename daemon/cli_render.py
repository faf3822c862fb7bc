"""``antiphon render``: a MIDI file to a WAV file through the built-in General MIDI synth (FluidSynth)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from antiphon.cli_support import user_errors

SOUNDFONT_HELP = "SoundFont (.sf2) for the built-in synth (default /usr/share/sounds/sf2/default-GM.sf2)."
PROGRAM_HELP = "General MIDI program 0-127 of the answer (default 73, flute)."
CALL_PROGRAM_HELP = ("General MIDI program 0-127 of the call: in rendered files, and with --synth --passthrough "
                     "(the echo then plays on the next channel) (default 0, acoustic grand piano).")


def _programs(config: Optional[Path], soundfont, program, call_program):
    """The synth settings: defaults < TOML file < command line (a bad value exits with its one-line message)."""
    from antiphon.daemon.config import build_config

    with user_errors():
        return build_config(config, soundfont=soundfont, program=program, call_program=call_program)


def render(
    midi: Annotated[Path, typer.Argument(help="MIDI file to render.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="WAV file to write (default: FILE.wav).")]
        = None,
    soundfont: Annotated[Optional[str], typer.Option(help=SOUNDFONT_HELP)] = None,
    program: Annotated[Optional[int], typer.Option(help=PROGRAM_HELP + " Used for a track named 'response'.")]
        = None,
    call_program: Annotated[Optional[int], typer.Option(help=CALL_PROGRAM_HELP + " Used for a track named 'call'.")]
        = None,
    config: Annotated[Optional[Path], typer.Option(help="TOML file with soundfont/program/call_program.")] = None,
) -> None:
    """Render a MIDI file to a 16-bit stereo 48 kHz WAV with the built-in General MIDI synth (FluidSynth)."""
    from antiphon.daemon.synth import render_midi_file

    cfg = _programs(config, soundfont, program, call_program)
    wav = out or midi.with_suffix(".wav")
    with user_errors():
        render_midi_file(midi, wav, cfg.soundfont, cfg.program, cfg.call_program)
    typer.echo(f"{midi} -> {wav}")
