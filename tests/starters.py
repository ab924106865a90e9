"""The reference's test starter, for the Runner tests.

A ``Starter`` is a start function. Each worker it starts:

1. reports ``True`` on ``starter.notify`` when started (``False`` instead, and
   raises ``start_error``, if that is set);
2. runs ``hook()`` if given;
3. blocks until it is killed (then stops with ``stop_error``, possibly None)
   or until the test calls ``starter.die(error)`` (then stops with that);
4. waits for ``stop_wait`` (a gevent Event) if given;
5. reports ``False`` on ``notify`` and stops.

``starter.overlaps`` records every time a start happened while a previous
instance of the same starter had not finished: it must stay empty, because a
Runner never runs two instances of one id at once.
"""

from __future__ import annotations

import gevent
from gevent.event import Event
from gevent.queue import Channel, Queue

from agent_runtime.worker import SimpleWorker

#: Real seconds to wait for a notification that should come.
LONG_WAIT = 10.0


def none_fatal(error: BaseException) -> bool:
    return False


def all_fatal(error: BaseException) -> bool:
    return True


def no_importance(error0: BaseException, error1: BaseException) -> bool:
    return False


class Starter:
    def __init__(
        self,
        *,
        start_error: BaseException | None = None,
        stop_error: BaseException | None = None,
        hook=None,
        stop_wait: Event | None = None,
        unbuffered: bool = False,
    ) -> None:
        self.start_error = start_error
        self.stop_error = stop_error
        self.hook = hook
        self.stop_wait = stop_wait
        self.notify = Channel() if unbuffered else Queue()
        self.running = 0
        self.starts = 0
        self.overlaps: list[int] = []
        self._die = Event()
        self._die_error: BaseException | None = None

    def __call__(self) -> SimpleWorker:
        self.running += 1
        self.starts += 1
        if self.running != 1:
            self.overlaps.append(self.running)
        if self.start_error is not None:
            self.running -= 1
            self.notify.put(False)
            raise self.start_error
        self.notify.put(True)
        return SimpleWorker(self._run)

    def die(self, error: BaseException | None) -> None:
        """Make the running instance stop with ``error`` (None: cleanly)."""
        self._die_error = error
        self._die.set()

    def _run(self, stop: Event) -> None:
        try:
            if self.hook is not None:
                self.hook()
            gevent.wait([stop, self._die], count=1)
            if self._die.is_set() and not stop.is_set():
                self._die.clear()
                error = self._die_error
            else:
                error = self.stop_error
            if self.stop_wait is not None:
                self.stop_wait.wait()
        finally:
            self.running -= 1
        self.notify.put(False)
        if error is not None:
            raise error

    def expect(self, started: bool, timeout: float = LONG_WAIT) -> None:
        """Wait for the next notification and check it is ``started``."""
        try:
            value = self.notify.get(timeout=timeout)
        except gevent.queue.Empty:
            raise AssertionError(
                f"no {'start' if started else 'stop'} notification within {timeout:g} s"
            ) from None
        assert value is started, f"expected {'start' if started else 'stop'}, got the other"

    def expect_nothing(self) -> None:
        """Check that no notification is waiting, after letting ready greenlets run."""
        assert isinstance(self.notify, Queue), "only a buffered starter can check for silence"
        for _ in range(5):
            gevent.sleep(0)
        assert self.notify.empty(), f"unexpected notification: {self.notify.peek_nowait()!r}"
