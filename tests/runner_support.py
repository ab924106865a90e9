"""An observer for the Runner tests: it records what a runner tells it."""

from __future__ import annotations

import gevent
from gevent.event import Event

from agent_runtime.worker import RunnerObserver

from starters import LONG_WAIT


class Recorder(RunnerObserver):
    """Records what the runner tells its observers, as tuples
    (``("started", id)``, ``("exited", id, error)``, ...), and waits for them."""

    def __init__(self) -> None:
        self.events: list[tuple] = []
        self.changed = Event()

    def _add(self, *event) -> None:
        self.events.append(event)
        self.changed.set()

    def started(self, runner, id):
        self._add("started", id)

    def exited(self, runner, id, error):
        self._add("exited", id, error)

    def restart_scheduled(self, runner, id, delay):
        self._add("restart_scheduled", id, delay)

    def gave_up(self, runner, id, error):
        self._add("gave_up", id, error)

    def fatal(self, runner, id, error):
        self._add("fatal", id, error)

    def of(self, kind: str) -> list[tuple]:
        """The arguments of every event of ``kind``, in order."""
        return [event[1:] for event in self.events if event[0] == kind]

    def delays(self) -> list[float]:
        """The delay of every restart scheduled, in order."""
        return [delay for _, delay in self.of("restart_scheduled")]

    def wait_for(self, event: tuple, timeout: float = LONG_WAIT) -> None:
        """Wait until ``event`` has been recorded."""
        self._wait(lambda: event in self.events, f"no {event!r}", timeout)

    def wait(self, kind: str, count: int = 1, timeout: float = LONG_WAIT) -> None:
        """Wait until ``count`` events of ``kind`` have been recorded."""
        self._wait(lambda: len(self.of(kind)) >= count, f"fewer than {count} {kind!r}", timeout)

    def _wait(self, condition, failure: str, timeout: float) -> None:
        with gevent.Timeout(timeout, False):
            while not condition():
                self.changed.clear()
                self.changed.wait()
            return
        raise AssertionError(f"{failure} within {timeout:g} s; saw {self.events!r}")
