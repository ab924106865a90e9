"""Running one hook: a charm's executable, as a child process.

The hook runs with the charm directory as its working directory and the
environment it is given; its stdout and stderr are merged and logged line by
line (logger ``unit.<unit>.<hook>``), as they come. A hook that does not exist
is skipped with a log line. A hook that exists but cannot be executed is an
error, as is a non-zero exit.

The "still running" lines and the grace period between SIGTERM and SIGKILL
are timed by the ``clock`` given (an ``IClock``); the wait for the process
itself is real (it is the child's to end).
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Mapping

import gevent
from gevent import subprocess

from agent_runtime.clock import REAL_CLOCK, ClockTimeout
from agent_runtime.errors import AgentRuntimeError
from agent_runtime.interfaces import IClock

__all__ = ["KILL_GRACE", "PROGRESS_EVERY", "HookFailed", "run_hook"]

#: Seconds a hook gets between SIGTERM and SIGKILL when its agent stops it.
KILL_GRACE = 5.0
#: Seconds between two "still running" log lines of a long hook.
PROGRESS_EVERY = 10.0


class HookFailed(AgentRuntimeError):
    """A hook that could not run or exited with a non-zero code."""

    def __init__(self, hook: str, message: str, code: int | None = None) -> None:
        super().__init__(f'hook "{hook}" {message}')
        self.hook = hook
        self.code = code


def run_hook(
    charm_dir: str,
    hook: str,
    env: Mapping[str, str],
    unit: str,
    *,
    clock: IClock = REAL_CLOCK,
) -> bool:
    """Run ``hooks/<hook>`` of the charm; return True if it ran and exited 0,
    False if the charm does not have that hook (skipped). Raises ``HookFailed``
    for a hook that cannot run or fails. Every ``PROGRESS_EVERY`` seconds of
    ``clock`` it logs that the hook still runs. If the calling greenlet is
    killed, the hook's process group gets SIGTERM, then SIGKILL after
    ``KILL_GRACE`` seconds of ``clock``, and the call returns once the process
    has ended (or another ``KILL_GRACE`` passed)."""
    log = logging.getLogger("agent_runtime.uniter")
    path = os.path.join(charm_dir, "hooks", hook)
    if not os.path.lexists(path):
        log.info('%s: skipped "%s" hook (not implemented)', unit, hook)
        return False
    if not os.path.isfile(path):
        raise HookFailed(hook, f"is not a file: {path}")
    if not os.access(path, os.X_OK):
        raise HookFailed(hook, f"is not executable: {path} (chmod +x it)")
    output = logging.getLogger(f"unit.{unit}.{hook}")
    try:
        process = subprocess.Popen(
            [path],
            cwd=charm_dir,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as error:
        raise HookFailed(hook, f"cannot be started: {error}") from None
    progress = gevent.spawn(_report_progress, clock, log, unit, hook)
    try:
        for line in process.stdout:
            output.info("%s", line.decode("utf-8", "replace").rstrip("\n"))
        code = process.wait()
    except BaseException:
        _stop(process, clock)
        raise
    finally:
        progress.kill(block=False)
        process.stdout.close()
    if code != 0:
        how = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
        raise HookFailed(hook, f"failed: {how}", code)
    return True


def _report_progress(clock: IClock, log: logging.Logger, unit: str, hook: str) -> None:
    """Say, every ``PROGRESS_EVERY`` seconds, that a long hook is still running."""
    waited = 0.0
    while True:
        clock.sleep(PROGRESS_EVERY)
        waited += PROGRESS_EVERY
        log.info('%s: hook "%s" still running (%g s)', unit, hook, waited)


def _stop(process: subprocess.Popen, clock: IClock) -> None:
    """Stop a hook whose agent is stopping: SIGTERM to its process group, then
    SIGKILL after ``KILL_GRACE`` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        with ClockTimeout(clock, KILL_GRACE, swallow=True):
            process.wait()
            return
