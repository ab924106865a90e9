"""Relations, their scopes and unit settings, on every backend."""

from __future__ import annotations

import gevent
import pytest

from agent_runtime.state import DYING, AlreadyExists, InvalidValue, NotFound

from charms import RIAK, deploy


@pytest.fixture
def deployed(state):
    deploy(state)
    return state


def test_relations_get_ids_and_canonical_keys(deployed):
    first = deployed.add_relation("mysql:server", "wordpress:db")
    second = deployed.add_relation("wordpress", "memcached")
    deployed.add_service("riak", RIAK)  # its peer relation comes with it
    peer = deployed.relation_by_key("riak:ring")
    assert (first.id, first.key) == (0, "wordpress:db mysql:server")
    assert (second.id, second.key) == (1, "wordpress:cache memcached:cache")
    assert (peer.id, peer.key) == (2, "riak:ring")
    assert [r.id for r in deployed.relations()] == [0, 1, 2]
    assert [r.key for r in deployed.relations("wordpress")] == [first.key, second.key]
    assert deployed.relation(0) == first
    assert deployed.relation_by_key("riak:ring") == peer
    assert first.endpoint("mysql").endpoint.role == "provider"
    assert first.counterpart_service("wordpress") == "mysql"
    assert peer.counterpart_service("riak") == "riak"


def test_a_peer_relation_by_endpoint(deployed):
    deployed.add_service("riak", RIAK)
    deployed.destroy_relation(deployed.relation_by_key("riak:ring").id)
    relation = deployed.add_relation("riak:ring")
    assert relation.key == "riak:ring"


def test_a_relation_cannot_be_added_twice(deployed):
    deployed.add_relation("wordpress:db", "mysql:server")
    with pytest.raises(AlreadyExists, match="'wordpress:db mysql:server' already exists"):
        deployed.add_relation("mysql", "wordpress")
    assert len(deployed.relations()) == 1


@pytest.mark.parametrize(
    "endpoints, message",
    [
        (("wordpress:db", "memcached:cache"), "interfaces differ .'mysql' and 'memcache'."),
        (("wordpress:db", "wordpress:cache"), "cannot relate to itself"),
        (("wordpress", "memcached:cache", "mysql"), "one .peer. or two endpoints"),
        (("wordpress:nope", "mysql"), "has no endpoint 'nope'"),
        (("mysql",), "must be a peer relation"),
        (("ghost", "mysql"), "service 'ghost' not found"),
        (("wordpress", "mysql", "riak"), "one .peer. or two endpoints"),
        ((), "one .peer. or two endpoints"),
        (("",), "not ''"),
    ],
)
def test_bad_relations_are_refused_saying_why(deployed, endpoints, message):
    with pytest.raises((InvalidValue, NotFound), match=message):
        deployed.add_relation(*endpoints)
    assert deployed.relations() == []


def test_roles_that_do_not_fit_are_refused(state):
    from agent_runtime.state.charm import Charm

    a = Charm.from_metadata({"name": "a", "provides": {"x": "i"}})
    b = Charm.from_metadata({"name": "b", "provides": {"y": "i"}})
    state.add_service("a", a)
    state.add_service("b", b)
    with pytest.raises(InvalidValue, match=r"roles do not fit .provider and provider."):
        state.add_relation("a:x", "b:y")


def test_ambiguous_relations_list_the_candidates(state):
    from agent_runtime.state.charm import Charm

    app = Charm.from_metadata({"name": "app", "requires": {"one": "db", "two": "db"}})
    state.add_service("app", app)
    state.add_service("db", Charm.from_metadata({"name": "db", "provides": {"server": "db"}}))
    with pytest.raises(InvalidValue, match=r"ambiguous.*app:one db:server; app:two db:server"):
        state.add_relation("app", "db")


def test_concurrent_add_relation_gives_distinct_ids(deployed):
    deployed.add_service("riak", RIAK)
    deployed.destroy_relation(deployed.relation_by_key("riak:ring").id)
    adders = [
        gevent.spawn(deployed.add_relation, *pair)
        for pair in (("wordpress", "mysql"), ("wordpress", "memcached"), ("riak",))
    ]
    gevent.joinall(adders, timeout=30, raise_error=True)
    assert sorted(a.value.id for a in adders) == [1, 2, 3]


def test_scope_and_settings(deployed):
    relation = deployed.add_relation("wordpress", "mysql")
    wp, db = deployed.add_unit("wordpress"), deployed.add_unit("mysql")
    deployed.enter_scope(relation.id, wp, {"private-address": "10.0.0.1"})
    deployed.enter_scope(relation.id, db)
    deployed.enter_scope(relation.id, db, {"ignored": "already in scope"})
    assert deployed.scope(relation.id) == ["mysql/0", "wordpress/0"]
    assert deployed.in_scope(relation.id, wp)
    assert deployed.relation_settings(relation.id, wp) == ({"private-address": "10.0.0.1"}, 0)
    assert deployed.relation_settings(relation.id, db) == ({}, 0)
    assert deployed.update_relation_settings(relation.id, db, {"user": "u", "host": "h"}) == 1
    assert deployed.update_relation_settings(relation.id, db, {"user": "u"}) == 1  # no change
    assert deployed.update_relation_settings(relation.id, db, {}, remove=["host"]) == 2
    assert deployed.relation_settings(relation.id, db) == ({"user": "u"}, 2)
    deployed.leave_scope(relation.id, db)
    deployed.leave_scope(relation.id, db)  # not in scope: no change
    assert deployed.scope(relation.id) == ["wordpress/0"]
    assert deployed.relation_settings(relation.id, db) == ({"user": "u"}, 2)  # kept
    stranger = deployed.add_unit("mysql")
    with pytest.raises(NotFound, match="'mysql/1' is not in scope of relation 0"):
        deployed.relation_settings(relation.id, stranger)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"k": 1}, "value of 'k' must be a str"),
        ({1: "v"}, "keys must be non-empty str"),
        ({"": "v"}, "keys must be non-empty str"),
        ("k=v", "must be a mapping"),
    ],
)
def test_settings_must_be_str_to_str(deployed, settings, message):
    relation = deployed.add_relation("wordpress", "mysql")
    unit = deployed.add_unit("mysql")
    with pytest.raises(InvalidValue, match=message):
        deployed.enter_scope(relation.id, unit, settings)
    assert not deployed.in_scope(relation.id, unit)
    deployed.enter_scope(relation.id, unit, {"a": "b"})
    with pytest.raises(InvalidValue, match=message):
        deployed.update_relation_settings(relation.id, unit, settings)
    assert deployed.relation_settings(relation.id, unit) == ({"a": "b"}, 0)


