"""Training inputs: ``memory`` (numpy batch plans fed by a ``PyDataset``) and ``tfdata``, streamed from disk.

The ``tfdata`` input is a ``tf.data`` pipeline for the ``song`` recipe, read from the dataset folder's
``songs/*.txt``.

Each song file (one line of space-separated symbols, written by ``antiphon preprocess``) is read with
``TextLineDataset``, its symbols are mapped to integers by a ``StaticHashTable`` built from the mapping, and
the training example is built on the fly exactly as ``training.sequences.song_batch`` builds it: inputs
``/ * sequence_length + song``, targets shifted by one (``/`` after the last note), weight 0 on the steps
inside the start padding and on batch padding, 1 elsewhere. Batches are one-hot encoded in the last map.

Training order: the song files are shuffled (seeded, anew every epoch); a window of ``window_batches``
batches' worth of songs is sorted by length (with a random jitter of up to ``LENGTH_JITTER`` steps, as
``SongPlan`` does, so that batches mix differently each epoch) and cut into padded batches, and those
batches are shuffled. An epoch has exactly ``ceil(songs / batch_size)`` batches, like ``SongPlan``.
Evaluation order (no seed): songs sorted by length, then batched, which is ``SongPlan``'s order without an
rng, so both inputs give the same validation loss.

Song ``k`` is the file ``songs/k.txt`` (numbered in the order of ``dataset.txt``), so the train and validation
splits from ``training.sequences.split_songs`` select files by their index.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from antiphon.engine.events import DELIMITER  # noqa: E402
from antiphon.engine.vocab import Vocab  # noqa: E402
from antiphon.training.dataset import SONGS_DIR  # noqa: E402
from antiphon.training.sequences import BatchPlan, SongPlan  # noqa: E402

INPUTS = ("memory", "tfdata")
DEFAULT_WINDOW_BATCHES = 32
LENGTH_JITTER = 16  # steps; SongPlan's sort-key jitter


class PlanBatches(keras.utils.PyDataset):
    """Feeds a ``BatchPlan`` to Keras, one one-hot batch at a time."""

    def __init__(self, plan: BatchPlan | SongPlan, shuffle: bool):
        super().__init__(workers=1, use_multiprocessing=False)
        self.plan = plan
        self.shuffle = shuffle

    def __len__(self) -> int:
        return len(self.plan)

    def __getitem__(self, index: int) -> tuple[np.ndarray, ...]:
        return self.plan.batch(index)

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self.plan.next_epoch()


def song_files(data_dir: str | os.PathLike[str]) -> list[Path]:
    """The dataset folder's song files in song order; ``ValueError`` when there are none."""
    files = sorted((Path(data_dir) / SONGS_DIR).glob("*.txt"))
    if not files:
        raise ValueError(f"{data_dir}: no song files in {SONGS_DIR}/ (run `antiphon preprocess`)")
    return files


def _lookup_table(vocab: Vocab) -> tf.lookup.StaticHashTable:
    symbols = vocab.symbols
    init = tf.lookup.KeyValueTensorInitializer(tf.constant(symbols, dtype=tf.string),
                                               tf.constant([vocab.index(s) for s in symbols], dtype=tf.int32))
    return tf.lookup.StaticHashTable(init, default_value=-1)


