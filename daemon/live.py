"""``antiphon serve``: load the model, open the ports, run the loop on the monotonic clock, stop cleanly."""

from __future__ import annotations

import gc
import logging
import os
import signal
import threading
import time
from pathlib import Path

import mido
import numpy as np

from antiphon.daemon.clock import StepClock
from antiphon.daemon.config import ServeConfig
from antiphon.daemon.jackports import StampedSession, ahead_clock, jack_reopeners, open_live_ports, pulse_sender
from antiphon.daemon.loop import SPIN_S, QueueSource, run_loop
from antiphon.daemon.notify import Notifier
from antiphon.daemon.offline import load_responder
from antiphon.daemon.phrase import Call
from antiphon.daemon.ports import InputQueue, use_backend
from antiphon.daemon.reconnect import InputHolder, PortWatcher, SwitchableOutput
from antiphon.daemon.recorder import SessionRecorder, recover
from antiphon.daemon.response import Responder
from antiphon.daemon.session import Session
from antiphon.engine.events import Note

log = logging.getLogger(__name__)

COUNT_IN_LEAD_S = 0.2  # the first click of a count-in comes this long after READY

WARMUP_STEPS = 16
# Test hook (reliability tests and benchmark only): raise RuntimeError inside the live loop after this many
# grid steps ("N"), or N steps after an answer's first note sounds ("answer+N"), to prove an exception in the loop
# still silences the synth. Unset in normal use.
FAULT_ENV = "ANTIPHON_FAULT_AFTER_STEPS"
FAULT_ANSWER_PREFIX = "answer+"
PANIC_BURST = 32  # messages sent back to back by `antiphon panic` before a pause
PANIC_PAUSE_S = 0.005
OUTPUT_DRAIN_S = 0.05  # before closing the output: JACK sends queued messages at its next period
# A short C major phrase run through the responder once at start, so the first real answer is not the first call.
WARMUP_CALL = Call(tuple(Note(p, 4 * i, 4) for i, p in enumerate((60, 64, 67, 72))), 16, 80, 0, 4)


class LatenessMeter:
    """How late each step's messages went out (seconds after the deadline), in a preallocated ring."""

    def __init__(self, size: int = 1 << 16):
        self.values = np.zeros(size)
        self.count = 0

    def add(self, lateness_s: float) -> None:
        self.values[self.count % self.values.size] = lateness_s
        self.count += 1

    def summary(self) -> str:
        if not self.count:
            return "no steps"
        v = self.values[: min(self.count, self.values.size)] * 1e3
        return (f"{self.count} steps, lateness p50 {np.percentile(v, 50):.3f} ms, p99 {np.percentile(v, 99):.3f} ms, "
                f"max {v.max():.3f} ms")


def set_realtime(priority: int | None) -> None:
    """Put the calling (loop) thread in SCHED_FIFO at ``priority`` if permitted; log and go on if not."""
    if priority is None:
        return
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        log.info("live loop at SCHED_FIFO priority %d", priority)
    except (OSError, AttributeError) as err:
        log.warning("cannot use real-time priority %d (%s); running at normal priority", priority, err)


def warm_up(responder: Responder) -> None:
    """Run one response through the model and sampler (first calls allocate and fill caches)."""
    response = responder.respond(WARMUP_CALL, WARMUP_STEPS)
    while response.take() is not None:
        response.compute_ahead()


def fault_after_steps() -> tuple[int, bool] | None:
    """The ``ANTIPHON_FAULT_AFTER_STEPS`` test hook: (steps, counted from the answer's first note), or ``None``."""
    value = os.environ.get(FAULT_ENV)
    if not value:
        return None
    from_answer = value.startswith(FAULT_ANSWER_PREFIX)
    try:
        return int(value.removeprefix(FAULT_ANSWER_PREFIX)), from_answer
    except ValueError as err:
        raise ValueError(f"{FAULT_ENV} must be N or {FAULT_ANSWER_PREFIX}N (N an integer), got {value!r}") from err


