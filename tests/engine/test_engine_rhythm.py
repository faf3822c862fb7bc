"""Hearing the rhythm of hand-made performances: tempo, meter, pickup, downbeat and quantised notes."""

import math

import numpy as np
import pytest

from antiphon.engine.events import Note
from antiphon.engine.rhythm import Grid, RhythmConfig, estimate_rhythm
from antiphon.engine.rhythm_score import count_tables


def play(steps_lengths, bpm, start=1.0, spread_s=0.0, seed=0, held=0.9, drift=0.0):
    """(start step, length) pairs in 16ths -> onsets, offsets (s) and pitches at ``bpm`` quarters per minute.

    ``drift``: relative tempo change from the first to the last note (the step period shrinks linearly).
    """
    rng = np.random.default_rng(seed)
    last = max(s + n for s, n in steps_lengths)

    def time_of(step):  # period falls linearly from 1 to 1/(1+drift) of the nominal one
        p0 = 60.0 / (bpm * 4)
        slope = (1 / (1 + drift) - 1) / last
        return start + p0 * (step + 0.5 * slope * step * step)

    on = np.array([time_of(s) for s, _ in steps_lengths]) + rng.normal(0, spread_s, len(steps_lengths))
    off = np.array([time_of(s + n * held) for s, n in steps_lengths])
    pitches = [60 + (3 * i) % 8 for i in range(len(steps_lengths))]
    return on, np.maximum(off, on + 0.01), pitches


def onsets(rhythm):
    return [n.start_step for n in rhythm.notes]


# 4/4, an eighth-note pickup, then | q e e q q | h q q | w
FOUR = [(0, 2), (2, 4), (6, 2), (8, 2), (10, 4), (14, 4), (18, 8), (26, 4), (30, 4), (34, 16)]
# 3/4 waltz from the downbeat: | q e e q | h q | q e e q | h. |
WALTZ = [(0, 4), (4, 2), (6, 2), (8, 4), (12, 8), (20, 4), (24, 4), (28, 2), (30, 2), (32, 4), (36, 12)]
# 6/8 jig with a one-eighth pickup: e | q e q e | e e e e e e | q e q e | d.q d.q
JIG = [(0, 2), (2, 4), (6, 2), (8, 4), (12, 2), (14, 2), (16, 2), (18, 2), (20, 2), (22, 2), (24, 2),
       (26, 4), (30, 2), (32, 4), (36, 2), (38, 6), (44, 6)]
# 2/4 polka: | e e e e | q q | s s e e e | q q | h
POLKA = [(0, 2), (2, 2), (4, 2), (6, 2), (8, 4), (12, 4), (16, 1), (17, 1), (18, 2), (20, 2), (22, 2),
         (24, 4), (28, 4), (32, 8)]


def test_four_four_with_eighth_pickup_at_90():
    on, off, pitches = play(FOUR, 90)
    r = estimate_rhythm(on, off, pitches)
    assert r.grid.bpm == pytest.approx(90, rel=0.01)
    assert (r.grid.signature, r.grid.bar_steps, r.pickup_steps) == ("4/4", 16, 2)
    assert r.grid.origin_s == pytest.approx(on[1], abs=0.005)  # the first downbeat is the second note
    assert onsets(r) == [14 + s for s, _ in FOUR]  # step 0 is the bar line of the pickup's bar
    assert r.notes[1] == Note(pitches[1], 16, 4)  # lengths run to the next onset when the note is held
    assert r.meter == [[0, 16, 0]]
    assert 0 < r.confidence <= 1 and r.timing_error_ms < 1


def test_waltz_and_jig_and_polka():
    r = estimate_rhythm(*play(WALTZ, 120))
    assert (r.grid.signature, r.pickup_steps) == ("3/4", 0) and r.grid.bpm == pytest.approx(120, rel=0.01)
    assert onsets(r) == [s for s, _ in WALTZ]
    r = estimate_rhythm(*play(JIG, 165))  # dotted quarter at 110
    assert (r.grid.signature, r.grid.bar_steps, r.pickup_steps) == ("6/8", 12, 2)
    assert r.grid.bpm == pytest.approx(165, rel=0.01)
    assert onsets(r) == [10 + s for s, _ in JIG]
    r = estimate_rhythm(*play(POLKA, 100))
    assert (r.grid.signature, r.pickup_steps) == ("2/4", 0) and r.grid.bpm == pytest.approx(100, rel=0.01)
    assert onsets(r) == [s for s, _ in POLKA]


