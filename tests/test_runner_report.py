"""Runner.report(): what an operator sees of a running runner."""

from __future__ import annotations

import json

import gevent
import pytest
from gevent.event import Event

from agent_runtime import stop
from agent_runtime.testing import ManualClock, check_killed, wait_for
from agent_runtime.worker import Runner, RunnerObserver, SimpleWorker

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
