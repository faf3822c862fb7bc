"""Pictures (matplotlib, PNG, no display): a piano roll of a MIDI file and melody-statistic histograms.

Piano roll: every track's notes as bars (time in beats, MIDI pitch), one colour per part. A file written by
``antiphon serve --record`` / ``respond`` holds the call and the response on separate tracks, drawn in two
colours; a one-track file is drawn in the call colour. Tracks are named from their ``track_name`` message when
they have one.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from antiphon.engine.midifile import open_midi

CALL_COLOUR = "#1f77b4"
RESPONSE_COLOUR = "#e4572e"
EXTRA_COLOURS = ("#2ca02c", "#9467bd", "#8c564b", "#7f7f7f")
NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def midi_tracks(path: str | os.PathLike[str]) -> list[tuple[str, list[tuple[float, float, int]]]]:
    """(track name, [(start beat, length in beats, pitch)]) for each track with notes."""
    midi = open_midi(path)
    ticks = midi.ticks_per_beat
    tracks = []
    for number, track in enumerate(midi.tracks):
        name, tick, sounding, notes = f"track {number + 1}", 0, {}, []
        for message in track:
            tick += message.time
            if message.type == "track_name" and message.name.strip():
                name = message.name.strip()
            elif message.type == "note_on" and message.velocity > 0:
                sounding.setdefault((message.channel, message.note), []).append(tick)
            elif message.type in ("note_on", "note_off") and sounding.get((message.channel, message.note)):
                start = sounding[(message.channel, message.note)].pop(0)
                notes.append((start / ticks, (tick - start) / ticks, message.note))
        for (_, pitch), starts in sounding.items():
            notes.extend((s / ticks, max(tick - s, 1) / ticks, pitch) for s in starts)
        if notes:
            tracks.append((name, sorted(notes)))
    if not tracks:
        raise ValueError(f"{path} holds no notes")
    return tracks


def _colour(index: int, name: str) -> str:
    lowered = name.lower()
    if "response" in lowered or "antiphon" in lowered:
        return RESPONSE_COLOUR
    if "call" in lowered:
        return CALL_COLOUR
    return (CALL_COLOUR, RESPONSE_COLOUR, *EXTRA_COLOURS)[index % (2 + len(EXTRA_COLOURS))]


def plot_piano_roll(midi_path: str | os.PathLike[str], out_path: str | os.PathLike[str], *,
                    title: str | None = None, beats_per_bar: int = 4) -> Path:
    """Draw the MIDI file's notes as a piano roll PNG; returns the written path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle

    tracks = midi_tracks(midi_path)
    pitches = [p for _, notes in tracks for _, _, p in notes]
    end = max(s + d for _, notes in tracks for s, d, _ in notes)
    low, high = min(pitches) - 2, max(pitches) + 2
    width = min(max(6.0, end * 0.35), 30.0)
    fig, ax = plt.subplots(figsize=(width, max(3.0, (high - low) * 0.18 + 1.5)), dpi=110)
    try:
        for pitch in range(low, high + 1):  # black-key rows shaded, as on a keyboard
            if NOTE_NAMES[pitch % 12].endswith(("#", "b")):
                ax.axhspan(pitch - 0.5, pitch + 0.5, color="#f0f0f0", zorder=0)
        for bar in range(0, math.ceil(end) + 1, beats_per_bar):
            ax.axvline(bar, color="#bbbbbb", linewidth=0.8, zorder=1)
        handles = []
        for index, (name, notes) in enumerate(tracks):
            colour = _colour(index, name)
            for start, length, pitch in notes:
                ax.add_patch(Rectangle((start, pitch - 0.4), length, 0.8, facecolor=colour,
                                                          edgecolor="black", linewidth=0.5, zorder=2))
            handles.append(Patch(facecolor=colour, edgecolor="black", label=f"{name} ({len(notes)} notes)"))
        ax.set_xticks(range(0, math.ceil(end) + 1, beats_per_bar))
        ax.set_xlim(0, end + 0.25)
        ax.set_ylim(low - 0.5, high + 0.5)
        ticks = [p for p in range(low, high + 1) if p % 12 in (0, 4, 7)]
        ax.set_yticks(ticks, [f"{NOTE_NAMES[p % 12]}{p // 12 - 1} ({p})" for p in ticks])
        ax.set_xlabel(f"beats (bar lines every {beats_per_bar})")
        ax.set_ylabel("pitch")
        ax.set_title(title or Path(midi_path).name)
        ax.legend(handles=handles, loc="upper right", fontsize=8)
        fig.tight_layout()
        out = Path(out_path)
        fig.savefig(out)
    finally:
        plt.close(fig)
    return out


def plot_stat_histograms(rows_by_set: Mapping[str, Sequence[Mapping[str, float]]], names: Sequence[str],
                         out_path: str | os.PathLike[str], labels: Mapping[str, str] | None = None) -> Path:
    """One panel per statistic: normalised histograms of each set's per-song values (real vs generated)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    cols = 4
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), dpi=100, squeeze=False)
    colours = (CALL_COLOUR, RESPONSE_COLOUR, *EXTRA_COLOURS)
    try:
        for ax, name in zip(axes.ravel(), names, strict=False):
            values = {label: np.array([r[name] for r in rows_ if not math.isnan(r[name])])
                      for label, rows_ in rows_by_set.items()}
            pooled = np.concatenate([v for v in values.values() if v.size] or [np.zeros(1)])
            bins = np.histogram_bin_edges(pooled, bins=min(25, max(5, len(np.unique(pooled)))))
            for colour, (label, v) in zip(colours, values.items(), strict=False):
                if v.size:
                    ax.hist(v, bins=bins, density=True, alpha=0.5, color=colour, label=label)
            ax.set_title((labels or {}).get(name, name), fontsize=10)
        for ax in axes.ravel()[len(names):]:
            ax.axis("off")
        axes.ravel()[0].legend(fontsize=8)
        fig.tight_layout()
        out = Path(out_path)
        fig.savefig(out)
    finally:
        plt.close(fig)
    return out
