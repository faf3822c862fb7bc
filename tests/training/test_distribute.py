"""The tf.data song pipeline against the numpy batches, and distributed training against one device.

Logical CPU devices and ``TF_CONFIG`` must be set before TensorFlow initialises, so each training run is a
subprocess running the real ``antiphon train`` command.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

# Keep TensorFlow to the 2 shared cores; must run before TensorFlow starts its runtime.
try:
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
except RuntimeError:
    pass

from antiphon.engine.meter import MAX_BAR_STEPS, bar_positions  # noqa: E402
from antiphon.training.dataset import load_dataset  # noqa: E402
from antiphon.training.pipeline import song_dataset  # noqa: E402
from antiphon.training.sequences import SongPlan, song_batch, songs_to_int, split_songs  # noqa: E402

SEQUENCE_LENGTH = 16
SEED = 1
# The whole training split (21 songs) in one batch: an epoch is one optimiser step whatever the batch order,
# so runs whose epochs visit batches in different orders still take identical steps.
ONE_BATCH = 24
EPOCHS = 4
RUN_TIMEOUT_S = 240
TOLERANCE = 0.01  # relative, final validation loss of a mirrored run against a local one (measured 0.0018)


def _rows(batch: tuple[tf.Tensor, ...]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Each real row of a batch, trimmed to its own length (start padding + song + end marker)."""
    inputs, targets, weights = (part.numpy() for part in batch)
    rows = []
    for row in range(len(weights)):
        real = int(weights[row].sum())  # song length + 1
        if real == 0:
            continue
        end = SEQUENCE_LENGTH - 1 + real
        rows.append((inputs[row, :end], targets[row, :end], weights[row, :end]))
    return rows


