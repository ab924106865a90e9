"""The SQLite backend across processes: changes of one process reach the
watchers of another; the change log is trimmed without losing changes; a
poller that fails stops the watchers with its error; the poller sleeps on the
state's clock (a ManualClock here stops it until the test advances it)."""

from __future__ import annotations

import sqlite3
import sys
import textwrap

import gevent
import pytest
from gevent import subprocess  # gevent.subprocess reaps every child: see test_environ_processes

from agent_runtime.state import StorageError
from agent_runtime.state.backends import sqlite as sqlite_backend
from agent_runtime.testing import LONG_WAIT, ManualClock, check_killed
from agent_runtime.watcher import RelationUnitsChange

from charms import deploy


def run_child(code: str, url: str, timeout: float = 60) -> None:
    """Run ``code`` in another Python process, with ``state`` opened on ``url``."""
    script = "from agent_runtime import state as s\nstate = s.open(URL)\n" + textwrap.dedent(code)
    script += "\nstate.close()\n"
    result = subprocess.run(
        [sys.executable, "-c", script.replace("URL", repr(url))],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr


def next_event(watcher, timeout: float = LONG_WAIT):
    with gevent.Timeout(timeout, AssertionError(f"no event from {watcher!r} in {timeout} s")):
        return next(watcher.changes())


@pytest.fixture
def url(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/state.db"


def test_a_write_in_another_process_reaches_a_watcher(url, open_state):
    state = open_state(url)
    watcher = state.watch_environ_config()
    try:
        next_event(watcher)
        child = gevent.spawn(run_child, "state.update_environ_config({'name': 'from-child'})", url)
        while state.environ_config() != {"name": "from-child"}:
            next_event(watcher)
        child.get(timeout=LONG_WAIT)
    finally:
        watcher.stop()


def test_a_burst_in_another_process_ends_with_the_final_state(url, open_state):
    state = open_state(url)
    deploy(state)
    relation = state.add_relation("wordpress", "mysql")
    watcher = state.watch_relation_units(relation.id, "wordpress/0")
    try:
        seen = dict(next_event(watcher).changed)
        code = f"""
        units = [state.add_unit("mysql") for _ in range(3)]
        for unit in units:
            state.enter_scope({relation.id}, unit)
        for i in range(60):
            state.update_relation_settings({relation.id}, units[i % 3], {{"n": str(i)}})
        state.leave_scope({relation.id}, units[0])
        """
        child = gevent.spawn(run_child, code, url)
        child.get(timeout=60)
        expected = {u: state.relation_settings(relation.id, u)[1] for u in state.scope(relation.id)}
        while seen != expected:
            event = next_event(watcher)
            for unit in event.departed:
                del seen[unit]
            seen.update(event.changed)
        assert expected == {"mysql/1": 20, "mysql/2": 20}
    finally:
        watcher.stop()


def test_writes_of_this_process_are_not_dispatched_twice(url, open_state):
    state = open_state(url, clock=ManualClock())  # its poller runs only when the test polls
    told = []
    subscription = state.store.watch(["/environ"], lambda: told.append("/environ"), told.append)
    try:
        state.update_environ_config({"name": "once"})
        assert told == ["/environ"]  # the commit told its watchers at once
        state.store.poll()  # the poller sees its own commit: nobody is told again
        state.update_environ_config({"name": "twice"})
        state.store.poll()
        assert told == ["/environ", "/environ"]
    finally:
        subscription.cancel()


def test_the_poller_looks_for_changes_when_its_clock_has_moved(url, open_state, monkeypatch):
    """The poller sleeps poll_interval seconds of the state's clock between two
    looks: a change of another State reaches a watcher once the clock moved."""
    looks = []
    data_version = sqlite_backend._Database.data_version

    def counted(self):
        looks.append(self.path)
        return data_version(self)

    monkeypatch.setattr(sqlite_backend._Database, "data_version", counted)
    clock = ManualClock()
    reader = open_state(url + "?poll=2", clock=clock)
    watcher = reader.watch_environ_config()
    writer = open_state(url, clock=ManualClock())
    try:
        next_event(watcher)
        writer.update_environ_config({"name": "elsewhere"})
        clock.wait_for_timers(1)  # the poller is asleep on the clock
        assert looks == []
        clock.advance(1.999)
        gevent.sleep(0)
        assert looks == []
        clock.advance(0.001)
        next_event(watcher)
        assert reader.environ_config() == {"name": "elsewhere"}
        assert looks == [reader.store.path]
        clock.wait_for_timers(1)  # asleep again, for another poll_interval
    finally:
        watcher.stop()


def test_a_store_behind_the_trimmed_change_log_rereads_everything(url, open_state, monkeypatch):
    monkeypatch.setattr(sqlite_backend, "CHANGES_KEPT", 5)
    monkeypatch.setattr(sqlite_backend, "_TRIM_EVERY", 5)
    behind = open_state(url, clock=ManualClock())  # its poller sleeps until the test polls
    deploy(behind)
    relation = behind.add_relation("wordpress", "mysql")
    watcher = behind.watch_relation_units(relation.id, "wordpress/0")
    writer = open_state(url)
    try:
        assert next_event(watcher) == RelationUnitsChange()
        unit = writer.add_unit("mysql")
        writer.enter_scope(relation.id, unit)
        for i in range(30):
            writer.update_environ_config({"n": i})
        first, _ = behind.store._call(behind.store._database.changes_since, 0)
        assert first > 2  # the change log really was trimmed
        behind.store.poll()
        assert next_event(watcher) == RelationUnitsChange({unit: 0})
    finally:
        watcher.stop()


def test_a_failing_poller_stops_the_watchers_with_a_storage_error(url, open_state, monkeypatch):
    state = open_state(url)
    deploy(state)
    watchers = [state.watch_environ_config(), state.watch_service_relations("wordpress")]
    for watcher in watchers:
        next_event(watcher)

    def broken(self):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(sqlite_backend._Database, "data_version", broken)
    for watcher in watchers:
        error = check_killed(watcher)
        assert isinstance(error, StorageError) and "disk I/O error" in str(error)


def test_two_states_in_one_process_see_each_other(url, open_state):
    one, two = open_state(url), open_state(url)
    watcher = two.watch_environ_config()
    try:
        next_event(watcher)
        one.update_environ_config({"name": "one"})
        while two.environ_config() != {"name": "one"}:
            next_event(watcher)
    finally:
        watcher.stop()


def test_sqlite_calls_run_off_the_hub(url, open_state):
    """A greenlet keeps running while the store's thread waits for a lock that
    another connection holds: the hub is never blocked by SQLite."""
    state = open_state(url)
    blocker = sqlite3.connect(state.store.path, timeout=1)
    blocker.execute("BEGIN IMMEDIATE")
    ticks = []
    ticker = gevent.spawn(lambda: [ticks.append(gevent.sleep(0.01)) for _ in range(20)])
    writer = gevent.spawn(state.update_environ_config, {"name": "waited"})
    try:
        ticker.join(LONG_WAIT)
        assert len(ticks) == 20 and not writer.ready()  # ran while the write waited
    finally:
        blocker.rollback()
        blocker.close()
    writer.get(timeout=LONG_WAIT)
    assert state.environ_config() == {"name": "waited"}


def test_a_lone_writer_keeps_no_record_of_its_own_revisions(url, open_state, caplog):
    state = open_state(url)
    watcher = state.watch_environ_config()
    try:
        for i in range(50):
            state.update_environ_config({"n": i})
        store = state.store
        assert store._own_revs == set()
        assert store._seen_rev == store._call(store._database.last_rev)
        other = open_state(url)
        other.update_environ_config({"n": "other"})
        while state.environ_config() != {"n": "other"}:
            next_event(watcher)
        assert "fell behind" not in caplog.text
    finally:
        watcher.stop()
