"""``antiphon serve``, ``respond``, ``ports`` and ``panic``: the live daemon and its offline twin."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from antiphon.cli_support import fail, setup_logging, user_errors
from antiphon.daemon.cli_render import CALL_PROGRAM_HELP, PROGRAM_HELP, SOUNDFONT_HELP

# -- daemon -------------------------------------------------------------------------------------------------


def _serve_config(config_file: Optional[Path], **values):
    """Build the daemon's config (defaults < TOML file < command line); a bad value exits with its message."""
    from antiphon.daemon.config import build_config

    with user_errors():
        return build_config(config_file, **values)


def serve(
    model: Annotated[Optional[str], typer.Option(help="Model artifact folder (default: the bundled styles).")] = None,
    style: Annotated[Optional[str], typer.Option(
        help="A bundled style (see `antiphon styles`), or auto (the default): each call is answered in the style "
             "whose model finds it likeliest.")] = None,
    config: Annotated[Optional[Path], typer.Option(help="TOML file with any of these options (CLI wins).")] = None,
    input: Annotated[Optional[str], typer.Option(help="Input port: case-insensitive part of its name.")] = None,
    output: Annotated[Optional[str], typer.Option(help="Output port: case-insensitive part of its name.")] = None,
    virtual: Annotated[Optional[bool], typer.Option(
        "--virtual/--no-virtual", help="Create ports named 'antiphon in' / 'antiphon out'.")] = None,
    backend: Annotated[Optional[str], typer.Option(
        help="alsa or jack (default: ALSA where /dev/snd/seq exists, else JACK).")] = None,
    bpm: Annotated[Optional[float], typer.Option(
        help="Starting tempo guess (follow), the grid's tempo (fixed), the count-in's tempo (default 120).")] = None,
    tempo: Annotated[Optional[str], typer.Option(
        help="follow (default: tempo, beat and bar from your calls; answers on the bar line) or fixed (--bpm grid "
             "from each call's first note).")] = None,
    meter: Annotated[Optional[str], typer.Option(
        help="2/4, 3/4, 4/4 or 6/8: the grid's meter until a call says otherwise (default 4/4).")] = None,
    metronome: Annotated[Optional[bool], typer.Option(
        "--metronome/--no-metronome", help="Click on channel 10 at the session tempo, accented on the downbeat.")]
        = None,
    metronome_cc: Annotated[Optional[int], typer.Option(help="Controller turning the click on (>= 64) and off.")]
        = None,
    click_notes: Annotated[Optional[str], typer.Option(
        help="GM percussion notes DOWNBEAT,BEAT (default 76,77: high and low wood block).")] = None,
    click_velocities: Annotated[Optional[str], typer.Option(help="Velocities DOWNBEAT,BEAT (default 110,80).")]
        = None,
    count_in: Annotated[Optional[int], typer.Option(
        help="Bars of clicks at --bpm before the first call; the session's tempo and bar start from them.")] = None,
    input_channel: Annotated[Optional[int], typer.Option(help="Listen on this channel only (1-16).")] = None,
    output_channel: Annotated[Optional[int], typer.Option(help="Play on this channel (1-16, default 1).")] = None,
    phrase_end_steps: Annotated[Optional[int], typer.Option(
        help="--tempo fixed: silent grid steps that end a phrase (default 16 = one bar).")] = None,
    phrase_end_beats: Annotated[Optional[float], typer.Option(
        help="--tempo follow: the answer starts on the first bar line after this many silent beats "
             "(default 1.5).")] = None,
    phrase_end_cc: Annotated[Optional[int], typer.Option(help="Controller that ends a phrase at once.")] = None,
    response_bars: Annotated[Optional[int], typer.Option(help="Response length in bars (default: call's).")] = None,
    temperature: Annotated[Optional[float], typer.Option(help="Base sampling temperature (default 1.0).")] = None,
    top_p: Annotated[Optional[float], typer.Option(
        help="Nucleus: sample among the likeliest symbols holding this share (default 0.97; 1 = all).")] = None,
    onset_top_p: Annotated[Optional[float], typer.Option(
        help="Nucleus over what to play when a note starts (default 0.85; 1 = all).")] = None,
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
    jack_frames: Annotated[Optional[bool], typer.Option(
        "--jack-frames/--no-jack-frames",
        help="JACK: stamp every event with its frame (a JACK-Client process callback; the default) or use "
             "python-rtmidi's ports (start-of-period delivery; not with --synth).")] = None,
    realtime_priority: Annotated[Optional[int], typer.Option(
        help="SCHED_FIFO priority 1-99 for the live loop where permitted (tighter timing on a busy machine).")] = None,
    synth: Annotated[Optional[bool], typer.Option(
        "--synth/--no-synth", help="Play through the built-in General MIDI synth (FluidSynth; on JACK its audio "
                                   "ports antiphon:synth L/R, every note on its frame). --output becomes optional.")]
        = None,
    soundfont: Annotated[Optional[str], typer.Option(help=SOUNDFONT_HELP)] = None,
    program: Annotated[Optional[int], typer.Option(help=PROGRAM_HELP + " With --synth.")] = None,
) -> None:
    """Listen on a MIDI input; answer each phrase with a continuation on the output, on the beat."""
    import time

    started = time.monotonic()
    cfg = _serve_config(config, model=model, style=style, input=input, output=output, virtual=virtual, backend=backend,
                        bpm=bpm,
                        tempo=tempo, meter=meter, metronome=metronome, metronome_cc=metronome_cc,
                        click_notes=click_notes, click_velocities=click_velocities, count_in=count_in,
                        phrase_end_beats=phrase_end_beats,
                        input_channel=input_channel, output_channel=output_channel, phrase_end_steps=phrase_end_steps,
                        phrase_end_cc=phrase_end_cc, response_bars=response_bars, temperature=temperature, top_p=top_p,
                        onset_top_p=onset_top_p, temperature_cc=temperature_cc, tempo_cc=tempo_cc, panic_cc=panic_cc,
                        passthrough=passthrough, clock=clock, send_clock=send_clock, record=record, log_level=log_level,
                        mode=mode, random_seed=random_seed, realtime_priority=realtime_priority,
                        jack_frames=jack_frames, synth=synth,
                        soundfont=soundfont, program=program)
    setup_logging(cfg.log_level)
    from antiphon.daemon.live import serve as run_serve

    with user_errors():
        code = run_serve(cfg, started=started)
    raise typer.Exit(code)


