"""The greenlet of one start of a manifold: it calls the start function with
its context, reports the worker to the engine's loop, waits for it and reports
how it ended. It talks to the loop only by messages, and always sends the
last one (``_on_stopped``) unless the loop abandoned it.

The loop throws ``Abort`` into it when the engine's grace period is over (it
ends a start function, or aborts the running worker and goes on waiting for
it) and ``Abandon`` when the loop gives up on it (the worker goes down with
the greenlet): the Runner's exceptions, with the same meaning.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from gevent import GreenletExit

from agent_runtime.interfaces import IAbortableWorker, IWorker
from agent_runtime.worker.instance import Abandon, Abort

if TYPE_CHECKING:
    from agent_runtime.worker.dependency.context import Context
    from agent_runtime.worker.dependency.engine import Engine

__all__ = ["run_instance"]

log = logging.getLogger("agent_runtime.worker.dependency")


def _stop_now(name: str, worker: IWorker) -> None:
    try:
        if IAbortableWorker.providedBy(worker):
            worker.abort()
        else:
            worker.kill()
    except Exception:
        log.exception("stopping the worker of %r outright raised", name)


def _with_note(error: BaseException, note: str) -> BaseException:
    if hasattr(error, "add_note"):
        error.add_note(note)
    else:  # Python 3.10: keep it where 3.11+ tracebacks would look
        error.__notes__ = [*getattr(error, "__notes__", ()), note]
    return error


def run_instance(engine: Engine, record: Any, context: Context) -> None:
    """Start ``record``'s manifold with ``context``, run the worker, and tell
    ``engine``'s loop each step."""
    try:
        error = _run(engine, record, context)
    except Abandon:
        return  # the loop stopped waiting for this start: nobody listens any more
    engine._post(engine._on_stopped, record, error)


def _run(engine: Engine, record: Any, context: Context) -> BaseException | None:
    name = record.name
    try:
        try:
            worker = record.manifold.start(context)
        finally:
            context.expire()
    except (GreenletExit, Abort):
        return None
    except Abandon:
        raise
    except BaseException as error:
        return _with_note(error, f"raised by the start function of manifold {name!r}")
    if not IWorker.providedBy(worker):
        return TypeError(
            f"the start function of manifold {name!r} returned {worker!r}, "
            "which does not provide IWorker"
        )
    engine._post(engine._on_started, record, worker)
    while True:
        try:
            worker.wait()
        except Abort:
            _stop_now(name, worker)
            continue
        except Abandon:
            _stop_now(name, worker)
            raise
        except GreenletExit:
            return None
        except BaseException as error:
            return error
        return None
