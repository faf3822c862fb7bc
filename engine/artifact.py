"""The self-describing model artifact: ``weights.npz``, ``vocab.json`` and ``config.json`` in one folder.

A model with an event model (config ``event_model``, ``engine/mixture.py``) also has ``events.json``.

Weights are plain float arrays in an ``.npz`` read with ``allow_pickle=False``; the architecture is rebuilt
from ``config.json``, so nothing in the folder is ever executed. Names and shapes (U units, V symbols, gate
order i, f, c, o as in Keras)::

    lstm{k}/kernel            (input_dim, 4U)   input_dim = V + P for k = 0, else U
                                                (P = architecture.position_features: one-hot bar position
                                                inputs after the V symbol inputs; 0 when absent)
    lstm{k}/recurrent_kernel  (U, 4U)
    lstm{k}/bias              (4U,)
    dense/kernel              (U, V)
    dense/bias                (V,)
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from antiphon.engine.mixture import EVENTS_FILE, MixConfig, check_events
from antiphon.engine.vocab import Vocab

FORMAT = "antiphon-lstm"
FORMAT_VERSION = 1
WEIGHTS_FILE = "weights.npz"
VOCAB_FILE = "vocab.json"
CONFIG_FILE = "config.json"


@dataclass
class Artifact:
    """A loaded, validated model: config, vocabulary and weights (float32)."""

    config: dict[str, Any]
    vocab: Vocab
    weights: dict[str, np.ndarray] = field(repr=False)
    # The event model's alphabet and long-term songs (``events.json``, see engine/mixture.py), if it has one.
    events: tuple[list[str], list[list[int]]] | None = field(default=None, repr=False)

    @property
    def units(self) -> int:
        return int(self.config["architecture"]["units"])

    @property
    def layers(self) -> int:
        return int(self.config["architecture"].get("layers", 1))

    @property
    def position_features(self) -> int:
        return int(self.config["architecture"].get("position_features", 0))

    @property
    def sequence_length(self) -> int:
        return int(self.config["sequence_length"])

    @property
    def steps_per_quarter(self) -> int:
        return int(self.config["steps_per_quarter"])


def expected_shapes(vocab_size: int, units: int, layers: int,
                    position_features: int = 0) -> dict[str, tuple[int, ...]]:
    """Weight name -> shape for an LSTM stack with a dense softmax head."""
    shapes: dict[str, tuple[int, ...]] = {}
    for k in range(layers):
        input_dim = vocab_size + position_features if k == 0 else units
        shapes[f"lstm{k}/kernel"] = (input_dim, 4 * units)
        shapes[f"lstm{k}/recurrent_kernel"] = (units, 4 * units)
        shapes[f"lstm{k}/bias"] = (4 * units,)
    shapes["dense/kernel"] = (units, vocab_size)
    shapes["dense/bias"] = (vocab_size,)
    return shapes


def _check_config(config: Any, where: Path) -> None:
    if not isinstance(config, dict):
        raise ValueError(f"{where}: config must be a JSON object")
    if config.get("format") != FORMAT:
        raise ValueError(f"{where}: not an Antiphon model (format {config.get('format')!r}, "
                         f"expected {FORMAT!r})")
    if config.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{where}: unsupported format_version {config.get('format_version')!r}")
    arch = config.get("architecture")
    if not isinstance(arch, dict):
        raise ValueError(f"{where}: config has no 'architecture' object")
    for key in ("units", "vocab_size"):
        value = arch.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{where}: architecture.{key} must be a positive integer, got {value!r}")
    positions = arch.get("position_features", 0)
    if not isinstance(positions, int) or isinstance(positions, bool) or not 0 <= positions <= 1024:
        raise ValueError(f"{where}: architecture.position_features must be an integer 0..1024, got {positions!r}")
    layers = arch.get("layers", 1)
    if not isinstance(layers, int) or isinstance(layers, bool) or layers <= 0:
        raise ValueError(f"{where}: architecture.layers must be a positive integer, got {layers!r}")
    for key in ("sequence_length", "steps_per_quarter"):
        value = config.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{where}: {key} must be a positive integer, got {value!r}")


def load_artifact(path: str | os.PathLike[str]) -> Artifact:
    """Load and validate an artifact folder; raises ``ValueError`` saying what is wrong."""
    folder = Path(path)
    if not folder.is_dir():
        raise ValueError(f"model folder not found: {folder}")
    config_path = folder / CONFIG_FILE
    config = _read_json(config_path, f"model folder {folder} has no {CONFIG_FILE}")
    _check_config(config, config_path)
    vocab = Vocab.load(folder / VOCAB_FILE)
    arch = config["architecture"]
    if len(vocab) != arch["vocab_size"]:
        raise ValueError(
            f"{folder}: vocab.json has {len(vocab)} symbols but config says vocab_size {arch['vocab_size']}"
        )
    weights = _load_weights(folder / WEIGHTS_FILE)
    shapes = expected_shapes(len(vocab), arch["units"], arch.get("layers", 1), arch.get("position_features", 0))
    missing = sorted(set(shapes) - set(weights))
    extra = sorted(set(weights) - set(shapes))
    if missing or extra:
        raise ValueError(f"{folder / WEIGHTS_FILE}: weights do not match the config "
                         f"(missing {missing}, unexpected {extra})")
    for name, shape in shapes.items():
        if weights[name].shape != shape:
            raise ValueError(f"{WEIGHTS_FILE}: {name} has shape {weights[name].shape}, expected {shape}")
        if not np.all(np.isfinite(weights[name])):
            raise ValueError(f"{WEIGHTS_FILE}: {name} holds NaN or infinite values")
    events = None
    if config.get("event_model") is not None:
        MixConfig.from_config(config["event_model"])
        events_path = folder / EVENTS_FILE
        data = _read_json(events_path, f"{folder}: config has an event_model but there is no {EVENTS_FILE}")
        events = check_events(data, vocab, str(events_path))
    return Artifact(config=config, vocab=vocab, weights=weights, events=events)


def _read_json(path: Path, missing: str) -> Any:
    """The JSON in ``path``; ``ValueError`` saying ``missing`` if there is no file, or what is wrong with it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ValueError(missing) from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from err


