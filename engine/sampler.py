"""The entropy-aware sampler (the report, section 2.6): temperature from the model's certainty, then weights.

For each predicted distribution p (the raw model output, before any weighting):

1. Entropy ``H(p) = -sum_i p_i ln p_i`` in nats (natural log; 0 for a certain prediction, ln V at most).
2. Temperature, with ``base = config.temperature``:

   * ``H < low_entropy`` (default 0.5 nats; the model is confident)   -> ``T = base * raise_factor`` (1.25;
     the report's 1.5 made notes too short once the nucleus below cut far-off pitches: see step 5)
   * ``H > high_entropy`` (default 2.5 nats; the model is uncertain)  -> ``T = base * lower_factor`` (0.75)
   * otherwise                                                         -> ``T = base``

   then clamped to ``[min_temperature, max_temperature]`` (0.05, 5.0). With ``adaptive=False`` (the
   fixed-temperature mode) ``T = base`` always. A step rule, as the report states it: two thresholds, three
   levels, every constant a field of :class:`SamplerConfig`.
3. Temperature scaling in log space: ``p'_i = exp(log p_i / T) / sum_j exp(log p_j / T)``, computed as a
   softmax of ``log(max(p_i, log_floor)) / T`` with the maximum subtracted first, so tiny probabilities
   can't underflow every term to zero (the tutorial's NaN). Symbols with ``p_i == 0`` exactly stay at 0.
4. Symbol weights: ``p''_i = p'_i w_i / sum_j p'_j w_j``; ``r`` weighs 0.9 and every other symbol 1.0 unless
   configured. A weight of 0 bans a symbol; if the weights ban every symbol the model allows, the weights
   are ignored for that step (a distribution is always returned, never NaN).
5. Nucleus (top-p) truncation, an addition to the report's rule (Holtzman et al. 2020), in two parts: first among
   the symbols other than ``_`` (what to play, if a note or rest starts): keep the most probable until together they
   hold ``onset_top_p`` (default 0.85) of the onset probability and renormalise them within it, ``_`` untouched;
   then over the whole distribution with ``top_p`` (default 0.97). Without it a melody drifts: its rare far-off
   pitches add up over a song (the bundled model's sampled melodies spanned 23 ± 9 semitones against 12.6 ± 2.6 in
   real ``erk`` songs; 12.7 ± 3.5 with it). A single nucleus over everything also cut every onset where ``_`` held
   most of the probability, so notes came out too long; the onset part alone let the entropy rule's extra short
   notes through. The defaults were chosen on validation songs with ``benchmarks/bench_sampling.py``. ``top_p=1``
   and ``onset_top_p=1`` turn them off.
6. One draw from the result with the ``numpy.random.Generator`` passed in (reproducible with a seed).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from antiphon.engine.events import DEFAULT_ONSET_TOP_P, DEFAULT_TOP_P, DELIMITER, HOLD, REST, is_pitch_symbol
from antiphon.engine.meter import bar_positions
from antiphon.engine.vocab import Vocab

DEFAULT_TEMPERATURE = 1.0
DEFAULT_WEIGHTS: Mapping[str, float] = {REST: 0.9}
LOW_ENTROPY_NATS = 0.5
HIGH_ENTROPY_NATS = 2.5
RAISE_FACTOR = 1.25  # the report: 1.5 (see the module docstring)
LOWER_FACTOR = 0.75
MIN_TEMPERATURE = 0.05
MAX_TEMPERATURE = 5.0
LOG_FLOOR = 1e-12


def _default_weights() -> dict[str, float]:
    return dict(DEFAULT_WEIGHTS)


@dataclass(frozen=True)
class SamplerConfig:
    """The sampler's constants (see the module docstring for the rule they parameterise)."""

    temperature: float = DEFAULT_TEMPERATURE
    adaptive: bool = True
    weights: dict[str, float] = field(default_factory=_default_weights)
    low_entropy: float = LOW_ENTROPY_NATS
    high_entropy: float = HIGH_ENTROPY_NATS
    raise_factor: float = RAISE_FACTOR
    lower_factor: float = LOWER_FACTOR
    min_temperature: float = MIN_TEMPERATURE
    max_temperature: float = MAX_TEMPERATURE
    log_floor: float = LOG_FLOOR
    top_p: float = DEFAULT_TOP_P
    onset_top_p: float = DEFAULT_ONSET_TOP_P
    # The shape of an answer to a call (``answer_ban``): a note on its first step, and no end before its length.
    answer_note_first: bool = True
    answer_full_length: bool = True

    def __post_init__(self) -> None:
        for name in ("top_p", "onset_top_p"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 < value <= 1.0:
                raise ValueError(f"sampler {name} must be in (0, 1], got {value!r}")
        for name in ("temperature", "raise_factor", "lower_factor", "min_temperature", "max_temperature",
                     "log_floor"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"sampler {name} must be a positive finite number, got {value!r}")
        for name in ("low_entropy", "high_entropy"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"sampler {name} must be a finite number >= 0, got {value!r}")
        if self.low_entropy > self.high_entropy:
            raise ValueError(f"sampler low_entropy {self.low_entropy} is above high_entropy "
                             f"{self.high_entropy}")
        if self.min_temperature > self.max_temperature:
            raise ValueError(f"sampler min_temperature {self.min_temperature} is above max_temperature "
                             f"{self.max_temperature}")
        if not isinstance(self.weights, Mapping):
            raise ValueError(f"sampler weights must be a mapping of symbol -> weight, got {self.weights!r}")
        for symbol, weight in self.weights.items():
            if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not math.isfinite(weight) \
                    or weight < 0:
                raise ValueError(f"weight of symbol {symbol!r} must be a finite number >= 0, got {weight!r}")


def entropy(probs: np.ndarray) -> float:
    """Shannon entropy in nats, ``-sum p ln p`` (terms with p = 0 count 0)."""
    p = np.asarray(probs, dtype=np.float64)
    nonzero = p[p > 0]
    return float(-(nonzero * np.log(nonzero)).sum())


class EntropySampler:
    """Draws the next symbol index from a model distribution by the rule in the module docstring."""

    def __init__(self, vocab: Vocab, config: SamplerConfig, rng: np.random.Generator):
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        if not isinstance(config, SamplerConfig):
            raise TypeError(f"config must be a SamplerConfig, got {type(config).__name__}")
        self.vocab = vocab
        self.config = config
        self.rng = rng
        self.weights = np.ones(len(vocab), dtype=np.float64)
        self._hold = vocab.index(HOLD) if HOLD in vocab else None
        end = [vocab.index(DELIMITER)] if DELIMITER in vocab and config.answer_full_length else []
        first = [vocab.index(s) for s in (HOLD, REST) if s in vocab] if config.answer_note_first else []
        self._answer_bans = (np.array(sorted(set(end + first)), dtype=np.intp), np.array(end, dtype=np.intp))
        for symbol, weight in self.config.weights.items():
            if symbol not in vocab:
                raise ValueError(f"weight given for symbol {symbol!r}, which is not in the model's "
                                 "vocabulary")
            self.weights[vocab.index(symbol)] = float(weight)

    def _check(self, probs: np.ndarray) -> np.ndarray:
        p = np.asarray(probs, dtype=np.float64)
        if p.shape != (len(self.vocab),):
            raise ValueError(f"probabilities have shape {p.shape}, expected ({len(self.vocab)},)")
        if not np.all(np.isfinite(p)) or np.any(p < 0) or not p.sum() > 0:
            raise ValueError("probabilities must be finite, non-negative and not all zero")
        return p

    def temperature_for(self, probs: np.ndarray) -> float:
        """The temperature this distribution is sampled with."""
        cfg = self.config
        if not cfg.adaptive:
            return float(cfg.temperature)
        h = entropy(self._check(probs))
        if h < cfg.low_entropy:
            t = cfg.temperature * cfg.raise_factor
        elif h > cfg.high_entropy:
            t = cfg.temperature * cfg.lower_factor
        else:
            t = cfg.temperature
        return float(min(max(t, cfg.min_temperature), cfg.max_temperature))

    def adjust(self, probs: np.ndarray) -> np.ndarray:
        """Temperature-scaled, weighted distribution (float64, sums to 1, never NaN)."""
        p = self._check(probs)
        allowed = p > 0
        scaled = np.log(np.maximum(p, self.config.log_floor)) / self.temperature_for(p)
        scaled -= scaled[allowed].max()
        q = np.where(allowed, np.exp(scaled), 0.0)
        weighted = q * self.weights
        total = weighted.sum()
        out = weighted / total if total > 0 else q / q.sum()  # all allowed symbols weighted 0: ignore weights
        return self._nucleus(out)

    def _nucleus(self, p: np.ndarray) -> np.ndarray:
        """Step 5 of the module docstring: the onset nucleus, then the nucleus over everything."""
        onset = p.copy()
        if self._hold is not None:
            onset[self._hold] = 0.0
        total = onset.sum()
        if self.config.onset_top_p < 1.0 and total > 0.0:
            kept = _top(onset, self.config.onset_top_p)
            p = np.where(kept, onset * (total / onset[kept].sum()), 0.0)
            if self._hold is not None:
                p[self._hold] = 1.0 - total
        if self.config.top_p < 1.0:
            p = np.where(_top(p, self.config.top_p), p, 0.0)
            p /= p.sum()
        return p

    def answer_ban(self, step: int) -> np.ndarray:
        """The symbols an answer to a call may not take at its ``step`` (``sample(probs, ban)``): with
        ``answer_note_first`` it starts with a note (no ``_`` or ``r`` on step 0: it begins on the bar line), and
        with ``answer_full_length`` it does not end (``/``) before its length. Chosen with ``antiphon evaluate
        --calls`` on the test songs: without them 15% of answers to 4-bar calls stopped before three quarters of
        their length, and answers to 2-bar calls began with a rest the true continuations never have."""
        return self._answer_bans[0 if step == 0 else 1]

    def sample(self, probs: np.ndarray, ban: np.ndarray | None = None) -> int:
        """One symbol index drawn from ``adjust(probs)``; ``ban`` (indices) are never drawn, unless the model
        allows nothing else."""
        if ban is not None and ban.size:
            kept = np.asarray(probs, dtype=np.float64).copy()
            kept[ban] = 0.0
            if kept.sum() > 0.0:
                probs = kept
        q = self.adjust(probs)
        cdf = np.cumsum(q)
        index = int(np.searchsorted(cdf, self.rng.random() * cdf[-1], side="right"))
        # Rounding can land past the end; fall back to the last symbol that can be drawn.
        return index if index < q.size and q[index] > 0 else int(np.flatnonzero(q)[-1])


def _top(p: np.ndarray, share: float) -> np.ndarray:
    """Mask of the most probable entries of ``p`` that together hold ``share`` of its sum (at least one)."""
    order = np.argsort(-p, kind="stable")
    cumulative = np.cumsum(p[order])
    mask = np.zeros(p.shape, dtype=bool)
    mask[order[:int(np.searchsorted(cumulative, share * cumulative[-1])) + 1]] = True
    return mask


def parse_seed(text: str) -> list[str]:
    """Split a seed string such as ``"67 _ 67 _ 65"`` into symbols; an invalid symbol is named."""
    symbols = text.split()
    for position, symbol in enumerate(symbols):
        if symbol not in (REST, HOLD, DELIMITER) and not is_pitch_symbol(symbol):
            raise ValueError(f"seed symbol {symbol!r} at position {position} is not a MIDI pitch 0..127, "
                             f"{REST!r}, {HOLD!r} or {DELIMITER!r}")
    return symbols


def generate(predictor, sampler: EntropySampler, seed_symbols: Sequence[str], num_steps: int,
             meter: Sequence[Sequence[int]] | None = None) -> list[str]:
    """Continue a seed: reset, prime with the padded seed, then sample up to ``num_steps`` symbols.

    Stops early at ``/`` (not included). Returns the generated symbols only. An unknown seed symbol raises
    ``ValueError`` naming it. ``meter`` (``engine.meter`` segments, step 0 = the seed's first step) gives a
    model with bar-position inputs the position of every step; without it positions are unknown.
    """
    if num_steps < 0:
        raise ValueError(f"num_steps must be >= 0, got {num_steps}")
    vocab = predictor.vocab
    if vocab != sampler.vocab:
        raise ValueError("the predictor and the sampler use different vocabularies")
    try:
        seed_indices = vocab.encode(list(seed_symbols))
    except ValueError as err:
        raise ValueError(f"seed: {err}") from None
    padding = predictor.model.song_start()
    # Position of the step each input predicts: none in the padding, then step k + 1 for seed/output symbol k.
    positions = bar_positions(meter, len(seed_indices) + num_steps + 1).tolist()
    predictor.reset()
    probs = predictor.prime(padding + seed_indices,
                            [None] * len(padding) + positions[1:len(seed_indices) + 1])
    predictor.mark_own_output()
    out: list[str] = []
    delimiter = vocab.index(DELIMITER)
    for _ in range(num_steps):
        index = sampler.sample(probs)
        if index == delimiter:
            break
        out.append(vocab.symbol(index))
        if len(out) < num_steps:
            probs = predictor.feed(index, positions[len(seed_indices) + len(out)])
    return out
