"""The entropy-aware sampler, seeds and generation on a real (small) model."""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import PITCHES, make_artifact
from hypothesis import given, settings
from hypothesis import strategies as st

from antiphon.engine.events import DELIMITER, REST, is_onset_symbol
from antiphon.engine.model import LstmModel
from antiphon.engine.sampler import (
    EntropySampler,
    SamplerConfig,
    entropy,
    generate,
    parse_seed,
)
from antiphon.engine.vocab import Vocab

VOCAB = Vocab.build(PITCHES)
V = len(VOCAB)


def _sampler(seed=0, **config):
    return EntropySampler(VOCAB, SamplerConfig(**config), np.random.default_rng(seed))


def _sharp():
    p = np.full(V, 1e-4)
    p[5] = 1.0
    return p / p.sum()


def test_entropy_in_nats():
    assert entropy(np.full(V, 1 / V)) == pytest.approx(np.log(V))
    assert entropy(np.eye(V)[3]) == 0.0
    assert entropy([0.5, 0.5]) == pytest.approx(np.log(2))


def test_entropy_rule_raises_temperature_when_sharp_and_lowers_it_when_flat():
    sampler = _sampler(temperature=0.8)
    sharp, flat = _sharp(), np.full(V, 1 / V)  # H ~ 0.004 and ln 20 ~ 3.0 nats
    middle = np.array([0.3, 0.3, 0.2, 0.1, 0.1] + [0.0] * (V - 5))  # H ~ 1.5
    assert sampler.temperature_for(sharp) == pytest.approx(0.8 * sampler.config.raise_factor)
    assert sampler.temperature_for(flat) == pytest.approx(0.8 * sampler.config.lower_factor)
    assert sampler.temperature_for(middle) == pytest.approx(0.8)
    assert sampler.temperature_for(sharp) > 0.8 > sampler.temperature_for(flat)
    # Sampled above the base: the sharp distribution gets flatter than at the base temperature.
    fixed = _sampler(temperature=0.8, adaptive=False, weights={}, top_p=1.0, onset_top_p=1.0)
    adaptive = _sampler(temperature=0.8, weights={}, top_p=1.0, onset_top_p=1.0)
    assert adaptive.adjust(sharp).max() < fixed.adjust(sharp).max()
    assert fixed.temperature_for(sharp) == fixed.temperature_for(flat) == 0.8
    # Constants are configurable.
    custom = _sampler(low_entropy=0.0, high_entropy=4.0)
    assert custom.temperature_for(sharp) == custom.temperature_for(flat) == 1.0


def test_temperature_scaling_matches_the_formula():
    p = np.random.default_rng(1).dirichlet(np.ones(V))
    t = 0.7
    expected = np.exp(np.log(p) / t) / np.exp(np.log(p) / t).sum()
    sampler = _sampler(temperature=t, adaptive=False, weights={}, top_p=1.0, onset_top_p=1.0)
    np.testing.assert_allclose(sampler.adjust(p), expected, rtol=1e-10)


def test_nucleus_keeps_the_most_probable_symbols_holding_top_p():
    p = np.zeros(V)
    p[:5] = [0.5, 0.25, 0.15, 0.07, 0.03]  # no "_" among them: the onset nucleus is off here
    kept = _sampler(adaptive=False, weights={}, top_p=0.9, onset_top_p=1.0).adjust(p)
    np.testing.assert_allclose(kept[:3], np.array([0.5, 0.25, 0.15]) / 0.9)  # 0.5 + 0.25 < 0.9 <= + 0.15
    assert kept[3:].sum() == 0
    assert _sampler(adaptive=False, weights={}, top_p=0.1, onset_top_p=1.0).adjust(p)[0] == 1.0  # one stays
    np.testing.assert_allclose(_sampler(adaptive=False, weights={}, top_p=1.0, onset_top_p=1.0).adjust(p), p)
    assert (SamplerConfig().top_p, SamplerConfig().onset_top_p, SamplerConfig().raise_factor) == (0.97, 0.85, 1.25)
    sampler = _sampler(seed=3, adaptive=False, weights={}, top_p=0.9, onset_top_p=1.0)
    assert {sampler.sample(p) for _ in range(2000)} == {0, 1, 2}


