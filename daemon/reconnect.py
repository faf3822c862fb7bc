"""Ports that come and go: a watcher thread polls the port list and reopens a vanished port by name.

Only ports opened by name (``--input`` / ``--output``) are watched; Antiphon's own virtual ports never vanish.
The watcher lists ports about every ``interval_s`` through one long-lived rtmidi client per direction (listing
through a fresh client, as ``mido.get_*_names`` does, opens a JACK or ALSA client each time: ~50 ms here).
While the output is gone nothing is sent (the synth would not hear it); when it is back it is reopened and
note-offs go out for every note Antiphon still thinks is sounding. When the input is back it is reopened with
the same callback, so the live loop, its grid and its call state carry on as if nothing happened. A port that
never comes back is logged (again every ``remind_s``), never fatal. A port that leaves and comes back between
two polls is noticed only where its full name changes on return (ALSA: a new client number); under JACK it keeps
its name and stays unconnected until it leaves again or the daemon restarts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import mido

from antiphon.daemon.ports import close_input, match_port

log = logging.getLogger(__name__)

WATCH_INTERVAL_S = 0.5
REMIND_S = 60.0
RTMIDI_APIS = {"alsa": "API_LINUX_ALSA", "jack": "API_UNIX_JACK"}


class SwitchableOutput:
    """The output the session sends through; the watcher swaps or mutes the port underneath, under a lock."""

    def __init__(self, port: mido.ports.BaseOutput):
        self.port = port
        self.present = True
        self.lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.port.name

    def send(self, msg: mido.Message) -> None:
        with self.lock:
            if self.present:
                self.port.send(msg)

    def replace(self, port: mido.ports.BaseOutput) -> mido.ports.BaseOutput:
        """Swap in ``port`` (and unmute); returns the old port for the caller to close."""
        with self.lock:
            old, self.port, self.present = self.port, port, True
        return old

    def close(self) -> None:
        with self.lock:
            self.port.close()


class PortWatcher:
    """Polls the port list in a daemon thread; reopens ``input_pattern`` / ``output_pattern`` when they return.

    ``inputs`` is the holder of the open input (``.port``), swapped when the input is reopened;
    ``sounding()`` lists the (channel, note) pairs to release on a reopened output.
    """

    def __init__(self, backend: str, input_pattern: str | None, output_pattern: str | None,
                 input_holder: InputHolder, output: SwitchableOutput,
                 sounding: Callable[[], list[tuple[int, int]]], interval_s: float = WATCH_INTERVAL_S,
                 remind_s: float = REMIND_S, reopen_input: Callable | None = None,
                 reopen_output: Callable | None = None,
                 list_ports: Callable[[], tuple[list[str], list[str]]] | None = None):
        self.backend = backend
        self.input_pattern = input_pattern
        self.output_pattern = output_pattern
        self.input_holder = input_holder
        self.output = output
        self.sounding = sounding
        self.interval_s = interval_s
        self.remind_s = remind_s
        # How a returning port is opened again (mido's rtmidi by default; the JACK frame path reconnects its port).
        self.reopen_input = reopen_input or (lambda name, callback: mido.open_input(name, callback=callback))
        self.reopen_output = reopen_output or mido.open_output
        # (sources, destinations) on the server. The JACK frame path lists through its own JACK-Client client,
        # whose calls release the interpreter lock: rtmidi's JACK clients open and close holding it, and a
        # server round trip made holding it deadlocks with a Python process callback waiting for it.
        self.list_ports = list_ports
        self.reopened = {"input": 0, "output": 0}
        # Full names of the ports open now. Under ALSA a client that restarts gets a new client number, so its
        # port comes back under a new full name: a changed name means it left and returned between two polls.
        self.opened = {"input": input_holder.port.name, "output": output.name}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="antiphon-ports", daemon=True)

    def start(self) -> None:
        if self.input_pattern is not None or self.output_pattern is not None:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        gone_since: dict[str, float] = {}
        reminded: dict[str, float] = {}
        if self.list_ports is not None:
            while not self._stop.wait(self.interval_s):
                sources, destinations = self.list_ports()
                for kind, pattern, names in (("input", self.input_pattern, sources),
                                             ("output", self.output_pattern, destinations)):
                    if pattern is not None:
                        self._check(kind, pattern, names, gone_since, reminded)
            return
        import rtmidi

        api = getattr(rtmidi, RTMIDI_APIS[self.backend])
        lister_in = rtmidi.MidiIn(rtapi=api, name="antiphon-watch")
        lister_out = rtmidi.MidiOut(rtapi=api, name="antiphon-watch")
        try:
            while not self._stop.wait(self.interval_s):
                for kind, pattern, lister in (("input", self.input_pattern, lister_in),
                                              ("output", self.output_pattern, lister_out)):
                    if pattern is not None:
                        self._check(kind, pattern, lister.get_ports(), gone_since, reminded)
        finally:
            lister_in.delete()
            lister_out.delete()

    def _check(self, kind: str, pattern: str, names: list[str], gone_since: dict[str, float],
               reminded: dict[str, float]) -> None:
        try:
            name = match_port(pattern, names, kind)
        except ValueError:
            name = None
        now = time.monotonic()
        if name is None:
            if kind not in gone_since:
                gone_since[kind] = reminded[kind] = now
                if kind == "output":
                    with self.output.lock:
                        self.output.present = False
                log.warning("%s port %r vanished; waiting for it to come back", kind, pattern)
            elif now - reminded[kind] >= self.remind_s:
                reminded[kind] = now
                log.warning("%s port %r still missing after %.0f s", kind, pattern, now - gone_since[kind])
            return
        if kind not in gone_since:
            if name == self.opened[kind]:
                return
            log.warning("%s port %r changed to %r (it left and came back); reopening", kind,
                        self.opened[kind], name)
        try:
            self._reopen(kind, name)
        except (OSError, ValueError, RuntimeError) as err:  # it may vanish again while being opened
            log.warning("cannot reopen %s port %r yet: %s", kind, name, err)
            return
        gone_since.pop(kind, None)
        self.opened[kind] = name
        self.reopened[kind] += 1
        log.info("%s port %r is back: reopened", kind, name)

    def _reopen(self, kind: str, name: str) -> None:
        if kind == "input":
            new = self.reopen_input(name, self.input_holder.callback)
            close_input(self.input_holder.replace(new))
            return
        new = self.reopen_output(name)
        for channel, note in self.sounding():
            new.send(mido.Message("note_off", channel=channel, note=note, velocity=0))
        self.output.replace(new).close()


class InputHolder:
    """The open input port and its callback; ``replace`` swaps in a reopened port."""

    def __init__(self, port: mido.ports.BaseInput, callback: Callable[[mido.Message], None]):
        self.port = port
        self.callback = callback
        self.lock = threading.Lock()

    def replace(self, port: mido.ports.BaseInput) -> mido.ports.BaseInput:
        with self.lock:
            old, self.port = self.port, port
        return old

    def close(self) -> None:
        with self.lock:
            close_input(self.port)
