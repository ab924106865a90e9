"""The environment helpers (juju's ``worker/environ.go``): ``wait_for_environ``
and ``EnvironObserver``.

Both read the environment config from a getter (``IEnvironConfigGetter``,
e.g. a State) whenever a watcher says it may have changed, and turn it into an
``IEnviron`` with ``environs.new``. A config that is not valid is logged and
skipped: a waiter keeps waiting, an observer keeps the Environ it had.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

from gevent.local import local
from zope.interface import implementer

from agent_runtime import environs
from agent_runtime.errors import Dying, WatcherStopped
from agent_runtime.interfaces import IAbortableWorker
from agent_runtime.worker.base import GreenletWorker, Interrupted, Interruptible

__all__ = ["EnvironObserver", "wait_for_environ"]

log = logging.getLogger("agent_runtime.worker")


def _stopped_error(watcher: Any) -> BaseException:
    """Why a watcher's changes ended: its error, or one saying it had none
    (the reference's ``MustErr``, as an error instead of a panic)."""
    return watcher.err() or WatcherStopped(f"{watcher!r} stopped sending changes without an error")


def wait_for_environ(
    watcher: Any,
    getter: Any,
    dying: Any,
    on_invalid: Callable[[environs.EnvironError], None] | None = None,
) -> Any:
    """Wait for a valid environment config and return its ``IEnviron``.

    On every event of ``watcher.changes()`` (an ``INotifyWatcher`` of the
    config; its initial event counts) it reads ``getter.environ_config()`` and
    calls ``environs.new``:

    * a valid config: its Environ is returned;
    * an invalid one: logged at ERROR on ``agent_runtime.worker`` ("loaded
      invalid environment configuration: ..."), ``on_invalid(error)`` is
      called (on this greenlet; what it raises propagates), and the wait goes
      on;
    * a read that fails: its error is raised at once (no retry).

    ``dying`` is a gevent ``Event`` or None (never fires). When it is set,
    ``agent_runtime.Dying`` is raised. It interrupts only the wait for the
    next event: a read, ``environs.new`` or ``on_invalid`` in progress runs to
    its end (a valid Environ read meanwhile is still returned). A watcher whose
    changes end raises its ``err()``, or ``WatcherStopped`` if it has none.
    The watcher is not stopped; that is the caller's job.
    """
    if dying is not None and not (
        callable(getattr(dying, "rawlink", None)) and callable(getattr(dying, "is_set", None))
    ):
        raise TypeError(f"dying must be a gevent Event or None, not {dying!r}")
    changes = iter(watcher.changes())
    next_change = Interruptible()

    def on_dying(_event: Any) -> None:
        next_change.interrupt()

    if dying is not None:
        dying.rawlink(on_dying)
    try:
        while True:
            if dying is not None and dying.is_set():
                raise Dying()
            try:
                next_change.run(next, changes)
            except Interrupted:
                raise Dying() from None
            except StopIteration:
                raise _stopped_error(watcher) from None
            config = getter.environ_config()
            try:
                return environs.new(config)
            except environs.EnvironError as error:
                log.error("loaded invalid environment configuration: %s", error)
                if on_invalid is not None:
                    on_invalid(error)
    finally:
        if dying is not None:
            dying.unlink(on_dying)


class _Pins(local):
    """One greenlet's pin on an observer: the Environ it keeps, and how many
    ``pinned()`` blocks it is in."""

    def __init__(self) -> None:
        self.depth = 0
        self.environ: Any = None


@implementer(IAbortableWorker)
class EnvironObserver(GreenletWorker):
    """Keeps the newest valid Environ of a state (juju's ``EnvironObserver``).

    ``EnvironObserver(state)`` works synchronously before it returns: it
    reads ``state.environ_config()`` (an error is raised as is), makes the
    Environ (an invalid config raises ``environs.EnvironError("cannot make
    Environ: ...")``) and opens ``state.watch_environ_config()``. Then a
    greenlet re-reads the config on every event of that watcher:

    * a read that fails is logged at WARNING ("error reading environment
      config: ...") and the observer goes on;
    * an invalid config is logged at WARNING ("error creating Environ: ...")
      and the previous Environ is kept;
    * a valid one becomes the newest Environ (unless it equals the config of
      the current one, which is then kept: a spurious event opens nothing).

    ``kill()`` interrupts only the wait for the next event. When the observer
    stops, the watcher is stopped; ``wait()`` raises the error stopping it
    raised, if any, else the error that ended the loop (the watcher's, when its
    changes ended although nobody killed the observer), else returns None.

    ``environ()`` returns the newest valid Environ, never None. Inside ``with
    observer.pinned():`` a greenlet keeps the Environ it read on entering the
    block, so a unit of work sees one consistent environment.
    """

    def __init__(self, state: Any) -> None:
        for method in ("environ_config", "watch_environ_config"):
            if not callable(getattr(state, method, None)):
                raise TypeError(f"EnvironObserver needs a state with {method}(), not {state!r}")
        config = state.environ_config()
        try:
            environ = environs.new(config)
        except environs.EnvironError as error:
            raise environs.EnvironError(f"cannot make Environ: {error}") from error
        watcher = state.watch_environ_config()
        super().__init__()
        self._state = state
        self._watcher = watcher
        self._environ = environ
        self._config = config  # what self._environ was made from
        self._pins = _Pins()
        self._next_change = Interruptible()
        self._start()

    # -- what users call ----------------------------------------------------------

    def environ(self) -> Any:
        """The newest valid Environ; inside ``pinned()``, the one this greenlet
        pinned."""
        pins = self._pins
        if pins.depth:
            return pins.environ
        return self._environ

    @contextlib.contextmanager
    def pinned(self) -> Iterator[Any]:
        """Pin this greenlet's view for the block: ``environ()`` returns, and
        the block gets (``with observer.pinned() as environ:``), the Environ
        that was the newest on entering, even if a newer one arrives meanwhile.
        A nested ``pinned()`` keeps the outer pin. After the outermost block,
        ``environ()`` returns the newest again.

        The pin belongs to the greenlet (a ``gevent.local``): other greenlets
        are not pinned, and a greenlet spawned inside the block is not pinned
        either (gevent.local is not inherited); pass it the Environ, or let it
        enter its own ``pinned()``.
        """
        pins = self._pins
        if pins.depth == 0:
            pins.environ = self._environ
        pins.depth += 1
        try:
            yield pins.environ
        finally:
            pins.depth -= 1
            if pins.depth == 0:
                pins.environ = None

    def kill(self) -> None:
        self.dying.set()
        self._next_change.interrupt()

    # -- the loop -------------------------------------------------------------------

    def _run(self) -> None:
        loop_error: BaseException | None = None
        try:
            loop_error = self._loop()
        finally:
            try:
                self._watcher.stop()
                stop_error = None
            except Exception as error:
                stop_error = error
        # The reference's order: the watcher's stop error first.
        for error in (stop_error, loop_error):
            if error is not None:
                raise error

    def _loop(self) -> BaseException | None:
        watcher = self._watcher
        try:
            changes = iter(watcher.changes())
        except Exception as error:
            return error
        dying = self.dying
        next_change = self._next_change
        while not dying.is_set():
            try:
                next_change.run(next, changes)
            except Interrupted:
                return None
            except StopIteration:
                return None if dying.is_set() else _stopped_error(watcher)
            except Exception as error:
                return error
            try:
                config = self._state.environ_config()
            except Exception as error:
                log.warning("error reading environment config: %s", error)
                continue
            if config == self._config:
                continue  # the Environ we have was made from this very config
            try:
                environ = environs.new(config)
            except environs.EnvironError as error:
                log.warning("error creating Environ: %s", error)
                continue
            self._environ, self._config = environ, config
        return None

    def __repr__(self) -> str:
        return f"{super().__repr__()[:-1]} environ={self._environ!r}>"
