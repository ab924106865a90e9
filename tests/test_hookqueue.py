"""The hook queues against the reference (uniter-reference §2.8, §2.10).

Every case of HookQueueSuite runs twice: against the pure algorithm
(``AliveQueueState``/``DyingQueueState``, no greenlet, no timing) and through
the queue workers fed by an in-memory relation-units watcher, where after the
listed hooks nothing more may arrive and the watcher must be stopped once the
queue has stopped. Then what the workers add: ``get()``'s hand-off, stopping,
errors, and DESIGN decision 13.
"""

from __future__ import annotations

import gevent
import pytest
from hookqueue_cases import (
    ALIVE_CASES,
    BROKEN,
    DYING_CASES,
    RELATION,
    C,
    D,
    Expect,
    J,
    Send,
    ids,
)
from relation_watchers import CountingWatcher, ScriptedWatcher
from zope.interface.verify import verifyObject

from agent_runtime.errors import WatcherStopped
from agent_runtime.interfaces import IAbortableWorker, IHookQueue, IRelationUnitsWatcher, IWorker
from agent_runtime.testing import LONG_WAIT, ManualClock, check_killed, clean_kill, wait_for
from agent_runtime.uniter.hook import Info
from agent_runtime.uniter.relation import (
    AliveHookQueue,
    AliveQueueState,
    DyingHookQueue,
    DyingQueueState,
    HookQueueError,
    RelationUnitsChange,
    State,
)


def hooks(*triples) -> list[Info]:
    return [Info(kind, RELATION, unit, version) for kind, unit, version in triples]


def drain(source) -> list[Info]:
    out = []
    while not source.empty():
        out.append(source.next())
        source.pop()
    return out


def at_once(function, *args):
    """Call ``function``; fail instead of hanging if it blocks."""
    with gevent.Timeout(LONG_WAIT):
        return function(*args)


def get_timing_out(queue, clock: ManualClock, seconds: float = 5.0):
    """``queue.get(timeout=seconds)`` on a queue of the manual ``clock``: once
    the call waits, the clock is moved past its timeout (no real waiting)."""
    consumer = gevent.spawn(queue.get, seconds)
    try:
        wait_for(lambda: consumer.ready() or clock.pending_timers(), what="get() to wait")
        if not consumer.ready():
            clock.advance(seconds)
        return consumer.get(timeout=LONG_WAIT)
    finally:
        consumer.kill()


# -- the reference's cases, pure ------------------------------------------------------


@pytest.mark.parametrize("case", ALIVE_CASES, ids=ids(ALIVE_CASES))
def test_alive_queue_state(case):  # TestAliveHookQueue, on the pure algorithm
    source = AliveQueueState(case.initial)
    assert source.empty(), "nothing is due before the first event"
    for step in case.steps:
        if isinstance(step, Send):
            source.update(step.change())
        elif isinstance(step, Expect):
            assert not source.empty(), f"{case.summary}: expected {step}"
            assert source.next() == step.info(), case.summary
            source.pop()
        else:
            for _ in range(step.count):
                assert not source.empty()
                source.pop()
    assert source.empty(), f"{case.summary}: unexpected {source.next()}"


@pytest.mark.parametrize(("summary", "initial", "expected"), DYING_CASES, ids=ids(DYING_CASES))
def test_dying_queue_state(summary, initial, expected):  # TestDyingHookQueue, pure
    source = DyingQueueState(initial)
    assert drain(source) == [e.info() for e in expected] + [BROKEN]
    assert source.finished


# -- the reference's cases, through the workers ------------------------------------------


@pytest.mark.parametrize("case", ALIVE_CASES, ids=ids(ALIVE_CASES))
def test_alive_hook_queue(case):  # TestAliveHookQueue
    first, *rest = case.steps
    watcher = CountingWatcher(first.change())
    clock = ManualClock()  # the queue's timeouts pass only when the test says so
    queue = AliveHookQueue(case.initial, watcher, clock=clock)
    try:
        # Each event reaches the queue on its own, as over Go's unbuffered channel.
        wait_for(lambda: watcher.taken == 1, what="the first event to be read")
        for step in rest:
            if isinstance(step, Send):
                watcher.deliver(step.change())
            elif isinstance(step, Expect):
                assert at_once(queue.get) == step.info(), case.summary
            else:
                for _ in range(step.count):
                    assert at_once(queue.get) is not None
        assert get_timing_out(queue, clock) is None, case.summary
    finally:
        clean_kill(queue)
    assert watcher.stopped
    assert queue.get() is None


