"""The ZooKeeper store's watch cache: a watched path is read once per change.

The read that arms a watch is kept and answers ``get``/``children`` until the
watch fires, this store commits to the path, or the connection drops. These
tests count the round trips (a spy on the kazoo client) and check that no
answer is ever stale: after another client's write, after this store's own
write, after a burst of writes. Skipped, saying so, when no ZooKeeper server
answers.
"""

from __future__ import annotations

import gevent
import pytest

from agent_runtime.state.store import Create, Delete, Set
from agent_runtime.testing import LONG_WAIT, wait_for

pytestmark = pytest.mark.zookeeper

KazooState = pytest.importorskip(
    "kazoo.protocol.states",
    reason="the ZooKeeper backend needs kazoo: pip install 'agent_runtime[zookeeper]'",
).KazooState


class RoundTrips:
    """Counts the store's reads that went to the server."""

    def __init__(self, store) -> None:
        self.gets: list[str] = []
        self.lists: list[str] = []
        client = store._client
        original_get, original_list = client.get, client.get_children

        def get(path, watch=None):
            self.gets.append(path)
            return original_get(path, watch=watch)

        def get_children(path, watch=None, include_data=False):
            self.lists.append(path)
            return original_get_children(path, watch=watch, include_data=include_data)

        original_get_children = original_list
        client.get, client.get_children = get, get_children

    def reset(self) -> None:
        self.gets.clear()
        self.lists.clear()


@pytest.fixture
def two_stores(state_url_zookeeper, open_state):
    """Two States on one chroot (two sessions): a reader, and a writer."""
    return open_state(state_url_zookeeper).store, open_state(state_url_zookeeper).store


def subscribe(store, path):
    """Watch ``path``; the returned list gets "changed" per notification (and
    the error if the subscription fails)."""
    events: list[str] = []
    subscription = store.watch([path], lambda: events.append("changed"), events.append)
    return events, subscription


def test_a_watched_node_is_read_from_the_server_once_per_change(two_stores):
    reader, writer = two_stores
    writer.commit([Create("/config", {"n": 0})])
    events, subscription = subscribe(reader, "/config")
    try:
        trips = RoundTrips(reader)
        for _ in range(5):
            assert reader.get("/config").data == {"n": 0}
        assert trips.gets == []  # arming the watch read it already

        writer.commit([Set("/config", {"n": 1})])
        wait_for(lambda: events, what="the change notified")
        # The store armed the watch again (reading the new value) before it
        # notified: the subscriber's re-read costs nothing more.
        gets = len(trips.gets)
        assert gets == 1
        for _ in range(5):
            assert reader.get("/config").data == {"n": 1}
        assert len(trips.gets) == gets
    finally:
        subscription.cancel()


def test_an_unwatched_node_is_always_read_from_the_server(two_stores):
    reader, writer = two_stores
    writer.commit([Create("/config", {"n": 0})])
    trips = RoundTrips(reader)
    assert reader.get("/config").data == {"n": 0}
    writer.commit([Set("/config", {"n": 1})])
    assert reader.get("/config").data == {"n": 1}
    assert len(trips.gets) == 2


def test_children_of_a_watched_node_are_cached_until_they_change(two_stores):
    reader, writer = two_stores
    writer.commit([Create("/units", None), Create("/units/a", {})])
    events, subscription = subscribe(reader, "/units")
    try:
        trips = RoundTrips(reader)
        assert reader.children("/units") == ["a"]
        assert reader.children("/units") == ["a"]
        assert trips.lists == []

        writer.commit([Create("/units/b", {})])
        # The store re-arms the child watch (listing the children) before it
        # notifies: once told, the list is cached.
        wait_for(lambda: events, what="the new child notified")
        trips.reset()
        assert reader.children("/units") == ["a", "b"]
        assert trips.lists == []
        listed = reader.children("/units")
        listed.append("mutated by the caller")
        assert reader.children("/units") == ["a", "b"]  # a copy, never the cache itself
    finally:
        subscription.cancel()


def test_this_stores_own_write_is_read_back_at_once(two_stores):
    store, _ = two_stores
    store.commit([Create("/config", {"n": 0}), Create("/units", None)])
    _, subscription = subscribe(store, "/config")
    _, children = subscribe(store, "/units")
    try:
        assert store.get("/config").data == {"n": 0}
        for n in range(1, 20):
            # No waiting for the watch: the commit itself drops the cached value.
            store.commit([Set("/config", {"n": n}), Create(f"/units/u{n}", {})])
            assert store.get("/config").data == {"n": n}
            assert f"u{n}" in store.children("/units")
        store.commit([Delete("/units/u1")])
        assert "u1" not in store.children("/units")
    finally:
        subscription.cancel()
        children.cancel()


def test_a_node_created_after_its_watch_is_seen_and_cached(two_stores):
    reader, writer = two_stores
    events, subscription = subscribe(reader, "/later")
    try:
        assert reader.get("/later") is None
        writer.commit([Create("/later", {"here": True})])
        wait_for(lambda: events, what="the creation notified")
        assert reader.get("/later").data == {"here": True}
        writer.commit([Delete("/later")])
        wait_for(lambda: reader.get("/later") is None, what="the deletion seen")
    finally:
        subscription.cancel()


def test_after_a_burst_of_writes_the_last_read_sees_the_final_value(two_stores):
    reader, writer = two_stores
    writer.commit([Create("/config", {"n": 0})])
    seen: list[int] = []

    def on_change() -> None:
        seen.append(reader.get("/config").data["n"])

    subscription = reader.watch(["/config"], on_change, lambda error: None)
    try:
        writers = [
            gevent.spawn(lambda k=k: [writer.commit([Set("/config", {"n": k})]) for _ in range(30)])
            for k in range(1, 4)
        ]
        gevent.joinall(writers, timeout=LONG_WAIT, raise_error=True)
        final = writer.get("/config").data["n"]
        wait_for(lambda: seen and seen[-1] == final, what=f"a read of the final value {final}")
        assert reader.get("/config").data["n"] == final
    finally:
        subscription.cancel()


def test_a_dropped_connection_empties_the_cache_until_the_watches_are_armed_again(two_stores):
    # What the store does when kazoo says SUSPENDED, then CONNECTED (the real
    # outage is in test_zookeeper_faults.py): kazoo drops every watch, so the
    # cache must forget everything, and re-arming fills it again.
    reader, writer = two_stores
    writer.commit([Create("/config", {"n": 0})])
    events, subscription = subscribe(reader, "/config")
    try:
        assert reader._data.values == {"/config": reader.get("/config")}
        reader._on_state(KazooState.SUSPENDED)
        assert reader._data.values == {} and reader._data.armed == set()
        writer.commit([Set("/config", {"n": 1})])
        assert reader.get("/config").data == {"n": 1}  # not armed: from the server
        reader._on_state(KazooState.CONNECTED)  # re-arm, and tell every subscriber
        wait_for(lambda: events, what="the re-read at reconnection notified")
        # (kazoo did not really drop its watch here: it may fire for n=1 too
        # and arm again.)
        wait_for(
            lambda: (
                "/config" in reader._data.armed
                and getattr(reader._data.values.get("/config"), "data", None) == {"n": 1}
            ),
            what="the watch armed again and n=1 cached",
        )
    finally:
        subscription.cancel()
