"""The event model mixed into the LSTM (engine/mixture.py): its grid view agrees with the event model scored
event by event, the mixture is a distribution with the documented limits, and artifacts carry it safely."""

from __future__ import annotations

import json

import numpy as np
import pytest
from engine_helpers import PITCHES, make_artifact

from antiphon.engine.events import DELIMITER, HOLD
from antiphon.engine.mixture import EVENTS_FILE, EventMixture, MixConfig, mix
from antiphon.engine.model import LstmModel
from antiphon.engine.ppm import EventModel, song_events, token_parts
from antiphon.engine.vocab import Vocab

SONGS = [  # small grid songs over PITCHES, with rests, repeats and a leading hold
    "60 _ _ _ 62 _ 64 _ 65 _ _ _ 64 _ 62 _ 60 _ _ _".split(),
    "64 _ 64 _ 65 _ 67 _ _ _ r _ 67 _ 65 _ 64 _ _ _ 62 _ 60 _ _ _ _ _".split(),
    "_ _ 67 _ 69 _ 67 _ 65 _ 64 _ 62 _ _ _ 60 _ _ _".split(),
    "60 _ 62 _ 64 _ 60 _ 62 _ 64 _ 65 _ _ _ 67 _ _ _ r _ _ _".split(),
]
TEST_SONG = "62 _ 64 _ 65 _ _ _ 64 _ 62 _ 60 _ _ _ _ _ r _ 67 _ 65 _ 64 _ _ _ 62 _ _ _ 60 _ _ _".split()


def _alphabet(songs):
    steps = sorted({token_parts(t)[1] for s in songs for t in song_events(s)})
    return [f"{h}:{d}" for h in [*PITCHES, "r"] for d in steps]


@pytest.fixture(scope="module")
def mixture():
    vocab = Vocab.build(PITCHES)
    alphabet = _alphabet(SONGS + [TEST_SONG])
    config = MixConfig(pitch_weight=0.5, hold_weight=0.3, max_order=3, escape="C", bias=1.0)
    model = EventModel(alphabet, [song_events(s) for s in SONGS], 3, "C", True, 1.0, "arithmetic")
    return EventMixture(model, vocab, config)


def _event_rows(mixture, song):
    """The event model's prediction before each event of ``song`` and its end, scored event by event."""
    model = mixture.model
    sequence = model.encode(song_events(song))
    short = model.new_short_term()
    rows = []
    for t in range(1, len(sequence)):
        rows.append(model.predict(sequence[:t], short))
        short.update(sequence[:t], sequence[t])
    return rows


def test_grid_view_matches_the_event_model_event_by_event(mixture):
    vocab, rows = mixture.vocab, _event_rows(mixture, TEST_SONG)
    song = mixture.new_song()
    event, onset_step, head = -1, 0, None
    for step, symbol in enumerate([*TEST_SONG, DELIMITER]):
        heads, hold = song.components()
        if symbol != HOLD:  # an event (or the end) starts here: the heads are its prediction summed over lengths
            event += 1
            np.testing.assert_allclose(heads, mixture.heads(rows[event]), atol=1e-12)
            onset_step, head = step, vocab.index(symbol)
        else:  # the current event goes on: P(longer than so far) / P(at least so far) under its prediction
            started = rows[event]
            same = mixture.head_of == head
            length = step - onset_step
            longer, at_least = same & (mixture.steps_of > length), same & (mixture.steps_of >= length)
            expected = started[longer].sum() / started[at_least].sum()
            assert hold == pytest.approx(expected, abs=1e-12)
        if symbol != DELIMITER:
            song.feed(vocab.index(symbol))
    assert event == len(rows) - 1  # every event and the end were checked


def test_mix_limits_and_normalisation(mixture):
    rng = np.random.default_rng(0)
    v, hold_index, end = len(mixture.vocab), mixture.hold_index, mixture.delimiter
    probs = rng.dirichlet(np.ones(v), size=5)
    heads = rng.dirichlet(np.ones(v), size=5)
    holds = np.array([0.2, 0.9, np.nan, 0.5, 0.01])
    np.testing.assert_allclose(mix(probs, heads, holds, hold_index, end, 0.0, 0.0), probs, atol=1e-12)
    both = mix(probs, heads, holds, hold_index, end, 1.0, 1.0)
    known = ~np.isnan(holds)
    np.testing.assert_allclose(both[known, hold_index], holds[known], atol=1e-9)
    assert both[2, hold_index] == pytest.approx(probs[2, hold_index])  # no event hold: the LSTM's stays
    onset_share = 1.0 - both[:, hold_index]
    # The end is the LSTM's share of the onsets; the other onsets follow the event model alone at weight 1.
    np.testing.assert_allclose(both[:, end] / onset_share, probs[:, end] / (1.0 - probs[:, hold_index]))
    others = [i for i in range(v) if i not in (hold_index, end)]
    rest = both[:, others] / both[:, others].sum(axis=1, keepdims=True)
    np.testing.assert_allclose(rest, heads[:, others] / heads[:, others].sum(axis=1, keepdims=True), atol=1e-9)
    half = mix(probs, heads, holds, hold_index, end, 0.5, 0.3)
    np.testing.assert_allclose(half.sum(axis=1), 1.0, atol=1e-12)
    assert (half > 0).all()


