"""run_hook's timers run on the clock it is given: the "still running" lines
and the grace period between SIGTERM and SIGKILL. The hooks are real child
processes; the time between the lines and the signals is a ManualClock's,
so nothing here waits for a delay to pass."""

from __future__ import annotations

import logging
import os
import stat

import gevent
import pytest

from agent_runtime.testing import LONG_WAIT, ManualClock, wait_for
from agent_runtime.uniter.runhook import KILL_GRACE, PROGRESS_EVERY, HookFailed, run_hook

UNIT = "app/0"


@pytest.fixture
def charm(tmp_path):
    (tmp_path / "hooks").mkdir()
    return tmp_path


def write_hook(charm, name: str, body: str) -> None:
    path = charm / "hooks" / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def start(charm, clock: ManualClock, hook: str = "install") -> gevent.Greenlet:
    return gevent.spawn(run_hook, str(charm), hook, dict(os.environ), UNIT, clock=clock)


def progress_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "still running" in r.getMessage()]


def settle() -> None:
    """Let every greenlet that can run, run (and the log lines they write land)."""
    for _ in range(5):
        gevent.sleep(0)


def test_progress_lines_come_when_the_clock_passes_each_period(charm, caplog):
    caplog.set_level(logging.INFO, logger="agent_runtime.uniter")
    go = charm / "go"
    write_hook(charm, "install", f'while [ ! -e "{go}" ]; do sleep 0.01; done')
    clock = ManualClock()
    hook = start(charm, clock)
    try:
        clock.wait_for_timers(1)  # the progress reporter sleeps on the clock
        clock.advance(PROGRESS_EVERY - 0.001)
        settle()
        assert progress_lines(caplog) == []
        clock.advance(0.001)
        wait_for(lambda: len(progress_lines(caplog)) == 1, what="the first progress line")
        assert progress_lines(caplog) == [
            f'{UNIT}: hook "install" still running ({PROGRESS_EVERY:g} s)'
        ]
        clock.advance(2 * PROGRESS_EVERY)  # two periods at once: two lines
        wait_for(lambda: len(progress_lines(caplog)) == 3, what="two more progress lines")
        assert progress_lines(caplog)[-1].endswith(f"({3 * PROGRESS_EVERY:g} s)")
        go.touch()
        assert hook.get(timeout=LONG_WAIT) is True
        # The reporter went with the hook, and its sleep with it.
        wait_for(lambda: clock.pending_timers() == 0, what="the reporter's timer to go")
    finally:
        go.touch()
        hook.kill(timeout=LONG_WAIT)


def test_a_quick_hook_reports_nothing_and_leaves_no_timer(charm, caplog):
    caplog.set_level(logging.INFO, logger="agent_runtime.uniter")
    write_hook(charm, "install", "echo hello")
    clock = ManualClock()
    assert start(charm, clock).get(timeout=LONG_WAIT) is True
    wait_for(lambda: clock.pending_timers() == 0, what="the reporter's timer to go")
    assert progress_lines(caplog) == []


def pid_of(path) -> int:
    wait_for(lambda: path.exists() and path.read_text().strip(), what="the hook to start")
    return int(path.read_text())


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_hook_deaf_to_sigterm_is_killed_when_the_clock_passes_the_grace(charm):
    """Killing the caller sends SIGTERM; a hook that ignores it gets SIGKILL
    exactly when the clock has passed KILL_GRACE, not before."""
    pidfile = charm / "pid"
    deaf = f"trap '' TERM\necho $$ > \"{pidfile}\"\nwhile :; do sleep 0.01; done"
    write_hook(charm, "stop", deaf)
    clock = ManualClock()
    hook = start(charm, clock, "stop")
    pid = pid_of(pidfile)
    try:
        hook.kill(block=False)
        clock.wait_for_timers(2)  # the progress reporter's, and the grace period's
        clock.advance(KILL_GRACE - 0.001)
        settle()
        assert alive(pid) and not hook.dead
        clock.advance(0.001)
        hook.join(LONG_WAIT)
        assert hook.dead and isinstance(hook.value, gevent.GreenletExit)
        wait_for(lambda: not alive(pid), what="the hook's process to be gone")
        wait_for(lambda: clock.pending_timers() == 0, what="every timer to go")
    finally:
        if alive(pid):
            os.killpg(pid, 9)


def test_a_hook_that_ends_on_sigterm_needs_no_grace(charm):
    pidfile = charm / "pid"
    write_hook(charm, "stop", f'echo $$ > "{pidfile}"\nwhile :; do sleep 0.01; done')
    clock = ManualClock()
    hook = start(charm, clock, "stop")
    pid = pid_of(pidfile)
    hook.kill(block=False)
    hook.join(LONG_WAIT)  # no clock advance: SIGTERM was enough
    assert hook.dead
    assert not alive(pid)
    wait_for(lambda: clock.pending_timers() == 0, what="every timer to go")


def test_a_failing_hook_is_hook_failed(charm):
    write_hook(charm, "install", "exit 3")
    with pytest.raises(HookFailed, match="exited with code 3"):
        run_hook(str(charm), "install", dict(os.environ), UNIT, clock=ManualClock())
