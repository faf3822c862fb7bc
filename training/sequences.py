"""Songs -> integer streams -> training batches, for both training recipes (numpy only).

Two recipes share one stream: the chosen songs as integers, each followed by ``sequence_length`` delimiters
``/`` (the report's single-file join).

* ``window`` (the report's): every window of ``sequence_length`` one-hot symbols -> the next symbol.
  Batches are one-hot encoded one at a time, so the full (windows, sequence_length, V) float32 array
  (~4.3 GB on the ``erk`` corpus) is never built.
* ``song`` (the default): one whole song per sequence, from the generator's start padding (``sequence_length``
  delimiters) to the end marker, with a target at every step. Targets inside the padding (``/`` after
  ``/``) carry weight 0; the first note, every later step and the closing ``/`` carry weight 1. This is how
  a song is generated and scored: from the padding, with the LSTM state carried through the whole song.
  Songs of similar length share a batch, so little time goes on padding the batch.
* ``per_step``: chunks of ``chunk_length`` symbols with a target at every step (the next symbol), for a
  model with ``return_sequences=True``. Each epoch the chunk grid starts at a new random offset, so a
  symbol is not always seen at the same position in its chunk.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from antiphon.engine.events import DELIMITER
from antiphon.engine.vocab import Vocab

RECIPES = ("song", "per_step", "window")
DEFAULT_CHUNK_LENGTH = 128
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)  # train, validation, test


def songs_to_int(songs: Sequence[Sequence[str]], vocab: Vocab) -> list[np.ndarray]:
    """Each song's symbols as vocabulary indices (int32); an unknown symbol raises ``ValueError``."""
    return [np.asarray(vocab.encode(song), dtype=np.int32) for song in songs]


def split_songs(n_songs: int, seed: int, test_first: Sequence[int] = ()) -> tuple[list[int], list[int], list[int]]:
    """A seeded song-level split 80/10/10: sorted song indices for train, validation and test.

    Validation and test get ``round(n / 10)`` songs each, at least one; train gets the rest. The same
    ``n_songs`` and ``seed`` always give the same split. ``test_first`` (songs that must be test songs, such
    as another model's test songs) go to test and fill its share first; the seeded order fills the rest.
    """
    if not isinstance(n_songs, int) or n_songs < 3:
        raise ValueError(f"need at least 3 songs to split into train/validation/test, got {n_songs!r}")
    forced = sorted({int(i) for i in test_first})
    if forced and (forced[0] < 0 or forced[-1] >= n_songs):
        raise ValueError(f"test songs must be indices 0..{n_songs - 1}")
    n_held = max(1, round(n_songs * SPLIT_FRACTIONS[1]))
    if len(forced) > n_songs - n_held - 1:
        raise ValueError(f"{len(forced)} forced test songs leave too few of {n_songs} for training")
    taken = set(forced)
    order = [int(i) for i in np.random.default_rng(seed).permutation(n_songs) if int(i) not in taken]
    n_test = max(0, n_held - len(forced))
    val = sorted(order[:n_held])
    test = sorted(forced + order[n_held:n_held + n_test])
    train = sorted(order[n_held + n_test:])
    return train, val, test


def keep_test_songs_out(songs: Sequence[Sequence[str]], train: list[int], val: list[int],
                        test: list[int]) -> tuple[list[int], list[int], list[int]]:
    """Move every training or validation song that equals a test song (the same song in two collections)
    into the test split, so no test song is ever trained or tuned on."""
    heard = {tuple(songs[i]) for i in test}
    moved = [i for i in train + val if tuple(songs[i]) in heard]
    if not moved:
        return train, val, test
    gone = set(moved)
    return ([i for i in train if i not in gone], [i for i in val if i not in gone], sorted(test + moved))


def join_stream(int_songs: Sequence[np.ndarray], sequence_length: int, delimiter_index: int) -> np.ndarray:
    """The report's join as one int32 array: each song followed by ``sequence_length`` delimiters."""
    if sequence_length <= 0:
        raise ValueError(f"sequence_length must be positive, got {sequence_length}")
    pad = np.full(sequence_length, delimiter_index, dtype=np.int32)
    parts: list[np.ndarray] = []
    for song in int_songs:
        parts.append(np.asarray(song, dtype=np.int32))
        parts.append(pad)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)


def build_stream(songs: Sequence[Sequence[str]], indices: Sequence[int], vocab: Vocab,
                 sequence_length: int) -> np.ndarray:
    """The joined integer stream of the songs at ``indices``."""
    chosen = [songs[i] for i in indices]
    return join_stream(songs_to_int(chosen, vocab), sequence_length, vocab.index(DELIMITER))


def one_hot(indices: np.ndarray, vocab_size: int) -> np.ndarray:
    """Integer array (...) -> float32 one-hot (..., vocab_size)."""
    out = np.zeros(indices.shape + (vocab_size,), dtype=np.float32)
    np.put_along_axis(out, indices[..., None].astype(np.intp), 1.0, axis=-1)
    return out


