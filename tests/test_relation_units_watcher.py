"""The in-memory relation-units watcher and RelationUnitsChange."""

from __future__ import annotations

import gevent
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from zope.interface.verify import verifyObject

from agent_runtime.interfaces import IRelationUnitsWatcher
from agent_runtime.watcher import RelationUnitsChange as Change
from agent_runtime.watcher import RelationUnitsWatcher


def take(watcher):
    with gevent.Timeout(10):
        return next(watcher.changes())


def test_provides_its_interface():
    verifyObject(IRelationUnitsWatcher, RelationUnitsWatcher())


def test_first_event_holds_every_unit_in_scope_even_none():
    assert take(RelationUnitsWatcher({"u/0": 3, "u/1": 0})) == Change({"u/0": 3, "u/1": 0})
    assert take(RelationUnitsWatcher()) == Change()


def test_latest_version_wins():
    watcher = RelationUnitsWatcher({"u/0": 0})
    take(watcher)
    for version in (1, 2, 7):
        watcher.send(Change({"u/0": version}))
    assert take(watcher) == Change({"u/0": 7})


def test_departure_cancels_an_unread_change_of_a_known_unit():
    watcher = RelationUnitsWatcher({"u/0": 0})
    take(watcher)
    watcher.send(Change({"u/0": 5}))
    watcher.send(Change(departed=["u/0"]))
    assert take(watcher) == Change(departed=["u/0"])


def test_unit_that_came_and_went_unread_is_never_mentioned():
    watcher = RelationUnitsWatcher()
    take(watcher)
    watcher.send(Change({"u/1": 0}))
    watcher.send(Change(departed=["u/1"]))
    watcher.send(Change({"u/2": 4}))
    assert take(watcher) == Change({"u/2": 4})


def test_rejoin_after_unread_departure_is_a_change():
    watcher = RelationUnitsWatcher({"u/0": 1})
    take(watcher)
    watcher.send(Change(departed=["u/0"]))
    watcher.send(Change({"u/0": 2}))
    assert take(watcher) == Change({"u/0": 2})


def test_send_after_stop_is_refused_and_iteration_ends():
    watcher = RelationUnitsWatcher()
    watcher.kill()
    assert watcher.send(Change({"u/0": 0})) is False
    assert list(watcher.changes()) == []


@pytest.mark.parametrize(
    "bad",
    [
        {"changed": {"u/0": "1"}},
        {"changed": {"u/0": True}},
        {"changed": {0: 1}},
        {"changed": [("u/0", 1)]},
        {"departed": "u/0"},
        {"departed": [0]},
    ],
)
def test_bad_changes_are_type_errors(bad):
    with pytest.raises(TypeError):
        Change(**bad)


def test_a_unit_cannot_both_change_and_depart():
    with pytest.raises(ValueError, match="both changed and departed"):
        Change({"u/0": 1}, ["u/0"])


def test_initial_event_cannot_depart_and_send_needs_a_change():
    with pytest.raises(ValueError):
        RelationUnitsWatcher(Change(departed=["u/0"]))
    with pytest.raises(TypeError):
        RelationUnitsWatcher().send({"u/0": 1})


units = st.sampled_from([f"u/{i}" for i in range(5)])
ops = st.lists(
    st.one_of(
        st.tuples(st.just("change"), units, st.integers(0, 50)),
        st.tuples(st.just("depart"), units),
        st.tuples(st.just("read")),
    ),
    max_size=60,
)


@settings(deadline=None, max_examples=200)
@given(ops)
def test_consumer_view_always_matches_the_producer(ops):
    """Whatever the interleaving, the consumer's picture of the scope (built
    from the events it read) equals the producer's after a final read, and no
    event departs a unit the consumer was never told about."""
    watcher = RelationUnitsWatcher()
    scope: dict[str, int] = {}
    seen: dict[str, int] = {}

    def read():
        event = take(watcher)
        for unit in event.departed:
            assert unit in seen, f"departed {unit} the consumer never saw"
            del seen[unit]
        seen.update(event.changed)

    read()
    for op in ops:
        if op[0] == "change":
            scope[op[1]] = op[2]
            watcher.send(Change({op[1]: op[2]}))
        elif op[0] == "depart" and op[1] in scope:
            del scope[op[1]]
            watcher.send(Change(departed=[op[1]]))
        elif op[0] == "read" and watcher._has_event():
            read()
    if watcher._has_event():
        read()
    assert seen == scope
    watcher.kill()