def test_a_unit_of_another_service_cannot_enter_scope(deployed):
    relation = deployed.add_relation("wordpress", "mysql")
    unit = deployed.add_unit("memcached")
    with pytest.raises(InvalidValue, match="'memcached' is not in relation"):
        deployed.enter_scope(relation.id, unit)


def test_unknown_units_and_relations(deployed):
    relation = deployed.add_relation("wordpress", "mysql")
    with pytest.raises(NotFound, match="unit 'mysql/9' not found"):
        deployed.enter_scope(relation.id, "mysql/9")
    with pytest.raises(NotFound, match="relation 42 not found"):
        deployed.relation(42)
    for bad in ("0", -1, 1.0, None, True):
        with pytest.raises(InvalidValue, match="relation id"):
            deployed.relation(bad)


def test_destroying_an_empty_relation_removes_it(deployed):
    relation = deployed.add_relation("wordpress", "mysql")
    deployed.destroy_relation(relation.id)
    with pytest.raises(NotFound):
        deployed.relation(relation.id)
    assert deployed.relations() == []


def test_a_dying_relation_goes_when_its_last_unit_leaves(deployed):
    relation = deployed.add_relation("wordpress", "mysql")
    wp, db = deployed.add_unit("wordpress"), deployed.add_unit("mysql")
    deployed.enter_scope(relation.id, wp)
    deployed.enter_scope(relation.id, db)
    deployed.destroy_relation(relation.id)
    assert deployed.relation(relation.id).life == DYING
    with pytest.raises(InvalidValue, match="is dying: cannot enter"):
        deployed.enter_scope(relation.id, deployed.add_unit("mysql"))
    deployed.leave_scope(relation.id, wp)
    assert deployed.relation(relation.id).life == DYING
    deployed.leave_scope(relation.id, db)
    with pytest.raises(NotFound):
        deployed.relation(relation.id)


def test_a_unit_in_scope_cannot_be_removed(deployed):
    relation = deployed.add_relation("wordpress", "mysql")
    unit = deployed.add_unit("mysql")
    deployed.enter_scope(relation.id, unit)
    deployed.destroy_unit(unit)
    deployed.ensure_dead(unit)
    with pytest.raises(InvalidValue, match="still in scope"):
        deployed.remove_unit(unit)
    deployed.leave_scope(relation.id, unit)
    deployed.remove_unit(unit)


def test_a_dying_unit_cannot_enter_a_scope(deployed):
    relation = deployed.add_relation("wordpress", "mysql")
    unit = deployed.add_unit("mysql")
    deployed.destroy_unit(unit)
    with pytest.raises(InvalidValue, match="not alive: cannot enter"):
        deployed.enter_scope(relation.id, unit)
    assert deployed.scope(relation.id) == []


def test_destroy_racing_the_last_leave_never_strands_a_dying_relation(deployed):
    """Whatever the interleaving of destroy_relation and leave_scope, the
    relation is gone once its scope is empty."""
    for _ in range(10):
        relation = deployed.add_relation("wordpress", "mysql")
        unit = deployed.add_unit("wordpress")
        deployed.enter_scope(relation.id, unit)
        racers = [
            gevent.spawn(deployed.destroy_relation, relation.id),
            gevent.spawn(deployed.leave_scope, relation.id, unit),
        ]
        gevent.joinall(racers, timeout=30, raise_error=True)
        with pytest.raises(NotFound):
            deployed.relation(relation.id)


def test_a_departed_units_last_settings_stay_readable(deployed):
    relation = deployed.add_relation("wordpress", "mysql")
    wp, db = deployed.add_unit("wordpress"), deployed.add_unit("mysql")
    deployed.enter_scope(relation.id, wp)
    deployed.enter_scope(relation.id, db, {"host": "h"})
    deployed.update_relation_settings(relation.id, db, {"user": "u"})
    deployed.leave_scope(relation.id, db)
    assert not deployed.in_scope(relation.id, db)
    assert deployed.relation_settings(relation.id, db) == ({"host": "h", "user": "u"}, 1)
    with pytest.raises(NotFound):
        deployed.update_relation_settings(relation.id, db, {"x": "y"})
    deployed.destroy_relation(relation.id)
    deployed.leave_scope(relation.id, wp)
    with pytest.raises(NotFound):
        deployed.relation(relation.id)
    assert deployed.store.children("/relations") == []
