"""Restart policies of the Runner: backoff, jitter, forgetting failures after
a quiet run, should_restart, restart intensity, and their validation.

Every delay runs on a ManualClock: the delays are checked exactly, and no
test waits for real time to pass.
"""

from __future__ import annotations

import logging
import math
import random
from collections import Counter

import gevent
import pytest
from gevent.event import Event
from hypothesis import given
from hypothesis import strategies as st
from runner_support import Recorder
from zope.interface import implementer
from zope.interface.verify import verifyObject

import agent_runtime.worker
from agent_runtime import RestartIntensityExceeded, stop
from agent_runtime.interfaces import IRestartPolicy
from agent_runtime.testing import ManualClock, check_killed
from agent_runtime.worker import Backoff, RestartPolicy, SimpleWorker
from agent_runtime.worker.policy import DEFAULT_POLICY
from agent_runtime.worker.record import Record

from starters import LONG_WAIT, none_fatal


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def next_delay(clock: ManualClock, recorder: Recorder, count: int) -> float:
    """Wait for the ``count``-th scheduled restart and return its delay, after
    checking that the clock holds a timer for exactly that long."""
    recorder.wait("restart_scheduled", count)
    delay = recorder.delays()[count - 1]
    if delay > 0:
        clock.wait_for_timers(1)
        assert clock.next_deadline() == pytest.approx(clock.now() + delay)
    return delay


def crash_loop(clock, recorder, starter, restarts: int) -> list[float]:
    """Let a worker whose start function fails restart ``restarts`` times."""
    delays = []
    for count in range(1, restarts + 1):
        starter.expect(False)
        delays.append(next_delay(clock, recorder, count))
        clock.advance(delays[-1])
    return delays


# -- backoff and jitter ------------------------------------------------------------------


def test_without_a_policy_every_restart_waits_the_restart_delay(runners, starters, clock, recorder):
    runner = runners(none_fatal, restart_delay=2, clock=clock, observers=[recorder])
    starter = starters(start_error=ValueError("down"))
    runner.start_worker("w", starter)
    assert crash_loop(clock, recorder, starter, 8) == [2] * 8


def test_restart_delay_is_read_at_each_restart_without_a_policy(
    runners, starters, clock, recorder, monkeypatch
):
    monkeypatch.setattr(agent_runtime.worker, "RESTART_DELAY", 4.0)
    runner = runners(none_fatal, clock=clock, observers=[recorder])
    starter = starters(start_error=ValueError("down"))
    runner.start_worker("w", starter, RestartPolicy(reset_after=None))
    starter.expect(False)
    assert next_delay(clock, recorder, 1) == 4.0
    monkeypatch.setattr(agent_runtime.worker, "RESTART_DELAY", 0.5)
    clock.advance(4)
    starter.expect(False)
    assert next_delay(clock, recorder, 2) == 0.5


def test_backoff_delays_are_exact(runners, starters, clock, recorder):
    runner = runners(none_fatal, restart_delay=100, clock=clock, observers=[recorder])
    starter = starters(start_error=ValueError("down"))
    policy = RestartPolicy(backoff=Backoff(initial=1, factor=2, max_delay=10))
    runner.start_worker("w", starter, policy)
    assert crash_loop(clock, recorder, starter, 7) == [1, 2, 4, 8, 10, 10, 10]


def test_jitter_stays_within_bounds_and_follows_the_seeded_random(
    runners, starters, clock, recorder
):
    runner = runners(none_fatal, clock=clock, observers=[recorder])
    starter = starters(start_error=ValueError("down"))
    backoff = Backoff(initial=1, factor=2, max_delay=8, jitter=0.25)
    runner.start_worker("w", starter, RestartPolicy(backoff=backoff, random=random.Random(7)))
    delays = crash_loop(clock, recorder, starter, 12)
    twin = random.Random(7)
    bases = [1, 2, 4, 8, 8, 8, 8, 8, 8, 8, 8, 8]
    assert delays == [base * (1 + twin.uniform(-0.25, 0.25)) for base in bases]
    for delay, base in zip(delays, bases, strict=True):
        assert base * 0.75 <= delay <= base * 1.25
    assert len(set(delays[3:])) > 1  # jittered, not constant