def _example_fn(vocab: Vocab, sequence_length: int):
    """line of symbols -> (inputs (T,), targets (T,), weights (T,)) with T = sequence_length + len(song)."""
    table = _lookup_table(vocab)
    delimiter = vocab.index(DELIMITER)

    def build(line: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        song = table.lookup(tf.strings.split(line))
        check = tf.debugging.assert_non_negative(song, message="song file holds a symbol not in the mapping")
        with tf.control_dependencies([check]):
            song = tf.identity(song)
        pad = tf.fill([sequence_length], delimiter)
        sequence = tf.concat([pad, song, [delimiter]], axis=0)
        n = tf.shape(song)[0]
        weights = tf.concat([tf.zeros([sequence_length - 1]), tf.ones([n + 1])], axis=0)
        return sequence[:-1], sequence[1:], weights

    return build


def song_dataset(data_dir: str | os.PathLike[str], indices: Sequence[int], vocab: Vocab, *,
                 sequence_length: int, batch_size: int, seed: int | None = None,
                 lengths: Sequence[int] | None = None, window_batches: int = DEFAULT_WINDOW_BATCHES,
                 replicas: int = 1) -> tf.data.Dataset:
    """Batches (one-hot inputs (B, T, V), targets (B, T), weights (B, T)) of the songs at ``indices``.

    With ``seed`` the order is shuffled every epoch (training); without, it is fixed, and sorted by length
    when ``lengths`` (every song's length, by song number) is given (evaluation). With ``replicas`` > 1 a
    batch whose size is not a multiple of it gets extra rows of weight 0 (``/`` in, ``/`` out), so that every
    replica gets an equal share (Keras's distributed build needs equal shapes).
    """
    if min(sequence_length, batch_size, window_batches, replicas) <= 0:
        raise ValueError(f"sequence_length, batch_size, window_batches and replicas must be positive, got "
                         f"{sequence_length}, {batch_size}, {window_batches}, {replicas}")
    files = song_files(data_dir)
    indices = [int(i) for i in indices]
    if not indices:
        raise ValueError("no songs to read")
    bad = [i for i in indices if not 0 <= i < len(files)]
    if bad:
        raise ValueError(f"song index {bad[0]} out of range: {data_dir} holds {len(files)} song files")
    if seed is None and lengths is not None:
        indices = [indices[k] for k in np.argsort([lengths[i] for i in indices], kind="stable")]
    paths = tf.data.Dataset.from_tensor_slices([str(files[i]) for i in indices])
    if seed is not None:
        paths = paths.shuffle(len(indices), seed=seed, reshuffle_each_iteration=True)
    delimiter = vocab.index(DELIMITER)
    padding = (tf.constant(delimiter, tf.int32), tf.constant(delimiter, tf.int32), tf.constant(0.0))
    examples = tf.data.TextLineDataset(paths, num_parallel_reads=tf.data.AUTOTUNE).map(
        _example_fn(vocab, sequence_length), num_parallel_calls=tf.data.AUTOTUNE)
    if seed is None:
        batches = examples.padded_batch(batch_size, padding_values=padding)
    else:
        # Sort each window of songs by (jittered) length so a batch holds songs of nearly equal length.
        def sort_window(inputs: tf.RaggedTensor, targets: tf.RaggedTensor, weights: tf.RaggedTensor):
            lengths = tf.cast(inputs.row_lengths(), tf.float32)
            jitter = tf.random.uniform(tf.shape(lengths), 0.0, float(LENGTH_JITTER), seed=seed)
            order = tf.argsort(lengths + jitter, stable=True)
            return tuple(tf.gather(part, order).to_tensor() for part in (inputs, targets, weights)) + (
                tf.gather(inputs.row_lengths(), order),)

        def trim(inputs: tf.Tensor, targets: tf.Tensor, weights: tf.Tensor, length: tf.Tensor):
            return inputs[:length], targets[:length], weights[:length]

        windows = examples.ragged_batch(batch_size * window_batches).map(sort_window)
        batches = (windows.unbatch().map(trim).padded_batch(batch_size, padding_values=padding)
                   .shuffle(window_batches, seed=seed, reshuffle_each_iteration=True))
    batches = batches.apply(tf.data.experimental.assert_cardinality(-(-len(indices) // batch_size)))
    if replicas > 1:
        def pad_rows(inputs: tf.Tensor, targets: tf.Tensor, weights: tf.Tensor):
            extra = tf.math.floormod(-tf.shape(inputs)[0], replicas)
            rows = [[0, extra], [0, 0]]
            return (tf.pad(inputs, rows, constant_values=delimiter), tf.pad(targets, rows, constant_values=delimiter),
                    tf.pad(weights, rows))

        batches = batches.map(pad_rows)
    vocab_size = len(vocab)
    batches = batches.map(lambda x, y, w: (tf.one_hot(x, vocab_size, dtype=tf.float32), y, w),
                          num_parallel_calls=tf.data.AUTOTUNE)
    options = tf.data.Options()
    # Multi-worker: every worker runs the same (seeded) pipeline and keeps its share of each batch.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return batches.with_options(options).prefetch(tf.data.AUTOTUNE)
