"""Baselines on toy corpora whose probabilities are worked out by hand in the comments."""

from __future__ import annotations

import math

import numpy as np
import pytest

from antiphon.training.baselines import (
    END,
    OTHER,
    IdyomModel,
    NgramModel,
    PPMCounts,
    UnigramModel,
    combine,
    count_events,
    event_alphabet,
    song_events,
    tune_idyom,
)


def test_song_events_and_count():
    song = ["60", "_", "_", "_", "r", "_", "r", "62", "/", "64"]
    assert song_events(song) == ["60:4", "r:2", "r:1", "62:1"]  # stops at /, rests stay separate
    assert count_events(song) == 4
    assert song_events(["_", "_", "67"]) == ["r:2", "67:1"]  # a leading hold is a rest
    with pytest.raises(ValueError, match="'x'"):
        song_events(["60", "x"])


def _fit_abab(exclusion: bool, escape: str = "C") -> PPMCounts:
    return PPMCounts(3, max_order=1, escape=escape, update_exclusion=exclusion).fit([[0, 1, 0, 1]])


def test_ppm_c_interpolated_by_hand():
    # Counts: order 0 {a:2, b:2}; context (a) {b:2}; context (b) {a:1}.
    ppm = _fit_abab(exclusion=False)
    assert ppm.tables[()] == {0: 2, 1: 2}
    # order -1: 1/3 each; order 0 (T=4, t=2): 1/3 * 2/6 + c/6 -> 4/9, 4/9, 1/9;
    # context (a) (T=2, t=1): p/3 + c/3 -> 4/27, 4/27 + 2/3, 1/27.
    np.testing.assert_allclose(ppm.distribution([0]), [4 / 27, 22 / 27, 1 / 27], rtol=1e-12)
    np.testing.assert_allclose(ppm.distribution([0], max_order=0), [4 / 9, 4 / 9, 1 / 9], rtol=1e-12)
    np.testing.assert_allclose(ppm.distribution([2]), [4 / 9, 4 / 9, 1 / 9], rtol=1e-12)  # unseen context
    for history in ([0], [1], [2], []):
        for symbol in range(3):
            by_order = ppm.symbol_probabilities(history, symbol)
            for order in range(2):
                assert by_order[order] == pytest.approx(ppm.distribution(history, order)[symbol], rel=1e-12)


def test_ppm_update_exclusion_by_hand():
    # b after a is new in (a) so order 0 counts it; a after b is new in (b) but seen at order 0: raised to 2,
    # then stop; the second b after a is already in (a): order 0 is left alone -> order 0 {a:2, b:1}.
    ppm = _fit_abab(exclusion=True)
    assert ppm.tables[()] == {0: 2, 1: 1}
    # order 0 (T=3, t=2): 1/3 * 2/5 + c/5 -> 8/15, 5/15, 2/15; context (a) {b:2}: p/3 + c/3.
    np.testing.assert_allclose(ppm.distribution([0]), [8 / 45, 35 / 45, 2 / 45], rtol=1e-12)


def test_ppm_escape_ax_by_hand():
    # One context () with counts {a:1, b:3}: t1 = 1 singleton -> escape 2, denominator 4 + 2.
    ppm = PPMCounts(3, max_order=0, escape="AX").fit([[0, 1, 1, 1]])
    np.testing.assert_allclose(ppm.distribution([]), [(1 + 2 / 3) / 6, (3 + 2 / 3) / 6, (2 / 3) / 6])
    # Method C on the same counts: escape t = 2 as well here; with {a:2, b:2} they differ (1 vs 2).
    c = PPMCounts(3, max_order=0, escape="C").fit([[0, 0, 1, 1]]).distribution([])
    ax = PPMCounts(3, max_order=0, escape="AX").fit([[0, 0, 1, 1]]).distribution([])
    np.testing.assert_allclose(c, [(2 + 2 / 3) / 6, (2 + 2 / 3) / 6, (2 / 3) / 6])
    np.testing.assert_allclose(ax, [(2 + 1 / 3) / 5, (2 + 1 / 3) / 5, (1 / 3) / 5])
    with pytest.raises(ValueError, match="escape"):
        PPMCounts(3, 1, escape="B")


def test_unigram_add_one():
    model = UnigramModel([["60", "_"]], ["/", "r", "_", "60"])
    # counts + 1: / 2, r 1, _ 2, 60 2 -> over 7; one row per symbol plus the end.
    dists = model.distributions(["60", "_", "_"])
    assert dists.shape == (4, 4)
    np.testing.assert_allclose(dists[2], [2 / 7, 1 / 7, 2 / 7, 2 / 7])


