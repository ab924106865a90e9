"""The hook-tool server under load and garbage at once.

``PY_HOOKS`` hook processes (``load_hook_tools_child.py``: the installed
client module in a loop) and ``SHELL_HOOKS`` shell hooks (the installed tools
through their symlinks, one client process per call) call one server at the
same moment, each with a context of its own, while fuzzer greenlets connect
and send garbage: random bytes, truncated frames, absurd lengths, bad JSON,
unknown and revoked context ids, bad arguments under a live context, and
connections dropped mid-frame. Every legitimate call must get exactly its own
hook's answer (a crossed context or a lost write shows), every piece of
garbage its documented treatment, and afterwards the server must still serve,
with no file descriptor or greenlet left behind.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import sys
from collections import Counter
from pathlib import Path

import gevent
import load_hook_tools_child as child
import pytest
from gevent import socket, subprocess
from gevent.event import Event
from jujuc_support import RawClient, call, read_until_closed, serving, short_tempdir

from agent_runtime.testing import LONG_WAIT, wait_for
from agent_runtime.uniter.jujuc import ContextRegistry, install_tools, protocol
from agent_runtime.uniter.jujuc.testing import FakeContextRelation, FakeHookContext

from seeds import seeded

PY_HOOKS = 180
SHELL_HOOKS = 20
LOOPS = 25  # per Python hook, four calls each
SHELL_LOOPS = 3  # per shell hook, three calls each
FUZZERS = 4
CHILD = os.path.abspath(child.__file__)

SHELL_HOOK = """#!/bin/sh
n=0
while [ ! -e "$GATE" ]; do sleep 0.01; n=$((n + 1)); [ $n -gt 6000 ] && exit 3; done
for n in $(seq 1 {loops}); do
    echo "config-get $(config-get title)"
    relation-set -r "db:$R" "key=s$n" && echo "relation-set ok"
    echo "relation-get $(relation-get -r "db:$R" key "$UNIT")"
