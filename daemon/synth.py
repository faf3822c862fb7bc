"""The built-in General MIDI sound: FluidSynth in-process, rendered between events so each onset lands on time.

libfluidsynth is called through ``ctypes`` (no Python binding needed: pyfluidsynth wraps neither
``fluid_synth_write_float`` with offsets nor anything we would use beyond it). The synth renders into
caller-owned float buffers: a numpy array offline, the JACK port buffers live, nothing allocated per block.

FluidSynth computes audio in blocks of ``BLOCK`` (64) samples and applies a MIDI event at the start of the block
it renders next. Splitting the rendering at an event's exact sample therefore starts the note at the next block
boundary, 0 to 63 samples late (up to 1.3 ms at 48 kHz). Since every event is known before its block is
rendered (offline trivially; live the events arrive ahead of time with their frame), the renderer splits at the
block boundary *nearest* the event instead: the onset is then within half a block (+-32 samples, 0.67 ms at
48 kHz) of its sample, centred on it. ``benchmarks/bench_synth.py`` measures both.

The JACK client's process callback (``daemon.jackmidi``) drives a ``BlockRenderer``: ``render_to(offset)`` and
``apply(data)`` for each due event, ``finish(frames)`` at the end of the cycle. A JACK period is a multiple of
64 frames, so the synth's blocks stay aligned with the cycles.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import wave
from collections.abc import Iterable, Sequence
from ctypes import c_char_p, c_double, c_int, c_void_p
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

SOUNDFONT = "/usr/share/sounds/sf2/default-GM.sf2"  # Debian's timgm6mb-soundfont (or fluid-soundfont-gm)
DEFAULT_PROGRAM = 73  # the answer: GM flute, a folk melody's voice
DEFAULT_CALL_PROGRAM = 0  # the call (files with a "call" track): GM acoustic grand piano
SAMPLE_RATE = 48000
BLOCK = 64  # FluidSynth's internal block (FLUID_BUFSIZE): events take effect at block starts
GAIN = 1.0  # FluidSynth's default 0.2 is quiet for one monophonic voice (a piano note peaks near 0.06)
TAIL_S = 1.5  # rendered after the last event offline: the release and reverb ring out
WAV_PEAK = 32767
DEFAULT_TEMPO = 500000  # microseconds per quarter until a set_tempo says otherwise (MIDI's 120 bpm)
MISSING_LIBRARY = ("FluidSynth is not installed ({}): apt-get install libfluidsynth3 timgm6mb-soundfont "
                   "(the built-in synth needs no pip package)")
MISSING_SOUNDFONT = "no SoundFont at {}: apt-get install timgm6mb-soundfont, or pass --soundfont FILE.sf2"
FLUID_FAILED = -1
FLUID_LOG_LEVELS = 5  # panic, error, warning, info, debug: all silenced, our own messages say what went wrong
NOTE_OFF, NOTE_ON, CONTROL_CHANGE, PROGRAM_CHANGE, PITCH_BEND = 0x80, 0x90, 0xB0, 0xC0, 0xE0
SYNTH_PORTS = ("synth L", "synth R")  # the JACK client's audio outputs: antiphon:synth L, antiphon:synth R
SPLITS = ("nearest", "exact")  # where rendering is split for an event: nearest block boundary, or its sample

_lib = None


def load_fluidsynth():
    """libfluidsynth with the functions used here typed; ``ValueError`` (one line, the Debian package) if missing."""
    global _lib
    if _lib is not None:
        return _lib
    name = ctypes.util.find_library("fluidsynth") or "libfluidsynth.so.3"
    try:
        # CDLL releases the interpreter lock during each call. PyDLL (keeping it) was measured too: no fewer xruns
        # at 256 frames (bench_synth soak, 120 s each: 27 with CDLL, 33 with PyDLL, on a shared loaded machine).
        lib = ctypes.CDLL(name)
    except OSError as err:
        raise ValueError(MISSING_LIBRARY.format(err)) from err
    signatures = {
        "new_fluid_settings": (c_void_p, []),
        "delete_fluid_settings": (None, [c_void_p]),
        "fluid_settings_setnum": (c_int, [c_void_p, c_char_p, c_double]),
        "fluid_settings_setint": (c_int, [c_void_p, c_char_p, c_int]),
        "fluid_settings_setstr": (c_int, [c_void_p, c_char_p, c_char_p]),
        "new_fluid_synth": (c_void_p, [c_void_p]),
        "delete_fluid_synth": (None, [c_void_p]),
        "fluid_synth_sfload": (c_int, [c_void_p, c_char_p, c_int]),
        "fluid_synth_program_change": (c_int, [c_void_p, c_int, c_int]),
        "fluid_synth_noteon": (c_int, [c_void_p, c_int, c_int, c_int]),
        "fluid_synth_noteoff": (c_int, [c_void_p, c_int, c_int]),
        "fluid_synth_cc": (c_int, [c_void_p, c_int, c_int, c_int]),
        "fluid_synth_pitch_bend": (c_int, [c_void_p, c_int, c_int]),
        "fluid_synth_all_sounds_off": (c_int, [c_void_p, c_int]),
        "fluid_synth_write_float": (c_int, [c_void_p, c_int, c_void_p, c_int, c_int, c_void_p, c_int, c_int]),
        "new_fluid_audio_driver": (c_void_p, [c_void_p, c_void_p]),
        "delete_fluid_audio_driver": (None, [c_void_p]),
        "fluid_set_log_function": (c_void_p, [c_int, c_void_p, c_void_p]),
    }
    try:
        for function, (restype, argtypes) in signatures.items():
            getattr(lib, function).restype = restype
            getattr(lib, function).argtypes = argtypes
    except AttributeError as err:
        raise ValueError(MISSING_LIBRARY.format(f"{name} lacks {err}; FluidSynth 2 is needed")) from err
    for level in range(FLUID_LOG_LEVELS):
        lib.fluid_set_log_function(level, None, None)
    _lib = lib
    return lib


def check_soundfont(path: str | os.PathLike[str] | None) -> Path:
    """The SoundFont file to load (default ``SOUNDFONT``); ``ValueError`` naming the package when it is missing."""
    font = Path(path or SOUNDFONT).expanduser()
    if not font.is_file():
        raise ValueError(MISSING_SOUNDFONT.format(font))
    return font


def check_program(name: str, program: int) -> int:
    if not 0 <= program <= 127:
        raise ValueError(f"{name} must be a General MIDI program 0..127, got {program!r}")
    return program


class FluidSynth:
    """One FluidSynth instance at ``rate`` Hz with a SoundFont loaded and a GM program on each channel given.

    Dry by default (no reverb, no chorus): the output is exactly zero before the first note and from the block an
    all-sound-off (CC 120) lands in, so every stop path is silent at once (a reverb tail would ring on ~1 s).
    """

    def __init__(self, soundfont: str | os.PathLike[str] | None = None, rate: int = SAMPLE_RATE,
                 programs: dict[int, int] | None = None, gain: float = GAIN, reverb: bool = False,
                 audio_driver: str | None = None):
        lib = load_fluidsynth()
        font = check_soundfont(soundfont)
        self.lib = lib
        self.rate = rate
        self.settings = lib.new_fluid_settings()
        lib.fluid_settings_setnum(self.settings, b"synth.sample-rate", float(rate))
        lib.fluid_settings_setnum(self.settings, b"synth.gain", gain)
        lib.fluid_settings_setint(self.settings, b"synth.reverb.active", int(reverb))
        lib.fluid_settings_setint(self.settings, b"synth.chorus.active", 0)
        # One thread renders and applies events (the JACK callback, or the offline renderer): no mutex needed.
        lib.fluid_settings_setint(self.settings, b"synth.threadsafe-api", 0 if audio_driver is None else 1)
        lib.fluid_settings_setint(self.settings, b"synth.cpu-cores", 1)
        self.synth = lib.new_fluid_synth(self.settings)
        self.driver = None
        if not self.synth:
            lib.delete_fluid_settings(self.settings)
            raise ValueError("FluidSynth could not create a synth")
        if lib.fluid_synth_sfload(self.synth, os.fsencode(font), 1) == FLUID_FAILED:
            self.close()
            raise ValueError(f"FluidSynth cannot load the SoundFont {font} (not a .sf2 file?)")
        for channel, program in (programs or {}).items():
            lib.fluid_synth_program_change(self.synth, channel, program)
        if audio_driver is not None:
            lib.fluid_settings_setstr(self.settings, b"audio.driver", audio_driver.encode())
            self.driver = lib.new_fluid_audio_driver(self.settings, self.synth)
            if not self.driver:
                self.close()
                raise ValueError(f"FluidSynth cannot open its {audio_driver!r} audio output")

    def apply(self, data: bytes) -> None:
        """One MIDI message (bytes) to the synth; anything else than notes, CCs, programs and bends is ignored."""
        if len(data) < 2:
            return
        status, channel, synth, lib = data[0] & 0xF0, data[0] & 0x0F, self.synth, self.lib
        if status == NOTE_ON and len(data) == 3:
            if data[2]:
                lib.fluid_synth_noteon(synth, channel, data[1], data[2])
            else:
                lib.fluid_synth_noteoff(synth, channel, data[1])
        elif status == NOTE_OFF:
            lib.fluid_synth_noteoff(synth, channel, data[1])
        elif status == CONTROL_CHANGE and len(data) == 3:
            lib.fluid_synth_cc(synth, channel, data[1], data[2])
        elif status == PROGRAM_CHANGE:
            lib.fluid_synth_program_change(synth, channel, data[1])
        elif status == PITCH_BEND and len(data) == 3:
            lib.fluid_synth_pitch_bend(synth, channel, data[1] | (data[2] << 7))

    def silence(self) -> None:
        """Every voice off at once (all sound off on every channel)."""
        self.lib.fluid_synth_all_sounds_off(self.synth, -1)

    def write(self, count: int, left, left_offset: int, right, right_offset: int, step: int = 1) -> None:
        """Render ``count`` samples into float buffers (pointers or ctypes arrays) at offsets, every ``step``th."""
        self.lib.fluid_synth_write_float(self.synth, count, left, left_offset, step, right, right_offset, step)

    def close(self) -> None:
        lib = self.lib
        if self.driver:
            lib.delete_fluid_audio_driver(self.driver)
            self.driver = None
        if self.synth:
            lib.delete_fluid_synth(self.synth)
            self.synth = None
        if self.settings:
            lib.delete_fluid_settings(self.settings)
            self.settings = None


def split_point(offset: int, split: str = "nearest") -> int:
    """Where to stop rendering so an event due at sample ``offset`` (from a block-aligned start) starts nearest it."""
    if split == "exact":
        return offset
    return (offset + BLOCK // 2) // BLOCK * BLOCK


# -- offline: events -> a stereo float array -> a WAV file ------------------------------------------------------

def render_events(events: Iterable[tuple[float, bytes]], synth: FluidSynth, tail_s: float = TAIL_S,
                  split: str = "nearest") -> np.ndarray:
    """Render ``(seconds, MIDI bytes)`` events (any order) with ``synth``; returns float32 samples ``(n, 2)``.

    Events are applied at the block boundary nearest their sample (``split="exact"``: rendering stops at the
    sample itself, and FluidSynth starts the note at the following block).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")
    timed = sorted(((max(0, round(t * synth.rate)), i, bytes(data)) for i, (t, data) in enumerate(events)))
    end = (timed[-1][0] if timed else 0) + round(tail_s * synth.rate)
    audio = np.zeros((end + BLOCK, 2), dtype=np.float32)  # (samples, channels), interleaved in memory
    pointer = audio.ctypes.data_as(c_void_p)
    done = 0
    for sample, _, data in timed:
        stop = min(split_point(sample, split), end)
        if stop > done:
            synth.write(stop - done, pointer, 2 * done, pointer, 2 * done + 1, step=2)
            done = stop
        synth.apply(data)
    synth.write(end - done, pointer, 2 * done, pointer, 2 * done + 1, step=2)
    return audio[:end]


