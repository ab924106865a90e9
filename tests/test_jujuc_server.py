"""The hook-tool server (uniter-reference §3.2 and ServerSuite of §3.7): the
protocol, the checks of a request, locking per context, and how it stops."""

from __future__ import annotations

import errno
import logging
import os

import gevent
import pytest
from gevent import socket
from gevent.event import Event
from jujuc_support import RawClient, call, make_context, serving, short_tempdir
from zope.interface.verify import verifyObject

from agent_runtime.interfaces import IAbortableWorker, IWorker
from agent_runtime.testing import LONG_WAIT, ManualClock, check_killed, wait_for
from agent_runtime.uniter.jujuc import ContextRegistry, Server, SocketInUse, cmd, protocol
from agent_runtime.uniter.jujuc.server import _BACKOFF

# -- the reference's test command ----------------------------------------------------------


class Probe:
    """Watches the ``remote`` commands: how many run at once, and a gate the
    ``--slow`` ones wait at (instead of the reference's sleep)."""

    def __init__(self) -> None:
        self.arrived = 0
        self.running = 0
        self.most = 0
        self.gate = Event()

    def getter(self, ctx, name):
        if name != "remote":
            raise LookupError(f"unknown command: {name}")
        self.arrived += 1
        return _Remote(ctx, self)


class _Remote(cmd.Command):
    name = "remote"

    def __init__(self, ctx, probe: Probe) -> None:
        super().__init__(ctx)
        self.probe = probe

    def set_flags(self, flags):
        self.value = flags.string("value", "", "doc")
        self.slow = flags.bool("slow", False, "doc")
        self.echo = flags.bool("echo", False, "doc")

    def run(self, inv):
        probe = self.probe
        probe.running += 1
        probe.most = max(probe.most, probe.running)
        try:
            if self.slow.value:
                probe.gate.wait()
            if self.value.value == "error":
                raise ValueError("blam")
            if self.echo.value:
                inv.stdout.write(inv.stdin if inv.stdin is not None else b"(no stdin)")
                return
            inv.stdout.write(b"eye of newt\n")
            inv.stderr.write(b"toe of frog\n")
            with open(inv.abs_path("local"), "w") as f:
                f.write(self.value.value)
        finally:
            probe.running -= 1


@pytest.fixture
def probe():
    return Probe()


@pytest.fixture
def registry():
    return ContextRegistry()


@pytest.fixture
def server(registry, probe):
    with serving(registry, new_command=probe.getter) as server:
        yield server


@pytest.fixture
def token(registry):
    return registry.register(make_context())


def test_server_is_a_worker(server):
    verifyObject(IWorker, server)
    verifyObject(IAbortableWorker, server)


def test_happy_path(server, token, tmp_path):
    response = call(
        server.socket_path, token, "remote", ["--value", "something"], dir=str(tmp_path)
    )
    assert response == {
        "version": 1,
        "code": 0,
        "stdout": b"eye of newt\n",
        "stderr": b"toe of frog\n",
    }
    assert (tmp_path / "local").read_text() == "something"


def test_parse_error(server, token):
    response = call(server.socket_path, token, "remote", ["--cheese"])
    assert (response["code"], response["stdout"], response["stderr"]) == (
        2,
        b"",
        b"error: flag provided but not defined: --cheese\n",
    )


def test_broken_command(server, token):
    response = call(server.socket_path, token, "remote", ["--value", "error"])
    assert (response["code"], response["stdout"], response["stderr"]) == (1, b"", b"error: blam\n")


@pytest.mark.parametrize(
    "context, command, dir, error",
    [
        (None, "", "/", "bad request: command not specified"),
        (None, "witchcraft", "/", "bad request: unknown command: witchcraft"),
        (None, "remote", "", "bad request: Dir is not absolute"),
        (None, "remote", "foo/bar", "bad request: Dir is not absolute"),
        ("whatever", "remote", "/", 'bad request: unknown context "whatever"'),
        ("", "remote", "/", 'bad request: unknown context ""'),
    ],
)
def test_bad_requests(server, token, probe, context, command, dir, error):
    response = call(server.socket_path, token if context is None else context, command, [], dir)
    assert response == {"version": 1, "error": error}
    assert probe.running == 0 and probe.most == 0  # nothing ran


