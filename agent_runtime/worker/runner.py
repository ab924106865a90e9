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
from agent_runtime.errors import RunnerDead, TerminateAgent, Unstopped
from agent_runtime.interfaces import (
    IAbortableWorker,
    IClock,
    IReporter,
    IRunner,
    IRunnerObserver,
    IWorker,
)
from agent_runtime.worker.base import Outcome
from agent_runtime.worker.instance import Abandon, Abort, run_instances
from agent_runtime.worker.observer import RunnerObserver
from agent_runtime.worker.report import report_of, with_worker_reports

__all__ = ["ABORT_GRACE", "Runner", "RunnerObserver"]  # RunnerObserver: re-exported

log = logging.getLogger("agent_runtime.worker")

#: Seconds an aborted worker gets to finish dying before it is abandoned.
ABORT_GRACE = 1.0

Start = Callable[[], IWorker]


class _Record:
    """What the loop knows of one worker id. Touched only by the loop greenlet."""

    __slots__ = (
        "failures",
        "id",
        "instance",
        "last_error",
        "resume",
        "start",
        "started_at",
        "starts",
        "stopping",
        "timer",
        "worker",
    )

    def __init__(self, id: str, start: Start) -> None:
        self.id = id
        #: The start function of the next instance; None: do not start again.
        self.start: Start | None = start
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
        #: The pending restart, while waiting out the restart delay.
        self.timer = None
        #: For report(): how often it started and failed, its last error, and
        #: when (wall-clock time) the running instance started.
        self.starts = 0
        self.failures = 0
        self.last_error: BaseException | None = None
        self.started_at: float | None = None


