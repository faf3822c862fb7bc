"""Port matching, the input callback queue, and the player's note tracking and silence."""

from __future__ import annotations

import mido
import pytest

from antiphon.daemon.player import ALL_NOTES_OFF, ALL_SOUND_OFF, SUSTAIN_PEDAL, NotePlayer, panic_messages
from antiphon.daemon.ports import InputQueue, default_backend, match_port, use_backend

NAMES = ["Midi Through:Midi Through Port-0 14:0", "KeyStep 32:KeyStep 32 MIDI 1 20:0", "FLUID Synth (123):Synth input"]


def test_match_port_by_case_insensitive_substring():
    assert match_port("keystep", NAMES, "input") == NAMES[1]
    assert match_port("FLUID", NAMES, "output") == NAMES[2]
    with pytest.raises(ValueError, match="no input port matches 'piano'.*KeyStep 32"):
        match_port("piano", NAMES, "input")
    with pytest.raises(ValueError, match="ambiguous.*Midi Through.*KeyStep"):
        match_port("midi", NAMES, "input")
    with pytest.raises(ValueError, match="available output ports: none"):
        match_port("x", [], "output")


def test_backend_choice(tmp_path):
    device = tmp_path / "seq"
    assert default_backend(str(device)) == "jack"  # no ALSA sequencer device: JACK
    device.touch()
    assert default_backend(str(device)) == "alsa"
    with pytest.raises(ValueError, match="backend must be one of"):
        use_backend("coreaudio")


def test_input_queue_timestamps_filters_and_is_bounded():
    ticks = iter(range(100))
    inputs = InputQueue(maxsize=3, now=lambda: float(next(ticks)))
    inputs(mido.Message("sysex", data=[1, 2, 3]))
    inputs(mido.Message("clock"))
    inputs(mido.Message("active_sensing"))
    for note in (60, 61, 62, 63, 64):
        inputs(mido.Message("note_on", note=note))
    assert inputs.events.qsize() == 3 and inputs.dropped == 2
    t, msg = inputs.events.get_nowait()
    assert msg.note == 60 and t == 3.0  # stamped when it arrived, before any filtering
    following = InputQueue(keep_clock=True)
    following(mido.Message("clock"))
    assert following.events.qsize() == 1


def test_player_tracks_sounding_notes_and_silences_them():
    sent: list[mido.Message] = []
    player = NotePlayer(sent.append)
    player.note_on(0, 60, 90)
    player.note_on(0, 60, 90)  # re-struck: released first
    player.note_on(2, 64, 90)
    player.note_off(0, 61)  # not sounding: nothing sent
    assert [(m.type, m.note) for m in sent] == [("note_on", 60), ("note_off", 60), ("note_on", 60), ("note_on", 64)]
    sent.clear()
    player.all_notes_off()
    assert sorted((m.channel, m.note) for m in sent if m.type == "note_off") == [(0, 60), (2, 64)]
    controls = [(m.channel, m.control, m.value) for m in sent if m.type == "control_change"]
    for channel in (0, 2):
        assert {(channel, SUSTAIN_PEDAL, 0), (channel, ALL_NOTES_OFF, 0), (channel, ALL_SOUND_OFF, 0)} <= set(controls)
    assert sent[-1].type == "control_change" and not player.sounding


def test_panic_messages():
    messages = panic_messages([0])
    assert sum(m.type == "note_off" for m in messages) == 128
    assert {m.channel for m in messages if m.type == "control_change"} == set(range(16))
