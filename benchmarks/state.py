"""Benchmarks of the watched state (agent_runtime.state), each beside raw sqlite3.

    python -m benchmarks.state [--quick] [--repeat N] [--json PATH] [-k TEXT]

1. latency:   a write to the event it causes, same process (memory://, sqlite),
              beside the same write and read done with the sqlite3 module.
2. processes: the same across two processes on one sqlite file (ping-pong,
              round trip / 2), beside the poll interval and a raw sqlite
              ping-pong polling the same way.
3. storm:     writes/s of one writer greenlet while a NotifyWorker re-reads on
              each event (events/s and the final read in the notes), beside
              raw sqlite writes/s.
4. hub-block: the longest time the gevent hub is held during sqlite polls with
              10,000 watchers subscribed (2,000 with --quick), 1 / 100 / all of
              them notified;
              target under 1 ms.

Raw baselines use the state's pragmas (``journal_mode = WAL``,
``synchronous = FULL``) on a file in the same temporary directory. Figures
whose unit is a latency report, per repetition, the median of its samples
(the table then shows the median and min..max over the repetitions).
Targets are printed, never asserted.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import gevent
import greenlet
from gevent.event import Event
from gevent.queue import Queue
from gevent.threadpool import ThreadPool

import agent_runtime.state as state_api
from agent_runtime.worker import NotifyWorker

from benchmarks._harness import Benchmark, Config, Ratio, Target, Variant, run_cli, stopwatch
from benchmarks._watching import (
    PATIENCE,
    Recorder,
    Rereader,
    get,
    median_seconds,
    time_write_to_event,
    wait,
)

try:  # the Charm class moved under agent_runtime.state while issue 3 was built
    from agent_runtime.state.charm import Charm
except ImportError:  # pragma: no cover
    from agent_runtime.charm import Charm  # type: ignore[no-redef]

__all__ = ["collect", "main"]

#: The poll interval of ``sqlite:///...`` when the URL sets none.
DEFAULT_POLL = 0.05
_REPO = Path(__file__).resolve().parent.parent


# -- helpers ----------------------------------------------------------------------------


def _raw_connect(path: str) -> sqlite3.Connection:
    """A connection with the state's pragmas, in autocommit mode (explicit BEGIN)."""
    db = sqlite3.connect(path, timeout=30.0, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    return db


def _raw_config_table(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS config (key TEXT PRIMARY KEY, data TEXT NOT NULL)")
    db.execute("INSERT OR IGNORE INTO config VALUES ('environ', '{}')")


def _raw_write(db: sqlite3.Connection, config: dict[str, Any]) -> None:
    """What a minimal hand-written config store pays for one write."""
    db.execute("BEGIN IMMEDIATE")
    db.execute(
        "UPDATE config SET data = ? WHERE key = 'environ'",
        (json.dumps(config, sort_keys=True, separators=(",", ":")),),
    )
    db.execute("COMMIT")


def _raw_read(db: sqlite3.Connection) -> dict[str, Any]:
    return json.loads(db.execute("SELECT data FROM config WHERE key = 'environ'").fetchone()[0])


def _sqlite_url(path: str, poll: float = DEFAULT_POLL) -> str:
    return f"sqlite:///{os.path.abspath(path)}?poll={poll}"


@contextlib.contextmanager
def _temp_dir() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="agent-runtime-bench-state-") as directory:
        yield directory


def _fmt_ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f} ms" if seconds < 0.01 else f"{seconds * 1e3:.1f} ms"


def _where() -> str:
    return (
        f"files under {tempfile.gettempdir()} (TMPDIR moves them: a tmpfs takes the disk's "
        "fsync out of the figures)"
    )


def _charm(name: str) -> Charm:
    return Charm(name)


# -- 1. latency from a write to the event, same process ----------------------------------------


