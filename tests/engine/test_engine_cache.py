"""The neural cache: hand-computed mixtures, song boundaries, clones, and refusal of bad settings."""

import numpy as np
import pytest

from antiphon.engine.cache import CacheConfig, SongCache


def test_mixture_matches_a_hand_computation():
    cache = SongCache(CacheConfig(lam=0.25, theta=1.0), units=2, vocab_size=3)
    cache.add(np.array([1.0, 0.0], dtype=np.float32), 2)
    cache.add(np.array([0.0, 1.0], dtype=np.float32), 1)
    probs = np.array([0.5, 0.25, 0.25])
    state = np.array([np.log(3.0), 0.0], dtype=np.float32)  # scores: log 3 and 0 -> weights 3/4, 1/4
    mixed = cache.mix(probs, state)
    expected = 0.75 * probs + 0.25 * np.array([0.0, 0.25, 0.75])
    assert mixed == pytest.approx(expected, abs=1e-6)
    assert mixed.sum() == pytest.approx(1.0)


def test_empty_cache_and_zero_lambda_leave_the_model_alone():
    probs = np.array([0.2, 0.8])
    cache = SongCache(CacheConfig(lam=0.5, theta=1.0), units=1, vocab_size=2)
    assert cache.mix(probs, np.ones(1, dtype=np.float32)) is probs
    off = SongCache(CacheConfig(lam=0.0, theta=1.0), units=1, vocab_size=2)
    off.add(np.ones(1, dtype=np.float32), 0)
    assert off.mix(probs, np.ones(1, dtype=np.float32)) is probs


def test_capacity_keeps_the_latest_entries_and_copies_are_independent():
    cache = SongCache(CacheConfig(lam=0.5, theta=0.0, capacity=2), units=1, vocab_size=3)
    for symbol in (0, 1, 2):
        cache.add(np.ones(1, dtype=np.float32), symbol)
    assert len(cache) == 2
    vote = cache.mix(np.zeros(3), np.ones(1, dtype=np.float32)) / 0.5
    assert vote == pytest.approx([0.0, 0.5, 0.5])  # symbol 0 was overwritten
    twin = cache.copy()
    cache.reset()
    assert len(cache) == 0 and len(twin) == 2


@pytest.mark.parametrize("lam, theta", [(-0.1, 1.0), (1.0, 1.0), (0.1, -1.0)])
def test_bad_settings_are_refused(lam, theta):
    with pytest.raises(ValueError, match="cache"):
        CacheConfig(lam=lam, theta=theta)
    with pytest.raises(ValueError, match="'lam' and 'theta'"):
        CacheConfig.from_config({"lam": 0.1})


def test_stateful_predictor_mixes_its_cache_and_forgets_it_at_a_song_end(tmp_path):
    from engine_helpers import make_artifact

    from antiphon.engine.model import LstmModel

    model = LstmModel.load(make_artifact(tmp_path / "m", units=8, sequence_length=4, seed=3)[0])
    config = CacheConfig(lam=0.3, theta=0.5)
    raw = model.predictor("stateful", cache=False)
    cached = model.predictor("stateful", cache=config)
    manual = SongCache(config, model.units, len(model.vocab))
    song = model.vocab.encode(["/"] * 4 + ["r", "_", "r", "_"])
    for index in song:
        state = raw.top_state
        if index == model.vocab.index("/"):
            manual.reset()
        else:
            manual.add(state, index)
        p_raw = raw.feed(index)
        p_cached = cached.feed(index)
        assert p_cached == pytest.approx(manual.mix(p_raw, raw.top_state), abs=1e-9)
    assert len(cached.cache) == 4
    clone = cached.clone()
    cached.feed(model.vocab.index("/"))
    assert len(cached.cache) == 0 and len(clone.cache) == 4
    with pytest.raises(ValueError, match="stateful"):
        model.predictor("window", cache=config)
