"""The store under the State: a tree of versioned JSON nodes (``IStore``).

This module has what every backend shares: nodes, the ops of a commit, path
checks, the subscription table that maps changed paths to watchers, and the
in-memory store. SQLite and ZooKeeper stores live in ``backends/``.
"""

from __future__ import annotations

import json
import logging
import posixpath
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import gevent
from gevent import get_hub
from greenlet import getcurrent
from zope.interface import implementer

from agent_runtime.interfaces import IStore, IStoreSubscription
from agent_runtime.state.errors import Conflict, InvalidValue, StateClosed

__all__ = [
    "Check",
    "Create",
    "Delete",
    "MemoryStore",
    "Node",
    "Set",
    "Subscriptions",
    "affected_paths",
    "check_path",
    "decode",
    "encode",
    "plan_commit",
]

log = logging.getLogger("agent_runtime.state")

#: How many watch callbacks a dispatch runs between two yields to the hub.
YIELD_EVERY = 100


class Node(NamedTuple):
    data: Any
    version: int


class Create(NamedTuple):
    """Create ``path`` holding ``data`` (version 0); its parent must exist
    (the root always does)."""

    path: str
    data: Any = None


class Set(NamedTuple):
    """Write ``data`` at ``path``; if ``version`` is given, only if the node
    still has that version. The node's version grows by one."""

    path: str
    data: Any
    version: int | None = None


class Delete(NamedTuple):
    """Delete ``path``, which must have no children; if ``version`` is given,
    only if the node still has that version."""

    path: str
    version: int | None = None


class Check(NamedTuple):
    """Apply nothing, but fail the commit unless ``path`` has ``version``
    (``None``: unless ``path`` does not exist)."""

    path: str
    version: int | None


Op = Create | Set | Delete | Check