def window_count(stream_length: int, sequence_length: int) -> int:
    """Number of (window, next symbol) pairs in a stream, as in the report's ``generate_training_sequences``."""
    return max(0, stream_length - sequence_length)


def window_batch(stream: np.ndarray, starts: np.ndarray, sequence_length: int,
                 vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows starting at ``starts``: one-hot inputs (B, sequence_length, V) and next-symbol targets (B,)."""
    starts = np.asarray(starts, dtype=np.int64)
    if starts.size and (starts.min() < 0 or starts.max() + sequence_length >= len(stream)):
        raise ValueError(f"window start out of range for a stream of {len(stream)} symbols")
    positions = starts[:, None] + np.arange(sequence_length)  # (B, L)
    return one_hot(stream[positions], vocab_size), stream[starts + sequence_length].astype(np.int32)


def chunk_count(stream_length: int, chunk_length: int) -> int:
    """Chunks per epoch: the same for every grid offset in ``0..chunk_length-1``."""
    if chunk_length <= 0:
        raise ValueError(f"chunk_length must be positive, got {chunk_length}")
    return max(0, (stream_length - chunk_length) // chunk_length)


def chunk_starts(stream_length: int, chunk_length: int, offset: int) -> np.ndarray:
    """Start positions of the non-overlapping chunks of one epoch whose grid begins at ``offset``."""
    if not 0 <= offset < chunk_length:
        raise ValueError(f"chunk offset must be in 0..{chunk_length - 1}, got {offset}")
    return offset + chunk_length * np.arange(chunk_count(stream_length, chunk_length), dtype=np.int64)


def chunk_batch(stream: np.ndarray, starts: np.ndarray, chunk_length: int,
                vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Chunks at ``starts``: one-hot inputs (B, C, V) and the next symbol at every step (B, C)."""
    starts = np.asarray(starts, dtype=np.int64)
    if starts.size and (starts.min() < 0 or starts.max() + chunk_length >= len(stream)):
        raise ValueError(f"chunk start out of range for a stream of {len(stream)} symbols")
    positions = starts[:, None] + np.arange(chunk_length)  # (B, C)
    return one_hot(stream[positions], vocab_size), stream[positions + 1].astype(np.int32)


POSITION_DROPOUT = 0.2  # share of training songs shown without bar positions each epoch (meter unknown live)


def song_batch(int_songs: Sequence[np.ndarray], sequence_length: int, delimiter_index: int,
               vocab_size: int, positions: Sequence[np.ndarray | None] | None = None,
               position_features: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Whole songs from their start padding: one-hot inputs (B, T, V + P), targets (B, T), weights (B, T).

    Each sequence is ``/ * sequence_length + song + /``; inputs are all but its last symbol, targets all but
    its first. T is the longest sequence in the batch; shorter ones are padded with weight-0 steps. With
    ``position_features`` P > 0, the input holding song symbol k also carries the one-hot bar position of step
    k + 1, the step being predicted (``positions[i]`` holds song i's positions of steps 0..n; -1 or None =
    unknown, no position input).
    """
    if sequence_length <= 0:
        raise ValueError(f"sequence_length must be positive, got {sequence_length}")
    longest = max(len(song) for song in int_songs) + sequence_length
    inputs = np.full((len(int_songs), longest), delimiter_index, dtype=np.int32)
    targets = np.full((len(int_songs), longest), delimiter_index, dtype=np.int32)
    weights = np.zeros((len(int_songs), longest), dtype=np.float32)
    for row, song in enumerate(int_songs):
        n = len(song)
        inputs[row, sequence_length:sequence_length + n] = song
        targets[row, sequence_length - 1:sequence_length - 1 + n] = song
        targets[row, sequence_length - 1 + n] = delimiter_index
        weights[row, sequence_length - 1:sequence_length + n] = 1.0
    x = one_hot(inputs, vocab_size)
    if position_features:
        features = np.zeros(x.shape[:2] + (position_features,), dtype=np.float32)
        for row, song in enumerate(int_songs):
            song_positions = None if positions is None else positions[row]
            if song_positions is None:
                continue
            next_positions = input_positions(song_positions, len(song), position_features)
            known = next_positions >= 0
            columns = sequence_length + np.flatnonzero(known)
            features[row, columns, next_positions[known]] = 1.0
        x = np.concatenate([x, features], axis=-1)
    return x, targets, weights


def input_positions(song_positions: np.ndarray | None, n: int, position_features: int) -> np.ndarray:
    """The bar position each of a song's ``n`` input symbols carries: symbol k carries step k + 1's (the step it
    predicts), from ``song_positions`` (steps 0..n); -1 where unknown or beyond ``position_features``."""
    if song_positions is None:
        return np.full(n, -1, dtype=np.int32)
    out = np.asarray(song_positions[1:n + 1], dtype=np.int32)
    return np.where((out >= 0) & (out < position_features), out, -1).astype(np.int32)


class SongPlan:
    """Batches of whole songs (the ``song`` recipe), grouped by length and reshuffled every epoch.

    With ``meters`` (one meter per song, see ``engine.meter``) and ``position_features`` > 0, inputs carry
    bar positions; when shuffling, ``POSITION_DROPOUT`` of the songs go without them that epoch, so the
    model also works where the meter is unknown.
    """

    def __init__(self, int_songs: Sequence[np.ndarray], vocab_size: int, batch_size: int, *,
                 sequence_length: int, delimiter_index: int, rng: np.random.Generator | None = None,
                 meters: Sequence[list | None] | None = None, position_features: int = 0):
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if not int_songs:
            raise ValueError("no songs to train on")
        self.songs = [np.asarray(song, dtype=np.int32) for song in int_songs]
        self.vocab_size = vocab_size
        self.batch_size = batch_size
        self.sequence_length = sequence_length
        self.delimiter_index = delimiter_index
        self.rng = rng
        self.position_features = position_features
        self.positions: list[np.ndarray | None] | None = None
        if position_features:
            from antiphon.engine.meter import bar_positions

            meters = meters if meters is not None else [None] * len(self.songs)
            self.positions = [bar_positions(meter, len(song) + 1) if meter else None
                              for meter, song in zip(meters, self.songs, strict=True)]
        self.hidden: set[int] = set()
        self.batches: list[np.ndarray] = []
        self.next_epoch()

    def next_epoch(self) -> None:
        lengths = np.array([len(song) for song in self.songs], dtype=np.float64)
        if self.rng is not None:
            # Jitter the sort key so batches mix songs of nearly equal length differently each epoch.
            lengths = lengths + self.rng.uniform(0, 16, len(lengths))
            if self.position_features:
                self.hidden = set(np.flatnonzero(self.rng.random(len(self.songs)) < POSITION_DROPOUT).tolist())
        order = np.argsort(lengths, kind="stable")
        batches = [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        if self.rng is not None:
            batches = [batches[i] for i in self.rng.permutation(len(batches))]
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    @property
    def targets_per_epoch(self) -> int:
        return sum(len(song) + 1 for song in self.songs)

    def batch(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range 0..{len(self) - 1}")
        rows = self.batches[index].tolist()
        chosen = [self.songs[i] for i in rows]
        positions = None
        if self.positions is not None:
            positions = [None if i in self.hidden else self.positions[i] for i in rows]
        return song_batch(chosen, self.sequence_length, self.delimiter_index, self.vocab_size, positions,
                          self.position_features)


class BatchPlan:
    """Which stream positions make up each batch of each epoch, for either recipe.

    ``batch(i)`` gives batch ``i`` of the current epoch as (one-hot inputs, targets); ``next_epoch()``
    reshuffles (and, for ``per_step``, moves the chunk grid) with the ``numpy.random.Generator`` passed in.
    With ``rng=None`` the order is fixed (for validation).
    """

    def __init__(self, stream: np.ndarray, recipe: str, vocab_size: int, batch_size: int, *,
                 sequence_length: int, chunk_length: int = DEFAULT_CHUNK_LENGTH,
                 rng: np.random.Generator | None = None):
        if recipe not in RECIPES:
            raise ValueError(f"unknown recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.stream = np.asarray(stream, dtype=np.int32)
        self.recipe = recipe
        self.vocab_size = vocab_size
        self.batch_size = batch_size
        self.sequence_length = sequence_length
        self.chunk_length = chunk_length
        self.rng = rng
        self.starts = np.zeros(0, dtype=np.int64)
        self.next_epoch()
        if len(self.starts) == 0:
            length = sequence_length if recipe == "window" else chunk_length
            raise ValueError(f"stream of {len(self.stream)} symbols is too short for {recipe} sequences of "
                             f"length {length}")

    def next_epoch(self) -> None:
        if self.recipe == "window":
            starts = np.arange(window_count(len(self.stream), self.sequence_length), dtype=np.int64)
        else:
            offset = 0 if self.rng is None else int(self.rng.integers(self.chunk_length))
            starts = chunk_starts(len(self.stream), self.chunk_length, offset)
        self.starts = starts if self.rng is None else self.rng.permutation(starts)

    def __len__(self) -> int:
        return -(-len(self.starts) // self.batch_size)

    @property
    def targets_per_epoch(self) -> int:
        per_sequence = 1 if self.recipe == "window" else self.chunk_length
        return len(self.starts) * per_sequence

    def batch(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range 0..{len(self) - 1}")
        starts = self.starts[index * self.batch_size:(index + 1) * self.batch_size]
        if self.recipe == "window":
            return window_batch(self.stream, starts, self.sequence_length, self.vocab_size)
        return chunk_batch(self.stream, starts, self.chunk_length, self.vocab_size)
