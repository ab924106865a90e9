"""The Runner where DESIGN.md decides, plus the reference's suggested extras
(worker-reference §6.6) and bad input."""

from __future__ import annotations

import logging

import gevent
import pytest
from gevent.event import Event
from runner_support import Recorder

import agent_runtime.worker
from agent_runtime import stop
from agent_runtime.testing import ManualClock, check_killed
from agent_runtime.worker import Runner, RunnerObserver, SimpleWorker

from starters import LONG_WAIT, all_fatal, no_importance, none_fatal

pytestmark = pytest.mark.usefixtures("no_restart_delay")


# -- §6.6 extras --------------------------------------------------------------


def test_non_fatal_start_error_is_retried_after_the_delay(runners, starters):
    clock = ManualClock()
    runner = runners(none_fatal, restart_delay=5, clock=clock)
    starter = starters(start_error=ValueError("not yet"))
    runner.start_worker("id", starter)
    starter.expect(False)
    clock.wait_for_timers(1)
    starter.expect_nothing()
    starter.start_error = None
    clock.advance(5)
    starter.expect(True)
    assert stop(runner) is None
    starter.expect(False)


def test_start_of_a_running_id_is_ignored(runners, starters):
    runner = runners(none_fatal)
    first, second = starters(), starters()
    runner.start_worker("id", first)
    first.expect(True)
    runner.start_worker("id", second)
    first.die(ValueError("restart me"))
    first.expect(False)
    first.expect(True)  # restarted with its own start function, not the second
    assert second.starts == 0
    assert stop(runner) is None
    first.expect(False)


def test_start_while_dying_is_ignored(runners, starters):
    runner = runners(none_fatal)
    stop_wait = Event()
    slow_stopper = starters(stop_wait=stop_wait)
    runner.start_worker("slow", slow_stopper)
    slow_stopper.expect(True)
    runner.kill()
    late = starters()
    assert runner.start_worker("late", late) is None  # accepted, then ignored
    stop_wait.set()
    slow_stopper.expect(False)
    assert runner.wait() is None
    assert late.starts == 0


def test_stop_of_an_unknown_id_is_ignored(runners):
    runner = runners()
    assert runner.stop_worker("nobody") is None
    assert stop(runner) is None


def test_clean_exit_is_not_restarted_even_when_errors_are_fatal(runners, starters):
    recorder = Recorder()
    runner = runners(all_fatal, observers=[recorder])
    starter = starters()
    runner.start_worker("id", starter)
    starter.expect(True)
    starter.die(None)
    recorder.wait_for(("exited", "id", None))
    assert stop(runner) is None
    assert [e[0] for e in recorder.events] == ["started", "exited"]


# -- DESIGN decisions ------------------------------------------------------------


def test_stop_during_restart_delay_cancels_the_restart(runners, starters):  # decision 2
    clock = ManualClock()
    runner = runners(none_fatal, restart_delay=10, clock=clock)
    starter = starters()
    runner.start_worker("id", starter)
    starter.expect(True)
    starter.die(ValueError("fail"))
    starter.expect(False)
    clock.wait_for_timers(1)
    runner.stop_worker("id")
    gevent.sleep(0)
    clock.advance(10)
    starter.expect_nothing()
    # The id is free again: a new start runs at once.
    runner.start_worker("id", starter)
    starter.expect(True)
    assert stop(runner) is None
    starter.expect(False)
    assert starter.starts == 2


def test_stop_before_start_returned_kills_it_when_started(runners, starters):  # decision 2
    runner = runners(none_fatal)
    slow = starters(unbuffered=True)
    runner.start_worker("id", slow)
    runner.stop_worker("id")
    slow.expect(True)  # the start function returns only now
    slow.expect(False)  # and its worker is killed at once
    assert stop(runner) is None


