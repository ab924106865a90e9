"""An in-memory hook context, for testing hook tools and whatever calls them.

``FakeHookContext`` provides ``IHookContext``: what a hook tool reads comes
from what it was built with, and what a tool writes (relation settings,
ports) is visible at once in its attributes. There is no commit: nothing
outside the fake is changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from zope.interface import implementer

from agent_runtime.interfaces import IContextRelation, IHookContext, IRelationSettings

__all__ = ["FakeContextRelation", "FakeHookContext", "FakeRelationSettings"]


@implementer(IRelationSettings)
class FakeRelationSettings:
    """Settings held in a dict (``data``)."""

    def __init__(self, data: Mapping[str, str] | None = None) -> None:
        self.data: dict[str, str] = dict(data or {})

    def map(self) -> dict[str, str]:
        return dict(self.data)

    def set(self, key: str, value: str) -> None:
        self.data[key] = value

    def delete(self, key: str) -> None:
        self.data.pop(key, None)


@implementer(IContextRelation)
class FakeContextRelation:
    """A relation whose remote units' settings are ``units`` (unit -> dict)
    and whose local unit's settings are ``local`` (a FakeRelationSettings)."""

    def __init__(
        self,
        id: int,
        name: str,
        units: Mapping[str, Mapping[str, str]] | None = None,
        local: Mapping[str, str] | None = None,
    ) -> None:
        self._id = id
        self._name = name
        self.units: dict[str, dict[str, str]] = {u: dict(s) for u, s in (units or {}).items()}
        self.local = FakeRelationSettings(local)

    def id(self) -> int:
        return self._id

    def name(self) -> str:
        return self._name

    def fake_id(self) -> str:
        return f"{self._name}:{self._id}"

    def settings(self) -> FakeRelationSettings:
        return self.local

    def unit_names(self) -> list[str]:
        return sorted(self.units)

    def read_settings(self, unit_name: str) -> dict[str, str]:
        if unit_name not in self.units:
            raise LookupError(f"unknown unit {unit_name}")
        return dict(self.units[unit_name])


@implementer(IHookContext)
class FakeHookContext:
    """A hook context built from plain values.

    ``relations`` are FakeContextRelations; ``hook_relation_id`` (-1: none) and
    ``remote_unit`` ("" : none) say which hook runs. ``ports`` is the set of
    open ``(protocol, port)`` pairs.
    """

    def __init__(
        self,
        unit_name: str = "u/0",
        public_address: str | None = None,
        private_address: str | None = None,
        config: Mapping[str, object] | None = None,
        relations: Iterable[FakeContextRelation] = (),
        hook_relation_id: int = -1,
        remote_unit: str = "",
        owner_tag: str = "",
    ) -> None:
        self._unit_name = unit_name
        self._public_address = public_address
        self._private_address = private_address
        self.config: dict[str, object] = dict(config or {})
        self.relations: dict[int, FakeContextRelation] = {r.id(): r for r in relations}
        self.hook_relation_id = hook_relation_id
        self.remote_unit = remote_unit
        self._owner_tag = owner_tag
        self.ports: set[tuple[str, int]] = set()

    def unit_name(self) -> str:
        return self._unit_name

    def public_address(self) -> str | None:
        return self._public_address or None

    def private_address(self) -> str | None:
        return self._private_address or None

    def open_port(self, protocol: str, port: int) -> None:
        self.ports.add((protocol, port))

    def close_port(self, protocol: str, port: int) -> None:
        self.ports.discard((protocol, port))

    def config_settings(self) -> dict[str, object]:
        return dict(self.config)

    def hook_relation(self) -> FakeContextRelation | None:
        return self.relations.get(self.hook_relation_id)

    def remote_unit_name(self) -> str | None:
        return self.remote_unit or None

    def relation(self, id: int) -> FakeContextRelation | None:
        return self.relations.get(id)

    def relation_ids(self) -> list[int]:
        return list(self.relations)

    def owner_tag(self) -> str:
        return self._owner_tag