def test_the_runners_default_policy_applies_to_ids_started_without_one(
    runners, starters, clock, recorder
):
    default = RestartPolicy(backoff=Backoff(initial=3, factor=3, max_delay=100))
    runner = runners(none_fatal, restart_delay=1, clock=clock, observers=[recorder], policy=default)
    plain = starters(start_error=ValueError("down"))
    runner.start_worker("plain", plain)
    assert crash_loop(clock, recorder, plain, 3) == [3, 9, 27]
    stop(runner)


def test_each_id_keeps_its_own_policy_and_count(runners, starters, clock, recorder):
    runner = runners(none_fatal, restart_delay=5, clock=clock, observers=[recorder])
    fast, slow = starters(), starters()
    runner.start_worker("fast", fast)  # the runner's plain restart delay
    runner.start_worker("slow", slow, RestartPolicy(backoff=Backoff(1, 10, 1000)))
    fast.expect(True)
    slow.expect(True)
    for count, error in enumerate(["a", "b"], 1):
        slow.die(ValueError(error))
        slow.expect(False)
        clock.wait_for_timers(1)
        clock.advance(next_delay(clock, recorder, 2 * count - 1))
        slow.expect(True)
        fast.die(ValueError(error))
        fast.expect(False)
        clock.wait_for_timers(1)
        clock.advance(next_delay(clock, recorder, 2 * count))
        fast.expect(True)
    assert recorder.of("restart_scheduled") == [
        ("slow", 1),
        ("fast", 5),
        ("slow", 10),
        ("fast", 5),
    ]


# -- forgetting failures after a quiet run ------------------------------------------------


def test_failures_are_forgotten_after_a_quiet_run(runners, starters, clock, recorder):
    runner = runners(none_fatal, clock=clock, observers=[recorder])
    starter = starters(start_error=ValueError("down"))
    policy = RestartPolicy(backoff=Backoff(initial=1, factor=2, max_delay=60), reset_after=30)
    runner.start_worker("w", starter, policy)
    assert crash_loop(clock, recorder, starter, 2) == [1, 2]
    starter.expect(False)
    assert next_delay(clock, recorder, 3) == 4
    starter.start_error = None
    clock.advance(4)
    recorder.wait("started", 1)
    starter.expect(True)

    clock.advance(29.5)  # not quiet for long enough
    assert runner.report()["workers"]["w"]["consecutive-failures"] == 3
    starter.die(ValueError("again"))
    starter.expect(False)
    assert next_delay(clock, recorder, 4) == 8
    clock.advance(8)
    recorder.wait("started", 2)
    starter.expect(True)

    clock.advance(30)  # quiet for reset_after: the failures before are forgotten
    assert runner.report()["workers"]["w"]["consecutive-failures"] == 0
    starter.die(ValueError("after a quiet run"))
    starter.expect(False)
    assert next_delay(clock, recorder, 5) == 1
    assert runner.report()["workers"]["w"]["consecutive-failures"] == 1


def test_without_reset_after_failures_are_never_forgotten(runners, starters, clock, recorder):
    runner = runners(none_fatal, clock=clock, observers=[recorder])
    starter = starters()
    policy = RestartPolicy(backoff=Backoff(initial=1, factor=2, max_delay=60), reset_after=None)
    runner.start_worker("w", starter, policy)
    for count in range(1, 5):
        recorder.wait("started", count)
        starter.expect(True)
        clock.advance(10_000)
        starter.die(ValueError("down"))
        starter.expect(False)
        clock.advance(next_delay(clock, recorder, count))
    assert recorder.delays() == [1, 2, 4, 8]


# -- should_restart -----------------------------------------------------------------------


class Gone(Exception):
    """An error after which the worker has nothing left to do."""


def test_should_restart_false_removes_the_worker(runners, starters, clock, recorder):
    runner = runners(none_fatal, restart_delay=1, clock=clock, observers=[recorder])
    seen = []

    def should_restart(error):
        seen.append(error)
        return not isinstance(error, Gone)

    starter, other = starters(), starters()
    runner.start_worker("w", starter, RestartPolicy(should_restart=should_restart))
    runner.start_worker("other", other)
    starter.expect(True)
    other.expect(True)
    starter.die(ValueError("transient"))
    starter.expect(False)
    clock.advance(next_delay(clock, recorder, 1))
    starter.expect(True)
    gone = Gone("nothing left to do")
    starter.die(gone)
    starter.expect(False)
    recorder.wait("gave_up")
    assert recorder.of("gave_up") == [("w", gone)]
    assert seen[-1] is gone
    report = runner.report()
    assert report["state"] == "started" and set(report["workers"]) == {"other"}
    assert len(recorder.of("restart_scheduled")) == 1
    assert recorder.of("fatal") == []
    runner.start_worker("w", starter)  # forgotten: the id may be started again
    starter.expect(True)
    assert stop(runner) is None


