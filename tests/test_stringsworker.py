"""StringsWorker against the reference's test inventory (worker-reference §6.3, §6.6).

The fixture mirrors test_notifyworker.py: a recording handler and a
FakeStringsWatcher; ``handled`` carries the list each handle() received.
In-memory watchers merge unread events, so the tests wait for each handled
event before triggering the next. There is no TestDefaultClosedHandler in the
Go suite; decision 7 (changes() ending while not dying is an error) replaces
its SetMustErr tests.
"""

from __future__ import annotations

import gevent
import pytest
from gevent.event import Event
from gevent.queue import Queue
from zope.interface import implementer
from zope.interface.verify import verifyObject

from agent_runtime import stop
from agent_runtime.errors import WatcherStopped
from agent_runtime.interfaces import (
    IAbortableWorker,
    INotifyWatchHandler,
    IStringsWatcher,
    IStringsWatchHandler,
    IWorker,
)
from agent_runtime.testing import (
    LONG_WAIT,
    FakeNotifyWatcher,
    FakeStringsWatcher,
    check_alive,
    check_killed,
)
from agent_runtime.worker import StringsWorker


@implementer(IStringsWatchHandler)
class ActionsHandler:
    """The reference's strings actionsHandler: records the actions; ``handle``
    puts the list it received on ``handled``, then runs ``hook`` if set."""

    def __init__(self, watcher, *, setup_error=None, teardown_error=None, handle_error=None):
        self.watcher = watcher
        self.setup_error = setup_error
        self.teardown_error = teardown_error
        self.handle_error = handle_error
        self.hook = None
        self.actions: list[str] = []
        self.handled = Queue()
        self.set_up_called = Event()
        self.in_handle = Event()

    def set_up(self):
        self.actions.append("setup")
        self.set_up_called.set()
        if self.setup_error is not None:
            raise self.setup_error
        return self.watcher

    def tear_down(self):
        self.actions.append("teardown")
        if self.teardown_error is not None:
            raise self.teardown_error

    def handle(self, changes):
        self.actions.append("handler")
        self.in_handle.set()
        if self.hook is not None:
            self.hook()
        self.handled.put(changes)
        if self.handle_error is not None:
            raise self.handle_error


DEFAULT = object()


@pytest.fixture
def make():
    """Make (worker, handler, watcher); every worker is killed and must stop after the test."""
    made: list[StringsWorker] = []

    def make_worker(watcher=DEFAULT, **kwargs):
        watcher = FakeStringsWatcher() if watcher is DEFAULT else watcher
        handler = ActionsHandler(watcher, **kwargs)
        worker = StringsWorker(handler)
        made.append(worker)
        return worker, handler, watcher

    yield make_worker
    for worker in made:
        worker.kill()
        check_killed(worker)


def expect_handled(handler: ActionsHandler, expected: list[str]) -> None:
    """The reference's waitForHandledStrings: the next handle() got exactly ``expected``."""
    got = handler.handled.get(timeout=LONG_WAIT)
    assert type(got) is list
    assert got == expected


def stop_in_time(worker) -> None:
    """agent_runtime.stop(worker), failing with gevent.Timeout instead of hanging."""
    with gevent.Timeout(LONG_WAIT):
        return stop(worker)


def wait_set_up(handler: ActionsHandler) -> None:
    assert handler.set_up_called.wait(LONG_WAIT), "set_up() was never called"


def test_provides_interfaces(make):
    """The worker, the recording handler and the fake pass verifyObject."""
    worker, handler, watcher = make()
    verifyObject(IWorker, worker)
    verifyObject(IAbortableWorker, worker)
    verifyObject(IStringsWatchHandler, handler)
    verifyObject(IStringsWatcher, watcher)


def test_kill(make):  # TestKill
    """kill() then wait() returns None."""
    worker, _, _ = make()
    worker.kill()
    assert check_killed(worker) is None


def test_stop(make):  # TestStop
    """stop() returns None, and wait() is repeatable."""
    worker, _, _ = make()
    assert stop_in_time(worker) is None
    assert check_killed(worker) is None


def test_wait(make):  # TestWait
    """wait() blocks until the worker is killed, then returns None."""
    worker, handler, _ = make()
    waiter = gevent.spawn(worker.wait)
    wait_set_up(handler)
    check_alive(worker)
    assert not waiter.ready()
    worker.kill()
    waiter.join(LONG_WAIT)
    assert waiter.successful() and waiter.value is None


