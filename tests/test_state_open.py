"""state.open(url): backends by URL, and every way a URL or a file can be wrong."""

from __future__ import annotations

import os
import sqlite3

import pytest
from zope.interface.verify import verifyObject

from agent_runtime import state as state_module
from agent_runtime.interfaces import IStore
from agent_runtime.state import BadURL, StateError, StorageError
from agent_runtime.state.backends.sqlite import SqliteStore
from agent_runtime.state.store import MemoryStore


def test_memory_urls_are_private_or_shared_by_name(open_state):
    a, b = open_state("memory://"), open_state("memory://")
    a.update_environ_config({"name": "a"})
    assert b.environ_config() == {}
    shared1, shared2 = open_state("memory://test-shared"), open_state("memory://test-shared")
    shared1.update_environ_config({"name": "shared"})
    assert shared2.environ_config() == {"name": "shared"}
    shared1.close()
    assert shared2.environ_config() == {"name": "shared"}  # one close leaves it to the others


def test_sqlite_relative_and_absolute_paths(open_state, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.mkdir("sub")
    relative = open_state("sqlite:///sub/rel.db")
    relative.update_environ_config({"name": "rel"})
    assert (tmp_path / "sub" / "rel.db").exists()
    absolute = open_state(f"sqlite:///{tmp_path}/abs.db")
    assert absolute.url.startswith("sqlite:////")
    assert (tmp_path / "abs.db").exists()
    again = open_state("sqlite:///sub/rel.db?poll=0.2")
    assert again.environ_config() == {"name": "rel"}


def test_stores_provide_istore(tmp_path):
    memory = MemoryStore()
    sqlite_store = SqliteStore(str(tmp_path / "s.db"))
    try:
        verifyObject(IStore, memory)
        verifyObject(IStore, sqlite_store)
    finally:
        memory.close()
        sqlite_store.close()


@pytest.mark.parametrize(
    "url, message",
    [
        ("", "malformed state URL"),
        ("state.db", "malformed state URL"),
        ("/var/lib/state.db", "malformed state URL"),
        ("sqlite:/x.db", "malformed state URL"),
        ("postgres://localhost/db", "unknown state URL scheme 'postgres'"),
        ("sqlite://host/x.db", "there is no host"),
        ("sqlite:///", "names no file"),
        ("sqlite:///x.db?poll=fast", "poll must be a number"),
        ("sqlite:///x.db?poll=0", "poll must be between"),
        ("sqlite:///x.db?timeout=3", "unknown parameter.*timeout"),
        ("http://[::1/x", "malformed state URL"),
        ("zookeeper:///agents", "expected zookeeper://host:port"),
        ("zookeeper://zk:2181", "has no chroot"),
        ("zookeeper://zk:2181/a//b", "is not a node path"),
        ("zookeeper://zk:2181/agents?timeout=soon", "timeout must be a number"),
        ("zookeeper://zk:2181/agents?timeout=0", "timeout must be between 0 and 600"),
        ("zookeeper://zk:2181/agents?timeout=601", "timeout must be between 0 and 600"),
        ("zookeeper://zk:2181/agents?poll=1&x=2", r"unknown parameter\(s\) poll, x"),
        ("sqlite:///x.db?poll=61", "poll must be between 0 and 60"),
    ],
)
def test_bad_urls_are_refused_with_a_clear_error(url, message):
    with pytest.raises(BadURL, match=message) as raised:
        state_module.open(url)
    assert isinstance(raised.value, ValueError) and isinstance(raised.value, StateError)


def test_a_url_must_be_a_str():
    with pytest.raises(BadURL, match="is a str"):
        state_module.open(b"memory://")


@pytest.mark.parametrize("url", ["memory://", "sqlite:///{tmp}/c.db"])
def test_a_clock_must_be_a_clock(url, tmp_path):
    with pytest.raises(TypeError, match="clock must provide IClock"):
        state_module.open(url.format(tmp=tmp_path), clock=object())
    assert not (tmp_path / "c.db").exists()
    with pytest.raises(TypeError, match="clock must provide IClock"):
        SqliteStore(str(tmp_path / "c.db"), clock=object())


def test_a_missing_directory_is_named_and_not_created(tmp_path):
    missing = tmp_path / "no" / "such"
    with pytest.raises(StorageError, match=f"directory '{missing}' does not exist") as raised:
        state_module.open(f"sqlite:///{missing}/state.db")
    assert isinstance(raised.value, OSError)
    assert not (tmp_path / "no").exists()


def test_a_directory_is_not_a_state_file(tmp_path):
    with pytest.raises(StorageError, match="it is a directory"):
        state_module.open(f"sqlite:///{tmp_path}")


def test_a_file_that_is_not_a_database_is_refused_and_kept(tmp_path):
    path = tmp_path / "notes.txt"
    content = b"these are my notes, not a database\n" * 100
    path.write_bytes(content)
    with pytest.raises(StorageError, match="is not an agent_runtime state: it is not an SQLite"):
        state_module.open(f"sqlite:///{path}")
    assert path.read_bytes() == content


def test_a_foreign_sqlite_database_is_refused_and_kept(tmp_path):
    path = tmp_path / "other.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE accounts (name TEXT)")
    connection.execute("INSERT INTO accounts VALUES ('alice')")
    connection.commit()
    connection.close()
    with pytest.raises(StorageError, match="SQLite database of another application"):
        state_module.open(f"sqlite:///{path}")
    connection = sqlite3.connect(path)
    assert connection.execute("SELECT name FROM accounts").fetchall() == [("alice",)]
    assert connection.execute("PRAGMA application_id").fetchone() == (0,)
    connection.close()


def test_a_state_of_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "state.db"
    state_module.open(f"sqlite:///{path}").close()
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA user_version = 99")
    connection.commit()
    connection.close()
    with pytest.raises(StorageError, match="schema 99"):
        state_module.open(f"sqlite:///{path}")


def test_an_empty_file_becomes_a_state(tmp_path, open_state):
    path = tmp_path / "empty.db"
    path.write_bytes(b"")
    assert open_state(f"sqlite:///{path}").environ_config() == {}


def test_a_state_file_keeps_what_was_written(tmp_path):
    url = f"sqlite:///{tmp_path}/state.db"
    with state_module.open(url) as first:
        first.update_environ_config({"name": "kept"})
    with state_module.open(url) as second:
        assert second.environ_config() == {"name": "kept"}


def test_closing_one_state_of_a_named_memory_store_stops_only_its_watchers(open_state):
    from agent_runtime.testing import check_killed

    closing, staying = open_state("memory://test-views"), open_state("memory://test-views")
    mine, theirs = closing.watch_environ_config(), staying.watch_environ_config()
    closing.close()
    assert isinstance(check_killed(mine), state_module.StateClosed)
    with pytest.raises(state_module.StateClosed):
        closing.environ_config()
    staying.update_environ_config({"name": "still here"})
    assert not theirs.stopped
    theirs.stop()