def test_start_while_stopping_runs_the_new_function_as_a_normal_worker(runners, starters):
    # decision 3: the instance started by a start-while-stopping is not "stopping":
    # a later error restarts it after the delay, a later start is ignored.
    clock = ManualClock()
    recorder = Recorder()
    runner = runners(none_fatal, restart_delay=7, clock=clock, observers=[recorder])
    stop_wait = Event()
    old, new, ignored = starters(stop_wait=stop_wait), starters(), starters()
    runner.start_worker("id", old)
    old.expect(True)
    runner.stop_worker("id")
    runner.start_worker("id", new)
    stop_wait.set()
    old.expect(False)
    new.expect(True)
    runner.start_worker("id", ignored)
    new.die(ValueError("fail"))
    new.expect(False)
    recorder.wait_for(("restart_scheduled", "id", 7))
    clock.advance(7)
    new.expect(True)
    assert ignored.starts == 0
    assert stop(runner) is None
    new.expect(False)


def test_stop_then_start_before_the_first_instance_started(runners, starters):  # decision 11
    runner = runners(none_fatal)
    first = starters(unbuffered=True)
    second = starters()
    runner.start_worker("id", first)
    runner.stop_worker("id")
    runner.start_worker("id", second)
    first.expect(True)
    first.expect(False)
    second.expect(True)
    assert stop(runner) is None
    second.expect(False)


def test_start_during_restart_delay_is_ignored(runners, starters):  # decision 11
    clock = ManualClock()
    runner = runners(none_fatal, restart_delay=3, clock=clock)
    starter, other = starters(), starters()
    runner.start_worker("id", starter)
    starter.expect(True)
    starter.die(ValueError("fail"))
    starter.expect(False)
    clock.wait_for_timers(1)
    runner.start_worker("id", other)
    gevent.sleep(0)
    starter.expect_nothing()
    clock.advance(3)
    starter.expect(True)
    assert other.starts == 0
    assert stop(runner) is None


def test_instances_of_one_id_never_overlap(runners, starters):  # decision 5
    # A worker that takes a while to stop, failing repeatedly: each restart
    # must wait for the old instance's wait() to return (Starter.overlaps).
    runner = runners(none_fatal)
    stop_wait = Event()
    starter = starters(stop_wait=stop_wait)
    runner.start_worker("id", starter)
    for _ in range(5):
        starter.expect(True)
        stop_wait.clear()
        starter.die(ValueError("fail"))
        for _ in range(5):
            gevent.sleep(0)
        assert starter.running == 1
        stop_wait.set()
        starter.expect(False)
    starter.expect(True)
    assert stop(runner) is None
    starter.expect(False)
    assert starter.overlaps == []


def test_greenlet_exit_from_a_worker_is_a_clean_stop(runners):  # decision 4
    recorder = Recorder()
    runner = runners(all_fatal, observers=[recorder])

    def work(stop_event):
        raise gevent.GreenletExit

    runner.start_worker("id", lambda: SimpleWorker(work))
    recorder.wait_for(("exited", "id", None))
    assert stop(runner) is None


def test_start_function_error_is_the_same_object(runners):  # decision 4, 9
    error = ValueError("no")
    runner = runners(all_fatal)

    def start():
        raise error

    runner.start_worker("named-worker", start)
    with pytest.raises(ValueError) as raised:
        runner.wait()
    assert raised.value is error
    assert "named-worker" in " ".join(getattr(error, "__notes__", []))


def test_start_returning_a_non_worker_is_that_workers_error(runners):  # decision 9
    runner = runners(all_fatal)
    runner.start_worker("bad-start", lambda: "not a worker")
    with pytest.raises(TypeError, match=r"'bad-start'.*does not provide IWorker"):
        runner.wait()


def test_start_returning_a_non_worker_is_restarted_when_not_fatal(runners):  # decision 9
    clock = ManualClock()
    recorder = Recorder()
    runner = runners(none_fatal, restart_delay=1, clock=clock, observers=[recorder])
    runner.start_worker("bad-start", lambda: None)
    recorder.wait_for(("restart_scheduled", "bad-start", 1))
    (exited,) = [e for e in recorder.events if e[0] == "exited"]
    assert isinstance(exited[2], TypeError)
    assert stop(runner) is None


