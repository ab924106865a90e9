"""NotifyWorker against the reference's test inventory (worker-reference §6.2, §6.6).

Each test names the Go test it translates. The Go suite builds one worker in
SetUpTest; here ``make`` builds one per test from a recording handler and a
FakeNotifyWatcher, and stops every worker it made after the test. Where
DESIGN.md decides differently from the 2014 code (decision 7: changes() ending
while the worker is not dying is an error; there is no SetMustErr hook), the
test pins the decision and says so.
"""

from __future__ import annotations

import gevent
import pytest
from gevent import GreenletExit
from gevent.event import Event
from gevent.queue import Queue
from zope.interface import implementer
from zope.interface.verify import verifyObject

from agent_runtime import stop
from agent_runtime.errors import WatcherStopped
from agent_runtime.interfaces import (
    IAbortableWorker,
    INotifyWatcher,
    INotifyWatchHandler,
    IStringsWatchHandler,
)
from agent_runtime.testing import (
    LONG_WAIT,
    FakeNotifyWatcher,
    FakeStringsWatcher,
    check_alive,
    check_killed,
)
from agent_runtime.watcher import NotifyWatcher
from agent_runtime.worker import NotifyWorker


@implementer(INotifyWatchHandler)
class ActionsHandler:
    """The reference's actionsHandler: records "setup", "handler", "teardown".

    ``handle()`` reports on ``handled`` (before raising ``handle_error``), then
    runs ``hook`` if set, to model a handle that blocks.
    """

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

    def handle(self):
        self.actions.append("handler")
        self.in_handle.set()
        if self.hook is not None:
            self.hook()
        self.handled.put(None)
        if self.handle_error is not None:
            raise self.handle_error


class Blocker:
    """A handle hook that blocks until ``release`` is set; records how it ended."""

    def __init__(self) -> None:
        self.release = Event()
        self.exit: BaseException | None = None

    def __call__(self) -> None:
        try:
            assert self.release.wait(LONG_WAIT), "handle() was never released"
        except BaseException as error:
            self.exit = error
            raise


DEFAULT = object()


@pytest.fixture
def make():
    """Make (worker, handler, watcher); every worker is killed and must stop after the test."""
    made: list[NotifyWorker] = []

    def make_worker(watcher=DEFAULT, **kwargs):
        watcher = FakeNotifyWatcher() if watcher is DEFAULT else watcher
        handler = ActionsHandler(watcher, **kwargs)
        worker = NotifyWorker(handler)
        made.append(worker)
        return worker, handler, watcher

    yield make_worker
    for worker in made:
        worker.kill()
        check_killed(worker)


def expect_handled(handler: ActionsHandler) -> None:
    handler.handled.get(timeout=LONG_WAIT)


def stop_in_time(worker) -> None:
    """agent_runtime.stop(worker), failing with gevent.Timeout instead of hanging."""
    with gevent.Timeout(LONG_WAIT):
        return stop(worker)


def wait_set_up(handler: ActionsHandler) -> None:
    # The reference's raciness note: set_up runs on the worker's greenlet.
    assert handler.set_up_called.wait(LONG_WAIT), "set_up() was never called"


def test_provides_interfaces(make):
    """The worker, the recording handler and the fake watcher pass verifyObject."""
    worker, handler, watcher = make()
    verifyObject(IAbortableWorker, worker)  # which extends IWorker
    verifyObject(INotifyWatchHandler, handler)
    verifyObject(INotifyWatcher, watcher)


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
    """Each change is one handle() call (one at a time: unread changes coalesce)."""
    worker, handler, watcher = make()
    wait_set_up(handler)
    assert handler.actions == ["setup"]
    for calls in (1, 2, 3):
        assert watcher.trigger()
        expect_handled(handler)
        assert handler.actions == ["setup"] + ["handler"] * calls
    assert stop_in_time(worker) is None
    assert handler.actions == ["setup", "handler", "handler", "handler", "teardown"]
    assert watcher.stopped


def test_set_up_failure_stops_without_tear_down(make):  # TestSetUpFailureStopsWithTearDown
    """set_up raising: the worker stops with that error; tear_down is not called.

    Go's SetUp returned a watcher together with the error and the worker stopped
    that watcher. A Python set_up either returns or raises, so here it raises and
    the worker never holds a watcher (the handler owns whatever it made)."""
    error = ValueError("my special error")
    worker, handler, _ = make(setup_error=error)
    assert check_killed(worker) is error
    assert handler.actions == ["setup"]


def test_watcher_stop_failure_propagates(make):  # TestWatcherStopFailurePropagates
    """The error stopping the watcher is the worker's error."""
    error = ValueError("error while stopping watcher")
    worker, handler, _ = make(FakeNotifyWatcher(stop_error=error))
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
    """A handle() error stops the worker (with it), the watcher, and runs tear_down;
    wait() repeated raises that very exception object each time."""
    error = ValueError("my handling error")
    worker, handler, watcher = make(handle_error=error)
    wait_set_up(handler)
    watcher.trigger()
    expect_handled(handler)
    for _ in range(3):
        assert check_killed(worker) is error
    assert handler.actions == ["setup", "handler", "teardown"]
    assert watcher.stopped


def test_notices_stopped_watcher(make):  # TestNoticesStoppedWatcher
    """A watcher stopped under the worker's feet ends it with the watcher's error."""
    error = ValueError("Stopped Watcher")
    worker, handler, watcher = make(FakeNotifyWatcher(stop_error=error))
    wait_set_up(handler)
    with pytest.raises(ValueError):
        watcher.stop()
    assert check_killed(worker) is error
    assert handler.actions == ["setup", "teardown"]


