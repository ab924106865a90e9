"""The example charms of examples/charms (webapp and kvdb), their hooks run for
real: each hook is a child process with the environment a unit agent gives it
(uniter-reference §3.9), and calls the real hook tools (``install_tools``)
against a real hook-tool server that serves a FakeHookContext. The tests look
at the files the hooks wrote and at what the fake context received."""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest
from gevent import subprocess
from jujuc_support import serving, short_tempdir

from agent_runtime.state.charm import read_charm_dir
from agent_runtime.testing import LONG_WAIT
from agent_runtime.uniter.jujuc import ContextRegistry, install_tools
from agent_runtime.uniter.jujuc.testing import FakeContextRelation, FakeHookContext

CHARMS = Path(__file__).resolve().parent.parent / "examples" / "charms"
WEBAPP = CHARMS / "webapp"
KVDB = CHARMS / "kvdb"


@dataclass
class Agent:
    """What a unit agent provides to hooks: the tools directory and a server."""

    tools: Path
    registry: ContextRegistry
    socket_path: str


@pytest.fixture
def agent():
    with short_tempdir() as base:
        tools = Path(base) / "tools"
        install_tools(tools)
        registry = ContextRegistry()
        with serving(registry) as server:
            yield Agent(tools, registry, server.socket_path)


@pytest.fixture(autouse=True)
def juju_log(caplog):
    """juju-log's messages (the server logs them in this process)."""
    caplog.set_level(logging.DEBUG)
    return caplog


@dataclass
class Ran:
    hook: str
    code: int
    output: str


class Unit:
    """A unit of a charm whose hooks the test runs one by one, as its agent
    would: its config, relations and open ports outlive each hook."""

    def __init__(
        self,
        agent: Agent,
        charm: Path,
        name: str,
        data_root: Path | None,
        config: dict | None = None,
        private_address: str = "10.0.0.1",
    ) -> None:
        self.agent = agent
        self.charm = charm
        self.name = name
        self.data_root = data_root
        self.config = read_charm_dir(str(charm)).defaults()
        self.config.update(config or {})
        self.private_address = private_address
        self.relations: dict[int, FakeContextRelation] = {}
        self.ports: set[tuple[str, int]] = set()

    @property
    def data(self) -> Path:
        """The unit's data directory, as lib/common.sh of the charms makes it."""
        root = self.data_root if self.data_root is not None else self.charm.parent / "data"
        return root / self.name.replace("/", "-")

    def relate(self, id: int, name: str, units: dict | None = None) -> FakeContextRelation:
        relation = FakeContextRelation(id, name, units or {})
        self.relations[id] = relation
        return relation

    def hooks_log(self) -> list[str]:
        return (self.data / "hooks.log").read_text().splitlines()

    def read(self, name: str) -> str:
        return (self.data / name).read_text()

    def run(self, hook: str, relation_id: int = -1, remote: str = "", expect: int = 0) -> Ran:
        """Run ``hooks/<hook>`` (in a relation hook when ``relation_id`` is
        given) and check its exit code."""
        ctx = FakeHookContext(
            unit_name=self.name,
            public_address=f"{self.name.replace('/', '-')}.example.invalid",
            private_address=self.private_address,
            config=self.config,
            relations=self.relations.values(),
            hook_relation_id=relation_id,
            remote_unit=remote,
        )
        ctx.ports = self.ports  # the unit's ports, changed by each hook in turn
        env = {
            "PATH": f"{self.agent.tools}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "CHARM_DIR": str(self.charm),
            "JUJU_UNIT_NAME": self.name,
            "JUJU_AGENT_SOCKET": self.agent.socket_path,
        }
        if self.data_root is not None:
            env["AGENT_RUNTIME_CHARM_DATA"] = str(self.data_root)
        if relation_id != -1:
            env["JUJU_RELATION"] = self.relations[relation_id].name()
            env["JUJU_RELATION_ID"] = self.relations[relation_id].fake_id()
            env["JUJU_REMOTE_UNIT"] = remote
        with self.agent.registry.registered(ctx) as token:
            env["JUJU_CONTEXT_ID"] = token
            ran = run_process(hook, [str(self.charm / "hooks" / hook)], self.charm, env)
        assert ran.code == expect, f"{self.name} {hook}: exit code {ran.code}\n{ran.output}"
        return ran