def test_ngram_witten_bell_by_hand_and_order_choice():
    model = NgramModel([["60", "_"]], ["/", "_", "60"], max_order=1)
    # Training sequence "/ | 60 _ /": order 0 {60, _, /} once each; contexts (/)->60, (60)->_, (_)->/.
    # Before the first symbol, context (/): order 0 (T=3, t=3) keeps 1/3 each; order 1 (T=1, t=1): p/2 + c/2.
    dists = model.distributions(["60", "_"])
    assert dists.shape == (3, 3)
    np.testing.assert_allclose(dists[0], [1 / 6, 1 / 6, 2 / 3])
    np.testing.assert_allclose(dists[2], [2 / 3, 1 / 6, 1 / 6])  # after _, the end
    np.testing.assert_allclose(model.distributions(["60", "_"], order=0)[0], [1 / 3] * 3)
    scores = model.choose_order([["60", "_"]])
    assert model.order == 1
    assert scores[1] == pytest.approx(-math.log2(2 / 3))
    assert scores[0] == pytest.approx(math.log2(3))


def test_combine_entropy_weighted():
    p1, p2 = np.array([0.5, 0.5]), np.array([0.9, 0.1])
    np.testing.assert_allclose(combine([p1, p2], bias=0, method="arithmetic"), [0.7, 0.3])
    # geometric: sqrt(.45) : sqrt(.05) = 3 : 1
    np.testing.assert_allclose(combine([p1, p2], bias=0, method="geometric"), [0.75, 0.25])
    h2 = -(0.9 * math.log2(0.9) + 0.1 * math.log2(0.1))  # H_max = 1 bit; weights 1 and 1 / h2
    w1, w2 = 1.0, 1.0 / h2
    expected = (w1 * p1 + w2 * p2) / (w1 + w2)
    np.testing.assert_allclose(combine([p1, p2], bias=1, method="arithmetic"), expected)
    with pytest.raises(ValueError, match="combination"):
        combine([p1, p2], 1, "harmonic")


def test_idyom_long_term_by_hand():
    model = IdyomModel([["60", "_", "62", "_"]], ["60:2", "62:2"], max_order=1, escape="C",
                       update_exclusion=False, short_term=False)
    assert len(model.alphabet) == 5  # 60:2 62:2 end other start
    # Every order-1 context is deterministic: order 0 (T=3, t=3) gives each seen token 1/10 + 1/6 = 4/15,
    # then p/2 + 1/2 for the one continuation: 2/15 + 1/2 = 19/30.
    np.testing.assert_allclose(model.log2_probs(["60", "_", "62", "_"]), [math.log2(19 / 30)] * 3)
    dists = model.distributions(["60", "_", "62", "_"])
    np.testing.assert_allclose(dists.sum(axis=1), 1.0)


def test_idyom_short_term_learns_the_song():
    # LTM order 0 on "60:2 end": 60:2 and end 7/20, the other three 1/10. The STM starts uniform (1/5),
    # after one 62:2 gives it 1/10 + 1/2 = 3/5; after two, end gets 1/5 * 1/3 = 1/15. Bias 0: plain means.
    model = IdyomModel([["60", "_"]], ["60:2", "62:2"], max_order=0, escape="C", update_exclusion=False,
                       bias=0.0, combination="arithmetic")
    lp = model.log2_probs(["62", "_", "62", "_"])
    np.testing.assert_allclose(lp, np.log2([3 / 20, 7 / 20, 5 / 24]))
    model.short_term = False
    np.testing.assert_allclose(model.log2_probs(["62", "_", "62", "_"]), np.log2([1 / 10, 1 / 10, 7 / 20]))


def test_idyom_unknown_tokens_are_other():
    model = IdyomModel([["60", "_"]], ["60:2"], max_order=2)
    assert model.encode(["60:2", "61:7"])[1:] == [model.index["60:2"], model.index[OTHER], model.index[END]]
    assert np.all(np.isfinite(model.log2_probs(["61", "_", "_", "_", "_", "_", "_"])))


def test_event_alphabet_is_pitch_by_duration():
    assert event_alphabet([["60", "_", "r", "_", "_", "_"]], ["62"]) == [
        "r:2", "r:4", "60:2", "60:4", "62:2", "62:4"]


def test_tune_idyom_picks_from_the_grid():
    songs = [["60", "_", "62", "_", "64", "_", "_", "_"], ["64", "_", "62", "_", "60", "_", "_", "_"]] * 3
    alphabet = event_alphabet(songs)
    model, trials = tune_idyom(songs[:4], songs[4:], alphabet, orders=(1, 3), biases=(0, 2))
    assert len(trials) == 2 * 2 + 2 * 2
    assert model.params["max_order"] in (1, 3) and model.bias in (0, 2)
    chosen = min(trials.values())
    total = -sum(model.log2_probs(s).sum() for s in songs[4:])
    assert total / sum(count_events(s) + 1 for s in songs[4:]) == pytest.approx(chosen)