def test_is_fatal_is_asked_before_should_restart(runners, starters, recorder):
    asked = []
    runner = runners(lambda error: isinstance(error, Gone), observers=[recorder])
    starter = starters()
    runner.start_worker("w", starter, RestartPolicy(should_restart=asked.append))
    starter.expect(True)
    gone = Gone("fatal first")
    starter.die(gone)
    assert check_killed(runner) is gone
    assert asked == [] and recorder.of("gave_up") == []
    assert recorder.of("fatal") == [("w", gone)]


def test_a_should_restart_that_raises_makes_the_error_fatal(runners, starters, caplog):
    def broken(error):
        raise RuntimeError("bug in the policy")

    runner = runners(none_fatal)
    starter = starters()
    runner.start_worker("w", starter, RestartPolicy(should_restart=broken))
    starter.expect(True)
    error = ValueError("down")
    starter.die(error)
    assert check_killed(runner) is error
    assert "restart policy" in caplog.text and "bug in the policy" in caplog.text


# -- restart intensity ----------------------------------------------------------------------


def test_intensity_trips_at_exactly_the_restart_past_the_limit(runners, starters, clock, recorder):
    runner = runners(none_fatal, restart_delay=1, clock=clock, observers=[recorder])
    error = ValueError("down")
    starter = starters(start_error=error)
    runner.start_worker("flaky", starter, RestartPolicy(max_restarts=3, period=10))
    assert crash_loop(clock, recorder, starter, 3) == [1, 1, 1]
    assert runner.report()["state"] == "started"  # 3 restarts within 10 s: allowed
    starter.expect(False)  # the 4th failure, 3 s after the first
    with gevent.Timeout(LONG_WAIT), pytest.raises(RestartIntensityExceeded) as raised:
        runner.wait()
    exceeded = raised.value
    assert (exceeded.id, exceeded.max_restarts, exceeded.period) == ("flaky", 3, 10)
    assert exceeded.error is error and exceeded.__cause__ is error
    assert str(exceeded) == (
        "worker 'flaky' failed too often: restarting it again would make more than "
        "3 restarts within 10 s; its last error: ValueError('down')"
    )
    assert recorder.of("fatal") == [("flaky", exceeded)]
    assert len(recorder.of("restart_scheduled")) == 3
    assert starter.starts == 4


@pytest.mark.parametrize(
    ("delay", "max_restarts", "period", "restarts"),
    [
        (6, 2, 10, 12),  # a failure every 6 s: never more than 2 restarts within 10 s
        (5, 1, 5, 4),  # a restart exactly one period ago no longer counts
    ],
)
def test_restarts_spread_over_more_than_the_period_never_trip(
    runners, starters, clock, recorder, delay, max_restarts, period, restarts
):
    runner = runners(none_fatal, restart_delay=delay, clock=clock, observers=[recorder])
    starter = starters(start_error=ValueError("down"))
    runner.start_worker("w", starter, RestartPolicy(max_restarts=max_restarts, period=period))
    assert crash_loop(clock, recorder, starter, restarts) == [delay] * restarts
    assert runner.report()["state"] == "started"


def test_a_restart_just_within_the_period_counts(runners, starters, clock, recorder):
    runner = runners(none_fatal, restart_delay=4.999, clock=clock, observers=[recorder])
    starter = starters(start_error=ValueError("down"))
    runner.start_worker("w", starter, RestartPolicy(max_restarts=1, period=5))
    crash_loop(clock, recorder, starter, 1)
    starter.expect(False)
    assert isinstance(check_killed(runner), RestartIntensityExceeded)


