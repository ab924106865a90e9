"""The machinery every hook tool shares: flags, help, and how one runs.

It re-creates what juju's ``cmd`` and ``gnuflag`` packages did for the hook
tools, because hooks and their authors see its texts (uniter-reference §3.4):

* Flags are GNU style and may be mixed with positional arguments; ``--`` ends
  them. Long names take two dashes (``--format json`` or ``--format=json``),
  one-letter names one (``-r 1``, ``-r1``; bool letters combine: ``-ab``).
* ``-h``/``--help`` (unless a command defines them) writes the help to stdout:
  exit code 0. A flag error or an error from ``init`` writes ``error: <msg>``
  to stderr: exit code 2. An error from ``run``: ``error: <msg>``, exit code 1.
* Error texts are gnuflag's (``flag provided but not defined: --cheese``,
  ``flag needs an argument: -l``, ``invalid value "x" for flag -r: ...``) and
  cmd's (``unrecognized args: ["keys"]``), quoting as Go's ``%q`` does.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Sequence

from agent_runtime.uniter.jujuc.flags import (
    BoolValue,
    FlagSet,
    HelpRequested,
    StringValue,
    UsageError,
    Value,
    go_quote,
)

__all__ = [
    "BoolValue",
    "Command",
    "FlagSet",
    "HelpRequested",
    "Info",
    "Invocation",
    "StringValue",
    "UsageError",
    "Value",
    "check_empty",
    "error_message",
    "go_quote",
    "main",
]

log = logging.getLogger(__name__)


def check_empty(args: Sequence[str]) -> None:
    """Raise cmd's ``unrecognized args: ["a" "b"]`` when ``args`` is not empty."""
    if args:
        raise UsageError(f"unrecognized args: [{' '.join(go_quote(a) for a in args)}]")


def error_message(error: BaseException) -> str:
    """What follows ``error: `` for ``error``: its message, without the quotes
    ``str()`` puts around the argument of a ``KeyError``."""
    if isinstance(error, KeyError) and len(error.args) == 1:
        return str(error.args[0])
    if isinstance(error, OSError) and error.strerror and error.filename is not None:
        return f"{error.filename}: {error.strerror}"
    text = str(error)
    return text if text else type(error).__name__


# -- commands ------------------------------------------------------------------------


class Info:
    """What the help says about a command."""

    __slots__ = ("args", "doc", "name", "purpose")

    def __init__(self, name: str, args: str = "", purpose: str = "", doc: str = "") -> None:
        self.name = name
        self.args = args
        self.purpose = purpose
        self.doc = doc

    def help(self, flags: FlagSet) -> str:
        """The help text, laid out as juju's ``cmd.Info.Help``."""
        text = f"usage: {self.name}"
        if flags:
            text += " [options]"
        if self.args:
            text += f" {self.args}"
        text += "\n"
        if self.purpose:
            text += f"purpose: {self.purpose}\n"
        if flags:
            text += "\noptions:\n" + flags.defaults()
        doc = self.doc.strip()
        if doc:
            text += f"\n{doc}\n"
        return text


class Invocation:
    """One run of a command: the caller's directory and stdin, and the
    buffers that collect what the command writes (Go's ``cmd.Context``)."""

    def __init__(self, dir: str, stdin: bytes | None = None) -> None:
        #: The absolute working directory of the hook that ran the tool.
        self.dir = dir
        #: The bytes the tool read from its stdin, or None when it sent none.
        self.stdin = stdin
        self.stdout = io.BytesIO()
        self.stderr = io.BytesIO()

    def abs_path(self, path: str) -> str:
        """``path`` made absolute against the caller's directory."""
        return os.path.join(self.dir, path)

    def write_stderr(self, text: str) -> None:
        self.stderr.write(encode(text))


def encode(text: str) -> bytes:
    """``text`` as the bytes a tool prints: UTF-8, and bytes that came in as
    non-UTF-8 (surrogate-escaped) go out as they came."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace")


class Command:
    """A hook tool, bound to the hook context it runs against.

    Subclasses set ``name``, ``purpose``, ``args_usage`` and ``doc`` (or
    override ``info()`` when they depend on the context), define flags in
    ``set_flags``, check the positional arguments in ``init`` and do the work
    in ``run``.
    """

    name = ""
    purpose = ""
    args_usage = ""
    doc = ""

    def __init__(self, ctx: object) -> None:
        self.ctx = ctx

    def info(self) -> Info:
        return Info(self.name, self.args_usage, self.purpose, self.doc)

    def set_flags(self, flags: FlagSet) -> None:
        pass

    def init(self, args: list[str]) -> None:
        check_empty(args)

    def run(self, inv: Invocation) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def main(command: Command, inv: Invocation, args: Sequence[str]) -> int:
    """Run ``command`` with the arguments ``args`` and return its exit code
    (juju's ``cmd.Main``). Never raises an ``Exception``: one from the command
    is its error (exit code 1, or 2 while the command line is checked)."""
    try:
        flags = FlagSet(command.name)
        command.set_flags(flags)
        try:
            positional = flags.parse(list(args))
        except HelpRequested:
            inv.stdout.write(encode(command.info().help(flags)))
            return 0
        command.init(positional)
    except Exception as error:
        return _failed(inv, command, error, 2)
    try:
        command.run(inv)
    except Exception as error:
        return _failed(inv, command, error, 1)
    return 0


def _failed(inv: Invocation, command: Command, error: Exception, code: int) -> int:
    if not isinstance(error, UsageError | ValueError | LookupError | OSError):
        log.warning("hook tool %s failed unexpectedly", command.name, exc_info=error)
    inv.write_stderr(f"error: {error_message(error)}\n")
    return code
