"""The State's model on every backend: environ config, services, units.

Writes are checked and rejected with a clear error, and nothing half-written
stays: each refused write is followed by a read showing the state unchanged.
"""

from __future__ import annotations

import gevent
import pytest
from zope.interface.verify import verifyObject

from agent_runtime.interfaces import IEnvironConfigGetter
from agent_runtime.state import (
    ALIVE,
    DEAD,
    DYING,
    AlreadyExists,
    InvalidValue,
    NotFound,
    StateClosed,
)
from agent_runtime.state.charm import Charm

from charms import MYSQL, WORDPRESS, deploy


def test_state_provides_ienvironconfiggetter(state):
    verifyObject(IEnvironConfigGetter, state)


def test_a_new_state_is_empty_and_usable(state):
    assert state.environ_config() == {}
    assert state.services() == []
    assert state.relations() == []


def test_environ_config_updates_and_removals(state):
    state.update_environ_config({"name": "env", "type": "dummy", "secret": "s"})
    state.update_environ_config({"name": "renamed"}, remove=["secret", "absent"])
    assert state.environ_config() == {"name": "renamed", "type": "dummy"}


def test_environ_config_is_stored_as_given_even_when_invalid(state):
    # Whether it makes a valid Environ is environs' business, not the state's.
    state.update_environ_config({"type": "unknown", "secret": 999})
    assert state.environ_config() == {"type": "unknown", "secret": 999}


def test_environ_config_read_is_a_copy(state):
    state.update_environ_config({"name": "env"})
    config = state.environ_config()
    config["name"] = "mutated"
    assert state.environ_config() == {"name": "env"}


@pytest.mark.parametrize(
    "changes, remove",
    [
        ("name=x", ()),
        ({1: "x"}, ()),
        ({"": "x"}, ()),
        ({"k": object()}, ()),
        ({"k": float("nan")}, ()),
        ({}, "name"),
        ({}, [1]),
    ],
)
def test_bad_environ_config_writes_change_nothing(state, changes, remove):
    state.update_environ_config({"name": "env"})
    with pytest.raises(InvalidValue):
        state.update_environ_config(changes, remove=remove)
    assert state.environ_config() == {"name": "env"}


# -- services --------------------------------------------------------------------


def test_services_are_added_listed_and_read(state):
    deploy(state)
    assert state.services() == ["memcached", "mysql", "wordpress"]
    service = state.service("wordpress")
    assert service.name == "wordpress" and service.life == ALIVE
    assert service.charm == WORDPRESS


def test_adding_a_service_twice_is_refused(state):
    state.add_service("mysql", MYSQL)
    with pytest.raises(AlreadyExists, match="'mysql' already exists"):
        state.add_service("mysql", WORDPRESS)
    assert state.service("mysql").charm == MYSQL


@pytest.mark.parametrize("name", ["", "MySQL", "my_sql", "-x", "x-", "a--b", "1db", "a/b", None])
def test_bad_service_names_are_refused(state, name):
    with pytest.raises(InvalidValue, match="invalid service name"):
        state.add_service(name, MYSQL)
    assert state.services() == []


def test_unknown_service_is_not_found(state):
    with pytest.raises(NotFound, match="service 'nope' not found"):
        state.service("nope")
    for call in (state.units, state.service_settings, state.add_unit, state.watch_service_config):
        with pytest.raises(NotFound):
            call("nope")


def test_service_config_has_defaults_and_set_values(state):
    deploy(state)
    assert state.service_config("wordpress") == {
        "title": "My blog",
        "port": 80,
        "ratio": None,
        "debug": False,
    }
    state.update_service_config("wordpress", {"title": "News", "ratio": 2})
    assert state.service_settings("wordpress") == {"title": "News", "ratio": 2.0}
    assert state.service_config("wordpress")["title"] == "News"
    state.update_service_config("wordpress", {}, remove=["title"])
    assert state.service_config("wordpress")["title"] == "My blog"


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"port": "8080"}, "option 'port' expects int"),
        ({"port": 1.5}, "option 'port' expects int"),
        ({"debug": "yes"}, "option 'debug' expects boolean"),
        ({"title": 3}, "option 'title' expects string"),
        ({"nope": "x"}, "has no option 'nope'"),
    ],
)
def test_bad_service_config_is_refused_naming_the_option(state, changes, message):
    deploy(state)
    state.update_service_config("wordpress", {"title": "kept"})
    with pytest.raises(InvalidValue, match=message):
        state.update_service_config("wordpress", {"port": 8080, **changes})
    assert state.service_settings("wordpress") == {"title": "kept"}


