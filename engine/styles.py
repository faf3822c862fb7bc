"""Bundled style models: a style's name -> its artifact folder and figures, and the style a call sounds like.

A style is a model artifact folder that ships with the package: ``erk`` is the original default model
(``engine/bundled``), the others live in ``engine/styles/NAME``. ``auto`` is not a folder: it loads every
style and, for each call, answers with the style whose model finds the call likeliest (fewest bits).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

from antiphon.engine.model import BUNDLED_MODEL_DIR, LstmModel
from antiphon.engine.predictor import Predictor

STYLES_DIR = Path(__file__).resolve().parent / "styles"
ORIGINAL_STYLE = "erk"  # the first round's model, kept in engine/bundled
AUTO = "auto"
# The default answers each call in its own style: over 2- and 4-bar calls from every style's test songs, the true
# continuations cost 2.71 bits per event in auto's choice against 3.08 (irish), 3.17 (german) and 3.39 (erk) in
# any one style, and auto picks the call's own style for 93% of 4-bar calls (benchmarks/bench_styles.py).
DEFAULT_STYLE = AUTO
# generate without a seed has no call to choose by: it writes in the style of the largest corpus.
SEEDLESS_STYLE = "german"
# Styles left out of ``auto`` while the style named here is bundled: erk's songs are a subset of German's.
SUPERSEDED = {ORIGINAL_STYLE: "german"}
EVALUATION_FILE = "evaluation.json"
PROBABILITY_FLOOR = 1e-12  # a symbol the model gives no chance costs log2(1e12) ~ 40 bits, not infinity
# Auto scores a call with each style's LSTM alone (no song cache or event model): benchmarks/bench_styles.py
# measured the choice as good as with them, at a fraction of the time auto spends before each answer.
SCORE_WITH_SONG_MEMORY = False


def style_folders() -> dict[str, Path]:
    """Every bundled style's artifact folder, by name (sorted; only folders holding a model)."""
    found = {ORIGINAL_STYLE: BUNDLED_MODEL_DIR} if (BUNDLED_MODEL_DIR / "config.json").is_file() else {}
    if STYLES_DIR.is_dir():
        found.update({p.name: p for p in STYLES_DIR.iterdir() if (p / "config.json").is_file()})
    return dict(sorted(found.items()))


def style_path(name: str) -> Path:
    """The artifact folder of style ``name``; ``ValueError`` naming the known styles for any other name."""
    folders = style_folders()
    if name not in folders:
        known = ", ".join([*folders, AUTO]) or "none are installed"
        raise ValueError(f"unknown style {name!r}; known styles: {known}")
    return folders[name]


def model_folders(model: str | None, style: str | None) -> dict[str, Path]:
    """The model folders a session answers from: ``--model DIR``, one style, every style (``auto``), or
    the default style. Giving both a model and a style is an error."""
    if model is not None and style is not None:
        raise ValueError("give --model or --style, not both")
    if model is not None:
        path = Path(model).expanduser()
        return {path.name: path}
    name = style or DEFAULT_STYLE
    if name == AUTO:
        folders = auto_styles()
        if len(folders) >= 2 or (style is None and folders):  # the default with one style installed: that one
            return folders
        raise ValueError(f"--style auto needs at least two bundled styles; installed: {', '.join(folders)}")
    return {name: style_path(name)}


def auto_styles() -> dict[str, Path]:
    """The styles ``auto`` chooses among: every bundled style but those another bundled style supersedes."""
    folders = style_folders()
    return {name: path for name, path in folders.items() if SUPERSEDED.get(name) not in folders}


def style_summary(name: str) -> dict:
    """What ``antiphon styles`` shows: the corpus, the song counts and the test figures of one style."""
    folder = style_path(name)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    corpus = config.get("corpus") or {}
    split = config.get("split") or {}
    summary = {"name": name, "folder": str(folder), "corpus": ", ".join(corpus.get("inputs") or []),
               "songs": corpus.get("songs"), "train_songs": len(split.get("train") or []),
               "test_songs": len(split.get("test") or []), "bits_per_event": None, "baseline_bits_per_event": None}
    report = folder / EVALUATION_FILE
    if report.is_file():
        likelihood = json.loads(report.read_text(encoding="utf-8")).get("likelihood") or {}
        summary["bits_per_event"] = (likelihood.get("lstm") or {}).get("bits_per_event")
        summary["baseline_bits_per_event"] = (likelihood.get("idyom") or {}).get("bits_per_event")
    return summary


def call_scorer(model: LstmModel, mode: str = "stateful") -> Predictor:
    """A predictor holding the start padding, to clone for scoring calls in this model's style."""
    scorer = model.predictor(mode, cache=SCORE_WITH_SONG_MEMORY, events=SCORE_WITH_SONG_MEMORY)
    scorer.prime(model.song_start())
    return scorer


def score_call(predictor: Predictor, indices: Sequence[int], positions: Sequence[int | None]) -> float:
    """Feed a call into ``predictor`` (which holds the start padding) and return its cost in bits: the sum of
    -log2 p(symbol | what came before). Afterwards the predictor is primed with the call, as ``prime`` leaves it."""
    probs = predictor.last_probabilities
    if probs is None:
        raise ValueError("score_call needs a predictor that holds the start padding")
    bits = 0.0
    for index, position in zip(indices, positions, strict=True):
        bits -= math.log2(max(float(probs[index]), PROBABILITY_FLOOR))
        probs = predictor.feed(index, position)
    return bits


def likeliest(costs: dict[str, float]) -> str:
    """The style with the fewest bits (ties: the first in name order)."""
    return min(sorted(costs), key=lambda name: (costs[name], name))

