"""``agent-runtime run MODULE:FACTORY``, run for real as a subprocess.

The agents are small modules written into the test's tmp_path. A test waits
for the agent's own "started" log line (read from stderr with a deadline)
before it signals it; nothing is timed, and every process is killed by the
end of its test. The grace periods themselves, on a manual clock, are
tested in-process in tests/test_serve.py.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest
from cli_support import DEADLINE, Cli, Running, cli_env, write_module
from gevent import subprocess  # gevent.subprocess reaps every child: see test_environ_processes

AGENTS = """
    import logging

    import gevent

    from agent_runtime import TerminateAgent
    from agent_runtime.worker import Runner, SimpleWorker

    log = logging.getLogger("testagent")


    def runner(do_work):
        # Every error is fatal: the agent stops with it (no restarts to wait for).
        runner = Runner(lambda error: True, lambda e0, e1: False, restart_delay=0)
        runner.start_worker("main", lambda: SimpleWorker(do_work))
        return runner


    def terminate():
        def work(stop):
            log.info("worker started")
            raise TerminateAgent("the job is done")

        return runner(work)


    def fatal():
        def work(stop):
            log.info("worker started")
            raise RuntimeError("the disk is on fire")

        return runner(work)


    def clean():
        def work(stop):
            log.info("worker started")
            stop.wait()  # nothing else: no timer keeps the event loop busy
            log.info("worker stopping cleanly")

        return runner(work)


    def ignores_kill():
        # Never looks at its stop event, but can be killed outright.
        def work(stop):
            log.info("worker started")
            while True:
                gevent.sleep(0.05)

        return runner(work)


    def _unkillable(stop):
        log.info("worker started")
        while True:
            try:
                gevent.sleep(0.05)
            except BaseException as error:
                log.info("worker ignores %s", type(error).__name__)


    def unkillable():
        return runner(_unkillable)


    def stopped_while_starting():
        # SIGTERM to itself while the agent starts, before serve() runs: the
        # stop is remembered, not the default action that ends the process.
        import os
        import signal

        os.kill(os.getpid(), signal.SIGTERM)
        gevent.sleep(0.01)  # the event loop sees the signal
        return clean()


    def not_a_worker():
        return {"not": "a worker"}


    def factory_fails():
        raise ValueError("no configuration found")


    NOT_CALLABLE = 42
