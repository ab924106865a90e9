"""The dependency engine: installing manifolds, and how it reacts to each
way a worker stops (worker-reference §7.4), bouncing the dependents.

Every delay runs on a ManualClock: the engines of these tests wait 1 s
before a bounce and 5 s after an error, without jitter, unless a test says
otherwise.
"""

from __future__ import annotations

import logging

import pytest

from agent_runtime.worker.dependency import (
    Bounce,
    DependencyCycle,
    ErrBounce,
    ErrMissing,
    ErrUninstall,
    Manifold,
    Missing,
    ShuttingDown,
    Uninstall,
    install,
    validate,
)

from dependency_support import (
    Probe,
    delay_of_next_timer,
    running,
    settle,
    state_of,
    wait_state,
)


def test_juju_names_are_aliases():
    assert (ErrMissing, ErrBounce, ErrUninstall) == (Missing, Bounce, Uninstall)
    assert str(ShuttingDown()) == "engine is shutting down"


# -- install ------------------------------------------------------------------------


def test_install_starts_the_worker_at_once(engines):
    engine = engines()
    a = Probe("a")
    engine.install("a", a.manifold())
    assert a.expect_started().value == "a#1"
    wait_state(engine, "a", "started")


def test_install_of_an_installed_name_is_refused(engines):
    engine = engines()
    a, other = Probe("a"), Probe("other")
    running(engine, a)
    with pytest.raises(ValueError, match="'a' manifold already installed"):
        engine.install("a", other.manifold())
    assert other.calls == 0
    assert state_of(engine, "a") == "started"
    running(engine, Probe("b"))  # the engine goes on


@pytest.mark.parametrize(
    "graph, installing, cycle",
    [
        ({}, ("a", ("a",)), ["a", "a"]),
        ({"b": ("a",)}, ("a", ("b",)), ["a", "b", "a"]),
        ({"b": ("c",), "c": ("a",)}, ("a", ("b",)), ["a", "b", "c", "a"]),
        ({"b": ("c", "x"), "c": ("a",), "d": ("a",)}, ("a", ("d", "b")), ["a", "b", "c", "a"]),
    ],
)
def test_install_that_would_make_a_cycle_is_refused_naming_it(engines, graph, installing, cycle):
    engine = engines()
    for name, inputs in graph.items():
        engine.install(name, Probe(name).manifold(inputs))
    name, inputs = installing
    refused = Probe(name)
    with pytest.raises(DependencyCycle) as raised:
        engine.install(name, refused.manifold(inputs))
    assert raised.value.cycle == cycle
    assert isinstance(raised.value, ValueError)
    message = str(raised.value)
    assert message.startswith(f"cannot install {name!r}: ")
    assert " -> ".join(repr(n) for n in cycle) in message
    assert refused.calls == 0 and state_of(engine, name) is None


def test_validate_checks_a_whole_set(engines):
    start = Probe("x")
    validate({"a": Manifold(["b"], start), "b": Manifold(["z"], start)})
    with pytest.raises(DependencyCycle) as raised:
        validate({"a": Manifold(["b"], start), "b": Manifold(["a"], start)})
    assert sorted(raised.value.cycle[:-1]) == ["a", "b"]
    with pytest.raises(TypeError, match="must provide IManifold"):
        validate({"a": start})
    with pytest.raises(ValueError, match="must not be empty"):
        validate({"": Manifold([], start)})


def test_install_helper_validates_then_installs_in_order(engines):
    engine = engines()
    a, b = Probe("a"), Probe("b", reads=("a",))
    with pytest.raises(DependencyCycle):
        install(engine, {"a": a.manifold(("b",)), "b": b.manifold()})
    assert a.calls == b.calls == 0
    install(engine, {"a": a.manifold(), "b": b.manifold()})
    a.expect_started()
    wait_state(engine, "a", "started")
    wait_state(engine, "b", "started")


