"""Chaos: a thousand workers failing at random for half a minute.

One Runner supervises ``WORKERS`` ids, each with a restart policy of
exponential backoff with jitter (``RestartPolicy(backoff=Backoff(...))``).
Every instance lives a random time and then fails (a non-fatal error: it is
restarted after a backoff delay), fails so that its policy gives up on it
(``should_restart`` says no), finishes cleanly, or waits to be stopped; some
start functions fail; some workers take a while to stop. A driver greenlet
starts again the ids that finished or were given up on, and for the last
``CHURNED`` ids also calls ``stop_worker``/``start_worker`` at random.

After ``CHAOS_SECONDS`` the runner is killed. Then, from what an
``IRunnerObserver`` heard, in order:

* every failure of an id that nobody stopped was followed by a restart
  (``restart_scheduled`` with a delay the policy allows, then the id started
  or its start failed again) or by a reported error (``gave_up``) — unless
  the runner was killed in between; nothing is silently dropped;
* no two instances of an id ever ran at once;
* the runner stopped within its ``stop_timeout`` after ``kill()``, with no
  error, and (the pytest plugin) no greenlet is left behind.
"""

from __future__ import annotations

import os
import time
from collections import Counter, defaultdict

import gevent
import pytest
from gevent.event import Event
from zope.interface.verify import verifyObject

from agent_runtime.interfaces import IRunnerObserver
from agent_runtime.testing import check_killed
from agent_runtime.worker import Backoff, RestartPolicy, Runner, RunnerObserver, SimpleWorker

from seeds import seeded

WORKERS = 1000
CHURNED = 100  # the last ids: stopped and started again at random too
CHAOS_SECONDS = float(os.environ.get("AGENT_RUNTIME_CHAOS_SECONDS", "30"))
STOP_TIMEOUT = 5.0
BACKOFF = Backoff(initial=0.01, factor=2.0, max_delay=0.5, jitter=0.5)


class Flaky(Exception):
    """A failure to restart after."""


class Hopeless(Exception):
    """A failure the policy gives up on."""


def restartable(error: BaseException) -> bool:
    return not isinstance(error, Hopeless)


