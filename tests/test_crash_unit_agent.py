"""Crash consistency of the unit agent's files: ``kill -9`` at random points,
over and over, while hooks run.

One unit agent (app/0, a real ``agent-runtime unit`` process on the embedded
SQLite state) follows a relation to db units that the test drives through
the state directly: units join, change their settings and leave, and app's
config changes. Each iteration makes a few changes, kills the agent with
SIGKILL — either just after one of its hooks started or after a random
delay — reads what it left on disk, and starts it again. After every kill:

* ``uniter.yaml`` parses, and every relation state dir reads back with each
  unit file holding the complete bytes of one write (no torn file);

and at the end, once the agent has caught up:

* no committed hook ran again: a hook that ``uniter.yaml`` said was
  ``committing`` or ``done`` at a kill is not in the hook log after that
  kill (checked for the hooks that happen once: install, start, and each db
  unit's joined and departed);
* an interrupted (``pending``) hook ran again at most once per kill that
  interrupted it, and no such hook ran more often than that;
* nothing was lost: the relation state dir holds exactly the units in the
  relation's scope at their current settings version, each unit still in
  scope had its joined hook, and each db unit's hooks make sense in order.
"""

from __future__ import annotations

import re
import signal
from collections import Counter

import gevent
import pytest
from test_relation_crash import check_files

from agent_runtime.state import open as open_state
from agent_runtime.state.charm import read_charm_dir
from agent_runtime.testing import wait_for
from agent_runtime.uniter.opstate import COMMITTING, DONE, PENDING, OpStateFile
from agent_runtime.uniter.paths import UnitPaths
from agent_runtime.uniter.relation import StateDirError, read_all_state_dirs

from charm_factory import hooks_seen, make_charm
from e2e_support import Deployment
from seeds import seeded

UNIT = "app/0"
#: Hooks that run once in the life of the unit or of a db unit's membership.
ONCE = re.compile(r"(install|start) -|db-relation-(joined|departed) db/\d+")


@pytest.fixture
def deployment(tmp_path):
    deployment = Deployment(tmp_path)
    yield deployment
    deployment.close()


def deploy(d: Deployment):
    """app (requires db) and db in the deployment's state; return the state
    (this process's own connection to it) and the relation's id."""
    app = make_charm(
        d.charms,
        "app",
        {"requires": {"db": {"interface": "kv"}}},
        {"title": {"type": "string", "default": "hi"}},
        plain=("install", "start", "stop", "db-relation-joined", "db-relation-departed"),
        hooks={
            "config-changed": 'config-get title > "$data/title"',
            "db-relation-changed": 'relation-get - "$JUJU_REMOTE_UNIT" > /dev/null',
            "db-relation-broken": "",
        },
    )
    db = make_charm(d.charms, "db", {"provides": {"db": {"interface": "kv"}}})
    state = open_state(f"sqlite:///{d.home}/state.db")
    state.add_service("app", read_charm_dir(app))
    state.add_service("db", read_charm_dir(db))
    assert state.add_unit("app") == UNIT
    relation = state.add_relation("app", "db")
    return state, relation.id


class Kill:
    """What the agent left on disk when it was killed."""

    def __init__(self, number: int, step: str, hook: str | None, log_length: int) -> None:
        self.number = number
        self.step = step
        self.hook = hook  # as the hook log names it: "<hook> <remote unit or ->"
        self.log_length = log_length


def logged_name(info) -> str:
    """How the charm's hook log names the hook of ``info``."""
    remote = info.remote_unit or "-"
    if info.kind.is_relation():
        return f"db-{info.kind} {remote}"
    return f"{info.kind} {remote}"


def check_disk(paths: UnitPaths):
    """The agent's state after a kill: everything parses, nothing is torn."""
    op = OpStateFile(paths.opstate).read()
    for statedir in read_all_state_dirs(paths.relations).values():
        check_files(statedir.path, statedir.state())
    return op


def change(
    state, relation_id: int, rng, in_scope: list[str], left: list[str], k: int, batch: Batch
) -> None:
    """One random change: a db unit joins, changes, or leaves; or app's config."""
    what = rng.choice(["join", "change", "change", "leave", "config"])
    if what == "join" or (what in ("change", "leave") and len(in_scope) < 2):
        unit = state.add_unit("db")
        state.enter_scope(relation_id, unit, {"n": str(k)})
        in_scope.append(unit)
        batch.joined(unit)
    elif what == "change":
        unit = rng.choice(in_scope)
        state.update_relation_settings(relation_id, unit, {"n": str(k)})
        batch.changed(unit)
    elif what == "leave":
        unit = in_scope.pop(rng.randrange(len(in_scope)))
        state.leave_scope(relation_id, unit)
        left.append(unit)
        batch.left(unit)
    else:
        state.update_service_config("app", {"title": f"t{k}"})
        batch.changed("config")


