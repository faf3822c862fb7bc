"""Benchmark: hearing tempo, downbeat and rhythm of freely played phrases (engine/rhythm.py).

Calls are cut from real tunes the bundled model was not trained on (it saw Essen ``erk``): Essen ``boehme10``
and ``han1`` (not ``boehme20``, on which engine/rhythm_score.py's tables were counted) and jigs / hornpipes /
reels of Ryan's Mammoth Collection, in 2/4, 3/4, 4/4 and 6/8.
Each call is 2 or 4 bars with the pickup the tune has (the first note's bar may be short), played at a beat
rate drawn log-uniformly from 60-180 bpm (the quarter; in 6/8 the dotted quarter, 60-150), with a linear tempo
drift of up to +-5% across the phrase, onset spread 0 / 10 / 25 ms (SD) and note lengths 50-100% of written.

Estimators: ``fixed`` (today's live path: 120 bpm, step 0 at the first note, 4/4), ``ioi`` (inter-onset
interval clustering as in pretty_midi's ``estimate_tempo``, used by AI Duet; grid from the first note, 4/4),
``ours`` (estimate_rhythm, first call) and ``ours+session`` (a second call: the session grid is the true one
with a tempo off by up to 3% and bar lines from two bars before the phrase). Figures: tempo within 4% of the
mean played tempo (half/double and 3:2 counted apart, both wrong), beat phase, downbeat (first bar line after
the first note within half a 16th), meter, rhythm exact (every onset on the written 16th, counted from the
downbeat), inference ms per call (p50 / p99). Ablations switch one ingredient off each; ``+bits`` adds a
length trigram fitted on the bundled model's events.json as ``rhythm_bits``; ``+velocity`` passes velocities
(downbeats 10 louder, noise SD 6; every other row plays flat velocities, i.e. passes none).
``ceiling`` is no estimator but a bound: ``ours`` with its IOI and first / last-note tables counted on the
benchmark's own tunes, the calls' notation statistics known. A slow phrase in 16ths and the same phrase in
eighths at twice the tempo sound alike (the tempo is drawn apart from the notation), so only how tunes are
written tells them apart; this row shows how far even these tunes' own statistics get. ``ceiling+bars`` adds
the bits of each whole bar's onset pattern among these tunes' bars (``bar_patterns``, weight 0.5).
``--dev`` runs the same on the development tunes (DEV_ESSEN, DEV_RYAN) that the new weights were tuned on;
``--fit`` recounts engine/rhythm_tables.py on the Essen ones.

    .venv/bin/python benchmarks/bench_rhythm.py [--quick] [--calls N] [--seed S]

Parsed tunes are cached in build/rhythm_tunes.json. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import textwrap
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from antiphon.engine.events import STEPS_PER_QUARTER
from antiphon.engine.rhythm import Grid, RhythmConfig, estimate_rhythm
from antiphon.engine.rhythm_score import RhythmTables, count_tables

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "build" / "rhythm_tunes.json"
ESSEN = ("boehme10.abc", "han1.abc")  # boehme20 is the development set the engine's tables were counted on
# The development set (--dev): Essen tunes and Ryan's the benchmark does not use; engine/rhythm_tables.py was
# counted and engine/rhythm.py's new weights tuned on these, never on the benchmark's tunes.
DEV_CACHE = ROOT / "build" / "rhythm_dev_tunes.json"
DEV_ESSEN = ("boehme20.abc", "han2.abc", "altdeu10.abc", "irl.abc")
DEV_RYAN = slice(400, 520)  # of the jigs / hornpipes / reels: the benchmark takes the first 120
RYAN_WORDS = ("Jig.abc", "Hornpipe.abc", "Reel.abc")
METERS = {"2/4": 2.0, "3/4": 3.0, "4/4": 4.0, "6/8": 3.0}  # bar length in quarters


def _tune(score, name: str) -> dict | None:
    """Monophonic onsets (quarter lengths), signature and pickup of one tune, or None if unusable."""
    ts = list(score.recurse().getElementsByClass("TimeSignature"))
    if not ts or ts[0].ratioString not in METERS or len({t.ratioString for t in ts}) > 1:
        return None
    flat = score.stripTies().flatten()
    notes = []
    for n in flat.notes:
        if n.duration.isGrace:
            continue
        off, dur = float(n.offset), float(n.duration.quarterLength)
        if abs(off * 4 - round(off * 4)) > 1e-6 or abs(dur * 4 - round(dur * 4)) > 1e-6 or dur <= 0:
            return None  # tuplets and grace notes are outside the 16th grid
        pitch = max(p.midi for p in n.pitches) if n.isChord else n.pitch.midi
        notes.append([off, dur, pitch])
    measures = list(score.recurse().getElementsByClass("Measure"))
    if len(notes) < 8 or not measures:
        return None
    bar = METERS[ts[0].ratioString]
    first = float(measures[0].duration.quarterLength)
    pickup = first if 0 < first < bar - 1e-6 else 0.0
    return {"name": name, "sig": ts[0].ratioString, "pickup": pickup, "notes": notes}


def load_tunes(dev: bool = False) -> list[dict]:
    cache = DEV_CACHE if dev else CACHE
    if cache.exists():
        return json.loads(cache.read_text())
    from music21 import corpus

    paths = corpus.getPaths()
    chosen = [p for p in paths if Path(p).name in (DEV_ESSEN if dev else ESSEN) and "essenFolksong" in str(p)]
    ryan = [p for p in paths if "ryansMammoth" in str(p) and Path(p).name.endswith(RYAN_WORDS)]
    chosen += ryan[DEV_RYAN] if dev else ryan[:120]
    tunes = []
    for path in chosen:
        print(f"parsing {Path(path).name} ...", file=sys.stderr, flush=True)
        try:
            work = corpus.parse(path)
        except Exception as err:  # noqa: BLE001 - a broken corpus file is skipped
            print(f"  skipped: {err}", file=sys.stderr)
            continue
        scores = work.scores if hasattr(work, "scores") else [work]
        for i, score in enumerate(scores):
            try:
                tune = _tune(score, f"{Path(path).stem}#{i}")
            except Exception:  # noqa: BLE001 - music21 trips on a few tunes
                tune = None
            if tune:
                tunes.append(tune)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(tunes))
    return tunes


def tune_steps(tune: dict) -> np.ndarray:
    """A tune's onsets in 16ths from its first bar line (its pickup before it)."""
    return np.rint((np.array([n[0] for n in tune["notes"]]) - tune["pickup"]) * STEPS_PER_QUARTER).astype(int)