# -- callbacks that must never wedge the runner (decisions 4, 10) -------------


def test_raising_is_fatal_makes_the_error_fatal(runners, starters, caplog):
    def is_fatal(error):
        raise RuntimeError("bug in is_fatal")

    runner = runners(is_fatal)
    starter = starters()
    runner.start_worker("id", starter)
    starter.expect(True)
    error = ValueError("worker error")
    starter.die(error)
    with pytest.raises(ValueError) as raised:
        runner.wait()
    assert raised.value is error
    assert "is_fatal raised" in caplog.text


def test_raising_more_important_keeps_the_first_error(runners, starters, caplog):
    def more_important(a, b):
        raise RuntimeError("bug in more_important")

    runner = runners(all_fatal, more_important)
    first, second = starters(), starters(stop_error=ValueError("second"))
    runner.start_worker("first", first)
    runner.start_worker("second", second)
    first.expect(True)
    second.expect(True)
    error = ValueError("first")
    first.die(error)
    with pytest.raises(ValueError) as raised:
        runner.wait()
    assert raised.value is error
    assert "more_important raised" in caplog.text


def test_failing_observer_does_not_break_the_runner(runners, starters, caplog):
    class Broken(RunnerObserver):
        def started(self, runner, id):
            raise RuntimeError("bug in observer")

    recorder = Recorder()
    runner = runners(none_fatal, observers=[Broken(), recorder])
    starter = starters()
    runner.start_worker("id", starter)
    starter.expect(True)
    recorder.wait_for(("started", "id"))
    assert stop(runner) is None
    assert "observer" in caplog.text and "bug in observer" in caplog.text


def test_observers_see_the_life_of_a_worker(runners, starters):
    clock = ManualClock()
    recorder = Recorder()
    runner = runners(lambda e: "fatal" in str(e), clock=clock, restart_delay=2)
    runner.add_observer(recorder)
    starter = starters()
    runner.start_worker("w", starter)
    starter.expect(True)
    transient = ValueError("transient")
    starter.die(transient)
    recorder.wait_for(("restart_scheduled", "w", 2))
    clock.advance(2)
    starter.expect(False)
    starter.expect(True)
    fatal = ValueError("fatal")
    starter.die(fatal)
    with pytest.raises(ValueError):
        runner.wait()
    assert recorder.events == [
        ("started", "w"),
        ("exited", "w", transient),
        ("restart_scheduled", "w", 2),
        ("started", "w"),
        ("exited", "w", fatal),
        ("fatal", "w", fatal),
    ]


def test_logs_go_to_the_worker_logger(runners, starters, caplog):
    caplog.set_level(logging.DEBUG, logger="agent_runtime.worker")
    runner = runners(lambda e: "fatal" in str(e))
    starter = starters()
    runner.start_worker("w", starter)
    starter.expect(True)
    starter.die(ValueError("oops"))
    starter.expect(False)
    starter.expect(True)
    starter.die(ValueError("fatal oops"))
    with pytest.raises(ValueError):
        runner.wait()
    messages = [(r.name, r.levelname, r.getMessage()) for r in caplog.records]
    assert ("agent_runtime.worker", "INFO", "start 'w'") in messages
    assert ("agent_runtime.worker", "ERROR", "exited 'w': oops") in messages
    assert ("agent_runtime.worker", "ERROR", "fatal 'w': fatal oops") in messages
    assert ("agent_runtime.worker", "INFO", "runner is dying") in messages


# -- the restart delay ------------------------------------------------------------


