"""A ZooKeeper server that accepts a connection and never answers its
handshake (as one does while it starts) must not cost the client its session.

kazoo waits up to session timeout / (servers it was given) for a handshake to
be answered; the store gives it each server ``HANDSHAKES_PER_SERVER`` times,
so it gives up on a silent one after a third of the session timeout and tries
again while the session still lives. Here a proxy in front of a private
ZooKeeper server drops the store's connection and swallows the next
handshakes: connections it accepts and never forwards.
"""

from __future__ import annotations

import contextlib

import pytest
from gevent import socket
from gevent.event import Event
from gevent.pool import Group
from gevent.server import StreamServer

from agent_runtime.state.backends.zookeeper import HANDSHAKES_PER_SERVER, kazoo_hosts
from agent_runtime.testing import wait_for

from zookeeper_support import ZooKeeperServer

pytestmark = pytest.mark.zookeeper

pytest.importorskip("kazoo.client", reason="the ZooKeeper backend needs kazoo")

#: The session timeout (seconds): several handshake timeouts long.
SESSION = 9


class SwallowingProxy:
    """Forwards TCP connections to ``upstream`` (host:port), except the next
    ``swallow(n)`` ones, which it accepts and never answers."""

    def __init__(self, upstream: str) -> None:
        host, _, port = upstream.partition(":")
        self._upstream = (host, int(port))
        self._to_swallow = 0
        self.swallowed = 0
        self._sockets: list[socket.socket] = []
        self._pipes = Group()
        self._closed = Event()
        self._server = StreamServer(("127.0.0.1", 0), self._accept)
        self._server.start()
        self.hosts = f"127.0.0.1:{self._server.server_port}"

    def swallow(self, n: int) -> None:
        self._to_swallow += n

    def drop_all(self) -> None:
        """Close every connection it holds (the clients see it drop)."""
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._sockets.clear()

    def _accept(self, client: socket.socket, _address) -> None:
        self._sockets.append(client)
        if self._to_swallow:
            self._to_swallow -= 1
            self.swallowed += 1
            self._closed.wait()  # held open (the server closes it when this returns)
            return
        upstream = socket.create_connection(self._upstream)
        self._sockets.append(upstream)
        self._pipes.spawn(self._pipe, upstream, client)
        self._pipe(client, upstream)

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._closed.set()
        self._server.stop(timeout=1)
        self.drop_all()
        self._pipes.kill(timeout=5)


@pytest.fixture
def proxy():
    server = ZooKeeperServer()  # skips when Debian's zookeeper package is missing
    try:
        server.start()
        proxy = SwallowingProxy(server.hosts)
        try:
            yield proxy
        finally:
            proxy.close()
    finally:
        server.close()


def test_each_server_is_handed_to_kazoo_several_times():
    assert kazoo_hosts("a:1") == ",".join(["a:1"] * HANDSHAKES_PER_SERVER)
    assert kazoo_hosts(" a:1, b:2 ,") == ",".join(["a:1", "b:2"] * HANDSHAKES_PER_SERVER)


def test_unanswered_handshakes_do_not_cost_the_session(proxy, open_state):
    state = open_state(f"zookeeper://{proxy.hosts}/handshake?timeout={SESSION}")
    store = state.store
    session = store._client.client_id
    # Two silent servers in a row: a client that waited a session timeout on
    # the first would come back long after its session expired.
    proxy.swallow(2)
    state.environ_config()  # the server's clock for the session restarts here
    proxy.drop_all()
    wait_for(lambda: store._suspended, what="the store to see the connection drop")
    wait_for(
        lambda: not store._suspended and store._client.connected,
        timeout=3 * SESSION,
        what="the store to reconnect",
    )
    assert proxy.swallowed == 2
    assert store._client.client_id == session, "the session should have lived through"
    state.update_environ_config({"after": "two silent servers"})
    assert state.environ_config() == {"after": "two silent servers"}
