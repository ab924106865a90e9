"""serve(): the grace periods after SIGTERM run on the clock it is given.

serve() runs in this process, on a greenlet, with a ManualClock; the test
sends SIGTERM to its own process (a guard handler is installed first, so a
signal never meets the default action). tests/test_cli_run.py runs the same
code as a real ``agent-runtime run`` process, on the real clock.
"""

from __future__ import annotations

import logging
import os
import signal

import gevent
import pytest
from gevent.event import Event

from agent_runtime.agent.serve import ABORT_GRACE, EarlyStopSignals, serve
from agent_runtime.testing import LONG_WAIT, ManualClock, check_killed, wait_for
from agent_runtime.worker import SimpleWorker

STOP_TIMEOUT = 10.0


@pytest.fixture(autouse=True)
def sigterm_guard():
    """A handler of our own, so that SIGTERM never kills the test process."""
    guard = gevent.signal_handler(signal.SIGTERM, lambda: None)
    try:
        yield
    finally:
        guard.cancel()


@pytest.fixture
def clock():
    return ManualClock()


def serving(worker, clock: ManualClock) -> gevent.Greenlet:
    """serve(worker) on a greenlet, waiting for its signals once this returns."""
    greenlet = gevent.spawn(serve, worker, stop_timeout=STOP_TIMEOUT, name="test", clock=clock)
    gevent.sleep(0)  # serve() runs up to its wait: its handlers are installed
    return greenlet


def sigterm() -> None:
    os.kill(os.getpid(), signal.SIGTERM)


def settle() -> None:
    for _ in range(5):
        gevent.sleep(0)


class Stubborn:
    """A worker that ignores kill() and survives abort() until released."""

    def __init__(self) -> None:
        self.released = Event()
        self.refused = 0
        self.worker = SimpleWorker(self._work)

    def _work(self, stop) -> None:
        while not self.released.is_set():
            try:
                self.released.wait()
            except BaseException:  # refusing to die is the point
                self.refused += 1

    def release(self) -> None:
        self.released.set()
        assert check_killed(self.worker) is None


def test_a_worker_that_stops_needs_no_grace(clock):
    worker = SimpleWorker(lambda stop: stop.wait())
    agent = serving(worker, clock)
    sigterm()
    assert agent.get(timeout=LONG_WAIT) == 0
    assert clock.now() == 0


def test_the_grace_period_runs_on_the_clock_then_the_worker_is_aborted(clock, caplog):
    """A worker deaf to kill() is aborted exactly when the clock has passed
    stop_timeout after SIGTERM, not before."""
    caplog.set_level(logging.INFO, logger="agent_runtime.agent")
    deaf = Event()
    worker = SimpleWorker(lambda stop: deaf.wait())  # abort() ends it; kill() does not
    agent = serving(worker, clock)
    sigterm()
    clock.wait_for_timers(1)  # the grace period
    clock.advance(STOP_TIMEOUT - 0.001)
    settle()
    assert not agent.ready() and "did not stop in time" not in caplog.text
    clock.advance(0.001)
    assert agent.get(timeout=LONG_WAIT) == 0  # aborted: it stopped cleanly
    assert "did not stop in time: killing its greenlets" in caplog.text
    assert "grace period 10 s" in caplog.text


def test_a_worker_that_survives_abort_is_given_up_on_after_abort_grace(clock, caplog):
    stubborn = Stubborn()
    agent = serving(stubborn.worker, clock)
    try:
        sigterm()
        clock.wait_for_timers(1)
        clock.advance(STOP_TIMEOUT)
        clock.wait_for_timers(1)  # the abort's grace
        assert "did not stop in time" in caplog.text
        clock.advance(ABORT_GRACE - 0.001)
        settle()
        assert not agent.ready()
        clock.advance(0.001)
        assert agent.get(timeout=LONG_WAIT) == 1
        assert "would not stop: giving up on it" in caplog.text
        assert stubborn.refused >= 1  # abort() was tried, and refused
    finally:
        stubborn.release()


def test_a_second_signal_skips_the_grace_period(clock, caplog):
    deaf = Event()
    worker = SimpleWorker(lambda stop: deaf.wait())
    agent = serving(worker, clock)
    sigterm()
    clock.wait_for_timers(1)
    sigterm()
    assert agent.get(timeout=LONG_WAIT) == 0  # aborted, with no clock time passed
    assert clock.now() == 0
    assert "SIGTERM again: stopping test now" in caplog.text


def test_a_signal_caught_early_stops_the_worker_as_soon_as_it_is_served(clock, caplog):
    caplog.set_level(logging.INFO, logger="agent_runtime.agent")
    with EarlyStopSignals() as early:
        sigterm()
        wait_for(lambda: early.received == [signal.SIGTERM], what="the early SIGTERM")
        worker = SimpleWorker(lambda stop: stop.wait())
        agent = gevent.spawn(serve, worker, name="test", clock=clock, early=early)
        assert agent.get(timeout=LONG_WAIT) == 0
    assert check_killed(worker) is None
    assert "SIGTERM: stopping test" in caplog.text


def test_two_signals_caught_early_skip_the_grace_period(clock, caplog):
    with EarlyStopSignals() as early:
        sigterm()
        wait_for(lambda: len(early.received) == 1, what="the first early SIGTERM")
        sigterm()
        wait_for(lambda: len(early.received) == 2, what="the second early SIGTERM")
        deaf = Event()
        worker = SimpleWorker(lambda stop: deaf.wait())
        agent = gevent.spawn(
            serve, worker, stop_timeout=STOP_TIMEOUT, name="test", clock=clock, early=early
        )
        assert agent.get(timeout=LONG_WAIT) == 0  # aborted, with no clock time passed
    assert clock.now() == 0
    assert "SIGTERM again: stopping test now" in caplog.text


def test_early_stop_signals_stop_catching_once_closed():
    early = EarlyStopSignals()
    early.close()
    sigterm()  # the guard's, now
    settle()
    gevent.sleep(0.01)
    assert early.received == []
    early.close()  # closing twice is harmless
