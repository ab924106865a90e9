"""Checks for workers in tests (juju's ``workertest``, for Python).

Every wait has a real-time timeout, so a worker that hangs fails the test
instead of stalling it.
"""

from __future__ import annotations

import time

import gevent

from agent_runtime.interfaces import IWorker
from agent_runtime.worker.base import outcome_of

__all__ = [
    "LONG_WAIT",
    "SHORT_WAIT",
    "check_alive",
    "check_killed",
    "clean_kill",
    "dirty_kill",
    "wait_for",
]

#: Real seconds to wait for something that should happen.
LONG_WAIT = 10.0
#: Real seconds to watch for something that should not happen.
SHORT_WAIT = 0.05
#: The first and the longest pause (seconds) between two polls of ``wait_for``.
MIN_POLL_PAUSE = 0.001
MAX_POLL_PAUSE = 0.02


def check_killed(worker: IWorker, timeout: float = LONG_WAIT) -> BaseException | None:
    """Wait (at most ``timeout`` seconds) for ``worker`` to stop; return the
    error it stopped with, or None. Fails with ``AssertionError`` if it does not
    stop in time. Does not kill it."""
    with gevent.Timeout(timeout, False):
        try:
            worker.wait()
        except gevent.Timeout:
            raise
        except BaseException as error:
            return error
        return None
    raise AssertionError(f"{worker!r} did not stop within {timeout:g} s")


def clean_kill(worker: IWorker, timeout: float = LONG_WAIT) -> None:
    """Kill ``worker`` and check that it stops in time without an error."""
    worker.kill()
    error = check_killed(worker, timeout)
    if error is not None:
        raise AssertionError(f"{worker!r} stopped with an error: {error!r}") from error


def dirty_kill(worker: IWorker, timeout: float = LONG_WAIT) -> BaseException:
    """Kill ``worker``, check that it stops in time with an error, return it."""
    worker.kill()
    error = check_killed(worker, timeout)
    if error is None:
        raise AssertionError(f"{worker!r} stopped cleanly; an error was expected")
    return error


def check_alive(worker: IWorker, window: float = SHORT_WAIT) -> None:
    """Check that ``worker`` is still running: it does not stop within ``window``
    seconds (a short negative check, not a wait for something to happen)."""
    waiter = gevent.spawn(outcome_of, worker)
    waiter.join(window)
    if waiter.ready():
        raise AssertionError(f"{worker!r} stopped ({waiter.value!r}); it should be running")
    waiter.kill()


def wait_for(condition, timeout: float = LONG_WAIT, what: str | None = None) -> None:
    """Poll ``condition()`` (yielding to other greenlets) until it is true, at
    most ``timeout`` seconds; fail with ``AssertionError`` naming ``what``.

    The pauses between polls double from 1 ms to ``MAX_POLL_PAUSE``, and are
    never shorter than the last check took: a condition that is slow to check
    (a command's output, a file) takes at most half the CPU, and the rest is
    left to what the test waits for."""
    pause = MIN_POLL_PAUSE
    with gevent.Timeout(timeout, False):
        while True:
            started = time.monotonic()
            if condition():
                return
            gevent.sleep(max(pause, time.monotonic() - started))
            pause = min(pause * 2, MAX_POLL_PAUSE)
    raise AssertionError(f"waited {timeout:g} s for {what or condition!r}")