def _latency(k: int) -> Benchmark:
    warm = 3  # untimed rounds at the start of each run

    def state_run(state: state_api.State, counter: list[int], read_back: bool) -> float:
        return median_seconds(time_write_to_event(state, state, counter, k, warm, read_back))

    @contextlib.contextmanager
    def session() -> Iterator[Sequence[Variant]]:
        with _temp_dir() as directory:
            memory = state_api.open("memory://")
            sqlite_state = state_api.open(_sqlite_url(os.path.join(directory, "state.db")))
            raw = _raw_connect(os.path.join(directory, "raw.db"))
            _raw_config_table(raw)
            pool = ThreadPool(1)
            threaded: list[sqlite3.Connection] = []
            threaded.append(pool.apply(_raw_connect, (os.path.join(directory, "raw-thread.db"),)))
            pool.apply(_raw_config_table, (threaded[0],))
            counter = [0]

            def raw_direct() -> float:
                samples = []
                for round_ in range(warm + k):
                    counter[0] += 1
                    start = time.perf_counter()
                    _raw_write(raw, {"n": counter[0]})
                    seen = _raw_read(raw)["n"]
                    done = time.perf_counter()
                    assert seen == counter[0]
                    if round_ >= warm:
                        samples.append(done - start)
                return median_seconds(samples)

            def raw_gevent() -> float:
                """The floor of memory://: a dict write (of JSON text, as the
                memory store keeps) and an Event set for a waiting greenlet."""
                table: dict[str, str] = {}
                wakeup, out = Event(), Queue()

                def follow() -> None:
                    while True:
                        wakeup.wait()
                        wakeup.clear()
                        out.put(time.perf_counter())

                follower = gevent.spawn(follow)
                samples = []
                try:
                    for round_ in range(warm + k):
                        counter[0] += 1
                        start = time.perf_counter()
                        table["/environ"] = json.dumps({"n": counter[0]}, sort_keys=True)
                        wakeup.set()
                        arrived = get(out, "raw event")
                        if round_ >= warm:
                            samples.append(arrived - start)
                    return median_seconds(samples)
                finally:
                    follower.kill()

            def write_read(db: sqlite3.Connection, value: int) -> int:
                _raw_write(db, {"n": value})
                return _raw_read(db)["n"]

            def raw_thread() -> float:
                samples = []
                for round_ in range(warm + k):
                    counter[0] += 1
                    start = time.perf_counter()
                    seen = pool.apply(write_read, (threaded[0], counter[0]))
                    done = time.perf_counter()
                    assert seen == counter[0]
                    if round_ >= warm:
                        samples.append(done - start)
                return median_seconds(samples)

            try:
                yield (
                    Variant(
                        "raw",
                        "raw sqlite3 on the hub: BEGIN IMMEDIATE/UPDATE/COMMIT, then SELECT",
                        raw_direct,
                    ),
                    Variant(
                        "raw-thread",
                        "the same raw write + read, run on a gevent ThreadPool(1)",
                        raw_thread,
                    ),
                    Variant(
                        "raw-gevent",
                        "raw gevent: dict write + Event.set -> a waiting greenlet",
                        raw_gevent,
                    ),
                    Variant(
                        "memory",
                        "memory://: update_environ_config -> event on changes()",
                        lambda: state_run(memory, counter, False),
                    ),
                    Variant(
                        "sqlite",
                        "sqlite: update_environ_config -> event on changes()",
                        lambda: state_run(sqlite_state, counter, False),
                    ),
                    Variant(
                        "sqlite-read",
                        "sqlite: update -> event -> environ_config() sees the value",
                        lambda: state_run(sqlite_state, counter, True),
                    ),
                )
            finally:
                sqlite_state.close()
                memory.close()
                raw.close()
                pool.apply(threaded[0].close)
                pool.kill()

    return Benchmark(
        name="latency",
        title=f"1. write -> watcher event, same process ({k:,} writes per repetition)",
        unit="time",
        ops=k,
        op_name="write",
        per_op=True,
        session=session,
        ratios=[
            Ratio("sqlite", "raw"),
            Ratio("sqlite-read", "raw"),
            Ratio("sqlite", "raw-thread"),
            Ratio("memory", "raw-gevent"),
        ],
        notes=[
            "each repetition's figure is the median latency of its writes",
            "event: time from calling the write to the consumer greenlet's next() returning",
            "raw: the same JSON written and read back with the sqlite3 module, same pragmas",
            _where(),
        ],
    )


# -- 2. latency across two processes ------------------------------------------------------------

_PONG_UNIT = "pong/0"


