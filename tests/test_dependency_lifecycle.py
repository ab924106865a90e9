"""The engine as a worker: its report through a lifecycle, kill and wait,
the shutdown's grace period, abort, bugs of its own, and the interfaces."""

from __future__ import annotations

import datetime

import gevent
import pytest
from gevent.event import Event
from zope.interface import implementer
from zope.interface.verify import verifyObject

from agent_runtime import stop
from agent_runtime.errors import TerminateAgent, Unstopped
from agent_runtime.interfaces import (
    IAbortableWorker,
    IEngine,
    IManifold,
    IReporter,
    IWorker,
)
from agent_runtime.testing import check_killed
from agent_runtime.worker import Runner
from agent_runtime.worker.dependency import ABORT_GRACE, Engine, Manifold

from dependency_support import (
    Probe,
    ProbeWorker,
    first_is_worst,
    never_fatal,
    running,
    settle,
    state_of,
    wait_state,
)


def test_engine_and_manifold_provide_their_interfaces(engines):
    engine = engines()
    for interface in (IEngine, IWorker, IAbortableWorker, IReporter):
        verifyObject(interface, engine)
    verifyObject(IManifold, Manifold(["a"], Probe("x")))


def test_probe_worker_provides_its_interfaces():
    worker = ProbeWorker(Probe("p"), 1, {})
    try:
        verifyObject(IReporter, worker)
        verifyObject(IAbortableWorker, worker)
    finally:
        worker.kill()
        check_killed(worker)


def test_kill_stops_every_worker_and_wait_returns_none(engines):
    engine = engines()
    probes = [Probe("a"), Probe("b", reads=("a",)), Probe("c")]
    for probe in probes:
        engine.install(probe.name, probe.manifold(("a",) if probe.name == "b" else ()))
    for name in "abc":
        wait_state(engine, name, "started")
    assert stop(engine) is None
    assert all(worker.stopped for probe in probes for worker in probe.workers)
    assert engine.wait() is None  # again, the same outcome
    assert "dead" in repr(engine)


def test_kill_with_nothing_installed(engines):
    engine = engines()
    engine.kill()
    engine.kill()
    assert engine.wait() is None
    assert engine.report() == {"state": "stopped", "error": None, "manifolds": {}}


def test_kill_cancels_pending_restarts_and_aborts_blocked_starts(engines, clock):
    engine = engines()
    waiting, blocked = Probe("waiting"), Probe("blocked")
    waiting.start_error = OSError("fails")
    blocked.block = Event()
    engine.install("waiting", waiting.manifold())
    engine.install("blocked", blocked.manifold())
    waiting.expect_failed()
    clock.wait_for_timers(1)
    wait_state(engine, "blocked", "starting")
    engine.kill()
    blocked.contexts[0].abort.wait(10)  # the blocked start is told
    assert blocked.contexts[0].abort.is_set()
    assert clock.pending_timers() == 1  # only the grace period's timer
    blocked.block.set()
    assert engine.wait() is None
    assert blocked.current.stopped  # started too late: stopped at once
    assert engine.report()["manifolds"]["blocked"]["start-count"] == 0


