"""The real clock (gevent's hub timers and monotonic time), and ``ClockTimeout``.

Everything in agent_runtime that waits for time takes an ``IClock``; this is
the default. Tests pass ``agent_runtime.testing.ManualClock`` instead.

``ClockTimeout`` is ``gevent.Timeout`` on any clock: "block until X, or until
the clock says the time is up". Code that waits on a clock uses it instead
of ``gevent.Timeout``, ``Event.wait(timeout)`` or ``join(timeout)``, so that
a manual clock governs those waits too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import gevent
from gevent import get_hub, getcurrent
from zope.interface import implementer

from agent_runtime.interfaces import IClock, ITimer

__all__ = ["REAL_CLOCK", "ClockTimeout", "RealClock"]

log = logging.getLogger("agent_runtime.clock")


@implementer(ITimer)
class _HubTimer:
    """A one-shot libev/libuv timer of the current thread's hub."""

    __slots__ = ("_args", "_callback", "_watcher", "deadline")

    def __init__(self, seconds: float, callback: Callable[..., Any], args: tuple) -> None:
        seconds = max(float(seconds), 0.0)
        self.deadline = time.monotonic() + seconds
        self._callback = callback
        self._args = args
        self._watcher = get_hub().loop.timer(seconds)
        self._watcher.start(self._fire)

    def _fire(self) -> None:
        watcher = self._watcher
        if watcher is None:
            return
        self._watcher = None
        watcher.close()
        callback, args = self._callback, self._args
        self._callback = self._args = None
        try:
            callback(*args)
        except Exception:
            log.exception("timer callback %r failed", callback)

    def cancel(self) -> bool:
        watcher = self._watcher
        if watcher is None:
            return False
        self._watcher = None
        self._callback = self._args = None
        watcher.stop()
        watcher.close()
        return True

    def pending(self) -> bool:
        return self._watcher is not None

    def __repr__(self) -> str:
        state = "pending" if self.pending() else "done"
        return f"<_HubTimer {state} deadline={self.deadline:.3f}>"


@implementer(IClock)
class RealClock:
    """Monotonic time, ``gevent.sleep`` and hub timers."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        gevent.sleep(seconds)

    def call_later(self, seconds: float, callback: Callable[..., Any], *args: Any) -> ITimer:
        return _HubTimer(seconds, callback, args)

    def __repr__(self) -> str:
        return "RealClock()"


#: The clock everything uses unless it is given another.
REAL_CLOCK = RealClock()


class ClockTimeout(BaseException):
    """``gevent.Timeout`` on an ``IClock``: raised in the greenlet that entered
    ``with ClockTimeout(clock, seconds):`` once ``clock`` has moved ``seconds``
    past the entry, wherever that greenlet blocks inside the block::

        with ClockTimeout(clock, 5, swallow=True) as deadline:
            worker.wait()
        if deadline.expired:
            ...  # 5 s of clock time passed first

    It is the exception itself (catch it by identity: ``except ClockTimeout
    as e: if e is not deadline: raise``), and, like ``gevent.Timeout``, a
    ``BaseException``, so a worker's ``except Exception`` does not eat it.
    ``swallow=True`` makes the ``with`` statement swallow its own expiry
    (never anyone else's). ``seconds=None`` never expires. Leaving the block
    cancels the timer; an expiry that falls due just as the block is left is
    dropped, never raised later. Only a greenlet that blocks can be
    interrupted: the exception arrives at its next switch, from the hub.
    """

    def __init__(self, clock: IClock, seconds: float | None, *, swallow: bool = False) -> None:
        super().__init__(seconds)
        self.clock = clock
        self.seconds = seconds
        self.swallow = swallow
        #: True once the time was up (whether or not the block had ended by then).
        self.expired = False
        self._timer: ITimer | None = None
        self._greenlet: Any = None
        self._armed: object | None = None  # a new token for each start()

    def start(self) -> ClockTimeout:
        """Arm it for the calling greenlet (``with`` does this). Returns self."""
        if self._greenlet is not None:
            raise RuntimeError(f"{self!r} is already running")
        self._greenlet = getcurrent()
        self._armed = armed = object()
        self.expired = False
        if self.seconds is not None:
            self._timer = self.clock.call_later(self.seconds, self._expire, armed)
        return self

    def cancel(self) -> None:
        """Disarm it: nothing is raised from now on. Safe to call many times."""
        self._greenlet = self._armed = None
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def pending(self) -> bool:
        """True while it is armed and has not expired."""
        return self._greenlet is not None and not self.expired

    def _expire(self, armed: object) -> None:
        # A timer callback must not switch (it may run in the hub, or inside
        # ManualClock.advance() on the test's greenlet): the throw is left to
        # the hub, which checks again that the block has not been left (or
        # left and entered again) meanwhile.
        if armed is not self._armed:
            return
        self.expired = True
        get_hub().loop.run_callback(self._throw, armed)

    def _throw(self, armed: object) -> None:
        greenlet = self._greenlet
        if armed is self._armed and greenlet is not None and not greenlet.dead:
            greenlet.throw(self)

    def __enter__(self) -> ClockTimeout:
        return self.start()

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> bool:
        self.cancel()
        return value is self and self.swallow

    def __str__(self) -> str:
        if self.seconds is None:
            return "no time limit"
        return f"{self.seconds:g} second{'s' if self.seconds != 1 else ''} passed"

    def __repr__(self) -> str:
        state = "expired" if self.expired else "pending" if self.pending() else "idle"
        return f"<ClockTimeout {self.seconds!r} s on {self.clock!r} {state}>"
