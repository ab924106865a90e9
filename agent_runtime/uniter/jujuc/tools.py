"""Installing the hook tools: the client program and one symlink per tool,
in the directory the unit agent puts first on the hooks' PATH."""

from __future__ import annotations

import os
import py_compile
import shlex
import sys
from pathlib import Path

from agent_runtime.uniter.jujuc import client
from agent_runtime.uniter.jujuc.commands import command_names

__all__ = ["CLIENT_MODULE", "LAUNCHER", "install_tools"]

#: The client's module in the tools directory (a copy of ``client.py``).
CLIENT_MODULE = "_jujuc_client"
#: The program the symlinks point to.
LAUNCHER = "jujuc"

_BODY = """\
# jujuc: the hook-tool client (agent_runtime.uniter.jujuc.client), installed by
# agent_runtime.uniter.jujuc.install_tools. It imports the client from this
# directory (compiled once, not at every call) and nothing of agent_runtime.
import sys
sys.path.insert(0, {directory!r})
from {module} import main
sys.exit(main())
"""

#: Longest "#!" line the kernel reads whole (BINPRM_BUF_SIZE less margin).
_SHEBANG_LIMIT = 250


def _header(python: str) -> str:
    """``#!<python> -IS``: isolated (no environment, no user site) and without
    ``site`` (its imports cost more than the whole client). A Python whose path
    cannot stand in a ``#!`` line is started by ``/bin/sh`` instead: the line
    below is a no-op string expression to Python."""
    line = f"#!{python} -IS\n"
    if len(line) <= _SHEBANG_LIMIT and not any(c.isspace() for c in python):
        return line
    if "\\" in python:
        raise ValueError(f"cannot write a launcher for a python path with a backslash: {python}")
    return f'#!/bin/sh\n"exec" {shlex.quote(python)} "-IS" "$0" "$@"\n'


def _replace(path: Path, write) -> None:
    """Make ``path`` atomically: ``write(temporary path)``, then rename."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.unlink()
    except FileNotFoundError:
        pass
    write(temporary)
    os.replace(temporary, path)


def install_tools(tools_dir: str | os.PathLike, python: str = sys.executable) -> list[str]:
    """Install the hook tools in ``tools_dir`` (created if missing): the
    client module, the launcher ``jujuc`` (run by ``python``), and a symlink
    to it named after each tool. Existing files of those names are replaced;
    installing again is harmless. Returns the paths of the tools.

    The launcher runs the client in ``python -I -S`` without importing
    agent_runtime, so a hook-tool call costs little more than the start of
    the interpreter (see benchmarks/jujuc.py).
    """
    directory = Path(tools_dir).absolute()
    directory.mkdir(parents=True, exist_ok=True)
    python = os.path.abspath(python)
    source = Path(client.__file__).read_text(encoding="utf-8")
    module = directory / f"{CLIENT_MODULE}.py"
    _replace(module, lambda path: path.write_text(source, encoding="utf-8"))
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        py_compile.compile(str(module), doraise=True)  # else the first call compiles it
    launcher = directory / LAUNCHER
    text = _header(python) + _BODY.format(directory=str(directory), module=CLIENT_MODULE)

    def write_launcher(path: Path) -> None:
        path.write_text(text, encoding="utf-8")
        path.chmod(0o755)

    _replace(launcher, write_launcher)
    tools = []
    for name in command_names():
        link = directory / name
        _replace(link, lambda path: path.symlink_to(LAUNCHER))
        tools.append(str(link))
    return tools
