"""``agent-runtime run MODULE:FACTORY``: run a user's agent.

The factory is called with no arguments and returns the agent's top worker,
usually a Runner. Monkey patching has already been applied by ``main`` unless
``--no-patch`` was given.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from agent_runtime.cli import CommandError
from agent_runtime.cli.common import add_logging_options, setup_logging
from agent_runtime.cli.observability import (
    add_observability_options,
    blocking_detection,
    metrics,
)


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "run",
        # main() looks for "--no-patch" spelled out, before parsing: no abbreviations.
        allow_abbrev=False,
        help="run an agent: MODULE:FACTORY returns its Runner",
        description=(
            "Import MODULE (after gevent.monkey.patch_all(), unless --no-patch), call "
            "FACTORY() to get the agent's Runner (or any IWorker), and run it until it "
            "stops. SIGINT/SIGTERM stop it gracefully: its workers get --stop-timeout "
            "seconds, then are killed. Exit code 0 after a clean stop or TerminateAgent, "
            "1 after a fatal error."
        ),
    )
    parser.add_argument("target", metavar="MODULE:FACTORY", help="e.g. myagent.main:build")
    parser.add_argument(
        "--no-patch", action="store_true", help="do not apply gevent's monkey patching"
    )
    parser.add_argument(
        "--stop-timeout",
        type=_seconds,
        default=10.0,
        metavar="S",
        help="seconds the agent gets to stop after SIGTERM before it is killed (default 10)",
    )
    parser.add_argument(
        "--report-socket",
        metavar="PATH",
        default=None,
        help="serve the agent's report on this unix socket (agent-runtime report --socket PATH)",
    )
    add_observability_options(parser)
    add_logging_options(parser)
    parser.set_defaults(func=run)


def _seconds(text: str) -> float:
    """A number of seconds, >= 0 and finite (argparse ``type``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds >= 0, not {text!r}")
    return value


def load_factory(target: str):
    """Import ``MODULE:ATTR[.ATTR...]`` and return the object it names."""
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise CommandError(f"expected MODULE:FACTORY, got {target!r}", code=2)
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # like python -m: the current directory's modules
    try:
        obj = importlib.import_module(module_name)
    except ImportError as error:
        raise CommandError(f"cannot import {module_name!r}: {error}", code=2) from None
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise CommandError(f"{module_name!r} has no attribute {attribute!r}", code=2) from None
    if not callable(obj):
        raise CommandError(f"{target!r} is not callable", code=2)
    return obj


def run(args: argparse.Namespace) -> int:
    from agent_runtime.agent.serve import EarlyStopSignals, serve
    from agent_runtime.interfaces import IWorker

    setup_logging(args)
    with EarlyStopSignals() as early, metrics(args) as agent_metrics:
        factory = load_factory(args.target)
        worker = factory()
        if not IWorker.providedBy(worker):
            raise CommandError(
                f"{args.target}() returned {worker!r}, which does not provide IWorker"
            )
        if agent_metrics is not None:
            agent_metrics.observe(worker, args.target)
        with blocking_detection(args):
            return serve(
                worker,
                stop_timeout=args.stop_timeout,
                name=args.target,
                report_socket=args.report_socket,
                early=early,
            )