@pytest.mark.parametrize(("summary", "initial", "expected"), DYING_CASES, ids=ids(DYING_CASES))
def test_dying_hook_queue(summary, initial, expected):  # TestDyingHookQueue
    queue = DyingHookQueue(initial)
    try:
        for step in expected:
            assert queue.get(timeout=LONG_WAIT) == step.info(), summary
        assert queue.get(timeout=LONG_WAIT) == BROKEN
        assert at_once(queue.get) is None  # stopped: at once, even without a timeout
        assert check_killed(queue) is None  # it stopped by itself, cleanly
    finally:
        clean_kill(queue)


# -- the pure algorithm beyond the table -------------------------------------------------


def started(initial: State | None = None, first: dict | None = None) -> AliveQueueState:
    source = AliveQueueState(initial or State(RELATION))
    source.update(RelationUnitsChange(changed=first or {}))
    return source


def test_units_sort_as_plain_strings():  # DESIGN decision 13
    source = started(first={"a/9": 0, "a/10": 0, "b/0": 0})
    assert [(i.kind, i.remote_unit) for i in drain(source)] == [
        (J, "a/10"),
        (C, "a/10"),
        (J, "a/9"),
        (C, "a/9"),
        (J, "b/0"),
        (C, "b/0"),
    ]


def test_start_up_departures_are_sorted():
    initial = State(RELATION, {"u/2": 1, "u/10": 2, "u/1": 3})
    source = started(initial, first={})
    assert drain(source) == hooks((D, "u/1", 3), (D, "u/10", 2), (D, "u/2", 1))


def test_departures_keep_the_order_given():
    source = started(first={"u/0": 0, "u/1": 0})
    drain(source)
    source.update(RelationUnitsChange(departed=["u/1", "u/0", "u/1"]))
    assert drain(source) == hooks((D, "u/1", 0), (D, "u/0", 0))


def test_a_unit_keeps_its_slot_when_its_hook_changes():
    source = started(first={"u/0": 0, "u/1": 0, "u/2": 0})
    drain(source)
    source.update(RelationUnitsChange(changed={"u/0": 1}))
    source.update(RelationUnitsChange(changed={"u/1": 1}))
    source.update(RelationUnitsChange(changed={"u/0": 2}))
    source.update(RelationUnitsChange(changed={"u/2": 1}, departed=["u/1"]))
    source.update(RelationUnitsChange(changed={"u/0": 3}))
    assert drain(source) == hooks((C, "u/0", 3), (D, "u/1", 1), (C, "u/2", 1))


def test_a_repeated_version_drops_a_queued_hook():  # DESIGN decision 13
    source = started(first={"u/0": 0})
    drain(source)
    source.update(RelationUnitsChange(changed={"u/0": 5}))
    source.update(RelationUnitsChange(changed={"u/0": 5}))
    assert drain(source) == []  # the reference's pseudo-code: same version, nothing queued
    source.update(RelationUnitsChange(changed={"u/0": 6}))
    source.update(RelationUnitsChange(changed={"u/0": 0}))
    assert drain(source) == hooks((C, "u/0", 0))  # the latest version differs: it runs


def test_a_unit_that_departed_before_joining_is_forgotten():
    source = started(first={"u/0": 0})
    source.update(RelationUnitsChange(departed=["u/0"]))
    assert source.empty()
    # The reference kept it and would send relation-changed for a new u/0.
    source.update(RelationUnitsChange(changed={"u/0": 4}))
    assert drain(source) == hooks((J, "u/0", 4), (C, "u/0", 4))


def test_next_and_pop_on_an_empty_queue():
    for source in (AliveQueueState(State(RELATION)), started()):
        with pytest.raises(HookQueueError, match="the hook queue is empty"):
            source.next()
        with pytest.raises(HookQueueError, match="the hook queue is empty"):
            source.pop()
    dying = DyingQueueState(State(RELATION))
    drain(dying)
    with pytest.raises(HookQueueError):
        dying.next()
    with pytest.raises(HookQueueError):
        dying.pop()


