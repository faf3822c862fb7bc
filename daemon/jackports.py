"""The daemon's ports on the frame-accurate JACK path: the same interface as mido's ports, plus deadlines.

``open_jack_output`` / ``open_jack_input`` return handles on one shared ``JackMidi`` client (``antiphon:antiphon
out`` / ``antiphon:antiphon in``), connected to a named port or left for the user to connect (``--virtual``).
Reopening a port that came back only reconnects the client's port. ``StampedSession`` makes the live loop's
steps land on their exact frames: the loop runs ``lead_s`` early (its clock reads ``monotonic() + lead_s``) and
every message a step sends is scheduled at that step's deadline; anything else (barge-in, passthrough, stop)
goes out at the next cycle, and a note-off or all-notes-off cancels scheduled note-ons of that note not yet sent.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import mido

from antiphon.daemon.config import echo_channel
from antiphon.daemon.jackmidi import NO_JACK_SERVER, NO_MIDI_SYSTEM, JackMidi, jack_port_names, open_client
from antiphon.daemon.player import ALL_NOTES_OFF
from antiphon.daemon.ports import ALSA_SEQ_DEVICE, match_port
from antiphon.engine.midifile import MIDI_CHANNELS

_shared: JackMidi | None = None
# Benchmark knob: serve JACK through python-rtmidi as before (every event at its period's start), to compare.
RTMIDI_ENV = "ANTIPHON_JACK_RTMIDI"


def no_jack_message() -> str:
    """What to say when no JACK server runs: with an ALSA sequencer only JACK is missing, else any MIDI system."""
    return NO_JACK_SERVER if os.path.exists(ALSA_SEQ_DEVICE) else NO_MIDI_SYSTEM


def jack_engine(missing: str | None = None) -> JackMidi:
    """The process's one frame-accurate JACK client (made on first use)."""
    global _shared
    if _shared is None or _shared.users <= 0:
        _shared = JackMidi(missing or no_jack_message())
    return _shared


class JackOutput:
    """A mido-like output (``send``, ``close``, ``name``) with ``send_at(msg, t)`` for a monotonic deadline."""

    def __init__(self, engine: JackMidi, name: str):
        self.engine = engine
        self.name = name
        self.closed = False
        engine.users += 1

    def send(self, msg: mido.Message) -> None:
        self.engine.send(msg)

    def send_at(self, msg: mido.Message, t: float) -> None:
        self.engine.send_at(msg, t)

    def reset(self) -> None:
        """As mido's ``reset``: note-offs on every note of every channel would flood a period; CC 123/120."""
        for channel in range(MIDI_CHANNELS):
            self.send(mido.Message("control_change", channel=channel, control=ALL_NOTES_OFF, value=0))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.engine.release()


class JackInput:
    """A mido-like input whose ``callback`` gets each message; with an ``InputQueue`` it gets the frame's time."""

    def __init__(self, engine: JackMidi, name: str, callback):
        self.engine = engine
        self.name = name
        self.closed = False
        engine.users += 1
        self.callback = callback

    @property
    def callback(self):
        return self._callback

    @callback.setter
    def callback(self, callback) -> None:
        self._callback = callback
        if callback is None:  # another handle may have taken over the client's input (a reopened port)
            if self.engine.on_input is getattr(self, "_handler", None):
                self.engine.on_input = None
            self._handler = None
            return
        if hasattr(callback, "put"):
            self._handler = callback.put  # (t, msg): the time of the frame it was played at
        else:
            self._handler = lambda _t, msg: callback(msg)
        self.engine.on_input = self._handler

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.callback = None
            self.engine.release()


def open_jack_output(name: str | None, virtual: bool) -> JackOutput:
    """The client's output, connected to the port matching ``name`` (``--virtual``: left unconnected)."""
    if virtual:
        engine = jack_engine()
        return JackOutput(engine, engine.out_port.name)
    if name is None:
        raise ValueError("no output port given: use --output NAME or --virtual")
    matched = match_port(name, jack_port_names()[1], "output")
    engine = jack_engine()
    engine.connect_output(matched)
    return JackOutput(engine, matched)


def open_jack_input(name: str | None, virtual: bool, callback) -> JackInput:
    """The client's input with ``callback``, connected from the port matching ``name`` (or left unconnected)."""
    if virtual:
        engine = jack_engine()
        return JackInput(engine, engine.in_port.name, callback)
    if name is None:
        raise ValueError("no input port given: use --input NAME or --virtual")
    matched = match_port(name, jack_port_names()[0], "input")
    engine = jack_engine()
    engine.connect_input(matched)
    return JackInput(engine, matched, callback)


