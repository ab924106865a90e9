"""SqliteStore: the embedded default. One file, shared by the processes of one machine.

* Every SQLite call runs on one thread of its own (a gevent ThreadPool of one),
  so a slow disk, a busy lock or an fsync never holds the gevent hub; the
  calling greenlet waits cooperatively.
* A commit is one ``BEGIN IMMEDIATE`` transaction: it checks the ops, writes the
  nodes, and appends the changed paths to a change log with a revision counter.
* One poller greenlet per store reads the change log of the other processes
  (``PRAGMA data_version`` first, which costs almost nothing when nothing
  changed) and tells the watchers of the changed paths. Changes made in this
  process are dispatched at once, without waiting for the poll.
* The change log is trimmed; a store that fell behind the trimmed part tells
  every watcher to read again, so no change is lost.
* A file that is not an SQLite database, or an SQLite database of another
  application, is refused, never overwritten.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Sequence
from typing import Any

import gevent
from gevent.threadpool import ThreadPool
from zope.interface import implementer

from agent_runtime.clock import REAL_CLOCK
from agent_runtime.interfaces import IClock, IStore, IStoreSubscription
from agent_runtime.state.errors import StateClosed, StorageError
from agent_runtime.state.store import (
    Node,
    Op,
    Subscriptions,
    affected_paths,
    check_path,
    decode,
    parent_of,
    plan_commit,
)

__all__ = ["APPLICATION_ID", "SCHEMA_VERSION", "SqliteStore"]

log = logging.getLogger("agent_runtime.state.sqlite")

#: ``PRAGMA application_id`` of an agent_runtime state file ("ARST").
APPLICATION_ID = 0x41525354
SCHEMA_VERSION = 1
#: Change-log rows kept; a store further behind re-reads everything.
CHANGES_KEPT = 10_000
_TRIM_EVERY = 500

_SCHEMA = f"""
CREATE TABLE nodes (
    path TEXT PRIMARY KEY,
    parent TEXT NOT NULL,
    data TEXT NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX nodes_parent ON nodes (parent);
CREATE TABLE changes (
    rev INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL
);
PRAGMA application_id = {APPLICATION_ID};
PRAGMA user_version = {SCHEMA_VERSION};
"""


def _outcome(function, args):
    """Run on the store's thread: return (True, result) or (False, exception),
    so that no exception is printed by the thread's hub and lost."""
    try:
        return True, function(*args)
    except BaseException as error:
        return False, error


class _Database:
    """The connection, touched only on the store's own thread."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.connection: sqlite3.Connection | None = None
        self.commits = 0

    def open(self) -> int:
        try:
            connection = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        except sqlite3.Error as error:
            raise StorageError(f"cannot open state file {self.path!r}: {error}") from None
        try:
            self._check_or_create(connection)
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = FULL")
        except sqlite3.DatabaseError as error:
            connection.close()
            raise StorageError(
                f"{self.path!r} is not an agent_runtime state: it is not an SQLite database "
                f"({error})"
            ) from None
        except BaseException:
            connection.close()
            raise
        self.connection = connection
        return self.last_rev()

    def _check_or_create(self, connection: sqlite3.Connection) -> None:
        application_id = connection.execute("PRAGMA application_id").fetchone()[0]
        if application_id == APPLICATION_ID:
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                raise StorageError(
                    f"{self.path!r} holds an agent_runtime state of schema {version}; "
                    f"this version reads schema {SCHEMA_VERSION}"
                )
            return
        connection.execute("BEGIN IMMEDIATE")
        try:
            tables = connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if application_id != 0 or tables:
                raise StorageError(
                    f"{self.path!r} is an SQLite database of another application "
                    f"(application_id {application_id:#x}, {tables} schema objects); "
                    "refusing to use it as an agent_runtime state"
                )
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    connection.execute(statement)
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        if connection.in_transaction:
            connection.execute("COMMIT")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def _db(self) -> sqlite3.Connection:
        if self.connection is None:
            raise StateClosed(f"the state file {self.path!r} is closed")
        return self.connection

    def get(self, path: str) -> tuple[str, int] | None:
        row = self._db().execute("SELECT data, version FROM nodes WHERE path = ?", (path,))
        return row.fetchone()

    def children(self, path: str) -> list[str]:
        rows = self._db().execute("SELECT path FROM nodes WHERE parent = ?", (path,))
        start = 1 if path == "/" else len(path) + 1
        return sorted(row[0][start:] for row in rows)

    def commit(self, ops: Sequence[Op], paths: list[str]) -> int:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            writes = plan_commit(ops, self.get, self.children)
            for path, value in writes.items():
                if value is None:
                    db.execute("DELETE FROM nodes WHERE path = ?", (path,))
                else:
                    db.execute(
                        "INSERT OR REPLACE INTO nodes (path, parent, data, version) "
                        "VALUES (?, ?, ?, ?)",
                        (path, parent_of(path), value[0], value[1]),
                    )
            db.executemany("INSERT INTO changes (path) VALUES (?)", [(p,) for p in paths])
            rev = db.execute("SELECT max(rev) FROM changes").fetchone()[0] or 0
            self.commits += 1
            if self.commits % _TRIM_EVERY == 0:
                db.execute("DELETE FROM changes WHERE rev <= ?", (rev - CHANGES_KEPT,))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return rev

    def last_rev(self) -> int:
        return self._db().execute("SELECT coalesce(max(rev), 0) FROM changes").fetchone()[0]

    def data_version(self) -> int:
        return self._db().execute("PRAGMA data_version").fetchone()[0]

    def changes_since(self, rev: int) -> tuple[int | None, list[tuple[int, str]]]:
        db = self._db()
        first = db.execute("SELECT min(rev) FROM changes").fetchone()[0]
        rows = db.execute("SELECT rev, path FROM changes WHERE rev > ? ORDER BY rev", (rev,))
        return first, rows.fetchall()


@implementer(IStore)
class SqliteStore:
    """An ``IStore`` in an SQLite file (see the module docstring).

    ``path`` is the file; its directory must exist. ``poll_interval`` is how
    often (seconds of ``clock``, an ``IClock``) changes made by other
    processes are looked for.
    """

    def __init__(
        self, path: str, *, poll_interval: float = 0.05, clock: IClock = REAL_CLOCK
    ) -> None:
        directory = os.path.dirname(os.path.abspath(path)) or "."
        if not os.path.isdir(directory):
            raise StorageError(
                f"cannot open state file {path!r}: directory {directory!r} does not exist"
            )
        if os.path.isdir(path):
            raise StorageError(f"cannot open state file {path!r}: it is a directory")
        if not poll_interval > 0:
            raise ValueError(f"poll_interval must be > 0 seconds, not {poll_interval!r}")
        if not IClock.providedBy(clock):
            raise TypeError(f"clock must provide IClock, not {clock!r}")
        self.path = path
        self._poll_interval = poll_interval
        self._clock = clock
        self._pool = ThreadPool(1)
        self._database = _Database(path)
        self._closed = False
        try:
            self._seen_rev = self._call(self._database.open)
        except BaseException:
            self._pool.kill()
            raise
        self._own_revs: set[int] = set()
        self._subscriptions = Subscriptions()
        self._poller = gevent.spawn(self._poll_forever)

    def _call(self, function, *args: Any):
        """Run ``function(*args)`` on the store's thread; the greenlet waits."""
        if self._closed:
            raise StateClosed(f"the state file {self.path!r} is closed")
        ok, value = self._pool.apply(_outcome, (function, args))
        if ok:
            return value
        if isinstance(value, sqlite3.Error):
            raise StorageError(f"state file {self.path!r}: {value}") from value
        raise value

    # -- IStore -------------------------------------------------------------

    def get(self, path: str) -> Node | None:
        found = self._call(self._database.get, check_path(path))
        return None if found is None else Node(decode(found[0]), found[1])

    def children(self, path: str) -> list[str]:
        return self._call(self._database.children, check_path(path))

    def commit(self, ops: Sequence[Op]) -> None:
        ops = list(ops)
        paths = affected_paths(ops)
        rev = self._call(self._database.commit, ops, paths)
        # Tell this process's watchers now; the poller skips these revisions.
        first_rev = rev - len(paths) + 1
        if first_rev == self._seen_rev + 1:
            self._seen_rev = rev  # nobody else wrote in between: nothing to skip later
        else:
            self._own_revs.update(range(first_rev, rev + 1))
        self._subscriptions.changed(paths)

    def watch(self, paths, on_change, on_error) -> IStoreSubscription:
        if self._closed:
            raise StateClosed(f"the state file {self.path!r} is closed")
        return self._subscriptions.subscribe(paths, on_change, on_error)

    def close(self) -> None:
        if self._closed:
            return
        self._poller.kill(block=True)
        try:
            self._pool.apply(_outcome, (self._database.close, ()))
        finally:
            self._closed = True
            self._pool.kill()
            self._subscriptions.fail_all(StateClosed(f"the state file {self.path!r} was closed"))

    # -- the poller -----------------------------------------------------------

    def poll(self) -> int:
        """Look for changes made by other processes once and tell the watchers
        of their paths; return how many change-log rows were read."""
        first, rows = self._call(self._database.changes_since, self._seen_rev)
        if not rows:
            return 0
        if first is not None and first > self._seen_rev + 1 and self._seen_rev:
            log.warning("state %s: fell behind the change log; every watcher re-reads", self.path)
            self._subscriptions.changed_all()
        own = self._own_revs
        paths = {path for rev, path in rows if rev not in own}
        self._seen_rev = max(self._seen_rev, rows[-1][0])
        if own:
            self._own_revs = {rev for rev in own if rev > self._seen_rev}
        if paths:
            self._subscriptions.changed(paths)
        return len(rows)

    def _poll_forever(self) -> None:
        last_version = None
        try:
            while True:
                if len(self._subscriptions):  # nobody watching: nothing to tell
                    version = self._call(self._database.data_version)
                    if version != last_version:
                        last_version = version
                        self.poll()
                self._clock.sleep(self._poll_interval)
        except gevent.GreenletExit:
            raise
        except Exception as error:
            log.error("state %s: cannot read changes any more: %s", self.path, error)
            self._subscriptions.fail_all(
                error if isinstance(error, StorageError) else StorageError(str(error))
            )

    def __repr__(self) -> str:
        return f"<SqliteStore {self.path!r}{' closed' if self._closed else ''}>"