def test_onset_nucleus_cuts_unlikely_onsets_and_leaves_the_hold_alone():
    p = np.zeros(V)
    hold, notes = VOCAB.index("_"), [VOCAB.index(s) for s in ("60", "62", "64", "65")]
    p[hold], p[notes] = 0.5, [0.25, 0.15, 0.07, 0.03]
    kept = _sampler(adaptive=False, weights={}, top_p=1.0, onset_top_p=0.9).adjust(p)
    assert kept[hold] == pytest.approx(0.5)  # the hold keeps its probability
    # 0.25 + 0.15 < 0.9 * 0.5 <= 0.25 + 0.15 + 0.07: three onsets stay, sharing the onset half.
    np.testing.assert_allclose(kept[notes[:3]], np.array([0.25, 0.15, 0.07]) * 0.5 / 0.47)
    assert kept[notes[3]] == 0 and kept.sum() == pytest.approx(1.0)
    # Then the nucleus over everything: 0.5 (hold) + 0.266 (60) >= 0.75 of the whole.
    both = _sampler(adaptive=False, weights={}, top_p=0.75, onset_top_p=0.9).adjust(p)
    assert set(np.flatnonzero(both)) == {hold, notes[0]}
    assert both[hold] / both[notes[0]] == pytest.approx(0.5 / (0.25 * 0.5 / 0.47))
    for bad in (0.0, 1.5, -1):
        with pytest.raises(ValueError, match="top_p"):
            SamplerConfig(top_p=bad)
        with pytest.raises(ValueError, match="onset_top_p"):
            SamplerConfig(onset_top_p=bad)


def test_weights_shift_frequencies_as_configured():
    p = np.zeros(V)
    rest, low, high = VOCAB.index(REST), VOCAB.index("60"), VOCAB.index("62")
    p[[rest, low, high]] = [0.4, 0.3, 0.3]
    draws = 40_000
    for weight in (0.9, 0.3, 2.0):
        sampler = _sampler(seed=7, adaptive=False, weights={REST: weight})
        counts = np.bincount([sampler.sample(p) for _ in range(draws)], minlength=V)
        expected = 0.4 * weight / (0.4 * weight + 0.6)
        sigma = np.sqrt(expected * (1 - expected) / draws)
        assert abs(counts[rest] / draws - expected) < 4 * sigma, weight
        assert counts.sum() == counts[[rest, low, high]].sum()
    # The default rest weight is the report's 0.9.
    assert SamplerConfig().weights == {REST: 0.9}


def test_sampling_is_reproducible_with_a_seed():
    p = np.random.default_rng(2).dirichlet(np.ones(V) * 0.5)
    a, b, c = _sampler(seed=42), _sampler(seed=42), _sampler(seed=43)
    run_a = [a.sample(p) for _ in range(200)]
    assert run_a == [b.sample(p) for _ in range(200)]
    assert run_a != [c.sample(p) for _ in range(200)]


def test_an_answer_starts_with_a_note_and_does_not_end_early():
    p = np.full(V, 1e-6)
    p[VOCAB.index(DELIMITER)], p[VOCAB.index(REST)], p[VOCAB.index("_")] = 0.5, 0.3, 0.2
    shaped = _sampler(seed=3)
    first = [VOCAB.symbol(shaped.sample(p, shaped.answer_ban(0))) for _ in range(50)]
    later = [VOCAB.symbol(shaped.sample(p, shaped.answer_ban(5))) for _ in range(50)]
    assert all(s not in (DELIMITER, REST, "_") for s in first)
    assert DELIMITER not in later and REST in later and "_" in later
    free = _sampler(seed=3, answer_note_first=False, answer_full_length=False)
    assert DELIMITER in [VOCAB.symbol(free.sample(p, free.answer_ban(0))) for _ in range(50)]
    only_end = np.zeros(V)
    only_end[VOCAB.index(DELIMITER)] = 1.0  # a ban never leaves nothing to draw
    assert VOCAB.symbol(shaped.sample(only_end, shaped.answer_ban(5))) == DELIMITER


