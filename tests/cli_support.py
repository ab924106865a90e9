"""Helpers for the tests of the ``agent-runtime`` command (tests/test_cli_*.py).

Every command runs for real, through ``agent_runtime.cli.main`` with
``AGENT_RUNTIME_HOME`` set to a directory of the test's own, so the default
state is the test's alone: in this process (quick) unless a test asks for a
subprocess (``python -m agent_runtime ...``; every ``run`` command is one).
Every wait has a deadline, and every subprocess is killed (if it still runs)
before the test ends.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import select
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from gevent import subprocess  # gevent.subprocess reaps every child: see test_environ_processes

REPO = Path(__file__).resolve().parent.parent
#: Real seconds to wait for something that must happen (generous: it is a deadline).
DEADLINE = 30.0


def cli_env(home: Path | None, **extra: str) -> dict[str, str]:
    """The environment of a command: ours, with the repository first on
    PYTHONPATH (the code under test), ``AGENT_RUNTIME_HOME=home`` (or unset
    when ``home`` is None) and ``extra``."""
    env = dict(os.environ)
    env.pop("AGENT_RUNTIME_HOME", None)
    if home is not None:
        env["AGENT_RUNTIME_HOME"] = str(home)
    pythonpath = [str(REPO), *filter(None, [extra.pop("PYTHONPATH", None)])]
    pythonpath += filter(None, [os.environ.get("PYTHONPATH")])
    env["PYTHONPATH"] = os.pathsep.join(pythonpath)
    env.update(extra)
    return env


@dataclass
class Result:
    """How a command ended."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return (
            f"agent-runtime {' '.join(self.args)} -> exit {self.returncode}\n"
            f"--- stdout\n{self.stdout}--- stderr\n{self.stderr}"
        )

    def json(self) -> Any:
        return json.loads(self.stdout)


