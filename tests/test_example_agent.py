"""The example agent (examples/supervised_agent.py), run as a user runs it.

Each test starts it as a subprocess, plain and under ``python -m gevent.monkey``,
reads its log (stderr) line by line with a deadline, and checks how it ends.
Nothing is timed: the only waits are deadlines for things that must happen,
and the subprocess is always killed at the end of the test.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time
from pathlib import Path

import pytest
from gevent import subprocess  # gevent.subprocess reaps every child: see test_environ_processes

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "supervised_agent.py"
WORKERS = ("heartbeat", "ticker", "config", "flaky")
#: Real seconds to wait for something that must happen (generous: it is a deadline).
DEADLINE = 30.0

MODES = {
    "plain": [],
    "monkey-patched": ["-m", "gevent.monkey"],
}


class Agent:
    """The example agent running in a subprocess, with its stderr read as lines."""

    def __init__(self, mode: str, *args: str) -> None:
        pythonpath = [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(pythonpath)}
        self.process = subprocess.Popen(
            [sys.executable, *MODES[mode], str(EXAMPLE), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=REPO,
        )
        self.lines: list[str] = []
        self._partial = b""
        self._eof = False

    def read_until(self, condition, what: str, timeout: float = DEADLINE) -> None:
        """Read stderr lines until ``condition(self.lines)`` is true; fail if the
        deadline passes or stderr ends first."""
        deadline = time.monotonic() + timeout
        while not condition(self.lines):
            if self._eof:
                raise AssertionError(f"the agent's log ended before {what}:\n{self.log}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"waited {timeout:g} s for {what}:\n{self.log}")
            self._read(remaining)

    def finish(self, timeout: float = DEADLINE) -> int:
        """Read the log to its end and wait for the agent to exit; its exit code."""
        deadline = time.monotonic() + timeout
        self.read_until(lambda lines: self._eof, "the agent to close its log", timeout)
        returncode = self.process.wait(max(deadline - time.monotonic(), 0.1))
        # The log goes to stderr only; the agent's stdout has ended now it has exited.
        assert self.process.stdout.read() == b"", "the agent wrote to stdout"
        return returncode

    def _read(self, timeout: float) -> None:
        fd = self.process.stderr.fileno()
        readable, _, _ = select.select([fd], [], [], timeout)
        if not readable:
            return
        chunk = os.read(fd, 65536)
        if not chunk:
            self._eof = True
            chunk, self._partial = self._partial, b""
            if chunk:
                self.lines.append(chunk.decode(errors="replace"))
            return
        *complete, self._partial = (self._partial + chunk).split(b"\n")
        self.lines.extend(line.decode(errors="replace") for line in complete)

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def close(self) -> None:
        """Kill the agent if it still runs, and release its pipes."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(DEADLINE)
        self.process.stdout.close()
        self.process.stderr.close()


@pytest.fixture(params=list(MODES))
def start_agent(request):
    agents: list[Agent] = []

    def start(*args: str) -> Agent:
        agent = Agent(request.param, *args)
        agents.append(agent)
        return agent

    try:
        yield start
    finally:
        for agent in agents:
            agent.close()


def index_of(lines: list[str], text: str, start: int = 0) -> int:
    """The index of the first line at or after ``start`` that contains ``text``."""
    for i in range(start, len(lines)):
        if text in lines[i]:
            return i
    raise AssertionError(f"no line with {text!r} after line {start}:\n" + "\n".join(lines))


def all_started(lines: list[str]) -> bool:
    return all(any(f"worker {w!r} started" in line for line in lines) for w in WORKERS)


def test_runs_for_its_duration_restarting_the_flaky_worker(start_agent):
    agent = start_agent("--duration", "4", "--flaky-after", "0.5")
    assert agent.finish() == 0, agent.log
    lines = agent.lines

    # Every worker started, and the config worker saw the initial config.
    assert all_started(lines), agent.log
    index_of(lines, "config is now {'version': 0}")

    # The flaky worker failed, was logged, and the Runner restarted it after the delay.
    started = index_of(lines, "worker 'flaky' started")
    failed = index_of(
        lines, "worker 'flaky' failed: RuntimeError: flaky gave up after 0.5 s", started
    )
    scheduled = index_of(lines, "worker 'flaky' will restart in 1 s", failed)
    index_of(lines, "worker 'flaky' started", scheduled)

    # Then the duration ran out and every worker stopped cleanly.
    stopping = index_of(lines, "time is up: stopping")
    for worker in ("heartbeat", "ticker", "config"):
        index_of(lines, f"worker {worker!r} stopped", stopping)
    assert "agent stopped cleanly" in lines[-1], agent.log
    assert "Traceback" not in agent.log


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_a_signal_stops_it_cleanly(start_agent, signum):
    agent = start_agent()  # no --duration: it runs until signalled
    agent.read_until(all_started, "every worker to start")

    agent.process.send_signal(signum)
    assert agent.finish() == 0, agent.log

    stopping = index_of(agent.lines, f"got {signum.name}: stopping")
    for worker in ("heartbeat", "ticker", "config"):
        index_of(agent.lines, f"worker {worker!r} stopped", stopping)
    assert "agent stopped cleanly" in agent.lines[-1], agent.log
    assert "Traceback" not in agent.log