def test_report_through_a_lifecycle(engines, clock):
    engine = engines(name="test engine", error_delay=7, is_fatal=lambda e: isinstance(e, KeyError))
    a, b, failing, slow = Probe("a"), Probe("b", reads=("a",)), Probe("failing"), Probe("slow")
    failing.start_error = OSError("no disk")
    slow.block = Event()
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    running(engine, a)
    engine.install("b", b.manifold())
    engine.install("failing", failing.manifold())
    engine.install("slow", slow.manifold())
    b.expect_started()
    failing.expect_failed()
    clock.wait_for_timers(1)
    settle(engine, "a", "b", "failing")
    report = engine.report()
    assert report["state"] == "started" and report["error"] is None
    assert report["name"] == "test engine"
    manifolds = report["manifolds"]
    assert list(manifolds) == ["a", "b", "failing", "slow"]
    assert manifolds["a"]["state"] == "started" and manifolds["a"]["inputs"] == []
    assert manifolds["a"]["start-count"] == 1 and manifolds["a"]["error"] is None
    assert manifolds["a"]["report"] == {"value": "a#1", "seen": {}}
    assert datetime.datetime.fromisoformat(manifolds["a"]["started"]) >= before
    assert manifolds["b"]["inputs"] == ["a"]
    assert manifolds["b"]["report"] == {"value": "b#1", "seen": {"a": "a#1"}}
    assert manifolds["failing"] == {
        "state": "waiting to start",
        "inputs": [],
        "start-count": 0,
        "recent-errors": 1,
        "started": None,
        "error": "OSError('no disk')",
    }
    assert manifolds["slow"]["state"] == "starting" and "report" not in manifolds["slow"]

    # A fatal error: the engine stops, held up by slow's start.
    a.current.die(KeyError("fatal"))
    wait_state(engine, "a", "stopped")
    report = engine.report()
    assert report["state"] == "stopping" and report["error"] == "KeyError('fatal')"
    assert report["manifolds"]["slow"]["state"] == "stopping"
    slow.block.set()
    with pytest.raises(KeyError):
        engine.wait()
    report = engine.report()
    assert report["state"] == "stopped" and report["error"] == "KeyError('fatal')"
    assert {entry["state"] for entry in report["manifolds"].values()} == {"stopped"}
    assert report["manifolds"]["a"]["error"] == "KeyError('fatal')"
    assert report["manifolds"]["a"]["start-count"] == 1


def test_report_of_a_worker_whose_report_fails(engines):
    @implementer(IReporter)
    class Broken(ProbeWorker):
        def report(self):
            raise RuntimeError("cannot say")

    engine = engines()
    engine.install("x", Manifold([], lambda context: Broken(Probe("x"), 1, {})))
    wait_state(engine, "x", "started")
    entry = engine.report()["manifolds"]["x"]
    assert entry["report"] == {"error": "report failed: RuntimeError('cannot say')"}


def test_a_nested_engine_reports_as_a_tree(engines):
    outer, inner = engines(), engines()
    inner_probe = Probe("leaf")
    running(inner, inner_probe)
    outer.install("inner", Manifold([], lambda context: inner))
    wait_state(outer, "inner", "started")
    tree = outer.report()["manifolds"]["inner"]["report"]
    assert tree["manifolds"]["leaf"]["report"]["value"] == "leaf#1"


def test_stop_timeout_aborts_workers_that_ignore_kill(engines, clock):
    engine = engines(stop_timeout=30)
    stubborn = Probe("stubborn")
    stubborn.stop_wait = Event()  # never set: it ignores kill
    running(engine, stubborn)
    engine.kill()
    clock.wait_for_timers(1)
    wait_state(engine, "stubborn", "stopping")
    clock.advance(29.999)
    assert not stubborn.current.stopped
    clock.advance(0.001)  # the grace period is over: abort()
    assert engine.wait() is None
    assert stubborn.current.stopped


@implementer(IWorker)
class Unkillable:
    """A worker that ignores kill() and cannot be aborted (it has no greenlet
    the engine could reach); the test releases it."""

    def __init__(self) -> None:
        self.release = Event()

    def kill(self) -> None:
        pass

    def wait(self) -> None:
        self.release.wait()


def test_workers_that_cannot_be_stopped_are_abandoned(engines, clock):
    verifyObject(IWorker, Unkillable())
    engine = engines(stop_timeout=5)
    unkillable = Unkillable()
    engine.install("stuck", Manifold([], lambda context: unkillable))
    wait_state(engine, "stuck", "started")
    engine.kill()
    clock.wait_for_timers(1)
    clock.advance(5)
    clock.wait_for_timers(1)
    clock.advance(ABORT_GRACE)
    with pytest.raises(Unstopped) as caught:
        engine.wait()
    assert caught.value.ids == ["stuck"] and caught.value.timeout == 5
    unkillable.release.set()  # nothing outlives the test


