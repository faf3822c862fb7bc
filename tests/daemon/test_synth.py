"""The built-in General MIDI synth: offline renders (onsets and pitches read back from the signal) and the live
JACK path (audio ports recorded by a JACK client, laid against the MIDI the daemon played at its frames).

No timed asserts: onsets are compared in samples against the frame each event was played at.
"""

from __future__ import annotations

import os
import shutil
import time

import mido
import numpy as np
import pytest
from audio_probe import AudioProbe, first_sound, onsets, pitch_of
from daemon_helpers import phrase_events
from harness import ROOT, Daemon, Disturbed, JackServer, rerun_when_disturbed
from jack_probe import FrameProbe
from typer.testing import CliRunner

from antiphon.cli import build_app
from antiphon.daemon import synth as synth_module
from antiphon.daemon.recorder import write_session_midi
from antiphon.daemon.synth import (
    BLOCK,
    FluidSynth,
    midi_file_events,
    read_wav,
    render_events,
    render_midi_file,
    split_point,
)

RATE = 48000
HALF_BLOCK = BLOCK // 2
FIRST_SAMPLE = 1  # a dry voice's first block starts with one zero sample (its envelope starts at 0)


def _fluidsynth_ready() -> bool:
    try:
        synth_module.load_fluidsynth()
        synth_module.check_soundfont(None)
    except ValueError:
        return False
    return True


needs_synth = pytest.mark.skipif(not _fluidsynth_ready(), reason="needs libfluidsynth3 and timgm6mb-soundfont")
needs_jack = pytest.mark.skipif(shutil.which("jackd") is None, reason="needs jackd (apt-get install jackd2)")


def _lag(pitch: int, program: int = synth_module.DEFAULT_PROGRAM) -> int:
    """Samples from a voice's start to its first non-zero sample (a SoundFont sample may begin with zeros)."""
    synth = FluidSynth(rate=RATE, programs={0: program})
    try:
        return first_sound(render_events([(0.0, _on(pitch))], synth, tail_s=0.05)[:, 0], 0)
    finally:
        synth.close()


def _on(note: int, velocity: int = 100, channel: int = 0) -> bytes:
    return bytes([0x90 | channel, note, velocity])


def _off(note: int, channel: int = 0) -> bytes:
    return bytes([0x80 | channel, note, 0])


# -- offline -----------------------------------------------------------------------------------------------------

@needs_synth
@pytest.mark.parametrize("sample", [0, 1, 31, 32, 33, 63, 64, 1000, 4801, 48000 + 17])
def test_a_note_starts_on_the_block_boundary_nearest_its_sample(sample):
    synth = FluidSynth(rate=RATE, programs={0: 0})
    try:
        audio = render_events([(sample / RATE, _on(60))], synth, tail_s=0.1)
    finally:
        synth.close()
    start = first_sound(audio[:, 0], 0)
    assert start == split_point(sample) + FIRST_SAMPLE  # exact: within half a block of the note's sample
    assert abs(start - FIRST_SAMPLE - sample) <= HALF_BLOCK
    assert not audio[:start].any()


@needs_synth
def test_splitting_at_the_exact_sample_starts_the_note_at_the_next_block():
    synth = FluidSynth(rate=RATE)
    try:
        audio = render_events([(100 / RATE, _on(60))], synth, tail_s=0.1, split="exact")
    finally:
        synth.close()
    assert first_sound(audio[:, 0], 0) == 128 + FIRST_SAMPLE  # FluidSynth's 64-sample blocks: 28 samples late