def test_restart_delay_is_read_when_the_restart_is_scheduled(runners, starters, monkeypatch):
    clock = ManualClock()
    recorder = Recorder()
    runner = runners(none_fatal, clock=clock, observers=[recorder])
    starter = starters()
    runner.start_worker("id", starter)
    starter.expect(True)
    monkeypatch.setattr(agent_runtime.worker, "RESTART_DELAY", 4.0)
    starter.die(ValueError("fail"))
    recorder.wait_for(("restart_scheduled", "id", 4.0))
    clock.advance(4)
    starter.expect(False)
    starter.expect(True)
    monkeypatch.setattr(agent_runtime.worker, "RESTART_DELAY", 9.0)
    starter.die(ValueError("fail"))
    recorder.wait_for(("restart_scheduled", "id", 9.0))
    assert stop(runner) is None


def test_restart_delay_argument_wins_over_the_module_attribute(runners, starters, monkeypatch):
    monkeypatch.setattr(agent_runtime.worker, "RESTART_DELAY", 100.0)
    clock = ManualClock()
    recorder = Recorder()
    runner = runners(none_fatal, restart_delay=0.5, clock=clock, observers=[recorder])
    starter = starters()
    runner.start_worker("id", starter)
    starter.expect(True)
    starter.die(ValueError("fail"))
    recorder.wait_for(("restart_scheduled", "id", 0.5))
    assert stop(runner) is None


# -- bad input ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad_id, error",
    [(None, TypeError), (7, TypeError), (b"id", TypeError), ("", ValueError)],
)
def test_bad_ids_are_refused_and_nothing_starts(runners, bad_id, error):
    runner = runners()
    started = []
    with pytest.raises(error):
        runner.start_worker(bad_id, lambda: started.append(1))
    assert stop(runner) is None
    assert started == []


@pytest.mark.parametrize("bad_start", [None, "start", 42])
def test_non_callable_start_is_refused(runners, bad_start):
    runner = runners()
    with pytest.raises(TypeError, match=r"'id'.*callable"):
        runner.start_worker("id", bad_start)
    assert stop(runner) is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"restart_delay": -1},
        {"stop_timeout": -1},
        {"clock": object()},
        {"observers": [object()]},
    ],
)
def test_bad_runner_arguments_are_refused(kwargs):
    with pytest.raises((TypeError, ValueError)):
        Runner(none_fatal, no_importance, **kwargs)


def test_non_callable_predicates_are_refused():
    with pytest.raises(TypeError):
        Runner(None, no_importance)
    with pytest.raises(TypeError):
        Runner(none_fatal, "x")


# -- wait() and kill() --------------------------------------------------------------


def test_wait_raises_the_same_error_every_time(runners, starters):
    runner = runners(all_fatal)
    error = ValueError("fatal")
    runner.start_worker("id", starters(start_error=error))
    raised = []
    for _ in range(3):
        with pytest.raises(ValueError) as info:
            runner.wait()
        raised.append(info.value)
    assert all(e is error for e in raised)
    # The traceback does not grow with each re-raise.
    depths = []
    for _ in range(2):
        try:
            runner.wait()
        except ValueError as e:
            tb, depth = e.__traceback__, 0
            while tb is not None:
                depth, tb = depth + 1, tb.tb_next
            depths.append(depth)
    assert depths[0] == depths[1]


def test_kill_is_idempotent_and_wait_is_shared(runners, starters):
    runner = runners()
    starter = starters()
    runner.start_worker("id", starter)
    starter.expect(True)
    waiters = [gevent.spawn(runner.wait) for _ in range(3)]
    runner.kill()
    runner.kill()
    assert gevent.joinall(waiters, timeout=LONG_WAIT, raise_error=True)
    assert all(w.successful() and w.value is None for w in waiters)
    runner.kill()
    assert check_killed(runner) is None


def test_runner_is_a_worker_of_another_runner(runners, starters):
    parent = runners(all_fatal)
    child = runners(lambda e: "fatal" in str(e))
    starter = starters()
    child.start_worker("leaf", starter)
    starter.expect(True)
    parent.start_worker("child", lambda: child)
    error = ValueError("fatal in leaf")
    starter.die(error)
    with pytest.raises(ValueError) as raised:
        parent.wait()
    assert raised.value is error