def test_call_set_up_and_tear_down(make):  # TestCallSetUpAndTearDown
    """set_up runs first; a kill stops the watcher, then runs tear_down."""
    worker, handler, watcher = make()
    wait_set_up(handler)
    assert handler.actions == ["setup"]
    worker.kill()
    assert check_killed(worker) is None
    assert handler.actions == ["setup", "teardown"]
    assert watcher.stopped


def test_changes_trigger_handler(make):  # TestChangesTriggerHandler
    """handle() receives exactly the lists triggered, one call per event."""
    worker, handler, watcher = make()
    wait_set_up(handler)
    assert handler.actions == ["setup"]
    for calls, ids in enumerate((["aa", "bb"], ["cc", "dd"], ["ee", "ff"]), start=1):
        assert watcher.trigger(ids)
        expect_handled(handler, ids)
        assert handler.actions == ["setup"] + ["handler"] * calls
    assert stop_in_time(worker) is None
    assert handler.actions == ["setup", "handler", "handler", "handler", "teardown"]
    assert watcher.stopped


def test_set_up_failure_stops_without_tear_down(make):  # TestSetUpFailureStopsWithTearDown
    """set_up raising: the worker stops with that error; tear_down is not called.

    Go's SetUp returned a watcher together with the error; a Python set_up either
    returns or raises, so it raises and the worker never holds a watcher."""
    error = ValueError("my special error")
    worker, handler, _ = make(setup_error=error)
    assert check_killed(worker) is error
    assert handler.actions == ["setup"]


def test_watcher_stop_failure_propagates(make):  # TestWatcherStopFailurePropagates
    """The error stopping the watcher is the worker's error."""
    error = ValueError("error while stopping watcher")
    worker, handler, _ = make(FakeStringsWatcher(stop_error=error))
    wait_set_up(handler)
    worker.kill()
    assert check_killed(worker) is error
    assert handler.actions == ["setup", "teardown"]


def test_clean_run_notices_tear_down_error(make):  # TestCleanRunNoticesTearDownError
    """A tear_down error is the worker's error after a clean kill."""
    error = ValueError("failed to tear down watcher")
    worker, handler, _ = make(teardown_error=error)
    wait_set_up(handler)
    worker.kill()
    assert check_killed(worker) is error


def test_handle_error_stops_worker_and_watcher(make):  # TestHandleErrorStopsWorkerAndWatcher
    """A handle() error stops the worker (with it), the watcher, and runs tear_down."""
    error = ValueError("my handling error")
    worker, handler, watcher = make(handle_error=error)
    wait_set_up(handler)
    watcher.trigger(["aa", "bb"])
    expect_handled(handler, ["aa", "bb"])
    assert check_killed(worker) is error
    assert handler.actions == ["setup", "handler", "teardown"]
    assert watcher.stopped


def test_notices_stopped_watcher(make):  # TestNoticesStoppedWatcher
    """A watcher stopped under the worker's feet ends it with the watcher's error."""
    error = ValueError("Stopped Watcher")
    worker, handler, watcher = make(FakeStringsWatcher(stop_error=error))
    wait_set_up(handler)
    with pytest.raises(ValueError):
        watcher.stop()
    assert check_killed(worker) is error
    assert handler.actions == ["setup", "teardown"]


@implementer(IStringsWatcher)
class EndingWatcher(FakeStringsWatcher):
    """changes() ends at once although the watcher runs and has no error
    (Go: a closed channel with Err() == tomb.ErrStillAlive)."""

    def changes(self):
        return iter(())


def test_errors_on_still_alive_but_closed_changes(make):
    """TestErrorsOnStillAliveButClosedChannel (decision 7): Go returned nil;
    here it is WatcherStopped, and the worker stops the still-running watcher."""
    watcher = EndingWatcher()
    verifyObject(IStringsWatcher, watcher)
    worker, handler, _ = make(watcher)
    assert isinstance(check_killed(worker), WatcherStopped)
    assert handler.actions == ["setup", "teardown"]
    assert watcher.stopped and watcher.err() is None


def test_errors_on_closed_changes(make):
    """TestErrorsOnClosedChannel (decision 7): a watcher stopped cleanly while the
    worker is not dying gives WatcherStopped (Go returned nil)."""
    worker, handler, watcher = make()
    wait_set_up(handler)
    assert watcher.stop() is None
    assert isinstance(check_killed(worker), WatcherStopped)
    assert handler.actions == ["setup", "teardown"]


# -- §6.6 extras and DESIGN decisions ------------------------------------------