def test_abort_does_not_wait_for_the_grace_period(engines, clock):
    engine = engines(stop_timeout=None)
    stubborn = Probe("stubborn")
    stubborn.stop_wait = Event()
    running(engine, stubborn)
    engine.abort()
    assert engine.wait() is None
    assert stubborn.current.stopped
    engine.abort()  # dead already: nothing happens


def test_terminate_agent_is_reported_from_wait(engines):
    engine = engines(is_fatal=lambda error: isinstance(error, TerminateAgent))
    a = Probe("a")
    running(engine, a)
    a.current.die(TerminateAgent())
    with pytest.raises(TerminateAgent):
        engine.wait()


def test_a_bug_of_the_engine_stops_it_with_that_error(engines, clock):
    engine = engines(is_fatal=lambda error: isinstance(error, KeyError))
    a, b = Probe("a"), Probe("b")
    b.stop_error = KeyError("fatal, but the bug comes first")
    for probe in (a, b):
        engine.install(probe.name, probe.manifold())
        probe.expect_started()
        wait_state(engine, probe.name, "started")
    bug = ZeroDivisionError("engine bug")

    def broken(*args):
        raise bug

    engine._react = broken  # the loop's reaction to a's stop
    a.current.die(ValueError("x"))
    with pytest.raises(ZeroDivisionError) as caught:
        engine.wait()
    assert caught.value is bug
    assert b.current.stopped


def test_an_engine_runs_under_a_runner(clock):
    runner = Runner(never_fatal, lambda a, b: False, restart_delay=0)
    engines_started: list[Engine] = []
    probe = Probe("a")

    def start() -> Engine:
        engine = Engine(never_fatal, first_is_worst, clock=clock)
        engine.install("a", probe.manifold())
        engines_started.append(engine)
        return engine

    runner.start_worker("engine", start)
    probe.expect_started()
    wait_state(engines_started[0], "a", "started")
    runner_report = runner.report()
    engine_report = runner_report["workers"]["engine"]["report"]
    assert engine_report["manifolds"]["a"]["state"] == "started"
    assert stop(runner) is None
    assert probe.current.stopped and engines_started[0].report()["state"] == "stopped"


def test_install_and_report_from_many_greenlets(engines):
    engine = engines(bounce_delay=0)
    probes = [Probe(f"p{i}", reads=(f"p{i - 1}",) if i else ()) for i in range(20)]
    installers = [gevent.spawn(engine.install, p.name, p.manifold()) for p in probes]
    reporters = [gevent.spawn(engine.report) for _ in range(20)]
    gevent.joinall(installers + reporters, timeout=10, raise_error=True)
    for probe in probes:
        wait_state(engine, probe.name, "started")
    settle(engine, *(p.name for p in probes))
    for i, probe in enumerate(probes[1:], 1):
        assert probe.current.seen == {f"p{i - 1}": probes[i - 1].current.value}
    assert state_of(engine, "p19") == "started"


def test_the_example_of_the_docs_runs_and_prints_what_they_say(capsys):
    """docs/dependency.md's example, on the real clock (its waits are bounded)."""
    import pathlib
    import re

    text = (pathlib.Path(__file__).parent.parent / "docs" / "dependency.md").read_text()
    example = re.search(r"```python\n(.*?)```\n\nprints\n\n```\n(.*?)```", text, re.S)
    code, printed = example.groups()
    exec(compile(code, "docs/dependency.md", "exec"), {"__name__": "docs_example"})
    assert capsys.readouterr().out == printed


def test_abort_of_a_start_that_never_ran(engines):
    # The loop spawns a's start and, in the same turn, the abort kills that
    # greenlet before it ever ran: it cannot report, and must not be waited for.
    engine = engines(stop_timeout=None)
    a = Probe("a")
    engine._post(engine._on_install, "a", a.manifold())
    engine.abort()
    assert check_killed(engine) is None
    assert a.calls == 0
    assert engine.report()["manifolds"]["a"]["state"] == "stopped"