@needs_synth
def test_a_rendered_melody_has_its_onsets_and_pitches(tmp_path):
    melody = [(0.0, 67), (1.0101, 72), (2.0203, 64), (3.0307, 69), (4.0409, 60)]  # (s, pitch): off the block grid
    events = [(t, _on(p)) for t, p in melody] + [(t + 0.25, _off(p)) for t, p in melody]
    # The response track (flute by default) of an Antiphon file; a call track would be piano on channel 2.
    midi = write_session_midi(tmp_path / "melody.mid", [(t, 1, list(d)) for t, d in events], 120.0)
    wav = render_midi_file(midi, tmp_path / "melody.wav")
    audio, rate = read_wav(wav)
    assert rate == RATE and audio.shape[1] == 2
    found = onsets(audio[:, 0], threshold=1e-3, min_gap=RATE // 4)
    # The detector's own lag (an attack crossing 1e-3) comes from each note rendered alone at sample 0.
    lags = {}
    for _, pitch in melody:
        synth = FluidSynth(rate=RATE, programs={0: synth_module.DEFAULT_PROGRAM})
        try:
            alone = render_events([(0.0, _on(pitch))], synth, tail_s=0.2)[:, 0]
        finally:
            synth.close()
        lags[pitch] = onsets(np.round(alone * 32767) / 32767, 1e-3, RATE)[0]
    assert len(found) == len(melody)
    # The file's own times (its ticks are ~1 ms: 480 per beat at 120 bpm), not the melody's.
    written = [t for t, d in midi_file_events(midi, {}) if d[0] & 0xF0 == 0x90]
    errors = [onset - lags[p] - round(t * RATE) for onset, t, (_, p) in zip(found, written, melody, strict=True)]
    assert all(abs(e) <= HALF_BLOCK + 1 for e in errors), errors
    heard = [pitch_of(audio[s + 2400: s + 2400 + 8192, 0], rate) for s in found]
    assert heard == [p for _, p in melody]


def test_call_and_response_tracks_get_their_own_channels_and_programs(tmp_path):
    call, response = [_on(60), _off(60)], [_on(67), _off(67)]
    midi = write_session_midi(tmp_path / "x.mid", [(0.0, 0, list(call[0])), (0.5, 0, list(call[1])),
                                                   (1.0, 1, list(response[0])), (1.5, 1, list(response[1]))], 120.0)
    events = midi_file_events(midi, {"call": 0, "response": 73})
    programs = {d[0] & 0x0F: d[1] for _, d in events if d[0] & 0xF0 == 0xC0}
    notes = [(round(t, 3), d[0] & 0x0F, d[1]) for t, d in events if d[0] & 0xF0 == 0x90]
    assert programs == {0: 0, 1: 73}
    assert notes == [(0.0, 0, 60), (1.0, 1, 67)]


@needs_synth
def test_respond_writes_a_wav_beside_the_midi_file(tmp_path):
    out, wav = tmp_path / "response.mid", tmp_path / "response.wav"
    result = CliRunner().invoke(build_app(), ["respond", str(ROOT / "examples" / "call.mid"), "--with-call", "-o",
                                              str(out), "--wav", str(wav), "--random-seed", "1"])
    assert result.exit_code == 0, result.output
    audio, rate = read_wav(wav)
    seconds = mido.MidiFile(out).length
    assert rate == RATE and seconds < audio.shape[0] / rate <= seconds + synth_module.TAIL_S + 0.01
    assert np.abs(audio).max() > 0.05


def test_a_missing_soundfont_is_one_line_and_exit_2(tmp_path):
    midi = write_session_midi(tmp_path / "x.mid", [(0.0, 1, list(_on(60))), (0.5, 1, list(_off(60)))], 120.0)
    result = CliRunner().invoke(build_app(), ["render", str(midi), "--soundfont", str(tmp_path / "none.sf2")])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "apt-get install timgm6mb-soundfont" in lines[0], result.output


def test_a_missing_fluidsynth_library_names_the_debian_package(monkeypatch):
    monkeypatch.setattr(synth_module, "_lib", None)
    monkeypatch.setattr(synth_module.ctypes.util, "find_library", lambda _name: "libfluidsynth-absent.so.9")
    with pytest.raises(ValueError, match="apt-get install libfluidsynth3") as err:
        synth_module.load_fluidsynth()
    assert "\n" not in str(err.value)


# -- live: the frame-accurate JACK client --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def jack():
    if shutil.which("jackd") is None or not _fluidsynth_ready():
        pytest.skip("needs jackd2, libfluidsynth3 and timgm6mb-soundfont")
    server = JackServer(f"antiphon-synth-{os.getpid()}")
    yield server
    server.stop()


@pytest.mark.jack
@rerun_when_disturbed
def test_live_onsets_are_within_half_a_block_of_each_events_frame(jack):
    from antiphon.daemon.jackmidi import JackMidi

    engine = JackMidi()
    engine.users = 1
    engine.clock.check_s = float("inf")
    try:
        synth_module.attach_jack_synth(engine, None, {0: synth_module.DEFAULT_PROGRAM}, connect=False)
        ears = AudioProbe("antiphon:synth L", "antiphon:antiphon out", seconds=3.0)
        try:
            time.sleep(0.1)
            engine.xruns = engine.late = ears.xruns = 0  # clients joining the graph may cost an xrun
            start = engine.clock.to_frame(time.monotonic() + 0.3)
            offsets = [0, 37, 250, 4000 + 129, 8000 + 200, 12000 + 33, 16000 + 95, 20000 + 255]
            for k, offset in enumerate(offsets):  # each note is cut by all-sound-off: silence before the next
                frame = start + offset + k * 12000
                engine.send_at(mido.Message.from_bytes(_on(60 + k)), engine.clock.to_time(frame))
                engine.send_at(mido.Message("control_change", control=120, value=0),
                               engine.clock.to_time(frame + 4800))
            ears.wait_filled(ears.audio.size - ears.period)
        finally:
            ears.close()
        if engine.late:  # an event missed its cycle: the machine was too busy to honour the schedule
            raise Disturbed(f"the machine was too busy: {engine.summary()}")
        played = [(at, d) for at, d in ears.midi() if d[0] == 0x90]
        assert len(played) == len(offsets)
        audio = ears.audio
        for at, data in played:
            start_sound = first_sound(audio, at - 2000)
            assert abs(start_sound - _lag(data[1]) - at) <= HALF_BLOCK, (at, start_sound)
            assert pitch_of(audio[at + 256: at + 4800], ears.rate) == data[1]
        for at, data in ears.midi():  # all sound off: silent from the block it lands in
            if data[0] == 0xB0:
                assert not audio[at + HALF_BLOCK: at + 6000].any()
    finally:
        engine.release()


def _answer_notes(midi: list[tuple[int, bytes]]) -> list[tuple[int, int]]:
    return [(at, d[1]) for at, d in midi if len(d) == 3 and d[0] == 0x90 and d[2] > 0]


@pytest.mark.jack
def test_serve_synth_sounds_its_answers_and_is_silent_after_barge_in_panic_and_sigterm(jack, daemon_artifact,
                                                                                       tmp_path):
    from antiphon.daemon.frameclock import frame_delta

    daemon = Daemon(["--model", str(daemon_artifact), "--random-seed", "3", "--synth",
                     "--tempo", "fixed", "--phrase-end-steps", "8", "--response-bars", "2", "--panic-cc", "119"],
                    jack.env, tmp_path)
    keys = ears = None
    try:
        ears = AudioProbe("antiphon:synth L", "antiphon:antiphon out", seconds=20.0)
        keys = FrameProbe("keys", listen=False)
        rate = ears.rate
        call = phrase_events([60, 62, 64, 65], note_s=0.5)  # one bar; the answer starts 8 steps (1 s) after it
        into_answer_s = 2.0 + 1.0 + 1.0  # from a call's first note to 1 s into its 2-bar answer
        script = [(0.3 + s, m) for s, m in call]  # call 1; call 2 barges in on its answer
        barge_s = 0.3 + into_answer_s
        script += [(barge_s + s, m) for s, m in call]
        panic_s = barge_s + into_answer_s
        script.append((panic_s, mido.Message("control_change", control=119, value=127)))
        script += [(panic_s + 0.5 + s, m) for s, m in call]  # call 3; SIGTERM 1 s into its answer
        start = keys.frame_now() + 4 * keys.period
        keys.play(script, start)
        keys.wait_played(60)
        time.sleep(into_answer_s - 1.9)
        assert daemon.terminate() == 0
        time.sleep(0.3)
    finally:
        if keys is not None:
            keys.close()
        if ears is not None:
            ears.close()
        daemon.close()
    log = daemon.output()
    assert "built-in synth" in log, log
    audio, midi = ears.audio[: ears.filled], ears.midi()
    answers = _answer_notes(midi)
    assert len(answers) >= 3, log
    # Each answer's first note (after silence) starts within half a block of its frame; every note sounds its pitch.
    firsts = [at for at, _ in answers if not audio[max(0, at - rate // 4): at - HALF_BLOCK].any()]
    assert len(firsts) >= 3, (answers, log)
    pitch_at = dict(answers)
    for at in firsts:
        assert abs(first_sound(audio, at - rate // 4) - _lag(pitch_at[at]) - at) <= HALF_BLOCK
    ends = [at for at, _ in answers[1:]] + [len(audio)]
    for (at, pitch), end in zip(answers, ends, strict=True):
        if end - at >= 4096:
            assert pitch_of(audio[at + 1024: min(end, at + 8192)], rate) == pitch, (at, pitch, log)
    assert "barge-in" in log and "panic controller" in log
    # Barge-in: the answer's notes are released; no answer note sounds until the next answer, and the release has
    # died away to exact silence well before it.
    barge = frame_delta(start + round(barge_s * rate), ears.origin)
    next_answer = min(at for at, _ in answers if at > barge)
    assert not [at for at, _ in answers if barge < at < next_answer]
    assert not audio[barge + 3 * rate // 2: next_answer - HALF_BLOCK].any()
    # Panic and SIGTERM send all-sound-off: silent from the block it lands in.
    sound_offs = [at for at, d in midi if len(d) == 3 and d[0] & 0xF0 == 0xB0 and d[1] == 120]
    assert len(sound_offs) >= 2, log
    for at in sound_offs:
        quiet_until = min([a for a, _ in answers if a > at] + [len(audio)])
        assert not audio[at + HALF_BLOCK: quiet_until - HALF_BLOCK].any(), at


@needs_synth
def test_the_alsa_path_output_plays_each_message_into_the_synth_at_once():
    """``SynthOutput`` (serve --synth without JACK) hands every message to the synth; close silences it."""
    synth = FluidSynth(rate=RATE, programs={0: synth_module.DEFAULT_PROGRAM})
    sent = []

    class Port:
        name = "a synth"

        def send(self, msg):
            sent.append(msg)

        def close(self):
            sent.append("closed")

    output = synth_module.SynthOutput(synth, Port())
    buffer = np.zeros((4096, 2), dtype=np.float32)
    pointer = buffer.ctypes.data_as(synth_module.c_void_p)
    output.send(mido.Message("note_on", note=69, velocity=100))
    synth.write(4096, pointer, 0, pointer, 1, step=2)
    assert pitch_of(buffer[1024:, 0], RATE) == 69
    output.send(mido.Message("control_change", control=120, value=0))
    synth.write(4096, pointer, 0, pointer, 1, step=2)
    assert not buffer.any()
    output.close()
    assert [getattr(m, "type", m) for m in sent] == ["note_on", "control_change", "closed"]


def test_serve_synth_with_a_missing_soundfont_fails_in_one_line_before_opening_ports(daemon_artifact, tmp_path):
    result = CliRunner().invoke(build_app(), ["serve", "--model", str(daemon_artifact), "--backend", "jack",
                                              "--virtual", "--synth", "--soundfont", str(tmp_path / "none.sf2")])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "timgm6mb-soundfont" in errors[0]