def test_closed_changes_give_the_watcher_error(make):
    """TestDefaultClosedHandler (decision 7): no replaceable hook; like MustErr, a
    watcher that failed with E ends the worker with E, its own err()."""
    error = ValueError("lost the source")
    worker, handler, watcher = make(NotifyWatcher(initial=False))
    wait_set_up(handler)
    watcher.fail(error)
    assert check_killed(worker) is error
    assert handler.actions == ["setup", "teardown"]


@implementer(INotifyWatcher)
class EndingWatcher(FakeNotifyWatcher):
    """changes() ends at once although the watcher runs and has no error
    (Go: a closed channel with Err() == tomb.ErrStillAlive)."""

    def changes(self):
        return iter(())


def test_errors_on_still_alive_but_closed_changes(make):
    """TestErrorsOnStillAliveButClosedChannel (decision 7): Go returned nil;
    here it is WatcherStopped, and the worker stops the still-running watcher."""
    watcher = EndingWatcher()
    verifyObject(INotifyWatcher, watcher)
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


@pytest.mark.parametrize(
    "sources, winner",
    [
        (("stop", "handle"), "stop"),
        (("tear_down", "handle"), "tear_down"),
        (("stop", "tear_down"), "stop"),
        (("stop", "tear_down", "handle"), "stop"),
    ],
)
def test_error_precedence(make, sources, winner):
    """§6.6, decision 7: the watcher's stop error, then tear_down's, then handle's."""
    errors = {source: ValueError(source) for source in sources}
    watcher = FakeNotifyWatcher(stop_error=errors.get("stop"))
    worker, handler, _ = make(
        watcher, teardown_error=errors.get("tear_down"), handle_error=errors.get("handle")
    )
    watcher.trigger()
    expect_handled(handler)
    worker.kill()  # needed when handle() did not fail
    assert check_killed(worker) is errors[winner]
    assert handler.actions == ["setup", "handler", "teardown"]


def test_kill_does_not_interrupt_blocked_handle(make):
    """Decision 6: while handle() blocks, kill() does not make wait() return; the
    worker stops once handle returns, without handling a change that came meanwhile."""
    worker, handler, watcher = make()
    handler.hook = blocker = Blocker()
    watcher.trigger()
    assert handler.in_handle.wait(LONG_WAIT)
    worker.kill()
    watcher.trigger()
    check_alive(worker)
    assert blocker.exit is None
    blocker.release.set()
    assert check_killed(worker) is None
    assert handler.actions == ["setup", "handler", "teardown"]
    assert watcher.stopped


def test_kill_while_waiting_for_change(make):
    """kill() while the worker blocks on its watcher stops it cleanly."""
    worker, handler, watcher = make()
    wait_set_up(handler)
    for _ in range(5):
        gevent.sleep(0)  # let it block in next(changes)
    worker.kill()
    assert check_killed(worker) is None
    assert handler.actions == ["setup", "teardown"]
    assert watcher.stopped


@pytest.mark.parametrize("returned", [None, "strings watcher"])
def test_set_up_returning_non_watcher(make, returned):
    """set_up returning something that is not an INotifyWatcher is a TypeError;
    tear_down is not called, and a watcher of the wrong kind is stopped."""
    wrong = FakeStringsWatcher() if returned else None
    worker, handler, _ = make(wrong)
    assert isinstance(check_killed(worker), TypeError)
    assert handler.actions == ["setup"]
    if wrong is not None:
        assert wrong.stopped


class Plain:
    """Has a handler's methods but does not declare INotifyWatchHandler."""

    set_up = tear_down = handle = None


@implementer(IStringsWatchHandler)
class StringsHandler(Plain):
    pass


@pytest.mark.parametrize("handler", [Plain(), StringsHandler(), None])
def test_handler_without_interface_is_type_error(handler):
    """A handler not providing INotifyWatchHandler: TypeError at construction
    (and nothing starts: the leak check would see a greenlet)."""
    with pytest.raises(TypeError):
        NotifyWorker(handler)


def test_abort_kills_blocked_handle(make):
    """abort() kills the worker outright even while handle() blocks (GreenletExit:
    a clean stop); the watcher is still stopped and tear_down still runs."""
    worker, handler, watcher = make()
    handler.hook = blocker = Blocker()
    watcher.trigger()
    assert handler.in_handle.wait(LONG_WAIT)
    worker.abort()
    assert check_killed(worker) is None
    assert isinstance(blocker.exit, GreenletExit)
    assert handler.actions == ["setup", "handler", "teardown"]
    assert watcher.stopped


def test_dying_is_visible_to_handler(make):
    """A handler that blocks can watch the worker's ``dying`` event (decision 6)."""
    worker, handler, watcher = make()
    seen = []
    handler.hook = lambda: seen.append(worker.dying.wait(LONG_WAIT))
    watcher.trigger()
    assert handler.in_handle.wait(LONG_WAIT)
    assert not worker.dying.is_set()
    worker.kill()
    assert check_killed(worker) is None
    assert seen == [True]


@implementer(INotifyWatcher)
class BrokenChanges(FakeNotifyWatcher):
    """A watcher whose changes() itself raises."""

    def changes(self):
        raise RuntimeError("changes() failed")


def test_changes_raising_keeps_the_stop_error_first(make):
    """Decision 7 precedence when changes() itself raises: the stop error wins."""
    stop_error = ValueError("stop error")
    worker, handler, _ = make(BrokenChanges(stop_error=stop_error))
    assert check_killed(worker) is stop_error
    assert handler.actions == ["setup", "teardown"]
