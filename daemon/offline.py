"""``antiphon respond``: the live session logic on simulated time, from a call MIDI file to a response file."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import mido
import numpy as np

from antiphon.daemon.clock import SimulatedTime, StepClock
from antiphon.daemon.config import MAX_BPM, MIN_BPM, ServeConfig
from antiphon.daemon.loop import Event, ScriptedSource, run_loop
from antiphon.daemon.phrase import MAX_CALL_STEPS
from antiphon.daemon.recorder import write_session_midi
from antiphon.daemon.response import Responder
from antiphon.daemon.session import CALL_TRACK, RESPONSE_TRACK, Session
from antiphon.engine.midifile import open_midi, tempo_to_bpm
from antiphon.engine.model import LstmModel
from antiphon.engine.sampler import EntropySampler, SamplerConfig
from antiphon.engine.styles import model_folders

log = logging.getLogger(__name__)

LEAD_IN_S = 0.5  # simulated time before the call's first event


@dataclass
class OfflineResult:
    """What an offline run heard and played (times in simulated seconds)."""

    call: list[Event]
    response: list[Event]
    exchanges: list[dict]
    bpm: float
    tempo_map: list = field(default_factory=list)  # (downbeat s, bpm, signature) of each grid heard


def read_call(path: str | os.PathLike[str]) -> tuple[list[Event], float | None]:
    """Note and controller events of a MIDI file in seconds (all tracks merged) and its first tempo in bpm."""
    midi = open_midi(path)
    bpm = None
    events: list[Event] = []
    t = 0.0
    for msg in midi:  # delta times in seconds, tempo changes applied
        t += msg.time
        if msg.type == "set_tempo" and bpm is None:
            bpm = tempo_to_bpm(msg.tempo)
        elif msg.type in ("note_on", "note_off", "control_change"):
            events.append((t, msg.copy(time=0)))
    if not any(m.type == "note_on" and m.velocity > 0 for _, m in events):
        raise ValueError(f"{path} holds no notes")
    return events, bpm


def make_sampler(model: LstmModel, config: ServeConfig) -> EntropySampler:
    """The engine's sampler at the configured temperature and top-p, seeded by ``random_seed``."""
    return EntropySampler(model.vocab, SamplerConfig(temperature=config.temperature, top_p=config.top_p,
                                                       onset_top_p=config.onset_top_p),
                          np.random.default_rng(config.random_seed))


def load_responder(config: ServeConfig) -> Responder:
    """The responder for ``config``: its ``--model``, its ``--style``, every style (``auto``) or the default."""
    responder = None
    for name, folder in model_folders(config.model, config.style).items():
        model = LstmModel.load(folder)
        if responder is None:
            responder = Responder(model, make_sampler(model, config), config.mode, name)
        else:
            responder.add_style(name, model, make_sampler(model, config))
    assert responder is not None
    return responder


def respond_events(events: list[Event], model: LstmModel | Responder, config: ServeConfig) -> OfflineResult:
    """Play ``events`` into a session on simulated time until every call is answered; return what came out.
    ``model``: one model, or a responder (``load_responder``: a style, or several)."""
    responder = model if isinstance(model, Responder) else Responder(model, make_sampler(model, config), config.mode)
    model = responder.model
    sim = SimulatedTime(0.0)
    clock = StepClock(config.bpm, model.steps_per_quarter, now=sim.now, sleep=sim.sleep, t0=0.0)
    out: list[Event] = []
    heard: list[Event] = []

    def send(msg: mido.Message) -> None:
        out.append((sim.now(), msg))

    def record(track: int, t: float, msg: mido.Message) -> None:
        if track == CALL_TRACK:
            heard.append((t, msg))

    tempo_map: list = []
    session = Session(config, responder, clock, send, record,
                      on_tempo=lambda t, bpm, signature: tempo_map.append((t, bpm, signature)))
    start = events[0][0] if events else 0.0
    source = ScriptedSource([(t - start + LEAD_IN_S, msg) for t, msg in events], sim)
    last = max((t for t, _ in source.events), default=0.0)
    limit = last + 3 * MAX_CALL_STEPS * clock.period_s  # a safety stop: the call, its silence, its response

    def stop() -> bool:
        return (source.exhausted and session.idle) or sim.now() > limit

    run_loop(session, clock, source, stop)
    session.stop()
    return OfflineResult(call=[(t, m) for t, m in heard], response=out, exchanges=session.exchanges, bpm=clock.bpm,
                         tempo_map=tempo_map)


def respond_file(call_path: str | os.PathLike[str], out_path: str | os.PathLike[str], model: LstmModel | Responder,
                 config: ServeConfig, with_call: bool = False, bpm_from_file: bool = True) -> OfflineResult:
    """Answer the call in ``call_path``; write the response (or call and response on two tracks) to ``out_path``.

    With ``tempo="fixed"`` the grid tempo is the file's own tempo when ``bpm_from_file`` and the file has one,
    else ``config.bpm``; with ``tempo="follow"`` the call's tempo, beat and bar are heard from its timing in
    seconds, the file's tempo (when ``bpm_from_file``) only the guess they are heard around (it may be
    wrong), and the file written carries the heard tempo map. Without
    ``with_call`` the response file starts at the response's first step.
    """
    events, file_bpm = read_call(call_path)
    if bpm_from_file and file_bpm is not None and MIN_BPM <= file_bpm <= MAX_BPM:
        config = replace(config, bpm=round(file_bpm, 3), bpm_guess=True)
    result = respond_events(events, model, config)
    notes = [(t, m) for t, m in result.response if m.type in ("note_on", "note_off")]
    if with_call:
        origin = min([t for t, _ in result.call] + [t for t, _ in notes], default=0.0)
        tracked = [(t - origin, CALL_TRACK, m.bytes()) for t, m in result.call]
    else:
        origin = result.exchanges[0]["start_s"] if result.exchanges else 0.0
        tracked = []
    tracked += [(max(0.0, t - origin), RESPONSE_TRACK, m.bytes()) for t, m in notes]
    tempo_map = [(t - origin, bpm, signature) for t, bpm, signature in result.tempo_map]
    write_session_midi(Path(out_path), tracked, result.bpm, tempo_map)
    return result
