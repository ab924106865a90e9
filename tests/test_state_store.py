"""The store layer: commits, conflicts, and dispatching changes to watches."""

from __future__ import annotations

import gevent
import pytest

from agent_runtime.state import Conflict, InvalidValue
from agent_runtime.state.store import (
    YIELD_EVERY,
    Check,
    Create,
    Delete,
    MemoryStore,
    Set,
    Subscriptions,
    check_path,
)


def test_a_commit_applies_all_its_ops_or_none():
    store = MemoryStore()
    store.commit([Create("/a", 1), Create("/a/b", 2)])
    with pytest.raises(Conflict, match="it has children") as raised:
        store.commit([Set("/a/b", 3), Delete("/a")])
    assert raised.value.index == 1
    assert store.get("/a/b").data == 2  # the Set before the failing Delete did not apply
    store.commit([Delete("/a/b"), Delete("/a")])
    assert store.children("/") == []


@pytest.mark.parametrize(
    "ops, message",
    [
        ([Create("/x/y")], "/x does not exist"),
        ([Set("/missing", 1)], "no such node"),
        ([Create("/a", 1), Create("/a", 2)], "exists already"),
        ([Check("/a", 0)], "check of /a failed"),
        ([Set("/", 1)], "root node"),
    ],
)
def test_conflicts_name_what_failed(ops, message):
    store = MemoryStore()
    with pytest.raises(Conflict, match=message):
        store.commit(ops)
    assert store.children("/") == []


def test_versions_grow_and_are_checked():
    store = MemoryStore()
    store.commit([Create("/a", 1)])
    store.commit([Set("/a", 2, version=0)])
    assert store.get("/a") == (2, 1)
    with pytest.raises(Conflict, match="version 1, expected 0"):
        store.commit([Set("/a", 3, version=0)])


@pytest.mark.parametrize("path", ["a", "/a/", "/a//b", "/a/../b", "/a/./b", "/a\n", 7])
def test_bad_paths_are_refused(path):
    with pytest.raises(InvalidValue):
        check_path(path)


def test_data_must_be_json():
    with pytest.raises(InvalidValue, match="cannot store"):
        MemoryStore().commit([Create("/a", object())])


def test_a_large_dispatch_lets_other_greenlets_run():
    """Waking thousands of watches yields to the hub every YIELD_EVERY callbacks."""
    table = Subscriptions()
    ticks = []
    woken = []
    subs = [table.subscribe(["/p"], lambda: woken.append(1), lambda e: None) for _ in range(500)]
    ticker = gevent.spawn(lambda: [ticks.append(gevent.sleep(0)) for _ in range(1000)])
    gevent.sleep(0)
    ticks.clear()
    assert table.changed(["/p"]) == 500
    assert len(woken) == 500
    assert len(ticks) >= 500 // YIELD_EVERY - 1  # the ticker ran during the dispatch
    ticker.kill()
    for sub in subs:
        sub.cancel()
    assert len(table) == 0