done
"""


def hook_context(index: int) -> FakeHookContext:
    """Hook ``index``: unit u/<index>, its own config and relation db:<r>."""
    relation = index % 7 + 1
    return FakeHookContext(
        unit_name=f"u/{index}",
        config={"title": f"title-{index}"},
        relations=[FakeContextRelation(relation, "db", units={"db/0": {"host": f"host-{index}"}})],
        hook_relation_id=relation,
        remote_unit="db/0",
    )


def expected_answer(index: int, loop: int, tool: str, args: list[str]) -> tuple[int, str, str]:
    relation = index % 7 + 1
    answers = {
        ("config-get", ("title",)): f"title-{index}\n",
        ("relation-set", ("-r", f"db:{relation}", f"key=v{loop}")): "",
        ("relation-get", ("-r", f"db:{relation}", "key", f"u/{index}")): f"v{loop}\n",
        ("relation-get", ("-r", f"db:{relation}", "host", "db/0")): f"host-{index}\n",
    }
    return 0, answers[(tool, tuple(args))], ""


def expected_shell_output(index: int) -> str:
    return "".join(
        f"config-get title-{index}\nrelation-set ok\nrelation-get s{n}\n"
        for n in range(1, SHELL_LOOPS + 1)
    )


class Fuzzer:
    """Garbage of every kind, checked against what the protocol promises."""

    KINDS = (
        "random-bytes",
        "truncated-frame",
        "huge-length",
        "bad-json",
        "unknown-context",
        "revoked-context",
        "bad-arguments",
        "dropped-mid-frame",
    )

    def __init__(self, path: str, registry: ContextRegistry, live: list[str], rng) -> None:
        self.path = path
        self.registry = registry
        self.live = live
        self.rng = rng
        self.tried: Counter[str] = Counter()

    def run(self, stop: Event) -> None:
        while not stop.is_set():
            kind = self.rng.choice(self.KINDS)
            getattr(self, kind.replace("-", "_"))()
            self.tried[kind] += 1

    def _bytes(self, size: int) -> bytes:
        return self.rng.randbytes(size)

    def random_bytes(self) -> None:
        with RawClient(self.path) as client:
            client.send(self._bytes(self.rng.randrange(1, 600)))
            client.sock.shutdown(socket.SHUT_WR)
            read_until_closed(client.sock)  # an error or nothing; then the server closes

    def truncated_frame(self) -> None:
        size = self.rng.randrange(2, 5000)
        with RawClient(self.path) as client:
            client.send(size.to_bytes(4, "big") + self._bytes(self.rng.randrange(size)))
            client.sock.shutdown(socket.SHUT_WR)
            assert read_until_closed(client.sock) == b"", "a truncated frame got an answer"

    def huge_length(self) -> None:
        size = self.rng.randrange(protocol.MAX_REQUEST + 1, 2**32)
        with RawClient(self.path) as client:
            try:
                client.send(size.to_bytes(4, "big") + self._bytes(self.rng.randrange(100)))
            except OSError:
                pass  # the server may have answered and closed already
            error = client.receive()["error"]
            limit = protocol.MAX_REQUEST
            assert (
                error == f"bad request: request of {size} bytes is over the limit of {limit} bytes"
            )
            assert client.receive() is None

    def bad_json(self) -> None:
        body = b"{" + bytes(self.rng.choice(b'"{}[],:x1 \\') for _ in range(40))
        with RawClient(self.path) as client:
            client.send(len(body).to_bytes(4, "big") + body)
            error = client.receive()["error"]
            assert error.startswith("bad request: request is not valid JSON"), (body, error)

    def _refused(self, token: str) -> None:
        tool = self.rng.choice(["relation-set", "config-get", "relation-get"])
        with RawClient(self.path) as client:
            response = client.call(token, tool, ["-r", "db:1", "key=stolen"])
        assert response["error"].startswith("bad request: unknown context"), response

    def unknown_context(self) -> None:
        self._refused(secrets.token_urlsafe(32))

    def revoked_context(self) -> None:
        with self.registry.registered(hook_context(0)) as token:
            pass
        self._refused(token)

    def bad_arguments(self) -> None:
        """Read-only tools, a live hook's context, arguments they refuse."""
        token = self.rng.choice(self.live)
        tool, args = self.rng.choice(
            [
                ("config-get", ["--format", "bogus"]),
                ("relation-get", ["-r", "db:9999", "key"]),
                ("relation-get", ["-r", "nonsense"]),
                ("config-get", ["a", "b", "c"]),
            ]
        )
        with RawClient(self.path) as client:
            response = client.call(token, tool, args)
        assert response["code"] == 2 and response["stdout"] == b"", response

    def dropped_mid_frame(self) -> None:
        with RawClient(self.path) as client:
            client.send(self._bytes(self.rng.randrange(1, 4)))
        # closed without a half-close: the server drops it on its own


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


