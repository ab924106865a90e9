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

# The Runner's: the same exceptions and the same way of running one instance.
from agent_runtime.worker.instance import Abandon, run_worker

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
    def start():
        try:
            return record.manifold.start(context)
        finally:
            context.expire()

    return run_worker(
        f"manifold {record.name!r}",
        start,
        lambda worker: engine._post(engine._on_started, record, worker),
    )
