"""The unit agent, in this process: real hooks (shell scripts calling the real
hook tools over the real socket) against an in-memory state.

Every wait polls what the hooks wrote, with a timeout; nothing sleeps.
"""

from __future__ import annotations

import pytest

from agent_runtime.errors import TerminateAgent
from agent_runtime.state import NotFound
from agent_runtime.testing import ManualClock, check_alive, check_killed, wait_for
from agent_runtime.uniter.opstate import DONE, OpStateFile
from agent_runtime.uniter.paths import UnitPaths

from charm_factory import write_hook
from uniter_support import START


def test_first_start_installs_configures_and_starts(world):
    unit = world.state.add_unit("app")
    world.start(unit)
    wait_for(lambda: world.state.unit(unit).status.get("status") == "active")
    world.wait_hooks(unit, START)
    info = world.state.unit(unit)
    assert (info.private_address, info.public_address) == ("10.0.0.1", "app-0.example")
    assert world.file(unit, "title") == "hi\n"
    op = OpStateFile(UnitPaths(world.data_dir, unit).opstate).read()
    assert (op.installed, op.started, op.step) == (True, True, DONE)


def test_config_changes_run_config_changed(world):
    unit = world.state.add_unit("app")
    world.start(unit)
    world.wait_hooks(unit, START)
    world.state.update_service_config("app", {"title": "news"})
    wait_for(lambda: world.file(unit, "title") == "news\n")
    world.wait_hooks(unit, [*START, "config-changed -"])


def test_two_units_relate_and_see_each_other(world):
    app, db = world.state.add_unit("app"), world.state.add_unit("db")
    world.start(app)
    world.start(db)
    world.wait_hooks(app, START)
    world.wait_hooks(db, START)
    world.state.add_relation("app", "db")
    wait_for(
        lambda: world.file(app, "db-db-0") and "host: db.example" in world.file(app, "db-db-0")
    )
    assert "db-relation-joined db/0" in world.hooks(app)
    world.wait_hooks(db, [*START, "db-relation-joined app/0", "db-relation-changed app/0"])
    assert "private-address: 10.0.0.2" in world.file(app, "db-db-0")


def test_a_failed_hook_waits_for_resolved_and_its_writes_are_dropped(world):
    app, db = world.state.add_unit("app"), world.state.add_unit("db")
    write_hook(world.db, "db-relation-joined", "relation-set host=never; exit 7")
    world.start(app)
    world.start(db)
    relation = world.state.add_relation("app", "db")
    wait_for(lambda: world.state.unit(db).status.get("status") == "error")
    status = world.state.unit(db).status
    assert status["hook"] == "db-relation-joined"
    assert 'hook "db-relation-joined" failed' in status["message"]
    assert "host" not in world.state.relation_settings(relation.id, db)[0]
    write_hook(world.db, "db-relation-joined", "relation-set host=fixed")
    world.state.resolve_unit(db, retry=True)
    wait_for(lambda: world.state.relation_settings(relation.id, db)[0].get("host") == "fixed")
    wait_for(lambda: world.state.unit(db).status.get("status") == "active")
    assert world.hooks(db).count("db-relation-joined app/0") == 2
    assert world.state.unit(db).resolved is None


def test_resolved_without_retry_skips_the_failed_hook(world):
    unit = world.state.add_unit("app")
    write_hook(world.app, "config-changed", "exit 1")
    world.start(unit)
    wait_for(lambda: world.state.unit(unit).status.get("status") == "error")
    assert world.hooks(unit) == ["install -", "config-changed -"]
    world.state.resolve_unit(unit)
    world.wait_hooks(unit, START)  # skipped, not run again: start comes next
    wait_for(lambda: world.state.unit(unit).status.get("status") == "active")


def test_ports_are_opened_only_when_the_hook_succeeds(world):
    unit = world.state.add_unit("app")
    write_hook(world.app, "start", "open-port 80; open-port 53/udp; exit 1")
    world.start(unit)
    wait_for(lambda: world.state.unit(unit).status.get("status") == "error")
    assert world.state.unit(unit).ports == ()
    write_hook(world.app, "start", "open-port 80; open-port 53/udp")
    world.state.resolve_unit(unit, retry=True)
    wait_for(lambda: world.state.unit(unit).ports == (("tcp", 80), ("udp", 53)))


def test_a_dying_unit_leaves_its_relations_stops_and_is_removed(world):
    app, db = world.state.add_unit("app"), world.state.add_unit("db")
    world.start(app)
    db_agent = world.start(db)
    relation = world.state.add_relation("app", "db")
    # Both sides have seen each other: a unit departs only from units it saw
    # join (one it never saw would pass with no hook at all).
    wait_for(lambda: "db-relation-changed db/0" in world.hooks(app))
    wait_for(lambda: "db-relation-changed app/0" in world.hooks(db))
    world.state.destroy_unit(db)
    assert isinstance(check_killed(db_agent, timeout=30), TerminateAgent)
    assert world.hooks(db)[-3:] == ["db-relation-departed app/0", "db-relation-broken -", "stop -"]
    wait_for(lambda: "db-relation-departed db/0" in world.hooks(app))
    with pytest.raises(NotFound):
        world.state.unit(db)
    assert world.state.scope(relation.id) == [app]


