"""MIDI ports through mido's rtmidi backend: backend choice, matching by name, and the input callback.

The rtmidi callback thread only timestamps each message and puts it on a bounded queue; SysEx, active sensing
and (unless the clock is external) MIDI clock messages are dropped there. A full queue drops the message and
counts it, so a flood can never grow memory.
"""

from __future__ import annotations

import logging
import os
import queue
import time
from collections.abc import Callable

import mido

log = logging.getLogger(__name__)

BACKENDS = {"alsa": "mido.backends.rtmidi/LINUX_ALSA", "jack": "mido.backends.rtmidi/UNIX_JACK"}
ALSA_SEQ_DEVICE = "/dev/snd/seq"
CLIENT_NAME = "antiphon"
VIRTUAL_INPUT = "antiphon in"
VIRTUAL_OUTPUT = "antiphon out"
INPUT_QUEUE_SIZE = 4096
CLOCK_TYPES = ("clock", "start", "stop", "continue", "songpos")
DROPPED_TYPES = ("sysex", "active_sensing")


def default_backend(alsa_device: str = ALSA_SEQ_DEVICE) -> str:
    """ALSA where the sequencer device exists, else JACK."""
    return "alsa" if os.path.exists(alsa_device) else "jack"


def use_backend(name: str | None) -> str:
    """Select mido's rtmidi backend ``alsa`` or ``jack`` (``None``: the default); returns the name used."""
    name = default_backend() if name is None else name
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {name!r}")
    mido.set_backend(BACKENDS[name], load=True)
    return name


def port_names(backend: str) -> tuple[list[str], list[str]]:
    """(input names, output names) for one backend; a backend that can't run gives a ``ValueError``."""
    if backend == "jack":  # through JACK-Client: one line, not libjack's and rtmidi's noise, when no server runs
        from antiphon.daemon.jackmidi import jack_port_names

        return jack_port_names()
    if not os.path.exists(ALSA_SEQ_DEVICE):
        raise ValueError(f"no ALSA sequencer ({ALSA_SEQ_DEVICE}): load it with `modprobe snd-seq`")
    try:
        api = mido.Backend(BACKENDS[backend], load=True)
        return list(api.get_input_names()), list(api.get_output_names())
    except Exception as err:  # rtmidi raises its own error types when a server or device is missing
        raise ValueError(f"{backend}: {err}") from err


def match_port(pattern: str, names: list[str], kind: str) -> str:
    """The one name containing ``pattern`` (case-insensitive); ``ValueError`` listing the ports otherwise."""
    hits = [name for name in names if pattern.lower() in name.lower()]
    exact = [name for name in hits if name.lower() == pattern.lower()]
    if len(exact) == 1:
        return exact[0]
    if len(hits) == 1:
        return hits[0]
    listing = ", ".join(repr(n) for n in names) or "none"
    if not hits:
        raise ValueError(f"no {kind} port matches {pattern!r}; available {kind} ports: {listing}")
    raise ValueError(f"{kind} port {pattern!r} is ambiguous: it matches {', '.join(repr(n) for n in hits)}")


class InputQueue:
    """The callback side: timestamp on the monotonic clock, filter, enqueue without blocking."""

    def __init__(self, maxsize: int = INPUT_QUEUE_SIZE, keep_clock: bool = False,
                 now: Callable[[], float] = time.monotonic):
        self.events: queue.Queue = queue.Queue(maxsize=maxsize)
        self.keep_clock = keep_clock
        self.now = now
        self.dropped = 0

    def __call__(self, msg: mido.Message) -> None:
        self.put(self.now(), msg)

    def put(self, t: float, msg: mido.Message) -> None:
        """Enqueue ``msg`` received at ``t`` (JACK's frame-stamped input knows when it was played)."""
        if msg.type in DROPPED_TYPES or (msg.type in CLOCK_TYPES and not self.keep_clock):
            return
        try:
            self.events.put_nowait((t, msg))
        except queue.Full:
            self.dropped += 1


def open_input(name: str | None, virtual: bool, callback: Callable[[mido.Message], None]):
    """Open the input by name match (or a virtual port named for Antiphon) with ``callback``."""
    if virtual:
        return mido.open_input(VIRTUAL_INPUT, virtual=True, client_name=CLIENT_NAME, callback=callback)
    if name is None:
        raise ValueError("no input port given: use --input NAME or --virtual")
    matched = match_port(name, mido.get_input_names(), "input")
    # No client_name here: mido takes a client name to mean a new virtual port, which nothing would feed.
    return mido.open_input(matched, callback=callback)


CLOSE_SETTLE_S = 0.05


def close_input(port: mido.ports.BaseInput) -> None:
    """Close an input port that has a callback without risking a hang.

    Closing a JACK port waits for JACK's current cycle; if that cycle is inside the Python callback waiting for
    the interpreter lock the closing thread holds, neither can go on. So the callback is removed first and any
    call in flight is given time to finish (the lock is free while sleeping), and only then the port is closed.
    """
    port.callback = None
    time.sleep(CLOSE_SETTLE_S)
    port.close()


def open_output(name: str | None, virtual: bool):
    """Open the output by name match (or a virtual port named for Antiphon)."""
    if virtual:
        return mido.open_output(VIRTUAL_OUTPUT, virtual=True, client_name=CLIENT_NAME)
    if name is None:
        raise ValueError("no output port given: use --output NAME or --virtual")
    matched = match_port(name, mido.get_output_names(), "output")
    return mido.open_output(matched)  # connected to the named port (a client_name would make a virtual one)
