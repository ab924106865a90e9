"""Run a worker as the main job of a process.

``serve(worker)`` blocks until the worker stops, turning SIGINT and SIGTERM
into a graceful stop: the worker is killed, given ``stop_timeout`` seconds,
then aborted (its greenlets killed outright) if it can be, and the process
gives up on it after a last short grace. A second signal skips the grace.
The return value is the process's exit code: 0 after a clean stop or a
``TerminateAgent``, 1 after a fatal error or a worker that would not stop.
Both grace periods run on the ``clock`` given (an ``IClock``).

A process that has work to do before ``serve()`` (open its state, import its
agent) makes an ``EarlyStopSignals`` first: a SIGINT or SIGTERM received
meanwhile is remembered instead of ending the process half-started, and
``serve(..., early=...)`` acts on it at once.
"""

from __future__ import annotations

import logging
import signal

import gevent
from gevent.event import Event

from agent_runtime.agent.debug import install_dump_handler
from agent_runtime.clock import REAL_CLOCK, ClockTimeout
from agent_runtime.errors import TerminateAgent
from agent_runtime.interfaces import IAbortableWorker, IClock, IWorker
from agent_runtime.worker.base import outcome_of

__all__ = ["ABORT_GRACE", "STOP_SIGNALS", "EarlyStopSignals", "serve"]

log = logging.getLogger("agent_runtime.agent")

#: Seconds an aborted worker gets before the process stops waiting for it.
ABORT_GRACE = 2.0

#: The signals that ask an agent to stop.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class EarlyStopSignals:
    """Catches ``STOP_SIGNALS`` from the moment it is made until it is closed
    (``serve()`` closes it when its own handlers are in place), remembering
    them in ``received``; a context manager that closes it on exit."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self._handlers = [gevent.signal_handler(s, self.received.append, s) for s in STOP_SIGNALS]

    def close(self) -> None:
        for handler in self._handlers:
            handler.cancel()
        self._handlers = []

    def __enter__(self) -> EarlyStopSignals:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def serve(
    worker: IWorker,
    *,
    stop_timeout: float | None = 10.0,
    name: str = "agent",
    report_socket: str | None = None,
    clock: IClock = REAL_CLOCK,
    early: EarlyStopSignals | None = None,
) -> int:
    """Wait for ``worker``, handling SIGINT/SIGTERM as a graceful stop; return
    the exit code (see the module docstring). Call it from the main greenlet.
    With ``report_socket``, the worker's report is served there while it runs
    (``agent-runtime report``). The grace periods (``stop_timeout``, then
    ``ABORT_GRACE``) are measured on ``clock``. Signals that ``early`` caught
    before are acted on at once, in the order they came."""
    from agent_runtime.agent.report import ReportServer

    reporter = ReportServer(report_socket, worker) if report_socket else None
    waiter = gevent.spawn(outcome_of, worker)
    gave_up = Event()
    stopping: list[gevent.Greenlet] = []

    def hard_stop() -> None:
        if stop_timeout is None:
            return
        with ClockTimeout(clock, stop_timeout, swallow=True):
            waiter.join()
        abort()

    def abort() -> None:
        if waiter.dead:
            return
        if IAbortableWorker.providedBy(worker):
            log.error("%s did not stop in time: killing its greenlets", name)
            worker.abort()
            with ClockTimeout(clock, ABORT_GRACE, swallow=True):
                waiter.join()
        if not waiter.dead:
            log.error("%s would not stop: giving up on it", name)
            gave_up.set()

    def on_signal(signum: int) -> None:
        signame = signal.Signals(signum).name
        if not stopping:
            grace = "" if stop_timeout is None else f" (grace period {stop_timeout:g} s)"
            log.info("%s: stopping %s%s", signame, name, grace)
            worker.kill()
            stopping.append(gevent.spawn(hard_stop))
        else:
            log.warning("%s again: stopping %s now", signame, name)
            stopping.append(gevent.spawn(abort))

    handlers = [gevent.signal_handler(s, on_signal, s) for s in STOP_SIGNALS]
    handlers.append(install_dump_handler())  # SIGUSR2: log every greenlet's stack
    if early is not None:
        early.close()
        for signum in early.received:
            on_signal(signum)
    # gevent's signal watchers do not keep the event loop alive: an agent whose
    # workers all wait on events (no timer, no socket) would end in LoopExit
    # instead of waiting for its signal. A referenced timer keeps the loop up.
    # (A hub timer, not the agent's clock: it waits for nothing, it only keeps
    # the real event loop from running dry, whatever clock the agent uses.)
    keepalive = gevent.get_hub().loop.timer(3600.0, 3600.0)
    keepalive.start(lambda: None)
    try:
        gevent.wait([waiter, gave_up], count=1)
    finally:
        keepalive.close()
        for handler in handlers:
            handler.cancel()
        for greenlet in stopping:
            greenlet.kill(block=False)
        if reporter is not None:
            reporter.kill()
            reporter.wait()
    if gave_up.is_set():
        waiter.kill(block=False)
        return 1
    error = waiter.value
    if error is None:
        log.info("%s stopped", name)
        return 0
    if isinstance(error, TerminateAgent):
        log.info("%s terminated: %s", name, error)
        return 0
    log.error("%s stopped with a fatal error: %s: %s", name, type(error).__name__, error)
    return 1
