"""The in-memory watchers of agent_runtime.watcher (DESIGN.md "The shape").

They send an initial event, then one per change; unread events coalesce (a
notify watcher holds at most one, a strings watcher merges ids in first-seen
order without duplicates). An interrupted ``next()`` loses nothing. The fakes
of agent_runtime.testing are the same watchers with a stop error.
"""

from __future__ import annotations

import gevent
import pytest
from gevent import GreenletExit
from hypothesis import given, settings
from hypothesis import strategies as st
from zope.interface.verify import verifyObject

from agent_runtime.interfaces import INotifyWatcher, IStringsWatcher, IWatcher, IWorker
from agent_runtime.testing import LONG_WAIT, FakeNotifyWatcher, FakeStringsWatcher, check_killed
from agent_runtime.watcher import NotifyWatcher, StringsWatcher

ALL = [NotifyWatcher, StringsWatcher, FakeNotifyWatcher, FakeStringsWatcher]


def read(changes):
    """next(changes), failing with gevent.Timeout instead of hanging."""
    with gevent.Timeout(LONG_WAIT):
        return next(changes)


def blocks(changes) -> bool:
    """True if next(changes) blocks (after letting ready greenlets run): the
    reader is killed before it takes anything. False: it took an event."""
    reader = gevent.spawn(next, changes)
    for _ in range(5):
        gevent.sleep(0)
    blocked = not reader.ready()
    reader.kill()
    return blocked


def quiet(cls):
    """A watcher of class ``cls`` whose initial event has been read."""
    watcher = cls()
    read(watcher.changes())
    return watcher


@pytest.mark.parametrize("cls", ALL)
def test_provides_interfaces(cls):
    """Every watcher class passes verifyObject for IWorker, IWatcher and its own kind."""
    watcher = cls()
    kind = INotifyWatcher if issubclass(cls, NotifyWatcher) else IStringsWatcher
    for interface in (IWorker, IWatcher, kind):
        verifyObject(interface, watcher)


# -- initial event and coalescing ----------------------------------------------


def test_notify_initial_event():
    """A NotifyWatcher sends None at once; with initial=False it sends nothing."""
    watcher = NotifyWatcher()
    assert read(watcher.changes()) is None
    assert blocks(watcher.changes())
    assert blocks(NotifyWatcher(initial=False).changes())


def test_strings_initial_event():
    """A StringsWatcher sends its initial ids (possibly []) at once; None sends nothing."""
    assert read(StringsWatcher().changes()) == []
    changes = StringsWatcher(["b", "a", "b"]).changes()
    assert read(changes) == ["b", "a"]
    assert blocks(changes)
    assert blocks(StringsWatcher(None).changes())


def test_fakes_send_nothing_until_triggered():
    """The fakes are quiet until triggered (or given an initial event)."""
    assert blocks(FakeNotifyWatcher().changes())
    assert blocks(FakeStringsWatcher().changes())
    assert read(FakeNotifyWatcher(initial=True).changes()) is None
    assert read(FakeStringsWatcher(initial=["a"]).changes()) == ["a"]


def test_notify_holds_at_most_one_event():
    """Many notify() calls before a read make one event."""
    watcher = quiet(NotifyWatcher)
    changes = watcher.changes()
    for _ in range(3):
        assert watcher.notify() is True
    assert read(changes) is None
    assert blocks(changes)


def test_strings_merge_unread_ids():
    """Unread sends merge into one event: first-seen order, each id once."""
    watcher = quiet(StringsWatcher)
    changes = watcher.changes()
    watcher.send(["a", "b"])
    watcher.send(["b", "c", "a"])
    watcher.send(iter(["d"]))
    assert read(changes) == ["a", "b", "c", "d"]
    assert blocks(changes)
    watcher.send(["a"])
    assert read(changes) == ["a"]


def test_strings_initial_merges_with_sends():
    """Sends before the first read are merged into the initial event."""
    watcher = StringsWatcher(["x"])
    watcher.send(["y", "x"])
    assert read(watcher.changes()) == ["x", "y"]


def test_strings_send_nothing_is_no_event():
    """send([]) returns True but makes no event."""
    watcher = quiet(StringsWatcher)
    assert watcher.send([]) is True
    assert blocks(watcher.changes())


