"""The hook context: what the hook tools see of the state while one hook runs.

Reads are cached for the whole hook. Writes (``relation-set``, ``open-port``,
``close-port``) stay in the context; ``flush()`` applies them to the state,
and the unit agent calls it only when the hook exited 0. A failed hook's
writes are dropped with its context.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from zope.interface import implementer

from agent_runtime.interfaces import IContextRelation, IHookContext, IRelationSettings
from agent_runtime.state import NotFound, State

__all__ = ["ContextRelation", "HookContext", "RelationSettings"]

#: What ``owner-get tag`` prints: this runtime has one owner.
OWNER_TAG = "user-admin"


@implementer(IRelationSettings)
class RelationSettings:
    """The local unit's settings in one relation, with this hook's writes."""

    def __init__(self, original: Mapping[str, str]) -> None:
        self._original = dict(original)
        self._current = dict(original)

    def map(self) -> dict[str, str]:
        return dict(self._current)

    def set(self, key: str, value: str) -> None:
        self._current[key] = value

    def delete(self, key: str) -> None:
        self._current.pop(key, None)

    def changes(self) -> tuple[dict[str, str], list[str]]:
        """What this hook changed: (keys set to new values, keys removed)."""
        changed = {k: v for k, v in self._current.items() if self._original.get(k) != v}
        removed = [k for k in self._original if k not in self._current]
        return changed, removed


@implementer(IContextRelation)
class ContextRelation:
    """One relation of the unit, as the running hook sees it: ``members`` are
    the remote units the hook sees in it (the committed members, adjusted for
    the hook that runs)."""

    def __init__(
        self, state: State, relation_id: int, name: str, unit: str, members: Iterable[str]
    ) -> None:
        self._state = state
        self._id = relation_id
        self._name = name
        self._unit = unit
        self._members = sorted(members)
        self._settings: RelationSettings | None = None
        self._read: dict[str, dict[str, str]] = {}

    def id(self) -> int:
        return self._id

    def name(self) -> str:
        return self._name

    def fake_id(self) -> str:
        return f"{self._name}:{self._id}"

    def settings(self) -> RelationSettings:
        if self._settings is None:
            try:
                settings, _ = self._state.relation_settings(self._id, self._unit)
            except NotFound:
                settings = {}
            self._settings = RelationSettings(settings)
        return self._settings

    def unit_names(self) -> list[str]:
        return list(self._members)

    def read_settings(self, unit_name: str) -> dict[str, str]:
        if unit_name not in self._read:
            try:
                settings, _ = self._state.relation_settings(self._id, unit_name)
            except NotFound:
                raise LookupError(f"unknown unit {unit_name}") from None
            self._read[unit_name] = settings
        return dict(self._read[unit_name])

    def flush(self) -> None:
        """Write this hook's changes of the local unit's settings to the state."""
        if self._settings is None:
            return
        changed, removed = self._settings.changes()
        if changed or removed:
            self._state.update_relation_settings(self._id, self._unit, changed, remove=removed)


@implementer(IHookContext)
class HookContext:
    """The context of one hook run of ``unit``.

    ``relations`` maps every relation id the unit takes part in to its
    ``ContextRelation``; ``relation_id`` and ``remote_unit`` say which
    relation hook runs (None and "" for unit hooks).
    """

    def __init__(
        self,
        state: State,
        unit: str,
        relations: Mapping[int, ContextRelation],
        relation_id: int | None = None,
        remote_unit: str = "",
    ) -> None:
        self._state = state
        self._unit = unit
        self._relations = dict(relations)
        self._relation_id = relation_id
        self._remote_unit = remote_unit
        info = state.unit(unit)
        self._public = info.public_address
        self._private = info.private_address
        self._original_ports = set(info.ports)
        self._ports = set(info.ports)
        self._config: dict[str, Any] | None = None

    def unit_name(self) -> str:
        return self._unit

    def public_address(self) -> str | None:
        return self._public

    def private_address(self) -> str | None:
        return self._private

    def open_port(self, protocol: str, port: int) -> None:
        self._ports.add((protocol, port))

    def close_port(self, protocol: str, port: int) -> None:
        self._ports.discard((protocol, port))

    def config_settings(self) -> dict[str, Any]:
        if self._config is None:
            self._config = self._state.service_config(self._unit.partition("/")[0])
        return dict(self._config)

    def hook_relation(self) -> ContextRelation | None:
        return None if self._relation_id is None else self._relations.get(self._relation_id)

    def remote_unit_name(self) -> str | None:
        return self._remote_unit or None

    def relation(self, id: int) -> ContextRelation | None:
        return self._relations.get(id)

    def relation_ids(self) -> list[int]:
        return sorted(self._relations)

    def owner_tag(self) -> str:
        return OWNER_TAG

    def flush(self) -> None:
        """Apply the hook's writes to the state: relation settings, then ports.
        Call it only when the hook succeeded."""
        for relation in self._relations.values():
            relation.flush()
        if self._ports != self._original_ports:
            self._state.set_unit_ports(self._unit, self._ports)

    def __repr__(self) -> str:
        hook = f" relation {self._relation_id} {self._remote_unit}" if self._relation_id else ""
        return f"<HookContext {self._unit}{hook}>"
