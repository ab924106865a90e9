"""The report socket of an agent, and ``agent-runtime report``."""

from __future__ import annotations

import os
import tempfile

import gevent
import pytest

from agent_runtime.agent import report as report_module
from agent_runtime.agent.report import ReportServer, fetch_report
from agent_runtime.cli.report import render
from agent_runtime.testing import check_killed, clean_kill, wait_for
from agent_runtime.worker import Runner, SimpleWorker


@pytest.fixture
def socket_path():
    directory = tempfile.mkdtemp(prefix="ar-report-")
    os.rmdir(directory)  # the server makes it, private
    return os.path.join(directory, "agent.report")


@pytest.fixture
def runner():
    runner = Runner(lambda e: False, lambda a, b: False, name="demo")
    runner.start_worker("sleeper", lambda: SimpleWorker(lambda stop: stop.wait()))
    wait_for(lambda: "sleeper" in runner.report()["workers"])
    yield runner
    clean_kill(runner)


def fetch(path):
    """fetch_report on a thread (it blocks: it is the operator command's side),
    its error raised here rather than printed by the thread's hub."""

    def attempt():
        try:
            return True, fetch_report(path)
        except Exception as error:
            return False, error

    ok, value = gevent.get_hub().threadpool.apply(attempt)
    if not ok:
        raise value
    return value


def test_the_report_socket_answers_with_the_workers_report(socket_path, runner):
    server = ReportServer(socket_path, runner)
    try:
        assert oct(os.stat(os.path.dirname(socket_path)).st_mode & 0o777) == "0o700"
        report = fetch(socket_path)
        assert report["name"] == "demo"
        assert report["workers"]["sleeper"]["state"] == "started"
        lines = render(report, "agent")
        assert lines[0] == "agent: started"
        assert lines[1].startswith("  sleeper: started, started 1x")
    finally:
        server.kill()
    assert check_killed(server) is None
    assert not os.path.exists(socket_path)


def test_another_user_gets_nothing(socket_path, runner, monkeypatch):
    monkeypatch.setattr(report_module, "peer_credentials", lambda sock: (1, 12345, 12345))
    server = ReportServer(socket_path, runner)
    try:
        with pytest.raises(OSError, match="without a report"):
            fetch(socket_path)
    finally:
        clean_kill(server)


def test_no_agent_no_report(socket_path):
    with pytest.raises(OSError):
        fetch_report(socket_path, timeout=1)
