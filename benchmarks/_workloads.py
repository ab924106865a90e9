"""One piece of supervised work, done by gevent and asyncio supervisors alike.

The work: ``n`` workers are started; the first ``k`` instances of each fail at
once (an exception) and are restarted with no delay; the instance after them
counts itself as running and blocks until it is stopped. When all ``n`` run,
every worker is stopped and waited for. Each function below does that work
one way and returns its :class:`Phases`:

* ``gevent-raw``       raw gevent: a greenlet per instance, respawned from a
                       ``rawlink`` callback when it ended with an error; each
                       blocks on its own Event, set to stop it.
* ``runner``           agent_runtime's ``Runner(restart_delay=0)`` running
                       ``SimpleWorker``s; stopped by ``kill()`` + ``wait()``.
* ``asyncio-raw``      raw asyncio: a task per instance, re-created from a done
                       callback when it ended with an error; each awaits its
                       own ``asyncio.Event``, set to stop it.
* ``asyncio-taskgroup`` a plain asyncio supervisor: one task per worker, in an
                       ``asyncio.TaskGroup``, running a restart loop that awaits
                       the worker's coroutine and calls it again after an error.
* ``mode``             mode-streaming's ``OneForOneSupervisor`` with one
                       ``Service`` per worker whose ``@Service.task`` fails or
                       waits until the service is stopped; ``supervisor.stop()``.

The asyncio ones each run a fresh event loop (``asyncio.run``) and time only
the coroutine's work, as the gevent ones time only theirs. They belong in a
process that is not monkey-patched: ``benchmarks._child`` runs them in one.
``at_running`` (if given) is called once all ``n`` workers run, before they
are stopped (memory is measured there); the time it takes is left out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import gevent
from gevent.event import Event

from agent_runtime.worker import Runner, SimpleWorker

__all__ = ["KINDS", "MISSING", "Phases", "quiet_loggers", "run_kind"]

try:  # the bench extra: pip install -e '.[bench]'
    import mode
except ImportError:  # pragma: no cover - depends on what is installed
    mode = None

#: Loggers that log every failure or start (at ERROR or INFO); silenced while
#: measuring so the figures are the supervisors' own cost, not the log handler's.
LOGGERS = ("agent_runtime.worker", "mode", __name__)


class Phases(NamedTuple):
    """Seconds from the first start until all ``n`` workers run after their
    ``k`` failures (``running``), and until all have stopped (``total``); the
    CPU seconds the process used over the same time (``cpu``)."""

    running: float
    total: float
    cpu: float


class _Watch:
    """Wall-clock and CPU time since it was made, less the time spent in
    ``at_running`` (where memory is measured: not the work's)."""

    def __init__(self, at_running: Callable[[], None] | None) -> None:
        self._at_running = at_running
        self._paused = self._paused_cpu = 0.0
        self._running = 0.0
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def all_running(self) -> None:
        """Every worker runs: end of the first phase; call ``at_running``."""
        self._running = time.perf_counter() - self._wall - self._paused
        if self._at_running is not None:
            wall, cpu = time.perf_counter(), time.process_time()
            self._at_running()
            self._paused += time.perf_counter() - wall
            self._paused_cpu += time.process_time() - cpu

    def phases(self) -> Phases:
        """Every worker has stopped: the phases' seconds."""
        total = time.perf_counter() - self._wall - self._paused
        cpu = time.process_time() - self._cpu - self._paused_cpu
        return Phases(self._running, total, cpu)


class _Failure(Exception):
    pass


class _Plan:
    """How many more times each worker is to fail."""

    __slots__ = ("left",)

    def __init__(self, n: int, k: int) -> None:
        self.left = [k] * n

    def fail(self, index: int) -> bool:
        """True (and one failure fewer to go) if this instance is to fail."""
        if self.left[index]:
            self.left[index] -= 1
            return True
        return False


class _GeventCount:
    """Counts running workers; ``done`` is set at the ``goal``-th."""

    __slots__ = ("count", "done", "goal")

    def __init__(self, goal: int) -> None:
        self.count, self.goal, self.done = 0, goal, Event()

    def tick(self) -> None:
        self.count += 1
        if self.count == self.goal:
            self.done.set()


class _AsyncioCount:
    __slots__ = ("count", "done", "goal")

    def __init__(self, goal: int) -> None:
        self.count, self.goal, self.done = 0, goal, asyncio.Event()

    def tick(self) -> None:
        self.count += 1
        if self.count == self.goal:
            self.done.set()


def quiet_loggers() -> Callable[[], None]:
    """Silence the loggers of ``LOGGERS``; the returned function restores them."""
    saved = [(logging.getLogger(name), logging.getLogger(name).level) for name in LOGGERS]
    for logger, _ in saved:
        logger.setLevel(logging.CRITICAL + 1)

    def restore() -> None:
        for logger, level in saved:
            logger.setLevel(level)

    return restore


# -- gevent ----------------------------------------------------------------------------


def gevent_raw(n: int, k: int, at_running: Callable[[], None] | None = None) -> Phases:
    plan, count = _Plan(n, k), _GeventCount(n)
    stops = [Event() for _ in range(n)]
    greenlets: list[gevent.Greenlet] = [None] * n  # type: ignore[list-item]

    def body(index: int) -> Exception | None:
        try:
            if plan.fail(index):
                raise _Failure("failing at once")
            count.tick()
            stops[index].wait()
        except Exception as error:  # caught, as a supervisor would: the hub prints nothing
            return error
        return None

    def exited(index: int, greenlet: gevent.Greenlet) -> None:  # in the hub: spawn does not switch
        if greenlet.value is not None:
            spawn(index)

    def spawn(index: int) -> None:
        greenlet = greenlets[index] = gevent.spawn(body, index)
        greenlet.rawlink(partial(exited, index))

    watch = _Watch(at_running)
    for index in range(n):
        spawn(index)
    count.done.wait()
    watch.all_running()
    for stop in stops:
        stop.set()
    gevent.joinall(greenlets)
    return watch.phases()


def _never_fatal(error: BaseException) -> bool:
    return False


def _first_wins(error0: BaseException, error1: BaseException) -> bool:
    return False


def gevent_runner(n: int, k: int, at_running: Callable[[], None] | None = None) -> Phases:
    plan, count = _Plan(n, k), _GeventCount(n)

    def do_work(index: int, stop: Event) -> None:
        if plan.fail(index):
            raise _Failure("failing at once")
        count.tick()
        stop.wait()

    def start(index: int) -> SimpleWorker:
        return SimpleWorker(partial(do_work, index))

    watch = _Watch(at_running)
    runner = Runner(_never_fatal, _first_wins, restart_delay=0, stop_timeout=None)
    for index in range(n):
        runner.start_worker(f"w{index}", partial(start, index))
    count.done.wait()
    watch.all_running()
    runner.kill()
    runner.wait()
    return watch.phases()


# -- asyncio ---------------------------------------------------------------------------


async def _asyncio_raw(n: int, k: int, at_running: Callable[[], None] | None) -> Phases:
    loop = asyncio.get_running_loop()
    plan, count = _Plan(n, k), _AsyncioCount(n)
    stops = [asyncio.Event() for _ in range(n)]
    tasks: list[asyncio.Task] = [None] * n  # type: ignore[list-item]

    async def body(index: int) -> None:
        if plan.fail(index):
            raise _Failure("failing at once")
        count.tick()
        await stops[index].wait()

    def exited(index: int, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:  # retrieved: not logged
            spawn(index)

    def spawn(index: int) -> None:
        task = tasks[index] = loop.create_task(body(index))
        task.add_done_callback(partial(exited, index))

    watch = _Watch(at_running)
    for index in range(n):
        spawn(index)
    await count.done.wait()
    watch.all_running()
    for stop in stops:
        stop.set()
    await asyncio.gather(*tasks)
    return watch.phases()


async def _asyncio_taskgroup(n: int, k: int, at_running: Callable[[], None] | None) -> Phases:
    plan, count = _Plan(n, k), _AsyncioCount(n)
    stops = [asyncio.Event() for _ in range(n)]

    async def work(index: int) -> None:
        if plan.fail(index):
            raise _Failure("failing at once")
        count.tick()
        await stops[index].wait()

    async def supervise(index: int) -> None:
        while True:  # restart at once: no delay, as the others
            try:
                await work(index)
                return
            except Exception:
                continue

    async def stop_all() -> None:
        await count.done.wait()
        watch.all_running()
        for stop in stops:
            stop.set()

    watch = _Watch(at_running)
    async with asyncio.TaskGroup() as group:
        for index in range(n):
            group.create_task(supervise(index))
        group.create_task(stop_all())
    return watch.phases()


if mode is not None:

    class _ModeWorker(mode.Service):
        """A worker as mode writes one: a Service with a background task."""

        def __init__(self, index: int, plan: _Plan, count: _AsyncioCount, **kwargs: Any) -> None:
            self.index, self.plan, self.count = index, plan, count
            super().__init__(**kwargs)

        @mode.Service.task
        async def _work(self) -> None:
            if self.plan.fail(self.index):
                raise _Failure("failing at once")  # the service crashes; its supervisor wakes
            self.count.tick()
            await self.wait_until_stopped()


async def _mode(n: int, k: int, at_running: Callable[[], None] | None) -> Phases:
    plan, count = _Plan(n, k), _AsyncioCount(n)
    watch = _Watch(at_running)
    # The restart rate limit (a token bucket: capacity ``over``, refilled at
    # ``max_restarts`` per second) is set so that it never holds a restart back.
    supervisor = mode.OneForOneSupervisor(max_restarts=1e12, over=float(n * k + 1))
    supervisor.add(*(_ModeWorker(index, plan, count) for index in range(n)))
    await supervisor.start()
    await count.done.wait()
    watch.all_running()
    await supervisor.stop()
    return watch.phases()


def _in_fresh_loop(coroutine_function: Callable[..., Any]) -> Callable[..., Phases]:
    def run(n: int, k: int, at_running: Callable[[], None] | None = None) -> Phases:
        return asyncio.run(coroutine_function(n, k, at_running))

    run.__name__ = coroutine_function.__name__.lstrip("_")
    return run


#: Every way of doing the work that this Python has, by the key the benchmarks use.
KINDS: dict[str, Callable[..., Phases]] = {
    "gevent-raw": gevent_raw,
    "runner": gevent_runner,
    "asyncio-raw": _in_fresh_loop(_asyncio_raw),
    "asyncio-taskgroup": _in_fresh_loop(_asyncio_taskgroup),
    "mode": _in_fresh_loop(_mode),
}
#: The kinds this Python lacks, and why.
MISSING: dict[str, str] = {}
if not hasattr(asyncio, "TaskGroup"):  # Python 3.10
    MISSING["asyncio-taskgroup"] = "asyncio.TaskGroup is new in Python 3.11"
if mode is None:
    MISSING["mode"] = "mode-streaming is not installed (pip install -e '.[bench]')"
for _kind in MISSING:
    del KINDS[_kind]


def run_kind(kind: str, n: int, k: int, at_running: Callable[[], None] | None = None) -> Phases:
    """Do the work the ``kind`` way, with its failure and start logs silenced."""
    restore = quiet_loggers()
    try:
        return KINDS[kind](n, k, at_running)
    finally:
        restore()
