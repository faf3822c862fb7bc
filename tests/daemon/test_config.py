"""The daemon's config: TOML file, command-line values winning, and clear errors naming bad keys and values."""

from __future__ import annotations

from pathlib import Path

import pytest

from antiphon.daemon.config import ServeConfig, build_config, load_toml

ROOT = Path(__file__).resolve().parents[2]


def _write(tmp_path, text: str) -> Path:
    path = tmp_path / "antiphon.toml"
    path.write_text(text)
    return path


def test_file_values_then_command_line_wins(tmp_path):
    path = _write(tmp_path, 'bpm = 96\ninput-channel = 2\nrecord = "/tmp/rec"\nvirtual = true\n')
    config = build_config(path, bpm=None, input_channel=5, virtual=None)
    assert config.bpm == 96  # from the file (the CLI left it unset)
    assert config.input_channel == 5  # the CLI wins
    assert config.record == "/tmp/rec" and config.virtual is True
    assert config.phrase_end_steps == 16 and config.output_channel == 1  # defaults


def test_a_tempo_given_is_the_first_calls_guess(tmp_path):
    assert not build_config().bpm_guess  # the default 120 only starts the clock
    assert build_config(bpm=90.0).bpm_guess
    path = tmp_path / "antiphon.toml"
    path.write_text("bpm = 84\n")
    assert build_config(path).bpm_guess and build_config(path).bpm == 84


def test_a_style_in_the_file_gives_way_to_a_model_on_the_command_line(tmp_path):
    path = _write(tmp_path, 'style = "auto"\n')
    assert build_config(path).style == "auto" and build_config(path).model is None
    chosen = build_config(path, model="my/model")
    assert chosen.model == "my/model" and chosen.style is None
    with pytest.raises(ValueError, match="model or style, not both"):
        build_config(_write(tmp_path, 'style = "erk"\nmodel = "my/model"\n'))


def test_serve_table_is_accepted(tmp_path):
    path = _write(tmp_path, '[serve]\nbackend = "jack"\ntempo_cc = 21\n')
    assert build_config(path).tempo_cc == 21


@pytest.mark.parametrize(("text", "named"), [
    ("bmp = 120\n", "bmp"),
    ('[serve]\nbpm = 120\n[other]\nx = 1\n', "other"),
    ("bpm = 'fast'\n", "bpm"),
    ("bpm = 1000\n", "bpm"),
    ("input_channel = 17\n", "input_channel"),
    ("panic_cc = 128\n", "panic_cc"),
    ('backend = "coreaudio"\n', "backend"),
    ('mode = "greedy"\n', "mode"),
    ("virtual = 1\n", "virtual"),
    ("phrase_end_steps = 2.5\n", "phrase_end_steps"),
    ("temperature = 0\n", "temperature"),
    ("top_p = 1.5\n", "top_p"),
    ("bpm = \n", "not valid TOML"),
])
def test_bad_keys_and_values_are_named(tmp_path, text, named):
    path = _write(tmp_path, text)
    with pytest.raises(ValueError, match=named) as err:
        build_config(path)
    assert "antiphon.toml" in str(err.value)


def test_bad_command_line_values_are_named():
    with pytest.raises(ValueError, match="output_channel"):
        build_config(None, output_channel=0)
    with pytest.raises(ValueError, match="clock"):
        ServeConfig(clock="midi")
    with pytest.raises(ValueError, match="config file not found"):
        load_toml("/nonexistent/antiphon.toml")


def test_the_example_config_is_valid():
    config = build_config(ROOT / "systemd" / "antiphon.toml")
    assert config.record is not None
