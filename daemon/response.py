"""Answering: a call -> model key -> primed predictor -> one response symbol per step, computed one step ahead."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from antiphon.daemon.phrase import Call
from antiphon.engine.events import DELIMITER, HOLD, MIDI_PITCH_MAX, MIDI_PITCH_MIN, OCTAVE, REST, is_pitch_symbol
from antiphon.engine.keyfind import fold_into_vocab, key_name, notes_to_model_key
from antiphon.engine.melody import encode_notes
from antiphon.engine.meter import COMMON_TIME, bar_positions
from antiphon.engine.model import LstmModel, Predictor
from antiphon.engine.sampler import EntropySampler
from antiphon.engine.styles import call_scorer, score_call


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
    here. The response runs ``length_steps`` symbols, starting with a note (the sampler's ``answer_ban``); it
    ends early only when the model gives nothing but ``/``. ``meter`` gives a model with bar-position inputs the
    position of every step, counted from the call's first note (default: 4/4 with the call starting on a
    downbeat; the response continues the call's bar grid). ``style`` names the model answering.
    """

    def __init__(self, predictor: Predictor, sampler: EntropySampler, plan: ResponsePlan, length_steps: int,
                 meter: list | None = None, style: str = ""):
        self.predictor = predictor
        self.sampler = sampler
        self.style = style  # the name of the style (model) answering
        self.plan = plan
        self.length_steps = length_steps
        vocab = predictor.vocab
        self._delimiter = vocab.index(DELIMITER)
        started = time.perf_counter()
        call_steps = len(plan.symbols)
        self._positions = step_positions(meter, call_steps + length_steps + 2)
        probs = (predictor.prime(vocab.encode(plan.symbols), self._positions[1:call_steps + 1]) if plan.symbols
                 else predictor.last_probabilities)
        predictor.mark_own_output()  # the call was the player's; what follows is the model's own
        self._next: int | None = sampler.sample(probs, sampler.answer_ban(0))
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
            self._next = self.sampler.sample(self.predictor.feed(index, position),
                                             self.sampler.answer_ban(len(self.symbols)))
        self.step_ms_max = max(self.step_ms_max, (time.perf_counter() - started) * 1e3)


@dataclass
class Voice:
    """One style the responder can answer in: its model, its sampler and a predictor holding the start padding."""

    name: str
    model: LstmModel
    sampler: EntropySampler
    padded: Predictor
    scorer: Predictor | None = None  # holds the start padding too; scores calls (``engine.styles.call_scorer``)


class Responder:
    """Makes responses from one model, or from several styles (``add_style``: each call is answered by the
    style whose model finds the call likeliest, ``engine.styles``); keeps each predictor primed with the start
    padding to clone per call."""

    def __init__(self, model: LstmModel, sampler: EntropySampler, mode: str, name: str = "model"):
        self.mode = mode
        self.voices: list[Voice] = []
        self.add_style(name, model, sampler)
        self.costs: dict[str, float] = {}  # bits per note of the latest call, by style (several styles only)

    def add_style(self, name: str, model: LstmModel, sampler: EntropySampler) -> None:
        """Another style to choose from for every call."""
        padded = model.predictor(self.mode)
        padded.prime(model.song_start())
        self.voices.append(Voice(name, model, sampler, padded))
        if len(self.voices) > 1:
            for voice in self.voices:
                voice.scorer = voice.scorer or call_scorer(voice.model, self.mode)

    @property
    def model(self) -> LstmModel:
        return self.voices[0].model

    @property
    def sampler(self) -> EntropySampler:
        return self.voices[0].sampler

    def set_temperature(self, temperature: float) -> None:
        for voice in self.voices:
            voice.sampler.config = replace(voice.sampler.config, temperature=temperature)

    def respond(self, call: Call, length_steps: int, start_step: int | None = None) -> Response:
        """A response to ``call`` of at most ``length_steps`` steps (raises ``ValueError`` for an unusable call).

        ``start_step``: where the response starts, in steps from the call's first note (after the silence that
        ended the phrase). The model does not see that silence, but the response keeps its true place in the
        bar: its bar positions restart there. The call's meter is ``call.meter`` (default: 4/4 from its first
        note). With several styles the call is scored by each style's LSTM (about 0.05 ms per step and style),
        and the likeliest style's full predictor is primed with it.
        """
        if len(self.voices) == 1:
            voice = self.voices[0]
            plan = plan_call(call, voice.model)
            return Response(voice.padded.clone(), voice.sampler, plan, length_steps,
                            response_meter(call, voice.model, len(plan.symbols), start_step), style=voice.name)
        started = time.perf_counter()
        best: tuple[float, Voice, ResponsePlan, list] | None = None
        costs: dict[str, float] = {}
        for voice in self.voices:
            plan = plan_call(call, voice.model)
            meter = response_meter(call, voice.model, len(plan.symbols), start_step)
            positions = step_positions(meter, len(plan.symbols) + 1)[1:]
            assert voice.scorer is not None
            bits = score_call(voice.scorer.clone(), voice.model.vocab.encode(plan.symbols), positions)
            costs[voice.name] = bits / max(1, count_notes(plan.symbols))
            if best is None or bits < best[0]:
                best = (bits, voice, plan, meter)
        assert best is not None
        _, voice, plan, meter = best
        self.costs = costs
        response = Response(voice.padded.clone(), voice.sampler, plan, length_steps, meter, style=voice.name)
        response.prime_ms = (time.perf_counter() - started) * 1e3  # scoring the call in every style, then priming
        return response


def step_positions(meter: list | None, count: int) -> list[int]:
    """The bar position of each of ``count`` steps (4/4 from step 0 when the meter is unknown)."""
    return bar_positions(COMMON_TIME if meter is None else meter, count).tolist()


def response_meter(call: Call, model: LstmModel, call_steps: int, start_step: int | None) -> list:
    """The meter segments of the call and its response: the call's own (default 4/4 from its first note), with
    the response's bar positions restarting at ``start_step`` (its true place after the silence)."""
    segments = [list(s) for s in call.meter] if call.meter else [[0, 4 * model.steps_per_quarter, 0]]
    if start_step is None:
        return segments
    _, bar, position = segments[-1]
    return [*segments, [call_steps, bar, (position + start_step - segments[-1][0]) % bar]]


def count_notes(symbols: list[str]) -> int:
    """Note onsets among symbols."""
    return sum(1 for s in symbols if s not in (REST, HOLD, DELIMITER))
