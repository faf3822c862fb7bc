"""Sampling benchmark: which event-model pitch weight and sampler settings sample melodies most like real songs.

For each combination of pitch weight, nucleus shares (``top_p``, ``onset_top_p``) and entropy-rule raise factor,
``--samples`` unseeded melodies are drawn with the default sampler otherwise, in the training songs' meters (as
``antiphon evaluate`` does), and compared with the model's **validation** songs by the Yang & Lerch (2020)
overlapping areas of ``antiphon evaluate``. The baseline printed beside each figure is the same comparison of the
training songs with the validation songs (real vs real); a feature passes when it is within 0.05 of it. The test
songs are left for ``antiphon evaluate``.

    .venv/bin/python benchmarks/bench_sampling.py [--model engine/bundled] [--dataset build/dataset]
        [--pitch-weights 0.4] [--top-p 0.95,0.97] [--onset-top-p 0.85,0.9] [--raise-factors 1.25,1.5]
        [--samples 600] [--seeds 1,2]

A setting's figures are the means over ``--seeds`` (independent sets of melodies); it passes a feature when the
mean is within 0.05 of real-vs-real.

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from antiphon.engine.model import LstmModel  # noqa: E402
from antiphon.engine.sampler import SamplerConfig  # noqa: E402
from antiphon.training.cache_tune import split_songs_of  # noqa: E402
from antiphon.training.metrics import compare_sets, melody_stats  # noqa: E402
from antiphon.training.quality import sample_melodies  # noqa: E402

OA_MARGIN = 0.05
MAX_STEPS = 1016


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "engine" / "bundled")
    parser.add_argument("--dataset", type=Path, default=ROOT / "build" / "dataset")
    parser.add_argument("--pitch-weights", type=_floats, default=[0.4])
    parser.add_argument("--top-p", type=_floats, default=[0.95, 0.97])
    parser.add_argument("--onset-top-p", type=_floats, default=[0.85, 0.9])
    parser.add_argument("--raise-factors", type=_floats, default=[1.25, 1.5])
    parser.add_argument("--samples", type=int, default=600)
    parser.add_argument("--seeds", type=lambda t: [int(x) for x in t.split(",")], default=[1, 2])
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
    for pitch_weight, top_p, onset_top_p, raise_factor in itertools.product(
            args.pitch_weights, args.top_p, args.onset_top_p, args.raise_factors):
        mixture.config = replace(base, pitch_weight=pitch_weight)
        config = SamplerConfig(top_p=top_p, onset_top_p=onset_top_p, raise_factor=raise_factor)
        started = time.perf_counter()
        runs, ranges = [], []
        for seed in args.seeds:
            melodies = [m for m in sample_melodies(model, config, args.samples, seed, MAX_STEPS, meters=train_meters)
                        if m]
            runs.append({k: v["oa"] for k, v in compare_sets(validation, melodies, np.random.default_rng(0)).items()})
            ranges += [melody_stats(m)["pitch_range"] for m in melodies]
        overlap = {name: float(np.mean([run[name] for run in runs])) for name in calibration}
        passed = [name for name, oa in overlap.items() if calibration[name] - oa <= OA_MARGIN]
        row = {"pitch_weight": pitch_weight, "top_p": top_p, "onset_top_p": onset_top_p,
               "raise_factor": raise_factor, "passed": len(passed), "oa": overlap,
               "oa_sum": sum(overlap.values()), "pitch_range_mean": float(np.mean(ranges)),
               "seconds": time.perf_counter() - started}
        results.append(row)
        print(f"pitch weight {pitch_weight:.2f}, top-p {top_p:.2f}, onset top-p {onset_top_p:.2f}, raise "
              f"{raise_factor:.2f}: {len(passed)}/{len(overlap)} pass, OA "
              + " ".join(f"{oa:.3f}" for oa in overlap.values())
              + f", pitch range {row['pitch_range_mean']:.1f} ({row['seconds']:.0f} s)", flush=True)
    best = max(results, key=lambda r: (r["passed"], r["oa_sum"]))
    chosen = {k: best[k] for k in ("pitch_weight", "top_p", "onset_top_p", "raise_factor")}
    print(f"best on validation: {chosen} ({best['passed']}/6 pass, OA sum {best['oa_sum']:.3f})")
    print(json.dumps({"benchmark": "sampling", "model": str(args.model), "calibration": calibration,
                      "results": results, "best": chosen}))


if __name__ == "__main__":
    main()
