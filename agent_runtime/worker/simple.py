"""SimpleWorker: a function run as a worker."""

from __future__ import annotations

from collections.abc import Callable

from gevent.event import Event

from agent_runtime.worker.base import GreenletWorker

__all__ = ["SimpleWorker"]


class SimpleWorker(GreenletWorker):
    """Run ``do_work(stop_event)`` on a new greenlet, as a worker.

    ``kill()`` sets ``stop_event`` (a gevent Event); ``do_work`` should return
    soon after. ``wait()`` returns what ``do_work`` returned as an outcome:
    ``None`` when it returned or ended with ``GreenletExit``, otherwise it raises
    the exception ``do_work`` raised, whether or not the worker was killed.
    """

    def __init__(self, do_work: Callable[[Event], object]) -> None:
        if not callable(do_work):
            raise TypeError(f"SimpleWorker needs a callable do_work, not {do_work!r}")
        super().__init__()
        self._do_work = do_work
        self._start()

    def _run(self) -> None:
        self._do_work(self.dying)

    def __repr__(self) -> str:
        name = getattr(self._do_work, "__qualname__", None) or repr(self._do_work)
        return f"{super().__repr__()[:-1]} do_work={name}>"
