"""Training cost: the report's window recipe (baseline) vs the per-step recipe, on the same dataset.

Usage: python benchmarks/bench_training.py --data DATASET_DIR [--seconds 120] [--units 256] [--batch-size 64]

DATASET_DIR is a folder written by ``antiphon preprocess`` (the full ``erk`` corpus by default). Each recipe runs
in a fresh subprocess (so its peak RSS is its own) and trains for the same wall time (``--seconds``, counted
from the first batch; the per-step recipe's per-epoch validation counts against it, the window recipe's one
validation pass after stopping does not). Reported per recipe:

* seconds per epoch: mean training-batch time (after ``--warmup`` batches) x batches per epoch, i.e.
  extrapolated for the window recipe, which cannot finish an epoch in the budget; the per-step recipe's
  measured epoch wall time (validation included) is shown beside it;
* peak memory: ``ru_maxrss`` of the subprocess at the end (TensorFlow included);
* validation loss after the budget, measured the same way for both: next-symbol loss after a
  ``sequence_length`` window, over every validation window.

Targets (issue 2): peak memory <= 2 GB for either recipe; per-step >= 50x fewer seconds per epoch.
Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECIPES = ("window", "per_step")  # baseline first
TARGET_RSS_MB = 2048
TARGET_SPEEDUP = 50.0


def child(args: argparse.Namespace) -> None:
    """Train one recipe for the time budget and print its figures as one JSON line."""
    sys.path.insert(0, str(ROOT))
    from antiphon.training.train import train

    started = time.perf_counter()
    result = train(args.data, args.out, recipe=args.child, epochs=10_000, batch_size=args.batch_size,
                   units=args.units, seed=args.seed, max_seconds=args.seconds, threads=args.threads)
    batches = result.batch_seconds[args.warmup:] or result.batch_seconds
    mean_batch_s = statistics.fmean(batches)
    training = result.config["training"]
    epoch_seconds = result.history["epoch_seconds"]
    if training["stopped_by_time"]:
        epoch_seconds = epoch_seconds[:-1]  # the last epoch was cut short
    print(json.dumps({
        "recipe": args.child,
        "batches_trained": len(result.batch_seconds),
        "batches_per_epoch": result.batches_per_epoch,
        "mean_batch_ms": mean_batch_s * 1e3,
        "median_batch_ms": statistics.median(batches) * 1e3,
        "epoch_s_extrapolated": mean_batch_s * result.batches_per_epoch,
        "epoch_s_measured": statistics.fmean(epoch_seconds) if epoch_seconds else None,
        "full_epochs": len(epoch_seconds),
        "train_s": result.train_seconds,
        "window_val_loss": result.window_val_loss,
        "window_val_accuracy": training["window_val_accuracy"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "wall_s": time.perf_counter() - started,
    }))


def run_recipe(recipe: str, args: argparse.Namespace, out: Path) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", recipe, "--data", str(args.data),
           "--out", str(out), "--seconds", str(args.seconds), "--units", str(args.units),
           "--batch-size", str(args.batch_size), "--seed", str(args.seed), "--warmup", str(args.warmup)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    print(f"running {recipe} recipe for {args.seconds:.0f} s ...", file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"{recipe} run failed with exit code {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="dataset folder from `antiphon preprocess`")
    parser.add_argument("--seconds", type=float, default=120.0, help="training wall time per recipe")
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warmup", type=int, default=5, help="first batches left out of the timing")
    parser.add_argument("--threads", type=int, default=0, help="TensorFlow threads (0: TensorFlow's default)")
    parser.add_argument("--child", choices=RECIPES, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.threads = args.threads or None
        child(args)
        return

    with tempfile.TemporaryDirectory() as tmp:
        runs = {recipe: run_recipe(recipe, args, Path(tmp) / recipe) for recipe in RECIPES}
    base, fast = runs["window"], runs["per_step"]
    speedup = base["epoch_s_extrapolated"] / fast["epoch_s_extrapolated"]

    def row(label: str, key: str, fmt: str, ratio: bool = True) -> None:
        b, f = base[key], fast[key]
        cells = [format(v, fmt) if v is not None else "-" for v in (b, f)]
        text = f"{b / f:8.1f}x" if ratio and b and f else ""
        print(f"{label:<34}{cells[0]:>16}{cells[1]:>16}  {text}")

    print(f"dataset {args.data}; units {args.units}, batch {args.batch_size}, {args.seconds:.0f} s of training each")
    print(f"{'':<34}{'window (report)':>16}{'per_step':>16}  baseline/fast")
    row("batches per epoch", "batches_per_epoch", "d")
    row("batches trained in the budget", "batches_trained", "d")
    row("mean batch time (ms)", "mean_batch_ms", ".1f")
    row("seconds per epoch (from batches)", "epoch_s_extrapolated", ".1f")
    row("seconds per epoch (measured)", "epoch_s_measured", ".1f", ratio=False)
    row("peak RSS (MB)", "peak_rss_mb", ".0f")
    row("window val loss after budget", "window_val_loss", ".4f")
    row("window val accuracy after budget", "window_val_accuracy", ".4f", ratio=False)
    rss_ok = max(base["peak_rss_mb"], fast["peak_rss_mb"]) <= TARGET_RSS_MB
    print(f"targets: peak RSS <= {TARGET_RSS_MB} MB: {'met' if rss_ok else 'MISSED'}; "
          f"speed-up >= {TARGET_SPEEDUP:.0f}x: {'met' if speedup >= TARGET_SPEEDUP else 'MISSED'} ({speedup:.0f}x); "
          f"baseline measured here before: ~416 ms per batch, ~2,500 s per epoch (window), ~26 s (per step)")
    print(json.dumps({"benchmark": "training", "data": str(args.data), "seconds_budget": args.seconds,
                      "units": args.units, "batch_size": args.batch_size, "window": base, "per_step": fast,
                      "epoch_speedup": speedup, "rss_target_met": rss_ok,
                      "speedup_target_met": speedup >= TARGET_SPEEDUP}))


if __name__ == "__main__":
    main()