def _child(argv: Sequence[str]) -> None:
    """The other process of figure 2: ``state|raw PATH POLL``. It answers every
    new ping with a pong carrying the same number, until its parent goes."""
    mode, path, poll = argv[0], argv[1], float(argv[2])
    parent = os.getppid()
    if mode == "raw":
        db = _raw_connect(path)
        last = db.execute("SELECT value FROM pingpong WHERE key = 'ping'").fetchone()[0]
        last_version = None
        print("ready", flush=True)
        while os.getppid() == parent:
            version = db.execute("PRAGMA data_version").fetchone()[0]
            if version != last_version:
                last_version = version
                ping = db.execute("SELECT value FROM pingpong WHERE key = 'ping'").fetchone()[0]
                if ping != last:
                    last = ping
                    db.execute("BEGIN IMMEDIATE")
                    db.execute("UPDATE pingpong SET value = ? WHERE key = 'pong'", (ping,))
                    db.execute("COMMIT")
            time.sleep(poll)
        return

    def orphaned() -> None:
        while os.getppid() == parent:
            gevent.sleep(0.5)
        os._exit(0)

    state = state_api.open(_sqlite_url(path, poll))
    watcher = state.watch_environ_config()
    changes = watcher.changes()
    next(changes)
    last = state.environ_config().get("ping")
    gevent.spawn(orphaned)
    print("ready", flush=True)
    for _ in changes:
        ping = state.environ_config().get("ping")
        if ping is not None and ping != last:
            last = ping
            state.set_unit_status(_PONG_UNIT, "active", str(ping))


@contextlib.contextmanager
def _child_process(mode: str, path: str, poll: float) -> Iterator[subprocess.Popen]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_REPO), env.get("PYTHONPATH")]))
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from benchmarks.state import _child; _child(sys.argv[1:])",
            mode,
            path,
            str(poll),
        ],
        cwd=str(_REPO),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(
                f"the {mode} child process did not start (said {line!r}, exit {process.poll()})"
            )
        yield process
    finally:
        process.kill()
        process.wait()
        process.stdout.close()


def _cross_process(poll: float, k: int) -> Benchmark:
    warm = 2

    @contextlib.contextmanager
    def session() -> Iterator[Sequence[Variant]]:
        with contextlib.ExitStack() as stack:
            directory = stack.enter_context(_temp_dir())
            state_path = os.path.join(directory, "state.db")
            raw_path = os.path.join(directory, "raw.db")

            state = state_api.open(_sqlite_url(state_path, poll))
            stack.callback(state.close)
            state.add_service("pong", _charm("pong"))
            state.add_unit("pong")
            raw = _raw_connect(raw_path)
            stack.callback(raw.close)
            raw.execute("CREATE TABLE pingpong (key TEXT PRIMARY KEY, value INTEGER NOT NULL)")
            raw.execute("INSERT INTO pingpong VALUES ('ping', 0), ('pong', 0)")

            state_child = stack.enter_context(_child_process("state", state_path, poll))
            raw_child = stack.enter_context(_child_process("raw", raw_path, poll))
            counter = [0]

            def check_alive(child: subprocess.Popen) -> None:
                if child.poll() is not None:
                    raise RuntimeError(f"the child process exited ({child.returncode})")

            def state_run() -> float:
                watcher = state.watch_unit(_PONG_UNIT)
                changes = watcher.changes()
                samples = []
                try:
                    next(changes)
                    for round_ in range(warm + k):
                        check_alive(state_child)
                        counter[0] += 1
                        want = str(counter[0])
                        start = time.perf_counter()
                        state.update_environ_config({"ping": counter[0]})
                        with gevent.Timeout(PATIENCE, RuntimeError("no pong from the child")):
                            for _ in changes:
                                if state.unit(_PONG_UNIT).status.get("message") == want:
                                    break
                        if round_ >= warm:
                            samples.append((time.perf_counter() - start) / 2)
                finally:
                    watcher.stop()
                return median_seconds(samples)

            def raw_run() -> float:
                pong = Event()
                seen = [None]
                stop = Event()

                def poller() -> None:  # the same loop as the child's, on the hub
                    last_version = None
                    while not stop.is_set():
                        version = raw.execute("PRAGMA data_version").fetchone()[0]
                        if version != last_version:
                            last_version = version
                            seen[0] = raw.execute(
                                "SELECT value FROM pingpong WHERE key = 'pong'"
                            ).fetchone()[0]
                            pong.set()
                        gevent.sleep(poll)

                polling = gevent.spawn(poller)
                samples = []
                try:
                    for round_ in range(warm + k):
                        check_alive(raw_child)
                        counter[0] += 1
                        start = time.perf_counter()
                        raw.execute("BEGIN IMMEDIATE")
                        raw.execute(
                            "UPDATE pingpong SET value = ? WHERE key = 'ping'", (counter[0],)
                        )
                        raw.execute("COMMIT")
                        while seen[0] != counter[0]:
                            pong.clear()
                            wait(pong, "raw pong from the child")
                        if round_ >= warm:
                            samples.append((time.perf_counter() - start) / 2)
                finally:
                    stop.set()
                    polling.join()
                return median_seconds(samples)

            yield (
                Variant(
                    "raw",
                    "raw sqlite3 ping-pong, both sides polling PRAGMA data_version",
                    raw_run,
                ),
                Variant(
                    "state",
                    "State on sqlite: update_environ_config -> child -> set_unit_status",
                    state_run,
                ),
                Variant(
                    "poll/2",
                    f"expected: half the poll interval ({_fmt_ms(poll / 2)}; not measured)",
                    lambda: poll / 2 * k,
                ),
            )

    return Benchmark(
        name=f"processes-{poll * 1e3:g}ms",
        title=(
            f"2. write -> event across two processes, sqlite, poll {poll * 1e3:g} ms "
            f"({k} ping-pongs; round trip / 2)"
        ),
        unit="time",
        ops=k,
        op_name="one-way trip",
        per_op=True,
        session=session,
        ratios=[Ratio("state", "raw"), Ratio("state", "poll/2", Target("<=", 2.0))],
        notes=[
            "each repetition's figure is the median of its round trips / 2",
            "the target: the expected order of magnitude, poll/2, give or take 2x",
            "a child process (same python) answers every ping, polling every "
            f"{poll * 1e3:g} ms as the parent does",
        ],
    )


