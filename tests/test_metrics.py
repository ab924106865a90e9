"""Prometheus metrics: the Runner observer, the hook observer, the HTTP
exporter, and ``--metrics-port`` of ``agent-runtime run`` and ``unit``.

Metrics are read the way Prometheus reads them: over HTTP from the exporter
(a gevent socket, so that the scrape is cooperative in both flavours), parsed
with prometheus_client's own parser, and every value and label is asserted
exactly. Each test has its own registry; none touches the global one.
"""

from __future__ import annotations

import re
import signal
import sys
from pathlib import Path

import gevent
import gevent.event
import pytest
from cli_support import DEADLINE, Running, cli_env, write_module
from gevent import GreenletExit, socket
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from agent_runtime.agent.metrics import (
    HOOK_BUCKETS,
    HookMetrics,
    MetricsUnavailable,
    RunnerMetrics,
    agent_registry,
    serve_metrics,
)
from agent_runtime.interfaces import IHookObserver
from agent_runtime.state.charm import read_charm_dir
from agent_runtime.testing import LONG_WAIT, ManualClock, check_killed, wait_for
from agent_runtime.uniter.hookobserver import observed
from agent_runtime.uniter.runhook import HookFailed
from agent_runtime.worker import Runner, SimpleWorker

from charm_factory import make_charm
from e2e_support import Deployment

# -- reading metrics over HTTP -------------------------------------------------------