def test_changes_is_one_iterator():
    """changes() returns the same iterator each time, and iter() of it is itself."""
    watcher = NotifyWatcher()
    changes = watcher.changes()
    assert watcher.changes() is changes and iter(changes) is changes


def test_blocked_reader_wakes_on_notify():
    """A reader blocked in next() wakes when another greenlet sends."""
    watcher = quiet(StringsWatcher)
    reader = gevent.spawn(next, watcher.changes())
    gevent.sleep(0)
    assert not reader.ready()
    watcher.send(["a"])
    reader.join(LONG_WAIT)
    assert reader.value == ["a"]


# -- kill / stop / fail / err / wait ---------------------------------------------


@pytest.mark.parametrize("cls", [NotifyWatcher, StringsWatcher])
def test_kill_stops_cleanly(cls):
    """kill(): stopped, err() None, wait()/stop() return None, iteration ends."""
    watcher = cls()
    assert not watcher.stopped and watcher.err() is None
    watcher.kill()
    assert watcher.stopped and watcher.err() is None
    assert check_killed(watcher) is None
    assert watcher.stop() is None
    assert list(watcher.changes()) == []


@pytest.mark.parametrize("cls", [NotifyWatcher, StringsWatcher])
def test_fail_stops_with_error(cls):
    """fail(E): err() is E; wait() and stop() raise E itself, every time; later
    kill() or fail() change nothing."""
    watcher = cls()
    error = ValueError("lost the source")
    watcher.fail(error)
    watcher.kill()
    watcher.fail(KeyError("later"))
    assert watcher.err() is error
    assert check_killed(watcher) is error
    assert check_killed(watcher) is error
    with pytest.raises(ValueError) as raised:
        watcher.stop()
    assert raised.value is error
    assert list(watcher.changes()) == []


def test_fail_after_kill_is_ignored():
    """Once stopped cleanly, fail() does not give it an error."""
    watcher = NotifyWatcher()
    watcher.kill()
    watcher.fail(ValueError("too late"))
    assert watcher.err() is None and check_killed(watcher) is None


def test_fail_needs_an_exception():
    """fail(None) is a TypeError and does not stop the watcher."""
    watcher = NotifyWatcher()
    with pytest.raises(TypeError):
        watcher.fail(None)
    assert not watcher.stopped


@pytest.mark.parametrize("bad", ["oops", ValueError])
def test_fail_needs_an_exception_instance(bad):
    """fail() with something that is not an exception instance is a TypeError
    that leaves the watcher running."""
    watcher = NotifyWatcher()
    with pytest.raises(TypeError):
        watcher.fail(bad)
    assert not watcher.stopped


def test_wait_blocks_until_stopped():
    """wait() blocks until the watcher stops."""
    watcher = NotifyWatcher()
    waiter = gevent.spawn(watcher.wait)
    gevent.sleep(0)
    assert not waiter.ready()
    watcher.kill()
    waiter.join(LONG_WAIT)
    assert waiter.successful() and waiter.value is None


def test_fakes_stop_with_their_stop_error():
    """A fake's kill()/stop() stop it with ``stop_error``; err() returns it."""
    error = ValueError("stop error")
    for watcher in (FakeNotifyWatcher(stop_error=error), FakeStringsWatcher(stop_error=error)):
        assert watcher.err() is None
        with pytest.raises(ValueError) as raised:
            watcher.stop()
        assert raised.value is error and watcher.err() is error


@pytest.mark.parametrize("stopper", ["kill", "fail"])
def test_stop_ends_blocked_iteration(stopper):
    """A consumer blocked in a for loop over changes() leaves it when the watcher stops."""
    watcher = quiet(StringsWatcher)
    seen = []
    consumer = gevent.spawn(lambda: seen.extend(watcher.changes()))
    watcher.send(["a"])
    gevent.sleep(0)
    if stopper == "kill":
        watcher.kill()
    else:
        watcher.fail(ValueError("gone"))
    consumer.join(LONG_WAIT)
    assert consumer.successful()
    assert seen == [["a"]]


