"""What a Runner reports of itself: plain data an operator can read.

``report_of`` runs on the runner's loop (it reads the loop's table);
``with_worker_reports`` runs on the caller's greenlet and asks the workers that
provide ``IReporter`` for their own reports, so that a nested runner answers
without its parent's loop waiting on it.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from agent_runtime.interfaces import IReporter

if TYPE_CHECKING:
    from agent_runtime.worker.runner import Runner

__all__ = ["report_of", "with_worker_reports"]


def _when(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).isoformat(
        timespec="seconds"
    )


def _state(record: Any) -> str:
    if record.timer is not None:
        return "waiting to restart"
    if record.stopping:
        return "stopping"
    if record.worker is None:
        return "starting"
    return "started"


def report_of(runner: Runner, records: dict[str, Any]) -> dict[str, Any]:
    """The runner's report, from its loop's table (``records``)."""
    state = "stopped" if runner._dead else "stopping" if runner._dying else "started"
    workers = {}
    for id, record in sorted(records.items()):
        workers[id] = {
            "state": _state(record),
            "starts": record.starts,
            "failures": record.failures,
            "last-error": None if record.last_error is None else repr(record.last_error),
            "started-at": _when(record.started_at),
            "_worker": record.worker,
        }
    report: dict[str, Any] = {"state": state, "workers": workers}
    if runner.name:
        report["name"] = runner.name
    return report


def with_worker_reports(snapshot: dict[str, Any]) -> dict[str, Any]:
    """Replace each worker object of ``snapshot`` with the worker's own report,
    when it has one."""
    for entry in snapshot["workers"].values():
        worker = entry.pop("_worker", None)
        if worker is not None and IReporter.providedBy(worker):
            try:
                entry["report"] = worker.report()
            except Exception as error:
                entry["report"] = {"error": f"report failed: {error!r}"}
    return snapshot
