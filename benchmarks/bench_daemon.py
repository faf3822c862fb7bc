"""Daemon benchmark: output timing against the ideal grid in JACK frames, frame-accurate path beside rtmidi's.

For each period (64, 256, 1,024 frames at 48 kHz) a private JACK server (dummy driver, ``--no-realtime``) runs
``antiphon serve --backend jack --virtual`` at normal priority, from a ``git worktree`` pinned at ``--commit`` (so
edits in the tree cannot break a run), in two ways: the frame-accurate path, and python-rtmidi's JACK backend
(``ANTIPHON_JACK_RTMIDI=1``), each with the machine as it is ("idle") and with one process spinning on a core
("busy"). Two JACK-Client probes do the playing and listening (an rtmidi receiver cannot see inside a period):
"keys" plays a two-bar call at 120 bpm at exact frames, "synth" records ``last_frame_time + offset`` of every
message the daemon sends (two probes, not one: one client both feeding and hearing the daemon would make a
feedback loop, which JACK resolves with a period's delay).

Error: each response note message's frame minus the ideal grid (the call's first note frame + n x 6,000 frames);
its median is the constant latency (reported in ms and frames), the error is |e - median| as p50 / p99 / max in
ms and frames. Xruns are counted by the synth probe (the server's, all clients') and by the daemon (its log).
"heard": the same error on the time a listener hears. A server that stalls (an xrun) goes on counting frames
from where it stopped, so each stall takes wall-clock time out of the frame count (the dummy driver at 64 frames
loses ~85 ms in 30 s); the daemon keeps the player's time, so after a stall its notes sit on the wall-clock grid,
which the frame count sees as shifted by the time lost. The synth probe measures the loss from the lower envelope
of its own wake-ups (``FrameProbe.lost_before``) and adds it back; with no stall both errors are the same.

Targets (issue 13): frame path p99 <= 0.05 ms and max <= 0.1 ms at every period; p99 >= 100x lower than rtmidi at
1,024 frames; xruns at 64 reported; added latency <= one period + margin.

    .venv/bin/python benchmarks/bench_daemon.py [--periods 64,256,1024] [--min-steps 256] [--commit HEAD] [--quick]

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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "daemon"))

from daemon_helpers import phrase_events  # noqa: E402
from harness import Daemon, JackServer, spin_a_core  # noqa: E402
from jack_probe import FrameProbe  # noqa: E402

RATE = 48000
STEP_FRAMES = 6000  # a 16th at 120 bpm
CALL = [63, 65, 67, 68, 70, 72, 74, 75]  # two bars of quarter notes in E-flat
CALL_STEPS = 32
PHRASE_END_STEPS = 16
MAX_UNANSWERED = 5  # calls per condition left unanswered before the benchmark gives up
TARGETS = {"p99_ms": 0.05, "max_ms": 0.1, "p99_ratio_vs_rtmidi_1024": 100.0}


def pinned_worktree(commit: str, into: Path) -> Path:
    """A detached ``git worktree`` of ``commit`` (the daemon runs from there, not from the edited tree)."""
    path = into / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", str(path), commit], cwd=ROOT, check=True,
                   capture_output=True)
    return path


def one_condition(daemon: Daemon, response_bars: int, min_steps: int) -> dict:
    keys, synth = FrameProbe("keys", listen=False), FrameProbe("synth", speak=False)
    calls, steps, xruns0, unanswered = [], 0, synth.xruns, 0
    try:
        while steps < min_steps:
            since = synth.heard
            start = keys.frame_now() + RATE // 4
            keys.play(phrase_events(CALL, gate=0.9), start)
            phrase_end = start + (CALL_STEPS + PHRASE_END_STEPS) * STEP_FRAMES
            response_end = phrase_end + response_bars * 16 * STEP_FRAMES
            time.sleep((response_end - keys.frame_now()) / RATE + 0.3)
            notes = [f for f, m in synth.received(since) if m.type in ("note_on", "note_off")]
            if not notes:  # on an overloaded graph a call's notes can be lost with the cycles an xrun dropped
                unanswered += 1
                if unanswered > MAX_UNANSWERED:
                    raise RuntimeError(f"{unanswered} calls unanswered:\n{daemon.output()[-2000:]}")
                time.sleep(response_bars * 16 * STEP_FRAMES / RATE)  # a late answer plays out before the next call
                continue
            calls.append((start, notes))
            steps += max(1, round((max(notes) - phrase_end) / STEP_FRAMES))
        probe_xruns = synth.xruns - xruns0
        errors, heard_errors = [], []
        # frames lost to the server's stalls before each call's first note and each note (one envelope for all)
        lost = iter(synth.lost_before([f for start, notes in calls for f in (start, *notes)]) * RATE)
        for start, notes in calls:
            lost_at_start = next(lost)  # the listener did not hear the frames lost since then pass
            for f in notes:
                gone = round(next(lost) - lost_at_start)
                errors.append(f - (start + round((f - start) / STEP_FRAMES) * STEP_FRAMES))
                heard = f + gone - start
                heard_errors.append(heard - round(heard / STEP_FRAMES) * STEP_FRAMES)
    finally:
        keys.close()
        synth.close()
    return {**_spread(errors), **{f"heard_{k}": v for k, v in _spread(heard_errors).items()}, "steps": steps,
            "xruns": probe_xruns, "unanswered": unanswered}


def _spread(errors: list[float]) -> dict:
    """p50 / p99 / max of |e - median| in ms and frames; the median is the latency."""
    e = np.array(errors, dtype=float)
    offset = float(np.median(e))
    dev = np.abs(e - offset)
    ms = 1e3 / RATE
    p50, p99 = float(np.percentile(dev, 50)), float(np.percentile(dev, 99))
    return {"p50_ms": round(p50 * ms, 4), "p99_ms": round(p99 * ms, 4),
            "max_ms": round(float(dev.max()) * ms, 4), "p50_frames": p50, "p99_frames": round(p99, 1),
            "max_frames": float(dev.max()),
            "latency_ms": round(offset * ms, 3), "latency_frames": offset, "messages": int(e.size)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--periods", default="64,256,1024", help="JACK periods in frames at 48 kHz")
    parser.add_argument("--min-steps", type=int, default=256, help="grid steps of response per condition")
    parser.add_argument("--response-bars", type=int, default=8)
    parser.add_argument("--commit", default="HEAD", help="the commit the daemon runs from (a pinned worktree)")
    parser.add_argument("--model", help="model artifact folder (default: the worktree's bundled model)")
    parser.add_argument("--switch-interval", type=float, help="ANTIPHON_SWITCH_INTERVAL_S for the frame path")
    parser.add_argument("--quick", action="store_true", help="a short run (32 steps per condition)")
    parser.add_argument("--realtime-server", action="store_true",
                        help="jackd --realtime (SCHED_FIFO server and process threads; the daemon's loop stays at "
                             "normal priority): what the OS's wake-ups cost, beside the --no-realtime run")
    args = parser.parse_args()
    if args.quick:
        args.min_steps, args.response_bars = 32, 2
    periods = [int(p) for p in args.periods.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="bench_daemon_"))
    tree = pinned_worktree(args.commit, tmp)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=tree, capture_output=True, text=True,
                            check=True).stdout.strip()
    serve_args = ["--tempo", "fixed", "--phrase-end-steps", str(PHRASE_END_STEPS),
                  "--response-bars", str(args.response_bars), "--random-seed", "1", "--log-level", "INFO"]
    serve_args += ["--model", args.model] if args.model else []
    results: dict = {}
    try:
        for period in periods:
            jack = JackServer(f"antiphon-bench-{os.getpid()}-{period}", period=period, realtime=args.realtime_server)
            try:
                for path in ("frames", "rtmidi"):
                    extra = {"ANTIPHON_JACK_RTMIDI": "1"} if path == "rtmidi" else {}
                    path_args = ["--no-jack-frames"] if path == "rtmidi" else ["--jack-frames"]
                    if path == "frames" and args.switch_interval is not None:
                        extra["ANTIPHON_SWITCH_INTERVAL_S"] = str(args.switch_interval)
                    for cond in ("idle", "busy"):
                        busy = spin_a_core() if cond == "busy" else None
                        daemon = Daemon(serve_args + path_args, jack.env, tmp, extra_env=extra, cwd=tree)
                        try:
                            r = one_condition(daemon, args.response_bars, args.min_steps)
                        finally:
                            daemon.terminate()
                            if busy is not None:
                                busy.kill()
                                busy.wait()
                        found = re.search(r"JACK MIDI: .*late (\d+), .*xruns (\d+)", daemon.output())
                        late = (int(g) for g in found.groups()) if found else (None, None)
                        r["daemon_late"], r["daemon_xruns"] = late
                        results[f"{path}_{period}_{cond}"] = r
            finally:
                jack.stop()
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)

    print(f"antiphon serve over JACK (dummy driver, {'--realtime' if args.realtime_server else '--no-realtime'}, "
          f"48 kHz), 120 bpm, commit {commit}, the daemon at normal priority;\n"
          f"  load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print("error vs the ideal grid (|e - median|); latency = median e; xruns seen by the synth probe / daemon late")
    for period in periods:
        for cond in ("idle", "busy"):
            f, r = results[f"frames_{period}_{cond}"], results[f"rtmidi_{period}_{cond}"]
            ok = f["p99_ms"] <= TARGETS["p99_ms"] and f["max_ms"] <= TARGETS["max_ms"]
            heard_ok = f["heard_p99_ms"] <= TARGETS["p99_ms"] and f["heard_max_ms"] <= TARGETS["max_ms"]
            for name, x, pre in (("frames", f, ""), ("heard", f, "heard_"), ("rtmidi", r, ""),
                                 ("heard", r, "heard_")):
                print(f"{period:5d} {cond:4s} {name:6s}: p50 {x[pre + 'p50_ms']:.4f} ms ({x[pre + 'p50_frames']:g} "
                      f"fr), p99 {x[pre + 'p99_ms']:.4f} ms ({x[pre + 'p99_frames']:g} fr), max {x[pre + 'max_ms']:.4f}"
                      f" ms ({x[pre + 'max_frames']:g} fr); latency {x[pre + 'latency_ms']:.2f} ms "
                      f"({x[pre + 'latency_frames']:g} fr); {x['messages']} msgs; xruns {x['xruns']}, daemon late "
                      f"{x['daemon_late']}; calls unanswered {x['unanswered']}")
            print(f"      frame path, as heard (frames the server lost in its stalls added back): "
                  f"{'met' if heard_ok else 'MISSED'}")
            ratio = r["p99_ms"] / max(f["p99_ms"], 1e-3 / RATE * 1e3)
            results[f"ratio_{period}_{cond}"] = round(ratio, 1)
            print(f"      frames target p99 <= 0.05 ms, max <= 0.1 ms: {'met' if ok else 'MISSED'}; rtmidi/frames "
                  f"p99 ratio {ratio:.0f}x (p99 of 0 frames counted as one frame)")
    results.update({"targets": TARGETS, "commit": commit, "realtime_server": args.realtime_server,
                    "min_steps": args.min_steps, "load_average": round(os.getloadavg()[0], 2)})
    print(json.dumps({"bench": "daemon", **results}))


if __name__ == "__main__":
    main()