def _load_weights(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        raise ValueError(f"weights file missing: {path}")
    if not zipfile.is_zipfile(path):  # np.load would try a pickle or a bare .npy array instead
        raise ValueError(f"{path} is not a readable .npz file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as data:
            weights = {}
            for name in data.files:
                array = data[name]
                if not np.issubdtype(array.dtype, np.floating):
                    raise ValueError(f"{path}: {name} has dtype {array.dtype}, expected floating point")
                weights[name] = np.ascontiguousarray(array, dtype=np.float32)
            return weights
    except ValueError as err:
        if "allow_pickle" in str(err) or "Object arrays" in str(err):
            raise ValueError(f"{path}: holds an object (pickled) array; refusing to load it") from err
        raise
    except (OSError, zipfile.BadZipFile, EOFError) as err:
        raise ValueError(f"{path} is not a readable .npz file: {err}") from err


def save_events(folder: str | os.PathLike[str], alphabet: list[str], songs: list[list[int]]) -> None:
    """Write ``events.json``: the event model's alphabet and its long-term songs as token indices."""
    text = json.dumps({"alphabet": alphabet, "songs": songs}, separators=(",", ":")) + "\n"
    (Path(folder) / EVENTS_FILE).write_text(text, encoding="utf-8")


def save_artifact(path: str | os.PathLike[str], config: dict[str, Any], vocab: Vocab,
                  weights: dict[str, np.ndarray]) -> Path:
    """Write an artifact folder (config gets ``format`` fields added); validates by loading it back."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    config = {"format": FORMAT, "format_version": FORMAT_VERSION, **config}
    arrays = {name: np.asarray(value, dtype=np.float32) for name, value in weights.items()}
    np.savez(folder / WEIGHTS_FILE, **arrays)
    vocab.save(folder / VOCAB_FILE)
    text = json.dumps(config, indent=1, default=_json_default) + "\n"
    (folder / CONFIG_FILE).write_text(text, encoding="utf-8")
    load_artifact(folder)
    return folder


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    raise TypeError(f"cannot write {type(value).__name__} to config.json")
