"""The grace period of a Runner that is stopping (DESIGN decisions 6 and 14).

When a runner is killed it asks every worker to stop and arms a timer of
``stop_timeout`` seconds. When it fires, the greenlet of each worker id still
there gets ``Abort`` (which aborts the worker if it provides
``IAbortableWorker``, and kills it otherwise); ``ABORT_GRACE`` seconds later
the ids still there are abandoned (``Abandon``) and named in the
``Unstopped`` error that ``wait()`` raises, unless a fatal error is to be
reported, in which case they are logged. suture's "unstopped report", and no
``wait()`` that hangs for ever.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gevent.event import AsyncResult
from greenlet import greenlet as RawGreenlet

from agent_runtime.errors import Unstopped
from agent_runtime.interfaces import IClock
from agent_runtime.worker.base import Outcome
from agent_runtime.worker.instance import Abandon, Abort

if TYPE_CHECKING:
    from agent_runtime.worker.record import Record

__all__ = ["ABORT_GRACE", "Shutdown"]

log = logging.getLogger("agent_runtime.worker")

#: Seconds an aborted worker gets to finish dying before it is abandoned.
ABORT_GRACE = 1.0


class Shutdown:
    """The stopping side of one runner's loop: the grace period's timer, the
    outright kill, the ids given up on. Touched only by that loop greenlet;
    ``post(handler)`` sends the loop a message."""

    __slots__ = ("_clock", "_done", "_post", "_records", "_timer", "timeout", "unstopped")

    def __init__(
        self,
        clock: IClock,
        timeout: float | None,
        records: dict[str, Record],
        post: Callable[..., Any],
        done: Callable[[Record, BaseException | None, AsyncResult], None],
    ) -> None:
        self._clock = clock
        self.timeout = timeout
        self._records = records
        self._post = post
        #: The loop's handler of an instance that ended (``Runner._on_done``).
        self._done = done
        self._timer = None
        #: The ids abandoned, in the order they were.
        self.unstopped: list[str] = []

    def begin(self) -> None:
        """Every worker was asked to stop: arm the grace period."""
        if self._records and self.timeout is not None:
            self._timer = self._clock.call_later(self.timeout, self._post, self.grace_over)

    def grace_over(self) -> None:
        """The grace period is over (or the runner was aborted): kill what is
        left outright, then give it ``ABORT_GRACE`` seconds before abandoning it."""
        self.cancel()
        if not self._records:
            return
        for record in list(self._records.values()):
            instance = record.instance
            if not instance.dead and not RawGreenlet.__bool__(instance):
                # Scheduled but never run (aborted in the turn it was started):
                # a kill would keep it from ever running, so it could never say
                # it is done. It started nothing: it is done now.
                instance.kill(block=False)
                self._post(self._done, record, None, AsyncResult())
                continue
            log.error("worker %r did not stop in time: killing it outright", record.id)
            instance.kill(Abort, block=False)
        self._timer = self._clock.call_later(ABORT_GRACE, self._post, self.abandon)

    def abandon(self) -> None:
        self._timer = None
        for record in self._records.values():
            log.error("abandoning worker %r: it would not stop", record.id)
            self.unstopped.append(record.id)
            record.instance.kill(Abandon, block=False)
        self._records.clear()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None

    def outcome(self, runner: Any, final_error: BaseException | None) -> Outcome:
        """How the runner ended: its fatal error, else the workers it abandoned."""
        self.cancel()
        unstopped = Unstopped(self.unstopped, self.timeout) if self.unstopped else None
        if final_error is not None:
            if unstopped is not None:
                log.error("runner %r: %s", runner, unstopped)
            return Outcome(final_error)
        return Outcome(unstopped)
