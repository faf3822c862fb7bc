"""Training inputs: ``memory`` (numpy batch plans fed by a ``PyDataset``) and ``tfdata``, streamed from disk.

The ``tfdata`` input is a ``tf.data`` pipeline for the ``song`` recipe, read from the dataset folder's
``songs/*.txt``.

Each song file (one line of space-separated symbols, written by ``antiphon preprocess``) is read whole, its
symbols are mapped to integers by a ``StaticHashTable`` built from the mapping, and the training example is
built on the fly exactly as ``training.sequences.song_batch`` builds it: inputs ``/ * sequence_length +
song``, targets shifted by one (``/`` after the last note), weight 0 on the steps inside the start padding and
on batch padding, 1 elsewhere; with bar positions, each input symbol also carries the position of the step it
predicts (from the manifest's meters, computed once in numpy), hidden for ``POSITION_DROPOUT`` of the training
songs each epoch. Batches are one-hot encoded in the last map.

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
from antiphon.engine.meter import bar_positions  # noqa: E402
from antiphon.engine.vocab import Vocab  # noqa: E402
from antiphon.training.dataset import SONGS_DIR  # noqa: E402
from antiphon.training.sequences import POSITION_DROPOUT, BatchPlan, SongPlan, input_positions  # noqa: E402

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


def _example_fn(vocab: Vocab, sequence_length: int, positions: tf.RaggedTensor):
    """(file path, song number, hide positions) -> (inputs (T,), targets (T,), weights (T,), bar positions (T,))
    with T = sequence_length + len(song); positions are -1 in the start padding, where unknown, and when hidden."""
    table = _lookup_table(vocab)
    delimiter = vocab.index(DELIMITER)

    def build(path: tf.Tensor, number: tf.Tensor, hide: tf.Tensor) -> tuple[tf.Tensor, ...]:
        song = table.lookup(tf.strings.split(tf.strings.strip(tf.io.read_file(path))))
        check = tf.debugging.assert_non_negative(song, message="song file holds a symbol not in the mapping")
        with tf.control_dependencies([check]):
            song = tf.identity(song)
        pad = tf.fill([sequence_length], delimiter)
        sequence = tf.concat([pad, song, [delimiter]], axis=0)
        n = tf.shape(song)[0]
        weights = tf.concat([tf.zeros([sequence_length - 1]), tf.ones([n + 1])], axis=0)
        known = tf.cond(hide, lambda: tf.fill([n], -1), lambda: positions[number][:n])
        marks = tf.concat([tf.fill([sequence_length], -1), known], axis=0)
        return sequence[:-1], sequence[1:], weights, marks

    return build


def song_dataset(data_dir: str | os.PathLike[str], indices: Sequence[int], vocab: Vocab, *,
                 sequence_length: int, batch_size: int, seed: int | None = None,
                 lengths: Sequence[int] | None = None, window_batches: int = DEFAULT_WINDOW_BATCHES,
                 replicas: int = 1, meters: Sequence[list | None] | None = None,
                 position_features: int = 0) -> tf.data.Dataset:
    """Batches (one-hot inputs (B, T, V + P), targets (B, T), weights (B, T)) of the songs at ``indices``.

    With ``seed`` the order is shuffled every epoch (training); without, it is fixed, and sorted by length
    when ``lengths`` (every song's length, by song number) is given (evaluation). With ``replicas`` > 1 a
    batch whose size is not a multiple of it gets extra rows of weight 0 (``/`` in, ``/`` out), so that every
    replica gets an equal share (Keras's distributed build needs equal shapes). With ``position_features`` P
    > 0 and ``meters`` (every song's meter, by song number), inputs carry one-hot bar positions exactly as
    ``training.sequences.song_batch`` builds them; in training ``POSITION_DROPOUT`` of the songs go without
    them (a seeded draw per song and epoch, as ``SongPlan`` does).
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
    rows = _position_rows(len(files), meters, lengths, position_features)
    items = tf.data.Dataset.from_tensor_slices(([str(files[i]) for i in indices], indices))
    if seed is not None:
        items = items.shuffle(len(indices), seed=seed, reshuffle_each_iteration=True)

    def hidden(place: tf.Tensor, number: tf.Tensor) -> tf.Tensor:
        """Whether this song goes without bar positions this epoch: a stateless draw keyed by the song and its
        place in the epoch's (seeded) order, so every replica and worker draws alike."""
        if seed is None:
            return tf.constant(False)
        key = tf.stack([tf.constant(seed, tf.int64), tf.cast(number, tf.int64) * 1_000_003 + place])
        return tf.random.stateless_uniform([], seed=key) < POSITION_DROPOUT

    build = _example_fn(vocab, sequence_length, rows)
    delimiter = vocab.index(DELIMITER)
    padding = (tf.constant(delimiter, tf.int32), tf.constant(delimiter, tf.int32), tf.constant(0.0),
               tf.constant(-1, tf.int32))
    examples = items.enumerate().map(lambda place, item: build(item[0], item[1], hidden(place, item[1])),
                                     num_parallel_calls=tf.data.AUTOTUNE)
    if seed is None:
        batches = examples.padded_batch(batch_size, padding_values=padding)
    else:
        # Sort each window of songs by (jittered) length so a batch holds songs of nearly equal length.
        def sort_window(*parts: tf.RaggedTensor):
            lengths = tf.cast(parts[0].row_lengths(), tf.float32)
            jitter = tf.random.uniform(tf.shape(lengths), 0.0, float(LENGTH_JITTER), seed=seed)
            order = tf.argsort(lengths + jitter, stable=True)
            return tuple(tf.gather(part, order).to_tensor() for part in parts) + (
                tf.gather(parts[0].row_lengths(), order),)

        def trim(*parts: tf.Tensor):
            length = parts[-1]
            return tuple(part[:length] for part in parts[:-1])

        windows = examples.ragged_batch(batch_size * window_batches).map(sort_window)
        batches = (windows.unbatch().map(trim).padded_batch(batch_size, padding_values=padding)
                   .shuffle(window_batches, seed=seed, reshuffle_each_iteration=True))
    batches = batches.apply(tf.data.experimental.assert_cardinality(-(-len(indices) // batch_size)))
    if replicas > 1:
        def pad_rows(inputs: tf.Tensor, targets: tf.Tensor, weights: tf.Tensor, marks: tf.Tensor):
            extra = tf.math.floormod(-tf.shape(inputs)[0], replicas)
            rows = [[0, extra], [0, 0]]
            return (tf.pad(inputs, rows, constant_values=delimiter), tf.pad(targets, rows, constant_values=delimiter),
                    tf.pad(weights, rows), tf.pad(marks, rows, constant_values=-1))

        batches = batches.map(pad_rows)
    vocab_size = len(vocab)

    def encode(x: tf.Tensor, y: tf.Tensor, w: tf.Tensor, marks: tf.Tensor):
        inputs = tf.one_hot(x, vocab_size, dtype=tf.float32)
        if position_features:  # tf.one_hot gives a row of zeros for -1: no position input
            inputs = tf.concat([inputs, tf.one_hot(marks, position_features, dtype=tf.float32)], axis=-1)
        return inputs, y, w

    batches = batches.map(encode, num_parallel_calls=tf.data.AUTOTUNE)
    options = tf.data.Options()
    # Multi-worker: every worker runs the same (seeded) pipeline and keeps its share of each batch.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return batches.with_options(options).prefetch(tf.data.AUTOTUNE)


def _position_rows(n_songs: int, meters: Sequence[list | None] | None, lengths: Sequence[int] | None,
                   position_features: int) -> tf.RaggedTensor:
    """Every song's input positions (``training.sequences.input_positions``), by song number."""
    if position_features and (meters is None or lengths is None):
        raise ValueError("bar positions need every song's meter and length")
    rows = []
    for number in range(n_songs):
        meter = meters[number] if position_features and meters is not None else None
        n = lengths[number] if lengths is not None else 0
        song_positions = bar_positions(meter, n + 1) if meter else None
        rows.append(input_positions(song_positions, n, position_features) if position_features
                    else np.zeros(0, dtype=np.int32))
    values = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int32)
    return tf.RaggedTensor.from_row_lengths(tf.constant(values, tf.int32), [len(r) for r in rows])
