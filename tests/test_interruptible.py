"""Interruptible: a blocking call cut short by another greenlet, and nothing else."""

from __future__ import annotations

import gevent
import pytest
from gevent.event import Event

from agent_runtime.testing import LONG_WAIT
from agent_runtime.worker.base import Interrupted, Interruptible


def _outcome(function, *args):
    """Run on a greenlet: what ``function`` returned or raised (nothing reaches the hub)."""
    try:
        return "returned", function(*args)
    except BaseException as error:  # the tests look at Interrupted, a BaseException
        return "raised", error


def test_run_returns_what_the_function_returns():
    assert Interruptible().run(lambda a, b: a + b, 2, 3) == 5


def test_an_error_of_the_function_passes_through():
    error = KeyError("x")

    def fail():
        raise error

    with pytest.raises(KeyError) as raised:
        Interruptible().run(fail)
    assert raised.value is error


def test_interrupt_cuts_a_blocked_call_short():
    call = Interruptible()
    never = Event()
    waiter = gevent.spawn(_outcome, call.run, never.wait)
    gevent.sleep(0)  # the waiter blocks in never.wait()
    call.interrupt()
    waiter.join(LONG_WAIT)
    kind, error = waiter.value
    assert kind == "raised" and isinstance(error, Interrupted)
    assert call.interrupted


def test_an_interrupt_is_for_good():
    call = Interruptible()
    call.interrupt()
    called = []
    with pytest.raises(Interrupted):
        call.run(called.append, 1)
    with pytest.raises(Interrupted):
        call.run(called.append, 2)
    assert called == []


def test_interrupt_from_a_hub_callback():
    call = Interruptible()
    dying, never = Event(), Event()
    dying.rawlink(lambda _event: call.interrupt())
    waiter = gevent.spawn(_outcome, call.run, never.wait)
    gevent.sleep(0)
    dying.set()
    waiter.join(LONG_WAIT)
    assert isinstance(waiter.value[1], Interrupted)


def test_code_after_the_call_is_never_interrupted():
    """The event arrives and the interrupt is asked for in the same turn: the
    call returns, and what the greenlet does next (block on something else) is
    left alone."""
    call = Interruptible()
    event, later = Event(), Event()
    steps = []

    def work():
        steps.append(call.run(event.wait))
        steps.append(later.wait(LONG_WAIT))  # must not be interrupted
        return steps

    worker = gevent.spawn(_outcome, work)
    gevent.sleep(0)
    event.set()  # wakes the worker from a hub callback ...
    call.interrupt()  # ... scheduled before this one
    gevent.sleep(0)
    later.set()
    worker.join(LONG_WAIT)
    assert worker.value == ("returned", [True, True])


def test_the_interrupt_is_not_an_exception():
    assert not issubclass(Interrupted, Exception)


def test_run_is_not_reentrant():
    call = Interruptible()
    with pytest.raises(RuntimeError, match="already running"):
        call.run(call.run, lambda: None)


def test_nested_calls_are_interrupted_by_their_own_interruptible():
    outer, inner = Interruptible(), Interruptible()
    never = Event()
    waiter = gevent.spawn(_outcome, outer.run, inner.run, never.wait)
    gevent.sleep(0)
    outer.interrupt()
    waiter.join(LONG_WAIT)
    assert isinstance(waiter.value[1], Interrupted)
    assert not inner.interrupted
    assert inner.run(lambda: "still usable") == "still usable"