def _with_events(folder, mixture_config=None, events=None):
    config = json.loads((folder / "config.json").read_text())
    config["event_model"] = mixture_config or MixConfig(0.5, 0.3, max_order=3, escape="C").as_config()
    (folder / "config.json").write_text(json.dumps(config))
    vocab = Vocab.build(PITCHES)
    alphabet = _alphabet(SONGS)
    index = {t: i for i, t in enumerate(alphabet)}
    data = events or {"alphabet": alphabet, "songs": [[index[t] for t in song_events(s)] for s in SONGS]}
    (folder / EVENTS_FILE).write_text(json.dumps(data))
    return vocab


def test_predictor_mixes_clones_and_resets(tmp_path):
    folder, vocab, _ = make_artifact(tmp_path / "m")
    _with_events(folder)
    model = LstmModel.load(folder)
    assert model.event_mixture is not None and model.mix_config.pitch_weight == 0.5
    plain = model.predictor(events=False)
    mixed = model.predictor()
    padding = [vocab.index(DELIMITER)] * 16
    indices = vocab.encode(SONGS[1])
    mixed.prime(padding + indices[:6])
    plain.prime(padding + indices[:6])
    clone = mixed.clone()
    outputs = []
    for index in indices[6:]:
        a, b = mixed.feed(index), plain.feed(index)
        assert a.sum() == pytest.approx(1.0) and not np.allclose(a, b)
        outputs.append(a)
    for index, expected in zip(indices[6:], outputs, strict=True):  # the clone is untouched by the original
        np.testing.assert_allclose(clone.feed(index), expected, atol=1e-12)
    fresh = model.predictor().prime(padding + indices)
    np.testing.assert_allclose(mixed.last_probabilities, fresh, atol=1e-12)
    assert model.predictor("window").prime(padding).sum() == pytest.approx(1.0)  # window mode: no mixture


def test_own_output_is_not_learned_by_the_short_term_model(tmp_path):
    folder, vocab, _ = make_artifact(tmp_path / "m")
    _with_events(folder)
    model = LstmModel.load(folder)
    padding = [vocab.index(DELIMITER)] * 16
    song = vocab.encode(SONGS[1])
    learner, sampler = model.predictor(), model.predictor()
    learner.prime(padding + song[:4])
    sampler.prime(padding + song[:4])
    sampler.mark_own_output()  # the first four symbols were given (a seed); the rest is "sampled"
    learned = len(sampler.events.short.tables)
    assert learned > 0
    for index in song[4:]:
        a, b = learner.feed(index), sampler.feed(index)
    assert len(sampler.events.short.tables) == learned < len(learner.events.short.tables)
    assert not np.allclose(a, b)
    clone = sampler.clone()
    assert clone.events.learning is False
    sampler.feed(vocab.index(DELIMITER))  # a new song is given again
    assert sampler.events.learning is True and not sampler.events.short.tables


@pytest.mark.parametrize("change, message", [
    ({"event_model": {"pitch_weight": 1.5, "hold_weight": 0.1}}, "pitch_weight"),
    ({"event_model": {"pitch_weight": 0.5, "hold_weight": 0.1, "colour": 1}}, "unknown keys"),
    ({"events": {"alphabet": ["60:x"], "songs": []}}, "bad event token"),
    ({"events": {"alphabet": ["99:2"], "songs": []}}, "bad event token"),
    ({"events": {"alphabet": ["60:2"], "songs": [[0, 1]]}}, "token indices"),
    ({"events": None}, f"no {EVENTS_FILE}"),
])
def test_bad_event_models_are_refused(tmp_path, change, message):
    folder, _, _ = make_artifact(tmp_path / "m")
    _with_events(folder, change.get("event_model"), change.get("events"))
    if "events" in change and change["events"] is None:
        (folder / EVENTS_FILE).unlink()
    with pytest.raises(ValueError, match=message):
        LstmModel.load(folder)
