"""Property tests: random live note streams through the call quantiser, the symbol encoder/decoder and the
call planner never raise and never give an invalid symbol sequence."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rel_helpers import make_daemon_artifact

from antiphon.daemon.phrase import MAX_CALL_STEPS, CallListener
from antiphon.daemon.response import plan_call
from antiphon.engine.events import HOLD, REST, is_pitch_symbol
from antiphon.engine.melody import decode_symbols, encode_notes
from antiphon.engine.model import LstmModel

# (gap in grid steps before the event, pitch, velocity or 0 for a release)
EVENT = st.tuples(st.floats(0.0, 3.0, allow_nan=False), st.integers(0, 127), st.integers(0, 127))
STREAM = st.lists(EVENT, min_size=1, max_size=120)


def valid_symbols(symbols: list[str]) -> bool:
    """Pitches, rests and holds only, and a hold never first."""
    return all(s in (HOLD, REST) or is_pitch_symbol(s) for s in symbols) and (not symbols or symbols[0] != HOLD)


def listen(stream, start: float, phrase_end_steps: int = 4) -> tuple[CallListener, float]:
    listener = CallListener(phrase_end_steps)
    position = start
    for gap, pitch, velocity in stream:
        position += gap
        if velocity:
            listener.note_on(pitch, velocity, position)
        else:
            listener.note_off(pitch, position)
    return listener, position


@settings(max_examples=300, deadline=None)
@given(STREAM, st.floats(-1000.0, 1000.0, allow_nan=False), st.integers(0, 40))
def test_the_quantiser_gives_one_voice_on_the_grid_and_valid_symbols(stream, start, extra_steps):
    listener, position = listen(stream, start)
    if not listener.active:  # only releases: nothing was heard
        assert not any(v for _, _, v in stream)
        return
    step = int(position) + 1 + extra_steps
    call = listener.snapshot(step)
    assert 0 < call.played_notes == sum(1 for _, _, v in stream if v)
    assert 1 <= call.mean_velocity <= 127
    previous_end = 0
    for note in call.notes:  # one voice: sorted, never overlapping, at least a step, inside the call limit
        assert note.pitch is not None and 0 <= note.pitch <= 127
        assert note.start_step >= previous_end and note.length_steps >= 1
        previous_end = note.start_step + note.length_steps
    assert previous_end == call.length_steps <= MAX_CALL_STEPS
    symbols = encode_notes(call.notes)
    assert valid_symbols(symbols) and len(symbols) == call.length_steps
    assert [(n.pitch, n.start_step, n.length_steps) for n in decode_symbols(symbols) if n.pitch is not None] == \
        [(n.pitch, n.start_step, n.length_steps) for n in call.notes]
    # The phrase ends once it has been silent long enough (or at the call limit), never before a key is up.
    if not listener.sounding:
        assert listener.is_ended(step + MAX_CALL_STEPS)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([HOLD, REST] + [str(p) for p in range(0, 128, 7)]), max_size=200))
def test_decode_then_encode_gives_a_valid_sequence(symbols):
    notes = decode_symbols(symbols)
    again = encode_notes(notes)
    assert valid_symbols(again)
    assert len(again) <= len(symbols)
    assert decode_symbols(again) == decode_symbols(again[:]) and all(n.length_steps >= 1 for n in notes)


_MODEL: list[LstmModel] = []


def _model(tmp_path_factory) -> LstmModel:
    if not _MODEL:
        _MODEL.append(LstmModel.load(make_daemon_artifact(tmp_path_factory.mktemp("fuzz_model"), units=8)))
    return _MODEL[0]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(STREAM)
def test_any_call_is_planned_or_refused_with_a_clear_message(tmp_path_factory, stream):
    listener, position = listen(stream, 0.0)
    if not listener.active:
        return
    call = listener.snapshot(int(position) + 2)
    try:
        plan = plan_call(call, _model(tmp_path_factory))
    except ValueError as err:  # the test model's vocabulary is C major only: other pitch classes are refused
        assert "vocabulary" in str(err), err
        return
    assert valid_symbols(plan.symbols) and -6 <= plan.semitones <= 6
