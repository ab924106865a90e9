"""The clocks: agent_runtime.clock.RealClock and agent_runtime.testing.ManualClock.

Both provide IClock and their timers ITimer. The manual clock moves only in
``advance()``, which fires due timers in deadline order on the calling
greenlet; the real one uses the gevent hub's timers. No test waits for real
time to pass except with a timeout on an event that must happen.
"""

from __future__ import annotations

import logging

import gevent
import pytest
from gevent.event import Event
from zope.interface.verify import verifyObject

from agent_runtime.clock import REAL_CLOCK, ClockTimeout, RealClock
from agent_runtime.interfaces import IClock, ITimer
from agent_runtime.testing import LONG_WAIT, ManualClock, wait_for


@pytest.mark.parametrize("clock", [RealClock(), REAL_CLOCK, ManualClock()])
def test_provides_interfaces(clock):
    """Both clocks pass verifyObject(IClock), and their timers verifyObject(ITimer)."""
    verifyObject(IClock, clock)
    timer = clock.call_later(LONG_WAIT, lambda: None)
    try:
        verifyObject(ITimer, timer)
    finally:
        assert timer.cancel() is True


# -- ManualClock ---------------------------------------------------------------


def test_manual_now_stands_still():
    """now() is the start time until advance() moves it."""
    clock = ManualClock(now=100.0)
    assert clock.now() == 100.0
    gevent.sleep(0)
    assert clock.now() == 100.0
    assert clock.advance(2.5) == 0
    assert clock.now() == 102.5


def test_manual_advance_fires_in_deadline_order():
    """advance() fires the due timers in deadline order (ties: scheduling order),
    with now() at each timer's deadline, and returns how many fired."""
    clock = ManualClock()
    fired = []

    def record(name):
        fired.append((name, clock.now()))

    clock.call_later(3, record, "c")
    clock.call_later(1, record, "a1")
    clock.call_later(2, record, "b")
    clock.call_later(1, record, "a2")
    assert clock.advance(2.5) == 3
    assert fired == [("a1", 1), ("a2", 1), ("b", 2)]
    assert clock.now() == 2.5
    assert clock.advance(0.5) == 1
    assert fired[-1] == ("c", 3)


def test_manual_timer_scheduled_by_a_callback_fires_in_the_same_advance():
    """A timer a callback schedules within the advanced span fires too, in order."""
    clock = ManualClock()
    fired = []
    clock.call_later(1, lambda: clock.call_later(0.5, lambda: fired.append(clock.now())))
    clock.call_later(2, lambda: fired.append(clock.now()))
    assert clock.advance(3) == 3
    assert fired == [1.5, 2]


def test_manual_cancel():
    """cancel() stops a pending timer (True once, then False); a fired timer
    cannot be cancelled; pending() and pending_timers() follow."""
    clock = ManualClock()
    fired = []
    cancelled = clock.call_later(1, fired.append, "cancelled")
    kept = clock.call_later(1, fired.append, "kept")
    assert cancelled.pending() and kept.pending()
    assert clock.pending_timers() == 2
    assert cancelled.cancel() is True
    assert cancelled.cancel() is False
    assert not cancelled.pending()
    assert clock.pending_timers() == 1
    assert clock.advance(1) == 1
    assert fired == ["kept"]
    assert not kept.pending()
    assert kept.cancel() is False
    assert clock.pending_timers() == 0


def test_manual_timer_deadline_and_next_deadline():
    """A timer's deadline is now + seconds (negative counts as 0); next_deadline()
    is the earliest pending one."""
    clock = ManualClock(now=10)
    late = clock.call_later(5, lambda: None)
    soon = clock.call_later(-1, lambda: None)
    assert (late.deadline, soon.deadline) == (15, 10)
    assert clock.next_deadline() == 10
    soon.cancel()
    assert clock.next_deadline() == 15
    late.cancel()
    assert clock.next_deadline() is None


