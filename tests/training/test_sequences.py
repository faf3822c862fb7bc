"""Sequences for both recipes on a hand-made song list, and the song-level split."""

from __future__ import annotations

import numpy as np
import pytest

from antiphon.engine.vocab import Vocab
from antiphon.training.sequences import (
    BatchPlan,
    SongPlan,
    build_stream,
    chunk_batch,
    chunk_count,
    chunk_starts,
    keep_test_songs_out,
    one_hot,
    song_batch,
    songs_to_int,
    split_songs,
    window_batch,
    window_count,
)

SONGS = [["60", "_", "62"], ["r", "64"]]
LENGTH = 2
# The report's join: each song followed by LENGTH delimiters.
STREAM_SYMBOLS = ["60", "_", "62", "/", "/", "r", "64", "/", "/"]


@pytest.fixture()
def vocab() -> Vocab:
    return Vocab.build(s for song in SONGS for s in song)


@pytest.fixture()
def stream(vocab: Vocab) -> np.ndarray:
    return build_stream(SONGS, [0, 1], vocab, LENGTH)


def decode_one_hot(vocab: Vocab, x: np.ndarray) -> list[list[str]]:
    assert np.all(x.sum(axis=-1) == 1.0) and set(np.unique(x)) <= {0.0, 1.0}
    return [vocab.decode(row) for row in x.argmax(axis=-1)]


def test_stream_is_the_reports_join(vocab: Vocab, stream: np.ndarray) -> None:
    assert stream.dtype == np.int32
    assert vocab.decode(stream) == STREAM_SYMBOLS
    assert vocab.decode(build_stream(SONGS, [1], vocab, 3)) == ["r", "64", "/", "/", "/"]


def test_window_recipe_inputs_and_targets(vocab: Vocab, stream: np.ndarray) -> None:
    count = window_count(len(stream), LENGTH)
    assert count == 7
    x, y = window_batch(stream, np.arange(count), LENGTH, len(vocab))
    assert x.shape == (7, LENGTH, len(vocab)) and x.dtype == np.float32
    assert y.shape == (7,)
    assert decode_one_hot(vocab, x) == [["60", "_"], ["_", "62"], ["62", "/"], ["/", "/"], ["/", "r"],
                                        ["r", "64"], ["64", "/"]]
    assert vocab.decode(y) == ["62", "/", "/", "r", "64", "/", "/"]


def test_per_step_recipe_inputs_and_targets(vocab: Vocab, stream: np.ndarray) -> None:
    assert chunk_count(len(stream), 3) == 2
    x, y = chunk_batch(stream, chunk_starts(len(stream), 3, 0), 3, len(vocab))
    assert x.shape == (2, 3, len(vocab)) and y.shape == (2, 3)
    assert decode_one_hot(vocab, x) == [["60", "_", "62"], ["/", "/", "r"]]
    assert [vocab.decode(row) for row in y] == [["_", "62", "/"], ["/", "r", "64"]]
    # The largest offset still fits: the last target is the stream's last symbol.
    x, y = chunk_batch(stream, chunk_starts(len(stream), 3, 2), 3, len(vocab))
    assert decode_one_hot(vocab, x) == [["62", "/", "/"], ["r", "64", "/"]]
    assert [vocab.decode(row) for row in y] == [["/", "/", "r"], ["64", "/", "/"]]


def test_out_of_range_starts_are_refused(vocab: Vocab, stream: np.ndarray) -> None:
    with pytest.raises(ValueError, match="out of range"):
        window_batch(stream, np.array([7]), LENGTH, len(vocab))
    with pytest.raises(ValueError, match="out of range"):
        chunk_batch(stream, np.array([6]), 3, len(vocab))
    with pytest.raises(ValueError, match="offset"):
        chunk_starts(len(stream), 3, 3)


def test_one_hot_matches_identity_rows() -> None:
    indices = np.array([[0, 2], [1, 1]])
    assert np.array_equal(one_hot(indices, 3), np.eye(3, dtype=np.float32)[indices])


def test_window_plan_covers_every_window_once_per_epoch(vocab: Vocab, stream: np.ndarray) -> None:
    plan = BatchPlan(stream, "window", len(vocab), 3, sequence_length=LENGTH, rng=np.random.default_rng(1))
    assert len(plan) == 3  # 7 windows in batches of 3
    for _ in range(2):
        targets = np.concatenate([plan.batch(i)[1] for i in range(len(plan))])
        assert sorted(vocab.decode(targets)) == sorted(["62", "/", "/", "r", "64", "/", "/"])
        plan.next_epoch()
    with pytest.raises(IndexError):
        plan.batch(3)