def check_path(path: str) -> str:
    """Return ``path`` if it is an absolute, normalised node path; raise
    ``InvalidValue`` otherwise."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise InvalidValue(f"a node path must be a str starting with '/', not {path!r}")
    if path != "/" and (path.endswith("/") or posixpath.normpath(path) != path or "//" in path):
        raise InvalidValue(f"not a normalised node path: {path!r}")
    if any(c in path for c in "\x00\n\r"):
        raise InvalidValue(f"a node path cannot hold control characters: {path!r}")
    return path


def parent_of(path: str) -> str:
    return posixpath.dirname(path)


def encode(data: Any) -> str:
    """The JSON text stored for ``data`` (sorted keys, so equal data is equal text)."""
    try:
        return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as error:
        raise InvalidValue(f"cannot store {data!r}: {error}") from None


def decode(text: str | bytes | None) -> Any:
    return None if text is None or text == b"" else json.loads(text)


def affected_paths(ops: Iterable[Op]) -> list[str]:
    """The paths whose data or children a commit of ``ops`` changes."""
    paths: dict[str, None] = {}
    for op in ops:
        if isinstance(op, Check):
            continue
        paths[op.path] = None
        if not isinstance(op, Set):
            paths[parent_of(op.path)] = None
    return list(paths)


@implementer(IStoreSubscription)
class _Subscription:
    __slots__ = ("_on_change", "_on_error", "_paths", "_table")

    def __init__(self, table: Subscriptions, paths, on_change, on_error) -> None:
        self._table = table
        self._on_change = on_change
        self._on_error = on_error
        self._paths: frozenset[str] = frozenset()
        self.update(paths)

    def update(self, paths: Iterable[str]) -> None:
        if self._table is None:
            return
        new = frozenset(check_path(p) for p in paths)
        self._table._move(self, self._paths, new)
        self._paths = new

    def cancel(self) -> None:
        table, self._table = self._table, None
        if table is not None:
            table._move(self, self._paths, frozenset())
            with table._lock:
                table._all.discard(self)
        self._on_change = self._on_error = None


class Subscriptions:
    """Which subscriptions watch which paths, for stores that dispatch changes
    themselves (memory, SQLite). Callbacks run where ``changed()`` is called
    (a greenlet or a hub callback) and must not block."""

    def __init__(self, on_paths_added: Callable[[list[str]], None] | None = None) -> None:
        self._by_path: dict[str, set[_Subscription]] = {}
        self._all: set[_Subscription] = set()
        self._lock = threading.Lock()  # only for add/remove from several threads
        #: Called (on the subscriber's greenlet) with paths nobody watched before.
        self._on_paths_added = on_paths_added

    def subscribe(
        self,
        paths: Iterable[str],
        on_change: Callable[[], None],
        on_error: Callable[[BaseException], None],
    ) -> _Subscription:
        subscription = _Subscription(self, paths, on_change, on_error)
        with self._lock:
            self._all.add(subscription)
        return subscription

    def _move(self, sub: _Subscription, old: frozenset[str], new: frozenset[str]) -> None:
        added = []
        with self._lock:
            for path in old - new:
                subs = self._by_path.get(path)
                if subs is not None:
                    subs.discard(sub)
                    if not subs:
                        del self._by_path[path]
            for path in new - old:
                if path not in self._by_path:
                    added.append(path)
                self._by_path.setdefault(path, set()).add(sub)
        if added and self._on_paths_added is not None:
            self._on_paths_added(added)

    def watched(self, path: str) -> bool:
        """True if a subscription watches ``path``."""
        return path in self._by_path

    def paths(self) -> list[str]:
        """Every path a subscription watches."""
        return list(self._by_path)

    def changed(self, paths: Iterable[str]) -> int:
        """Tell every subscription watching one of ``paths``; return how many.

        Called from a greenlet, it yields to the hub every ``YIELD_EVERY``
        callbacks, so that waking thousands of watchers never holds the hub for
        long (nor piles up thousands of hub callbacks for the collector)."""
        by_path = self._by_path
        hit: set[_Subscription] = set()
        for path in paths:
            subs = by_path.get(path)
            if subs:
                hit.update(subs)
        may_yield = len(hit) > YIELD_EVERY and getcurrent() is not get_hub()
        for count, sub in enumerate(hit, 1):
            callback = sub._on_change
            if callback is not None:
                try:
                    callback()
                except Exception:
                    log.exception("a store watch callback failed")
            if may_yield and count % YIELD_EVERY == 0:
                gevent.sleep(0)
        return len(hit)

    def changed_all(self) -> None:
        """Tell every subscription (after losing track of what changed)."""
        self.changed(list(self._by_path))

    def fail_all(self, error: BaseException) -> None:
        """Tell every subscription the store can no longer watch, and drop them."""
        with self._lock:
            subs, self._all = self._all, set()
            self._by_path.clear()
        for sub in subs:
            callback = sub._on_error
            sub._table = None
            sub._on_change = sub._on_error = None
            if callback is not None:
                try:
                    callback(error)
                except Exception:
                    log.exception("a store watch error callback failed")

    def __len__(self) -> int:
        return len(self._all)


def plan_commit(
    ops: Sequence[Op],
    get_node: Callable[[str], tuple[str, int] | None],
    get_children: Callable[[str], Iterable[str]],
) -> dict[str, tuple[str, int] | None]:
    """Check ``ops`` against the store seen through ``get_node`` (path -> (json
    text, version) or None) and ``get_children`` (path -> child names), and
    return what to write: path -> new (json text, version), or None to delete.

    Raises ``Conflict`` naming the first op that cannot apply; nothing is
    written then. Each op sees the effect of the ops before it. The root '/'
    always exists and cannot be written or deleted.
    """
    writes: dict[str, tuple[str, int] | None] = {}
    kids: dict[str, set[str]] = {}

    def node(path: str) -> tuple[str, int] | None:
        if path in writes:
            return writes[path]
        if path == "/":
            return ("null", 0)
        return get_node(path)

    def kids_of(path: str) -> set[str]:
        if path not in kids:
            kids[path] = set(get_children(path))
        return kids[path]

    for index, op in enumerate(ops):
        if not isinstance(op, (Create, Set, Delete, Check)):
            raise InvalidValue(f"not a store op: {op!r}")
        path = check_path(op.path)
        current = node(path)
        version = None if current is None else current[1]
        if isinstance(op, Check):
            if version != op.version:
                raise Conflict(
                    f"check of {path} failed: version {version}, expected {op.version}", index, op
                )
            continue
        if path == "/":
            raise Conflict("the root node cannot be changed", index, op)
        if isinstance(op, Create):
            if current is not None:
                raise Conflict(f"node {path} exists already", index, op)
            parent = parent_of(path)
            if node(parent) is None:
                raise Conflict(f"cannot create {path}: {parent} does not exist", index, op)
            writes[path] = (encode(op.data), 0)
            kids_of(parent).add(posixpath.basename(path))
            continue
        verb = "write" if isinstance(op, Set) else "delete"
        if current is None:
            raise Conflict(f"cannot {verb} {path}: no such node", index, op)
        if op.version is not None and op.version != version:
            raise Conflict(
                f"cannot {verb} {path}: version {version}, expected {op.version}", index, op
            )
        if isinstance(op, Set):
            writes[path] = (encode(op.data), version + 1)
        else:
            if kids_of(path):
                raise Conflict(f"cannot delete {path}: it has children", index, op)
            writes[path] = None
            kids_of(parent_of(path)).discard(posixpath.basename(path))
    return writes


@implementer(IStore)
class MemoryStore:
    """An ``IStore`` in this process's memory: for tests and examples.

    Data is stored as JSON text, so what a caller keeps or mutates never
    aliases what the store holds.
    """

    def __init__(self) -> None:
        self._nodes: dict[str, tuple[str, int]] = {}
        self._children: dict[str, set[str]] = {}
        self._subscriptions = Subscriptions()
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise StateClosed("the memory store is closed")

    def get(self, path: str) -> Node | None:
        self._check_open()
        found = self._nodes.get(check_path(path))
        return None if found is None else Node(decode(found[0]), found[1])

    def children(self, path: str) -> list[str]:
        self._check_open()
        return sorted(self._children.get(check_path(path), ()))

    def commit(self, ops: Sequence[Op]) -> None:
        self._check_open()
        ops = list(ops)
        writes = plan_commit(ops, self._nodes.get, lambda path: self._children.get(path, ()))
        for path, value in writes.items():
            parent, name = parent_of(path), posixpath.basename(path)
            if value is None:
                del self._nodes[path]
                siblings = self._children.get(parent)
                if siblings is not None:
                    siblings.discard(name)
                    if not siblings:
                        del self._children[parent]
            else:
                if path not in self._nodes:
                    self._children.setdefault(parent, set()).add(name)
                self._nodes[path] = value
        self._subscriptions.changed(affected_paths(ops))

    def watch(self, paths, on_change, on_error) -> IStoreSubscription:
        self._check_open()
        return self._subscriptions.subscribe(paths, on_change, on_error)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._subscriptions.fail_all(StateClosed("the memory store was closed"))

    def __repr__(self) -> str:
        return f"<MemoryStore {len(self._nodes)} nodes>"
