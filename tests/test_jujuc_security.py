"""The hook-tool server against other users and bad input: a private socket
directory, the peer's uid, capped frames, malformed and truncated requests,
silent clients, a thousand clients at once, random bytes; none of it stops
the server from serving everyone else."""

from __future__ import annotations

import errno
import json
import os
import stat
import sys

import gevent
import pytest
from gevent import socket, subprocess
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jujuc_support import RawClient, call, make_context, read_until_closed, serving, short_tempdir

from agent_runtime.testing import LONG_WAIT
from agent_runtime.uniter.jujuc import ContextRegistry, InsecureSocketDir, Server, protocol, server
from agent_runtime.uniter.jujuc.commands import new_command

NOBODY = 65534
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")


@pytest.fixture
def registry():
    return ContextRegistry()


@pytest.fixture
def token(registry):
    return registry.register(make_context())


def _works(path, token):
    """A normal request still gets its normal answer."""
    response = call(path, token, "unit-get", ["private-address"])
    assert (response["code"], response["stdout"]) == (0, b"192.168.0.99\n")


# -- the socket's directory ------------------------------------------------------------------


def test_the_socket_directory_is_private_whatever_the_umask(registry):
    old = os.umask(0)
    try:
        with serving(registry) as srv:
            info = os.stat(os.path.dirname(srv.socket_path))
    finally:
        os.umask(old)
    assert stat.S_IMODE(info.st_mode) == 0o700
    assert info.st_uid == os.geteuid()


def test_a_directory_others_can_enter_is_refused(registry):
    with short_tempdir() as base:
        directory = os.path.join(base, "agent")
        os.mkdir(directory)
        os.chmod(directory, 0o711)
        with pytest.raises(InsecureSocketDir, match="0711"):
            Server(os.path.join(directory, "s.sock"), registry)


def test_a_symlinked_directory_is_refused(registry):
    with short_tempdir() as base:
        os.mkdir(os.path.join(base, "real"), 0o700)
        os.symlink("real", os.path.join(base, "agent"))
        with pytest.raises(InsecureSocketDir, match="not a directory"):
            Server(os.path.join(base, "agent", "s.sock"), registry)


@root_only
def test_a_directory_of_another_user_is_refused(registry):
    with short_tempdir() as base:
        directory = os.path.join(base, "agent")
        os.mkdir(directory, 0o700)
        os.chown(directory, NOBODY, NOBODY)
        with pytest.raises(InsecureSocketDir, match=f"owned by uid {NOBODY}"):
            Server(os.path.join(directory, "s.sock"), registry)


# -- the peer's uid -----------------------------------------------------------------------------


def test_other_users_are_refused_by_their_uid(registry, token, monkeypatch):
    ctx = registry.lookup(token).context
    with serving(registry) as srv:
        monkeypatch.setattr(server, "peer_credentials", lambda sock: (4242, 12345, 12345))
        with RawClient(srv.socket_path) as client:
            assert client.receive() == {
                "version": 1,
                "error": "permission denied: uid 12345 may not use this socket",
            }
            assert client.receive() is None  # and closed
        response = call_or_refusal(srv.socket_path, token, "open-port", ["80"])
        assert response["error"].startswith("permission denied")
        assert ctx.ports == set()  # nothing ran
        monkeypatch.undo()
        _works(srv.socket_path, token)


def call_or_refusal(path, token, command, args):
    with RawClient(path) as client:
        try:
            client.send(protocol.encode_request(token, "/", command, args))
        except OSError:
            pass  # the server may have answered and closed already
        return client.receive()


def test_only_the_configured_uid_is_served(registry, token):
    # The kernel's own SO_PEERCRED: this process is not uid NOBODY.
    with serving(registry, uid=NOBODY) as srv:
        response = call_or_refusal(srv.socket_path, token, "unit-get", ["private-address"])
        assert response["error"] == f"permission denied: uid {os.geteuid()} may not use this socket"