def test_per_step_plan_moves_the_chunk_grid_and_is_seeded(vocab: Vocab) -> None:
    songs = [[str(60 + (i * 7 + j) % 12) for j in range(20)] for i in range(6)]
    big_vocab = Vocab.build(s for song in songs for s in song)
    stream = build_stream(songs, range(6), big_vocab, LENGTH)

    def epochs(seed: int) -> list[list[int]]:
        plan = BatchPlan(stream, "per_step", len(big_vocab), 4, sequence_length=LENGTH, chunk_length=8,
                         rng=np.random.default_rng(seed))
        seen = []
        for _ in range(6):
            assert plan.targets_per_epoch == chunk_count(len(stream), 8) * 8
            seen.append(sorted(int(s) for s in plan.starts))
            plan.next_epoch()
        return seen

    first = epochs(5)
    assert first == epochs(5)
    assert len({starts[0] for starts in first}) > 1  # the grid offset changes between epochs
    for starts in first:
        assert np.all(np.diff(starts) == 8) and 0 <= starts[0] < 8


def test_plan_rejects_bad_settings(vocab: Vocab, stream: np.ndarray) -> None:
    with pytest.raises(ValueError, match="unknown recipe"):
        BatchPlan(stream, "bogus", len(vocab), 2, sequence_length=LENGTH)
    with pytest.raises(ValueError, match="too short"):
        BatchPlan(stream, "per_step", len(vocab), 2, sequence_length=LENGTH, chunk_length=64)


def test_split_is_song_level_disjoint_and_deterministic() -> None:
    train, val, test = split_songs(100, seed=7)
    assert (len(train), len(val), len(test)) == (80, 10, 10)
    assert sorted(train + val + test) == list(range(100))
    assert train == sorted(train) and val == sorted(val) and test == sorted(test)
    assert split_songs(100, seed=7) == (train, val, test)
    assert split_songs(100, seed=8) != (train, val, test)
    small = split_songs(3, seed=0)
    assert sorted(sum(small, [])) == [0, 1, 2] and all(len(part) == 1 for part in small)


def test_forced_test_songs_fill_the_test_share_first() -> None:
    plain = split_songs(100, seed=7)
    train, val, test = split_songs(100, seed=7, test_first=[3, 50, 99])
    assert {3, 50, 99} <= set(test) and len(test) == 10 and len(val) == 10
    assert sorted(train + val + test) == list(range(100))
    assert split_songs(100, seed=7, test_first=[]) == plain
    many = list(range(30))  # more forced songs than the test share: all of them are test songs
    train, val, test = split_songs(100, seed=7, test_first=many)
    assert test == many and len(val) == 10 and len(train) == 60
    with pytest.raises(ValueError, match="indices 0..99"):
        split_songs(100, seed=7, test_first=[100])


def test_a_song_equal_to_a_test_song_is_moved_out_of_training() -> None:
    songs = [["60", "_"], ["62", "_"], ["60", "_"], ["64", "r"], ["62", "_"]]
    train, val, test = keep_test_songs_out(songs, [0, 1], [3], [2])
    assert (train, val, test) == ([1], [3], [0, 2])
    assert keep_test_songs_out(songs, [0, 3], [4], [1]) == ([0, 3], [], [1, 4])
    assert keep_test_songs_out(songs, [3], [0], [1]) == ([3], [0], [1])


def test_split_needs_three_songs() -> None:
    with pytest.raises(ValueError, match="at least 3 songs"):
        split_songs(2, seed=0)


def test_song_recipe_starts_every_song_from_the_padding(vocab: Vocab) -> None:
    x, y, w = song_batch(songs_to_int(SONGS, vocab), LENGTH, vocab.index("/"), len(vocab))
    assert x.shape == (2, 5, len(vocab)) and y.shape == w.shape == (2, 5)
    assert decode_one_hot(vocab, x) == [["/", "/", "60", "_", "62"], ["/", "/", "r", "64", "/"]]
    assert [vocab.decode(row) for row in y] == [["/", "60", "_", "62", "/"], ["/", "r", "64", "/", "/"]]
    # No weight on "/" after "/" inside the padding; full weight from the first symbol to the end marker.
    assert w.tolist() == [[0, 1, 1, 1, 1], [0, 1, 1, 1, 0]]


def test_song_plan_groups_by_length_and_is_seeded(vocab: Vocab) -> None:
    songs = [np.full(n, vocab.index("_"), dtype=np.int32) for n in (1, 9, 2, 8, 3, 7)]
    plan = SongPlan(songs, len(vocab), 2, sequence_length=LENGTH, delimiter_index=vocab.index("/"))
    assert [sorted(len(songs[i]) for i in b) for b in plan.batches] == [[1, 2], [3, 7], [8, 9]]
    assert plan.targets_per_epoch == sum(len(s) + 1 for s in songs)
    a = SongPlan(songs, len(vocab), 2, sequence_length=LENGTH, delimiter_index=0, rng=np.random.default_rng(1))
    b = SongPlan(songs, len(vocab), 2, sequence_length=LENGTH, delimiter_index=0, rng=np.random.default_rng(1))
    assert [x.tolist() for x in a.batches] == [x.tolist() for x in b.batches]
    assert sorted(i for batch in a.batches for i in batch.tolist()) == list(range(6))
