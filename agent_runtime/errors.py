"""The errors that agent_runtime's workers and runners raise.

The three sentinel errors of juju's worker package keep their texts, because
agents compare them and operators grep logs for them.
"""

from __future__ import annotations

__all__ = [
    "AgentRuntimeError",
    "Dying",
    "RestartIntensityExceeded",
    "RunnerDead",
    "TerminateAgent",
    "Unstopped",
    "WatcherStopped",
]


class AgentRuntimeError(Exception):
    """Base class of the errors agent_runtime defines."""


class RunnerDead(AgentRuntimeError):
    """Raised by a Runner's ``start_worker``/``stop_worker`` once it has stopped.

    Go's ``worker.ErrDead``.
    """

    def __init__(self, message: str = "worker runner is not running") -> None:
        super().__init__(message)


class TerminateAgent(AgentRuntimeError):
    """Raised by a worker to say the whole agent should stop and not come back.

    Go's ``worker.ErrTerminateAgent``. Agents usually rank it above every other
    fatal error, and ``agent-runtime run`` exits 0 when it ends an agent.
    """

    def __init__(self, message: str = "agent should be terminated") -> None:
        super().__init__(message)


class Dying(AgentRuntimeError):
    """Raised by a blocking call that gave up because its ``dying`` event was set.

    Go's ``tomb.ErrDying``.
    """

    def __init__(self, message: str = "tomb: dying") -> None:
        super().__init__(message)


class WatcherStopped(AgentRuntimeError):
    """A watcher's ``changes()`` ended although nobody asked the worker to stop,
    and the watcher has no error of its own to explain why."""


class Unstopped(AgentRuntimeError):
    """Workers that were still running when a runner gave up waiting for them.

    ``ids`` lists their worker ids. A runner raises it from ``wait()`` when its
    grace period (``stop_timeout``; None when it had none and was aborted) ran
    out and some workers ignored both the request to stop and the outright
    kill that followed; they were abandoned.
    """

    def __init__(self, ids: list[str], timeout: float | None) -> None:
        self.ids = list(ids)
        self.timeout = timeout
        names = ", ".join(repr(i) for i in self.ids)
        if timeout is None:  # no grace period: the runner was aborted
            super().__init__(f"workers did not stop when aborted: {names}")
        else:
            super().__init__(f"workers did not stop within {timeout:g} s: {names}")

    def __reduce__(self):  # keep it picklable despite the custom __init__
        return (type(self), (self.ids, self.timeout))


class RestartIntensityExceeded(AgentRuntimeError):
    """A worker failed more often than its restart policy allows (OTP's
    restart intensity): restarting it once more would have made more than
    ``max_restarts`` restarts within ``period`` seconds.

    A Runner treats it as a fatal error of worker ``id``: every worker is
    stopped and it competes for ``wait()`` through ``more_important`` like any
    other fatal error. ``error`` (also its ``__cause__``) is the worker's last
    error. Fix what makes the worker fail, or give it a policy with more room.
    """

    def __init__(
        self, id: str, max_restarts: int, period: float, error: BaseException | None = None
    ) -> None:
        self.id = id
        self.max_restarts = max_restarts
        self.period = period
        self.error = error
        self.__cause__ = error
        times = "restart" if max_restarts == 1 else "restarts"
        last = f"; its last error: {error!r}" if error is not None else ""
        super().__init__(
            f"worker {id!r} failed too often: restarting it again would make more than "
            f"{max_restarts} {times} within {period:g} s{last}"
        )

    def __reduce__(self):  # keep it picklable despite the custom __init__
        return (type(self), (self.id, self.max_restarts, self.period, self.error))
