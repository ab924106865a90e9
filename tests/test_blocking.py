"""Blocking detection: gevent's monitor thread, routed into logging with the
name of the worker whose greenlet blocked the event loop.

A blocking worker blocks the hub with the real ``time.sleep`` (gevent's
original, so it blocks in the patched flavour too) for three thresholds at a
time, over and over, until the test has seen the warning it waits for (with
a timeout): nothing depends on how fast this machine is. The monitor thread
is a real thread: every test checks that it has ended, and that gevent's
configuration and greenlet tracer are as they were.
"""

from __future__ import annotations

import itertools
import logging
import sys
import time
from pathlib import Path

import gevent
import gevent.event
import greenlet
import pytest
from cli_support import Running, cli_env, write_module
from gevent import config as gevent_config
from gevent.monkey import get_original

from agent_runtime.agent.blocking import DEFAULT_THRESHOLD, BlockingMonitor, blocking_worker
from agent_runtime.testing import LONG_WAIT, check_killed, wait_for
from agent_runtime.worker import Runner, SimpleWorker

real_sleep = get_original("time", "sleep")

#: Seconds: small, so that the tests are quick; blocks last three of them.
THRESHOLD = 0.05


def gevent_state():
    return (
        greenlet.gettrace(),
        gevent_config.max_blocking_time,
        gevent_config.print_blocking_reports,
        gevent_config.monitor_thread,
        gevent.get_hub().periodic_monitoring_thread,
    )


@pytest.fixture
def monitors():
    """Start BlockingMonitors; after the test each is stopped, the monitor
    thread it started has ended, and gevent is as it was."""
    before = gevent_state()
    assert before[-1] is None  # no monitor thread
    started: list[BlockingMonitor] = []
    threads: list[int] = []

    def start(threshold: float = THRESHOLD) -> BlockingMonitor:
        monitor = BlockingMonitor(threshold).start()
        started.append(monitor)
        if monitor.thread_ident is not None:
            threads.append(monitor.thread_ident)
        return monitor

    yield start
    for monitor in reversed(started):
        monitor.stop()
    assert gevent_state() == before
    assert not set(threads) & set(sys._current_frames())


@pytest.fixture
def warnings_(caplog):
    """The records of the ``agent_runtime.blocking`` logger (from any thread)."""
    caplog.set_level(logging.WARNING, logger="agent_runtime.blocking")

    def records():
        return [r for r in list(caplog.records) if r.name == "agent_runtime.blocking"]

    return records


def blocker(stop) -> None:
    """Block the hub for three thresholds at a time until asked to stop."""
    while not stop.is_set():
        real_sleep(3 * THRESHOLD)
        gevent.sleep(0.001)  # not sleep(0): that would run again before any timer fires


def wait_for_record(records, *texts: str):
    """The first record whose message holds every one of ``texts``, waiting for it."""
    found: list[logging.LogRecord] = []

    def seen() -> bool:
        found[:] = [r for r in records() if all(t in r.getMessage() for t in texts)]
        return bool(found)

    wait_for(seen, what=f"a blocking report holding {texts!r}; got {records()}")
    return found[0]


def test_a_worker_that_blocks_the_loop_is_named_in_a_warning(runners, monitors, warnings_):
    monitor = monitors()
    assert monitor.running
    runner = runners(name="agent")
    runner.start_worker("quiet", lambda: SimpleWorker(lambda stop: stop.wait()))
    runner.start_worker("sleepy", lambda: SimpleWorker(blocker))
    record = wait_for_record(warnings_, "worker 'sleepy' of runner 'agent'")
    assert record.levelno == logging.WARNING
    assert record.worker == "sleepy"
    assert record.blocked_seconds >= THRESHOLD
    assert record.getMessage().startswith("the event loop has been blocked for more than ")
    # Where it blocked (unless the block had ended when the report was made).
    wait_for_record(warnings_, "worker 'sleepy' of runner 'agent', at test_blocking.py:")
    end = wait_for_record(warnings_, "ran again after being blocked", "worker 'sleepy'")
    assert end.worker == "sleepy" and end.blocked_seconds >= THRESHOLD
    runner.stop_worker("sleepy")
    assert "quiet" not in {r.worker for r in warnings_()}


