"""open-port and close-port: ask for a port to be opened or closed when the
hook succeeds."""

from __future__ import annotations

import re

from agent_runtime.uniter.jujuc.cmd import Command, FlagSet, Invocation, check_empty, go_quote

__all__ = ["ClosePort", "OpenPort", "parse_port"]

_INTEGER = re.compile(r"[+-]?[0-9]+\Z")


def parse_port(text: str) -> tuple[str, int]:
    """``<port>[/<protocol>]`` as ``(protocol, port)``; tcp by default."""
    parts = text.split("/")
    if len(parts) > 2:
        raise ValueError(f"expected <port>[/<protocol>]; got {go_quote(text)}")
    if not _INTEGER.match(parts[0]) or not 1 <= int(parts[0]) <= 65535:
        raise ValueError(f"port must be in the range [1, 65535]; got {go_quote(parts[0])}")
    protocol = parts[1].lower() if len(parts) == 2 else "tcp"
    if protocol not in ("tcp", "udp"):
        raise ValueError(f'protocol must be "tcp" or "udp"; got {go_quote(protocol)}')
    return protocol, int(parts[0])


class _PortCommand(Command):
    args_usage = "<port>[/<protocol>]"

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.protocol = ""
        self.port = 0

    def set_flags(self, flags: FlagSet) -> None:
        self._format = flags.string("format", "", "deprecated format flag")

    def init(self, args: list[str]) -> None:
        if not args:
            raise ValueError("no port specified")
        self.protocol, self.port = parse_port(args[0])
        check_empty(args[1:])

    def run(self, inv: Invocation) -> None:
        if self._format.value:
            inv.write_stderr(f"--format flag deprecated for command {go_quote(self.name)}")
        self.change()

    def change(self) -> None:
        raise NotImplementedError


class OpenPort(_PortCommand):
    name = "open-port"
    purpose = "register a port to open"
    doc = "The port will only be open while the service is exposed."

    def change(self) -> None:
        self.ctx.open_port(self.protocol, self.port)


class ClosePort(_PortCommand):
    name = "close-port"
    purpose = "ensure a port is always closed"

    def change(self) -> None:
        self.ctx.close_port(self.protocol, self.port)
