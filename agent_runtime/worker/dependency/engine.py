"""Engine: runs one worker per installed manifold, and restarts the workers
that depend on one whenever it starts or stops (juju's ``dependency.Engine``).

One loop greenlet owns the table of manifolds; every other greenlet (callers
of ``install``/``kill``/``report``, the greenlet of each start, timers) sends
it a request through its inbox and never touches the table. How it reacts to
a worker's stop (worker-reference §7.4):

* stopped by the engine (an input changed): start again after the bounce delay;
* a clean stop, or ``Missing``: stay stopped until an input starts or stops;
* ``Bounce``: start again after the bounce delay;
* ``Uninstall``: remove the manifold for good;
* any other error: log it (at ERROR, or INFO when it says "try again") and
  start again after the error delay, backed off exponentially;
* an error ``is_fatal`` calls fatal: stop everything; ``wait()`` raises the
  worst (by ``worst_error``), passed through ``filter``.

When a worker starts, or stops after having started, every manifold that
declared it as an input is bounced: a running one is stopped (and so starts
again after the bounce delay), a stopped one is started after the bounce delay.
"""

from __future__ import annotations

import logging
import random as _random
import time
from collections.abc import Callable
from typing import Any

import gevent
from gevent.event import AsyncResult
from gevent.queue import SimpleQueue
from greenlet import getcurrent
from zope.interface import implementer

from agent_runtime.clock import REAL_CLOCK
from agent_runtime.errors import TerminateAgent, Unstopped
from agent_runtime.interfaces import IAbortableWorker, IClock, IEngine, IManifold, IReporter
from agent_runtime.worker.base import Outcome
from agent_runtime.worker.dependency.config import EngineConfig, apply_filter
from agent_runtime.worker.dependency.context import Context
from agent_runtime.worker.dependency.errors import Bounce, Missing, ShuttingDown, Uninstall
from agent_runtime.worker.dependency.instance import run_instance
from agent_runtime.worker.dependency.manifold import Manifold, check_acyclic, check_name
from agent_runtime.worker.dependency.record import Record
from agent_runtime.worker.dependency.report import snapshot, with_worker_reports
from agent_runtime.worker.instance import Abort

__all__ = ["ABORT_GRACE", "Engine"]

log = logging.getLogger("agent_runtime.worker.dependency")

#: Seconds an aborted worker gets to finish dying before it is abandoned.
ABORT_GRACE = 1.0


