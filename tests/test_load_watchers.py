"""Watchers under a write storm, on every backend.

test_state_watchers.py checks one writer and one watcher. Here several
writers, each on a State of its own (its own connection or session), write at
once and conflict, while several watchers on other States follow. After the
storm every watcher's last read must be the final state (a watcher may
coalesce events but never lose the last one), what each watcher read never
goes back in time, no write is lost, and each watcher then falls quiet.
"""

from __future__ import annotations

import uuid

import gevent
import pytest
from test_state_watchers import assert_settles

from agent_runtime.testing import LONG_WAIT, check_killed, wait_for
from agent_runtime.watcher import RelationUnitsChange

from charms import deploy
from seeds import seeded

WRITERS = 4
WRITES = 40  # per writer
READERS = 3  # States that watch
WATCHERS_PER_READER = 2


@pytest.fixture
def shared_url(state_url: str) -> str:
    """``state_url``, made shareable: ``memory://`` is a new state per open,
    ``memory://NAME`` the same one each time."""
    return f"memory://storm-{uuid.uuid4().hex}" if state_url == "memory://" else state_url


@pytest.fixture
def greenlets():
    """Greenlets the test spawns; every one is killed after it."""
    spawned: list[gevent.Greenlet] = []

    def spawn(function, *args) -> gevent.Greenlet:
        greenlet = gevent.spawn(function, *args)
        spawned.append(greenlet)
        return greenlet

    yield spawn
    gevent.killall(spawned, timeout=LONG_WAIT)


def stop_all(watchers) -> None:
    for watcher in watchers:
        watcher.kill()
    for watcher in watchers:
        assert check_killed(watcher) is None


def storm(greenlets, follow, write, events: list[int]) -> list[gevent.Greenlet]:
    """Start a follower per watcher; once each has had its initial event, run
    the writers at once until each has finished. Return the followers."""
    followers = [greenlets(follow, index) for index in range(len(events))]
    wait_for(lambda: all(events), what="every watcher's initial event")
    writers = [greenlets(write, index) for index in range(WRITERS)]
    gevent.joinall(writers, timeout=LONG_WAIT * 3, raise_error=True)
    assert all(w.ready() for w in writers), "the writers did not finish in time"
    return followers


def settle(followers, watchers) -> None:
    """Interrupt the followers (a watcher's iterator survives that), then check
    that each watcher falls quiet."""
    gevent.killall(followers, timeout=LONG_WAIT)
    for watcher in watchers:
        assert_settles(watcher)


def pause(rng) -> None:
    """Let the other writers in, sometimes a little longer."""
    gevent.sleep(rng.random() * 0.002 if rng.random() < 0.3 else 0)


def test_environ_config_watchers_see_the_end_of_a_storm_of_conflicting_writes(
    shared_url, open_state, greenlets
):
    seed, rng = seeded("environ config storm")
    writers = [open_state(shared_url) for _ in range(WRITERS)]
    readers = [open_state(shared_url) for _ in range(READERS)]
    watchers = [r.watch_environ_config() for r in readers for _ in range(WATCHERS_PER_READER)]
    reads: list[list[dict]] = [[] for _ in watchers]
    events = [0] * len(watchers)

    def follow(index: int) -> None:
        watcher, reader = watchers[index], readers[index // WATCHERS_PER_READER]
        for _ in watcher.changes():
            events[index] += 1
            reads[index].append(reader.environ_config())

    def write(index: int) -> None:
        for n in range(WRITES):
            writers[index].update_environ_config({f"w{index}": n})
            pause(rng)

    try:
        followers = storm(greenlets, follow, write, events)
        final = {f"w{i}": WRITES - 1 for i in range(WRITERS)}
        assert writers[0].environ_config() == final, f"seed {seed}: a write was lost"
        wait_for(
            lambda: all(r and r[-1] == final for r in reads),
            timeout=LONG_WAIT * 3,
            what=f"every watcher to read the final state (seed {seed})",
        )
        for index, history in enumerate(reads):
            for key in final:  # what one State reads never goes back in time
                values = [read.get(key, -1) for read in history]
                assert values == sorted(values), f"seed {seed}: watcher {index} read {values}"
            # Coalesced: never more events than writes, plus the initial one.
            assert events[index] <= WRITERS * WRITES + 1
        settle(followers, watchers)
    finally:
        stop_all(watchers)
    print(f"environ storm: {WRITERS * WRITES} writes, events per watcher {events}")


def test_relation_units_watchers_see_the_end_of_a_storm(shared_url, open_state, greenlets):
    seed, rng = seeded("relation units storm")
    setup = open_state(shared_url)
    deploy(setup)
    relation = setup.add_relation("wordpress", "mysql")
    watched = [setup.add_unit("wordpress") for _ in range(READERS)]
    for unit in watched:
        setup.enter_scope(relation.id, unit)
    stable = [setup.add_unit("mysql") for _ in range(WRITERS)]
    for unit in stable:
        setup.enter_scope(relation.id, unit, {"n": "-1"})
    readers = [open_state(shared_url) for _ in range(READERS)]
    watchers = [
        readers[i].watch_relation_units(relation.id, watched[i])
        for i in range(READERS)
        for _ in range(WATCHERS_PER_READER)
    ]
    seen: list[dict[str, int]] = [{} for _ in watchers]
    events = [0] * len(watchers)
    went_back: list[str] = []

    def follow(index: int) -> None:
        for change in watchers[index].changes():
            assert isinstance(change, RelationUnitsChange)
            events[index] += 1
            for unit in change.departed:
                seen[index].pop(unit, None)
            for unit, version in change.changed.items():
                if version < seen[index].get(unit, -1):
                    went_back.append(f"watcher {index}: {unit} {seen[index][unit]} -> {version}")
                seen[index][unit] = version

    def write(index: int) -> None:
        """Change one unit's settings over and over; bring a second unit of
        this writer in and out of the scope."""
        state = open_state(shared_url)
        visitor = state.add_unit("mysql")
        inside = False
        for n in range(WRITES):
            state.update_relation_settings(relation.id, stable[index], {"n": str(n)})
            if rng.random() < 0.25:
                if inside:
                    state.leave_scope(relation.id, visitor)
                else:
                    state.enter_scope(relation.id, visitor, {"visit": str(n)})
                inside = not inside
            pause(rng)

    try:
        followers = storm(greenlets, follow, write, events)
        final = {
            unit: setup.relation_settings(relation.id, unit)[1]
            for unit in setup.scope(relation.id)
            if unit.startswith("mysql/")
        }
        for unit in stable:
            assert setup.relation_settings(relation.id, unit)[0] == {"n": str(WRITES - 1)}
        wait_for(
            lambda: all(s == final for s in seen),
            timeout=LONG_WAIT * 3,
            what=f"every watcher to see the final scope {final} (seed {seed}); they see {seen}",
        )
        assert went_back == [], f"seed {seed}"
        settle(followers, watchers)
    finally:
        stop_all(watchers)
    print(f"relation units storm: {WRITERS * WRITES} writes, events per watcher {events}")
