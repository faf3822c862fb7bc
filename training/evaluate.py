"""``antiphon evaluate``: held-out likelihood of the LSTM next to classical baselines, and generation quality.

Likelihood uses the raw model distribution (temperature 1, no symbol weights). Each song is scored on its
own: the predictor starts from ``sequence_length`` start symbols ``/`` (as the generator does), then predicts
every symbol of the song and finally the end ``/``. Every model is charged for the same predictions, so

* **bits per note event** = total bits of a song (its symbols and its end) / (notes + rests + 1), the same
  denominator (``training.baselines.count_events`` + 1) for the LSTM, the grid baselines and the event model;
* bits per step = total bits / (steps + 1); perplexity = 2 ** bits per step;
* pitch bits = -log2 p(pitch | a note starts), at every note onset (the event model sums over durations);
* accuracy = argmax right, on all steps and on steps whose true symbol is not ``_`` (with the end).

Confidence intervals are 95% percentile bootstraps over songs (ratios of sums, songs resampled).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from antiphon.engine.events import DELIMITER, HOLD, is_pitch_symbol
from antiphon.engine.meter import bar_positions
from antiphon.engine.model import DEFAULT_MODE, LstmModel, Predictor
from antiphon.engine.vocab import Vocab
from antiphon.training.baselines import IdyomModel, NgramModel, UnigramModel, count_events, event_alphabet, tune_idyom
from antiphon.training.eval_data import Corpus, load_corpus

BOOTSTRAP_RESAMPLES = 2000
NGRAM_MAX_ORDER = 12
DEFAULT_SAMPLES = 500
DEFAULT_SEED = 0


@dataclass
class SongScore:
    """Totals for one song under one model (steps and events include the end)."""

    bits: float
    steps: int
    events: int
    pitch_bits: float
    notes: int
    correct: int | None = None
    onsets: int = 0
    onsets_correct: int | None = None


def primed_predictor(model: LstmModel, mode: str = DEFAULT_MODE, cache: bool = True,
                     events: bool = True) -> Predictor:
    """A predictor fed the start padding (``sequence_length`` x ``/``), to clone for each song.

    ``cache`` and ``events`` use the model's tuned neural cache (``engine/cache.py``) and event model
    (``engine/mixture.py``) where it has them, as the product does.
    """
    predictor = model.predictor(mode, cache=cache, events=events)
    predictor.prime(model.song_start())
    return predictor


def lstm_distributions(primed: Predictor, song: Sequence[str], meter: list | None = None) -> np.ndarray:
    """(len(song) + 1, V): the LSTM's distribution before each symbol of ``song`` and before its end.

    ``meter`` gives a model with position inputs the bar position of each predicted step.
    """
    predictor = primed.clone()
    rows = [predictor.last_probabilities]
    positions = bar_positions(meter, len(song) + 1).tolist()
    for step, index in enumerate(predictor.vocab.encode(song)):
        rows.append(predictor.feed(index, positions[step + 1]))
    return np.array(rows)


def score_grid(dists: np.ndarray, song: Sequence[str], vocab: Vocab) -> SongScore:
    """Score a grid-symbol model from its distributions before each symbol and the end."""
    target = np.array(vocab.encode([*song, DELIMITER]))
    if dists.shape != (len(target), len(vocab)):
        raise ValueError(f"distributions have shape {dists.shape}, expected {(len(target), len(vocab))}")
    p = dists[np.arange(len(target)), target]
    pitch_mask = np.array([is_pitch_symbol(s) for s in vocab.symbols])
    is_note = pitch_mask[target]
    pitch_p = p[is_note] / dists[is_note][:, pitch_mask].sum(axis=1)
    guess = dists.argmax(axis=1)
    onset = target != vocab.index(HOLD)
    return SongScore(bits=float(-np.log2(p).sum()), steps=len(target), events=count_events(song) + 1,
                     pitch_bits=float(-np.log2(pitch_p).sum()), notes=int(is_note.sum()),
                     correct=int((guess == target).sum()), onsets=int(onset.sum()),
                     onsets_correct=int((guess == target)[onset].sum()))


def score_events(model: IdyomModel, song: Sequence[str]) -> SongScore:
    """Score the event model; pitch bits marginalise each note event's distribution over durations."""
    dists = model.distributions(song)
    target = np.array(model.encode_song(song))
    p = dists[np.arange(len(target)), target]
    pitch_of = model.pitch_of
    note_rows = np.flatnonzero(pitch_of[target] >= 0)
    pitch_bits = 0.0
    for row in note_rows:
        is_pitch = pitch_of >= 0
        same = pitch_of == pitch_of[target[row]]
        pitch_bits -= math.log2(dists[row, same].sum() / dists[row, is_pitch].sum())
    return SongScore(bits=float(-np.log2(p).sum()), steps=len(song) + 1, events=count_events(song) + 1,
                     pitch_bits=pitch_bits, notes=len(note_rows))


