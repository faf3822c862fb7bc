"""Helpers for the daemon tests: a small real model artifact whose vocabulary is diatonic, and calls to play.

The weights are random but small, and the output bias favours holds and nearly bans ``/``, so responses are
never cut short and every pitch the model can play is in C major: transposed back into a call's key, every
response note must then lie in that key's scale.
"""

from __future__ import annotations

import mido
import numpy as np

from antiphon.engine.artifact import expected_shapes, save_artifact
from antiphon.engine.events import STEPS_PER_QUARTER
from antiphon.engine.vocab import Vocab

C_MAJOR_PCS = (0, 2, 4, 5, 7, 9, 11)
PITCHES = [p for p in range(55, 85) if p % 12 in C_MAJOR_PCS]
BIAS = {"/": -9.0, "_": 3.0, "r": -0.5}


def make_daemon_artifact(folder, units: int = 32, sequence_length: int = 32, seed: int = 0,
                         position_features: int = 0):
    vocab = Vocab.build(str(p) for p in PITCHES)
    rng = np.random.default_rng(seed)
    weights = {name: (rng.standard_normal(shape) * 0.15).astype(np.float32)
               for name, shape in expected_shapes(len(vocab), units, 1, position_features).items()}
    bias = np.zeros(len(vocab), dtype=np.float32)
    for symbol, value in BIAS.items():
        bias[vocab.index(symbol)] = value
    weights["dense/bias"] = bias
    config = {"architecture": {"units": units, "layers": 1, "vocab_size": len(vocab),
                               "position_features": position_features},
              "sequence_length": sequence_length, "steps_per_quarter": STEPS_PER_QUARTER}
    save_artifact(folder, config, vocab, weights)
    return folder


def scale_pcs(tonic_pc: int) -> set[int]:
    """Pitch classes of the major scale on ``tonic_pc``."""
    return {(tonic_pc + pc) % 12 for pc in C_MAJOR_PCS}


def phrase_events(pitches, start_s: float = 0.0, note_s: float = 0.5, gate: float = 0.9, velocity: int = 90,
                  channel: int = 0) -> list[tuple[float, mido.Message]]:
    """Note-on/off events of a melody of equal notes (seconds)."""
    events = []
    for i, pitch in enumerate(pitches):
        on = start_s + i * note_s
        events.append((on, mido.Message("note_on", note=pitch, velocity=velocity, channel=channel)))
        events.append((on + note_s * gate, mido.Message("note_off", note=pitch, velocity=0, channel=channel)))
    return sorted(events, key=lambda e: e[0])


# Two bars at 120 bpm in E-flat major: eight quarter notes.
EB_MAJOR_CALL = [63, 65, 67, 68, 70, 72, 74, 75]


def performed(notes, bpm: float, start_s: float = 0.0, gate: float = 0.85, spread_s: float = 0.0, seed: int = 0,
              velocity: int = 90) -> list[tuple[float, mido.Message]]:
    """A performance of ``notes`` [(start in quarter notes, length in quarters, pitch)] at ``bpm``, each onset
    moved by a seeded normal spread (s), each note held for ``gate`` of its written length."""
    import numpy as np

    rng = np.random.default_rng(seed)
    beat_s = 60.0 / bpm
    events = []
    for start, length, pitch in notes:
        on = start_s + start * beat_s + (rng.normal(0.0, spread_s) if spread_s else 0.0)
        events.append((on, mido.Message("note_on", note=pitch, velocity=velocity)))
        events.append((on + length * gate * beat_s, mido.Message("note_off", note=pitch, velocity=0)))
    return sorted(events, key=lambda e: e[0])


# A 4/4 phrase in C major with a one-eighth pickup (quarter-note units): pickup at -0.5, bar 1 at 0.
PICKUP_44 = [(-0.5, 0.5, 67), (0, 1, 72), (1, 0.5, 74), (1.5, 0.5, 76), (2, 1, 77), (3, 1, 76),
             (4, 0.5, 74), (4.5, 0.5, 72), (5, 1, 71), (6, 2, 72)]
# A 3/4 phrase (two bars): dotted half on the downbeat of bar 2 (quarter-note units).
WALTZ_34 = [(0, 1, 64), (1, 1, 67), (2, 1, 67), (3, 3, 65), (6, 1, 62), (7, 1, 65), (8, 1, 65), (9, 3, 64)]
