"""Agent presence on every backend: alive while the agent's presence worker
runs, down once it stops or its process died."""

from __future__ import annotations

import sys

import pytest
from gevent import subprocess
from zope.interface.verify import verifyObject

from agent_runtime.interfaces import IWorker
from agent_runtime.state import NotFound
from agent_runtime.testing import LONG_WAIT, check_alive, clean_kill, wait_for

from charms import deploy


def test_an_agent_is_alive_while_its_presence_runs(state):
    deploy(state)
    unit = state.add_unit("mysql")
    assert state.agent_alive(unit) is False
    presence = state.agent_presence(unit)
    try:
        verifyObject(IWorker, presence)
        assert state.agent_alive(unit) is True
        check_alive(presence)
    finally:
        clean_kill(presence)
    assert state.agent_alive(unit) is False


def test_presence_of_an_unknown_unit_is_refused(state):
    deploy(state)
    with pytest.raises(NotFound):
        state.agent_presence("mysql/9")


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("zookeeper", marks=pytest.mark.zookeeper)]
)
def test_an_agent_killed_with_sigkill_is_down(backend, tmp_path, open_state, request):
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path}/state.db"
    else:
        url = request.getfixturevalue("state_url_zookeeper")
    state = open_state(url)
    deploy(state)
    unit = state.add_unit("mysql")
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, gevent\n"
            "from agent_runtime import state as s\n"
            f"st = s.open({url!r})\n"
            f"p = st.agent_presence({unit!r})\n"
            "print('held', flush=True)\n"
            "gevent.sleep(600)\n",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout.readline() == b"held\n"
        assert state.agent_alive(unit) is True
        child.kill()
        child.wait(timeout=LONG_WAIT)
        # ZooKeeper notices when the session times out (a few seconds);
        # a local backend at once, from the process table.
        wait_for(lambda: state.agent_alive(unit) is False, timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=LONG_WAIT)
        child.stdout.close()
