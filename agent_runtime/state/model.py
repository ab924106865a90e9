"""The values the State hands out, and the checks of names.

All are immutable snapshots: reading the state again gives a new one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agent_runtime.state.charm import Charm, Endpoint, valid_name
from agent_runtime.state.errors import InvalidValue

__all__ = [
    "ALIVE",
    "DEAD",
    "DYING",
    "LIVES",
    "Relation",
    "RelationEndpoint",
    "Service",
    "Unit",
    "check_service_name",
    "check_settings",
    "check_unit_name",
    "unit_from_key",
    "unit_key",
]

ALIVE, DYING, DEAD = "alive", "dying", "dead"
LIVES = (ALIVE, DYING, DEAD)

_UNIT = re.compile(r"^(?P<service>[a-z][a-z0-9]*(?:-[a-z0-9]+)*)/(?P<number>0|[1-9][0-9]*)$")


def check_service_name(name: object) -> str:
    """Return ``name`` if it is a valid service name; raise ``InvalidValue``."""
    if not valid_name(name):
        raise InvalidValue(
            f"invalid service name {name!r}: use lowercase letters and digits, "
            "in words joined by single hyphens, starting with a letter"
        )
    return name


def check_unit_name(name: object) -> tuple[str, int]:
    """Split a unit name ``service/N`` into (service, N); raise ``InvalidValue``
    for anything else (``../x/0``, ``a/b/c``, ``foo/-1``, ``foo/01``)."""
    match = _UNIT.match(name) if isinstance(name, str) else None
    if match is None:
        raise InvalidValue(f"invalid unit name {name!r}: expected <service>/<number>")
    return match["service"], int(match["number"])


def unit_key(unit: str) -> str:
    """The node name of a unit: its name with the '/' replaced by '-'."""
    service, number = check_unit_name(unit)
    return f"{service}-{number}"


def unit_from_key(key: str) -> str:
    """The unit name of a node name made by ``unit_key``."""
    service, _, number = key.rpartition("-")
    return f"{service}/{number}"


def check_settings(settings: object, what: str = "relation settings") -> dict[str, str]:
    """Return ``settings`` as a dict if it maps str to str; raise ``InvalidValue``."""
    if not isinstance(settings, Mapping):
        raise InvalidValue(f"{what} must be a mapping of str to str, not {type(settings).__name__}")
    for key, value in settings.items():
        if not isinstance(key, str) or not key:
            raise InvalidValue(f"{what}: keys must be non-empty str, got {key!r}")
        if not isinstance(value, str):
            raise InvalidValue(
                f"{what}: the value of {key!r} must be a str, got {type(value).__name__} {value!r}"
            )
    return dict(settings)


@dataclass(frozen=True)
class Service:
    name: str
    charm: Charm
    life: str = ALIVE


@dataclass(frozen=True)
class Unit:
    name: str
    life: str = ALIVE
    public_address: str | None = None
    private_address: str | None = None
    ports: tuple[tuple[str, int], ...] = ()
    status: Mapping[str, Any] = field(default_factory=dict)
    #: What the operator said of a failed hook: None, "retry" or "skip".
    resolved: str | None = None

    @property
    def service(self) -> str:
        return self.name.partition("/")[0]

    @property
    def number(self) -> int:
        return int(self.name.partition("/")[2])


@dataclass(frozen=True)
class RelationEndpoint:
    """A service's endpoint in a relation: ``mysql:server``."""

    service: str
    endpoint: Endpoint

    def __str__(self) -> str:
        return f"{self.service}:{self.endpoint.name}"


@dataclass(frozen=True)
class Relation:
    """A relation: its integer id, its key (``wordpress:db mysql:server``),
    its endpoints (one for a peer relation, two otherwise) and its life."""

    id: int
    key: str
    endpoints: tuple[RelationEndpoint, ...]
    life: str = ALIVE

    @property
    def services(self) -> tuple[str, ...]:
        return tuple(e.service for e in self.endpoints)

    def endpoint(self, service: str) -> RelationEndpoint:
        """The endpoint of ``service`` in this relation."""
        for endpoint in self.endpoints:
            if endpoint.service == service:
                return endpoint
        raise InvalidValue(f"service {service!r} is not in relation {self.key!r}")

    def counterpart_service(self, service: str) -> str:
        """The service whose units ``service``'s units see in this relation:
        the other one, or ``service`` itself in a peer relation."""
        self.endpoint(service)
        others = [e.service for e in self.endpoints if e.service != service]
        return others[0] if others else service

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "life": self.life,
            "endpoints": [
                {
                    "service": e.service,
                    "name": e.endpoint.name,
                    "interface": e.endpoint.interface,
                    "role": e.endpoint.role,
                }
                for e in self.endpoints
            ],
        }

    @classmethod
    def from_dict(cls, id: int, data: Mapping[str, Any]) -> Relation:
        endpoints = tuple(
            RelationEndpoint(e["service"], Endpoint(e["name"], e["interface"], e["role"]))
            for e in data["endpoints"]
        )
        return cls(id, data["key"], endpoints, data.get("life", ALIVE))


def relation_key(endpoints: tuple[RelationEndpoint, ...]) -> str:
    """The canonical key of a relation: requirer before provider."""
    order = {"requirer": 0, "peer": 1, "provider": 2}
    ordered = sorted(endpoints, key=lambda e: (order[e.endpoint.role], e.service))
    return " ".join(str(e) for e in ordered)