def test_unread_event_is_dropped_at_stop():
    """Once stopped, iteration ends at once even with an unread event."""
    watcher = NotifyWatcher()
    watcher.kill()
    with pytest.raises(StopIteration):
        next(watcher.changes())
    with pytest.raises(StopIteration):
        next(watcher.changes())


def test_send_after_stop_returns_false():
    """notify()/send()/trigger() after stop return False and send nothing."""
    notify, strings = NotifyWatcher(initial=False), StringsWatcher(None)
    fakes = FakeNotifyWatcher(), FakeStringsWatcher()
    for watcher in (notify, strings, *fakes):
        watcher.kill()
    assert notify.notify() is False
    assert strings.send(["a"]) is False
    assert fakes[0].trigger() is False
    assert fakes[1].trigger(["a"]) is False
    assert list(notify.changes()) == [] and list(strings.changes()) == []


# -- an interrupted next() loses nothing -------------------------------------------


def test_timeout_in_next_loses_nothing():
    """A gevent.Timeout while next() blocks leaves the iterator usable."""
    watcher = quiet(StringsWatcher)
    changes = watcher.changes()
    timeout = gevent.Timeout(0)
    with pytest.raises(gevent.Timeout) as raised, timeout:
        next(changes)
    assert raised.value is timeout
    watcher.send(["a"])
    assert read(changes) == ["a"]


def test_kill_in_next_loses_nothing():
    """A reader killed while blocked takes nothing: an event sent right after
    the kill is still there for the next reader."""
    watcher = quiet(StringsWatcher)
    changes = watcher.changes()
    reader = gevent.spawn(next, changes)
    gevent.sleep(0)
    reader.kill(block=False)  # the kill is thrown in before the send wakes it
    watcher.send(["a"])
    reader.join(LONG_WAIT)
    assert isinstance(reader.value, GreenletExit)
    assert read(changes) == ["a"]


def test_notify_timeout_in_next_loses_nothing():
    """The same for a notify watcher: the event after the timeout is read."""
    watcher = quiet(NotifyWatcher)
    changes = watcher.changes()
    with pytest.raises(gevent.Timeout), gevent.Timeout(0):
        next(changes)
    watcher.notify()
    assert read(changes) is None
    assert blocks(changes)


# -- bad input -------------------------------------------------------------------


@pytest.mark.parametrize("ids", ["abc", b"ab", None, 42, ["a", 1], ("b", None), iter(["c", b"d"])])
def test_send_bad_ids_is_type_error_and_adds_nothing(ids):
    """A str (not a list of ids), a non-iterable, or non-str ids: TypeError, and
    no id of the call is added."""
    watcher = quiet(StringsWatcher)
    with pytest.raises(TypeError):
        watcher.send(ids)
    assert blocks(watcher.changes())
    watcher.send(["z"])
    assert read(watcher.changes()) == ["z"]


@pytest.mark.parametrize("initial", ["abc", ["a", 1]])
def test_bad_initial_is_type_error(initial):
    """Bad initial ids are a TypeError at construction."""
    with pytest.raises(TypeError):
        StringsWatcher(initial)


# -- property ----------------------------------------------------------------------

ids_strategy = st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), max_size=4)
operations = st.lists(st.one_of(ids_strategy, st.just("read")), max_size=30)


@settings(derandomize=True, database=None, deadline=None, max_examples=200)
@given(initial=st.one_of(st.none(), ids_strategy), ops=operations)
def test_strings_property(initial, ops):
    """For any interleaving of sends and reads: every event equals the merge of
    what was sent since the last read (first-seen order, no duplicates), and the
    union of ids read equals the union of ids sent."""
    watcher = StringsWatcher(initial)
    changes = watcher.changes()
    expected: dict[str, None] | None = None if initial is None else dict.fromkeys(initial)
    sent, got = set(initial or ()), set()

    def read_one():
        event = read(changes)
        assert len(event) == len(set(event))
        assert event == list(expected)
        got.update(event)

    for op in [*ops, "read"]:
        if op == "read":
            if expected is not None:
                read_one()
                expected = None
            continue
        assert watcher.send(op) is True
        sent.update(op)
        if op:
            expected = (expected or {}) | dict.fromkeys(op)
    assert got == sent
    assert blocks(changes)
