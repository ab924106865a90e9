"""Every class in agent_runtime that claims an interface provides it.

``test_every_implementation_is_verified`` walks the package: a new class with
``@implementer`` and no entry in ``FACTORIES`` fails it, so no implementation
goes unverified.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
from zope.interface import implementedBy, implementer
from zope.interface.verify import verifyObject

import agent_runtime
import agent_runtime.state
from agent_runtime import errors, interfaces
from agent_runtime.agent.metrics import HookMetrics, MetricsServer, RunnerMetrics
from agent_runtime.agent.report import ReportServer
from agent_runtime.clock import RealClock
from agent_runtime.environs import Config, DummyEnviron, DummyProvider
from agent_runtime.state import State
from agent_runtime.state.backends.sqlite import SqliteStore
from agent_runtime.state.backends.zookeeper import Presence as ZooKeeperPresence
from agent_runtime.state.backends.zookeeper import ZooKeeperStore
from agent_runtime.state.presence import LocalPresence
from agent_runtime.state.store import MemoryStore
from agent_runtime.state.watchers import (
    PathWatcher,
    RelationUnitsStateWatcher,
    ServiceRelationsWatcher,
)
from agent_runtime.testing import (
    FakeNotifyWatcher,
    FakeStringsWatcher,
    ManualClock,
    check_killed,
)
from agent_runtime.uniter import jujuc, relation
from agent_runtime.uniter.context import ContextRelation, HookContext, RelationSettings
from agent_runtime.uniter.jujuc import testing as jujuc_testing
from agent_runtime.uniter.uniter import Uniter
from agent_runtime.watcher import NotifyWatcher, RelationUnitsWatcher, StringsWatcher
from agent_runtime.worker import (
    EnvironObserver,
    GreenletWorker,
    NotifyWorker,
    RestartPolicy,
    Runner,
    RunnerObserver,
    SimpleWorker,
    StringsWorker,
)
from agent_runtime.worker.base import Outcome
from agent_runtime.worker.dependency import Context as DependencyContext
from agent_runtime.worker.dependency import Engine, Manifold
from agent_runtime.worker.dependency.testing import StubContext


@implementer(interfaces.INotifyWatchHandler)
class _NotifyHandler:
    def set_up(self):
        return NotifyWatcher()

    def tear_down(self):
        pass

    def handle(self):
        pass


@implementer(interfaces.IStringsWatchHandler)
class _StringsHandler:
    def set_up(self):
        return StringsWatcher()

    def tear_down(self):
        pass

    def handle(self, changes):
        pass


class _Idle(GreenletWorker):
    def __init__(self):
        super().__init__()
        self._start()

    def _run(self):
        self.dying.wait()


def _stopping(worker):
    """Workers are verified, then stopped so that nothing outlives the test."""
    return worker, lambda: (worker.kill(), check_killed(worker))


def _environ_observer():
    """An EnvironObserver over a memory state; stopped, and its state closed, after."""
    from agent_runtime import state as state_module

    state = state_module.open("memory://")
    state.update_environ_config({"name": "n", "type": "dummy"})
    observer = EnvironObserver(state)
    return observer, lambda: (observer.kill(), check_killed(observer), state.close())


def _jujuc_server():
    """A hook-tool server on a socket in a fresh directory; stopped and removed after."""
    import os
    import shutil
    import tempfile

    base = tempfile.mkdtemp(prefix="jujuc-")
    server = jujuc.Server(os.path.join(base, "agent", "s.sock"), jujuc.ContextRegistry())
    return server, lambda: (server.kill(), check_killed(server), shutil.rmtree(base))


def _closing(thing):
    return thing, thing.close


def _sqlite_store():
    import tempfile

    directory = tempfile.mkdtemp()
    store = SqliteStore(f"{directory}/state.db")
    return store, store.close


def _state_watcher(kind):
    from charms import deploy

    state = agent_runtime.state.open("memory://")
    deploy(state)
    relation = state.add_relation("wordpress", "mysql")
    if kind == "relations":
        watcher = state.watch_service_relations("wordpress")
    else:
        watcher = state.watch_relation_units(relation.id, "wordpress/0")

    def cleanup():
        watcher.kill()
        check_killed(watcher)
        state.close()

    return watcher, cleanup


def _hook_context(kind):
    from charms import deploy

    state = agent_runtime.state.open("memory://")
    deploy(state)
    unit = state.add_unit("wordpress")
    relation = ContextRelation(state, 0, "db", unit, ["mysql/0"])
    context = HookContext(state, unit, {0: relation})
    return (relation if kind == "relation" else context), state.close


def _local_presence():
    from charms import deploy

    state = agent_runtime.state.open("memory://")
    deploy(state)
    presence = LocalPresence(state, state.add_unit("mysql"))

    def cleanup():
        presence.kill()
        check_killed(presence)
        state.close()

    return presence, cleanup


def _zookeeper(kind):
    import os
    import uuid

    from zookeeper_support import answers, remove_zookeeper_tree

    hosts = os.environ.get("AGENT_RUNTIME_ZOOKEEPER", "127.0.0.1:2181")
    if not answers(hosts):
        pytest.skip(f"no ZooKeeper server answers at {hosts}")
    chroot = f"/agent-runtime-test/{uuid.uuid4().hex}"
    store = ZooKeeperStore(hosts, chroot, timeout=5)
    thing = store if kind == "store" else store.hold("/presence/x", {"pid": 1})

    def cleanup():
        if thing is not store:
            thing.kill()
            check_killed(thing)
        store.close()
        remove_zookeeper_tree(hosts, chroot)

    return thing, cleanup


def _report_server():
    import os
    import tempfile

    directory = tempfile.mkdtemp()
    os.rmdir(directory)
    server = ReportServer(os.path.join(directory, "r.sock"), SimpleWorker(lambda stop: None))

    def cleanup():
        server.kill()
        check_killed(server)

    return server, cleanup


def _uniter():
    import tempfile

    from agent_runtime.state.charm import Charm
    from agent_runtime.uniter.jujuc.contexts import ContextRegistry
    from agent_runtime.uniter.paths import UnitPaths

    state = agent_runtime.state.open("memory://")
    state.add_service("quiet", Charm.from_metadata({"name": "quiet"}))
    unit = state.add_unit("quiet")
    paths = UnitPaths(tempfile.mkdtemp(), unit)
    paths.ensure()
    uniter = Uniter(state, unit, tempfile.mkdtemp(), paths, ContextRegistry(), paths.socket)

    def cleanup():
        uniter.kill()
        check_killed(uniter)
        state.close()

    return uniter, cleanup


def _metrics(cls, *args):
    """A metrics class made on a registry of its own (never the global one)."""
    from prometheus_client import CollectorRegistry

    return cls(*args, registry=CollectorRegistry()), None


#: class -> a function returning (instance, cleanup)
FACTORIES = {
    RealClock: lambda: (RealClock(), None),
    ManualClock: lambda: (ManualClock(), None),
    NotifyWatcher: lambda: (NotifyWatcher(), None),
    StringsWatcher: lambda: (StringsWatcher(), None),
    RelationUnitsWatcher: lambda: (RelationUnitsWatcher(), None),
    FakeNotifyWatcher: lambda: (FakeNotifyWatcher(), None),
    FakeStringsWatcher: lambda: (FakeStringsWatcher(), None),
    RunnerObserver: lambda: (RunnerObserver(), None),
    RestartPolicy: lambda: (RestartPolicy(), None),
    GreenletWorker: lambda: _stopping(_Idle()),
    SimpleWorker: lambda: _stopping(SimpleWorker(lambda stop: stop.wait())),
    NotifyWorker: lambda: _stopping(NotifyWorker(_NotifyHandler())),
    StringsWorker: lambda: _stopping(StringsWorker(_StringsHandler())),
    Runner: lambda: _stopping(Runner(lambda e: False, lambda a, b: False)),
    EnvironObserver: _environ_observer,
    DummyProvider: lambda: (DummyProvider(), None),
    DummyEnviron: lambda: (DummyEnviron(Config({"name": "n", "type": "dummy"})), None),
    relation.AliveHookQueue: lambda: _stopping(
        relation.AliveHookQueue(relation.State(1), RelationUnitsWatcher())
    ),
    relation.DyingHookQueue: lambda: _stopping(relation.DyingHookQueue(relation.State(1))),
    jujuc.Server: _jujuc_server,
    State: lambda: _closing(agent_runtime.state.open("memory://")),
    MemoryStore: lambda: _closing(MemoryStore()),
    SqliteStore: _sqlite_store,
    PathWatcher: lambda: _stopping(PathWatcher(MemoryStore(), ["/x"])),
    ServiceRelationsWatcher: lambda: _state_watcher("relations"),
    RelationUnitsStateWatcher: lambda: _state_watcher("units"),
    RelationSettings: lambda: (RelationSettings({"a": "b"}), None),
    ContextRelation: lambda: _hook_context("relation"),
    HookContext: lambda: _hook_context("context"),
    Uniter: _uniter,
    ReportServer: _report_server,
    LocalPresence: _local_presence,
    ZooKeeperStore: lambda: _zookeeper("store"),
    ZooKeeperPresence: lambda: _zookeeper("presence"),
    jujuc_testing.FakeHookContext: lambda: (jujuc_testing.FakeHookContext(), None),
    jujuc_testing.FakeContextRelation: lambda: (jujuc_testing.FakeContextRelation(0, "db"), None),
    jujuc_testing.FakeRelationSettings: lambda: (jujuc_testing.FakeRelationSettings(), None),
    RunnerMetrics: lambda: _metrics(RunnerMetrics),
    HookMetrics: lambda: _metrics(HookMetrics),
    MetricsServer: lambda: _stopping(_metrics(MetricsServer, 0, "127.0.0.1")[0]),
    Engine: lambda: _stopping(Engine(lambda error: False, lambda error, worst: worst)),
    Manifold: lambda: (Manifold(["x"], lambda context: None), None),
    DependencyContext: lambda: (DependencyContext("x", {}), None),
    StubContext: lambda: (StubContext(), None),
}


def _timer(clock):
    timer = clock.call_later(60, lambda: None)
    return timer, timer.cancel


TIMER_FACTORIES = {
    "RealClock": lambda: _timer(RealClock()),
    "ManualClock": lambda: _timer(ManualClock()),
}


def _implementations():
    found = set()
    for info in pkgutil.walk_packages(agent_runtime.__path__, "agent_runtime."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__ or cls.__name__.startswith("_"):
                continue
            if list(implementedBy(cls)):
                found.add(cls)
    return found


def test_every_implementation_is_verified():
    missing = {cls.__qualname__ for cls in _implementations()} - {
        cls.__qualname__ for cls in FACTORIES
    }
    assert not missing, f"add these to FACTORIES in {__file__}: {sorted(missing)}"


@pytest.mark.parametrize("cls", list(FACTORIES), ids=lambda cls: cls.__qualname__)
def test_implementation_provides_what_it_declares(cls):
    instance, cleanup = FACTORIES[cls]()
    try:
        declared = list(implementedBy(cls))
        assert declared, f"{cls.__qualname__} declares no interface"
        for interface in declared:
            verifyObject(interface, instance)
    finally:
        if cleanup is not None:
            cleanup()


@pytest.mark.parametrize("name", list(TIMER_FACTORIES))
def test_timers_provide_itimer(name):
    timer, cleanup = TIMER_FACTORIES[name]()
    try:
        verifyObject(interfaces.ITimer, timer)
    finally:
        cleanup()


def test_handlers_of_these_tests_provide_their_interfaces():
    verifyObject(interfaces.INotifyWatchHandler, _NotifyHandler())
    verifyObject(interfaces.IStringsWatchHandler, _StringsHandler())


def test_every_interface_is_exported_and_documented():
    names = {
        name
        for name, value in vars(interfaces).items()
        if isinstance(value, type(interfaces.IWorker)) and name != "Interface"
    }
    assert names == set(interfaces.__all__)
    for name in names:
        interface = getattr(interfaces, name)
        assert interface.__doc__ and interface.__doc__.strip(), f"{name} has no contract"
        for member in interface.names():
            assert interface[member].__doc__, f"{name}.{member} has no contract"


# -- errors and stop() -----------------------------------------------------------


def test_pinned_error_texts():
    assert str(agent_runtime.RunnerDead()) == "worker runner is not running"
    assert str(agent_runtime.TerminateAgent()) == "agent should be terminated"
    assert isinstance(agent_runtime.Dying(), Exception)


def test_errors_share_a_base_class():
    for error in (errors.RunnerDead, errors.TerminateAgent, errors.Dying, errors.Unstopped):
        assert issubclass(error, errors.AgentRuntimeError)


def test_unstopped_names_the_workers_and_pickles():
    import pickle

    error = errors.Unstopped(["a", "b"], 2.5)
    assert str(error) == "workers did not stop within 2.5 s: 'a', 'b'"
    copy = pickle.loads(pickle.dumps(error))
    assert copy.ids == ["a", "b"] and str(copy) == str(error)


def test_stop_kills_then_waits():
    worker = SimpleWorker(lambda stop: stop.wait())
    assert agent_runtime.stop(worker) is None
    error = ValueError("boom")

    def fail(stop):
        stop.wait()
        raise error

    with pytest.raises(ValueError) as raised:
        agent_runtime.stop(SimpleWorker(fail))
    assert raised.value is error


def test_outcome_keeps_the_first_traceback():
    try:
        raise KeyError("x")
    except KeyError as e:
        outcome = Outcome(e)
    depths = []
    for _ in range(3):
        try:
            outcome.raise_if_failed()
        except KeyError as e:
            depths.append(len(list(_walk(e.__traceback__))))
    assert depths[0] == depths[1] == depths[2]
    Outcome().raise_if_failed()  # clean: no exception


def _walk(tb):
    while tb is not None:
        yield tb
        tb = tb.tb_next
