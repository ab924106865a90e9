"""A small world for the unit agent's tests: a shared in-memory state, two
charms (app requires db; app has a peer endpoint), and unit agents run in
this process with real hooks and the real hook tools."""

from __future__ import annotations

import os
import uuid

from agent_runtime.errors import TerminateAgent
from agent_runtime.state import open as open_state_url
from agent_runtime.state.charm import read_charm_dir
from agent_runtime.testing import check_killed, wait_for
from agent_runtime.uniter.agent import unit_agent

from charm_factory import hooks_seen, make_charm

UNIT_HOOKS = ("install", "start", "stop", "config-changed")
DB_HOOKS = tuple(f"db-relation-{kind}" for kind in ("joined", "changed", "departed", "broken"))
START = ["install -", "config-changed -", "start -"]


class World:
    def __init__(self, tmp_path) -> None:
        self.url = f"memory://uniter-{uuid.uuid4().hex}"
        self.state = open_state_url(self.url)
        self.data_dir = str(tmp_path / "data")
        self.agents = []
        self._states = [self.state]
        self.app = make_charm(
            tmp_path,
            "app",
            {"requires": {"db": {"interface": "kv"}}, "peers": {"ring": {"interface": "ring"}}},
            {"title": {"type": "string", "default": "hi"}},
            plain=UNIT_HOOKS + DB_HOOKS,
            hooks={
                "config-changed": 'config-get title > "$data/title"',
                # Written aside and renamed: a test may read the file while a
                # later relation-changed rewrites it.
                "db-relation-changed": (
                    'f="$data/db-$(echo $JUJU_REMOTE_UNIT | tr / -)"; '
                    'relation-get - > "$f.new" && mv "$f.new" "$f"'
                ),
            },
        )
        self.db = make_charm(
            tmp_path,
            "db",
            {"provides": {"db": {"interface": "kv"}}},
            plain=UNIT_HOOKS + DB_HOOKS,
            hooks={"db-relation-joined": "relation-set host=db.example user=u"},
        )
        self.state.add_service("app", read_charm_dir(self.app))
        self.state.add_service("db", read_charm_dir(self.db))

    def start(self, unit: str, charm: str | None = None, **options):
        """Start the agent of ``unit`` (on a State of its own); ``options`` go
        to ``unit_agent`` (e.g. ``hook_observer``)."""
        state = open_state_url(self.url)
        self._states.append(state)
        agent = unit_agent(
            state,
            unit,
            charm or (self.app if unit.startswith("app") else self.db),
            self.data_dir,
            private_address=f"10.0.0.{len(self.agents) + 1}",
            public_address=f"{unit.replace('/', '-')}.example",
            restart_delay=0.05,
            stop_timeout=5,
            **options,
        )
        self.agents.append(agent)
        return agent

    def hooks(self, unit: str) -> list[str]:
        return hooks_seen(self.data_dir, unit)

    def wait_hooks(self, unit: str, expected: list[str]) -> None:
        wait_for(lambda: self.hooks(unit) == expected, what=f"{unit} to run {expected}")

    def file(self, unit: str, name: str) -> str | None:
        path = os.path.join(self.data_dir, "charm-data", unit, name)
        if not os.path.exists(path):
            return None
        with open(path) as stream:
            return stream.read()

    def close(self) -> None:
        """Stop every agent (each must stop cleanly, or as a dead unit's does)."""
        for agent in self.agents:
            agent.kill()
            error = check_killed(agent, timeout=30)
            assert error is None or isinstance(error, TerminateAgent), error
        for state in self._states:
            state.close()