def test_option_parse_converts_command_line_values():
    options = WORDPRESS.options
    assert options["port"].parse("8080") == 8080
    assert options["ratio"].parse("0.5") == 0.5
    assert options["debug"].parse("True") is True
    assert options["debug"].parse("no") is False
    with pytest.raises(InvalidValue, match="option 'port' expects int, got 'eighty'"):
        options["port"].parse("eighty")


@pytest.mark.parametrize(
    "metadata, config, message",
    [
        ({}, None, "invalid or missing name"),
        ({"name": "x", "provides": {"db": {}}}, None, "needs an interface"),
        ({"name": "x", "provides": {"db": "a"}, "requires": {"db": "a"}}, None, "defined twice"),
        ({"name": "x"}, {"options": {"o": {"type": "complex"}}}, "unknown type 'complex'"),
        ({"name": "x"}, {"options": {"o": {"type": "int", "default": "1"}}}, "expects int"),
        ("name: x", None, "must be a mapping"),
    ],
)
def test_bad_charm_metadata_is_refused(metadata, config, message):
    with pytest.raises(InvalidValue, match=message):
        Charm.from_metadata(metadata, config)


def test_charm_round_trips_through_its_stored_form():
    assert Charm.from_dict(WORDPRESS.as_dict()) == WORDPRESS


# -- units ---------------------------------------------------------------------------


def test_units_are_numbered_per_service(state):
    deploy(state)
    assert [state.add_unit("mysql") for _ in range(3)] == ["mysql/0", "mysql/1", "mysql/2"]
    assert state.add_unit("wordpress") == "wordpress/0"
    assert state.units("mysql") == ["mysql/0", "mysql/1", "mysql/2"]


def test_unit_numbers_are_never_reused(state):
    deploy(state)
    unit = state.add_unit("mysql")
    state.destroy_unit(unit)
    state.ensure_dead(unit)
    state.remove_unit(unit)
    assert state.add_unit("mysql") == "mysql/1"


def test_concurrent_add_unit_gives_distinct_names(state):
    deploy(state)
    adders = [gevent.spawn(state.add_unit, "mysql") for _ in range(20)]
    gevent.joinall(adders, timeout=30, raise_error=True)
    names = sorted(a.value for a in adders)
    assert len(set(names)) == 20
    assert state.units("mysql") == [f"mysql/{i}" for i in range(20)]


def test_unit_addresses_ports_and_status(state):
    deploy(state)
    unit = state.add_unit("wordpress")
    state.set_unit_addresses(unit, public="wp.example.com", private="10.0.0.1")
    state.open_port(unit, "TCP", 80)
    state.open_port(unit, "udp", 53)
    state.open_port(unit, "tcp", 80)
    state.close_port(unit, "tcp", 8080)
    state.set_unit_status(unit, "active", "serving", hook="start")
    info = state.unit(unit)
    assert (info.public_address, info.private_address) == ("wp.example.com", "10.0.0.1")
    assert info.ports == (("tcp", 80), ("udp", 53))
    assert info.status == {"status": "active", "message": "serving", "hook": "start"}
    assert info.service == "wordpress" and info.number == 0
    state.close_port(unit, "tcp", 80)
    assert state.unit(unit).ports == (("udp", 53),)


@pytest.mark.parametrize(
    "protocol, port", [("http", 80), ("tcp", 0), ("tcp", 65536), ("tcp", "80"), ("tcp", True)]
)
def test_bad_ports_are_refused(state, protocol, port):
    deploy(state)
    unit = state.add_unit("mysql")
    with pytest.raises(InvalidValue):
        state.open_port(unit, protocol, port)
    assert state.unit(unit).ports == ()