def write_wav(path: str | os.PathLike[str], audio: np.ndarray, rate: int = SAMPLE_RATE) -> Path:
    """Write float samples ``(n, channels)`` in [-1, 1] as 16-bit PCM (clipped); returns the path."""
    path = Path(path)
    pcm = np.clip(np.round(audio * WAV_PEAK), -WAV_PEAK, WAV_PEAK).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(audio.shape[1])
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return path


def read_wav(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """A 16-bit PCM WAV as float32 ``(n, channels)`` in [-1, 1] and its rate."""
    with wave.open(str(path), "rb") as src:
        if src.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM WAV files are read here")
        frames = src.readframes(src.getnframes())
        channels, rate = src.getnchannels(), src.getframerate()
    return np.frombuffer(frames, dtype="<i2").reshape(-1, channels).astype(np.float32) / WAV_PEAK, rate


def midi_file_events(path: str | os.PathLike[str], programs: dict[str, int]) -> list[tuple[float, bytes]]:
    """``(seconds, bytes)`` of a MIDI file's channel messages, each track named in ``programs`` on its own channel.

    Antiphon's files put the call and the response on tracks named ``call`` and ``response``, both on channel 1;
    such a track is moved to a channel of its own (1 and 2) with a program change to its GM program. Other tracks
    keep their channels and programs.
    """
    import mido

    from antiphon.engine.midifile import open_midi

    midi = open_midi(path)
    names = [next((m.name.strip().lower() for m in track if m.type == "track_name"), "") for track in midi.tracks]
    channel_of = {}
    for index, name in enumerate(names):
        if name in programs:
            channel_of[index] = len(channel_of)
    events: list[tuple[float, bytes]] = [
        (0.0, bytes([PROGRAM_CHANGE | channel_of[index], programs[names[index]]])) for index in sorted(channel_of)]
    t = 0.0
    tempo = DEFAULT_TEMPO
    for tick_msg, index in _merged(midi):
        t += mido.tick2second(tick_msg.time, midi.ticks_per_beat, tempo)
        if tick_msg.type == "set_tempo":
            tempo = tick_msg.tempo
        elif not tick_msg.is_meta and tick_msg.type != "sysex":
            msg = tick_msg
            if index in channel_of and hasattr(msg, "channel"):
                if msg.type == "program_change":
                    continue
                msg = msg.copy(channel=channel_of[index])
            events.append((t, bytes(msg.bytes())))
    return events


def _merged(midi) -> list:
    """Every track's messages in time order, each ``(message with delta ticks, track index)``."""
    timed = []
    for index, track in enumerate(midi.tracks):
        tick = 0
        for order, msg in enumerate(track):
            tick += msg.time
            timed.append((tick, index, order, msg))
    timed.sort(key=lambda e: (e[0], e[1], e[2]))
    out, now = [], 0
    for tick, index, _, msg in timed:
        out.append((msg.copy(time=tick - now), index))
        now = tick
    return out


def render_midi_file(midi_path: str | os.PathLike[str], wav_path: str | os.PathLike[str],
                     soundfont: str | os.PathLike[str] | None = None, program: int = DEFAULT_PROGRAM,
                     call_program: int = DEFAULT_CALL_PROGRAM, rate: int = SAMPLE_RATE) -> Path:
    """Render a MIDI file to a 16-bit stereo WAV (tracks named call/response on their own GM programs)."""
    check_program("program", program)
    check_program("call_program", call_program)
    events = midi_file_events(midi_path, {"call": call_program, "response": program})
    return render_to_wav(events, wav_path, soundfont, {}, rate)


def render_to_wav(events: Sequence[tuple[float, bytes]], wav_path: str | os.PathLike[str],
                  soundfont: str | os.PathLike[str] | None, programs: dict[int, int],
                  rate: int = SAMPLE_RATE) -> Path:
    """Render events with a fresh synth (``programs``: channel -> GM program) and write the WAV."""
    synth = FluidSynth(soundfont, rate, programs)
    try:
        audio = render_events(events, synth)
    finally:
        synth.close()
    return write_wav(wav_path, audio, rate)


# -- live: the JACK process callback's side --------------------------------------------------------------------

class BlockRenderer:
    """Renders the synth into two JACK audio ports, cycle by cycle, split at the block nearest each event.

    Called from the process callback only: ``begin``, then ``render_to`` + ``apply`` per due event in frame
    order, then ``finish``. The synth's block phase is tracked, so periods below 64 frames stay right too.
    """

    def __init__(self, synth: FluidSynth, left_port, right_port):
        self.synth = synth
        self.ports = (left_port, right_port)
        self.left = self.right = None
        self.frames = self.done = 0
        self.phase = 0  # samples rendered so far, modulo BLOCK
        self._types: dict[int, type] = {}

    def begin(self, frames: int) -> None:
        """A cycle of ``frames`` starts: take this cycle's port buffers."""
        array = self._types.get(frames)
        if array is None:
            array = self._types[frames] = ctypes.c_float * frames
        self.left = array.from_buffer(self.ports[0].get_buffer())
        self.right = array.from_buffer(self.ports[1].get_buffer())
        self.frames, self.done = frames, 0

    def render_to(self, offset: int) -> None:
        """Render up to the block boundary nearest frame ``offset`` of this cycle (an event is due there)."""
        stop = min(split_point(self.phase + offset) - self.phase, self.frames)
        if stop > self.done:
            self.synth.write(stop - self.done, self.left, self.done, self.right, self.done)
            self.done = stop

    def apply(self, data: bytes) -> None:
        self.synth.apply(data)

    def finish(self, frames: int) -> None:
        """Render the rest of the cycle."""
        if frames > self.done:
            self.synth.write(frames - self.done, self.left, self.done, self.right, self.done)
        self.phase = (self.phase + frames) % BLOCK
        self.left = self.right = None

    def close(self) -> None:
        self.synth.close()


def attach_jack_synth(engine, soundfont: str | os.PathLike[str] | None, programs: dict[int, int],
                      connect: bool = True) -> list[str]:
    """Give the frame-accurate JACK client (``daemon.jackmidi.JackMidi``) the built-in synth and its audio ports.

    Registers ``antiphon:synth L`` / ``antiphon:synth R``, connects them to the first two physical playback ports
    (if any, and ``connect``), and from the next cycle renders every event of the MIDI output at its frame.
    Returns the playback ports connected to.
    """
    synth = FluidSynth(soundfont, engine.rate, programs)
    try:
        ports = [engine.client.outports.register(name) for name in SYNTH_PORTS]
    except Exception as err:  # noqa: BLE001 - JACK-Client raises JackError; one line for the user
        synth.close()
        raise ValueError(f"cannot register the synth's JACK audio ports: {err}") from err
    engine.audio = BlockRenderer(synth, *ports)
    log.info("built-in synth: %s at %d Hz, programs %s, audio ports %s", Path(soundfont or SOUNDFONT).name,
             engine.rate, programs, ", ".join(p.name for p in ports))
    connected: list[str] = []
    if connect:
        playback = [p.name for p in engine.client.get_ports(is_audio=True, is_input=True, is_physical=True)][:2]
        targets = playback * 2 if len(playback) == 1 else playback  # one speaker: both channels to it
        for port, target in zip(ports, targets, strict=False):
            engine.client.connect(port, target)
            connected.append(target)
    return connected


class SynthOutput:
    """A mido-like output that plays the built-in synth at once through FluidSynth's own audio driver.

    The rtmidi (ALSA) path: no frame clock there, so each message sounds when it is sent plus the audio driver's
    buffer (a few ms, varying by up to one buffer). ``port`` (a MIDI output) also gets every message, if given.
    """

    def __init__(self, synth: FluidSynth, port=None):
        self.synth = synth
        self.port = port
        self.name = port.name if port is not None else "built-in synth"
        self.closed = False

    def send(self, msg) -> None:
        if self.port is not None:
            self.port.send(msg)
        self.synth.apply(bytes(msg.bytes()))

    def reset(self) -> None:
        self.synth.silence()
        if self.port is not None:
            self.port.reset()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.synth.silence()
            if self.port is not None:
                self.port.close()
            self.synth.close()


def default_audio_driver() -> str:
    """FluidSynth's audio driver without JACK: PulseAudio (or PipeWire's pulse) where its socket exists, else ALSA."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    return "pulseaudio" if runtime and os.path.exists(os.path.join(runtime, "pulse", "native")) else "alsa"
