"""The Runner's grace period at shutdown (DESIGN decisions 6 and 14).

A worker that does not stop within ``stop_timeout`` after the runner was
killed is aborted (its greenlets killed outright) when it can be, and
abandoned otherwise; ``wait()`` then reports the workers that would not stop
instead of hanging.
"""

from __future__ import annotations

import gevent
import pytest
from gevent.event import Event
from zope.interface import implementer
from zope.interface.verify import verifyObject

from agent_runtime import Unstopped
from agent_runtime.interfaces import IWorker
from agent_runtime.testing import ManualClock, check_alive, check_killed, wait_for
from agent_runtime.worker import RunnerObserver, SimpleWorker
from agent_runtime.worker.runner import ABORT_GRACE

from starters import LONG_WAIT, all_fatal


@implementer(IWorker)
class Stubborn:
    """A worker that ignores kill() and cannot be aborted: it stops only when
    the test releases it."""

    def __init__(self) -> None:
        self.release = Event()
        self.started = Event()
        self.started.set()

    def kill(self) -> None:
        pass

    def wait(self) -> None:
        self.release.wait()


def test_stubborn_fake_is_a_worker():
    verifyObject(IWorker, Stubborn())


def ignore_stop(release: Event):
    """do_work for a SimpleWorker that ignores its stop event."""

    def work(stop_event: Event) -> None:
        release.wait()

    return work


def test_worker_ignoring_kill_is_aborted_after_the_grace_period(runners, caplog):
    clock = ManualClock()
    runner = runners(stop_timeout=5, clock=clock)
    release = Event()
    worker = None

    def start():
        nonlocal worker
        worker = SimpleWorker(ignore_stop(release))
        return worker

    runner.start_worker("deaf", start)
    runner.kill()
    clock.wait_for_timers(1)
    check_alive(runner)
    clock.advance(5)
    assert check_killed(runner) is None  # aborted: its greenlet got GreenletExit
    assert worker.stopped
    assert "'deaf' did not stop in time" in caplog.text


class ExitSeen(RunnerObserver):
    def __init__(self, id: str) -> None:
        self.id = id
        self.seen = Event()

    def exited(self, runner, id, error):
        if id == self.id:
            self.seen.set()


def test_unabortable_worker_is_abandoned_and_reported(runners, caplog):
    clock = ManualClock()
    polite_exited = ExitSeen("polite")
    runner = runners(stop_timeout=5, clock=clock, observers=[polite_exited])
    stubborn = Stubborn()
    runner.start_worker("stubborn", lambda: stubborn)
    runner.start_worker("polite", lambda: SimpleWorker(lambda stop: stop.wait()))
    gevent.sleep(0)
    runner.kill()
    clock.wait_for_timers(1)
    assert polite_exited.seen.wait(LONG_WAIT)
    clock.advance(5)
    clock.wait_for_timers(1)  # kill() was not enough: the abort gets its own grace
    check_alive(runner)
    clock.advance(ABORT_GRACE)
    error = check_killed(runner)
    assert isinstance(error, Unstopped)
    assert error.ids == ["stubborn"]
    assert str(error) == "workers did not stop within 5 s: 'stubborn'"
    assert "abandoning worker 'stubborn'" in caplog.text
    stubborn.release.set()


def test_worker_that_survives_the_abort_is_abandoned(runners):
    clock = ManualClock()
    runner = runners(stop_timeout=1, clock=clock)
    release = Event()

    def refuse_to_die(stop_event: Event) -> None:
        while not release.is_set():
            try:
                release.wait()
            except gevent.GreenletExit:
                continue

    worker = None

    def start():
        nonlocal worker
        worker = SimpleWorker(refuse_to_die)
        return worker

    runner.start_worker("immortal", start)
    runner.kill()
    clock.wait_for_timers(1)
    clock.advance(1)
    clock.wait_for_timers(1)  # the abort's own grace
    check_alive(runner)
    clock.advance(ABORT_GRACE)
    error = check_killed(runner)
    assert isinstance(error, Unstopped) and error.ids == ["immortal"]
    release.set()
    assert check_killed(worker) is None


def test_start_function_stuck_at_shutdown_is_killed(runners, caplog):
    clock = ManualClock()
    runner = runners(stop_timeout=2, clock=clock)
    never = Event()
    entered = Event()

    def start():
        entered.set()
        never.wait()

    runner.start_worker("stuck", start)
    assert entered.wait(LONG_WAIT)
    runner.kill()
    clock.wait_for_timers(1)
    clock.advance(2)
    assert check_killed(runner) is None
    assert "'stuck' did not stop in time" in caplog.text


def test_no_stop_timeout_waits_for_ever(runners):
    clock = ManualClock()
    runner = runners(stop_timeout=None, clock=clock)
    stubborn = Stubborn()
    runner.start_worker("stubborn", lambda: stubborn)
    gevent.sleep(0)
    runner.kill()
    gevent.sleep(0)
    assert clock.pending_timers() == 0
    check_alive(runner)
    stubborn.release.set()
    assert check_killed(runner) is None


