"""agent_runtime: a gevent runtime for long-running agents.

Workers are greenlets; a Runner supervises them; watchers feed them with
changes to a shared state. See README.md and docs/.
"""

from __future__ import annotations

from agent_runtime.errors import (
    Dying,
    RestartIntensityExceeded,
    RunnerDead,
    TerminateAgent,
    Unstopped,
)
from agent_runtime.interfaces import IWorker

__all__ = [
    "Dying",
    "RestartIntensityExceeded",
    "RunnerDead",
    "TerminateAgent",
    "Unstopped",
    "stop",
]

__version__ = "0.1.0"


def stop(worker: IWorker) -> None:
    """Stop ``worker``: ``kill()`` it, then ``wait()`` for it.

    Returns None when it stopped cleanly and raises the error it stopped with
    otherwise.
    """
    worker.kill()
    worker.wait()
