"""The long-term event model counted into arrays (engine/ppm_table.py) predicts exactly as PPM counted one
event at a time (engine/ppm.py), on real songs (the bundled model's events.json), for every escape method,
with and without update exclusion, at orders 0 to 12, after histories seen and unseen."""

from __future__ import annotations

import numpy as np
import pytest

from antiphon.engine.artifact import load_artifact
from antiphon.engine.model import BUNDLED_MODEL_DIR
from antiphon.engine.ppm import PPMCounts
from antiphon.engine.ppm_table import PPMTable


@pytest.fixture(scope="module")
def sequences():
    alphabet, songs = load_artifact(BUNDLED_MODEL_DIR).events
    size = len(alphabet) + 2  # and the start and end symbols, as EventModel adds them
    return size, [[size - 1, *song, size - 2] for song in songs[:400]]


@pytest.mark.parametrize("order, escape, exclusion", [(0, "C", True), (1, "AX", False), (3, "C", True),
                                                      (5, "AX", True), (4, "C", False), (12, "AX", True)])
def test_the_table_predicts_exactly_as_counting_one_event_at_a_time(sequences, order, escape, exclusion):
    size, songs = sequences
    counted = PPMCounts(size, order, escape, exclusion).fit(songs, skip=1)
    table = PPMTable(size, order, escape, exclusion).fit(songs, skip=1)
    rng = np.random.default_rng(order)
    for _ in range(200):
        song = songs[int(rng.integers(len(songs)))]
        history = list(song[:int(rng.integers(0, len(song)))])
        if rng.random() < 0.3:  # and a history never seen in training
            history.append(int(rng.integers(size)))
        for limit in (None, order // 2):
            assert np.array_equal(table.distribution(history, limit), counted.distribution(history, limit))


def test_a_table_of_no_songs_predicts_uniformly_and_bad_symbols_are_refused():
    table = PPMTable(5, 3).fit([])
    assert np.array_equal(table.distribution([1, 2]), np.full(5, 0.2))
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        PPMTable(5, 3).fit([[0, 5]])
