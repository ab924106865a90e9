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
    "IContext",
    "IContextRelation",
    "IEngine",
    "IEnviron",
    "IEnvironConfigGetter",
    "IEnvironProvider",
    "IHookContext",
    "IHookObserver",
    "IHookQueue",
    "IManifold",
    "INotifyWatchHandler",
    "INotifyWatcher",
    "IPresenceStore",
    "IRelationSettings",
    "IRelationUnitsWatcher",
    "IReporter",
    "IRestartPolicy",
    "IRunner",
    "IRunnerObserver",
    "IStore",
    "IStoreSubscription",
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

    def start_worker(id, start, policy=None):
        """Start a worker under ``id`` by calling ``start()``, which returns an
        IWorker. Returns at once; the start happens on another greenlet.

        ``policy`` (an ``IRestartPolicy``) says how ``id`` is restarted after
        a non-fatal error; None means the runner's default policy.

        A request for an id that is running or waiting to restart is ignored
        (its policy too). A request for an id that is stopping replaces its
        start function and policy, which apply as soon as the old instance has
        stopped, with a fresh count of failures.

        Raises ``TypeError``/``ValueError`` for a bad id, a start that is not
        callable or a policy that is not an ``IRestartPolicy`` (nothing is
        started), and ``RunnerDead`` once the runner has stopped.
        """

    def stop_worker(id):
        """Ask the worker ``id`` to stop and forget it once it has stopped; a
        pending restart of ``id`` is cancelled. Returns at once; an unknown id
        is ignored. Raises ``RunnerDead`` once the runner has stopped."""


class IReporter(Interface):
    """A worker that can say what it is doing, for operators."""

    def report():
        """Return a JSON-able dict describing the worker's state. Must not
        block for long (it may wait for the worker's own loop to answer)."""


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

    def gave_up(runner, id, error):
        """Worker ``id`` stopped with the non-fatal ``error`` and its restart
        policy's ``should_restart(error)`` said no: it is forgotten, as if it
        had finished, and the other workers go on."""

    def fatal(runner, id, error):
        """Worker ``id`` stopped with a fatal error (or, with a
        ``RestartIntensityExceeded`` error, failed more often than its restart
        policy allows); the runner is stopping."""


class IRestartPolicy(Interface):
    """How a Runner restarts one worker id after a non-fatal error.

    The runner consults it on its loop greenlet, after ``is_fatal`` said the
    error is not fatal: first ``should_restart(error)``, then the intensity
    (``max_restarts`` within ``period``), then ``restart_delay`` for the wait.
    All times are on the runner's ``IClock``. A method that raises is a bug
    of the policy: it is logged and the worker's error is treated as fatal.
    """

    reset_after = Attribute(
        """Seconds an instance must run before it fails for the failures
        before it to be forgotten (the consecutive-failure count starts again
        from 1); None: never forgotten."""
    )
    max_restarts = Attribute(
        """The restart intensity: at most this many restarts (an int >= 0)
        within ``period`` seconds; the failure that would need one more is
        fatal (``RestartIntensityExceeded``). None: no limit."""
    )
    period = Attribute(
        """Seconds of the intensity's window (a restart at time t counts while
        now - t < period); None when ``max_restarts`` is None."""
    )

    def should_restart(error):
        """Whether to restart after the non-fatal ``error``; False: the worker
        is forgotten as if it had finished (observers get ``gave_up``)."""

    def restart_delay(failures):
        """Seconds to wait before the restart that follows ``failures``
        consecutive failures (>= 1), or None for the runner's own restart
        delay (``restart_delay``, else ``agent_runtime.worker.RESTART_DELAY``)."""


# -- the dependency engine (agent_runtime.worker.dependency) -------------------------


class IManifold(Interface):
    """How a dependency engine runs one worker: what it needs, how to start
    it, and what it offers the manifolds that need it (juju's
    ``dependency.Manifold``)."""

    inputs = Attribute(
        "A tuple of the names (str) of the manifolds this one may use; the "
        "engine bounces this manifold's worker whenever one of them starts or "
        "stops. Names not installed yet are allowed."
    )
    start = Attribute(
        "``start(context) -> IWorker``: start the worker, reading inputs through "
        "``context`` (an ``IContext``) and only while it runs. Raising "
        "``Missing`` (what ``context.get`` raises) leaves the manifold stopped "
        "until an input changes; any other exception is the worker's error."
    )
    output = Attribute(
        "None, or ``output(worker, kind) -> resource``: give a dependent the "
        "resource of ``kind`` (a class or a zope interface) that the running "
        "``worker`` offers; raise ``Missing`` when it offers none of that kind."
    )
    filter = Attribute(
        "None, or ``filter(error) -> error | None``: translate the error of the "
        "worker or of ``start`` (e.g. into ``Bounce`` or ``Uninstall``) before the "
        "engine reacts to it; None means a clean stop. Never called for a clean stop."
    )


