"""The Runner against the reference's test inventory (worker-reference §6.1).

Each test names the Go test it translates. Where DESIGN.md decides
differently from the 2014 code, the test pins the decision and says so.
"""

from __future__ import annotations

import gevent
import pytest
from gevent.event import Event
from zope.interface.verify import verifyObject

import agent_runtime.worker
from agent_runtime import RunnerDead, stop
from agent_runtime.interfaces import IAbortableWorker, IRunner
from agent_runtime.testing import ManualClock
from agent_runtime.worker import RunnerObserver

from starters import LONG_WAIT, all_fatal, none_fatal

pytestmark = pytest.mark.usefixtures("no_restart_delay")


def test_runner_provides_its_interfaces(runners):
    runner = runners()
    verifyObject(IRunner, runner)
    verifyObject(IAbortableWorker, runner)


def test_one_worker_start(runners, starters):  # TestOneWorkerStart
    runner = runners(none_fatal)
    starter = starters()
    runner.start_worker("id", starter)
    starter.expect(True)
    assert stop(runner) is None
    starter.expect(False)


def test_one_worker_restart(runners, starters):  # TestOneWorkerRestart
    runner = runners(none_fatal)
    starter = starters()
    runner.start_worker("id", starter)
    starter.expect(True)
    for _ in range(3):
        starter.die(ValueError("an error"))
        starter.expect(False)
        starter.expect(True)
    assert stop(runner) is None
    starter.expect(False)
    assert starter.starts == 4


def test_one_worker_start_fatal_error(runners, starters):  # TestOneWorkerStartFatalError
    runner = runners(all_fatal)
    start_error = ValueError("cannot start test task")
    starter = starters(start_error=start_error)
    assert runner.start_worker("id", starter) is None
    with pytest.raises(ValueError) as raised:
        runner.wait()
    assert raised.value is start_error


def test_one_worker_die_fatal_error(runners, starters):  # TestOneWorkerDieFatalError
    runner = runners(all_fatal)
    starter = starters()
    runner.start_worker("id", starter)
    starter.expect(True)
    die_error = ValueError("error when running")
    starter.die(die_error)
    with pytest.raises(ValueError) as raised:
        runner.wait()
    assert raised.value is die_error
    starter.expect(False)


def test_one_worker_start_stop(runners, starters):  # TestOneWorkerStartStop
    runner = runners(all_fatal)
    starter = starters()
    runner.start_worker("id", starter)
    starter.expect(True)
    assert runner.stop_worker("id") is None
    starter.expect(False)
    assert stop(runner) is None


def test_one_worker_stop_fatal_error(runners, starters):  # TestOneWorkerStopFatalError
    runner = runners(all_fatal)
    stop_error = ValueError("stop error")
    starter = starters(stop_error=stop_error)
    runner.start_worker("id", starter)
    starter.expect(True)
    runner.stop_worker("id")
    with pytest.raises(ValueError) as raised:
        runner.wait()  # the runner dies by itself, without kill()
    assert raised.value is stop_error


def test_one_worker_start_when_stopping(runners, starters, monkeypatch):
    # TestOneWorkerStartWhenStopping: the new start runs at once, not after the
    # restart delay. With a manual clock "at once" means "without time passing".
    monkeypatch.setattr(agent_runtime.worker, "RESTART_DELAY", 3.0)
    clock = ManualClock()
    runner = runners(all_fatal, clock=clock)
    stop_wait = Event()
    starter = starters(stop_wait=stop_wait)
    runner.start_worker("id", starter)
    starter.expect(True)
    runner.stop_worker("id")
    runner.start_worker("id", starter)
    stop_wait.set()
    starter.expect(False)
    starter.expect(True)
    assert clock.now() == 0
    stop_wait.clear()
    runner.kill()
    stop_wait.set()
    starter.expect(False)
    assert runner.wait() is None


def test_one_worker_restart_delay(runners, starters, monkeypatch):  # TestOneWorkerRestartDelay
    monkeypatch.setattr(agent_runtime.worker, "RESTART_DELAY", 0.1)
    clock = ManualClock()
    runner = runners(none_fatal, clock=clock)
    starter = starters()
    runner.start_worker("id", starter)
    starter.expect(True)
    starter.die(ValueError("non-fatal error"))
    starter.expect(False)
    clock.wait_for_timers(1)
    clock.advance(0.099)
    starter.expect_nothing()
    clock.advance(0.001)
    starter.expect(True)
    assert stop(runner) is None
    starter.expect(False)


