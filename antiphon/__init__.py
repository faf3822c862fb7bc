"""Antiphon: a real-time MIDI call-and-response improviser with an LSTM melody model.

One import name for the three packages: ``antiphon.engine`` (numpy run-time core), ``antiphon.daemon`` (the live
service) and ``antiphon.training`` (corpus and Keras). In a wheel they sit inside this package; in a source tree they
are the top-level folders ``engine/``, ``daemon/`` and ``training/`` beside this one, which ``__path__`` then includes
so that ``python -m antiphon`` and the benchmarks run the tree they are started from.
"""

from pathlib import Path as _Path

__version__ = "0.2.0"

_SOURCE_ROOT = _Path(__file__).resolve().parent.parent
if (_SOURCE_ROOT / "engine" / "__init__.py").is_file() and (_SOURCE_ROOT / "pyproject.toml").is_file():
    __path__.append(str(_SOURCE_ROOT))  # noqa: F821 - a package's __path__ is defined by the import system
