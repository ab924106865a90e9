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
  after an event costs no second round trip (see ``cache.WatchCache``).
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

from agent_runtime.state.backends.zookeeper.presence import Presence
from agent_runtime.state.backends.zookeeper.store import (
    DEFAULT_TIMEOUT,
    HANDSHAKES_PER_SERVER,
    MAX_RECONNECT_DELAY,
    ZooKeeperStore,
    kazoo_hosts,
    open_store,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "HANDSHAKES_PER_SERVER",
    "MAX_RECONNECT_DELAY",
    "Presence",
    "ZooKeeperStore",
    "kazoo_hosts",
    "open_store",
]