def test_max_restarts_0_makes_the_first_failure_fatal(runners, starters):
    runner = runners(none_fatal)
    starter = starters(start_error=ValueError("down"))
    runner.start_worker("w", starter, RestartPolicy(max_restarts=0, period=1))
    error = check_killed(runner)
    assert isinstance(error, RestartIntensityExceeded)
    assert "more than 0 restarts within 1 s" in str(error)


@pytest.mark.parametrize("mine_wins", [True, False])
def test_intensity_competes_with_other_fatal_errors(runners, starters, clock, mine_wins):
    class Mine(Exception):
        pass

    def more_important(error0, error1):
        return isinstance(error0, Mine) == mine_wins

    runner = runners(lambda error: isinstance(error, Mine), more_important, clock=clock)
    bystander = starters(stop_error=Mine("stopped badly"))
    runner.start_worker("bystander", bystander)
    bystander.expect(True)
    flaky = starters(start_error=ValueError("down"))
    runner.start_worker("flaky", flaky, RestartPolicy(max_restarts=0, period=60))
    error = check_killed(runner)
    if mine_wins:
        assert isinstance(error, Mine)
    else:
        assert isinstance(error, RestartIntensityExceeded) and error.id == "flaky"


def test_a_new_start_function_while_stopping_starts_a_fresh_count(runners, starters, clock):
    recorder = Recorder()
    runner = runners(none_fatal, restart_delay=1, clock=clock, observers=[recorder])
    first = starters()
    runner.start_worker("w", first, RestartPolicy(max_restarts=1, period=60))
    first.expect(True)
    first.die(ValueError("down"))
    first.expect(False)
    clock.advance(next_delay(clock, recorder, 1))
    first.expect(True)
    release = first.stop_wait = Event()  # the one restart allowed is used up
    runner.stop_worker("w")
    gone = Gone("second")
    second = starters(start_error=gone)
    runner.start_worker("w", second, RestartPolicy(should_restart=lambda e: False))
    release.set()
    first.expect(False)
    second.expect(False)
    recorder.wait("gave_up")  # the second policy, not the first one's intensity
    assert recorder.of("gave_up") == [("w", gone)]
    assert runner.report()["state"] == "started"


def test_intensity_error_pickles():
    import pickle

    error = RestartIntensityExceeded("w", 1, 2.5, ValueError("x"))
    copy = pickle.loads(pickle.dumps(error))
    assert (
        str(copy)
        == str(error)
        == (
            "worker 'w' failed too often: restarting it again would make more than "
            "1 restart within 2.5 s; its last error: ValueError('x')"
        )
    )
    assert (copy.id, copy.max_restarts, copy.period) == ("w", 1, 2.5)


@given(
    gaps=st.lists(st.floats(0, 20, allow_nan=False), min_size=1, max_size=40),
    limit=st.integers(0, 5),
    period=st.floats(0.5, 30),
)
def test_intensity_matches_a_sliding_window_count(gaps, limit, period):
    """Record.plan_restart against a brute-force count of the restarts in
    the window (t - period, t]: it trips at the first failure that finds
    ``limit`` of them already."""
    record = Record("w", lambda: None, RestartPolicy(max_restarts=limit, period=period))
    now, accepted = 0.0, []
    for gap in gaps:
        now += gap
        in_window = [t for t in accepted if now - t < period]
        try:
            record.plan_restart(ValueError(), now, 0.0)
        except RestartIntensityExceeded:
            assert len(in_window) >= limit
            return
        assert len(in_window) < limit
        accepted.append(now)


# -- a policy of one's own ------------------------------------------------------------------


@implementer(IRestartPolicy)
class LinearPolicy:
    """A policy that is not a RestartPolicy: 10 s more per failure in a row."""

    reset_after = None
    max_restarts = None
    period = None

    def should_restart(self, error):
        return True

    def restart_delay(self, failures):
        return 10.0 * failures


class NegativePolicy(LinearPolicy):
    def restart_delay(self, failures):
        return -1.0


def test_policies_provide_irestartpolicy():
    verifyObject(IRestartPolicy, RestartPolicy())
    verifyObject(IRestartPolicy, DEFAULT_POLICY)
    verifyObject(
        IRestartPolicy,
        RestartPolicy(
            backoff=Backoff(1),
            should_restart=lambda error: False,
            max_restarts=2,
            period=1,
            random=random.Random(1),
        ),
    )
    verifyObject(IRestartPolicy, LinearPolicy())


