"""Corpus loading, filtering, transposition and encoding on real music21 input."""

from pathlib import Path

import mido
import pytest

from antiphon.engine.events import DEFAULT_ACCEPTED_DURATIONS
from antiphon.engine.keyfind import transposition_to_model_key
from antiphon.training.corpus import (
    DURATION,
    NO_MELODY,
    UNREADABLE,
    Item,
    Settings,
    process_item,
    resolve_sources,
    split_items,
)


def abc_item(body: str, number: int = 1) -> Item:
    return Item("test.abc", number, "abc", body.encode("latin-1"))


def only(results):
    assert len(results) == 1
    return results[0]


def test_quarter_note_on_63_is_63_hold_hold_hold():
    # A single quarter-note D#4 (MIDI 63) in C major stays where it is only if the key analysis says C;
    # so check the encoding before transposition via the transpose field.
    result = only(process_item(abc_item("X:1\nM:4/4\nL:1/4\nK:C\n^D|\n"), Settings()))
    assert result["status"] == "kept"
    pitch = 63 + result["transpose"]
    assert result["symbols"] == [str(pitch), "_", "_", "_"]


@pytest.mark.parametrize("key_line, tonic_pc, mode, shift", [
    ("K:E", 4, "major", -4),
    ("K:F#m", 6, "minor", 3),
    ("K:B", 11, "major", 1),
    ("K:Bb", 10, "major", 2),
])
def test_songs_are_transposed_to_c_major_or_a_minor(key_line, tonic_pc, mode, shift):
    assert transposition_to_model_key(tonic_pc, mode) == shift
    # An arpeggio-heavy tune that leaves no doubt about its key.
    from music21 import key as m21key
    k = m21key.Key(key_line[2:].replace("m", "").replace("b", "-").lower() if mode == "minor"
                   else key_line[2:].replace("b", "-"))
    scale = [p.nameWithOctave for p in k.getScale().getPitches(f"{k.tonic.name}4", f"{k.tonic.name}5")]
    from music21 import note, stream
    part = stream.Part()
    tonic_triad = [k.pitchFromDegree(d) for d in (1, 3, 5)]
    for p in scale + [tonic_triad[0].name + "4", tonic_triad[1].name + "4", tonic_triad[2].name + "4"] * 3:
        part.append(note.Note(p, quarterLength=1))
    part.append(note.Note(tonic_triad[0].name + "4", quarterLength=4))
    from antiphon.training.corpus import extract_song
    result = extract_song(stream.Score([part]), Settings())
    assert result["status"] == "kept"
    assert result["transpose"] == shift
    assert result["key"].endswith(mode)
    original = [n.pitch.midi for n in part.notes]
    encoded = [int(s) for s in result["symbols"] if s.isdigit()]
    assert encoded == [p + shift for p in original]
    # The transposed melody ends on C (major) or A (minor).
    assert encoded[-1] % 12 == (0 if mode == "major" else 9)


def test_duration_filter_drops_unaccepted_and_keeps_when_configured():
    tune = "X:1\nM:6/4\nL:1/4\nK:C\nC2 E2 G2 | c6 |\n"  # a dotted whole note: 6 quarters
    result = only(process_item(abc_item(tune), Settings()))
    assert result == {"status": "skipped", "reason": DURATION, "detail": "duration 6"}
    wider = Settings(accepted_durations=DEFAULT_ACCEPTED_DURATIONS + (6.0,))
    kept = only(process_item(abc_item(tune), wider))
    assert kept["status"] == "kept"
    assert len(kept["symbols"]) == 2 * 6 * 4  # two bars of 6/4 in 16ths


def test_ties_merge_and_rests_encode():
    tune = "X:1\nM:4/4\nL:1/4\nK:C\nC- C z E | G4 |\n"
    result = only(process_item(abc_item(tune), Settings()))
    assert result["status"] == "kept"
    shift = result["transpose"]
    c, e, g = (str(p + shift) for p in (60, 64, 67))
    assert result["symbols"] == [c] + ["_"] * 7 + ["r", "_", "_", "_", e, "_", "_", "_", g] + ["_"] * 15


