"""Benchmarks of the state on ZooKeeper, each beside kazoo's own raw watches.

    python -m benchmarks.zookeeper [--quick] [--repeat N] [--json PATH] [-k TEXT]

The server is the one ``$AGENT_RUNTIME_ZOOKEEPER`` names (host:port, default
127.0.0.1:2181, as for the tests). When none answers, or kazoo is missing, the
benchmarks are skipped and the table says so (nothing crashes). Each figure
works in a fresh chroot (``/agent-runtime-bench/<random>``), removed at the end.

1. zk-latency:  ``update_environ_config`` by one State -> the event on another
                State's ``watch_environ_config().changes()`` (and -> that State's
                ``environ_config()`` reading the value), beside kazoo's
                ``DataWatch`` on a node another kazoo client ``set()``s; target
                <= 1.3x raw.
2. zk-storm:    one writer doing N writes to the environ config as fast as it
                can, one consumer following the watcher and reading the value:
                the consumer's events/s in the table (events coalesce); writes/s,
                events per write and whether the last event was followed by a
                read of the final value in the notes. Writer and consumer each
                raw (kazoo ``set`` loop, ``DataWatch``) or ours (State, a
                NotifyWorker re-reading), in all four pairs: our consumer under
                the raw writer is the target's pair.
3. zk-relation: ``update_relation_settings`` by one unit's State -> the
                ``RelationUnitsChange`` at the other unit's
                ``watch_relation_units``, beside a kazoo ``ChildrenWatch`` on the
                scope + a ``DataWatch`` per unit node; with 1 and with 10 units
                of the other side in scope.

Every client (ours and raw) is a ``KazooClient`` on ``SequentialGeventHandler``
in this one process, talking to the same server; the writer and the watcher
are always two different clients (two sessions), as two agents would be.
Latency figures report, per repetition, the median of its samples. Targets are
printed, never asserted.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import gevent
from gevent.event import Event
from gevent.queue import Queue

import agent_runtime.state as state_api
from agent_runtime.state.charm import Charm
from agent_runtime.worker import NotifyWorker

from benchmarks._harness import Benchmark, Config, Ratio, Target, Variant, run_cli, stopwatch
from benchmarks._watching import (
    PATIENCE,
    EventStamper,
    Recorder,
    Rereader,
    get,
    median_seconds,
    time_write_to_event,
    wait,
)

__all__ = ["collect", "main"]

#: Where the server is named, and the default (the tests' convention).
ENV = "AGENT_RUNTIME_ZOOKEEPER"
DEFAULT_HOSTS = "127.0.0.1:2181"
#: Every benchmark's chroot lives under this node; it is removed when empty.
BENCH_ROOT = "/agent-runtime-bench"
#: The issue's target: our latency (or our cost per write) <= 1.3x raw.
TARGET = 1.3
_TIMEOUT = 10.0  # session timeout and connect timeout of every client


# -- the server --------------------------------------------------------------------------


def _hosts() -> str:
    return os.environ.get(ENV, "").strip() or DEFAULT_HOSTS


def _four_letters(hosts: str, word: bytes, timeout: float = 1.0) -> str | None:
    """The answer of the first server of ``hosts`` to a four-letter word, or
    None when it does not answer."""
    host, _, port = hosts.split(",")[0].partition(":")
    try:
        with socket.create_connection((host, int(port or 2181)), timeout=timeout) as sock:
            sock.sendall(word)
            sock.settimeout(timeout)
            chunks = []
            while True:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                chunks.append(chunk)
            return b"".join(chunks).decode("utf-8", "replace")
    except (OSError, ValueError):
        return None


def _why_not(hosts: str) -> str | None:
    """Why the benchmarks cannot run (None: they can)."""
    try:
        import kazoo  # noqa: F401
    except ImportError:
        return "kazoo is not installed (pip install -e '.[zookeeper]')"
    if _four_letters(hosts, b"ruok") != "imok":
        return (
            f"no ZooKeeper server answers at {hosts} (set {ENV}=host:port; default {DEFAULT_HOSTS})"
        )
    return None


def server_description(hosts: str) -> str:
    """``ZooKeeper 3.8.0 standalone at host:port``, from the ``srvr`` word
    (just the address when the server does not allow it)."""
    answer = _four_letters(hosts, b"srvr") or ""
    fields = dict(
        line.split(":", 1) for line in answer.splitlines() if ":" in line and line.strip()
    )
    version = fields.get("Zookeeper version", "").strip().split(",")[0]
    version = version.split("-")[0]
    mode = fields.get("Mode", "").strip()
    if not version:
        return f"ZooKeeper at {hosts} (version unknown: 'srvr' not allowed)"
    return f"ZooKeeper {version}{' ' + mode if mode else ''} at {hosts}"


# -- helpers -----------------------------------------------------------------------------


def _client(hosts: str):
    from kazoo.client import KazooClient
    from kazoo.handlers.gevent import SequentialGeventHandler

    client = KazooClient(hosts=hosts, timeout=_TIMEOUT, handler=SequentialGeventHandler())
    client.start(timeout=_TIMEOUT)
    return client


def _close_client(client) -> None:
    with contextlib.suppress(Exception):
        client.stop()
    with contextlib.suppress(Exception):
        client.close()


@contextlib.contextmanager
def _chroot(hosts: str) -> Iterator[tuple[str, Any]]:
    """A fresh chroot (path) and an admin client; the chroot is removed at the
    end, and ``BENCH_ROOT`` too when nothing else is left under it."""
    admin = _client(hosts)
    chroot = f"{BENCH_ROOT}/{uuid.uuid4().hex}"
    admin.ensure_path(chroot)
    try:
        yield chroot, admin
    finally:
        with contextlib.suppress(Exception):
            admin.delete(chroot, recursive=True)
        with contextlib.suppress(Exception):  # NotEmptyError: another run's chroot
            admin.delete(BENCH_ROOT)
        _close_client(admin)


def _state(hosts: str, chroot: str) -> state_api.State:
    return state_api.open(f"zookeeper://{hosts}{chroot}/state?timeout={_TIMEOUT:g}")


def _set_up(
    stack: contextlib.ExitStack, hosts: str
) -> tuple[str, state_api.State, state_api.State, Any, Any]:
    """A fresh chroot, two States on it and two raw kazoo clients, each its
    own session (all closed by ``stack``)."""
    chroot, _admin = stack.enter_context(_chroot(hosts))
    states = []
    for _ in range(2):
        states.append(_state(hosts, chroot))
        stack.callback(states[-1].close)
    clients = []
    for _ in range(2):
        clients.append(_client(hosts))
        stack.callback(_close_client, clients[-1])
    return chroot, states[0], states[1], clients[0], clients[1]


def _percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _fmt_us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f} us"


def _fmt_ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def _encode(value: Any) -> bytes:
    """What the State stores: JSON, sorted keys, no blanks."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


