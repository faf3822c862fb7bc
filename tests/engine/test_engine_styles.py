"""Style lookup (engine/styles.py) and the cost of a call under a model."""

from __future__ import annotations

import math

import pytest
from engine_helpers import make_artifact

from antiphon.engine import styles
from antiphon.engine.model import BUNDLED_MODEL_DIR, LstmModel


def test_the_original_model_is_the_erk_style_and_auto_the_default():
    folders = styles.style_folders()
    assert folders[styles.ORIGINAL_STYLE] == BUNDLED_MODEL_DIR
    assert styles.style_path("erk") == BUNDLED_MODEL_DIR
    assert styles.DEFAULT_STYLE == styles.AUTO
    assert styles.model_folders(None, None) == styles.auto_styles()
    assert styles.SEEDLESS_STYLE in styles.auto_styles()
    assert all((folder / "config.json").is_file() for folder in folders.values())
    summary = styles.style_summary("erk")
    assert summary["songs"] == 1781 and summary["test_songs"] == 178
    assert summary["bits_per_event"] < summary["baseline_bits_per_event"]


def test_an_unknown_style_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown style 'polka'; known styles: .*erk.*auto"):
        styles.style_path("polka")
    with pytest.raises(ValueError, match="give --model or --style, not both"):
        styles.model_folders("some/folder", "erk")
    assert styles.model_folders("some/folder", None) == {"folder": styles.Path("some/folder")}


def test_auto_loads_every_style_but_those_superseded():
    folders = styles.style_folders()
    chosen = styles.model_folders(None, styles.AUTO)
    assert "german" in folders and "erk" in folders  # both bundled: erk's songs are a subset of german's
    assert chosen == {name: path for name, path in folders.items() if name != "erk"}


def test_a_call_costs_the_sum_of_its_symbols_bits_and_leaves_the_predictor_primed(tmp_path):
    model = LstmModel.load(make_artifact(tmp_path / "m", seed=4)[0])
    symbols = ["60", "_", "62", "_", "r", "64", "_", "_"]
    indices = model.vocab.encode(symbols)
    scorer = model.predictor("stateful")
    scorer.prime(model.song_start())
    reference = scorer.clone()
    expected = 0.0
    for index in indices:
        expected -= math.log2(reference.last_probabilities[index])
        reference.feed(index)
    bits = styles.score_call(scorer, indices, [None] * len(indices))
    assert bits == pytest.approx(expected, rel=1e-12) and bits > 0
    assert (scorer.last_probabilities == reference.last_probabilities).all()
    assert styles.likeliest({"b": 3.0, "a": 3.0, "c": 1.0}) == "c"
    assert styles.likeliest({"b": 3.0, "a": 3.0}) == "a"
