"""An agent's report socket: what ``agent-runtime report`` reads.

``ReportServer(path, worker)`` listens on a unix socket in a directory only the
agent's user may enter and answers every connection of that user with the
worker's report (``IReporter.report()``) as one line of JSON, then closes it.
``fetch_report(path)`` is the other side.
"""

from __future__ import annotations

import json
import logging
import os
import socket as _stdlib_socket
from typing import Any

import gevent
from gevent import socket

from agent_runtime.interfaces import IReporter, IWorker
from agent_runtime.sockets import peer_credentials, private_directory, remove_stale_socket
from agent_runtime.worker.base import GreenletWorker

__all__ = ["ReportServer", "fetch_report"]

log = logging.getLogger("agent_runtime.agent")

#: Seconds a connection may take to receive its report.
SEND_TIMEOUT = 10.0


def _report(worker: IWorker) -> dict[str, Any]:
    if IReporter.providedBy(worker):
        return worker.report()
    return {"state": "running", "note": f"{type(worker).__name__} does not report itself"}


class ReportServer(GreenletWorker):
    """Answers each connection with ``worker``'s report (see the module docstring)."""

    def __init__(self, path: str, worker: IWorker) -> None:
        super().__init__()
        self.path = os.path.abspath(path)
        self._worker = worker
        private_directory(os.path.dirname(self.path))
        remove_stale_socket(self.path)
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._listener.bind(self.path)
            os.chmod(self.path, 0o600)
            self._listener.listen(16)
        except BaseException:
            self._listener.close()
            raise
        self._start()

    def kill(self) -> None:
        super().kill()
        self._close()

    def _close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass

    def _run(self) -> None:
        try:
            while not self.dying.is_set():
                try:
                    connection, _ = self._listener.accept()
                except (OSError, AttributeError):
                    if self.dying.is_set():
                        return
                    raise
                gevent.spawn(self._answer, connection)
        finally:
            self._close()

    def _answer(self, connection) -> None:
        try:
            with connection:
                _, uid, _ = peer_credentials(connection)
                if uid != os.geteuid():
                    log.warning("report socket: refused a connection of uid %d", uid)
                    return
                data = json.dumps(_report(self._worker), default=str) + "\n"
                with gevent.Timeout(SEND_TIMEOUT, False):
                    connection.sendall(data.encode())
        except Exception as error:
            log.warning("report socket: %s", error)


def fetch_report(path: str, timeout: float = 10.0) -> dict[str, Any]:
    """Read the report of the agent listening on ``path`` (standard library
    only: this runs in the operator's command). Raises ``OSError`` when no
    agent answers there."""
    client = _stdlib_socket.socket(_stdlib_socket.AF_UNIX, _stdlib_socket.SOCK_STREAM)
    client.settimeout(timeout)
    try:
        client.connect(path)
        chunks = []
        while True:
            chunk = client.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        client.close()
    if not chunks:
        raise OSError(f"the agent on {path} closed the connection without a report")
    return json.loads(b"".join(chunks))
