"""The main job, end to end with real processes: the example charms deployed
in one state, unit agents as subprocesses, the operator's commands.

The state is the embedded SQLite one; the main scenario runs on ZooKeeper too
(a fresh chroot of the server ``$AGENT_RUNTIME_ZOOKEEPER`` names; skipped,
saying so, when none answers). Every wait polls files or ``status`` with a
timeout; every agent is killed after the test.
"""

from __future__ import annotations

import signal

import pytest

from e2e_support import Deployment


@pytest.fixture
def deployment(tmp_path):
    deployment = Deployment(tmp_path)
    yield deployment
    deployment.close()


@pytest.fixture(params=["sqlite", pytest.param("zookeeper", marks=pytest.mark.zookeeper)])
def any_deployment(request, tmp_path):
    """A deployment on the embedded state, and one on ZooKeeper."""
    url = request.getfixturevalue("state_url_zookeeper") if request.param == "zookeeper" else None
    deployment = Deployment(tmp_path, state_url=url)
    yield deployment
    deployment.close()  # before the chroot goes: this fixture is torn down first


START = ["install -", "config-changed -", "start -"]


def both_started(d: Deployment) -> None:
    """kvdb/0 and webapp/0 deployed, their agents started and up."""
    d.cli("deploy", "kvdb", "--charm", str(d.charms / "kvdb"), "-n", "1")
    d.cli("deploy", "webapp", "--charm", str(d.charms / "webapp"), "-n", "1")
    d.start("kvdb/0")
    d.start("webapp/0")
    d.wait_file("webapp/0", "status", "started")
    d.wait_file("kvdb/0", "status", "started")
    d.wait_until(lambda: d.agent("kvdb/0") == d.agent("webapp/0") == "up", what="both agents up")


def test_two_charms_relate_configure_scale_and_leave(any_deployment):
    d = any_deployment
    both_started(d)

    d.cli("relate", "webapp", "kvdb")
    d.wait_file("webapp/0", "db.conf", "password=")
    assert "user=app" in d.read("webapp/0", "db.conf")
    assert "webapp/0 app" in d.read("kvdb/0", "grants")

    d.cli("set-config", "webapp", "port=9090", "title=Hi there")
    d.wait_file("webapp/0", "app.conf", "port=9090")
    assert "title=Hi there" in d.read("webapp/0", "app.conf")
    d.wait_until(lambda: d.units("webapp")["webapp/0"]["ports"] == ["9090/tcp"])

    d.cli("set-config", "kvdb", "user=admin")
    d.wait_file("webapp/0", "db.conf", "user=admin")

    d.cli("add-unit", "webapp")
    d.start("webapp/1")
    d.wait_file("webapp/1", "db.conf", "user=admin")
    d.wait_file("webapp/0", "peers", "webapp/1")
    d.wait_file("webapp/1", "peers", "webapp/0")
    d.wait_until(lambda: d.agent("webapp/1") == "up", what="webapp/1's agent up")
    # kvdb has seen webapp/1 join too (webapp/1 reads kvdb's settings without
    # that): a unit departs only from units that saw it join.
    d.wait_file("kvdb/0", "grants", "webapp/1")

    d.cli("destroy-unit", "webapp/1")
    assert d.exit_code("webapp/1") == 0, d.log("webapp/1")
    assert "unit webapp/1 is dead" in d.log("webapp/1")
    d.wait_file("kvdb/0", "grants", "webapp/0")
    d.wait_until(lambda: "webapp/1" not in d.read("kvdb/0", "grants"))
    d.wait_until(lambda: "webapp/1" not in d.read("webapp/0", "peers"))

    assert d.hooks("webapp/1")[:3] == START
    assert d.hooks("webapp/1")[-3:] == [
        "db-relation-departed kvdb/0",
        "db-relation-broken -",
        "stop -",
    ]
    kvdb = d.hooks("kvdb/0")
    assert kvdb[:3] == START
    assert kvdb.count("install -") == kvdb.count("start -") == 1
    assert kvdb.index("db-relation-joined webapp/1") < kvdb.index("db-relation-departed webapp/1")
    webapp0 = d.hooks("webapp/0")
    assert webapp0.count("install -") == webapp0.count("start -") == 1
    joined = webapp0.index("db-relation-joined kvdb/0")
    assert webapp0[joined + 1] == "db-relation-changed kvdb/0"  # joined, then changed at once

    status = d.status()
    assert list(status["services"]["webapp"]["units"]) == ["webapp/0"]
    unit = status["services"]["webapp"]["units"]["webapp/0"]
    assert unit["status"] == "active" and unit["life"] == "alive"
    assert unit["agent"] == "up"
    assert status["services"]["kvdb"]["units"]["kvdb/0"]["agent"] == "up"
    assert status["services"]["kvdb"]["config"] == {"user": "admin"}
    (db,) = [r for r in status["relations"] if r["key"] == "webapp:db kvdb:db"]
    assert db["scope"] == ["kvdb/0", "webapp/0"]
    table = d.cli("status").stdout
    assert "webapp:db kvdb:db" in table and "webapp/0" in table and "webapp/1" not in table
    # The agents that were not asked to stop still run, on the state they were given.
    assert d.agents["kvdb/0"].poll() is None and d.agents["webapp/0"].poll() is None
    assert (d.home / "state.db").exists() == (d.state_url is None)


