"""Engine benchmark: per-step latency of the numpy LSTM (both modes) vs Keras ``model.predict``, load and CLI.

Same weights, same run: a 256-unit, ~40-symbol model (Keras' own initialisation, exported to an artifact).
Baseline: Keras ``model.predict`` on a (1, 64, V) one-hot window, what the report's generator calls every
step. Also: engine + artifact load time in a fresh interpreter, and ``antiphon generate`` cold-start wall time.

    .venv/bin/python benchmarks/bench_engine.py [--units 256] [--vocab 40] [--steps 2000]

With ``--song-memory [--model DIR]`` (default: the bundled model) it instead times a trained model's stateful
steps alone, with its neural cache, and with cache + event model (``engine/mixture.py``).

With ``--compare-modes --model DIR --dataset DIR`` it instead scores both predictors on the model's held-out
songs (mean negative log-likelihood per step, nats, raw distribution), overall and on the steps beyond
``sequence_length`` into a song (where the window starts to forget and the stateful state carries on).

Targets (issue "Engine"): stateful p99 <= 1 ms, window p99 <= 10 ms, engine >= 200x faster than Keras
predict, load <= 0.5 s. Ends with one JSON line.
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

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from antiphon.engine.artifact import save_artifact  # noqa: E402
from antiphon.engine.events import STEPS_PER_QUARTER  # noqa: E402
from antiphon.engine.model import LstmModel  # noqa: E402
from antiphon.engine.vocab import Vocab  # noqa: E402

SEQUENCE_LENGTH = 64
POSITION_BUCKETS = ((0, 64), (64, 128), (128, 256), (256, 10**9))  # steps into a song


def _percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1e3
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "max_ms": float(ms.max()), "n": int(ms.size)}


def _time_steps(predictor, indices) -> list[float]:
    times = []
    for index in indices:
        t0 = time.perf_counter()
        predictor.feed(index)
        times.append(time.perf_counter() - t0)
    return times


def _fresh_load_s(folder: Path, repeats: int) -> dict[str, float]:
    """Import engine.model and load the artifact in a new interpreter: in-process and whole-process seconds."""
    code = ("import time; t0 = time.perf_counter(); import antiphon.engine.model; "
            f"antiphon.engine.model.LstmModel.load({str(folder)!r}); print(time.perf_counter() - t0)")
    inner, wall = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
        wall.append(time.perf_counter() - t0)
        inner.append(float(out.stdout.strip()))
    return {"import_and_load_s": float(np.median(inner)), "process_wall_s": float(np.median(wall))}


def _generate_cold_s(folder: Path, repeats: int) -> float:
    script = Path(sys.executable).parent / "antiphon"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "antiphon"]
    walls = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):
            t0 = time.perf_counter()
            subprocess.run([*command, "generate", "--model", str(folder), "--steps", "64", "--random-seed", "0",
                            "--out", str(Path(tmp) / "g.mid")], cwd=ROOT, capture_output=True, check=True)
            walls.append(time.perf_counter() - t0)
    return float(np.median(walls))


def _song_nll(predictor, indices: list[int], sequence_length: int, delimiter: int) -> np.ndarray:
    """-ln p of each symbol of a song and its end marker, primed with the start padding (nats, per step)."""
    predictor.reset()
    probs = predictor.prime([delimiter] * sequence_length)
    nll = []
    for index in [*indices, delimiter]:
        nll.append(-np.log(max(probs[index], 1e-300)))
        probs = predictor.feed(index)
    return np.asarray(nll)


def song_memory_steps(model_dir: Path, steps: int, seed: int = 0) -> dict:
    """Per-step latency of the stateful predictor alone, with the neural cache, and with cache + event model.

    The symbols are a melody the full predictor samples itself (songs restart at each ``/``), with bar
    positions of 4/4, so the event model sees realistic events.
    """
    from antiphon.engine.events import DELIMITER
    from antiphon.engine.meter import COMMON_TIME, bar_positions

    model = LstmModel.load(model_dir)
    t0 = time.perf_counter()
    mixture = model.event_mixture
    build_s = time.perf_counter() - t0
    rng = np.random.default_rng(seed)
    delimiter = model.vocab.index(DELIMITER)
    padding = [delimiter] * model.sequence_length
    positions = bar_positions(COMMON_TIME, steps).tolist()
    full = model.predictor()
    probs = full.prime(padding)
    stream = []
    for step in range(steps):
        index = int(rng.choice(len(probs), p=probs))
        stream.append(index)
        probs = full.prime(padding) if index == delimiter else full.feed(index, positions[step])
    out = {"event_model_build_s": build_s if mixture is not None else None}
    variants = {"lstm": {"cache": False, "events": False}, "lstm_cache": {"cache": True, "events": False},
                "lstm_cache_events": {"cache": True, "events": True}}
    for name, options in variants.items():
        if name == "lstm_cache_events" and mixture is None:
            continue
        predictor = model.predictor("stateful", **options)
        predictor.prime(padding)
        times = []
        for step, index in enumerate(stream):
            if index == delimiter:  # a new song: not a step (the daemon primes each call before it is due)
                predictor.prime(padding)
                continue
            t1 = time.perf_counter()
            predictor.feed(index, positions[step])
            times.append(time.perf_counter() - t1)
        out[name] = _percentiles(times)
    return out


def compare_modes(model_dir: Path, dataset_dir: Path, split: str, max_songs: int) -> dict:
    """Mean NLL per step of the stateful and window predictors on the model's held-out songs."""
    from antiphon.training.dataset import load_dataset
    from antiphon.training.sequences import split_songs

    model = LstmModel.load(model_dir)
    dataset = load_dataset(dataset_dir)
    seed = model.config.get("split_seed", model.config.get("split", {}).get("seed"))
    if seed is None:
        raise SystemExit(f"{model_dir}: config.json names no split seed (split_seed)")
    _, validation, test = split_songs(len(dataset.songs), int(seed))
    chosen = (validation if split == "validation" else test)[:max_songs]
    length = model.sequence_length
    delimiter = model.vocab.index("/")
    totals = {mode: [] for mode in ("stateful", "window")}
    for number in chosen:
        indices = model.vocab.encode(dataset.songs[number])
        for mode in totals:
            # The raw LSTM in both modes (the song cache works with the stateful predictor only).
            totals[mode].append(_song_nll(model.predictor(mode, cache=False, events=False), indices, length, delimiter))
    out = {"songs": len(chosen), "split": split, "sequence_length": length}
    for mode, per_song in totals.items():
        every = np.concatenate(per_song)
        late = np.concatenate([nll[length:] for nll in per_song])
        long_songs = [nll for nll in per_song if nll.size > 2 * length]
        buckets = {}
        for low, high in POSITION_BUCKETS:
            part = [nll[low:high] for nll in per_song if nll.size > low]
            steps = np.concatenate(part) if part else np.zeros(0)
            buckets[f"{low}-{high if high < 10**6 else 'end'}"] = {
                "nll": float(steps.mean()) if steps.size else None, "steps": int(steps.size)}
        out[mode] = {"nll_per_step": float(every.mean()), "steps": int(every.size), "by_position": buckets,
                     "nll_beyond_window": float(late.mean()) if late.size else None,
                     "steps_beyond_window": int(late.size),
                     "nll_long_songs": float(np.concatenate(long_songs).mean()) if long_songs else None,
                     "long_songs": len(long_songs)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--vocab", type=int, default=40, help="vocabulary size (3 specials + pitches)")
    parser.add_argument("--steps", type=int, default=2000, help="timed stateful steps (window: a quarter)")
    parser.add_argument("--keras-calls", type=int, default=40)
    parser.add_argument("--compare-modes", action="store_true", help="score stateful vs window instead")
    parser.add_argument("--song-memory", action="store_true",
                        help="time a trained model's steps alone, with its cache and with its event model instead")
    parser.add_argument("--model", type=Path, help="trained artifact (for --compare-modes)")
    parser.add_argument("--dataset", type=Path, default=ROOT / "build" / "dataset")
    parser.add_argument("--split", choices=("validation", "test"), default="validation")
    parser.add_argument("--max-songs", type=int, default=1000)
    args = parser.parse_args()
    if args.compare_modes:
        if args.model is None:
            parser.error("--compare-modes needs --model")
        result = compare_modes(args.model, args.dataset, args.split, args.max_songs)
        def fmt(value):
            return "n/a" if value is None else f"{value:.4f}"

        for mode in ("stateful", "window"):
            r = result[mode]
            print(f"{mode:9} NLL/step {fmt(r['nll_per_step'])} nats over {r['steps']} steps; beyond the "
                  f"first {result['sequence_length']} steps {fmt(r['nll_beyond_window'])} "
                  f"({r['steps_beyond_window']} steps); songs > 2L long {fmt(r['nll_long_songs'])} "
                  f"({r['long_songs']} songs)")
        print("mean NLL (nats/step) by position in the song:")
        for bucket in result["stateful"]["by_position"]:
            s, w = result["stateful"]["by_position"][bucket], result["window"]["by_position"][bucket]
            print(f"  steps {bucket:>8}: stateful {fmt(s['nll'])}  window {fmt(w['nll'])}  ({s['steps']} steps)")
        print(json.dumps({"benchmark": "engine_modes", **result}))
        return

    if args.song_memory:
        model_dir = args.model or ROOT / "engine" / "bundled"
        result = song_memory_steps(model_dir, args.steps)
        base = result["lstm"]["p50_ms"]
        print(f"stateful steps of {model_dir} on {args.steps} self-sampled steps (target p99 <= 1 ms)")
        for name in ("lstm", "lstm_cache", "lstm_cache_events"):
            if name in result:
                r = result[name]
                print(f"  {name:18} p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms  max {r['max_ms']:.3f} ms"
                      f"  ({r['p50_ms'] / base:.1f}x the LSTM alone at p50)")
        if result["event_model_build_s"] is not None:
            print(f"  event model counted at load: {result['event_model_build_s']:.3f} s")
        print(json.dumps({"benchmark": "engine_song_memory", "model": str(model_dir), **result}))
        return

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from antiphon.training.model import build_model, export_weights

    vocab = Vocab.build(str(p) for p in range(55, 55 + args.vocab - 3))
    keras_model = build_model(len(vocab), units=args.units)
    weights = export_weights(keras_model)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_artifact(Path(tmp) / "model", {
            "architecture": {"units": args.units, "layers": 1, "vocab_size": len(vocab)},
            "sequence_length": SEQUENCE_LENGTH, "steps_per_quarter": STEPS_PER_QUARTER}, vocab, weights)
        model = LstmModel.load(folder)
        history = rng.integers(0, len(vocab), SEQUENCE_LENGTH).tolist()
        stream = rng.integers(0, len(vocab), args.steps).tolist()

        results: dict[str, dict] = {}
        for mode, count in (("stateful", args.steps), ("window", max(args.steps // 4, 100))):
            predictor = model.predictor(mode)
            predictor.prime(history)
            _time_steps(predictor, stream[:50])  # warm-up
            results[mode] = _percentiles(_time_steps(predictor, stream[:count]))

        one_hot = np.eye(len(vocab), dtype=np.float32)[history][None]  # (1, 64, V)
        for _ in range(3):
            keras_model.predict(one_hot, verbose=0)
        keras_times = []
        for _ in range(args.keras_calls):
            t0 = time.perf_counter()
            expected = keras_model.predict(one_hot, verbose=0)[0]
            keras_times.append(time.perf_counter() - t0)
        results["keras_predict"] = _percentiles(keras_times)
        max_diff = float(np.abs(model.predictor("window").prime(history) - expected).max())

        load = _fresh_load_s(folder, repeats=5)
        generate_s = _generate_cold_s(folder, repeats=3)

    keras_p50 = results["keras_predict"]["p50_ms"]
    ratios = {mode: keras_p50 / results[mode]["p50_ms"] for mode in ("stateful", "window")}
    print(f"model: LSTM {args.units} units, V={len(vocab)}, window {SEQUENCE_LENGTH} steps")
    print(f"{'':16}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}{'n':>7}   vs Keras predict p50   target p99")
    targets = {"stateful": "<= 1 ms", "window": "<= 10 ms", "keras_predict": "(baseline)"}
    for name, r in results.items():
        ratio = f"{ratios[name]:8.0f}x faster" if name in ratios else " " * 15
        print(f"{name:16}{r['p50_ms']:10.3f}{r['p99_ms']:10.3f}{r['max_ms']:10.3f}{r['n']:7d}   {ratio}"
              f"        {targets[name]}")
    print(f"engine window vs Keras predict, same window: max |diff| = {max_diff:.2e}")
    print(f"import antiphon.engine.model + load artifact (fresh process): {load['import_and_load_s']:.3f} s "
          f"(target <= 0.5 s); whole process {load['process_wall_s']:.3f} s")
    print(f"antiphon generate --steps 64, cold start wall: {generate_s:.3f} s")
    print(json.dumps({"benchmark": "engine", "units": args.units, "vocab": len(vocab), **{
        f"{name}_{k}": v for name, r in results.items() for k, v in r.items() if k != "n"},
        "ratio_stateful_vs_keras_p50": ratios["stateful"], "ratio_window_vs_keras_p50": ratios["window"],
        "max_abs_diff_vs_keras": max_diff, "load_s": load["import_and_load_s"],
        "load_process_wall_s": load["process_wall_s"], "generate_cold_wall_s": generate_s}))


if __name__ == "__main__":
    main()