def test_manual_sleep_wakes_only_when_advanced_past():
    """sleep(s) blocks until the clock has been advanced by s, and no sooner."""
    clock = ManualClock()
    sleeper = gevent.spawn(clock.sleep, 5)
    clock.wait_for_timers(1)
    clock.advance(4.5)
    for _ in range(5):
        gevent.sleep(0)
    assert not sleeper.ready()
    clock.advance(0.5)
    sleeper.join(LONG_WAIT)
    assert sleeper.successful()
    assert clock.pending_timers() == 0


def test_manual_sleep_zero_yields_without_a_timer():
    """sleep(0) (or less) just yields once; it needs no advance."""
    clock = ManualClock()
    sleeper = gevent.spawn(clock.sleep, 0)
    sleeper.join(LONG_WAIT)
    assert sleeper.successful()
    assert clock.pending_timers() == 0


def test_manual_sleep_killed_cancels_its_timer():
    """A sleep interrupted by a kill leaves no pending timer behind."""
    clock = ManualClock()
    sleeper = gevent.spawn(clock.sleep, 5)
    clock.wait_for_timers(1)
    sleeper.kill(timeout=LONG_WAIT)
    assert sleeper.dead
    assert clock.pending_timers() == 0


def test_manual_wait_for_timers():
    """wait_for_timers(n) returns once another greenlet has scheduled n timers."""
    clock = ManualClock()

    def schedule():
        for _ in range(2):
            gevent.sleep(0)
            clock.call_later(1, lambda: None)

    scheduler = gevent.spawn(schedule)
    clock.wait_for_timers(2)
    assert clock.pending_timers() == 2
    scheduler.join(LONG_WAIT)
    assert clock.advance(1) == 2


def test_manual_wait_for_timers_times_out():
    """wait_for_timers with a timeout raises TimeoutError if the timers never come."""
    clock = ManualClock()
    clock.call_later(1, lambda: None)
    with pytest.raises(TimeoutError):
        clock.wait_for_timers(2, timeout=0.01)


def test_manual_advance_backwards_is_value_error():
    """advance() with a negative span is a ValueError and moves nothing."""
    clock = ManualClock(now=3)
    fired = []
    clock.call_later(0, fired.append, 1)
    with pytest.raises(ValueError):
        clock.advance(-1)
    assert clock.now() == 3 and fired == []
    assert clock.advance(0) == 1


def test_manual_raising_callback_is_logged(caplog):
    """A callback that raises is logged with its traceback, and the other due
    timers still fire."""
    clock = ManualClock()
    fired = []

    def broken():
        raise RuntimeError("callback bug")

    clock.call_later(1, broken)
    clock.call_later(2, fired.append, "after")
    with caplog.at_level(logging.ERROR):
        assert clock.advance(2) == 2
    assert fired == ["after"]
    [record] = [r for r in caplog.records if r.exc_info]
    assert record.levelno == logging.ERROR
    assert isinstance(record.exc_info[1], RuntimeError)


def test_manual_advance_wakes_several_sleepers_in_deadline_order():
    """Sleepers on several greenlets wake in deadline order, each at its own
    deadline (now() is that deadline when it runs), and none before."""
    clock = ManualClock()
    woke = []

    def sleeper(name, seconds):
        clock.sleep(seconds)
        woke.append((name, clock.now()))

    sleepers = [gevent.spawn(sleeper, n, s) for n, s in (("c", 3), ("a", 1), ("b", 2), ("d", 9))]
    clock.wait_for_timers(4)
    clock.advance(3.5)
    gevent.joinall(sleepers[:3], timeout=LONG_WAIT)
    assert woke == [("a", 1), ("b", 2), ("c", 3)]
    assert not sleepers[3].ready()
    clock.advance(5.5)
    sleepers[3].join(LONG_WAIT)
    assert woke[-1] == ("d", 9)


