"""Options of ``run`` and ``unit`` that let operators watch an agent: its
Prometheus metrics (``--metrics-port``, ``--metrics-host``) and blocking
detection (``--block-threshold``). See docs/operations.md."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from typing import Any

from agent_runtime.cli import CommandError

__all__ = ["AgentMetrics", "add_observability_options", "blocking_detection", "metrics"]

#: ``--block-threshold``'s default: ``agent_runtime.agent.blocking.DEFAULT_THRESHOLD``
#: (which says why), spelled out so that building the parser imports no gevent.
DEFAULT_THRESHOLD = 0.1


def add_observability_options(parser: argparse.ArgumentParser) -> None:
    from agent_runtime.cli.run import _seconds

    parser.add_argument(
        "--metrics-port",
        type=_port,
        default=None,
        metavar="PORT",
        help="serve Prometheus metrics on http://HOST:PORT/metrics (needs the metrics extra; "
        "0 picks a free port, logged)",
    )
    parser.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="HOST",
        help="the address the metrics are served on (default 127.0.0.1: this machine only)",
    )
    parser.add_argument(
        "--block-threshold",
        type=_seconds,
        default=DEFAULT_THRESHOLD,
        metavar="S",
        help="log a warning naming the worker whenever one keeps the event loop from "
        f"running for more than S seconds (default {DEFAULT_THRESHOLD:g}; 0: off)",
    )


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, not {port}")
    return port


class AgentMetrics:
    """The metrics of the agent of this process, served while it runs."""

    def __init__(self, registry: Any) -> None:
        from agent_runtime.agent.metrics import HookMetrics, RunnerMetrics

        self.registry = registry
        self.runners = RunnerMetrics(registry)
        self.hooks = HookMetrics(registry)

    def observe(self, worker: Any, label: str) -> None:
        """Export the metrics of ``worker``, the agent, if it is a Runner (or reports like one)."""
        import logging

        from agent_runtime.interfaces import IReporter

        if callable(getattr(worker, "add_observer", None)) or IReporter.providedBy(worker):
            self.runners.observe(worker, getattr(worker, "name", None) or label)
        else:
            logging.getLogger("agent_runtime.metrics").info(
                "%r is not a Runner: only the process's metrics are served", worker
            )


@contextlib.contextmanager
def metrics(args: argparse.Namespace) -> Iterator[AgentMetrics | None]:
    """Serve the agent's metrics if ``--metrics-port`` asks for them (None
    otherwise), from now until the block ends. The port is bound at once: a
    port in use, or prometheus-client missing, is a ``CommandError`` before
    the agent starts."""
    if args.metrics_port is None:
        yield None
        return
    from agent_runtime import stop
    from agent_runtime.agent.metrics import MetricsUnavailable, agent_registry, serve_metrics

    try:
        registry = agent_registry()
        agent_metrics = AgentMetrics(registry)
        server = serve_metrics(args.metrics_port, args.metrics_host, registry=registry)
    except MetricsUnavailable as error:
        raise CommandError(str(error)) from None
    except OSError as error:
        raise CommandError(
            f"cannot serve metrics on {args.metrics_host}:{args.metrics_port}: {error}"
        ) from None
    try:
        yield agent_metrics
    finally:
        stop(server)


@contextlib.contextmanager
def blocking_detection(args: argparse.Namespace) -> Iterator[None]:
    """Report what blocks the event loop for longer than ``--block-threshold``
    (unless it is 0) until the block ends."""
    if not args.block_threshold:
        yield
        return
    from agent_runtime.agent.blocking import BlockingMonitor

    with BlockingMonitor(args.block_threshold):
        yield