def bootstrap_ci(numerators: np.ndarray, denominators: np.ndarray, rng: np.random.Generator,
                 resamples: int = BOOTSTRAP_RESAMPLES) -> tuple[float, float]:
    """95% percentile interval of sum(num) / sum(den) with songs resampled with replacement."""
    n = len(numerators)
    picks = rng.integers(0, n, size=(resamples, n))
    ratios = numerators[picks].sum(axis=1) / denominators[picks].sum(axis=1)
    low, high = np.percentile(ratios, [2.5, 97.5])
    return float(low), float(high)


def summarize(scores: Sequence[SongScore], rng: np.random.Generator) -> dict[str, Any]:
    """Pooled figures with bootstrap CIs over songs."""
    bits = np.array([s.bits for s in scores])
    columns = {"bits_per_event": (bits, "events"), "bits_per_step": (bits, "steps"),
               "pitch_bits": (np.array([s.pitch_bits for s in scores]), "notes")}
    out: dict[str, Any] = {"songs": len(scores)}
    for name, (num, den_name) in columns.items():
        den = np.array([getattr(s, den_name) for s in scores], dtype=np.float64)
        out[name] = float(num.sum() / den.sum())
        out[name + "_ci"] = list(bootstrap_ci(num, den, rng))
    out["perplexity"] = 2 ** out["bits_per_step"]
    if all(s.correct is not None for s in scores):
        out["accuracy"] = sum(s.correct for s in scores) / sum(s.steps for s in scores)
        out["accuracy_non_hold"] = sum(s.onsets_correct for s in scores) / sum(s.onsets for s in scores)
    return out


def paired_difference(a: Sequence[SongScore], b: Sequence[SongScore], rng: np.random.Generator) -> dict:
    """Bits per event of a minus b, with a paired bootstrap CI over the same songs."""
    diff = np.array([x.bits - y.bits for x, y in zip(a, b, strict=True)])
    events = np.array([x.events for x in a], dtype=np.float64)
    return {"bits_per_event": float(diff.sum() / events.sum()), "ci": list(bootstrap_ci(diff, events, rng))}


