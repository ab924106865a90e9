"""A fresh Python process that does the supervised work of ``_workloads`` on
request, so that it runs unpatched (asyncio on its own selector, even when the
benchmark process is monkey-patched) and on a heap of its own.

    with Child() as child:
        child.call("run", kind="mode", n=1000, k=1)    # {"running": s, "total": s, "cpu": s}

``run`` does the work and returns its :class:`~benchmarks._workloads.Phases`
as a dict (the first run of each kind follows an untimed one on 100 workers,
which loads its code paths). ``memory`` is the last request a child serves: it warms the code
paths up on 100 workers, then does the work on ``n`` and, once they all run,
answers with the growth of the process's resident set (``rss``: bytes, read
from ``/proc/self/statm`` after ``gc.collect()``) and exits at once, without
stopping them. The child exits when its standard input closes (its parent
went away).
"""

from __future__ import annotations

import gc
import json
import os
import select
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["Child", "memory", "memory_note", "resident_bytes", "serve"]

_REPO = Path(__file__).resolve().parent.parent
#: How long one request may take before the child is taken for hung (the
#: largest, 100,000 workers in a Runner, takes well under a minute).
PATIENCE = 600.0
#: Workers of the untimed run that loads every code path before a measurement.
WARM = 100


def resident_bytes() -> int:
    """The resident set size of this process, in bytes (Linux)."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _answer(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document) + "\n")
    sys.stdout.flush()


def _memory(kind: str, n: int, k: int) -> None:
    from benchmarks._workloads import run_kind

    run_kind(kind, min(n, WARM), k)
    gc.collect()
    before = resident_bytes()

    def at_running() -> None:
        gc.collect()
        _answer({"rss": resident_bytes() - before})
        os._exit(0)  # the measurement is done: no need to stop them

    run_kind(kind, n, k, at_running)
    raise RuntimeError("the work ended without ever having all its workers running")


def serve() -> None:
    """Answer requests (JSON lines on stdin) until stdin closes."""
    from benchmarks import _workloads

    _answer({"ready": True})
    warmed: set[str] = set()
    for line in sys.stdin:
        request = json.loads(line)
        op = request.pop("op")
        try:
            if op == "run":
                if request["kind"] not in warmed:  # load its code paths, untimed
                    _workloads.run_kind(request["kind"], min(request["n"], WARM), request["k"])
                    warmed.add(request["kind"])
                gc.collect()  # the garbage of the previous run is not this one's cost
                _answer(_workloads.run_kind(**request)._asdict())
            elif op == "memory":
                _memory(**request)
            else:
                raise ValueError(f"unknown request {op!r}")
        except Exception as error:
            _answer({"error": f"{type(error).__name__}: {error}"})


class Child:
    """The parent's side: start the child, send it requests, stop it."""

    def __init__(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_REPO), env.get("PYTHONPATH")]))
        self._process = subprocess.Popen(
            [sys.executable, "-c", "from benchmarks._child import serve; serve()"],
            cwd=str(_REPO),
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._receive("start")

    def _receive(self, what: str, timeout: float = PATIENCE) -> dict[str, Any]:
        # The child writes one line per request, so nothing is left buffered
        # between two answers: select() on the pipe sees each one coming.
        ready, _, _ = select.select([self._process.stdout], [], [], timeout)
        if not ready:
            self._process.kill()
            raise RuntimeError(f"the benchmark child process gave no {what} within {timeout:g} s")
        line = self._process.stdout.readline()  # type: ignore[union-attr]
        if not line:
            code = self._process.wait(timeout=PATIENCE)
            raise RuntimeError(f"the benchmark child process exited ({code}) before its {what}")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"the benchmark child process failed: {answer['error']}")
        return answer

    def call(self, op: str, timeout: float = PATIENCE, **arguments: Any) -> dict[str, Any]:
        """Send one request; return the child's answer (raise its error, or
        ``RuntimeError`` when none came within ``timeout`` seconds)."""
        self._process.stdin.write(json.dumps({"op": op, **arguments}) + "\n")  # type: ignore[union-attr]
        self._process.stdin.flush()  # type: ignore[union-attr]
        return self._receive(f"answer to {op!r}", timeout)

    def close(self) -> None:
        """Close its stdin (it exits by itself), then make sure it is gone."""
        try:
            self._process.stdin.close()  # type: ignore[union-attr]
            self._process.wait(timeout=PATIENCE)
        except (OSError, subprocess.TimeoutExpired):
            pass
        finally:
            if self._process.poll() is None:
                self._process.kill()
                self._process.wait()
            self._process.stdout.close()  # type: ignore[union-attr]

    def __enter__(self) -> Child:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def memory_note(n: str) -> str:
    """How :func:`memory` measures, for the notes of a figure (``n``: how many workers)."""
    return (
        "each sample is a fresh child process: 100 workers are run and stopped (loading the "
        f"code), then {n} are started and fail once; once all run, after gc.collect(), the "
        f"growth of the resident set (/proc/self/statm, RSS: greenlet stacks and the "
        f"allocator's slack included) since before them, / {n}; then the child exits"
    )


def memory(kind: str, n: int, k: int, timeout: float = PATIENCE) -> int:
    """Bytes the resident set grew by, in a fresh child, for ``n`` workers of
    ``kind`` all running (after ``k`` failures each)."""
    with Child() as child:
        return int(child.call("memory", timeout, kind=kind, n=n, k=k)["rss"])
