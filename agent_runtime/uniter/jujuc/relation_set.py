"""relation-set: change the local unit's settings in a relation.

Besides juju's 2014 ``key=value`` arguments it takes two ways to pass values
too long or awkward for a command line: ``key=@path`` (pyjuju's: the value is
the content of the file, relative to the hook's directory) and ``--file
path`` (juju 2's: a YAML map of settings, or ``key=value`` lines, read from
the file, or from stdin when the path is ``-``; arguments override it).
"""

from __future__ import annotations

import os
import stat

import yaml

from agent_runtime.uniter.jujuc.cmd import Command, FlagSet, Invocation, go_quote
from agent_runtime.uniter.jujuc.relation import add_relation_flag

__all__ = ["MAX_FILE_SIZE", "RelationSet", "parse_pair", "parse_settings", "read_file"]

#: The largest file relation-set reads (``@path`` or ``--file``), in bytes.
MAX_FILE_SIZE = 1 << 20


def parse_pair(text: str) -> tuple[str, str]:
    """``key=value`` split at the first ``=``; the key must not be empty."""
    key, equals, value = text.partition("=")
    if not equals or not key:
        raise ValueError(f'expected "key=value", got {go_quote(text)}')
    return key, value


def read_file(path: str, shown: str | None = None) -> bytes:
    """The content of the regular file ``path``, at most ``MAX_FILE_SIZE``
    bytes; errors name it ``shown`` (the path as the hook gave it). Opened
    without blocking, so that a FIFO cannot stall the agent."""
    name = go_quote(path if shown is None else shown)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise ValueError(f"cannot read file {name}: {error.strerror}")
    with os.fdopen(fd, "rb") as source:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"cannot read file {name}: not a regular file")
        data = source.read(MAX_FILE_SIZE + 1)
    if len(data) > MAX_FILE_SIZE:
        raise ValueError(f"file {name} is larger than {MAX_FILE_SIZE} bytes")
    return data


def _decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{source} is not valid UTF-8")


def parse_settings(data: bytes, source: str) -> dict[str, str]:
    """Settings from a ``--file``: a YAML map (scalar values taken as written,
    ``null`` as "", which deletes), or else ``key=value`` lines (blank lines
    and lines starting with ``#`` skipped). A YAML map with a ``=`` in a key
    is read as ``key=value`` lines: ``a=b: c`` sets ``a`` to ``b: c``."""
    text = _decode(data, source)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError):
        node = None
    if node is None and not text.strip():
        return {}
    if isinstance(node, yaml.MappingNode):
        settings = _yaml_settings(node, source)
        if not any("=" in key for key in settings):
            return settings
    settings = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, value = parse_pair(line)
            settings[key] = value
    return settings


def _yaml_settings(node: yaml.MappingNode, source: str) -> dict[str, str]:
    settings = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or not isinstance(value_node, yaml.ScalarNode):
            raise ValueError(f"{source}: expected a map of strings, got a nested value")
        key = key_node.value
        if not key:
            raise ValueError(f"{source}: a setting has an empty key")
        null = value_node.tag == "tag:yaml.org,2002:null"
        settings[key] = "" if null else value_node.value
    return settings


class RelationSet(Command):
    name = "relation-set"
    purpose = "set relation settings"
    args_usage = "key=value [key=value ...]"
    doc = """
"relation-set" writes the local unit's settings for some relation. If no
relation is specified then the current relation is used. The setting values
are not inspected and are stored as strings. Setting an empty string causes
the setting to be removed. A value "@<path>" is replaced by the content of the
file <path>.

The --file option reads settings from a file: a YAML map, or key=value lines.
Settings in the file are overridden by any duplicate key=value arguments. A
value of "-" for the filename means <stdin>. Changes are applied only if the
hook succeeds.
"""

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.relation_id = -1
        #: The settings given as arguments, as given (values still raw).
        self.settings: dict[str, str] = {}

    def set_flags(self, flags: FlagSet) -> None:
        self._relation = add_relation_flag(flags, self.ctx)
        self._format = flags.string("format", "", "deprecated format flag")
        self._file = flags.string("file", "", 'file containing key-value pairs ("-" for stdin)')

    def init(self, args: list[str]) -> None:
        self.relation_id = self._relation.value  # type: ignore[assignment]
        if self.relation_id == -1:
            raise ValueError("no relation id specified")
        self.settings = dict(parse_pair(arg) for arg in args)

    def run(self, inv: Invocation) -> None:
        if self._format.value:
            inv.write_stderr(f"--format flag deprecated for command {go_quote(self.name)}")
        relation = self.ctx.relation(self.relation_id)
        if relation is None:
            raise LookupError("unknown relation id")
        changes = self._from_file(inv) if self._file.value else {}
        for key, value in self.settings.items():
            if value.startswith("@"):
                path = value[1:]
                value = _decode(read_file(inv.abs_path(path), path), f"file {go_quote(path)}")
            changes[key] = value
        settings = relation.settings()
        for key, value in changes.items():
            if value:
                settings.set(key, value)
            else:
                settings.delete(key)

    def _from_file(self, inv: Invocation) -> dict[str, str]:
        path = self._file.value
        if path == "-":
            if inv.stdin is None:
                raise ValueError("--file -: the request carried no stdin")
            if len(inv.stdin) > MAX_FILE_SIZE:
                raise ValueError(f"stdin is larger than {MAX_FILE_SIZE} bytes")
            return parse_settings(inv.stdin, "stdin")
        data = read_file(inv.abs_path(path), path)  # type: ignore[arg-type]
        return parse_settings(data, f"file {go_quote(path)}")  # type: ignore[arg-type]
