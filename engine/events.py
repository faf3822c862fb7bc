"""Grid and symbol constants shared by training, engine and daemon."""

from __future__ import annotations

from dataclasses import dataclass

STEPS_PER_QUARTER = 4  # 16th-note grid
DEFAULT_SEQUENCE_LENGTH = 64  # steps of context, and length of the delimiter run between songs
DEFAULT_BPM = 120.0
TEMPO_RANGE_BPM = (20.0, 400.0)  # tempi a grid may take; outside it a tempo is a mistake (or a stalled clock)
DEFAULT_TOP_P = 0.97  # the sampler's nucleus shares (engine/sampler.py), here so the CLI needs no numpy:
DEFAULT_ONSET_TOP_P = 0.85  # over everything, and over what to play when a note or rest starts

REST = "r"
HOLD = "_"
DELIMITER = "/"
SPECIAL_SYMBOLS = (REST, HOLD, DELIMITER)

MIDI_PITCH_MIN = 0
MIDI_PITCH_MAX = 127
OCTAVE = 12  # semitones

# Quarter lengths a song may use and still be kept (the report's accepted set).
DEFAULT_ACCEPTED_DURATIONS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)


@dataclass(frozen=True, slots=True)
class Note:
    """One note or rest on the step grid.

    ``pitch`` is a MIDI number, or ``None`` for a rest; ``start_step`` and ``length_steps`` count grid steps.
    """

    pitch: int | None
    start_step: int
    length_steps: int

    @property
    def end_step(self) -> int:
        return self.start_step + self.length_steps

    @property
    def is_rest(self) -> bool:
        return self.pitch is None


def is_pitch_symbol(symbol: str) -> bool:
    """True for a MIDI pitch symbol such as ``"60"``."""
    return symbol.isdigit() and MIDI_PITCH_MIN <= int(symbol) <= MIDI_PITCH_MAX


def is_onset_symbol(symbol: str) -> bool:
    """True where a note or a rest starts (a pitch or ``r``)."""
    return symbol == REST or is_pitch_symbol(symbol)
