"""Sampling benchmark: which event-model pitch weight and nucleus share sample melodies most like real songs.

For each (pitch weight, top-p) pair, ``--samples`` unseeded melodies are drawn with the default sampler
otherwise, in the training songs' meters (as ``antiphon evaluate`` does), and compared with the model's
**validation** songs by the Yang & Lerch (2020) overlapping areas of ``antiphon evaluate``. The baseline printed
beside each figure is the same comparison of the training songs with the validation songs (real vs real); a
feature passes when it is within 0.05 of it. The test songs are left for ``antiphon evaluate``.

    .venv/bin/python benchmarks/bench_sampling.py [--model engine/bundled] [--dataset build/dataset]
        [--pitch-weights 0.3,0.4,0.5] [--top-p 0.9,0.95] [--samples 300]

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.model import LstmModel  # noqa: E402
from engine.sampler import SamplerConfig  # noqa: E402
from training.cache_tune import split_songs_of  # noqa: E402
from training.metrics import compare_sets, melody_stats  # noqa: E402
from training.quality import sample_melodies  # noqa: E402

OA_MARGIN = 0.05
MAX_STEPS = 1016


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "engine" / "bundled")
    parser.add_argument("--dataset", type=Path, default=ROOT / "build" / "dataset")
    parser.add_argument("--pitch-weights", type=_floats, default=[0.3, 0.4, 0.5])
    parser.add_argument("--top-p", type=_floats, default=[0.9, 0.95])
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    model = LstmModel.load(args.model)
    mixture = model.event_mixture
    if mixture is None:
        raise SystemExit(f"{args.model} has no event model")
    validation, _ = split_songs_of(model, str(args.dataset), "validation")
    train, train_meters = split_songs_of(model, str(args.dataset), "train")
    calibration = {k: v["oa"] for k, v in compare_sets(validation, train, np.random.default_rng(0)).items()}
    print(f"{args.model}: {args.samples} unseeded melodies per setting vs {len(validation)} validation songs; "
          f"Y&L overlapping area (real training vs validation songs in brackets), pass = within {OA_MARGIN}")
    print("  " + "  ".join(f"{name} ({oa:.3f})" for name, oa in calibration.items()))
    base, results = mixture.config, []
    for pitch_weight in args.pitch_weights:
        mixture.config = replace(base, pitch_weight=pitch_weight)
        for top_p in args.top_p:
            started = time.perf_counter()
            melodies = [m for m in sample_melodies(model, SamplerConfig(top_p=top_p), args.samples, args.seed,
                                                   MAX_STEPS, meters=train_meters) if m]
            overlap = {k: v["oa"] for k, v in compare_sets(validation, melodies, np.random.default_rng(0)).items()}
            passed = [name for name, oa in overlap.items() if calibration[name] - oa <= OA_MARGIN]
            ranges = [melody_stats(m)["pitch_range"] for m in melodies]
            row = {"pitch_weight": pitch_weight, "top_p": top_p, "passed": len(passed), "oa": overlap,
                   "oa_sum": sum(overlap.values()), "pitch_range_mean": float(np.mean(ranges)),
                   "seconds": time.perf_counter() - started}
            results.append(row)
            print(f"pitch weight {pitch_weight:.2f}, top-p {top_p:.2f}: {len(passed)}/{len(overlap)} pass, "
                  f"OA " + " ".join(f"{oa:.3f}" for oa in overlap.values())
                  + f", pitch range {row['pitch_range_mean']:.1f} ({row['seconds']:.0f} s)", flush=True)
    best = max(results, key=lambda r: (r["passed"], r["oa_sum"]))
    print(f"best on validation: pitch weight {best['pitch_weight']}, top-p {best['top_p']} "
          f"({best['passed']}/6 pass, OA sum {best['oa_sum']:.3f})")
    print(json.dumps({"benchmark": "sampling", "model": str(args.model), "calibration": calibration,
                      "results": results, "best": {k: best[k] for k in ("pitch_weight", "top_p")}}))


if __name__ == "__main__":
    main()
