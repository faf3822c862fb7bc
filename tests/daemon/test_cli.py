"""``antiphon respond`` end to end on a MIDI file, and the daemon commands' errors."""

from __future__ import annotations

import mido
import pytest
from daemon_helpers import EB_MAJOR_CALL, scale_pcs
from typer.testing import CliRunner

from antiphon.cli import build_app
from antiphon.engine.events import Note
from antiphon.engine.midifile import write_midi

app = build_app()
runner = CliRunner()


def _call_file(tmp_path, pitches=EB_MAJOR_CALL, bpm=120):
    notes = [Note(p, 4 * i, 4) for i, p in enumerate(pitches)]
    return write_midi(notes, tmp_path / "call.mid", bpm=bpm)


def _note_ons(track):
    return [m for m in track if m.type == "note_on" and m.velocity > 0]


def test_respond_writes_a_response_in_the_calls_key(tmp_path, daemon_artifact):
    out = tmp_path / "response.mid"
    result = runner.invoke(app, ["respond", str(_call_file(tmp_path)), "-o", str(out), "--model",
                                 str(daemon_artifact), "--random-seed", "7"])
    assert result.exit_code == 0, result.output
    assert "E- major" in result.output and "1 response(s)" in result.output
    midi = mido.MidiFile(out)
    assert not _note_ons(midi.tracks[1])  # the call is left out by default
    ons = _note_ons(midi.tracks[2])
    assert ons and {m.note % 12 for m in ons} <= scale_pcs(3)
    assert midi.length <= 32 * 0.125 + 0.01  # as long as the call, from the response's first step

    both = tmp_path / "both.mid"
    again = runner.invoke(app, ["respond", str(_call_file(tmp_path)), "-o", str(both), "--model",
                                str(daemon_artifact), "--random-seed", "7", "--with-call"])
    assert again.exit_code == 0, again.output
    midi_both = mido.MidiFile(both)
    assert [m.note for m in _note_ons(midi_both.tracks[1])] == EB_MAJOR_CALL
    assert [m.note for m in _note_ons(midi_both.tracks[2])] == [m.note for m in ons]  # same seed, same answer


def test_respond_follows_the_files_tempo(tmp_path, daemon_artifact):
    out = tmp_path / "slow.mid"
    result = runner.invoke(app, ["respond", str(_call_file(tmp_path, bpm=60)), "-o", str(out), "--model",
                                 str(daemon_artifact), "--response-bars", "1"])
    assert result.exit_code == 0, result.output
    midi = mido.MidiFile(out)
    tempo = next(m.tempo for m in midi.tracks[0] if m.type == "set_tempo")
    assert tempo == 1_000_000
    assert "16 steps" in result.output
    # Even quarters are as much half notes at twice the tempo: the file's tempo was the guess; --bpm wins over it.
    result = runner.invoke(app, ["respond", str(_call_file(tmp_path, bpm=60)), "-o", str(out), "--model",
                                 str(daemon_artifact), "--response-bars", "1", "--bpm", "120"])
    assert result.exit_code == 0, result.output
    assert "heard at 120.0 bpm" in result.output


def test_clear_errors(tmp_path, daemon_artifact):
    bad = tmp_path / "bad.toml"
    bad.write_text("bpm = 120\nsyncopation = 3\n")
    result = runner.invoke(app, ["respond", str(_call_file(tmp_path)), "--config", str(bad), "--model",
                                 str(daemon_artifact)])
    assert result.exit_code == 2 and "syncopation" in result.output
    empty = tmp_path / "empty.mid"
    empty.write_bytes(b"MThd garbage")
    result = runner.invoke(app, ["respond", str(empty), "--model", str(daemon_artifact)])
    assert result.exit_code == 2 and "cannot read MIDI file" in result.output
    result = runner.invoke(app, ["respond", str(_call_file(tmp_path)), "--model", str(tmp_path / "none")])
    assert result.exit_code == 2 and "model folder not found" in result.output
    result = runner.invoke(app, ["panic"])
    assert result.exit_code == 2 and "no output port" in result.output
    result = runner.invoke(app, ["respond", str(_call_file(tmp_path)), "--style", "polka"])
    assert result.exit_code == 2 and "unknown style 'polka'; known styles: " in result.output
    result = runner.invoke(app, ["generate", "--style", "erk", "--model", str(daemon_artifact)])
    assert result.exit_code == 2 and "not both" in result.output
    result = runner.invoke(app, ["serve", "--bpm", "1000", "--model", str(daemon_artifact)])
    assert result.exit_code == 2 and "bpm" in result.output


def test_styles_lists_the_bundled_styles_with_their_figures():
    result = runner.invoke(app, ["styles"])
    assert result.exit_code == 0, result.output
    assert "erk " in result.output and "2.80" in result.output and "essenFolksong/erk*" in result.output
    assert "german *" in result.output and "the default, --style auto" in result.output


def test_serve_gives_back_the_signal_handlers_it_set(tmp_path):
    """In-process callers (tests) keep their handlers: pool workers forked later must still die on SIGTERM."""
    import signal

    from antiphon.daemon.config import ServeConfig
    from antiphon.daemon.live import serve

    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with pytest.raises(ValueError):
        serve(ServeConfig(model=str(tmp_path / "no model")))
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
