"""Soak benchmark: ``--exchanges`` call-and-response exchanges through ``antiphon serve`` over JACK, tempo changing.

A private JACK server (dummy driver) runs ``antiphon serve --backend jack --virtual`` (its defaults: ``--tempo
follow``) from a pinned ``git worktree`` of HEAD (``/tmp/antiphon-soak-<sha>``, made once and kept), so edits in
the working tree cannot change a long run. A JACK test client (tests/daemon/harness.py) plays 2-bar calls cut
from real tunes (bench_rhythm: 2/4, 3/4, 4/4, 6/8, with pickups; bench_rhythm.perform's drift, 5 ms spread and
50-100% gate) at a beat drawn log-uniformly from 70-160 bpm (6/8: dotted quarter, 70-110), holding tune, tempo
and bar grid for 1-4 calls in a row (the next call's downbeat on the player's bar line). After each call it
waits for the answer's first note, then barges in with the next call after the answer's first bar (or
``--barge-beats``), or (one exchange in ``--wait-every``) waits until the answer has ended.

Figures: exchanges answered; the daemon's RSS (and threads, fds) at start, every 100 exchanges and at the end;
timing of the answer's note-ons (i) on the daemon's own grid (each answer's note-ons fitted to a line a + n x
step: residual p50 / p99 / max; and, exactly, on the 16ths of the last tempo serve logged before the answer,
one offset per answer) and (ii) against the call's grid (the call's 16ths, timed by its performance and
kept at its final tempo; the JACK pipeline's constant offset, the median error, taken out): share within
min(30 ms, 1/4 of a 16th), p50 / p90; answers whose first note lies on the call's bar line (within 30 ms and 1/8
beat; an answer starting with a rest counts as off); stuck notes after SIGTERM mid-answer (every note-on matched
by a note-off, harness.unmatched_note_ons); serve's exit code; warnings and errors in its log.

    .venv/bin/python benchmarks/bench_soak.py [--exchanges 1000] [--period 128] [--seed 3] [--wait-every 5]
        [--barge-beats B] [--busy] [--daemon-log FILE] [--raw FILE]

SIGUSR1 ends the run after the exchange in play, with the same report. ``--exchanges 50`` takes about 6
minutes; 1000 about two hours. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "daemon"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_rhythm import METERS, cut_calls, load_tunes, perform  # noqa: E402
from bench_turns import events_of, grid_error, player_clock, q_of, retimed, t_of  # noqa: E402
from harness import Client, Daemon, JackServer, spin_a_core, unmatched_note_ons  # noqa: E402

BEAT_BPM = (70.0, 160.0)
BEAT_BPM_68 = (70.0, 110.0)
HOLD_CALLS = (1, 4)  # a tune, tempo and bar grid held for this many calls
SPREAD_S = 0.005
TOL_S = 0.030
ANSWER_WAIT_BARS = 4  # no answer note within this many bars (+ 1 s) of the call's last note: a miss


def pin_worktree() -> tuple[Path, str]:
    """A detached worktree of HEAD under /tmp (made once per commit; a run from inside it reuses it)."""
    sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                         check=True).stdout.strip()
    path = Path(tempfile.gettempdir()) / f"antiphon-soak-{sha[:12]}"
    if not (path / "antiphon" / "__init__.py").is_file():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), sha], check=True,
                       capture_output=True)
    where = subprocess.run([sys.executable, "-c", "import antiphon.daemon as d; print(d.__file__)"], cwd=path,
                           capture_output=True, text=True, check=True).stdout.strip()
    if not where.startswith(str(path)):
        raise RuntimeError(f"the pinned worktree {path} imports antiphon.daemon from {where}")
    return path, sha


class Watchdog:
    """No exchange for ``limit_s``: the JACK graph has stalled (a client blocked in rtmidi's send cannot be
    interrupted); print what jackd and serve said, stop serve with SIGTERM, print a JSON line and exit 3."""

    def __init__(self, limit_s: float, jack: JackServer, get_daemon, summary: dict):
        self.limit_s, self.jack, self.get_daemon, self.summary = limit_s, jack, get_daemon, summary
        self.timer = None
        self.kick()

    def kick(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = threading.Timer(self.limit_s, self._fire)
        self.timer.daemon = True
        self.timer.start()

    def cancel(self) -> None:
        self.timer.cancel()

    def _fire(self) -> None:
        daemon = self.get_daemon()
        print(f"STALLED: no exchange for {self.limit_s:.0f} s; jackd said:\n{self.jack.output()[-1500:]}", flush=True)
        code = None
        if daemon is not None:
            print("serve said:\n" + daemon.output()[-1500:], flush=True)
            code = daemon.terminate()
        self.jack.stop()
        print(json.dumps({"bench": "soak", "stalled": True, "sigterm_exit": code, **self.summary}), flush=True)
        os._exit(3)


def proc_stats(pid: int) -> dict:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
    threads = int(re.search(r"Threads:\s+(\d+)", status).group(1))
    return {"rss_mb": round(rss / 1024, 1), "threads": threads, "fds": len(os.listdir(f"/proc/{pid}/fd"))}


def two_bar_calls(rng: np.random.Generator, count: int) -> list[dict]:
    """Calls of at most two bars after their downbeat (bench_rhythm.cut_calls cuts 2 and 4)."""
    calls = [c for c in cut_calls(load_tunes(), 3 * count, rng)
             if c["notes"][-1, 0] < c["downbeat_ql"] + 2 * METERS[c["sig"]] - 1e-9]
    return calls[:count]


def fit_residuals(times: list[float], step_s: float) -> list[float]:
    """Residuals (s) of note-on times fitted to a + n x step (n whole steps; ``step_s`` a first guess)."""
    t = np.sort(np.asarray(times))
    if len(t) < 3:
        return []
    a, b = t[0], step_s
    for k in range(2, len(t) + 1):  # grow the fit note by note so a tempo a few % off cannot mis-count steps
        n = np.rint((t[:k] - a) / b)
        if len(set(n)) >= 2:
            b, a = np.polyfit(n, t[:k], 1)
    n = np.rint((t - a) / b)
    return list(t - (a + b * n))


class Player:
    """Plays calls into the daemon and judges what comes back."""

    def __init__(self, client: Client, rng: np.random.Generator, pool: list[dict], wait_every: int,
                 barge_beats: float | None = None):
        self.client, self.rng, self.pool, self.wait_every = client, rng, pool, wait_every
        self.barge_beats = barge_beats  # barge in this many beats into the answer (None: after its first bar)
        self.held = 0
        self.tune_calls: list[dict] = []
        self.clock = None  # the player's grid (the last call's), while tempo and bar are held
        self.bpm = None
        self.records: list[dict] = []

    def next_call(self) -> tuple[dict, bool]:
        if self.held <= 0:
            call = self.pool[int(self.rng.integers(len(self.pool)))]
            self.tune_calls = [c for c in self.pool if c["tune"] == call["tune"]] or [call]
            self.held = int(self.rng.integers(HOLD_CALLS[0], HOLD_CALLS[1] + 1))
            low, high = BEAT_BPM_68 if call["sig"] == "6/8" else BEAT_BPM
            beat = math.exp(self.rng.uniform(math.log(low), math.log(high)))
            self.bpm = beat * (1.5 if call["sig"] == "6/8" else 1.0)
            self.clock = None
            fresh = True
        else:
            call = self.tune_calls[int(self.rng.integers(len(self.tune_calls)))]
            fresh = False
        self.held -= 1
        return call, fresh

    def play(self, not_before: float, index: int) -> dict:
        call, fresh = self.next_call()
        perf = perform(call, SPREAD_S, self.rng)
        lead = float(perf["time_of"](call["downbeat_ql"])) * perf["bpm"] / self.bpm  # first note -> downbeat
        not_before = max(not_before, time.monotonic() + 0.05)
        if self.clock is not None:  # held: the downbeat on the player's bar line
            k = math.ceil((q_of(self.clock, not_before + lead) - self.clock["downbeat"]) / self.clock["bar"])
            first = t_of(self.clock, self.clock["downbeat"] + k * self.clock["bar"]) - lead
        else:
            first = not_before + (0.5 if fresh else 0.0)
        p = retimed(perf, self.bpm, 0.0)
        t0 = first
        self.client.play(events_of(p), t0)
        p = retimed(perf, self.bpm, t0)
        call_on = float(p["on"].min())
        clock = player_clock(call, p)
        self.clock, self.bpm = clock, 60.0 / clock["spq_end"]
        last_on, bar_s = float(p["on"].max()), clock["bar"] * clock["spq_end"]
        deadline = last_on + ANSWER_WAIT_BARS * bar_s + 1.0
        got = self.client.wait_until(lambda: bool(self.client.notes("note_on", since=last_on + 0.005)),
                                     max(0.0, deadline - time.monotonic()))
        rec = {"i": index, "sig": call["sig"], "bpm": round(self.bpm, 2), "held": not fresh, "answered": got,
               "wait": index % self.wait_every == self.wait_every - 1, "clock": clock, "last_on": last_on,
               "call_on": call_on}
        if not got:
            self.records.append(rec)
            return {"next": time.monotonic() + 0.5, "rec": rec}
        answer_on = self.client.notes("note_on", since=last_on + 0.005)[0][0]
        rec["first_on"] = answer_on
        if rec["wait"]:  # until the answer has ended: no message for a bar (and at least 0.6 s)
            quiet = max(0.6, bar_s)
            while True:
                last = max(t for t, _ in self.client.received)
                if time.monotonic() - last > quiet:
                    break
                time.sleep(0.05)
            nxt = time.monotonic()
        else:  # barge in after the answer's first bar (or --barge-beats)
            nxt = answer_on + (bar_s if self.barge_beats is None else self.barge_beats * clock["beat_s"])
        rec["until"] = nxt
        self.records.append(rec)
        return {"next": nxt, "rec": rec}


def daemon_tempi(log: str, mono_minus_wall: float) -> list[tuple[float, float]]:
    """(monotonic time, bpm) of every grid serve took (its "tempo X bpm" lines; log times are wall-clock ms)."""
    out = []
    for found in re.finditer(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) INFO \S+: tempo ([\d.]+) bpm", log, re.M):
        wall = time.mktime(time.strptime(found.group(1), "%Y-%m-%d %H:%M:%S")) + int(found.group(2)) / 1000
        out.append((wall + mono_minus_wall, float(found.group(3))))
    return out


def tempo_residuals(records: list[dict], tempi: list[tuple[float, float]]) -> list[float]:
    """Residuals (s) of each answer's note-ons from the 16th grid of the tempo serve had taken when it started (the
    last logged grid before the answer's first note; one common offset per answer, the median)."""
    out = []
    for r in records:
        if not r.get("answered") or len(r.get("notes", [])) < 2:
            continue
        before = [bpm for t, bpm in tempi if t <= r["first_on"] + 0.002]  # log lines have ms times
        if not before:
            continue
        step = 15.0 / before[-1]
        t = np.asarray(r["notes"]) - r["first_on"]
        n = np.rint(t / step)
        off = t - n * step
        out += list(off - np.median(off))
    return out


