"""EngineConfig: an engine's checked settings, and the user callbacks it runs.

Everything here runs on the engine's loop and must never wedge it: a
callback that raises is logged and the engine goes on with a documented
fallback.
"""

from __future__ import annotations

import logging
import math
import random as _random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent_runtime.clock import REAL_CLOCK
from agent_runtime.interfaces import IClock
from agent_runtime.worker.backoff import Backoff
from agent_runtime.worker.dependency.errors import Bounce, Missing, Uninstall

__all__ = ["JITTER", "EngineConfig"]

log = logging.getLogger("agent_runtime.worker.dependency")

#: Every restart delay is spread by this fraction either way (juju's ±10%).
JITTER = 0.1

_SIGNALS = (Missing, Bounce, Uninstall)


def _seconds(value: Any, what: str, *, none: bool = False) -> float | None:
    if value is None and none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, not {value!r}")
    if not (value >= 0 and math.isfinite(value)):
        raise ValueError(f"{what} must be >= 0 seconds and finite, not {value!r}")
    return float(value)


@dataclass(frozen=True)
class EngineConfig:
    """The settings of an ``Engine`` (its constructor's arguments), checked
    when made: a wrong one raises ``TypeError``/``ValueError`` naming it.

    ``is_fatal`` is never called for ``Missing``, ``Bounce`` or ``Uninstall``,
    which steer the engine. Delays are seconds on ``clock``: ``error_delay``
    after a failure, times ``backoff_factor`` for each further failure in a
    row (0 or 1: no backoff), at most ``max_delay``; a worker that ran
    ``backoff_reset_time`` before failing starts the count again.
    ``bounce_delay`` before a start that follows an input's change. Every
    delay is spread by ±10% (``JITTER``), drawn from ``random`` (a
    ``random.Random``; the module's when None). ``stop_timeout`` is the grace
    period of a shutdown (None waits for ever): the workers still running then
    are aborted, and abandoned ``ABORT_GRACE`` seconds later (``wait()`` then
    raises ``Unstopped`` unless there is an error to raise).
    """

    is_fatal: Callable[[BaseException], bool]
    worst_error: Callable[[BaseException, BaseException], BaseException]
    filter: Callable[[BaseException], BaseException | None] | None = None
    error_delay: float = 3.0
    bounce_delay: float = 0.01
    backoff_factor: float = 1.2
    backoff_reset_time: float = 60.0
    max_delay: float = 120.0
    clock: IClock = REAL_CLOCK
    random: _random.Random | None = None
    stop_timeout: float | None = 10.0
    _error_backoff: Backoff = field(init=False, repr=False)
    _bounce_backoff: Backoff = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for what in ("is_fatal", "worst_error"):
            if not callable(getattr(self, what)):
                raise TypeError(f"{what} must be callable, not {getattr(self, what)!r}")
        if self.filter is not None and not callable(self.filter):
            raise TypeError(f"filter must be callable or None, not {self.filter!r}")
        for what in ("error_delay", "bounce_delay", "backoff_reset_time", "max_delay"):
            object.__setattr__(self, what, _seconds(getattr(self, what), what))
        timeout = _seconds(self.stop_timeout, "stop_timeout (None: wait for ever)", none=True)
        object.__setattr__(self, "stop_timeout", timeout)
        if self.max_delay < max(self.error_delay, self.bounce_delay):
            raise ValueError(
                f"max_delay ({self.max_delay:g} s) must be at least error_delay "
                f"({self.error_delay:g} s) and bounce_delay ({self.bounce_delay:g} s)"
            )
        factor = self.backoff_factor
        if isinstance(factor, bool) or not isinstance(factor, (int, float)):
            raise TypeError(f"backoff_factor must be a number, not {factor!r}")
        if not (factor == 0 or (factor >= 1 and math.isfinite(factor))):
            raise ValueError(f"backoff_factor must be 0 (no backoff) or >= 1, not {factor!r}")
        if not IClock.providedBy(self.clock):
            raise TypeError(f"clock must provide IClock, not {self.clock!r}")
        if self.random is not None and not callable(getattr(self.random, "uniform", None)):
            raise TypeError(f"random must be a random.Random or None, not {self.random!r}")
        error_backoff = Backoff(self.error_delay, float(factor) or 1.0, self.max_delay, JITTER)
        object.__setattr__(self, "_error_backoff", error_backoff)
        bounce_backoff = Backoff(self.bounce_delay, 1.0, self.max_delay, JITTER)
        object.__setattr__(self, "_bounce_backoff", bounce_backoff)

    def error_restart_delay(self, recent_errors: int) -> float:
        """Seconds before restarting after ``recent_errors`` failures in a row."""
        return self._error_backoff.delay(recent_errors, self.random)

    def bounce_restart_delay(self) -> float:
        """Seconds before a start that follows a bounce."""
        return self._bounce_backoff.delay(1, self.random)

    def fatal(self, name: str, error: BaseException) -> bool:
        """``is_fatal(error)``; False for the engine's own signals (``Missing``,
        ``Bounce``, ``Uninstall``); True, logged, when ``is_fatal`` raises."""
        if isinstance(error, _SIGNALS):
            return False
        try:
            return bool(self.is_fatal(error))
        except Exception:
            log.exception("is_fatal raised on the error of %r; treating that error as fatal", name)
            return True

    def worse(self, error: BaseException, worst: BaseException | None) -> BaseException:
        """The worse of a new fatal ``error`` and the ``worst`` so far (None
        at first); ``worst`` when ``worst_error`` raises or returns no error."""
        if worst is None:
            return error
        try:
            chosen = self.worst_error(error, worst)
        except Exception:
            log.exception(
                "worst_error raised comparing %r with %r; keeping the latter", error, worst
            )
            return worst
        if not isinstance(chosen, BaseException):
            log.error("worst_error returned %r, not an exception; keeping %r", chosen, worst)
            return worst
        return chosen

    def final(self, worst: BaseException) -> BaseException | None:
        """What ``wait()`` raises for the ``worst`` fatal error: ``filter(worst)``
        (None: a clean stop); the filter's own exception if it raises."""
        if self.filter is None:
            return worst
        return apply_filter(self.filter, worst, "the engine's filter")


def apply_filter(
    filter: Callable[[BaseException], BaseException | None], error: BaseException, what: str
) -> BaseException | None:
    """``filter(error)``, where a filter that raises gives its own exception
    (logged) and one that returns something else than an exception or None
    gives a ``TypeError`` saying so."""
    try:
        result = filter(error)
    except Exception as bug:
        log.exception("%s raised on %r; that is the error now", what, error)
        return bug
    if result is not None and not isinstance(result, BaseException):
        return TypeError(f"{what} returned {result!r} for {error!r}, not an exception or None")
    return result