"""


@pytest.fixture
def agents(tmp_path: Path) -> Path:
    """A directory holding the module ``agents`` (the test agents)."""
    directory = tmp_path / "agents"
    directory.mkdir()
    write_module(directory, "agents", AGENTS)
    return directory


@pytest.fixture
def start(tmp_path: Path, agents: Path):
    """Start ``agent-runtime run ARGS`` in the agents' directory; each is
    killed (if it still runs) after the test."""
    started: list[Running] = []

    def start_(*args: str, cwd: Path = agents, **env: str) -> Running:
        running = Running(["run", *args], cli_env(tmp_path / "home", **env), cwd)
        started.append(running)
        return running

    try:
        yield start_
    finally:
        for running in started:
            running.close()


@pytest.fixture
def cli(tmp_path: Path, agents: Path) -> Cli:
    return Cli(tmp_path / "home", agents)


def test_terminate_agent_exits_0_and_says_so(start):
    agent = start("agents:terminate")
    assert agent.finish() == 0, agent.log
    agent.read_until("worker started")
    line = agent.read_until("terminated")
    assert "the job is done" in agent.lines[line], agent.log
    assert "Traceback" not in agent.log
    assert agent.stdout == ""


def test_a_fatal_error_exits_1_with_the_error_on_stderr(start):
    agent = start("agents:fatal")
    assert agent.finish() == 1, agent.log
    line = agent.read_until("fatal error")
    assert "RuntimeError: the disk is on fire" in agent.lines[line], agent.log
    assert agent.stdout == ""


def test_a_signal_while_the_agent_starts_stops_it_once_started(start):
    agent = start("agents:stopped_while_starting", "--stop-timeout", "600")
    assert agent.finish() == 0, agent.log
    agent.read_until("SIGTERM: stopping agents:stopped_while_starting")
    assert "agents:stopped_while_starting stopped" in agent.lines[-1], agent.log
    assert "Traceback" not in agent.log


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_a_clean_agent_gracefully(start, signum):
    # A long grace period: the agent must stop because its worker did, not
    # because the grace period ran out.
    agent = start("agents:clean", "--stop-timeout", "600")
    agent.read_until("worker started")
    agent.signal(signum)
    assert agent.finish() == 0, agent.log
    stopping = agent.read_until(f"{signum.name}: stopping agents:clean")
    assert "grace period 600 s" in agent.lines[stopping]
    assert agent.read_until("worker stopping cleanly") > stopping
    assert "agents:clean stopped" in agent.lines[-1], agent.log
    assert "did not stop in time" not in agent.log
    assert "Traceback" not in agent.log


def test_an_agent_that_ignores_kill_is_aborted_after_the_stop_timeout(start):
    agent = start("agents:ignores_kill", "--stop-timeout", "0.5")
    agent.read_until("worker started")
    agent.signal(signal.SIGTERM)
    # serve(): the Runner is aborted, its worker killed outright; the Runner
    # then ends cleanly, so the exit code is 0, with the abort logged.
    assert agent.finish() == 0, agent.log
    stopping = agent.read_until("SIGTERM: stopping agents:ignores_kill (grace period 0.5 s)")
    assert agent.read_until("did not stop in time") > stopping
    assert "Traceback" not in agent.log


def test_a_runner_whose_worker_cannot_be_killed_exits_1(start):
    agent = start("agents:unkillable", "--stop-timeout", "0.5")
    agent.read_until("worker started")
    agent.signal(signal.SIGTERM)
    assert agent.finish() == 1, agent.log
    aborting = agent.read_until("did not stop in time")
    # The Runner abandons the worker and stops with Unstopped, a fatal error
    # (or, should serve() stop waiting for the Runner first, it gives up on it).
    ends = [i for i, line in enumerate(agent.lines) if "Unstopped" in line or "giving up" in line]
    assert ends and ends[-1] > aborting, agent.log


def test_a_second_signal_stops_at_once(start):
    # A grace period far longer than the test's deadline: only the second
    # signal can make the agent exit in time.
    agent = start("agents:ignores_kill", "--stop-timeout", "3600")
    agent.read_until("worker started")
    agent.signal(signal.SIGTERM)
    agent.read_until("SIGTERM: stopping agents:ignores_kill (grace period 3600 s)")
    agent.signal(signal.SIGTERM)
    assert agent.finish() == 0, agent.log
    again = agent.read_until("SIGTERM again: stopping agents:ignores_kill now")
    assert agent.read_until("did not stop in time") > again


def test_a_second_sigint_stops_at_once(start):
    agent = start("agents:ignores_kill", "--stop-timeout", "3600")
    agent.read_until("worker started")
    agent.signal(signal.SIGINT)
    agent.read_until("SIGINT: stopping")
    agent.signal(signal.SIGINT)
    assert agent.finish() == 0, agent.log
    agent.read_until("SIGINT again: stopping agents:ignores_kill now")


PATCH_CHECK = """
    import logging
    import time

    import gevent
    from gevent import monkey

    from agent_runtime import TerminateAgent
    from agent_runtime.worker import Runner, SimpleWorker

    EXPECT_PATCHED = {expect}

    # At import: the command has (or has not) patched already.
    for module in ("socket", "time", "threading", "select"):
        assert monkey.is_module_patched(module) is EXPECT_PATCHED, module

    # time.sleep lets other greenlets run exactly when it is patched.
    ran = []
    greenlet = gevent.spawn(ran.append, "ran")
    time.sleep(0.001)
    assert bool(ran) is EXPECT_PATCHED, ran
    greenlet.kill()


    def build():
        def work(stop):
            logging.getLogger("testagent").info("worker started")
            raise TerminateAgent(f"patched={{monkey.is_module_patched('socket')}}")

        runner = Runner(lambda error: True, lambda e0, e1: False)
        runner.start_worker("main", lambda: SimpleWorker(work))
        return runner
