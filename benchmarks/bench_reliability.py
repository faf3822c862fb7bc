"""Reliability benchmark: the long runs of the reliability tests, with figures (issue "Reliability and security").

Over real JACK MIDI (a private dummy-driver server), ``antiphon serve`` connected by name to a test keyboard and
a test synth (``tests/reliability/rel_helpers.py``):

- stuck notes: ``--runs`` daemon lives per kind (SIGTERM, SIGINT, an exception in the live loop through the
  ``ANTIPHON_FAULT_AFTER_STEPS`` test hook), each stopped at a random moment mid-call or mid-response with the
  sustain pedal down and the player's notes passed through; counts of stuck notes and of silences later than
  100 ms (target: 0 and 0), and the worst silence time;
- ports: ``--cycles`` times the keyboard's and then the synth's JACK client exits and comes back; reconnects
  within 2 s (target: all), worst notice and reconnect times, thread / fd / RSS change of the daemon;
- flood: ``--flood-s`` seconds of 10,000 garbage messages a second; RSS growth, step lateness p50/p99/max,
  exceptions, and whether the next call is answered;
- recordings: ``--sessions`` sessions killed with SIGKILL at random moments; files recovered, sessions losing
  more than 1 s (target: 0), worst loss.

Targets: zero stuck notes; reconnect within 2 s in every cycle; zero crashes; zero recordings losing more than
~1 s. Each part stops early when ``--budget-s`` (per part) runs out and says how many runs it made.

    .venv/bin/python benchmarks/bench_reliability.py [--runs 100] [--cycles 100] [--sessions 200] [--flood-s 10]

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "reliability"))

import rel_helpers as rh  # noqa: E402
import test_rel_stuck_notes as stuck  # noqa: E402

SILENCE_LIMIT_S = 0.1
RECONNECT_LIMIT_S = 2.0
LOSS_LIMIT_S = 1.0


STOP_KINDS = ("term", "int", "fault")


def bench_stuck(jack, model, tmp, runs: int, budget_s: float, rng, kinds=STOP_KINDS) -> dict:
    results = {}
    for kind in kinds:
        started, counts = time.monotonic(), {"runs": 0, "stuck_notes": 0, "runs_with_stuck": 0, "late": 0,
                                              "missing_cc": 0, "mid_response": 0, "worst_silence_ms": 0.0,
                                              "unanswered": 0}
        while counts["runs"] < runs and time.monotonic() - started < budget_s / 3:
            moment = "call" if rng.random() < 0.5 else "response"
            try:
                report = stuck.run_case(jack, model, tmp, kind, moment, rng)
            except AssertionError as err:  # no answer within 3 s of the call: counted and shown, the run goes on
                counts["runs"] += 1
                counts["unanswered"] += 1
                print(f"  no answer in {kind}/{moment}: daemon log {str(err)[-600:]!r}")
                continue
            counts["runs"] += 1
            counts["mid_response"] += bool(report["in_response"])
            counts["stuck_notes"] += len(report["stuck"])
            counts["runs_with_stuck"] += bool(report["stuck"])
            times = [report[k] for k in ("last_off_s", "cc123_s", "cc120_s", "sustain_off_s")]
            if any(t is None for t in times[1:]):
                counts["missing_cc"] += 1
            worst = max(t for t in times if t is not None)
            counts["late"] += worst > SILENCE_LIMIT_S
            counts["worst_silence_ms"] = round(max(counts["worst_silence_ms"], worst * 1e3), 2)
            if report["stuck"]:
                print(f"  stuck after {kind}/{moment}: {report['stuck']} heard {report['heard'][-12:]}")
        results[kind] = counts
        print(f"stuck notes, {kind:5s}: {counts}")
    return results


def bench_ports(jack, model, tmp, cycles: int, budget_s: float, rng) -> dict:
    keyboard, synth = rh.Keyboard(), rh.Synth()
    daemon = rh.start_daemon(jack, model, tmp, "--phrase-end-steps", "4", "--response-bars", "2")
    out = {"cycles": 0, "reconnected": 0, "worst_notice_s": 0.0, "worst_reconnect_s": 0.0}
    try:
        pid = daemon.proc.pid
        keyboard, _, _ = rh.bounce(jack, daemon, "input", keyboard, 1, 0.1)
        synth, _, _ = rh.bounce(jack, daemon, "output", synth, 1, 0.1)
        before = (rh.thread_count(pid), rh.fd_count(pid), rh.rss_kib(pid))
        started = time.monotonic()
        for cycle in range(2, cycles + 2):
            if time.monotonic() - started > budget_s:
                break
            for kind in ("input", "output"):
                part = keyboard if kind == "input" else synth
                new, noticed, back = rh.bounce(jack, daemon, kind, part, cycle, float(rng.uniform(0.1, 1.0)))
                if kind == "input":
                    keyboard = new
                else:
                    synth = new
                ok = noticed is not None and back is not None and noticed <= RECONNECT_LIMIT_S \
                    and back <= RECONNECT_LIMIT_S
                out["reconnected"] += ok
                out["worst_notice_s"] = round(max(out["worst_notice_s"], noticed or 99.0), 3)
                out["worst_reconnect_s"] = round(max(out["worst_reconnect_s"], back or 99.0), 3)
            out["cycles"] += 1
        time.sleep(0.3)
        after = (rh.thread_count(pid), rh.fd_count(pid), rh.rss_kib(pid))
        out.update(threads=[before[0], after[0]], fds=[before[1], after[1]], rss_kib=[before[2], after[2]])
        t0 = time.monotonic() + 0.2
        keyboard.play(rh.phrase([60, 64, 67, 72, 67, 64, 62, 60]), t0)
        out["answers_after"] = synth.wait_for(lambda: synth.note_ons(since=t0 + 2.0), 3.0)
        out["exit_code"] = daemon.terminate()
        out["traceback"] = "Traceback" in daemon.output()
    finally:
        daemon.close()
        keyboard.close()
        synth.close()
    print(f"ports: {out['reconnected']} of {2 * out['cycles']} reconnects within {RECONNECT_LIMIT_S} s; {out}")
    return out


def bench_flood(jack, model, tmp, flood_s: float, rng) -> dict:
    keyboard, synth = rh.Keyboard(), rh.Synth()
    daemon = rh.start_daemon(jack, model, tmp, "--phrase-end-steps", "4", "--response-bars", "1")
    try:
        pid = daemon.proc.pid
        rss = [rh.rss_kib(pid)]
        sent = rh.flood(keyboard, 10_000, flood_s, rng)
        rss.append(rh.rss_kib(pid))
        time.sleep(1.5)
        t0 = time.monotonic() + 1.0
        keyboard.play(rh.phrase([60, 62, 64, 65, 67, 69, 71, 72]), t0)
        answered = synth.wait_for(lambda: synth.note_ons(since=t0 + 2.0), 3.0)
        rss.append(rh.rss_kib(pid))
        code = daemon.terminate()
        output = daemon.output()
    finally:
        daemon.close()
        keyboard.close()
        synth.close()
    late = rh.lateness_ms(output)
    out = {"seconds": flood_s, "sent": sent, "rate_per_s": round(sent / flood_s), "rss_kib": rss,
           "rss_growth_kib": max(rss) - rss[0], "lateness_ms_p50_p99_max": late, "answered_after": answered,
           "exit_code": code, "traceback": "Traceback" in output,
           "dropped_line": next((line for line in output.splitlines() if "dropped" in line), None)}
    print(f"flood: {out}")
    return out


def bench_recordings(jack, model, tmp, sessions: int, budget_s: float, rng) -> dict:
    record = tmp / "rec"
    made = []
    started = time.monotonic()
    while len(made) < sessions and time.monotonic() - started < budget_s:
        made.append(rh.killed_session(jack, model, tmp, record, 24 + len(made) % 80, float(rng.uniform(0.3, 2.5))))
    keyboard, synth = rh.Keyboard(), rh.Synth()
    try:
        rh.start_daemon(jack, model, tmp, "--record", str(record)).terminate()  # recovers the last one
    finally:
        keyboard.close()
        synth.close()
    paths = sorted(record.glob("*.mid"), key=lambda p: p.stat().st_mtime)
    tracks = [rh.recorded_notes(p) for p in paths]
    # Files are recovered in session order (each at the next start): pair them in that order.
    losses = []
    for (sent, heard, killed), t in zip(made, tracks, strict=False):
        losses.append(max(rh.lost_seconds(sent, t["call"], killed), rh.lost_seconds(heard, t["response"], killed)))
    out = {"sessions": len(made), "files": len(paths), "journals_left": len(list(record.glob("*.journal"))),
           "sessions_losing_over_1s": sum(loss > LOSS_LIMIT_S for loss in losses),
           "worst_loss_s": round(max(losses, default=0.0), 3),
           "mid_response": sum(bool(h) for _, h, _ in made)}
    print(f"recordings: {out}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100, help="stuck-note runs per kind")
    parser.add_argument("--cycles", type=int, default=100, help="port leave/return cycles (each: input, output)")
    parser.add_argument("--sessions", type=int, default=200, help="recording sessions killed with SIGKILL")
    parser.add_argument("--flood-s", type=float, default=10.0)
    parser.add_argument("--budget-s", type=float, default=1e9, help="wall-time budget per part")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kinds", default=",".join(STOP_KINDS), help="comma-separated stop kinds (stuck part)")
    parser.add_argument("--parts", default="stuck,flood,ports,recordings", help="comma-separated parts to run")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="antiphon-bench-rel-"))
    model = rh.make_daemon_artifact(tmp / "model", units=8)
    parts = {"stuck": lambda jack: bench_stuck(jack, model, tmp, args.runs, args.budget_s, rng,
                                                args.kinds.split(",")),
             "flood": lambda jack: bench_flood(jack, model, tmp, args.flood_s, rng),
             "ports": lambda jack: bench_ports(jack, model, tmp, args.cycles, args.budget_s, rng),
             "recordings": lambda jack: bench_recordings(jack, model, tmp, args.sessions, args.budget_s, rng)}
    started = time.monotonic()
    results = {}
    for name in args.parts.split(","):
        jack = rh.JackServer(f"antiphon-bench-rel-{name}-{os.getpid()}")  # a fresh server per part
        try:
            results[name] = parts[name](jack)
        except Exception as err:  # a part that breaks is reported with the JACK server's log, the rest still run
            print(f"{name}: failed: {err!r}\njackd log: {jack.output()[-1500:]}")
            results[name] = {"failed": repr(err)[:300], "jackd_alive": jack.proc.poll() is None}
        finally:
            jack.stop()
    results["wall_s"] = round(time.monotonic() - started, 1)
    print(json.dumps({"bench": "reliability", **results}))


if __name__ == "__main__":
    main()
