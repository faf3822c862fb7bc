"""The self-describing model artifact: ``weights.npz``, ``vocab.json`` and ``config.json`` in one folder.

A model with an event model (config ``event_model``, ``engine/mixture.py``) also has ``events.json``.
``config.json`` is read into a :class:`~engine.model_config.ModelConfig` and written atomically.

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

import contextlib
import json
import math
import os
import secrets
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from antiphon.engine.mixture import EVENTS_FILE, check_events
from antiphon.engine.model_config import FORMAT, FORMAT_VERSION, ModelConfig
from antiphon.engine.vocab import Vocab

WEIGHTS_FILE = "weights.npz"
VOCAB_FILE = "vocab.json"
CONFIG_FILE = "config.json"


@dataclass
class Artifact:
    """A loaded, validated model: config, vocabulary and weights (float32)."""

    model_config: ModelConfig
    vocab: Vocab
    weights: dict[str, np.ndarray] = field(repr=False)
    # The event model's alphabet and long-term songs (``events.json``, see engine/mixture.py), if it has one.
    events: tuple[list[str], list[list[int]]] | None = field(default=None, repr=False)

    @property
    def config(self) -> dict[str, Any]:
        """``config.json`` as a plain JSON object (a copy)."""
        return self.model_config.as_json()

    @property
    def units(self) -> int:
        return self.model_config.architecture.units

    @property
    def layers(self) -> int:
        return self.model_config.architecture.layers

    @property
    def position_features(self) -> int:
        return self.model_config.architecture.position_features

    @property
    def sequence_length(self) -> int:
        return self.model_config.sequence_length

    @property
    def steps_per_quarter(self) -> int:
        return self.model_config.steps_per_quarter


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


def load_artifact(path: str | os.PathLike[str]) -> Artifact:
    """Load and validate an artifact folder; raises ``ValueError`` saying what is wrong."""
    folder = Path(path)
    if not folder.is_dir():
        raise ValueError(f"model folder not found: {folder}")
    config = load_config(folder)
    vocab = Vocab.load(folder / VOCAB_FILE)
    arch = config.architecture
    if len(vocab) != arch.vocab_size:
        raise ValueError(
            f"{folder}: vocab.json has {len(vocab)} symbols but config says vocab_size {arch.vocab_size}"
        )
    weights = _load_weights(folder / WEIGHTS_FILE)
    shapes = expected_shapes(len(vocab), arch.units, arch.layers, arch.position_features)
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
    if config.event_model is not None:
        events_path = folder / EVENTS_FILE
        data = _read_json(events_path, f"{folder}: config has an event_model but there is no {EVENTS_FILE}")
        events = check_events(data, vocab, str(events_path))
    return Artifact(model_config=config, vocab=vocab, weights=weights, events=events)


def load_config(folder: str | os.PathLike[str]) -> ModelConfig:
    """The ``config.json`` of a model folder; ``ValueError`` saying what is wrong with it."""
    path = Path(folder) / CONFIG_FILE
    data = _read_json(path, f"model folder {folder} has no {CONFIG_FILE}")
    try:
        return ModelConfig.from_json(data)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def save_config(folder: str | os.PathLike[str], config: ModelConfig) -> Path:
    """Write a model folder's ``config.json`` atomically (a reader sees the old file or the new, never half)."""
    path = Path(folder) / CONFIG_FILE
    _write_atomically(path, json.dumps(config.as_json(), indent=1, default=_json_default) + "\n")
    return path


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, flush it to disk, then rename it over ``path``."""
    # Not mkstemp: its 0600 mode would outlive the rename; "x" mode gets the usual umask permissions.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temporary, "x", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


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
    _write_atomically(Path(folder) / EVENTS_FILE, text)


def save_artifact(path: str | os.PathLike[str], config: ModelConfig | dict[str, Any], vocab: Vocab,
                  weights: dict[str, np.ndarray]) -> Path:
    """Write an artifact folder; validates by loading it back.

    ``config`` is a :class:`ModelConfig`, or its JSON object (the ``format`` fields may be left out).
    """
    folder = Path(path)
    if not isinstance(config, ModelConfig):
        config = ModelConfig.from_json({"format": FORMAT, "format_version": FORMAT_VERSION, **config})
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {name: np.asarray(value, dtype=np.float32) for name, value in weights.items()}
    np.savez(folder / WEIGHTS_FILE, **arrays)
    vocab.save(folder / VOCAB_FILE)
    save_config(folder, config)
    load_artifact(folder)
    return folder


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    raise TypeError(f"cannot write {type(value).__name__} to config.json")
