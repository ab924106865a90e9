"""The greenlet of one worker id of a Runner: it runs one instance after
another, each time calling the start function, reporting the worker to the
runner's loop, waiting for it and reporting how it ended, then waiting for the
loop's answer (the next start function, or None to finish). It talks to the
loop only by messages; each "done" carries the AsyncResult of the answer.

The loop throws ``Abort`` into it when the grace period is over (it ends a
start function, or aborts the running worker and goes on waiting for it), and
``Abandon`` when it gives up on it (the worker goes down with the greenlet).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gevent import GreenletExit
from gevent.event import AsyncResult

from agent_runtime.interfaces import IAbortableWorker, IWorker

if TYPE_CHECKING:
    from agent_runtime.worker.runner import Runner

__all__ = ["Abandon", "Abort", "run_instances"]

log = logging.getLogger("agent_runtime.worker")

Start = Callable[[], IWorker]


class Abort(BaseException):
    """Thrown into the greenlet of a worker id when the grace period is over."""


class Abandon(BaseException):
    """Thrown into the greenlet of a worker id that the loop stops waiting for."""


def _get_ignoring_abort(result: AsyncResult):
    while True:
        try:
            return result.get()
        except Abort:
            continue  # parked between instances: the loop has our "done" already


def _abort_or_kill(what: str, worker: IWorker) -> None:
    try:
        if IAbortableWorker.providedBy(worker):
            worker.abort()
        else:
            worker.kill()
    except Exception:
        log.exception("stopping abandoned %s raised", what)


def _note(error: BaseException, note: str) -> None:
    if hasattr(error, "add_note"):
        error.add_note(note)
    else:  # Python 3.10: keep it where 3.11+ tracebacks would look
        error.__notes__ = [*getattr(error, "__notes__", ()), note]


def run_instances(runner: Runner, record: Any, start: Start | None) -> None:
    """The greenlet of a worker id: runs one instance after another, for as
    long as the loop sends it start functions. Talks to the loop only by
    messages; each "done" carries the AsyncResult its answer comes back in."""
    try:
        while start is not None:
            error = _run_instance(runner, record, start)
            resume = AsyncResult()
            runner._post(runner._on_done, record, error, resume)
            start = _get_ignoring_abort(resume)
    except Abandon:
        pass  # the loop stopped waiting for this id: nobody listens any more


def _run_instance(runner: Runner, record: Any, start: Start) -> BaseException | None:
    """Start a worker, report it, wait for it; return how it ended."""
    log.info("start %r", record.id)
    return run_worker(
        f"worker {record.id!r}",
        start,
        lambda worker: runner._post(runner._on_started, record, worker),
    )


def run_worker(what: str, start: Start, started: Callable[[IWorker], None]) -> BaseException | None:
    """Call ``start``, hand the worker it returns to ``started``, wait for the
    worker; return how it ended (None: cleanly or never started). The Runner
    and the dependency engine run each instance this way.

    ``Abort`` (the grace period is over) ends a start function, and aborts
    a running worker, then goes on waiting for it; ``Abandon`` (the loop
    gave up) takes the worker down with this greenlet. ``what`` names the
    worker in errors ("worker 'x'", "manifold 'y'")."""
    try:
        worker = start()
    except (GreenletExit, Abort):
        return None
    except Abandon:
        raise
    except BaseException as error:
        _note(error, f"raised by the start function of {what}")
        return error
    if not IWorker.providedBy(worker):
        return TypeError(
            f"the start function of {what} returned {worker!r}, which does not provide IWorker"
        )
    started(worker)
    while True:
        try:
            worker.wait()
        except Abort:
            _abort_or_kill(what, worker)
            continue
        except Abandon:
            _abort_or_kill(what, worker)
            raise
        except GreenletExit:
            return None
        except BaseException as error:
            return error
        return None
