"""The call listener: quantising to the grid from the first note, one voice, rests and the phrase-end rule."""

from __future__ import annotations

import pytest

from antiphon.daemon.phrase import CallListener
from antiphon.engine.events import Note
from antiphon.engine.melody import encode_notes


def test_onsets_quantise_to_the_nearest_step_from_the_first_note():
    listener = CallListener(phrase_end_steps=16)
    anchor = 7.3  # the first note falls between grid steps: it defines call step 0
    played = [(60, 0.0, 3.8), (62, 4.4, 7.6), (64, 7.7, 8.4), (65, 12.2, 15.9)]  # (pitch, on, off) in steps
    for pitch, on, off in played:
        listener.note_on(pitch, 80, anchor + on)
        listener.note_off(pitch, anchor + off)
    call = listener.finish(100)
    assert call.notes == (Note(60, 0, 4), Note(62, 4, 4), Note(64, 8, 1), Note(65, 12, 4))
    assert call.length_steps == 16
    assert call.mean_velocity == 80


def test_rests_between_notes_and_minimum_length():
    listener = CallListener(phrase_end_steps=16)
    listener.note_on(67, 100, 0.0)
    listener.note_off(67, 0.1)  # a staccato blip still lasts one step
    listener.note_on(69, 60, 6.0)
    listener.note_off(69, 8.0)
    call = listener.finish(40)
    assert encode_notes(call.notes) == ["67", "r", "_", "_", "_", "_", "69", "_"]
    assert call.mean_velocity == 80


def test_one_voice_is_the_highest_note():
    listener = CallListener(phrase_end_steps=16)
    for pitch in (60, 64, 67):  # a chord: its top note is the melody
        listener.note_on(pitch, 80, 0.1 * (pitch - 60) / 7)
    for pitch in (60, 64, 67):
        listener.note_off(pitch, 4.0)
    listener.note_on(72, 80, 4.0)  # a high note held over...
    listener.note_on(65, 80, 6.0)  # ...a lower note started under it: dropped
    listener.note_off(65, 7.0)
    listener.note_off(72, 8.0)
    listener.note_on(62, 80, 8.0)
    listener.note_off(62, 10.0)
    call = listener.finish(30)
    assert call.notes == (Note(67, 0, 4), Note(72, 4, 4), Note(62, 8, 2))
    assert call.played_notes == 6


def test_phrase_ends_after_n_silent_steps_not_while_a_key_is_down():
    listener = CallListener(phrase_end_steps=16)
    assert not listener.is_ended(100)  # nothing heard yet
    listener.note_on(60, 80, 0.0)
    assert not listener.is_ended(40)  # a long held note is not silence
    listener.note_off(60, 40.2)
    assert listener.silent_steps(50) == 10
    assert not listener.is_ended(55)
    assert listener.is_ended(56)
    listener.note_on(62, 80, 55.5)  # a note just in time continues the phrase
    listener.note_off(62, 57.0)
    assert not listener.is_ended(72)
    assert listener.is_ended(73)
    call = listener.finish(73)
    assert call.notes == (Note(60, 0, 40), Note(62, 56, 1))
    assert encode_notes(call.notes)[40:] == ["r"] + ["_"] * 15 + ["62"]
    assert not listener.active


def test_phrase_end_controller_and_maximum_length():
    listener = CallListener(phrase_end_steps=16, max_steps=32)
    listener.note_on(60, 80, 0.0)
    assert not listener.is_ended(1)
    listener.end_now()
    assert listener.is_ended(1)
    listener.reset()
    listener.note_on(60, 80, 0.0)
    assert not listener.is_ended(31)
    assert listener.is_ended(32)  # held too long: the call is cut at its maximum
    assert listener.finish(32).notes == (Note(60, 0, 32),)


def test_stray_note_offs_and_restrikes():
    listener = CallListener(phrase_end_steps=4)
    listener.note_off(60, 0.0)  # before any phrase: ignored
    assert not listener.active
    listener.note_on(60, 80, 0.0)
    listener.note_on(60, 80, 2.0)  # struck again without a release
    listener.note_off(61, 3.0)  # never pressed: ignored
    listener.note_off(60, 3.0)
    assert listener.finish(20).notes == (Note(60, 0, 2), Note(60, 2, 1))


def test_bad_settings():
    with pytest.raises(ValueError, match="phrase_end_steps"):
        CallListener(phrase_end_steps=0)


def test_all_notes_off_from_the_keyboard_releases_every_held_key():
    listener = CallListener(phrase_end_steps=4)
    listener.note_on(60, 80, 0.0)
    listener.note_on(64, 80, 1.0)
    listener.release_all(3.0)  # CC 123: the note-offs will never come
    assert not listener.sounding
    assert not listener.is_ended(6)
    assert listener.is_ended(7)  # four silent steps after the release, as after note-offs
    assert listener.finish(7).notes == (Note(60, 0, 1), Note(64, 1, 2))