# -- 3. a write storm ---------------------------------------------------------------------------


def _storm(n: int, warmup: int) -> Benchmark:
    notes = [
        "writes: update_environ_config({'n': i}) from one greenlet, as fast as it can;",
        "  a NotifyWorker re-reads environ_config() on each event; its events coalesce",
        _where(),
    ]

    @contextlib.contextmanager
    def session() -> Iterator[Sequence[Variant]]:
        records = Recorder(warmup)
        with _temp_dir() as directory:
            memory = state_api.open("memory://")
            sqlite_state = state_api.open(_sqlite_url(os.path.join(directory, "state.db")))
            raw = _raw_connect(os.path.join(directory, "raw.db"))
            _raw_config_table(raw)
            pool = ThreadPool(1)
            threaded = pool.apply(_raw_connect, (os.path.join(directory, "raw-thread.db"),))
            pool.apply(_raw_config_table, (threaded,))
            counter = [0]

            def raw_direct() -> float:
                elapsed = stopwatch()
                for _ in range(n):
                    counter[0] += 1
                    _raw_write(raw, {"n": counter[0]})
                return elapsed()

            def raw_thread() -> float:
                elapsed = stopwatch()
                for _ in range(n):
                    counter[0] += 1
                    pool.apply(_raw_write, (threaded, {"n": counter[0]}))
                return elapsed()

            def storm(key: str, state: state_api.State) -> float:
                first = counter[0] + 1
                counter[0] += n
                handler = Rereader(state, counter[0])
                worker = NotifyWorker(handler)
                try:
                    wait(handler.started, "initial event")

                    def write_all() -> None:
                        for value in range(first, first + n):
                            state.update_environ_config({"n": value})

                    elapsed = stopwatch()
                    writer = gevent.spawn(write_all)
                    writer.join()
                    writes_done = elapsed()
                    writer.get()  # raise what the writer raised
                    final_seen = handler.saw_final.wait(timeout=PATIENCE)
                    consumer_done = elapsed()
                    events = handler.events
                    gevent.sleep(0.2)  # anything still to come would show now
                    records.add(
                        key,
                        {
                            "writes_seconds": writes_done,
                            "all_seconds": consumer_done,
                            "events": events,
                            "late_events": handler.events - events,
                            "final": handler.final,
                            "last_read": handler.last_read,
                            "final_seen": bool(final_seen),
                        },
                    )
                    return writes_done
                finally:
                    worker.kill()
                    worker.wait()

            try:
                yield (
                    Variant(
                        "raw", "raw sqlite3 on the hub: BEGIN IMMEDIATE/UPDATE/COMMIT", raw_direct
                    ),
                    Variant(
                        "raw-thread", "the same raw writes on a gevent ThreadPool(1)", raw_thread
                    ),
                    Variant(
                        "memory",
                        "memory://: update_environ_config, NotifyWorker re-reading",
                        lambda: storm("memory", memory),
                    ),
                    Variant(
                        "sqlite",
                        "sqlite: update_environ_config, NotifyWorker re-reading",
                        lambda: storm("sqlite", sqlite_state),
                    ),
                )
            finally:
                sqlite_state.close()
                memory.close()
                raw.close()
                pool.apply(threaded.close)
                pool.kill()
                for key in ("memory", "sqlite"):
                    runs = records.timed(key)
                    if not runs:
                        continue
                    rates = [r["events"] / r["all_seconds"] for r in runs]
                    per_write = [r["events"] / n for r in runs]
                    to_final = statistics.median([r["all_seconds"] for r in runs])
                    final_ok = sum(
                        1 for r in runs if r["final_seen"] and r["last_read"] == r["final"]
                    )
                    late = sum(r["late_events"] for r in runs)
                    last = runs[-1]
                    notes.append(
                        f"{key} events: median {statistics.median(rates):,.0f}/s "
                        f"({min(rates):,.0f}..{max(rates):,.0f}), "
                        f"{statistics.median(per_write):.3f} events per write; "
                        f"time to the final read {_fmt_ms(to_final)}"
                    )
                    notes.append(
                        f"{key} final read: the read after the last event saw the final value "
                        f"in {final_ok}/{len(runs)} runs (last run: final n={last['final']}, "
                        f"read n={last['last_read']}; {late} event(s) after it)"
                    )

    benchmark = Benchmark(
        name="storm",
        title=f"3. write storm: {n:,} environ config writes, one re-reading consumer",
        unit="rate",
        ops=n,
        op_name="write",
        session=session,
        ratios=[Ratio("sqlite", "raw"), Ratio("sqlite", "raw-thread"), Ratio("memory", "raw")],
        notes=notes,
    )
    return benchmark