def test_even_eighths_at_150_stay_eighths():
    # Convention: even eighths are heard as eighths at 150 bpm, not as 16ths at 75 (16ths on every step
    # would put onsets on all the weak off-16ths) nor as quarters at 300 (out of range).
    eighths = [(2 * i, 2) for i in range(16)] + [(32, 8)]
    r = estimate_rhythm(*play(eighths, 150))
    assert r.grid.bpm == pytest.approx(150, rel=0.01)
    assert onsets(r) == [2 * i for i in range(17)]
    # A trap the other way: a slow phrase of quarters and eighths is not doubled.
    r = estimate_rhythm(*play(FOUR, 70))
    assert r.grid.bpm == pytest.approx(70, rel=0.01) and r.pickup_steps == 2


def test_timing_spread_of_10_ms():
    for seed in range(5):
        on, off, pitches = play(FOUR, 90, spread_s=0.010, seed=seed)
        r = estimate_rhythm(on, off, pitches)
        assert r.grid.bpm == pytest.approx(90, rel=0.03)
        assert r.pickup_steps == 2 and onsets(r) == [14 + s for s, _ in FOUR]
        assert 2 < r.timing_error_ms < 25


def test_session_follows_a_drift_and_keeps_the_bar_lines():
    on, off, pitches = play(WALTZ, 120)
    first = estimate_rhythm(on, off, pitches)
    assert first.grid.signature == "3/4" and not first.continued
    # The next phrase starts four bars after the first one's downbeat, 3% faster, with a quarter pickup.
    bar_s = first.grid.bar_s
    second = [(0, 4)] + [(s + 4, n) for s, n in WALTZ]
    nxt_on, nxt_off, nxt_p = play(second, 120 * 1.03, start=first.grid.origin_s + 4 * bar_s - 4 * 60 / (120 * 1.03 * 4))
    r = estimate_rhythm(nxt_on, nxt_off, nxt_p, session=first.grid)
    assert r.continued and r.grid.signature == "3/4" and r.pickup_steps == 4
    assert r.grid.bpm == pytest.approx(123.6, rel=0.015)
    assert r.grid.origin_s == pytest.approx(first.grid.origin_s + 4 * bar_s, abs=0.03)
    assert onsets(r) == [8 + s for s, _ in second]


def test_session_takes_a_clear_tempo_change():
    first = estimate_rhythm(*play(FOUR, 90))
    on, off, pitches = play(POLKA, 140, start=first.grid.origin_s + 6 * first.grid.bar_s + 0.123)
    r = estimate_rhythm(on, off, pitches, session=first.grid)
    assert r.grid.bpm == pytest.approx(140, rel=0.02) and not r.continued
    assert onsets(r) == [s for s, _ in POLKA]


def test_prior_bpm_resolves_a_genuinely_ambiguous_phrase():
    quarters = [(4 * i, 4) for i in range(8)]  # even quarters at 120 or even eighths at 60
    on, off, pitches = play(quarters, 120)
    assert estimate_rhythm(on, off, pitches, prior_bpm=120).grid.bpm == pytest.approx(120, rel=0.01)
    assert estimate_rhythm(on, off, pitches, prior_bpm=60).grid.bpm == pytest.approx(60, rel=0.01)


def test_chords_and_single_notes_and_rhythm_bits():
    on, off, pitches = play(WALTZ, 120)
    chord_on = np.concatenate([on, on[:3] + 0.012])  # a lower voice a little late under three notes
    chord_off = np.concatenate([off, off[:3]])
    r = estimate_rhythm(chord_on, chord_off, list(pitches) + [40, 41, 42])
    assert onsets(r) == [s for s, _ in WALTZ] and min(n.pitch for n in r.notes) >= 60
    single = estimate_rhythm([2.0], [2.4], [60])
    assert len(single.notes) == 1 and single.pickup_steps == 0 and single.grid.origin_s == pytest.approx(2.0)
    seen = []

    def bits(notes, meter):
        seen.append((len(notes), meter[0][1]))
        return 0.0 if meter[0][1] == 12 else 50.0

    r = estimate_rhythm(*play(WALTZ, 120), rhythm_bits=bits, config=RhythmConfig(rhythm_bits_top=4))
    assert seen and all(n == len(WALTZ) for n, _ in seen) and r.grid.bar_steps == 12


def test_grid_helpers():
    g = Grid(bpm=120, origin_s=1.0, bar_steps=16, signature="4/4")
    assert g.step_s == pytest.approx(0.125) and g.bar_s == pytest.approx(2.0)
    assert g.position(1.5) == pytest.approx(4) and g.time_of(8) == pytest.approx(2.0)
    assert g.bar_line_after(1.0) == pytest.approx(1.0) and g.bar_line_after(1.0, strict=True) == pytest.approx(3.0)
    assert g.bar_line_after(0.2) == pytest.approx(1.0) and g.bar_line_after(3.01) == pytest.approx(5.0)
    with pytest.raises(ValueError):
        Grid(bpm=0, origin_s=0, bar_steps=16, signature="4/4")


