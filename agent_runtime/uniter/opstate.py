"""What the unit agent is doing, kept on disk so that a crash loses nothing.

Before a hook runs, the agent writes ``step: pending`` with the hook. When the
hook has succeeded and its changes are in the state, it writes ``committing``;
when the relation state dir and the flags below are updated too, ``done``. A
failed hook is ``failed`` until the operator resolves it. After a crash (even a
``kill -9``), the agent reads the file and:

* ``pending``: the hook was interrupted and never committed: run it again;
* ``committing``: the hook succeeded: finish committing it, do not run it;
* ``failed``: report it and wait for ``resolved`` (or ``resolved --retry``);
* ``done``: go on with the next hook.

So no committed hook runs twice. The file is YAML written atomically (temp
file, fsync, rename, fsync of the directory), like the relation state dir.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

import yaml

from agent_runtime.errors import AgentRuntimeError
from agent_runtime.uniter.hook import HookError, Info
from agent_runtime.uniter.relation.durable import replace_file

__all__ = ["COMMITTING", "DONE", "FAILED", "PENDING", "OpState", "OpStateError", "OpStateFile"]

PENDING, COMMITTING, FAILED, DONE = "pending", "committing", "failed", "done"
_STEPS = (PENDING, COMMITTING, FAILED, DONE)


class OpStateError(AgentRuntimeError):
    """The agent's state file is unreadable or invalid (it names the file)."""


@dataclass(frozen=True)
class OpState:
    """The agent's progress: which hook, at which step, and which unit hooks
    have been committed once and for all."""

    hook: Info | None = None
    step: str = DONE
    installed: bool = False
    started: bool = False
    stopped: bool = False

    def __post_init__(self) -> None:
        if self.step not in _STEPS:
            raise OpStateError(f"unknown step {self.step!r}")
        if self.step != DONE and self.hook is None:
            raise OpStateError(f"step {self.step!r} needs a hook")

    def with_step(self, step: str, hook: Info | None = None) -> OpState:
        return replace(self, step=step, hook=hook if hook is not None else self.hook)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "step": self.step,
            "installed": self.installed,
            "started": self.started,
            "stopped": self.stopped,
        }
        if self.hook is not None:
            data["hook"] = self.hook.as_dict()
        return data

    @classmethod
    def from_dict(cls, data: Any) -> OpState:
        if not isinstance(data, dict):
            raise OpStateError(f"expected a mapping, got {type(data).__name__}")
        try:
            hook = Info.from_dict(data["hook"]) if data.get("hook") is not None else None
        except HookError as error:
            raise OpStateError(f"invalid hook: {error}") from None
        flags = {}
        for name in ("installed", "started", "stopped"):
            value = data.get(name, False)
            if not isinstance(value, bool):
                raise OpStateError(f"{name} must be true or false, not {value!r}")
            flags[name] = value
        return cls(hook=hook, step=data.get("step", DONE), **flags)


class OpStateFile:
    """The agent's state file: ``read()`` and ``write(state)``."""

    def __init__(self, path: str) -> None:
        self.path = path

    def read(self) -> OpState:
        """The saved state; a fresh ``OpState()`` when there is no file yet."""
        try:
            with open(self.path, encoding="utf-8") as stream:
                data = yaml.safe_load(stream)
        except FileNotFoundError:
            return OpState()
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            raise OpStateError(
                f"cannot read the unit agent's state {self.path!r}: {error}"
            ) from None
        try:
            return OpState.from_dict(data)
        except OpStateError as error:
            raise OpStateError(f"invalid unit agent state {self.path!r}: {error}") from None

    def write(self, state: OpState) -> None:
        """Save ``state`` atomically and durably."""
        text = yaml.safe_dump(state.as_dict(), default_flow_style=False, sort_keys=True)
        directory, name = os.path.split(self.path)
        replace_file(directory or ".", name, text.encode())