def judge(records: list[dict], received: list, tempi: list[tuple[float, float]] | None = None) -> dict:
    ons = [(t, m) for t, m in received if m.type == "note_on" and m.velocity > 0]
    answered = [r for r in records if r["answered"]]
    errors, firsts, fits = [], [], []
    for r in answered:
        later = [x["call_on"] for x in records if x["call_on"] > r["last_on"]]
        end = min(later) if later else math.inf
        mine = [t for t, _ in ons if r["first_on"] - 1e-6 <= t < end]
        r["notes"] = mine
        clock = r["clock"]
        r["errors"] = [grid_error(clock, t, 0.25) for t in mine]
        r["tol"] = min(TOL_S, 0.25 * 0.25 * clock["spq_end"])
        firsts.append(grid_error(clock, r["first_on"], clock["bar"]))
        errors += r["errors"]
        fits += fit_residuals(mine, 0.25 * clock["spq_end"])
    e = np.array(errors)
    offset = float(np.median(e[np.abs(e) < 0.040])) if np.any(np.abs(e) < 0.040) else 0.0
    hits = [abs(x - offset) <= r["tol"] for r in answered for x in r["errors"]]
    dev = np.abs(e - offset) * 1e3 if len(e) else np.zeros(1)
    bar_hit30 = [abs(f - offset) <= TOL_S for f in firsts]
    bar_hit8 = [abs(f - offset) <= r["clock"]["beat_s"] / 8 for f, r in zip(firsts, answered, strict=True)]
    fit = np.abs(np.array(fits)) * 1e3 if fits else np.zeros(1)
    tempo_fit = np.abs(np.array(tempo_residuals(answered, tempi or []))) * 1e3
    return {"answered": len(answered), "calls": len(records), "answer_notes": int(len(e)),
            "pipeline_offset_ms": round(offset * 1e3, 2),
            "call_grid_hit": round(float(np.mean(hits)), 3) if hits else None,
            "call_grid_dev_ms_p50": round(float(np.percentile(dev, 50)), 2),
            "call_grid_dev_ms_p90": round(float(np.percentile(dev, 90)), 2),
            "daemon_grid_resid_ms_p50": round(float(np.percentile(fit, 50)), 3),
            "daemon_grid_resid_ms_p99": round(float(np.percentile(fit, 99)), 3),
            "daemon_grid_resid_ms_max": round(float(fit.max()), 3),
            "daemon_tempo_resid_ms_p50": _pct(tempo_fit, 50), "daemon_tempo_resid_ms_p99": _pct(tempo_fit, 99),
            "daemon_tempo_resid_ms_max": round(float(tempo_fit.max()), 3) if len(tempo_fit) else None,
            "daemon_tempo_notes": int(len(tempo_fit)),
            "bar_line_30ms": round(float(np.mean(bar_hit30)), 3) if bar_hit30 else None,
            "bar_line_eighth_beat": round(float(np.mean(bar_hit8)), 3) if bar_hit8 else None,
            "bar_line_held_eighth_beat": _share([h for h, r in zip(bar_hit8, answered, strict=True) if r["held"]]),
            "bar_line_fresh_eighth_beat": _share([h for h, r in zip(bar_hit8, answered, strict=True)
                                                  if not r["held"]])}


