"""ZooKeeperStore: the state of agents on many machines, in ZooKeeper (kazoo).

``zookeeper://host:port[,host:port...]/chroot[?timeout=S]``; needs the
``zookeeper`` extra (kazoo). kazoo runs on its gevent handler, so every call
is cooperative.

* Nodes are the store's nodes under the chroot, as JSON; a node's version is
  the znode's version. A commit is one ZooKeeper transaction (multi-op), so
  no reader ever sees half of it.
* Watches: ZooKeeper's one-shot data watch (``get``, or ``exists`` while the
  node is missing) and child watch (``get_children``) of each watched path.
  When one fires, it is armed again first, then the store's subscribers of
  that path are told (the consumer re-reads after the re-arm, so no change
  falls in between).
* A watched path is cached: the read that arms its watch is kept, and
  ``get``/``children`` answer from it until the watch fires, the store
  commits to that path, or the connection drops. So the consumer's re-read
  after an event costs no second round trip (see ``_WatchCache``).
* Sessions: when the connection drops (SUSPENDED) kazoo drops every watch; on
  reconnection (CONNECTED) the store arms them again and tells every
  subscriber to re-read, so no change made meanwhile is lost. When the
  session is lost (LOST: it expired), every watcher stops with a
  ``StorageError``: the workers holding them fail, and their Runner restarts
  them on the new session kazoo makes.
* Presence: ``hold(path, data)`` keeps an ephemeral node for as long as a
  session lives (see ``Presence``).
* Handshakes: each server is tried for at most a third of the session
  timeout before the next attempt (``HANDSHAKES_PER_SERVER``), so a server
  that accepts a connection while it starts and never answers it cannot make
  the client miss its session.
* Time: the store takes no ``IClock``. Its only waits are kazoo's (the
  session and connection timeouts, the reconnection back-off), which bound
  I/O with the servers and run in real time, as a session's expiry on the
  server does.
"""

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
from agent_runtime.worker.base import GreenletWorker

try:
    from kazoo.client import KazooClient, KazooState
    from kazoo.exceptions import (
        BadVersionError,
        KazooException,
        NodeExistsError,
        NoNodeError,
        NotEmptyError,
        RolledBackError,
        SessionExpiredError,
    )
    from kazoo.handlers.gevent import SequentialGeventHandler
    from kazoo.protocol.states import EventType
    from kazoo.retry import KazooRetry
except ImportError as error:  # pragma: no cover - exercised without the extra
    raise ImportError(
        f"the ZooKeeper backend needs kazoo: pip install 'agent_runtime[zookeeper]' ({error})"
    ) from error

__all__ = ["Presence", "ZooKeeperStore", "open_store"]

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
    unknown = set(query) - {"timeout"}
    if unknown:
        raise BadURL(f"unknown parameter(s) {', '.join(sorted(unknown))} in {url!r}")
    timeout = DEFAULT_TIMEOUT
    if "timeout" in query:
        try:
            timeout = float(query["timeout"][-1])
        except ValueError:
            raise BadURL(f"timeout must be a number of seconds in {url!r}") from None
        if not 0 < timeout <= 600:
            raise BadURL(f"timeout must be between 0 and 600 seconds in {url!r}")
    return ZooKeeperStore(hosts, chroot, timeout=timeout)


class _WatchCache:
    """What one kind of watch (data or children) holds for each watched path:
    whether the watch is armed, and the value read while it was.

    A value is cached only if no event for its path came between the read
    and the store (``generation`` counts the events), and the watch was armed
    when the read began; any later change fires that watch, which drops the
    value. Touched only on the hub's greenlets, never across a blocking call
    between checking and storing.
    """

    __slots__ = ("armed", "generation", "values")

    def __init__(self) -> None:
        self.armed: set[str] = set()
        self.generation: dict[str, int] = {}
        self.values: dict[str, Any] = {}

    def invalidate(self, path: str) -> None:
        self.generation[path] = self.generation.get(path, 0) + 1
        self.values.pop(path, None)

    def fired(self, path: str) -> None:
        self.armed.discard(path)
        self.invalidate(path)

    def clear(self) -> None:
        self.armed.clear()
        self.values.clear()
        self.generation = {path: n + 1 for path, n in self.generation.items()}

    def store(self, path: str, generation: int, value: Any) -> None:
        if path in self.armed and self.generation.get(path, 0) == generation:
            self.values[path] = value


def _storage_error(error: Exception, what: str) -> StorageError:
    if isinstance(error, SessionExpiredError):
        # A call can meet the expiry before the LOST state reaches the store.
        return StorageError(f"ZooKeeper: {what}: the session was lost (it expired)")
    return StorageError(f"ZooKeeper: {what}: {type(error).__name__} {error}".rstrip())


@implementer(IStore, IPresenceStore)
class ZooKeeperStore:
    """An ``IStore`` in ZooKeeper under ``chroot`` (see the module docstring)."""

    def __init__(self, hosts: str, chroot: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.hosts = hosts
        self.root = chroot
        self._timeout = timeout
        self._subscriptions = Subscriptions(on_paths_added=self._arm_paths)
        self._data = _WatchCache()
        self._children = _WatchCache()
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
            raise _storage_error(error, f"cannot create the chroot {chroot}") from None

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
            raise _storage_error(error, f"cannot read {path}") from None
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
            raise _storage_error(error, f"cannot list {path}") from None
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
            raise _storage_error(error, "commit failed") from None
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

    def _fired_for(self, path: str, cache: _WatchCache):
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


class Presence(GreenletWorker):
    """An ephemeral node held for as long as the session lives: a worker that
    creates ``path`` (deleting it on ``kill()``), and fails with a
    ``StorageError`` when the session is lost (the node went with it), so that
    its Runner starts it again on the new session."""

    def __init__(self, store: ZooKeeperStore, path: str, data: Any) -> None:
        super().__init__()
        self._store = store
        self._znode = store._z(path)
        self._data = encode(data).encode()
        client = store._client
        try:
            client.create(self._znode, self._data, ephemeral=True, makepath=True)
        except NodeExistsError:
            # Left by an earlier session of ours that has not expired yet.
            client.delete(self._znode)
            client.create(self._znode, self._data, ephemeral=True, makepath=True)
        except KazooException as error:
            raise _storage_error(error, f"cannot create the presence node {path}") from None
        self._start()

    def _run(self) -> None:
        gevent.wait([self.dying, self._store._lost], count=1)
        if self.dying.is_set():
            if self._store._suspended:
                # No connection: kazoo would hold the delete until one is back
                # (and stopping would wait as long); the node goes with the session.
                return
            try:
                self._store._client.delete(self._znode)
            except (NoNodeError, KazooException):
                pass
            return
        raise StorageError(f"ZooKeeper session lost: presence {self._znode} is gone")
