"""Shared fixtures of the hook-tool tests: the reference's ContextSuite
context, a way to run a command in-process, a server in a private temporary
directory, and a raw protocol client."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

import gevent
from gevent import socket

from agent_runtime.testing import LONG_WAIT, check_killed
from agent_runtime.uniter.jujuc import cmd, protocol
from agent_runtime.uniter.jujuc.commands import new_command
from agent_runtime.uniter.jujuc.contexts import ContextRegistry
from agent_runtime.uniter.jujuc.server import Server
from agent_runtime.uniter.jujuc.testing import FakeContextRelation, FakeHookContext

#: The reference's ContextSuite configuration.
CONFIG = {
    "empty": None,
    "monsters": False,
    "spline-reticulation": 45.0,
    "title": "My Title",
    "username": "admin001",
}


def make_context(relid: int = -1, remote: str = "") -> FakeHookContext:
    """The reference's ContextSuite: unit u/0, its addresses and owner, the
    relations peer0:0 and peer1:1 (u/0's own settings in each hold its
    private address), the config above; ``relid``/``remote`` pick the hook."""
    return FakeHookContext(
        unit_name="u/0",
        public_address="gimli.minecraft.testing.invalid",
        private_address="192.168.0.99",
        config=CONFIG,
        relations=[
            FakeContextRelation(i, f"peer{i}", local={"private-address": "u-0.testing.invalid"})
            for i in (0, 1)
        ],
        hook_relation_id=relid,
        remote_unit=remote,
        owner_tag="test-owner",
    )


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def run(ctx, name: str, *args: str, dir: str = "/", stdin: bytes | None = None) -> Result:
    """Run hook tool ``name`` in-process, as the server does."""
    inv = cmd.Invocation(dir, stdin)
    code = cmd.main(new_command(ctx, name), inv, list(args))
    return Result(code, inv.stdout.getvalue().decode(), inv.stderr.getvalue().decode())


def help_text(ctx, name: str) -> str:
    result = run(ctx, name, "--help")
    assert (result.code, result.stderr) == (0, ""), result
    return result.stdout


def init(ctx, name: str, *args: str):
    """Parse the flags and run ``init`` only (the reference's TestInit);
    return the command, or raise the error."""
    command = new_command(ctx, name)
    flags = cmd.FlagSet(name)
    command.set_flags(flags)
    command.init(flags.parse(list(args)))
    return command


# -- servers -----------------------------------------------------------------------


@contextlib.contextmanager
def short_tempdir() -> Iterator[str]:
    """A temporary directory with a short path (a socket path holds 107 bytes)."""
    path = tempfile.mkdtemp(prefix="jujuc-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def serving(contexts: ContextRegistry | None = None, **kwargs) -> Iterator[Server]:
    """A Server on a socket in a fresh private directory; it must stop cleanly
    and leave no socket file behind."""
    with short_tempdir() as base:
        server = Server(
            os.path.join(base, "agent", "jujuc.sock"),
            contexts if contexts is not None else ContextRegistry(),
            **kwargs,
        )
        try:
            yield server
        finally:
            server.kill()
            error = check_killed(server)
            assert error is None, f"the server stopped with {error!r}"
            assert not os.path.exists(server.socket_path)


class RawClient:
    """A protocol client on one gevent socket (several requests per connection)."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(LONG_WAIT)
        try:
            self.sock.connect(path)
        except BaseException:
            self.sock.close()
            raise
        self._reader = protocol.FrameReader(self.sock, limit=1 << 30)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def receive(self) -> dict | None:
        """The next response, decoded (stdout/stderr as bytes); None at EOF."""
        body = self._reader.read()
        if body is None:
            return None
        return decode_response(body)

    def call(self, context: str, command: str, args=(), dir: str = "/", stdin=None) -> dict:
        self.send(protocol.encode_request(context, dir, command, list(args), stdin))
        response = self.receive()
        assert response is not None, "the server closed the connection"
        return response

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def decode_response(body: bytes) -> dict:
    import base64

    message = json.loads(body)
    for key in ("stdout", "stderr"):
        if key in message:
            message[key] = base64.b64decode(message[key])
    return message


def call(path: str, context: str, command: str, args=(), dir: str = "/", stdin=None) -> dict:
    """One request on a new connection."""
    with RawClient(path) as client:
        return client.call(context, command, args, dir, stdin)


def read_until_closed(sock, timeout: float = LONG_WAIT) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    with gevent.Timeout(timeout):
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)