def serve(config: ServeConfig, started: float | None = None) -> int:
    """Run the daemon until SIGTERM/SIGINT; returns the exit status (0 on a clean stop).

    The signal handlers it sets are the previous ones again when it returns or raises (a caller in the same
    process, such as a test, is not left with them).
    """
    started = time.monotonic() if started is None else started
    stop = threading.Event()
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        return _serve(config, started, stop)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _serve(config: ServeConfig, started: float, stop: threading.Event) -> int:
    notifier = Notifier()
    responder = load_responder(config)
    model = responder.model
    backend = use_backend(config.backend)
    warm_up(responder)
    recorder = None
    if config.record is not None:
        folder = Path(config.record).expanduser()
        recover(folder)
        recorder = SessionRecorder(folder, config.bpm)
    inputs = InputQueue(keep_clock=config.clock == "external")
    fault_after = fault_after_steps()
    in_port = out_port = session = watcher = engine = None
    # Everything loaded so far is permanent: collect once and keep the collector off it on the timing path,
    # before any port opens (a full collection holds the interpreter lock that JACK's process callback needs).
    gc.collect()
    gc.freeze()
    try:
        output, input_port, engine = open_live_ports(config, backend, inputs)  # JACK: frame-stamped events
        out_port, in_port = SwitchableOutput(output), InputHolder(input_port, inputs)
        # On JACK the loop runs lead_s ahead and each step's messages are scheduled at its deadline's frame.
        clock = StepClock(config.bpm, model.steps_per_quarter,
                          now=time.monotonic if engine is None else ahead_clock(engine.lead_s))
        session = Session(config, responder, clock, out_port.send,
                          recorder.record if recorder is not None else None,
                          on_tempo=recorder.tempo if recorder is not None else None)
        if not config.virtual:
            watcher = PortWatcher(backend, config.input, config.output, in_port, out_port,
                                  lambda: [*session.player.sounding, *session.echo.sounding,
                                           *session.metronome.player.sounding],
                                  **jack_reopeners(engine))
            watcher.start()
        gc.freeze()  # and the ports, the session and the watcher (no collection: the callback runs now)
        set_realtime(config.realtime_priority)
        log.info("ready in %.2f s: %s backend, input %r, output %r, %.1f bpm, %s model %s",
                 time.monotonic() - started, backend, in_port.port.name, out_port.name, config.bpm, config.mode,
                 "+".join(voice.name for voice in responder.voices))
        notifier.ready(f"listening on {in_port.port.name}")
        session.begin(clock.now() + COUNT_IN_LEAD_S)  # a count-in or the click starts on a downbeat

        meter = LatenessMeter()
        fault_from = [None if fault_after is not None and fault_after[1] else 0]  # the step the count starts at

        def on_step(step: int, lateness_s: float) -> None:
            meter.add(lateness_s)
            notifier.watchdog()
            if recorder is not None and session.idle:
                recorder.maybe_split(clock.now())
            if fault_after is None:
                return
            if fault_from[0] is None and session.player.sounding:
                fault_from[0] = meter.count
            if fault_from[0] is not None and meter.count - fault_from[0] >= fault_after[0]:
                log.error("test hook %s: raising in the live loop at monotonic %.6f", FAULT_ENV, time.monotonic())
                raise RuntimeError(f"fault injected by {FAULT_ENV} after {meter.count} steps")

        on_pulse = None
        if config.send_clock:
            out_port.send(mido.Message("start"))
            on_pulse = pulse_sender(out_port.send, clock, engine)

        looped = session if engine is None else StampedSession(session, clock, engine)
        # On JACK the lead absorbs a late wake-up; a spin there would only take the interpreter lock from the
        # process callback each time it lets go of it (every JACK call it makes), cycle after cycle.
        source = QueueSource(inputs.events, now=clock.now, stop=stop.is_set, spin_s=SPIN_S if engine is None else 0.0)
        run_loop(looped, clock, source, stop.is_set, on_step,
                 on_pulse)
        log.info("stopping (%s); loop timing: %s", "signal" if stop.is_set() else "loop ended", meter.summary())
    finally:
        notifier.stopping()
        if session is not None and out_port is not None:  # silence first: closing the input takes ~50 ms
            session.stop()
            if config.send_clock:
                out_port.send(mido.Message("stop"))
        if watcher is not None:
            watcher.stop()
        if in_port is not None:
            in_port.close()
        if out_port is not None:
            time.sleep(OUTPUT_DRAIN_S)
            out_port.close()
        if recorder is not None:
            recorder.finish()
        if inputs.dropped:
            log.warning("%d input messages dropped (input queue full)", inputs.dropped)
        notifier.close()
    return 0


def panic(output: str, backend: str | None, channels: list[int]) -> int:
    """Send note-offs (on ``channels``, 1-based) and sustain off, CC 123, CC 120 on all channels to ``output``."""
    from antiphon.daemon.player import panic_messages
    from antiphon.daemon.ports import match_port

    use_backend(backend)
    name = match_port(output, mido.get_output_names(), "output")
    with mido.open_output(name) as port:
        for count, msg in enumerate(panic_messages([c - 1 for c in channels]), start=1):
            port.send(msg)
            if count % PANIC_BURST == 0:
                time.sleep(PANIC_PAUSE_S)  # let JACK/ALSA drain a burst: ~300 messages can overrun a period
        time.sleep(OUTPUT_DRAIN_S)
    log.info("panic sent to %s", name)
    return 0
