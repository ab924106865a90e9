"""Benchmarks of the Runner and the workers it runs, each beside raw gevent.

    python -m benchmarks.runner [--quick] [--repeat N] [--json PATH] [-k TEXT]

1. start-kill: start N workers blocked until killed, kill the runner, wait.
2. restarts:   restarts per second of a worker that fails at once (delay 0).
3. notify:     NotifyWorker handle() calls per second, in ping-pong.
4. scaling:    start_worker + stop_worker pairs with 1,000 vs 100,000 idle workers.
5. report:     Runner.report() of 10,000 workers (target: under 50 ms).

Every figure is measured beside raw gevent code doing the same work, in the
same process run (see ``_harness``); targets are printed, never asserted.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator, Sequence

import gevent
from gevent.event import Event
from gevent.queue import Queue
from zope.interface import implementer

from agent_runtime.interfaces import INotifyWatchHandler
from agent_runtime.watcher import NotifyWatcher
from agent_runtime.worker import NotifyWorker, Runner, RunnerObserver, SimpleWorker

from benchmarks._harness import (
    Benchmark,
    Config,
    Ratio,
    Target,
    Variant,
    fixed,
    run_cli,
    stopwatch,
)

__all__ = ["collect", "main"]


def _never_fatal(error: BaseException) -> bool:
    return False


def _always_fatal(error: BaseException) -> bool:
    return True


def _first_wins(error0: BaseException, error1: BaseException) -> bool:
    return False


def _idle(stop: Event) -> None:
    stop.wait()


class _Counter:
    """Counts calls and sets ``done`` at the ``goal``-th one."""

    __slots__ = ("count", "done", "goal")

    def __init__(self, goal: int) -> None:
        self.count = 0
        self.goal = goal
        self.done = Event()

    def tick(self) -> None:
        self.count += 1
        if self.count == self.goal:
            self.done.set()


# -- 1. start N blocked workers, kill them all -----------------------------------------------


def _start_kill(n: int) -> Benchmark:
    def raw_killall() -> float:
        counter = _Counter(n)

        def body(event: Event) -> None:
            counter.tick()
            event.wait()

        elapsed = stopwatch()
        events = [Event() for _ in range(n)]
        greenlets = [gevent.spawn(body, event) for event in events]
        counter.done.wait()
        gevent.killall(greenlets)  # block=True: returns once every greenlet is dead
        gevent.joinall(greenlets)
        return elapsed()

    def raw_set() -> float:
        counter = _Counter(n)

        def body(event: Event) -> None:
            counter.tick()
            event.wait()

        elapsed = stopwatch()
        events = [Event() for _ in range(n)]
        greenlets = [gevent.spawn(body, event) for event in events]
        counter.done.wait()
        for event in events:
            event.set()
        gevent.joinall(greenlets)
        return elapsed()

    # Not a baseline: one Event shared by all N greenlets. Each waiter links
    # itself to the Event, and a waiter that is killed unlinks itself with
    # list.remove(), a linear scan of the Event's links: killing them costs
    # O(N^2) in all (spawn order happens to find each link first; any other
    # order, e.g. reversed, is 4x slower per greenlet at 10,000 and worse
    # beyond). It measures gevent's Event, not the cost of N workers.

    def runner() -> float:
        counter = _Counter(n)

        def do_work(stop: Event) -> None:
            counter.tick()  # counted once do_work runs: the worker has started
            stop.wait()

        def start() -> SimpleWorker:
            return SimpleWorker(do_work)

        elapsed = stopwatch()
        r = Runner(_always_fatal, _first_wins)
        for i in range(n):
            r.start_worker(f"w{i}", start)
        counter.done.wait()
        r.kill()
        r.wait()
        return elapsed()

    return Benchmark(
        name="start-kill",
        title=f"1. start {n:,} workers blocked until killed, then kill them all",
        unit="time",
        ops=n,
        op_name="worker",
        session=fixed(
            Variant(
                "raw-killall", "raw gevent: spawn on own Event, gevent.killall, join", raw_killall
            ),
            Variant("raw-set", "raw gevent: spawn on own Event, set each Event, joinall", raw_set),
            Variant("runner", "Runner.start_worker(SimpleWorker), runner kill + wait", runner),
        ),
        ratios=[
            Ratio("runner", "raw-killall", Target("<=", 2.0)),
            Ratio("runner", "raw-set"),
        ],
        notes=[
            "a worker counts as started once its do_work (or the raw greenlet body) runs",
            "one Event shared by all N greenlets is no baseline: killing its waiters is O(N^2)",
        ],
    )


# -- 2. restarts per second --------------------------------------------------------------


class _Failure(Exception):
    pass


def _fail(stop: Event) -> None:
    raise _Failure("failing at once")


def _start_failing() -> SimpleWorker:
    return SimpleWorker(_fail)


class _StartCounter(RunnerObserver):
    def __init__(self, goal: int) -> None:
        self.counter = _Counter(goal)

    def started(self, runner: Runner, id: str) -> None:
        self.counter.tick()


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Silence a logger (nothing is even formatted) for the duration."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)


def _restarts(k: int) -> Benchmark:
    def raw() -> float:
        def body() -> None:
            try:
                raise _Failure("failing at once")
            except _Failure:
                pass  # caught here, so the hub prints nothing

        elapsed = stopwatch()
        for _ in range(k):
            gevent.spawn(body).join()
        return elapsed()

    def runner() -> float:
        observer = _StartCounter(k + 1)  # the first start, then k restarts
        r = Runner(_never_fatal, _first_wins, restart_delay=0, observers=[observer])
        with _quiet("agent_runtime.worker"):
            elapsed = stopwatch()
            r.start_worker("failing", _start_failing)
            observer.counter.done.wait()
            seconds = elapsed()
            r.kill()
            r.wait()
        return seconds

    return Benchmark(
        name="restarts",
        title=f"2. restarts of a worker that fails at once, restart delay 0 ({k:,} restarts)",
        unit="rate",
        ops=k,
        op_name="restart",
        session=fixed(
            Variant("raw", "raw gevent: spawn + join a greenlet that raises (caught)", raw),
            Variant("runner", "Runner(restart_delay=0), SimpleWorker raising", runner),
        ),
        ratios=[Ratio("runner", "raw", Target(">=", 0.4))],
        notes=[
            "restarts are counted by an IRunnerObserver's started()",
            "logger 'agent_runtime.worker' (ERROR on every failure) is silenced meanwhile",
        ],
    )


# -- 3. notify events delivered to handle() ------------------------------------------------


@implementer(INotifyWatchHandler)
class _PingHandler:
    def __init__(self, watcher: NotifyWatcher, pong: Queue) -> None:
        self._watcher = watcher
        self._pong = pong

    def set_up(self) -> NotifyWatcher:
        return self._watcher

    def tear_down(self) -> None:
        pass

    def handle(self) -> None:
        self._pong.put(None)


def _notify(k: int) -> Benchmark:
    def raw() -> float:
        ping: Queue = Queue()
        pong: Queue = Queue()

        def echo() -> None:
            while ping.get():
                pong.put(None)

        greenlet = gevent.spawn(echo)
        ping.put(True)  # one round before the stopwatch: the echo greenlet is running
        pong.get()
        elapsed = stopwatch()
        for _ in range(k):
            ping.put(True)
            pong.get()
        seconds = elapsed()
        ping.put(False)
        greenlet.join()
        return seconds

    def worker() -> float:
        watcher = NotifyWatcher(initial=True)
        pong: Queue = Queue()
        w = NotifyWorker(_PingHandler(watcher, pong))
        pong.get()  # the initial event: the worker is following its watcher
        elapsed = stopwatch()
        for _ in range(k):
            watcher.notify()
            pong.get()
        seconds = elapsed()
        w.kill()
        w.wait()
        return seconds

    return Benchmark(
        name="notify",
        title=f"3. notify events delivered to handle(), ping-pong ({k:,} events)",
        unit="rate",
        ops=k,
        op_name="event",
        session=fixed(
            Variant("raw", "raw gevent: Queue ping-pong between two greenlets", raw),
            Variant(
                "worker", "NotifyWatcher.notify -> NotifyWorker handle() -> Queue pong", worker
            ),
        ),
        ratios=[Ratio("worker", "raw", Target(">=", 0.5))],
    )


# -- 4. start/stop cost against the number of workers running -------------------------------


class _Tracker(RunnerObserver):
    """Tells a waiting greenlet when one given worker id has started or exited,
    and counts the workers that are running."""

    def __init__(self) -> None:
        self.live = 0
        self.event = Event()
        self._want: tuple[str, str] | None = None
        self._goal = -1

    def expect(self, what: str, id: str) -> None:
        self._want = (what, id)
        self.event.clear()

    def expect_live(self, goal: int) -> None:
        self._goal = goal
        self.event.clear()

    def started(self, runner: Runner, id: str) -> None:
        self.live += 1
        if self._want == ("started", id) or self.live == self._goal:
            self.event.set()

    def exited(self, runner: Runner, id: str, error: BaseException | None) -> None:
        self.live -= 1
        if self._want == ("exited", id):
            self.event.set()


def _start_idle() -> SimpleWorker:
    return SimpleWorker(_idle)


class _Population:
    """A runner holding ``size`` idle workers, and a way to time start/stop pairs on it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.tracker = _Tracker()
        self.runner = Runner(
            _always_fatal, _first_wins, stop_timeout=None, observers=[self.tracker]
        )
        self._serial = 0
        elapsed = stopwatch()
        self.tracker.expect_live(size)
        for i in range(size):
            self.runner.start_worker(f"idle-{i}", _start_idle)
        self.tracker.event.wait()
        print(f"  ... {size:,} idle workers started in {elapsed():.1f} s", file=sys.stderr)

    def pairs(self, m: int) -> float:
        runner, tracker = self.runner, self.tracker
        self._serial += 1
        ids = [f"probe-{self._serial}-{i}" for i in range(m)]
        elapsed = stopwatch()
        for id in ids:
            tracker.expect("started", id)
            runner.start_worker(id, _start_idle)
            tracker.event.wait()
            tracker.expect("exited", id)
            runner.stop_worker(id)
            tracker.event.wait()  # exited is told just before the record is removed
        seconds = elapsed()
        if tracker.live != self.size:
            raise RuntimeError(f"{tracker.live} workers running, expected {self.size}")
        return seconds

    def close(self) -> None:
        self.runner.kill()
        self.runner.wait()


