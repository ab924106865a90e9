"""The hook tools and the server that runs them (juju's ``uniter/jujuc``).

Charm hooks call hook tools (``relation-get``, ``config-get``, ``juju-log``,
...) as commands. Each is a symlink to one small client program
(``client.py``; ``install_tools`` puts it and the symlinks in a directory),
which sends the call over a unix socket to the unit agent's ``Server``; the
server runs the tool against the ``IHookContext`` of the hook that called it,
found by the id in ``JUJU_CONTEXT_ID`` (a ``ContextRegistry``), and sends
back the exit code, stdout and stderr.

The names are imported lazily, so that importing the client module does not
import the server (gevent) along with it.
"""

from __future__ import annotations

import importlib

__all__ = [
    "COMMANDS",
    "ContextRegistry",
    "InsecureSocketDir",
    "Server",
    "SocketInUse",
    "UnknownCommand",
    "command_names",
    "install_tools",
    "new_command",
]

_WHERE = {
    "COMMANDS": "commands",
    "ContextRegistry": "contexts",
    "InsecureSocketDir": "server",
    "Server": "server",
    "SocketInUse": "server",
    "UnknownCommand": "commands",
    "command_names": "commands",
    "install_tools": "tools",
    "new_command": "commands",
}


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