def test_an_agent_killed_with_sigkill_is_down(any_deployment):
    d = any_deployment
    both_started(d)
    d.signal("kvdb/0", signal.SIGKILL)
    assert d.exit_code("kvdb/0") == -signal.SIGKILL
    # On ZooKeeper its ephemeral presence node goes when the server expires
    # its session (the URL's ?timeout=2); on SQLite, a reader on the same host
    # sees that its process is gone.
    d.wait_until(lambda: d.agent("kvdb/0") == "down", what="kvdb/0's agent down")
    status = d.status()
    assert status["services"]["kvdb"]["units"]["kvdb/0"]["life"] == "alive"  # only the agent died
    assert status["services"]["webapp"]["units"]["webapp/0"]["agent"] == "up"
    assert "kvdb/0" in d.cli("status").stdout


def test_kill_9_in_a_hook_then_a_restart_runs_no_committed_hook_twice(deployment):
    d = deployment
    gate = d.home / "gate"
    hook = d.charms / "webapp" / "hooks" / "config-changed"
    text = hook.read_text()
    # The hook blocks (at most 60 s) until the test opens the gate.
    hook.write_text(
        text.replace(
            '. "${CHARM_DIR:?}/lib/common.sh"\n',
            '. "${CHARM_DIR:?}/lib/common.sh"\n'
            f'n=0; while [ ! -e "{gate}" ] && [ $n -lt 1200 ]; do sleep 0.05; n=$((n+1)); done\n',
        )
    )
    d.cli("deploy", "webapp", "--charm", str(d.charms / "webapp"), "-n", "1")
    gate.touch()
    d.start("webapp/0")
    d.wait_file("webapp/0", "status", "started")
    gate.unlink()
    d.cli("set-config", "webapp", "title=interrupted")
    d.wait_until(lambda: d.hooks("webapp/0") == [*START, "config-changed -"])  # blocked in it
    d.signal("webapp/0", signal.SIGKILL)
    assert d.exit_code("webapp/0") == -signal.SIGKILL, d.log("webapp/0")
    state_file = d.home / "units" / "webapp-0" / "state" / "uniter.yaml"
    assert "step: pending" in state_file.read_text()
    assert "kind: config-changed" in state_file.read_text()

    gate.touch()
    d.start("webapp/0")
    d.wait_file("webapp/0", "app.conf", "title=interrupted")
    d.wait_until(lambda: "step: done" in state_file.read_text())
    hooks = d.hooks("webapp/0")
    assert hooks.count("install -") == 1
    assert hooks.count("start -") == 1
    assert hooks[:3] == START
    assert "config-changed -" in hooks[4:]  # the interrupted one ran again


