"""Bar-position inputs: the engine matches Keras on the same weights in both modes, and meters decode."""

import numpy as np
import pytest

from antiphon.engine.artifact import expected_shapes, save_artifact
from antiphon.engine.meter import UNKNOWN, bar_positions, check_meter
from antiphon.engine.model import LstmModel
from antiphon.engine.vocab import Vocab

P = 12


def test_bar_positions_follow_pickups_and_meter_changes():
    # A 3/4 song (12 steps a bar) starting with a one-beat pickup, switching to 2/4 at step 28.
    meter = [[0, 12, 8], [28, 8, 0]]
    positions = bar_positions(meter, 36)
    assert positions[:6].tolist() == [8, 9, 10, 11, 0, 1]
    assert positions[26:32].tolist() == [10, 11, 0, 1, 2, 3]
    assert positions[34:].tolist() == [6, 7]
    assert bar_positions([], 3).tolist() == [UNKNOWN] * 3
    assert bar_positions([[0, 96, 0]], 2).tolist() == [UNKNOWN] * 2  # bars longer than the model's inputs
    with pytest.raises(ValueError, match="out of range"):
        check_meter([[0, 12, 12]])
    with pytest.raises(ValueError, match="three integers"):
        check_meter([[0, 12]])


@pytest.fixture(scope="module")
def position_model(tmp_path_factory):
    import keras

    from antiphon.training.model import build_model, import_weights

    vocab = Vocab.build(["60", "62", "64", "65", "67"])
    rng = np.random.default_rng(4)
    weights = {name: (rng.standard_normal(shape) * 0.5).astype(np.float32)
               for name, shape in expected_shapes(len(vocab), 16, 1, P).items()}
    folder = tmp_path_factory.mktemp("pos")
    save_artifact(folder, {"architecture": {"units": 16, "layers": 1, "vocab_size": len(vocab),
                                            "position_features": P},
                           "sequence_length": 4, "steps_per_quarter": 4}, vocab, weights)
    keras_model = build_model(len(vocab), units=16, return_sequences=True, position_features=P)
    import_weights(keras_model, weights)
    assert isinstance(keras_model, keras.Model)
    return LstmModel.load(folder), keras_model


def test_engine_matches_keras_with_positions(position_model):
    model, keras_model = position_model
    vocab = model.vocab
    symbols = ["/", "/", "/", "/", "60", "_", "62", "64", "_", "_", "r", "67"]
    # Positions of the step each input predicts: none in the padding, a 3/4 bar from a pickup after it.
    positions = [None, None, None, None, 9, 10, 11, 0, 1, 2, 3, None]
    indices = vocab.encode(symbols)
    x = np.zeros((1, len(indices), len(vocab) + P), dtype=np.float32)
    x[0, np.arange(len(indices)), indices] = 1.0
    for t, position in enumerate(positions):
        if position is not None:
            x[0, t, len(vocab) + position] = 1.0
    expected = np.asarray(keras_model(x))[0].astype(np.float64)  # (T, V)
    stateful = model.predictor("stateful", cache=False)
    got = [stateful.feed(i, p) for i, p in zip(indices, positions, strict=True)]
    assert np.abs(np.array(got) - expected).max() < 1e-5
    primed = model.predictor("stateful", cache=False).prime(indices, positions)
    assert np.abs(primed - expected[-1]).max() < 1e-5
    # The window mode reruns the last sequence_length inputs (with their positions) from a zero state.
    window = model.predictor("window")
    for i, p in zip(indices, positions, strict=True):
        out = window.feed(i, p)
    tail = x[:, -model.sequence_length:]
    assert np.abs(out - np.asarray(keras_model(tail))[0, -1]).max() < 1e-5


def test_bad_positions_are_refused(position_model):
    model, _ = position_model
    predictor = model.predictor("stateful", cache=False)
    with pytest.raises(ValueError, match="bar position"):
        predictor.feed(0, "3")
    with pytest.raises(ValueError, match="2 bar positions for 3 symbols"):
        predictor.prime([0, 0, 0], [1, 2])
    # Out-of-range positions count as unknown, like the training data's long bars.
    assert np.allclose(model.predictor("stateful", cache=False).feed(0, 99),
                       model.predictor("stateful", cache=False).feed(0, None))


def test_time_signatures_become_meters():
    from antiphon.engine.meter import meter_from_signature

    assert meter_from_signature("4/4", 4) == [[0, 16, 0]]
    assert meter_from_signature("6/8", 4) == [[0, 12, 0]]
    assert meter_from_signature("3/4", 4, pickup_steps=4) == [[0, 12, 8]]
    assert meter_from_signature("none", 4) == []
    for bad in ("3-4", "0/4", "3/5", "x/4"):
        with pytest.raises(ValueError, match="time signature"):
            meter_from_signature(bad, 4)
    with pytest.raises(ValueError, match="pickup"):
        meter_from_signature("2/4", 4, pickup_steps=8)