def reopen_output(name: str) -> JackOutput:
    """For the port watcher: the destination ``name`` is back; connect to it again."""
    engine = jack_engine()
    engine.connect_output(name)
    return JackOutput(engine, name)


def reopen_input(name: str, callback) -> JackInput:
    engine = jack_engine()
    engine.connect_input(name)
    return JackInput(engine, name, callback)


class StampedSession:
    """The session as the live loop sees it, with every message of ``tick(step)`` stamped at the step's deadline."""

    def __init__(self, session, clock, engine: JackMidi):
        self.session = session
        self.clock = clock
        self.engine = engine

    def handle(self, t: float, msg: mido.Message) -> None:
        self.session.handle(t, msg)

    def tick(self, step: int) -> None:
        self.engine.stamp = self.clock.deadline(step)
        try:
            self.session.tick(step)
        finally:
            self.engine.stamp = None

    def compute_ahead(self, step: int) -> None:
        self.session.compute_ahead(step)

    def __getattr__(self, name: str):
        return getattr(self.session, name)


def ahead_clock(lead_s: float) -> Callable[[], float]:
    """The live loop's ``now`` on the JACK path: ``lead_s`` ahead, so each step is handed over before it is due."""
    return lambda: time.monotonic() + lead_s


def pulse_deadline(clock, pulses_per_step: int = 6) -> float:
    """The clock pulse due nearest ``clock.now()`` (the loop calls ``on_pulse`` within a fraction of one)."""
    pulse_s = clock.period_s / pulses_per_step
    return clock.t0 + round((clock.now() - clock.t0) / pulse_s) * pulse_s


def open_live_ports(config, backend: str, inputs) -> tuple:
    """(output, input, JACK client or ``None``) for ``serve``: on JACK the frame-accurate client (unless
    ``jack_frames`` is off, or ``$ANTIPHON_JACK_RTMIDI`` is set, and there is no synth), else python-rtmidi
    (ALSA always)."""
    synth = getattr(config, "synth", False)
    programs = {config.output_channel - 1: config.program, echo_channel(config): config.call_program} if synth else {}
    frames = backend == "jack" and (config.jack_frames or synth) and not os.environ.get(RTMIDI_ENV)
    if not frames:
        from antiphon.daemon.ports import open_input, open_output

        if backend == "jack":  # no JACK server: one line naming what to start, not rtmidi's traceback
            open_client("antiphon-check", no_jack_message()).close()

        if backend == "alsa" and not os.path.exists(ALSA_SEQ_DEVICE):
            raise ValueError(f"no ALSA sequencer ({ALSA_SEQ_DEVICE}): load it (`modprobe snd-seq`) or use "
                             "--backend jack")
        if synth:  # FluidSynth's own audio driver, each message played when sent (no frame clock here)
            from antiphon.daemon.synth import FluidSynth, SynthOutput, default_audio_driver

            port = open_output(config.output, config.virtual) if config.output or config.virtual else None
            output = SynthOutput(FluidSynth(config.soundfont, programs=programs, audio_driver=default_audio_driver()),
                                 port)
        else:
            output = open_output(config.output, config.virtual)
        return output, open_input(config.input, config.virtual, inputs), None
    if synth:
        from antiphon.daemon.synth import check_soundfont, load_fluidsynth

        load_fluidsynth()  # a missing library or SoundFont fails before any port opens
        check_soundfont(config.soundfont)
    # With the synth and no --output, the MIDI output stays unconnected (the synth plays what it carries).
    output = open_jack_output(config.output, config.virtual or (synth and config.output is None))
    try:
        if synth:
            from antiphon.daemon.synth import attach_jack_synth

            attach_jack_synth(output.engine, config.soundfont, programs)
        return output, open_jack_input(config.input, config.virtual, inputs), output.engine
    except BaseException:
        output.close()
        raise


def jack_reopeners(engine: JackMidi | None) -> dict:
    """The port watcher's way to reopen a returning port on the JACK path (none: mido's)."""
    return {} if engine is None else {"reopen_input": reopen_input, "reopen_output": reopen_output,
                                      "list_ports": engine.port_names}


def pulse_sender(send: Callable[[mido.Message], None], clock, engine: JackMidi | None) -> Callable[[], None]:
    """MIDI clock out: one pulse per call, on JACK stamped at the pulse's own deadline."""
    pulse = mido.Message("clock")
    if engine is None:
        return lambda: send(pulse)

    def send_pulse() -> None:
        engine.stamp = pulse_deadline(clock)
        try:
            send(pulse)
        finally:
            engine.stamp = None

    return send_pulse