class Cli:
    """Runs ``agent-runtime`` commands against one data directory."""

    def __init__(self, home: Path, cwd: Path) -> None:
        self.home = home
        self.cwd = cwd

    def env(self, **extra: str) -> dict[str, str]:
        return cli_env(self.home, **extra)

    def __call__(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = DEADLINE,
        in_process: bool = True,
    ) -> Result:
        """Run ``agent-runtime ARGS`` to its end: in this process (``main(args)``
        with its stdout, stderr, environment and directory redirected: quick),
        or as ``python -m agent_runtime ARGS`` when ``env`` is given or
        ``in_process`` is False (killed after ``timeout``)."""
        # `run` patches the process it runs in: never this one.
        if env is None and in_process and args[:1] != ("run",):
            return self._in_process(list(args), cwd or self.cwd)
        process = subprocess.Popen(
            [sys.executable, "-m", "agent_runtime", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env() if env is None else env,
            cwd=self.cwd if cwd is None else cwd,
        )
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate(timeout=DEADLINE)
        return Result(list(args), process.returncode, stdout.decode(), stderr.decode())

    def _in_process(self, args: list[str], cwd: Path) -> Result:
        from agent_runtime.cli import main

        stdout, stderr = io.StringIO(), io.StringIO()
        saved_home, saved_cwd = os.environ.get("AGENT_RUNTIME_HOME"), os.getcwd()
        os.environ["AGENT_RUNTIME_HOME"] = str(self.home)
        os.chdir(cwd)
        try:
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                try:
                    code = main(args)
                except SystemExit as exit:  # argparse's usage errors and --help
                    code = exit.code if isinstance(exit.code, int) else 1
        finally:
            os.chdir(saved_cwd)
            if saved_home is None:
                os.environ.pop("AGENT_RUNTIME_HOME", None)
            else:
                os.environ["AGENT_RUNTIME_HOME"] = saved_home
        return Result(args, code, stdout.getvalue(), stderr.getvalue())

    def ok(self, *args: str, **kwargs: Any) -> Result:
        """Run a command that must succeed."""
        result = self(*args, **kwargs)
        assert result.returncode == 0, str(result)
        return result

    def fails(self, *args: str, code: int | None = None, **kwargs: Any) -> Result:
        """Run a command that must fail (with exit ``code``, when given) with an
        ``error: ...`` line on stderr, no traceback and nothing on stdout."""
        result = self(*args, **kwargs)
        if code is None:
            assert result.returncode != 0, str(result)
        else:
            assert result.returncode == code, str(result)
        assert "Traceback" not in result.stderr, str(result)
        assert "error: " in result.stderr, str(result)
        assert result.stdout == "", str(result)
        return result

    def status(self, *args: str) -> dict[str, Any]:
        """``status --format json`` (with ``args``), parsed."""
        return self.ok("status", "--format", "json", *args).json()

    def status_yaml(self, *args: str) -> dict[str, Any]:
        return yaml.safe_load(self.ok("status", "--format", "yaml", *args).stdout)


class Running:
    """A long-running command (``agent-runtime run ...``) with its stderr read
    line by line, each read with a deadline."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.args = args
        self.process = subprocess.Popen(
            [sys.executable, "-m", "agent_runtime", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
        )
        self.lines: list[str] = []
        self.stdout = ""
        self._partial = b""
        self._eof = False

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def read_until(self, text: str, timeout: float = DEADLINE) -> int:
        """Read stderr until a line holds ``text``; return that line's index.
        Fail if the deadline passes or stderr ends first."""
        deadline = time.monotonic() + timeout
        checked = 0
        while True:
            for i in range(checked, len(self.lines)):
                if text in self.lines[i]:
                    return i
            checked = len(self.lines)
            if self._eof:
                raise AssertionError(f"the log ended without {text!r}:\n{self.log}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"waited {timeout:g} s for {text!r}:\n{self.log}")
            self._read(remaining)

    def finish(self, timeout: float = DEADLINE) -> int:
        """Read stderr to its end, wait for the exit; return the exit code."""
        deadline = time.monotonic() + timeout
        while not self._eof:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"waited {timeout:g} s for the command to end:\n{self.log}")
            self._read(remaining)
        returncode = self.process.wait(max(deadline - time.monotonic(), 0.1))
        self.stdout = self.process.stdout.read().decode()
        return returncode

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def _read(self, timeout: float) -> None:
        fd = self.process.stderr.fileno()
        readable, _, _ = select.select([fd], [], [], timeout)
        if not readable:
            return
        chunk = os.read(fd, 65536)
        if not chunk:
            self._eof = True
            chunk, self._partial = self._partial, b""
            if chunk:
                self.lines.append(chunk.decode(errors="replace"))
            return
        *complete, self._partial = (self._partial + chunk).split(b"\n")
        self.lines.extend(line.decode(errors="replace") for line in complete)

    def close(self) -> None:
        """Kill the command if it still runs, and release its pipes."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(DEADLINE)
        self.process.stdout.close()
        self.process.stderr.close()


def write_module(directory: Path, name: str, source: str) -> Path:
    """Write the Python module ``name`` (dedented ``source``) into ``directory``."""
    path = directory / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


def write_charm(
    directory: Path,
    metadata: dict[str, Any] | None,
    options: dict[str, Any] | None = None,
) -> Path:
    """Make a charm directory: ``metadata.yaml`` (none when ``metadata`` is
    None), ``config.yaml`` with ``options`` (when given) and an empty ``hooks/``."""
    directory.mkdir(parents=True)
    (directory / "hooks").mkdir()
    if metadata is not None:
        (directory / "metadata.yaml").write_text(yaml.safe_dump(metadata))
    if options is not None:
        (directory / "config.yaml").write_text(yaml.safe_dump({"options": options}))
    return directory


#: A charm with an option of each type (one without a default) and endpoints
#: of three interfaces.
WORDPRESS_METADATA = {
    "name": "wordpress",
    "requires": {"db": {"interface": "mysql"}, "cache": "memcache"},
    "provides": {"website": {"interface": "http"}},
}
WORDPRESS_OPTIONS = {
    "title": {"type": "string", "default": "My blog", "description": "the blog's title"},
    "port": {"type": "int", "default": 80},
    "ratio": {"type": "float", "default": 0.5},
    "debug": {"type": "boolean", "default": False},
    "tagline": {"type": "string"},
}
MYSQL_METADATA = {
    "name": "mysql",
    "provides": {"server": {"interface": "mysql"}},
    "peers": {"cluster": {"interface": "mysql-ha"}},
}
#: Provides "cache", but on another interface than wordpress's "cache".
REDIS_METADATA = {"name": "redis", "provides": {"cache": {"interface": "redis"}}}


def write_charms(directory: Path) -> dict[str, Path]:
    """The charms the operator tests deploy, by name."""
    return {
        "wordpress": write_charm(directory / "wordpress", WORDPRESS_METADATA, WORDPRESS_OPTIONS),
        "mysql": write_charm(directory / "mysql", MYSQL_METADATA),
        "redis": write_charm(directory / "redis", REDIS_METADATA, {}),
    }
