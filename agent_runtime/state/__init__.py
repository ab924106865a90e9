"""The watched state agents share: one API (``State``), several backends.

``open(url)`` picks the backend from the URL:

* ``memory://`` — a new, empty state in this process's memory;
  ``memory://NAME`` — the state named NAME, shared by this process.
* ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` — the
  embedded default: a file shared by the processes of one machine
  (SQLAlchemy's convention). ``?poll=SECONDS`` sets how often changes of
  other processes are looked for (default 0.05).
* ``zookeeper://host:port[,host:port...]/chroot`` — agents on many machines
  (needs the ``zookeeper`` extra).

A URL that holds nothing yet gives an empty, usable state (environ config
``{}``). Missing parent directories are not created.

``open(url, clock=...)`` gives the state an ``IClock``: the SQLite poller
sleeps on it between two looks at the change log (tests pass a ManualClock
and poll by advancing it). A memory state never waits for time; ZooKeeper's
waits (session and connection timeouts, reconnection back-off) are kazoo's
and run in real time, since they bound I/O with the servers.
"""

from __future__ import annotations

import threading
from urllib.parse import parse_qs, urlsplit

from zope.interface import implementer

from agent_runtime.clock import REAL_CLOCK
from agent_runtime.interfaces import IClock, IStore
from agent_runtime.state.errors import (
    AlreadyExists,
    BadURL,
    Conflict,
    InvalidValue,
    NotFound,
    StateClosed,
    StateError,
    StorageError,
)
from agent_runtime.state.model import ALIVE, DEAD, DYING, Relation, RelationEndpoint, Service, Unit
from agent_runtime.state.state import State
from agent_runtime.state.store import MemoryStore
from agent_runtime.state.url import check_parameters, seconds_parameter

__all__ = [
    "ALIVE",
    "DEAD",
    "DYING",
    "AlreadyExists",
    "BadURL",
    "Conflict",
    "InvalidValue",
    "NotFound",
    "Relation",
    "RelationEndpoint",
    "Service",
    "State",
    "StateClosed",
    "StateError",
    "StorageError",
    "Unit",
    "open",
]

_named_memory: dict[str, MemoryStore] = {}
_named_lock = threading.Lock()


@implementer(IStore)
class _SharedMemoryView:
    """One State's view of a named memory store: closing it stops the watchers
    made through it and refuses further calls, but leaves the store to the
    other States over it. (Named stores live as long as the process.)"""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._subscriptions: dict = {}
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise StateClosed("this State of the shared memory store is closed")

    def get(self, path):
        self._check_open()
        return self._store.get(path)

    def children(self, path):
        self._check_open()
        return self._store.children(path)

    def commit(self, ops):
        self._check_open()
        return self._store.commit(ops)

    def watch(self, paths, on_change, on_error):
        self._check_open()
        subscription = self._store.watch(paths, on_change, on_error)
        self._subscriptions = {s: e for s, e in self._subscriptions.items() if s._table is not None}
        self._subscriptions[subscription] = on_error
        return subscription

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        subscriptions, self._subscriptions = self._subscriptions, {}
        for subscription, on_error in subscriptions.items():
            if subscription._table is not None:
                subscription.cancel()
                on_error(StateClosed("the State was closed"))


def open(url: str, *, clock: IClock = REAL_CLOCK) -> State:
    """Open the state at ``url`` (see the module docstring); its SQLite poller
    runs on ``clock``. Raises ``BadURL`` for a URL that cannot be used and
    ``StorageError`` for storage that cannot be opened."""
    if not isinstance(url, str):
        raise BadURL(f"a state URL is a str, not {type(url).__name__}")
    if not IClock.providedBy(clock):
        raise TypeError(f"clock must provide IClock, not {clock!r}")
    try:
        parts = urlsplit(url)
    except ValueError as error:
        raise BadURL(f"malformed state URL {url!r}: {error}") from None
    scheme = parts.scheme.lower()
    if not scheme or "://" not in url:
        raise BadURL(
            f"malformed state URL {url!r}: expected memory://, sqlite:///PATH "
            "or zookeeper://HOST:PORT/CHROOT"
        )
    query = parse_qs(parts.query, keep_blank_values=True)
    if scheme == "memory":
        return State(_memory_store(parts.netloc + parts.path.lstrip("/")), url)
    if scheme == "sqlite":
        return State(_sqlite_store(url, parts.netloc, parts.path, query, clock), url)
    if scheme == "zookeeper":
        try:
            from agent_runtime.state.backends import zookeeper
        except ImportError as error:
            raise StorageError(
                f"cannot open {url!r}: the ZooKeeper backend is not available ({error})"
            ) from None
        return State(zookeeper.open_store(url), url)
    raise BadURL(
        f"unknown state URL scheme {parts.scheme!r} in {url!r}: "
        "use memory://, sqlite:/// or zookeeper://"
    )


def _memory_store(name: str):
    if not name:
        return MemoryStore()
    with _named_lock:
        store = _named_memory.get(name)
        if store is None:
            store = _named_memory[name] = MemoryStore()
        return _SharedMemoryView(store)


def _sqlite_store(url: str, netloc: str, path: str, query: dict[str, list[str]], clock: IClock):
    from agent_runtime.state.backends.sqlite import SqliteStore

    if netloc:
        raise BadURL(
            f"malformed sqlite URL {url!r}: use sqlite:///relative/path.db or "
            "sqlite:////absolute/path.db (three or four slashes; there is no host)"
        )
    path = path[1:] if path.startswith("/") else path
    if not path:
        raise BadURL(f"sqlite URL {url!r} names no file: use sqlite:///path/to/state.db")
    check_parameters(query, {"poll"}, url)
    poll = seconds_parameter(query, "poll", 0.05, 60, url)
    return SqliteStore(path, poll_interval=poll, clock=clock)