def _raw_pairs(m: int) -> float:
    def body(started: Event, stop: Event) -> None:
        started.set()
        stop.wait()

    elapsed = stopwatch()
    for _ in range(m):
        started, stop = Event(), Event()
        greenlet = gevent.spawn(body, started, stop)
        started.wait()
        stop.set()
        greenlet.join()
    return elapsed()


def _scaling(small: int, large: int, m: int) -> Benchmark:
    @contextlib.contextmanager
    def session() -> Iterator[Sequence[Variant]]:
        populations: list[_Population] = []
        try:
            populations.append(_Population(small))
            populations.append(_Population(large))
            few, many = populations
            yield (
                Variant(
                    "raw",
                    "raw gevent: spawn, wait until it runs, set its Event, join",
                    lambda: _raw_pairs(m),
                ),
                Variant(
                    f"runner-{small // 1000}k",
                    f"runner already holding {small:,} idle workers",
                    lambda: few.pairs(m),
                ),
                Variant(
                    f"runner-{large // 1000}k",
                    f"runner already holding {large:,} idle workers",
                    lambda: many.pairs(m),
                ),
            )
        finally:
            for population in populations:
                population.close()

    return Benchmark(
        name="scaling",
        title=f"4. {m:,} start_worker + stop_worker pairs, {small:,} vs {large:,} workers running",
        unit="time",
        ops=m,
        op_name="pair",
        per_op=True,
        session=session,
        ratios=[
            Ratio(f"runner-{large // 1000}k", f"runner-{small // 1000}k", Target("<=", 1.3)),
            Ratio(f"runner-{small // 1000}k", "raw"),
        ],
        notes=[
            "a pair: start_worker, wait for started(), stop_worker, wait for exited()",
            "both runners are alive during every repetition: one heap, one hub for both",
        ],
    )


