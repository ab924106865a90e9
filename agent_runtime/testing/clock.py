"""A clock that only moves when a test moves it."""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Callable
from typing import Any

import gevent
from gevent import get_hub, getcurrent
from gevent.event import Event
from zope.interface import implementer

from agent_runtime.interfaces import IClock, ITimer

__all__ = ["ManualClock"]

log = logging.getLogger("agent_runtime.testing.clock")


@implementer(ITimer)
class _ManualTimer:
    __slots__ = ("_args", "_callback", "_clock", "deadline")

    def __init__(
        self, clock: ManualClock, deadline: float, callback: Callable, args: tuple
    ) -> None:
        self.deadline = deadline
        self._clock = clock
        self._callback = callback
        self._args = args

    def cancel(self) -> bool:
        if self._callback is None:
            return False
        self._callback = self._args = None
        self._clock._active -= 1
        return True

    def pending(self) -> bool:
        return self._callback is not None

    def _fire(self) -> None:
        callback, args = self._callback, self._args
        self._callback = self._args = None
        self._clock._active -= 1
        try:
            callback(*args)
        except Exception:
            log.exception("timer callback %r failed", callback)

    def __repr__(self) -> str:
        state = "pending" if self.pending() else "done"
        return f"<_ManualTimer {state} deadline={self.deadline:g}>"


@implementer(IClock)
class ManualClock:
    """An ``IClock`` whose time stands still until ``advance()`` moves it.

    Timers fire, in deadline order, inside ``advance()``, on the greenlet that
    calls it; greenlets sleeping on this clock (any number of them) are woken
    there too, in deadline order, and run at that time before the clock moves
    further (see ``advance()``). ``wait_for_timers()`` lets a test wait, with a real
    timeout, until the code under test has scheduled what it is about to
    advance past::

        clock = ManualClock()
        runner = Runner(..., restart_delay=30, clock=clock)
        ...  # make a worker fail
        clock.wait_for_timers(1)
        clock.advance(30)        # the restart happens now, without waiting
    """

    def __init__(self, now: float = 0.0) -> None:
        self._now = float(now)
        self._heap: list[tuple[float, int, _ManualTimer]] = []
        self._seq = itertools.count()
        self._active = 0
        self._added = Event()
        self._advancing = False

    def now(self) -> float:
        return self._now

    def call_later(self, seconds: float, callback: Callable[..., Any], *args: Any) -> ITimer:
        timer = _ManualTimer(self, self._now + max(float(seconds), 0.0), callback, args)
        heapq.heappush(self._heap, (timer.deadline, next(self._seq), timer))
        self._active += 1
        self._added.set()
        return timer

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            gevent.sleep(0)
            return
        woken = Event()
        timer = self.call_later(seconds, woken.set)
        try:
            woken.wait()
        finally:
            timer.cancel()

    def advance(self, seconds: float) -> int:
        """Move time forward by ``seconds`` and fire every timer that falls due,
        in deadline order, with ``now()`` at each timer's deadline. Return how
        many fired.

        Before it moves time past a deadline at which timers fired, it yields
        once, so that the greenlets those timers woke (sleepers, timeouts) run
        at that time and what they schedule next counts from it: advancing by
        25 s a loop that sleeps 10 s at a time wakes it twice, at 10 and 20.
        Greenlets woken at the last deadline run after ``advance()`` returns.
        """
        if seconds < 0:
            raise ValueError(f"cannot move a clock backwards ({seconds!r} s)")
        if self._advancing:
            raise RuntimeError(
                "advance() called while the same clock advances (from a timer "
                "callback, or from a greenlet that advance() woke)"
            )
        self._advancing = True
        try:
            target = self._now + seconds
            fired = 0
            while (deadline := self.next_deadline()) is not None and deadline <= target:
                self._now = deadline
                # Every timer due now, including those a callback schedules for now.
                while self._heap and self._heap[0][0] <= deadline:
                    _, _, timer = heapq.heappop(self._heap)
                    if timer.pending():
                        timer._fire()
                        fired += 1
                if deadline < target and getcurrent() is not get_hub():
                    gevent.sleep(0)
            self._now = target
            return fired
        finally:
            self._advancing = False

    def pending_timers(self) -> int:
        """How many timers are scheduled and have neither fired nor been cancelled."""
        return self._active

    def next_deadline(self) -> float | None:
        """The deadline of the earliest pending timer, or None."""
        while self._heap and not self._heap[0][2].pending():
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def wait_for_timers(self, count: int = 1, timeout: float = 10.0) -> None:
        """Block (real time, at most ``timeout`` seconds) until at least ``count``
        timers are pending. Raise ``TimeoutError`` if they never are."""
        with gevent.Timeout(timeout, False):
            while self._active < count:
                self._added.clear()
                self._added.wait()
            return
        raise TimeoutError(
            f"waited {timeout:g} s for {count} pending timer(s) on {self!r}; {self._active} pending"
        )

    def __repr__(self) -> str:
        return f"ManualClock(now={self._now:g}, pending={self._active})"
