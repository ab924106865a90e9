"""Benchmarks of the hook tools: what one call costs a hook, and how many
calls the server answers.

    python -m benchmarks.jujuc [--quick] [--repeat N] [--json PATH] [-k TEXT]

1. tool-latency: one hook-tool call (``unit-get private-address``) from a
   fresh process, through the launcher ``install_tools`` writes, against a
   live server; beside ``python -I -S -c pass``, the floor for any Python
   client. Target: at most 1.5x the floor.
2. server-rate: requests per second the server answers from 50 concurrent
   clients, each on one persistent connection (each client its own hook
   context); beside a raw gevent server that answers each frame with a
   canned response (what the transport costs). Target: 5,000 requests/s.

The server runs in this process; the clients run in other processes (a
small driver that spawns the tool processes one after the other with
``posix_spawn``, or a gevent load generator), which time their own loop, so
that neither their start-up nor this process's work is counted.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence

import gevent
from gevent import socket, subprocess

from agent_runtime.uniter.jujuc import ContextRegistry, Server, install_tools, protocol
from agent_runtime.uniter.jujuc.testing import FakeHookContext

from benchmarks._harness import Benchmark, Config, Ratio, Target, Variant, run_cli

__all__ = ["collect", "main"]

#: Spawns argv[3:] argv[2] times, one after the other; prints the seconds taken.
_SPAWN_DRIVER = """
import os, sys, time
count, argv = int(sys.argv[1]), sys.argv[2:]
null = os.open(os.devnull, os.O_WRONLY)
actions = [(os.POSIX_SPAWN_DUP2, null, 1)]
start = time.perf_counter()
for _ in range(count):
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
    _, status = os.waitpid(pid, 0)
    if status:
        sys.exit(f"{argv} failed: status {status}")
print(time.perf_counter() - start)
"""

#: Opens one connection per request frame in the file argv[2], sends each
#: argv[3] times in ping-pong, all connections at once; prints the seconds.
_LOAD_GENERATOR = """
import json, sys, time
import gevent
from gevent import socket
from gevent.event import Event
path, frames, count = sys.argv[1], json.load(open(sys.argv[2])), int(sys.argv[3])
go = Event()
def recv_exactly(sock, size):
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError("closed")
        data += chunk
    return data
def client(frame, ready):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    frame = bytes.fromhex(frame)
    ready.append(1)
    go.wait()
    for _ in range(count):
        sock.sendall(frame)
        body = recv_exactly(sock, int.from_bytes(recv_exactly(sock, 4), "big"))
        if b'"code":0' not in body:
            raise RuntimeError(body)
    sock.close()
ready = []
clients = [gevent.spawn(client, frame, ready) for frame in frames]
while len(ready) < len(frames):
    gevent.sleep(0.001)
