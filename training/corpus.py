"""Corpus files -> songs -> filtered, transposed, encoded melodies (the only music21 user in training).

Each work item is one song source: a tune of a multi-tune ABC file, or a whole file of another format.
``process_item`` is a pure function of the item's text or bytes and the settings, so it can run in any
process and its result can be cached by content hash.

Melody rule for polyphonic input: the first part in score order that has notes (the top staff of a ``.krn``
score, the first track of a MIDI file); within it one voice, the highest sounding pitch at every grid step
(chords give their top note); a note starts where its pitch starts sounding or takes over the top voice.
Tied notes merge into one. Grace notes are ignored.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from antiphon.engine.events import DEFAULT_ACCEPTED_DURATIONS, MIDI_PITCH_MAX, MIDI_PITCH_MIN, STEPS_PER_QUARTER, Note
from antiphon.engine.keyfind import MAJOR, MINOR, key_name, transposition_to_model_key
from antiphon.engine.melody import encode_notes
from antiphon.engine.midifile import open_midi

SUFFIXES = {".krn": "humdrum", ".abc": "abc", ".mid": "midi", ".midi": "midi", ".xml": "musicxml",
            ".musicxml": "musicxml", ".mxl": "musicxml"}
DEFAULT_CORPUS = "essenFolksong/erk*"

# Skip reasons, as counted in the report.
UNREADABLE = "unreadable"
DURATION = "unaccepted_duration"
NO_MELODY = "no_melody"
OFF_GRID = "off_grid"
OUT_OF_RANGE = "out_of_range"
TOO_LARGE = "too_large"
SKIP_REASONS = (UNREADABLE, DURATION, NO_MELODY, OFF_GRID, OUT_OF_RANGE, TOO_LARGE)
# A MIDI file longer than this (in quarter notes; ~2.3 h at 120 bpm) is treated as corrupt: a damaged
# delta time can claim millions of beats, and music21 would then build measures for hours.
MAX_MIDI_QUARTERS = 16_384
# The largest score in music21's corpus is ~1.3 MB; a bigger file is more likely junk than a song collection.
DEFAULT_MAX_FILE_BYTES = 32 * 1024 * 1024

_TUNE_START = re.compile(r"(?m)^(?=X:)")


@dataclass(frozen=True)
class Settings:
    """What decides an encoded song: grid resolution and the accepted note/rest durations (quarter lengths)."""

    accepted_durations: tuple[float, ...] = DEFAULT_ACCEPTED_DURATIONS
    steps_per_quarter: int = STEPS_PER_QUARTER

    def fingerprint(self) -> str:
        text = f"v2|{sorted(self.accepted_durations)}|{self.steps_per_quarter}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Item:
    """One unit of work: a song source. ``data`` holds the tune text (ABC) or the file bytes."""

    source: str  # display path of the file
    number: int | None  # tune number within a multi-tune file, else None
    format: str
    data: bytes = field(repr=False)

    @property
    def key(self) -> str:
        return hashlib.sha256(self.format.encode() + b"\0" + self.data).hexdigest()

    @property
    def name(self) -> str:
        return self.source if self.number is None else f"{self.source}#{self.number}"


def music21_corpus_dir() -> Path:
    """The folder of music21's bundled corpus, found without importing music21."""
    spec = importlib.util.find_spec("music21")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError("music21 is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "corpus"


def resolve_sources(inputs: list[str] | None) -> tuple[list[Path], list[str]]:
    """Files to read from paths, folders or bundled corpus names; returns (files, names as given).

    A name that is not a path is looked up in music21's corpus: ``essenFolksong`` (a folder),
    ``essenFolksong/erk*`` (a glob), or ``palestrina/Agnus_01.krn``. No input means the default ``erk`` corpus.
    """
    names = list(inputs) if inputs else [DEFAULT_CORPUS]
    files: list[Path] = []
    for name in names:
        path = Path(name)
        if not path.exists():
            bundled = music21_corpus_dir()
            matches = sorted(bundled.glob(name))
            if not matches:
                raise ValueError(f"no such file, folder or bundled corpus: {name!r}")
            candidates = matches
        else:
            candidates = [path]
        for candidate in candidates:
            if candidate.is_dir():
                files.extend(p for p in sorted(candidate.rglob("*"))
                             if p.is_file() and p.suffix.lower() in SUFFIXES)
            else:
                files.append(candidate)
    return files, names


def split_items(path: Path) -> list[Item]:
    """Read one file into work items; a multi-tune ABC file gives one item per tune (header prepended)."""
    data = path.read_bytes()
    fmt = SUFFIXES.get(path.suffix.lower(), "unknown")
    if fmt != "abc":
        return [Item(str(path), None, fmt, data)]
    text = data.decode("latin-1")
    chunks = _TUNE_START.split(text)
    header, tunes = chunks[0], chunks[1:]
    if not tunes:
        return [Item(str(path), None, fmt, data)]
    return [Item(str(path), number, fmt, (header + tune).encode("latin-1"))
            for number, tune in enumerate(tunes, start=1)]


def _accepted(quarter_length: Fraction | float, accepted: tuple[float, ...]) -> bool:
    return any(abs(float(quarter_length) - a) < 1e-6 for a in accepted)


def _to_step(offset: Fraction | float, steps_per_quarter: int) -> int | None:
    value = Fraction(offset).limit_denominator(10_000) * steps_per_quarter
    return int(value) if value.denominator == 1 else None


def _parse(item: Item) -> Any:
    from music21 import converter

    if item.format == "abc":
        return converter.parseData(item.data.decode("latin-1"), format="abc")
    conv = converter.Converter()
    suffix = Path(item.source).suffix
    if item.format == "unknown":
        raise ValueError(f"unknown file type {suffix!r}")
    if item.format == "midi":
        _check_midi(item.data)
    # Parse from the file itself, never through music21's pickle cache.
    conv.parseFile(item.source, format=item.format, forceSource=True, storePickle=False)
    return conv.stream


def _check_midi(data: bytes) -> None:
    """Read a MIDI file with mido first and refuse an implausibly long one before music21 sees it."""
    midi = open_midi(data)
    longest = max((sum(message.time for message in track) for track in midi.tracks), default=0)
    quarters = longest / midi.ticks_per_beat
    if quarters > MAX_MIDI_QUARTERS:
        raise ValueError(f"implausibly long MIDI file: {quarters:.0f} quarter notes")


def _scores(parsed: Any) -> list[Any]:
    from music21 import stream

    if isinstance(parsed, stream.Opus):
        return list(parsed.scores)
    return [parsed]


def _melody_part(score: Any) -> Any | None:
    parts = list(getattr(score, "parts", []))
    for part in parts or [score]:
        if any(True for _ in part.recurse().notes):
            return part
    return None


def extract_song(score: Any, settings: Settings) -> dict[str, Any]:
    """One music21 score -> a result dict: encoded symbols, key and transposition, or a skip reason."""
    part = _melody_part(score)
    if part is None:
        return {"status": "skipped", "reason": NO_MELODY, "detail": "no notes"}
    flat = part.flatten()
    sounding: list[tuple[int, int, int, bool]] = []  # (start_step, end_step, pitch, tie_continues)
    total_steps = 0
    for element in flat.notesAndRests:
        quarter_length = element.duration.quarterLength
        if quarter_length == 0:
            continue  # grace note
        if not _accepted(quarter_length, settings.accepted_durations):
            return {"status": "skipped", "reason": DURATION, "detail": f"duration {float(quarter_length):g}"}
        start = _to_step(element.offset, settings.steps_per_quarter)
        length = _to_step(quarter_length, settings.steps_per_quarter)
        if start is None or length is None:
            return {"status": "skipped", "reason": OFF_GRID, "detail": f"offset {float(element.offset):g}"}
        total_steps = max(total_steps, start + length)
        if element.isRest:
            continue
        pitch = max(p.midi for p in element.pitches)
        tie = element.tie is not None and element.tie.type in ("stop", "continue")
        sounding.append((start, start + length, pitch, tie))
    if not sounding:
        return {"status": "skipped", "reason": NO_MELODY, "detail": "only rests"}
    notes = _skyline(sounding, total_steps)
    key = _analyse_key(part)
    shift = transposition_to_model_key(*key)
    pitches = [n.pitch for n in notes if n.pitch is not None]
    if min(pitches) + shift < MIDI_PITCH_MIN or max(pitches) + shift > MIDI_PITCH_MAX:
        return {"status": "skipped", "reason": OUT_OF_RANGE, "detail": "transposed pitch leaves 0..127"}
    shifted = [Note(None if n.pitch is None else n.pitch + shift, n.start_step, n.length_steps) for n in notes]
    title = score.metadata.title if score.metadata is not None and score.metadata.title else ""
    return {"status": "kept", "symbols": encode_notes(shifted), "title": title, "meter": _meter(part, settings),
            "key": key_name(*key), "transpose": shift}


def _skyline(sounding: list[tuple[int, int, int, bool]], total_steps: int) -> list[Note]:
    top: list[int | None] = [None] * total_steps
    onset = [False] * total_steps
    for start, end, pitch, tie in sounding:
        for step in range(start, end):
            if top[step] is None or pitch > top[step]:
                top[step] = pitch
                onset[step] = step == start and not tie
            elif pitch == top[step] and step == start and not tie:
                onset[step] = True
    notes: list[Note] = []
    for step, pitch in enumerate(top):
        previous = top[step - 1] if step else -1
        if step == 0 or pitch != previous or (pitch is not None and onset[step]):
            notes.append(Note(pitch, step, 1))
        else:
            last = notes[-1]
            notes[-1] = Note(last.pitch, last.start_step, last.length_steps + 1)
    # A leading or trailing rest carries no melody; drop the trailing one only (a pickup rest is timing).
    if notes and notes[-1].pitch is None:
        notes.pop()
    return notes


def _meter(part: Any, settings: Settings) -> list[list[int]]:
    """Meter segments ``[start_step, bar_steps, position_at_start]`` from the part's measures (see engine.meter)."""
    segments: list[list[int]] = []
    current = None
    for measure in part.getElementsByClass("Measure"):
        signature = measure.timeSignature or current
        if signature is None:
            found = part.recurse().getElementsByClass("TimeSignature")
            signature = found[0] if found else None
        if signature is None:
            return []
        current = signature
        bar = _to_step(signature.barDuration.quarterLength, settings.steps_per_quarter)
        start = _to_step(measure.offset, settings.steps_per_quarter)
        position = _to_step(measure.paddingLeft, settings.steps_per_quarter) or 0
        if bar is None or start is None or bar <= 0 or not 0 <= position < bar:
            return []
        if segments:
            last_start, last_bar, last_position = segments[-1]
            if last_bar == bar and (last_position + start - last_start) % bar == position:
                continue  # the running bar grid already puts this measure where it is
        segments.append([start, bar, position])
    return segments


def _analyse_key(part: Any) -> tuple[int, str]:
    key = part.analyze("key")
    return key.tonic.pitchClass, (MINOR if key.mode == MINOR else MAJOR)


def process_item(item: Item, settings: Settings) -> list[dict[str, Any]]:
    """Parse one item and return one result per song in it; never raises."""
    try:
        parsed = _parse(item)
        scores = _scores(parsed)
    except Exception as err:  # music21 raises many types on bad input; a bad file is a counted skip
        return [{"status": "skipped", "reason": UNREADABLE, "detail": f"{type(err).__name__}: {err}"[:300]}]
    if not scores:
        return [{"status": "skipped", "reason": NO_MELODY, "detail": "no scores"}]
    results = []
    for score in scores:
        try:
            results.append(extract_song(score, settings))
        except Exception as err:  # e.g. key analysis failing on odd content
            results.append({"status": "skipped", "reason": UNREADABLE, "detail": f"{type(err).__name__}: {err}"[:300]})
    return results