@pytest.mark.parametrize("args", [
    ([1.0, 2.0], [1.5], [60, 62]),  # lengths differ
    ([], [], []),  # empty
    ([1.0, math.nan], [1.5, 2.5], [60, 62]),  # NaN
    ([-1.0, 2.0], [1.5, 2.5], [60, 62]),  # negative
    ([1.0, 2.0], [0.5, 2.5], [60, 62]),  # note-off before note-on
    ([1.0, 2.0], [1.5, 2.5], [60, 200]),  # not a MIDI pitch
])
def test_bad_input_raises(args):
    with pytest.raises(ValueError):
        estimate_rhythm(*args)
    with pytest.raises(ValueError):
        estimate_rhythm([1.0], [1.5], [60], prior_bpm=-3)


def test_phrase_end_tells_the_bar_length():
    # examples/call.mid: Eb G Bb Eb quarters, C Bb Ab G eighths, F Eb quarters at 120, played legato: the last
    # release lands on the bar line of two 4/4 bars (once heard as 3/4, the onsets alone being ambiguous).
    call = [(0, 4), (4, 4), (8, 4), (12, 4), (16, 2), (18, 2), (20, 2), (22, 2), (24, 4), (28, 4)]
    on, off, _ = play(call, 120, held=1.0)
    r = estimate_rhythm(on, off, [63, 67, 70, 75, 72, 70, 68, 67, 65, 63])
    assert (r.grid.signature, r.pickup_steps) == ("4/4", 0) and r.grid.bpm == pytest.approx(120, rel=0.01)
    assert onsets(r) == [s for s, _ in call]
    # Without the phrase-end and IOI terms the same onsets are heard in 3/4.
    r = estimate_rhythm(on, off, [63] * 10, config=RhythmConfig(use_ioi=False, end_weight=0, bars_cost=0))
    assert r.grid.signature == "3/4"


def test_velocity_accents_mark_the_downbeat():
    # Even eighths give no cue to where the bar lines are; louder notes every six eighths (on the 2nd note) do.
    eighths = [(2 * i, 2) for i in range(24)]
    on, off, pitches = play(eighths, 150, held=1.0)
    vel = [90 if i % 6 == 1 else 60 for i in range(24)]
    r = estimate_rhythm(on, off, pitches, velocities=vel)
    assert (r.grid.bar_steps, r.pickup_steps) == (12, 2) and r.grid.origin_s == pytest.approx(on[1], abs=0.005)
    flat = estimate_rhythm(on, off, pitches, velocities=[70] * 24)
    assert flat.grid == estimate_rhythm(on, off, pitches).grid  # flat velocities change nothing
    with pytest.raises(ValueError):
        estimate_rhythm(on, off, pitches, velocities=[70] * 23)


def test_two_four_yields_to_four_four_with_the_same_bar_lines_unless_clearly_better():
    # e | q e e q q | e e q h |: the tables (mostly Chinese 2/4 folk song) lean to 2/4, a player means 4/4.
    call = [(0, 2), (2, 4), (6, 2), (8, 2), (10, 4), (14, 4), (18, 2), (20, 2), (22, 4), (26, 8)]
    on, off, pitches = play(call, 90, held=0.85)
    r = estimate_rhythm(on, off, pitches)
    assert (r.grid.signature, r.pickup_steps) == ("4/4", 2) and r.grid.origin_s == pytest.approx(on[1], abs=0.005)
    plain = estimate_rhythm(on, off, pitches, config=RhythmConfig(prefer_common_nats=0))
    assert plain.grid.signature == "2/4" and plain.grid.origin_s == pytest.approx(r.grid.origin_s)
    assert onsets(r) == [14 + s for s, _ in call]


