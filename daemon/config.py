"""The daemon's settings: one frozen dataclass, filled from a TOML file and the command line (CLI wins)."""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from antiphon.engine.events import DEFAULT_BPM, DEFAULT_ONSET_TOP_P, DEFAULT_TOP_P, TEMPO_RANGE_BPM
from antiphon.engine.midifile import DRUM_CHANNEL, MIDI_CHANNELS
from antiphon.engine.model import MODES

BACKENDS = ("alsa", "jack")
CLOCK_MODES = ("internal", "external")
TEMPO_MODES = ("follow", "fixed")  # follow: tempo, beat and bar from the player's calls; fixed: --bpm, bar at each call
METERS = ("2/4", "3/4", "4/4", "6/8")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
CC_MAX = 127
MIN_BPM, MAX_BPM = TEMPO_RANGE_BPM
STEPS_PER_BAR_QUARTERS = 4  # 4/4: a bar is four quarters
DEFAULT_PHRASE_END_STEPS = 16  # one bar of 16ths
DEFAULT_PHRASE_END_BEATS = 1.5  # follow mode: silence before the answer's bar line (benchmarks/bench_turns.py)
GM_HIGH_WOOD_BLOCK, GM_LOW_WOOD_BLOCK = 76, 77  # General MIDI percussion keys (channel 10) every GM synth has


