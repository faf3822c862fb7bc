"""The numpy LSTM against Keras on the same weights, its predictors' state handling and artifact refusal."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from engine_helpers import make_artifact

from antiphon.engine.artifact import CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE
from antiphon.engine.model import DEFAULT_MODE, MODES, LstmModel

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def keras_pair(tmp_path_factory):
    """(engine model, Keras per-step model) for 1 and 2 layers, same random weights."""
    from antiphon.training.model import build_model, import_weights

    pairs = {}
    for layers, units in ((1, 24), (2, 16)):
        folder, vocab, weights = make_artifact(tmp_path_factory.mktemp(f"keras{layers}"), units=units,
                                               layers=layers, sequence_length=16, seed=layers)
        keras_model = build_model(len(vocab), units=units, layers=layers, return_sequences=True)
        import_weights(keras_model, weights)
        pairs[layers] = (LstmModel.load(folder), keras_model)
    return pairs


def _one_hot(indices, size):
    return np.eye(size, dtype=np.float32)[np.asarray(indices)]


@pytest.mark.parametrize("layers", [1, 2])
def test_stateful_matches_keras_over_a_long_sequence(keras_pair, layers):
    model, keras_model = keras_pair[layers]
    rng = np.random.default_rng(10 + layers)
    for _ in range(3):
        sequence = rng.integers(0, len(model.vocab), 45)  # longer than the 16-step window
        expected = np.asarray(keras_model(_one_hot(sequence, len(model.vocab))[None]))[0]  # (T, V)
        predictor = model.predictor("stateful")
        got = np.array([predictor.feed(int(i)) for i in sequence])
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, expected, atol=TOLERANCE, rtol=0)
        np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-12)


@pytest.mark.parametrize("layers", [1, 2])
def test_window_matches_keras_predict_on_the_last_sequence_length_symbols(keras_pair, layers):
    model, keras_model = keras_pair[layers]
    length = model.sequence_length
    rng = np.random.default_rng(20 + layers)
    sequence = rng.integers(0, len(model.vocab), 40)
    predictor = model.predictor("window")
    got = np.array([predictor.feed(int(i)) for i in sequence])
    # Full windows, batched through model.predict (what the report's generator calls).
    windows = np.stack([_one_hot(sequence[t - length + 1:t + 1], len(model.vocab))
                        for t in range(length - 1, len(sequence))])
    expected = keras_model.predict(windows, verbose=0)[:, -1]
    np.testing.assert_allclose(got[length - 1:], expected, atol=TOLERANCE, rtol=0)
    # Before the window fills, the whole (shorter) history is the input.
    early = np.asarray(keras_model(_one_hot(sequence[:5], len(model.vocab))[None]))[0, -1]
    np.testing.assert_allclose(got[4], early, atol=TOLERANCE, rtol=0)
    # The window really forgets: it differs from the stateful prediction once the history is longer.
    stateful = model.predictor("stateful").prime(sequence)
    assert np.abs(stateful - got[-1]).max() > 1e-4


@pytest.mark.parametrize("layers", [1, 2])
def test_windows_starting_with_padding_use_the_cache_and_still_match_keras(keras_pair, layers):
    model, keras_model = keras_pair[layers]
    length, delimiter = model.sequence_length, model.vocab.index("/")
    rng = np.random.default_rng(30 + layers)
    body = rng.integers(1, len(model.vocab), length).tolist()  # no delimiter in the body
    for lead in (0, 1, 5, length - 1, length):
        window = [delimiter] * lead + body[:length - lead]
        expected = np.asarray(keras_model(_one_hot(window, len(model.vocab))[None]))[0, -1]
        got = model.predictor("window").prime(window)
        np.testing.assert_allclose(got, expected, atol=TOLERANCE, rtol=0)
        if layers == 1:  # the cache reproduces the full run exactly
            full = model.probabilities(model.layers[0].run(model.layers[0].table[np.asarray(window)])[-1])
            assert np.array_equal(got, full)
    # A padded seed as generate() builds it: the window mode agrees with Keras at every step.
    predictor = model.predictor("window")
    sequence = [delimiter] * length + body[:10]
    got = [predictor.feed(i) for i in sequence][length:]
    for t, probs in enumerate(got):
        window = sequence[t + 1:length + t + 1]
        expected = np.asarray(keras_model(_one_hot(window, len(model.vocab))[None]))[0, -1]
        np.testing.assert_allclose(probs, expected, atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("mode", MODES)
def test_prime_equals_feeding_one_by_one_and_reset_forgets(small_artifact, mode):
    model = LstmModel.load(small_artifact)
    sequence = np.random.default_rng(3).integers(0, len(model.vocab), 30).tolist()
    a = model.predictor(mode)
    b = model.predictor(mode)
    for index in sequence:
        last = a.feed(index)
    np.testing.assert_allclose(b.prime(sequence), last, atol=1e-12)
    b.reset()
    assert b.last_probabilities is None
    np.testing.assert_allclose(b.prime(sequence[-5:]), model.predictor(mode).prime(sequence[-5:]), atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_clone_is_independent(small_artifact, mode):
    model = LstmModel.load(small_artifact)
    predictor = model.predictor(mode)
    predictor.prime([0] * 16 + [5, 6, 7])
    ahead = predictor.clone()
    ahead_probs = [ahead.feed(i) for i in (8, 9, 10)]
    # The original is untouched by computing ahead, and then reaches the same place.
    np.testing.assert_allclose([predictor.feed(i) for i in (8, 9, 10)], ahead_probs, atol=1e-12)
    assert ahead.mode == predictor.mode == mode


def test_song_start_is_the_padding_the_model_was_trained_after(small_artifact):
    model = LstmModel.load(small_artifact)
    start = model.song_start()
    assert start == [model.vocab.index("/")] * model.sequence_length == [model.delimiter] * 16
    start.append(3)  # a fresh list each time: callers may extend it with a seed
    assert len(model.song_start()) == 16
    # Both modes see the same song start: a window of padding equals the carried state after it.
    window, stateful = model.predictor("window"), model.predictor("stateful")
    np.testing.assert_allclose(window.prime(model.song_start()), stateful.prime(model.song_start()), atol=1e-6)
    np.testing.assert_allclose(model.probabilities(stateful.top_state), stateful.last_probabilities, atol=1e-12)


def test_bad_inputs_are_named(small_artifact):
    model = LstmModel.load(small_artifact)
    with pytest.raises(ValueError, match="'beam'"):
        model.predictor("beam")
    assert DEFAULT_MODE in MODES
    predictor = model.predictor()
    with pytest.raises(ValueError, match="20 is outside 0..19"):
        predictor.feed(20)
    with pytest.raises(ValueError, match="-1 is outside"):
        predictor.prime([1, -1])
    with pytest.raises(ValueError, match="at least one"):
        predictor.prime([])


def _corrupt(folder, tmp_path, change):
    bad = tmp_path / "bad"
    shutil.copytree(folder, bad)
    change(bad)
    return bad


def _rewrite_weights(folder, edit):
    with np.load(folder / WEIGHTS_FILE) as data:
        weights = {name: data[name] for name in data.files}
    edit(weights)
    np.savez(folder / WEIGHTS_FILE, **weights)


def test_malformed_artifacts_are_refused(small_artifact, tmp_path):
    cases = {
        "has shape": lambda f: _rewrite_weights(f, lambda w: w.update({"dense/kernel": w["dense/kernel"][:, :5]})),
        "NaN": lambda f: _rewrite_weights(f, lambda w: w["lstm0/bias"].__setitem__(3, np.nan)),
        "vocabulary file missing": lambda f: (f / VOCAB_FILE).unlink(),
        "pickled": lambda f: _rewrite_weights(
            f, lambda w: w.update({"dense/bias": np.array([{"x": 1}] * 20, dtype=object)})),
        "missing": lambda f: _rewrite_weights(f, lambda w: w.pop("lstm0/recurrent_kernel")),
        "vocab_size": lambda f: (f / CONFIG_FILE).write_text(json.dumps(
            {**json.loads((f / CONFIG_FILE).read_text()), "architecture": {"units": 24, "vocab_size": 21}})),
        "not a readable": lambda f: (f / WEIGHTS_FILE).write_bytes(b"not a zip file"),
    }
    for number, (message, change) in enumerate(cases.items()):
        bad = _corrupt(small_artifact, tmp_path / str(number), change)
        with pytest.raises(ValueError, match=message):
            LstmModel.load(bad)
