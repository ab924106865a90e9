"""What an engine reports of itself: plain data an operator can read.

``snapshot`` runs on the engine's loop (it reads the loop's table);
``with_worker_reports`` runs on the caller's greenlet and asks the workers
that provide ``IReporter`` for their own reports, so that the loop never
waits on a worker (a nested engine or runner answers through its own loop).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from agent_runtime.interfaces import IReporter

__all__ = ["snapshot", "with_worker_reports"]


def _when(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc)
    return moment.isoformat(timespec="seconds")


def _error(error: BaseException | None) -> str | None:
    return None if error is None else repr(error)


def snapshot(state: str, error: BaseException | None, records: Mapping[str, Any]) -> dict:
    """The engine's report from its loop's table, with each running worker
    still in it (under "_worker") for ``with_worker_reports``."""
    manifolds = {}
    for name, record in sorted(records.items()):
        manifolds[name] = {
            "state": record.state(),
            "inputs": list(record.manifold.inputs),
            "start-count": record.start_count,
            "recent-errors": record.recent_errors,
            "started": _when(record.started_wall),
            "error": _error(record.error),
            "_worker": record.worker,
        }
    return {"state": state, "error": _error(error), "manifolds": manifolds}


def with_worker_reports(report: dict[str, Any]) -> dict[str, Any]:
    """Replace each worker object of ``report`` with the worker's own report,
    when it has one."""
    for entry in report["manifolds"].values():
        worker = entry.pop("_worker", None)
        if worker is not None and IReporter.providedBy(worker):
            try:
                entry["report"] = worker.report()
            except Exception as error:
                entry["report"] = {"error": f"report failed: {error!r}"}
    return report
