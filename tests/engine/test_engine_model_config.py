"""The model config: JSON round trips (the bundled one byte for byte), atomic writes, and refusal of bad values."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from engine_helpers import make_artifact

from antiphon.engine.artifact import CONFIG_FILE, load_artifact, load_config, save_config
from antiphon.engine.cache import CacheConfig
from antiphon.engine.mixture import MixConfig
from antiphon.engine.model import BUNDLED_MODEL_DIR
from antiphon.engine.model_config import Architecture, ModelConfig


def _text(data) -> str:
    return json.dumps(data, indent=1) + "\n"


def test_the_bundled_config_round_trips_byte_for_byte(tmp_path):
    text = (BUNDLED_MODEL_DIR / CONFIG_FILE).read_text(encoding="utf-8")
    config = ModelConfig.from_json(json.loads(text))
    assert config.architecture == Architecture(units=256, vocab_size=43, layers=1, position_features=48,
                                               type="lstm", dropout=0.2)
    assert config.cache == CacheConfig(lam=0.25, theta=1.0)
    assert config.event_model is not None and config.event_model.pitch_weight == 0.4
    assert len(config.split["validation"]) == 178 and config.training["history"]["val_loss"]
    assert _text(config.as_json()) == text
    save_config(tmp_path, config)
    assert (tmp_path / CONFIG_FILE).read_text(encoding="utf-8") == text
    assert load_config(tmp_path) == load_config(BUNDLED_MODEL_DIR) == config


def test_unknown_keys_round_trip_and_replace_keeps_them():
    data = {"format": "antiphon-lstm", "format_version": 1,
            "architecture": {"units": 8, "vocab_size": 20, "extra_gate": "peephole"},
            "sequence_length": 4, "steps_per_quarter": 4, "name": "reels", "split_seed": 7,
            "training": {"recipe": "song", "notes": ["a", 1]}}
    config = ModelConfig.from_json(data)
    assert config.extra == {"name": "reels", "split_seed": 7}
    assert config.architecture.extra == {"extra_gate": "peephole"}
    out = config.as_json()
    assert out["name"] == "reels" and out["architecture"]["extra_gate"] == "peephole"
    assert ModelConfig.from_json(out) == config
    # Tuners make new configs; the original and its JSON are left alone.
    tuned = replace(config.with_training(cache_tuning={"lam": 0.1}), cache=CacheConfig(lam=0.1, theta=0.3))
    assert tuned.as_json()["cache"] == {"lam": 0.1, "theta": 0.3}
    assert tuned.training == {"recipe": "song", "notes": ["a", 1], "cache_tuning": {"lam": 0.1}}
    assert tuned.extra == config.extra and "cache" not in config.as_json()
    out["training"]["notes"].append("edited")
    assert config.training["notes"] == ["a", 1]  # as_json hands out a copy


def test_atomic_write_leaves_no_temporary_file_and_the_artifact_loads(tmp_path):
    folder = make_artifact(tmp_path / "m", units=8, sequence_length=4)[0]
    before = sorted(p.name for p in folder.iterdir())
    config = load_config(folder)
    tuned = replace(config, event_model=None, cache=CacheConfig(lam=0.2, theta=0.6))
    mode = (folder / CONFIG_FILE).stat().st_mode
    save_config(folder, tuned)
    assert sorted(p.name for p in folder.iterdir()) == before
    assert (folder / CONFIG_FILE).stat().st_mode == mode  # not mkstemp's 0600
    assert load_artifact(folder).model_config == tuned
    assert json.loads((folder / CONFIG_FILE).read_text())["cache"] == {"lam": 0.2, "theta": 0.6}


def test_a_failed_write_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    import antiphon.engine.artifact as artifact

    folder = make_artifact(tmp_path / "m", units=8, sequence_length=4)[0]
    old = (folder / CONFIG_FILE).read_text()
    before = sorted(p.name for p in folder.iterdir())
    with pytest.raises(TypeError, match="object"):  # not JSON: refused before anything is written
        save_config(folder, replace(load_config(folder), extra={"bad": object()}))

    def fail(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(artifact.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        save_config(folder, replace(load_config(folder), cache=CacheConfig(lam=0.2, theta=0.6)))
    assert (folder / CONFIG_FILE).read_text() == old
    assert sorted(p.name for p in folder.iterdir()) == before


GOOD = {"format": "antiphon-lstm", "format_version": 1, "architecture": {"units": 8, "vocab_size": 20},
        "sequence_length": 4, "steps_per_quarter": 4}


@pytest.mark.parametrize("change, message", [
    ({"format": "keras"}, "not an Antiphon model"),
    ({"format_version": 2}, "format_version 2"),
    ({"architecture": None}, "no 'architecture' object"),
    ({"architecture": {"units": 0, "vocab_size": 20}}, "architecture.units must be a positive integer, got 0"),
    ({"architecture": {"units": 8, "vocab_size": True}}, "architecture.vocab_size"),
    ({"architecture": {"units": 8, "vocab_size": 20, "layers": 1.5}}, "architecture.layers"),
    ({"architecture": {"units": 8, "vocab_size": 20, "position_features": 2000}}, "position_features"),
    ({"sequence_length": "64"}, "sequence_length must be a positive integer, got '64'"),
    ({"steps_per_quarter": -4}, "steps_per_quarter"),
    ({"accepted_durations": "1,2"}, "accepted_durations"),
    ({"split": [1, 2]}, "split must be a JSON object"),
    ({"cache": {"lam": 0.1}}, "'lam' and 'theta'"),
    ({"cache": {"lam": 1.5, "theta": 1.0}}, "cache lam"),
    ({"event_model": {"pitch_weight": 0.4}}, "event_model"),
])
def test_bad_values_are_named(change, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig.from_json({**GOOD, **change})


def test_a_hand_made_config_gains_only_the_defaults():
    config = ModelConfig.from_json(GOOD)
    assert config.as_json() == {**GOOD, "architecture": {"units": 8, "layers": 1, "vocab_size": 20,
                                                         "position_features": 0}}
    assert ModelConfig.from_json(config.as_json()) == config
    mixed = replace(config, event_model=MixConfig(0.4, 0.3))
    assert ModelConfig.from_json(mixed.as_json()).event_model == MixConfig(0.4, 0.3)
    with pytest.raises(ValueError, match="not a JSON object|must be a JSON object"):
        ModelConfig.from_json([GOOD])
    with pytest.raises(ValueError, match=r"\['sequence_length'\] are fields"):
        replace(config, extra={"sequence_length": 8})
    with pytest.raises(ValueError, match=r"\['units'\] are fields"):
        replace(config.architecture, extra={"units": 8})
