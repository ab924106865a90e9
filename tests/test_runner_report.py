"""Runner.report(): what an operator sees of a running runner."""

from __future__ import annotations

import json

import gevent
import pytest
from gevent.event import Event
from zope.interface import implementer
from zope.interface.verify import verifyObject

from agent_runtime import stop
from agent_runtime.cli.report import render
from agent_runtime.interfaces import IReporter, IWorker
from agent_runtime.testing import ManualClock, check_killed, wait_for
from agent_runtime.worker import Backoff, RestartPolicy, Runner, RunnerObserver, SimpleWorker

from starters import LONG_WAIT, none_fatal

pytestmark = pytest.mark.usefixtures("no_restart_delay")


def test_a_new_runner_reports_no_workers(runners):
    runner = runners(name="top")
    assert runner.report() == {"state": "started", "name": "top", "workers": {}}


def test_report_follows_a_worker_through_its_life(runners, starters):
    clock = ManualClock()
    runner = runners(none_fatal, restart_delay=5, clock=clock)
    starter = starters()
    runner.start_worker("w", starter)
    starter.expect(True)
    entry = runner.report()["workers"]["w"]
    assert entry["state"] == "started" and entry["starts"] == 1 and entry["failures"] == 0
    assert entry["last-error"] is None and entry["started-at"].endswith("+00:00")
    starter.die(ValueError("boom"))
    starter.expect(False)
    clock.wait_for_timers(1)
    entry = runner.report()["workers"]["w"]
    assert entry["state"] == "waiting to restart"
    assert entry["failures"] == 1 and entry["last-error"] == "ValueError('boom')"
    assert entry["started-at"] is None
    clock.advance(5)
    starter.expect(True)
    assert runner.report()["workers"]["w"]["starts"] == 2
    json.dumps(runner.report())  # plain data
    assert stop(runner) is None
    assert runner.report() == {"state": "stopped", "workers": {}}


def test_report_shows_starting_and_stopping_workers(runners, starters):
    runner = runners(none_fatal)
    slow = starters(unbuffered=True)
    runner.start_worker("slow", slow)
    wait_for(lambda: runner.report()["workers"].get("slow", {}).get("state") == "starting")
    slow.expect(True)
    runner.stop_worker("slow")
    slow.expect(False)
    stop_wait = Event()
    lingering = starters(stop_wait=stop_wait)
    runner.start_worker("lingering", lingering)
    lingering.expect(True)
    runner.stop_worker("lingering")
    wait_for(lambda: runner.report()["workers"]["lingering"]["state"] == "stopping")
    stop_wait.set()
    lingering.expect(False)


def test_nested_runners_report_as_a_tree(runners):
    parent, child = runners(name="parent"), runners(name="child")
    child.start_worker("leaf", lambda: SimpleWorker(lambda stop: stop.wait()))
    parent.start_worker("child", lambda: child)
    wait_for(lambda: parent.report()["workers"].get("child", {}).get("state") == "started")
    wait_for(lambda: "leaf" in child.report()["workers"])
    report = parent.report()
    assert report["workers"]["child"]["report"]["name"] == "child"
    assert report["workers"]["child"]["report"]["workers"]["leaf"]["state"] == "started"


def test_an_observer_may_ask_for_a_report(runners):
    reports = []

    class Reporting(RunnerObserver):
        def started(self, runner, id):
            reports.append(runner.report())

    runner = runners(none_fatal, observers=[Reporting()])
    runner.start_worker("w", lambda: SimpleWorker(lambda stop: stop.wait()))
    wait_for(lambda: reports, what="an observer's report")
    assert reports[0]["workers"]["w"]["state"] == "started"


def test_a_report_while_dying(runners):
    clock = ManualClock()
    runner = runners(stop_timeout=5, clock=clock)
    release = Event()
    runner.start_worker("deaf", lambda: SimpleWorker(lambda stop: release.wait()))
    gevent.sleep(0)
    runner.kill()
    clock.wait_for_timers(1)
    report = runner.report()
    assert report["state"] == "stopping"
    assert report["workers"]["deaf"]["state"] == "stopping"
    release.set()
    assert check_killed(runner, LONG_WAIT) is None


def test_runner_report_is_reexported():
    assert Runner.report.__doc__


# -- restarts, consecutive failures, when the restart is due --------------------------------