_AS_NOBODY = f"""
import json, os, socket, struct, sys
path, request = sys.argv[1], bytes.fromhex(sys.argv[2])
os.setgid({NOBODY}); os.setuid({NOBODY})
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.settimeout(10)
try:
    sock.connect(path)
except OSError as error:
    print(json.dumps({{"connect": error.errno}}))
    sys.exit(0)
try:
    sock.sendall(request)
except OSError:
    pass
data = b""
while True:
    try:
        chunk = sock.recv(65536)
    except ConnectionResetError:  # closed with our request unread: after its answer
        break
    if not chunk:
        break
    data += chunk
print(json.dumps({{"response": data[4:].decode()}}))
"""


@root_only
def test_another_user_cannot_reach_the_socket_nor_be_served(registry, token):
    ctx = registry.lookup(token).context
    with serving(registry) as srv:
        request = protocol.encode_request(token, "/", "open-port", ["80"]).hex()
        argv = [sys.executable, "-c", _AS_NOBODY, srv.socket_path, request]

        def as_nobody():
            done = subprocess.run(argv, capture_output=True, timeout=LONG_WAIT, check=True)
            return json.loads(done.stdout)

        assert as_nobody() == {"connect": errno.EACCES}  # the 0700 directory stops it
        # Were the directory and the socket opened up, the server still refuses:
        directory = os.path.dirname(srv.socket_path)
        os.chmod(os.path.dirname(directory), 0o711)  # the temporary directory above it
        os.chmod(directory, 0o711)
        os.chmod(srv.socket_path, 0o666)
        answer = json.loads(as_nobody()["response"])
        assert answer == {
            "version": 1,
            "error": f"permission denied: uid {NOBODY} may not use this socket",
        }
        assert ctx.ports == set()
        _works(srv.socket_path, token)


# -- bad frames and requests --------------------------------------------------------------------


def test_an_oversized_frame_gets_an_error_and_is_dropped(registry, token):
    with serving(registry, max_request=1000) as srv:
        with RawClient(srv.socket_path) as client:
            client.send((2 << 20).to_bytes(4, "big") + b"{")
            assert client.receive() == {
                "version": 1,
                "error": "bad request: request of 2097152 bytes is over the limit of 1000 bytes",
            }
            assert client.receive() is None
        _works(srv.socket_path, token)


def test_a_truncated_frame_drops_the_connection(registry, token):
    with serving(registry) as srv:
        for data in (b"\x00\x00", b"\x00\x00\x00\x10{}"):
            with RawClient(srv.socket_path) as client:
                client.send(data)
                client.sock.shutdown(socket.SHUT_WR)
                assert read_until_closed(client.sock) == b""
        _works(srv.socket_path, token)


