"""MIDI files written and read back (mido and music21), the one-voice rule, MusicXML, and the key finder."""

from __future__ import annotations

import mido
import pytest
from engine_helpers import PITCHES

from antiphon.engine.events import Note
from antiphon.engine.keyfind import (
    estimate_key,
    fold_into_vocab,
    key_name,
    notes_to_model_key,
    transposition_to_model_key,
)
from antiphon.engine.midifile import read_midi_notes, write_midi
from antiphon.engine.vocab import Vocab

# A phrase with a rest, a dotted note and a long note; steps of a 16th.
PHRASE = [Note(67, 0, 2), Note(67, 2, 2), Note(65, 4, 3), Note(None, 7, 1), Note(64, 8, 4), Note(62, 12, 8)]


def _pitched(notes):
    return [n for n in notes if n.pitch is not None]


def test_written_midi_reads_back_the_same_with_mido_and_music21(tmp_path):
    from music21 import converter

    path = write_midi(PHRASE, tmp_path / "phrase.mid", bpm=90)
    # mido, through the engine's reader and directly.
    assert read_midi_notes(path, trim_leading=False) == _pitched(PHRASE)
    midi = mido.MidiFile(path)
    tempo = next(m.tempo for m in midi if m.type == "set_tempo")
    assert mido.tempo2bpm(tempo) == pytest.approx(90)
    assert [m.note for m in midi if m.type == "note_on" and m.velocity > 0] == [67, 67, 65, 64, 62]
    # music21, independently (it splits notes at bar lines with ties: join them back).
    score = converter.parse(str(path))
    got = [Note(n.pitch.midi, round(float(n.offset) * 4), round(float(n.quarterLength) * 4))
           for n in score.flatten().stripTies().notes]
    assert got == _pitched(PHRASE)


def test_reading_quantises_and_keeps_the_highest_voice(tmp_path):
    midi = mido.MidiFile(ticks_per_beat=96)  # a 16th is 24 ticks
    melody, bass = mido.MidiTrack(), mido.MidiTrack()
    midi.tracks += [melody, bass]
    # Melody (slightly off the grid): 72 for a quarter, 74 for an eighth, 76 for an eighth.
    for pitch, on, off in ((72, 5, 93), (74, 98, 142), (76, 146, 190)):
        melody.append(mido.Message("note_on", note=pitch, velocity=90, time=0))
        melody[-1].time = on - sum(m.time for m in melody[:-1])
        melody.append(mido.Message("note_off", note=pitch, velocity=0, time=off - on))
    # Bass: 48 from tick 0 for a half note (under the melody), then 79 above everything at tick 192.
    bass.append(mido.Message("note_on", note=48, velocity=60, time=0))
    bass.append(mido.Message("note_off", note=48, velocity=0, time=192))
    bass.append(mido.Message("note_on", note=79, velocity=60, time=0, channel=1))
    bass.append(mido.Message("note_off", note=79, velocity=0, time=24, channel=1))
    drums = mido.MidiTrack([mido.Message("note_on", note=90, velocity=100, channel=9, time=0),
                            mido.Message("note_off", note=90, velocity=0, channel=9, time=24)])
    midi.tracks.append(drums)
    path = tmp_path / "poly.mid"
    midi.save(path)
    notes = read_midi_notes(path)
    # 72 wins over the bass at step 0; 74 at step 4; 76 at step 6; 79 at step 8; the drum is ignored.
    assert notes == [Note(72, 0, 4), Note(74, 4, 2), Note(76, 6, 2), Note(79, 8, 1)]


def test_a_lower_note_under_a_sounding_melody_note_is_dropped():
    from antiphon.engine.midifile import highest_voice

    assert highest_voice([(0, 8, 72), (2, 4, 60), (8, 10, 71)]) == [Note(72, 0, 8), Note(71, 8, 2)]
    # A higher note starting under a sounding one cuts it.
    assert highest_voice([(0, 8, 60), (4, 6, 72), (4, 6, 64)]) == [Note(60, 0, 4), Note(72, 4, 2)]


def test_bad_midi_files_are_refused(tmp_path):
    garbage = tmp_path / "garbage.mid"
    garbage.write_bytes(b"MThd\x00\x00\x00\x06garbage")
    with pytest.raises(ValueError, match="garbage.mid"):
        read_midi_notes(garbage)
    empty = tmp_path / "empty.mid"
    mido.MidiFile().save(empty)
    with pytest.raises(ValueError, match="no notes"):
        read_midi_notes(empty)
    with pytest.raises(ValueError, match="bpm"):
        write_midi(PHRASE, tmp_path / "x.mid", bpm=0)


def test_musicxml_export_opens_in_music21(tmp_path):
    from music21 import converter

    from antiphon.engine.musicxml import write_musicxml

    path = write_musicxml(PHRASE + [Note(60, 22, 5)], tmp_path / "phrase.musicxml")
    score = converter.parse(str(path))
    notes = score.flatten().notes.stream().stripTies()
    got = [Note(n.pitch.midi, round(float(n.offset) * 4), round(float(n.quarterLength) * 4)) for n in notes]
    assert got == _pitched(PHRASE) + [Note(60, 22, 5)]


def _scale_notes(pitches):
    """Up and down the scale, tonic held longer at both ends."""
    line = pitches + pitches[-2::-1]
    return [(p, 4 if i in (0, len(line) - 1) else 2) for i, p in enumerate(line)]


def test_key_finder_on_e_flat_major_and_f_sharp_minor():
    e_flat_major = [63, 65, 67, 68, 70, 72, 74, 75]
    f_sharp_minor = [66, 68, 69, 71, 73, 74, 76, 78]  # natural minor: A major's pitch classes
    assert estimate_key(_scale_notes(e_flat_major)) == (3, "major")
    assert estimate_key(_scale_notes(f_sharp_minor)) == (6, "minor")
    assert key_name(3, "major") == "E- major"
    with pytest.raises(ValueError, match="no notes"):
        estimate_key([])


@pytest.mark.parametrize("tonic, mode, shift", [(3, "major", -3), (6, "minor", 3), (11, "major", 1),
                                                (6, "major", 6), (7, "major", 5), (9, "minor", 0),
                                                (2, "minor", -5)])
def test_transposition_to_model_key(tonic, mode, shift):
    assert transposition_to_model_key(tonic, mode) == shift
    assert -5 <= shift <= 6
    target = 0 if mode == "major" else 9
    assert (tonic + shift) % 12 == target


def test_transposition_rejects_bad_keys():
    with pytest.raises(ValueError, match="'dorian'"):
        transposition_to_model_key(0, "dorian")
    with pytest.raises(ValueError, match="12"):
        transposition_to_model_key(12, "major")


def test_a_call_in_e_flat_is_encoded_in_c_major_and_folded_into_the_vocabulary():
    vocab = Vocab.build(PITCHES)  # 60..76
    lengths = [4, 2, 2, 2, 2, 2, 2, 4]
    starts = [sum(lengths[:i]) for i in range(len(lengths))]
    call = [Note(p, s, n) for p, s, n in zip([63, 65, 67, 68, 70, 72, 74, 87], starts, lengths, strict=True)]
    symbols, semitones, key = notes_to_model_key(call, vocab)
    assert key == (3, "major") and semitones == -3
    # 87 - 3 = 84 is outside 60..76: folded down an octave to 72.
    assert [s for s in symbols if s.isdigit()] == ["60", "62", "64", "65", "67", "69", "71", "72"]
    assert fold_into_vocab(["40", "r", "_", "96"], vocab) == ["64", "r", "_", "72"]
