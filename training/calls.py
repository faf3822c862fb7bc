"""``antiphon evaluate --calls``: answers to calls cut from held-out songs, judged against the songs' own
continuations.

Each test song with a known meter is cut after its first ``bars`` whole bars, counted from the first downbeat
(after any pickup). The call runs up to the first note or rest that starts at or after that bar line (a note
held across the bar line stays whole in the call); the true continuation runs from there for as many bars
again, up to the next onset (or the song's end). Cutting at onsets lets the LSTM and the event model be
charged for exactly the same events.

* **Likelihood**: bits per note event of the true continuation given the call, for the model (LSTM with its
  song cache and event model, as the product runs it) and for the IDyOM-style baseline given the same call.
* **Answers**: one answer per call, sampled with the default sampler after the call (as ``serve`` does, with
  the call's bar positions continued), as long as the true continuation; both are described by the same
  statistics (notes, pitch range, leading rest, whether the sound fills three quarters of the length,
  whether the last note starts on a strong beat, interval patterns shared with the call).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from antiphon.engine.events import DELIMITER, HOLD, is_pitch_symbol
from antiphon.engine.meter import bar_positions
from antiphon.engine.model import DEFAULT_MODE, LstmModel
from antiphon.engine.ppm import song_events
from antiphon.engine.predictor import Predictor
from antiphon.engine.sampler import EntropySampler, SamplerConfig
from antiphon.engine.styles import score_call
from antiphon.training.baselines import IdyomModel
from antiphon.training.evaluate import bootstrap_ci, primed_predictor

CALL_BARS = (2, 4)
FILL_SHARE = 0.75  # an answer "fills its length" when its last note sounds until at least this share of it
PATTERN_INTERVALS = 2  # an interval pattern: this many successive intervals (three notes)
ANSWER_STATS = ("notes", "pitch_range", "leading_rest", "fills", "strong_ending", "shared_patterns")


@dataclass
class CallCut:
    """One call and its true continuation, cut from a song; ``meter`` covers both (steps from the call's start)."""

    call: list[str]
    continuation: list[str]
    meter: list


def onset_at_or_after(song: Sequence[str], step: int) -> int:
    """The first step at or after ``step`` where a note or rest starts (``len(song)`` if none)."""
    while step < len(song) and song[step] == HOLD:
        step += 1
    return step


def cut_call(song: Sequence[str], meter: list | None, bars: int) -> CallCut | None:
    """The call of ``bars`` bars after the pickup and its continuation of up to as many bars; ``None`` when the
    meter is unknown or the song has no whole bar after the call."""
    positions = bar_positions(meter, len(song))
    if not len(song) or (positions < 0).any():
        return None
    downbeats = np.flatnonzero(positions == 0).tolist()
    if len(downbeats) <= bars:
        return None
    start = onset_at_or_after(song, downbeats[bars])
    end = onset_at_or_after(song, downbeats[2 * bars]) if len(downbeats) > 2 * bars else len(song)
    bar_steps = _bar_steps(meter, downbeats[bars])
    if end - start < bar_steps or not any(is_pitch_symbol(s) for s in song[start:end]):
        return None
    return CallCut(list(song[:start]), list(song[start:end]), [list(s) for s in meter])


def _bar_steps(meter: list, step: int) -> int:
    """The bar length (steps) in force at ``step``."""
    current = [s for s in sorted(meter) if s[0] <= step]
    return int((current[-1] if current else sorted(meter)[0])[1])


# -- likelihood -------------------------------------------------------------------------------------------


def primed_with_call(primed, cut: CallCut, length: int) -> tuple[Predictor, list[int], np.ndarray]:
    """A clone of ``primed`` (holding the start padding) fed the call; the bar positions of the call and ``length``
    steps after it; the prediction for the first step after the call."""
    predictor = primed.clone()
    positions = bar_positions(cut.meter, len(cut.call) + length + 1).tolist()
    probs = predictor.prime(predictor.vocab.encode(cut.call), positions[1:len(cut.call) + 1]) if cut.call \
        else predictor.last_probabilities
    return predictor, positions, probs


def model_bits(primed, cut: CallCut) -> float:
    """Bits the model (a predictor holding the start padding) spends on the continuation after the call."""
    predictor, positions, _ = primed_with_call(primed, cut, len(cut.continuation))
    after = len(cut.call) + 1
    return score_call(predictor, predictor.vocab.encode(cut.continuation),
                      positions[after:after + len(cut.continuation)])


def event_bits(model: IdyomModel, cut: CallCut) -> float:
    """Bits the event model spends on the continuation's events, having heard the call."""
    log2p = model.log2_probs(cut.call + cut.continuation)
    call_events = len(song_events(cut.call))
    return float(-log2p[call_events:-1].sum())  # the last row is the song's end, not part of the continuation


# -- answers ----------------------------------------------------------------------------------------------


def answer_call(primed, sampler: EntropySampler, cut: CallCut, length: int) -> list[str]:
    """One answer of at most ``length`` steps, sampled after the call as the session does (stops at ``/``)."""
    predictor, positions, probs = primed_with_call(primed, cut, length)
    vocab = predictor.vocab
    predictor.mark_own_output()
    delimiter = vocab.index(DELIMITER)
    out: list[str] = []
    for k in range(length):
        index = sampler.sample(probs, sampler.answer_ban(k))
        if index == delimiter:
            break
        out.append(vocab.symbol(index))
        if k + 1 < length:
            probs = predictor.feed(index, positions[len(cut.call) + k + 1])
    return out


def interval_patterns(symbols: Sequence[str]) -> set[tuple[int, ...]]:
    """Every run of ``PATTERN_INTERVALS`` successive intervals between the notes of ``symbols``."""
    pitches = [int(s) for s in symbols if is_pitch_symbol(s)]
    steps = np.diff(pitches).tolist()
    return {tuple(steps[i:i + PATTERN_INTERVALS]) for i in range(len(steps) - PATTERN_INTERVALS + 1)}


def describe(symbols: Sequence[str], length: int, call: Sequence[str], first_position: int,
             strong: set[int], bar_steps: int) -> dict[str, float]:
    """The statistics of one answer or true continuation of ``length`` steps after ``call``."""
    onsets = [i for i, s in enumerate(symbols) if is_pitch_symbol(s)]
    pitches = [int(symbols[i]) for i in onsets]
    sound_end = 0
    if onsets:
        sound_end = onsets[-1] + 1
        while sound_end < len(symbols) and symbols[sound_end] == HOLD:
            sound_end += 1
    last_position = (first_position + onsets[-1]) % bar_steps if onsets else -1
    return {"notes": len(onsets), "pitch_range": max(pitches) - min(pitches) if pitches else 0,
            "leading_rest": onsets[0] if onsets else length,
            "fills": float(sound_end >= FILL_SHARE * length),
            "strong_ending": float(last_position in strong),
            "shared_patterns": len(interval_patterns(symbols) & interval_patterns(call))}


def strong_positions(bar_steps: int, steps_per_quarter: int) -> set[int]:
    """The downbeat, and the middle of a bar of four beats (beat 3 of 4/4, beat 7 of 12/8)."""
    dotted = 3 * steps_per_quarter // 2
    beat = dotted if bar_steps in (2 * dotted, 4 * dotted) else steps_per_quarter
    return {0, bar_steps // 2} if bar_steps == 4 * beat else {0}


def stat_summary(rows: Sequence[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean and SD of each statistic."""
    return {name: {"mean": float(np.mean([r[name] for r in rows])), "std": float(np.std([r[name] for r in rows]))}
            for name in ANSWER_STATS}


def evaluate_calls(model: LstmModel, songs: Sequence[Sequence[str]], meters: Sequence[list | None],
                   idyom: IdyomModel, *, bars: Sequence[int] = CALL_BARS, seed: int = 0, mode: str = DEFAULT_MODE,
                   sampler_config: SamplerConfig | None = None,
                   log: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """The ``calls`` section of the report: for each call length, likelihood and answers against the truth."""
    primed = primed_predictor(model, mode)
    section: dict[str, Any] = {}
    for count in bars:
        cuts = [cut for song, meter in zip(songs, meters, strict=True)
                if (cut := cut_call(song, meter, count)) is not None]
        if not cuts:
            section[f"{count}_bars"] = {"calls": 0}
            continue
        rng = np.random.default_rng(seed)
        sampler = EntropySampler(model.vocab, sampler_config or SamplerConfig(), rng)
        ours = np.array([model_bits(primed, cut) for cut in cuts])
        theirs = np.array([event_bits(idyom, cut) for cut in cuts])
        events = np.array([len(song_events(cut.continuation)) for cut in cuts], dtype=np.float64)
        answers, truths = [], []
        for cut in cuts:
            bar = _bar_steps(cut.meter, len(cut.call))
            strong = strong_positions(bar, model.steps_per_quarter)
            first = int(bar_positions(cut.meter, len(cut.call) + 1)[-1])
            length = len(cut.continuation)
            answer = answer_call(primed, sampler, cut, length)
            answers.append(describe(answer, length, cut.call, first, strong, bar))
            truths.append(describe(cut.continuation, length, cut.call, first, strong, bar))
        diff = ours - theirs
        ci_rng = np.random.default_rng(seed)
        section[f"{count}_bars"] = {
            "calls": len(cuts), "continuation_events": int(events.sum()),
            "model_bits_per_event": float(ours.sum() / events.sum()),
            "model_bits_per_event_ci": list(bootstrap_ci(ours, events, ci_rng)),
            "idyom_bits_per_event": float(theirs.sum() / events.sum()),
            "idyom_bits_per_event_ci": list(bootstrap_ci(theirs, events, ci_rng)),
            "model_minus_idyom": float(diff.sum() / events.sum()),
            "model_minus_idyom_ci": list(bootstrap_ci(diff, events, ci_rng)),
            "answers": stat_summary(answers), "true_continuations": stat_summary(truths)}
        log(f"{count}-bar calls: {len(cuts)} scored and answered")
    return section


def format_calls(section: dict[str, Any]) -> str:
    """The calls section as a terminal table: likelihood, then answers next to the true continuations."""
    lines = []
    for name, part in section.items():
        if not part.get("calls"):
            lines.append(f"{name.replace('_', ' ')} calls: none (no test song is long enough)")
            continue
        low, high = part["model_minus_idyom_ci"]
        lines.append(f"{name.replace('_', ' ')} calls ({part['calls']}): continuation bits per event: model "
                     f"{part['model_bits_per_event']:.3f}, IDyOM-style {part['idyom_bits_per_event']:.3f}, "
                     f"difference {part['model_minus_idyom']:+.3f} [{low:+.3f}, {high:+.3f}]")
        lines.append(f"  {'':<16} {'answers':>15} {'true':>15}")
        for stat in ANSWER_STATS:
            ours, truth = part["answers"][stat], part["true_continuations"][stat]
            lines.append(f"  {stat.replace('_', ' '):<16} {ours['mean']:>7.2f} ± {ours['std']:<5.2f} "
                         f"{truth['mean']:>7.2f} ± {truth['std']:<5.2f}")
    return "\n".join(lines)