class _DataWatch:
    """kazoo's ``DataWatch`` on ``path`` of ``client``, calling ``on_data(data,
    stat)`` for each call after the first (the initial read), on kazoo's
    callback greenlet. ``stop(writer)`` ends it the public way: the function
    returns False at its next call, which one more write (by ``writer``, outside
    any stopwatch) brings about."""

    def __init__(self, client, path: str, on_data: Callable[[bytes, Any], None]) -> None:
        from kazoo.recipe.watchers import DataWatch

        self._on_data = on_data
        self._path = path
        self._stopping = False
        self._stopped = Event()
        self._first = Event()
        DataWatch(client, path, self._call)
        wait(self._first, f"the first DataWatch call on {path}")

    def _call(self, data, stat):
        if self._stopping:
            self._stopped.set()
            return False
        if not self._first.is_set():
            self._first.set()
            return None
        self._on_data(data, stat)
        return None

    def stop(self, writer, data: bytes) -> None:
        self._stopping = True
        writer.set(self._path, data)
        wait(self._stopped, f"the DataWatch on {self._path} to stop")


def _latency_notes(records: Recorder, keys: Sequence[str]) -> list[str]:
    notes = []
    for key in keys:
        runs = records.timed(key)
        if not runs:
            continue
        every = [s for run in runs for s in run]
        notes.append(
            f"{key}: over all {len(every):,} timed samples: "
            f"median {_fmt_us(statistics.median(every))}, "
            f"p90 {_fmt_us(_percentile(every, 0.9))}, max {_fmt_us(max(every))}"
        )
    return notes