def test_manual_advance_lets_a_periodic_loop_run_at_each_period():
    """A loop that sleeps 10 s at a time wakes at 10 and 20 when the clock is
    advanced by 25 at once: each wake-up schedules the next sleep from its
    own time, not from the end of the advance."""
    clock = ManualClock()
    ticks = []

    def loop():
        while True:
            clock.sleep(10)
            ticks.append(clock.now())

    ticker = gevent.spawn(loop)
    try:
        clock.wait_for_timers(1)
        clock.advance(25)
        assert ticks == [10, 20]
        assert clock.next_deadline() == 30
        clock.advance(5)
        wait_for(lambda: ticks == [10, 20, 30])
    finally:
        ticker.kill(timeout=LONG_WAIT)


# -- ClockTimeout ------------------------------------------------------------------


def test_clock_timeout_raises_exactly_when_the_clock_passes_it():
    """A block waiting under ClockTimeout(clock, 5) is interrupted with that
    very exception when the manual clock passes 5 s, and not before."""
    clock = ManualClock()
    never = Event()

    def wait():
        with ClockTimeout(clock, 5) as deadline:
            try:
                never.wait()
            except ClockTimeout as error:
                return error is deadline, deadline.expired
        return "not interrupted"

    waiter = gevent.spawn(wait)
    clock.wait_for_timers(1)
    clock.advance(4.999)
    check_not_ready(waiter)
    clock.advance(0.001)
    assert waiter.get(timeout=LONG_WAIT) == (True, True)
    assert clock.pending_timers() == 0


def test_clock_timeout_swallow_and_leaving_the_block_cancels():
    """swallow=True swallows its own expiry; a block left in time cancels
    the timer, and nothing is raised later."""
    clock = ManualClock()
    never = Event()

    def swallowed():
        with ClockTimeout(clock, 1, swallow=True) as deadline:
            never.wait()
        return deadline.expired

    waiter = gevent.spawn(swallowed)
    clock.wait_for_timers(1)
    clock.advance(1)
    assert waiter.get(timeout=LONG_WAIT) is True

    with ClockTimeout(clock, 1) as deadline:
        assert deadline.pending()
    assert not deadline.pending() and not deadline.expired
    assert clock.pending_timers() == 0
    clock.advance(5)
    gevent.sleep(0)  # nothing is thrown at this greenlet


def test_clock_timeout_expiring_as_the_block_is_left_is_dropped():
    """An expiry whose throw is pending in the hub when the block is left is
    never raised afterwards (the hub checks again)."""
    clock = ManualClock()
    with ClockTimeout(clock, 1) as deadline:
        clock.advance(1)  # the timer fires here; the throw waits for the hub
        assert deadline.expired
    gevent.sleep(0)
    gevent.sleep(0)


def test_clock_timeout_reentered_before_the_hub_throws_is_not_hit_by_the_old_expiry():
    """An expiry of one run of a ClockTimeout never lands in a later run of it."""
    clock = ManualClock()
    deadline = ClockTimeout(clock, 1)
    with deadline:
        clock.advance(1)  # expired; its throw waits for the hub
    with deadline:  # entered again at once, for another second
        assert not deadline.expired
        gevent.sleep(0)
        gevent.sleep(0)
    assert clock.pending_timers() == 0


def test_clock_timeout_swallows_only_its_own_expiry():
    """Nested timeouts: the inner one's swallow does not hide the outer one,
    which reaches whoever catches it."""
    clock = ManualClock()
    never = Event()

    def nested():
        with ClockTimeout(clock, 2) as outer:
            try:
                with ClockTimeout(clock, 5, swallow=True):
                    never.wait()
            except ClockTimeout as error:
                return error is outer
        return False

    waiter = gevent.spawn(nested)
    clock.wait_for_timers(2)
    clock.advance(2)
    assert waiter.get(timeout=LONG_WAIT) is True
    assert clock.pending_timers() == 0


def test_clock_timeout_none_never_expires_and_no_timer_is_set():
    clock = ManualClock()
    with ClockTimeout(clock, None) as deadline:
        assert clock.pending_timers() == 0
        clock.advance(10**6)
        gevent.sleep(0)
    assert not deadline.expired
    assert str(deadline) == "no time limit"


