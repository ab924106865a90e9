"""Charm metadata: relation endpoints and config options.

A charm is a directory with ``metadata.yaml`` (name, provides/requires/peers
relations), ``config.yaml`` (options with types and defaults) and ``hooks/``.
The state keeps only its metadata (``Charm.as_dict()``): the endpoints a
service can relate on and the options its config may set.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agent_runtime.state.errors import InvalidValue

__all__ = ["ROLES", "Charm", "Endpoint", "Option", "read_charm_dir", "valid_name"]

#: metadata.yaml section -> the role of its endpoints
ROLES = {"provides": "provider", "requires": "requirer", "peers": "peer"}

_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_OPTION_TYPES = ("string", "int", "float", "boolean")


def valid_name(name: object) -> bool:
    """True if ``name`` is a valid charm, service or endpoint name: lowercase
    letters and digits in words joined by single hyphens, starting with a letter."""
    return isinstance(name, str) and bool(_NAME.match(name))


@dataclass(frozen=True)
class Endpoint:
    """One relation endpoint of a charm: ``db`` of role ``requirer`` on
    interface ``mysql``."""

    name: str
    interface: str
    role: str
    limit: int | None = None

    def can_relate_to(self, other: Endpoint) -> bool:
        """True if a relation between this endpoint and ``other`` makes sense:
        the same interface, one providing and one requiring."""
        return self.interface == other.interface and {self.role, other.role} == {
            "provider",
            "requirer",
        }


@dataclass(frozen=True)
class Option:
    """A config option: its type (string, int, float, boolean) and default."""

    name: str
    type: str = "string"
    default: Any = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.type not in _OPTION_TYPES:
            raise InvalidValue(
                f"option {self.name!r}: unknown type {self.type!r} "
                f"(expected one of {', '.join(_OPTION_TYPES)})"
            )
        if self.default is not None:
            object.__setattr__(self, "default", self.validate(self.default))

    def validate(self, value: Any) -> Any:
        """Return ``value`` if it is of this option's type (an int is a valid
        float); raise ``InvalidValue`` naming the option otherwise."""
        ok = {
            "string": lambda v: isinstance(v, str),
            "int": lambda v: type(v) is int,
            "float": lambda v: type(v) in (int, float),
            "boolean": lambda v: type(v) is bool,
        }[self.type](value)
        if not ok:
            raise InvalidValue(
                f"option {self.name!r} expects {self.type}, got {type(value).__name__} {value!r}"
            )
        return float(value) if self.type == "float" else value

    def parse(self, text: str) -> Any:
        """Convert a value written on a command line (``port=8080``) to this
        option's type; raise ``InvalidValue`` naming the option if it does not
        convert."""
        try:
            if self.type == "string":
                return text
            if self.type == "int":
                return int(text)
            if self.type == "float":
                return float(text)
            lowered = text.strip().lower()
            if lowered in ("true", "yes", "on", "1"):
                return True
            if lowered in ("false", "no", "off", "0"):
                return False
            raise ValueError(text)
        except ValueError:
            raise InvalidValue(f"option {self.name!r} expects {self.type}, got {text!r}") from None


@dataclass(frozen=True)
class Charm:
    """What the state needs to know of a charm."""

    name: str
    endpoints: Mapping[str, Endpoint] = field(default_factory=dict)
    options: Mapping[str, Option] = field(default_factory=dict)

    @classmethod
    def from_metadata(
        cls, metadata: Mapping[str, Any], config: Mapping[str, Any] | None = None
    ) -> Charm:
        """Build from the parsed ``metadata.yaml`` and ``config.yaml``; raise
        ``InvalidValue`` saying what is wrong."""
        if not isinstance(metadata, Mapping):
            raise InvalidValue(f"charm metadata must be a mapping, not {type(metadata).__name__}")
        name = metadata.get("name")
        if not valid_name(name):
            raise InvalidValue(f"charm metadata: invalid or missing name {name!r}")
        endpoints: dict[str, Endpoint] = {}
        for section, role in ROLES.items():
            relations = metadata.get(section) or {}
            if not isinstance(relations, Mapping):
                raise InvalidValue(f"charm {name!r}: {section} must be a mapping")
            for endpoint, spec in relations.items():
                if not valid_name(endpoint):
                    raise InvalidValue(f"charm {name!r}: invalid endpoint name {endpoint!r}")
                if endpoint in endpoints:
                    raise InvalidValue(f"charm {name!r}: endpoint {endpoint!r} defined twice")
                if isinstance(spec, str):
                    spec = {"interface": spec}
                if not isinstance(spec, Mapping) or not isinstance(spec.get("interface"), str):
                    raise InvalidValue(
                        f"charm {name!r}: endpoint {endpoint!r} needs an interface name"
                    )
                limit = spec.get("limit")
                endpoints[endpoint] = Endpoint(endpoint, spec["interface"], role, limit)
        options: dict[str, Option] = {}
        raw = (config or {}).get("options") or {}
        if not isinstance(raw, Mapping):
            raise InvalidValue(f"charm {name!r}: config options must be a mapping")
        for option, spec in raw.items():
            if not isinstance(option, str) or not option:
                raise InvalidValue(f"charm {name!r}: invalid option name {option!r}")
            spec = spec or {}
            if not isinstance(spec, Mapping):
                raise InvalidValue(f"charm {name!r}: option {option!r} must be a mapping")
            options[option] = Option(
                option,
                spec.get("type", "string"),
                spec.get("default"),
                spec.get("description", ""),
            )
        return cls(name, endpoints, options)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form the state stores (``from_dict`` reads it back)."""
        return {
            "name": self.name,
            "endpoints": {
                e.name: {"interface": e.interface, "role": e.role, "limit": e.limit}
                for e in self.endpoints.values()
            },
            "options": {
                o.name: {"type": o.type, "default": o.default, "description": o.description}
                for o in self.options.values()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Charm:
        endpoints = {
            name: Endpoint(name, spec["interface"], spec["role"], spec.get("limit"))
            for name, spec in data.get("endpoints", {}).items()
        }
        options = {
            name: Option(name, spec["type"], spec.get("default"), spec.get("description", ""))
            for name, spec in data.get("options", {}).items()
        }
        return cls(data["name"], endpoints, options)

    def validate_settings(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Check config values against the options; return them normalised.
        Raises ``InvalidValue`` naming the first unknown option or bad value."""
        checked = {}
        for key, value in changes.items():
            option = self.options.get(key)
            if option is None:
                raise InvalidValue(f"charm {self.name!r} has no option {key!r}")
            checked[key] = option.validate(value)
        return checked

    def defaults(self) -> dict[str, Any]:
        """Every option's default (None for options without one)."""
        return {name: option.default for name, option in self.options.items()}


def read_charm_dir(path: str) -> Charm:
    """Read a charm directory's ``metadata.yaml`` (required) and ``config.yaml``
    (optional). Raises ``InvalidValue`` naming the file that is missing or wrong."""
    import os

    import yaml

    if not os.path.isdir(path):
        raise InvalidValue(f"charm directory {path!r} does not exist or is not a directory")

    def load(name: str, required: bool) -> Any:
        file = os.path.join(path, name)
        if not os.path.exists(file):
            if required:
                raise InvalidValue(f"{path!r} is not a charm directory: it has no {name}")
            return None
        try:
            with open(file, encoding="utf-8") as stream:
                return yaml.safe_load(stream)
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            raise InvalidValue(f"cannot read {file!r}: {error}") from None

    metadata = load("metadata.yaml", required=True)
    config = load("config.yaml", required=False)
    if config is not None and not isinstance(config, Mapping):
        raise InvalidValue(f"{os.path.join(path, 'config.yaml')!r} must hold a mapping")
    try:
        return Charm.from_metadata(metadata, config)
    except InvalidValue as error:
        raise InvalidValue(f"{path!r}: {error}") from None
