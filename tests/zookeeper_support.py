"""A ZooKeeper server for the tests: the one ``$AGENT_RUNTIME_ZOOKEEPER``
names (host:port; default 127.0.0.1:2181), which .ci/run starts; tests that
need one are skipped, saying so, when it does not answer (in CI a skip fails
the run). ``ZooKeeperServer`` starts a private one, for the tests that stop
and restart it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

ZK_SERVER = "/usr/share/zookeeper/bin/zkServer.sh"


def _answer(hosts: str, word: bytes, size: int, timeout: float) -> bytes:
    """The first ``size`` bytes of the server's answer to a four-letter word
    (b"" when it does not answer)."""
    host, _, port = hosts.partition(":")
    try:
        with socket.create_connection((host, int(port or 2181)), timeout=timeout) as sock:
            sock.sendall(word)
            sock.settimeout(timeout)
            return sock.recv(size)
    except OSError:
        return b""


def answers(hosts: str, timeout: float = 1.0) -> bool:
    """True if the ZooKeeper server at ``host:port`` says it is ok."""
    return _answer(hosts, b"ruok", 4, timeout) == b"imok"


def serving(hosts: str, timeout: float = 1.0) -> bool:
    """True if the ZooKeeper server at ``host:port`` serves requests (it says
    "imok" to ``ruok`` before: while it still loads its data, it refuses
    clients)."""
    return _answer(hosts, b"srvr", 17, timeout) == b"Zookeeper version"


@pytest.fixture(scope="session")
def zookeeper_hosts() -> str:
    hosts = os.environ.get("AGENT_RUNTIME_ZOOKEEPER", "127.0.0.1:2181")
    if not answers(hosts):
        pytest.skip(
            f"no ZooKeeper server answers at {hosts}: start one and set "
            "AGENT_RUNTIME_ZOOKEEPER=host:port (.ci/run does)"
        )
    return hosts


@pytest.fixture
def state_url_zookeeper(zookeeper_hosts: str):
    """A fresh ZooKeeper state URL: its own chroot, removed after the test."""
    chroot = f"/agent-runtime-test/{uuid.uuid4().hex}"
    yield f"zookeeper://{zookeeper_hosts}{chroot}?timeout=2"
    remove_zookeeper_tree(zookeeper_hosts, chroot)


def remove_zookeeper_tree(hosts: str, path: str) -> None:
    """Delete ``path`` and everything under it (a test's chroot)."""
    from kazoo.client import KazooClient
    from kazoo.handlers.gevent import SequentialGeventHandler

    client = KazooClient(hosts=hosts, handler=SequentialGeventHandler(), timeout=5)
    client.start(timeout=5)
    try:
        client.delete(path, recursive=True)
    except Exception:
        pass
    finally:
        client.stop()
        client.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ZooKeeperServer:
    """A private ZooKeeper server (Debian's zookeeper package) that a test can
    stop and start again on the same port and data."""

    def __init__(self) -> None:
        if not os.path.exists(ZK_SERVER):
            pytest.skip(f"{ZK_SERVER} is missing: install Debian's zookeeper package")
        self.directory = Path(tempfile.mkdtemp(prefix="agent-runtime-zk-"))
        (self.directory / "data").mkdir()
        self.port = free_port()
        self.hosts = f"127.0.0.1:{self.port}"
        (self.directory / "zoo.cfg").write_text(
            f"tickTime=200\ndataDir={self.directory}/data\nclientPort={self.port}\n"
            "clientPortAddress=127.0.0.1\nmaxClientCnxns=0\nadmin.enableServer=false\n"
            "4lw.commands.whitelist=ruok,stat,srvr\nminSessionTimeout=400\nmaxSessionTimeout=60000\n"
        )
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> None:
        env = dict(os.environ, ZOO_LOG_DIR=str(self.directory), ZOOCFGDIR=str(self.directory))
        self.process = subprocess.Popen(
            [ZK_SERVER, "start-foreground", str(self.directory / "zoo.cfg")],
            env=env,
            stdout=(self.directory / "server.log").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not serving(self.hosts, timeout=0.5):
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"ZooKeeper did not start: see {self.directory}/server.log")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