class Batch:
    """The net effect of a few changes made while the agent was caught up.

    A db unit that joins and leaves within one batch may pass unseen: the
    agent can coalesce the two and run no hook at all. Every other change
    must run at least one hook.
    """

    def __init__(self) -> None:
        self._joined: set[str] = set()
        self._visible: set[str] = set()

    def joined(self, unit: str) -> None:
        self._joined.add(unit)
        self._visible.add(unit)

    def changed(self, what: str) -> None:
        self._visible.add(what)

    def left(self, unit: str) -> None:
        if unit in self._joined:
            self._visible.discard(unit)
        else:
            self._visible.add(unit)

    def must_run_a_hook(self) -> bool:
        return bool(self._visible)


# gevent.subprocess forks; Python 3.12+ warns about fork() in a process with
# threads (pytest-timeout's). The children exec at once, so the warning is moot.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
@pytest.mark.parametrize(
    "kills",
    [5, pytest.param(40, marks=[pytest.mark.long, pytest.mark.timeout(900)])],
)
def test_kill_9_at_random_points_loses_nothing_and_runs_no_committed_hook_twice(deployment, kills):
    d = deployment
    seed, rng = seeded(f"unit agent crash, {kills} kills")
    state, relation_id = deploy(d)
    paths = UnitPaths(str(d.home), UNIT)
    hooks = lambda: hooks_seen(str(d.home), UNIT)  # noqa: E731
    in_scope: list[str] = []
    left: list[str] = []
    record: list[Kill] = []

    def caught_up() -> bool:
        """The agent has run and committed every hook the state asks for."""
        try:
            dirs = read_all_state_dirs(paths.relations)
        except StateDirError:  # a unit file removed between listing and reading it
            return False
        if OpStateFile(paths.opstate).read().step != DONE or relation_id not in dirs:
            return False
        committed = dirs[relation_id].state()
        expected = {u: state.relation_settings(relation_id, u)[1] for u in in_scope}
        title = (paths_title.read_text() if paths_title.exists() else "").strip()
        return (
            committed.members == expected
            and not committed.changed_pending
            and title == state.service_config("app")["title"]
        )

    paths_title = d.home / "charm-data" / UNIT / "title"
    try:
        d.start(UNIT)
        for number in range(kills):
            wait_for(caught_up, timeout=60, what=f"app/0 to catch up (seed {seed})")
            before = len(hooks())
            batch = Batch()
            for k in range(rng.randint(1, 3)):
                change(state, relation_id, rng, in_scope, left, number * 10 + k, batch)
            if batch.must_run_a_hook() and rng.random() < 0.7:  # in the hooks that follow
                wait_for(lambda n=before: len(hooks()) > n, timeout=30, what="a hook to start")
                gevent.sleep(rng.uniform(0, 0.1))
            else:
                gevent.sleep(rng.uniform(0, 0.3))
            d.signal(UNIT, signal.SIGKILL)
            assert d.exit_code(UNIT) == -signal.SIGKILL, d.log(UNIT)[-3000:]
            op = check_disk(paths)
            hook = logged_name(op.hook) if op.hook else None
            record.append(Kill(number, op.step, hook, len(hooks())))
            d.start(UNIT)
        wait_for(caught_up, timeout=60, what=f"app/0 to catch up (seed {seed})")
        # Caught up may be what the files said before the last start: wait
        # until the new process is up (its signal handlers are in place).
        wait_for(lambda: d.agent(UNIT) == "up", timeout=30, what="app/0's agent up")
        d.signal(UNIT, signal.SIGTERM)
        assert d.exit_code(UNIT) == 0, d.log(UNIT)[-3000:]
    finally:
        state.close()

    log = hooks()
    steps = Counter(kill.step for kill in record)
    print(f"{kills} kills, at steps {dict(steps)}; {len(log)} hooks ran")
    interrupted = Counter(kill.hook for kill in record if kill.step == PENDING)
    for hook, count in Counter(log).items():
        if ONCE.fullmatch(hook):
            assert count <= 1 + interrupted[hook], (
                f"seed {seed}: {hook!r} ran {count} times, interrupted {interrupted[hook]} times"
            )
    for kill in record:
        if kill.step in (COMMITTING, DONE) and kill.hook and ONCE.fullmatch(kill.hook):
            assert kill.hook not in log[kill.log_length :], (
                f"seed {seed}: {kill.hook!r} was committed at kill {kill.number} and ran again"
            )
    for unit in in_scope:
        assert f"db-relation-joined {unit}" in log, f"seed {seed}: {unit} joined unseen"
        assert f"db-relation-departed {unit}" not in log, f"seed {seed}: {unit} departed"
    for unit in left:
        seen = [h.split()[0] for h in log if h.endswith(f" {unit}") and ONCE.fullmatch(h)]
        assert seen in ([], ["db-relation-joined", "db-relation-departed"]) or (
            # an interrupted hook of the pair may appear twice in a row
            [h for i, h in enumerate(seen) if i == 0 or h != seen[i - 1]]
            == ["db-relation-joined", "db-relation-departed"]
        ), f"seed {seed}: {unit}'s hooks: {seen}"
    assert log.count("install -") >= 1 and log.count("start -") >= 1