def test_real_erk_songs_from_music21():
    files, names = resolve_sources(["essenFolksong/erk5.abc"])
    assert names == ["essenFolksong/erk5.abc"] and len(files) == 1
    items = split_items(files[0])
    assert len(items) > 3 and all(i.number for i in items)
    for item in items[:3]:
        result = only(process_item(item, Settings()))
        assert result["status"] == "kept"
        assert result["key"] in ("C major", "A minor") or result["transpose"] != 0
        symbols = result["symbols"]
        assert symbols[0].isdigit() or symbols[0] == "r"
        assert set(symbols) <= {"r", "_"} | {str(p) for p in range(128)}


def test_multi_tune_abc_file_is_many_songs(tmp_path):
    path = tmp_path / "three.abc"
    path.write_text("% header\n\n" + "".join(
        f"X:{n}\nT:Tune {n}\nM:2/4\nL:1/8\nK:G\nG2 B2 | d4 |\n\n" for n in (1, 2, 3)))
    items = split_items(path)
    assert [i.number for i in items] == [1, 2, 3]
    results = [only(process_item(i, Settings())) for i in items]
    assert [r["title"] for r in results] == ["Tune 1", "Tune 2", "Tune 3"]
    assert all(r["status"] == "kept" for r in results)


def test_real_krn_score_yields_its_top_voice():
    files, _ = resolve_sources(["palestrina/Agnus_01.krn"])
    item = split_items(files[0])[0]
    assert item.format == "humdrum"
    # Renaissance note values (breves) are outside the default set: skipped with that reason.
    assert only(process_item(item, Settings()))["reason"] == DURATION
    wide = Settings(accepted_durations=DEFAULT_ACCEPTED_DURATIONS + (6.0, 8.0, 12.0, 16.0))
    result = only(process_item(item, wide))
    assert result["status"] == "kept"
    from music21 import converter
    score = converter.parse(files[0], forceSource=True)
    top = score.parts[0]
    first_pitch = next(iter(top.recurse().notes)).pitch.midi
    first_symbol = next(s for s in result["symbols"] if s.isdigit())
    assert int(first_symbol) == first_pitch + result["transpose"]


def test_midi_file_with_chords_gives_the_highest_note(tmp_path):
    path = tmp_path / "chords.mid"
    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    # C major triad (quarter), then a single D (quarter), then a G-B dyad (half).
    events = [([60, 64, 67], 480), ([62], 480), ([67, 71], 960)]
    for pitches, ticks in events:
        for p in pitches:
            track.append(mido.Message("note_on", note=p, velocity=80, time=0))
        for i, p in enumerate(pitches):
            track.append(mido.Message("note_off", note=p, velocity=0, time=ticks if i == 0 else 0))
    mid.save(path)
    item = split_items(path)[0]
    assert item.format == "midi"
    result = only(process_item(item, Settings()))
    assert result["status"] == "kept"
    shift = result["transpose"]
    assert result["symbols"] == [str(67 + shift), "_", "_", "_", str(62 + shift), "_", "_", "_",
                                 str(71 + shift)] + ["_"] * 7


@pytest.mark.parametrize("name, content", [
    ("garbage.mid", bytes(range(256)) * 4),
    ("empty.krn", b""),
    ("broken.xml", b"<score-partwise><part><measure><note><pitch>"),
    ("noise.abc", b"\x00\xff\xfe garbage"),
])
def test_bad_files_are_skipped_with_a_reason(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    results = [r for item in split_items(path) for r in process_item(item, Settings())]
    assert results and all(r["status"] == "skipped" for r in results)
    assert all(r["reason"] in (UNREADABLE, NO_MELODY) for r in results)


def test_unknown_source_name_is_a_clear_error():
    with pytest.raises(ValueError, match="no such file, folder or bundled corpus: 'nope/xyz'"):
        resolve_sources(["nope/xyz"])


def test_default_corpus_is_the_bundled_erk_songs():
    files, names = resolve_sources(None)
    assert names == ["essenFolksong/erk*"]
    assert sorted(Path(f).name for f in files) == ["erk10.abc", "erk20.abc", "erk30.abc", "erk5.abc"]
