"""ZooKeeperStore: the state of agents on many machines, in ZooKeeper (kazoo).

``zookeeper://host:port[,host:port...]/chroot[?timeout=S]``; needs the
``zookeeper`` extra (kazoo). kazoo runs on its gevent handler, so every call
is cooperative.

* Nodes are the store's nodes under the chroot, as JSON; a node's version is
  the znode's version. A commit is one ZooKeeper transaction (multi-op), so
  no reader ever sees half of it.
* Watches: ZooKeeper's one-shot data watch (``exists``) and child watch
  (``get_children``) of each watched path. When one fires, it is armed again
  first, then the store's subscribers of that path are told (the consumer
  re-reads after the re-arm, so no change falls in between).
* Sessions: when the connection drops (SUSPENDED) kazoo drops every watch; on
  reconnection (CONNECTED) the store arms them again and tells every
  subscriber to re-read, so no change made meanwhile is lost. When the
  session is lost (LOST: it expired), every watcher stops with a
  ``StorageError``: the workers holding them fail, and their Runner restarts
  them on the new session kazoo makes.
* Presence: ``hold(path, data)`` keeps an ephemeral node for as long as a
  session lives (see ``Presence``).
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


def _storage_error(error: Exception, what: str) -> StorageError:
    return StorageError(f"ZooKeeper: {what}: {type(error).__name__} {error}".rstrip())


@implementer(IStore, IPresenceStore)
class ZooKeeperStore:
    """An ``IStore`` in ZooKeeper under ``chroot`` (see the module docstring)."""

    def __init__(self, hosts: str, chroot: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.hosts = hosts
        self.root = chroot
        self._timeout = timeout
        self._subscriptions = Subscriptions(on_paths_added=self._arm_paths)
        self._data_armed: set[str] = set()
        self._children_armed: set[str] = set()
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
            hosts=hosts, timeout=timeout, handler=handler, connection_retry=reconnect
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
        try:
            data, stat = self._client.get(self._z(path))
        except NoNodeError:
            return None
        except KazooException as error:
            raise _storage_error(error, f"cannot read {path}") from None
        return Node(json.loads(data) if data else None, stat.version)

    def children(self, path: str) -> list[str]:
        self._check_open()
        try:
            return sorted(self._client.get_children(self._z(path)))
        except NoNodeError:
            return []
        except KazooException as error:
            raise _storage_error(error, f"cannot list {path}") from None

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
            raise _storage_error(error, "commit failed") from None
        failures = [r for r in results if isinstance(r, Exception)]
        if failures:
            raise self._conflict(ops, results)

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
        if self._closed or self._suspended:
            return  # armed again at reconnection
        znode = self._z(path)
        try:
            if path not in self._data_armed:
                self._data_armed.add(path)
                exists = self._client.exists(znode, watch=self._fired_for(path, "data"))
            else:
                exists = self._client.exists(znode)
            if exists is not None and path not in self._children_armed:
                self._children_armed.add(path)
                try:
                    self._client.get_children(znode, watch=self._fired_for(path, "children"))
                except NoNodeError:
                    self._children_armed.discard(path)  # gone meanwhile: the data watch tells
        except KazooException as error:
            log.warning("ZooKeeper: cannot watch %s: %s", path, error)
            self._data_armed.discard(path)
            self._children_armed.discard(path)

    def _fired_for(self, path: str, kind: str):
        def fired(event) -> None:  # on kazoo's callback greenlet: must not block
            (self._data_armed if kind == "data" else self._children_armed).discard(path)
            if event.type == EventType.NONE:
                return  # the connection dropped: re-armed at reconnection
            gevent.spawn(self._rearm_and_notify, path)

        return fired

    def _rearm_and_notify(self, path: str) -> None:
        if not self._subscriptions.watched(path):
            return  # nobody watches it any more: let it go
        self._arm(path)
        self._subscriptions.changed([path])

    def _on_state(self, state) -> None:  # on kazoo's connection greenlet: must not block
        if state == KazooState.SUSPENDED:
            log.warning("ZooKeeper: connection to %s suspended", self.hosts)
            self._suspended = True
        elif state == KazooState.LOST:
            if self._closed:
                return
            log.error("ZooKeeper: session with %s lost", self.hosts)
            self._suspended = False
            self._data_armed.clear()
            self._children_armed.clear()
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
