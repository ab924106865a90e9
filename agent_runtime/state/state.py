"""State: the watched state agents share, over any ``IStore``.

Every write reads what it depends on, builds the ops of one commit (with
version checks on what it read) and commits them all or none; when another
writer got in between, it reads again and retries. So a write is checked
(unknown service, bad unit name, settings that are not str -> str, ...) and
either applied whole or refused with nothing half-written.

The node tree::

    /environ                          the environment config
    /services/<svc>                   charm metadata, life, next unit number
    /services/<svc>/config            the config values set for the service
    /services/<svc>/units/<n>         addresses, ports, life, status of <svc>/<n>
    /relations                        the next relation id
    /relations/<id>                   key, endpoints, life
    /relations/<id>/scope/<svc>-<n>   a unit in scope: its settings (version = node version)
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import gevent.local
from zope.interface import implementer

from agent_runtime.interfaces import (
    IEnvironConfigGetter,
    INotifyWatcher,
    IRelationUnitsWatcher,
    IStore,
    IStringsWatcher,
)
from agent_runtime.state.charm import Charm
from agent_runtime.state.errors import (
    AlreadyExists,
    Conflict,
    InvalidValue,
    NotFound,
    StateClosed,
    StateError,
)
from agent_runtime.state.model import (
    ALIVE,
    DEAD,
    DYING,
    Relation,
    RelationEndpoint,
    Service,
    Unit,
    check_service_name,
    check_unit_name,
)
from agent_runtime.state.presence import PRESENCE, PresenceMixin
from agent_runtime.state.relations import RelationsMixin
from agent_runtime.state.store import Check, Create, Delete, Node, Op, Set
from agent_runtime.state.watchers import PathWatcher

__all__ = ["State"]

log = logging.getLogger("agent_runtime.state")

#: How many times a write is retried when concurrent writers keep changing
#: what it read.
MAX_ATTEMPTS = 50
#: How many copies of written nodes a State keeps (it forgets them all beyond).
MAX_WRITTEN = 10_000

_PORT_PROTOCOLS = ("tcp", "udp")


@implementer(IEnvironConfigGetter)
class State(RelationsMixin, PresenceMixin):
    """The shared state: environment config, services, units, relations.

    Open one with ``agent_runtime.state.open(url)``. Close it when done
    (``close()``, or use it as a context manager): its watchers stop with an
    error.
    """

    def __init__(self, store: IStore, url: str = "") -> None:
        if not IStore.providedBy(store):
            raise TypeError(f"State needs an IStore, not {store!r}")
        self.store = store
        self.url = url
        self._closed = False
        #: Copies of the nodes this State wrote last (see ``_transact``), and
        #: whether the current greenlet builds an optimistic first attempt.
        self._written: dict[str, Node] = {}
        self._optimistic = gevent.local.local()
        self._ensure_layout()

    def _ensure_layout(self) -> None:
        layout = (
            ("/environ", {}),
            ("/services", None),
            ("/relations", {"next-id": 0}),
            (PRESENCE, None),
        )
        for path, data in layout:
            if self.store.get(path) is None:
                try:
                    self.store.commit([Create(path, data)])
                except Conflict:
                    pass  # another process made it first

    def close(self) -> None:
        """Close the state and its store."""
        if not self._closed:
            self._closed = True
            self.store.close()

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<State {self.url or self.store!r}{' closed' if self._closed else ''}>"

    # -- plumbing ---------------------------------------------------------------

    def _get(self, path: str) -> Node | None:
        if self._closed:
            raise StateClosed(f"{self!r} is closed")
        if getattr(self._optimistic, "on", False) and path in self._written:
            written = self._written[path]
            return Node(copy.deepcopy(written.data), written.version)
        return self.store.get(path)

    def _transact(self, build: Callable[[], Sequence[Op]]) -> None:
        """Commit the ops ``build()`` returns; when a version check fails
        because a concurrent writer changed what ``build`` read, build again.

        The first attempt is optimistic: ``build`` reads the nodes this State
        wrote last from its own copies (one read less per write, for the
        common case of one writer per node). The version checks of the
        commit catch a copy that went stale; and a first attempt that finds
        nothing to do, or raises, is built again from fresh reads before that
        is believed.
        """
        for attempt in range(MAX_ATTEMPTS):
            ops = None
            if attempt == 0 and self._written:
                self._optimistic.on = True
                try:
                    ops = build()
                except StateError:
                    ops = None
                finally:
                    self._optimistic.on = False
            if not ops:
                ops = build()
            if not ops:
                return
            try:
                self.store.commit(ops)
            except Conflict:
                for op in ops:
                    self._written.pop(op.path, None)
                continue
            self._remember(ops)
            return
        raise Conflict(f"gave up after {MAX_ATTEMPTS} attempts: concurrent writers kept winning")

    def _remember(self, ops: Sequence[Op]) -> None:
        """Keep copies of the nodes a commit wrote, for the next optimistic build."""
        for op in ops:
            if isinstance(op, Create):
                self._written[op.path] = Node(copy.deepcopy(op.data), 0)
            elif isinstance(op, Set) and op.version is not None:
                self._written[op.path] = Node(copy.deepcopy(op.data), op.version + 1)
            elif not isinstance(op, Check):
                self._written.pop(op.path, None)
        if len(self._written) > MAX_WRITTEN:
            self._written.clear()

    def _watch(self, paths: Iterable[str]) -> INotifyWatcher:
        if self._closed:
            raise StateClosed(f"{self!r} is closed")
        return PathWatcher(self.store, list(paths))

    # -- the environment ------------------------------------------------------------

    def environ_config(self) -> dict[str, Any]:
        """The environment config (``{}`` until one is set)."""
        node = self._get("/environ")
        return dict(node.data or {}) if node else {}

    def update_environ_config(self, changes: Mapping[str, Any], remove: Iterable[str] = ()) -> None:
        """Set the keys of ``changes`` and delete the keys in ``remove``, in one
        write. Keys must be str; values anything JSON can hold. Whether the
        result is a valid environment is for ``environs`` to say."""
        if not isinstance(changes, Mapping):
            raise InvalidValue(f"environ config changes must be a mapping, not {changes!r}")
        remove = _names(remove, "keys to remove")
        for key in changes:
            if not isinstance(key, str) or not key:
                raise InvalidValue(f"environ config keys must be non-empty str, got {key!r}")

        def build() -> list[Op]:
            node = self._get("/environ")
            config = dict(node.data or {})
            config.update(changes)
            for key in remove:
                config.pop(key, None)
            return [Set("/environ", config, node.version)]

        self._transact(build)

    def watch_environ_config(self) -> INotifyWatcher:
        """A watcher that fires when the environment config may have changed."""
        return self._watch(["/environ"])

    # -- services -----------------------------------------------------------------

    def add_service(self, name: str, charm: Charm) -> Service:
        """Add a service running ``charm``, with a relation for each of its peer
        endpoints (as juju does), in one write; raise ``AlreadyExists`` if there
        is a service of that name."""
        check_service_name(name)
        if not isinstance(charm, Charm):
            raise InvalidValue(f"add_service needs a Charm, not {charm!r}")
        path = f"/services/{name}"
        peers = [e for e in charm.endpoints.values() if e.role == "peer"]

        def build() -> list[Op]:
            if self._get(path) is not None:
                raise AlreadyExists(f"service {name!r} already exists")
            ops: list[Op] = [
                Create(path, {"charm": charm.as_dict(), "life": ALIVE, "next-unit": 0}),
                Create(f"{path}/config", {}),
                Create(f"{path}/units", None),
            ]
            if peers:
                counter = self._get("/relations")
                next_id = counter.data["next-id"]
                for offset, endpoint in enumerate(peers):
                    relation = Relation(
                        next_id + offset,
                        f"{name}:{endpoint.name}",
                        (RelationEndpoint(name, endpoint),),
                    )
                    ops += self._relation_creation(relation)
                ops.append(Set("/relations", {"next-id": next_id + len(peers)}, counter.version))
            return ops

        self._transact(build)
        return Service(name, charm)

    def _service_node(self, name: str) -> Node:
        check_service_name(name)
        node = self._get(f"/services/{name}")
        if node is None:
            raise NotFound(f"service {name!r} not found")
        return node

    def service(self, name: str) -> Service:
        """The service ``name``; ``NotFound`` if there is none."""
        data = self._service_node(name).data
        return Service(name, Charm.from_dict(data["charm"]), data.get("life", ALIVE))

    def services(self) -> list[str]:
        """The names of every service, sorted."""
        return self.store.children("/services")

    def service_settings(self, name: str) -> dict[str, Any]:
        """The config values set for the service (without defaults)."""
        self._service_node(name)
        node = self._get(f"/services/{name}/config")
        return dict(node.data or {}) if node else {}

    def service_config(self, name: str) -> dict[str, Any]:
        """The service's config: every option of its charm, set or default
        (None for an option with neither)."""
        config = self.service(name).charm.defaults()
        config.update(self.service_settings(name))
        return config

    def update_service_config(
        self, name: str, changes: Mapping[str, Any], remove: Iterable[str] = ()
    ) -> None:
        """Set config values (checked against the charm's options: unknown
        options and values of the wrong type are refused, naming the option)
        and reset the options in ``remove`` to their defaults."""
        if not isinstance(changes, Mapping):
            raise InvalidValue(f"config changes must be a mapping, not {changes!r}")
        remove = _names(remove, "options to reset")
        charm = self.service(name).charm
        checked = charm.validate_settings(changes)
        for key in remove:
            if key not in charm.options:
                raise InvalidValue(f"charm {charm.name!r} has no option {key!r}")
        path = f"/services/{name}/config"

        def build() -> list[Op]:
            node = self._get(path)
            if node is None:
                raise NotFound(f"service {name!r} not found")
            settings = dict(node.data or {})
            settings.update(checked)
            for key in remove:
                settings.pop(key, None)
            return [Set(path, settings, node.version)]

        self._transact(build)

    def watch_service_config(self, name: str) -> INotifyWatcher:
        """A watcher that fires when the service's config may have changed."""
        self._service_node(name)
        return self._watch([f"/services/{name}/config"])

    # -- units ----------------------------------------------------------------------

    def add_unit(self, service: str) -> str:
        """Add a unit to ``service``; return its name, ``service/N``."""
        added: list[str] = []

        def build() -> list[Op]:
            node = self._service_node(service)
            if node.data.get("life", ALIVE) != ALIVE:
                raise InvalidValue(f"service {service!r} is not alive")
            number = node.data["next-unit"]
            added[:] = [f"{service}/{number}"]
            data = dict(node.data, **{"next-unit": number + 1})
            unit = {"life": ALIVE, "ports": [], "status": {}}
            return [
                Set(f"/services/{service}", data, node.version),
                Create(f"/services/{service}/units/{number}", unit),
            ]

        self._transact(build)
        return added[0]

    @staticmethod
    def _unit_path(name: str) -> str:
        service, number = check_unit_name(name)
        return f"/services/{service}/units/{number}"

    def _unit_node(self, name: str) -> Node:
        node = self._get(self._unit_path(name))
        if node is None:
            raise NotFound(f"unit {name!r} not found")
        return node

    def unit(self, name: str) -> Unit:
        """The unit ``name``; ``NotFound`` if there is none."""
        data = self._unit_node(name).data
        return Unit(
            name,
            data.get("life", ALIVE),
            data.get("public-address"),
            data.get("private-address"),
            tuple((proto, port) for proto, port in data.get("ports", ())),
            dict(data.get("status", {})),
            data.get("resolved"),
        )

    def units(self, service: str) -> list[str]:
        """The names of the service's units, by number."""
        self._service_node(service)
        numbers = sorted(int(n) for n in self.store.children(f"/services/{service}/units"))
        return [f"{service}/{n}" for n in numbers]

    def _update_unit(self, name: str, change: Callable[[dict[str, Any]], None]) -> None:
        path = self._unit_path(name)

        def build() -> list[Op]:
            node = self._unit_node(name)
            data = dict(node.data)
            change(data)
            return [] if data == node.data else [Set(path, data, node.version)]

        self._transact(build)

    def set_unit_addresses(
        self, name: str, public: str | None = None, private: str | None = None
    ) -> None:
        """Set the unit's public and/or private address (None leaves one as is)."""
        for value in (public, private):
            if value is not None and (not isinstance(value, str) or not value):
                raise InvalidValue(f"an address must be a non-empty str, not {value!r}")

        def change(data: dict[str, Any]) -> None:
            if public is not None:
                data["public-address"] = public
            if private is not None:
                data["private-address"] = private

        self._update_unit(name, change)

    def set_unit_ports(self, name: str, ports: Iterable[tuple[str, int]]) -> None:
        """Replace the unit's open ports with ``ports`` ((protocol, port) pairs)."""
        checked = sorted({_check_port(protocol, port) for protocol, port in ports})

        def change(data: dict[str, Any]) -> None:
            data["ports"] = [list(p) for p in checked]

        self._update_unit(name, change)

    def open_port(self, name: str, protocol: str, port: int) -> None:
        """Open ``port``/``protocol`` on the unit (already open: no change)."""
        opened = _check_port(protocol, port)

        def change(data: dict[str, Any]) -> None:
            ports = {tuple(p) for p in data.get("ports", [])} | {opened}
            data["ports"] = [list(p) for p in sorted(ports)]

        self._update_unit(name, change)

    def close_port(self, name: str, protocol: str, port: int) -> None:
        """Close ``port``/``protocol`` on the unit (not open: no change)."""
        closed = _check_port(protocol, port)

        def change(data: dict[str, Any]) -> None:
            ports = {tuple(p) for p in data.get("ports", [])} - {closed}
            data["ports"] = [list(p) for p in sorted(ports)]

        self._update_unit(name, change)

    def set_unit_status(self, name: str, status: str, message: str = "", **data: Any) -> None:
        """Record what the unit's agent is doing (shown by ``status``):
        ``status`` is a word (``active``, ``executing``, ``error``, ...),
        ``message`` a line for humans, ``data`` any JSON-able details."""
        if not isinstance(status, str) or not status:
            raise InvalidValue(f"a status must be a non-empty str, not {status!r}")

        def change(unit: dict[str, Any]) -> None:
            unit["status"] = {"status": status, "message": message, **data}

        self._update_unit(name, change)

    def resolve_unit(self, name: str, retry: bool = False) -> None:
        """The operator's answer to a failed hook: retry it (``retry=True``) or
        skip it. Refused unless the unit's status is ``error``."""

        def change(data: dict[str, Any]) -> None:
            if data.get("status", {}).get("status") != "error":
                raise InvalidValue(f"unit {name!r} is not in an error state")
            data["resolved"] = "retry" if retry else "skip"

        self._update_unit(name, change)

    def clear_resolved(self, name: str) -> None:
        """Forget the operator's answer (the unit agent has acted on it)."""

        def change(data: dict[str, Any]) -> None:
            data.pop("resolved", None)

        self._update_unit(name, change)

    def destroy_unit(self, name: str) -> None:
        """Ask the unit to go: alive -> dying. Its agent runs its departures and
        stop hook, then marks it dead. Dying or dead already: no change."""

        def change(data: dict[str, Any]) -> None:
            if data.get("life", ALIVE) == ALIVE:
                data["life"] = DYING

        self._update_unit(name, change)

    def ensure_dead(self, name: str) -> None:
        """Mark the unit dead (its agent has finished with it)."""

        def change(data: dict[str, Any]) -> None:
            data["life"] = DEAD

        self._update_unit(name, change)

    def remove_unit(self, name: str) -> None:
        """Remove a dead unit that is in no relation's scope."""

        def build() -> list[Op]:
            node = self._unit_node(name)
            if node.data.get("life") != DEAD:
                raise InvalidValue(f"unit {name!r} is not dead; destroy it and let its agent stop")
            for relation in self.relations(name.partition("/")[0]):
                if self.in_scope(relation.id, name):
                    raise InvalidValue(f"unit {name!r} is still in scope of {relation.key!r}")
            return [Delete(self._unit_path(name), node.version)]

        self._transact(build)

    def watch_unit(self, name: str) -> INotifyWatcher:
        """A watcher that fires when the unit may have changed (life,
        addresses, ports, status) or been removed."""
        self._unit_node(name)
        return self._watch([self._unit_path(name)])

    # Declared here so that the State's whole API reads in one place.
    watch_service_relations: Callable[[str], IStringsWatcher]
    watch_relation_units: Callable[[int, str], IRelationUnitsWatcher]


def _names(names: Iterable[str], what: str) -> list[str]:
    if isinstance(names, str):
        raise InvalidValue(f"{what} must be a list of names, not the str {names!r}")
    names = list(names)
    for name in names:
        if not isinstance(name, str):
            raise InvalidValue(f"{what} must be str, got {name!r}")
    return names


def _check_port(protocol: object, port: object) -> tuple[str, int]:
    if not isinstance(protocol, str) or protocol.lower() not in _PORT_PROTOCOLS:
        raise InvalidValue(f'protocol must be "tcp" or "udp"; got {protocol!r}')
    if type(port) is not int or not 1 <= port <= 65535:
        raise InvalidValue(f"port must be in the range [1, 65535]; got {port!r}")
    return protocol.lower(), port
