"""The dependency engine: how it reacts to each way a worker stops
(worker-reference §7.4), and how it bounces the dependents.

Every delay runs on a ManualClock: the engines of these tests wait 1 s
before a bounce and 5 s after an error, without jitter, unless a test says
otherwise.
"""

from __future__ import annotations

import logging

from agent_runtime.worker.dependency import (
    Bounce,
    Manifold,
    Missing,
    Uninstall,
)

from dependency_support import (
    Probe,
    delay_of_next_timer,
    running,
    settle,
    state_of,
    wait_state,
)

# -- how the engine reacts to a stop, row by row -----------------------------------


def test_stopped_by_the_engine_restarts_after_the_bounce_delay_whatever_its_error(
    engines, clock, caplog
):
    engine = engines()
    a, b = Probe("a"), Probe("b", reads=("a",))
    b.stop_error = ValueError("stopping went badly")
    running(engine, a, b)
    a.current.die(OSError("crash"))  # a restarts in 5 s; b is stopped by the engine
    clock.wait_for_timers(2)
    settle(engine, "b")
    assert state_of(engine, "b") == "waiting to start"
    assert delay_of_next_timer(clock) == 1.0  # b's, although b stopped with an error
    report = engine.report()["manifolds"]["b"]
    assert report["error"] == "ValueError('stopping went badly')"
    assert report["recent-errors"] == 0  # not counted as a failure...
    assert "stopping went badly" not in caplog.text  # ...nor logged as one
    clock.advance(1)
    assert "'a' is not running" in str(b.expect_failed())
    wait_state(engine, "b", "stopped")
    clock.advance(4)
    assert a.expect_started().value == "a#2"
    clock.wait_for_timers(1)
    clock.advance(1)
    assert b.expect_started().seen == {"a": "a#2"}


def test_clean_stop_stays_stopped_until_an_input_changes(engines, clock):
    engine = engines()
    a, b = Probe("a"), Probe("b", reads=("a",))
    running(engine, a)
    engine.install("b", b.manifold(("a", "c")))
    b.expect_started()
    b.current.die(None)
    wait_state(engine, "b", "stopped")
    assert clock.pending_timers() == 0
    b.expect_no_attempt()
    running(engine, Probe("c"))  # b's input c starts: b starts after the bounce delay
    clock.wait_for_timers(1)
    assert delay_of_next_timer(clock) == 1.0
    clock.advance(1)
    assert b.expect_started().value == "b#2"


def test_missing_stays_stopped_until_an_input_changes(engines, clock):
    engine = engines()
    b = Probe("b", reads=("a",))
    engine.install("b", b.manifold())
    assert isinstance(b.expect_failed(), Missing)
    wait_state(engine, "b", "stopped")
    assert clock.pending_timers() == 0
    report = engine.report()["manifolds"]["b"]
    assert report["recent-errors"] == 0 and "not running" in report["error"]
    a = Probe("a")
    running(engine, a)
    clock.wait_for_timers(1)
    clock.advance(1)
    assert b.expect_started().seen == {"a": "a#1"}


def test_missing_raised_by_a_running_worker_stays_stopped(engines, clock):
    engine = engines()
    a = Probe("a")
    running(engine, a)
    a.current.die(Missing("lost my connection"))
    wait_state(engine, "a", "stopped")
    assert clock.pending_timers() == 0
    a.expect_no_attempt()


def test_bounce_restarts_after_the_bounce_delay_without_counting_a_failure(engines, clock):
    engine = engines()
    a, b = Probe("a"), Probe("b")
    running(engine, a, b)
    b.current.die(Bounce("new settings"))
    clock.wait_for_timers(1)
    assert delay_of_next_timer(clock) == 1.0
    wait_state(engine, "b", "waiting to start")
    clock.advance(1)
    assert b.expect_started().value == "b#2"
    assert engine.report()["manifolds"]["b"]["recent-errors"] == 0
    assert len(a.workers) == 1  # others are left alone


def test_uninstall_removes_the_manifold_for_good(engines, clock):
    engine = engines()
    x, y = Probe("x"), Probe("y", reads=("x",))
    running(engine, x, y)
    x.current.die(Uninstall())
    wait_state(engine, "x", None)
    assert "x" not in engine.report()["manifolds"]
    # Its dependent is bounced, and then misses it.
    clock.wait_for_timers(1)
    clock.advance(1)
    assert "'x' is not running" in str(y.expect_failed())
    wait_state(engine, "y", "stopped")
    assert clock.pending_timers() == 0
    x.expect_no_attempt()
    # The name is free again.
    again = Probe("x")
    running(engine, again)
    clock.wait_for_timers(1)
    clock.advance(1)
    assert y.expect_started().seen == {"x": "x#1"}  # again's first worker


def test_uninstall_of_a_dependent_forgets_its_edges(engines, clock):
    engine = engines()
    a, b = Probe("a"), Probe("b", reads=("a",))
    running(engine, a, b)
    b.current.die(Uninstall())
    wait_state(engine, "b", None)
    a.current.die(Bounce())  # nobody depends on a any more
    clock.wait_for_timers(1)
    clock.advance(1)
    a.expect_started()
    settle(engine, "a")
    assert clock.pending_timers() == 0
    b.expect_no_attempt()


