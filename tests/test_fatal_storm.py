"""A storm of fatal errors: hundreds of workers of one Runner fail at once.

Each of ``WORKERS`` workers gets a random role. Most raise a fatal error of a
rank of their own the moment a shared event fires (from their worker, or from
their start function, which is still running then); some raise a fatal error
only when the dying runner stops them; the rest fail with a non-fatal error
or stop cleanly when asked. ``more_important`` ranks the errors, so exactly
one is the most important: ``wait()`` must raise that very object, and every
worker ever started must have stopped.
"""

from __future__ import annotations

import gevent
import pytest
from gevent.event import Event
from zope.interface.verify import verifyObject

from agent_runtime.interfaces import IRunnerObserver
from agent_runtime.testing import LONG_WAIT, check_killed, wait_for
from agent_runtime.worker import Runner, RunnerObserver, SimpleWorker

from seeds import seeded

WORKERS = 500
#: How the workers' roles are drawn (weights).
ROLES = {"raise": 40, "start": 15, "on-kill": 20, "nonfatal": 15, "clean": 10}


class Ranked(Exception):
    """A fatal error; the higher the rank, the more important."""

    def __init__(self, rank: int, id: str) -> None:
        super().__init__(f"{id} failed with rank {rank}")
        self.rank = rank
        self.worker_id = id


def is_fatal(error: BaseException) -> bool:
    return isinstance(error, Ranked)


def more_important(error0: BaseException, error1: BaseException) -> bool:
    return error0.rank > error1.rank  # type: ignore[attr-defined]


class Heard(RunnerObserver):
    """What the runner told its observers: how many starts, which fatal errors."""

    def __init__(self) -> None:
        self.starts = 0
        self.fatal_errors: list[BaseException] = []

    def started(self, runner, id):
        self.starts += 1

    def fatal(self, runner, id, error):
        self.fatal_errors.append(error)


class Storm:
    """The start functions of the workers, and every worker they made."""

    def __init__(self, roles: dict[str, str], ranks: dict[str, int]) -> None:
        self.go = Event()
        self.roles = roles
        self.errors = {id: Ranked(rank, id) for id, rank in ranks.items()}
        self.workers: list[SimpleWorker] = []
        self._failed_once: set[str] = set()

    def start(self, id: str):
        role = self.roles[id]
        if role == "start":
            self.go.wait()
            raise self.errors[id]
        if role == "raise":
            work = self._raise_on(self.go, id)
        elif role == "on-kill":
            work = self._raise_when_stopped(id)
        elif role == "nonfatal" and id not in self._failed_once:
            self._failed_once.add(id)
            work = self._nonfatal
        else:  # "clean", and the restarted instances of "nonfatal"
            work = self._clean
        worker = SimpleWorker(work)
        worker.id = id  # type: ignore[attr-defined]
        self.workers.append(worker)
        return worker

    def _raise_on(self, event: Event, id: str):
        def work(stop: Event) -> None:
            event.wait()  # deaf to kill(): it raises in any case
            raise self.errors[id]

        return work

    def _raise_when_stopped(self, id: str):
        def work(stop: Event) -> None:
            stop.wait()
            raise self.errors[id]

        return work

    def _nonfatal(self, stop: Event) -> None:
        self.go.wait()
        raise ValueError("a non-fatal failure")

    @staticmethod
    def _clean(stop: Event) -> None:
        stop.wait()


@pytest.mark.parametrize("round", range(4))
def test_wait_raises_the_most_important_of_a_storm_of_fatal_errors(round):
    seed, rng = seeded(f"fatal storm, round {round}")
    ids = [f"w{i}" for i in range(WORKERS)]
    roles = dict(zip(ids, rng.choices(list(ROLES), list(ROLES.values()), k=WORKERS), strict=True))
    fatal_ids = [id for id in ids if roles[id] in ("raise", "start", "on-kill")]
    ranks = dict(zip(fatal_ids, rng.sample(range(10 * WORKERS), len(fatal_ids)), strict=True))
    storm = Storm(roles, ranks)
    observer = Heard()
    verifyObject(IRunnerObserver, observer)
    runner = Runner(is_fatal, more_important, restart_delay=0, observers=[observer])
    try:
        for id in ids:
            runner.start_worker(id, lambda id=id: storm.start(id))
        running = sum(role != "start" for role in roles.values())
        wait_for(lambda: observer.starts == running, what=f"{running} workers started")

        storm.go.set()  # the storm: every "raise", "start" and "nonfatal" worker fails now
        error = check_killed(runner)
    finally:
        runner.kill()
        check_killed(runner)

    expected = storm.errors[max(fatal_ids, key=ranks.__getitem__)]
    assert error is expected, f"seed {seed}: wait() raised {error!r}, expected {expected!r}"
    # Every fatal error was reported, once: those of the storm and those
    # raised while the runner stopped the others.
    assert sorted(e.rank for e in observer.fatal_errors) == sorted(ranks.values()), f"seed {seed}"
    assert all(e is storm.errors[e.worker_id] for e in observer.fatal_errors), f"seed {seed}"
    for worker in storm.workers:
        stopped_with = check_killed(worker, timeout=LONG_WAIT)
        role = roles[worker.id]
        if role in ("raise", "on-kill"):
            assert stopped_with is storm.errors[worker.id], f"seed {seed}: {worker.id}"
    assert runner.report()["workers"] == {}
    print(
        f"{WORKERS} workers, {len(observer.fatal_errors)} fatal errors at once "
        f"({len(storm.workers)} workers started): wait() raised rank {error.rank}, the highest"
    )
    gevent.sleep(0)