class IContext(Interface):
    """What a manifold's start function sees of its inputs (juju's
    ``dependency.Context``/``Getter``).

    It is a snapshot taken when the start began: an input that starts or
    stops later does not change what it returns (the engine bounces the
    worker instead). It is valid only until the start function returns.
    """

    name = Attribute("The name of the manifold being started (str).")
    abort = Attribute(
        "A gevent Event set when the engine no longer wants the worker being "
        "started (an input changed, or the engine is stopping). A start "
        "function that blocks may wait on it and give up; whatever it then "
        "returns or raises is discarded."
    )

    def get(name, kind=None):
        """Return the resource of ``kind`` offered by input ``name``.

        With ``kind`` None, only check that the input is running and return
        None. Raise ``Missing`` when ``name`` is not among the manifold's
        inputs, is not running, offers no output, or its output has nothing of
        ``kind``; ``TypeError`` when the output returned something that is not
        of ``kind``; ``ExpiredContext`` once the start function has returned.
        """


class IEngine(IWorker):
    """A dependency engine: runs one worker per installed manifold, starting
    each when it is installed, restarting it by the rules of its stop, and
    bouncing the workers that need it whenever it starts or stops (juju's
    ``dependency.Engine``).

    ``kill()`` stops every worker; ``wait()`` then returns None, or raises the
    worst fatal error (chosen by the engine's ``worst_error``, passed through
    its ``filter``), or an error of the engine itself.
    """

    def install(name, manifold):
        """Install ``manifold`` (an ``IManifold``) under ``name`` and start its
        worker at once. Block until the engine has accepted or refused it.

        Raise ``ValueError`` when ``name`` is installed already,
        ``DependencyCycle`` (a ``ValueError`` naming the cycle) when its inputs
        would make the graph cyclic, ``TypeError``/``ValueError`` for a bad
        name or manifold, and ``ShuttingDown`` once the engine is stopping.
        """


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


class IHookQueue(IWorker):
    """A source of the hooks to run for one relation (a hook queue).

    It stops by itself once it has nothing more to give (a dying queue, after
    ``relation-broken``); ``wait()`` then returns None.
    """

    due = Attribute(
        "A gevent Event set when a hook may be due (or the queue stopped): a "
        "consumer of several queues waits on their ``due`` events, then calls "
        "``get(timeout=0)`` on each, which clears it when nothing is due."
    )

    def get(timeout=None):
        """Block until a hook is due, then return it (a ``hook.Info``) and
        count it as sent. What it returns reflects every change that reached
        the queue before the call. Return None when ``timeout`` seconds (None:
        no limit) passed first, and at once after the queue has stopped."""


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


class IEnvironProvider(Interface):
    """A kind of environment: what opens the environments of one config ``type``.

    Registered under its type with ``environs.register_provider(type,
    provider)``, or declared by an installed distribution in the entry-point
    group ``agent_runtime.providers``. ``environs.new(config)`` calls
    ``validate`` then ``open``.
    """

    def validate(config):
        """Check what this provider needs of ``config`` (an ``environs.Config``
        of its type, whose common attributes are already valid); raise
        ``environs.ConfigError`` naming the attribute when it is not valid."""

    def open(config):
        """Return the ``IEnviron`` for the valid ``config``; raise
        ``environs.EnvironError`` when it cannot be opened."""


class IStoreSubscription(Interface):
    """What ``IStore.watch`` returns: the link between paths and a callback."""

    def update(paths):
        """Watch these paths from now on, instead of the earlier ones."""

    def cancel():
        """Stop watching. The callbacks are not called after this returns."""


class IStore(Interface):
    """A tree of versioned JSON nodes: the storage under the State.

    Paths look like ``/services/wordpress/units/0``. Every node holds a JSON
    value (``data``) and a ``version`` that starts at 0 when the node is created
    and grows by one on every write of its data. This is ZooKeeper's model,
    so that every backend (memory, SQLite, ZooKeeper) can provide it.
    """

    def get(path):
        """Return the node at ``path`` as ``Node(data, version)``, or None if
        there is none."""

    def children(path):
        """Return the sorted names of the children of ``path`` ([] if none or
        if the node does not exist)."""

    def commit(ops):
        """Apply ``ops`` (``Create``, ``Set``, ``Delete``, ``Check``) all or none.

        Raises ``Conflict`` naming the first op that could not apply (a node
        exists, is missing, has another version, or has children), leaving the
        store unchanged. Writers and watchers never see half of a commit.
        """

    def watch(paths, on_change, on_error):
        """Call ``on_change()`` some time after the data or the children of any
        of ``paths`` changed, in this process or another, and ``on_error(error)``
        once if the store can no longer tell (the store was closed, the backend
        failed, a session was lost). Calls may be spurious and are coalesced;
        none is lost. The callbacks must not block. Returns an
        ``IStoreSubscription``."""

    def close():
        """Release the store: its watches fail with an error, later calls raise."""


