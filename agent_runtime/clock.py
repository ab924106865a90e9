"""The real clock: gevent's hub timers and monotonic time.

Everything in agent_runtime that waits for time takes an ``IClock``; this is
the default. Tests pass ``agent_runtime.testing.ManualClock`` instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import gevent
from gevent import get_hub
from zope.interface import implementer

from agent_runtime.interfaces import IClock, ITimer

__all__ = ["REAL_CLOCK", "RealClock"]

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
