"""What a Runner's loop knows of one worker id, and the restart bookkeeping
its ``IRestartPolicy`` asks for: consecutive failures (forgotten after a
quiet run), the restart intensity's window, the restart count.

A ``Record`` is touched only by the loop greenlet of its runner; the times it
keeps are on the runner's ``IClock``, except ``started_at`` (wall-clock time,
for operators).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from agent_runtime.errors import RestartIntensityExceeded
from agent_runtime.interfaces import IRestartPolicy, IWorker

if TYPE_CHECKING:
    import gevent
    from gevent.event import AsyncResult

__all__ = ["Record", "Start"]

Start = Callable[[], IWorker]


class Record:
    """One worker id of a runner (see the module docstring)."""

    __slots__ = (
        "consecutive",
        "due",
        "failures",
        "id",
        "instance",
        "last_error",
        "policy",
        "recent",
        "reports",
        "restarts",
        "resume",
        "running_since",
        "start",
        "started_at",
        "started_text",
        "starts",
        "stopping",
        "timer",
        "worker",
    )

    def __init__(self, id: str, start: Start, policy: IRestartPolicy) -> None:
        self.id = id
        #: The start function of the next instance; None: do not start again.
        self.start: Start | None = start
        self.policy = policy
        #: The greenlet that runs start() and then waits for the worker; it
        #: outlives one instance and runs the next one, if there is one.
        self.instance: gevent.Greenlet | None = None
        #: Set when that greenlet is parked between instances: the loop sends it
        #: the next start function through it, or None to let it finish.
        self.resume: AsyncResult | None = None
        #: The worker start() returned, until it has stopped.
        self.worker: IWorker | None = None
        #: Asked to stop (by stop_worker or because the runner is dying).
        self.stopping = False
        #: The pending restart and when it is due (clock time), while waiting.
        self.timer = None
        self.due = 0.0
        #: For report(): how often it started, failed and was restarted, its
        #: last error, and when (wall-clock time) the running instance started.
        self.starts = 0
        self.failures = 0
        self.restarts = 0
        self.last_error: BaseException | None = None
        self.started_at: float | None = None
        #: ``started_at`` as report() gives it, and whether the worker
        #: provides IReporter: found out once per instance, by report().
        self.started_text: str | None = None
        self.reports: bool | None = None
        #: Clock time the running instance started, for ``reset_after``.
        self.running_since: float | None = None
        #: Failures since the last quiet run, and the clock times of the
        #: restarts within the intensity's period (None until needed).
        self.consecutive = 0
        self.recent: deque[float] | None = None

    def renew(self, start: Start, policy: IRestartPolicy) -> None:
        """A new start function (and policy) for an id that is stopping: it
        begins with no failures to remember."""
        self.start = start
        self.policy = policy
        self.consecutive = 0
        self.recent = None

    def consecutive_failures(self, now: float) -> int:
        """Failures since the last instance that ran ``reset_after`` seconds
        (a running instance that has, counts as such already)."""
        since, reset_after = self.running_since, self.policy.reset_after
        if since is not None and reset_after is not None and now - since >= reset_after:
            return 0
        return self.consecutive

    def failed(self, error: BaseException, now: float) -> None:
        """The instance that ``running_since`` describes stopped with ``error``
        (the same rule as ``consecutive_failures``, inline: it runs at every
        failure)."""
        self.failures += 1
        self.last_error = error
        since, reset_after = self.running_since, self.policy.reset_after
        if since is not None and reset_after is not None and now - since >= reset_after:
            self.consecutive = 1
        else:
            self.consecutive += 1

    def plan_restart(self, error: BaseException, now: float, default_delay: float) -> float | None:
        """The seconds to wait before restarting after ``error`` (already
        classified non-fatal), or None when the policy says not to restart.

        Raises ``RestartIntensityExceeded`` when this restart would go past the
        policy's intensity; any other exception is a bug of the policy."""
        policy = self.policy
        if not policy.should_restart(error):
            return None
        limit = policy.max_restarts
        if limit is not None:
            recent = self.recent
            if recent is None:
                recent = self.recent = deque()
            period = policy.period
            while recent and now - recent[0] >= period:
                recent.popleft()
            if len(recent) >= limit:
                raise RestartIntensityExceeded(self.id, limit, period, error)
            recent.append(now)
        delay = policy.restart_delay(self.consecutive)
        if delay is None:
            return default_delay
        if not delay >= 0:
            raise ValueError(f"restart_delay({self.consecutive}) gave {delay!r}, not seconds >= 0")
        return delay
