"""A stand-in for the engine's context, to test a start function alone
(juju's ``dependency/testing`` stubs)::

    context = StubContext({"api": FakeAPI(), "config": Missing("no config")})
    worker = start(context)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gevent.event import Event
from zope.interface import implementer

from agent_runtime.interfaces import IContext
from agent_runtime.worker.dependency.context import check_kind
from agent_runtime.worker.dependency.errors import ExpiredContext, Missing

__all__ = ["StubContext"]


@implementer(IContext)
class StubContext:
    """An ``IContext`` whose inputs are ``resources``: name -> the resource
    the input offers (an object of the kinds asked for), or an exception that
    ``get`` raises (``Missing(...)``: the input is not running).

    ``get(name, kind)`` raises ``Missing`` for a name not in ``resources``
    and for a resource that is not of ``kind``; ``expire()`` makes it raise
    ``ExpiredContext``, like the engine's context after the start returned.
    ``calls`` records every ``(name, kind)`` asked for.
    """

    def __init__(self, resources: Mapping[str, Any] = (), name: str = "stub") -> None:
        self.name = name
        self.abort = Event()
        self.resources = dict(resources)
        self.calls: list[tuple[str, Any]] = []
        self._expired = False

    def get(self, name: str, kind: Any = None) -> Any:
        self.calls.append((name, kind))
        if self._expired:
            raise ExpiredContext(f"the stub context of {self.name!r} has expired")
        if name not in self.resources:
            raise Missing(f"{name!r} is not an input of {self.name!r}")
        resource = self.resources[name]
        if isinstance(resource, BaseException):
            raise resource
        if kind is None:
            return None
        try:
            return check_kind(name, kind, resource)
        except TypeError:
            raise Missing(f"{name!r} offers nothing of kind {kind!r}") from None

    def expire(self) -> None:
        self._expired = True
