"""Helpers for the dependency engine tests.

A ``Probe`` is a manifold's start function whose workers the test controls.
Each start reads the probe's ``reads`` (the str each input offers) through
the context, then raises ``start_error`` if it is set, else returns a
``ProbeWorker`` that runs until it is killed (it then stops with
``stop_error``) or until the test calls ``die(error)``. Every start attempt
is reported on ``probe.attempts`` as ``("started", worker)`` or
``("failed", error)``; ``expect_started()`` / ``expect_failed()`` wait for
the next one (with a real-time timeout).

A ProbeWorker offers its dependents the str ``"<probe name>#<start number>"``
(``probe.output``), so a dependent can tell which start of an input it saw.
"""

from __future__ import annotations

import random
from typing import Any

import gevent
import pytest
from gevent.event import Event
from gevent.queue import Empty, Queue
from zope.interface import implementer

from agent_runtime.interfaces import IReporter
from agent_runtime.testing import LONG_WAIT, ManualClock, check_killed, wait_for
from agent_runtime.worker.base import GreenletWorker
from agent_runtime.worker.dependency import Engine, Manifold, Missing


def never_fatal(error: BaseException) -> bool:
    return False


def first_is_worst(error: BaseException, worst: BaseException) -> BaseException:
    return worst


class FixedRandom(random.Random):
    """A ``random.Random`` whose ``uniform(a, b)`` is always ``a + fraction * (b - a)``:
    0.5 gives delays without jitter, 0 and 1 the jitter's bounds."""

    def __init__(self, fraction: float = 0.5) -> None:
        super().__init__(0)
        self.fraction = fraction

    def uniform(self, a: float, b: float) -> float:
        return a + self.fraction * (b - a)


@implementer(IReporter)
class ProbeWorker(GreenletWorker):
    """See the module docstring."""

    def __init__(self, probe: Probe, number: int, seen: dict[str, Any]) -> None:
        super().__init__()
        self.probe = probe
        self.value = f"{probe.name}#{number}"
        self.seen = seen
        self._died = Event()
        self._die_error: BaseException | None = None
        self._start()

    def _run(self) -> None:
        gevent.wait([self.dying, self._died], count=1)
        if self._died.is_set():
            if self._die_error is not None:
                raise self._die_error
            return
        if self.probe.stop_wait is not None:
            self.probe.stop_wait.wait()
        if self.probe.stop_error is not None:
            raise self.probe.stop_error

    def die(self, error: BaseException | None = None) -> None:
        """Stop by itself, with ``error`` (None: cleanly)."""
        self._die_error = error
        self._died.set()

    def report(self) -> dict[str, Any]:
        return {"value": self.value, "seen": dict(self.seen)}


class Probe:
    """See the module docstring."""

    def __init__(self, name: str, reads: tuple[str, ...] = ()) -> None:
        self.name = name
        self.reads = reads
        self.start_error: BaseException | None = None
        self.stop_error: BaseException | None = None
        #: Starts wait for it when set (a gevent Event), before reading inputs.
        self.block: Event | None = None
        #: Killed workers wait for it when set, before stopping.
        self.stop_wait: Event | None = None
        self.attempts: Queue = Queue()
        self.contexts: list[Any] = []
        self.workers: list[ProbeWorker] = []
        self.calls = 0

    def __call__(self, context: Any) -> ProbeWorker:
        self.calls += 1
        self.contexts.append(context)
        try:
            if self.block is not None:
                self.block.wait()
            seen = {name: context.get(name, str) for name in self.reads}
            if self.start_error is not None:
                raise self.start_error
        except Exception as error:
            self.attempts.put(("failed", error))
            raise
        worker = ProbeWorker(self, len(self.workers) + 1, seen)
        self.workers.append(worker)
        self.attempts.put(("started", worker))
        return worker

    @staticmethod
    def output(worker: ProbeWorker, kind: Any) -> str:
        if kind is str:
            return worker.value
        raise Missing(f"{worker.value} offers only str")

    def manifold(self, inputs: tuple[str, ...] | None = None, **more: Any) -> Manifold:
        """A manifold of this probe: its inputs are its reads unless given."""
        more.setdefault("output", self.output)
        return Manifold(self.reads if inputs is None else inputs, self, **more)

    def _next(self, timeout: float) -> tuple[str, Any]:
        try:
            return self.attempts.get(timeout=timeout)
        except Empty:
            raise AssertionError(f"{self.name}: no start attempt within {timeout:g} s") from None

    def expect_started(self, timeout: float = LONG_WAIT) -> ProbeWorker:
        kind, value = self._next(timeout)
        assert kind == "started", f"{self.name}: start failed with {value!r}"
        return value

    def expect_failed(self, timeout: float = LONG_WAIT) -> BaseException:
        kind, value = self._next(timeout)
        assert kind == "failed", f"{self.name}: started {value!r}; a failure was expected"
        return value

    def expect_no_attempt(self) -> None:
        assert self.attempts.empty(), f"{self.name}: unexpected start {self.attempts.peek()!r}"

    @property
    def current(self) -> ProbeWorker:
        return self.workers[-1]


def running(engine: Engine, *probes: Probe) -> None:
    """Install each probe's manifold in order, waiting for each to start."""
    for probe in probes:
        engine.install(probe.name, probe.manifold())
        probe.expect_started()
        wait_state(engine, probe.name, "started")


def state_of(engine: Engine, name: str) -> str | None:
    """The state of manifold ``name`` in ``engine``'s report (None: not installed)."""
    entry = engine.report()["manifolds"].get(name)
    return None if entry is None else entry["state"]


def wait_state(engine: Engine, name: str, state: str | None) -> None:
    """Wait (real time, bounded) until manifold ``name`` is in ``state``."""
    wait_for(lambda: state_of(engine, name) == state, what=f"{name!r} to be {state!r}")


def settle(engine: Engine, *names: str) -> None:
    """Wait until each of ``names`` is neither starting nor stopping (its
    start has finished one way or the other and nothing is in flight)."""
    for name in names:
        wait_for(
            lambda name=name: state_of(engine, name) not in ("starting", "stopping"),
            what=f"{name!r} to settle",
        )


def stop_engine(engine: Engine) -> BaseException | None:
    engine.kill()
    return check_killed(engine)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def engines(clock):
    """Make engines on ``clock`` (by default: bounce delay 1 s, error delay
    5 s, no backoff, no jitter); each is killed after the test and must stop."""
    made: list[Engine] = []

    def make(is_fatal=never_fatal, worst_error=first_is_worst, filter=None, **settings):
        settings.setdefault("clock", clock)
        settings.setdefault("bounce_delay", 1.0)
        settings.setdefault("error_delay", 5.0)
        settings.setdefault("backoff_factor", 0)
        settings.setdefault("random", FixedRandom())
        engine = Engine(is_fatal, worst_error, filter, **settings)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.kill()
        check_killed(engine)


def delay_of_next_timer(clock: ManualClock) -> float | None:
    """Seconds from now to the earliest pending timer of ``clock``."""
    deadline = clock.next_deadline()
    return None if deadline is None else deadline - clock.now()