def test_a_first_event_with_departures_is_an_error():
    source = AliveQueueState(State(RELATION, {"u/0": 1}))
    with pytest.raises(HookQueueError, match=r"first event .* must not have departures"):
        source.update(RelationUnitsChange(departed=["u/0"]))
    assert not source.started and source.empty()
    source.update(RelationUnitsChange(changed={"u/0": 1}))  # still usable
    assert source.started and source.empty()


def test_a_departure_of_an_unknown_unit_is_an_error():
    source = started(first={"u/0": 0})
    with pytest.raises(HookQueueError, match='unit "u/9" departed, but the watcher never'):
        source.update(RelationUnitsChange(departed=["u/0", "u/9"]))
    assert drain(source) == hooks((J, "u/0", 0), (C, "u/0", 0))  # unchanged


@pytest.mark.parametrize("event", [None, "u/0", {"u/0": 1}, object()])
def test_an_event_that_is_not_a_change_is_an_error(event):
    with pytest.raises(HookQueueError, match="expected a RelationUnitsChange"):
        AliveQueueState(State(RELATION)).update(event)


def test_the_initial_state_is_copied():
    initial = State(RELATION, {"u/0": 1})
    source = AliveQueueState(initial)
    initial.members["u/1"] = 2
    source.update(RelationUnitsChange())
    assert drain(source) == hooks((D, "u/0", 1))


def test_queue_states_need_a_state():
    for cls in (AliveQueueState, DyingQueueState):
        with pytest.raises(TypeError):
            cls({"u/0": 1})


def test_dying_queue_of_a_broken_relation_only_breaks():
    assert drain(DyingQueueState(State(RELATION, None))) == [BROKEN]


# -- the workers: interfaces, hand-off, stopping, errors ----------------------------------


def test_queues_and_fakes_provide_their_interfaces():
    watcher = CountingWatcher()
    alive = AliveHookQueue(State(RELATION), watcher)
    dying = DyingHookQueue(State(RELATION))
    try:
        for queue in (alive, dying):
            for interface in (IWorker, IAbortableWorker, IHookQueue):
                verifyObject(interface, queue)
        verifyObject(IRelationUnitsWatcher, watcher)
        verifyObject(IRelationUnitsWatcher, ScriptedWatcher())
    finally:
        clean_kill(alive)
        clean_kill(dying)


def test_get_reflects_an_update_sent_just_before_the_call():
    watcher = CountingWatcher({"u/0": 0})
    queue = AliveHookQueue(State(RELATION), watcher)
    try:
        assert queue.get(timeout=LONG_WAIT) == hooks((J, "u/0", 0))[0]
        watcher.send(RelationUnitsChange(changed={"u/0": 7}))  # no waiting
        assert queue.get(timeout=LONG_WAIT) == hooks((C, "u/0", 7))[0]
        watcher.send(RelationUnitsChange(changed={"u/1": 3}))
        watcher.send(RelationUnitsChange(changed={"u/1": 4}))
        watcher.send(RelationUnitsChange(departed=["u/0"]))
        assert queue.get(timeout=0) == hooks((J, "u/1", 4))[0]
        assert queue.get(timeout=0) == hooks((C, "u/1", 4))[0]
        assert queue.get(timeout=0) == hooks((D, "u/0", 7))[0]
        assert queue.get(timeout=0) is None
    finally:
        clean_kill(queue)


def test_get_blocks_until_a_hook_is_due():
    watcher = CountingWatcher()
    queue = AliveHookQueue(State(RELATION), watcher)
    consumer = gevent.spawn(queue.get, LONG_WAIT)
    try:
        wait_for(lambda: watcher.taken == 1)
        gevent.sleep(0)
        assert not consumer.ready()
        watcher.send(RelationUnitsChange(changed={"u/3": 9}))
        assert consumer.get(timeout=LONG_WAIT) == hooks((J, "u/3", 9))[0]
    finally:
        consumer.kill()
        clean_kill(queue)