# -- 4. how long a poll holds the hub -------------------------------------------------------------


class _BlockTracer:
    """A greenlet trace function: the longest a greenlet other than the hub ran
    without switching (the hub's own runs are mostly its idle wait in the loop),
    how much of that run was the cyclic garbage collector, and how much CPU the
    hub's thread used meanwhile (less than the run: the thread waited, for the
    GIL or the OS). The time spent in the tracer itself is left out."""

    def __init__(self) -> None:
        self.hub = gevent.get_hub()
        self.longest = 0.0
        self.who: Any = None
        self.gc_in_longest = 0.0
        self.cpu_in_longest = 0.0
        self._since = time.perf_counter()
        self._cpu_since = time.thread_time()
        self._gc_now = 0.0
        self._gc_start = 0.0
        self._previous = None

    def reset(self) -> None:
        self.longest = 0.0
        self.who = None
        self.gc_in_longest = 0.0
        self.cpu_in_longest = 0.0
        self._gc_now = 0.0
        self._since = time.perf_counter()
        self._cpu_since = time.thread_time()

    def __call__(self, event: str, args: Any) -> None:
        now = time.perf_counter()
        cpu = time.thread_time()
        if event in ("switch", "throw"):
            origin = args[0]
            if origin is not self.hub:
                ran = now - self._since
                if ran > self.longest:
                    self.longest = ran
                    self.who = origin
                    self.gc_in_longest = self._gc_now
                    self.cpu_in_longest = cpu - self._cpu_since
        self._gc_now = 0.0
        self._since = time.perf_counter()
        self._cpu_since = time.thread_time()

    def _gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            self._gc_now += time.perf_counter() - self._gc_start

    def __enter__(self) -> _BlockTracer:
        self._previous = greenlet.settrace(self)
        gc.callbacks.append(self._gc)
        self.reset()
        return self

    def __exit__(self, *exc_info: object) -> None:
        greenlet.settrace(self._previous)
        gc.callbacks.remove(self._gc)


class _Tally:
    def __init__(self) -> None:
        self.count = 0
        self.goal = -1
        self.done = Event()

    def expect(self, goal: int) -> None:
        self.count = 0
        self.goal = goal
        self.done.clear()

    def tick(self) -> None:
        self.count += 1
        if self.count == self.goal:
            self.done.set()


