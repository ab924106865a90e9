"""ZooKeeperStore: the ``IStore`` of agents on many machines (see the package
docstring for how it maps the store onto ZooKeeper)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

import gevent
from gevent.event import Event
from zope.interface import implementer

from agent_runtime.interfaces import IPresenceStore, IStore, IStoreSubscription
from agent_runtime.state.backends.zookeeper._kazoo import (
    BadVersionError,
    EventType,
    KazooClient,
    KazooException,
    KazooRetry,
    KazooState,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
    SequentialGeventHandler,
    storage_error,
)
from agent_runtime.state.backends.zookeeper.cache import WatchCache
from agent_runtime.state.backends.zookeeper.presence import Presence
from agent_runtime.state.errors import BadURL, Conflict, InvalidValue, StateClosed, StorageError
from agent_runtime.state.store import (
    Check,
    Create,
    Delete,
    Node,
    Op,
    Set,
    Subscriptions,
    check_path,
    encode,
)
from agent_runtime.state.url import check_parameters, seconds_parameter

__all__ = [
    "DEFAULT_TIMEOUT",
    "HANDSHAKES_PER_SERVER",
    "MAX_RECONNECT_DELAY",
    "ZooKeeperStore",
    "kazoo_hosts",
    "open_store",
]

log = logging.getLogger("agent_runtime.state.zookeeper")

DEFAULT_TIMEOUT = 10.0

#: The longest pause (seconds) between two attempts to reconnect (kazoo's
#: default backoff grows to an hour). A session outlives a server restart by
#: one session timeout, so a client must try again well within it.
MAX_RECONNECT_DELAY = 1.0

#: How many times kazoo is given each server. kazoo, like ZooKeeper's Java
#: client, waits up to session timeout / (servers it was given) for a server to
#: answer a connection handshake. A server that is starting can accept a
#: connection and never answer it: waiting a whole session timeout there loses
#: the session the client came back to keep. Given each server three times,
#: kazoo gives up on such a handshake after a third of the session timeout and
#: tries the next entry at once.
HANDSHAKES_PER_SERVER = 3


def kazoo_hosts(hosts: str) -> str:
    """The hosts string handed to kazoo: each server ``HANDSHAKES_PER_SERVER`` times."""
    servers = [server.strip() for server in hosts.split(",") if server.strip()]
    return ",".join(servers * HANDSHAKES_PER_SERVER)


def open_store(url: str) -> ZooKeeperStore:
    """The store a ``zookeeper://`` URL names (``BadURL`` if it names none)."""
    parts = urlsplit(url)
    hosts = parts.netloc
    if not hosts or "@" in hosts:
        raise BadURL(f"expected zookeeper://host:port[,host:port...]/chroot, got {url!r}")
    chroot = parts.path.rstrip("/")
    if not chroot:
        raise BadURL(f"zookeeper URL {url!r} has no chroot: add a path, e.g. /agent-runtime")
    try:
        check_path(chroot)
    except InvalidValue:
        raise BadURL(f"zookeeper URL {url!r}: {chroot!r} is not a node path") from None
    query = parse_qs(parts.query)
    check_parameters(query, {"timeout"}, url)
    timeout = seconds_parameter(query, "timeout", DEFAULT_TIMEOUT, 600, url)
    return ZooKeeperStore(hosts, chroot, timeout=timeout)


