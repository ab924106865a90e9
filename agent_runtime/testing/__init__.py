"""Helpers for testing workers: the manual clock, fake watchers, kill checks.

``agent_runtime.testing.pytest_plugin`` adds a leaked-greenlet check and a
check that no greenlet died with an error nobody saw; enable it with
``pytest_plugins = ["agent_runtime.testing.pytest_plugin"]``.
"""

from agent_runtime.testing.clock import ManualClock
from agent_runtime.testing.watchers import FakeNotifyWatcher, FakeStringsWatcher
from agent_runtime.testing.workers import (
    LONG_WAIT,
    SHORT_WAIT,
    check_alive,
    check_killed,
    clean_kill,
    dirty_kill,
    wait_for,
)

__all__ = [
    "LONG_WAIT",
    "SHORT_WAIT",
    "FakeNotifyWatcher",
    "FakeStringsWatcher",
    "ManualClock",
    "check_alive",
    "check_killed",
    "clean_kill",
    "dirty_kill",
    "wait_for",
]
