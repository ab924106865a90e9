"""The hook queues: workers that hand out a relation's hooks, one by one.

``AliveHookQueue(initial, watcher)`` follows a relation-units watcher;
``DyingHookQueue(initial)`` leaves the relation. The consumer (the uniter)
calls ``get(timeout=None)``: it blocks until a hook is due and returns it,
counted as sent. The timeout is measured on the queue's ``clock`` (an
``IClock``; the real one unless another is given).

How the hand-off avoids races: the algorithm (``queuestate``) is owned by the
queue, and nothing that touches it ever yields. The queue's greenlet reads the
watcher and applies each event at once; ``get()``, in the consumer's
greenlet, first yields once so that events the watcher already holds are
applied, then takes ``next()`` and ``pop()`` in the same turn. So the hook
returned is computed when it is taken, and reflects every update that
arrived before the call (Go's unbuffered hand-off); nothing is computed ahead
and left to go stale.
"""

from __future__ import annotations

from typing import Any

import gevent
from gevent.event import Event
from zope.interface import implementer

from agent_runtime.clock import REAL_CLOCK, ClockTimeout
from agent_runtime.interfaces import IAbortableWorker, IClock, IHookQueue
from agent_runtime.uniter.hook import Info
from agent_runtime.uniter.relation.queuestate import AliveQueueState, DyingQueueState
from agent_runtime.uniter.relation.state import State
from agent_runtime.worker.base import GreenletWorker, Interruptible
from agent_runtime.worker.watch import follow

__all__ = ["AliveHookQueue", "DyingHookQueue"]


class _HookQueue(GreenletWorker):
    """What both queues share: ``get()``, and closing on kill/abort."""

    _source: AliveQueueState | DyingQueueState

    def __init__(self, clock: IClock) -> None:
        if not IClock.providedBy(clock):
            raise TypeError(f"clock must provide IClock, not {clock!r}")
        super().__init__()
        self._clock = clock
        #: Set when a hook may be due, or when the queue closed: a consumer of
        #: several queues waits on their ``due`` events, then calls
        #: ``get(timeout=0)`` on each (which clears it when nothing is due).
        self.due = Event()
        #: Set when the queue closed: it hands out nothing more.
        self._finished = Event()
        self._closed = False

    def get(self, timeout: float | None = None) -> Info | None:
        """Block until a hook is due, return it and count it as sent.

        Returns None when ``timeout`` seconds of the queue's clock (None: no
        limit) passed first, and at once once the queue has stopped (killed,
        failed, or a dying queue that handed out ``relation-broken``).
        """
        if self._closed:
            return None
        self._catch_up()
        info = self._take()
        if info is not None or self._closed or (timeout is not None and timeout <= 0):
            return info
        with ClockTimeout(self._clock, timeout, swallow=True):
            while not self._closed:
                self.due.wait()
                info = self._take()
                if info is not None:
                    return info
        return None

    def _take(self) -> Info | None:
        """The hook due now, counted as sent; None (and ``due`` cleared) if
        none is. Never yields, so what it takes is what the source holds."""
        source = self._source
        if self._closed or source.empty():
            if not self._closed:
                self.due.clear()
            return None
        info = source.next()
        source.pop()
        self._popped()
        return info

    def _catch_up(self) -> None:
        """Let changes that already reached the queue's source be applied."""

    def _popped(self) -> None:
        """Called after a hook was handed out."""

    def _close(self) -> None:
        self._closed = True
        self.due.set()
        self._finished.set()

    def kill(self) -> None:
        """Ask the queue to stop; ``get()`` returns None from now on."""
        self._close()
        super().kill()

    def abort(self) -> None:
        self._close()
        super().abort()


@implementer(IHookQueue, IAbortableWorker)
class AliveHookQueue(_HookQueue):
    """The hooks of a live relation, from its committed state and a watcher.

    ``initial`` is the relation's committed ``State`` (``StateDir.state()``);
    ``watcher`` provides ``IRelationUnitsWatcher`` and must be fresh: its first
    event lists every unit in scope, and must not have departures. The queue
    owns the watcher and stops it when it stops, for whatever reason.

    The queue stops with an error when the watcher's events end (the
    watcher's ``err()``, or ``WatcherStopped``), when an event cannot be
    applied (``HookQueueError``), or when stopping the watcher raised.
    """

    def __init__(self, initial: State, watcher: Any, *, clock: IClock = REAL_CLOCK) -> None:
        needed = ("changes", "stop", "err")
        missing = [name for name in needed if not callable(getattr(watcher, name, None))]
        if missing:
            raise TypeError(
                f"AliveHookQueue needs an IRelationUnitsWatcher; {watcher!r} has no {missing}"
            )
        try:
            source = AliveQueueState(initial)
        except BaseException:
            _stop_quietly(watcher)
            raise
        super().__init__(clock)
        self._source = source
        self._watcher = watcher
        # kill() cuts short the wait for the watcher's next event, and nothing else.
        self._next_change = Interruptible()
        self._start()

    @property
    def watcher(self) -> Any:
        """The watcher the queue follows (and stops)."""
        return self._watcher

    def _catch_up(self) -> None:
        # Events the watcher holds wake the queue's greenlet through hub
        # callbacks that were scheduled when they were sent; yielding once runs
        # them (and the queue's start) before we look at the source.
        if not self._greenlet.dead:
            gevent.sleep(0)

    def kill(self) -> None:
        if self.dying.is_set():
            return
        super().kill()
        self._next_change.interrupt()

    def _run(self) -> None:
        watcher = self._watcher
        error: BaseException | None = None
        try:
            error = self._follow(watcher)
        finally:
            self._close()
            stop_error = _call(watcher.stop)
        # The reference's precedence (a tomb keeps its first error): the
        # error that ended the loop, then the one stopping the watcher raised.
        if error is not None:
            raise error
        if stop_error is not None:
            raise stop_error

    def _follow(self, watcher: Any) -> BaseException | None:
        return follow(watcher, self.dying, self._next_change, self._apply)

    def _apply(self, change: Any) -> None:
        """Apply a watcher event to the queue's algorithm (never yields)."""
        if self.dying.is_set():
            return
        self._source.update(change)
        if not self._source.empty():
            self.due.set()

    def __repr__(self) -> str:
        return f"{super().__repr__()[:-1]} {self._source!r}>"


@implementer(IHookQueue, IAbortableWorker)
class DyingHookQueue(_HookQueue):
    """The hooks that leave a relation: the pending ``relation-changed`` if the
    committed ``initial`` state has one, ``relation-departed`` for each member
    (sorted), then ``relation-broken``. Once broken was handed out the queue
    stops by itself, cleanly."""

    def __init__(self, initial: State, *, clock: IClock = REAL_CLOCK) -> None:
        source = DyingQueueState(initial)
        super().__init__(clock)
        self._source = source
        self._start()

    def _popped(self) -> None:
        if self._source.finished:
            self._close()

    def _run(self) -> None:
        self._finished.wait()

    def __repr__(self) -> str:
        return f"{super().__repr__()[:-1]} {self._source!r}>"


def _call(function: Any) -> BaseException | None:
    try:
        function()
    except Exception as error:
        return error
    return None


def _stop_quietly(watcher: Any) -> None:
    kill = getattr(watcher, "kill", None)
    if callable(kill):
        _call(kill)