def test_any_irestartpolicy_will_do(runners, starters, clock, recorder):
    runner = runners(none_fatal, clock=clock, observers=[recorder])
    starter = starters(start_error=ValueError("down"))
    runner.start_worker("w", starter, LinearPolicy())
    assert crash_loop(clock, recorder, starter, 3) == [10, 20, 30]


def test_a_policy_giving_a_bad_delay_makes_the_error_fatal(runners, starters, caplog):
    runner = runners(none_fatal)
    error = ValueError("down")
    runner.start_worker("w", starters(start_error=error), NegativePolicy())
    assert check_killed(runner) is error
    assert "restart_delay(1) gave -1.0" in caplog.text


# -- the default behaves as the reference says ----------------------------------------------


def test_the_default_policy_changes_nothing(runners, starters, clock, recorder, caplog):
    """A Runner with only is_fatal and more_important restarts for ever, every
    RESTART_DELAY, however often the worker fails."""
    assert RestartPolicy() == DEFAULT_POLICY
    assert DEFAULT_POLICY.restart_delay(10**6) is None
    assert DEFAULT_POLICY.max_restarts is None and DEFAULT_POLICY.should_restart(Gone())
    caplog.set_level(logging.CRITICAL, "agent_runtime.worker")
    runner = runners(none_fatal, clock=clock, observers=[recorder])
    starter = starters(start_error=Gone("down"))
    runner.start_worker("w", starter)
    delays = crash_loop(clock, recorder, starter, 50)
    assert delays == [agent_runtime.worker.RESTART_DELAY] * 50
    assert Counter(event[0] for event in recorder.events) == {
        "exited": 50,
        "restart_scheduled": 50,
    }


# -- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"backoff": 3}, TypeError, "backoff must be an agent_runtime.worker.backoff.Backoff"),
        ({"reset_after": "60"}, TypeError, "reset_after must be a number of seconds"),
        ({"reset_after": True}, TypeError, "reset_after must be a number of seconds"),
        ({"reset_after": 0}, ValueError, "reset_after must be a finite number of seconds > 0"),
        ({"reset_after": -1}, ValueError, "reset_after must be a finite"),
        ({"reset_after": math.inf}, ValueError, "reset_after must be a finite"),
        ({"reset_after": math.nan}, ValueError, "reset_after must be a finite"),
        ({"should_restart": None}, TypeError, "should_restart must be callable"),
        ({"max_restarts": 1.5, "period": 1}, TypeError, "max_restarts must be an int"),
        ({"max_restarts": True, "period": 1}, TypeError, "max_restarts must be an int"),
        ({"max_restarts": -1, "period": 1}, ValueError, "max_restarts must be >= 0"),
        ({"max_restarts": 3}, ValueError, "max_restarts=3 needs a period"),
        ({"period": 5}, ValueError, "period=5 does nothing without max_restarts"),
        ({"max_restarts": 3, "period": 0}, ValueError, "period must be a finite number"),
        ({"max_restarts": 3, "period": math.inf}, ValueError, "period must be a finite"),
        ({"max_restarts": 3, "period": "5"}, TypeError, "period must be a number of seconds"),
        ({"random": 42}, TypeError, "random must be a random.Random"),
    ],
)
def test_bad_policies_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        RestartPolicy(**kwargs)


def test_a_policy_is_frozen():
    policy = RestartPolicy()
    with pytest.raises(AttributeError):
        policy.max_restarts = 3


def test_runner_refuses_what_is_not_a_policy(runners, starters):
    with pytest.raises(TypeError, match="the runner's default policy must provide IRestartPolicy"):
        runners(none_fatal, policy=Backoff(1))
    runner = runners(none_fatal)
    starter = starters()
    with pytest.raises(TypeError, match="the policy of worker 'w' must provide IRestartPolicy"):
        runner.start_worker("w", starter, policy={"max_restarts": 3})
    starter.expect_nothing()
    assert runner.report()["workers"] == {}


def test_simple_worker_under_a_policy_stops_cleanly(runners):
    runner = runners(none_fatal)
    policy = RestartPolicy(backoff=Backoff(1), max_restarts=5, period=60)
    runner.start_worker("w", lambda: SimpleWorker(lambda stop: stop.wait()), policy)
    assert stop(runner) is None