@dataclass(frozen=True)
class ServeConfig:
    """Everything ``antiphon serve`` (and ``respond``) needs. Channels are 1..16 as musicians count them."""

    model: str | None = None
    style: str | None = None  # a bundled style (engine/styles.py), "auto" (per call); None: the default style
    input: str | None = None
    output: str | None = None
    virtual: bool = False
    backend: str | None = None  # None: ALSA where /dev/snd/seq exists, else JACK
    bpm: float = DEFAULT_BPM
    bpm_guess: bool = False  # follow: the first call is heard around bpm (set when bpm is given, or a file's)
    input_channel: int | None = None  # None: listen on every channel
    output_channel: int = 1
    phrase_end_steps: int = DEFAULT_PHRASE_END_STEPS  # --tempo fixed
    phrase_end_beats: float = DEFAULT_PHRASE_END_BEATS  # --tempo follow: silence (beats) before the bar line
    tempo: str = "follow"
    meter: str = "4/4"  # the grid's meter until a call says otherwise (fixed mode, count-in, metronome)
    metronome: bool = False
    metronome_cc: int | None = None
    click_notes: tuple = (GM_HIGH_WOOD_BLOCK, GM_LOW_WOOD_BLOCK)  # (downbeat, other beats), channel 10
    click_velocities: tuple = (110, 80)
    count_in: int = 0  # bars of clicks at bpm before the first call
    phrase_end_cc: int | None = None
    response_bars: int | None = None  # None: as long as the call
    temperature: float = 1.0
    top_p: float = DEFAULT_TOP_P
    onset_top_p: float = DEFAULT_ONSET_TOP_P
    temperature_cc: int | None = None
    tempo_cc: int | None = None
    panic_cc: int | None = None
    passthrough: bool = False
    clock: str = "internal"
    send_clock: bool = False
    record: str | None = None
    log_level: str = "INFO"
    mode: str = "stateful"
    random_seed: int | None = None
    realtime_priority: int | None = None  # SCHED_FIFO priority 1..99 for the live loop, where permitted
    synth: bool = False  # serve: play through the built-in FluidSynth (JACK: antiphon:synth L/R, frame-accurate)
    jack_frames: bool = True  # JACK: the frame-accurate client; off: python-rtmidi (start-of-period delivery)
    soundfont: str | None = None  # None: /usr/share/sounds/sf2/default-GM.sf2
    program: int = 73  # the answer's General MIDI program (73 flute)
    call_program: int = 0  # the call's program: rendered files, and the --passthrough echo with --synth (0 piano)

    def __post_init__(self) -> None:
        for f in fields(self):
            _check_type(f.name, getattr(self, f.name), f.type)
        if self.model is not None and self.style is not None:
            raise ValueError("give model or style, not both")
        if not (math.isfinite(self.bpm) and MIN_BPM <= self.bpm <= MAX_BPM):
            raise ValueError(f"bpm must be {MIN_BPM:g}..{MAX_BPM:g}, got {self.bpm!r}")
        if self.input_channel is not None and not 1 <= self.input_channel <= MIDI_CHANNELS:
            raise ValueError(f"input_channel must be 1..16, got {self.input_channel!r}")
        if not 1 <= self.output_channel <= MIDI_CHANNELS:
            raise ValueError(f"output_channel must be 1..16, got {self.output_channel!r}")
        if self.phrase_end_steps < 1:
            raise ValueError(f"phrase_end_steps must be >= 1, got {self.phrase_end_steps!r}")
        if self.response_bars is not None and self.response_bars < 1:
            raise ValueError(f"response_bars must be >= 1, got {self.response_bars!r}")
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"temperature must be a positive number, got {self.temperature!r}")
        for name in ("top_p", "onset_top_p"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in (0, 1], got {getattr(self, name)!r}")
        if not (math.isfinite(self.phrase_end_beats) and 0.25 <= self.phrase_end_beats <= 16):
            raise ValueError(f"phrase_end_beats must be 0.25..16, got {self.phrase_end_beats!r}")
        if self.count_in < 0:
            raise ValueError(f"count_in must be >= 0 bars, got {self.count_in!r}")
        for name in ("click_notes", "click_velocities"):
            pair = getattr(self, name)
            if len(pair) != 2 or not all(isinstance(v, int) and 1 <= v <= CC_MAX for v in pair):
                raise ValueError(f"{name} must be two numbers 1..127 (downbeat, other beats), got {pair!r}")
        for name in ("phrase_end_cc", "temperature_cc", "tempo_cc", "panic_cc", "metronome_cc"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= CC_MAX:
                raise ValueError(f"{name} must be a controller number 0..127, got {value!r}")
        for name in ("program", "call_program"):
            if not 0 <= getattr(self, name) <= CC_MAX:
                raise ValueError(f"{name} must be a General MIDI program 0..127, got {getattr(self, name)!r}")
        if self.realtime_priority is not None and not 1 <= self.realtime_priority <= 99:
            raise ValueError(f"realtime_priority must be 1..99, got {self.realtime_priority!r}")
        _check_choice("backend", self.backend, BACKENDS, optional=True)
        _check_choice("clock", self.clock, CLOCK_MODES)
        _check_choice("tempo", self.tempo, TEMPO_MODES)
        _check_choice("meter", self.meter, METERS)
        _check_choice("mode", self.mode, MODES)
        _check_choice("log_level", self.log_level, LOG_LEVELS)
        if not self.virtual and self.clock == "external" and self.input is None:
            raise ValueError("clock 'external' needs an input port (input or virtual)")


def _check_choice(name: str, value: str | None, choices: tuple[str, ...], optional: bool = False) -> None:
    if value is None and optional:
        return
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


_TYPES = {"bool": (bool,), "int": (int,), "float": (int, float), "str": (str,), "tuple": (tuple, list)}


def _check_type(name: str, value: Any, annotation: str) -> None:
    """Check ``value`` against a field annotation written as a string (``"int | None"``)."""
    kinds = [k.strip() for k in str(annotation).split("|")]
    if value is None:
        if "None" in kinds:
            return
        raise ValueError(f"{name} must not be empty")
    for kind in kinds:
        allowed = _TYPES.get(kind, ())
        if isinstance(value, allowed) and not (kind != "bool" and isinstance(value, bool)):
            return
    wanted = " or ".join(k for k in kinds if k != "None")
    raise ValueError(f"{name} must be {wanted}, got {value!r} ({type(value).__name__})")


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a config file; keys may use ``-`` or ``_``; an unknown key is a ``ValueError`` naming it.

    The file holds the options at top level, or under a ``[serve]`` table.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ValueError(f"config file not found: {path}") from err
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"config file {path} is not valid TOML: {err}") from err
    if "serve" in data and isinstance(data["serve"], dict):
        extra = sorted(set(data) - {"serve"})
        if extra:
            raise ValueError(f"config file {path}: unknown key(s) {', '.join(extra)} beside [serve]")
        data = data["serve"]
    known = {f.name for f in fields(ServeConfig)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        if name not in known:
            raise ValueError(f"config file {path}: unknown key {key!r}; known keys: {', '.join(sorted(known))}")
        values[name] = value
    return values


def build_config(config_file: str | Path | None = None, **cli_values: Any) -> ServeConfig:
    """Defaults, then the TOML file, then every command-line value that is not ``None`` (CLI wins).

    A bad value from either source is a ``ValueError`` naming the key (and the file).
    """
    values: dict[str, Any] = load_toml(config_file) if config_file is not None else {}
    known = {f.name for f in fields(ServeConfig)}
    for chosen, other in (("model", "style"), ("style", "model")):  # --model on the command line beats a TOML style
        if cli_values.get(chosen) is not None and cli_values.get(other) is None:
            values.pop(other, None)
    for name, value in cli_values.items():
        if name not in known:
            raise ValueError(f"unknown option {name!r}")
        if value is not None:
            values[name] = value
    if "bpm" in values:  # a tempo the user gave is the first call's guess; the default is only the clock's start
        values.setdefault("bpm_guess", True)
    for name in ("click_notes", "click_velocities"):  # TOML arrays and "76,77" from the command line
        if isinstance(values.get(name), str):
            values[name] = _int_pair(name, values[name])
        elif isinstance(values.get(name), list):
            values[name] = tuple(values[name])
    try:
        return ServeConfig(**values)
    except ValueError as err:
        where = f" (config file {config_file})" if config_file is not None else ""
        raise ValueError(f"{err}{where}") from None


def _int_pair(name: str, text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"{name} must be two numbers like 76,77, got {text!r}") from None


def echo_channel(config: ServeConfig) -> int:
    """0-based channel of the passthrough echo: the output channel, or with the built-in synth the next melodic
    channel, so the player's notes sound with ``call_program`` beside the answer's ``program``."""
    out = config.output_channel - 1
    if not config.synth:
        return out
    channel = (out + 1) % MIDI_CHANNELS
    return (channel + 1) % MIDI_CHANNELS if channel == DRUM_CHANNEL else channel


def steps_per_bar(steps_per_quarter: int) -> int:
    """Grid steps in one 4/4 bar."""
    return STEPS_PER_BAR_QUARTERS * steps_per_quarter
