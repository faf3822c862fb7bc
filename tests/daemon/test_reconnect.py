"""The port watcher's decisions on port lists (the JACK reliability tests run it on real ports)."""

from __future__ import annotations

import threading

from antiphon.daemon.reconnect import PortWatcher


class _Port:
    def __init__(self, name):
        self.name = name


class _Holder:
    def __init__(self, name):
        self.port = _Port(name)
        self.lock = threading.Lock()
        self.present = True


class RecordingWatcher(PortWatcher):
    """Records the reopen it would do (opening an ALSA port needs ALSA, which this machine lacks)."""

    def __init__(self, input_name, output_name):
        output = _Holder(output_name)
        output.name = output_name
        super().__init__("alsa", "keys", "synth", _Holder(input_name), output, lambda: [])
        self.calls = []

    def _reopen(self, kind, name):
        self.calls.append((kind, name))


def test_a_port_back_under_a_new_alsa_client_number_is_reopened():
    watcher = RecordingWatcher("Keys:Keys MIDI 1 20:0", "Synth:Synth MIDI 1 24:0")
    gone, reminded = {}, {}
    watcher._check("input", "keys", ["Keys:Keys MIDI 1 20:0"], gone, reminded)
    assert watcher.calls == []  # unchanged: nothing to do
    watcher._check("input", "keys", ["Keys:Keys MIDI 1 28:0"], gone, reminded)  # restarted between two polls
    assert watcher.calls == [("input", "Keys:Keys MIDI 1 28:0")]
    assert watcher.opened["input"] == "Keys:Keys MIDI 1 28:0" and watcher.reopened["input"] == 1
    watcher._check("input", "keys", ["Keys:Keys MIDI 1 28:0"], gone, reminded)
    assert len(watcher.calls) == 1


def test_a_vanished_port_mutes_the_output_until_it_is_back():
    watcher = RecordingWatcher("Keys 20:0", "Synth 24:0")
    gone, reminded = {}, {}
    watcher._check("output", "synth", [], gone, reminded)
    assert watcher.output.present is False and "output" in gone
    watcher._check("output", "synth", ["Synth 24:0"], gone, reminded)  # same name back: reopened too
    assert watcher.calls == [("output", "Synth 24:0")] and "output" not in gone
