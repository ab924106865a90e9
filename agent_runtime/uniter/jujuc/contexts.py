"""The hook contexts a hook-tool server serves, by unguessable id."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from gevent.lock import Semaphore

from agent_runtime.interfaces import IHookContext

__all__ = ["ContextEntry", "ContextRegistry"]


class ContextEntry:
    """A registered context and the lock that serialises its requests."""

    __slots__ = ("context", "lock")

    def __init__(self, context: object) -> None:
        self.context = context
        self.lock = Semaphore()


class ContextRegistry:
    """The hook contexts a server may run requests against.

    The unit agent registers the context of each hook run, which mints an
    unguessable id (``secrets.token_urlsafe``, 256 bits) for it; it puts the id
    in the hook's environment (``JUJU_CONTEXT_ID``) and revokes it when the
    hook has ended. A request naming an id that is unknown or revoked is
    refused (``bad request: unknown context ...``) and runs nothing.
    """

    def __init__(self) -> None:
        self._entries: dict[str, ContextEntry] = {}

    def register(self, context: object) -> str:
        """Register ``context`` (an IHookContext) under a new id; return the id."""
        if not IHookContext.providedBy(context):
            raise TypeError(f"{context!r} does not provide IHookContext")
        token = secrets.token_urlsafe(32)
        self._entries[token] = ContextEntry(context)
        return token

    def revoke(self, token: str) -> None:
        """Forget the context of ``token``: its later requests are refused. A
        request already running finishes. Revoking twice does nothing."""
        self._entries.pop(token, None)

    def lookup(self, token: str) -> ContextEntry | None:
        """The entry of ``token``, or None when it is unknown or revoked."""
        return self._entries.get(token)

    @contextmanager
    def registered(self, context: object) -> Iterator[str]:
        """Register ``context`` for the ``with`` block; yield its id."""
        token = self.register(context)
        try:
            yield token
        finally:
            self.revoke(token)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, token: object) -> bool:
        return token in self._entries
