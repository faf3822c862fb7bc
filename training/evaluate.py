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
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.events import DELIMITER, HOLD, is_pitch_symbol
from engine.keyfind import fold_into_vocab
from engine.meter import bar_positions
from engine.model import DEFAULT_MODE, LstmModel, Predictor
from engine.vocab import Vocab
from training.baselines import IdyomModel, NgramModel, UnigramModel, count_events, event_alphabet, tune_idyom
from training.dataset import DATASET_FILE, load_dataset

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


@dataclass
class Corpus:
    """Songs to fit baselines on (train), tune on (validation) and score (test), in one vocabulary."""

    train: list[list[str]]
    validation: list[list[str]]
    test: list[list[str]]
    vocab: Vocab
    source: str
    skipped: int = 0
    folded: int = 0
    # Meters (``engine.meter`` segments, None = unknown) of the training and test songs, for position inputs.
    train_meters: list | None = None
    test_meters: list | None = None


def primed_predictor(model: LstmModel, mode: str = DEFAULT_MODE, cache: bool = True,
                     events: bool = True) -> Predictor:
    """A predictor fed the start padding (``sequence_length`` x ``/``), to clone for each song.

    ``cache`` and ``events`` use the model's tuned neural cache (``engine/cache.py``) and event model
    (``engine/mixture.py``) where it has them, as the product does.
    """
    predictor = model.predictor(mode, cache=cache, events=events)
    predictor.prime([model.vocab.index(DELIMITER)] * model.sequence_length)
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


def find_dataset(config: dict, override: str | os.PathLike[str] | None = None) -> Path:
    """The dataset folder a model was trained on (``--dataset`` wins); checks its hash when recorded."""
    info = config.get("dataset") if isinstance(config.get("dataset"), dict) else {}
    candidates = [Path(override)] if override else []
    if not override and info.get("path"):
        candidates.append(Path(info["path"]))
    if not candidates:
        raise ValueError("the model's config.json names no dataset; pass --dataset DIR")
    folder = candidates[0]
    if not (folder / DATASET_FILE).is_file():
        raise ValueError(f"dataset folder {folder} not found or incomplete; pass --dataset DIR "
                         "(the folder `antiphon preprocess` wrote for this model)")
    expected = info.get("dataset_sha256")
    if expected:
        import hashlib

        actual = hashlib.sha256((folder / DATASET_FILE).read_bytes()).hexdigest()
        if actual != expected:
            raise ValueError(f"{folder / DATASET_FILE} is not the dataset this model was trained on "
                             f"(sha256 {actual[:12]}..., config says {expected[:12]}...)")
    return folder


def model_split(config: dict, n_songs: int) -> tuple[list[int], list[int], list[int]]:
    """The model's train/validation/test song indices: stored lists, else rebuilt from the stored seed."""
    split = config.get("split")
    if not isinstance(split, dict):
        raise ValueError("the model's config.json has no 'split'; train it with `antiphon train`")
    if all(isinstance(split.get(k), list) for k in ("train", "validation", "test")):
        parts = tuple([int(i) for i in split[k]] for k in ("train", "validation", "test"))
    elif isinstance(split.get("seed"), int):
        from training.sequences import split_songs

        parts = split_songs(n_songs, split["seed"])
    else:
        raise ValueError(f"the model's split {split!r} has neither index lists nor a seed")
    if any(i < 0 or i >= n_songs for part in parts for i in part):
        raise ValueError(f"the model's split names songs outside the dataset's 0..{n_songs - 1}")
    return parts


def load_corpus(model: LstmModel, dataset: str | os.PathLike[str] | None = None,
                corpus: Sequence[str] | None = None) -> Corpus:
    """Train/validation songs from the model's dataset; test = its test songs, or ``corpus`` preprocessed."""
    folder = find_dataset(model.config, dataset)
    data = load_dataset(folder)
    if data.vocab != model.vocab:
        raise ValueError(f"dataset {folder} has a different vocabulary from the model")
    train_idx, val_idx, test_idx = model_split(model.config, len(data.songs))
    train = [data.songs[i] for i in train_idx]
    validation = [data.songs[i] for i in val_idx]
    entries = data.manifest.get("songs") or [{}] * len(data.songs)
    train_meters = [entries[i].get("meter") or None for i in train_idx]
    if not corpus:
        test = [data.songs[i] for i in test_idx]
        return Corpus(train, validation, test, data.vocab, f"{folder} (test split)", train_meters=train_meters,
                      test_meters=[entries[i].get("meter") or None for i in test_idx])
    from training.corpus import Settings
    from training.preprocess import preprocess

    durations = tuple(model.config.get("accepted_durations") or Settings().accepted_durations)
    with tempfile.TemporaryDirectory(prefix="antiphon-eval-") as tmp:
        preprocess(list(corpus), tmp, settings=Settings(accepted_durations=durations),
                   sequence_length=model.sequence_length, use_cache=False)
        other = load_dataset(tmp)
        songs = other.songs
        other_entries = other.manifest.get("songs") or [{}] * len(songs)
    test, folded, test_meters = [], 0, []
    for song, entry in zip(songs, other_entries, strict=True):
        try:
            kept = fold_into_vocab(song, model.vocab)  # pitches the model never saw, moved by octaves
        except ValueError:
            continue
        folded += kept != song
        test.append(kept)
        test_meters.append(entry.get("meter") or None)
    if not test:
        raise ValueError(f"no song of {list(corpus)} could be scored (none kept, or none fits the "
                         "vocabulary)")
    return Corpus(train, validation, test, data.vocab, ", ".join(corpus), skipped=len(songs) - len(test),
                  folded=folded, train_meters=train_meters, test_meters=test_meters)


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
             corpus: Sequence[str] | None = None, samples: int = DEFAULT_SAMPLES, seed: int = DEFAULT_SEED,
             mode: str = DEFAULT_MODE, max_steps: int | None = None,
             log: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """The full report (a JSON-ready dict): likelihood and, with ``samples`` > 0, generation quality."""
    if samples < 0:
        raise ValueError(f"samples must be >= 0, got {samples}")
    model = LstmModel.load(model_dir)
    data = load_corpus(model, dataset, corpus)
    log(f"{len(data.train)} training, {len(data.validation)} validation, {len(data.test)} test songs "
        f"from {data.source}")
    section, idyom = likelihood(model, data, mode=mode, seed=seed, log=log)
    report: dict[str, Any] = {
        "model": str(model_dir), "test_source": data.source, "skipped_test_songs": data.skipped,
        "octave_folded_test_songs": data.folded,
        "songs": {"train": len(data.train), "validation": len(data.validation), "test": len(data.test)},
        "likelihood": section}
    if samples:
        from training.quality import generation_quality

        report["generation"] = generation_quality(model, data, idyom, samples=samples, seed=seed, mode=mode,
                                                  max_steps=max_steps, log=log)
    return report
