"""The settings of one training run (``antiphon train``'s options), checked where they are made."""

from __future__ import annotations

from dataclasses import dataclass

from antiphon.training.distribute import STRATEGIES
from antiphon.training.model import DEFAULT_DROPOUT, DEFAULT_LEARNING_RATE, DEFAULT_UNITS
from antiphon.training.pipeline import INPUTS
from antiphon.training.sequences import DEFAULT_CHUNK_LENGTH, RECIPES

DEFAULT_EPOCHS = 50
DEFAULT_RECIPE = "song"
DEFAULT_BATCH_SIZE = 64


@dataclass(frozen=True)
class TrainSettings:
    """How to train (see ``training.train.train``); ``ValueError`` naming the first bad value.

    ``recipe`` is ``"song"`` (whole songs from the start padding, a target at every step), ``"per_step"`` (a
    target at every step of ``chunk_length`` chunks) or ``"window"`` (the report's: a ``sequence_length``
    window -> the next symbol). ``patience`` enables early stopping on the validation loss, restoring the best
    epoch's weights. ``max_seconds`` stops training after that much wall time (at a batch end, then
    validates). ``threads`` caps TensorFlow's CPU threads. ``cache`` tunes the engine's neural cache
    (``engine/cache.py``) on the validation songs and stores it in the config; ``events`` then fits and tunes
    the event model mixed into it (``engine/mixture.py``). ``positions`` feeds the bar position of each step
    as extra inputs (song recipe, either input, when the dataset has meters; ``engine/meter.py``).

    ``strategy`` is ``"default"``, ``"mirrored"`` (every local GPU, else every logical CPU device) or
    ``"multiworker"`` (machines named in ``TF_CONFIG``; only the chief writes the model); ``batch_size`` is
    the global batch, split across replicas. ``input_pipeline`` is ``"memory"`` (batches built in numpy from
    the loaded songs) or ``"tfdata"`` (``training.pipeline``, streamed from ``songs/*.txt``; song recipe
    only); ``None`` picks ``tfdata`` under a distributed strategy with the song recipe, else ``memory``.
    ``cpu_devices`` (or ``$ANTIPHON_CPU_DEVICES``) splits the CPU into that many logical devices before
    TensorFlow starts. ``hold_out`` names model folders whose test songs must be this model's test songs
    (found by their symbols in this dataset), so that two models can be compared on the same songs.
    ``init_from`` starts from a trained artifact's weights (same vocabulary and inputs).
    """

    recipe: str = DEFAULT_RECIPE
    epochs: int = DEFAULT_EPOCHS
    batch_size: int = DEFAULT_BATCH_SIZE
    units: int = DEFAULT_UNITS
    layers: int = 1
    dropout: float = DEFAULT_DROPOUT
    learning_rate: float = DEFAULT_LEARNING_RATE
    seed: int = 0
    chunk_length: int = DEFAULT_CHUNK_LENGTH
    patience: int | None = None
    max_seconds: float | None = None
    threads: int | None = None
    verbose: int = 0
    strategy: str = "default"
    input_pipeline: str | None = None
    cpu_devices: int | None = None
    cache: bool = True
    positions: bool = True
    events: bool = True
    hold_out: tuple[str, ...] = ()
    init_from: str | None = None

    def __post_init__(self) -> None:
        if self.input_pipeline is None:
            chosen = "tfdata" if self.strategy != "default" and self.recipe == "song" else "memory"
            object.__setattr__(self, "input_pipeline", chosen)
        recipe, strategy, input_pipeline = self.recipe, self.strategy, self.input_pipeline
        if recipe not in RECIPES:
            raise ValueError(f"unknown recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
        if input_pipeline not in INPUTS:
            raise ValueError(f"unknown input {input_pipeline!r}; choose one of {', '.join(INPUTS)}")
        if input_pipeline == "tfdata" and recipe != "song":
            raise ValueError(f"the tfdata input serves the song recipe only, not {recipe!r}; use input 'memory'")
        if strategy != "default" and input_pipeline != "tfdata":
            raise ValueError(f"strategy {strategy!r} trains the song recipe on the tfdata input only; got recipe "
                             f"{recipe!r}, input {input_pipeline!r}")
        for name in ("epochs", "batch_size", "units", "layers", "chunk_length"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not self.learning_rate > 0.0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate!r}")
        if self.patience is not None and self.patience <= 0:
            raise ValueError(f"patience must be a positive integer, got {self.patience!r}")
