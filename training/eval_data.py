"""The songs ``antiphon evaluate`` works on: a model's own dataset and split, or other songs preprocessed alike."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from antiphon.engine.keyfind import fold_into_vocab
from antiphon.engine.model import LstmModel
from antiphon.engine.vocab import Vocab
from antiphon.training.dataset import DATASET_FILE, load_dataset


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


def find_dataset(config: dict, override: str | os.PathLike[str] | None = None,
                 log: Callable[[str], None] = lambda _: None) -> Path:
    """The dataset folder a model was trained on (``--dataset`` wins); checks its hash when recorded.

    When the folder the model names is missing (a bundled model on a fresh machine), its corpus is preprocessed
    again, once, into the user's cache folder (``$XDG_CACHE_HOME/antiphon/datasets``); the hash check shows
    it is the same dataset.
    """
    info = config.get("dataset") if isinstance(config.get("dataset"), dict) else {}
    candidates = [Path(override)] if override else []
    if not override and info.get("path"):
        candidates.append(Path(info["path"]))
    if not candidates:
        raise ValueError("the model's config.json names no dataset; pass --dataset DIR")
    folder = candidates[0]
    if not (folder / DATASET_FILE).is_file() and not override:
        folder = prepared_dataset(config, log)
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


def cache_home() -> Path:
    """The user's cache folder for Antiphon (``$XDG_CACHE_HOME/antiphon``, else ``~/.cache/antiphon``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "antiphon"


def prepared_dataset(config: dict, log: Callable[[str], None] = lambda _: None) -> Path:
    """The model's dataset, rebuilt from the corpus its config names into the cache folder on first use."""
    info = config.get("dataset") if isinstance(config.get("dataset"), dict) else {}
    inputs = (config.get("corpus") or {}).get("inputs") if isinstance(config.get("corpus"), dict) else None
    if not inputs or not info.get("dataset_sha256"):
        raise ValueError(f"dataset folder {info.get('path')} not found, and the model's config names no corpus "
                         "to rebuild it from; pass --dataset DIR")
    folder = cache_home() / "datasets" / str(info["dataset_sha256"])[:16]
    if (folder / DATASET_FILE).is_file():
        return folder
    from antiphon.training.corpus import Settings
    from antiphon.training.preprocess import preprocess

    log(f"dataset {info.get('path')} not found: preparing it from {', '.join(inputs)} in {folder} (first use)")
    durations = tuple(config.get("accepted_durations") or Settings().accepted_durations)
    partial = folder.with_name(folder.name + ".partial")
    preprocess(list(inputs), partial, settings=Settings(accepted_durations=durations),
               sequence_length=int(config.get("sequence_length") or 64), progress_bar=True)
    partial.replace(folder)
    return folder


def model_split(config: dict, n_songs: int) -> tuple[list[int], list[int], list[int]]:
    """The model's train/validation/test song indices: stored lists, else rebuilt from the stored seed."""
    split = config.get("split")
    if not isinstance(split, dict):
        raise ValueError("the model's config.json has no 'split'; train it with `antiphon train`")
    if all(isinstance(split.get(k), list) for k in ("train", "validation", "test")):
        parts = tuple([int(i) for i in split[k]] for k in ("train", "validation", "test"))
    elif isinstance(split.get("seed"), int):
        from antiphon.training.sequences import split_songs

        parts = split_songs(n_songs, split["seed"])
    else:
        raise ValueError(f"the model's split {split!r} has neither index lists nor a seed")
    if any(i < 0 or i >= n_songs for part in parts for i in part):
        raise ValueError(f"the model's split names songs outside the dataset's 0..{n_songs - 1}")
    return parts


def test_songs_of(model_dir: str | os.PathLike[str], dataset: str | os.PathLike[str] | None = None) -> list[list[str]]:
    """The encoded test songs of a model, from the dataset folder it was trained on."""
    return test_split_of(model_dir, dataset)[0]


def test_split_of(model_dir: str | os.PathLike[str], dataset: str | os.PathLike[str] | None = None,
                  log: Callable[[str], None] = lambda _: None) -> tuple[list[list[str]], list[list | None]]:
    """A model's test songs and their meters, from the dataset folder it was trained on (rebuilt if missing)."""
    config = LstmModel.load(model_dir).config
    data = load_dataset(find_dataset(config, dataset, log))
    entries = data.manifest.get("songs") or [{}] * len(data.songs)
    picked = model_split(config, len(data.songs))[2]
    return [data.songs[i] for i in picked], [entries[i].get("meter") or None for i in picked]


def load_corpus(model: LstmModel, dataset: str | os.PathLike[str] | None = None,
                corpus: Sequence[str] | None = None, test_of: str | os.PathLike[str] | None = None,
                log: Callable[[str], None] = lambda _: None) -> Corpus:
    """Train/validation songs from the model's dataset; test = its test songs, ``corpus`` preprocessed, or the
    test songs of another model (``test_of``: so that two models are scored on the same songs)."""
    folder = find_dataset(model.config, dataset, log)
    data = load_dataset(folder)
    if data.vocab != model.vocab:
        raise ValueError(f"dataset {folder} has a different vocabulary from the model")
    train_idx, val_idx, test_idx = model_split(model.config, len(data.songs))
    train = [data.songs[i] for i in train_idx]
    validation = [data.songs[i] for i in val_idx]
    entries = data.manifest.get("songs") or [{}] * len(data.songs)
    train_meters = [entries[i].get("meter") or None for i in train_idx]
    if corpus and test_of:
        raise ValueError("give --corpus or --test-of, not both")
    if test_of:
        songs, meters = test_split_of(test_of, log=log)
        return _folded(model, songs, meters, Corpus(train, validation, [], data.vocab,
                                                    f"the test songs of {test_of}", train_meters=train_meters))
    if not corpus:
        test = [data.songs[i] for i in test_idx]
        return Corpus(train, validation, test, data.vocab, f"{folder} (test split)", train_meters=train_meters,
                      test_meters=[entries[i].get("meter") or None for i in test_idx])
    from antiphon.training.corpus import Settings
    from antiphon.training.preprocess import preprocess

    durations = tuple(model.config.get("accepted_durations") or Settings().accepted_durations)
    with tempfile.TemporaryDirectory(prefix="antiphon-eval-") as tmp:
        preprocess(list(corpus), tmp, settings=Settings(accepted_durations=durations),
                   sequence_length=model.sequence_length, use_cache=False)
        other = load_dataset(tmp)
        songs = other.songs
        meters = [entry.get("meter") or None for entry in other.manifest.get("songs") or [{}] * len(songs)]
    return _folded(model, songs, meters, Corpus(train, validation, [], data.vocab, ", ".join(corpus),
                                                       train_meters=train_meters))


def _folded(model: LstmModel, songs: list[list[str]], meters: list, corpus: Corpus) -> Corpus:
    """``corpus`` with ``songs`` as its test songs, folded into the model's vocabulary (unfit ones skipped)."""
    test, folded, test_meters = [], 0, []
    for song, meter in zip(songs, meters, strict=True):
        try:
            kept = fold_into_vocab(song, model.vocab)  # pitches the model never saw, moved by octaves
        except ValueError:
            continue
        folded += kept != song
        test.append(kept)
        test_meters.append(meter)
    if not test:
        raise ValueError(f"no song of {corpus.source} could be scored (none kept, or none fits the vocabulary)")
    corpus.test, corpus.test_meters, corpus.skipped, corpus.folded = test, test_meters, len(songs) - len(test), folded
    return corpus
