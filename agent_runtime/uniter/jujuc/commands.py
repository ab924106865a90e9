"""The table of hook tools: their names, and the command for a name."""

from __future__ import annotations

from agent_runtime.errors import AgentRuntimeError
from agent_runtime.uniter.jujuc.cmd import Command
from agent_runtime.uniter.jujuc.config import ConfigGet, OwnerGet, UnitGet
from agent_runtime.uniter.jujuc.log import JujuLog
from agent_runtime.uniter.jujuc.ports import ClosePort, OpenPort
from agent_runtime.uniter.jujuc.relation import RelationGet, RelationIds, RelationList
from agent_runtime.uniter.jujuc.relation_set import RelationSet

__all__ = ["COMMANDS", "UnknownCommand", "command_names", "new_command"]

#: Every hook tool by name.
COMMANDS: dict[str, type[Command]] = {
    cls.name: cls
    for cls in (
        ClosePort,
        ConfigGet,
        JujuLog,
        OpenPort,
        OwnerGet,
        RelationGet,
        RelationIds,
        RelationList,
        RelationSet,
        UnitGet,
    )
}


class UnknownCommand(AgentRuntimeError, LookupError):
    """``new_command`` was asked for a name that is not a hook tool."""


def command_names() -> list[str]:
    """The names of the hook tools, sorted (one symlink each in the tools dir)."""
    return sorted(COMMANDS)


def new_command(ctx: object, name: str) -> Command:
    """The hook tool ``name`` bound to the hook context ``ctx``; raises
    ``UnknownCommand("unknown command: <name>")``."""
    cls = COMMANDS.get(name)
    if cls is None:
        raise UnknownCommand(f"unknown command: {name}")
    return cls(ctx)