def test_checks_run_in_the_reference_order(server):
    response = call(server.socket_path, "whatever", "", [], "relative")
    assert response["error"] == "bad request: command not specified"
    response = call(server.socket_path, "whatever", "remote", [], "relative")
    assert response["error"] == "bad request: Dir is not absolute"


def test_unsupported_version(server, token):
    with RawClient(server.socket_path) as client:
        client.send(
            protocol.frame({"version": 2, "context": token, "dir": "/", "command": "remote"})
        )
        assert client.receive() == {
            "version": 1,
            "error": "bad request: unsupported version 2 (this agent speaks 1)",
        }


def test_revoked_context_runs_nothing(server, registry, token, probe):
    registry.revoke(token)
    response = call(server.socket_path, token, "remote")
    assert response["error"].startswith("bad request: unknown context ")
    assert probe.arrived == 0


def test_stdin_travels_with_the_request(server, token):
    response = call(server.socket_path, token, "remote", ["--echo"], stdin=b"\x00binary\xff\n")
    assert response["stdout"] == b"\x00binary\xff\n"
    response = call(server.socket_path, token, "remote", ["--echo"])
    assert response["stdout"] == b"(no stdin)"


def test_many_requests_on_one_connection(server, registry, token):
    other = registry.register(make_context())
    with RawClient(server.socket_path) as client:
        for i in range(20):
            response = client.call(token if i % 2 else other, "remote", ["--value", str(i)], "/tmp")
            assert response["code"] == 0
        assert client.call("nope", "remote")["error"] == 'bad request: unknown context "nope"'
        assert client.call(token, "remote", ["--cheese"])["code"] == 2  # still usable


def test_requests_of_one_context_run_one_at_a_time(server, token, probe):
    # The reference's TestLocks, without timing: 4 slow calls on one context.
    calls = [gevent.spawn(call, server.socket_path, token, "remote", ["--slow"]) for _ in range(4)]
    try:
        wait_for(lambda: probe.arrived == 4 and probe.running == 1, what="4 requests in, 1 running")
        probe.gate.set()
        gevent.joinall(calls, timeout=10, raise_error=True)
        assert [g.value["code"] for g in calls] == [0, 0, 0, 0]
        assert probe.most == 1
    finally:
        probe.gate.set()
        gevent.killall(calls)


def test_contexts_run_at_once(server, registry, probe):
    tokens = [registry.register(make_context()) for _ in range(4)]
    calls = [gevent.spawn(call, server.socket_path, t, "remote", ["--slow"]) for t in tokens]
    try:
        wait_for(lambda: probe.running == 4, what="4 contexts running at once")
        probe.gate.set()
        gevent.joinall(calls, timeout=10, raise_error=True)
        assert [g.value["code"] for g in calls] == [0, 0, 0, 0]
    finally:
        probe.gate.set()
        gevent.killall(calls)


# -- stopping -----------------------------------------------------------------------------


def test_kill_removes_the_socket_and_lets_running_requests_finish(registry, probe):
    token = registry.register(make_context())
    with serving(registry, new_command=probe.getter) as server:
        slow = gevent.spawn(call, server.socket_path, token, "remote", ["--slow"])
        idle = RawClient(server.socket_path)
        try:
            wait_for(lambda: probe.running == 1, what="the slow request to run")
            server.kill()
            wait_for(lambda: not os.path.exists(server.socket_path), what="the socket to go")
            with pytest.raises(OSError):
                call(server.socket_path, token, "remote")  # no longer accepting
            assert idle.receive() is None  # an idle connection is closed at once
            assert not server.stopped
            probe.gate.set()
            assert slow.get(timeout=10)["code"] == 0  # the running one finished
            assert check_killed(server) is None
        finally:
            probe.gate.set()
            idle.close()
            slow.kill()