def test_two_consumers_get_each_hook_once():
    watcher = CountingWatcher()
    queue = AliveHookQueue(State(RELATION), watcher)
    consumers = [gevent.spawn(queue.get, LONG_WAIT) for _ in range(2)]
    try:
        wait_for(lambda: watcher.taken == 1)
        watcher.send(RelationUnitsChange(changed={"u/0": 1}))
        got = [c.get(timeout=LONG_WAIT) for c in consumers]
        assert sorted(got, key=lambda i: i.kind) == hooks((C, "u/0", 1), (J, "u/0", 1))
    finally:
        gevent.killall(consumers)
        clean_kill(queue)


def test_kill_wakes_a_blocked_get_and_stops_the_watcher():
    watcher = CountingWatcher({"u/0": 0})
    queue = AliveHookQueue(State(RELATION), watcher)
    queue.get(timeout=LONG_WAIT)
    queue.get(timeout=LONG_WAIT)
    consumer = gevent.spawn(queue.get)  # no timeout: only kill() can end it
    gevent.sleep(0)
    queue.kill()
    assert consumer.get(timeout=LONG_WAIT) is None
    assert check_killed(queue) is None
    assert watcher.stopped and watcher.err() is None


def test_get_after_kill_returns_none_at_once_even_with_hooks_due():
    watcher = CountingWatcher({"u/0": 0})
    queue = AliveHookQueue(State(RELATION), watcher)
    wait_for(lambda: watcher.taken == 1)
    queue.kill()
    assert at_once(queue.get) is None
    assert check_killed(queue) is None
    assert watcher.stopped


def test_kill_before_the_queue_ran():
    watcher = CountingWatcher({"u/0": 0})
    queue = AliveHookQueue(State(RELATION), watcher)
    queue.kill()
    queue.kill()
    assert check_killed(queue) is None
    assert watcher.stopped and watcher.taken == 0


def test_abort():
    watcher = CountingWatcher({"u/0": 0})
    queue = AliveHookQueue(State(RELATION), watcher)
    wait_for(lambda: watcher.taken == 1)
    queue.abort()
    assert check_killed(queue) is None
    assert watcher.stopped
    assert at_once(queue.get) is None


def test_a_failing_watcher_stops_the_queue_with_its_error():
    watcher = CountingWatcher({"u/0": 0})
    queue = AliveHookQueue(State(RELATION), watcher)
    wait_for(lambda: watcher.taken == 1)
    error = ValueError("lost the relation")
    watcher.fail(error)
    assert check_killed(queue) is error
    assert check_killed(queue) is error  # the same object every time
    assert at_once(queue.get) is None


def test_a_watcher_that_stops_without_an_error():
    watcher = CountingWatcher()
    queue = AliveHookQueue(State(RELATION), watcher)
    wait_for(lambda: watcher.taken == 1)
    watcher.kill()
    error = check_killed(queue)
    assert isinstance(error, WatcherStopped)
    assert "stopped sending changes without an error" in str(error)


def test_a_first_event_with_departures_stops_the_queue():
    watcher = ScriptedWatcher([RelationUnitsChange(changed={"u/1": 0}, departed=["u/0"])])
    queue = AliveHookQueue(State(RELATION, {"u/0": 0}), watcher)
    error = check_killed(queue)
    assert isinstance(error, HookQueueError)
    assert "must not have departures" in str(error)
    assert watcher.stopped
    assert at_once(queue.get) is None


def test_a_bad_event_stops_the_queue():
    watcher = ScriptedWatcher([RelationUnitsChange(), "garbage"])
    queue = AliveHookQueue(State(RELATION), watcher)
    assert isinstance(check_killed(queue), HookQueueError)
    assert watcher.stopped


def test_the_watcher_stop_error_is_the_queue_error():
    stop_error = RuntimeError("cannot stop")
    watcher = ScriptedWatcher([RelationUnitsChange()], stop_error=stop_error)
    queue = AliveHookQueue(State(RELATION), watcher)
    queue.kill()
    assert check_killed(queue) is stop_error


def test_the_loop_error_comes_before_the_watcher_stop_error():
    watcher = ScriptedWatcher(
        [RelationUnitsChange(departed=["u/0"])], stop_error=RuntimeError("stop")
    )
    queue = AliveHookQueue(State(RELATION), watcher)
    assert isinstance(check_killed(queue), HookQueueError)


