"""Crash safety of StateDir writes: a writer killed with SIGKILL at random
moments never leaves a torn or unreadable relation directory.

A child process (not a greenlet) commits thousands of hooks, printing the
index of each write that returned; the test kills it with SIGKILL after a
random number of writes plus a random fraction of a write, several times in a
row on the same directory. After each kill the directory must read back as
the state after the last reported write or after the one in flight (nothing
in between, nothing older), every unit file must hold exactly the bytes of a
complete write, and ``*.preparing`` leftovers must not disturb reading (the
next child starts from that directory).
"""

from __future__ import annotations

import os
import random
import re
import signal
import sys

import gevent
import pytest
import relation_crash_child as child
from gevent import subprocess

from agent_runtime.testing import LONG_WAIT
from agent_runtime.uniter.relation import State, read_state_dir
from agent_runtime.uniter.relation.names import unit_from_file_name

CHILD = os.path.abspath(child.__file__)
ROUNDS = 5
WRITES = 3000  # per child at most; it is killed well before
UNIT_FILE = re.compile(rb"change-version: (0|[1-9][0-9]*)\n(changed-pending: true\n)?")


def states_of_round(start: State, round: int, count: int) -> list[State]:
    """The state after 0, 1, ..., count writes of ``round`` from ``start``."""
    states = [start]
    for index in range(count):
        states.append(child.apply(states[-1], child.next_hook(states[-1], round, index)))
    return states


def read_line(stream) -> bytes:
    with gevent.Timeout(LONG_WAIT, AssertionError("the writer did not report in time")):
        return stream.readline()


def check_files(path: str, state: State) -> None:
    """Every unit file holds the complete bytes of the state's entry."""
    units = {}
    for name in os.listdir(path):
        if name.endswith(".preparing"):
            assert unit_from_file_name(name[: -len(".preparing")]), name
            continue
        unit = unit_from_file_name(name)
        assert unit is not None, f"unexpected entry {name!r}"
        with open(os.path.join(path, name), "rb") as file:
            data = file.read()
        match = UNIT_FILE.fullmatch(data)
        assert match, f"torn or foreign content in {name}: {data!r}"
        units[unit] = (int(match[1]), match[2] is not None)
    assert units == {
        unit: (version, unit == state.changed_pending) for unit, version in state.members.items()
    }


# gevent.subprocess forks; Python 3.12+ warns about fork() in a process with
# threads (pytest-timeout's). The child execs at once, so the warning is moot.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
@pytest.mark.parametrize(
    "rounds, most",  # kills, and the most writes before one
    [
        pytest.param(ROUNDS, 1500, id="5-kills"),
        pytest.param(100, 200, marks=[pytest.mark.long, pytest.mark.timeout(900)], id="100-kills"),
    ],
)
def test_sigkill_during_writes_never_tears_a_file(tmp_path, rounds, most):
    seed = random.randrange(2**32)
    print(f"seed {seed}")
    rng = random.Random(seed)
    root = str(tmp_path)
    path = os.path.join(root, str(child.RELATION))
    total = 0
    for round in range(1, rounds + 1):
        start = read_state_dir(root, child.RELATION).state()
        kill_after = rng.randrange(1, most)
        process = subprocess.Popen(
            [sys.executable, CHILD, root, str(round), str(WRITES)],
            stdout=subprocess.PIPE,
            cwd=os.path.dirname(CHILD),
        )
        try:
            assert read_line(process.stdout) == b"ready\n"
            done = -1
            while done + 1 < kill_after:
                line = read_line(process.stdout)
                assert line.endswith(b"\n"), f"writer ended early: {line!r}"
                done = int(line)
            # Somewhere inside the next write (or the report after it).
            gevent.sleep(rng.random() * 0.0006)
            process.send_signal(signal.SIGKILL)
            with gevent.Timeout(LONG_WAIT, AssertionError("the killed writer did not exit")):
                process.wait()
            assert process.returncode == -signal.SIGKILL
            for line in process.stdout.read().splitlines(keepends=True):
                if line.endswith(b"\n"):
                    done = int(line)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stdout.close()
        states = states_of_round(start, round, done + 2)
        after = read_state_dir(root, child.RELATION).state()  # leftovers do not break it
        assert after in (states[done + 1], states[done + 2]), (
            f"seed {seed}, round {round}: after write {done} the directory holds {after}"
        )
        check_files(path, after)
        total += done + 1
    assert total >= rounds, "the writers wrote almost nothing"
