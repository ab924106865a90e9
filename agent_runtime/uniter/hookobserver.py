"""Telling an ``IHookObserver`` about each hook the uniter runs.

``observed(observer, unit, kind)`` is a context manager around one run of a
hook: it times the block and, when the block ends, calls
``observer.hook_ran(unit, kind, seconds, error)`` — unless the block set
``ran = False`` on what it yielded (the charm does not implement the hook: it
was skipped, not run). The block's exception, if any, goes on unchanged; an
observer that raises is logged and never changes what the uniter does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from agent_runtime.interfaces import IHookObserver

__all__ = ["HookRun", "observed"]

log = logging.getLogger("agent_runtime.uniter")


class HookRun:
    """What the block tells ``observed``: ``ran`` (True unless it says otherwise)."""

    __slots__ = ("ran",)

    def __init__(self) -> None:
        self.ran = True


@contextmanager
def observed(observer: IHookObserver | None, unit: str, kind: str) -> Iterator[HookRun]:
    """Time the block (one hook run) and report it to ``observer`` (None:
    nothing is timed or reported). See the module docstring."""
    run = HookRun()
    if observer is None:
        yield run
        return
    started = time.monotonic()
    try:
        yield run
    except BaseException as error:
        _tell(observer, unit, kind, time.monotonic() - started, error)
        raise
    if run.ran:
        _tell(observer, unit, kind, time.monotonic() - started, None)


def _tell(
    observer: IHookObserver, unit: str, kind: str, seconds: float, error: BaseException | None
) -> None:
    try:
        observer.hook_ran(unit, str(kind), seconds, error)
    except Exception:
        log.exception("hook observer %r failed on the %s hook of %s", observer, kind, unit)
