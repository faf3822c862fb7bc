"""Preprocessing the full `erk` corpus: one worker (baseline) vs all cores, cold, and the cached re-run.

Usage: python benchmarks/bench_preprocess.py [--corpus NAME] [--workers N]
Prints a table and ends with one JSON line. Targets (issue 2): cold <= 90 s, cached <= 3 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(corpus: str, out: Path, workers: int, cache: bool) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "daemon.cli", "preprocess", corpus, "--out", str(out),
           "--workers", str(workers), "--json"] + ([] if cache else ["--no-cache"])
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    return wall, json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", default="essenFolksong/erk*")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base_wall, base = run(args.corpus, Path(tmp) / "serial", 1, cache=False)
        cold_wall, cold = run(args.corpus, Path(tmp) / "parallel", args.workers, cache=True)
        warm_wall, warm = run(args.corpus, Path(tmp) / "parallel", args.workers, cache=True)
        same = all((Path(tmp) / "serial" / n).read_bytes() == (Path(tmp) / "parallel" / n).read_bytes()
                   for n in ("dataset.txt", "mapping.json", "manifest.json"))
    songs = cold["songs_found"]
    rows = [("1 worker, cold (baseline)", base_wall, songs / base_wall),
            (f"{args.workers} workers, cold", cold_wall, songs / cold_wall),
            (f"{args.workers} workers, cached", warm_wall, songs / warm_wall)]
    print(f"corpus {args.corpus}: {songs} songs found, {cold['kept']} kept, outputs identical: {same}")
    print(f"{'run':32} {'wall s':>8} {'songs/s':>9} {'vs baseline':>12}")
    for name, wall, rate in rows:
        print(f"{name:32} {wall:8.2f} {rate:9.1f} {base_wall / wall:11.2f}x")
    print(f"targets: cold <= 90 s ({'met' if cold_wall <= 90 else 'MISSED'}), "
          f"cached <= 3 s ({'met' if warm_wall <= 3 else 'MISSED'})")
    print(json.dumps({"benchmark": "preprocess", "corpus": args.corpus, "songs": songs, "kept": cold["kept"],
                      "workers": args.workers, "serial_cold_s": round(base_wall, 2),
                      "parallel_cold_s": round(cold_wall, 2), "cached_s": round(warm_wall, 2),
                      "parallel_speedup": round(base_wall / cold_wall, 2),
                      "songs_per_s": round(songs / cold_wall, 1), "identical_outputs": same,
                      "from_cache": warm["from_cache"], "baseline_parsed": base["parsed"]}))


if __name__ == "__main__":
    main()