# -- 1. latency: write -> event ----------------------------------------------------------


def _latency(hosts: str, server: str, k: int, warmup: int) -> Benchmark:
    warm = 3  # untimed rounds at the start of each run
    notes: list[str] = [
        f"server: {server}; {k} writes per repetition, each waited for; the figure is their median",
        "state: the time from calling update_environ_config({'n': i}) on State A to the "
        "next() of a greenlet following State B's watch_environ_config().changes()",
        "state-read: ... to B's environ_config() (called on that event) returning n == i",
        "raw: client W set(node, JSON) -> kazoo DataWatch on client R called with n == i "
        "(stamped in the DataWatch function; DataWatch re-reads the node itself)",
        "raw-cas: the same with W doing get + set(version=...): a checked read-modify-write, "
        "as State writes do",
        "state (no read) counts on one event per write: the store re-arms its watch before "
        "it notifies, so a write after an event always fires the next one",
    ]

    @contextlib.contextmanager
    def session() -> Iterator[Sequence[Variant]]:
        records = Recorder(warmup)
        with contextlib.ExitStack() as stack:
            chroot, writer_state, reader_state, writer, reader = _set_up(stack, hosts)
            raw_node = f"{chroot}/raw"
            writer.create(raw_node, _encode({}))
            counter = [0]
            seen: Queue = Queue()

            def on_raw(data: bytes | None, stat) -> None:
                seen.put((time.perf_counter(), json.loads(data).get("n") if data else None))

            _DataWatch(reader, raw_node, on_raw)  # lives as long as the client R

            def raw_run(checked: bool) -> float:
                samples = []
                for round_ in range(warm + k):
                    counter[0] += 1
                    value = counter[0]
                    start = time.perf_counter()
                    if checked:
                        data, stat = writer.get(raw_node)
                        current = json.loads(data)
                        current["n"] = value
                        writer.set(raw_node, _encode(current), version=stat.version)
                    else:
                        writer.set(raw_node, _encode({"n": value}))
                    while True:
                        arrived, n = get(seen, "DataWatch call after a write")
                        if n == value:
                            break
                    if round_ >= warm:
                        samples.append(arrived - start)
                records.add("raw-cas" if checked else "raw", samples)
                return median_seconds(samples)

            def state_run(read_back: bool) -> float:
                samples = time_write_to_event(
                    writer_state, reader_state, counter, k, warm, read_back
                )
                records.add("state-read" if read_back else "state", samples)
                return median_seconds(samples)

            try:
                yield (
                    Variant(
                        "raw", "kazoo: W.set(node) -> DataWatch on R called", lambda: raw_run(False)
                    ),
                    Variant(
                        "raw-cas",
                        "kazoo: W.get + W.set(node, version) -> DataWatch on R called",
                        lambda: raw_run(True),
                    ),
                    Variant(
                        "state",
                        "State A update_environ_config -> event on State B's changes()",
                        lambda: state_run(False),
                    ),
                    Variant(
                        "state-read",
                        "... -> B's environ_config() reads the new value",
                        lambda: state_run(True),
                    ),
                )
            finally:
                notes.extend(_latency_notes(records, ("raw", "raw-cas", "state", "state-read")))

    return Benchmark(
        name="zk-latency",
        title=f"ZooKeeper 1. write -> watcher event, two sessions ({k:,} writes per repetition)",
        unit="time",
        ops=k,
        op_name="write",
        per_op=True,
        session=session,
        ratios=[
            Ratio("state", "raw", Target("<=", TARGET)),
            Ratio("state-read", "raw", Target("<=", TARGET)),
            Ratio("state", "raw-cas"),
            Ratio("state-read", "raw-cas"),
        ],
        notes=notes,
    )