def test_pipeline_yields_song_batch_content(erk_dataset: Path) -> None:
    dataset = load_dataset(erk_dataset)
    vocab, int_songs = dataset.vocab, songs_to_int(dataset.songs, dataset.vocab)
    delimiter, lengths = vocab.index("/"), [len(song) for song in int_songs]
    meters = [entry.get("meter") for entry in dataset.manifest["songs"]]
    assert all(meters)
    train_idx, val_idx, _ = split_songs(len(int_songs), SEED)
    bar = {"meters": meters, "position_features": MAX_BAR_STEPS}

    # Evaluation order: batch for batch the numpy SongPlan's batches (same songs, padding, one-hot symbols and
    # one-hot bar positions).
    plan = SongPlan([int_songs[i] for i in val_idx], len(vocab), 2, sequence_length=SEQUENCE_LENGTH,
                    delimiter_index=delimiter, meters=[meters[i] for i in val_idx], position_features=MAX_BAR_STEPS)
    batches = list(song_dataset(erk_dataset, val_idx, vocab, sequence_length=SEQUENCE_LENGTH, batch_size=2,
                                lengths=lengths, **bar))
    assert len(batches) == len(plan)
    for k, batch in enumerate(batches):
        assert batch[0].shape[2] == len(vocab) + MAX_BAR_STEPS and batch[0].numpy()[..., len(vocab):].sum() > 0
        for got, want in zip(batch, plan.batch(k), strict=True):
            np.testing.assert_array_equal(got.numpy(), want)

    # Training order: one epoch holds every training song once, each exactly as song_batch builds it alone,
    # with its bar positions or, for about a fifth of the songs each epoch, without them.
    expected = {}
    for i in train_idx:
        positions = [bar_positions(meters[i], len(int_songs[i]) + 1)]
        shown = song_batch([int_songs[i]], SEQUENCE_LENGTH, delimiter, len(vocab), positions, MAX_BAR_STEPS)
        hidden = song_batch([int_songs[i]], SEQUENCE_LENGTH, delimiter, len(vocab), [None], MAX_BAR_STEPS)
        expected[i] = [(x[0], y[0], w[0]) for x, y, w in (shown, hidden)]
    train = song_dataset(erk_dataset, train_idx, vocab, sequence_length=SEQUENCE_LENGTH, batch_size=4,
                         seed=SEED, window_batches=2, lengths=lengths, **bar)
    epochs = [list(train) for _ in range(2)]
    assert all(len(epoch) == -(-len(train_idx) // 4) for epoch in epochs)
    hidden_count = []
    for epoch in epochs:
        seen, hidden_count = [], hidden_count + [0]
        for batch in epoch:
            assert batch[0].shape[2] == len(vocab) + MAX_BAR_STEPS
            for inputs, targets, weights in _rows(batch):
                match = [(i, form) for i, forms in expected.items() for form, want in enumerate(forms)
                         if np.array_equal(targets, want[1]) and np.array_equal(inputs, want[0])
                         and np.array_equal(weights, want[2])]
                assert len(match) >= 1
                seen.append(match[0][0])
                hidden_count[-1] += match[0][1]
        assert sorted(seen) == sorted(train_idx)
    assert 0 < sum(hidden_count) < len(train_idx)  # POSITION_DROPOUT hides some songs' positions, not all
    order = [[tuple(b[1].numpy().sum(axis=1)) for b in epoch] for epoch in epochs]
    assert order[0] != order[1]  # reshuffled every epoch
    again = song_dataset(erk_dataset, train_idx, vocab, sequence_length=SEQUENCE_LENGTH, batch_size=4,
                         seed=SEED, window_batches=2)
    assert [tuple(b[1].numpy().sum(axis=1)) for b in again] == order[0]  # seeded

    # For 2 replicas an odd batch gets a weight-0 row, so each replica gets an equal share.
    odd = list(song_dataset(erk_dataset, val_idx, vocab, sequence_length=SEQUENCE_LENGTH, batch_size=3,
                            lengths=lengths, replicas=2))
    assert all(batch[0].shape[0] % 2 == 0 for batch in odd)
    assert sum(len(_rows(batch)) for batch in odd) == len(val_idx)
    with pytest.raises(ValueError, match="out of range"):
        song_dataset(erk_dataset, [len(int_songs)], vocab, sequence_length=SEQUENCE_LENGTH, batch_size=2)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return int(sock.getsockname()[1])


def _start(data: Path, out: Path, strategy: str, env: dict[str, str], source: str = "tfdata",
           positions: bool = False) -> subprocess.Popen:
    command = [sys.executable, "-c", "from antiphon.cli import main; main()", "train", "--data", str(data),
               "--out", str(out), "--input", source, "--strategy", strategy, "--units", "16",
               "--positions" if positions else "--no-positions",
               "--batch-size", str(ONE_BATCH), "--epochs", str(EPOCHS), "--dropout", "0",
               "--learning-rate", "0.01", "--seed", str(SEED), "--threads", "1", "--log-level", "WARNING"]
    base = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "ANTIPHON_CPU_DEVICES")}
    return subprocess.Popen(command, env={**base, "TF_CPP_MIN_LOG_LEVEL": "2", **env},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(process: subprocess.Popen, out: Path) -> dict:
    output, _ = process.communicate(timeout=RUN_TIMEOUT_S)
    assert process.returncode == 0, output[-3000:]
    return json.loads((out / "config.json").read_text(encoding="utf-8"))


def test_mirrored_and_multiworker_match_one_device(erk_dataset: Path, tmp_path: Path) -> None:
    n_train = len(split_songs(len(load_dataset(erk_dataset).songs), SEED)[0])
    assert n_train <= ONE_BATCH
    runs = {"default": _start(erk_dataset, tmp_path / "default", "default", {}),
            "mirrored": _start(erk_dataset, tmp_path / "mirrored", "mirrored", {"ANTIPHON_CPU_DEVICES": "2"})}
    results = {name: _finish(process, tmp_path / name)["training"] for name, process in runs.items()}
    ports = [_free_port(), _free_port()]
    cluster = {"worker": [f"localhost:{port}" for port in ports]}
    workers = [_start(erk_dataset, tmp_path / f"worker{k}", "multiworker",
                      {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": k}})})
               for k in range(2)]
    outputs = [process.communicate(timeout=RUN_TIMEOUT_S)[0] for process in workers]
    assert [process.returncode for process in workers] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    results["multiworker"] = json.loads((tmp_path / "worker0" / "config.json").read_text())["training"]
    assert not (tmp_path / "worker1").exists()  # only the chief writes

    assert {name: (r["strategy"], r["replicas"], r["input"]) for name, r in results.items()} == {
        "default": ("default", 1, "tfdata"), "mirrored": ("mirrored", 2, "tfdata"),
        "multiworker": ("multiworker", 2, "tfdata")}
    one = results["default"]["history"]
    assert len(one["loss"]) == EPOCHS and one["loss"][-1] < one["loss"][0]
    for name in ("mirrored", "multiworker"):
        history = results[name]["history"]
        # Same seed, weights, data and steps; the loss is sum(w * loss) / sum(w) over the whole batch on any
        # number of replicas (GlobalWeightedCrossentropy), so only float32 summation order differs (measured
        # ~2e-7 relative after 4 steps). The songs differ in length, so averaging the replicas' own weighted
        # means instead (Keras's mean_with_sample_weight under a strategy) is not the batch mean: measured
        # 7e-4 to 4e-3 relative off here.
        np.testing.assert_allclose(history["loss"], one["loss"], rtol=2e-5)
        np.testing.assert_allclose(history["val_loss"], one["val_loss"], rtol=2e-5)



def test_mirrored_with_bar_positions_reaches_the_local_validation_loss(erk_dataset: Path, tmp_path: Path) -> None:
    # The distributed path trains the same model as a local run: bar-position inputs from the tf.data pipeline,
    # then the song cache and the event model fitted after training. Against the local in-memory run (numpy
    # batches; the same songs in one batch, but its own draw of the songs shown without bar positions) the
    # final validation loss agrees within TOLERANCE.
    runs = {"mirrored": _start(erk_dataset, tmp_path / "mirrored", "mirrored", {"ANTIPHON_CPU_DEVICES": "2"},
                               positions=True),
            "local": _start(erk_dataset, tmp_path / "local", "default", {}, source="memory", positions=True)}
    configs = {name: _finish(process, tmp_path / name) for name, process in runs.items()}
    for config in configs.values():
        assert config["architecture"]["position_features"] == MAX_BAR_STEPS
        assert config["event_model"] and config["cache"]
    assert configs["mirrored"]["training"]["input"] == "tfdata" and configs["local"]["training"]["input"] == "memory"
    mirrored, local = (configs[name]["training"]["history"]["val_loss"] for name in ("mirrored", "local"))
    assert mirrored[-1] < mirrored[0]
    assert mirrored[-1] == pytest.approx(local[-1], rel=TOLERANCE)
