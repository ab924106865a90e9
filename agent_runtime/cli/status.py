"""``agent-runtime status``: services, units (life, status, last hook), relations."""

from __future__ import annotations

import argparse
import json
from typing import Any

from agent_runtime.cli.common import add_state_option
from agent_runtime.cli.operator import open_state


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "status", help="show services, units and relations", description="Show the state."
    )
    parser.add_argument("--format", choices=("table", "json", "yaml"), default="table")
    add_state_option(parser)
    parser.set_defaults(func=status)


def collect(state) -> dict[str, Any]:
    """The status as plain data: what ``--format json|yaml`` prints."""
    services = {}
    for name in state.services():
        service = state.service(name)
        units = {}
        for unit_name in state.units(name):
            unit = state.unit(unit_name)
            status = dict(unit.status)
            alive = state.agent_alive(unit_name)
            units[unit_name] = {
                "agent": {True: "up", False: "down", None: "unknown"}[alive],
                "life": unit.life,
                "status": status.pop("status", "pending"),
                "message": status.pop("message", ""),
                "hook": status.pop("hook", None),
                "public-address": unit.public_address,
                "private-address": unit.private_address,
                "ports": [f"{port}/{protocol}" for protocol, port in unit.ports],
                **({"resolved": unit.resolved} if unit.resolved else {}),
                **status,
            }
        services[name] = {
            "charm": service.charm.name,
            "life": service.life,
            "config": state.service_settings(name),
            "units": units,
        }
    relations = [
        {"id": r.id, "key": r.key, "life": r.life, "scope": state.scope(r.id)}
        for r in state.relations()
    ]
    return {"services": services, "relations": relations}


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def render_table(data: dict[str, Any]) -> str:
    services = [["SERVICE", "CHARM", "LIFE", "UNITS"]]
    units = [["UNIT", "AGENT", "LIFE", "STATUS", "HOOK", "ADDRESS", "PORTS", "MESSAGE"]]
    for name, service in data["services"].items():
        services.append([name, service["charm"], service["life"], str(len(service["units"]))])
        for unit_name, unit in service["units"].items():
            units.append(
                [
                    unit_name,
                    unit["agent"],
                    unit["life"],
                    unit["status"] + (f" ({unit['resolved']})" if unit.get("resolved") else ""),
                    unit["hook"] or "",
                    unit["public-address"] or unit["private-address"] or "",
                    ",".join(unit["ports"]),
                    unit["message"],
                ]
            )
    relations = [["RELATION", "KEY", "LIFE", "IN SCOPE"]]
    for relation in data["relations"]:
        relations.append(
            [str(relation["id"]), relation["key"], relation["life"], " ".join(relation["scope"])]
        )
    parts = []
    for rows, empty in (
        (services, "no services"),
        (units, "no units"),
        (relations, "no relations"),
    ):
        parts.append(_table(rows) if len(rows) > 1 else empty)
    return "\n\n".join(parts)


def status(args: argparse.Namespace) -> int:
    with open_state(args) as state:
        data = collect(state)
    if args.format == "json":
        print(json.dumps(data, indent=2, sort_keys=True))
    elif args.format == "yaml":
        import yaml

        print(yaml.safe_dump(data, sort_keys=True, default_flow_style=False).rstrip())
    else:
        print(render_table(data))
    return 0
