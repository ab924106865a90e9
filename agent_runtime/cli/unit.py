"""``agent-runtime unit UNIT --charm DIR``: run the agent of one unit."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from agent_runtime.cli import CommandError
from agent_runtime.cli.common import (
    add_logging_options,
    add_state_option,
    data_dir,
    default_state_url,
    setup_logging,
)
from agent_runtime.cli.observability import (
    add_observability_options,
    blocking_detection,
    metrics,
)

if TYPE_CHECKING:
    from agent_runtime.agent.serve import EarlyStopSignals


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "unit",
        help="run the agent of a unit",
        description=(
            "Run the agent of UNIT: install, configure and start it with the charm in "
            "DIR, follow its service's config and relations, run its hooks, and stop "
            "it when it is destroyed. SIGINT/SIGTERM stop the agent (not the unit): "
            "run it again to go on where it stopped."
        ),
    )
    parser.add_argument("unit", metavar="UNIT", help="e.g. wordpress/0")
    parser.add_argument("--charm", metavar="DIR", required=True, help="the charm directory")
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        default=None,
        help="where the agent keeps its files (default: $AGENT_RUNTIME_HOME)",
    )
    parser.add_argument("--private-address", default=None, help="the unit's private address")
    parser.add_argument("--public-address", default=None, help="the unit's public address")
    parser.add_argument(
        "--stop-timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds the agent gets to stop after SIGTERM (default 10)",
    )
    add_state_option(parser)
    add_observability_options(parser)
    add_logging_options(parser)
    parser.set_defaults(func=run_unit)


def run_unit(args: argparse.Namespace) -> int:
    from agent_runtime.agent.serve import EarlyStopSignals

    setup_logging(args)
    with EarlyStopSignals() as early:  # a stop asked for while the agent starts
        return _run_unit(args, early)


def _run_unit(args: argparse.Namespace, early: EarlyStopSignals) -> int:
    from agent_runtime import state as state_module
    from agent_runtime.agent.serve import serve
    from agent_runtime.state.charm import read_charm_dir
    from agent_runtime.uniter.agent import unit_agent
    from agent_runtime.uniter.paths import UnitPaths

    try:
        charm = read_charm_dir(args.charm)
    except state_module.InvalidValue as error:
        raise CommandError(str(error)) from None
    url = args.state or default_state_url()
    try:
        state = state_module.open(url)
    except state_module.StateError as error:
        raise CommandError(f"cannot open the state {url!r}: {error}") from None
    try:
        try:
            deployed = state.service(args.unit.partition("/")[0]).charm
            state.unit(args.unit)
        except state_module.StateError as error:
            raise CommandError(str(error)) from None
        if deployed.name != charm.name:
            raise CommandError(
                f"{args.charm!r} holds charm {charm.name!r}, but {args.unit} runs "
                f"charm {deployed.name!r}"
            )
        directory = os.path.abspath(args.data_dir) if args.data_dir else data_dir()
        with metrics(args) as agent_metrics:
            agent = unit_agent(
                state,
                args.unit,
                args.charm,
                directory,
                private_address=args.private_address,
                public_address=args.public_address,
                stop_timeout=args.stop_timeout,
                hook_observer=agent_metrics.hooks if agent_metrics else None,
            )
            if agent_metrics is not None:
                agent_metrics.observe(agent, f"unit agent {args.unit}")
            with blocking_detection(args):
                return serve(
                    agent,
                    stop_timeout=args.stop_timeout,
                    name=f"unit agent {args.unit}",
                    report_socket=UnitPaths(directory, args.unit).report_socket,
                    early=early,
                )
    finally:
        state.close()