# -- 2. a write storm: writes/s and events/s ---------------------------------------------


class _RawConsumer:
    """The raw consumer: a kazoo DataWatch counting its calls (each carries the
    data it read), done when it sees the final value."""

    def __init__(self, client, path: str, final: int) -> None:
        self.final = final
        self.events = 0
        self.last_read: Any = None
        self.saw_final = Event()
        self.watch = _DataWatch(client, path, self._on_data)

    def _on_data(self, data: bytes, stat) -> None:
        self.events += 1
        self.last_read = json.loads(data).get("n") if data else None
        if self.last_read == self.final:
            self.saw_final.set()


def _storm(hosts: str, server: str, n: int, warmup: int) -> Benchmark:
    notes: list[str] = [
        f"server: {server}; one writer greenlet does {n:,} writes of {{'n': i}} to the "
        "State's /environ node as fast as it can, while one consumer (another client) "
        "follows the watcher and reads the value; events coalesce",
        "writers: kazoo W.set(node) in a loop (raw, state-consumer) or State A's "
        "update_environ_config in a loop (state-writer, state)",
        "consumers: kazoo DataWatch on R, one get per call (raw, state-writer) or a "
        "NotifyWorker on State B re-reading environ_config() on each event "
        "(state-consumer, state)",
        "figure: the consumer's events per second, from the first write until it read the "
        "final value; for rates, 'raw / ours' is our cost: the target is <= 1.3x",
    ]

    @contextlib.contextmanager
    def session() -> Iterator[Sequence[Variant]]:
        records = Recorder(warmup)
        with contextlib.ExitStack() as stack:
            chroot, writer_state, reader_state, writer, reader = _set_up(stack, hosts)
            node = f"{chroot}/state/environ"  # what State writes: {"n": i} is valid there
            counter = [0]

            def raw_writes(first: int) -> None:
                for value in range(first, first + n):
                    writer.set(node, _encode({"n": value}))

            def state_writes(first: int) -> None:
                for value in range(first, first + n):
                    writer_state.update_environ_config({"n": value})

            def run(key: str, write_all: Callable[[int], None], ours: bool) -> float:
                first = counter[0] + 1
                counter[0] += n
                final = counter[0]
                worker = None
                if ours:
                    consumer: Any = Rereader(reader_state, final)
                    worker = NotifyWorker(consumer)
                else:
                    consumer = _RawConsumer(reader, node, final)
                try:
                    if ours:
                        wait(consumer.started, "initial event")
                    elapsed = stopwatch()
                    gevent.spawn(write_all, first).get()
                    writes_seconds = elapsed()
                    final_seen = consumer.saw_final.wait(timeout=PATIENCE)
                    all_seconds = elapsed()
                    events = consumer.events
                    gevent.sleep(0.2)  # anything still to come would show now
                    records.add(
                        key,
                        {
                            "writes_seconds": writes_seconds,
                            "all_seconds": all_seconds,
                            "events": events,
                            "late_events": consumer.events - events,
                            "final": final,
                            "last_read": consumer.last_read,
                            "final_seen": bool(final_seen),
                        },
                    )
                    if not final_seen:
                        raise RuntimeError(f"{key}: the consumer never read the final value")
                    return all_seconds / max(events, 1)  # seconds per event
                finally:
                    if worker is not None:
                        worker.kill()
                        worker.wait()
                    else:
                        consumer.watch.stop(writer, _encode({"n": final}))

            try:
                yield (
                    Variant(
                        "raw",
                        "kazoo W.set loop -> kazoo DataWatch on R",
                        lambda: run("raw", raw_writes, False),
                    ),
                    Variant(
                        "state-consumer",
                        "kazoo W.set loop -> NotifyWorker on State B",
                        lambda: run("state-consumer", raw_writes, True),
                    ),
                    Variant(
                        "state-writer",
                        "State A update_environ_config loop -> kazoo DataWatch on R",
                        lambda: run("state-writer", state_writes, False),
                    ),
                    Variant(
                        "state",
                        "State A update_environ_config loop -> NotifyWorker on State B",
                        lambda: run("state", state_writes, True),
                    ),
                )
            finally:
                notes.extend(_storm_notes(records, n))

    return Benchmark(
        name="zk-storm",
        title=f"ZooKeeper 2. write storm: {n:,} environ config writes, one consumer following",
        unit="rate",
        ops=1,
        op_name="event",
        session=session,
        ratios=[
            Ratio("raw", "state-consumer", Target("<=", TARGET)),
            Ratio("raw", "state"),
            Ratio("state-writer", "state"),
        ],
        notes=notes,
    )


