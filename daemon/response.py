"""Answering: a call -> model key -> primed predictor -> one response symbol per step, computed one step ahead."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

from antiphon.daemon.phrase import Call
from antiphon.engine.events import DELIMITER, HOLD, MIDI_PITCH_MAX, MIDI_PITCH_MIN, OCTAVE, REST, is_pitch_symbol
from antiphon.engine.keyfind import fold_into_vocab, key_name, notes_to_model_key
from antiphon.engine.melody import encode_notes
from antiphon.engine.meter import COMMON_TIME, bar_positions
from antiphon.engine.model import LstmModel, Predictor
from antiphon.engine.sampler import EntropySampler

log = logging.getLogger(__name__)



def fold_pitch(pitch: int, low: int = MIDI_PITCH_MIN, high: int = MIDI_PITCH_MAX) -> int:
    """A MIDI pitch moved by octaves into ``low..high`` (0..127 by default; the span must be an octave or more)."""
    while pitch < low:
        pitch += OCTAVE
    while pitch > high:
        pitch -= OCTAVE
    return pitch


@dataclass
class ResponsePlan:
    """What the model was given: the call in the model's key and how to bring the answer back."""

    symbols: list[str]  # the call in the model's key
    semitones: int  # applied to the call; the response is shifted by -semitones
    key: str  # the call's estimated key, e.g. "E- major"


def plan_call(call: Call, model: LstmModel) -> ResponsePlan:
    """Estimate the call's key and encode it in the model's key (folded into the vocabulary).

    Raises ``ValueError`` when the call has no notes or a pitch no octave brings into the vocabulary.
    """
    # The key shift is under an octave: fold the extremes (a 127 in D major) first so it cannot leave 0..127.
    notes = [n if n.pitch is None else replace(n, pitch=fold_pitch(n.pitch, MIDI_PITCH_MIN + OCTAVE,
                                                                   MIDI_PITCH_MAX - OCTAVE))
             for n in call.notes]
    try:
        symbols, semitones, key = notes_to_model_key(notes, model.vocab)
        return ResponsePlan(symbols, semitones, key_name(*key))
    except ValueError as err:
        if "estimate" not in str(err) or not call.notes:
            raise
    # No key can be told (every pitch class equally long): answer untransposed.
    return ResponsePlan(fold_into_vocab(encode_notes(notes), model.vocab), 0, "unknown")


class Response:
    """The response to one call: ``symbol(j)`` is ready before step ``j`` is due; ``compute_ahead`` readies j+1.

    ``predictor`` must already hold the start padding (see :class:`Responder`); it is primed with the call
    here. The response ends after ``length_steps`` symbols or when the model samples ``/``. ``meter`` gives a
    model with bar-position inputs the position of every step, counted from the call's first note (default:
    4/4 with the call starting on a downbeat; the response continues the call's bar grid).
    """

    def __init__(self, predictor: Predictor, sampler: EntropySampler, plan: ResponsePlan, length_steps: int,
                 meter: list | None = None):
        self.predictor = predictor
        self.sampler = sampler
        self.plan = plan
        self.length_steps = length_steps
        vocab = predictor.vocab
        self._delimiter = vocab.index(DELIMITER)
        started = time.perf_counter()
        call_steps = len(plan.symbols)
        self._positions = bar_positions(COMMON_TIME if meter is None else meter,
                                        call_steps + length_steps + 2).tolist()
        probs = (predictor.prime(vocab.encode(plan.symbols), self._positions[1:call_steps + 1]) if plan.symbols
                 else predictor.last_probabilities)
        predictor.mark_own_output()  # the call was the player's; what follows is the model's own
        self._next: int | None = sampler.sample(probs)
        self.prime_ms = (time.perf_counter() - started) * 1e3
        self.step_ms_max = 0.0
        self.symbols: list[str] = []  # played so far, in the model's key
        self._pending: int | None = None  # index played but not yet fed to the predictor

    @property
    def finished(self) -> bool:
        return self._next is None and self._pending is None

    def take(self) -> str | None:
        """The next symbol to play, transposed back into the call's key; ``None`` when the response is over."""
        if self._pending is not None:  # compute_ahead was skipped: catch up now (late, but correct)
            self.compute_ahead()
        index = self._next
        if index is None or index == self._delimiter or len(self.symbols) >= self.length_steps:
            self._next = None
            return None
        symbol = self.predictor.vocab.symbol(index)
        self.symbols.append(symbol)
        self._pending = index
        self._next = None
        if is_pitch_symbol(symbol):
            return str(fold_pitch(int(symbol) - self.plan.semitones))
        return symbol

    def compute_ahead(self) -> None:
        """Feed the symbol just played and sample the next one (call right after playing)."""
        if self._pending is None:
            return
        started = time.perf_counter()
        index, self._pending = self._pending, None
        if len(self.symbols) < self.length_steps:
            position = self._positions[len(self.plan.symbols) + len(self.symbols)]
            self._next = self.sampler.sample(self.predictor.feed(index, position))
        self.step_ms_max = max(self.step_ms_max, (time.perf_counter() - started) * 1e3)


class Responder:
    """Makes responses from one model: keeps a predictor primed with the start padding to clone per call."""

    def __init__(self, model: LstmModel, sampler: EntropySampler, mode: str):
        self.model = model
        self.sampler = sampler
        self._padded = model.predictor(mode)
        self._padded.prime(model.song_start())

    def respond(self, call: Call, length_steps: int, start_step: int | None = None) -> Response:
        """A response to ``call`` of at most ``length_steps`` steps (raises ``ValueError`` for an unusable call).

        ``start_step``: where the response starts, in steps from the call's first note (after the silence that
        ended the phrase). The model does not see that silence, but the response keeps its true place in the
        bar: its bar positions restart there. The call's meter is ``call.meter`` (default: 4/4 from its first
        note).
        """
        plan = plan_call(call, self.model)
        segments = [list(s) for s in call.meter] if call.meter else [[0, 4 * self.model.steps_per_quarter, 0]]
        meter = segments
        if start_step is not None:
            _, bar, position = segments[-1]
            meter = [*segments, [len(plan.symbols), bar, (position + start_step - segments[-1][0]) % bar]]
        return Response(self._padded.clone(), self.sampler, plan, length_steps, meter)


def count_notes(symbols: list[str]) -> int:
    """Note onsets among symbols."""
    return sum(1 for s in symbols if s not in (REST, HOLD, DELIMITER))
