"""EnvironObservers in two processes over one sqlite state file.

A child process (a small script run with this interpreter) writes config
changes, and the parent's observer sees the last one; then the other way
round. Every wait has a timeout and the child is killed in ``finally``.

The child's output goes to files and the parent polls it (and the child's
exit) with ``wait_for``, so the hub is never blocked. ``subprocess`` is
gevent's: once any test has used it, gevent's child watcher reaps every child
of the process, and the standard library's ``Popen`` would then read a killed
child's exit code as 0.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from gevent import subprocess

from agent_runtime.testing import LONG_WAIT, clean_kill, wait_for
from agent_runtime.worker import EnvironObserver

VALID = {"name": "test-env", "type": "dummy", "secret": "pork"}

#: Real seconds for a child process to start, do its work and exit.
PROCESS_WAIT = 30.0

WRITER = """
    import sys
    from agent_runtime import state

    st = state.open(sys.argv[1])
    try:
        for i in range(20):
            st.update_environ_config({"name": f"step-{i}"})
        st.update_environ_config({"type": "unknown"})  # an invalid one on the way
        st.update_environ_config({"type": "dummy", "name": "final", "secret": "from-child"})
    finally:
        st.close()
"""

OBSERVER = """
    import sys
    from agent_runtime import state
    from agent_runtime.testing import wait_for
    from agent_runtime.worker import EnvironObserver

    st = state.open(sys.argv[1])
    try:
        observer = EnvironObserver(st)
        print("ready", observer.environ().name(), flush=True)
        wait_for(lambda: observer.environ().name() == "from-parent", timeout=float(sys.argv[2]))
        print("saw", observer.environ().config()["secret"], flush=True)
        observer.kill()
        observer.wait()
    finally:
        st.close()
"""


class Child:
    """A child process running ``script`` with ``args``; stdout and stderr in files."""

    def __init__(self, directory: Path, script: str, *args: str) -> None:
        self.out_path = directory / "child.out"
        self.err_path = directory / "child.err"
        with self.out_path.open("w") as out, self.err_path.open("w") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-c", textwrap.dedent(script), *args], stdout=out, stderr=err
            )

    def output(self) -> str:
        return self.out_path.read_text()

    def finish(self) -> str:
        """Wait for the child to exit (killing it if it overstays); check it
        exited 0 and return its output."""
        try:
            wait_for(
                lambda: self.process.poll() is not None,
                timeout=PROCESS_WAIT,
                what="the child process to exit",
            )
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        assert self.process.returncode == 0, (
            f"child exited {self.process.returncode}:\n{self.err_path.read_text()}"
        )
        return self.output()


def test_the_parent_sees_the_last_change_of_a_child(tmp_path, open_state):
    url = f"sqlite:///{tmp_path}/state.db"
    st = open_state(url)
    st.update_environ_config(VALID)
    observer = EnvironObserver(st)
    try:
        child = Child(tmp_path, WRITER, url)
        try:
            wait_for(
                lambda: observer.environ().name() == "final",
                timeout=PROCESS_WAIT,
                what="the child's last change",
            )
        finally:
            child.finish()
        assert observer.environ().config() == {**VALID, "name": "final", "secret": "from-child"}
        assert st.environ_config() == observer.environ().config()
    finally:
        clean_kill(observer)


def test_a_child_sees_the_change_of_the_parent(tmp_path, open_state):
    url = f"sqlite:///{tmp_path}/state.db"
    st = open_state(url)
    st.update_environ_config(VALID)
    child = Child(tmp_path, OBSERVER, url, str(LONG_WAIT))
    try:
        wait_for(
            lambda: child.output().endswith("\n") or child.process.poll() is not None,
            timeout=PROCESS_WAIT,
            what="the child to say it is ready",
        )
        assert child.output() == "ready test-env\n"
        st.update_environ_config({"name": "from-parent", "secret": "s3"})
    finally:
        out = child.finish()
    assert out == "ready test-env\nsaw s3\n"
