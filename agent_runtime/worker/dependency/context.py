"""The context a start function reads its inputs through.

The engine's loop builds it with a snapshot of the inputs (their workers and
output functions) when a start begins; the start function reads it on its own
greenlet, so it never touches the loop's table. It expires when the start
function returns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gevent.event import Event
from zope.interface import implementer
from zope.interface.interface import InterfaceClass

from agent_runtime.interfaces import IContext, IWorker
from agent_runtime.worker.dependency.errors import ExpiredContext, Missing

__all__ = ["Context", "Input", "check_kind"]

#: What the snapshot holds of one input: its running worker (None when it is
#: not running or not installed) and its manifold's output function.
Input = tuple["IWorker | None", "Callable[[IWorker, Any], Any] | None"]


def check_kind(name: str, kind: Any, resource: Any) -> Any:
    """Return ``resource`` if it is of ``kind`` (a class: ``isinstance``; a
    zope interface: ``providedBy``); raise ``TypeError`` naming the input
    otherwise. Other kinds (keys of the output's own choosing) pass."""
    if isinstance(kind, InterfaceClass):
        ok = kind.providedBy(resource)
    elif isinstance(kind, type):
        ok = isinstance(resource, kind)
    else:
        return resource
    if not ok:
        raise TypeError(
            f"the output of {name!r} returned {resource!r} when asked for "
            f"{getattr(kind, '__name__', kind)!s}: fix that manifold's output"
        )
    return resource


@implementer(IContext)
class Context:
    """An ``IContext`` over a snapshot of inputs (see the module docstring).

    ``inputs`` maps each declared input to its ``(worker, output)``.
    """

    __slots__ = ("_expired", "_inputs", "abort", "name")

    def __init__(self, name: str, inputs: Mapping[str, Input]) -> None:
        self.name = name
        self.abort = Event()
        self._inputs = dict(inputs)
        self._expired = False

    def get(self, name: str, kind: Any = None) -> Any:
        if self._expired:
            raise ExpiredContext(
                f"the context of {self.name!r} was used after its start function "
                f"returned (asking for {name!r}): read inputs in the start function"
            )
        if name not in self._inputs:
            raise Missing(f"{name!r} is not an input of {self.name!r}: declare it in its inputs")
        worker, output = self._inputs[name]
        if worker is None:
            raise Missing(f"{name!r} is not running")
        if kind is None:
            return None
        if output is None:
            raise Missing(f"{name!r} offers no output")
        return check_kind(name, kind, output(worker, kind))

    def expire(self) -> None:
        """Make every later ``get`` raise ``ExpiredContext``."""
        self._expired = True
        self._inputs.clear()

    def __repr__(self) -> str:
        state = " expired" if self._expired else ""
        return f"<Context of {self.name!r}{state} inputs={sorted(self._inputs)}>"