@implementer(IEngine, IAbortableWorker, IReporter)
class Engine:
    """A dependency engine (see the module docstring and ``IEngine``).

    ``is_fatal(error) -> bool`` classifies a worker's error;
    ``worst_error(error, worst) -> error`` picks the worse of a new fatal
    error and the worst so far; ``filter(error) -> error | None`` translates
    the error ``wait()`` raises. The delays, the backoff, the jitter's
    ``random`` and the shutdown's grace period ``stop_timeout`` are
    ``EngineConfig``'s (checked before anything starts). ``name`` labels the
    engine in logs and reports.
    """

    def __init__(
        self,
        is_fatal: Callable[[BaseException], bool],
        worst_error: Callable[[BaseException, BaseException], BaseException],
        filter: Callable[[BaseException], BaseException | None] | None = None,
        *,
        error_delay: float = 3.0,
        bounce_delay: float = 0.01,
        backoff_factor: float = 1.2,
        backoff_reset_time: float = 60.0,
        max_delay: float = 120.0,
        clock: IClock = REAL_CLOCK,
        random: _random.Random | None = None,
        stop_timeout: float | None = 10.0,
        name: str | None = None,
    ) -> None:
        self.config = EngineConfig(
            is_fatal,
            worst_error,
            filter,
            error_delay=error_delay,
            bounce_delay=bounce_delay,
            backoff_factor=backoff_factor,
            backoff_reset_time=backoff_reset_time,
            max_delay=max_delay,
            clock=clock,
            random=random,
            stop_timeout=stop_timeout,
        )
        self._clock = clock
        self.name = name

        # Owned by the loop greenlet.
        self._records: dict[str, Record] = {}
        self._dependents: dict[str, list[str]] = {}  # name -> the installed manifolds needing it
        self._dying = False
        self._worst: BaseException | None = None
        self._internal: BaseException | None = None
        self._unstopped: list[str] = []
        self._grace_timer = None

        self._inbox: SimpleQueue = SimpleQueue()
        self._kill_requested = False
        self._dead = False
        self._outcome = Outcome()
        self._loop = gevent.spawn(self._run)

    # -- the public side: requests to the loop ---------------------------------------

    def install(self, name: str, manifold: Manifold) -> None:
        check_name(name)
        if not IManifold.providedBy(manifold):
            raise TypeError(f"manifold {name!r} must provide IManifold, not {manifold!r}")
        if self._kill_requested or self._dead:
            raise ShuttingDown()
        self._ask(self._on_install, name, manifold)

    def kill(self) -> None:
        if not self._kill_requested and not self._dead:
            self._kill_requested = True
            self._post(self._on_kill)

    def wait(self) -> None:
        self._loop.join()
        self._outcome.raise_if_failed()

    def abort(self) -> None:
        """Stop now: kill every worker and abort those that can be aborted,
        without waiting for the grace period."""
        self.kill()
        if not self._dead:
            self._post(self._on_grace_over)

    def report(self) -> dict[str, Any]:
        """What the engine is doing, as JSON-able data: its state ("started",
        "stopping", "stopped"), its error, and per manifold its state, inputs,
        start count, recent errors, start time, last error, and the worker's
        own report if it provides ``IReporter``."""
        report = self._snapshot() if self._dead else self._ask(self._snapshot)
        return with_worker_reports(report)

    def __repr__(self) -> str:
        label = f" {self.name!r}" if self.name else ""
        state = "dead" if self._dead else "dying" if self._kill_requested else "alive"
        return f"<Engine{label} {state} at {id(self):#x}>"

    # -- the loop ---------------------------------------------------------------------

    def _post(self, handler: Callable[..., None], *args: Any) -> None:
        self._inbox.put((handler, *args))

    def _ask(self, handler: Callable[..., Any], *args: Any) -> Any:
        """Run ``handler(*args)`` on the loop and return what it returns (or
        raise what it raises); answered even if the loop ends meanwhile."""
        if getcurrent() is self._loop:
            return handler(*args)
        result = AsyncResult()
        self._post(self._answer, result, handler, args)
        return result.get()

    def _answer(self, result: AsyncResult, handler: Callable[..., Any], args: tuple) -> None:
        try:
            result.set(handler(*args))
        except Exception as error:
            result.set_exception(error)

    def _run(self) -> None:
        try:
            while not (self._dying and all(r.stopped() for r in self._records.values())):
                handler, *args = self._inbox.get()
                try:
                    handler(*args)
                except Exception as error:
                    log.exception("engine %r: bug handling %s%r", self, handler.__name__, args)
                    if self._internal is None:
                        self._internal = error
                    self._on_kill()
        finally:
            self._dead = True
            if self._grace_timer is not None:
                self._grace_timer.cancel()
            self._outcome = Outcome(self._final_error())
            while not self._inbox.empty():  # answer the questions still queued
                handler, *args = self._inbox.get()
                if handler == self._answer:
                    handler(*args)

    def _final_error(self) -> BaseException | None:
        error = self._internal
        if error is None and self._worst is not None:
            error = self.config.final(self._worst)
        if self._unstopped:
            unstopped = Unstopped(self._unstopped, self.config.stop_timeout or 0.0)
            if error is None:
                return unstopped
            log.error("engine %r: %s", self, unstopped)
        return error

    def _snapshot(self) -> dict[str, Any]:
        if self._dead:
            state, error = "stopped", self._outcome.error
        elif self._dying:
            state, error = "stopping", self._internal or self._worst
        else:
            state, error = "started", None
        report = snapshot(state, error, self._records)
        if self.name:
            report["name"] = self.name
        return report

    def _on_install(self, name: str, manifold: Manifold) -> None:
        if self._dying:
            raise ShuttingDown()
        if name in self._records:
            raise ValueError(f"{name!r} manifold already installed: pick another name")
        graph = {other: record.manifold.inputs for other, record in self._records.items()}
        graph[name] = manifold.inputs
        check_acyclic(graph, name)
        record = self._records[name] = Record(name, manifold)
        for input in manifold.inputs:
            self._dependents.setdefault(input, []).append(name)
        log.debug("installed %r (inputs %s)", name, list(manifold.inputs))
        self._request_start(record, 0.0)

    def _on_kill(self) -> None:
        if self._dying:
            return
        self._dying = True
        log.info("engine %r is stopping", self)
        for record in self._records.values():
            self._request_stop(record)
        stopped = all(record.stopped() for record in self._records.values())
        if not stopped and self.config.stop_timeout is not None:
            self._grace_timer = self._clock.call_later(
                self.config.stop_timeout, self._post, self._on_grace_over
            )

    # -- starting and stopping ------------------------------------------------------------

    def _request_start(self, record: Record, delay: float) -> None:
        if not record.stopped() or self._dying:
            return
        if delay > 0:
            record.wake = wake = object()
            record.timer = self._clock.call_later(
                delay, self._post, self._on_delay_over, record, wake
            )
        else:
            self._begin(record)

    def _on_delay_over(self, record: Record, wake: object) -> None:
        if record.wake is not wake or self._records.get(record.name) is not record:
            return  # cancelled while the timer's message was on its way
        record.timer = record.wake = None
        self._begin(record)

    def _begin(self, record: Record) -> None:
        """Start ``record`` now, with a snapshot of its inputs."""
        inputs = {}
        for input in record.manifold.inputs:
            source = self._records.get(input)
            if source is None:
                inputs[input] = (None, None)
            else:
                inputs[input] = (source.worker, source.manifold.output)
        record.context = Context(record.name, inputs)
        record.instance = instance = gevent.spawn(run_instance, self, record, record.context)
        # If it dies without reporting (killed before it ever ran), say so.
        instance.rawlink(lambda _: self._post(self._on_instance_gone, record, instance))

    def _on_instance_gone(self, record: Record, instance: gevent.Greenlet) -> None:
        if record.instance is instance:  # it never sent its _on_stopped
            self._on_stopped(record, None)

    def _request_stop(self, record: Record) -> None:
        if record.timer is not None:
            # An aborted start: not a failure. Start afresh (unless dying).
            record.timer.cancel()
            record.timer = record.wake = None
            self._request_start(record, self.config.bounce_restart_delay())
            return
        if record.instance is None or record.stopping:
            return
        record.stopping = True
        record.context.abort.set()
        if record.worker is not None:
            self._kill_worker(record.name, record.worker)

    def _kill_worker(self, name: str, worker: Any) -> None:
        try:
            worker.kill()
        except Exception:
            log.exception("killing the worker of %r raised", name)

    def _bounce_dependents(self, name: str) -> None:
        for dependent in list(self._dependents.get(name, ())):
            record = self._records[dependent]
            if record.stopped():
                self._request_start(record, self.config.bounce_restart_delay())
            else:
                self._request_stop(record)

    def _on_started(self, record: Record, worker: Any) -> None:
        if record.stopping or self._dying:
            log.debug("the worker of %r is no longer wanted", record.name)
            self._kill_worker(record.name, worker)
            return
        record.worker = worker
        record.start_count += 1
        record.started_at = self._clock.now()
        record.started_wall = time.time()
        record.error = None
        log.debug("%r started", record.name)
        self._bounce_dependents(record.name)

    def _on_stopped(self, record: Record, error: BaseException | None) -> None:
        if record.instance is None:
            return  # abandoned after the grace period
        had_worker = record.worker is not None
        stopping = record.stopping
        if had_worker and self._clock.now() - record.started_at >= self.config.backoff_reset_time:
            record.recent_errors = 0  # it ran long enough: its failures are forgotten
        record.worker = record.instance = record.context = None
        record.started_at = record.started_wall = None
        record.stopping = False
        if error is not None and record.manifold.filter is not None:
            error = apply_filter(record.manifold.filter, error, f"the filter of {record.name!r}")
        record.error = error
        if error is not None and self.config.fatal(record.name, error):
            if isinstance(error, TerminateAgent):  # how an agent ends when its work is done
                log.info("%r: %s", record.name, error)
            else:
                log.error("fatal error of %r: %s", record.name, error)
            self._worst = self.config.worse(error, self._worst)
            self._on_kill()
            return
        if self._dying:
            return
        self._react(record, error, stopping)
        if had_worker:
            self._bounce_dependents(record.name)

    def _react(self, record: Record, error: BaseException | None, stopping: bool) -> None:
        """The table of the module docstring."""
        name = record.name
        if stopping:
            self._request_start(record, self.config.bounce_restart_delay())
        elif error is None:
            log.info("%r finished; it stays stopped until an input changes", name)
        elif isinstance(error, Missing):
            log.info("%r is missing an input (%s); it waits for one to change", name, error)
        elif isinstance(error, Bounce):
            self._request_start(record, self.config.bounce_restart_delay())
        elif isinstance(error, Uninstall):
            self._uninstall(record)
        else:
            level = logging.INFO if "try again" in str(error) else logging.ERROR
            record.recent_errors += 1
            delay = self.config.error_restart_delay(record.recent_errors)
            log.log(level, "%r failed: %s; restarting in %.3gs", name, error, delay)
            self._request_start(record, delay)

    def _uninstall(self, record: Record) -> None:
        del self._records[record.name]
        for input in record.manifold.inputs:
            dependents = self._dependents[input]
            dependents.remove(record.name)
            if not dependents:
                del self._dependents[input]
        log.info("%r uninstalled", record.name)

    # -- the grace period -------------------------------------------------------------------

    def _on_grace_over(self) -> None:
        """Kill what is left outright, then give it ``ABORT_GRACE`` seconds."""
        if self._grace_timer is not None:
            self._grace_timer.cancel()
        self._grace_timer = None
        running = [record for record in self._records.values() if record.instance is not None]
        if not running:
            return
        for record in running:
            log.error("the worker of %r did not stop in time: killing it outright", record.name)
            record.interrupt(Abort)
        self._grace_timer = self._clock.call_later(ABORT_GRACE, self._post, self._on_abandon)

    def _on_abandon(self) -> None:
        self._grace_timer = None
        for record in self._records.values():
            if record.instance is not None:
                log.error("abandoning the worker of %r: it would not stop", record.name)
                self._unstopped.append(record.name)
                record.abandon()
