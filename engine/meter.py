"""Position in the bar of every grid step, from a song's meter segments.

A meter is a list of segments ``[start_step, bar_steps, position_at_start]``: from ``start_step`` on, bars are
``bar_steps`` long and ``start_step`` lies ``position_at_start`` steps into its bar (a pickup starts late in
its bar). A new segment begins where the time signature changes or a bar is irregular.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Positions 0..MAX_BAR_STEPS-1 are model inputs (one-hot); longer bars (beyond 12/8 or 3/2 in 16ths, 48 steps
# = 12 quarters) give "unknown" (-1), as does a song with no meter.
MAX_BAR_STEPS = 48
UNKNOWN = -1
COMMON_TIME = [[0, 16, 0]]  # 4/4 starting on a downbeat, at 4 steps per quarter


def bar_positions(meter: Sequence[Sequence[int]] | None, steps: int) -> np.ndarray:
    """Position in the bar (int, 0-based) of steps 0..steps-1; ``UNKNOWN`` where the meter says nothing."""
    out = np.full(steps, UNKNOWN, dtype=np.int64)
    if not meter:
        return out
    segments = sorted((int(s), int(b), int(p)) for s, b, p in meter)
    for k, (start, bar, position) in enumerate(segments):
        if bar <= 0 or bar > MAX_BAR_STEPS:
            continue
        end = segments[k + 1][0] if k + 1 < len(segments) else steps
        lo, hi = max(start, 0), min(end, steps)
        if hi > lo:
            out[lo:hi] = (position + np.arange(lo - start, hi - start)) % bar
    return out


def check_meter(meter: object) -> list[list[int]]:
    """Validate a meter from a file: a list of [start_step, bar_steps, position] with sane integers."""
    if not isinstance(meter, list):
        raise ValueError(f"meter must be a list of [start, bar_steps, position], got {meter!r}")
    out = []
    for segment in meter:
        if (not isinstance(segment, list) or len(segment) != 3
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in segment)):
            raise ValueError(f"meter segment must be three integers [start, bar_steps, position], got {segment!r}")
        start, bar, position = segment
        if start < 0 or bar <= 0 or not 0 <= position < bar:
            raise ValueError(f"meter segment out of range: {segment!r}")
        out.append([start, bar, position])
    return out


def meter_from_signature(signature: str | None, steps_per_quarter: int, pickup_steps: int = 0) -> list[list[int]]:
    """``"3/4"`` -> ``[[0, 12, 0]]`` at 4 steps per quarter; a pickup of ``pickup_steps`` starts late in its bar.

    ``None``, ``""`` or ``"none"`` give ``[]`` (meter unknown).
    """
    if signature is None or signature.strip().lower() in ("", "none"):
        return []
    top, sep, bottom = signature.strip().partition("/")
    try:
        beats, unit = int(top), int(bottom)
    except ValueError:
        raise ValueError(f"time signature must look like 3/4 or 6/8, got {signature!r}") from None
    if not sep or beats <= 0 or unit not in (1, 2, 4, 8, 16, 32):
        raise ValueError(f"time signature must look like 3/4 or 6/8, got {signature!r}")
    bar_steps = beats * steps_per_quarter * 4 // unit
    if bar_steps * unit != beats * steps_per_quarter * 4 or bar_steps <= 0:
        raise ValueError(f"a bar of {signature} does not fit the grid of {steps_per_quarter} steps per quarter")
    if not 0 <= pickup_steps < bar_steps:
        raise ValueError(f"pickup must be 0..{bar_steps - 1} steps in {signature}, got {pickup_steps}")
    return [[0, bar_steps, (bar_steps - pickup_steps) % bar_steps]]