@pytest.mark.parametrize(
    "name, manifold, error, match",
    [
        (1, Manifold([], Probe("x")), TypeError, "a manifold name must be a str"),
        ("", Manifold([], Probe("x")), ValueError, "must not be empty"),
        ("a", Probe("x"), TypeError, "must provide IManifold"),
    ],
)
def test_install_checks_its_arguments(engines, name, manifold, error, match):
    engine = engines()
    with pytest.raises(error, match=match):
        engine.install(name, manifold)


@pytest.mark.parametrize(
    "arguments, error, match",
    [
        (("a", Probe("x")), TypeError, "inputs must be a sequence of names"),
        ((None, Probe("x")), TypeError, "inputs must be a sequence of names"),
        (([1], Probe("x")), TypeError, "an input name must be a str"),
        ((["a", "b", "a"], Probe("x")), ValueError, r"name \['a'\] more than once"),
        (([], "start"), TypeError, "start must be callable"),
        (([], Probe("x"), "out"), TypeError, "output must be callable or None"),
        (([], Probe("x"), None, 3), TypeError, "filter must be callable or None"),
    ],
)
def test_manifold_checks_its_fields(arguments, error, match):
    with pytest.raises(error, match=match):
        Manifold(*arguments)


def test_manifold_keeps_its_inputs_as_a_tuple():
    assert Manifold(["a", "b"], Probe("x")).inputs == ("a", "b")


def test_install_after_kill_is_refused(engines):
    engine = engines()
    engine.kill()
    with pytest.raises(ShuttingDown, match="engine is shutting down"):
        engine.install("a", Probe("a").manifold())
    engine.wait()
    with pytest.raises(ShuttingDown):
        engine.install("a", Probe("a").manifold())


def test_install_while_dying_of_a_fatal_error_is_refused(engines):
    from gevent.event import Event

    engine = engines(is_fatal=lambda error: isinstance(error, KeyError))
    a, slow = Probe("a"), Probe("slow")
    slow.stop_wait = Event()
    running(engine, a, slow)
    a.current.die(KeyError("fatal"))
    wait_state(engine, "slow", "stopping")  # the engine is dying, held up by slow
    late = Probe("late")
    with pytest.raises(ShuttingDown):
        engine.install("late", late.manifold())
    assert late.calls == 0
    slow.stop_wait.set()
    with pytest.raises(KeyError):
        engine.wait()


def test_an_input_may_be_installed_after_its_dependent(engines, clock):
    engine = engines()
    b = Probe("b", reads=("a",))
    engine.install("b", b.manifold())
    assert "'a' is not running" in str(b.expect_failed())
    a = Probe("a")
    running(engine, a)
    clock.wait_for_timers(1)
    assert delay_of_next_timer(clock) == 1.0  # the bounce delay
    clock.advance(1)
    assert b.expect_started().seen == {"a": "a#1"}


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


# -- fatal errors -------------------------------------------------------------------


class Fatal(Exception):
    def __init__(self, rank: int) -> None:
        super().__init__(f"fatal rank {rank}")
        self.rank = rank


def is_fatal(error: BaseException) -> bool:
    return isinstance(error, Fatal)


def higher_rank(error: BaseException, worst: BaseException) -> BaseException:
    return error if error.rank > worst.rank else worst


@pytest.mark.parametrize("first, second, raised", [(1, 2, 2), (2, 1, 2)])
def test_fatal_error_stops_the_engine_and_wait_raises_the_worst(engines, first, second, raised):
    engine = engines(is_fatal=is_fatal, worst_error=higher_rank)
    a, b, c = Probe("a"), Probe("b"), Probe("c")
    b.stop_error = Fatal(second)  # b fails fatally too, as it is stopped
    c.stop_error = ValueError("not fatal, and the engine is dying: ignored")
    running(engine, a, b, c)
    a.current.die(Fatal(first))
    with pytest.raises(Fatal) as caught:
        engine.wait()
    assert caught.value.rank == raised
    assert all(p.current.stopped for p in (a, b, c))
    report = engine.report()
    assert report["state"] == "stopped" and report["error"] == repr(caught.value)
    assert report["manifolds"]["b"]["error"] == repr(b.stop_error)


