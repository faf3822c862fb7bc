"""What the tuners share: a model's own split songs, read from its dataset folder, and writing its new config."""

from __future__ import annotations

import os

from antiphon.engine.artifact import save_config
from antiphon.engine.model import LstmModel
from antiphon.engine.model_config import ModelConfig


def split_songs_of(model: LstmModel, data_dir: str | None = None, part: str = "validation") -> tuple[list, list]:
    """The songs of one part of a model's stored split, and their meters, from its dataset folder."""
    from antiphon.training.dataset import load_dataset

    config = model.model_config
    data = data_dir or (config.dataset or {}).get("path")
    if not data:
        raise ValueError("the model's config names no dataset; pass the dataset folder")
    dataset = load_dataset(data)
    indices = (config.split or {}).get(part)
    if not indices:
        raise ValueError(f"the model's config holds no {part} split")
    if max(indices) >= len(dataset.songs):
        raise ValueError(f"{data} has {len(dataset.songs)} songs; the model's split needs more: wrong dataset?")
    entries = dataset.manifest.get("songs") or [{}] * len(dataset.songs)
    return [dataset.songs[i] for i in indices], [entries[i].get("meter") or None for i in indices]


def store_config(model_dir: str | os.PathLike[str], config: ModelConfig) -> None:
    """Replace a model's ``config.json`` atomically and check the folder is still a valid artifact."""
    save_config(model_dir, config)
    LstmModel.load(model_dir)
