"""Running the ``agent-runtime`` command and unit agents as real processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from pathlib import Path

from gevent import subprocess  # gevent.subprocess reaps every child: see test_environ_processes

from agent_runtime.testing import LONG_WAIT, wait_for

#: Real seconds to wait for what unit agents (processes running hook
#: processes) should do: generous, for a loaded CI machine.
E2E_WAIT = 30.0

REPO = Path(__file__).resolve().parent.parent
CHARMS = REPO / "examples" / "charms"


class Deployment:
    """An ``AGENT_RUNTIME_HOME`` with its embedded state, the operator's
    commands, and unit agents run as subprocesses (all killed by ``close``).
    With ``state_url``, every command and agent uses that state instead
    (``--state URL``), e.g. a ZooKeeper chroot."""

    def __init__(self, home: Path, state_url: str | None = None) -> None:
        self.home = home
        self.state_url = state_url
        self._state_args = ["--state", state_url] if state_url else []
        self.charms = home / "charms"
        shutil.copytree(CHARMS / "webapp", self.charms / "webapp")
        shutil.copytree(CHARMS / "kvdb", self.charms / "kvdb")
        self.env = dict(os.environ, AGENT_RUNTIME_HOME=str(home), PYTHONPATH=str(REPO))
        self.agents: dict[str, subprocess.Popen] = {}

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "-m", "agent_runtime", *args, *self._state_args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"agent-runtime {' '.join(args)} failed: {result.stderr}")
        return result

    def status(self) -> dict:
        return json.loads(self.cli("status", "--format", "json").stdout)

    def start(self, unit: str, *extra: str) -> subprocess.Popen:
        charm = self.charms / unit.partition("/")[0]
        log = open(self.home / f"{unit.replace('/', '-')}.log", "ab")  # noqa: SIM115
        agent = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agent_runtime",
                "unit",
                unit,
                "--charm",
                str(charm),
                *extra,
                *self._state_args,
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.agents[unit] = agent
        return agent

    def units(self, service: str) -> dict:
        """``status``'s units of ``service``, by name."""
        return self.status()["services"][service]["units"]

    def agent(self, unit: str) -> str | None:
        """What ``status`` says of the unit's agent ("up", "down"; None: no such unit)."""
        found = self.units(unit.partition("/")[0]).get(unit)
        return None if found is None else found["agent"]

    def log(self, unit: str) -> str:
        path = self.home / f"{unit.replace('/', '-')}.log"
        return path.read_text() if path.exists() else ""

    def data(self, unit: str) -> Path:
        return self.home / "charm-data" / unit.replace("/", "-")

    def read(self, unit: str, name: str) -> str:
        path = self.data(unit) / name
        return path.read_text() if path.exists() else ""

    def hooks(self, unit: str) -> list[str]:
        return self.read(unit, "hooks.log").splitlines()

    def wait_until(self, condition, what: str | None = None, timeout: float = E2E_WAIT) -> None:
        """``wait_for`` with the patience agents need (``E2E_WAIT``)."""
        wait_for(condition, timeout=timeout, what=what)

    def wait_file(self, unit: str, name: str, text: str, timeout: float = E2E_WAIT) -> None:
        wait_for(
            lambda: text in self.read(unit, name),
            timeout=timeout,
            what=f"{text!r} in {unit}'s {name}; its log:\n{self.log(unit)[-3000:]}",
        )

    def exit_code(self, unit: str, timeout: float = LONG_WAIT * 3) -> int:
        agent = self.agents[unit]
        wait_for(lambda: agent.poll() is not None, timeout=timeout, what=f"{unit}'s agent to exit")
        return agent.returncode

    def alive(self, unit: str) -> bool:
        """True while the unit's agent process (started here) runs."""
        agent = self.agents.get(unit)
        return agent is not None and agent.poll() is None

    def signal(self, unit: str, sig: int) -> None:
        self.agents[unit].send_signal(sig)

    def close(self) -> None:
        for agent in self.agents.values():
            if agent.poll() is None:
                agent.send_signal(signal.SIGKILL)
                agent.wait(timeout=30)