def test_end_grid_goes_on_at_the_tempo_the_phrase_ended_at():
    # FOUR played 6% faster at its end than at its start: the grid it hands on keeps the final tempo, so the
    # next bar lines fall where the player's do; the mean-tempo grid drifts away from them.
    drift, bpm, start = 0.06, 90.0, 1.0
    on, off, pitches = play(FOUR, bpm, start=start, drift=drift)
    r = estimate_rhythm(on, off, pitches)
    last = max(s + n for s, n in FOUR)
    p0 = 60.0 / (bpm * 4)
    slope = (1 / (1 + drift) - 1) / last
    end_period = p0 * (1 + slope * FOUR[-1][0])  # the step period at the last onset

    def player(step):  # the player's time of a step of FOUR: the drift until the last onset, then steady
        k = FOUR[-1][0]
        if step <= k:
            return start + p0 * (step + 0.5 * slope * step * step)
        return start + p0 * (k + 0.5 * slope * k * k) + (step - k) * end_period

    mean_period = p0 * (1 + slope * FOUR[-1][0] / 2)  # first to last onset
    assert r.grid.bpm == pytest.approx(60.0 / (mean_period * 4), rel=0.005)  # the mean tempo
    assert r.end_grid.bpm == pytest.approx(60.0 / (end_period * 4), rel=0.01)
    assert r.next_grid is r.end_grid and r.end_origin_step % 16 == 0
    # The end grid's origin is a bar line of the notes: step end_origin_step of FOUR's bar numbering (14 steps
    # of pickup bar before FOUR's step 0).
    assert r.end_grid.origin_s == pytest.approx(player(r.end_origin_step - 14), abs=0.003)
    two_bars_on = r.end_origin_step - 14 + 3 * 16  # a bar line two bars after the phrase's last one
    assert abs(r.end_grid.time_of(3 * 16) - player(two_bars_on)) < 0.005
    mean_line = r.grid.bar_line_after(player(two_bars_on) - 0.5 * r.grid.bar_s)
    assert abs(mean_line - player(two_bars_on)) > 0.03  # the mean tempo would be audibly off
    steady = estimate_rhythm(*play(FOUR, bpm, start=start))
    assert steady.end_grid.bpm == pytest.approx(steady.grid.bpm, rel=1e-3)


def test_a_session_heard_unsurely_yields_to_a_clear_phrase():
    # A waltz played on a 4/4 session grid at its tempo: a grid the player set (a count-in, trust 1) keeps its
    # meter; one heard from a single ambiguous phrase (trust 0.2) yields to the waltz's own 3/4.
    on, off, pitches = play(WALTZ, 120, start=10.0)
    alone = estimate_rhythm(on, off, pitches)
    assert alone.grid.signature == "3/4"
    session = Grid(120, alone.grid.origin_s - 4 * 2.0, 16, "4/4")
    kept = estimate_rhythm(on, off, pitches, session=session, session_trust=1.0)
    assert kept.grid.signature == "4/4" and kept.continued
    fixed = estimate_rhythm(on, off, pitches, session=session, session_trust=0.2)
    assert fixed.grid.signature == "3/4" and not fixed.continued
    assert fixed.grid.origin_s == pytest.approx(alone.grid.origin_s, abs=0.005)
    with pytest.raises(ValueError, match="session_trust"):
        estimate_rhythm(on, off, pitches, session=session, session_trust=1.5)


def test_a_cut_phrase_is_heard_without_its_end():
    # Legato eighths at 120, cut by the phrase-end controller on the downbeat of bar 3 while the player plays
    # on: its last note (released with the next one's onset) looks like the end of a phrase with an eighth's
    # pickup, and as an ended phrase it is heard that way. Cut, its end says nothing: heard from the first note.
    eighths = [(2 * i, 2) for i in range(17)]
    on, off, pitches = play(eighths, 120, held=1.0)
    pitches = [(60, 62, 64, 65, 67, 65, 64, 62)[i % 8] for i in range(17)]
    ended = estimate_rhythm(on, off, pitches)
    assert ended.pickup_steps == 2
    cut = estimate_rhythm(on, off, pitches, cut=True)
    assert (cut.grid.signature, cut.pickup_steps) == ("4/4", 0) and cut.grid.bpm == pytest.approx(120, rel=0.01)
    assert cut.grid.origin_s == pytest.approx(on[0], abs=0.005)


def test_the_tables_decide_a_half_double_trap():
    """A phrase of 16th-note figures at 70 bpm sounds exactly like the same figures in eighths at 140: only
    how tunes are written tells them apart. Tables counted on tunes written one way hear it that way."""
    figure = [0, 1, 2, 4, 6]  # a 2/4 bar of s s e e e; in 4/4 at double values, a bar of e e q q q
    bars = 8
    sixteenths = count_tables([("2/4", [8 * b + s for b in range(bars) for s in figure])] * 5)
    eighths = count_tables([("4/4", [16 * b + 2 * s for b in range(bars) for s in figure])] * 5)
    phrase = [(8 * b + s, 1 if s < 2 else 2) for b in range(2) for s in figure] + [(16, 8)]
    on, off, pitches = play(phrase, 70, spread_s=0.005, seed=3)
    slow = estimate_rhythm(on, off, pitches, config=RhythmConfig(tables=sixteenths))
    fast = estimate_rhythm(on, off, pitches, config=RhythmConfig(tables=eighths))
    assert slow.grid.bpm == pytest.approx(70, rel=0.04)
    assert fast.grid.bpm == pytest.approx(140, rel=0.04)
    assert onsets(fast) == [2 * s for s in onsets(slow)]
    with pytest.raises(ValueError, match="meter"):
        count_tables([("5/4", [0, 4])])