@implementer(IRunner, IAbortableWorker, IReporter)
class Runner:
    """Start, restart and stop workers by id (see the module docstring).

    ``is_fatal(error) -> bool`` classifies a worker's error;
    ``more_important(error0, error1) -> bool`` says whether ``error0`` should
    replace ``error1`` as the error ``wait()`` raises (the first fatal error is
    kept otherwise). ``restart_delay`` is in seconds; None reads
    ``agent_runtime.worker.RESTART_DELAY`` each time a restart is scheduled.
    ``clock`` times restart delays and the grace period ``stop_timeout``
    (seconds; None waits for ever). ``observers`` provide ``IRunnerObserver``.
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
        self._is_fatal = is_fatal
        self._more_important = more_important
        self._restart_delay = restart_delay
        self._clock = clock
        self._stop_timeout = stop_timeout
        self._observers: tuple[IRunnerObserver, ...] = ()
        for observer in observers:
            self.add_observer(observer)
        self.name = name

        # Owned by the loop greenlet.
        self._records: dict[str, _Record] = {}
        self._dying = False
        self._final_error: BaseException | None = None
        self._unstopped: list[str] = []
        self._shutdown_timer = None

        self._inbox: SimpleQueue = SimpleQueue()
        self._kill_requested = False
        self._dead = False
        self._outcome = Outcome()
        self._loop = gevent.spawn(self._run)

    # -- the public side: requests to the loop ---------------------------------

    def start_worker(self, id: str, start: Start) -> None:
        if not isinstance(id, str):
            raise TypeError(f"a worker id must be a str, not {type(id).__name__}: {id!r}")
        if not id:
            raise ValueError("a worker id must not be empty")
        if self._dead:
            raise RunnerDead()
        if not callable(start):
            raise TypeError(f"the start function of worker {id!r} must be callable, not {start!r}")
        self._inbox.put((self._on_start, id, start))

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
            self._inbox.put((self._on_grace_over,))

    def report(self) -> dict[str, Any]:
        """What the runner is doing, for operators, as JSON-able data: its state
        and, per worker id, the worker's state (starting, started, stopping,
        waiting to restart), how often it started and failed, its last error,
        when it started, and its own report if it provides ``IReporter``
        (nested runners report as trees)."""
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
            if self._shutdown_timer is not None:
                self._shutdown_timer.cancel()
            if self._final_error is not None:
                if self._unstopped:
                    log.error("runner %r: %s", self, Unstopped(self._unstopped, self._stop_timeout))
                self._outcome = Outcome(self._final_error)
            elif self._unstopped:
                self._outcome = Outcome(Unstopped(self._unstopped, self._stop_timeout))

    def _post(self, handler: Callable[..., None], *args: Any) -> None:
        self._inbox.put((handler, *args))

    def _on_start(self, id: str, start: Start) -> None:
        if self._dying:
            log.info("ignoring start request for %r when dying", id)
            return
        record = self._records.get(id)
        if record is None:
            record = self._records[id] = _Record(id, start)
            self._launch(record)
        elif record.stopping:
            record.start = start  # runs as soon as the old instance has stopped
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
        if self._records and self._stop_timeout is not None:
            self._shutdown_timer = self._clock.call_later(
                self._stop_timeout, self._post, self._on_grace_over
            )

    def _stop_record(self, record: _Record) -> None:
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

    def _kill_worker(self, record: _Record) -> None:
        log.debug("killing %r", record.id)
        try:
            record.worker.kill()
        except Exception:
            log.exception("killing worker %r raised", record.id)

    def _launch(self, record: _Record) -> None:
        start = record.start
        if record.resume is not None:  # reuse the parked greenlet of the last instance
            record.resume.set(start)
            record.resume = None
        else:
            record.instance = gevent.spawn(run_instances, self, record, start)

    def _forget(self, record: _Record) -> None:
        del self._records[record.id]
        if record.resume is not None:
            record.resume.set(None)
            record.resume = None

    def _on_started(self, record: _Record, worker: IWorker) -> None:
        record.worker = worker
        record.starts += 1
        record.started_at = time.time()
        self._notify("started", record.id)
        if record.stopping:
            self._kill_worker(record)

    def _on_done(self, record: _Record, error: BaseException | None, resume: AsyncResult) -> None:
        if self._records.get(record.id) is not record:
            resume.set(None)  # abandoned after the grace period
            return
        record.worker = None
        record.started_at = None
        record.resume = resume
        if error is not None:
            record.failures += 1
            record.last_error = error
        self._notify("exited", record.id, error)
        if error is not None:
            if self._classify_fatal(record.id, error):
                if isinstance(error, TerminateAgent):  # how an agent ends when its work is done
                    log.info("%r: %s", record.id, error)
                else:
                    log.error("fatal %r: %s", record.id, error)
                self._keep_final_error(error)
                self._forget(record)
                self._notify("fatal", record.id, error)
                self._on_kill()
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
        else:
            self._schedule_restart(record)

    def _schedule_restart(self, record: _Record) -> None:
        delay = self._restart_delay
        if delay is None:
            delay = _package.RESTART_DELAY
        self._notify("restart_scheduled", record.id, delay)
        if delay > 0:
            log.info("restarting %r in %gs", record.id, delay)
            record.timer = self._clock.call_later(delay, self._post, self._on_delay_over, record)
        else:
            self._launch(record)

    def _on_delay_over(self, record: _Record) -> None:
        if self._records.get(record.id) is not record or record.timer is None:
            return  # stopped while the timer's message was on its way
        record.timer = None
        self._launch(record)

    def _on_grace_over(self) -> None:
        """The grace period is over: kill what is left outright, then give it
        ``ABORT_GRACE`` seconds before abandoning it."""
        if self._shutdown_timer is not None:
            self._shutdown_timer.cancel()
        self._shutdown_timer = None
        if not self._records:
            return
        for record in self._records.values():
            log.error("worker %r did not stop in time: killing it outright", record.id)
            record.instance.kill(Abort, block=False)
        self._shutdown_timer = self._clock.call_later(ABORT_GRACE, self._post, self._on_abandon)

    def _on_abandon(self) -> None:
        self._shutdown_timer = None
        for record in self._records.values():
            log.error("abandoning worker %r: it would not stop", record.id)
            self._unstopped.append(record.id)
            record.instance.kill(Abandon, block=False)
        self._records.clear()

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