def test_report_counts_restarts_and_failures_in_a_row(runners, starters):
    clock = ManualClock()
    policy = RestartPolicy(backoff=Backoff(initial=2, factor=2, max_delay=60), reset_after=10)
    runner = runners(none_fatal, clock=clock)
    starter = starters(start_error=ValueError("down"))
    runner.start_worker("w", starter, policy)
    for failures, delay in ((1, 2), (2, 4), (3, 8)):
        starter.expect(False)
        clock.wait_for_timers(1)
        entry = runner.report()["workers"]["w"]
        assert entry["state"] == "waiting to restart"
        assert entry["failures"] == entry["consecutive-failures"] == failures
        assert entry["restarts"] == failures - 1 and entry["starts"] == 0
        assert entry["restart-in"] == delay
        clock.advance(delay / 4)
        assert runner.report()["workers"]["w"]["restart-in"] == delay * 3 / 4
        if failures == 3:
            starter.start_error = None
        clock.advance(delay * 3 / 4)
    starter.expect(True)
    wait_for(lambda: runner.report()["workers"]["w"]["state"] == "started")
    entry = runner.report()["workers"]["w"]
    assert (entry["starts"], entry["restarts"], entry["failures"]) == (1, 3, 3)
    assert entry["consecutive-failures"] == 3 and entry["restart-in"] is None
    assert entry["last-error"] == "ValueError('down')"
    clock.advance(10)  # a quiet run: the failures before no longer count
    entry = runner.report()["workers"]["w"]
    assert entry["consecutive-failures"] == 0 and entry["failures"] == 3
    json.dumps(runner.report())


def test_report_keys_of_a_worker(runners):
    runner = runners(none_fatal)
    runner.start_worker("w", lambda: SimpleWorker(lambda stop: stop.wait()))
    wait_for(lambda: runner.report()["workers"].get("w", {}).get("state") == "started")
    assert set(runner.report()["workers"]["w"]) == {
        "state",
        "starts",
        "failures",
        "restarts",
        "consecutive-failures",
        "last-error",
        "started-at",
        "restart-in",
    }


def test_a_failing_worker_report_does_not_break_the_runners(runners):
    @implementer(IWorker, IReporter)
    class Broken:
        def kill(self):
            self.stopped = True

        def wait(self):
            gevent.wait([self.done])

        def report(self):
            raise RuntimeError("no report today")

    broken = Broken()
    broken.done = Event()
    verifyObject(IReporter, broken)
    runner = runners(none_fatal)
    runner.start_worker("broken", lambda: broken)
    wait_for(lambda: runner.report()["workers"].get("broken", {}).get("state") == "started")
    entry = runner.report()["workers"]["broken"]
    assert entry["report"] == {"error": "report failed: RuntimeError('no report today')"}
    broken.done.set()


def test_three_nested_runners_report_as_a_tree_and_render_so(runners):
    clock = ManualClock()
    top, middle = runners(name="top"), runners(name="middle")
    bottom = runners(name="bottom", clock=clock, restart_delay=3)
    bottom.start_worker("leaf", lambda: SimpleWorker(lambda stop: stop.wait()))
    bottom.start_worker("flaky", lambda: SimpleWorker(fail_at_once), RestartPolicy())
    middle.start_worker("bottom", lambda: bottom)
    top.start_worker("middle", lambda: middle)
    wait_for(lambda: "middle" in top.report()["workers"])
    wait_for(lambda: "bottom" in middle.report()["workers"])
    wait_for(lambda: bottom.report()["workers"].get("flaky", {}).get("failures"))
    clock.wait_for_timers(1)
    report = top.report()
    nested = report["workers"]["middle"]["report"]
    assert nested["name"] == "middle"
    leaves = nested["workers"]["bottom"]["report"]["workers"]
    assert leaves["leaf"]["state"] == "started"
    assert leaves["flaky"]["state"] == "waiting to restart"
    assert leaves["flaky"]["restart-in"] == 3
    lines = render(report, "agent")
    assert lines[0] == "agent: started"
    assert lines[1].startswith("  middle: started, started 1x")
    assert lines[2].startswith("      bottom: started, started 1x")
    flaky = next(line for line in lines if "flaky" in line)
    assert flaky.startswith("          flaky: waiting to restart, started 1x")
    assert "failed 1x (1 in a row), last error ValueError('at once')" in flaky
    assert flaky.endswith(", restart in 3 s")


def test_render_says_how_often_a_worker_was_restarted():
    entry = {
        "state": "started",
        "starts": 3,
        "failures": 2,
        "restarts": 2,
        "consecutive-failures": 0,
        "last-error": "ValueError('x')",
        "started-at": "2026-01-01T00:00:00+00:00",
        "restart-in": None,
    }
    [_, line] = render({"state": "started", "workers": {"w": entry}})
    assert line == (
        "  w: started, started 3x, failed 2x, restarted 2x, last error ValueError('x'), "
        "since 2026-01-01T00:00:00+00:00"
    )


def fail_at_once(stop_event: Event) -> None:
    raise ValueError("at once")
