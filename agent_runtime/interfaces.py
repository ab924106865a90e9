"""Every contract of agent_runtime, as zope interfaces.

The docstrings are the contract. Interface methods are written without
``self``, as zope.interface wants. Every class in agent_runtime that claims one
of these says so with ``@implementer`` and is checked with
``zope.interface.verify.verifyObject`` in the tests, and so is every fake.
"""

from __future__ import annotations

from zope.interface import Attribute, Interface

__all__ = [
    "IAbortableWorker",
    "IClock",
    "IEnviron",
    "IEnvironConfigGetter",
    "INotifyWatchHandler",
    "INotifyWatcher",
    "IRelationUnitsWatcher",
    "IRunner",
    "IRunnerObserver",
    "IStringsWatchHandler",
    "IStringsWatcher",
    "ITimer",
    "IWatcher",
    "IWorker",
]


class IWorker(Interface):
    """Something that runs until it is asked to stop or fails.

    A worker starts running when it is made; there is no start method.
    """

    def kill():
        """Ask the worker to stop. Never blocks; safe to call many times, from
        any greenlet, before or after the worker has stopped."""

    def wait():
        """Block until the worker has stopped.

        Return ``None`` when it stopped cleanly; otherwise raise the exception
        it stopped with. Every call, from any greenlet, gives the same outcome
        and raises the same exception object.
        """


class IAbortableWorker(IWorker):
    """A worker whose greenlets a supervisor can kill outright."""

    def abort():
        """Kill the worker's greenlets now, wherever they are (they receive
        ``GreenletExit``). A supervisor calls it when a worker did not stop
        within its grace period after ``kill()``. Never blocks."""


class IRunner(IWorker):
    """A supervisor of workers identified by string ids.

    It restarts a worker that stopped with an error its ``is_fatal`` predicate
    calls non-fatal, after a restart delay; it stops every worker when one stops
    with a fatal error, and ``wait()`` then raises the most important fatal
    error. A worker that stops cleanly without being asked has finished and is
    forgotten.
    """

    def start_worker(id, start):
        """Start a worker under ``id`` by calling ``start()``, which returns an
        IWorker. Returns at once; the start happens on another greenlet.

        A request for an id that is running or waiting to restart is ignored.
        A request for an id that is stopping replaces its start function, which
        runs as soon as the old instance has stopped.

        Raises ``TypeError``/``ValueError`` for a bad id or a start that is not
        callable (nothing is started), and ``RunnerDead`` once the runner has
        stopped.
        """

    def stop_worker(id):
        """Ask the worker ``id`` to stop and forget it once it has stopped; a
        pending restart of ``id`` is cancelled. Returns at once; an unknown id
        is ignored. Raises ``RunnerDead`` once the runner has stopped."""


class IRunnerObserver(Interface):
    """What a Runner tells its observers (the restart hooks).

    The Runner calls these on its own loop greenlet, in the order things
    happen. They must not block or call back into the runner's blocking
    methods; spawn a greenlet for anything slow. An observer that raises is
    logged and never breaks the runner.
    """

    def started(runner, id):
        """The start function of worker ``id`` returned a worker."""

    def exited(runner, id, error):
        """Worker ``id`` stopped, cleanly (``error`` is None) or with ``error``
        (this includes an exception raised by its start function)."""

    def restart_scheduled(runner, id, delay):
        """Worker ``id`` will be started again in ``delay`` seconds."""

    def fatal(runner, id, error):
        """Worker ``id`` stopped with a fatal error; the runner is stopping."""


class ITimer(Interface):
    """A callback scheduled on a clock."""

    deadline = Attribute("The clock time (seconds, as ``IClock.now()``) at which it fires.")

    def cancel():
        """Stop the timer if it has not fired yet. Return True if this call
        stopped it, False if it had already fired or been cancelled."""

    def pending():
        """True until the timer fires or is cancelled."""


class IClock(Interface):
    """Time, as something that can be replaced in tests.

    Everything in agent_runtime that waits for time to pass asks a clock, so
    tests can use a manual clock and finish without real waiting.
    """

    def now():
        """The current time in seconds, monotonic (not wall-clock time)."""

    def sleep(seconds):
        """Block the calling greenlet for ``seconds``; other greenlets run.
        ``sleep(0)`` yields once. Interruptible like ``gevent.sleep``."""

    def call_later(seconds, callback, *args):
        """Call ``callback(*args)`` once, ``seconds`` from now, and return an
        ITimer that can cancel it.

        The callback must not block or switch greenlets (it may run in the gevent
        hub); to do slow work, spawn a greenlet or put into a queue. An exception
        it raises is logged.
        """


class IWatcher(IWorker):
    """A source of change events, read by one consumer.

    It sends one event as soon as it starts (the initial state), then one per
    change; events not yet read are coalesced.
    """

    def changes():
        """Return the iterable of events.

        Iterating blocks until the next event and ends when the watcher has
        stopped. An iteration interrupted while it blocks (by a ``gevent.Timeout``
        or a kill) loses nothing and may be resumed.
        """

    def stop():
        """Stop the watcher and wait for it: ``kill()`` then ``wait()``. Returns
        None, or raises the error the watcher stopped with."""

    def err():
        """The error the watcher stopped with; None while it runs or when it
        stopped cleanly."""


class INotifyWatcher(IWatcher):
    """A watcher whose events say only "something changed": each is ``None``.
    At most one unread event is held."""


class IStringsWatcher(IWatcher):
    """A watcher whose events are lists of ids (str) that changed. Unread
    events are merged: ids keep their first-seen order and appear once."""


class IRelationUnitsWatcher(IWatcher):
    """A watcher of the units in scope of one relation, as one unit sees them.

    Its events are ``RelationUnitsChange(changed={unit: settings version},
    departed=[unit, ...])``. The first event holds every unit in scope. Unread
    events are merged: a unit's latest version wins; a departure cancels a
    pending change; a unit that joined and departed before the consumer read
    either is not mentioned at all; ``departed`` only ever names units an
    earlier event reported as changed.
    """


class INotifyWatchHandler(Interface):
    """The behaviour a NotifyWorker runs."""

    def set_up():
        """Return the INotifyWatcher to follow. If it raises, the worker stops
        with that error and ``tear_down`` is not called."""

    def tear_down():
        """Release what ``set_up`` acquired. Called once, after the watcher was
        stopped, when the worker stops for any reason (unless set_up failed)."""

    def handle():
        """React to a change. An exception stops the worker with that error.
        ``kill()`` does not interrupt it; the worker stops after it returns."""


class IStringsWatchHandler(Interface):
    """The behaviour a StringsWorker runs."""

    def set_up():
        """Return the IStringsWatcher to follow. If it raises, the worker stops
        with that error and ``tear_down`` is not called."""

    def tear_down():
        """Release what ``set_up`` acquired. Called once, after the watcher was
        stopped, when the worker stops for any reason (unless set_up failed)."""

    def handle(changes):
        """React to a list of changed ids. An exception stops the worker with
        that error. ``kill()`` does not interrupt it."""


class IEnvironConfigGetter(Interface):
    """Something that holds the environment configuration."""

    def environ_config():
        """Return the current environment configuration as a dict (str keys)."""


class IEnviron(Interface):
    """A live environment, made from a valid configuration by ``environs.new``."""

    def name():
        """The environment's name (its config's ``name``)."""

    def config():
        """The configuration the environment was made from, as a dict."""
