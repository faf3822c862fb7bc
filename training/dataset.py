"""The preprocessed dataset folder: encoded songs, the single-file dataset, the mapping and the manifest.

Layout of a dataset folder (written by ``antiphon preprocess``)::

    songs/00000.txt   one encoded song per file, symbols separated by spaces
    dataset.txt       all songs, each followed by ``sequence_length`` delimiters ``/`` (the report's single file)
    mapping.json      symbol -> integer (``engine.vocab.Vocab``)
    manifest.json     settings, corpus identity and one entry per song (source, title, key, transposition)
    report.json       counts of files read, songs found, kept and skipped per reason
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from antiphon.engine.events import DELIMITER
from antiphon.engine.vocab import Vocab

SONGS_DIR = "songs"
DATASET_FILE = "dataset.txt"
MAPPING_FILE = "mapping.json"
MANIFEST_FILE = "manifest.json"
REPORT_FILE = "report.json"


@dataclass
class Dataset:
    """Encoded songs (lists of symbols) with their vocabulary and manifest."""

    songs: list[list[str]]
    vocab: Vocab
    manifest: dict[str, Any]

    @property
    def sequence_length(self) -> int:
        return int(self.manifest["settings"]["sequence_length"])

    @property
    def steps_per_quarter(self) -> int:
        return int(self.manifest["settings"]["steps_per_quarter"])


def join_songs(songs: list[list[str]], sequence_length: int) -> str:
    """The single-file dataset: each song followed by a run of ``sequence_length`` delimiters."""
    delimiter = " ".join([DELIMITER] * sequence_length)
    return " ".join(" ".join(song) + " " + delimiter for song in songs)


def split_joined(text: str) -> list[list[str]]:
    """Inverse of ``join_songs``: the songs between delimiter runs."""
    songs: list[list[str]] = []
    current: list[str] = []
    for symbol in text.split():
        if symbol == DELIMITER:
            if current:
                songs.append(current)
                current = []
        else:
            current.append(symbol)
    if current:
        songs.append(current)
    return songs


def write_dataset(folder: str | Path, songs: list[list[str]], manifest: dict[str, Any],
                  report: dict[str, Any] | None = None) -> Vocab:
    """Write a dataset folder; ``manifest['settings']['sequence_length']`` sets the delimiter run."""
    folder = Path(folder)
    songs_dir = folder / SONGS_DIR
    songs_dir.mkdir(parents=True, exist_ok=True)
    for old in songs_dir.glob("*.txt"):
        old.unlink()
    for number, song in enumerate(songs):
        (songs_dir / f"{number:05d}.txt").write_text(" ".join(song) + "\n", encoding="utf-8")
    sequence_length = int(manifest["settings"]["sequence_length"])
    (folder / DATASET_FILE).write_text(join_songs(songs, sequence_length) + "\n", encoding="utf-8")
    vocab = Vocab.build(symbol for song in songs for symbol in song)
    vocab.save(folder / MAPPING_FILE)
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    if report is not None:
        (folder / REPORT_FILE).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return vocab


def load_dataset(folder: str | Path) -> Dataset:
    """Read a dataset folder written by ``write_dataset``; raises ``ValueError`` if it is incomplete."""
    folder = Path(folder)
    for name in (DATASET_FILE, MAPPING_FILE, MANIFEST_FILE):
        if not (folder / name).exists():
            raise ValueError(f"{folder} is not a dataset folder: {name} missing (run `antiphon preprocess`)")
    manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    vocab = Vocab.load(folder / MAPPING_FILE)
    songs = split_joined((folder / DATASET_FILE).read_text(encoding="utf-8"))
    listed = manifest.get("songs")
    if isinstance(listed, list) and len(listed) != len(songs):
        raise ValueError(f"{folder}: manifest lists {len(listed)} songs but {DATASET_FILE} holds {len(songs)}")
    for song in songs:
        vocab.encode(song)  # raises on a symbol the mapping lacks
    return Dataset(songs=songs, vocab=vocab, manifest=manifest)
