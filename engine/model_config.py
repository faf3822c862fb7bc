"""A model's ``config.json`` as frozen dataclasses: what the engine needs typed, the rest kept as written.

The engine reads the architecture, the grid (``sequence_length``, ``steps_per_quarter``), the song cache
(``cache``, ``engine/cache.py``) and the event model (``event_model``, ``engine/mixture.py``). The corpus
identity, dataset, split and training record (history, tuning results) are JSON objects the engine only
carries; keys this version does not know are kept in ``extra`` and written back unchanged, so reading and
writing a config never loses anything. Treat the dicts inside as read-only: make a new config with
``dataclasses.replace`` and write it with ``engine.artifact.save_config`` (atomically).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from antiphon.engine.cache import CacheConfig
from antiphon.engine.mixture import MixConfig

FORMAT = "antiphon-lstm"
FORMAT_VERSION = 1
MAX_POSITION_FEATURES = 1024

# The keys of config.json this module knows, in the order they are written; others follow in their own order.
_ARCHITECTURE_KEYS = ("type", "units", "layers", "vocab_size", "dropout", "position_features")
_KEYS = ("format", "format_version", "architecture", "sequence_length", "steps_per_quarter", "accepted_durations",
         "corpus", "dataset", "split", "training", "cache", "event_model")


def _positive_int(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _object_or_none(value: Any, name: str) -> dict[str, Any] | None:
    if value is not None and not isinstance(value, dict):
        raise ValueError(f"{name} must be a JSON object, got {value!r}")
    return value


@dataclass(frozen=True)
class Architecture:
    """The LSTM stack: ``layers`` x ``units`` over ``vocab_size`` symbols and ``position_features`` bar inputs."""

    units: int
    vocab_size: int
    layers: int = 1
    position_features: int = 0
    type: str | None = None  # "lstm" when written by training; absent in hand-made configs
    dropout: float | None = None  # the training dropout (a record; the engine runs without it)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _positive_int(self.units, "architecture.units")
        _positive_int(self.vocab_size, "architecture.vocab_size")
        _positive_int(self.layers, "architecture.layers")
        positions = self.position_features
        if not isinstance(positions, int) or isinstance(positions, bool) \
                or not 0 <= positions <= MAX_POSITION_FEATURES:
            raise ValueError(f"architecture.position_features must be an integer 0..{MAX_POSITION_FEATURES}, "
                             f"got {positions!r}")
        clash = sorted(set(self.extra) & set(_ARCHITECTURE_KEYS))
        if clash:
            raise ValueError(f"extra architecture keys {clash} are fields of the architecture")

    @classmethod
    def from_json(cls, data: Any) -> Architecture:
        if not isinstance(data, dict):
            raise ValueError("config has no 'architecture' object")
        return cls(units=data.get("units"), vocab_size=data.get("vocab_size"), layers=data.get("layers", 1),
                   position_features=data.get("position_features", 0), type=data.get("type"),
                   dropout=data.get("dropout"),
                   extra={k: v for k, v in data.items() if k not in _ARCHITECTURE_KEYS})

    def as_json(self) -> dict[str, Any]:
        out = {"type": self.type, "units": self.units, "layers": self.layers, "vocab_size": self.vocab_size,
               "dropout": self.dropout, "position_features": self.position_features}
        out = {k: v for k, v in out.items() if v is not None or k not in ("type", "dropout")}
        return {**out, **copy.deepcopy(dict(self.extra))}


@dataclass(frozen=True)
class ModelConfig:
    """Everything in a model's ``config.json`` (see the module docstring); ``None`` fields are not written."""

    architecture: Architecture
    sequence_length: int
    steps_per_quarter: int
    accepted_durations: tuple[float, ...] | None = None
    corpus: dict[str, Any] | None = None
    dataset: dict[str, Any] | None = None
    split: dict[str, Any] | None = None
    training: dict[str, Any] | None = None
    cache: CacheConfig | None = None
    event_model: MixConfig | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _positive_int(self.sequence_length, "sequence_length")
        _positive_int(self.steps_per_quarter, "steps_per_quarter")
        for name in ("corpus", "dataset", "split", "training"):
            _object_or_none(getattr(self, name), name)
        clash = sorted(set(self.extra) & set(_KEYS))
        if clash:
            raise ValueError(f"extra config keys {clash} are fields of the model config")

    @classmethod
    def from_json(cls, data: Any) -> ModelConfig:
        """Read a parsed ``config.json``; ``ValueError`` naming the first bad value."""
        if not isinstance(data, dict):
            raise ValueError("config must be a JSON object")
        if data.get("format") != FORMAT:
            raise ValueError(f"not an Antiphon model (format {data.get('format')!r}, expected {FORMAT!r})")
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"unsupported format_version {data.get('format_version')!r}")
        durations = data.get("accepted_durations")
        if durations is not None:
            if not isinstance(durations, list) or not all(
                    isinstance(d, (int, float)) and not isinstance(d, bool) for d in durations):
                raise ValueError(f"accepted_durations must be a list of numbers, got {durations!r}")
            durations = tuple(durations)
        return cls(architecture=Architecture.from_json(data.get("architecture")),
                   sequence_length=data.get("sequence_length"), steps_per_quarter=data.get("steps_per_quarter"),
                   accepted_durations=durations, corpus=data.get("corpus"), dataset=data.get("dataset"),
                   split=data.get("split"), training=data.get("training"),
                   cache=CacheConfig.from_config(data.get("cache")),
                   event_model=MixConfig.from_config(data.get("event_model")),
                   extra={k: v for k, v in data.items() if k not in _KEYS})

    def as_json(self) -> dict[str, Any]:
        """The ``config.json`` object (a deep copy: editing it leaves this config alone)."""
        out: dict[str, Any] = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "architecture": self.architecture.as_json(),
            "sequence_length": self.sequence_length, "steps_per_quarter": self.steps_per_quarter,
            "accepted_durations": None if self.accepted_durations is None else list(self.accepted_durations),
            "corpus": self.corpus, "dataset": self.dataset, "split": self.split, "training": self.training,
            "cache": None if self.cache is None else self.cache.as_config(),
            "event_model": None if self.event_model is None else self.event_model.as_config(),
        }
        out = {k: copy.deepcopy(v) for k, v in out.items() if v is not None}
        return {**out, **copy.deepcopy(dict(self.extra))}

    def with_training(self, **record: Any) -> ModelConfig:
        """A copy with ``record``'s entries added to (or replacing those of) the training record."""
        return replace(self, training={**(self.training or {}), **record})
