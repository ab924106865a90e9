"""Prometheus metrics of an agent (the ``metrics`` extra: prometheus-client).

* ``RunnerMetrics`` observes Runners (an ``IRunnerObserver``): it counts worker
  starts, scheduled restarts, failures, workers given up on (by their restart
  policy) and fatal errors by runner and worker id, and, each time it is
  scraped, counts the workers of every runner it observes by state, from the
  runners' reports (``IReporter``), nested runners included.
* ``HookMetrics`` (an ``IHookObserver``) counts the hooks a unit agent runs by
  kind and result, and their durations.
* ``serve_metrics(port, host, registry=...)`` serves a registry on
  ``http://host:port/metrics``: a worker (``MetricsServer``) on gevent's own
  WSGI server, so scrapes are greenlets like the rest of the agent (no OS
  thread touches the metrics, patched or not; prometheus_client's
  ``start_http_server`` would run one).

Each takes the ``CollectorRegistry`` it registers in; ``agent_registry()``
makes a fresh one with prometheus_client's process, platform and GC metrics,
which is what ``agent-runtime run|unit --metrics-port`` serves. Every metric
name and label is listed in docs/operations.md. prometheus_client is imported
only when metrics are made: without it, ``MetricsUnavailable`` says what to
install.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterator
from typing import Any

import gevent
from gevent.pywsgi import LoggingLogAdapter, WSGIServer
from zope.interface import implementer

from agent_runtime.interfaces import IHookObserver, IReporter
from agent_runtime.worker.base import GreenletWorker
from agent_runtime.worker.observer import RunnerObserver

__all__ = [
    "HOOK_BUCKETS",
    "WORKER_STATES",
    "HookMetrics",
    "MetricsServer",
    "MetricsUnavailable",
    "RunnerMetrics",
    "agent_registry",
    "serve_metrics",
]

log = logging.getLogger("agent_runtime.metrics")

#: The states of a Runner's worker (``Runner.report()``), each exported even
#: when no worker is in it.
WORKER_STATES = ("starting", "started", "stopping", "waiting to restart")
#: Histogram buckets of hook durations, in seconds: hooks take from a fraction
#: of a second to minutes.
HOOK_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
#: Seconds a scrape waits for one runner's report before leaving it out.
REPORT_TIMEOUT = 5.0
#: Connections the metrics server answers at once.
MAX_CONNECTIONS = 16
#: Seconds the metrics server gives its connections to finish when stopped.
STOP_GRACE = 1.0


class MetricsUnavailable(ImportError):
    """Metrics were asked for but prometheus-client is not installed."""


def _prometheus() -> Any:
    """The prometheus_client module, or ``MetricsUnavailable`` saying what to do."""
    try:
        import prometheus_client
    except ImportError as error:
        raise MetricsUnavailable(
            "metrics need the prometheus-client package, which is not installed: "
            f"pip install 'agent_runtime[metrics]' ({error})"
        ) from None
    return prometheus_client


def agent_registry() -> Any:
    """A new ``CollectorRegistry`` with prometheus_client's process, platform
    and garbage-collector metrics (the ``process_*``, ``python_info`` and
    ``python_gc_*`` series)."""
    prometheus = _prometheus()
    registry = prometheus.CollectorRegistry()
    prometheus.ProcessCollector(registry=registry)
    prometheus.PlatformCollector(registry=registry)
    prometheus.GCCollector(registry=registry)
    return registry


def runner_label(runner: Any) -> str:
    """The ``runner`` label of a runner that was given none: its name, else "runner"."""
    return getattr(runner, "name", None) or "runner"


class RunnerMetrics(RunnerObserver):
    """Worker metrics of the runners it observes (see the module docstring).

    ``observe(runner, label=None)`` adds a runner: it becomes an observer of
    it, and its workers (and those of the runners nested in its report) are
    counted by state at each scrape. The ``runner`` label is ``label``, else
    the runner's name, else "runner"; a nested runner found in a report is
    labelled by its name, else by ``<parent label>/<worker id>``.
    """

    def __init__(self, registry: Any) -> None:
        prometheus = _prometheus()

        def counter(name: str, doc: str) -> Any:
            return prometheus.Counter(name, doc, ("runner", "worker"), registry=registry)

        self._starts = counter(
            "agent_runtime_worker_starts", "Times a worker's start function returned a worker."
        )
        self._restarts = counter(
            "agent_runtime_worker_restarts",
            "Restarts scheduled after a worker stopped with a non-fatal error.",
        )
        self._failures = counter(
            "agent_runtime_worker_failures",
            "Times a worker stopped with an error (or its start function raised).",
        )
        self._gave_up = counter(
            "agent_runtime_worker_gave_up",
            "Times a worker's restart policy declined to restart it: it was removed.",
        )
        self._fatal = counter(
            "agent_runtime_worker_fatal_errors", "Fatal errors of workers: each stopped its runner."
        )
        self._labels: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
        self._reporters: list[tuple[Any, str]] = []
        registry.register(_WorkersCollector(self._reporters))

    def observe(self, runner: Any, label: str | None = None) -> None:
        """Count what ``runner`` (a Runner, or any ``IReporter`` whose report
        is a runner's) does from now on, under ``label``. Observing it again
        changes nothing."""
        if any(observed is runner for observed, _ in self._reporters):
            return
        label = label or runner_label(runner)
        if callable(getattr(runner, "add_observer", None)):
            self._labels[runner] = label
            runner.add_observer(self)
        elif not IReporter.providedBy(runner):
            raise TypeError(f"cannot observe {runner!r}: it is neither a Runner nor an IReporter")
        self._reporters.append((runner, label))

    def _label(self, runner: Any) -> str:
        return self._labels.get(runner) or runner_label(runner)

    # -- IRunnerObserver: called on the runner's loop; never blocks ------------------

    def started(self, runner: Any, id: str) -> None:
        labels = (self._label(runner), id)
        self._starts.labels(*labels).inc()
        for counter in (self._restarts, self._failures, self._gave_up, self._fatal):
            counter.labels(*labels)  # exported as 0 until it happens

    def exited(self, runner: Any, id: str, error: BaseException | None) -> None:
        if error is not None:
            self._failures.labels(self._label(runner), id).inc()

    def restart_scheduled(self, runner: Any, id: str, delay: float) -> None:
        self._restarts.labels(self._label(runner), id).inc()

    def gave_up(self, runner: Any, id: str, error: BaseException) -> None:
        self._gave_up.labels(self._label(runner), id).inc()

    def fatal(self, runner: Any, id: str, error: BaseException) -> None:
        self._fatal.labels(self._label(runner), id).inc()


class _WorkersCollector:
    """``agent_runtime_workers{runner, state}``, from the reports, at scrape time."""

    NAME = "agent_runtime_workers"
    DOC = "Workers of each runner, by state (starting, started, stopping, waiting to restart)."

    def __init__(self, reporters: list[tuple[Any, str]]) -> None:
        from prometheus_client.core import GaugeMetricFamily

        self._family = GaugeMetricFamily
        self._reporters = reporters

    def describe(self) -> Iterator[Any]:
        yield self._family(self.NAME, self.DOC, labels=("runner", "state"))

    def collect(self) -> Iterator[Any]:
        family = self._family(self.NAME, self.DOC, labels=("runner", "state"))
        counts: dict[str, dict[str, int]] = {}
        for reporter, label in list(self._reporters):
            report = _report(reporter)
            if report is None:
                continue
            for runner, runner_report in _runner_reports(report, label):
                states = counts.setdefault(runner, dict.fromkeys(WORKER_STATES, 0))
                for entry in runner_report["workers"].values():
                    states[entry["state"]] = states.get(entry["state"], 0) + 1
        for runner, states in counts.items():
            for state, count in states.items():
                family.add_metric((runner, state), count)
        yield family


def _report(reporter: Any) -> dict[str, Any] | None:
    """``reporter.report()``, or None (logged) when it fails or takes too long:
    a scrape must answer, and an error must not reach the WSGI server."""
    timeout = gevent.Timeout(REPORT_TIMEOUT)
    timeout.start()
    try:
        return reporter.report()
    except gevent.Timeout as expired:
        if expired is not timeout:
            raise
        log.warning("metrics: %r did not report within %g s", reporter, REPORT_TIMEOUT)
    except Exception:
        log.exception("metrics: %r failed to report", reporter)
    finally:
        timeout.close()
    return None


def _is_runner_report(report: Any) -> bool:
    return (
        isinstance(report, dict)
        and isinstance(report.get("state"), str)
        and isinstance(report.get("workers"), dict)
        and all(isinstance(e, dict) and "state" in e for e in report["workers"].values())
    )


def _runner_reports(report: dict[str, Any], label: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each runner's report in the tree under ``report`` (a runner's), with its label."""
    if not _is_runner_report(report):
        return
    yield label, report
    for id, entry in report["workers"].items():
        nested = entry.get("report")
        if not isinstance(nested, dict):
            continue
        # A worker that is a runner reports as one; another (a Uniter) may
        # hold the report of its own runner among its values.
        candidates = [nested] if _is_runner_report(nested) else list(nested.values())
        for candidate in candidates:
            if _is_runner_report(candidate):
                yield from _runner_reports(candidate, candidate.get("name") or f"{label}/{id}")


@implementer(IHookObserver)
class HookMetrics:
    """Hook runs by unit, kind and result (ok, failed, interrupted), and their
    durations (see the module docstring)."""

    def __init__(self, registry: Any) -> None:
        prometheus = _prometheus()
        self._runs = prometheus.Counter(
            "agent_runtime_hook_runs",
            "Hooks run, by unit, hook kind and result (ok, failed, interrupted).",
            ("unit", "hook", "result"),
            registry=registry,
        )
        self._seconds = prometheus.Histogram(
            "agent_runtime_hook_duration_seconds",
            "Wall time of each hook run, by unit and hook kind.",
            ("unit", "hook"),
            buckets=HOOK_BUCKETS,
            registry=registry,
        )

    def hook_ran(self, unit: str, kind: str, seconds: float, error: BaseException | None) -> None:
        if error is None:
            result = "ok"
        elif isinstance(error, Exception):
            result = "failed"
        else:  # GreenletExit and the like: it was stopped, it did not fail
            result = "interrupted"
        self._runs.labels(unit, kind, result).inc()
        self._seconds.labels(unit, kind).observe(seconds)


class MetricsServer(GreenletWorker):
    """Serves ``registry`` over HTTP on ``host:port`` until killed (see
    ``serve_metrics``). The socket is bound when it is made: a port in use
    raises ``OSError`` there. ``port`` 0 picks a free port; ``url`` says
    which."""

    def __init__(self, port: int, host: str, registry: Any) -> None:
        super().__init__()
        app = _prometheus().make_wsgi_app(registry)
        errors = LoggingLogAdapter(log, logging.ERROR)
        self._server = WSGIServer(
            (host, port), app, spawn=MAX_CONNECTIONS, log=None, error_log=errors
        )
        self._server.init_socket()
        self.host: str = self._server.server_host
        self.port: int = self._server.server_port
        self._start()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def _run(self) -> None:
        try:
            self._server.start()
            log.info("serving metrics on %s", self.url)
            self.dying.wait()
        finally:
            self._server.stop(timeout=STOP_GRACE)

    def abort(self) -> None:
        super().abort()
        if not self._server.closed:  # killed before it ran: its finally never will
            self._server.close()

    def __repr__(self) -> str:
        return f"<MetricsServer {self.url}>"


def serve_metrics(port: int, host: str = "127.0.0.1", *, registry: Any) -> MetricsServer:
    """Serve ``registry`` on ``http://host:port/metrics`` (any path answers)
    until the returned worker is killed. Raises ``OSError`` when the address
    cannot be bound and ``MetricsUnavailable`` without prometheus-client."""
    return MetricsServer(port, host, registry)