"""


def test_run_monkey_patches_before_importing_the_module(start, agents):
    write_module(agents, "patchcheck", PATCH_CHECK.format(expect=True))
    agent = start("patchcheck:build")
    assert agent.finish() == 0, agent.log
    agent.read_until("terminated: patched=True")


def test_no_patch_leaves_the_modules_alone(start, agents):
    write_module(agents, "patchcheck", PATCH_CHECK.format(expect=False))
    agent = start("patchcheck:build", "--no-patch")
    assert agent.finish() == 0, agent.log
    agent.read_until("terminated: patched=False")


def test_the_module_is_found_on_pythonpath(start, agents, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    agent = start("agents:terminate", cwd=elsewhere, PYTHONPATH=str(agents))
    assert agent.finish() == 0, agent.log
    agent.read_until("terminated")


def test_the_console_script_finds_modules_in_the_current_directory(agents, tmp_path):
    # The console script's sys.path[0] is its bin directory, not the current
    # one: `run` adds the current directory, as `python -m` would.
    script = Path(sys.executable).with_name("agent-runtime")
    assert script.exists(), f"no {script}: reinstall the package (pip install -e .)"
    process = subprocess.Popen(
        [str(script), "run", "agents:terminate"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(tmp_path / "home"),
        cwd=agents,
    )
    try:
        _, stderr = process.communicate(timeout=DEADLINE)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=DEADLINE)
    assert process.returncode == 0, stderr.decode()
    assert "terminated: the job is done" in stderr.decode()


@pytest.mark.parametrize(
    ("target", "code", "message"),
    [
        ("nocolon", 2, "expected MODULE:FACTORY, got 'nocolon'"),
        (":build", 2, "expected MODULE:FACTORY"),
        ("agents:", 2, "expected MODULE:FACTORY"),
        ("missing_module:f", 2, "cannot import 'missing_module'"),
        ("agents:missing_attr", 2, "'agents' has no attribute 'missing_attr'"),
        ("agents:NOT_CALLABLE", 2, "'agents:NOT_CALLABLE' is not callable"),
        ("agents:not_a_worker", 1, "does not provide IWorker"),
    ],
)
def test_bad_targets_are_refused_clearly(cli, target, code, message):
    result = cli.fails("run", target, code=code)
    assert message in result.stderr, str(result)


def test_a_factory_that_raises_exits_1_with_its_error(cli):
    result = cli("run", "agents:factory_fails")
    assert result.returncode == 1, str(result)
    assert "ValueError: no configuration found" in result.stderr, str(result)


@pytest.mark.parametrize(
    "options",
    [
        ["--stop-timeout", "-1"],
        ["--stop-timeout", "soon"],
        ["--stop-timeout", "inf"],
        ["--log-format", "xml"],
        ["--log-level", "loud"],
        ["--no-pa"],  # no abbreviations: main() looks for --no-patch spelled out
    ],
)
def test_bad_options_are_usage_errors(cli, options):
    result = cli("run", "agents:terminate", *options)
    assert result.returncode == 2, str(result)
    assert "error:" in result.stderr and "Traceback" not in result.stderr, str(result)


def test_log_format_json_prints_one_object_per_line(start):
    agent = start("agents:fatal", "--log-format", "json", "--log-level", "debug")
    assert agent.finish() == 1, agent.log
    entries = [json.loads(line) for line in agent.lines if line]
    assert len(entries) == len([line for line in agent.lines if line])
    for entry in entries:
        assert isinstance(entry, dict)
        assert {"time", "level", "logger", "message"} <= set(entry), entry
    assert {"logger": "testagent", "level": "INFO", "message": "worker started"}.items() <= (
        next(e for e in entries if e["logger"] == "testagent").items()
    )
    fatal = [e for e in entries if "fatal error" in e["message"]]
    assert fatal and fatal[-1]["level"] == "ERROR", entries
    assert "RuntimeError: the disk is on fire" in fatal[-1]["message"]


def test_log_format_text_is_one_line_per_event(start):
    agent = start("agents:terminate")
    assert agent.finish() == 0, agent.log
    line = agent.lines[agent.read_until("worker started")]
    assert " INFO " in line and "testagent: worker started" in line, line


def test_report_socket_serves_the_running_agents_report(start, cli, tmp_path):
    import json
    import tempfile

    directory = tempfile.mkdtemp(prefix="ar-run-report-")
    os.rmdir(directory)  # the agent makes it, private
    socket_path = os.path.join(directory, "agent.report")
    agent = start("agents:clean", "--report-socket", socket_path)
    agent.read_until("worker started")
    report = json.loads(cli.ok("report", "--socket", socket_path, "--format", "json").stdout)
    assert report["state"] == "started"
    assert list(report["workers"]) == ["main"]
    text = cli.ok("report", "--socket", socket_path).stdout
    assert text.startswith("agent: started")
    agent.signal(signal.SIGTERM)
    assert agent.finish() == 0, agent.log
    assert not os.path.exists(socket_path)
