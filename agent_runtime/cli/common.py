"""Options and helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import os

__all__ = ["add_logging_options", "add_state_option", "default_state_url", "setup_logging"]


def add_logging_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-level",
        default="INFO",
        type=str.upper,
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="DEBUG, INFO, WARNING or ERROR (default INFO)",
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="one line per event: text for people, json for machines",
    )


def setup_logging(args: argparse.Namespace) -> None:
    from agent_runtime.agent.logs import configure

    configure(args.log_level, args.log_format)


def data_dir() -> str:
    """Where agent-runtime keeps its files: ``$AGENT_RUNTIME_HOME``, else
    ``$XDG_DATA_HOME/agent-runtime``, else ``~/.local/share/agent-runtime``."""
    home = os.environ.get("AGENT_RUNTIME_HOME")
    if home:
        return os.path.abspath(home)
    xdg = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return os.path.join(xdg, "agent-runtime")


def default_state_url() -> str:
    """The embedded state under the data directory (created if missing)."""
    directory = data_dir()
    os.makedirs(directory, exist_ok=True)
    return f"sqlite:///{os.path.join(directory, 'state.db')}"


def add_state_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state",
        metavar="URL",
        default=None,
        help="the state to use (default: the embedded sqlite file under $AGENT_RUNTIME_HOME)",
    )