def test_sigterm_stops_an_idle_agent_cleanly(deployment):
    d = deployment
    d.cli("deploy", "kvdb", "--charm", str(d.charms / "kvdb"), "-n", "1")
    d.start("kvdb/0")
    d.wait_file("kvdb/0", "status", "started")
    d.signal("kvdb/0", signal.SIGTERM)
    assert d.exit_code("kvdb/0") == 0
    assert "SIGTERM: stopping" in d.log("kvdb/0")
    assert "unit agent kvdb/0 stopped" in d.log("kvdb/0")
    # The unit is not destroyed: run the agent again and it goes on.
    d.start("kvdb/0")
    d.wait_until(lambda: d.hooks("kvdb/0").count("config-changed -") == 2)
    assert d.hooks("kvdb/0").count("install -") == 1


def test_sigterm_during_a_long_hook_stops_after_the_grace_period(deployment):
    d = deployment
    hook = d.charms / "kvdb" / "hooks" / "start"
    hook.write_text(
        hook.read_text().replace(
            '. "${CHARM_DIR:?}/lib/common.sh"\n',
            '. "${CHARM_DIR:?}/lib/common.sh"\nsleep 60\n',
        )
    )
    d.cli("deploy", "kvdb", "--charm", str(d.charms / "kvdb"), "-n", "1")
    d.start("kvdb/0", "--stop-timeout", "0.5")
    d.wait_until(lambda: d.hooks("kvdb/0")[-1:] == ["start -"])
    d.signal("kvdb/0", signal.SIGTERM)
    assert d.exit_code("kvdb/0") in (0, 1)  # stopped: the hook was killed
    assert "did not stop in time" in d.log("kvdb/0")
    state_file = d.home / "units" / "kvdb-0" / "state" / "uniter.yaml"
    assert "step: pending" in state_file.read_text()


@pytest.mark.parametrize(
    "args, message",
    [
        (("unit", "kvdb/0", "--charm", "/nonexistent"), "does not exist"),
        (("unit", "kvdb", "--charm", "CHARM"), "invalid unit name"),
        (("unit", "kvdb/7", "--charm", "CHARM"), "unit 'kvdb/7' not found"),
        (("unit", "kvdb/0", "--charm", "WEBAPP"), "holds charm 'webapp'"),
        (("unit", "kvdb/0", "--charm", "CHARM", "--state", "nope://x"), "unknown state URL"),
    ],
)
def test_the_unit_command_refuses_bad_input_clearly(deployment, args, message):
    d = deployment
    d.cli("deploy", "kvdb", "--charm", str(d.charms / "kvdb"), "-n", "1")
    args = tuple(
        {"CHARM": str(d.charms / "kvdb"), "WEBAPP": str(d.charms / "webapp")}.get(a, a)
        for a in args
    )
    result = d.cli(*args, check=False)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_report_shows_a_running_agents_workers(deployment):
    import json

    d = deployment
    d.cli("deploy", "kvdb", "--charm", str(d.charms / "kvdb"), "-n", "1")
    d.start("kvdb/0")
    d.wait_file("kvdb/0", "status", "started")
    d.wait_until(lambda: d.cli("report", "kvdb/0", check=False).returncode == 0)
    report = json.loads(d.cli("report", "kvdb/0", "--format", "json").stdout)
    uniter = report["workers"]["uniter"]
    assert uniter["state"] == "started"
    assert uniter["report"]["unit"] == "kvdb/0"
    assert set(uniter["report"]["workers"]["workers"]) >= {
        "hook-tools",
        "config-watcher",
        "unit-watcher",
        "relations-watcher",
    }
    text = d.cli("report", "kvdb/0").stdout
    assert text.startswith("unit agent kvdb/0: started")
    missing = d.cli("report", "kvdb/9", check=False)
    assert missing.returncode == 1 and "cannot read the report" in missing.stderr
