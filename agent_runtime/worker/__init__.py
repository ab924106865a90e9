"""Workers and the Runner that supervises them (juju's ``worker`` package).

``RESTART_DELAY`` is read each time a Runner built without a ``restart_delay``
schedules a restart, so tests and agents may change it.
"""

#: Seconds a Runner waits before restarting a worker that failed non-fatally.
RESTART_DELAY: float = 3.0

from agent_runtime.worker.backoff import Backoff  # noqa: E402
from agent_runtime.worker.base import GreenletWorker  # noqa: E402
from agent_runtime.worker.environ import EnvironObserver, wait_for_environ  # noqa: E402
from agent_runtime.worker.observer import RunnerObserver  # noqa: E402
from agent_runtime.worker.policy import RestartPolicy  # noqa: E402
from agent_runtime.worker.runner import Runner  # noqa: E402
from agent_runtime.worker.simple import SimpleWorker  # noqa: E402
from agent_runtime.worker.watch import NotifyWorker, StringsWorker  # noqa: E402

__all__ = [
    "RESTART_DELAY",
    "Backoff",
    "EnvironObserver",
    "GreenletWorker",
    "NotifyWorker",
    "RestartPolicy",
    "Runner",
    "RunnerObserver",
    "SimpleWorker",
    "StringsWorker",
    "wait_for_environ",
]
