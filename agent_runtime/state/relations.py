"""The relation half of the State: relations, their scopes and unit settings.

A mixin of ``State`` (it uses the State's plumbing: ``_get``, ``_transact``,
``store``), kept in a module of its own because relations are a concept of
their own.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from agent_runtime.interfaces import IRelationUnitsWatcher, IStringsWatcher
from agent_runtime.state.errors import AlreadyExists, InvalidValue, NotFound
from agent_runtime.state.model import (
    ALIVE,
    DYING,
    Relation,
    RelationEndpoint,
    check_settings,
    check_unit_name,
    relation_key,
    unit_from_key,
    unit_key,
)
from agent_runtime.state.store import Check, Create, Delete, Node, Op, Set
from agent_runtime.state.watchers import RelationUnitsStateWatcher, ServiceRelationsWatcher

if TYPE_CHECKING:
    from agent_runtime.state.state import State

__all__ = ["RelationsMixin"]


def _relation_path(relation_id: int) -> str:
    if type(relation_id) is not int or relation_id < 0:
        raise InvalidValue(f"a relation id is a non-negative int, not {relation_id!r}")
    return f"/relations/{relation_id}"


class RelationsMixin:
    # -- relations ------------------------------------------------------------------

    def add_relation(self: State, *endpoints: str) -> Relation:
        """Relate services: ``add_relation("wordpress:db", "mysql:server")``, or a
        peer relation ``add_relation("riak:ring")``. A bare service name stands
        for its one endpoint that fits. Raises ``InvalidValue`` saying why two
        endpoints cannot relate, ``AlreadyExists`` for a relation that exists."""
        resolved = self._resolve_endpoints(endpoints)
        key = relation_key(resolved)
        relation: list[Relation] = []

        def build() -> list[Op]:
            if any(r.key == key for r in self.relations()):
                raise AlreadyExists(f"relation {key!r} already exists")
            counter = self._get("/relations")
            next_id = counter.data["next-id"]
            new = Relation(next_id, key, resolved)
            relation[:] = [new]
            return [
                Set("/relations", {"next-id": next_id + 1}, counter.version),
                *self._relation_creation(new),
            ]

        self._transact(build)
        return relation[0]

    @staticmethod
    def _relation_creation(relation: Relation) -> list[Op]:
        """The ops that create ``relation`` (the id counter is the caller's)."""
        path = _relation_path(relation.id)
        return [
            Create(path, relation.as_dict()),
            Create(f"{path}/scope", None),
            Create(f"{path}/departed", None),
        ]

    def _resolve_endpoints(self: State, names: tuple[str, ...]) -> tuple[RelationEndpoint, ...]:
        if len(names) not in (1, 2):
            raise InvalidValue(f"a relation has one (peer) or two endpoints, not {len(names)}")
        options = []
        for name in names:
            if not isinstance(name, str) or not name:
                raise InvalidValue(f"an endpoint is 'service:endpoint' or 'service', not {name!r}")
            service, _, endpoint = name.partition(":")
            charm = self.service(service).charm
            if endpoint:
                if endpoint not in charm.endpoints:
                    raise InvalidValue(f"service {service!r} has no endpoint {endpoint!r}")
                options.append([RelationEndpoint(service, charm.endpoints[endpoint])])
            else:
                options.append([RelationEndpoint(service, e) for e in charm.endpoints.values()])
        if len(names) == 1:
            peers = [e for e in options[0] if e.endpoint.role == "peer"]
            if len(peers) != 1:
                found = ", ".join(str(e) for e in options[0]) or "none"
                raise InvalidValue(
                    f"a relation of one endpoint must be a peer relation: {names[0]!r} "
                    f"names {len(peers)} peer endpoints (endpoints: {found})"
                )
            return (peers[0],)
        if options[0] and options[1] and options[0][0].service == options[1][0].service:
            raise InvalidValue(
                f"service {options[0][0].service!r} cannot relate to itself "
                "except through a peer endpoint"
            )
        fits = [
            (a, b) for a, b in itertools.product(*options) if a.endpoint.can_relate_to(b.endpoint)
        ]
        if len(fits) == 1:
            return fits[0]
        if not fits:
            if len(options[0]) == len(options[1]) == 1:
                a, b = options[0][0], options[1][0]
                if a.endpoint.interface != b.endpoint.interface:
                    why = (
                        f"their interfaces differ ({a.endpoint.interface!r} and "
                        f"{b.endpoint.interface!r})"
                    )
                else:
                    why = f"their roles do not fit ({a.endpoint.role} and {b.endpoint.role})"
                raise InvalidValue(f"cannot relate {a} to {b}: {why}")
            raise InvalidValue(f"no endpoints of {names[0]!r} and {names[1]!r} can relate")
        listed = "; ".join(f"{a} {b}" for a, b in fits)
        raise InvalidValue(f"ambiguous relation {' '.join(names)!r}: it could be any of {listed}")

    def relation(self: State, relation_id: int) -> Relation:
        """The relation ``relation_id``; ``NotFound`` if there is none."""
        node = self._get(_relation_path(relation_id))
        if node is None:
            raise NotFound(f"relation {relation_id} not found")
        return Relation.from_dict(relation_id, node.data)

    def relations(self: State, service: str | None = None) -> list[Relation]:
        """Every relation (of ``service``, if given), by id."""
        if service is not None:
            self._service_node(service)
        found = []
        for name in sorted(self.store.children("/relations"), key=int):
            node = self._get(f"/relations/{name}")
            if node is None:
                continue  # removed meanwhile
            relation = Relation.from_dict(int(name), node.data)
            if service is None or service in relation.services:
                found.append(relation)
        return found

    def find_relation(self: State, *endpoints: str) -> Relation:
        """The relation between these endpoints (named as for ``add_relation``);
        ``NotFound`` if there is none."""
        return self.relation_by_key(relation_key(self._resolve_endpoints(endpoints)))

    def relation_by_key(self: State, key: str) -> Relation:
        """The relation whose key is ``key``; ``NotFound`` if there is none."""
        for relation in self.relations():
            if relation.key == key:
                return relation
        raise NotFound(f"relation {key!r} not found")

    def destroy_relation(self: State, relation_id: int) -> None:
        """End a relation: removed at once if no unit is in its scope, else
        dying until the last unit has left."""
        path = _relation_path(relation_id)

        def build() -> list[Op]:
            node = self._get(path)
            if node is None:
                raise NotFound(f"relation {relation_id} not found")
            if self.store.children(f"{path}/scope"):
                if node.data.get("life") == DYING:
                    return []
                return [Set(path, dict(node.data, life=DYING), node.version)]
            return self._removal_ops(relation_id, node)

        self._transact(build)

    def _forget_departed(self: State, relation_id: int, unit: str) -> list[Op]:
        kept = f"{_relation_path(relation_id)}/departed/{unit_key(unit)}"
        return [Delete(kept)] if self._get(kept) is not None else []

    def _removal_ops(self: State, relation_id: int, node: Node) -> list[Op]:
        """The ops that remove a relation whose scope is empty."""
        path = _relation_path(relation_id)
        ops: list[Op] = [
            Delete(f"{path}/departed/{key}") for key in self.store.children(f"{path}/departed")
        ]
        if self._get(f"{path}/departed") is not None:
            ops.append(Delete(f"{path}/departed"))
        return [*ops, Delete(f"{path}/scope"), Delete(path, node.version)]

    # -- scope and settings ---------------------------------------------------------------

    def _scope_path(self: State, relation_id: int, unit: str) -> str:
        return f"{_relation_path(relation_id)}/scope/{unit_key(unit)}"

    def enter_scope(
        self: State, relation_id: int, unit: str, settings: Mapping[str, str] | None = None
    ) -> None:
        """Put ``unit`` in the relation's scope with its initial settings. The
        unit's service must be in the relation, and the relation alive. Already
        in scope: no change."""
        service, _ = check_unit_name(unit)
        initial = check_settings(settings or {})
        path = self._scope_path(relation_id, unit)

        def build() -> list[Op]:
            relation_path = _relation_path(relation_id)
            node = self._get(relation_path)
            if node is None:
                raise NotFound(f"relation {relation_id} not found")
            relation = Relation.from_dict(relation_id, node.data)
            relation.endpoint(service)
            if self._get(path) is not None:
                return []
            if relation.life != ALIVE:
                raise InvalidValue(f"relation {relation.key!r} is dying: cannot enter its scope")
            unit_node = self._unit_node(unit)
            if unit_node.data.get("life", ALIVE) != ALIVE:
                raise InvalidValue(f"unit {unit!r} is not alive: cannot enter a relation's scope")
            # Writing the relation node (unchanged) bumps its version, so that a
            # concurrent destroy_relation that read the scope conflicts and re-reads.
            return [
                Set(relation_path, node.data, node.version),
                Check(self._unit_path(unit), unit_node.version),
                Create(path, initial),
                *self._forget_departed(relation_id, unit),
            ]

        self._transact(build)

    def leave_scope(self: State, relation_id: int, unit: str) -> None:
        """Take ``unit`` out of the relation's scope; the last unit to leave a
        dying relation removes it. Not in scope: no change."""
        path = self._scope_path(relation_id, unit)
        relation_path = _relation_path(relation_id)

        def build() -> list[Op]:
            node = self._get(path)
            if node is None:
                return []
            ops: list[Op] = [Delete(path, node.version)]
            relation = self._get(relation_path)
            if relation is None:
                return ops
            others = [
                k for k in self.store.children(f"{relation_path}/scope") if k != unit_key(unit)
            ]
            if relation.data.get("life") == DYING and not others:
                return ops + self._removal_ops(relation_id, relation)
            # Its last settings stay readable (a hook may still run for it on
            # the other side: changed, then departed).
            departed = f"{relation_path}/departed"
            kept = {"settings": node.data or {}, "version": node.version}
            if self._get(departed) is None:
                ops.append(Create(departed, None))
            if self._get(f"{departed}/{unit_key(unit)}") is None:
                ops.append(Create(f"{departed}/{unit_key(unit)}", kept))
            else:
                ops.append(Set(f"{departed}/{unit_key(unit)}", kept))
            # Bump the relation's version: see enter_scope.
            ops.append(Set(relation_path, relation.data, relation.version))
            return ops

        self._transact(build)

    def in_scope(self: State, relation_id: int, unit: str) -> bool:
        """True if ``unit`` is in the relation's scope."""
        return self._get(self._scope_path(relation_id, unit)) is not None

    def scope(self: State, relation_id: int) -> list[str]:
        """The units in the relation's scope, sorted."""
        keys = self.store.children(f"{_relation_path(relation_id)}/scope")
        return sorted(unit_from_key(k) for k in keys)

    def _settings_node(self: State, relation_id: int, unit: str) -> Node:
        node = self._get(self._scope_path(relation_id, unit))
        if node is None:
            raise NotFound(f"unit {unit!r} is not in scope of relation {relation_id}")
        return node

    def relation_settings(self: State, relation_id: int, unit: str) -> tuple[dict[str, str], int]:
        """The unit's settings in the relation, and their version. A unit that
        has left the scope keeps its last settings readable until the relation
        is removed."""
        try:
            node = self._settings_node(relation_id, unit)
        except NotFound:
            kept = self._get(f"{_relation_path(relation_id)}/departed/{unit_key(unit)}")
            if kept is None:
                raise
            return dict(kept.data["settings"]), kept.data["version"]
        return dict(node.data or {}), node.version

    def update_relation_settings(
        self: State,
        relation_id: int,
        unit: str,
        changes: Mapping[str, str],
        remove: Iterable[str] = (),
    ) -> int:
        """Set and delete settings of ``unit`` in the relation in one write;
        return the new version (unchanged if nothing changed)."""
        checked = check_settings(changes)
        if isinstance(remove, str):
            raise InvalidValue(f"keys to remove must be a list, not the str {remove!r}")
        remove = list(remove)
        path = self._scope_path(relation_id, unit)
        version: list[int] = []

        def build() -> list[Op]:
            node = self._settings_node(relation_id, unit)
            settings = dict(node.data or {})
            settings.update(checked)
            for key in remove:
                settings.pop(key, None)
            if settings == node.data:
                version[:] = [node.version]
                return []
            version[:] = [node.version + 1]
            return [Set(path, settings, node.version)]

        self._transact(build)
        return version[0]

    # -- watchers -------------------------------------------------------------------------

    def watch_service_relations(self: State, service: str) -> IStringsWatcher:
        """A watcher of the keys of the service's relations: the first event
        holds every one; later events name those added, removed, or whose life
        changed."""
        self._service_node(service)
        return ServiceRelationsWatcher(self, service)

    def watch_relation_units(self: State, relation_id: int, unit: str) -> IRelationUnitsWatcher:
        """A watcher of the units ``unit`` sees in the relation's scope (the
        other service's units, or its peers), with their settings versions."""
        relation = self.relation(relation_id)
        relation.endpoint(check_unit_name(unit)[0])
        return RelationUnitsStateWatcher(self, relation, unit)
