"""The hook-tool server: runs the hook tools that hooks call, against the
context of the hook that called them.

One server per unit agent listens on a unix socket in a directory only the
agent's user can enter, and serves every hook run through a
``ContextRegistry``. See docs/jujuc-protocol.md for the wire format and the
security model.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable

import gevent
from gevent import GreenletExit, socket

from agent_runtime.clock import REAL_CLOCK, ClockTimeout
from agent_runtime.interfaces import IClock
from agent_runtime.sockets import (
    InsecureSocketDir,
    SocketInUse,
    peer_credentials,
    private_directory,
    remove_stale_socket,
)
from agent_runtime.uniter.jujuc import cmd, protocol
from agent_runtime.uniter.jujuc.commands import new_command as _new_command
from agent_runtime.uniter.jujuc.contexts import ContextRegistry
from agent_runtime.worker.base import GreenletWorker

__all__ = ["InsecureSocketDir", "Server", "SocketInUse", "peer_credentials"]

log = logging.getLogger(__name__)

#: Longest path a unix socket address holds on Linux (sun_path less the NUL).
_MAX_SOCKET_PATH = 107
#: accept() errors that mean "out of resources for now": back off, go on.
_TRANSIENT = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
#: Seconds (of the server's clock) between two accept() attempts that failed so.
_BACKOFF = 0.05


class _Connection:
    __slots__ = ("busy", "greenlet", "sock")

    def __init__(self, sock) -> None:
        self.sock = sock
        self.busy = False
        self.greenlet: gevent.Greenlet | None = None


class Server(GreenletWorker):
    """The hook-tool server, an IWorker.

    It listens on ``socket_path`` as soon as it is made (errors are raised
    then), in a directory that it creates with mode 0700 or checks is private.
    Each connection may carry many requests, one after the other; requests of
    one context run one at a time, different contexts at once.

    ``kill()`` stops accepting (the socket file is removed), lets requests
    that are running finish within ``shutdown_timeout`` seconds, closes every
    connection, and then the server has stopped. ``wait()`` raises only if
    accepting failed for good.

    ``contexts`` is the ContextRegistry of the hook runs; ``new_command(ctx,
    name)`` makes the command a request names (raising ``LookupError`` for an
    unknown name); ``uid`` is the only user allowed to connect (the agent's
    effective uid by default); ``idle_timeout`` bounds the wait for a whole
    request frame and the sending of a response; ``max_request`` caps the
    size of a request frame.

    ``clock`` (an ``IClock``) times the server's own waits: the shutdown
    grace and the back-off after a failed ``accept()``. ``idle_timeout`` is
    an I/O timeout against the client and stays in real time (a socket
    timeout cannot be told to follow another clock).
    """

    def __init__(
        self,
        socket_path: str,
        contexts: ContextRegistry,
        *,
        new_command: Callable[[object, str], cmd.Command] = _new_command,
        uid: int | None = None,
        idle_timeout: float = 10.0,
        shutdown_timeout: float = 5.0,
        max_request: int = protocol.MAX_REQUEST,
        backlog: int = 1024,
        clock: IClock = REAL_CLOCK,
    ) -> None:
        super().__init__()
        self.socket_path = os.path.abspath(socket_path)
        self.contexts = contexts
        self.uid = os.geteuid() if uid is None else uid
        self.idle_timeout = idle_timeout
        self.shutdown_timeout = shutdown_timeout
        self.max_request = max_request
        self._clock = clock
        self._new_command = new_command
        self._connections: set[_Connection] = set()
        self._accept_error: BaseException | None = None
        self._listener = self._listen(backlog)
        self._start()

    def _listen(self, backlog: int):
        path = self.socket_path
        if len(os.fsencode(path)) > _MAX_SOCKET_PATH:
            raise ValueError(f"socket path is longer than {_MAX_SOCKET_PATH} bytes: {path}")
        private_directory(os.path.dirname(path))
        remove_stale_socket(path)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(path)
            os.chmod(path, 0o600)
            self._inode = os.lstat(path).st_ino
            listener.listen(backlog)
        except BaseException:
            listener.close()
            raise
        return listener

    # -- the worker's greenlet --------------------------------------------------------

    def _run(self) -> None:
        acceptor = gevent.spawn(self._accept_loop)
        try:
            self.dying.wait()
        finally:
            self._stop_listening()
            acceptor.kill()
            self._drain()
        if self._accept_error is not None:
            raise self._accept_error

    def _stop_listening(self) -> None:
        try:
            if os.lstat(self.socket_path).st_ino == self._inode:
                os.unlink(self.socket_path)
        except FileNotFoundError:
            pass
        except OSError as error:
            log.warning("cannot remove the hook-tool socket %s: %s", self.socket_path, error)
        self._listener.close()

    def _accept_loop(self) -> None:
        try:
            while not self.dying.is_set():
                try:
                    sock, _ = self._listener.accept()
                except OSError as error:
                    if self.dying.is_set():
                        return
                    if error.errno in _TRANSIENT:
                        log.warning("hook-tool server cannot accept (%s); backing off", error)
                        with ClockTimeout(self._clock, _BACKOFF, swallow=True):
                            self.dying.wait()
                    elif error.errno not in (errno.ECONNABORTED, errno.EINTR, errno.EAGAIN):
                        raise
                    continue
                connection = _Connection(sock)
                self._connections.add(connection)
                connection.greenlet = gevent.spawn(self._serve, connection)
        except GreenletExit:
            raise
        except BaseException as error:
            log.error("hook-tool server stopped accepting: %s", error)
            self._accept_error = error
            self.dying.set()

    def _drain(self) -> None:
        """Close idle connections now; give busy ones ``shutdown_timeout`` to
        send their response; then close whatever is left."""
        for connection in list(self._connections):
            if not connection.busy and connection.greenlet is not None:
                connection.greenlet.kill(block=False)
        greenlets = [c.greenlet for c in list(self._connections) if c.greenlet is not None]
        with ClockTimeout(self._clock, self.shutdown_timeout, swallow=True):
            gevent.joinall(greenlets)
        late = [g for g in greenlets if not g.dead]
        if late:
            log.warning("hook-tool server: %d request(s) did not finish; aborting them", len(late))
            for greenlet in late:
                greenlet.kill(block=False)
            with ClockTimeout(self._clock, self.shutdown_timeout, swallow=True):
                gevent.joinall(late)
        for connection in list(self._connections):
            connection.sock.close()
        self._connections.clear()

    # -- one connection ---------------------------------------------------------------

    def _serve(self, connection: _Connection) -> None:
        sock = connection.sock
        try:
            # Real time, not the server's clock: these bound I/O with the client.
            sock.settimeout(self.idle_timeout)
            refusal = self._refusal(sock)
            if refusal:
                sock.sendall(protocol.encode_error(refusal))
                return
            reader = protocol.FrameReader(sock, self.max_request)
            while not self.dying.is_set():
                timer = gevent.Timeout.start_new(self.idle_timeout, _Idle())
                try:
                    body = reader.read()
                finally:
                    timer.close()
                if body is None:
                    return
                connection.busy = True
                sock.sendall(self._respond(body))
                connection.busy = False
        except protocol.FrameTooLarge as error:
            _send_quietly(sock, protocol.encode_error(str(error)))
        except (OSError, _Idle, protocol.TruncatedFrame):
            pass  # the client went away, stalled, or cut a frame: drop it
        except GreenletExit:
            raise
        except BaseException:
            log.exception("hook-tool server: a connection failed")
        finally:
            sock.close()
            self._connections.discard(connection)

    def _refusal(self, sock) -> str:
        try:
            _, uid, _ = peer_credentials(sock)
        except OSError as error:
            return f"permission denied: cannot identify the client ({error.strerror})"
        if uid != self.uid:
            log.warning("hook-tool server refused a client running as uid %d", uid)
            return f"permission denied: uid {uid} may not use this socket"
        return ""

    def _respond(self, body: bytes) -> bytes:
        """The response frame to a request frame's body. Never raises an
        ``Exception``: a bug becomes an error response."""
        try:
            request = protocol.parse_request(body)
            entry = self.contexts.lookup(request.context)
            if entry is None:
                raise protocol.unknown_context(request.context)
            try:
                command = self._new_command(entry.context, request.command)
            except LookupError as error:
                raise protocol.BadRequest(cmd.error_message(error))
            with entry.lock:
                if log.isEnabledFor(logging.DEBUG):
                    log.debug("running hook tool %r in %s", request.command, request.dir)
                inv = cmd.Invocation(request.dir, request.stdin)
                code = cmd.main(command, inv, request.args)
            return protocol.encode_response(code, inv.stdout.getvalue(), inv.stderr.getvalue())
        except protocol.BadRequest as error:
            return protocol.encode_error(str(error))
        except Exception as error:
            log.exception("hook-tool server: a request failed")
            return protocol.encode_error(f"internal error: {cmd.error_message(error)}")


class _Idle(Exception):
    """A client took longer than ``idle_timeout`` to send a request frame."""


def _send_quietly(sock, data: bytes) -> None:
    try:
        sock.sendall(data)
    except OSError:
        pass
