"""SimpleWorker against the reference's test inventory (worker-reference §4, §6.4, §6.6).

``do_work(stop_event)`` runs on the worker's greenlet; ``kill()`` sets
``stop_event``; ``wait()`` returns None or raises what ``do_work`` raised.
Every ``do_work`` here that waits for its stop event does so with a timeout,
and fails loudly if it runs out.
"""

from __future__ import annotations

import traceback

import gevent
import pytest
from gevent import GreenletExit
from gevent.event import Event
from zope.interface.verify import verifyObject

from agent_runtime import stop
from agent_runtime.interfaces import IAbortableWorker, IWorker
from agent_runtime.testing import LONG_WAIT, check_alive, check_killed
from agent_runtime.worker import SimpleWorker


class TestError(Exception):
    """The reference's package-level ``testError``."""

    __test__ = False  # not a pytest test class


def wait_stop(stop_event: Event) -> None:
    assert stop_event.wait(LONG_WAIT), "do_work was never killed"


def stop_in_time(worker) -> None:
    """agent_runtime.stop(worker), failing with gevent.Timeout instead of hanging."""
    with gevent.Timeout(LONG_WAIT):
        return stop(worker)


@pytest.fixture
def workers():
    """Track workers; each must have stopped after the test (killed if not)."""
    made: list[SimpleWorker] = []

    def make(do_work):
        worker = SimpleWorker(do_work)
        made.append(worker)
        return worker

    yield make
    for worker in made:
        worker.kill()
        check_killed(worker)


def test_provides_interfaces(workers):
    """SimpleWorker passes verifyObject for IWorker and IAbortableWorker."""
    worker = workers(wait_stop)
    verifyObject(IWorker, worker)
    verifyObject(IAbortableWorker, worker)
    assert stop_in_time(worker) is None


def test_wait(workers):  # TestWait
    """wait() raises exactly the error do_work raised."""
    error = TestError("test error")

    def do_work(stop_event):
        raise error

    worker = workers(do_work)
    assert check_killed(worker) is error


def test_wait_nil(workers):  # TestWaitNil
    """do_work returning normally: wait() returns None."""
    worker = workers(lambda stop_event: None)
    assert check_killed(worker) is None


def test_kill(workers):  # TestKill
    """kill() sets the stop event; the error raised afterwards is returned; a
    second kill() is harmless."""
    error = TestError("test error")

    def do_work(stop_event):
        wait_stop(stop_event)
        raise error

    worker = workers(do_work)
    check_alive(worker)
    worker.kill()
    assert check_killed(worker) is error
    worker.kill()
    assert check_killed(worker) is error


def test_stop_event_is_a_gevent_event_set_by_kill(workers):
    """do_work gets a gevent Event that is clear until kill() and then set."""
    got: list[Event] = []
    started = Event()

    def do_work(stop_event):
        got.append(stop_event)
        started.set()
        wait_stop(stop_event)

    worker = workers(do_work)
    assert started.wait(LONG_WAIT)
    assert isinstance(got[0], Event) and not got[0].is_set()
    worker.kill()
    assert check_killed(worker) is None
    assert got[0].is_set()


def test_return_value_is_ignored(workers):
    """A value do_work returns is not an error: wait() returns None."""
    worker = workers(lambda stop_event: "ignored")
    assert check_killed(worker) is None


def test_concurrent_kills_are_safe(workers):
    """§6.6: kill() from many greenlets at once is safe and stops the worker once."""
    runs = []

    def do_work(stop_event):
        runs.append(1)
        wait_stop(stop_event)

    worker = workers(do_work)
    killers = [gevent.spawn(worker.kill) for _ in range(20)]
    gevent.joinall(killers, timeout=LONG_WAIT)
    assert all(k.successful() for k in killers)
    assert check_killed(worker) is None
    assert runs == [1]


def test_kill_before_do_work_runs(workers):
    """A kill before do_work has started: it starts with its stop event already set."""
    seen = []
    worker = workers(lambda stop_event: seen.append(stop_event.is_set()))
    worker.kill()
    assert check_killed(worker) is None
    assert seen == [True]


def test_greenlet_exit_is_a_clean_stop(workers):
    """Decision 12: do_work ending with GreenletExit gives wait() None."""

    def do_work(stop_event):
        raise GreenletExit

    worker = workers(do_work)
    assert check_killed(worker) is None


def test_abort_kills_do_work_outright(workers):
    """abort() kills do_work where it blocks (GreenletExit): a clean stop, decision 12."""
    exits = []
    blocking = Event()

    def do_work(stop_event):
        blocking.set()
        try:
            gevent.sleep(LONG_WAIT)  # deaf to its stop event
        except BaseException as error:
            exits.append(error)
            raise

    worker = workers(do_work)
    assert blocking.wait(LONG_WAIT)
    worker.abort()
    assert check_killed(worker) is None
    assert len(exits) == 1 and isinstance(exits[0], GreenletExit)


def test_error_after_kill_is_returned(workers):
    """An exception raised after kill() is still the worker's error (§4)."""
    error = TestError("cleanup failed")

    def do_work(stop_event):
        wait_stop(stop_event)
        gevent.sleep(0)
        raise error

    worker = workers(do_work)
    worker.kill()
    assert check_killed(worker) is error


def test_wait_repeated_raises_same_object(workers):
    """Every wait() raises the very same exception object."""
    error = TestError("test error")

    def do_work(stop_event):
        raise error

    worker = workers(do_work)
    for _ in range(3):
        assert check_killed(worker) is error


def test_wait_repeated_does_not_grow_the_traceback(workers):
    """Each wait() raises with the traceback do_work raised it with, plus only
    the frames of that wait() call: it does not grow from call to call."""

    def do_work(stop_event):
        raise TestError("test error")

    worker = workers(do_work)
    lengths = []
    for _ in range(3):
        error = check_killed(worker)
        lengths.append(len(traceback.extract_tb(error.__traceback__)))
    assert lengths[0] == lengths[1] == lengths[2]
    assert traceback.extract_tb(error.__traceback__)[-1].name == "do_work"


def test_wait_from_many_greenlets_gives_same_object(workers):
    """wait() from several greenlets at once: each raises the same exception object."""
    error = TestError("test error")
    fail = Event()

    def do_work(stop_event):
        assert fail.wait(LONG_WAIT)
        raise error

    worker = workers(do_work)
    waiters = [gevent.spawn(check_killed, worker) for _ in range(5)]
    gevent.sleep(0)
    assert not any(w.ready() for w in waiters)
    fail.set()
    gevent.joinall(waiters, timeout=LONG_WAIT)
    assert [w.value for w in waiters] == [error] * 5
    assert all(w.value is error for w in waiters)


class Fatal(BaseException):
    """A BaseException that is neither GreenletExit nor one pytest treats specially."""


def test_base_exception_is_kept():
    """A BaseException other than GreenletExit is the worker's error, not lost
    (not via the fixture: check_killed catches only Exception)."""
    error = Fatal("fatal")

    def do_work(stop_event):
        raise error

    worker = SimpleWorker(do_work)
    for _ in range(2):
        with gevent.Timeout(LONG_WAIT), pytest.raises(Fatal) as raised:
            worker.wait()
        assert raised.value is error


@pytest.mark.parametrize("do_work", [None, 42, "do_work"])
def test_non_callable_do_work_is_type_error(do_work):
    """A non-callable do_work is a TypeError at construction; nothing starts."""
    with pytest.raises(TypeError):
        SimpleWorker(do_work)
