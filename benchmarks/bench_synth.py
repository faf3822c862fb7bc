"""Built-in synth benchmark: audio onset timing offline and live over JACK, beside FluidSynth's own JACK driver.

Onsets are read from the signal: the synth is dry, so before a note starts its output is exactly zero, and the
first non-zero sample after silence is where the voice started; each (program, note, velocity) is rendered once
alone at sample 0 to learn how many samples its SoundFont sample takes to leave zero (its lag), which is taken off.
Error = onset - lag - the note-on's intended sample.

- offline: random note-ons (off the 64-sample block grid) rendered with the block split nearest each event
  (Antiphon's choice) and at the exact sample (FluidSynth then starts the note at the next block); plus the render
  time per second of audio for a legato melody.
- live: for each period (256, 1,024 frames at 48 kHz) a private JACK server (dummy driver, ``--no-realtime``) runs
  ``antiphon serve --synth --metronome --bpm 111`` from a ``git worktree`` pinned at ``--commit``; a JACK client
  records ``antiphon:synth L`` and the MIDI output. Intended sample = the frame the click's note-on went out on
  (the frame path puts it on its deadline's frame; that MIDI frame is also checked against the ideal beat grid).
  111 bpm puts the beats at every phase of the 64-sample block. Then FluidSynth's own JACK driver
  (``fluidsynth -a jack -m jack``, dry, same SoundFont) gets the same clicks from a JACK client at exact frames.
- ready: spawn -> READY=1 of ``serve --synth`` (model and SoundFont loaded, ports open).
- soak: ``serve --synth --metronome`` for ``--soak-s`` at each of ``--soak-periods`` (256); xruns counted by a
  listening client and by the daemon, beside the same without ``--synth`` and with no Antiphon running (the shared
  machine's own xruns); ``--soak-busy`` keeps one process spinning on a core throughout (issue 13's condition).
  Each xrun is put down to a client from jackd's own log: which clients it found unfinished, and whether each was
  ``Triggered`` (signalled, not yet woken by the OS) or ``Running`` (past the cycle's end in its own callback).

Targets (issue 15): offline p99 <= 1.5 ms; live p99 <= 1.5 ms at 256 and 1,024 frames and >= 5x better than
FluidSynth's JACK driver at 1,024; no xrun caused by Antiphon in 10 minutes at 256 frames; ready within 2 s.

    .venv/bin/python benchmarks/bench_synth.py [--periods 256,1024] [--seconds 40] [--soak-s 600] [--soak-periods 256]
        [--soak-busy] [--commit HEAD]

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "daemon"))

from audio_probe import AudioProbe, first_sound  # noqa: E402
from harness import Daemon, JackServer, spin_a_core  # noqa: E402
from jack_probe import FrameProbe  # noqa: E402

from antiphon.daemon.frameclock import frame_delta  # noqa: E402
from antiphon.daemon.synth import SOUNDFONT, FluidSynth, render_events  # noqa: E402

RATE = 48000
BPM = 111  # beats 25,946 frames apart: every phase of the 64-sample block
CLICK_NOTES, CLICK_VELOCITIES = (76, 77), (110, 80)  # serve's defaults (channel 10)
DRUMS = 9
SILENCE_BEFORE = 2000  # samples of exact silence needed before an onset to time it
TARGETS = {"offline_p99_ms": 1.5, "live_p99_ms": 1.5, "ratio_vs_fluidsynth_1024": 5.0, "ready_s": 2.0}


def pinned_worktree(commit: str, into: Path) -> Path:
    path = into / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", str(path), commit], cwd=ROOT, check=True,
                   capture_output=True)
    return path


def stats(errors_samples: list[float]) -> dict:
    if not errors_samples:
        return {"n": 0}
    e = np.abs(np.asarray(errors_samples, dtype=float)) / RATE * 1e3
    signed = np.asarray(errors_samples, dtype=float)
    return {"n": int(e.size), "p50_ms": round(float(np.percentile(e, 50)), 3),
            "p99_ms": round(float(np.percentile(e, 99)), 3), "max_ms": round(float(e.max()), 3),
            "mean_signed_samples": round(float(signed.mean()), 1),
            "range_samples": [int(signed.min()), int(signed.max())]}


_lags: dict[tuple, int] = {}


def lag(program: int | None, channel: int, note: int, velocity: int) -> int:
    """Samples from a voice's start to its first non-zero sample, rendered alone."""
    key = (program, channel, note, velocity)
    if key not in _lags:
        synth = FluidSynth(rate=RATE, programs={} if program is None else {channel: program})
        try:
            audio = render_events([(0.0, bytes([0x90 | channel, note, velocity]))], synth, tail_s=0.05)
        finally:
            synth.close()
        _lags[key] = first_sound(audio[:, 0], 0)
    return _lags[key]