# gevent.subprocess forks; Python 3.12+ warns about fork() in a process with
# threads (pytest-timeout's). The children exec at once, so the warning is moot.
@pytest.mark.long  # 20-30 s on two cores; minutes beside a busy test matrix
@pytest.mark.timeout(900)
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_every_legitimate_call_is_answered_while_garbage_flies(tmp_path):
    seed, rng = seeded("hook tools under load")
    subprocess.run([sys.executable, "-c", "pass"], check=True)  # gevent's child watcher, once
    fds_before = open_fds()
    registry = ContextRegistry()
    contexts = [hook_context(i) for i in range(PY_HOOKS + SHELL_HOOKS)]
    tokens = [registry.register(ctx) for ctx in contexts]
    gate = tmp_path / "gate"
    with short_tempdir() as base:
        tools = Path(base) / "tools"
        install_tools(tools)
        shell_hook = tmp_path / "hook.sh"
        shell_hook.write_text(SHELL_HOOK.format(loops=SHELL_LOOPS))
        shell_hook.chmod(0o755)
        with serving(registry, idle_timeout=2.0) as srv:
            hooks = []
            for index, token in enumerate(tokens):
                env = {
                    "PATH": f"{tools}:{os.environ.get('PATH', '/usr/bin:/bin')}",
                    "JUJU_AGENT_SOCKET": srv.socket_path,
                    "JUJU_CONTEXT_ID": token,
                    "GATE": str(gate),
                    "R": str(index % 7 + 1),
                    "UNIT": f"u/{index}",
                }
                if index < PY_HOOKS:
                    argv = [sys.executable, "-I", "-S", CHILD, "hook", str(tools), str(gate)]
                    argv += [str(LOOPS), env["R"], env["UNIT"]]
                else:
                    argv = [str(shell_hook)]
                hooks.append({"argv": argv, "env": env})
            outputs = tmp_path / "outputs"
            outputs.mkdir()
            launcher = subprocess.Popen(
                [sys.executable, "-I", "-S", CHILD, "launch", str(outputs)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                start_new_session=True,  # the launcher and its hooks: one process group
            )
            stop = Event()
            fuzzers = [Fuzzer(srv.socket_path, registry, tokens, rng) for _ in range(FUZZERS)]
            fuzzing = []
            try:
                launcher.stdin.write(json.dumps(hooks).encode())
                launcher.stdin.close()
                with gevent.Timeout(LONG_WAIT * 12, AssertionError("the hooks did not start")):
                    assert launcher.stdout.readline() == b"spawned\n"
                fuzzing = [gevent.spawn(f.run, stop) for f in fuzzers]
                gevent.sleep(0.2)  # the fuzzers first, then every hook at once
                gate.touch()
                with gevent.Timeout(LONG_WAIT * 30, AssertionError("the hooks did not finish")):
                    results = json.loads(launcher.stdout.read())
                    launcher.wait()
                stop.set()
                gevent.joinall(fuzzing, timeout=LONG_WAIT, raise_error=True)
            finally:
                stop.set()
                gevent.killall(fuzzing, timeout=LONG_WAIT)
                if launcher.poll() is None:
                    os.killpg(launcher.pid, signal.SIGKILL)
                    launcher.wait()
                launcher.stdout.close()
            response = call(srv.socket_path, tokens[0], "config-get", ["title"])
            assert (response["code"], response["stdout"]) == (0, b"title-0\n")
            assert not srv.stopped

    assert launcher.returncode == 0 and len(results) == len(tokens)
    calls = 0
    for index, (code, stdout, stderr) in enumerate(results):
        assert (code, stderr) == (0, ""), f"seed {seed}: hook {index}: {stdout[-500:]}"
        if index >= PY_HOOKS:
            assert stdout == expected_shell_output(index), f"hook {index}"
            calls += 3 * SHELL_LOOPS
            assert contexts[index].relations[index % 7 + 1].local.data == {"key": f"s{SHELL_LOOPS}"}
            continue
        lines = [json.loads(line) for line in stdout.splitlines()]
        assert len(lines) == 4 * LOOPS, f"hook {index}: {lines[-1:]}"
        for loop, tool, args, code, out, err in lines:
            assert (code, out, err) == expected_answer(index, loop, tool, args), (
                f"seed {seed}: hook {index}, loop {loop}: {tool} {args}"
            )
        calls += len(lines)
        assert contexts[index].relations[index % 7 + 1].local.data == {"key": f"v{LOOPS - 1}"}
    tried = sum((f.tried for f in fuzzers), Counter())
    assert set(tried) == set(Fuzzer.KINDS), f"seed {seed}: only {tried}"
    print(f"{calls} legitimate calls answered; {sum(tried.values())} bad inputs: {dict(tried)}")
    # Monkey-patched, os.close of a non-regular file is deferred to the hub's
    # next loop iteration (gevent.os.close, gevent >= 25.8.1): hence a wait.
    wait_for(lambda: open_fds() == fds_before, what="every file descriptor to be closed")
