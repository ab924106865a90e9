"""What the state benchmarks share: waits that fail instead of hanging, the
record of timed runs, and the consumers that follow a watcher."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import gevent
from gevent.event import Event
from gevent.queue import Queue
from zope.interface import implementer

import agent_runtime.state as state_api
from agent_runtime.interfaces import INotifyWatchHandler

__all__ = [
    "PATIENCE",
    "EventStamper",
    "Recorder",
    "Rereader",
    "get",
    "median_seconds",
    "time_write_to_event",
    "wait",
]

#: How long any single wait may take before it is a failure (a lost event
#: would otherwise hang the run).
PATIENCE = 30.0


def get(queue: Queue, what: str) -> Any:
    try:
        return queue.get(timeout=PATIENCE)
    except gevent.queue.Empty:
        raise RuntimeError(f"no {what} within {PATIENCE:.0f} s") from None


def wait(event: Event, what: str) -> None:
    if not event.wait(timeout=PATIENCE):
        raise RuntimeError(f"no {what} within {PATIENCE:.0f} s")


def median_seconds(samples: Sequence[float]) -> float:
    """The figure of one repetition of a per-op latency benchmark: the median of
    its samples, times their number (the harness divides by ``ops``)."""
    return statistics.median(samples) * len(samples)


class Recorder:
    """Per-variant records of the timed runs (warm-up runs dropped), for notes."""

    def __init__(self, warmup: int) -> None:
        self._warmup = warmup
        self._runs: dict[str, list[Any]] = {}

    def add(self, key: str, record: Any) -> None:
        self._runs.setdefault(key, []).append(record)

    def timed(self, key: str) -> list[Any]:
        runs = self._runs.get(key, [])
        return runs[self._warmup :] if len(runs) > self._warmup else runs


class EventStamper:
    """A greenlet following a watcher; for each event it puts on ``out`` the
    time ``next()`` returned and the change or, with ``read``, the time
    ``read()`` returned and what it returned."""

    def __init__(self, watcher, read: Callable[[], Any] | None = None) -> None:
        self.watcher = watcher
        self.out: Queue = Queue()
        self._read = read
        self._greenlet = gevent.spawn(self._follow)

    def _follow(self) -> None:
        read, out = self._read, self.out
        for change in self.watcher.changes():
            if read is None:
                out.put((time.perf_counter(), change))
            else:
                value = read()
                out.put((time.perf_counter(), value))

    def close(self) -> None:
        self.watcher.stop()
        self._greenlet.join(timeout=PATIENCE)


@implementer(INotifyWatchHandler)
class Rereader:
    """A NotifyWorker's handler: re-read the environ config on each event."""

    def __init__(self, state: state_api.State, final: int) -> None:
        self._state = state
        self.final = final
        self.events = 0
        self.last_read: Any = None
        self.started = Event()
        self.saw_final = Event()

    def set_up(self):
        return self._state.watch_environ_config()

    def tear_down(self) -> None:
        pass

    def handle(self) -> None:
        self.last_read = self._state.environ_config().get("n")
        if not self.started.is_set():
            self.started.set()  # the initial event: not counted
            return
        self.events += 1
        if self.last_read == self.final:
            self.saw_final.set()


def time_write_to_event(
    writer: state_api.State,
    reader: state_api.State,
    counter: list[int],
    rounds: int,
    warm: int,
    read_back: bool,
) -> list[float]:
    """Seconds from ``writer.update_environ_config({"n": i})`` to the event on
    ``reader``'s environ watcher (with ``read_back``: to its
    ``environ_config()`` returning n == i), for each of ``rounds`` writes
    after ``warm`` untimed ones. ``counter[0]`` numbers the writes."""
    watcher = reader.watch_environ_config()
    read = (lambda: reader.environ_config().get("n")) if read_back else None
    stamper = EventStamper(watcher, read)
    samples: list[float] = []
    try:
        get(stamper.out, "initial event")
        for round_ in range(warm + rounds):
            while not stamper.out.empty():  # nothing stale counts
                stamper.out.get()
            counter[0] += 1
            value = counter[0]
            start = time.perf_counter()
            writer.update_environ_config({"n": value})
            while True:
                arrived, seen = get(stamper.out, "event after a write")
                if not read_back or seen == value:
                    break
            if round_ >= warm:
                samples.append(arrived - start)
    finally:
        stamper.close()
    return samples