def test_other_error_is_logged_and_restarted_after_the_error_delay(engines, clock, caplog):
    engine = engines()
    a = Probe("a")
    running(engine, a)
    with caplog.at_level(logging.INFO, logger="agent_runtime.worker.dependency"):
        a.current.die(ValueError("disk full"))
        clock.wait_for_timers(1)
    assert delay_of_next_timer(clock) == 5.0
    [record] = [r for r in caplog.records if "disk full" in r.getMessage()]
    assert record.levelno == logging.ERROR and "'a' failed" in record.getMessage()
    report = engine.report()["manifolds"]["a"]
    assert report["state"] == "waiting to start"
    assert report["error"] == "ValueError('disk full')" and report["recent-errors"] == 1
    clock.advance(4.999)
    a.expect_no_attempt()
    clock.advance(0.001)
    assert a.expect_started().value == "a#2"


def test_error_saying_try_again_is_logged_at_info(engines, clock, caplog):
    engine = engines()
    a = Probe("a")
    running(engine, a)
    with caplog.at_level(logging.INFO, logger="agent_runtime.worker.dependency"):
        a.current.die(ConnectionError("not ready, try again later"))
        clock.wait_for_timers(1)
    [record] = [r for r in caplog.records if "try again" in r.getMessage()]
    assert record.levelno == logging.INFO
    assert delay_of_next_timer(clock) == 5.0


def test_start_error_is_an_error_like_any_other(engines, clock):
    engine = engines()
    a = Probe("a")
    a.start_error = OSError("no socket")
    engine.install("a", a.manifold())
    error = a.expect_failed()
    clock.wait_for_timers(1)
    assert delay_of_next_timer(clock) == 5.0
    assert "raised by the start function of manifold 'a'" in getattr(error, "__notes__", [])
    a.start_error = None
    clock.advance(5)
    a.expect_started()


def test_start_returning_something_else_than_a_worker_fails(engines, clock):
    engine = engines()
    engine.install("a", Manifold([], lambda context: "not a worker"))
    clock.wait_for_timers(1)
    error = engine.report()["manifolds"]["a"]["error"]
    assert "returned 'not a worker', which does not provide IWorker" in error


# -- bouncing dependents -----------------------------------------------------------


def test_dependents_are_bounced_when_an_input_starts_and_stops(engines, clock):
    engine = engines(error_delay=30)
    a, b, c = Probe("a"), Probe("b", reads=("a",)), Probe("c")
    running(engine, a, b, c)
    a.current.die(ValueError("crash"))  # a stops: b is stopped and restarted
    clock.wait_for_timers(2)
    settle(engine, "b")
    assert delay_of_next_timer(clock) == 1.0  # b's bounce, before a's restart at 30
    clock.advance(1)
    assert isinstance(b.expect_failed(), Missing)  # a is not running
    wait_state(engine, "b", "stopped")
    clock.advance(29)  # a starts again: b, stopped, is started
    a.expect_started()
    clock.wait_for_timers(1)
    assert delay_of_next_timer(clock) == 1.0
    clock.advance(1)
    assert b.expect_started().seen == {"a": "a#2"}
    assert len(c.workers) == 1  # c does not need a


def test_an_input_that_stops_without_having_started_bounces_nobody(engines, clock):
    engine = engines()
    b = Probe("b", reads=("a",))
    engine.install("b", b.manifold())
    b.expect_failed()
    wait_state(engine, "b", "stopped")
    a = Probe("a")
    a.start_error = ValueError("cannot start")
    engine.install("a", a.manifold())
    a.expect_failed()
    clock.wait_for_timers(1)
    settle(engine, "a")
    assert clock.pending_timers() == 1  # a's own restart only
    b.expect_no_attempt()


def test_bounces_travel_down_a_chain(engines, clock):
    engine = engines(bounce_delay=0)
    a = Probe("a")
    b = Probe("b", reads=("a",))
    c = Probe("c", reads=("b",))
    running(engine, a, b, c)
    a.current.die(Bounce())
    assert a.expect_started().value == "a#2"
    # b and c are restarted, possibly after a start that missed their input.
    wait_for_seen(b, {"a": "a#2"})
    wait_for_seen(c, {"b": b.workers[-1].value})
    settle(engine, "a", "b", "c")
    assert [state_of(engine, n) for n in "abc"] == ["started"] * 3
    assert c.current.seen == {"b": b.current.value}


def wait_for_seen(probe: Probe, seen: dict) -> None:
    """Skip the probe's start attempts until one started and saw ``seen``."""
    while True:
        kind, value = probe._next(10)
        if kind == "started" and value.seen == seen:
            return


def test_a_worker_never_runs_twice_at_once(engines, clock):
    engine = engines(bounce_delay=0)
    a, b = Probe("a"), Probe("b", reads=("a",))
    running(engine, a, b)
    for _ in range(5):
        a.current.die(Bounce())
        a.expect_started()
        wait_for_seen(b, {"a": a.current.value})
    alive = [w for w in b.workers if not w.stopped]
    assert alive == [b.current]