def _body_frame(body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + body


def _request(**changes) -> bytes:
    message = {"version": 1, "context": "c", "dir": "/", "command": "unit-get", "args": []}
    message.update(changes)
    return json.dumps(message).encode()


@pytest.mark.parametrize(
    "body, error",
    [
        (b"", "request is not valid JSON"),
        (b"{not json", "request is not valid JSON"),
        (b"\xff\xfe{}", "request is not valid UTF-8"),
        (b"[1, 2]", "request is not a JSON object"),
        (b"[" * 100_000, "request is not valid JSON"),
        (b'{"version": "1"}', '"version" must be an integer'),
        (b'{"version": true}', '"version" must be an integer'),
        (b"{}", '"version" must be an integer'),
        (_request(version=0), "unsupported version 0 (this agent speaks 1)"),
        (_request(context=5), '"context" must be a string'),
        (_request(dir=None), '"dir" must be a string'),
        (_request(command=["x"]), '"command" must be a string'),
        (_request(args="a b"), '"args" must be a list of strings'),
        (_request(args=[1]), '"args" must be a list of strings'),
        (_request(args=["ok", "\udc80"]), "argument 2 is not valid UTF-8"),
        (_request(command="\ud800"), '"command" is not valid UTF-8'),
        (_request(stdin=5), '"stdin" must be a base64 string'),
        (_request(stdin="not base64!"), '"stdin" is not valid base64'),
        (_request(dir="/a\x00b"), 'Dir "/a\\x00b" holds a NUL byte'),
        (b'{"version": 1, "args": [], "command": "x", "dir": "/", "n": 1' + b"0" * 5000 + b"}", ""),
    ],
)
def test_bad_requests_get_an_error_and_the_connection_goes_on(registry, token, body, error):
    with serving(registry) as srv, RawClient(srv.socket_path) as client:
        client.send(_body_frame(body))
        response = client.receive()
        assert set(response) == {"version", "error"}
        assert response["error"].startswith("bad request: " + error)
        assert client.call(token, "unit-get", ["private-address"])["code"] == 0


def test_a_silent_client_is_timed_out(registry, token):
    with serving(registry, idle_timeout=0.01) as srv:
        with RawClient(srv.socket_path) as silent:
            assert read_until_closed(silent.sock) == b""
        with RawClient(srv.socket_path) as slow:
            slow.send(b"\x00\x00\x00\x40{")  # a frame begun, never finished
            assert read_until_closed(slow.sock) == b""
        _works(srv.socket_path, token)


def test_a_thousand_concurrent_clients(registry):
    tokens = [registry.register(make_context()) for _ in range(50)]
    with serving(registry) as srv:
        started = gevent.event.Event()

        def client(i):
            with RawClient(srv.socket_path) as c:
                started.wait()
                answers = []
                for command in (["unit-get", "private-address"], ["config-get", "title"]):
                    answers.append(c.call(tokens[i % 50], command[0], command[1:])["stdout"])
                return answers

        clients = [gevent.spawn(client, i) for i in range(1000)]
        try:
            started.set()
            gevent.joinall(clients, timeout=60, raise_error=True)
            assert all(g.ready() for g in clients)
            assert {tuple(g.value) for g in clients} == {(b"192.168.0.99\n", b"My Title\n")}
        finally:
            gevent.killall(clients)


class _Exploding:
    """A command table whose commands fail in every way they can."""

    def __call__(self, ctx, name):
        if name == "explode-in-getter":
            raise RuntimeError("the getter broke")
        return new_command(ctx, name)


def test_a_command_that_raises_never_kills_the_server(registry, token):
    ctx = registry.lookup(token).context

    def broken():
        raise ZeroDivisionError("division by zero")

    ctx.config_settings = broken
    with serving(registry, new_command=_Exploding()) as srv:
        response = call(srv.socket_path, token, "config-get")
        assert (response["code"], response["stdout"], response["stderr"]) == (
            1,
            b"",
            b"error: division by zero\n",
        )
        response = call(srv.socket_path, token, "explode-in-getter")
        assert response == {"version": 1, "error": "internal error: the getter broke"}
        _works(srv.socket_path, token)


# -- fuzzing ------------------------------------------------------------------------------------

_frames = st.binary(max_size=300).map(_body_frame)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
_requests = st.fixed_dictionaries(
    {},
    optional={
        "version": st.one_of(st.just(1), _json_values),
        "context": _json_values,
        "dir": st.one_of(st.just("/"), _json_values),
        "command": st.one_of(st.sampled_from(["unit-get", "relation-set", ""]), _json_values),
        "args": st.one_of(st.lists(st.text(max_size=10), max_size=3), _json_values),
        "stdin": _json_values,
    },
).map(lambda m: _body_frame(json.dumps(m).encode()))


def test_fuzz_random_bytes_then_a_normal_request(registry, token):
    with serving(registry, idle_timeout=0.02) as srv:

        @settings(
            max_examples=150,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(
            data=st.one_of(
                st.binary(max_size=600), _frames, _requests, st.lists(_requests).map(b"".join)
            ),
            half_close=st.booleans(),
        )
        def throw(data, half_close):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(LONG_WAIT)
            try:
                sock.connect(srv.socket_path)
                try:
                    sock.sendall(data)
                    if half_close:
                        sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass  # the server may drop us while we send
                read_until_closed(sock)  # answered or not, the server ends the connection
            finally:
                sock.close()

        throw()
        _works(srv.socket_path, token)
        assert not srv.stopped
