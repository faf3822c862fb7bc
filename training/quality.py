"""Generation quality: melodies sampled with the real sampler, compared with real songs.

Each sampler setting draws ``samples`` melodies **unseeded**: the predictor starts from the start padding
alone (``sequence_length`` x ``/``), exactly as ``antiphon generate`` with an empty seed, and samples until
``/`` or ``max_steps`` (default: twice the longest real song). Unseeded melodies are the model's own from the
first note, so their statistics describe the model and not a borrowed opening, and the start-of-song failure
(a stray ``_`` before any note) can show. Every setting uses the same random seed.

Settings compared: the default (entropy-aware temperature, rest weight 0.9, the two nuclei of
``engine/sampler.py``); the report's sampler (its raise factor 1.5, no nuclei); a fixed temperature of 1; the
rest weight 1.0; and the raw model distribution (fixed temperature 1, no weights, no nuclei).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from antiphon.engine.events import HOLD
from antiphon.engine.model import DEFAULT_MODE, LstmModel
from antiphon.engine.sampler import EntropySampler, SamplerConfig, generate
from antiphon.training.baselines import IdyomModel, count_events
from antiphon.training.metrics import (
    STAT_NAMES,
    compare_sets,
    copy_rate,
    melody_stats,
    note_length_distribution,
    passages,
    summarize_stats,
)

SAMPLERS: dict[str, SamplerConfig] = {
    "default (entropy T, r 0.9, nuclei)": SamplerConfig(),
    "the report's (entropy T x1.5, r 0.9)": SamplerConfig(raise_factor=1.5, top_p=1.0, onset_top_p=1.0),
    "fixed T=1, r 0.9, nuclei": SamplerConfig(adaptive=False),
    "entropy T, r 1.0, nuclei": SamplerConfig(weights={"r": 1.0}),
    "fixed T=1, r 1.0, no nuclei (raw)": SamplerConfig(adaptive=False, weights={"r": 1.0}, top_p=1.0,
                                                       onset_top_p=1.0),
}
DEFAULT_SAMPLER = next(iter(SAMPLERS))
COPY_LENGTHS = (8, 16)  # events
MIN_MAX_STEPS = 256


def sample_melodies(model: LstmModel, config: SamplerConfig, count: int, seed: int, max_steps: int,
                    mode: str = DEFAULT_MODE, meters: Sequence[list | None] | None = None) -> list[list[str]]:
    """``count`` unseeded melodies (symbols, without the end) from one reproducible random stream.

    Melody i is given meter ``meters[i % len(meters)]`` (the training songs' meters, in turn), so a model with
    bar-position inputs writes in the meters the corpus uses.
    """
    sampler = EntropySampler(model.vocab, config, np.random.default_rng(seed))
    predictor = model.predictor(mode)
    meters = list(meters) if meters else [None]
    return [generate(predictor, sampler, [], max_steps, meters[i % len(meters)]) for i in range(count)]


def information_content(model: IdyomModel, songs: Sequence[Sequence[str]]) -> np.ndarray:
    """Mean information content (bits per note event, the end included) of each song under ``model``."""
    return np.array([-model.log2_probs(s).sum() / (count_events(s) + 1) for s in songs])


def describe(songs: Sequence[Sequence[str]], known: dict[int, set], idyom: IdyomModel) -> tuple[dict, list]:
    """Melody statistics, note lengths, copy rates and IC of a set of songs; also the per-song stats."""
    rows = [melody_stats(s) for s in songs]
    ic = information_content(idyom, songs)
    section = {
        "count": len(songs),
        "stats": summarize_stats(rows),
        "note_lengths": note_length_distribution(songs),
        "copy_rate": {str(n): copy_rate(songs, known[n], n) for n in COPY_LENGTHS},
        "information_content": {"mean": float(ic.mean()), "std": float(ic.std())},
    }
    return section, rows


def failures(melodies: Sequence[Sequence[str]], max_steps: int) -> dict[str, float]:
    """Shares of melodies that never end, start with a stray ``_``, or are empty."""
    n = len(melodies) or 1
    return {"never_ended": sum(len(m) >= max_steps for m in melodies) / n,
            "stray_hold": sum(bool(m) and m[0] == HOLD for m in melodies) / n,
            "empty": sum(not m for m in melodies) / n}


def targets(generated: dict, real: dict, overlap: dict, calibration: dict) -> dict[str, Any]:
    """The issue's generation targets, each with the measured value and whether it is met."""
    stats_within = {}
    for name in STAT_NAMES:
        g, r = generated["stats"][name], real["stats"][name]
        stats_within[name] = bool(abs(g["mean"] - r["mean"]) <= r["std"])
    oa_within = {name: bool(abs(overlap[name]["oa"] - calibration[name]["oa"]) <= 0.05) for name in overlap}
    real_copy = real["copy_rate"]["16"]
    return {
        "scale_consistency_ge_0.97": generated["stats"]["scale_consistency"]["mean"] >= 0.97,
        "stats_within_one_std": stats_within,
        "oa_within_0.05_of_calibration": oa_within,
        "copy16_at_most_twice_real": bool(generated["copy_rate"]["16"] <= 2 * real_copy),
    }


def generation_quality(model: LstmModel, data: Any, idyom: IdyomModel, *, samples: int, seed: int,
                       mode: str = DEFAULT_MODE, max_steps: int | None = None,
                       samplers: dict[str, SamplerConfig] | None = None,
                       log: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Report section: real test songs, then each sampler's melodies against them.

    ``data`` is a ``training.eval_data.Corpus``. The returned dict holds ``"_rows"`` (per-song statistics of
    the test songs and of the default sampler's melodies) for the histogram picture; drop it before JSON.
    """
    samplers = samplers or SAMPLERS
    longest = max(len(s) for s in data.train + data.test)
    max_steps = max_steps or max(MIN_MAX_STEPS, 2 * longest)
    known = {n: passages(data.train, n) for n in COPY_LENGTHS}
    rng = np.random.default_rng(seed)
    real, real_rows = describe(data.test, known, idyom)
    size = min(len(data.train), max(samples, len(data.validation)))
    picks = rng.choice(len(data.train), size=size, replace=False)
    calibration = compare_sets(data.validation, [data.train[i] for i in picks], rng)
    section: dict[str, Any] = {"samples": samples, "seed": seed, "max_steps": max_steps, "seeded": False,
                               "real_test": real, "calibration_validation_vs_train": calibration,
                               "samplers": {}}
    rows_by_set = {"real test songs": real_rows}
    for name, config in samplers.items():
        melodies = sample_melodies(model, config, samples, seed, max_steps, mode, data.train_meters)
        finished = [m for m in melodies if m] or [["r"]]
        generated, rows = describe(finished, known, idyom)
        overlap = compare_sets(data.test, finished, rng) if len(data.test) >= 2 else {}
        generated.update({
            "config": {"adaptive": config.adaptive, "temperature": config.temperature,
                       "weights": config.weights},
            "failures": failures(melodies, max_steps),
            "mean_steps": float(np.mean([len(m) for m in melodies])),
            "yang_lerch": overlap,
        })
        if overlap:
            generated["targets"] = targets(generated, real, overlap, calibration)
        section["samplers"][name] = generated
        if name == DEFAULT_SAMPLER or len(rows_by_set) == 1:
            rows_by_set[f"generated ({name})"] = rows
        log(f"sampled {samples} melodies: {name}")
    section["_rows"] = rows_by_set
    return section

