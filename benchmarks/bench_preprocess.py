"""Preprocessing throughput: one worker (baseline) vs all cores vs a 2-worker Dask LocalCluster, and the cache.

Usage: python benchmarks/bench_preprocess.py [--corpus NAME] [--workers N] [--no-cluster]
Prints a table, a projection to a 100,000-file corpus, and ends with one JSON line.
Targets: erk cold <= 90 s and cached <= 3 s (issue 2); 2 workers >= 1.8x one worker (issue 7).
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


def run(corpus: str, out: Path, workers: int, cache: bool, scheduler: str | None = None) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "antiphon", "preprocess", corpus, "--out", str(out),
           "--workers", str(workers), "--json"] + ([] if cache else ["--no-cache"])
    if scheduler:
        cmd += ["--scheduler", scheduler]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    return wall, json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", default="essenFolksong/erk*")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-cluster", action="store_true", help="skip the Dask LocalCluster run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base_wall, base = run(args.corpus, Path(tmp) / "serial", 1, cache=False)
        cold_wall, cold = run(args.corpus, Path(tmp) / "parallel", args.workers, cache=True)
        warm_wall, warm = run(args.corpus, Path(tmp) / "parallel", args.workers, cache=True)
        outputs = ["parallel"]
        cluster_wall = None
        if not args.no_cluster:
            from distributed import LocalCluster

            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                              silence_logs=40) as cluster:
                cluster_wall, _ = run(args.corpus, Path(tmp) / "cluster", 1, cache=False,
                                      scheduler=cluster.scheduler_address)
            outputs.append("cluster")
        same = all((Path(tmp) / "serial" / n).read_bytes() == (Path(tmp) / o / n).read_bytes()
                   for o in outputs for n in ("dataset.txt", "mapping.json", "manifest.json"))
    songs = cold["songs_found"]
    rows = [("1 worker, cold (baseline)", base_wall, songs / base_wall),
            (f"{args.workers} workers, cold", cold_wall, songs / cold_wall),
            (f"{args.workers} workers, cached", warm_wall, songs / warm_wall)]
    if cluster_wall is not None:
        rows.insert(2, ("Dask LocalCluster, 2 workers", cluster_wall, songs / cluster_wall))
    print(f"corpus {args.corpus}: {songs} songs found, {cold['kept']} kept, outputs identical: {same}")
    print(f"{'run':32} {'wall s':>8} {'songs/s':>9} {'vs baseline':>12}")
    for name, wall, rate in rows:
        print(f"{name:32} {wall:8.2f} {rate:9.1f} {base_wall / wall:11.2f}x")
    per_song_s = base_wall / songs
    print(f"projection for 100,000 songs at {per_song_s * 1000:.1f} ms each (one worker): "
          + ", ".join(f"{n} workers {100_000 * per_song_s / n / 60:.0f} min" for n in (1, 2, 16, 64))
          + " (ideal scaling; measured 2-worker efficiency "
          + f"{base_wall / cold_wall / 2:.0%})")
    print(f"targets: cold <= 90 s ({'met' if cold_wall <= 90 else 'MISSED'}), "
          f"cached <= 3 s ({'met' if warm_wall <= 3 else 'MISSED'})")
    print(json.dumps({"benchmark": "preprocess", "corpus": args.corpus, "songs": songs, "kept": cold["kept"],
                      "workers": args.workers, "serial_cold_s": round(base_wall, 2),
                      "parallel_cold_s": round(cold_wall, 2), "cached_s": round(warm_wall, 2),
                      "parallel_speedup": round(base_wall / cold_wall, 2),
                      "songs_per_s": round(songs / cold_wall, 1), "identical_outputs": same,
                      "cluster_cold_s": None if cluster_wall is None else round(cluster_wall, 2),
                      "serial_ms_per_song": round(per_song_s * 1000, 2),
                      "from_cache": warm["from_cache"], "baseline_parsed": base["parsed"]}))


if __name__ == "__main__":
    main()