def run_process(hook: str, argv: list[str], cwd: Path, env: dict) -> Ran:
    """Run a hook as the unit agent does (own session, stdin closed, stdout
    and stderr merged); it never outlives the call."""
    process = subprocess.Popen(
        argv,
        cwd=str(cwd),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=LONG_WAIT)
    finally:
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.communicate(timeout=LONG_WAIT)
    return Ran(hook, process.returncode, output.decode("utf-8", "replace"))


def messages(caplog, unit: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == f"unit.{unit}.juju-log"]


def cksum_password(relation_id: str, service: str) -> str:
    """kvdb's password: "pw" and the POSIX cksum of "<relation id> <service>"."""
    result = subprocess.run(
        ["cksum"],
        input=f"{relation_id} {service}".encode(),
        capture_output=True,
        timeout=LONG_WAIT,
        check=True,
    )
    return "pw" + result.stdout.split()[0].decode()


@pytest.fixture
def data(tmp_path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def webapp(agent, data) -> Unit:
    return Unit(agent, WEBAPP, "webapp/0", data, private_address="10.0.0.2")


@pytest.fixture
def kvdb(agent, data) -> Unit:
    return Unit(agent, KVDB, "kvdb/0", data, private_address="10.0.0.7")


def started(unit: Unit) -> Unit:
    for hook in ("install", "config-changed", "start"):
        unit.run(hook)
    return unit


# -- the charms ------------------------------------------------------------------------


def test_the_charms_read_and_relate():
    webapp = read_charm_dir(str(WEBAPP))
    kvdb = read_charm_dir(str(KVDB))
    assert webapp.name == "webapp"
    assert (webapp.endpoints["db"].interface, webapp.endpoints["db"].role) == ("kv-db", "requirer")
    assert (webapp.endpoints["cluster"].interface, webapp.endpoints["cluster"].role) == (
        "webapp-peers",
        "peer",
    )
    assert webapp.defaults() == {"title": "Hello", "port": 8080, "debug": False}
    assert kvdb.name == "kvdb"
    assert (kvdb.endpoints["db"].interface, kvdb.endpoints["db"].role) == ("kv-db", "provider")
    assert kvdb.defaults() == {"user": "app"}
    assert webapp.endpoints["db"].can_relate_to(kvdb.endpoints["db"])


@pytest.mark.parametrize("charm", [WEBAPP, KVDB], ids=["webapp", "kvdb"])
def test_the_hooks_are_executable_posix_shell_scripts(charm):
    hooks = sorted((charm / "hooks").iterdir())
    assert hooks
    for hook in [*hooks, charm / "lib" / "common.sh"]:
        text = hook.read_text()
        if hook.parent.name == "hooks":
            assert os.access(hook, os.X_OK), hook
            assert text.startswith("#!/bin/sh\n"), hook
            assert "\nset -e\n" in text, hook
        ran = run_process(hook.name, ["/bin/sh", "-n", str(hook)], charm, {})
        assert (ran.code, ran.output) == (0, ""), hook


# -- webapp ----------------------------------------------------------------------------


def test_webapp_install_config_changed_start(webapp, juju_log):
    started(webapp)
    assert webapp.read("installed") == "installed webapp/0\n"
    assert webapp.read("app.conf") == "title=Hello\nport=8080\ndebug=false\n"
    assert webapp.ports == {("tcp", 8080)}
    assert webapp.read("status") == "started\n"
    assert webapp.hooks_log() == ["install -", "config-changed -", "start -"]
    assert "app.conf written (port 8080)" in messages(juju_log, "webapp/0")

    webapp.run("stop")
    assert webapp.read("status") == "stopped\n"
    assert webapp.hooks_log()[-1] == "stop -"


def test_webapp_config_change_of_port(webapp, juju_log):
    started(webapp)
    webapp.config.update(port=9090, title="Hi there", debug=True)
    webapp.run("config-changed")
    assert webapp.ports == {("tcp", 9090)}  # 8080 closed
    assert webapp.read("app.conf") == "title=Hi there\nport=9090\ndebug=true\n"
    assert "port changed from 8080 to 9090" in messages(juju_log, "webapp/0")

    juju_log.clear()
    webapp.config.update(title="Bye")  # the port stays as it is
    webapp.run("config-changed")
    assert webapp.ports == {("tcp", 9090)}
    assert webapp.read("app.conf") == "title=Bye\nport=9090\ndebug=true\n"
    assert not [m for m in messages(juju_log, "webapp/0") if m.startswith("port changed")]
    assert webapp.hooks_log()[3:] == ["config-changed -", "config-changed -"]


def test_webapp_config_changed_with_a_port_out_of_range_fails_and_changes_nothing(webapp):
    started(webapp)
    webapp.config["port"] = 70000
    ran = webapp.run("config-changed", expect=2)  # open-port's usage error; set -e
    assert 'error: port must be in the range [1, 65535]; got "70000"' in ran.output
    assert webapp.ports == {("tcp", 8080)}
    assert webapp.read("app.conf") == "title=Hello\nport=8080\ndebug=false\n"
    assert webapp.read("port") == "8080\n"


def test_webapp_db_relation_changed_waits_for_complete_settings(webapp, juju_log):
    started(webapp)
    relation = webapp.relate(2, "db", {"kvdb/0": {"host": "10.0.0.7"}})
    webapp.run("db-relation-joined", 2, "kvdb/0")
    webapp.run("db-relation-changed", 2, "kvdb/0")
    assert not (webapp.data / "db.conf").exists()
    assert messages(juju_log, "webapp/0")[-2:] == [
        "db:2: kvdb/0 joined: waiting for its host, user and password",
        "db:2: waiting for kvdb/0 to set: user password",
    ]

    relation.units["kvdb/0"].update(user="app", password="pw1")
    webapp.run("db-relation-changed", 2, "kvdb/0")
    assert webapp.read("db.conf") == (
        "host=10.0.0.7\nuser=app\npassword=pw1\nunit=kvdb/0\nrelation=db:2\n"
    )
    assert messages(juju_log, "webapp/0")[-1] == (
        "db:2: db.conf written: user app on 10.0.0.7 (from kvdb/0)"
    )
    assert webapp.hooks_log()[3:] == [
        "db-relation-joined kvdb/0",
        "db-relation-changed kvdb/0",
        "db-relation-changed kvdb/0",
    ]


def test_webapp_db_relation_departed_and_broken(webapp, juju_log):
    started(webapp)
    complete = {"host": "10.0.0.7", "user": "app", "password": "pw1"}
    relation = webapp.relate(
        2, "db", {"kvdb/0": complete, "kvdb/1": dict(complete, host="10.0.0.8")}
    )
    webapp.run("db-relation-changed", 2, "kvdb/0")
    conf = webapp.read("db.conf")

    # A unit that db.conf does not use departs: noted, nothing changes.
    webapp.run("db-relation-departed", 2, "kvdb/2")
    assert webapp.read("db.conf") == conf
    assert messages(juju_log, "webapp/0")[-1] == "db:2: kvdb/2 departed; db.conf does not use it"

    # The unit in use departs: db.conf switches to the other one.
    del relation.units["kvdb/0"]
    webapp.run("db-relation-departed", 2, "kvdb/0")
    assert webapp.read("db.conf") == (
        "host=10.0.0.8\nuser=app\npassword=pw1\nunit=kvdb/1\nrelation=db:2\n"
    )
    # The last one departs: no database.
    del relation.units["kvdb/1"]
    webapp.run("db-relation-departed", 2, "kvdb/1")
    assert not (webapp.data / "db.conf").exists()
    assert messages(juju_log, "webapp/0")[-1] == (
        "db:2: kvdb/1 departed; db.conf removed: no database left"
    )
    webapp.run("db-relation-broken", 2, "")
    assert messages(juju_log, "webapp/0")[-1] == "db:2: db:2 broken; db.conf does not use it"

    # Broken while db.conf comes from the relation: removed.
    relation.units["kvdb/0"] = complete
    webapp.run("db-relation-changed", 2, "kvdb/0")
    assert (webapp.data / "db.conf").exists()
    del relation.units["kvdb/0"]
    webapp.run("db-relation-broken", 2, "")
    assert not (webapp.data / "db.conf").exists()
    assert messages(juju_log, "webapp/0")[-1] == "db:2: db:2 broken; db.conf removed"
    assert webapp.hooks_log()[3:] == [
        "db-relation-changed kvdb/0",
        "db-relation-departed kvdb/2",
        "db-relation-departed kvdb/0",
        "db-relation-departed kvdb/1",
        "db-relation-broken -",
        "db-relation-changed kvdb/0",
        "db-relation-broken -",
    ]


def test_webapp_cluster_peers(webapp, juju_log):
    started(webapp)
    relation = webapp.relate(0, "cluster", {"webapp/1": {}})
    webapp.run("cluster-relation-joined", 0, "webapp/1")
    assert webapp.read("peers") == "webapp/1\n"
    relation.units["webapp/2"] = {}
    webapp.run("cluster-relation-joined", 0, "webapp/2")
    webapp.run("cluster-relation-changed", 0, "webapp/2")
    assert webapp.read("peers") == "webapp/1\nwebapp/2\n"
    assert messages(juju_log, "webapp/0")[-1] == "cluster:0: 2 peer(s) in cluster:0"
    del relation.units["webapp/1"]
    webapp.run("cluster-relation-departed", 0, "webapp/1")
    assert webapp.read("peers") == "webapp/2\n"
    del relation.units["webapp/2"]
    webapp.run("cluster-relation-departed", 0, "webapp/2")
    assert webapp.read("peers") == ""
    assert messages(juju_log, "webapp/0")[-1] == "cluster:0: 0 peer(s) in cluster:0"
    assert webapp.hooks_log()[3:] == [
        "cluster-relation-joined webapp/1",
        "cluster-relation-joined webapp/2",
        "cluster-relation-changed webapp/2",
        "cluster-relation-departed webapp/1",
        "cluster-relation-departed webapp/2",
    ]
    assert not list(webapp.data.glob("*.tmp.*"))


# -- kvdb ------------------------------------------------------------------------------


def test_kvdb_install_config_changed_start(kvdb):
    started(kvdb)
    assert kvdb.read("installed") == "installed kvdb/0\n"
    assert kvdb.read("user") == "app\n"
    assert kvdb.read("grants") == ""
    assert kvdb.read("status") == "started\n"
    kvdb.run("stop")
    assert kvdb.read("status") == "stopped\n"
    assert kvdb.hooks_log() == ["install -", "config-changed -", "start -", "stop -"]


def test_kvdb_db_relation_joined_sets_host_user_password(kvdb, juju_log):
    started(kvdb)
    relation = kvdb.relate(3, "db", {"webapp/0": {}})
    kvdb.run("db-relation-joined", 3, "webapp/0")
    password = cksum_password("db:3", "webapp")
    assert re.fullmatch(r"pw[0-9]+", password)
    assert relation.local.map() == {"host": "10.0.0.7", "user": "app", "password": password}
    assert kvdb.read("grants") == f"db:3 webapp/0 app {password}\n"
    assert messages(juju_log, "kvdb/0")[-1] == "db:3: granted app on 10.0.0.7 to webapp/0"

    # Another unit of the same service: the same settings (one map per relation).
    relation.units["webapp/1"] = {}
    kvdb.run("db-relation-joined", 3, "webapp/1")
    assert relation.local.map() == {"host": "10.0.0.7", "user": "app", "password": password}
    assert kvdb.read("grants").splitlines() == [
        f"db:3 webapp/0 app {password}",
        f"db:3 webapp/1 app {password}",
    ]
    # Joined again (a hook rerun): the same password, the grant not doubled.
    kvdb.run("db-relation-joined", 3, "webapp/0")
    assert relation.local.map()["password"] == password
    assert kvdb.read("grants").splitlines() == [
        f"db:3 webapp/1 app {password}",
        f"db:3 webapp/0 app {password}",
    ]
    # Another relation: another password.
    other = kvdb.relate(5, "db", {"blog/0": {}})
    kvdb.run("db-relation-joined", 5, "blog/0")
    assert other.local.map()["password"] == cksum_password("db:5", "blog") != password


def test_kvdb_db_relation_departed_and_broken_revoke(kvdb, juju_log):
    started(kvdb)
    relation = kvdb.relate(3, "db", {"webapp/0": {}, "webapp/1": {}})
    kvdb.relate(4, "db", {"blog/0": {}})
    for unit in ("webapp/0", "webapp/1"):
        kvdb.run("db-relation-joined", 3, unit)
    kvdb.run("db-relation-joined", 4, "blog/0")
    pw3, pw4 = cksum_password("db:3", "webapp"), cksum_password("db:4", "blog")

    del relation.units["webapp/0"]
    kvdb.run("db-relation-departed", 3, "webapp/0")
    assert kvdb.read("grants") == f"db:3 webapp/1 app {pw3}\ndb:4 blog/0 app {pw4}\n"
    assert messages(juju_log, "kvdb/0")[-1] == "db:3: revoked the grant of webapp/0"

    kvdb.run("db-relation-broken", 3, "")
    assert kvdb.read("grants") == f"db:4 blog/0 app {pw4}\n"
    assert kvdb.hooks_log()[3:] == [
        "db-relation-joined webapp/0",
        "db-relation-joined webapp/1",
        "db-relation-joined blog/0",
        "db-relation-departed webapp/0",
        "db-relation-broken -",
    ]


def test_kvdb_config_changed_updates_user_on_every_relation(kvdb, juju_log):
    started(kvdb)
    first = kvdb.relate(1, "db", {"webapp/0": {}})
    second = kvdb.relate(4, "db", {"blog/0": {}})
    kvdb.run("db-relation-joined", 1, "webapp/0")
    kvdb.run("db-relation-joined", 4, "blog/0")
    before = (first.local.map(), second.local.map())

    kvdb.config["user"] = "admin"
    kvdb.run("config-changed")
    assert first.local.map() == dict(before[0], user="admin")
    assert second.local.map() == dict(before[1], user="admin")
    assert kvdb.read("user") == "admin\n"
    pw1, pw4 = cksum_password("db:1", "webapp"), cksum_password("db:4", "blog")
    assert kvdb.read("grants") == f"db:1 webapp/0 admin {pw1}\ndb:4 blog/0 admin {pw4}\n"
    assert messages(juju_log, "kvdb/0")[-2:] == ["user admin set on db:1", "user admin set on db:4"]


def test_kvdb_config_changed_refuses_an_empty_user(kvdb):
    started(kvdb)
    kvdb.config["user"] = ""
    kvdb.run("config-changed", expect=1)
    assert kvdb.read("user") == "app\n"


# -- together --------------------------------------------------------------------------


def test_webapp_uses_what_kvdb_granted(agent, data, juju_log):
    """kvdb's relation-set settings, read by webapp's relation-get: both sides
    of one relation (id 7), each unit seeing the other as its remote unit."""
    webapp = started(Unit(agent, WEBAPP, "webapp/0", data))
    kvdb = started(Unit(agent, KVDB, "kvdb/0", data, private_address="192.168.1.5"))
    db_side = kvdb.relate(7, "db", {"webapp/0": {}})
    app_side = webapp.relate(7, "db", {"kvdb/0": {}})

    webapp.run("db-relation-joined", 7, "kvdb/0")
    webapp.run("db-relation-changed", 7, "kvdb/0")  # kvdb has not joined yet
    assert not (webapp.data / "db.conf").exists()

    kvdb.run("db-relation-joined", 7, "webapp/0")
    app_side.units["kvdb/0"] = db_side.local.map()
    webapp.run("db-relation-changed", 7, "kvdb/0")
    password = cksum_password("db:7", "webapp")
    assert webapp.read("db.conf") == (
        f"host=192.168.1.5\nuser=app\npassword={password}\nunit=kvdb/0\nrelation=db:7\n"
    )

    kvdb.config["user"] = "admin"
    kvdb.run("config-changed")
    app_side.units["kvdb/0"] = db_side.local.map()
    webapp.run("db-relation-changed", 7, "kvdb/0")
    assert "user=admin\n" in webapp.read("db.conf")

    assert webapp.hooks_log() == [
        "install -",
        "config-changed -",
        "start -",
        "db-relation-joined kvdb/0",
        "db-relation-changed kvdb/0",
        "db-relation-changed kvdb/0",
        "db-relation-changed kvdb/0",
    ]
    assert kvdb.hooks_log() == [
        "install -",
        "config-changed -",
        "start -",
        "db-relation-joined webapp/0",
        "config-changed -",
    ]
    assert sorted(p.name for p in data.iterdir()) == ["kvdb-0", "webapp-0"]


def test_the_default_data_directory_is_beside_the_charm(agent, tmp_path):
    """Without AGENT_RUNTIME_CHARM_DATA, a unit's files go to
    $CHARM_DIR/../data/<unit> (here in a path with a space, which the hooks quote)."""
    charm = tmp_path / "my charms" / "webapp"
    shutil.copytree(WEBAPP, charm, symlinks=True)
    unit = started(Unit(agent, charm, "webapp/3", None))
    assert unit.data == tmp_path / "my charms" / "data" / "webapp-3"
    assert unit.read("app.conf") == "title=Hello\nport=8080\ndebug=false\n"
    unit.relate(0, "cluster", {"webapp/4": {}})
    unit.run("cluster-relation-joined", 0, "webapp/4")
    assert unit.read("peers") == "webapp/4\n"
    assert unit.hooks_log() == [
        "install -",
        "config-changed -",
        "start -",
        "cluster-relation-joined webapp/4",
    ]


def test_a_hook_outside_a_unit_agent_fails_clearly(tmp_path):
    ran = run_process(
        "install",
        [str(WEBAPP / "hooks" / "install")],
        WEBAPP,
        {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CHARM_DIR": str(WEBAPP)},
    )
    assert ran.code != 0
    assert "JUJU_UNIT_NAME is not set" in ran.output
