"""Grid notes -> a one-part MusicXML score (standard library only), for MuseScore and friends.

Notes and rests are cut at bar lines and tied across them; a length no single written value can show (5 16ths)
becomes tied notes. The first bar is a pickup when the meter says so.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

from antiphon.engine.events import DEFAULT_BPM, OCTAVE, STEPS_PER_QUARTER, Note

_STEP_NAMES = ("C", "C", "D", "D", "E", "F", "F", "G", "G", "A", "A", "B")
_ALTERS = (0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1, 0)
# Written values in quarter notes, longest first, with their MusicXML type and dots.
_VALUES = ((4.0, "whole", 0), (3.0, "half", 1), (2.0, "half", 0), (1.5, "quarter", 1), (1.0, "quarter", 0),
           (0.75, "eighth", 1), (0.5, "eighth", 0), (0.375, "16th", 1), (0.25, "16th", 0), (0.125, "32nd", 0))
_DOCTYPE = ('<!DOCTYPE score-partwise PUBLIC "-//Recordare//DTD MusicXML 4.0 Partwise//EN" '
            '"http://www.musicxml.org/dtds/partwise.dtd">')


def _pieces(steps: int, steps_per_quarter: int) -> list[tuple[int, str, int]]:
    """Split ``steps`` into written values: [(steps, type, dots)], longest first; ``ValueError`` if none fits."""
    out = []
    left = steps
    while left > 0:
        for quarters, kind, dots in _VALUES:
            size = quarters * steps_per_quarter
            if size == int(size) and 0 < size <= left:
                out.append((int(size), kind, dots))
                left -= int(size)
                break
        else:
            raise ValueError(f"{steps} steps cannot be written at {steps_per_quarter} steps per quarter")
    return out


def _add_note(measure: ET.Element, pitch: int | None, steps: int, steps_per_quarter: int,
              tie_in: bool, tie_out: bool) -> None:
    """Append one sounding span inside a bar as tied written notes (a rest as rests)."""
    pieces = _pieces(steps, steps_per_quarter)
    for k, (size, kind, dots) in enumerate(pieces):
        element = ET.SubElement(measure, "note")
        if pitch is None:
            ET.SubElement(element, "rest")
        else:
            written = ET.SubElement(element, "pitch")
            ET.SubElement(written, "step").text = _STEP_NAMES[pitch % OCTAVE]
            if _ALTERS[pitch % OCTAVE]:
                ET.SubElement(written, "alter").text = "1"
            ET.SubElement(written, "octave").text = str(pitch // OCTAVE - 1)
        ET.SubElement(element, "duration").text = str(size)
        starts = pitch is not None and (tie_in or k > 0)
        stops = pitch is not None and (tie_out or k < len(pieces) - 1)
        if starts:
            ET.SubElement(element, "tie", type="stop")
        if stops:
            ET.SubElement(element, "tie", type="start")
        ET.SubElement(element, "type").text = kind
        for _ in range(dots):
            ET.SubElement(element, "dot")
        if starts or stops:
            notations = ET.SubElement(element, "notations")
            if starts:
                ET.SubElement(notations, "tied", type="stop")
            if stops:
                ET.SubElement(notations, "tied", type="start")


def write_musicxml(notes: Iterable[Note], path: str | os.PathLike[str], *, bpm: float = DEFAULT_BPM,
                   steps_per_quarter: int = STEPS_PER_QUARTER, beats: int = 4, beat_type: int = 4,
                   pickup_steps: int = 0, title: str = "Antiphon melody") -> Path:
    """Write notes and rests (gaps become rests) as a one-part score in ``beats/beat_type``; returns the path."""
    if steps_per_quarter <= 0 or not bpm > 0:
        raise ValueError(f"steps_per_quarter and bpm must be positive, got {steps_per_quarter} and {bpm}")
    bar_steps = beats * steps_per_quarter * 4 // beat_type
    if beats <= 0 or bar_steps <= 0 or bar_steps * beat_type != beats * steps_per_quarter * 4:
        raise ValueError(f"a bar of {beats}/{beat_type} does not fit {steps_per_quarter} steps per quarter")
    if not 0 <= pickup_steps < bar_steps:
        raise ValueError(f"pickup must be 0..{bar_steps - 1} steps, got {pickup_steps}")
    spans: list[tuple[int, int, int | None]] = []  # (start, end, pitch or None)
    cursor = 0
    for item in sorted(notes, key=lambda n: n.start_step):
        if item.start_step < cursor or item.length_steps <= 0:
            raise ValueError(f"note at step {item.start_step} overlaps the previous one or is empty")
        if item.start_step > cursor:
            spans.append((cursor, item.start_step, None))
        spans.append((item.start_step, item.end_step, item.pitch))
        cursor = item.end_step
    end = cursor
    first_bar = pickup_steps or bar_steps  # steps in bar 1
    bar_lines = [0, first_bar] + list(range(first_bar + bar_steps, end + bar_steps, bar_steps))
    if bar_lines[-1] < end:
        bar_lines.append(end)
    last = bar_lines[-1]
    if end < last:  # fill the last bar
        spans.append((end, last, None))

    root = ET.Element("score-partwise", version="4.0")
    ET.SubElement(ET.SubElement(root, "work"), "work-title").text = title
    part_list = ET.SubElement(root, "part-list")
    ET.SubElement(ET.SubElement(part_list, "score-part", id="P1"), "part-name").text = "Melody"
    part = ET.SubElement(root, "part", id="P1")
    first_number = 0 if pickup_steps else 1  # a pickup is bar 0
    for number, (bar_start, bar_end) in enumerate(zip(bar_lines[:-1], bar_lines[1:], strict=True), first_number):
        measure = ET.SubElement(part, "measure", number=str(number))
        if pickup_steps and number == 0:
            measure.set("implicit", "yes")
        if bar_start == 0:
            attributes = ET.SubElement(measure, "attributes")
            ET.SubElement(attributes, "divisions").text = str(steps_per_quarter)
            ET.SubElement(ET.SubElement(attributes, "key"), "fifths").text = "0"
            time = ET.SubElement(attributes, "time")
            ET.SubElement(time, "beats").text = str(beats)
            ET.SubElement(time, "beat-type").text = str(beat_type)
            clef = ET.SubElement(attributes, "clef")
            ET.SubElement(clef, "sign").text = "G"
            ET.SubElement(clef, "line").text = "2"
            direction = ET.SubElement(measure, "direction", placement="above")
            metronome = ET.SubElement(ET.SubElement(direction, "direction-type"), "metronome")
            ET.SubElement(metronome, "beat-unit").text = "quarter"
            ET.SubElement(metronome, "per-minute").text = f"{bpm:g}"
            ET.SubElement(direction, "sound", tempo=f"{bpm:g}")
        for start, stop, pitch in spans:
            lo, hi = max(start, bar_start), min(stop, bar_end)
            if hi > lo:
                _add_note(measure, pitch, hi - lo, steps_per_quarter, tie_in=lo > start, tie_out=hi < stop)
    path = Path(path)
    ET.indent(root)
    text = ET.tostring(root, encoding="unicode")
    path.write_text(f'<?xml version="1.0" encoding="UTF-8"?>\n{_DOCTYPE}\n{text}\n', encoding="utf-8")
    return path
