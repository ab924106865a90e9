"""The errors that agent_runtime's workers and runners raise.

The three sentinel errors of juju's worker package keep their texts, because
agents compare them and operators grep logs for them.
"""

from __future__ import annotations

__all__ = [
    "AgentRuntimeError",
    "Dying",
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
    grace period (``stop_timeout``) ran out and some workers ignored both the
    request to stop and the outright kill that followed; they were abandoned.
    """

    def __init__(self, ids: list[str], timeout: float) -> None:
        self.ids = list(ids)
        self.timeout = timeout
        names = ", ".join(repr(i) for i in self.ids)
        super().__init__(f"workers did not stop within {timeout:g} s: {names}")

    def __reduce__(self):  # keep it picklable despite the custom __init__
        return (type(self), (self.ids, self.timeout))