def test_the_innermost_worker_of_nested_runners_is_named_first(runners, monitors, warnings_):
    monitors()
    outer = runners(name="outer")
    inner_runners: list[Runner] = []

    def deep(stop):
        # The blocking greenlet is spawned by the worker's own greenlet.
        helper = gevent.spawn(blocker, stop)
        try:
            helper.join()
        finally:
            helper.kill()

    def start_inner():
        inner = Runner(lambda e: False, lambda a, b: False, name="inner")
        inner_runners.append(inner)
        inner.start_worker("leaf", lambda: SimpleWorker(deep))
        return inner

    outer.start_worker("nest", start_inner)
    record = wait_for_record(warnings_, "worker 'leaf' of runner 'inner'")
    assert "(under worker 'nest' of runner 'outer')" in record.getMessage()
    assert record.worker == "leaf"
    outer.kill()
    check_killed(outer)


def test_a_greenlet_outside_any_worker_is_reported_as_such(monitors, warnings_):
    monitors()
    stop = gevent.event.Event()
    lone = gevent.spawn(blocker, stop)
    try:
        record = wait_for_record(warnings_, "which belongs to no worker")
        assert record.worker is None
    finally:
        stop.set()
        lone.join()


def test_a_long_block_is_reported_when_its_time_doubles_not_every_period(monitors, warnings_):
    monitors()

    def one_long_block() -> bool:
        # Blocks until the monitor has logged a block of 8 thresholds (the
        # reports at 1, 2, 4 and 8 thresholds, not the 5 to 7 in between), or
        # until LONG_WAIT has passed: the loop is blocked, no gevent timeout
        # could fire.
        deadline = time.monotonic() + LONG_WAIT
        while time.monotonic() < deadline:
            if any(r.blocked_seconds >= 8 * THRESHOLD for r in warnings_()):
                return True
            real_sleep(THRESHOLD / 5)
        return False

    lone = gevent.spawn(one_long_block)
    lone.join()
    assert lone.value, f"no report of 8 thresholds within {LONG_WAIT} s: {warnings_()}"
    seconds = [
        r.blocked_seconds
        for r in warnings_()
        if "has been blocked" in r.getMessage() and "one_long_block" in r.getMessage()
    ]
    # The monitor made at least eight reports; the first says one threshold,
    # each one logged after it at least twice as much: four at most.
    assert seconds[0] == THRESHOLD and 2 <= len(seconds) <= 4, seconds
    for earlier, later in itertools.pairwise(seconds):
        assert later >= 2 * earlier, seconds
    end = wait_for_record(warnings_, "ran again after being blocked", "one_long_block")
    assert end.blocked_seconds >= seconds[-1]


def test_blocking_worker_walks_up_to_the_marked_greenlet(runners):
    runner = runners(name="r")
    seen: list = []

    def work(stop):
        seen.append(blocking_worker(gevent.spawn(lambda: None)))
        seen.append(blocking_worker(greenlet.getcurrent()))

    runner.start_worker("w", lambda: SimpleWorker(work))
    wait_for(lambda: len(seen) == 2)
    assert seen == [[("r", "w")], [("r", "w")]]
    assert blocking_worker(greenlet.getcurrent()) == []
    assert blocking_worker(None) == []


def test_a_monitor_thread_started_by_someone_else_is_left_running(monitors, warnings_):
    first = monitors()
    thread = gevent.get_hub().periodic_monitoring_thread
    second = BlockingMonitor(THRESHOLD).start()
    assert gevent.get_hub().periodic_monitoring_thread is thread
    second.stop()
    assert gevent.get_hub().periodic_monitoring_thread is thread
    assert thread.should_run  # not killed
    first.stop()  # the fixture checks that the thread has ended


@pytest.mark.parametrize("threshold", [0, -1, float("nan"), float("inf"), "0.1"])
def test_a_threshold_must_be_a_positive_number_of_seconds(threshold):
    with pytest.raises(ValueError, match="threshold"):
        BlockingMonitor(threshold)


def test_start_twice_is_refused_and_stop_twice_is_harmless(monitors):
    monitor = monitors()
    with pytest.raises(RuntimeError, match="already running"):
        monitor.start()
    monitor.stop()
    monitor.stop()
    assert not monitor.running


