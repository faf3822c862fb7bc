"""The call-and-response state machine, one grid step at a time; shared by the live daemon and ``respond``.

LISTENING: note events build the call. With ``tempo="follow"`` (the default) ``daemon.hearing`` keeps them in
seconds, hears the phrase's tempo, beat, meter and downbeat once no key is down, sets the session grid
(``daemon.tempo``) from it, and the answer starts on a bar line of that grid. With ``tempo="fixed"``
``daemon.phrase`` quantises them on the ``bpm`` grid re-anchored at each call's first note, and the answer
starts after ``phrase_end_steps`` silent steps (the first release's behaviour). One step before the answer
starts, it is computed ahead (the predictor primed with the padded call, the first symbol sampled), so its
first symbol plays on time. RESPONDING: each step plays one symbol (note-on at a pitch, note-off at the next
onset or rest) and then samples the next. A note-on while responding is a barge-in: the response stops at once
(note-offs) and that note starts the next call. The metronome clicks on the session grid.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import mido

from antiphon.daemon.clock import StepClock
from antiphon.daemon.config import ServeConfig, echo_channel, steps_per_bar
from antiphon.daemon.hearing import PhraseHearing
from antiphon.daemon.metronome import Metronome
from antiphon.daemon.midiclock import FOLLOWED_TYPES, ClockFollower
from antiphon.daemon.phrase import Call, CallListener
from antiphon.daemon.player import ALL_NOTES_OFF, ALL_SOUND_OFF, NotePlayer
from antiphon.daemon.response import Responder, Response, count_notes
from antiphon.daemon.tempo import SessionTempo
from antiphon.engine.events import HOLD, REST
from antiphon.engine.midifile import DRUM_CHANNEL

log = logging.getLogger(__name__)

CALL_TRACK = 0
RESPONSE_TRACK = 1
CC_ON = 64  # a controller value at or above this presses a switch-like control
TEMPERATURE_RANGE = (0.1, 2.0)  # temperature controller 0..127 maps linearly onto this
TEMPO_CC_RANGE_BPM = (40.0, 240.0)  # tempo controller 0..127 maps linearly onto this
CC_MAX = 127
COMMIT_STEPS = 2.5  # follow mode: the grid is taken and the answer computed this many steps before it starts

Recorder = Callable[[int, float, mido.Message], None]  # (track, time_s, message)


def _scale(value: int, low: float, high: float) -> float:
    return low + (high - low) * value / CC_MAX


class Session:
    """Calls in, responses out. ``handle`` takes input as it arrives; ``tick(step)`` runs at each step's deadline,
    then ``compute_ahead(step)`` readies the next step (after the due messages are sent)."""

    def __init__(self, config: ServeConfig, responder: Responder, clock: StepClock,
                 send: Callable[[mido.Message], None], record: Recorder | None = None, anchor_on_call: bool = True,
                 on_tempo: Callable[[float, float, str], None] | None = None):
        self.config = config
        self.responder = responder
        self.clock = clock
        self.record = record
        self.anchor_on_call = anchor_on_call
        # --clock external: the master's clock sets tempo and bar 1, and its transport gates the responses.
        self.follower = ClockFollower(clock) if config.clock == "external" else None
        self.follow = config.tempo == "follow" and self.follower is None
        self.tempo = SessionTempo(clock, config.meter, known=not self.follow, on_change=on_tempo)
        self.listener = CallListener(config.phrase_end_steps)
        self.hearing = (PhraseHearing(self.tempo, config.phrase_end_beats, config.bpm,
                                      prior_bpm=config.bpm if config.bpm_guess else None)
                        if self.follow else None)
        self._answer: tuple[int, int] | None = None  # follow mode: (hearing version, grid step of the answer)
        self._answer_log: tuple[int, int] | None = None  # the last plan logged (debug)
        self.metronome = Metronome(send, self.tempo, config.click_notes, config.click_velocities,
                                   config.metronome)
        self.in_channel = None if config.input_channel is None else config.input_channel - 1
        self.out_channel = config.output_channel - 1
        self.echo_channel = echo_channel(config)
        self._send = send
        self.player = NotePlayer(self._emit_response)
        self.echo = NotePlayer(send)  # passthrough of the player's notes, not recorded as response
        self.response: Response | None = None
        self._prepared: tuple[int, Call, Response] | None = None  # (listener version, call, response)
        self._velocity = 0
        self._exchange: dict = {}
        self.exchanges: list[dict] = []  # one summary per answered call (for logs, tests and benchmarks)

    def begin(self, t: float) -> None:
        """The session starts at ``t`` (s): with a count-in or the metronome on, a downbeat at ``t``, at ``bpm``."""
        if self.follower is None and (self.config.count_in or self.config.metronome):
            self.tempo.start(t, self.config.bpm)
            if self.config.count_in:
                self.metronome.count_in(self.config.count_in, self.clock.step_after(t - 1e-9))

    @property
    def _grid_set(self) -> bool:
        """The metronome or a count-in holds the grid: calls are heard against it, not re-anchored."""
        return self.config.metronome or self.config.count_in > 0 or self.metronome.enabled

    # -- input ----------------------------------------------------------------------------------------------

    def handle(self, t: float, msg: mido.Message) -> None:
        """One input message received at time ``t`` (seconds on the clock's ``now`` scale)."""
        if self.follower is not None and msg.type in FOLLOWED_TYPES:
            if self.follower.handle(t, msg) == "stop" and self.response is not None:
                self._end_response(barged=True)  # transport stopped: silence at once
            return
        if not hasattr(msg, "channel") or (self.in_channel is not None and msg.channel != self.in_channel):
            return
        if msg.type in ("note_on", "note_off") and msg.channel == DRUM_CHANNEL:
            return  # percussion (the click, a drum pad) is not melody
        if log.isEnabledFor(logging.DEBUG) and msg.type in ("note_on", "note_off"):
            log.debug("%s %d at %+.1f ms", msg.type, msg.note, (t - self.clock.now()) * 1e3)
        if msg.type == "note_on" and msg.velocity > 0:
            self._note_on(t, msg)
        elif msg.type in ("note_off", "note_on"):
            self._record(CALL_TRACK, t, msg)
            if self.hearing is not None:
                self.hearing.note_off(t, msg.note)
            else:
                self.listener.note_off(msg.note, self.clock.position(t))
            if self.config.passthrough:
                self.echo.note_off(self.echo_channel, msg.note)
        elif msg.type == "control_change":
            self._control(t, msg)

    def _note_on(self, t: float, msg: mido.Message) -> None:
        self._record(CALL_TRACK, t, msg)
        if self.response is not None:
            log.info("barge-in: response stopped after %d of %d steps", len(self.response.symbols),
                     self.response.length_steps)
            self._end_response(barged=True)
        if self.config.passthrough:
            self.echo.note_on(self.echo_channel, msg.note, msg.velocity)
        if self.hearing is not None:
            self.hearing.note_on(t, msg.note, msg.velocity)
            return
        if not self.listener.active and self.anchor_on_call and self.follower is None and not self._grid_set:
            self.clock.anchor(t)
        self.listener.note_on(msg.note, msg.velocity, self.clock.position(t))

    def _control(self, t: float, msg: mido.Message) -> None:
        cfg = self.config
        if msg.control in (ALL_NOTES_OFF, ALL_SOUND_OFF):  # the keyboard let go of everything
            self._record(CALL_TRACK, t, msg)
            if self.hearing is not None:
                self.hearing.release_all(t)
            self.listener.release_all(self.clock.position(t))
            if cfg.passthrough:
                self.echo.release()
        elif msg.control == cfg.phrase_end_cc and msg.value >= CC_ON and self.hearing is not None:
            self.hearing.end_now()  # the answer starts on the next bar line
        elif msg.control == cfg.phrase_end_cc and msg.value >= CC_ON and self.listener.active:
            self.listener.end_now()
            self._prepare(self.clock.step_after(t))
        elif msg.control == cfg.metronome_cc:
            if msg.value >= CC_ON and not self.tempo.known:
                self.tempo.start(self.clock.deadline(self.clock.step_after(t)))
            self.metronome.set_enabled(msg.value >= CC_ON)
        elif msg.control == cfg.temperature_cc:
            self.responder.set_temperature(_scale(msg.value, *TEMPERATURE_RANGE))
            log.info("temperature %.2f", self.responder.sampler.config.temperature)
        elif msg.control == cfg.tempo_cc:
            self.tempo.set_bpm(_scale(msg.value, *TEMPO_CC_RANGE_BPM), at=t)
        elif msg.control == cfg.panic_cc and msg.value >= CC_ON:
            log.info("panic controller: silence")
            self.response = None
            self._prepared = None
            self.listener.reset()
            if self.hearing is not None:
                self.hearing.reset()
            self.stop()

    # -- steps ----------------------------------------------------------------------------------------------

    def tick(self, step: int) -> None:
        """Grid ``step`` is due now: end the phrase or play the response's symbol for this step."""
        if self.follower is not None and not self.follower.running:
            return  # the master's transport is stopped: no response starts or plays
        if self.response is None and self._phrase_over(step):
            self._start_response(step)
        if self.response is not None:
            self._play(step)
        self.metronome.tick(step)

    def _phrase_over(self, step: int) -> bool:
        if self.hearing is None:
            return self.listener.is_ended(step)
        hearing = self.hearing
        if hearing.too_long(self.clock.now()):
            hearing.end_now()
        # At the answer's step, or after it when a grid change made the loop skip that step.
        return (self._answer is not None and self._answer[0] == hearing.version and step >= self._answer[1]
                and hearing.active and not (hearing.sounding and not hearing.forced))

    def compute_ahead(self, step: int) -> None:
        """After ``tick(step)``: sample the response's next symbol, or prepare a response due at the next step.

        In follow mode this is where a silent phrase is heard (which may move the grid: the loop then finds
        its next step again).
        """
        if self.response is not None:
            self.response.compute_ahead()
        elif self.hearing is not None:
            self._plan_answer()
        elif self.listener.is_ended(step + 1):
            self._prepare(step + 1)

    def _plan_answer(self) -> None:
        """Follow mode: once the answer's bar line is near, take the phrase's grid and compute the answer."""
        self._answer = None
        now = self.clock.now()
        start_s = self.hearing.answer_time(now)
        if start_s is None or start_s - now > COMMIT_STEPS * self.clock.period_s:
            return
        # The clock's step 0 is now a bar line of the phrase's grid.
        self.tempo.set_grid(self.hearing.grid(), self.hearing.trust())
        answer = round(self.clock.position(start_s))
        if self._answer_log != (self.hearing.version, answer):
            log.debug("answer planned at step %d, %.0f ms from now; phrase of %d notes, first %.2f s ago",
                      answer, (start_s - now) * 1e3, len(self.hearing.played), now - self.hearing.played[0].on_s)
        self._answer = self._answer_log = (self.hearing.version, answer)
        if answer == self.clock.step_after(now):
            self._prepare(answer)

    def _response_length(self, call: Call) -> int:
        if self.hearing is not None:  # whole bars of the session's meter, as many as the call's (from its downbeat)
            bar = self.tempo.bar_steps
            pickup = (bar - call.meter[0][2]) % bar if call.meter else 0  # steps before the call's first downbeat
            bars = self.config.response_bars or max(1, math.ceil((call.length_steps - pickup) / bar - 0.25))
            return bars * bar
        if self.config.response_bars is not None:
            return self.config.response_bars * steps_per_bar(self.clock.steps_per_quarter)
        return max(1, call.length_steps)

    def _prepare(self, step: int) -> None:
        version = self.hearing.version if self.hearing is not None else self.listener.version
        if self._prepared is not None and self._prepared[0] == version:
            return
        call = self.hearing.call() if self.hearing is not None else self.listener.snapshot(step)
        try:
            response = self.responder.respond(call, self._response_length(call), step - call.anchor_step)
            self._prepared = (version, call, response)
        except ValueError as err:  # bad musical input is logged and dropped, never raised in the loop
            log.warning("cannot answer this call: %s", err)
            self._prepared = None

    def _start_response(self, step: int) -> None:
        version = self.hearing.version if self.hearing is not None else self.listener.version
        if self._prepared is None or self._prepared[0] != version:
            self._prepare(step)  # not computed ahead (late by the priming time)
        prepared, self._prepared = self._prepared, None
        self.listener.reset()
        if self.hearing is not None:
            self.hearing.reset()
            self._answer = None
        if prepared is None:
            return
        _, call, response = prepared
        self.response = response
        self._velocity = max(1, call.mean_velocity)
        self._exchange = {"call_steps": call.length_steps, "call_notes": len(call.notes), "key": response.plan.key,
                          "semitones": response.plan.semitones, "phrase_end_step": step,
                          "start_s": self.clock.deadline(step), "bpm": round(self.clock.bpm, 3),
                          "meter": self.tempo.signature, "on_bar_line": self.tempo.is_downbeat(step),
                          "silence_steps": step - call.anchor_step - call.length_steps,
                          "prime_ms": round(response.prime_ms, 3), "style": response.style}
        costs = self.responder.costs if len(self.responder.voices) > 1 else {}
        log.info("call: %d steps, %d notes (%d played), key %s, shift %+d, velocity %d%s", call.length_steps,
                 len(call.notes), call.played_notes, response.plan.key, response.plan.semitones, self._velocity,
                 f", style {response.style} (bits per note: " + ", ".join(
                     f"{name} {cost:.2f}" for name, cost in sorted(costs.items(), key=lambda kv: kv[1])) + ")"
                 if costs else "")

    def _play(self, step: int) -> None:
        symbol = self.response.take()
        if symbol is None:
            self._end_response(barged=False)
            return
        if symbol == HOLD:
            return
        self.player.release()
        if symbol != REST:
            self.player.note_on(self.out_channel, int(symbol), self._velocity)

    def _end_response(self, barged: bool) -> None:
        self.player.release()
        response, self.response = self.response, None
        summary = {**self._exchange, "response_steps": len(response.symbols),
                   "response_notes": count_notes(response.symbols), "barged_in": barged,
                   "max_step_ms": round(response.step_ms_max, 3)}
        self.exchanges.append(summary)
        log.info("response: %d steps, %d notes, key %s, %d steps after the call, latency: prime %.1f ms, "
                 "max step %.2f ms%s", summary["response_steps"], summary["response_notes"], summary["key"],
                 summary["silence_steps"], response.prime_ms, response.step_ms_max,
                 ", barged in" if barged else "")

    # -- output ---------------------------------------------------------------------------------------------

    def _emit_response(self, msg: mido.Message) -> None:
        self._send(msg)
        self._record(RESPONSE_TRACK, self.clock.now(), msg)

    def _record(self, track: int, t: float, msg: mido.Message) -> None:
        if self.record is not None:
            self.record(track, t, msg)

    @property
    def idle(self) -> bool:
        """Nothing heard and nothing playing."""
        return self.response is None and not self.listener.active and not (self.hearing and self.hearing.active)

    def stop(self) -> None:
        """Silence: note-offs for every sounding note, sustain off, CC 123 and CC 120 on the channels used."""
        self.player.all_notes_off([self.out_channel])
        self.echo.all_notes_off()
        self.metronome.stop()