_STORM_KEYS = ("raw", "state-consumer", "state-writer", "state")


def _storm_notes(records: Recorder, n: int) -> list[str]:
    notes = []
    writes: dict[str, float] = {}
    for key in _STORM_KEYS:
        runs = records.timed(key)
        if not runs:
            continue
        rates = [n / r["writes_seconds"] for r in runs]
        writes[key] = statistics.median(rates)
        per_write = statistics.median([r["events"] / n for r in runs])
        lag = statistics.median([r["all_seconds"] - r["writes_seconds"] for r in runs])
        final_ok = sum(1 for r in runs if r["final_seen"] and r["last_read"] == r["final"])
        late = sum(r["late_events"] for r in runs)
        last = runs[-1]
        notes.append(
            f"{key}: writes/s median {writes[key]:,.0f} ({min(rates):,.0f}..{max(rates):,.0f}); "
            f"{per_write:.3f} events per write; final value read {_fmt_ms(lag)} after the "
            f"last write returned; the last event was followed by a read of the final value "
            f"in {final_ok}/{len(runs)} runs (last run: final n={last['final']}, read "
            f"n={last['last_read']}; {late} event(s) after it)"
        )
    if "raw" in writes and "state" in writes:
        notes.append(
            f"writes/s, ratio of medians: state / raw {writes['state'] / writes['raw']:.2f}x "
            "(State writes read, then commit: two round trips to kazoo's one)"
        )
    return notes


# -- 3. relation units: a settings write -> the RelationUnitsChange ----------------------


_WORDPRESS = Charm.from_metadata({"name": "wordpress", "requires": {"db": {"interface": "mysql"}}})
_MYSQL = Charm.from_metadata({"name": "mysql", "provides": {"server": {"interface": "mysql"}}})


class _RawScope:
    """The raw baseline of a relation watcher: on client R, a kazoo
    ChildrenWatch on ``scope`` that puts a DataWatch on each unit's node but
    ``own``; each DataWatch call (after its first) puts (time, unit node,
    version) on ``seen``."""

    def __init__(self, client, scope: str, own: str, units: int) -> None:
        from kazoo.recipe.watchers import ChildrenWatch

        self.client = client
        self.scope = scope
        self.own = own
        self.seen: Queue = Queue()
        self._watched: set[str] = set()
        self._ready = Event()
        self._units = units
        ChildrenWatch(client, scope, self._on_children)
        wait(self._ready, f"the raw watches of {scope}")

    def _on_children(self, children: list[str]) -> None:
        for child in children:
            if child not in self._watched and child != self.own:
                self._watched.add(child)
                gevent.spawn(self._data_watch, child)  # DataWatch reads: not on this greenlet

    def _data_watch(self, child: str) -> None:
        from kazoo.recipe.watchers import DataWatch

        first = [True]

        def on_data(data, stat):
            if first[0]:
                first[0] = False
            elif stat is not None:
                self.seen.put((time.perf_counter(), child, stat.version))

        DataWatch(self.client, f"{self.scope}/{child}", on_data)
        if len(self._watched) == self._units:
            self._ready.set()


