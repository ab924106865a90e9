"""The State's watchers, on every backend.

Every watcher sends its initial event at once, then coalesced events; after
any burst of writes, the last event is followed by a read that sees the final
state; a backend that fails stops its watchers with that error.
"""

from __future__ import annotations

import gevent
import pytest
from gevent.event import Event
from zope.interface import implementer
from zope.interface.verify import verifyObject

from agent_runtime.interfaces import (
    INotifyWatcher,
    INotifyWatchHandler,
    IRelationUnitsWatcher,
    IStringsWatcher,
)
from agent_runtime.state import NotFound, StateClosed, StorageError
from agent_runtime.testing import LONG_WAIT, check_killed
from agent_runtime.watcher import RelationUnitsChange
from agent_runtime.worker import NotifyWorker, Runner

from charms import RIAK, deploy

QUIET = 0.1  # seconds a short negative check listens for an event that must not come


def next_event(watcher, timeout: float = LONG_WAIT):
    with gevent.Timeout(timeout, AssertionError(f"no event from {watcher!r} in {timeout} s")):
        return next(watcher.changes())


def assert_quiet(watcher):
    """No event within QUIET seconds (longer than the sqlite poll interval)."""
    with gevent.Timeout(QUIET, False):
        event = next(watcher.changes())
        raise AssertionError(f"unexpected event {event!r} from {watcher!r}")


@pytest.fixture
def watchers():
    """Stop every watcher a test made, checking it stops cleanly."""
    made = []

    def keep(watcher):
        made.append(watcher)
        return watcher

    yield keep
    for watcher in made:
        watcher.kill()
        check_killed(watcher)


@pytest.fixture
def deployed(state):
    deploy(state)
    return state


def test_watchers_provide_their_interfaces(deployed, watchers):
    relation = deployed.add_relation("wordpress", "mysql")
    unit = deployed.add_unit("wordpress")
    verifyObject(INotifyWatcher, watchers(deployed.watch_environ_config()))
    verifyObject(INotifyWatcher, watchers(deployed.watch_service_config("wordpress")))
    verifyObject(INotifyWatcher, watchers(deployed.watch_unit(unit)))
    verifyObject(IStringsWatcher, watchers(deployed.watch_service_relations("wordpress")))
    verifyObject(IRelationUnitsWatcher, watchers(deployed.watch_relation_units(relation.id, unit)))


def test_environ_watcher_initial_event_then_changes(state, watchers):
    watcher = watchers(state.watch_environ_config())
    assert next_event(watcher) is None
    assert_quiet(watcher)
    state.update_environ_config({"name": "a"})
    assert next_event(watcher) is None
    assert state.environ_config() == {"name": "a"}


def test_a_burst_of_writes_ends_with_a_read_of_the_final_state(state, watchers):
    watcher = watchers(state.watch_environ_config())
    next_event(watcher)
    for i in range(50):
        state.update_environ_config({"n": i})
    events = 0
    while True:
        next_event(watcher)
        events += 1
        if state.environ_config() == {"n": 49}:
            break
    assert 1 <= events <= 50
    assert_settles(watcher)


def assert_settles(watcher):
    """After the final state was read, a watcher may send one event with no
    change behind it (a ZooKeeper watch of an earlier write, re-armed late),
    but never keeps sending: then it is quiet."""
    with gevent.Timeout(QUIET, False):
        next(watcher.changes())
    assert_quiet(watcher)


def test_service_config_watcher(deployed, watchers):
    watcher = watchers(deployed.watch_service_config("wordpress"))
    next_event(watcher)
    deployed.update_environ_config({"name": "unrelated"})
    assert_quiet(watcher)
    deployed.update_service_config("wordpress", {"title": "News"})
    next_event(watcher)
    with pytest.raises(NotFound):
        deployed.watch_service_config("ghost")


def test_unit_watcher_fires_on_changes_and_removal(deployed, watchers):
    unit = deployed.add_unit("mysql")
    watcher = watchers(deployed.watch_unit(unit))
    next_event(watcher)
    deployed.set_unit_addresses(unit, private="10.0.0.2")
    next_event(watcher)
    deployed.add_unit("mysql")  # another unit: not this watcher's business
    assert_quiet(watcher)
    deployed.destroy_unit(unit)
    next_event(watcher)
    deployed.ensure_dead(unit)
    deployed.remove_unit(unit)
    next_event(watcher)
    with pytest.raises(NotFound):
        deployed.unit(unit)
    with pytest.raises(NotFound):
        deployed.watch_unit("mysql/99")


def test_service_relations_watcher(deployed, watchers):
    early = deployed.add_relation("wordpress", "memcached")
    watcher = watchers(deployed.watch_service_relations("wordpress"))
    assert next_event(watcher) == [early.key]
    relation = deployed.add_relation("wordpress", "mysql")
    assert next_event(watcher) == [relation.key]
    deployed.add_service("riak", RIAK)  # with its peer relation: not wordpress's
    assert_quiet(watcher)
    unit = deployed.add_unit("wordpress")
    deployed.enter_scope(relation.id, unit)
    deployed.destroy_relation(relation.id)  # alive -> dying
    assert next_event(watcher) == [relation.key]
    deployed.leave_scope(relation.id, unit)  # dying -> removed
    assert next_event(watcher) == [relation.key]
    assert [r.key for r in deployed.relations("wordpress")] == [early.key]


def test_service_relations_watcher_initial_event_may_be_empty(deployed, watchers):
    watcher = watchers(deployed.watch_service_relations("mysql"))
    assert next_event(watcher) == []