def tune_tables(tunes: list[dict]) -> RhythmTables:
    """The hearing's tables (engine/rhythm_tables.py's layout) counted on ``tunes``."""
    return count_tables((t["sig"], tune_steps(t)) for t in tunes)


def fit_tables(tunes: list[dict]) -> str:
    """engine/rhythm_tables.py counted on ``tunes`` (the development set)."""
    tables = tune_tables(tunes)
    lines = ['"""Tables for engine/rhythm_score.py, written by ``benchmarks/bench_rhythm.py --fit`` from the',
             "development tunes of Essen " + ", ".join(DEV_ESSEN) + ' (the benchmark uses none of them)."""', "",
             "# IOI_COUNTS[meter][p][c][d - 1]: onsets at bar position p (16ths from the downbeat) followed by the",
             "# next onset d 16ths later (the last column: d >= its index + 1), whole tunes; c: the interval before",
             "# the onset (0: none, the tune's first; 1, 2, 3: that many 16ths; 4: four or more).", "IOI_COUNTS = {"]
    for sig, rows in tables.ioi.items():
        lines.append(f'    "{sig}": (')
        for row in rows:
            lines.append("        (")
            for r in row:
                lines += textwrap.wrap("(" + ", ".join(str(x) for x in r) + "),", 116, initial_indent=" " * 12,
                                       subsequent_indent=" " * 13)
            lines.append("        ),")
        lines.append("    ),")
    lines.append("}")
    lines += ["", "# FIRST_COUNTS / LAST_COUNTS[meter][p]: tunes whose first / last onset falls on bar position p."]
    for name, counts in (("FIRST_COUNTS", tables.first), ("LAST_COUNTS", tables.last)):
        lines.append(f"{name} = {{")
        for sig, row in counts.items():
            lines.append(f'    "{sig}": (' + ", ".join(str(x) for x in row) + "),")
        lines.append("}")
    return "\n".join(lines) + "\n"


