"""MusicXML export of grid notes through music21 (imported inside the function), for MuseScore and friends."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from engine.events import DEFAULT_BPM, STEPS_PER_QUARTER, Note


def write_musicxml(notes: Iterable[Note], path: str | os.PathLike[str], *, bpm: float = DEFAULT_BPM,
                   steps_per_quarter: int = STEPS_PER_QUARTER, title: str = "Antiphon melody") -> Path:
    """Write notes and rests as a one-part MusicXML score in 4/4 (music21 splits and ties across bars)."""
    from music21 import metadata, meter, note, stream, tempo

    if steps_per_quarter <= 0:
        raise ValueError(f"steps_per_quarter must be positive, got {steps_per_quarter}")
    part = stream.Part()
    part.append(tempo.MetronomeMark(number=bpm))
    part.append(meter.TimeSignature("4/4"))
    cursor = 0
    for item in sorted(notes, key=lambda n: n.start_step):
        if item.start_step < cursor:
            raise ValueError(f"note at step {item.start_step} overlaps the previous one (ends at {cursor})")
        if item.start_step > cursor:
            part.append(note.Rest(quarterLength=(item.start_step - cursor) / steps_per_quarter))
        length = item.length_steps / steps_per_quarter
        if item.is_rest:
            part.append(note.Rest(quarterLength=length))
        else:
            part.append(note.Note(item.pitch, quarterLength=length))
        cursor = item.end_step
    score = stream.Score()
    score.metadata = metadata.Metadata(title=title)
    score.insert(0, part)
    path = Path(path)
    score.write("musicxml", fp=str(path))
    return path
