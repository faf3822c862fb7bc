"""The cache tuner scores exactly what the engine runs: the same numbers as a predictor with that cache."""

from __future__ import annotations

import math

import pytest

from antiphon.engine.cache import CacheConfig
from antiphon.engine.events import DELIMITER
from antiphon.engine.meter import bar_positions
from antiphon.engine.model import BUNDLED_MODEL_DIR, LstmModel
from antiphon.training.cache_tune import score_with_caches
from antiphon.training.dataset import load_dataset

LAMBDAS = (0.1, 0.25)
THETAS = (0.3, 1.0)


def _runtime_nats(model: LstmModel, song: list[str], meter, cache: CacheConfig | None) -> float:
    """Nats of ``song`` and its end, as the product scores it: a stateful predictor from the song start."""
    predictor = model.predictor("stateful", cache=cache or False, events=False)
    probs = predictor.prime(model.song_start())
    positions = bar_positions(meter, len(song) + 1).tolist()
    total = 0.0
    for step, index in enumerate(model.vocab.encode([*song, DELIMITER])):
        total -= math.log(probs[index])
        if step < len(song):
            probs = predictor.feed(index, positions[step + 1])
    return total


@pytest.fixture(scope="module")
def real_song(erk_dataset):
    """A short real song (erk5) with its meter, and the bundled model that knows its symbols."""
    dataset = load_dataset(erk_dataset)
    entries = dataset.manifest["songs"]
    number = min(range(len(dataset.songs)), key=lambda i: (len(dataset.songs[i]) < 48, len(dataset.songs[i])))
    return LstmModel.load(BUNDLED_MODEL_DIR), dataset.songs[number], entries[number].get("meter")


@pytest.mark.parametrize("capacity", [1024, 16])  # the engine's ring, and one the song overflows
def test_tuner_cache_scores_equal_the_engine_cache(real_song, capacity):
    model, song, meter = real_song
    assert len(song) >= 48 and meter
    raw, totals, count = score_with_caches(model, [song], LAMBDAS, THETAS, [meter], capacity=capacity)
    assert count == len(song) + 1
    assert raw == pytest.approx(_runtime_nats(model, song, meter, None), rel=1e-12)
    for a, theta in enumerate(THETAS):
        for b, lam in enumerate(LAMBDAS):
            runtime = _runtime_nats(model, song, meter, CacheConfig(lam=lam, theta=theta, capacity=capacity))
            assert totals[a, b] == pytest.approx(runtime, rel=1e-12), (lam, theta)