def test_fatal_error_wins_over_unstopped_workers(runners, caplog):
    clock = ManualClock()
    runner = runners(all_fatal, stop_timeout=3, clock=clock)
    stubborn = Stubborn()
    runner.start_worker("stubborn", lambda: stubborn)
    error = ValueError("fatal")

    def fail(stop_event):
        raise error

    runner.start_worker("failing", lambda: SimpleWorker(fail))
    clock.wait_for_timers(1)
    clock.advance(3)
    clock.wait_for_timers(1)
    clock.advance(ABORT_GRACE)
    with pytest.raises(ValueError) as raised:
        runner.wait()
    assert raised.value is error
    assert "workers did not stop within 3 s: 'stubborn'" in caplog.text
    stubborn.release.set()


def test_abort_does_not_wait_for_the_grace_period(runners):
    runner = runners(stop_timeout=None)
    release = Event()
    runner.start_worker("deaf", lambda: SimpleWorker(ignore_stop(release)))
    gevent.sleep(0)
    runner.abort()
    assert check_killed(runner) is None


def test_abort_in_the_turn_a_worker_was_started_stops_at_once(runners, caplog):
    # The start greenlet has not run yet when abort() kills it: it must not be
    # left for ABORT_GRACE and reported as a worker that would not stop.
    clock = ManualClock()
    runner = runners(stop_timeout=None, clock=clock)
    started: list[str] = []
    release = Event()
    runner.start_worker(
        "fresh", lambda: started.append("fresh") or SimpleWorker(ignore_stop(release))
    )
    runner.abort()
    try:
        assert check_killed(runner) is None  # no Unstopped, no clock advance needed
        assert started == []  # its start function never ran
        assert clock.pending_timers() == 0
        assert "would not stop" not in caplog.text
    finally:
        release.set()


def test_stopped_workers_do_not_arm_the_grace_period_timer(runners):
    clock = ManualClock()
    runner = runners(stop_timeout=5, clock=clock)
    runner.start_worker("polite", lambda: SimpleWorker(lambda stop: stop.wait()))
    gevent.sleep(0)
    runner.kill()
    assert check_killed(runner) is None
    assert clock.pending_timers() == 0


def swallow_greenlet_exit(release: Event, swallowed: list, times: int | None = None):
    """do_work that ignores its stop event and swallows the GreenletExit of
    an abort (``times`` times; None: every time) until ``release`` is set."""

    def work(stop_event: Event) -> None:
        while not release.is_set():
            try:
                release.wait()
            except gevent.GreenletExit:
                swallowed.append(True)
                if times is not None and len(swallowed) >= times:
                    return  # cleaned up after the abort: a clean stop

    return work


def test_worker_that_swallows_one_greenlet_exit_then_stops_is_not_unstopped(runners):
    clock = ManualClock()
    runner = runners(stop_timeout=5, clock=clock)
    release, swallowed = Event(), []
    runner.start_worker(
        "cleaner", lambda: SimpleWorker(swallow_greenlet_exit(release, swallowed, 1))
    )
    gevent.sleep(0)
    runner.kill()
    clock.wait_for_timers(1)
    clock.advance(5)
    assert check_killed(runner) is None
    assert swallowed == [True]
    release.set()


def test_workers_that_swallow_greenlet_exit_are_reported_not_waited_for(runners):
    clock = ManualClock()
    polite_exited = ExitSeen("polite")
    runner = runners(stop_timeout=2, clock=clock, observers=[polite_exited])
    release, swallowed = Event(), []
    for id in ("b-immortal", "a-immortal"):
        runner.start_worker(id, lambda: SimpleWorker(swallow_greenlet_exit(release, swallowed)))
    runner.start_worker("polite", lambda: SimpleWorker(lambda stop: stop.wait()))
    gevent.sleep(0)
    runner.kill()
    clock.wait_for_timers(1)
    assert polite_exited.seen.wait(LONG_WAIT)
    report = runner.report()
    assert report["state"] == "stopping"
    assert {id: entry["state"] for id, entry in report["workers"].items()} == {
        "a-immortal": "stopping",
        "b-immortal": "stopping",
    }
    clock.advance(2)
    clock.wait_for_timers(1)  # the abort's own grace
    wait_for(lambda: len(swallowed) == 2, what="both workers to swallow their GreenletExit")
    clock.advance(ABORT_GRACE)
    waiters = [gevent.spawn(check_killed, runner) for _ in range(2)]
    gevent.joinall(waiters, timeout=LONG_WAIT)
    error = waiters[0].value
    assert isinstance(error, Unstopped) and waiters[1].value is error
    assert sorted(error.ids) == ["a-immortal", "b-immortal"]
    assert error.timeout == 2
    assert runner.report() == {"state": "stopped", "workers": {}}
    release.set()


def test_abort_without_a_grace_period_reports_the_unstopped(runners):
    clock = ManualClock()
    runner = runners(stop_timeout=None, clock=clock)
    release, swallowed = Event(), []
    runner.start_worker("immortal", lambda: SimpleWorker(swallow_greenlet_exit(release, swallowed)))
    gevent.sleep(0)
    runner.abort()
    clock.wait_for_timers(1)
    clock.advance(ABORT_GRACE)
    error = check_killed(runner)
    assert isinstance(error, Unstopped) and error.ids == ["immortal"] and error.timeout is None
    assert str(error) == "workers did not stop when aborted: 'immortal'"
    release.set()