class IPresenceStore(IStore):
    """A store that can tell whether a process is alive by itself (ZooKeeper's
    ephemeral nodes)."""

    def hold(path, data):
        """Create ``path`` holding ``data`` for as long as this store's session
        lives, and return an ``IWorker`` that holds it: ``kill()`` deletes the
        node; the worker fails with an error when the session is lost (the
        node went with it)."""


# -- the hook tools (agent_runtime.uniter.jujuc) ------------------------------------


class IRelationSettings(Interface):
    """The local unit's own settings in one relation, as the running hook sees
    them (Go's ``jujuc.Settings``): a mapping of str keys to str values.

    Writes (``set``, ``delete``) are kept in the hook context and are not
    applied to the shared state when they are made: the unit agent applies
    them after the hook exits 0 and drops them when it fails (pyjuju's "flush
    on success"). ``map()`` reflects this hook's own writes at once.
    """

    def map():
        """Return a copy of the settings: a dict of str to str."""

    def set(key, value):
        """Set ``key`` (a non-empty str) to ``value`` (a non-empty str)."""

    def delete(key):
        """Remove ``key``; removing a key that is absent does nothing."""


class IContextRelation(Interface):
    """One relation the unit takes part in, as seen by the running hook (Go's
    ``jujuc.ContextRelation``).

    Reads are cached for the whole hook. A method that fails raises an
    exception whose message (``str(error)``, or the sole argument of a
    ``KeyError``) the hook tool prints after ``error: ``.
    """

    def id():
        """The relation's id, an int >= 0."""

    def name():
        """The name of the local endpoint of the relation, e.g. ``db``."""

    def fake_id():
        """``"<name>:<id>"``, e.g. ``db:3``: what the hook tools print and what
        ``JUJU_RELATION_ID`` holds."""

    def settings():
        """Return the local unit's own settings in this relation, an
        ``IRelationSettings`` the hook may change (see there for when changes
        are applied)."""

    def unit_names():
        """Return the sorted names of the remote units in the relation (a list
        of str, empty when there are none)."""

    def read_settings(unit_name):
        """Return the settings of any unit in the relation as a new dict of str
        to str. Raises (e.g. ``LookupError("unknown unit bad/0")``) when the
        unit's settings cannot be read."""


class IHookContext(Interface):
    """What the hook tools see of the unit agent while one hook runs (Go's
    ``jujuc.Context``; the unit agent provides it, tests use a fake).

    The hook-tool server calls it on its own greenlets, one request at a time
    per context, so an implementation is never used by two hook-tool calls at
    once; a method may block its greenlet (cooperatively) but not the hub.
    Values read are cached for the hook. Writes (relation settings, ports) are
    held by the context and applied by the unit agent only when the hook
    succeeds (exits 0); the unit agent's commit is not part of this contract.
    A method that fails raises an exception whose message (``str(error)``, or
    the sole argument of a ``KeyError``) the hook tool prints after ``error: ``.
    """

    def unit_name():
        """The name of the local unit, e.g. ``wordpress/0``."""

    def public_address():
        """The unit's public address (str), or None when it has none."""

    def private_address():
        """The unit's private address (str), or None when it has none."""

    def open_port(protocol, port):
        """Ask for ``port`` (int, 1..65535) with ``protocol`` (``"tcp"`` or
        ``"udp"``, lowercase) to be opened when the hook succeeds. Opening a
        port that is open already is not an error."""

    def close_port(protocol, port):
        """Ask for ``port``/``protocol`` to be closed when the hook succeeds.
        Closing a port that is not open is not an error."""

    def config_settings():
        """Return the service's configuration as a new dict: option name to its
        value (str, int, float or bool) or None when the option has neither a
        value nor a default."""

    def hook_relation():
        """The ``IContextRelation`` of the running relation hook, or None when
        the hook is not a relation hook."""

    def remote_unit_name():
        """The remote unit of the running relation hook (str), or None for
        other hooks and for relation-broken."""

    def relation(id):
        """The ``IContextRelation`` with the int ``id``, or None when the unit
        takes no part in such a relation."""

    def relation_ids():
        """The ids (ints) of every relation the unit takes part in, in any
        order."""

    def owner_tag():
        """The tag of the service's owner, e.g. ``user-admin``."""


class IHookObserver(Interface):
    """What a unit agent tells about the hooks it runs (for metrics).

    The uniter calls it on its own greenlet once per hook that ran, after the
    hook's process has ended (a hook the charm does not implement is skipped
    and not reported). It must not block; an observer that raises is logged
    and never breaks the uniter.
    """

    def hook_ran(unit, kind, seconds, error):
        """``unit``'s hook of ``kind`` (a hook kind, e.g. ``"install"`` or
        ``"relation-changed"``) ran for ``seconds`` (float, wall time);
        ``error`` is None when it exited 0, else what ended it: a ``HookFailed``
        (it could not run or exited non-zero) or the exception that
        interrupted it (``GreenletExit`` when its agent stopped it)."""