def test_relation_units_watcher_sees_the_other_side(deployed, watchers):
    relation = deployed.add_relation("wordpress", "mysql")
    wp0, wp1 = deployed.add_unit("wordpress"), deployed.add_unit("wordpress")
    db0, db1 = deployed.add_unit("mysql"), deployed.add_unit("mysql")
    deployed.enter_scope(relation.id, wp0)
    deployed.enter_scope(relation.id, db0, {"host": "h"})
    watcher = watchers(deployed.watch_relation_units(relation.id, wp0))
    assert next_event(watcher) == RelationUnitsChange({"mysql/0": 0})
    deployed.enter_scope(relation.id, wp1)  # its own side: not seen
    deployed.update_relation_settings(relation.id, wp0, {"mine": "x"})  # itself: not seen
    assert_quiet(watcher)
    deployed.enter_scope(relation.id, db1)
    assert next_event(watcher) == RelationUnitsChange({"mysql/1": 0})
    deployed.update_relation_settings(relation.id, db0, {"user": "u"})
    assert next_event(watcher) == RelationUnitsChange({"mysql/0": 1})
    deployed.leave_scope(relation.id, db1)
    assert next_event(watcher) == RelationUnitsChange(departed=["mysql/1"])


def test_relation_units_watcher_in_a_peer_relation(deployed, watchers):
    deployed.add_service("riak", RIAK)
    relation = deployed.relation_by_key("riak:ring")
    units = [deployed.add_unit("riak") for _ in range(3)]
    for unit in units:
        deployed.enter_scope(relation.id, unit)
    watcher = watchers(deployed.watch_relation_units(relation.id, "riak/1"))
    assert next_event(watcher) == RelationUnitsChange({"riak/0": 0, "riak/2": 0})


def test_relation_units_watcher_after_a_burst(deployed, watchers):
    relation = deployed.add_relation("wordpress", "mysql")
    watcher = watchers(deployed.watch_relation_units(relation.id, "wordpress/0"))
    seen: dict[str, int] = dict(next_event(watcher).changed)
    units = [deployed.add_unit("mysql") for _ in range(5)]
    for unit in units:
        deployed.enter_scope(relation.id, unit)
    for i in range(20):
        deployed.update_relation_settings(relation.id, units[i % 5], {"n": str(i)})
    deployed.leave_scope(relation.id, units[0])
    expected = {u: deployed.relation_settings(relation.id, u)[1] for u in units[1:]}
    while seen != expected:
        event = next_event(watcher)
        for unit in event.departed:
            del seen[unit]
        seen.update(event.changed)
    assert_quiet(watcher)


def test_watchers_of_a_missing_relation_or_outsider(deployed):
    relation = deployed.add_relation("wordpress", "mysql")
    with pytest.raises(NotFound):
        deployed.watch_relation_units(99, "wordpress/0")
    with pytest.raises(Exception, match="'riak' is not in relation"):
        deployed.watch_relation_units(relation.id, "riak/0")


def test_closing_the_state_stops_its_watchers_with_an_error(state_url, open_state):
    state = open_state(state_url)
    deploy(state)
    relation = state.add_relation("wordpress", "mysql")
    watchers = [
        state.watch_environ_config(),
        state.watch_service_relations("wordpress"),
        state.watch_relation_units(relation.id, "wordpress/0"),
    ]
    for watcher in watchers:
        next_event(watcher)
    state.close()
    for watcher in watchers:
        error = check_killed(watcher)
        assert isinstance(error, StateClosed), error
        assert watcher.err() is error
        with gevent.Timeout(LONG_WAIT):
            assert list(watcher.changes()) == []
    with pytest.raises(StateClosed):
        state.watch_environ_config()


def _break_watches(state, error):
    """Make the store tell every watch it can no longer watch (as a lost
    backend connection does)."""
    state.store._subscriptions.fail_all(error)


def test_a_failing_backend_stops_watchers_with_its_error(deployed, watchers):
    relation = deployed.add_relation("wordpress", "mysql")
    notify = watchers(deployed.watch_environ_config())
    relations = watchers(deployed.watch_service_relations("wordpress"))
    units = watchers(deployed.watch_relation_units(relation.id, "wordpress/0"))
    for watcher in (notify, relations, units):
        next_event(watcher)
    error = StorageError("the backend went away")
    _break_watches(deployed, error)
    for watcher in (notify, relations, units):
        assert check_killed(watcher) is error


@implementer(INotifyWatchHandler)
class EnvironFollower:
    """Counts environ config events; its worker fails when the backend does."""

    def __init__(self, state) -> None:
        self.state = state
        self.setups = 0
        self.handled = Event()

    def set_up(self):
        self.setups += 1
        return self.state.watch_environ_config()

    def handle(self):
        self.handled.set()

    def tear_down(self):
        pass


def test_the_runner_restarts_a_worker_whose_watcher_failed(deployed):
    verifyObject(INotifyWatchHandler, EnvironFollower(deployed))
    follower = EnvironFollower(deployed)
    runner = Runner(lambda e: False, lambda a, b: False, restart_delay=0)
    try:
        runner.start_worker("follower", lambda: NotifyWorker(follower))
        assert follower.handled.wait(LONG_WAIT)
        follower.handled.clear()
        _break_watches(deployed, StorageError("session lost"))
        assert follower.handled.wait(LONG_WAIT)  # a new instance, a new watcher
        assert follower.setups == 2
    finally:
        runner.kill()
        assert check_killed(runner) is None
