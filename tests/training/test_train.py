"""A tiny real training run on a few real ``erk`` songs, for both recipes, and the ``train`` command."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf  # noqa: E402

# Keep TensorFlow to the 2 shared cores; must run before TensorFlow starts its runtime.
try:
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
except RuntimeError:
    pass

import keras  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from antiphon.cli import build_app  # noqa: E402

app = build_app()
from antiphon.engine.artifact import load_artifact, load_config  # noqa: E402
from antiphon.engine.meter import bar_positions  # noqa: E402
from antiphon.engine.model import LstmModel  # noqa: E402
from antiphon.training.dataset import load_dataset  # noqa: E402
from antiphon.training.model import export_weights  # noqa: E402
from antiphon.training.scoring import window_loss  # noqa: E402
from antiphon.training.sequences import build_stream, split_songs  # noqa: E402
from antiphon.training.train import CURVES_FILE, MODEL_FILE, train  # noqa: E402

SEQUENCE_LENGTH = 16
TINY = {"units": 16, "batch_size": 16, "learning_rate": 0.01, "chunk_length": 16, "threads": 1}


@pytest.fixture(scope="module")
def per_step_run(erk_dataset, tmp_path_factory: pytest.TempPathFactory):
    return train(erk_dataset, tmp_path_factory.mktemp("per_step"), recipe="per_step", epochs=4, seed=3, **TINY)


def test_per_step_loss_falls_and_artifact_matches_keras(erk_dataset, per_step_run) -> None:
    result = per_step_run
    history = result.history
    assert len(history["loss"]) == len(history["val_loss"]) == 4
    assert history["loss"][-1] < history["loss"][0]
    assert history["val_loss"][-1] < history["val_loss"][0]

    artifact = load_artifact(result.out_dir)
    dataset = load_dataset(erk_dataset)
    assert artifact.vocab == dataset.vocab
    assert artifact.sequence_length == SEQUENCE_LENGTH and artifact.units == 16
    model = keras.saving.load_model(result.out_dir / MODEL_FILE, safe_mode=True)
    keras_weights = export_weights(model)
    assert sorted(keras_weights) == sorted(artifact.weights)
    for name, value in keras_weights.items():
        np.testing.assert_array_equal(artifact.weights[name], value)

    config = artifact.config
    split = config["split"]
    assert (split["train"], split["validation"], split["test"]) == tuple(split_songs(len(dataset.songs), 3))
    assert config["training"]["recipe"] == "per_step"
    assert config["training"]["history"]["val_loss"] == history["val_loss"]
    assert config["corpus"] == dataset.manifest["corpus"]
    assert config["accepted_durations"] == dataset.manifest["settings"]["accepted_durations"]
    assert config["architecture"] == {"type": "lstm", "units": 16, "layers": 1,
                                      "vocab_size": len(dataset.vocab), "dropout": 0.2, "position_features": 0}
    assert (result.out_dir / CURVES_FILE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_window_score_is_the_last_output_after_a_window(erk_dataset, per_step_run) -> None:
    """The fair score equals a hand computation with the saved model on the validation windows."""
    dataset = load_dataset(erk_dataset)
    artifact = load_artifact(per_step_run.out_dir)
    val = build_stream(dataset.songs, artifact.config["split"]["validation"], dataset.vocab, SEQUENCE_LENGTH)
    model = keras.saving.load_model(per_step_run.out_dir / MODEL_FILE, safe_mode=True)
    starts = np.arange(len(val) - SEQUENCE_LENGTH)
    windows = np.eye(len(dataset.vocab), dtype=np.float32)[val[starts[:, None] + np.arange(SEQUENCE_LENGTH)]]
    probs = model.predict(windows, verbose=0)
    expected = float(np.mean(-np.log(probs[np.arange(len(starts)), val[starts + SEQUENCE_LENGTH]])))
    assert per_step_run.window_val_loss == pytest.approx(expected, rel=1e-4)
    again, _ = window_loss(artifact.weights, val, vocab_size=len(dataset.vocab), units=16, layers=1,
                           sequence_length=SEQUENCE_LENGTH)
    assert again == pytest.approx(expected, rel=1e-4)


def test_cli_trains_the_window_recipe(erk_dataset, tmp_path) -> None:
    out = tmp_path / "window"
    result = CliRunner().invoke(app, [
        "train", "--data", str(erk_dataset), "--out", str(out), "--recipe", "window", "--epochs", "2",
        "--batch-size", "64", "--units", "8", "--learning-rate", "0.01", "--seed", "1", "--threads", "1",
        "--patience", "5"])
    assert result.exit_code == 0, result.output
    assert "window recipe: 2 epochs" in result.output
    config = json.loads((out / "config.json").read_text())
    training = config["training"]
    assert training["recipe"] == "window" and training["epochs_run"] == 2
    assert training["history"]["loss"][1] < training["history"]["loss"][0]
    # The window recipe reuses Keras's validation loss of the kept epoch: it must equal a fresh score.
    artifact = load_artifact(out)
    assert artifact.units == 8
    dataset = load_dataset(erk_dataset)
    val = build_stream(dataset.songs, config["split"]["validation"], dataset.vocab, SEQUENCE_LENGTH)
    fresh, _ = window_loss(artifact.weights, val, vocab_size=len(dataset.vocab), units=8, layers=1,
                           sequence_length=SEQUENCE_LENGTH)
    assert training["window_val_loss"] == pytest.approx(fresh, rel=1e-4)


def test_bad_arguments_are_refused(erk_dataset, tmp_path) -> None:
    with pytest.raises(ValueError, match="unknown recipe 'bogus'"):
        train(erk_dataset, tmp_path, recipe="bogus")
    with pytest.raises(ValueError, match="dropout"):
        train(erk_dataset, tmp_path, dropout=1.5)
    with pytest.raises(ValueError, match="not a dataset folder"):
        train(tmp_path, tmp_path / "out")
    result = CliRunner().invoke(app, ["train", "--data", str(tmp_path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "not a dataset folder" in result.output


def test_song_recipe_loss_falls_and_engine_scores_songs_like_keras(erk_dataset, tmp_path) -> None:
    result = train(erk_dataset, tmp_path / "song", recipe="song", epochs=4, seed=5, **TINY)
    history = result.history
    assert history["loss"][-1] < history["loss"][0]
    assert history["val_loss"][-1] < history["val_loss"][0]
    training = result.config["training"]
    assert training["recipe"] == "song"
    # The engine, primed with the start padding and stepping through each validation song to its end
    # marker, gives the same mean loss per symbol as Keras's weighted whole-song validation loss.
    model = LstmModel.load(result.out_dir)
    dataset = load_dataset(erk_dataset)
    total, count = 0.0, 0
    assert model.position_features == 48  # erk songs carry meters: bar positions are inputs
    for index in result.config["split"]["validation"]:
        predictor = model.predictor("stateful", cache=False, events=False)
        probs = predictor.prime(model.vocab.encode(["/"] * SEQUENCE_LENGTH))
        song = dataset.songs[index]
        positions = bar_positions(dataset.manifest["songs"][index]["meter"], len(song) + 1)
        for k, symbol in enumerate(song + ["/"]):
            target = model.vocab.index(symbol)
            total -= float(np.log(probs[target]))
            count += 1
            probs = predictor.feed(target, int(positions[k + 1]) if k < len(song) else None)
    assert total / count == pytest.approx(training["song_val_loss"], rel=1e-4)
    # The neural cache was tuned on the same validation songs; it is used only if it scores better there.
    tuning = training["cache_tuning"]
    assert tuning["val_loss_without"] == pytest.approx(total / count, rel=1e-4)
    assert tuning["val_loss"] <= tuning["val_loss_without"]
    assert result.config["cache"] == {"lam": tuning["lam"], "theta": tuning["theta"]}
    assert (model.cache_config is None) == (tuning["lam"] == 0.0) or model.cache_config.lam == tuning["lam"]
    # The tuners rewrote config.json atomically (no temporary left) and it reads back byte for byte.
    text = (result.out_dir / "config.json").read_text()
    assert json.dumps(load_config(result.out_dir).as_json(), indent=1) + "\n" == text
    assert not [path.name for path in result.out_dir.iterdir() if path.name.startswith(".")]


def test_init_from_goes_on_from_a_trained_models_weights(erk_dataset, tmp_path):
    first = train(erk_dataset, tmp_path / "first", epochs=2, units=16, batch_size=8, seed=2, threads=1,
                  cache=False, events=False)
    again = train(erk_dataset, tmp_path / "again", epochs=1, units=16, batch_size=8, seed=2, threads=1,
                  cache=False, events=False, init_from=str(tmp_path / "first"))
    fresh = train(erk_dataset, tmp_path / "fresh", epochs=1, units=16, batch_size=8, seed=2, threads=1,
                  cache=False, events=False)
    # Its first epoch starts where the first run ended, not from scratch.
    assert again.history["loss"][0] < fresh.history["loss"][0]
    assert again.history["loss"][0] <= first.history["loss"][-1] * 1.05
    with pytest.raises(ValueError, match="weights do not fit"):
        train(erk_dataset, tmp_path / "wide", epochs=1, units=32, batch_size=8, seed=2, threads=1, cache=False,
              events=False, init_from=str(tmp_path / "first"))


def test_hold_out_makes_another_models_test_songs_test_songs_here(erk_dataset, tmp_path):
    first = train(erk_dataset, tmp_path / "first", epochs=1, units=8, batch_size=8, seed=2, threads=1, cache=False,
                  events=False)
    second = train(erk_dataset, tmp_path / "second", epochs=1, units=8, batch_size=8, seed=5, threads=1,
                   cache=False, events=False, hold_out=(str(tmp_path / "first"),))
    songs = load_dataset(erk_dataset).songs
    held = {tuple(songs[i]) for i in first.config["split"]["test"]}
    split = second.config["split"]
    assert held <= {tuple(songs[i]) for i in split["test"]}
    assert not held & {tuple(songs[i]) for i in split["train"] + split["validation"]}
    assert split["held_out_from"] == [str(tmp_path / "first")]
    plain = train(erk_dataset, tmp_path / "plain", epochs=1, units=8, batch_size=8, seed=5, threads=1, cache=False,
                  events=False)
    assert plain.config["split"]["test"] != split["test"]  # the seed alone would have chosen other test songs
