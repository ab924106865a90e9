"""The dependency engine's fatal errors (worst-error selection, the engine's
filter, bugs of its callbacks) and the manifolds' filters."""

from __future__ import annotations

import pytest

from agent_runtime.worker.dependency import (
    Bounce,
    Uninstall,
)

from dependency_support import (
    Probe,
    delay_of_next_timer,
    running,
    state_of,
    wait_state,
)

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
