"""Record: what the engine's loop knows of one installed manifold."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gevent import GreenletExit

from agent_runtime.worker.instance import Abandon

if TYPE_CHECKING:
    import gevent

    from agent_runtime.worker.dependency.context import Context
    from agent_runtime.worker.dependency.manifold import Manifold

__all__ = ["Record"]


class Record:
    """What the engine's loop knows of one installed manifold. Touched only by
    the loop (and by ``report()`` once the loop has ended)."""

    __slots__ = (
        "context",
        "error",
        "instance",
        "manifold",
        "name",
        "recent_errors",
        "start_count",
        "started_at",
        "started_wall",
        "stopping",
        "timer",
        "wake",
        "worker",
    )

    def __init__(self, name: str, manifold: Manifold) -> None:
        self.name = name
        self.manifold = manifold
        #: The pending delayed start, and the token its message must carry.
        self.timer = None
        self.wake: object | None = None
        #: The greenlet of the current start (start function, then the
        #: worker), and the context it was given.
        self.instance: gevent.Greenlet | None = None
        self.context: Context | None = None
        #: The worker of that start, once the loop has accepted it.
        self.worker = None
        #: The engine asked the current start to stop.
        self.stopping = False
        #: For report() and the backoff.
        self.start_count = 0
        self.recent_errors = 0
        self.started_at: float | None = None  # clock time
        self.started_wall: float | None = None  # wall-clock time, for operators
        self.error: BaseException | None = None

    def stopped(self) -> bool:
        return self.timer is None and self.instance is None

    def state(self) -> str:
        """One of "waiting to start" (a restart delay), "starting" (the start
        function runs), "started", "stopping" and "stopped"."""
        if self.timer is not None:
            return "waiting to start"
        if self.stopping:
            return "stopping"
        if self.instance is None:
            return "stopped"
        if self.worker is None:
            return "starting"
        return "started"

    def interrupt(self, exception: type[BaseException]) -> None:
        """Throw ``exception`` into the greenlet of the current start. One that
        never ran is only prevented from running (gevent would report anything
        but ``GreenletExit`` to the hub); its link then tells the loop."""
        instance = self.instance
        ran = instance.gr_frame is not None
        instance.kill(exception if ran else GreenletExit, block=False)

    def abandon(self) -> None:
        """Give up on the current start: its greenlet (and worker) go down
        with ``Abandon``, and the record is stopped."""
        self.interrupt(Abandon)
        self.instance = self.worker = self.context = None
        self.stopping = False