@pytest.mark.parametrize(
    "name",
    ["mysql", "mysql/", "mysql/x", "mysql/-1", "mysql/01", "../x/0", "/etc/passwd", "a/b/c", 7],
)
def test_bad_unit_names_are_refused(state, name):
    deploy(state)
    with pytest.raises(InvalidValue, match="invalid unit name"):
        state.unit(name)


def test_unknown_unit_is_not_found(state):
    deploy(state)
    with pytest.raises(NotFound, match="unit 'mysql/7' not found"):
        state.unit("mysql/7")


def test_unit_life_goes_alive_dying_dead_then_removed(state):
    deploy(state)
    unit = state.add_unit("mysql")
    with pytest.raises(InvalidValue, match="is not dead"):
        state.remove_unit(unit)
    state.destroy_unit(unit)
    assert state.unit(unit).life == DYING
    state.destroy_unit(unit)  # no change
    state.ensure_dead(unit)
    assert state.unit(unit).life == DEAD
    state.remove_unit(unit)
    with pytest.raises(NotFound):
        state.unit(unit)
    assert state.units("mysql") == []


def test_a_closed_state_refuses_calls(state_url, open_state):
    state = open_state(state_url)
    state.close()
    with pytest.raises(StateClosed):
        state.environ_config()
    state.close()  # twice is fine


def test_resolving_a_unit_needs_an_error(state):
    deploy(state)
    unit = state.add_unit("mysql")
    with pytest.raises(InvalidValue, match="not in an error state"):
        state.resolve_unit(unit)
    state.set_unit_status(unit, "error", 'hook "start" failed', hook="start")
    state.resolve_unit(unit, retry=True)
    assert state.unit(unit).resolved == "retry"
    state.resolve_unit(unit)
    assert state.unit(unit).resolved == "skip"
    state.clear_resolved(unit)
    assert state.unit(unit).resolved is None


def test_deploying_a_charm_with_peer_endpoints_relates_its_peers(state):
    from charms import RIAK

    deploy(state)
    state.add_service("riak", RIAK)
    (relation,) = state.relations("riak")
    assert (relation.id, relation.key) == (0, "riak:ring")
    with pytest.raises(AlreadyExists):
        state.add_relation("riak")
    assert state.add_relation("wordpress", "mysql").id == 1


def test_writes_from_stale_copies_never_lose_another_writers_change(state_url, open_state):
    """A State builds its first attempt at a write from the copy of what it
    wrote last; another writer's change in between is never lost, and a
    first attempt that finds nothing to do is checked against a fresh read."""
    url = state_url if not state_url.startswith("memory") else "memory://stale-copies-test"
    first, second = open_state(url), open_state(url)
    deploy(first)
    first.update_environ_config({"a": "1"})
    second.update_environ_config({"b": "2"})  # first's copy of /environ is stale now
    first.update_environ_config({"c": "3"})
    assert second.environ_config() == {"a": "1", "b": "2", "c": "3"}

    relation = first.add_relation("wordpress", "mysql")
    unit = first.add_unit("mysql")
    first.enter_scope(relation.id, unit, {"x": "1"})
    first.update_relation_settings(relation.id, unit, {"x": "1"})
    second.update_relation_settings(relation.id, unit, {"x": "2"})
    # From its copy, nothing to do; the fresh read says otherwise.
    first.update_relation_settings(relation.id, unit, {"x": "1"})
    assert second.relation_settings(relation.id, unit)[0] == {"x": "1"}


def test_a_write_after_a_write_reads_nothing():
    """The optimistic first attempt: one writer's second update of a node
    costs no read of it."""
    from agent_runtime.state import State
    from agent_runtime.state.store import MemoryStore

    class CountingStore(MemoryStore):
        reads = 0

        def get(self, path):
            CountingStore.reads += 1
            return super().get(path)

    state = State(CountingStore())
    try:
        state.update_environ_config({"n": 0})
        before = CountingStore.reads
        state.update_environ_config({"n": 1})
        assert CountingStore.reads == before
        assert state.environ_config() == {"n": 1}
    finally:
        state.close()