def raw_dump(records: list[dict], received: list) -> dict:
    """The calls (the player's grid as its arrays) and the messages received, as JSON-ready data."""
    def plain(x):
        if isinstance(x, dict):
            return {k: plain(v) for k, v in x.items()}
        if isinstance(x, (list, tuple, np.ndarray)):
            return [plain(v) for v in x]
        return x.item() if isinstance(x, np.generic) else x
    return {"records": plain(records), "received": [[t, m.hex()] for t, m in received]}


def _pct(values: np.ndarray, q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if len(values) else None


def _share(values: list) -> float | None:
    return round(float(np.mean(values)), 3) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exchanges", type=int, default=1000)
    parser.add_argument("--period", type=int, default=128, help="JACK period in frames at 48 kHz")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--wait-every", type=int, default=5, help="one exchange in N waits for the whole answer")
    parser.add_argument("--barge-beats", type=float, help="barge in this many beats into an answer (default: a bar)")
    parser.add_argument("--stall-s", type=float, default=120.0, help="give up when no exchange ends this long")
    parser.add_argument("--serve-arg", action="append", default=[], help="extra argument for serve (repeatable)")
    parser.add_argument("--daemon-log", help="write serve's whole log here at the end")
    parser.add_argument("--busy", action="store_true", help="one process spins on a core throughout")
    parser.add_argument("--raw", help="write the calls and every message received (JSON) here, to judge again")
    args = parser.parse_args()
    started = time.monotonic()
    worktree, sha = pin_worktree()
    rng = np.random.default_rng(args.seed)
    pool = two_bar_calls(rng, 300)
    tmp = Path(tempfile.mkdtemp(prefix="bench_soak_"))
    jack = JackServer(f"antiphon-soak-{os.getpid()}", period=args.period)
    serve_args = ["--random-seed", "1", "--log-level", "INFO", *args.serve_arg]
    stats, result = [], {}
    daemon = client = None
    summary: dict = {"calls": 0, "answered": 0}
    watchdog = Watchdog(args.stall_s, jack, lambda: daemon, summary)
    spinner = spin_a_core() if args.busy else None
    try:
        daemon = Daemon(serve_args, jack.env, tmp, command=[sys.executable, "-m", "antiphon"], cwd=worktree)
        client = Client()
        stats.append({"exchange": 0, **proc_stats(daemon.proc.pid)})
        player = Player(client, rng, pool, args.wait_every, args.barge_beats)
        nxt = time.monotonic() + 0.5
        stop = threading.Event()  # SIGUSR1: end after this exchange and report what was played
        signal.signal(signal.SIGUSR1, lambda *_: stop.set())
        for i in range(args.exchanges):
            if stop.is_set():
                print(f"  SIGUSR1: stopping after {i} calls", file=sys.stderr, flush=True)
                stats.append({"exchange": i, **proc_stats(daemon.proc.pid)})
                break
            nxt = player.play(nxt, i)["next"]
            summary |= {"calls": i + 1, "answered": sum(r["answered"] for r in player.records)}
            watchdog.kick()
            if (i + 1) % 100 == 0 or i + 1 == args.exchanges:
                stats.append({"exchange": i + 1, **proc_stats(daemon.proc.pid)})
                done = sum(r["answered"] for r in player.records)
                print(f"  {i + 1} calls, {done} answered, {time.monotonic() - started:.0f} s, "
                      f"rss {stats[-1]['rss_mb']} MB", file=sys.stderr, flush=True)
        watchdog.cancel()
        # Stop mid-answer: the last answer is still sounding when SIGTERM comes.
        time.sleep(max(0.0, nxt - time.monotonic()))
        code = daemon.terminate()
        time.sleep(0.5)
        stuck = unmatched_note_ons(client.received)
        log = daemon.output()
        if args.daemon_log:
            Path(args.daemon_log).write_text(log)
        tempi = daemon_tempi(log, time.monotonic() - time.time())
        result = judge(player.records, list(client.received), tempi)
        if args.raw:
            Path(args.raw).write_text(json.dumps(raw_dump(player.records, list(client.received))))
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
        if client is not None:
            client.close()
        if daemon is not None:
            daemon.close()
        jack.stop()
    timing = re.search(r"loop timing: (.*)", log)
    jack_line = re.search(r"JACK MIDI: (.*)", log)
    problems = [line for line in log.splitlines() if re.search(r" (WARNING|ERROR|CRITICAL) |Traceback", line)]
    rss = [s["rss_mb"] for s in stats]
    result |= {"rss_mb_start": rss[0], "rss_mb_end": rss[-1], "rss_mb_max": max(rss),
               "threads": [stats[0]["threads"], stats[-1]["threads"]], "fds": [stats[0]["fds"], stats[-1]["fds"]],
               "stuck_notes": len(stuck), "sigterm_exit": code, "barge_ins_logged": log.count("barge-in"),
               "responses_logged": log.count("response: "), "log_problems": len(problems),
               "loop_timing": timing.group(1) if timing else "not logged",
               "jack_midi": jack_line.group(1) if jack_line else "not logged", "busy": args.busy,
               "wall_s": round(time.monotonic() - started),
               "sha": sha, "worktree": str(worktree), "period_frames": args.period}
    barge = "first bar" if args.barge_beats is None else f"first {args.barge_beats:g} beats"
    print(f"antiphon serve {sha[:12]} (pinned worktree {worktree}) over JACK (dummy, {args.period} frames = "
          f"{args.period / 48:.2f} ms), --tempo follow; {result['calls']} calls at a beat of 70-160 bpm, "
          f"{sum(r['wait'] for r in player.records)} waiting for the whole answer, the rest barging in after its "
          f"{barge}; {round(result['wall_s'] / 60)} min")
    print(f"exchanges answered: {result['answered']} / {result['calls']}   (serve logged {result['responses_logged']} "
          f"responses, {result['barge_ins_logged']} barge-ins)")
    print("daemon RSS MB by exchange: " + ", ".join(f"{s['exchange']}: {s['rss_mb']}" for s in stats)
          + f"   threads {result['threads'][0]} -> {result['threads'][1]}, fds {result['fds'][0]} -> "
          f"{result['fds'][1]}")
    print(f"answer note-ons on the daemon's own grid (fitted per answer): residual p50 "
          f"{result['daemon_grid_resid_ms_p50']} ms, p99 {result['daemon_grid_resid_ms_p99']} ms, max "
          f"{result['daemon_grid_resid_ms_max']} ms")
    print(f"answer note-ons on the 16th grid of the tempo serve logged last before the answer "
          f"({result['daemon_tempo_notes']} notes): residual p50 {result['daemon_tempo_resid_ms_p50']} ms, p99 "
          f"{result['daemon_tempo_resid_ms_p99']} ms, max {result['daemon_tempo_resid_ms_max']} ms")
    print(f"answer note-ons on the call's 16th grid: {result['call_grid_hit']} within min(30 ms, 1/4 16th) "
          f"(|error - offset| p50 {result['call_grid_dev_ms_p50']} ms, p90 {result['call_grid_dev_ms_p90']} ms; "
          f"pipeline offset {result['pipeline_offset_ms']} ms, {result['answer_notes']} notes)")
    print(f"answer's first note on the call's bar line: {result['bar_line_30ms']} within 30 ms, "
          f"{result['bar_line_eighth_beat']} within 1/8 beat (held tempo {result['bar_line_held_eighth_beat']}, "
          f"new tempo {result['bar_line_fresh_eighth_beat']})")
    print(f"stuck notes after SIGTERM mid-answer: {result['stuck_notes']}; exit code {code}; warnings/errors in "
          f"the log: {len(problems)}; loop timing: {result['loop_timing']}")
    print(f"JACK MIDI: {result['jack_midi']}")
    for line in problems[:10]:
        print("   " + line)
    print(json.dumps({"bench": "soak", **result, "rss_by_exchange": stats}))


if __name__ == "__main__":
    main()