def test_the_monitor_is_a_context_manager(monitors):
    with BlockingMonitor(THRESHOLD) as monitor:
        assert monitor.running
        assert gevent_config.max_blocking_time == THRESHOLD
        assert not gevent_config.print_blocking_reports  # our logging replaces gevent's printout
        thread = monitor.thread_ident
        assert thread is not None
    assert thread not in sys._current_frames()
    assert monitor.thread_ident is None


# -- the command line -----------------------------------------------------------------------


def parse(*argv: str):
    from agent_runtime.cli import build_parser

    return build_parser().parse_args(list(argv))


def test_blocking_detection_is_on_by_default_with_gevents_threshold():
    from agent_runtime.cli import observability

    assert (
        observability.DEFAULT_THRESHOLD
        == DEFAULT_THRESHOLD
        == gevent_config.settings["max_blocking_time"].default
    )
    for command in (["run", "m:f"], ["unit", "u/0", "--charm", "c"]):
        assert parse(*command).block_threshold == DEFAULT_THRESHOLD
        assert parse(*command, "--block-threshold", "0.5").block_threshold == 0.5
        assert parse(*command, "--block-threshold", "0").block_threshold == 0


@pytest.mark.parametrize("value", ["-0.1", "soon", "inf"])
def test_a_bad_block_threshold_is_a_usage_error(value, capsys):
    with pytest.raises(SystemExit) as exit:
        parse("run", "m:f", "--block-threshold", value)
    assert exit.value.code == 2
    assert "--block-threshold" in capsys.readouterr().err


def test_threshold_0_turns_detection_off(warnings_):
    from agent_runtime.cli.observability import blocking_detection

    with blocking_detection(parse("run", "m:f", "--block-threshold", "0")):
        assert gevent.get_hub().periodic_monitoring_thread is None
        real_sleep(3 * THRESHOLD)  # would be reported if detection were on
        gevent.sleep(0)
    assert warnings_() == []


def test_blocking_detection_runs_for_the_block_only():
    from agent_runtime.cli.observability import blocking_detection

    before = gevent_state()
    with blocking_detection(parse("run", "m:f", "--block-threshold", str(THRESHOLD))):
        thread = gevent.get_hub().periodic_monitoring_thread
        assert thread is not None
        assert gevent_config.max_blocking_time == THRESHOLD
    assert gevent_state() == before
    assert thread.monitor_thread_ident not in sys._current_frames()


AGENTS = """
    import logging

    import gevent
    from gevent.event import Event
    from gevent.monkey import get_original

    from agent_runtime import TerminateAgent
    from agent_runtime.worker import Runner, SimpleWorker

    real_sleep = get_original("time", "sleep")


    class Seen(logging.Handler):
        def __init__(self):
            super().__init__()
            self.seen = False

        def emit(self, record):
            self.seen = True


    def build():
        seen = Seen()
        logging.getLogger("agent_runtime.blocking").addHandler(seen)

        def block(stop):
            # Block until the warning is out (at most a minute), then end the agent.
            for _ in range(400):
                if seen.seen:
                    raise TerminateAgent("seen")
                real_sleep(0.15)
                gevent.sleep(0.01)
            raise RuntimeError("no blocking report")

        runner = Runner(lambda error: True, lambda e0, e1: False, name="blocky")
        runner.start_worker("blocker", lambda: SimpleWorker(block))
        return runner
"""


@pytest.mark.parametrize("patching", [[], ["--no-patch"]], ids=["patched", "no-patch"])
def test_run_reports_a_blocking_worker_by_default(tmp_path: Path, patching):
    directory = tmp_path / "agents"
    directory.mkdir()
    write_module(directory, "agents", AGENTS)
    agent = Running(
        ["run", "agents:build", "--block-threshold", "0.05", "--log-format", "json", *patching],
        cli_env(tmp_path / "home"),
        directory,
    )
    try:
        assert agent.finish() == 0, agent.log
    finally:
        agent.close()
    import json

    entries = [json.loads(line) for line in agent.lines if line]
    blocked = [e for e in entries if e["logger"] == "agent_runtime.blocking"]
    assert blocked, agent.log
    assert blocked[0]["level"] == "WARNING"
    assert blocked[0]["worker"] == "blocker"
    assert "worker 'blocker' of runner 'blocky'" in blocked[0]["message"]
