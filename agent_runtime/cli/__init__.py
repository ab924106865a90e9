"""The ``agent-runtime`` command: run agents, and operate on the state.

Each subcommand lives in a module of this package that defines
``add_parser(subparsers)``. Imports are lazy, so that ``agent-runtime run``
can apply gevent's monkey patching before anything else is imported.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]

#: Modules of this package that define subcommands, in the order of ``--help``.
_COMMANDS = ("run", "unit", "operator", "status", "report")


class CommandError(Exception):
    """A command failed in a way the user can fix: printed as ``error: ...``,
    exit code 1 (or ``code``)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="agent-runtime",
        description="Run gevent agents and unit agents, and operate on their state.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _COMMANDS:
        module = importlib.import_module(f"agent_runtime.cli.{name}")
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["run"] and "--no-patch" not in argv:
        # Legacy agents block on sockets and sleep: make them cooperative,
        # first thing, before their modules (or ours) import anything.
        from gevent import monkey

        monkey.patch_all()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except CommandError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `agent-runtime status | head`: not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
