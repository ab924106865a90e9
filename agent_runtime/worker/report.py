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


#: A report, and the entries whose workers have reports of their own.
Snapshot = tuple[dict[str, Any], list[tuple[dict[str, Any], Any]]]


def report_of(runner: Runner, records: dict[str, Any]) -> Snapshot:
    """The runner's report, from its loop's table (``records``), and the
    (entry, worker) pairs of the workers that provide ``IReporter``, for
    ``with_worker_reports``.

    Per worker id: ``state`` (starting, started, stopping, waiting to
    restart), ``starts``, ``failures``, ``restarts`` (instances started again
    after a failure), ``consecutive-failures`` (since the last instance that
    ran its policy's ``reset_after``), ``last-error`` (its repr or None),
    ``started-at`` (ISO 8601, UTC, while an instance runs) and
    ``restart-in`` (seconds on the runner's clock until the restart is due,
    while waiting to restart; None otherwise).
    """
    state = "stopped" if runner._dead else "stopping" if runner._dying else "started"
    now = runner._clock.now()
    workers = {}
    reporters = []
    for id, record in sorted(records.items()):
        worker = record.worker
        if record.timer is not None:
            state_of = "waiting to restart"
        elif record.stopping:
            state_of = "stopping"
        else:
            state_of = "starting" if worker is None else "started"
        started = None
        if record.started_at is not None:
            started = record.started_text
            if started is None:  # formatted once per instance
                started = record.started_text = _when(record.started_at)
        error = record.last_error
        consecutive = record.consecutive
        entry = workers[id] = {
            "state": state_of,
            "starts": record.starts,
            "failures": record.failures,
            "restarts": record.restarts,
            "consecutive-failures": consecutive and record.consecutive_failures(now),
            "last-error": None if error is None else repr(error),
            "started-at": started,
            "restart-in": None if record.timer is None else max(record.due - now, 0.0),
        }
        if worker is not None:
            reports = record.reports
            if reports is None:  # found out once per instance
                reports = record.reports = IReporter.providedBy(worker)
            if reports:
                reporters.append((entry, worker))
    report: dict[str, Any] = {"state": state, "workers": workers}
    if runner.name:
        report["name"] = runner.name
    return report, reporters


def with_worker_reports(snapshot: Snapshot) -> dict[str, Any]:
    """The report of ``snapshot``, with each reporting worker's own report
    in its entry (under "report")."""
    report, reporters = snapshot
    for entry, worker in reporters:
        try:
            entry["report"] = worker.report()
        except Exception as error:
            entry["report"] = {"error": f"report failed: {error!r}"}
    return report
