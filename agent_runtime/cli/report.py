"""``agent-runtime report``: the live report of a running agent, read from its socket."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from agent_runtime.cli import CommandError
from agent_runtime.cli.common import add_state_option, data_dir


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "report",
        help="show what a running agent is doing",
        description=(
            "Ask a running agent for its report: its workers, their state, restarts "
            "and last errors, nested as the agent's runners are. Name a unit (its "
            "agent's socket is found under the data directory) or give --socket."
        ),
    )
    parser.add_argument("unit", nargs="?", metavar="UNIT", help="the unit whose agent to ask")
    parser.add_argument("--socket", metavar="PATH", help="the report socket of an agent")
    parser.add_argument("--data-dir", metavar="DIR", default=None, help="the unit agent's data dir")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    add_state_option(parser)  # accepted for symmetry: the report comes from the agent
    parser.set_defaults(func=report)


def render(report: dict[str, Any], name: str = "agent", indent: int = 0) -> list[str]:
    """The report as an indented tree, one line per worker."""
    pad = "  " * indent
    lines = [f"{pad}{name}: {report.get('state', 'running')}"]
    for key in ("unit", "hook", "step"):
        if key in report:
            lines.append(f"{pad}  {key}: {report[key]}")
    workers = report.get("workers", {})
    if "workers" in workers:  # a worker that reports its own runner's report
        workers = workers["workers"]
    for worker_id, entry in workers.items():
        line = f"{pad}  {worker_id}: {entry['state']}, started {entry['starts']}x"
        if entry.get("failures"):
            line += f", failed {entry['failures']}x"
            if entry.get("consecutive-failures"):
                line += f" ({entry['consecutive-failures']} in a row)"
            if entry.get("restarts"):
                line += f", restarted {entry['restarts']}x"
            line += f", last error {entry['last-error']}"
        if entry.get("started-at"):
            line += f", since {entry['started-at']}"
        if entry.get("restart-in") is not None:
            line += f", restart in {entry['restart-in']:.3g} s"
        lines.append(line)
        nested = entry.get("report")
        if isinstance(nested, dict):
            lines += render(nested, "report", indent + 2)[1:]
    return lines


def report(args: argparse.Namespace) -> int:
    from agent_runtime.agent.report import fetch_report
    from agent_runtime.uniter.paths import UnitPaths

    if args.socket:
        path = args.socket
    elif args.unit:
        directory = os.path.abspath(args.data_dir) if args.data_dir else data_dir()
        path = UnitPaths(directory, args.unit).report_socket
    else:
        raise CommandError("name a UNIT or give --socket PATH", code=2)
    try:
        data = fetch_report(path)
    except (OSError, ValueError) as error:
        who = f"the agent of {args.unit}" if args.unit else "an agent"
        raise CommandError(f"cannot read the report of {who} on {path}: {error}") from None
    if args.format == "json":
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        print("\n".join(render(data, f"unit agent {args.unit}" if args.unit else "agent")))
    return 0