def respond(
    call: Annotated[Path, typer.Argument(help="MIDI file holding the call (one or more phrases).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="MIDI file to write.")] = Path("response.mid"),
    model: Annotated[Optional[str], typer.Option(help="Model artifact folder (default: the bundled styles).")] = None,
    style: Annotated[Optional[str], typer.Option(
        help="A bundled style (see `antiphon styles`), or auto (the default): each call is answered in the style "
             "whose model finds it likeliest.")] = None,
    config: Annotated[Optional[Path], typer.Option(help="TOML file with serve options (CLI wins).")] = None,
    bpm: Annotated[Optional[float], typer.Option(
        help="Starting tempo guess (follow); the grid tempo (fixed; default: the file's tempo, else 120).")] = None,
    tempo: Annotated[Optional[str], typer.Option(
        help="follow (default: hear tempo, beat and bar from the call's timing) or fixed.")] = None,
    phrase_end_steps: Annotated[Optional[int], typer.Option(help="Silent steps that end a phrase (fixed).")] = None,
    phrase_end_beats: Annotated[Optional[float], typer.Option(
        help="Silent beats before the answer's bar line (follow; default 1.5).")] = None,
    response_bars: Annotated[Optional[int], typer.Option(help="Response length in bars (default: call's).")] = None,
    temperature: Annotated[Optional[float], typer.Option(help="Base sampling temperature.")] = None,
    top_p: Annotated[Optional[float], typer.Option(help="Nucleus share (default 0.97; 1 = all).")] = None,
    onset_top_p: Annotated[Optional[float], typer.Option(help="Onset nucleus share (default 0.85).")] = None,
    mode: Annotated[Optional[str], typer.Option(help="Predictor: stateful or window.")] = None,
    random_seed: Annotated[Optional[int], typer.Option(help="Seed of the sampler's random generator.")] = None,
    with_call: Annotated[bool, typer.Option("--with-call", help="Write the call and the response as tracks.")] = False,
    log_level: Annotated[Optional[str], typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = None,
    wav: Annotated[Optional[Path], typer.Option(help="Also render the file written to this WAV (built-in synth).")]
        = None,
    soundfont: Annotated[Optional[str], typer.Option(help=SOUNDFONT_HELP)] = None,
    program: Annotated[Optional[int], typer.Option(help=PROGRAM_HELP)] = None,
    call_program: Annotated[Optional[int], typer.Option(help=CALL_PROGRAM_HELP)] = None,
) -> None:
    """Answer the phrases of a MIDI file offline: the live session logic on a simulated clock, no ports."""
    cfg = _serve_config(config, model=model, style=style, bpm=bpm, tempo=tempo, phrase_end_beats=phrase_end_beats,
                        phrase_end_steps=phrase_end_steps,
                        response_bars=response_bars, temperature=temperature, top_p=top_p, onset_top_p=onset_top_p,
                        mode=mode,
                        random_seed=random_seed, log_level=log_level, soundfont=soundfont, program=program,
                        call_program=call_program)
    setup_logging(cfg.log_level)
    from antiphon.daemon.offline import load_responder, respond_file

    with user_errors():
        responder = load_responder(cfg)
        result = respond_file(call, out, responder, cfg, with_call=with_call,
                              bpm_from_file=bpm is None)
    for ex in result.exchanges:
        chosen = f" ({ex['style']} style)" if len(responder.voices) > 1 else ""
        typer.echo(f"call {ex['call_steps']} steps in {ex['key']}{chosen}, heard at {ex['bpm']:.1f} bpm in "
                   f"{ex['meter']} -> "
                   f"response {ex['response_steps']} steps, {ex['response_notes']} notes"
                   f"{', on the bar line' if ex['on_bar_line'] else ''}")
    typer.echo(f"{len(result.exchanges)} response(s) -> {out}")
    if wav is not None:
        from antiphon.daemon.synth import render_midi_file

        with user_errors():
            render_midi_file(out, wav, cfg.soundfont, cfg.program, cfg.call_program)
        typer.echo(f"audio -> {wav}")


def ports(
    backend: Annotated[Optional[str], typer.Option(help="Only this backend: alsa or jack.")] = None,
) -> None:
    """List MIDI input and output ports for each backend."""
    from antiphon.daemon.ports import BACKENDS, port_names

    names = [backend] if backend else list(BACKENDS)
    available = {}
    for name in names:
        try:
            available[name] = port_names(name)
        except ValueError as err:
            available[name] = err
    if all(isinstance(found, ValueError) for found in available.values()):
        from antiphon.daemon.jackmidi import NO_MIDI_SYSTEM

        raise fail(str(available[backend]) if backend else NO_MIDI_SYSTEM)
    for name, found in available.items():
        if isinstance(found, ValueError):
            typer.echo(f"{name}: unavailable ({found})")
            continue
        inputs, outputs = found
        typer.echo(f"{name} inputs:  " + (", ".join(inputs) or "none"))
        typer.echo(f"{name} outputs: " + (", ".join(outputs) or "none"))


def panic(
    output: Annotated[Optional[str], typer.Option(help="Output port: case-insensitive part of its name.")] = None,
    backend: Annotated[Optional[str], typer.Option(help="alsa or jack (default as for serve).")] = None,
    channel: Annotated[Optional[list[int]], typer.Option(
        help="Channel(s) 1-16 for note-offs (repeatable; default: the config's output channel, else 1).")] = None,
    config: Annotated[Optional[Path], typer.Option(help="Take output, backend and channel from this TOML.")] = None,
) -> None:
    """Silence a synth: note-offs, sustain off, all notes off (CC 123), all sound off (CC 120) on all channels."""
    from antiphon.daemon.live import panic as send_panic

    setup_logging("INFO")
    cfg = _serve_config(config, output=output, backend=backend)
    if cfg.output is None:
        raise fail("no output port: give --output NAME or a --config with 'output'")
    channels = channel or [cfg.output_channel]
    if any(not 1 <= c <= 16 for c in channels):
        raise typer.BadParameter(f"--channel must be 1..16, got {channels}")
    with user_errors():
        send_panic(cfg.output, cfg.backend, channels)
