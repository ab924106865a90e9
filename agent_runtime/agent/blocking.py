"""Blocking detection: which worker kept the event loop from running.

gevent's monitor thread (a native thread, one per hub) looks every
``threshold`` seconds at whether the hub's greenlets switched; when one ran the
whole period without yielding, it emits ``gevent.events.EventLoopBlocked``.
``BlockingMonitor`` starts that thread for the current hub, takes those
events instead of gevent's printout, and logs each blocked stretch on the
``agent_runtime.blocking`` logger at WARNING, naming the worker whose greenlet
blocked:

* The Runner marks the greenlet that starts each worker with its runner's
  name and the worker's id; every greenlet spawned from it, directly or not,
  remembers its spawner (gevent's ``spawning_greenlet``, kept while
  ``gevent.config.track_greenlet_tree`` is on, its default), so walking up
  from the blocked greenlet finds the worker. Under nested runners it is the
  innermost worker, followed by the ones it runs under.
* A block gives one report per period while it lasts: the first is logged,
  later ones only when the time blocked has doubled (a block of a minute makes
  about ten lines, not six hundred), and once the loop runs again one line
  says how long it was blocked in all.
* The monitor checks once per ``threshold``: a block longer than twice the
  threshold is always reported, a shorter one may be.

The report is logged from the monitor thread, while the loop is still blocked
(a loop blocked for good is reported too); the closing line is logged from a
greenlet once the loop runs again.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
import traceback
import warnings
from typing import Any

import gevent
from gevent import config as gevent_config
from gevent.events import EventLoopBlocked, subscribers
from gevent.monkey import get_original
from gevent.pool import Group

__all__ = ["DEFAULT_THRESHOLD", "WORKER_MARK", "BlockingMonitor", "blocking_worker"]

log = logging.getLogger("agent_runtime.blocking")

#: Seconds; gevent's own default ``max_blocking_time``. The runtime keeps its
#: blocking calls off the loop (the state's SQLite runs in a thread pool,
#: hooks in child processes), so a tenth of a second without a switch is
#: already a finding. The monitor thread wakes once per threshold; gevent's
#: trace function adds about a microsecond to every greenlet switch, whatever
#: the threshold (docs/operations.md has the figures).
DEFAULT_THRESHOLD = 0.1
#: The attribute the Runner sets on the greenlet that starts a worker:
#: ``(runner name or None, worker id)``.
WORKER_MARK = "agent_runtime_worker"
#: Seconds ``stop()`` waits for the monitor thread to end.
STOP_TIMEOUT = 5.0
#: Greenlets walked up from a blocked one before giving up (a cycle guard).
_MAX_DEPTH = 1000
#: Frames of the blocked greenlet's stack named in a report.
_FRAMES = 3

_allocate_lock = get_original("_thread", "allocate_lock")


def blocking_worker(greenlet: Any) -> list[tuple[str | None, str]]:
    """The workers ``greenlet`` belongs to, innermost first, as ``(runner
    name, worker id)`` pairs; empty when it belongs to none. Safe to call from
    another thread: it only reads attributes."""
    chain = []
    for _ in range(_MAX_DEPTH):
        if greenlet is None:
            break
        mark = getattr(greenlet, WORKER_MARK, None)
        if mark is not None:
            chain.append(mark)
        spawner = getattr(greenlet, "spawning_greenlet", None)
        greenlet = spawner() if spawner is not None else None
    return chain


def _describe(greenlet: Any) -> tuple[str, str | None]:
    """What a report says of the blocking greenlet, and the worker label."""
    chain = blocking_worker(greenlet)
    if not chain:
        return f"greenlet {greenlet!r}, which belongs to no worker", None
    names = [f"worker {id!r} of runner {runner or 'runner'!r}" for runner, id in chain]
    text = names[0] if len(names) == 1 else f"{names[0]} (under {', '.join(names[1:])})"
    return text, chain[0][1]


def _where(hub: Any, greenlet: Any) -> str:
    """Where ``greenlet`` blocks: the innermost frames running on the hub's
    thread, innermost first; "" when the block has ended meanwhile (the
    greenlet no longer runs: it has a frame of its own again)."""
    frame = sys._current_frames().get(hub.thread_ident)
    if frame is None or getattr(greenlet, "gr_frame", None) is not None:
        return ""
    stack = traceback.extract_stack(frame, limit=_FRAMES)
    frames = (f"{os.path.basename(f.filename)}:{f.lineno} in {f.name}" for f in stack[::-1])
    return f", at {' < '.join(frames)}"


class _Block:
    """One blocked stretch of the loop, as the monitor thread saw it."""

    __slots__ = ("first", "greenlet", "logged", "threshold", "who", "worker")

    def __init__(self, greenlet: Any, threshold: float, now: float) -> None:
        self.greenlet = greenlet
        self.threshold = threshold
        self.first = now
        self.logged = 0.0
        self.who, self.worker = _describe(greenlet)

    def seconds(self, now: float) -> float:
        """A lower bound of how long the loop has been blocked at ``now``: no
        switch for a whole period before the first report."""
        return self.threshold + (now - self.first)


class BlockingMonitor:
    """Logs what blocks the event loop of this thread's hub for longer than
    ``threshold`` seconds (see the module docstring).

    ``start()`` and ``stop()`` (or ``with``) must be called on the hub's
    thread. While it runs it sets gevent's ``max_blocking_time`` to
    ``threshold`` and turns off gevent's own printed reports; ``stop()`` puts
    them back, ends the monitor thread if ``start()`` started it (it does not
    when ``GEVENT_MONITOR_THREAD_ENABLE`` had started one already) and waits
    for it to end.
    """

    def __init__(self, threshold: float = DEFAULT_THRESHOLD) -> None:
        if not (isinstance(threshold, (int, float)) and threshold > 0 and math.isfinite(threshold)):
            raise ValueError(
                f"the blocking threshold must be a finite number of seconds > 0, not {threshold!r}"
            )
        self.threshold = float(threshold)
        self._hub: Any = None
        self._thread: Any = None  # the monitor thread, when start() started it
        self._pending: Any = None  # the hub callback that will start it
        self._saved: tuple[float, bool] | None = None
        self._lock = _allocate_lock()
        self._block: _Block | None = None  # guarded by _lock
        self._end_loggers = Group()  # greenlets logging that a block ended

    @property
    def running(self) -> bool:
        return self._hub is not None

    @property
    def thread_ident(self) -> int | None:
        """The native id of the monitor thread this monitor started, while it
        runs; None before the hub has run, after ``stop()``, or when another
        monitor thread was running already."""
        return None if self._thread is None else self._thread.monitor_thread_ident

    def start(self) -> BlockingMonitor:
        """Start reporting (see the class docstring). Never switches greenlets:
        if the hub has not run yet, the monitor thread starts as soon as it
        does (a monitor started before would take the hub for dead at its
        first look, and end, leaving its greenlet tracer installed)."""
        if self._hub is not None:
            raise RuntimeError(f"{self!r} is already running")
        hub = gevent.get_hub()
        self._saved = (gevent_config.max_blocking_time, gevent_config.print_blocking_reports)
        gevent_config.max_blocking_time = self.threshold
        gevent_config.print_blocking_reports = False
        self._hub = hub
        subscribers.append(self._on_event)
        if hub.periodic_monitoring_thread is None:
            if hub:  # running
                self._start_thread()
            else:
                self._pending = hub.loop.run_callback(self._start_thread)
        log.debug("blocking detection on: threshold %g s", self.threshold)
        return self

    def _start_thread(self) -> None:
        """Start gevent's monitor thread for our hub (only), on the hub's thread."""
        self._pending = None
        hub = self._hub
        if hub is None or hub.periodic_monitoring_thread is not None:
            return  # stopped meanwhile, or someone else started one
        enabled = gevent_config.monitor_thread
        gevent_config.monitor_thread = True  # for this hub only: put back at once
        try:
            with warnings.catch_warnings():
                # Without psutil gevent cannot watch memory, which is not asked for here.
                warnings.filterwarnings("ignore", message="Unable to monitor memory usage")
                self._thread = hub.start_periodic_monitoring_thread()
        finally:
            gevent_config.monitor_thread = enabled

    def stop(self) -> None:
        """Stop reporting; end the monitor thread if ``start()`` started it,
        and wait for the end of a block already seen to be logged. Raises
        ``RuntimeError`` if that thread has not ended within ``STOP_TIMEOUT``
        seconds."""
        hub, thread = self._hub, self._thread
        if hub is None:
            return
        self._hub = self._thread = None
        if self._pending is not None:  # the hub never ran: no thread to end
            self._pending.stop()
            self._pending = None
        try:
            subscribers.remove(self._on_event)
        except ValueError:
            pass
        try:
            if thread is not None:
                thread.kill()  # uninstalls its greenlet tracer: on this thread
                if hub.periodic_monitoring_thread is thread:
                    hub.periodic_monitoring_thread = None
                self._wait_ended(thread.monitor_thread_ident)
        finally:
            if self._saved is not None:
                gevent_config.max_blocking_time, gevent_config.print_blocking_reports = self._saved
                self._saved = None
            # A block's end already seen is logged before stop() returns.
            self._end_loggers.join(timeout=STOP_TIMEOUT)

    @staticmethod
    def _wait_ended(ident: int) -> None:
        # The thread ends when it next wakes: within one threshold.
        deadline = time.monotonic() + STOP_TIMEOUT
        while ident in sys._current_frames():
            if time.monotonic() > deadline:
                raise RuntimeError(f"gevent's monitor thread did not end within {STOP_TIMEOUT:g} s")
            gevent.sleep(0.005)

    def __enter__(self) -> BlockingMonitor:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<BlockingMonitor {self.threshold:g} s {state}>"

    # -- on the monitor thread ----------------------------------------------------

    def _on_event(self, event: object) -> None:
        hub = self._hub
        if not isinstance(event, EventLoopBlocked) or hub is None or event.hub is not hub:
            return
        now = time.monotonic()
        with self._lock:
            block = self._block
            new = block is None or block.greenlet is not event.greenlet
            if new:
                block = self._block = _Block(event.greenlet, event.blocking_time, now)
            seconds = block.seconds(now)
            due = seconds >= 2 * block.logged
            if due:
                block.logged = seconds
        if new:
            # Runs as soon as the loop runs again: the block is over.
            hub.loop.run_callback_threadsafe(self._ended, block)
        if due:
            log.warning(
                "the event loop has been blocked for more than %.2f s by %s%s",
                seconds,
                block.who,
                _where(hub, event.greenlet),
                extra={"worker": block.worker, "blocked_seconds": round(seconds, 3)},
            )

    # -- on the hub, then a greenlet ---------------------------------------------

    def _ended(self, block: _Block) -> None:
        seconds = block.seconds(time.monotonic())
        with self._lock:
            if self._block is block:
                self._block = None
        block.greenlet = None
        # Not from the hub itself: a logging handler may need to switch.
        self._end_loggers.spawn(self._log_end, block, seconds)

    @staticmethod
    def _log_end(block: _Block, seconds: float) -> None:
        log.warning(
            "the event loop ran again after being blocked for about %.2f s by %s",
            seconds,
            block.who,
            extra={"worker": block.worker, "blocked_seconds": round(seconds, 3)},
        )
