"""Tuning engine/rhythm.py's weights: a random search on the development tunes only (never the benchmark's).

Calls are cut and played as in ``bench_rhythm.py --dev`` (10 ms onset spread), ``--calls`` per seed of
``--seeds``; the objective is first-call tempo right plus rhythm exact. From RhythmConfig's defaults, each step
scales one to three knobs by a log-normal factor (SD 0.3, clipped to the ranges below) and keeps the change if the
objective rises. At the end the defaults and the best found are scored on the held-out ``--check-seeds`` (other
calls and performances of the same development tunes). RhythmConfig's weights came from such a run (search seed
1, 60 steps, from the earlier weights, with narrower ranges: ioi_weight 0.5-2, ioi_smooth 5-80, bars_cost at most
3, which it reached), rounded; a second run of 80 steps from them, with the ranges below, found nothing better.

    .venv/bin/python benchmarks/tune_rhythm.py [--steps 60] [--search-seed 1]

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from pathlib import Path

import numpy as np

from antiphon.engine.rhythm import RhythmConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_rhythm as bench  # noqa: E402 - the benchmark's calls, performances and judge

KNOBS = {"ioi_weight": (0.2, 2.0), "last_weight": (0.3, 3.0), "end_weight": (0.5, 4.0), "end_floor": (0.05, 0.4),
         "bars_cost": (0.2, 8.0), "tempo_sd": (0.2, 0.45), "tempo_center_bpm": (90.0, 120.0),
         "prefer_common_nats": (0.5, 4.0), "timing_sd_ms": (12.0, 35.0), "ioi_smooth": (2.0, 80.0),
         "ioi_floor": (0.005, 0.08)}


def performances(tunes: list[dict], seeds: list[int], calls: int) -> list[dict]:
    out = []
    for seed in seeds:
        prng = np.random.default_rng(seed + 10)
        out += [bench.perform(call, 0.010, prng) for call in bench.cut_calls(tunes, calls, np.random.default_rng(seed))]
    return out


def score(perfs: list[dict], knobs: dict) -> dict:
    config = RhythmConfig(**knobs)
    rng = np.random.default_rng(0)
    rows = [bench.run_ours(perf, rng, config=config)[0] for perf in perfs]
    keys = ("tempo", "downbeat", "meter", "rhythm")
    return {key: round(float(sum(row[key] for row in rows)) / len(rows), 4) for key in keys}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--search-seed", type=int, default=1)
    ap.add_argument("--seeds", default="7,8", help="call seeds searched on")
    ap.add_argument("--check-seeds", default="9,10,11", help="held-out call seeds")
    ap.add_argument("--calls", type=int, default=400, help="calls per seed")
    args = ap.parse_args(argv)
    tunes = bench.load_tunes(dev=True)
    perfs = performances(tunes, [int(s) for s in args.seeds.split(",")], args.calls)
    rs = random.Random(args.search_seed)
    defaults = {name: getattr(RhythmConfig(), name) for name in KNOBS}
    best, best_score = dict(defaults), score(perfs, defaults)
    print(f"defaults: {best_score}", flush=True)
    for step in range(args.steps):
        cand = dict(best)
        for name in rs.sample(list(KNOBS), rs.choice([1, 2, 3])):
            lo, hi = KNOBS[name]
            cand[name] = float(np.clip(cand[name] * math.exp(rs.gauss(0, 0.3)), lo, hi))
        found = score(perfs, cand)
        if found["tempo"] + found["rhythm"] > best_score["tempo"] + best_score["rhythm"]:
            best, best_score = cand, found
            changed = ", ".join(f"{k}={v:.3g}" for k, v in best.items() if v != defaults[k])
            print(f"step {step}: {found} with {changed}", flush=True)
    check = performances(tunes, [int(s) for s in args.check_seeds.split(",")], args.calls)
    held = {"defaults": score(check, defaults), "best": score(check, best)}
    print(f"held out: defaults {held['defaults']}, best {held['best']}")
    changed = {k: v for k, v in best.items() if v != defaults[k]}
    print(json.dumps({"bench": "tune_rhythm", "search": best_score, "held_out": held, "changed": changed}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
