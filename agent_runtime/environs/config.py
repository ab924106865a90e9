"""Config: a validated environment configuration.

An environment config is a mapping of str keys. ``name`` (a non-empty str)
and ``type`` (the provider's name, a non-empty str) are required; the
attributes every environment knows are typed (``KNOWN``); any other attribute
passes through for the provider to check. Errors are ``ConfigError`` in juju's
schema style, naming the attribute and the value with its Go-like type::

    secret: expected string, got int(999)
    name: expected string, got nothing
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from agent_runtime.environs.errors import ConfigError

__all__ = ["KNOWN", "Config", "describe"]

#: The attributes every environment config may have, with their types
#: (``name`` and ``type`` are also required).
KNOWN: dict[str, type] = {
    "name": str,
    "type": str,
    "uuid": str,
    "secret": str,
    "default-series": str,
    "authorized-keys": str,
    "development": bool,
}

_REQUIRED = ("name", "type")
_TYPE_NAMES = {str: "string", bool: "bool", int: "int", float: "float64"}


def describe(value: Any) -> str:
    """``value`` as juju's schema errors show it: its Go type and value
    (``int(999)``, ``float64(1.5)``, ``bool(true)``, ``string("x")``), or
    ``nothing`` for None (a missing value)."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"bool({'true' if value else 'false'})"
    if isinstance(value, int):
        return f"int({value})"
    if isinstance(value, float):
        text = repr(value)
        if text.endswith(".0"):
            text = text[:-2]
        return f"float64({text})"
    if isinstance(value, str):
        return f"string({json.dumps(value, ensure_ascii=False)})"
    if isinstance(value, (list, tuple)):
        return f"[]interface {{}}({value!r})"
    if isinstance(value, Mapping):
        return f"map[string]interface {{}}({dict(value)!r})"
    return f"{type(value).__name__}({value!r})"


def _expected(key: str, wanted: type, value: Any) -> ConfigError:
    return ConfigError(f"{key}: expected {_TYPE_NAMES[wanted]}, got {describe(value)}")


def _is(value: Any, wanted: type) -> bool:
    if wanted is bool:
        return isinstance(value, bool)
    if wanted is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, wanted)


class Config(Mapping[str, Any]):
    """A valid environment config: an immutable mapping of str keys.

    ``Config(attrs)`` checks ``attrs`` (any mapping) and raises ``ConfigError``
    for the first problem found: a value that is not a mapping, a key that is
    not a str, a missing or mistyped ``name``/``type``, an empty one, or a
    known attribute of the wrong type. Required attributes are checked first,
    then the others in sorted order, so the error is always the same one.
    A Config equals any mapping with the same items.
    """

    __slots__ = ("_attrs",)

    def __init__(self, attrs: Mapping[str, Any]) -> None:
        if isinstance(attrs, Config):
            self._attrs: dict[str, Any] = dict(attrs._attrs)
            return
        if not isinstance(attrs, Mapping):
            raise ConfigError(
                f"an environment config must be a mapping of str keys, got {describe(attrs)}"
            )
        attrs = dict(attrs)
        for key in attrs:
            if not isinstance(key, str):
                raise ConfigError(f"environment config keys must be str, got {describe(key)}")
        for key in _REQUIRED:
            value = attrs.get(key)
            if not isinstance(value, str):
                raise _expected(key, str, value)
            if not value:
                raise ConfigError(f"empty {key} in environment configuration")
        for key in sorted(attrs):
            wanted = KNOWN.get(key)
            if wanted is not None and not _is(attrs[key], wanted):
                raise _expected(key, wanted, attrs[key])
        self._attrs = attrs

    @property
    def name(self) -> str:
        """The environment's name."""
        return self._attrs["name"]

    @property
    def type(self) -> str:
        """The provider type, the key of the provider registry."""
        return self._attrs["type"]

    def as_dict(self) -> dict[str, Any]:
        """A new dict of the attributes (shallow copy)."""
        return dict(self._attrs)

    def __getitem__(self, key: str) -> Any:
        return self._attrs[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._attrs)

    def __len__(self) -> int:
        return len(self._attrs)

    def __repr__(self) -> str:
        shown = {k: ("<hidden>" if k == "secret" else v) for k, v in sorted(self._attrs.items())}
        return f"Config({shown!r})"