@implementer(IStore, IPresenceStore)
class ZooKeeperStore:
    """An ``IStore`` in ZooKeeper under ``chroot`` (see the module docstring)."""

    def __init__(self, hosts: str, chroot: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.hosts = hosts
        self.root = chroot
        self._timeout = timeout
        self._subscriptions = Subscriptions(on_paths_added=self._arm_paths)
        self._data = WatchCache()
        self._children = WatchCache()
        self._lost = Event()  # set while the session is lost, for Presence holders
        self._suspended = False
        self._closed = False
        handler = SequentialGeventHandler()
        reconnect = KazooRetry(
            max_tries=-1,
            max_delay=min(MAX_RECONNECT_DELAY, timeout / 4),
            sleep_func=handler.sleep_func,
        )
        self._client = KazooClient(
            hosts=kazoo_hosts(hosts), timeout=timeout, handler=handler, connection_retry=reconnect
        )
        self._client.add_listener(self._on_state)
        try:
            self._client.start(timeout=timeout)
        except (Exception, self._client.handler.timeout_exception) as error:
            self._client.stop()
            self._client.close()
            raise StorageError(
                f"cannot connect to ZooKeeper at {hosts} within {timeout:g} s: {error}"
            ) from None
        try:
            self._client.ensure_path(chroot)
        except KazooException as error:
            self.close()
            raise storage_error(error, f"cannot create the chroot {chroot}") from None

    # -- paths and calls --------------------------------------------------------------

    def _z(self, path: str) -> str:
        path = check_path(path)
        return self.root if path == "/" else self.root + path

    def _check_open(self) -> None:
        if self._closed:
            raise StateClosed(f"the ZooKeeper store {self.hosts}{self.root} is closed")

    # -- IStore ---------------------------------------------------------------------------

    def get(self, path: str) -> Node | None:
        self._check_open()
        cache = self._data
        if path in cache.values:
            return cache.values[path]
        znode = self._z(path)
        armed, generation = path in cache.armed, cache.generation.get(path, 0)
        try:
            node = self._node(*self._client.get(znode))
        except NoNodeError:
            node = None
        except KazooException as error:
            raise storage_error(error, f"cannot read {path}") from None
        if armed:
            cache.store(path, generation, node)
        return node

    def children(self, path: str) -> list[str]:
        self._check_open()
        cache = self._children
        if path in cache.values:
            return list(cache.values[path])
        armed, generation = path in cache.armed, cache.generation.get(path, 0)
        try:
            names = sorted(self._client.get_children(self._z(path)))
        except NoNodeError:
            return []
        except KazooException as error:
            raise storage_error(error, f"cannot list {path}") from None
        if armed:
            cache.store(path, generation, names)
        return list(names)

    @staticmethod
    def _node(data: bytes, stat: Any) -> Node:
        return Node(json.loads(data) if data else None, stat.version)

    def commit(self, ops: Sequence[Op]) -> None:
        self._check_open()
        ops = list(ops)
        if not ops:
            return
        transaction = self._client.transaction()
        for op in ops:
            if not isinstance(op, (Create, Set, Delete, Check)):
                raise InvalidValue(f"not a store op: {op!r}")
            znode = self._z(op.path)
            if op.path == "/" and not isinstance(op, Check):
                raise Conflict("the root node cannot be changed", ops.index(op), op)
            if isinstance(op, Create):
                transaction.create(znode, encode(op.data).encode())
            elif isinstance(op, Set):
                version = -1 if op.version is None else op.version
                transaction.set_data(znode, encode(op.data).encode(), version=version)
            elif isinstance(op, Delete):
                transaction.delete(znode, version=-1 if op.version is None else op.version)
            elif op.version is None:  # "must not exist": a create undone in the same commit
                transaction.create(znode, b"")
                transaction.delete(znode)
            else:
                transaction.check(znode, op.version)
        try:
            results = transaction.commit()
        except KazooException as error:
            self._invalidate(ops)  # it may have been applied: the reply is what was lost
            raise storage_error(error, "commit failed") from None
        self._invalidate(ops)
        failures = [r for r in results if isinstance(r, Exception)]
        if failures:
            raise self._conflict(ops, results)

    def _invalidate(self, ops: list[Op]) -> None:
        """Drop what the cache holds of the nodes ``ops`` wrote (their watches
        fire too, but later: a read right after this commit must see it)."""
        for op in ops:
            if isinstance(op, Check):
                continue
            self._data.invalidate(op.path)
            if isinstance(op, (Create, Delete)):
                parent = op.path.rpartition("/")[0] or "/"
                self._children.invalidate(parent)
                self._children.invalidate(op.path)

    @staticmethod
    def _conflict(ops: list[Op], results: list[Any]) -> Conflict:
        # Results follow the ZooKeeper ops, one or two per op (see Check above).
        index = 0
        for op in ops:
            count = 2 if isinstance(op, Check) and op.version is None else 1
            for result in results[index : index + count]:
                if isinstance(result, Exception) and not isinstance(result, RolledBackError):
                    reason = {
                        NodeExistsError: "exists already",
                        NoNodeError: "no such node (or no parent)",
                        BadVersionError: "has another version",
                        NotEmptyError: "has children",
                    }.get(type(result), type(result).__name__)
                    return Conflict(f"{op.path}: {reason}", ops.index(op), op)
            index += count
        return Conflict("the commit failed", -1, None)

    def watch(self, paths, on_change, on_error) -> IStoreSubscription:
        self._check_open()
        return self._subscriptions.subscribe(paths, on_change, on_error)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._client.stop()
            self._client.close()
        finally:
            self._subscriptions.fail_all(
                StateClosed(f"the ZooKeeper store {self.hosts}{self.root} was closed")
            )

    # -- watches ---------------------------------------------------------------------------

    def _arm_paths(self, paths) -> None:
        """Arm the watches of paths that subscriptions started watching (on the
        subscriber's greenlet: it may wait for ZooKeeper)."""
        for path in paths:
            self._arm(path)

    def _arm(self, path: str) -> None:
        """Arm the data and child watches of ``path`` that are not armed, and
        cache what arming them read."""
        if self._closed or self._suspended:
            return  # armed again at reconnection
        znode = self._z(path)
        data, children = self._data, self._children
        try:
            node: Node | None = data.values.get(path)
            if path not in data.armed:
                data.armed.add(path)
                generation = data.generation.get(path, 0)
                node = self._read_and_watch(znode, self._fired_for(path, data))
                data.store(path, generation, node)
            elif path not in data.values:
                node = self.get(path)
            if path not in children.armed and node is not None:
                children.armed.add(path)
                generation = children.generation.get(path, 0)
                try:
                    names = self._client.get_children(znode, watch=self._fired_for(path, children))
                except NoNodeError:
                    children.armed.discard(path)  # gone meanwhile: the data watch tells
                else:
                    children.store(path, generation, sorted(names))
        except StateClosed:
            return  # closed meanwhile: every subscription has failed with it
        except KazooException as error:
            log.warning("ZooKeeper: cannot watch %s: %s", path, error)
            data.fired(path)
            children.fired(path)

    def _read_and_watch(self, znode: str, watch) -> Node | None:
        """The node, read with ``watch`` armed on it (it fires at its next
        change, creation or deletion)."""
        try:
            return self._node(*self._client.get(znode, watch=watch))
        except NoNodeError:
            pass
        # get() on a missing node sets no watch; exists() sets one that fires
        # when it is created. If it was created in between, read it: the watch
        # is armed now, so any later change fires it.
        if self._client.exists(znode, watch=watch) is None:
            return None
        try:
            return self._node(*self._client.get(znode))
        except NoNodeError:
            return None  # deleted again: the watch has fired

    def _fired_for(self, path: str, cache: WatchCache):
        def fired(event) -> None:  # on kazoo's callback greenlet: must not block
            cache.fired(path)
            if event.type == EventType.NONE:
                return  # the connection dropped: re-armed at reconnection
            gevent.spawn(self._rearm_and_notify, path)

        return fired

    def _rearm_and_notify(self, path: str) -> None:
        if self._closed or not self._subscriptions.watched(path):
            return  # nobody watches it any more: let it go
        self._arm(path)
        self._subscriptions.changed([path])

    def _on_state(self, state) -> None:  # on kazoo's connection greenlet: must not block
        if state == KazooState.SUSPENDED:
            log.warning("ZooKeeper: connection to %s suspended", self.hosts)
            self._suspended = True
            self._data.clear()  # kazoo dropped the watches (and tells each, later)
            self._children.clear()
        elif state == KazooState.LOST:
            if self._closed:
                return
            log.error("ZooKeeper: session with %s lost", self.hosts)
            self._suspended = False
            self._data.clear()
            self._children.clear()
            self._lost.set()
            gevent.spawn(
                self._subscriptions.fail_all,
                StorageError(f"ZooKeeper session with {self.hosts} lost"),
            )
        elif state == KazooState.CONNECTED:
            self._lost.clear()
            if self._suspended:
                self._suspended = False
                log.info("ZooKeeper: connection to %s re-established: re-reading", self.hosts)
                gevent.spawn(self._after_reconnect)
            elif self._subscriptions.paths():
                # A new session after LOST: subscriptions taken since the old
                # one's were failed could not arm their watches (kazoo refuses
                # every call until it reconnects); arm them now.
                log.info("ZooKeeper: new session with %s: watching again", self.hosts)
                gevent.spawn(self._after_reconnect)

    def _after_reconnect(self) -> None:
        for path in self._subscriptions.paths():
            self._arm(path)
        self._subscriptions.changed_all()

    # -- presence ---------------------------------------------------------------------------

    def hold(self, path: str, data: Any) -> Presence:
        self._check_open()
        return Presence(self, path, data)

    def __repr__(self) -> str:
        return f"<ZooKeeperStore {self.hosts}{self.root}{' closed' if self._closed else ''}>"