def _hub_block(
    total: int, notified: Sequence[int], polls: int, units: int, warmup: int
) -> Benchmark:
    budget = 1e-3
    notes: list[str] = [
        f"{total:,} watchers subscribed on one store (watch_environ_config for those notified, "
        f"watch_unit over {units} units for the others), each followed by a greenlet",
        "another State on the same file writes the environ config; the store's poller "
        f"(poll {DEFAULT_POLL * 1e3:g} ms) finds it and notifies",
        "figure: per poll, the longest run of any greenlet but the hub (greenlet.settrace); "
        f"per repetition, the median over {polls} polls",
        "each repetition builds its own watchers (outside the stopwatch), then gc.collect(): "
        "they are old objects, as in a long-running agent",
    ]

    def follow(watcher: Any, tally: _Tally) -> None:
        for _ in watcher.changes():
            tally.tick()

    def state_run(
        records: Recorder,
        key: str,
        path: str,
        writer: state_api.State,
        unit_names: list[str],
        k: int,
        counter: list[int],
    ) -> float:
        reader = state_api.open(_sqlite_url(path))
        tally = _Tally()
        watchers: list[Any] = []
        consumers: list[gevent.Greenlet] = []
        try:
            tally.expect(total)
            for i in range(total):
                if i < k:
                    watcher = reader.watch_environ_config()
                else:
                    watcher = reader.watch_unit(unit_names[i % units])
                watchers.append(watcher)
                consumers.append(gevent.spawn(follow, watcher, tally))
            wait(tally.done, "initial events")
            gc.collect()
            poller = getattr(reader.store, "_poller", None)
            longest, gc_part, cpu_part, by_poller = [], [], [], 0
            with _BlockTracer() as tracer:
                for _ in range(polls):
                    tally.expect(k)
                    counter[0] += 1
                    tracer.reset()
                    writer.update_environ_config({"n": counter[0]})
                    wait(tally.done, f"{k} events after a write")
                    longest.append(tracer.longest)
                    gc_part.append(tracer.gc_in_longest)
                    cpu_part.append(tracer.cpu_in_longest)
                    by_poller += tracer.who is poller
            records.add(
                key, {"longest": longest, "gc": gc_part, "cpu": cpu_part, "by_poller": by_poller}
            )
            return statistics.median(longest)
        finally:
            for watcher in watchers:
                watcher.kill()
            gevent.joinall(consumers, timeout=PATIENCE)
            reader.close()

    def raw_poll_run(path: str, writer: state_api.State, counter: list[int]) -> float:
        """A hand-written poll on the hub: the same SQL as the store's poll, run
        without a thread, then one Event set for one waiting greenlet."""
        db = _raw_connect(path)
        event, tally = Event(), _Tally()

        def wait_events() -> None:
            while True:
                event.wait()
                event.clear()
                tally.tick()

        follower = gevent.spawn(wait_events)
        seen = db.execute("SELECT coalesce(max(rev), 0) FROM changes").fetchone()[0]
        last_version = db.execute("PRAGMA data_version").fetchone()[0]

        def poll_once() -> None:
            nonlocal seen, last_version
            version = db.execute("PRAGMA data_version").fetchone()[0]
            if version == last_version:
                return
            last_version = version
            db.execute("SELECT min(rev) FROM changes").fetchone()
            rows = db.execute(
                "SELECT rev, path FROM changes WHERE rev > ? ORDER BY rev", (seen,)
            ).fetchall()
            if rows:
                seen = rows[-1][0]
                if any(p == "/environ" for _, p in rows):
                    event.set()

        longest = []
        try:
            with _BlockTracer() as tracer:
                for _ in range(polls):
                    counter[0] += 1
                    writer.update_environ_config({"n": counter[0]})
                    gevent.sleep(0)
                    tally.expect(1)
                    tracer.reset()
                    gevent.spawn(poll_once).join()
                    wait(tally.done, "raw poll event")
                    longest.append(tracer.longest)
            return statistics.median(longest)
        finally:
            follower.kill()
            db.close()

    def raw_set_run() -> float:
        """The floor of notifying ``total`` waiting greenlets at once: one
        greenlet sets ``total`` gevent Events, each with a waiter."""
        events = [Event() for _ in range(total)]
        tally = _Tally()

        def wait_events(event: Event) -> None:
            while True:
                event.wait()
                event.clear()
                tally.tick()

        def set_all() -> None:
            for event in events:
                event.set()

        followers = [gevent.spawn(wait_events, event) for event in events]
        try:
            gevent.sleep(0)
            gc.collect()
            longest = []
            with _BlockTracer() as tracer:
                for _ in range(polls):
                    tally.expect(total)
                    tracer.reset()
                    gevent.spawn(set_all).join()
                    wait(tally.done, "raw events")
                    longest.append(tracer.longest)
            return statistics.median(longest)
        finally:
            gevent.killall(followers)

    @contextlib.contextmanager
    def session() -> Iterator[Sequence[Variant]]:
        records = Recorder(warmup)
        with contextlib.ExitStack() as stack:
            directory = stack.enter_context(_temp_dir())
            path = os.path.join(directory, "state.db")
            writer = state_api.open(_sqlite_url(path))
            stack.callback(writer.close)
            writer.add_service("u", _charm("u"))
            unit_names = [writer.add_unit("u") for _ in range(units)]
            counter = [0]
            variants = [
                Variant(
                    "raw-poll",
                    "raw sqlite3 poll run on the hub (same SQL), 1 Event set",
                    lambda: raw_poll_run(path, writer, counter),
                ),
                Variant(
                    f"raw-set-{_short(total)}",
                    f"raw gevent: one greenlet sets {total:,} Events, each awaited",
                    raw_set_run,
                ),
            ]
            for k in notified:
                key = f"state-{_short(k)}"
                variants.append(
                    Variant(
                        key,
                        f"sqlite store poll notifying {k:,} of {total:,} watchers",
                        lambda key=key, k=k: state_run(
                            records, key, path, writer, unit_names, k, counter
                        ),
                    )
                )
            variants.append(
                Variant("budget", "the target: 1 ms (a constant, not measured)", lambda: budget)
            )
            try:
                yield variants
            finally:
                for k in notified:
                    key = f"state-{_short(k)}"
                    runs = records.timed(key)
                    if not runs:
                        continue
                    every = [s for r in runs for s in r["longest"]]
                    collected = [g for r in runs for g in r["gc"]]
                    cpu = [c for r in runs for c in r["cpu"]]
                    without_gc = [s - g for s, g in zip(every, collected, strict=True)]
                    worst = every.index(max(every))
                    by_poller = sum(r["by_poller"] for r in runs)
                    figure = statistics.median([statistics.median(r["longest"]) for r in runs])
                    notes.append(
                        f"{key}: per poll median {_fmt_ms(statistics.median(every))} "
                        f"(CPU {_fmt_ms(statistics.median(cpu))}; "
                        f"{_fmt_ms(statistics.median(without_gc))} without the collector), "
                        f"worst {_fmt_ms(every[worst])} (CPU {_fmt_ms(cpu[worst])}, collector "
                        f"{_fmt_ms(collected[worst])}); the store's poller ran longest in "
                        f"{by_poller}/{len(every)} polls; target < 1 ms: "
                        f"{'met' if figure < budget else 'MISSED'}"
                    )

    return Benchmark(
        name="hub-block",
        title=f"4. longest hub block during sqlite polls, {total:,} watchers subscribed",
        unit="time",
        ops=1,
        op_name="poll",
        session=session,
        ratios=[
            *(Ratio(f"state-{_short(k)}", "budget", Target("<=", 1.0)) for k in notified),
            Ratio(f"state-{_short(notified[0])}", "raw-poll"),
            Ratio(f"state-{_short(notified[-1])}", f"raw-set-{_short(total)}"),
        ],
        notes=notes,
    )


def _short(number: int) -> str:
    return f"{number // 1000}k" if number >= 1000 and number % 1000 == 0 else str(number)


# -- the module's figures ---------------------------------------------------------------------


def collect(config: Config) -> list[Benchmark]:
    """The benchmarks of this module, sized for ``config``."""
    if config.quick:
        return [
            _latency(40),
            _cross_process(DEFAULT_POLL, 6),
            _storm(200, config.warmup),
            _hub_block(2_000, (1, 100, 2_000), polls=4, units=20, warmup=config.warmup),
        ]
    return [
        _latency(300),
        _cross_process(DEFAULT_POLL, 30),
        _cross_process(0.01, 30),
        _storm(1_000, config.warmup),
        _hub_block(10_000, (1, 100, 10_000), polls=15, units=100, warmup=config.warmup),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli([collect], argv, prog="python -m benchmarks.state", description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