def test_engine_filter_translates_the_worst_error(engines):
    translated = RuntimeError("translated")
    engine = engines(is_fatal=is_fatal, filter=lambda error: translated)
    a = Probe("a")
    running(engine, a)
    a.current.die(Fatal(1))
    with pytest.raises(RuntimeError) as caught:
        engine.wait()
    assert caught.value is translated
    with pytest.raises(RuntimeError) as again:
        engine.wait()
    assert again.value is translated


def test_engine_filter_may_make_the_stop_clean(engines):
    seen = []
    engine = engines(is_fatal=is_fatal, filter=lambda error: seen.append(error))
    a = Probe("a")
    running(engine, a)
    a.current.die(Fatal(1))
    assert engine.wait() is None
    assert [type(e) for e in seen] == [Fatal]


def test_engine_filter_is_not_called_for_a_clean_stop(engines):
    seen = []
    engine = engines(filter=seen.append)
    running(engine, Probe("a"))
    engine.kill()
    assert engine.wait() is None and seen == []


def test_signals_are_never_fatal(engines, clock):
    asked = []

    def everything_fatal(error):
        asked.append(error)
        return True

    engine = engines(is_fatal=everything_fatal)
    a = Probe("a")
    running(engine, a)
    a.current.die(Bounce())
    clock.wait_for_timers(1)
    assert asked == [] and state_of(engine, "a") == "waiting to start"


def test_is_fatal_that_raises_makes_the_error_fatal(engines, caplog):
    def broken(error):
        raise ZeroDivisionError("bug in is_fatal")

    engine = engines(is_fatal=broken)
    a = Probe("a")
    running(engine, a)
    a.current.die(ValueError("x"))
    with pytest.raises(ValueError, match="x"):
        engine.wait()
    assert "is_fatal raised" in caplog.text


def test_worst_error_that_raises_keeps_the_earlier(engines, caplog):
    def broken(error, worst):
        raise ZeroDivisionError("bug in worst_error")

    engine = engines(is_fatal=is_fatal, worst_error=broken)
    a, b = Probe("a"), Probe("b")
    b.stop_error = Fatal(9)
    running(engine, a, b)
    a.current.die(Fatal(1))
    with pytest.raises(Fatal) as caught:
        engine.wait()
    assert caught.value.rank == 1
    assert "worst_error raised" in caplog.text


# -- the manifold's filter ----------------------------------------------------------


def test_manifold_filter_can_turn_an_error_into_a_bounce(engines, clock):
    engine = engines()
    a = Probe("a")
    seen = []

    def bounce_value_errors(error):
        seen.append(error)
        return Bounce() if isinstance(error, ValueError) else error

    engine.install("a", a.manifold(filter=bounce_value_errors))
    a.expect_started()
    a.current.die(ValueError("config changed"))
    clock.wait_for_timers(1)
    assert delay_of_next_timer(clock) == 1.0  # the bounce delay, not the error delay
    assert engine.report()["manifolds"]["a"]["recent-errors"] == 0
    assert [type(e) for e in seen] == [ValueError]


def test_manifold_filter_can_uninstall_and_is_not_called_for_a_clean_stop(engines, clock):
    engine = engines()
    a, b = Probe("a"), Probe("b")
    seen = []

    def filter(error):
        seen.append(error)
        return Uninstall()

    engine.install("a", a.manifold(filter=filter))
    engine.install("b", b.manifold(filter=filter))
    a.expect_started()
    b.expect_started()
    a.current.die(LookupError("gone"))
    wait_state(engine, "a", None)
    b.current.die(None)
    wait_state(engine, "b", "stopped")
    assert [type(e) for e in seen] == [LookupError]


def test_manifold_filter_that_raises_gives_its_own_error(engines, clock, caplog):
    engine = engines()
    a = Probe("a")

    def broken(error):
        raise KeyError("bug in filter")

    engine.install("a", a.manifold(filter=broken))
    a.expect_started()
    a.current.die(ValueError("x"))
    clock.wait_for_timers(1)
    assert engine.report()["manifolds"]["a"]["error"] == "KeyError('bug in filter')"
    assert "the filter of 'a' raised" in caplog.text
