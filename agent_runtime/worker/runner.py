"""Runner: a supervisor of workers identified by ids.

One loop greenlet owns the table of workers; every other greenlet (callers of
``start_worker``/``stop_worker``/``kill``, the greenlets that start and wait
for each worker, timers) sends it a request through its inbox and never
touches the table. That is the design of juju's ``worker.Runner``, with the
decisions of DESIGN.md:

* A worker that stops cleanly without being asked has finished: it is removed,
  not restarted. An error decides: ``is_fatal(error)`` false means restart after
  the restart delay; true means stop every worker and report the most important
  fatal error (by ``more_important``) from ``wait()``.
* Each id has a restart policy (``policy.py``; the bookkeeping is in
  ``record.py``): after a non-fatal error, ``should_restart`` may remove the
  worker instead, too many restarts within a period are fatal
  (``RestartIntensityExceeded``), and a backoff may set the delay.
* A worker asked to stop before its start function returned is killed as soon
  as it is started. ``stop_worker`` during a restart delay cancels the restart.
* ``start_worker`` for an id that is running or waiting to restart is ignored;
  for an id that is stopping it installs the new start function, which runs as
  soon as the old instance has stopped, as a normal worker.
* Two instances of one id never overlap.
* A bug in ``is_fatal``, ``more_important``, an observer or a start function is
  logged and never wedges the runner.
* Shutdown has a grace period (``stop_timeout``): workers that have not stopped
  by then are aborted (their greenlets killed outright) if they can be, and
  abandoned otherwise; ``wait()`` then raises ``Unstopped`` naming them, unless
  there is a fatal error to report.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import gevent
from gevent.event import AsyncResult
from gevent.queue import SimpleQueue
from greenlet import getcurrent
from zope.interface import implementer

import agent_runtime.worker as _package
from agent_runtime.clock import REAL_CLOCK
from agent_runtime.errors import RestartIntensityExceeded, RunnerDead, TerminateAgent
from agent_runtime.interfaces import (
    IAbortableWorker,
    IClock,
    IReporter,
    IRestartPolicy,
    IRunner,
    IRunnerObserver,
    IWorker,
)
from agent_runtime.worker.base import Outcome
from agent_runtime.worker.instance import run_instances
from agent_runtime.worker.observer import RunnerObserver
from agent_runtime.worker.policy import checked_policy
from agent_runtime.worker.record import Record, Start
from agent_runtime.worker.report import report_of, with_worker_reports
from agent_runtime.worker.shutdown import ABORT_GRACE, Shutdown

# RunnerObserver and ABORT_GRACE: re-exported
__all__ = ["ABORT_GRACE", "Runner", "RunnerObserver"]

log = logging.getLogger("agent_runtime.worker")


@implementer(IRunner, IAbortableWorker, IReporter)
class Runner:
    """Start, restart and stop workers by id (see the module docstring).

    ``is_fatal(error) -> bool`` classifies a worker's error;
    ``more_important(error0, error1) -> bool`` says whether ``error0`` should
    replace ``error1`` as the error ``wait()`` raises (the first fatal error is
    kept otherwise). ``restart_delay`` is in seconds; None reads
    ``agent_runtime.worker.RESTART_DELAY`` each time a restart is scheduled.
    ``policy`` (an ``IRestartPolicy``, e.g. a ``RestartPolicy``) is the
    restart policy of the ids started without one; None keeps the plain rule
    above. ``clock`` times restart delays, backoffs, restart intensities and
    the grace period ``stop_timeout`` (seconds; None waits for ever).
    ``observers`` provide ``IRunnerObserver``.
    """

    def __init__(
        self,
        is_fatal: Callable[[BaseException], bool],
        more_important: Callable[[BaseException, BaseException], bool],
        restart_delay: float | None = None,
        *,
        clock: IClock = REAL_CLOCK,
        stop_timeout: float | None = 10.0,
        observers: Iterable[IRunnerObserver] = (),
        name: str | None = None,
        policy: IRestartPolicy | None = None,
    ) -> None:
        if not callable(is_fatal):
            raise TypeError(f"is_fatal must be callable, not {is_fatal!r}")
        if not callable(more_important):
            raise TypeError(f"more_important must be callable, not {more_important!r}")
        if restart_delay is not None and not restart_delay >= 0:
            raise ValueError(f"restart_delay must be >= 0 seconds, not {restart_delay!r}")
        if stop_timeout is not None and not stop_timeout >= 0:
            raise ValueError(f"stop_timeout must be >= 0 seconds or None, not {stop_timeout!r}")
        if not IClock.providedBy(clock):
            raise TypeError(f"clock must provide IClock, not {clock!r}")
        self._policy = checked_policy(policy, "the runner's default policy")
        self._is_fatal = is_fatal
        self._more_important = more_important
        self._restart_delay = restart_delay
        self._clock = clock
        self._observers: tuple[IRunnerObserver, ...] = ()
        for observer in observers:
            self.add_observer(observer)
        self.name = name

        # Owned by the loop greenlet.
        self._records: dict[str, Record] = {}
        self._dying = False
        self._final_error: BaseException | None = None
        self._shutdown = Shutdown(clock, stop_timeout, self._records, self._post, self._on_done)

        self._inbox: SimpleQueue = SimpleQueue()
        self._kill_requested = False
        self._dead = False
        self._outcome = Outcome()
        self._loop = gevent.spawn(self._run)

    # -- the public side: requests to the loop ---------------------------------

    def start_worker(self, id: str, start: Start, policy: IRestartPolicy | None = None) -> None:
        """Start a worker under ``id`` by calling ``start()`` (see
        ``IRunner.start_worker``), restarted after errors as ``policy`` says
        (None: the runner's default policy)."""
        if not isinstance(id, str):
            raise TypeError(f"a worker id must be a str, not {type(id).__name__}: {id!r}")
        if not id:
            raise ValueError("a worker id must not be empty")
        if self._dead:
            raise RunnerDead()
        if not callable(start):
            raise TypeError(f"the start function of worker {id!r} must be callable, not {start!r}")
        if policy is None:
            policy = self._policy
        else:
            policy = checked_policy(policy, f"the policy of worker {id!r}")
        self._inbox.put((self._on_start, id, start, policy))

    def stop_worker(self, id: str) -> None:
        if self._dead:
            raise RunnerDead()
        self._inbox.put((self._on_stop, id))

    def kill(self) -> None:
        if not self._kill_requested and not self._dead:
            self._kill_requested = True
            log.debug("killing runner %r", self)
            self._inbox.put((self._on_kill,))

    def wait(self) -> None:
        self._loop.join()
        self._outcome.raise_if_failed()

    def abort(self) -> None:
        """Stop now: kill every worker and abort those that can be aborted
        without waiting for the grace period."""
        self.kill()
        if not self._dead:
            self._post(self._shutdown.grace_over)

    def report(self) -> dict[str, Any]:
        """What the runner is doing, for operators, as JSON-able data: its state
        and, per worker id, the worker's state (starting, started, stopping,
        waiting to restart), how often it started, failed and was restarted,
        its consecutive failures, its last error, when it started, in how many
        seconds its restart is due, and its own report if it provides
        ``IReporter`` (nested runners report as trees). See
        ``agent_runtime.worker.report``."""
        if self._dead:
            snapshot = report_of(self, {})
        elif getcurrent() is self._loop:  # an observer asking, on the loop itself
            snapshot = report_of(self, self._records)
        else:
            result = AsyncResult()
            self._post(lambda: result.set(report_of(self, self._records)))
            snapshot = result.get()
        return with_worker_reports(snapshot)

    def add_observer(self, observer: IRunnerObserver) -> None:
        """Tell ``observer`` (an ``IRunnerObserver``) what happens from now on."""
        if not IRunnerObserver.providedBy(observer):
            raise TypeError(f"observers must provide IRunnerObserver, not {observer!r}")
        self._observers += (observer,)

    def remove_observer(self, observer: IRunnerObserver) -> None:
        self._observers = tuple(o for o in self._observers if o is not observer)

    def __repr__(self) -> str:
        label = f" {self.name!r}" if self.name else ""
        state = "dead" if self._dead else "dying" if self._kill_requested else "alive"
        return f"<Runner{label} {state} at {id(self):#x}>"

    # -- the loop ---------------------------------------------------------------

    def _run(self) -> None:
        inbox = self._inbox
        try:
            while not (self._dying and not self._records):
                handler, *args = inbox.get()
                try:
                    handler(*args)
                except Exception:
                    log.exception(
                        "runner %r: bug while handling %s%r", self, handler.__name__, args
                    )
        finally:
            self._dead = True
            self._outcome = self._shutdown.outcome(self, self._final_error)

    def _post(self, handler: Callable[..., None], *args: Any) -> None:
        self._inbox.put((handler, *args))

    def _on_start(self, id: str, start: Start, policy: IRestartPolicy) -> None:
        if self._dying:
            log.info("ignoring start request for %r when dying", id)
            return
        record = self._records.get(id)
        if record is None:
            record = self._records[id] = Record(id, start, policy)
            self._launch(record)
        elif record.stopping:
            record.renew(start, policy)  # runs as soon as the old instance has stopped
        else:
            log.debug("ignoring start request for %r: it is already running", id)

    def _on_stop(self, id: str) -> None:
        record = self._records.get(id)
        if record is not None:
            log.debug("stop %r", id)
            self._stop_record(record)

    def _on_kill(self) -> None:
        if self._dying:
            return
        self._dying = True
        log.info("runner is dying")
        for record in list(self._records.values()):
            self._stop_record(record)
        self._shutdown.begin()

    def _stop_record(self, record: Record) -> None:
        record.start = None
        if record.timer is not None:  # waiting out a restart delay: cancel it
            record.timer.cancel()
            record.timer = None
            self._forget(record)
            return
        if record.stopping:
            return
        record.stopping = True
        if record.worker is not None:
            self._kill_worker(record)

    def _kill_worker(self, record: Record) -> None:
        log.debug("killing %r", record.id)
        try:
            record.worker.kill()
        except Exception:
            log.exception("killing worker %r raised", record.id)

    def _launch(self, record: Record) -> None:
        start = record.start
        if record.resume is not None:  # reuse the parked greenlet of the last instance
            record.resume.set(start)
            record.resume = None
        else:
            record.instance = gevent.spawn(run_instances, self, record, start)
            # Which worker a blocking greenlet belongs to (agent_runtime.agent.blocking).
            record.instance.agent_runtime_worker = (self.name, record.id)

    def _forget(self, record: Record) -> None:
        del self._records[record.id]
        if record.resume is not None:
            record.resume.set(None)
            record.resume = None

    def _on_started(self, record: Record, worker: IWorker) -> None:
        record.worker = worker
        record.starts += 1
        record.started_at = time.time()
        record.started_text = record.reports = None
        record.running_since = self._clock.now()
        self._notify("started", record.id)
        if record.stopping:
            self._kill_worker(record)

    def _on_done(self, record: Record, error: BaseException | None, resume: AsyncResult) -> None:
        if self._records.get(record.id) is not record:
            resume.set(None)  # abandoned after the grace period
            return
        record.worker = None
        record.resume = resume
        if error is not None:
            now = self._clock.now()
            record.failed(error, now)
        record.started_at = record.running_since = None
        self._notify("exited", record.id, error)
        if error is not None:
            if self._classify_fatal(record.id, error):
                self._fatal(record, error)
                return
            log.error("exited %r: %s", record.id, error)
        elif not record.stopping:
            log.info("%r finished", record.id)
            record.start = None
        if record.start is None:
            self._forget(record)
        elif record.stopping:
            # A start request came while it was stopping: run it now, as a normal worker.
            record.stopping = False
            self._launch(record)
        else:  # a non-fatal error (a clean stop never gets here): ``now`` is its time
            self._restart(record, error, now)

    def _restart(self, record: Record, error: BaseException, now: float) -> None:
        """Restart after the non-fatal ``error`` (that came at clock time
        ``now``), as the record's policy says."""
        default_delay = self._restart_delay
        if default_delay is None:
            default_delay = _package.RESTART_DELAY
        try:
            delay = record.plan_restart(error, now, default_delay)
        except RestartIntensityExceeded as exceeded:
            self._fatal(record, exceeded)
            return
        except Exception:
            log.exception(
                "the restart policy %r raised on the error of %r; treating that error as fatal",
                record.policy,
                record.id,
            )
            self._fatal(record, error)
            return
        if delay is None:
            log.info("not restarting %r: its policy gives up on %r", record.id, error)
            self._forget(record)
            self._notify("gave_up", record.id, error)
            return
        self._notify("restart_scheduled", record.id, delay)
        if delay > 0:
            log.info("restarting %r in %gs", record.id, delay)
            record.due = now + delay
            record.timer = self._clock.call_later(delay, self._post, self._on_delay_over, record)
        else:
            record.restarts += 1
            self._launch(record)

    def _fatal(self, record: Record, error: BaseException) -> None:
        if isinstance(error, TerminateAgent):  # how an agent ends when its work is done
            log.info("%r: %s", record.id, error)
        else:
            log.error("fatal %r: %s", record.id, error)
        self._keep_final_error(error)
        self._forget(record)
        self._notify("fatal", record.id, error)
        self._on_kill()

    def _on_delay_over(self, record: Record) -> None:
        if self._records.get(record.id) is not record or record.timer is None:
            return  # stopped while the timer's message was on its way
        record.timer = None
        record.restarts += 1
        self._launch(record)

    # -- callbacks that must never wedge the loop --------------------------------

    def _classify_fatal(self, id: str, error: BaseException) -> bool:
        try:
            return bool(self._is_fatal(error))
        except Exception:
            log.exception("is_fatal raised on the error of %r; treating that error as fatal", id)
            return True

    def _keep_final_error(self, error: BaseException) -> None:
        if self._final_error is None:
            self._final_error = error
            return
        try:
            if self._more_important(error, self._final_error):
                self._final_error = error
        except Exception:
            log.exception(
                "more_important raised comparing %r with %r; keeping the latter",
                error,
                self._final_error,
            )

    def _notify(self, event: str, *args: Any) -> None:
        for observer in self._observers:
            try:
                getattr(observer, event)(self, *args)
            except Exception:
                log.exception("runner observer %r failed on %s%r", observer, event, args)
