"""GreenletWorker: the primitive under every worker that runs on its own greenlet."""

from __future__ import annotations

from types import TracebackType

from gevent import Greenlet, GreenletExit
from gevent.event import Event
from zope.interface import implementer

from agent_runtime.interfaces import IAbortableWorker

__all__ = ["GreenletWorker", "Outcome"]


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