def test_clock_timeout_is_not_an_exception_and_cannot_start_twice():
    """Like gevent.Timeout it is a BaseException (a worker's except Exception
    does not eat it), and one instance guards one block at a time."""
    assert not issubclass(ClockTimeout, Exception)
    clock = ManualClock()
    with ClockTimeout(clock, 1) as deadline, pytest.raises(RuntimeError, match="running"):
        deadline.start()
    assert str(deadline) == "1 second passed"


def test_clock_timeout_on_the_real_clock():
    """On the real clock it interrupts a blocked greenlet, and a block left
    in time is not interrupted."""
    never = Event()
    with ClockTimeout(REAL_CLOCK, 0.001, swallow=True) as deadline:
        never.wait(LONG_WAIT)
    assert deadline.expired
    with ClockTimeout(REAL_CLOCK, LONG_WAIT) as deadline:
        gevent.sleep(0)
    assert not deadline.expired and not deadline.pending()


def check_not_ready(greenlet) -> None:
    """The greenlet has not finished after every ready greenlet ran."""
    for _ in range(5):
        gevent.sleep(0)
    assert not greenlet.ready()


# -- RealClock -------------------------------------------------------------------


def test_real_now_is_monotonic():
    """now() never goes backwards."""
    clock = RealClock()
    first = clock.now()
    clock.sleep(0)
    assert clock.now() >= first


def test_real_call_later_fires():
    """call_later fires the callback with its arguments; the timer is then done."""
    clock = RealClock()
    fired = Event()
    got = []

    def callback(*args):
        got.append(args)
        fired.set()

    before = clock.now()
    timer = clock.call_later(0.01, callback, "a", 1)
    assert timer.deadline >= before + 0.01
    assert timer.pending()
    assert fired.wait(LONG_WAIT)
    assert got == [("a", 1)]
    assert not timer.pending()
    assert timer.cancel() is False


def test_real_cancel_prevents_firing():
    """A cancelled timer never fires: a later timer does, and the cancelled one
    (due earlier) has not."""
    clock = RealClock()
    cancelled, later = Event(), Event()
    timer = clock.call_later(0, cancelled.set)
    assert timer.cancel() is True
    assert timer.cancel() is False
    assert not timer.pending()
    clock.call_later(0.01, later.set)
    assert later.wait(LONG_WAIT)
    assert not cancelled.is_set()


def test_real_raising_callback_is_logged(caplog):
    """A callback that raises is logged, not sent to the hub, and later timers fire."""
    clock = RealClock()
    later = Event()

    def broken():
        raise RuntimeError("callback bug")

    with caplog.at_level(logging.ERROR):
        clock.call_later(0, broken)
        clock.call_later(0.01, later.set)
        assert later.wait(LONG_WAIT)
    [record] = [r for r in caplog.records if r.exc_info]
    assert isinstance(record.exc_info[1], RuntimeError)


def test_real_sleep_is_interruptible():
    """sleep() yields to other greenlets and can be interrupted by a gevent.Timeout."""
    clock = RealClock()
    timeout = gevent.Timeout(0)
    with pytest.raises(gevent.Timeout) as raised, timeout:
        clock.sleep(LONG_WAIT)
    assert raised.value is timeout


def test_manual_advance_from_its_own_timer_callback_is_refused(caplog):
    """A callback that advances its own clock would move time backwards when
    the outer advance() finishes; it is refused (and logged as a failing callback)."""
    clock = ManualClock()
    clock.call_later(1, clock.advance, 20)
    assert clock.advance(10) == 1
    assert clock.now() == 10
    assert "advance() called while the same clock advances" in caplog.text


def test_check_killed_returns_a_base_exception():
    """check_killed returns whatever the worker stopped with, BaseException included."""

    class Fatal(BaseException):
        pass

    def die(stop):
        raise Fatal()

    from agent_runtime.testing import check_killed
    from agent_runtime.worker import SimpleWorker

    assert isinstance(check_killed(SimpleWorker(die)), Fatal)
