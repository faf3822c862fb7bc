"""Benchmark: does ``--style auto`` pick a call's own style, and which default answers best?

Every bundled style's test songs (none of them trained on by their own model) are cut into 2- and 4-bar calls
as ``antiphon evaluate --calls`` cuts them (``training/calls.py``). Each call is scored by every style's model
the way ``--style auto`` does live (``engine/styles.score_call``: the bits of the call, LSTM with its song cache
and event model); the likeliest is auto's choice. Figures:

* **auto picks the call's own style**: share of calls, per style and overall, beside chance (1 / styles) and
  beside the same rule with each LSTM alone (no song memory), to show what the memory adds;
* **the default**: bits per event of the true continuation given the call, pooled over every style's calls, when
  answering always in one style, and in the style auto picks (lower is better), with a bootstrap 95% CI;
* **time**: milliseconds to score one call in every style (p50, p99), as auto pays it before each answer.

``erk`` is left out of auto when ``german`` is bundled (its songs are a subset of German's: both are German
styles, and an erk test song is a German test song too); ``--styles`` picks others.

    .venv/bin/python benchmarks/bench_styles.py [--quick | --songs N] [--styles a,b,c]

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from antiphon.engine.keyfind import fold_into_vocab  # noqa: E402
from antiphon.engine.meter import bar_positions  # noqa: E402
from antiphon.engine.model import LstmModel  # noqa: E402
from antiphon.engine.ppm import song_events  # noqa: E402
from antiphon.engine.styles import (  # noqa: E402
    SCORE_WITH_SONG_MEMORY,
    auto_styles,
    likeliest,
    score_call,
    style_folders,
)
from antiphon.training.calls import CALL_BARS, CallCut, cut_call  # noqa: E402
from antiphon.training.eval_data import test_split_of  # noqa: E402


def costs(model: LstmModel, primed, cut: CallCut) -> tuple[float, float, float]:
    """(bits of the call, bits of the true continuation after it, seconds to score the call) under one model
    (its song memory on or off)."""
    predictor = primed.clone()
    call = fold_into_vocab(cut.call, model.vocab)
    rest = fold_into_vocab(cut.continuation, model.vocab)
    positions = bar_positions(cut.meter, len(call) + len(rest) + 1).tolist()
    vocab = model.vocab
    started = time.perf_counter()
    call_bits = score_call(predictor, vocab.encode(call), positions[1:len(call) + 1])
    seconds = time.perf_counter() - started
    more = score_call(predictor, vocab.encode(rest), positions[len(call) + 1:len(call) + len(rest) + 1])
    return call_bits, more, seconds


def bootstrap(values: np.ndarray, weights: np.ndarray, rng: np.random.Generator) -> list[float]:
    picks = rng.integers(0, len(values), size=(2000, len(values)))
    ratios = values[picks].sum(axis=1) / weights[picks].sum(axis=1)
    return [float(x) for x in np.percentile(ratios, [2.5, 97.5])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="30 test songs per style")
    parser.add_argument("--songs", type=int, help="at most this many test songs per style (every k-th)")
    parser.add_argument("--styles", help="comma-separated styles for auto (default: the engine's auto set)")
    args = parser.parse_args()
    folders = style_folders()
    chosen = args.styles.split(",") if args.styles else list(auto_styles())
    models = {name: LstmModel.load(folders[name]) for name in folders}
    memory = {name: m.predictor("stateful") for name, m in models.items()}
    alone = {name: m.predictor("stateful", cache=False, events=False) for name, m in models.items()}
    for table in (memory, alone):
        for name, predictor in table.items():
            predictor.prime(models[name].song_start())
    rows = []  # one per call: (style of the song, bars, events, {style: (call bits, continuation bits)}, alone)
    for own in chosen:
        songs, meters = test_split_of(folders[own])
        if args.quick:
            songs, meters = songs[:30], meters[:30]
        elif args.songs and len(songs) > args.songs:
            every = len(songs) / args.songs
            picked = [int(k * every) for k in range(args.songs)]
            songs, meters = [songs[i] for i in picked], [meters[i] for i in picked]
        for bars in CALL_BARS:
            for song, meter in zip(songs, meters, strict=True):
                cut = cut_call(song, meter, bars)
                if cut is None:
                    continue
                full = {name: costs(models[name], memory[name], cut) for name in models}
                seconds = sum(full[name][2] for name in chosen)
                plain = {name: costs(models[name], alone[name], cut) for name in chosen}
                lstm = {name: plain[name][0] for name in chosen}
                rows.append((own, bars, len(song_events(cut.continuation)), full, lstm, seconds,
                             sum(plain[name][2] for name in chosen)))
        print(f"{own}: {sum(1 for r in rows if r[0] == own)} calls", file=sys.stderr)
    result: dict = {"styles": chosen, "calls": len(rows), "chance": 1 / len(chosen)}
    print(f"auto over {', '.join(chosen)}; chance {1 / len(chosen):.2f}")
    for bars in CALL_BARS:
        part = [r for r in rows if r[1] == bars]
        picks = [likeliest({n: r[3][n][0] for n in chosen}) for r in part]
        plain = [likeliest({n: r[4][n] for n in chosen}) for r in part]
        hits = {own: np.mean([p == r[0] for p, r in zip(picks, part, strict=True) if r[0] == own]) for own in chosen}
        overall = float(np.mean([p == r[0] for p, r in zip(picks, part, strict=True)]))
        lstm_only = float(np.mean([p == r[0] for p, r in zip(plain, part, strict=True)]))
        confusion = {own: {n: sum(1 for p, r in zip(picks, part, strict=True) if r[0] == own and p == n)
                           for n in chosen} for own in chosen}
        print(f"{bars}-bar calls ({len(part)}): auto picks the call's own style {overall:.3f} "
              f"(LSTM alone {lstm_only:.3f}); " + ", ".join(f"{k} {v:.3f}" for k, v in hits.items()))
        print(f"  confusion (rows: the call's style; columns: picked): {confusion}")
        result[f"{bars}_bars"] = {"calls": len(part), "own_style": overall, "own_style_lstm_alone": lstm_only,
                                  "by_style": {k: float(v) for k, v in hits.items()}, "confusion": confusion}
    # The default: continuation bits when always answering in one style, or in auto's pick.
    rng = np.random.default_rng(0)
    events = np.array([r[2] for r in rows], dtype=np.float64)
    candidates = {name: np.array([r[3][name][1] for r in rows]) for name in models}
    shipped = (lambda r: {n: r[3][n][0] for n in chosen}) if SCORE_WITH_SONG_MEMORY else (lambda r: r[4])
    other = (lambda r: r[4]) if SCORE_WITH_SONG_MEMORY else (lambda r: {n: r[3][n][0] for n in chosen})
    candidates["auto"] = np.array([r[3][likeliest(shipped(r))][1] for r in rows])
    label = "auto, choosing with the LSTM alone" if SCORE_WITH_SONG_MEMORY else "auto, choosing with song memory"
    candidates[label] = np.array([r[3][likeliest(other(r))][1] for r in rows])
    result["default"] = {}
    print("continuation bits per event over every style's calls (the default's choice):")
    for name, bits in sorted(candidates.items(), key=lambda kv: kv[1].sum()):
        value = float(bits.sum() / events.sum())
        ci = bootstrap(bits, events, rng)
        result["default"][name] = {"bits_per_event": value, "ci": ci}
        print(f"  {name:<34} {value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]")
    for key, column in (("score_ms", 5), ("score_ms_lstm_alone", 6)):
        times = np.array([r[column] for r in rows]) * 1e3
        result[key] = {"p50": float(np.percentile(times, 50)), "p99": float(np.percentile(times, 99))}
        print(f"scoring a call in {len(chosen)} styles{' (LSTM alone)' if column == 6 else ''}: "
              f"p50 {result[key]['p50']:.1f} ms, p99 {result[key]['p99']:.1f} ms")
    print(f"auto scores with{'' if SCORE_WITH_SONG_MEMORY else ' the LSTM alone (no'} song memory"
          f"{'' if SCORE_WITH_SONG_MEMORY else ')'} (engine/styles.py SCORE_WITH_SONG_MEMORY)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
