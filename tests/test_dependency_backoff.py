"""The engine's restart delays: exponential backoff of consecutive failures,
its reset, the ±10% jitter, and that an aborted start costs nothing
(worker-reference §7.2, "Engine backoff"). All on a ManualClock."""

from __future__ import annotations

import random

import pytest

from agent_runtime.worker.dependency import Bounce, Engine, EngineConfig

from dependency_support import (
    FixedRandom,
    Probe,
    delay_of_next_timer,
    first_is_worst,
    never_fatal,
    running,
    settle,
    wait_state,
)


def fail_and_measure(engine, clock, probe: Probe) -> float:
    """Let the probe's next start fail (its start_error is set), and return
    the delay of the restart the engine schedules; then let that time pass."""
    probe.expect_failed()
    clock.wait_for_timers(1)
    settle(engine, probe.name)
    delay = delay_of_next_timer(clock)
    clock.advance(delay)
    return delay


def test_consecutive_failures_back_off_exponentially_up_to_max_delay(engines, clock):
    engine = engines(error_delay=1, backoff_factor=2, max_delay=10)
    a = Probe("a")
    a.start_error = OSError("no disk")
    engine.install("a", a.manifold())
    delays = [fail_and_measure(engine, clock, a) for _ in range(6)]
    assert delays == [1, 2, 4, 8, 10, 10]
    assert engine.report()["manifolds"]["a"]["recent-errors"] == 6


def test_backoff_factor_zero_or_one_keeps_the_delay(engines, clock):
    for factor in (0, 1):
        engine = engines(error_delay=1.5, backoff_factor=factor)
        a = Probe(f"a{factor}")
        a.start_error = OSError("no disk")
        engine.install(a.name, a.manifold())
        assert [fail_and_measure(engine, clock, a) for _ in range(4)] == [1.5] * 4
        engine.kill()
        engine.wait()


def test_an_error_soon_after_a_start_counts_towards_the_backoff(engines, clock):
    engine = engines(error_delay=1, backoff_factor=2, backoff_reset_time=60)
    a = Probe("a")
    engine.install("a", a.manifold())
    for expected in (1, 2, 4):
        a.expect_started()
        wait_state(engine, "a", "started")
        clock.advance(59.9)  # ran, but not long enough to be forgiven
        a.current.die(ValueError("crashed"))
        clock.wait_for_timers(1)
        assert delay_of_next_timer(clock) == expected
        clock.advance(expected)


def test_a_worker_that_ran_backoff_reset_time_starts_the_count_again(engines, clock):
    engine = engines(error_delay=1, backoff_factor=2, backoff_reset_time=60)
    a = Probe("a")
    running(engine, a)
    a.current.die(ValueError("crashed"))  # 1
    clock.wait_for_timers(1)
    clock.advance(1)
    a.expect_started()
    wait_state(engine, "a", "started")
    a.current.die(ValueError("crashed"))  # 2
    clock.wait_for_timers(1)
    assert delay_of_next_timer(clock) == 2
    clock.advance(2)
    a.expect_started()
    wait_state(engine, "a", "started")
    clock.advance(60)  # long enough: forgiven
    a.current.die(ValueError("crashed"))
    clock.wait_for_timers(1)
    assert delay_of_next_timer(clock) == 1
    assert engine.report()["manifolds"]["a"]["recent-errors"] == 1


def test_a_bounce_after_a_long_run_also_forgives_earlier_failures(engines, clock):
    engine = engines(error_delay=1, backoff_factor=2, backoff_reset_time=60, bounce_delay=0)
    a = Probe("a")
    running(engine, a)
    a.current.die(ValueError("crashed"))
    clock.wait_for_timers(1)
    clock.advance(1)
    a.expect_started()
    wait_state(engine, "a", "started")
    clock.advance(61)
    a.current.die(Bounce())  # a long, healthy run, ended by a bounce
    a.expect_started()
    wait_state(engine, "a", "started")
    a.current.die(ValueError("crashed"))  # at once: the first failure of a new run
    clock.wait_for_timers(1)
    assert delay_of_next_timer(clock) == 1


def test_an_aborted_start_is_not_penalised(engines, clock):
    engine = engines(error_delay=10, backoff_factor=2, bounce_delay=1)
    b = Probe("b")
    b.start_error = OSError("broken")
    engine.install("b", b.manifold(("a",)))
    b.expect_failed()
    clock.wait_for_timers(1)
    assert delay_of_next_timer(clock) == 10  # failure 1
    # While b waits out its delay, its input a starts: the delayed start is
    # aborted and b starts again after the bounce delay instead.
    a = Probe("a")
    engine.install("a", a.manifold())
    a.expect_started()
    wait_state(engine, "b", "waiting to start")
    settle(engine, "a")
    assert clock.pending_timers() == 1 and delay_of_next_timer(clock) == 1
    clock.advance(1)
    b.expect_failed()
    clock.wait_for_timers(1)
    settle(engine, "b")
    assert delay_of_next_timer(clock) == 20  # failure 2, not 3
    assert b.calls == 2
    assert engine.report()["manifolds"]["b"]["recent-errors"] == 2


