"""The unit agent after a crash: no committed hook runs twice, an interrupted
one runs again, a failed one waits for the operator; and a failing watcher
restarts its worker, not the agent."""

from __future__ import annotations

import pytest

from agent_runtime.state import StorageError
from agent_runtime.testing import wait_for
from agent_runtime.uniter.hook import Info, Kind
from agent_runtime.uniter.opstate import COMMITTING, DONE, FAILED, PENDING, OpState, OpStateFile
from agent_runtime.uniter.paths import UnitPaths
from agent_runtime.uniter.relation import read_state_dir

from uniter_support import START


def save(world, unit: str, state: OpState) -> None:
    paths = UnitPaths(world.data_dir, unit)
    paths.ensure()
    OpStateFile(paths.opstate).write(state)


def test_an_interrupted_hook_runs_again_once(world):
    unit = world.state.add_unit("app")
    save(
        world,
        unit,
        OpState(Info(Kind.CONFIG_CHANGED), PENDING, installed=True, started=True),
    )
    world.start(unit)
    wait_for(lambda: world.state.unit(unit).status.get("status") == "active")
    world.wait_hooks(unit, ["config-changed -"])  # not twice, and no install or start


def test_a_hook_that_succeeded_is_committed_not_run_again(world):
    app, db = world.state.add_unit("app"), world.state.add_unit("db")
    relation = world.state.add_relation("app", "db")
    world.state.enter_scope(relation.id, db, {"host": "h"})
    world.state.enter_scope(relation.id, app)
    statedir = read_state_dir(UnitPaths(world.data_dir, app).relations, relation.id)
    statedir.ensure()
    joined = Info(Kind.RELATION_JOINED, relation.id, db, 0)
    save(world, app, OpState(joined, COMMITTING, installed=True, started=True))
    world.start(app)
    wait_for(lambda: "db-relation-changed db/0" in world.hooks(app))
    assert "db-relation-joined db/0" not in world.hooks(app)
    members = read_state_dir(UnitPaths(world.data_dir, app).relations, relation.id).state()
    assert members.members == {db: 0}
    opstate = OpStateFile(UnitPaths(world.data_dir, app).opstate)
    wait_for(lambda: opstate.read().step == DONE)


def test_a_failed_hook_is_reported_after_a_restart(world):
    unit = world.state.add_unit("app")
    save(world, unit, OpState(Info(Kind.START), FAILED, installed=True))
    world.start(unit)
    wait_for(lambda: world.state.unit(unit).status.get("status") == "error")
    assert world.state.unit(unit).status["hook"] == "start"
    assert world.hooks(unit) == []
    world.state.resolve_unit(unit, retry=True)
    wait_for(lambda: world.state.unit(unit).status.get("status") == "active")
    assert world.hooks(unit)[0] == "start -"


@pytest.mark.parametrize("content", ["step: bogus\n", "{not yaml: [", "- a list\n"])
def test_a_corrupt_state_file_stops_the_agent_naming_it(world, content):
    from agent_runtime.testing import check_killed
    from agent_runtime.uniter.opstate import OpStateError

    unit = world.state.add_unit("app")
    paths = UnitPaths(world.data_dir, unit)
    paths.ensure()
    with open(paths.opstate, "w") as stream:
        stream.write(content)
    agent = world.start(unit)
    error = check_killed(agent)
    assert isinstance(error, OpStateError)
    assert paths.opstate in str(error)
    assert world.hooks(unit) == []
    world.agents.remove(agent)
    with open(paths.opstate) as stream:
        assert stream.read() == content  # left for the operator to look at


def test_a_failing_watcher_restarts_its_worker_not_the_agent(world):
    unit = world.state.add_unit("app")
    world.start(unit)
    world.wait_hooks(unit, START)
    world.state.store._store._subscriptions.fail_all(StorageError("the backend hiccupped"))
    world.state.update_service_config("app", {"title": "after the hiccup"})
    wait_for(lambda: world.file(unit, "title") == "after the hiccup\n")
    assert world.hooks(unit).count("install -") == 1
    assert world.hooks(unit).count("start -") == 1