def cut_calls(tunes: list[dict], count: int, rng: np.random.Generator) -> list[dict]:
    """2- and 4-bar calls with the tune's pickup, balanced over meters."""
    by_meter = defaultdict(list)
    for tune in tunes:
        by_meter[tune["sig"]].append(tune)
    calls = []
    while len(calls) < count:
        sig = list(by_meter)[len(calls) % len(by_meter)]
        tune = by_meter[sig][rng.integers(len(by_meter[sig]))]
        bar, pk = METERS[sig], tune["pickup"]
        notes = np.array(tune["notes"])
        end_all = notes[-1, 0] + notes[-1, 1]
        bars = int(rng.choice([2, 4]))
        n_bars = int((end_all - pk) // bar)
        if n_bars < bars + 1:
            continue
        j = int(rng.integers(0, n_bars - bars + 1))
        line = pk + j * bar  # the call's first bar line
        start = line - (pk if pk > 0 else 0.0)
        sel = notes[(notes[:, 0] >= start - 1e-9) & (notes[:, 0] < line + bars * bar - 1e-9)]
        if len(sel) < 4:
            continue
        first = sel[0, 0]
        downbeat = line if first <= line + 1e-9 else line + bar * math.ceil((first - line) / bar - 1e-9)
        calls.append({"sig": sig, "notes": sel, "downbeat_ql": downbeat, "tune": tune["name"]})
    return calls


def perform(call: dict, spread_s: float, rng: np.random.Generator) -> dict:
    beat_bpm = math.exp(rng.uniform(math.log(60), math.log(150 if call["sig"] == "6/8" else 180)))
    quarter_bpm = beat_bpm * (1.5 if call["sig"] == "6/8" else 1.0)
    drift = rng.uniform(-0.05, 0.05)
    notes = call["notes"]
    q0, q1 = notes[0, 0], notes[-1, 0] + notes[-1, 1]
    span = max(q1 - q0, 1e-9)

    def time_of(q):  # tempo changes linearly in score time from (1 - drift/2) to (1 + drift/2) x quarter_bpm
        x = (np.asarray(q, dtype=float) - q0) / span
        if abs(drift) < 1e-9:
            return 60.0 / quarter_bpm * span * x
        return 60.0 / quarter_bpm * span * (np.log1p(drift * (x - 0.5)) - math.log1p(-drift / 2)) / drift

    start = rng.uniform(1.0, 5.0)
    on = start + time_of(notes[:, 0]) + (rng.normal(0, spread_s, len(notes)) if spread_s else 0.0)
    on = np.maximum(on, 0.0)
    ends = start + time_of(notes[:, 0] + notes[:, 1] * rng.uniform(0.5, 1.0, len(notes)))
    off = np.maximum(ends, on + 0.01)
    mean_bpm = 60.0 * span / (time_of(q1) - time_of(q0))
    written = np.rint((notes[:, 0] - call["downbeat_ql"]) * STEPS_PER_QUARTER).astype(int).tolist()
    # Velocities for the "+velocity" rows only (the others play flat): downbeats 10 louder, SD 6 of noise;
    # drawn from their own generator so that the timings stay those of the rows without them.
    vrng = np.random.default_rng(int(start * 1e6))
    bar_steps = round(METERS[call["sig"]] * STEPS_PER_QUARTER)
    vel = 70 + 10 * (np.array(written) % bar_steps == 0) + vrng.normal(0, 6, len(notes))
    return {"on": on, "off": off, "pitch": notes[:, 2].astype(int), "bpm": mean_bpm,
            "velocity": np.clip(np.rint(vel), 1, 127).astype(int),
            "downbeat_s": start + float(time_of(call["downbeat_ql"])), "written": written, "sig": call["sig"],
            "time_of": time_of, "start": start}


def ioi_tempo(on: np.ndarray) -> float:
    """pretty_midi-style tempo: cluster all inter-onset intervals (25 ms bins), score by multiples."""
    iois = (on[None, :] - on[:, None])[np.triu_indices(len(on), 1)]
    iois = np.sort(iois[(iois > 0.05) & (iois < 2.5)])
    if len(iois) == 0:
        return 120.0
    centers, counts = [], []
    for ioi in iois:
        if centers and abs(ioi - centers[-1]) < 0.025:
            counts[-1] += 1
            centers[-1] += (ioi - centers[-1]) / counts[-1]
        else:
            centers.append(ioi)
            counts.append(1)
    centers, counts = np.array(centers), np.array(counts, dtype=float)
    scores = counts.copy()
    for i, c in enumerate(centers):
        for j, d in enumerate(centers):
            ratio = d / c
            if i != j and ratio > 1 and abs(ratio - round(ratio)) < 0.05 * ratio and round(ratio) <= 8:
                scores[i] += counts[j] * (6 - min(round(ratio), 5))
    bpm = 60.0 / centers[int(np.argmax(scores))]
    while bpm > 240:
        bpm /= 2
    while bpm < 40:
        bpm *= 2
    return bpm


def grid_onsets(on: np.ndarray, bpm: float, origin: float) -> list[int]:
    return np.rint((on - origin) / (60.0 / (bpm * STEPS_PER_QUARTER))).astype(int).tolist()


def judge(perf: dict, bpm: float, origin: float, sig: str, onsets: list[int]) -> dict:
    ratio = bpm / perf["bpm"]
    tempo = abs(math.log(ratio)) < math.log(1.04)
    octave = any(abs(math.log(ratio / r)) < math.log(1.04) for r in (0.5, 2.0))
    three = any(abs(math.log(ratio / r)) < math.log(1.04) for r in (1.5, 2 / 3, 3.0, 1 / 3))
    step = 60.0 / (perf["bpm"] * STEPS_PER_QUARTER)
    beat = 6 if perf["sig"] == "6/8" else 4
    down = abs(origin - perf["downbeat_s"]) < step / 2
    pos = (perf["downbeat_s"] - origin) / (60.0 / (bpm * STEPS_PER_QUARTER)) / beat
    phase = tempo and abs(pos - round(pos)) * beat < 0.5
    return {"tempo": tempo, "octave": octave, "three_two": three, "phase": phase, "downbeat": down,
            "meter": sig == perf["sig"], "rhythm": tempo and down and onsets == perf["written"]}


def length_trigram(path: Path):
    """rhythm_bits: a smoothed trigram over note/rest lengths in steps, fitted on events.json."""
    data = json.loads(path.read_text())
    alphabet = data["alphabet"]
    kind = [("r" if a.startswith("r:") else "n") + a.partition(":")[2] if ":" in a else a for a in alphabet]
    tri, bi = Counter(), Counter()
    vocab = set()
    for song in data["songs"]:
        seq = ["^", "^"] + [kind[i] for i in song]
        vocab.update(seq)
        for a, b, c in zip(seq, seq[1:], seq[2:], strict=False):
            tri[a, b, c] += 1
            bi[a, b] += 1
    size = len(vocab) + 1

    def bits(notes, meter):
        seq = ["^", "^"]
        for n, nxt in zip(notes, list(notes[1:]) + [None], strict=True):
            seq.append(f"n{n.length_steps}")
            if nxt is not None and nxt.start_step > n.end_step:
                seq.append(f"r{nxt.start_step - n.end_step}")
        return sum(-math.log2((tri[a, b, c] + 0.1) / (bi[a, b] + 0.1 * size))
                   for a, b, c in zip(seq, seq[1:], seq[2:], strict=False))
    return bits


def bar_patterns(tunes: list[dict], weight: float = 0.5):
    """rhythm_bits for the ``ceiling+bars`` row: ``weight`` x the bits of each whole bar's onset pattern
    (the set of its onsets' positions) among the bars of ``tunes`` in that bar length; the first and last bars
    of a call, which may be partial, are left out."""
    counts: dict = defaultdict(Counter)
    for tune in tunes:
        bar = round(METERS[tune["sig"]] * STEPS_PER_QUARTER)
        steps = np.unique(tune_steps(tune))
        for b in np.unique(steps // bar):
            counts[bar][tuple(int(x) for x in steps[steps // bar == b] % bar)] += 1
    totals = {bar: sum(c.values()) for bar, c in counts.items()}

    def bits(notes, meter):
        bar = meter[0][1]
        found: dict = defaultdict(set)
        for n in notes:
            found[n.start_step // bar].add(n.start_step % bar)
        whole = sorted(found)[1:-1]
        return -weight * sum(math.log2((counts[bar].get(tuple(sorted(found[b])), 0) + 0.02)
                                       / (totals.get(bar, 0) + 10.0)) for b in whole)
    return bits


def run_ours(perf, rng, session=False, config=None, bits=None, velocity=False):
    kw = {"velocities": perf["velocity"]} if velocity else {}
    if session:
        bar_ql = METERS[perf["sig"]]
        bar_steps = int(bar_ql * STEPS_PER_QUARTER)
        origin = perf["downbeat_s"] - 2 * bar_ql * 60.0 / perf["bpm"] + rng.normal(0, 0.01)
        kw["session"] = Grid(perf["bpm"] * rng.uniform(0.97, 1.03), origin, bar_steps, perf["sig"])
    t = time.perf_counter()
    r = estimate_rhythm(perf["on"], perf["off"], perf["pitch"], config=config or RhythmConfig(), rhythm_bits=bits, **kw)
    ms = (time.perf_counter() - t) * 1000
    first_down = r.grid.bar_steps if r.pickup_steps else 0
    onsets = [n.start_step - first_down for n in r.notes]
    return judge(perf, r.grid.bpm, r.grid.origin_s, r.grid.signature, onsets), ms


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="about a minute: fewer calls, no ablations")
    ap.add_argument("--calls", type=int, default=None, help="calls per onset spread")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--dev", action="store_true", help="the development tunes (DEV_ESSEN, DEV_RYAN), for tuning")
    ap.add_argument("--fit", action="store_true", help="count engine/rhythm_tables.py on the development tunes")
    args = ap.parse_args(argv)
    calls_n = args.calls or (120 if args.quick else 2000)
    rng = np.random.default_rng(args.seed)
    if args.fit:
        out = ROOT / "engine" / "rhythm_tables.py"
        essen = {Path(name).stem for name in DEV_ESSEN}  # Ryan's dev tunes moved no dev figure: tuning only
        out.write_text(fit_tables([t for t in load_tunes(dev=True) if t["name"].split("#")[0] in essen]))
        print(f"wrote {out}")
        return 0
    tunes = load_tunes(args.dev)
    print(f"{len(tunes)} tunes: {dict(Counter(t['sig'] for t in tunes))}")
    calls = cut_calls(tunes, calls_n, rng)
    bits = length_trigram(ROOT / "engine" / "bundled" / "events.json")
    variants = {"ours": {}, "ours+session": {"session": True},
                "ceiling": {"config": RhythmConfig(tables=tune_tables(tunes))}}
    variants["ceiling+bars"] = {"config": variants["ceiling"]["config"], "bits": bar_patterns(tunes)}
    if not args.quick:
        variants |= {"-metrical": {"config": RhythmConfig(use_metrical=False)},
                     "-tempo prior": {"config": RhythmConfig(use_tempo_prior=False)},
                     "-ioi": {"config": RhythmConfig(use_ioi=False)},
                     "-ioi context": {"config": RhythmConfig(use_ioi_context=False)},
                     "-phrase end": {"config": RhythmConfig(end_weight=0.0)},
                     "-bar count": {"config": RhythmConfig(bars_cost=0.0)},
                     "-4/4 over 2/4": {"config": RhythmConfig(prefer_common_nats=0.0)},
                     "+session -continuity": {"session": True, "config": RhythmConfig(use_session=False)},
                     "+bits": {"bits": bits},
                     "+velocity": {"velocity": True},
                     "+velocity -ioi -end -bars": {"velocity": True,
                                                   "config": RhythmConfig(use_ioi=False, end_weight=0, bars_cost=0)}}
    results: dict = {}
    for spread in (0.0, 0.010, 0.025):
        tallies = defaultdict(lambda: defaultdict(float))
        times = defaultdict(list)
        prng = np.random.default_rng(args.seed + int(spread * 1000))
        for call in calls:
            perf = perform(call, spread, prng)
            on = perf["on"]
            first = float(np.sort(on)[0])
            rows = {"fixed": judge(perf, 120.0, first, "4/4", grid_onsets(np.sort(on), 120.0, first))}
            b = ioi_tempo(np.sort(on))
            rows["ioi"] = judge(perf, b, first, "4/4", grid_onsets(np.sort(on), b, first))
            for name, kw in variants.items():
                if spread == 0.025 and not (name.startswith(("ours", "ceiling")) or args.quick):
                    continue
                rows[name], ms = run_ours(perf, prng, **kw)
                times[name].append(ms)
            for name, row in rows.items():
                for key, ok in row.items():
                    tallies[name][key] += ok / len(calls)
        key = f"{round(spread * 1000)}ms"
        results[key] = {name: {k: round(v, 3) for k, v in t.items()} for name, t in tallies.items()}
        for name, ts in times.items():
            results[key][name]["ms_p50"] = round(float(np.percentile(ts, 50)), 2)
            results[key][name]["ms_p99"] = round(float(np.percentile(ts, 99)), 2)
        print(f"\nonset spread {key} ({len(calls)} calls)")
        print(f"{'':22}{'tempo':>7}{'½/2x':>7}{'3:2':>7}{'phase':>7}{'down':>7}{'meter':>7}{'rhythm':>7}"
              f"{'p50ms':>7}{'p99ms':>7}")
        for name, row in results[key].items():
            print(f"{name:22}" + "".join(f"{row[k]:7.3f}" for k in
                                          ("tempo", "octave", "three_two", "phase", "downbeat", "meter", "rhythm"))
                  + "".join(f"{row.get(k, float('nan')):7.1f}" for k in ("ms_p50", "ms_p99")))
    ours10, ours25, sess10 = results["10ms"]["ours"], results["25ms"]["ours"], results["10ms"]["ours+session"]
    targets = {"tempo_10ms>=0.95": ours10["tempo"] >= 0.95, "downbeat_10ms>=0.85": ours10["downbeat"] >= 0.85,
               "rhythm_10ms>=0.90": ours10["rhythm"] >= 0.90, "tempo_25ms>=0.75": ours25["tempo"] >= 0.75,
               "session_tempo>=0.98": sess10["tempo"] >= 0.98, "session_downbeat>=0.95": sess10["downbeat"] >= 0.95,
               "p99_ms<=20": max(r.get("ms_p99", 0) for s in results.values() for r in s.values()) <= 20}
    targets = {k: bool(v) for k, v in targets.items()}
    print("\ntargets: " + ", ".join(f"{k} {'ok' if v else 'MISSED'}" for k, v in targets.items()))
    print(json.dumps({"bench": "rhythm", "calls": len(calls), "results": results, "targets": targets}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