def _relation(hosts: str, server: str, k: int, many: int, warmup: int) -> Benchmark:
    warm = 3
    notes: list[str] = [
        f"server: {server}; {k} settings writes per repetition, each waited for; the figure "
        "is their median",
        "state: State A (mysql/0's agent) update_relation_settings(rel, 'mysql/0', {'n': i}) "
        "-> State B's watch_relation_units(rel, 'wordpress/0') sends a change with "
        "mysql/0 at the new version",
        "raw: W.set(scope/mysql-0) -> on R, a ChildrenWatch on the scope that keeps a "
        "DataWatch on each unit's node: its call with the new version",
        "raw-cas: the same with W doing get + set(version=...), as State writes do",
        f"state-{many}, raw-{many}: the same in a relation where wordpress/0 sees {many} "
        "mysql units in scope (only mysql/0 writes)",
    ]

    @contextlib.contextmanager
    def session() -> Iterator[Sequence[Variant]]:
        records = Recorder(warmup)
        with contextlib.ExitStack() as stack:
            chroot, mysql_state, wordpress_state, writer, reader = _set_up(stack, hosts)

            # Two relations: wordpress/0 sees mysql/0 alone in one, and the
            # `many` units of mysql-many in the other.
            relations = {}
            for suffix, units in (("", 1), (f"-{many}", many)):
                wordpress, mysql = f"wordpress{suffix}", f"mysql{suffix}"
                mysql_state.add_service(wordpress, _WORDPRESS)
                mysql_state.add_service(mysql, _MYSQL)
                wordpress_unit = mysql_state.add_unit(wordpress)
                mysql_units = [mysql_state.add_unit(mysql) for _ in range(units)]
                relation = mysql_state.add_relation(wordpress, mysql)
                for unit in mysql_units:
                    mysql_state.enter_scope(relation.id, unit, {"n": "0"})
                wordpress_state.enter_scope(relation.id, wordpress_unit, {})
                scope = f"{chroot}/raw-relation{suffix}/scope"
                for number in range(units):
                    writer.create(f"{scope}/mysql-{number}", _encode({"n": "0"}), makepath=True)
                writer.create(f"{scope}/wordpress-0", _encode({}))
                relations[units] = (
                    relation.id,
                    wordpress_unit,
                    mysql_units[0],
                    _RawScope(reader, scope, "wordpress-0", units),
                )
            counter = [0]

            def raw_run(key: str, units: int, checked: bool) -> float:
                raw = relations[units][3]
                node = f"{raw.scope}/mysql-0"
                samples = []
                for round_ in range(warm + k):
                    while not raw.seen.empty():
                        raw.seen.get()
                    counter[0] += 1
                    start = time.perf_counter()
                    if checked:
                        data, stat = writer.get(node)
                        settings = json.loads(data)
                        settings["n"] = str(counter[0])
                        stat = writer.set(node, _encode(settings), version=stat.version)
                    else:
                        stat = writer.set(node, _encode({"n": str(counter[0])}))
                    while True:
                        arrived, child, version = get(raw.seen, "DataWatch call after a write")
                        if child == "mysql-0" and version >= stat.version:
                            break
                    if round_ >= warm:
                        samples.append(arrived - start)
                records.add(key, samples)
                return median_seconds(samples)

            def state_run(key: str, units: int) -> float:
                relation_id, wordpress_unit, mysql_unit, _ = relations[units]
                watcher = wordpress_state.watch_relation_units(relation_id, wordpress_unit)
                stamper = EventStamper(watcher)
                samples = []
                try:
                    get(stamper.out, "initial event")
                    for round_ in range(warm + k):
                        while not stamper.out.empty():
                            stamper.out.get()
                        counter[0] += 1
                        start = time.perf_counter()
                        version = mysql_state.update_relation_settings(
                            relation_id, mysql_unit, {"n": str(counter[0])}
                        )
                        while True:
                            arrived, change = get(stamper.out, "RelationUnitsChange")
                            if change.changed.get(mysql_unit, -1) >= version:
                                break
                        if round_ >= warm:
                            samples.append(arrived - start)
                finally:
                    stamper.close()
                records.add(key, samples)
                return median_seconds(samples)

            keys = ("raw", "raw-cas", "state", f"raw-{many}", f"state-{many}")
            try:
                yield (
                    Variant(
                        "raw",
                        "kazoo: W.set(unit node) -> R's ChildrenWatch + DataWatch",
                        lambda: raw_run("raw", 1, False),
                    ),
                    Variant(
                        "raw-cas",
                        "kazoo: W.get + W.set(unit node, version) -> the same watches",
                        lambda: raw_run("raw-cas", 1, True),
                    ),
                    Variant(
                        "state",
                        "update_relation_settings on A -> RelationUnitsChange on B",
                        lambda: state_run("state", 1),
                    ),
                    Variant(
                        f"raw-{many}",
                        f"raw, {many} units in scope",
                        lambda: raw_run(f"raw-{many}", many, False),
                    ),
                    Variant(
                        f"state-{many}",
                        f"state, {many} units in scope",
                        lambda: state_run(f"state-{many}", many),
                    ),
                )
            finally:
                notes.extend(_latency_notes(records, keys))

    return Benchmark(
        name="zk-relation",
        title=(
            f"ZooKeeper 3. relation settings write -> RelationUnitsChange at the other unit "
            f"({k:,} writes per repetition)"
        ),
        unit="time",
        ops=k,
        op_name="write",
        per_op=True,
        session=session,
        ratios=[
            Ratio("state", "raw", Target("<=", TARGET)),
            Ratio(f"state-{many}", f"raw-{many}", Target("<=", TARGET)),
            Ratio("state", "raw-cas"),
            Ratio(f"state-{many}", "state"),
        ],
        notes=notes,
    )