def test_kill_bounds_the_wait_for_running_requests(registry, probe, caplog):
    """A request still running when the server is killed gets shutdown_timeout
    seconds of the server's clock, then it is aborted."""
    token = registry.register(make_context())
    clock = ManualClock()
    with (
        serving(registry, new_command=probe.getter, shutdown_timeout=5, clock=clock) as server,
        RawClient(server.socket_path) as client,
    ):
        client.send(protocol.encode_request(token, "/", "remote", ["--slow"]))
        wait_for(lambda: probe.running == 1, what="the slow request to run")
        server.kill()
        clock.wait_for_timers(1)  # the shutdown grace
        clock.advance(4.999)
        for _ in range(5):
            gevent.sleep(0)
        assert not server.stopped and probe.running == 1
        clock.advance(0.001)
        assert check_killed(server) is None  # the gate is never opened
        assert client.receive() is None  # aborted: closed without a response
    assert probe.running == 0
    assert "did not finish" in caplog.text


def test_wait_raises_when_accepting_fails(registry):
    with short_tempdir() as base:
        server = Server(os.path.join(base, "agent", "s.sock"), registry)
        try:
            gevent.sleep(0)  # the accept loop is waiting
            server._listener.close()  # not through kill(): accepting fails
            error = check_killed(server)
            assert isinstance(error, OSError)
            with pytest.raises(OSError):
                server.wait()
        finally:
            server.kill()
            check_killed(server)
        assert not os.path.exists(server.socket_path)


def test_accept_backs_off_on_its_clock_when_out_of_descriptors(registry, probe, token, caplog):
    """After an accept() that failed for want of descriptors, the server tries
    again once its clock has moved _BACKOFF seconds, and not before."""
    clock = ManualClock()
    failures = [OSError(errno.EMFILE, "Too many open files")] * 2
    with serving(registry, new_command=probe.getter, clock=clock) as server:
        real = server._listener

        class Flaky:
            def accept(self):
                if failures:
                    raise failures.pop()
                return real.accept()

            def close(self):
                real.close()

        server._listener = Flaky()  # before the accept loop first runs
        caller = gevent.spawn(call, server.socket_path, token, "remote")
        try:
            for left in (1, 0):
                clock.wait_for_timers(1)  # backing off after a failure, until the clock moves
                assert len(failures) == left and "backing off" in caplog.text
                assert not caller.ready()
                clock.advance(_BACKOFF)
            assert caller.get(timeout=LONG_WAIT)["code"] == 0  # after two failures
        finally:
            caller.kill()


# -- the socket file ----------------------------------------------------------------------


def test_stale_socket_is_replaced(registry, token):
    with short_tempdir() as base:
        os.mkdir(os.path.join(base, "agent"), 0o700)
        path = os.path.join(base, "agent", "s.sock")
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(path)  # bound, never listening: what a dead agent leaves
        stale.close()
        server = Server(path, registry)
        try:
            assert call(path, token, "unit-get", ["private-address"])["code"] == 0
        finally:
            server.kill()
            assert check_killed(server) is None


def test_socket_in_use(registry):
    with serving(registry) as server:
        with pytest.raises(SocketInUse):
            Server(server.socket_path, registry)
        assert os.path.exists(server.socket_path)  # the live server keeps its socket


def test_something_else_at_the_socket_path(registry):
    with short_tempdir() as base:
        os.mkdir(os.path.join(base, "agent"), 0o700)
        path = os.path.join(base, "agent", "s.sock")
        open(path, "w").close()
        with pytest.raises(SocketInUse, match="not a socket"):
            Server(path, registry)


def test_socket_path_too_long(registry):
    with short_tempdir() as base, pytest.raises(ValueError, match="longer than"):
        Server(os.path.join(base, "agent", "x" * 120), registry)


def test_socket_file_is_private(server):
    assert os.stat(server.socket_path).st_mode & 0o777 == 0o600


def test_the_server_logs_no_context_ids(server, token, caplog):
    caplog.set_level(logging.DEBUG, logger="agent_runtime.uniter.jujuc")
    call(server.socket_path, token, "remote")
    assert token not in caplog.text
