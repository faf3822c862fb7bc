"""A response's song memory: the event model learns the player's call, never the model's own answer."""

from __future__ import annotations

import json

import numpy as np
from daemon_helpers import PITCHES, make_daemon_artifact

from antiphon.daemon.phrase import Call
from antiphon.daemon.response import Responder
from antiphon.engine.events import Note
from antiphon.engine.mixture import EVENTS_FILE, MixConfig
from antiphon.engine.model import LstmModel
from antiphon.engine.sampler import EntropySampler, SamplerConfig

LENGTHS = (1, 2, 4, 8)


def _with_event_model(folder):
    alphabet = [f"{p}:{d}" for p in [*map(str, PITCHES), "r"] for d in LENGTHS]
    index = {t: i for i, t in enumerate(alphabet)}
    scale = [str(p) for p in PITCHES[:8]]
    songs = [[index[f"{p}:{d}"] for p, d in zip(scale[k:] + scale[:k], (2, 2, 4, 2, 2, 4, 8, 8), strict=True)]
             for k in range(4)]
    (folder / EVENTS_FILE).write_text(json.dumps({"alphabet": alphabet, "songs": songs}))
    config = json.loads((folder / "config.json").read_text())
    config["event_model"] = MixConfig(0.4, 0.3, max_order=3).as_config()
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_the_call_is_learned_and_the_answer_is_not(tmp_path):
    model = LstmModel.load(_with_event_model(make_daemon_artifact(tmp_path / "model")))
    assert model.event_mixture is not None
    sampler = EntropySampler(model.vocab, SamplerConfig(), np.random.default_rng(4))
    responder = Responder(model, sampler, "stateful")
    call = Call(notes=tuple(Note(p, 4 * i, 4) for i, p in enumerate((60, 62, 64, 65, 67, 65, 64, 62))),
                length_steps=32, mean_velocity=80, anchor_step=0, played_notes=8)
    response = responder.respond(call, 64)
    events = response.predictor.events
    learned = {context: dict(table) for context, table in events.short.tables.items()}
    assert learned and not events.learning  # the call's notes are in the short-term model
    played = []
    while (symbol := response.take()) is not None:
        played.append(symbol)
        response.compute_ahead()
    assert len(played) > 8
    assert {c: dict(t) for c, t in events.short.tables.items()} == learned  # its own answer taught it nothing
    fresh = responder.respond(call, 64).predictor.events  # the next call starts from the padding again
    assert fresh.learning is False and len(fresh.short.tables) == len(learned)