# -- 5. report() of many workers ---------------------------------------------------------


class _PlainRecord:
    """What a report entry is made of, in a plain object: the raw baseline."""

    __slots__ = ("consecutive", "failures", "last_error", "restarts", "started_text", "starts")

    def __init__(self) -> None:
        self.starts, self.failures, self.restarts, self.consecutive = 1, 0, 0, 0
        self.last_error = None
        self.started_text = "2026-01-01T00:00:00+00:00"


def _raw_report(records: dict[str, _PlainRecord]) -> float:
    elapsed = stopwatch()
    workers = {}
    for id, record in sorted(records.items()):
        error = record.last_error
        workers[id] = {
            "state": "started",
            "starts": record.starts,
            "failures": record.failures,
            "restarts": record.restarts,
            "consecutive-failures": record.consecutive,
            "last-error": None if error is None else repr(error),
            "started-at": record.started_text,
            "restart-in": None,
        }
    report = {"state": "started", "workers": workers}
    seconds = elapsed()
    if len(report["workers"]) != len(records):
        raise RuntimeError("the raw report lost workers")
    return seconds


def _report(n: int) -> Benchmark:
    @contextlib.contextmanager
    def session() -> Iterator[Sequence[Variant]]:
        population = _Population(n)
        try:
            runner = population.runner
            runner.report()  # the first report formats each start time once, as in an agent
            plain = {f"idle-{i}": _PlainRecord() for i in range(n)}

            def report() -> float:
                elapsed = stopwatch()
                workers = runner.report()["workers"]
                seconds = elapsed()
                if len(workers) != n:
                    raise RuntimeError(f"report() gave {len(workers)} workers, not {n}")
                return seconds

            yield (
                Variant(
                    "raw",
                    f"the same dict built from a plain dict of {n:,} records",
                    lambda: _raw_report(plain),
                ),
                Variant("runner", f"Runner.report(), {n:,} started idle workers", report),
            )
        finally:
            population.close()

    return Benchmark(
        name="report",
        title=f"5. report() of a runner holding {n:,} workers",
        unit="time",
        ops=n,
        op_name="worker",
        session=session,
        ratios=[Ratio("runner", "raw")],
        notes=[
            "target: the runner's median under 50 ms (an operator's report, asked on demand)",
            "runner: a request to the runner's loop, which builds one entry per record; "
            "the caller then asks the workers that report themselves (none here)",
        ],
    )


# -- the module's figures ----------------------------------------------------------------


def collect(config: Config) -> list[Benchmark]:
    """The benchmarks of this module, sized for ``config``."""
    if config.quick:
        return [
            _start_kill(2_000),
            _restarts(2_000),
            _notify(5_000),
            _scaling(1_000, 10_000, 300),
            _report(10_000),
        ]
    return [
        _start_kill(10_000),
        _restarts(20_000),
        _notify(20_000),
        _scaling(1_000, 100_000, 1_000),
        _report(10_000),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli([collect], argv, prog="python -m benchmarks.runner", description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