def test_unrelate_runs_departed_and_broken_on_both_sides(world):
    app, db = world.state.add_unit("app"), world.state.add_unit("db")
    world.start(app)
    world.start(db)
    relation = world.state.add_relation("app", "db")
    wait_for(lambda: "db-relation-changed db/0" in world.hooks(app))
    wait_for(lambda: "db-relation-changed app/0" in world.hooks(db))
    world.state.destroy_relation(relation.id)
    for unit, other in ((app, db), (db, app)):
        wait_for(lambda u=unit: "db-relation-broken -" in world.hooks(u))
        assert world.hooks(unit)[-2:] == [f"db-relation-departed {other}", "db-relation-broken -"]
    wait_for(lambda: [r.key for r in world.state.relations()] == ["app:ring"])


def test_peers_see_each_other(world):
    units = [world.state.add_unit("app") for _ in range(2)]
    for unit in units:
        write_hook(world.app, "ring-relation-changed", 'relation-list > "$data/peers"')
        world.start(unit)
    # The peer relation came with the service: nobody adds it.
    wait_for(lambda: world.file(units[0], "peers") == "app/1\n")
    wait_for(lambda: world.file(units[1], "peers") == "app/0\n")


def test_the_hook_environment(world):
    app, db = world.state.add_unit("app"), world.state.add_unit("db")
    write_hook(
        world.app,
        "db-relation-joined",
        'env | grep -E "^(JUJU_|CHARM_DIR)" | grep -v JUJU_CONTEXT_ID | sort > "$data/env"; '
        'test -n "$JUJU_CONTEXT_ID"; command -v relation-get > "$data/tool"',
    )
    world.start(app)
    world.start(db)
    relation = world.state.add_relation("app", "db")
    wait_for(lambda: world.file(app, "tool"))  # written after env
    env = dict(line.split("=", 1) for line in world.file(app, "env").splitlines())
    assert env["CHARM_DIR"] == world.app
    assert env["JUJU_UNIT_NAME"] == app
    assert env["JUJU_RELATION"] == "db"
    assert env["JUJU_RELATION_ID"] == f"db:{relation.id}"
    assert env["JUJU_REMOTE_UNIT"] == db
    assert env["JUJU_AGENT_SOCKET"] == UnitPaths(world.data_dir, app).socket
    assert world.file(app, "tool").strip() == UnitPaths(world.data_dir, app).tools + "/relation-get"


def test_a_missing_hook_is_skipped_and_a_non_executable_one_fails(world):
    import os

    unit = world.state.add_unit("app")
    os.remove(os.path.join(world.app, "hooks", "install"))
    os.chmod(os.path.join(world.app, "hooks", "start"), 0o644)
    world.start(unit)
    wait_for(lambda: world.state.unit(unit).status.get("status") == "error")
    assert world.hooks(unit) == ["config-changed -"]
    assert world.state.unit(unit).status["hook"] == "start"


def test_a_long_hook_reports_progress_on_the_agents_clock(world, caplog):
    """The agent's clock reaches the hook runner: a hook that runs on reports
    "still running" when that clock passes PROGRESS_EVERY, without real waiting."""
    import logging

    from agent_runtime.uniter.runhook import PROGRESS_EVERY

    caplog.set_level(logging.INFO, logger="agent_runtime.uniter")
    clock = ManualClock()
    unit = world.state.add_unit("app")
    write_hook(world.app, "install", f'while [ ! -e "{world.data_dir}/go" ]; do sleep 0.01; done')
    world.start(unit, clock=clock)
    clock.wait_for_timers(1)  # the only timer of an agent that runs a hook: its progress
    assert "still running" not in caplog.text
    clock.advance(PROGRESS_EVERY)
    wait_for(lambda: f'hook "install" still running ({PROGRESS_EVERY:g} s)' in caplog.text)
    open(f"{world.data_dir}/go", "w").close()
    world.wait_hooks(unit, START)


def test_the_agent_restarts_its_workers_on_its_clock(world):
    """A uniter that fails (its unit does not exist yet) is started again when
    the agent's clock has passed the restart delay (0.05 s in World), not before."""
    clock = ManualClock()
    unit = "app/0"
    world.start(unit, clock=clock)
    clock.wait_for_timers(2)  # the uniter and the presence worker, failed, wait to restart
    assert world.state.add_unit("app") == unit
    check_alive(world.agents[-1])
    assert world.hooks(unit) == []
    clock.advance(0.05)
    world.wait_hooks(unit, START)
