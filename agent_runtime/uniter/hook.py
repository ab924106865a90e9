"""The hooks known to the uniter (juju's ``uniter/hook`` and ``charm/hooks``).

``Kind`` names the nine hook kinds; ``Info`` says which hook to run: its kind
and, for a relation hook, the relation, the remote unit and the settings
version of that unit the hook reflects. ``Info`` round-trips through YAML with
the reference's keys (``kind``, ``relation-id``, ``remote-unit``,
``change-version``; empty fields are left out).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

__all__ = ["RELATION_HOOKS", "UNIT_HOOKS", "HookError", "Info", "Kind"]

try:  # the C loader and dumper when libyaml is there; the same results, faster
    _Loader: Any = yaml.CSafeLoader
    _Dumper: Any = yaml.CSafeDumper
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader
    _Dumper = yaml.SafeDumper


class HookError(ValueError):
    """A hook ``Info`` that is not valid, or YAML that does not hold one."""


class Kind(str, enum.Enum):
    """A hook kind. Its value is the reference's string (``"relation-joined"``),
    which is also what ``str()`` gives and what a ``Kind`` compares equal to."""

    INSTALL = "install"
    START = "start"
    CONFIG_CHANGED = "config-changed"
    UPGRADE_CHARM = "upgrade-charm"
    STOP = "stop"
    RELATION_JOINED = "relation-joined"
    RELATION_CHANGED = "relation-changed"
    RELATION_DEPARTED = "relation-departed"
    RELATION_BROKEN = "relation-broken"

    def __str__(self) -> str:
        return self.value

    def is_unit(self) -> bool:
        """True for the five hooks about the unit itself (install ... stop)."""
        return self in _UNIT_SET

    def is_relation(self) -> bool:
        """True for the four relation hooks (joined, changed, departed, broken)."""
        return self in _RELATION_SET

    def needs_remote_unit(self) -> bool:
        """True for joined, changed and departed: they are about one remote unit."""
        return self in _REMOTE_UNIT_SET


#: The unit hooks, in the reference's order.
UNIT_HOOKS: tuple[Kind, ...] = (
    Kind.INSTALL,
    Kind.START,
    Kind.CONFIG_CHANGED,
    Kind.UPGRADE_CHARM,
    Kind.STOP,
)
#: The relation hooks, in the reference's order.
RELATION_HOOKS: tuple[Kind, ...] = (
    Kind.RELATION_JOINED,
    Kind.RELATION_CHANGED,
    Kind.RELATION_DEPARTED,
    Kind.RELATION_BROKEN,
)
_UNIT_SET = frozenset(UNIT_HOOKS)
_RELATION_SET = frozenset(RELATION_HOOKS)
_REMOTE_UNIT_SET = frozenset(RELATION_HOOKS[:3])
_BY_VALUE = {kind.value: kind for kind in Kind}


def quote(text: object) -> str:
    """``text`` in double quotes with backslash escapes, like Go's ``%q``."""
    text = str(text)
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    if escaped.isprintable():
        return f'"{escaped}"'
    out = []
    for char in escaped:
        if char.isprintable():
            out.append(char)
        elif char in "\n\t\r":
            out.append({"\n": "\\n", "\t": "\\t", "\r": "\\r"}[char])
        else:
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}")
    return '"' + "".join(out) + '"'


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Info:
    """Which hook to run.

    ``kind`` is a ``Kind``; a str naming a known kind is turned into one, and
    any other str is kept so that ``validate()`` can report it.
    ``relation_id`` is set (an int) for relation hooks and None otherwise;
    ``remote_unit`` names the remote unit of joined/changed/departed (empty for
    broken); ``change_version`` is the settings version of that unit the hook
    reflects.
    """

    kind: Kind | str
    relation_id: int | None = None
    remote_unit: str = ""
    change_version: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str):
            raise HookError(f"hook kind must be a str, not {self.kind!r}")
        if not isinstance(self.kind, Kind) and self.kind in _BY_VALUE:
            object.__setattr__(self, "kind", _BY_VALUE[self.kind])
        if self.relation_id is not None and not _is_int(self.relation_id):
            raise HookError(f"relation id must be an int or None, not {self.relation_id!r}")
        if not isinstance(self.remote_unit, str):
            raise HookError(f"remote unit must be a str, not {self.remote_unit!r}")
        if not _is_int(self.change_version):
            raise HookError(f"change version must be an int, not {self.change_version!r}")

    def validate(self) -> None:
        """Raise ``HookError`` unless the hook is well formed (the reference's
        rules: a known kind, and a remote unit for joined/changed/departed).
        The relation id, a remote unit on other kinds and the change version
        are not checked."""
        kind = self.kind
        if not isinstance(kind, Kind):
            raise HookError(f"unknown hook kind {quote(kind)}")
        if kind in _REMOTE_UNIT_SET and self.remote_unit == "":
            raise HookError(f"{quote(kind.value)} hook requires a remote unit")

    # -- YAML ----------------------------------------------------------------

    def as_dict(self) -> dict[str, Any]:
        """The YAML mapping of the hook: ``kind`` always; ``relation-id``,
        ``remote-unit`` and ``change-version`` only when set (not None, not
        empty, not 0)."""
        out: dict[str, Any] = {"kind": str(self.kind)}
        if self.relation_id is not None:
            out["relation-id"] = self.relation_id
        if self.remote_unit:
            out["remote-unit"] = self.remote_unit
        if self.change_version:
            out["change-version"] = self.change_version
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Info:
        """The hook a mapping of ``as_dict()``'s form describes.

        Raises ``HookError`` for anything else: not a mapping, no or an unknown
        ``kind``, a value of the wrong type, or a key the format does not have.
        The result is also ``validate()``d.
        """
        if not isinstance(data, Mapping):
            raise HookError(f"hook info must be a mapping, not {type(data).__name__}")
        unknown = set(data) - {"kind", "relation-id", "remote-unit", "change-version"}
        if unknown:
            raise HookError(f"hook info has unknown keys: {sorted(map(str, unknown))}")
        if "kind" not in data:
            raise HookError("hook info has no kind")
        kind = data["kind"]
        if not isinstance(kind, str) or kind not in _BY_VALUE:
            raise HookError(f"unknown hook kind {quote(kind)}")
        relation_id = data.get("relation-id")
        if relation_id is not None and not _is_int(relation_id):
            raise HookError(f"relation-id must be an integer, not {relation_id!r}")
        remote_unit = data.get("remote-unit", "")
        if remote_unit is None:
            remote_unit = ""
        if not isinstance(remote_unit, str):
            raise HookError(f"remote-unit must be a string, not {remote_unit!r}")
        change_version = data.get("change-version", 0)
        if change_version is None:
            change_version = 0
        if not _is_int(change_version):
            raise HookError(f"change-version must be an integer, not {change_version!r}")
        info = cls(_BY_VALUE[kind], relation_id, remote_unit, change_version)
        info.validate()
        return info

    def to_yaml(self) -> str:
        """The hook as a YAML document (the keys of ``as_dict()``, in order)."""
        return yaml.dump(self.as_dict(), Dumper=_Dumper, default_flow_style=False, sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str | bytes) -> Info:
        """The hook a YAML document of ``to_yaml()``'s form describes; raises
        ``HookError`` for YAML that does not parse or does not hold one."""
        try:
            data = yaml.load(text, Loader=_Loader)
        except yaml.YAMLError as error:
            raise HookError(f"YAML error: {_one_line(error)}") from error
        return cls.from_dict(data)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())
