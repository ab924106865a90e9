"""RestartPolicy: how a Runner restarts one worker id after a non-fatal error.

A policy is given per worker id at ``Runner.start_worker(id, start, policy)``,
or once as the runner's default (``Runner(..., policy=...)``). It adds to the
runner's plain rule (restart after ``restart_delay``):

* ``backoff`` (a ``Backoff``): the delay grows with each consecutive failure,
  up to a ceiling, with jitter drawn from ``random``;
* ``reset_after``: an instance that ran that long before failing makes the
  runner forget the failures before it (juju's ``BackoffResetTime``);
* ``should_restart(error)``: False removes the worker instead of restarting it
  (juju/worker #28), separate from ``is_fatal``, which is asked first;
* ``max_restarts`` within ``period``: OTP's restart intensity; the failure
  that would need one restart more is fatal (``RestartIntensityExceeded``).

``RestartPolicy()`` with no arguments behaves exactly as a Runner without a
policy: it is the runner's default.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from zope.interface import implementer

from agent_runtime.interfaces import IRestartPolicy
from agent_runtime.worker.backoff import Backoff

__all__ = ["DEFAULT_POLICY", "RestartPolicy", "always_restart", "checked_policy"]


def always_restart(error: BaseException) -> bool:
    """The default ``should_restart``: every non-fatal error is restarted."""
    return True


def _seconds(name: str, value: Any, *, none_means: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds or None ({none_means}), not {value!r}")
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(
            f"{name} must be a finite number of seconds > 0, or None ({none_means}), not {value!r}"
        )


@implementer(IRestartPolicy)
@dataclass(frozen=True)
class RestartPolicy:
    """How to restart a worker after a non-fatal error (see the module docstring).

    ``backoff``: a ``Backoff`` for the delay before each restart, or None for
    the runner's constant ``restart_delay``. ``reset_after``: seconds an
    instance must run for the failures before it to be forgotten (None:
    never). ``should_restart(error) -> bool``: False removes the worker.
    ``max_restarts`` (int >= 0) within ``period`` seconds: the restart
    intensity (both or neither). ``random``: a ``random.Random`` for the
    backoff's jitter (seed one in tests; None: the ``random`` module's).
    Every parameter is checked here: a bad one raises ``TypeError`` or
    ``ValueError`` saying what it must be.
    """

    backoff: Backoff | None = None
    reset_after: float | None = 60.0
    should_restart: Callable[[BaseException], bool] = always_restart
    max_restarts: int | None = None
    period: float | None = None
    random: Any = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.backoff is not None and not isinstance(self.backoff, Backoff):
            raise TypeError(
                "backoff must be an agent_runtime.worker.backoff.Backoff or None "
                f"(the runner's restart delay), not {self.backoff!r}"
            )
        _seconds("reset_after", self.reset_after, none_means="never forget failures")
        if not callable(self.should_restart):
            raise TypeError(
                f"should_restart must be callable as should_restart(error) -> bool, "
                f"not {self.should_restart!r}"
            )
        if self.max_restarts is not None:
            if isinstance(self.max_restarts, bool) or not isinstance(self.max_restarts, int):
                raise TypeError(
                    f"max_restarts must be an int or None (no limit), not {self.max_restarts!r}"
                )
            if self.max_restarts < 0:
                raise ValueError(f"max_restarts must be >= 0, not {self.max_restarts!r}")
            if self.period is None:
                raise ValueError(
                    f"max_restarts={self.max_restarts!r} needs a period: the seconds "
                    "within which at most that many restarts are allowed"
                )
        elif self.period is not None:
            raise ValueError(
                f"period={self.period!r} does nothing without max_restarts: give both "
                "(at most max_restarts restarts within period seconds) or neither"
            )
        _seconds("period", self.period, none_means="no restart intensity")
        if self.random is not None and not callable(getattr(self.random, "uniform", None)):
            raise TypeError(
                f"random must be a random.Random (or have its uniform(a, b)), not {self.random!r}"
            )

    def restart_delay(self, failures: int) -> float | None:
        """The backoff's delay after ``failures`` consecutive failures, jittered
        with ``random``; None without a backoff (the runner's restart delay)."""
        if self.backoff is None:
            return None
        return self.backoff.delay(failures, self.random)


#: What a Runner uses for ids started without a policy, unless it was given one.
DEFAULT_POLICY = RestartPolicy()


def checked_policy(policy: IRestartPolicy | None, what: str) -> IRestartPolicy:
    """``policy``, or ``DEFAULT_POLICY`` for None; ``TypeError`` naming
    ``what`` if it does not provide ``IRestartPolicy``."""
    if policy is None:
        return DEFAULT_POLICY
    if not IRestartPolicy.providedBy(policy):
        raise TypeError(
            f"{what} must provide IRestartPolicy (e.g. a RestartPolicy), not {policy!r}"
        )
    return policy
