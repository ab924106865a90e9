"""GreenletWorker: the primitive under every worker that runs on its own greenlet.

Also ``Interruptible``: how a worker's wait for its next event is cut short by
``kill()`` without interrupting anything else it does.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from gevent import Greenlet, GreenletExit, get_hub
from gevent.event import Event
from greenlet import getcurrent
from zope.interface import implementer

from agent_runtime.interfaces import IAbortableWorker

__all__ = ["GreenletWorker", "Interrupted", "Interruptible", "Outcome", "outcome_of"]

_T = TypeVar("_T")


class Outcome:
    """How a piece of work ended: cleanly, or with an exception and its traceback.

    ``raise_if_failed()`` raises the same exception object every time, with the
    traceback it was first raised with (it does not grow with each re-raise).
    """

    __slots__ = ("_traceback", "error")

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error
        self._traceback: TracebackType | None = error.__traceback__ if error else None

    def raise_if_failed(self) -> None:
        if self.error is not None:
            raise self.error.with_traceback(self._traceback)


_CLEAN = Outcome()


class Interrupted(BaseException):
    """Raised by ``Interruptible.run`` when ``interrupt()`` cut its call short.

    Like ``GreenletExit`` it is not an ``Exception``, so that an
    ``except Exception`` around the call cannot swallow it and call again.
    """


class _Throw(BaseException):
    """What an Interruptible throws into the greenlet it interrupts."""

    def __init__(self, owner: Interruptible) -> None:
        super().__init__()
        self.owner = owner


class Interruptible:
    """A blocking call of one greenlet that someone else may cut short.

    ``run(function, *args)`` calls ``function(*args)`` on the calling greenlet
    and returns what it returns. ``interrupt()`` makes a ``run`` in progress
    raise ``Interrupted`` instead, and every later ``run`` raise it at once
    without calling anything: an interrupt is for good, like a kill. Call
    ``interrupt()`` from any greenlet of the same thread or from a hub callback
    (an Event's ``rawlink``): it never blocks or switches.

    Only the call is ever interrupted. The exception is thrown from a hub
    callback that checks again that the greenlet is still inside ``function``;
    when ``function`` returned first (an event arrived), the code that runs
    after it (handling that event) is left alone, and the caller sees the
    request at its next ``run``. ``function`` must tolerate an exception thrown
    while it blocks, as it would a ``gevent.Timeout`` (a watcher's ``next()``
    does, and loses no event). ``run`` is not re-entrant.
    """

    __slots__ = ("_greenlet", "_interrupted")

    def __init__(self) -> None:
        self._greenlet: Any = None  # the greenlet inside run(), if any
        self._interrupted = False

    @property
    def interrupted(self) -> bool:
        """True once ``interrupt()`` was called."""
        return self._interrupted

    def interrupt(self) -> None:
        if self._interrupted:
            return
        self._interrupted = True
        if self._greenlet is not None:
            get_hub().loop.run_callback(self._throw)

    def _throw(self) -> None:
        target = self._greenlet
        if target is not None and not target.dead:
            target.throw(_Throw(self))

    def run(self, function: Callable[..., _T], *args: Any) -> _T:
        if self._interrupted:
            raise Interrupted()
        if self._greenlet is not None:
            raise RuntimeError(f"{self!r}.run() is already running on {self._greenlet!r}")
        self._greenlet = getcurrent()
        try:
            return function(*args)
        except _Throw as thrown:
            if thrown.owner is not self:
                raise
            raise Interrupted() from None
        finally:
            self._greenlet = None


def outcome_of(worker: Any) -> BaseException | None:
    """Wait for ``worker`` (an IWorker) and return how it ended: None, or the
    exception it stopped with (any, not only an ``Exception``). A
    ``GreenletExit`` thrown into the caller while it waits is not swallowed."""
    try:
        worker.wait()
    except GreenletExit:
        raise
    except BaseException as error:
        return error
    return None


@implementer(IAbortableWorker)
class GreenletWorker:
    """A worker whose work, ``_run()``, runs on one greenlet it owns.

    ``kill()`` sets ``dying`` (a gevent Event the work watches); ``wait()``
    joins the greenlet and raises what ``_run()`` raised. ``GreenletExit``
    counts as a clean stop. No exception ever reaches the gevent hub (nothing
    is printed and lost): it is kept for whoever calls ``wait()``.

    Subclasses set up their state, then call ``_start()`` last in ``__init__``.
    """

    def __init__(self) -> None:
        #: Set when the worker has been asked to stop.
        self.dying = Event()
        self._outcome = _CLEAN
        self._greenlet = Greenlet(self._main)

    def _start(self) -> None:
        self._greenlet.start()

    def _main(self) -> None:
        try:
            self._run()
        except GreenletExit:
            pass
        except BaseException as error:
            self._outcome = Outcome(error)

    def _run(self) -> None:
        raise NotImplementedError

    def kill(self) -> None:
        self.dying.set()

    def wait(self) -> None:
        self._greenlet.join()
        self._outcome.raise_if_failed()

    def abort(self) -> None:
        self.dying.set()
        if not self._greenlet.dead:
            self._greenlet.kill(block=False)

    @property
    def stopped(self) -> bool:
        """True once the worker has stopped (``wait()`` would not block)."""
        return self._greenlet.dead

    def __repr__(self) -> str:
        if self._greenlet.dead:
            state = "stopped"
        elif self.dying.is_set():
            state = "dying"
        else:
            state = "alive"
        return f"<{type(self).__name__} {state} at {id(self):#x}>"