# -- skipped -----------------------------------------------------------------------------


def _skipped(hosts: str, why: str) -> Benchmark:
    """What the table shows when there is nothing to measure against."""
    return Benchmark(
        name="zk-skipped",
        title=f"ZooKeeper: SKIPPED: {why}",
        unit="time",
        ops=1,
        op_name="run",
        session=lambda: contextlib.nullcontext(
            [Variant("skipped", "nothing measured (no server)", lambda: 0.0)]
        ),
        ratios=[],
        notes=[
            "start a server and say where: "
            f"{ENV}=host:port python -m benchmarks.zookeeper (.ci/run shows how to start one)"
        ],
    )


# -- the module's figures ----------------------------------------------------------------


def collect(config: Config) -> list[Benchmark]:
    """The benchmarks of this module, sized for ``config`` (one 'skipped' row
    when no ZooKeeper server answers)."""
    hosts = _hosts()
    why = _why_not(hosts)
    if why is not None:
        print(f"benchmarks.zookeeper: skipped: {why}", file=sys.stderr, flush=True)
        return [_skipped(hosts, why)]
    server = server_description(hosts)
    if config.quick:
        return [
            _latency(hosts, server, 40, config.warmup),
            _storm(hosts, server, 200, config.warmup),
            _relation(hosts, server, 40, 10, config.warmup),
        ]
    return [
        _latency(hosts, server, 300, config.warmup),
        _storm(hosts, server, 1_000, config.warmup),
        _relation(hosts, server, 200, 10, config.warmup),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli([collect], argv, prog="python -m benchmarks.zookeeper", description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