def onset_errors(audio: np.ndarray, note_ons: list[tuple[int, bytes]], program: int | None,
                 early: int = 32) -> tuple[list, int]:
    """Error (samples) of each note-on heard after silence; and how many could not be timed (sound before it).

    ``early``: how far before its frame a note may start (FluidSynth's JACK driver moves events to the start of
    their period: up to a period early).
    """
    errors, skipped = [], 0
    for at, data in note_ons:
        quiet = at - early - SILENCE_BEFORE
        if quiet < 0 or at + RATE // 10 > audio.size or audio[quiet: at - early].any():
            skipped += 1
            continue
        start = first_sound(audio, at - early)
        if start is None:
            skipped += 1
            continue
        errors.append(start - lag(program, data[0] & 0x0F, data[1], data[2]) - at)
    return errors, skipped


# -- offline ------------------------------------------------------------------------------------------------------

def offline(count: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    samples = np.cumsum(rng.integers(RATE // 4, RATE // 2, count))  # note-ons 0.25-0.5 s apart, any phase
    events = []
    for s in samples:
        events.append((s / RATE, bytes([0x90, 60, 100])))
        events.append(((s + RATE // 10) / RATE, bytes([0xB0, 120, 0])))  # cut: exact silence before the next
    result = {}
    for split in ("nearest", "exact"):
        synth = FluidSynth(rate=RATE, programs={0: 0})
        try:
            audio = render_events(events, synth, split=split)[:, 0]
        finally:
            synth.close()
        errors, skipped = onset_errors(audio, [(int(s), bytes([0x90, 60, 100])) for s in samples], 0)
        result[split] = {**stats(errors), "untimed": skipped}
    # Render speed: a two-minute legato melody on flute with a piano call on another channel.
    t, melody = 0.0, []
    while t < 120.0:
        step = float(rng.choice([0.125, 0.25, 0.5]))
        pitch = int(rng.integers(60, 84))
        melody += [(t, bytes([0x90 | (int(t) % 2), pitch, 90])), (t + step, bytes([0x80 | (int(t) % 2), pitch, 0]))]
        t += step
    synth = FluidSynth(rate=RATE, programs={0: 73, 1: 0})
    try:
        started = time.perf_counter()
        audio = render_events(melody, synth)
        elapsed = time.perf_counter() - started
    finally:
        synth.close()
    result["render_ms_per_audio_s"] = round(elapsed / (audio.shape[0] / RATE) * 1e3, 3)
    return result


# -- live ---------------------------------------------------------------------------------------------------------

def grid_error(frames: list[int]) -> dict:
    """How far the clicks' MIDI frames sit from an ideal beat grid fitted to them (frames)."""
    if len(frames) < 3:
        return {}
    beat = RATE * 60.0 / BPM
    n = np.round((np.asarray(frames) - frames[0]) / beat)
    fit = np.polyfit(n, np.asarray(frames, dtype=float), 1)
    residual = np.asarray(frames) - np.polyval(fit, n)
    return {"max_abs_frames": round(float(np.abs(residual).max()), 2)}


def jack_period(jack: JackServer) -> int:
    return int(jack.proc.args[jack.proc.args.index("-p") + 1])


def live_antiphon(jack: JackServer, tree: Path, tmp: Path, seconds: float) -> dict:
    args = ["--synth", "--metronome", "--bpm", str(BPM), "--tempo", "fixed", "--random-seed", "1", "--log-level",
            "INFO"]
    daemon = Daemon(args, jack.env, tmp, cwd=tree)
    ears = None
    try:
        ready_s = daemon.ready_s
        ears = AudioProbe("antiphon:synth L", "antiphon:antiphon out", seconds=seconds + 1)
        ears.wait_filled(int(seconds * RATE), timeout_s=seconds + 30)
        xruns_ears = ears.xruns
    finally:
        if ears is not None:
            ears.close()
        daemon.terminate()
    log = daemon.output()
    audio = ears.audio[: ears.filled]
    ons = [(at, d) for at, d in ears.midi() if len(d) == 3 and d[0] & 0xF0 == 0x90 and d[2] > 0]
    errors, skipped = onset_errors(audio, ons, None, early=jack_period(jack) + 64)  # the same window as FluidSynth's
    found = re.search(r"late (\d+), .*xruns (\d+)", log)
    return {**stats(errors), "untimed": skipped, "ready_s": round(ready_s, 3),
            "midi_vs_grid": grid_error([at for at, _ in ons]),
            "daemon_late": int(found.group(1)) if found else None,
            "daemon_xruns": int(found.group(2)) if found else None, "xruns_seen": xruns_ears}


def live_fluidsynth(jack: JackServer, seconds: float) -> dict:
    """FluidSynth's own JACK audio and MIDI drivers, fed clicks at exact frames by a JACK client."""
    cmd = ["fluidsynth", "-a", "jack", "-m", "jack", "-o", "audio.jack.autoconnect=0", "-o", "synth.reverb.active=0",
           "-o", "synth.chorus.active=0", "-o", f"synth.sample-rate={RATE}", "-g", "1.0", SOUNDFONT]
    proc = subprocess.Popen(cmd, env=jack.env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # stdin stays open: its shell waits, the synth runs
    keys = ears = None
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            ports = subprocess.run(["jack_lsp"], env=jack.env, capture_output=True, text=True).stdout.split()
            midi = [p for p in ports if p.startswith("fluidsynth") and p.endswith("midi_00")]
            left = [p for p in ports if p.startswith("fluidsynth") and p.endswith(":left")]
            if midi and left:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("fluidsynth's JACK ports did not appear")
        ears = AudioProbe(left[0], None, seconds=seconds + 1, name="fs-ears")
        keys = FrameProbe("fs-keys", speak=False, listen=False)
        keys.client.connect(keys.out, midi[0])
        time.sleep(0.2)
        beat = RATE * 60.0 / BPM
        start = keys.frame_now() + 8 * keys.period
        wanted = []
        for n in range(int((seconds - 1) * BPM / 60)):
            frame = start + round(n * beat)
            note, velocity = CLICK_NOTES[n % 4 != 0], CLICK_VELOCITIES[n % 4 != 0]
            keys.schedule.append((frame, bytes([0x90 | DRUMS, note, velocity])))
            keys.schedule.append((frame + RATE // 8, bytes([0x80 | DRUMS, note, 0])))
            wanted.append((frame, bytes([0x90 | DRUMS, note, velocity])))
        keys.wait_played(seconds + 30)
        ears.wait_filled(ears.filled + RATE // 2, timeout_s=5)
        xruns = ears.xruns
    finally:
        for client in (keys, ears):
            if client is not None:
                client.close()
        proc.terminate()
        proc.wait(5)
    audio = ears.audio[: ears.filled]
    ons = [(frame_delta(frame, ears.origin), data) for frame, data in wanted]
    errors, skipped = onset_errors(audio, ons, None, early=jack_period(jack) + 64)
    return {**stats(errors), "untimed": skipped, "xruns_seen": xruns}


SOAK_MODES = {"synth": ["--synth", "--metronome"], "nosynth": ["--metronome"], "baseline": None}


def soak(period: int, tree: Path, tmp: Path, seconds: float, modes: list[str], busy: bool) -> dict:
    """Xruns seen by a listening client with ``serve --metronome`` (with and without ``--synth``) running, and over
    the same time with nothing but the listener (``baseline``: the shared machine's own xruns); ``busy``: with
    one process spinning on a core throughout."""
    out: dict = {"seconds": seconds, "busy": busy}
    for label in modes:
        jack = JackServer(f"antiphon-synth-soak-{os.getpid()}-{label}", period=period)
        daemon = None
        spinner = spin_a_core() if busy else None
        try:
            if SOAK_MODES[label] is not None:
                daemon = Daemon([*SOAK_MODES[label], "--bpm", str(BPM), "--log-level", "INFO"], jack.env, tmp,
                                cwd=tree)
            ears = AudioProbe("antiphon:synth L" if label == "synth" else None, None, seconds=1.0, name="soak-ears")
            time.sleep(0.5)
            ears.xruns, before = 0, jack.not_finished()
            time.sleep(seconds)
            out[f"xruns_{label}"] = ears.xruns
            # whom the server found unfinished at each xrun, and in what state (Triggered: not yet woken)
            out[f"not_finished_{label}"] = {f"{client} {state}": n for (client, state), n in
                                            sorted((jack.not_finished() - before).items())}
            ears.close()
        finally:
            if daemon is not None:
                daemon.terminate()
                found = re.search(r"late (\d+), .*xruns (\d+)", daemon.output())
                if found:
                    out[f"daemon_late_{label}"], out[f"daemon_xruns_{label}"] = int(found.group(1)), int(found.group(2))
                done = re.search(r"callback done by frame (\d+) of \d+ at the latest \(cycle (\d+)\), (\d+) cycles",
                                 daemon.output())
                if done:
                    out[f"daemon_callback_done_frames_max_{label}"] = int(done.group(1))
                    out[f"daemon_callback_busiest_cycle_{label}"] = int(done.group(2))
                    out[f"daemon_callback_overran_{label}"] = int(done.group(3))
                body = re.search(r"woken by frame (\d+) at the latest, body (\d+) frames at most \((\d+) in",
                                 daemon.output())
                if body:  # an overrun with a short body was the OS waking the callback late, not its work
                    out[f"daemon_callback_wake_max_{label}"] = int(body.group(1))
                    out[f"daemon_callback_body_max_{label}"] = int(body.group(2))
                    out[f"daemon_callback_overran_body_max_{label}"] = int(body.group(3))
            if spinner is not None:
                spinner.kill()
                spinner.wait()
            jack.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--periods", default="256,1024", help="JACK periods in frames at 48 kHz")
    parser.add_argument("--seconds", type=float, default=40.0, help="live recording per condition")
    parser.add_argument("--notes", type=int, default=400, help="offline note-ons per split")
    parser.add_argument("--soak-s", type=float, default=600.0, help="xrun soak per mode and period (0: none)")
    parser.add_argument("--soak-periods", default="256", help="JACK periods of the xrun soak")
    parser.add_argument("--soak-busy", action="store_true", help="soak with one process spinning on a core")
    parser.add_argument("--soak-modes", default="synth,nosynth,baseline", help=f"of {', '.join(SOAK_MODES)}")
    parser.add_argument("--commit", default="HEAD", help="the commit the daemon runs from (a pinned worktree)")
    args = parser.parse_args()
    results: dict = {"offline": offline(args.notes)}
    print(f"offline: {json.dumps(results['offline'])}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench_synth_"))
    tree = pinned_worktree(args.commit, tmp)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=tree, capture_output=True, text=True,
                            check=True).stdout.strip()
    try:
        for period in (int(p) for p in args.periods.split(",") if p):
            jack = JackServer(f"antiphon-bench-synth-{os.getpid()}-{period}", period=period)
            try:
                results[f"antiphon_{period}"] = live_antiphon(jack, tree, tmp, args.seconds)
                print(f"antiphon {period}: {json.dumps(results[f'antiphon_{period}'])}", flush=True)
                results[f"fluidsynth_{period}"] = live_fluidsynth(jack, args.seconds)
                print(f"fluidsynth {period}: {json.dumps(results[f'fluidsynth_{period}'])}", flush=True)
            finally:
                jack.stop()
        for period in (int(p) for p in args.soak_periods.split(",") if p and args.soak_s > 0):
            results[f"soak_{period}"] = soak(period, tree, tmp, args.soak_s, args.soak_modes.split(","), args.soak_busy)
            print(f"soak {period}: {json.dumps(results[f'soak_{period}'])}", flush=True)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)
    results["commit"] = commit
    results["load_average"] = round(os.getloadavg()[0], 2)
    results["cores"] = os.cpu_count()
    ratio = None
    if results.get("antiphon_1024", {}).get("p99_ms") and results.get("fluidsynth_1024", {}).get("p99_ms"):
        ratio = round(results["fluidsynth_1024"]["p99_ms"] / results["antiphon_1024"]["p99_ms"], 1)
    results["ratio_vs_fluidsynth_1024"] = ratio
    results["targets"] = TARGETS
    print(f"commit {commit}; load average {results['load_average']} on {results['cores']} cores (shared machine)")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
