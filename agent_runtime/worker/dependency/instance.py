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

from typing import TYPE_CHECKING, Any

from gevent import GreenletExit

from agent_runtime.interfaces import IWorker

# The Runner's: the same exceptions and helpers for the same protocol.
from agent_runtime.worker.instance import Abandon, Abort, _abort_or_kill, _note

if TYPE_CHECKING:
    from agent_runtime.worker.dependency.context import Context
    from agent_runtime.worker.dependency.engine import Engine

__all__ = ["run_instance"]


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
        _note(error, f"raised by the start function of manifold {name!r}")
        return error
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
            _abort_or_kill(name, worker)
            continue
        except Abandon:
            _abort_or_kill(name, worker)
            raise
        except GreenletExit:
            return None
        except BaseException as error:
            return error
        return None
