"""juju-log: write a message to the unit agent's log."""

from __future__ import annotations

import logging

from agent_runtime.uniter.jujuc.cmd import Command, FlagSet, Invocation, go_quote

__all__ = ["LEVELS", "TRACE", "JujuLog", "logger_name"]

#: loggo's TRACE, below DEBUG; Python's logging has no name for it, so it gets one.
TRACE = 5
if logging.getLevelName(TRACE) == f"Level {TRACE}":
    logging.addLevelName(TRACE, "TRACE")

#: The levels ``-l``/``--log-level`` takes, case-insensitively.
LEVELS = {
    "TRACE": TRACE,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
    "CRITICAL": logging.CRITICAL,
}


def logger_name(unit_name: str) -> str:
    """The logger of a unit's juju-log messages: ``unit.<unit>.juju-log``."""
    return f"unit.{unit_name}.juju-log"


class JujuLog(Command):
    name = "juju-log"
    purpose = "write a message to the juju log"
    args_usage = "<message>"

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.message = ""

    def set_flags(self, flags: FlagSet) -> None:
        self._debug = flags.bool("debug", False, "log at debug level")
        self._level = flags.string(
            ("l", "log-level"), "INFO", "Send log message at the given level"
        )
        self._format = flags.string("format", "", "deprecated format flag")

    def init(self, args: list[str]) -> None:
        if not args:
            raise ValueError("no message specified")
        self.message = " ".join(args)

    def run(self, inv: Invocation) -> None:
        if self._format.value:
            inv.write_stderr(f"--format flag deprecated for command {go_quote(self.name)}")
        logger = logging.getLogger(logger_name(self.ctx.unit_name()))
        level = logging.DEBUG
        if not self._debug.value:
            text = str(self._level.value)
            level = LEVELS.get(text.upper(), 0)
            if not level:
                logger.warning("Specified log level of %s is not valid", go_quote(text))
                level = logging.INFO
        message = self.message
        relation = self.ctx.hook_relation()
        if relation is not None:
            message = f"{relation.fake_id()}: {message}"
        logger.log(level, "%s", message)