def http_get(host: str, port: int, path: str = "/metrics", method: str = "GET") -> tuple[int, str]:
    """One HTTP/1.0 request over a gevent socket; (status code, body)."""
    with gevent.Timeout(LONG_WAIT), socket.create_connection((host, port)) as connection:
        connection.sendall(f"{method} {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()


def parse(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample: (name, its labels as a frozenset of pairs) -> value."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(server) -> dict[tuple[str, frozenset], float]:
    status, body = http_get(server.host, server.port)
    assert status == 200, body
    return parse(body)


def only(samples: dict, prefix: str, suffix: str = "") -> dict[tuple[str, frozenset], float]:
    return {
        key: value
        for key, value in samples.items()
        if key[0].startswith(prefix) and key[0].endswith(suffix)
    }


def key(name: str, **labels: str) -> tuple[str, frozenset]:
    return name, frozenset(labels.items())


def worker_counts(
    runner: str, worker: str, starts=0, restarts=0, failures=0, gave_up=0, fatal=0
) -> dict:
    return {
        key("agent_runtime_worker_starts_total", runner=runner, worker=worker): starts,
        key("agent_runtime_worker_restarts_total", runner=runner, worker=worker): restarts,
        key("agent_runtime_worker_failures_total", runner=runner, worker=worker): failures,
        key("agent_runtime_worker_gave_up_total", runner=runner, worker=worker): gave_up,
        key("agent_runtime_worker_fatal_errors_total", runner=runner, worker=worker): fatal,
    }


def worker_states(runner: str, **states: int) -> dict:
    counts = {"starting": 0, "started": 0, "stopping": 0, "waiting to restart": 0}
    counts.update({name.replace("_", " "): n for name, n in states.items()})
    return {
        key("agent_runtime_workers", runner=runner, state=state): n for state, n in counts.items()
    }


@pytest.fixture
def registry():
    return CollectorRegistry()


@pytest.fixture
def server(registry):
    server = serve_metrics(0, registry=registry)
    yield server
    server.kill()
    assert check_killed(server) is None


class Fatal(Exception):
    pass


def report_states(runner: Runner) -> dict[str, str]:
    return {id: entry["state"] for id, entry in runner.report()["workers"].items()}


# -- RunnerMetrics --------------------------------------------------------------------


def test_a_runner_is_counted_through_start_failure_restart_and_fatal_error(
    runners, registry, server
):
    clock = ManualClock()
    runner = runners(
        is_fatal=lambda error: isinstance(error, Fatal), restart_delay=30, clock=clock, name="agent"
    )
    RunnerMetrics(registry).observe(runner)
    attempts = []

    def flaky(stop):
        attempts.append(None)
        if len(attempts) == 1:
            raise ValueError("the first try fails")
        stop.wait()

    runner.start_worker("steady", lambda: SimpleWorker(lambda stop: stop.wait()))
    runner.start_worker("flaky", lambda: SimpleWorker(flaky))
    wait_for(lambda: report_states(runner) == {"steady": "started", "flaky": "waiting to restart"})
    samples = scrape(server)
    assert only(samples, "agent_runtime_worker_", "_total") == {
        **worker_counts("agent", "steady", starts=1),
        **worker_counts("agent", "flaky", starts=1, restarts=1, failures=1),
    }
    assert only(samples, "agent_runtime_workers") == worker_states(
        "agent", started=1, waiting_to_restart=1
    )

    clock.advance(30)
    wait_for(lambda: report_states(runner) == {"steady": "started", "flaky": "started"})
    samples = scrape(server)
    assert only(samples, "agent_runtime_worker_", "_total") == {
        **worker_counts("agent", "steady", starts=1),
        **worker_counts("agent", "flaky", starts=2, restarts=1, failures=1),
    }
    assert only(samples, "agent_runtime_workers") == worker_states("agent", started=2)

    def doomed(stop):
        raise Fatal("the disk is on fire")

    runner.start_worker("doomed", lambda: SimpleWorker(doomed))
    assert isinstance(check_killed(runner), Fatal)
    samples = scrape(server)
    assert only(samples, "agent_runtime_worker_", "_total") == {
        **worker_counts("agent", "steady", starts=1),
        **worker_counts("agent", "flaky", starts=2, restarts=1, failures=1),
        **worker_counts("agent", "doomed", starts=1, failures=1, fatal=1),
    }
    # A dead runner has no workers left.
    assert only(samples, "agent_runtime_workers") == worker_states("agent")


def test_a_start_function_that_raises_is_a_failure_without_a_start(runners, registry):
    runner = runners(restart_delay=60, clock=ManualClock())
    metrics = RunnerMetrics(registry)
    metrics.observe(runner, label="mine")
    metrics.observe(runner, label="again")  # changes nothing: counted once, as "mine"

    def start():
        raise OSError("no such device")

    runner.start_worker("broken", start)
    wait_for(lambda: report_states(runner) == {"broken": "waiting to restart"})
    value = registry.get_sample_value
    labels = {"runner": "mine", "worker": "broken"}
    assert value("agent_runtime_worker_failures_total", labels) == 1
    assert value("agent_runtime_worker_restarts_total", labels) == 1
    assert value("agent_runtime_worker_starts_total", labels) is None  # never started


def test_a_worker_its_policy_gives_up_on_is_counted(runners, registry, server):
    from agent_runtime.worker.policy import RestartPolicy

    runner = runners(name="agent")
    RunnerMetrics(registry).observe(runner)

    def once(stop):
        raise ValueError("not worth a restart")

    policy = RestartPolicy(should_restart=lambda error: not isinstance(error, ValueError))
    runner.start_worker("once", lambda: SimpleWorker(once), policy)
    wait_for(lambda: report_states(runner) == {})
    samples = scrape(server)
    assert only(samples, "agent_runtime_worker_", "_total") == worker_counts(
        "agent", "once", starts=1, failures=1, gave_up=1
    )


def test_nested_runners_are_labelled_by_name_or_by_their_place(runners, registry, server):
    outer = runners(name="outer")
    RunnerMetrics(registry).observe(outer)
    made: list[Runner] = []

    def nested(name):
        def start():
            inner = Runner(lambda e: False, lambda a, b: False, name=name)
            made.append(inner)
            inner.start_worker("leaf", lambda: SimpleWorker(lambda stop: stop.wait()))
            return inner

        return start

    outer.start_worker("anonymous", nested(None))
    outer.start_worker("named", nested("named-inner"))
    outer.start_worker("plain", lambda: SimpleWorker(lambda stop: stop.wait()))

    def leaves_started():
        return len(made) == 2 and all(report_states(r) == {"leaf": "started"} for r in made)

    wait_for(leaves_started)
    samples = scrape(server)
    assert only(samples, "agent_runtime_workers") == {
        **worker_states("outer", started=3),
        **worker_states("outer/anonymous", started=1),
        **worker_states("named-inner", started=1),
    }
    # Counters come from the runners observed: the outer one only.
    assert {labels for name, labels in only(samples, "agent_runtime_worker_starts_total")} == {
        frozenset({"runner": "outer", "worker": id}.items())
        for id in ("anonymous", "named", "plain")
    }


def test_a_reporter_that_fails_is_left_out_of_the_scrape(registry, server, caplog):
    from zope.interface import implementer

    from agent_runtime.interfaces import IReporter

    @implementer(IReporter)
    class Broken:
        def report(self):
            raise RuntimeError("cannot say")

    RunnerMetrics(registry).observe(Broken(), label="broken")
    samples = scrape(server)
    assert only(samples, "agent_runtime_workers") == {}
    assert "failed to report" in caplog.text


def test_a_reporter_that_hangs_is_left_out_after_the_timeout(registry, monkeypatch, caplog):
    from zope.interface import implementer

    from agent_runtime.agent import metrics
    from agent_runtime.interfaces import IReporter

    monkeypatch.setattr(metrics, "REPORT_TIMEOUT", 0.01)
    never = gevent.event.Event()

    @implementer(IReporter)
    class Hangs:
        def report(self):
            never.wait()

    RunnerMetrics(registry).observe(Hangs(), label="hangs")
    assert only(parse(_exposition(registry)), "agent_runtime_workers") == {}
    assert "did not report within 0.01 s" in caplog.text


def test_observing_something_that_is_no_runner_is_refused(registry):
    with pytest.raises(TypeError, match="neither a Runner nor an IReporter"):
        RunnerMetrics(registry).observe(SimpleWorker(lambda stop: None))


# -- hooks ------------------------------------------------------------------------------


def test_hook_runs_are_counted_by_kind_and_result_with_their_durations(registry, server):
    hooks = HookMetrics(registry)
    hooks.hook_ran("app/0", "install", 0.2, None)
    hooks.hook_ran("app/0", "config-changed", 3.0, None)
    hooks.hook_ran("app/0", "config-changed", 40.0, HookFailed("config-changed", "failed"))
    hooks.hook_ran("app/0", "stop", 0.05, GreenletExit())
    samples = scrape(server)
    assert only(samples, "agent_runtime_hook_runs_total") == {
        key("agent_runtime_hook_runs_total", unit="app/0", hook="install", result="ok"): 1,
        key("agent_runtime_hook_runs_total", unit="app/0", hook="config-changed", result="ok"): 1,
        key(
            "agent_runtime_hook_runs_total", unit="app/0", hook="config-changed", result="failed"
        ): 1,
        key("agent_runtime_hook_runs_total", unit="app/0", hook="stop", result="interrupted"): 1,
    }
    name = "agent_runtime_hook_duration_seconds"
    assert only(samples, name, "_count") == {
        key(f"{name}_count", unit="app/0", hook="install"): 1,
        key(f"{name}_count", unit="app/0", hook="config-changed"): 2,
        key(f"{name}_count", unit="app/0", hook="stop"): 1,
    }
    assert samples[key(f"{name}_sum", unit="app/0", hook="config-changed")] == 43.0
    buckets = {
        le: samples[key(f"{name}_bucket", unit="app/0", hook="config-changed", le=le)]
        for le in [str(float(b)) for b in HOOK_BUCKETS] + ["+Inf"]
    }
    assert buckets == {
        le: (0 if float(le) < 3 else 1 if float(le) < 40 else 2) for le in buckets
    }, buckets


class Recorder:
    """A fake IHookObserver that keeps what it is told."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple] = []
        self.fail = fail

    def hook_ran(self, unit, kind, seconds, error):
        self.calls.append((unit, kind, seconds, error))
        if self.fail:
            raise RuntimeError("observer bug")


def test_observed_reports_a_hook_that_ran_and_one_that_raised():
    from zope.interface import alsoProvides
    from zope.interface.verify import verifyObject

    recorder = Recorder()
    alsoProvides(recorder, IHookObserver)
    verifyObject(IHookObserver, recorder)
    with observed(recorder, "app/0", "install"):
        pass
    error = HookFailed("start", "failed: exited with code 1", 1)
    with pytest.raises(HookFailed) as raised, observed(recorder, "app/0", "start"):
        raise error
    assert raised.value is error
    assert [(unit, kind, err) for unit, kind, _, err in recorder.calls] == [
        ("app/0", "install", None),
        ("app/0", "start", error),
    ]
    assert all(seconds >= 0 for _, _, seconds, _ in recorder.calls)


def test_observed_skips_a_hook_that_did_not_run_and_survives_a_broken_observer(caplog):
    recorder = Recorder()
    with observed(recorder, "app/0", "upgrade-charm") as hook:
        hook.ran = False
    assert recorder.calls == []
    broken = Recorder(fail=True)
    with observed(broken, "app/0", "install"):
        pass
    assert len(broken.calls) == 1
    assert "hook observer" in caplog.text and "observer bug" in caplog.text
    with observed(None, "app/0", "install") as hook:  # no observer: nothing to do
        hook.ran = True


def test_the_unit_agent_reports_each_hook_it_runs(world, registry):
    hooks = HookMetrics(registry)
    unit = world.state.add_unit("app")
    world.start(unit, hook_observer=hooks)

    def runs(hook: str, result: str = "ok"):
        labels = {"unit": unit, "hook": hook, "result": result}
        return registry.get_sample_value("agent_runtime_hook_runs_total", labels)

    wait_for(lambda: runs("start") == 1, what="the start hook to be counted")
    assert (runs("install"), runs("config-changed")) == (1, 1)
    count = "agent_runtime_hook_duration_seconds_count"
    for hook in ("install", "config-changed", "start"):
        assert registry.get_sample_value(count, {"unit": unit, "hook": hook}) == 1


def test_a_failing_hook_is_counted_as_failed(world, registry, tmp_path):
    charm = make_charm(tmp_path, "bad", hooks={"install": "exit 3"})
    world.state.add_service("bad", read_charm_dir(charm))
    unit = world.state.add_unit("bad")
    world.start(unit, charm=charm, hook_observer=HookMetrics(registry))
    labels = {"unit": unit, "hook": "install", "result": "failed"}
    wait_for(lambda: registry.get_sample_value("agent_runtime_hook_runs_total", labels) == 1)
    wait_for(lambda: world.state.unit(unit).status.get("status") == "error")
    labels["result"] = "ok"
    assert registry.get_sample_value("agent_runtime_hook_runs_total", labels) is None


# -- the exporter -------------------------------------------------------------------------


def test_the_server_answers_get_only_and_stops_listening_when_killed(registry):
    server = serve_metrics(0, registry=registry)
    assert server.url == f"http://127.0.0.1:{server.port}/metrics"
    status, body = http_get(server.host, server.port, method="POST")
    assert status == 405, body
    server.kill()
    assert check_killed(server) is None
    with pytest.raises(OSError), gevent.Timeout(LONG_WAIT):
        socket.create_connection((server.host, server.port)).close()


def test_a_port_in_use_is_refused_when_the_server_is_made(registry):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        with pytest.raises(OSError):
            serve_metrics(taken.getsockname()[1], registry=registry)
    finally:
        taken.close()


def test_a_server_aborted_before_it_ran_closes_its_socket(registry):
    server = serve_metrics(0, registry=registry)
    server.abort()
    check_killed(server)
    rebound = serve_metrics(server.port, registry=registry)  # the port is free again
    rebound.kill()
    assert check_killed(rebound) is None


def test_the_agent_registry_has_the_process_metrics():
    samples = parse(_exposition(agent_registry()))
    names = {name for name, _ in samples}
    assert "python_info" in names
    assert "process_resident_memory_bytes" in names  # Linux


def _exposition(registry) -> str:
    from prometheus_client import generate_latest

    return generate_latest(registry).decode()


# -- without prometheus-client ------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: RunnerMetrics(CollectorRegistry()),
        lambda: HookMetrics(CollectorRegistry()),
        agent_registry,
        lambda: serve_metrics(0, registry=CollectorRegistry()),
    ],
    ids=["RunnerMetrics", "HookMetrics", "agent_registry", "serve_metrics"],
)
def test_without_prometheus_client_the_error_says_what_to_install(monkeypatch, make):
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # import fails
    with pytest.raises(MetricsUnavailable, match=re.escape("pip install 'agent_runtime[metrics]'")):
        make()


# -- the command line ----------------------------------------------------------------------

AGENTS = """
    from agent_runtime.worker import Runner, SimpleWorker


    def build():
        runner = Runner(lambda error: True, lambda e0, e1: False)
        runner.start_worker("main", lambda: SimpleWorker(lambda stop: stop.wait()))
        return runner
"""
SERVING = re.compile(r"serving metrics on http://127\.0\.0\.1:(\d+)/metrics")


@pytest.fixture
def start(tmp_path: Path, request):
    """Start ``agent-runtime run ARGS`` among the agents of ``AGENTS``; each is
    killed (if it still runs) after the test."""
    directory = tmp_path / "agents"
    directory.mkdir()
    write_module(directory, "agents", AGENTS)

    def start_(*args: str, **env: str) -> Running:
        running = Running(["run", *args], cli_env(tmp_path / "home", **env), directory)
        request.addfinalizer(running.close)
        return running

    return start_


def test_parse_metrics_options():
    from agent_runtime.cli import build_parser

    parser = build_parser()
    for command in (["run", "m:f"], ["unit", "u/0", "--charm", "c"]):
        args = parser.parse_args(command)
        assert (args.metrics_port, args.metrics_host) == (None, "127.0.0.1")
        args = parser.parse_args([*command, "--metrics-port", "9100", "--metrics-host", "::"])
        assert (args.metrics_port, args.metrics_host) == (9100, "::")


@pytest.mark.parametrize("port", ["-1", "65536", "http"])
def test_a_bad_metrics_port_is_a_usage_error(port, capsys):
    from agent_runtime.cli import build_parser

    with pytest.raises(SystemExit) as exit:
        build_parser().parse_args(["run", "m:f", "--metrics-port", port])
    assert exit.value.code == 2
    assert "--metrics-port" in capsys.readouterr().err


def test_run_serves_the_agents_metrics_until_it_stops(start):
    agent = start("agents:build", "--metrics-port", "0")
    port = int(SERVING.search(agent.lines[agent.read_until("serving metrics on")]).group(1))
    wait_for(
        lambda: (
            parse(http_get("127.0.0.1", port)[1]).get(
                key("agent_runtime_workers", runner="agents:build", state="started")
            )
            == 1
        ),
        timeout=DEADLINE,
        what="the agent's worker in its metrics",
    )
    samples = parse(http_get("127.0.0.1", port)[1])
    assert only(samples, "agent_runtime_worker_", "_total") == worker_counts(
        "agents:build", "main", starts=1
    )
    assert key("process_open_fds") in samples
    agent.signal(signal.SIGTERM)
    assert agent.finish() == 0, agent.log
    with pytest.raises(OSError), gevent.Timeout(LONG_WAIT):
        socket.create_connection(("127.0.0.1", port)).close()


def test_run_refuses_a_metrics_port_in_use(start):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        agent = start("agents:build", "--metrics-port", str(port))
        assert agent.finish() == 1, agent.log
    finally:
        taken.close()
    assert f"error: cannot serve metrics on 127.0.0.1:{port}: " in agent.log, agent.log


def test_run_without_the_metrics_extra_says_what_to_install(start, tmp_path):
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    write_module(hidden, "prometheus_client", "raise ImportError('hidden by the test')")
    agent = start("agents:build", "--metrics-port", "0", PYTHONPATH=str(hidden))
    assert agent.finish() == 1, agent.log
    assert "pip install 'agent_runtime[metrics]'" in agent.log, agent.log
    assert "Traceback" not in agent.log


def test_a_unit_agent_serves_its_hooks_and_workers(tmp_path):
    deployment = Deployment(tmp_path)
    try:
        deployment.cli("deploy", "kvdb", "--charm", str(deployment.charms / "kvdb"), "-n", "1")
        deployment.start("kvdb/0", "--metrics-port", "0")
        wait_for(
            lambda: SERVING.search(deployment.log("kvdb/0")),
            timeout=DEADLINE,
            what=f"the metrics server in {deployment.log('kvdb/0')}",
        )
        port = int(SERVING.search(deployment.log("kvdb/0")).group(1))

        def runs(hook):
            samples = parse(http_get("127.0.0.1", port)[1])
            labels = {"unit": "kvdb/0", "hook": hook, "result": "ok"}
            return samples.get(key("agent_runtime_hook_runs_total", **labels))

        wait_for(lambda: runs("start") == 1, timeout=DEADLINE, what="the start hook counted")
        assert (runs("install"), runs("config-changed")) == (1, 1)
        samples = parse(http_get("127.0.0.1", port)[1])
        agent = "unit agent kvdb/0"
        assert only(samples, "agent_runtime_worker_starts_total") == {
            key("agent_runtime_worker_starts_total", runner=agent, worker="presence"): 1,
            key("agent_runtime_worker_starts_total", runner=agent, worker="uniter"): 1,
        }
        assert samples[key("agent_runtime_workers", runner=agent, state="started")] == 2
        # The uniter's own runner, nested in its report.
        assert samples[key("agent_runtime_workers", runner="kvdb/0 watchers", state="started")] > 0
        deployment.signal("kvdb/0", signal.SIGTERM)
        assert deployment.exit_code("kvdb/0") == 0, deployment.log("kvdb/0")
    finally:
        deployment.close()