start = time.perf_counter()
go.set()
gevent.joinall(clients, raise_error=True)
print(time.perf_counter() - start)
"""


def _run_timed(argv: Sequence[str], env: dict[str, str] | None = None) -> float:
    done = subprocess.run(list(argv), env=env, capture_output=True, text=True, timeout=600)
    if done.returncode:
        raise RuntimeError(f"{argv[:3]} failed: {done.stderr.strip()[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def _agent(contexts: int) -> Iterator[tuple[Server, list[str], str]]:
    """A server with ``contexts`` registered contexts, in a temporary directory."""
    base = tempfile.mkdtemp(prefix="jujuc-bench-")
    registry = ContextRegistry()
    tokens = [
        registry.register(FakeHookContext(private_address="192.168.0.99")) for _ in range(contexts)
    ]
    server = Server(os.path.join(base, "agent", "jujuc.sock"), registry)
    try:
        yield server, tokens, base
    finally:
        server.kill()
        server.wait()
        shutil.rmtree(base, ignore_errors=True)


# -- 1. one hook-tool call from a fresh process ------------------------------------------------


def _latency(n: int) -> Benchmark:
    python = os.path.abspath(sys.executable)

    @contextlib.contextmanager
    def session() -> Iterator[Sequence[Variant]]:
        with _agent(1) as (server, tokens, base):
            tools = os.path.join(base, "tools")
            install_tools(tools, python)
            driver = os.path.join(base, "spawn.py")
            with open(driver, "w", encoding="utf-8") as out:
                out.write(_SPAWN_DRIVER)
            env = {
                "PATH": tools + os.pathsep + os.environ.get("PATH", ""),
                "JUJU_AGENT_SOCKET": server.socket_path,
                "JUJU_CONTEXT_ID": tokens[0],
            }

            def spawning(*argv: str):
                return lambda: _run_timed([python, "-I", "-S", driver, str(n), *argv], env)

            yield (
                Variant(
                    "floor", "python -I -S -c pass", spawning(python, "-I", "-S", "-c", "pass")
                ),
                Variant(
                    "tool",
                    "unit-get private-address (installed launcher)",
                    spawning(os.path.join(tools, "unit-get"), "private-address"),
                ),
            )

    return Benchmark(
        name="tool-latency",
        title=f"1. one hook-tool call from a fresh process ({n} calls, one after the other)",
        unit="time",
        ops=n,
        op_name="call",
        per_op=True,
        session=session,
        ratios=[Ratio("tool", "floor", Target("<=", 1.5))],
        notes=[
            "each call: posix_spawn + waitpid from a small driver process (not gevent)",
            "the tool: #!python -IS launcher, the client compiled once, one request, one response",
        ],
    )


# -- 2. requests per second from 50 clients on persistent connections ------------------------


class _CannedServer:
    """A raw gevent server that answers every request frame with one canned
    response frame: the cost of the transport alone."""

    def __init__(self, path: str, response: bytes) -> None:
        self._response = response
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(path)
        self._listener.listen(1024)
        self._greenlets: list[gevent.Greenlet] = [gevent.spawn(self._accept)]

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                sock, _ = self._listener.accept()
                self._greenlets.append(gevent.spawn(self._serve, sock))

    def _serve(self, sock) -> None:
        reader = protocol.FrameReader(sock)
        with contextlib.suppress(OSError), sock:
            while reader.read() is not None:
                sock.sendall(self._response)

    def close(self) -> None:
        self._listener.close()
        gevent.killall(self._greenlets)


def _rate(clients: int, per_client: int) -> Benchmark:
    python = os.path.abspath(sys.executable)
    total = clients * per_client

    @contextlib.contextmanager
    def session() -> Iterator[Sequence[Variant]]:
        with _agent(clients) as (server, tokens, base):
            generator = os.path.join(base, "load.py")
            with open(generator, "w", encoding="utf-8") as out:
                out.write(_LOAD_GENERATOR)
            frames = os.path.join(base, "frames.json")
            with open(frames, "w", encoding="utf-8") as out:
                requests = [
                    protocol.encode_request(t, "/", "unit-get", ["private-address"]).hex()
                    for t in tokens
                ]
                json.dump(requests, out)
            canned_path = os.path.join(base, "agent", "canned.sock")
            canned = _CannedServer(canned_path, protocol.encode_response(0, b"192.168.0.99\n", b""))
            try:

                def load(path: str):
                    return lambda: _run_timed([python, generator, path, frames, str(per_client)])

                yield (
                    Variant("raw", "raw gevent server answering a canned frame", load(canned_path)),
                    Variant(
                        "server", "the hook-tool server running unit-get", load(server.socket_path)
                    ),
                    Variant(
                        "target",
                        "reference: the 5,000 requests/s target (no work is done)",
                        lambda: total / 5000,
                    ),
                )
            finally:
                canned.close()

    return Benchmark(
        name="server-rate",
        title=(
            f"2. requests answered, {clients} clients on persistent connections "
            f"({total:,} requests)"
        ),
        unit="rate",
        ops=total,
        op_name="request",
        session=session,
        ratios=[Ratio("server", "target", Target(">=", 1.0)), Ratio("server", "raw")],
        notes=[
            "the clients run in one other process (gevent), one context each",
            "'target' is not measured: its row is the target rate; the first ratio is the verdict",
        ],
    )


def collect(config: Config) -> list[Benchmark]:
    """The benchmarks of this module, sized for ``config``."""
    if config.quick:
        return [_latency(20), _rate(50, 100)]
    return [_latency(100), _rate(50, 400)]


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli([collect], argv, prog="python -m benchmarks.jujuc", description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