def test_zeros_and_tiny_probabilities_never_give_nan():
    cases = [np.eye(V)[4], np.r_[1.0, np.full(V - 1, 1e-300)], np.r_[1e-320, 1e-320, np.zeros(V - 2)],
             np.r_[np.zeros(V - 1), 5e-324]]
    for p in cases:
        for temperature in (0.05, 1.0, 5.0):
            for adaptive in (True, False):
                sampler = _sampler(temperature=temperature, adaptive=adaptive)
                q = sampler.adjust(p)
                assert np.all(np.isfinite(q)) and q.sum() == pytest.approx(1.0)
                assert np.all(q[p == 0] == 0)
                assert p[sampler.sample(p)] > 0
    # Weights that ban every allowed symbol are ignored rather than dividing by zero.
    q = _sampler(weights={REST: 0.0}).adjust(np.eye(V)[VOCAB.index(REST)])
    assert q[VOCAB.index(REST)] == 1.0
    with pytest.raises(ValueError, match="not all zero"):
        _sampler().adjust(np.zeros(V))
    with pytest.raises(ValueError, match="shape"):
        _sampler().adjust(np.ones(V + 1) / (V + 1))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.just(0.0), st.floats(1e-300, 1.0), st.floats(0.0, 1e-30)), min_size=V, max_size=V)
       .filter(lambda xs: sum(xs) > 0),
       st.floats(0.01, 10.0), st.booleans(), st.integers(0, 2**32 - 1))
def test_sampler_output_is_always_a_valid_symbol(raw, temperature, adaptive, seed):
    p = np.array(raw)
    sampler = _sampler(seed=seed, temperature=temperature, adaptive=adaptive, weights={REST: 0.9, "60": 0.0})
    q = sampler.adjust(p)
    assert np.all(np.isfinite(q)) and abs(q.sum() - 1) < 1e-9
    index = sampler.sample(p)
    assert 0 <= index < V and p[index] > 0
    assert VOCAB.symbol(index) in VOCAB


def test_config_and_weights_are_checked():
    with pytest.raises(ValueError, match="temperature"):
        SamplerConfig(temperature=0)
    with pytest.raises(ValueError, match="'r'"):
        SamplerConfig(weights={REST: -1.0})
    with pytest.raises(ValueError, match="low_entropy"):
        SamplerConfig(low_entropy=3.0, high_entropy=2.5)
    with pytest.raises(ValueError, match="'99'"):
        _sampler(weights={"99": 1.0})
    with pytest.raises(TypeError, match="Generator"):
        EntropySampler(VOCAB, SamplerConfig(), 42)


def test_seed_parsing():
    assert parse_seed("67 _ 67 _ 67 _ _ 65") == ["67", "_", "67", "_", "67", "_", "_", "65"]
    assert parse_seed("  ") == []
    with pytest.raises(ValueError, match="'G4' at position 1"):
        parse_seed("67 G4")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return LstmModel.load(make_artifact(tmp_path_factory.mktemp("gen"), units=16, sequence_length=8)[0])


def test_unknown_seed_symbol_is_named(model):
    with pytest.raises(ValueError, match="'90'"):
        generate(model.predictor(), _sampler(), ["60", "_", "90"], 4)


@pytest.mark.parametrize("mode", ["stateful", "window"])
def test_generation_is_reproducible_and_decodable(model, mode):
    def run(seed):
        return generate(model.predictor(mode), _sampler(seed=seed, weights={DELIMITER: 0.0}), ["60", "_"], 50)

    out = run(5)
    assert out == run(5) and len(out) == 50
    assert all(is_onset_symbol(s) or s == "_" for s in out)


def test_generation_stops_at_the_delimiter(tmp_path):
    # A head that ignores the state: '/' has probability 0.2 at every step.
    folder, vocab, weights = make_artifact(tmp_path / "m", units=8, sequence_length=4)
    weights["dense/kernel"][:] = 0.0
    bias = np.zeros(len(vocab), dtype=np.float32)
    bias[vocab.index(DELIMITER)] = np.log(0.2 / 0.8 * (len(vocab) - 1))
    weights["dense/bias"][:] = bias
    from antiphon.engine.artifact import load_artifact, save_artifact

    save_artifact(folder, load_artifact(folder).config, vocab, weights)
    model = LstmModel.load(folder)
    assert model.predictor().prime([0])[vocab.index(DELIMITER)] == pytest.approx(0.2)
    lengths = []
    for seed in range(30):
        sampler = EntropySampler(vocab, SamplerConfig(adaptive=False, weights={}), np.random.default_rng(seed))
        out = generate(model.predictor(), sampler, ["60"], 40)
        assert DELIMITER not in out
        lengths.append(len(out))
    assert max(lengths) < 40 and np.mean(lengths) == pytest.approx(4.0, abs=2.0)  # geometric, mean 4
    banned = EntropySampler(vocab, SamplerConfig(weights={DELIMITER: 0.0}), np.random.default_rng(0))
    assert len(generate(model.predictor(), banned, ["60"], 40)) == 40