def test_initial_ids_are_handled_first(make):
    """A watcher's initial event is handled without any trigger, as given."""
    worker, handler, _ = make(FakeStringsWatcher(initial=["x", "y"]))
    expect_handled(handler, ["x", "y"])
    assert stop_in_time(worker) is None


def test_watcher_stop_error_beats_handle_error(make):
    """Precedence (decision 7): the watcher's stop error hides the handle error."""
    stop_error, handle_error = ValueError("stop"), ValueError("handle")
    watcher = FakeStringsWatcher(stop_error=stop_error)
    worker, handler, _ = make(watcher, handle_error=handle_error)
    watcher.trigger(["a"])
    expect_handled(handler, ["a"])
    assert check_killed(worker) is stop_error


def test_tear_down_error_beats_handle_error(make):
    """Precedence (decision 7): the tear_down error hides the handle error."""
    tear_down_error, handle_error = ValueError("tear down"), ValueError("handle")
    worker, handler, watcher = make(teardown_error=tear_down_error, handle_error=handle_error)
    watcher.trigger(["a"])
    expect_handled(handler, ["a"])
    assert check_killed(worker) is tear_down_error


def test_changes_during_blocked_handle_are_merged(make):
    """Ids sent while handle() blocks reach the next call merged, first-seen order."""
    worker, handler, watcher = make()
    release = Event()
    handler.hook = lambda: release.wait(LONG_WAIT)
    watcher.trigger(["a"])
    assert handler.in_handle.wait(LONG_WAIT)
    handler.hook = None
    watcher.trigger(["b", "c"])
    watcher.trigger(["c", "a", "b", "d"])
    release.set()
    expect_handled(handler, ["a"])
    expect_handled(handler, ["b", "c", "a", "d"])
    assert stop_in_time(worker) is None


def test_kill_does_not_interrupt_blocked_handle(make):
    """Decision 6: while handle() blocks, kill() does not make wait() return; the
    worker stops once handle returns, without handling ids that came meanwhile."""
    worker, handler, watcher = make()
    release = Event()
    handler.hook = lambda: release.wait(LONG_WAIT)
    watcher.trigger(["a"])
    assert handler.in_handle.wait(LONG_WAIT)
    worker.kill()
    watcher.trigger(["b"])
    check_alive(worker)
    release.set()
    assert check_killed(worker) is None
    expect_handled(handler, ["a"])
    assert handler.handled.empty()
    assert handler.actions == ["setup", "handler", "teardown"]


def test_set_up_returning_notify_watcher(make):
    """set_up returning an INotifyWatcher is a TypeError; the watcher is stopped
    and tear_down is not called."""
    wrong = FakeNotifyWatcher()
    worker, handler, _ = make(wrong)
    assert isinstance(check_killed(worker), TypeError)
    assert handler.actions == ["setup"]
    assert wrong.stopped


@implementer(INotifyWatchHandler)
class NotifyHandler:
    def set_up(self):
        raise AssertionError("never called")

    def tear_down(self):
        raise AssertionError("never called")

    def handle(self):
        raise AssertionError("never called")


@pytest.mark.parametrize("handler", [NotifyHandler(), object()])
def test_handler_without_interface_is_type_error(handler):
    """A handler not providing IStringsWatchHandler: TypeError at construction."""
    with pytest.raises(TypeError):
        StringsWorker(handler)


def test_wait_raises_same_exception_object(make):
    """wait() repeated raises the very same exception object."""
    error = ValueError("my handling error")
    worker, _, watcher = make(handle_error=error)
    watcher.trigger(["a"])
    for _ in range(3):
        assert check_killed(worker) is error


@pytest.mark.parametrize("order", ["change first", "kill first"])
def test_kill_racing_a_change_never_interrupts_handle(make, order):
    """A change and a kill in the same loop turn: whether or not handle() runs,
    the kill is never thrown into it, and the worker stops cleanly (decision 6;
    the loop is shared with NotifyWorker)."""
    worker, handler, watcher = make()
    release, exits = Event(), []
    handler.hook = lambda: exits.append(release.wait(LONG_WAIT))
    wait_set_up(handler)
    for _ in range(5):
        gevent.sleep(0)  # let it block in next(changes)
    if order == "change first":
        watcher.trigger(["a"])
    worker.kill()
    if order == "kill first":
        watcher.trigger(["a"])
    for _ in range(5):
        gevent.sleep(0)
    release.set()
    assert check_killed(worker) is None
    assert exits in ([], [True])  # not interrupted if it ran
    assert handler.actions[0] == "setup" and handler.actions[-1] == "teardown"