def test_one_worker_restart_delay_real_clock(runners, starters):
    # The same on the real clock: the restart comes no sooner than the delay.
    runner = runners(none_fatal, restart_delay=0.05)
    starter = starters()
    runner.start_worker("id", starter)
    starter.expect(True)
    starter.die(ValueError("non-fatal error"))
    starter.expect(False)
    stopped_at = gevent.get_hub().loop.now()
    starter.expect(True)
    gevent.get_hub().loop.update_now()
    assert gevent.get_hub().loop.now() - stopped_at >= 0.05 - 0.001
    assert stop(runner) is None


class Level(Exception):
    """An error with an importance: the higher, the more important."""

    def __init__(self, level: int) -> None:
        super().__init__(f"error level {level}")
        self.level = level


def test_error_importance(runners, starters):  # TestErrorImportance
    runner = runners(all_fatal, lambda a, b: a.level > b.level)
    for i in range(10):
        runner.start_worker(str(i), starters(stop_error=Level(i)))
    # No waiting for the starts: since DESIGN decision 2 a stop that arrives
    # before the start is not lost, which made the 2014 test racy.
    runner.stop_worker("4")
    with pytest.raises(Level) as raised:
        runner.wait()
    assert raised.value.level == 9


def test_start_worker_when_dead(runners):  # TestStartWorkerWhenDead
    runner = runners()
    assert stop(runner) is None
    with pytest.raises(RunnerDead) as raised:
        runner.start_worker("foo", lambda: None)
    assert str(raised.value) == "worker runner is not running"


def test_stop_worker_when_dead(runners):  # TestStopWorkerWhenDead
    runner = runners()
    assert stop(runner) is None
    with pytest.raises(RunnerDead):
        runner.stop_worker("foo")


def test_all_workers_stopped_when_one_dies_with_fatal_error(runners, starters):
    # TestAllWorkersStoppedWhenOneDiesWithFatalError
    runner = runners(all_fatal)
    group = [starters() for _ in range(10)]
    for i, starter in enumerate(group):
        runner.start_worker(str(i), starter)
    for starter in group:
        starter.expect(True)
    die_error = ValueError("fatal error")
    group[4].die(die_error)
    with pytest.raises(ValueError) as raised:
        runner.wait()
    assert raised.value is die_error
    for starter in group:
        starter.expect(False)


class FatalSeen(RunnerObserver):
    """Sets ``seen`` when the runner reports a fatal error (the reference slept 10 ms)."""

    def __init__(self) -> None:
        self.seen = Event()

    def fatal(self, runner, id, error):
        self.seen.set()


def test_fatal_error_while_starting(runners, starters):  # TestFatalErrorWhileStarting
    fatal = FatalSeen()
    runner = runners(all_fatal, observers=[fatal])
    slow = starters(unbuffered=True)  # its start blocks until the test reads
    runner.start_worker("slow starter", slow)
    start_error = ValueError("cannot start test task")
    runner.start_worker("fatal worker", starters(start_error=start_error))
    # The fatal start fails while the slow one is still inside its start
    # function: the runner must accept its "started" report although it is dying.
    assert fatal.seen.wait(LONG_WAIT)
    slow.expect(True)
    slow.expect(False)  # killed because the runner is dying
    with pytest.raises(ValueError) as raised:
        runner.wait()
    assert raised.value is start_error


def test_fatal_error_while_self_start_worker(runners, starters):
    # TestFatalErrorWhileSelfStartWorker: a worker calls start_worker on its
    # runner while the runner is dying; the call must not block, and the
    # request is ignored.
    fatal = FatalSeen()
    runner = runners(all_fatal, observers=[fatal])
    another = starters()
    self_started = Event()

    def hook():
        self_started.wait()
        runner.start_worker("another", another)

    self_starter = starters(hook=hook, unbuffered=True)
    runner.start_worker("self starter", self_starter)
    start_error = ValueError("cannot start test task")
    runner.start_worker("fatal worker", starters(start_error=start_error))
    assert fatal.seen.wait(LONG_WAIT)
    self_starter.expect(True)
    self_started.set()
    self_starter.expect(False)
    with pytest.raises(ValueError) as raised:
        runner.wait()
    assert raised.value is start_error
    assert another.starts == 0


def test_one_worker_finish(runners, starters, monkeypatch):
    # TestOneWorkerFinish (juju PR #366, DESIGN decision 1): a worker that stops
    # cleanly without being asked has finished; it is not restarted.
    clock = ManualClock()
    runner = runners(all_fatal, clock=clock)
    starter = starters()
    runner.start_worker("id", starter)
    starter.expect(True)
    starter.die(None)
    starter.expect(False)
    assert clock.pending_timers() == 0
    starter.expect_nothing()
    assert stop(runner) is None
    assert starter.starts == 1
