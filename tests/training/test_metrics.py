"""Melody statistics, Yang & Lerch comparison and copy rate on hand-made melodies."""

from __future__ import annotations

import math

import numpy as np
import pytest

from antiphon.training.metrics import (
    STAT_NAMES,
    compare_sets,
    copy_rate,
    melody_stats,
    note_length_distribution,
    overlap_and_kl,
    passages,
    scale_consistency,
    summarize_stats,
    yang_lerch_features,
)

# C D E F G (half notes... in 16ths: 2 steps each), G held 4, a 2-step rest, C held 4: 18 steps.
SCALE = "60 _ 62 _ 64 _ 65 _ 67 _ _ _ r _ 60 _ _ _".split()


def test_melody_stats_by_hand():
    stats = melody_stats(SCALE)
    assert set(stats) == set(STAT_NAMES)
    assert stats["notes"] == 6
    assert stats["scale_consistency"] == 1.0
    assert stats["pitch_range"] == 7
    assert stats["pitch_classes"] == 5
    # pitch classes C twice, D E F G once: p = 1/3, 1/6 x 4
    assert stats["pitch_entropy"] == pytest.approx(math.log2(3) / 3 + 2 / 3 * math.log2(6))
    # intervals 2 2 1 2 7
    assert (stats["repeat_share"], stats["step_share"], stats["leap_share"]) == (0.0, 0.8, 0.2)
    assert stats["rest_share"] == pytest.approx(2 / 18)
    assert stats["mean_note_length"] == pytest.approx(16 / 6)
    assert stats["ends_on_tonic"] == 1.0
    ends_on_d = melody_stats(SCALE[:-4] + "62 _ _ _".split())
    assert ends_on_d["ends_on_tonic"] == 0.0
    assert ends_on_d["repeat_share"] == 0.0 and ends_on_d["leap_share"] == 0.2  # 67 -> 62 is a leap


def test_scale_consistency_and_repeats():
    # {C, C#, D, D#}: D-flat major holds C, C# and D#, no diatonic scale holds all four.
    assert scale_consistency([60, 61, 62, 63]) == 0.75
    assert math.isnan(scale_consistency([]))
    stats = melody_stats("64 64 64 _ 65".split())
    assert (stats["repeat_share"], stats["step_share"], stats["leap_share"]) == (2 / 3, 1 / 3, 0.0)


def test_stats_of_a_melody_without_notes():
    stats = melody_stats(["r", "_", "_"])
    assert stats["notes"] == 0 and stats["rest_share"] == 1.0
    assert math.isnan(stats["pitch_range"]) and math.isnan(stats["ends_on_tonic"])
    summary = summarize_stats([stats, melody_stats(SCALE)])
    assert summary["pitch_range"] == {"mean": 7.0, "std": 0.0}  # the NaN is skipped
    assert summary["notes"]["mean"] == 3.0 and summary["notes"]["std"] == 3.0


def test_note_length_distribution():
    dist = note_length_distribution([SCALE, "60 _ _ _ _".split()])
    assert dist["2"] == pytest.approx(4 / 7) and dist["4"] == pytest.approx(2 / 7)
    assert dist["other"] == pytest.approx(1 / 7)  # 5 steps is not a bin
    assert sum(dist.values()) == pytest.approx(1.0)


def test_yang_lerch_features_by_hand():
    f = yang_lerch_features(SCALE)
    np.testing.assert_allclose(f["pitch_class_histogram"], np.array([2, 0, 1, 0, 1, 1, 0, 1, 0, 0, 0, 0]) / 6)
    pctm = f["pitch_class_transitions"].reshape(12, 12)
    assert pctm[0, 2] == pctm[2, 4] == pctm[4, 5] == pctm[5, 7] == pctm[7, 0] == pytest.approx(0.2)
    assert pctm.sum() == pytest.approx(1.0)
    assert f["pitch_range"][0] == 7
    assert f["average_interval"][0] == pytest.approx(14 / 5)
    assert f["inter_onset_interval"][0] == pytest.approx(14 / 5)  # onsets 0 2 4 6 8 14
    nlh = f["note_length_histogram"]
    assert nlh[1] == pytest.approx(4 / 6) and nlh[3] == pytest.approx(2 / 6) and nlh.sum() == pytest.approx(1)


def test_overlap_and_kl_extremes():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, 500)
    overlap, kl = overlap_and_kl(a, a.copy())
    assert overlap == pytest.approx(1.0) and kl == pytest.approx(0.0, abs=1e-9)
    overlap, kl = overlap_and_kl(a, a + 20)
    assert overlap < 0.01 and kl > 5


def _walks(rng: np.random.Generator, count: int, jump: int) -> list[list[str]]:
    songs = []
    for _ in range(count):
        pitch, song = 67, []
        for _ in range(int(rng.integers(12, 30))):
            pitch = int(np.clip(pitch + rng.integers(-jump, jump + 1), 48, 90))
            song += [str(pitch)] + ["_"] * int(rng.choice([1, 3]))
        songs.append(song)
    return songs


def test_compare_sets_tells_alike_from_unlike():
    rng = np.random.default_rng(1)
    reference, alike, unlike = _walks(rng, 60, 2), _walks(rng, 80, 2), _walks(rng, 80, 12)
    near = compare_sets(reference, alike, np.random.default_rng(2))
    far = compare_sets(reference, unlike, np.random.default_rng(2))
    for name in ("pitch_range", "average_interval"):
        assert near[name]["oa"] > far[name]["oa"] + 0.2, name
        assert near[name]["kl"] < far[name]["kl"], name
    with pytest.raises(ValueError, match="reference"):
        compare_sets(reference[:1], alike, rng)


def test_copy_rate():
    tune = "60 _ 62 _ 64 _ 65 _ 67 _ 69 _ 71 _ 72 _ _ _ 71 _".split()  # 9 events
    known = passages([tune], 8)
    assert len(known) == 2
    quoted = ["r", "_"] + tune[:-2] + ["60", "_"]  # events 60:2 .. 72:4 (8 of them) after a rest
    changed = tune[:6] + ["66", "_"] + tune[8:]
    assert copy_rate([quoted, changed], known, 8) == 0.5
    assert copy_rate([quoted], passages([tune], 16), 16) == 0.0
    assert math.isnan(copy_rate([], known, 8))