class Heard(RunnerObserver):
    """Every event, in order: (event, id, error or delay)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, object]] = []
        #: Ids that may have been forgotten (finished, given up on, stopped).
        self.gone: set[str] = set()

    def started(self, runner, id):
        self.events.append(("started", id, None))

    def exited(self, runner, id, error):
        self.events.append(("exited", id, error))
        if error is None:
            self.gone.add(id)

    def restart_scheduled(self, runner, id, delay):
        self.events.append(("restart_scheduled", id, delay))

    def gave_up(self, runner, id, error):
        self.events.append(("gave_up", id, error))
        self.gone.add(id)

    def fatal(self, runner, id, error):
        self.events.append(("fatal", id, error))


class Chaos:
    """The start functions: each instance draws its fate from ``rng``."""

    def __init__(self, rng) -> None:
        self.rng = rng
        self.running: Counter[str] = Counter()
        self.overlaps: list[str] = []
        self.fates: Counter[str] = Counter()

    def start(self, id: str) -> SimpleWorker:
        rng = self.rng
        if rng.random() < 0.05:
            self.fates["start failed"] += 1
            raise Flaky(f"{id} could not start")
        fate = rng.choices(["flaky", "hopeless", "finish", "wait"], [70, 5, 10, 15])[0]
        self.fates[fate] += 1
        life = min(rng.expovariate(1.0), 3.0)
        slow_stop = rng.uniform(0, 0.3) if rng.random() < 0.1 else 0.0

        def work(stop: Event) -> None:
            self.running[id] += 1
            if self.running[id] > 1:
                self.overlaps.append(id)
            try:
                stopped = stop.wait(None if fate == "wait" else life)
                if stopped:
                    gevent.sleep(slow_stop)  # a worker slow to stop, within the grace period
                    return
                if fate == "flaky":
                    raise Flaky(f"{id} failed")
                if fate == "hopeless":
                    raise Hopeless(f"{id} failed for good")
            finally:
                self.running[id] -= 1

        return SimpleWorker(work)


def check_history(events, killed_at: int, churned: set[str], seed: int) -> Counter[str]:
    """Check, per id, what followed each failure (see the module docstring);
    return counts of what was seen."""
    by_id: dict[str, list[tuple[int, str, object]]] = defaultdict(list)
    for index, (event, id, extra) in enumerate(events):
        by_id[id].append((index, event, extra))
    seen: Counter[str] = Counter(event for event, _, _ in events)
    lo, hi = BACKOFF.initial * (1 - BACKOFF.jitter), BACKOFF.max_delay * (1 + BACKOFF.jitter)
    for id, history in by_id.items():
        for position, (index, event, extra) in enumerate(history):
            after = history[position + 1] if position + 1 < len(history) else None
            if event == "fatal":
                raise AssertionError(f"seed {seed}: {id} failed fatally: {extra!r}")
            if event == "restart_scheduled":
                assert lo <= extra <= hi, f"seed {seed}: {id} restarts in {extra} s"
            if index >= killed_at or id in churned:
                continue  # stopping: a failure need not be restarted
            if event == "exited" and extra is not None:
                assert after is not None and after[1] in ("restart_scheduled", "gave_up"), (
                    f"seed {seed}: {id} failed with {extra!r}; then {after}"
                )
                assert after[1] == "restart_scheduled" or isinstance(extra, Hopeless), (
                    f"seed {seed}: {id} was given up on after {extra!r}"
                )
            if event == "restart_scheduled" and (after is None or after[0] > killed_at):
                continue  # the kill came before the delay was over
            if event == "restart_scheduled":
                assert after[1] in ("started", "exited"), f"seed {seed}: {id}: then {after}"
    return seen


@pytest.mark.long
@pytest.mark.timeout(CHAOS_SECONDS + 120)
def test_a_thousand_workers_failing_at_random(caplog):
    caplog.set_level("CRITICAL", logger="agent_runtime.worker")  # thousands of failures a second
    seed, rng = seeded("chaos")
    chaos = Chaos(rng)
    heard = Heard()
    verifyObject(IRunnerObserver, heard)
    policy = RestartPolicy(backoff=BACKOFF, reset_after=2.0, should_restart=restartable, random=rng)
    runner = Runner(
        lambda error: False,
        lambda a, b: False,
        stop_timeout=STOP_TIMEOUT,
        observers=[heard],
        name="chaos",
    )
    ids = [f"w{i:04}" for i in range(WORKERS)]
    churned = set(ids[-CHURNED:])
    churn = Counter()

    def drive(stop: Event) -> None:
        """Start the ids again that finished or were given up on; churn some."""
        while not stop.wait(0.05):
            gone, heard.gone = heard.gone, set()
            for id in gone:
                runner.start_worker(id, lambda id=id: chaos.start(id), policy)
            for id in rng.sample(sorted(churned), 5):
                runner.stop_worker(id)
                churn["stop_worker"] += 1
                if rng.random() < 0.5:
                    runner.start_worker(id, lambda id=id: chaos.start(id), policy)
                    churn["start_worker while stopping"] += 1

    stop = Event()
    try:
        for id in ids:
            runner.start_worker(id, lambda id=id: chaos.start(id), policy)
        driver = gevent.spawn(drive, stop)
        began = time.monotonic()
        gevent.sleep(CHAOS_SECONDS)  # the chaos runs for this long: the load held
        stop.set()
        driver.join()
        killed_at = len(heard.events)
        killed = time.monotonic()
        runner.kill()
        error = check_killed(runner, timeout=STOP_TIMEOUT)  # the stop_timeout contract
        stopped_in = time.monotonic() - killed
    finally:
        stop.set()
        runner.kill()
        check_killed(runner)

    assert error is None, f"seed {seed}: the runner stopped with {error!r}"
    assert chaos.overlaps == [], f"seed {seed}: two instances at once: {chaos.overlaps[:5]}"
    assert sum(chaos.running.values()) == 0, f"seed {seed}: workers still running"
    seen = check_history(heard.events, killed_at, churned, seed)
    failures = sum(1 for e, _, x in heard.events if e == "exited" and x is not None)
    assert failures > WORKERS, f"seed {seed}: only {failures} failures in {CHAOS_SECONDS} s"
    print(
        f"chaos {time.monotonic() - began:.0f} s, {WORKERS} workers: {failures} failures, "
        f"{dict(seen)}; fates {dict(chaos.fates)}; churn {dict(churn)}; "
        f"stopped {stopped_in:.2f} s after kill (stop_timeout {STOP_TIMEOUT:g} s)"
    )
