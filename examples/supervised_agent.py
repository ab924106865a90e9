"""An example agent: a Runner supervising four workers, logging what happens.

* "heartbeat" logs every second (a SimpleWorker);
* "ticker" changes an in-memory config every two seconds;
* "config" follows that config through a watcher and logs each change (a NotifyWorker);
* "flaky" fails after a while; the Runner logs it and restarts it after a delay.

Stop it with Ctrl-C or SIGTERM. It uses gevent directly, so it also runs
monkey-patched: ``python -m gevent.monkey examples/supervised_agent.py``.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from functools import partial

import gevent
from gevent.event import Event
from zope.interface import implementer

from agent_runtime import TerminateAgent
from agent_runtime.interfaces import INotifyWatchHandler
from agent_runtime.watcher import NotifyWatcher
from agent_runtime.worker import NotifyWorker, Runner, RunnerObserver, SimpleWorker

log = logging.getLogger("agent")
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"  # one line per event


class Config:
    """A tiny in-memory "state": a dict, and the watchers to tell when it changes."""

    def __init__(self) -> None:
        self.values = {"version": 0}
        self._watchers: list[NotifyWatcher] = []

    def watch(self) -> NotifyWatcher:
        watcher = NotifyWatcher()  # sends one event at once: "read the initial state"
        self._watchers.append(watcher)
        return watcher

    def update(self, **changes) -> None:
        self.values.update(changes)
        # notify() coalesces unread events; it returns False once the watcher has stopped.
        self._watchers = [w for w in self._watchers if w.notify()]


@implementer(INotifyWatchHandler)
class ConfigLogger:
    """What the "config" NotifyWorker runs: handle() once per event of its watcher."""

    def __init__(self, config: Config) -> None:
        self.config = config

    def set_up(self) -> NotifyWatcher:
        return self.config.watch()  # the worker stops this watcher when it stops

    def handle(self) -> None:
        log.info("config is now %s", self.config.values)  # an event only says "re-read"

    def tear_down(self) -> None:
        log.info("config watcher released")


# SimpleWorker functions get the worker's stop event, which kill() sets. They wait
# on it with a timeout instead of sleeping, so they stop as soon as they are asked.
def heartbeat(stop: Event) -> None:
    beats = 0
    while not stop.wait(1.0):  # True once stop is set, False after the timeout
        beats += 1
        log.info("heartbeat %d", beats)


def ticker(config: Config, every: float, stop: Event) -> None:
    while not stop.wait(every):
        config.update(version=config.values["version"] + 1)


def flaky(after: float, stop: Event) -> None:
    if not stop.wait(after):  # not asked to stop within `after` seconds: fail
        raise RuntimeError(f"flaky gave up after {after:g} s (a simulated failure)")


class LoggingObserver(RunnerObserver):
    """Told by the Runner, on its own greenlet, what happens: must be quick."""

    def started(self, runner, id):
        log.info("worker %r started", id)

    def exited(self, runner, id, error):
        if error is None:
            log.info("worker %r stopped", id)
        else:
            log.warning("worker %r failed: %s: %s", id, type(error).__name__, error)

    def restart_scheduled(self, runner, id, delay):
        log.info("worker %r will restart in %g s", id, delay)

    def fatal(self, runner, id, error):
        log.error("worker %r failed fatally, stopping the agent: %s", id, error)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="An example agent built with agent_runtime.")
    parser.add_argument("--duration", type=float, metavar="SECONDS", help="stop after SECONDS")
    parser.add_argument("--flaky-after", type=float, default=3.0, metavar="SECONDS")
    args = parser.parse_args(argv)

    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format=LOG_FORMAT)
    # The runner's own INFO chatter would repeat what the observer says; keep its
    # warnings and errors (it also logs each worker error, as an ERROR line).
    logging.getLogger("agent_runtime").setLevel(logging.WARNING)

    runner = Runner(
        # Which errors stop the whole agent? Only TerminateAgent; others restart the worker.
        is_fatal=lambda error: isinstance(error, TerminateAgent),
        # If fatal errors race, should e0 replace e1 as the one runner.wait() raises?
        more_important=lambda e0, e1: (
            isinstance(e0, TerminateAgent) and not isinstance(e1, TerminateAgent)
        ),
        restart_delay=1.0,
        observers=[LoggingObserver()],
    )

    # Each worker has an id and a start function returning a new worker; the
    # Runner calls it again for each restart. start_worker() returns at once.
    config = Config()
    runner.start_worker("heartbeat", lambda: SimpleWorker(heartbeat))
    runner.start_worker("ticker", lambda: SimpleWorker(partial(ticker, config, 2.0)))
    runner.start_worker("config", lambda: NotifyWorker(ConfigLogger(config)))
    runner.start_worker("flaky", lambda: SimpleWorker(partial(flaky, args.flaky_after)))

    def stop(reason: str) -> None:
        log.info("%s: stopping", reason)
        runner.kill()  # only asks every worker to stop; never blocks

    # Ctrl-C and SIGTERM stop the agent cleanly, and so does --duration.
    signals = (signal.SIGINT, signal.SIGTERM)
    handlers = [gevent.signal_handler(s, stop, f"got {s.name}") for s in signals]
    timer = None
    if args.duration is not None:
        timer = gevent.spawn_later(args.duration, stop, "time is up")

    try:
        runner.wait()  # the workers run while this blocks; raises the fatal error, if any
    except TerminateAgent as error:  # a worker said the agent is done: not a failure
        log.info("agent terminated: %s", error)
        return 0
    except Exception as error:
        log.error("agent stopped: %s: %s", type(error).__name__, error)
        return 1
    finally:
        for handler in handlers:
            handler.cancel()
        if timer is not None:
            timer.kill()
    log.info("agent stopped cleanly")
    return 0


if __name__ == "__main__":
    sys.exit(main())
