"""Fixtures shared by the training tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from antiphon.training.corpus import music21_corpus_dir, split_items
from antiphon.training.preprocess import preprocess

SEQUENCE_LENGTH = 16


@pytest.fixture(scope="session")
def erk_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 30 tunes of music21's erk5.abc, preprocessed by the real pipeline (read-only for tests)."""
    folder = tmp_path_factory.mktemp("erk")
    items = split_items(music21_corpus_dir() / "essenFolksong" / "erk5.abc")[:30]
    (folder / "erk5_head.abc").write_bytes(b"\n".join(item.data for item in items))
    report = preprocess([str(folder / "erk5_head.abc")], folder / "data", sequence_length=SEQUENCE_LENGTH,
                        workers=1)
    assert report["kept"] >= 25
    return folder / "data"