def likelihood(model: LstmModel, corpus: Corpus, *, mode: str = DEFAULT_MODE, seed: int = DEFAULT_SEED,
               log: Callable[[str], None] = lambda _: None) -> tuple[dict[str, Any], IdyomModel]:
    """Score the LSTM and the baselines on the test songs; returns the report section and the event model."""
    vocab, test = corpus.vocab, corpus.test
    meters = corpus.test_meters or [None] * len(test)
    primed = primed_predictor(model, mode)

    def lstm_scores(predictor: Predictor) -> list[SongScore]:
        return [score_grid(lstm_distributions(predictor, s, m), s, vocab) for s, m in zip(test, meters, strict=True)]

    scores: dict[str, list[SongScore]] = {"lstm": lstm_scores(primed)}
    log(f"LSTM scored on {len(test)} songs")
    stateful = primed.mode == "stateful"
    has_cache = stateful and model.cache_config is not None and model.cache_config.lam > 0
    has_events = stateful and model.event_mixture is not None
    if has_events and has_cache:  # without the event model, to show what it adds
        scores["lstm_cache"] = lstm_scores(primed_predictor(model, mode, events=False))
    if has_cache or has_events:  # the LSTM alone, to show what the song memory adds
        scores["lstm_raw"] = lstm_scores(primed_predictor(model, mode, cache=False, events=False))
    unigram = UnigramModel(corpus.train, vocab.symbols)
    scores["unigram"] = [score_grid(unigram.distributions(s), s, vocab) for s in test]
    ngram = NgramModel(corpus.train, vocab.symbols, NGRAM_MAX_ORDER)
    ngram_orders = ngram.choose_order(corpus.validation)
    scores["ngram"] = [score_grid(ngram.distributions(s), s, vocab) for s in test]
    log(f"n-gram: order {ngram.order} (context symbols) chosen on validation")
    pitches = [s for s in vocab.symbols if is_pitch_symbol(s)]
    alphabet = event_alphabet(corpus.train + corpus.validation + test, pitches)
    idyom, trials = tune_idyom(corpus.train, corpus.validation, alphabet)
    scores["idyom"] = [score_events(idyom, s) for s in test]
    log(f"IDyOM-style: {idyom.params}, {idyom.combination} bias {idyom.bias} chosen on validation")
    rng = np.random.default_rng(seed)
    hold_share = sum(s.count(HOLD) for s in test) / sum(len(s) + 1 for s in test)
    section: dict[str, Any] = {name: summarize(rows, rng) for name, rows in scores.items()}
    section["majority_accuracy"] = hold_share
    section["lstm_minus_idyom"] = paired_difference(scores["lstm"], scores["idyom"], rng)
    if "lstm_raw" in scores:
        section["lstm_raw_minus_idyom"] = paired_difference(scores["lstm_raw"], scores["idyom"], rng)
    section["choices"] = {
        "lstm_mode": primed.mode, "ngram_order": ngram.order,
        "lstm_cache": {"lam": model.cache_config.lam, "theta": model.cache_config.theta} if has_cache else None,
        "lstm_event_model": model.mix_config.as_config() if has_events else None,
        "ngram_validation_bits_per_step": ngram_orders,
        "idyom": {**idyom.params, "combination": idyom.combination, "bias": idyom.bias,
                  "alphabet": len(idyom.alphabet)},
        "idyom_validation_bits_per_event": trials}
    return section, idyom


def evaluate(model_dir: str | os.PathLike[str], *, dataset: str | os.PathLike[str] | None = None,
             corpus: Sequence[str] | None = None, test_of: str | os.PathLike[str] | None = None,
             samples: int = DEFAULT_SAMPLES, seed: int = DEFAULT_SEED, mode: str = DEFAULT_MODE,
             max_steps: int | None = None, calls: bool = False,
             log: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """The full report (a JSON-ready dict): likelihood and, with ``samples`` > 0, generation quality; with
    ``calls``, answers to calls cut from the test songs instead (``training.calls``)."""
    if samples < 0:
        raise ValueError(f"samples must be >= 0, got {samples}")
    model = LstmModel.load(model_dir)
    data = load_corpus(model, dataset, corpus, test_of, log)
    log(f"{len(data.train)} training, {len(data.validation)} validation, {len(data.test)} test songs "
        f"from {data.source}")
    report: dict[str, Any] = {
        "model": str(model_dir), "test_source": data.source, "skipped_test_songs": data.skipped,
        "octave_folded_test_songs": data.folded,
        "songs": {"train": len(data.train), "validation": len(data.validation), "test": len(data.test)}}
    if calls:
        from antiphon.training.calls import evaluate_calls

        pitches = [s for s in data.vocab.symbols if is_pitch_symbol(s)]
        idyom, _ = tune_idyom(data.train, data.validation,
                              event_alphabet(data.train + data.validation + data.test, pitches))
        log(f"IDyOM-style baseline: {idyom.params}, {idyom.combination} bias {idyom.bias}")
        report["calls"] = evaluate_calls(model, data.test, data.test_meters or [None] * len(data.test), idyom,
                                         seed=seed, mode=mode, log=log)
        return report
    section, idyom = likelihood(model, data, mode=mode, seed=seed, log=log)
    report["likelihood"] = section
    if samples:
        from antiphon.training.quality import generation_quality

        report["generation"] = generation_quality(model, data, idyom, samples=samples, seed=seed, mode=mode,
                                                  max_steps=max_steps, log=log)
    return report
