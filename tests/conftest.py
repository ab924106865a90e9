"""Shared test set-up.

* Every test runs under agent_runtime's own pytest plugin: no leaked greenlets,
  no error that only the gevent hub saw.
* ``AGENT_RUNTIME_TEST_PATCHED=1`` (set by the monkey-patched tox flavour)
  asserts that gevent's monkey patching really was applied before pytest
  started, so that flavour cannot silently run unpatched.
* ``AGENT_RUNTIME_NO_SKIPS=1`` (set by .ci/run) turns every skipped test into a
  failure of the session: in CI every test must run.
"""

from __future__ import annotations

import os

import pytest

import agent_runtime.worker
from agent_runtime.testing import check_killed
from agent_runtime.worker import Runner

from starters import Starter, no_importance, none_fatal
from zookeeper_support import state_url_zookeeper, zookeeper_hosts  # noqa: F401 - fixtures

# dependency_support: the clock and engines fixtures of the dependency engine tests.
pytest_plugins = ["agent_runtime.testing.pytest_plugin", "dependency_support"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "zookeeper: needs a ZooKeeper server ($AGENT_RUNTIME_ZOOKEEPER, default "
        "127.0.0.1:2181); skipped when none answers",
    )
    config.addinivalue_line(
        "markers",
        "long: a fault or load test of minutes (docs/RELIABILITY.md); deselected by default, "
        "run with `pytest -m long` or `tox -e long` (.ci/run does)",
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.environ.get("AGENT_RUNTIME_TEST_PATCHED") == "1":
        from gevent import monkey

        missing = [
            m for m in ("socket", "time", "threading", "select") if not monkey.is_module_patched(m)
        ]
        if missing:
            raise pytest.UsageError(
                "AGENT_RUNTIME_TEST_PATCHED=1 but gevent did not patch "
                f"{', '.join(missing)}: run pytest under `python -m gevent.monkey --module pytest`"
            )


_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        _skipped.append(f"{report.nodeid}: {report.longrepr}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _skipped and os.environ.get("AGENT_RUNTIME_NO_SKIPS") == "1":
        print("\nAGENT_RUNTIME_NO_SKIPS=1 and these tests were skipped:")
        for line in _skipped:
            print("  " + line)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def patched() -> bool:
    """True when this session runs monkey-patched."""
    from gevent import monkey

    return monkey.is_module_patched("socket")


@pytest.fixture
def no_restart_delay(monkeypatch):
    """The reference's SetUpTest: ``RESTART_DELAY`` = 0 for the test."""
    monkeypatch.setattr(agent_runtime.worker, "RESTART_DELAY", 0.0)


@pytest.fixture
def runners():
    """Make Runners; each is killed after the test and must stop in time."""
    made: list[Runner] = []

    def make(is_fatal=none_fatal, more_important=no_importance, *args, **kwargs):
        runner = Runner(is_fatal, more_important, *args, **kwargs)
        made.append(runner)
        return runner

    yield make
    for runner in made:
        runner.kill()
        check_killed(runner)


@pytest.fixture
def starters():
    """Make the reference's test starters; none may ever run two instances at once."""
    made: list[Starter] = []

    def make(**kwargs):
        starter = Starter(**kwargs)
        made.append(starter)
        return starter

    yield make
    for starter in made:
        assert starter.overlaps == [], "two instances of one id ran at once"


#: The state backends every conformance test runs on.
STATE_BACKENDS = ["memory", "sqlite", pytest.param("zookeeper", marks=pytest.mark.zookeeper)]


@pytest.fixture(params=STATE_BACKENDS)
def state_url(request, tmp_path) -> str:
    """A URL of a fresh, empty state, once per backend (ZooKeeper: a fresh
    chroot on the server of ``zookeeper_hosts``, removed after the test)."""
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/state.db"
    return request.getfixturevalue("state_url_zookeeper")


@pytest.fixture
def open_state():
    """Open states (``open_state(url, **options)``); each is closed after the test."""
    from agent_runtime import state as state_module

    opened = []

    def open_(url: str, **options):
        state = state_module.open(url, **options)
        opened.append(state)
        return state

    yield open_
    for state in opened:
        state.close()


@pytest.fixture
def state(state_url, open_state):
    """A fresh, empty State, once per backend."""
    return open_state(state_url)


@pytest.fixture
def world(tmp_path):
    """A shared in-memory state with two charms, and unit agents run in this
    process (tests/uniter_support.py); every agent is stopped after the test."""
    from uniter_support import World

    world = World(tmp_path)
    yield world
    world.close()