def test_bad_arguments():
    with pytest.raises(TypeError, match="needs an IRelationUnitsWatcher"):
        AliveHookQueue(State(RELATION), object())
    watcher = CountingWatcher()
    with pytest.raises(TypeError, match="initial must be a relation State"):
        AliveHookQueue({"u/0": 1}, watcher)
    assert watcher.stopped  # the queue owned it from the call on
    with pytest.raises(TypeError):
        DyingHookQueue(None)


def test_dying_queue_killed_before_broken():
    queue = DyingHookQueue(State(RELATION, {"u/0": 1}))
    assert queue.get(timeout=LONG_WAIT) == hooks((D, "u/0", 1))[0]
    queue.kill()
    assert at_once(queue.get) is None
    assert check_killed(queue) is None


def test_get_with_a_timeout_returns_none_when_nothing_is_due():
    watcher = CountingWatcher({"u/0": 0})
    clock = ManualClock()
    queue = AliveHookQueue(State(RELATION, {"u/0": 0}), watcher, clock=clock)
    try:
        assert queue.get(timeout=0) is None
        assert queue.get(timeout=-1) is None
        assert clock.pending_timers() == 0  # no timer for a get that does not wait
        assert get_timing_out(queue, clock) is None
    finally:
        clean_kill(queue)


@pytest.fixture
def waiting_get():
    """An empty alive queue on a manual clock, its watcher, the clock, and a
    consumer blocked in ``get(timeout=5)`` (its timer set)."""
    watcher = CountingWatcher()
    clock = ManualClock()
    queue = AliveHookQueue(State(RELATION), watcher, clock=clock)
    consumer = gevent.spawn(queue.get, 5)
    try:
        clock.wait_for_timers(1)
        yield watcher, clock, consumer
    finally:
        consumer.kill()
        clean_kill(queue)


def test_get_times_out_on_the_queues_clock_exactly(waiting_get):
    """get(timeout=5) returns None exactly when the queue's clock has moved
    5 s, not before; the timer goes with it."""
    _, clock, consumer = waiting_get
    clock.advance(4.999)
    for _ in range(5):
        gevent.sleep(0)
    assert not consumer.ready()
    clock.advance(0.001)
    assert consumer.get(timeout=LONG_WAIT) is None
    assert clock.pending_timers() == 0


def test_a_hook_due_before_the_timeout_is_returned_and_the_timer_cancelled(waiting_get):
    watcher, clock, consumer = waiting_get
    clock.advance(4)
    watcher.send(RelationUnitsChange(changed={"u/0": 3}))
    assert consumer.get(timeout=LONG_WAIT) == hooks((J, "u/0", 3))[0]
    assert clock.pending_timers() == 0
    clock.advance(10)  # the cancelled timeout throws nothing at anybody
    gevent.sleep(0)


def test_the_dying_queue_takes_a_clock_too():
    clock = ManualClock()
    queue = DyingHookQueue(State(RELATION), clock=clock)
    assert at_once(queue.get, 5) == BROKEN
    assert clock.pending_timers() == 0
    assert check_killed(queue) is None
    with pytest.raises(TypeError, match="clock must provide IClock"):
        DyingHookQueue(State(RELATION), clock=object())


def test_due_events_let_a_consumer_wait_on_several_queues():
    """A consumer of several queues waits on their ``due`` events, then takes
    what is due with get(timeout=0), which clears ``due`` when nothing is."""
    from agent_runtime.uniter.relation import AliveHookQueue, State
    from agent_runtime.watcher import RelationUnitsChange, RelationUnitsWatcher

    quiet_watcher, busy_watcher = RelationUnitsWatcher(), RelationUnitsWatcher()
    quiet = AliveHookQueue(State(1), quiet_watcher)
    busy = AliveHookQueue(State(2), busy_watcher)
    try:
        gevent.sleep(0)
        busy_watcher.send(RelationUnitsChange({"u/0": 0}))
        ready = gevent.wait([quiet.due, busy.due], count=1, timeout=10)
        assert ready == [busy.due]
        assert quiet.get(timeout=0) is None
        hook = busy.get(timeout=0)
        assert (str(hook.kind), hook.relation_id, hook.remote_unit) == ("relation-joined", 2, "u/0")
        assert not quiet.due.is_set()
    finally:
        for queue in (quiet, busy):
            queue.kill()
            queue.wait()
