"""``antiphon generate`` end to end on a small real artifact."""

from __future__ import annotations

import pytest
from engine_helpers import make_artifact
from typer.testing import CliRunner

from antiphon.cli import build_app
from antiphon.engine.events import Note
from antiphon.engine.midifile import read_midi_notes, write_midi

app = build_app()
runner = CliRunner()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_artifact(tmp_path_factory.mktemp("cli_model"), units=16, sequence_length=8)[0]


def _generate(*args):
    return runner.invoke(app, ["generate", *map(str, args)])


def test_generate_writes_a_reproducible_midi_file(model_dir, tmp_path):
    outs = []
    for name in ("a", "b"):
        result = _generate("--model", model_dir, "--seed", "67 _ 67 _ 65", "--steps", 24, "--random-seed", 9,
                           "--weight", "/=0", "--out", tmp_path / f"{name}.mid", "--musicxml",
                           tmp_path / f"{name}.musicxml")
        assert result.exit_code == 0, result.output
        outs.append(result.output.splitlines()[0])  # the symbols
    assert outs[0] == outs[1]
    assert (tmp_path / "a.mid").read_bytes() == (tmp_path / "b.mid").read_bytes()
    assert (tmp_path / "a.musicxml").stat().st_size > 0
    notes = read_midi_notes(tmp_path / "a.mid", trim_leading=False)
    assert notes[:3] == [Note(67, 0, 2), Note(67, 2, 2), Note(65, 4, notes[2].length_steps)]
    assert len(outs[0].split()) == 5 + 24
    other = _generate("--model", model_dir, "--seed", "67 _ 67 _ 65", "--steps", 24, "--random-seed", 10,
                      "--weight", "/=0", "--out", tmp_path / "c.mid", "--mode", "window", "--fixed-temperature")
    assert other.exit_code == 0 and "window mode" in other.output


def test_seed_file_is_answered_in_its_own_key(model_dir, tmp_path):
    # An E-flat major phrase; the model knows 60..76 in C major.
    seed = [Note(p, 2 * i, 2) for i, p in enumerate([63, 65, 67, 68, 70, 68, 67, 65])] + [Note(63, 16, 8)]
    write_midi(seed, tmp_path / "call.mid")
    result = _generate("--model", model_dir, "--seed-file", tmp_path / "call.mid", "--steps", 16,
                       "--random-seed", 1, "--weight", "/=0", "--out", tmp_path / "answer.mid")
    assert result.exit_code == 0, result.output
    assert "E- major, transposed -3 semitones" in result.output
    notes = read_midi_notes(tmp_path / "answer.mid", trim_leading=False)
    assert notes[:len(seed) - 1] == seed[:-1]  # the seed comes back in E-flat
    # Everything generated was shifted back by +3: pitches 63..79 (the model's 60..76).
    assert all(63 <= n.pitch <= 79 for n in notes)


def test_clear_errors(model_dir, tmp_path):
    result = _generate("--model", model_dir, "--seed", "60 _ 99", "--out", tmp_path / "x.mid")
    assert result.exit_code == 2 and "'99'" in result.output
    result = _generate("--model", tmp_path / "nowhere", "--out", tmp_path / "x.mid")
    assert result.exit_code == 2 and "model folder not found" in result.output
    result = _generate("--model", model_dir, "--weight", "r", "--out", tmp_path / "x.mid")
    assert result.exit_code != 0 and "SYMBOL=W" in result.output
    result = _generate("--model", model_dir, "--weight", "q=1", "--out", tmp_path / "x.mid")
    assert result.exit_code == 2 and "'q'" in result.output
    result = _generate("--model", model_dir, "--mode", "beam", "--out", tmp_path / "x.mid")
    assert result.exit_code == 2 and "'beam'" in result.output