@pytest.mark.parametrize("fraction, factor", [(0.0, 0.9), (1.0, 1.1)])
def test_jitter_is_ten_percent_either_way(engines, clock, fraction, factor):
    engine = engines(error_delay=10, bounce_delay=2, random=FixedRandom(fraction))
    a, b = Probe("a"), Probe("b")
    engine.install("a", a.manifold())
    engine.install("b", b.manifold())
    a.expect_started()
    b.expect_started()
    wait_state(engine, "a", "started")
    a.current.die(ValueError("crashed"))
    clock.wait_for_timers(1)
    assert delay_of_next_timer(clock) == pytest.approx(10 * factor)
    wait_state(engine, "b", "started")
    b.current.die(Bounce())
    clock.wait_for_timers(2)
    assert delay_of_next_timer(clock) == pytest.approx(2 * factor)


def test_jitter_with_a_seeded_random_stays_within_its_bounds(engines, clock):
    engine = engines(error_delay=4, random=random.Random(1234))
    a = Probe("a")
    a.start_error = OSError("broken")
    engine.install("a", a.manifold())
    delays = [fail_and_measure(engine, clock, a) for _ in range(20)]
    assert all(3.6 <= d <= 4.4 for d in delays)
    assert len(set(delays)) > 1  # it does spread them
    expected_source = random.Random(1234)
    assert delays == pytest.approx([4 * (1 + expected_source.uniform(-0.1, 0.1)) for _ in delays])


def test_the_delay_never_overflows(engines, clock):
    # juju's engine overflowed after about 120 failures and restarted at once.
    engine = engines(error_delay=1, backoff_factor=10, max_delay=30)
    a = Probe("a")
    a.start_error = OSError("disk full")
    engine.install("a", a.manifold())
    delays = [fail_and_measure(engine, clock, a) for _ in range(400)]
    assert delays[:3] == [1, 10, 30] and set(delays[2:]) == {30}
    assert engine.report()["manifolds"]["a"]["recent-errors"] == 400


@pytest.mark.parametrize(
    "settings, error, match",
    [
        ({"is_fatal": None}, TypeError, "is_fatal must be callable"),
        ({"worst_error": 1}, TypeError, "worst_error must be callable"),
        ({"filter": "x"}, TypeError, "filter must be callable or None"),
        ({"error_delay": -1}, ValueError, "error_delay must be >= 0 seconds"),
        ({"error_delay": float("nan")}, ValueError, "error_delay must be >= 0"),
        ({"error_delay": "3"}, TypeError, "error_delay must be a number of seconds"),
        ({"bounce_delay": -0.1}, ValueError, "bounce_delay must be >= 0"),
        ({"backoff_reset_time": float("inf")}, ValueError, "backoff_reset_time must be"),
        ({"max_delay": 2, "error_delay": 3}, ValueError, r"max_delay \(2 s\) must be at least"),
        ({"max_delay": 2, "bounce_delay": 3, "error_delay": 1}, ValueError, "bounce_delay"),
        ({"backoff_factor": 0.5}, ValueError, "backoff_factor must be 0 .no backoff. or >= 1"),
        ({"backoff_factor": True}, TypeError, "backoff_factor must be a number"),
        ({"stop_timeout": -1}, ValueError, "stop_timeout"),
        ({"clock": object()}, TypeError, "clock must provide IClock"),
        ({"random": 4}, TypeError, "random must be a random.Random or None"),
    ],
)
def test_settings_are_checked_before_anything_starts(settings, error, match):
    arguments = {"is_fatal": never_fatal, "worst_error": first_is_worst, **settings}
    with pytest.raises(error, match=match):
        Engine(**arguments)
    with pytest.raises(error, match=match):
        EngineConfig(**arguments)


def test_settings_accept_the_edges(clock):
    for settings in (
        {"error_delay": 0, "bounce_delay": 0, "max_delay": 0, "backoff_reset_time": 0},
        {"backoff_factor": 1, "stop_timeout": None},
        {"backoff_factor": 0, "stop_timeout": 0},
    ):
        engine = Engine(never_fatal, first_is_worst, clock=clock, **settings)
        engine.kill()
        assert engine.wait() is None
