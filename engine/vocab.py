"""Symbol <-> integer vocabulary, saved as JSON beside the weights."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from antiphon.engine.events import DELIMITER, HOLD, REST, is_pitch_symbol


def _symbol_order(symbol: str) -> tuple[int, int, str]:
    # Specials first, then pitches low to high: a stable, readable mapping.
    if symbol in (DELIMITER, REST, HOLD):
        return (0, (DELIMITER, REST, HOLD).index(symbol), symbol)
    if is_pitch_symbol(symbol):
        return (1, int(symbol), symbol)
    return (2, 0, symbol)


class Vocab:
    """An immutable mapping between grid symbols and integer indices."""

    def __init__(self, mapping: dict[str, int]):
        if not isinstance(mapping, dict) or not mapping:
            raise ValueError("vocabulary must be a non-empty JSON object of symbol -> index")
        for symbol, index in mapping.items():
            if not isinstance(symbol, str) or not isinstance(index, int) or isinstance(index, bool):
                raise ValueError(f"vocabulary entry {symbol!r}: {index!r} is not str -> int")
            if symbol not in (DELIMITER, REST, HOLD) and not is_pitch_symbol(symbol):
                raise ValueError(f"vocabulary holds an invalid symbol {symbol!r}")
        if sorted(mapping.values()) != list(range(len(mapping))):
            raise ValueError("vocabulary indices must be exactly 0..N-1, each once")
        self._index = dict(mapping)
        self._symbols = [""] * len(mapping)
        for symbol, index in mapping.items():
            self._symbols[index] = symbol

    @classmethod
    def build(cls, symbols: Iterable[str]) -> Vocab:
        """Build a vocabulary of the distinct symbols, always including ``/``, ``r`` and ``_``."""
        distinct = set(symbols) | {DELIMITER, REST, HOLD}
        return cls({s: i for i, s in enumerate(sorted(distinct, key=_symbol_order))})

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        try:
            mapping = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as err:
            raise ValueError(f"vocabulary file missing: {path}") from err
        except json.JSONDecodeError as err:
            raise ValueError(f"vocabulary file {path} is not valid JSON: {err}") from err
        return cls(mapping)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self._index, indent=1) + "\n", encoding="utf-8")

    @property
    def symbols(self) -> list[str]:
        return list(self._symbols)

    def __len__(self) -> int:
        return len(self._symbols)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self._index == other._index

    def __hash__(self) -> int:
        return hash(tuple(self._symbols))

    def index(self, symbol: str) -> int:
        try:
            return self._index[symbol]
        except KeyError:
            raise ValueError(f"symbol {symbol!r} is not in the model's vocabulary") from None

    def symbol(self, index: int) -> str:
        return self._symbols[index]

    def encode(self, symbols: Sequence[str]) -> list[int]:
        """Map symbols to indices; an unknown symbol raises ``ValueError`` naming it and its position."""
        out = []
        for position, symbol in enumerate(symbols):
            index = self._index.get(symbol)
            if index is None:
                raise ValueError(f"unknown symbol {symbol!r} at position {position}: not in the model's vocabulary")
            out.append(index)
        return out

    def decode(self, indices: Iterable[int]) -> list[str]:
        return [self._symbols[i] for i in indices]

    def pitch_range(self) -> tuple[int, int] | None:
        """Lowest and highest MIDI pitch in the vocabulary, or ``None`` if it has none."""
        pitches = [int(s) for s in self._symbols if is_pitch_symbol(s)]
        return (min(pitches), max(pitches)) if pitches else None
