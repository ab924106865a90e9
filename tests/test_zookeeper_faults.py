"""ZooKeeper failing under the state and under running unit agents.

Every test runs its own ZooKeeper server (``ZooKeeperServer``: Debian's
zookeeper package; skipped, saying so, without it), which it kills (-9) and
starts again on the same port and data:

* a short outage (SUSPENDED: the session lives on): watchers keep working,
  with no error, and what changed meanwhile is read again at reconnection;
  a presence stops at once; a client that keeps trying to reconnect keeps
  its session through an outage longer than the session timeout;
* a session expiry (LOST): the watchers stop with a ``StorageError``, the
  workers holding them fail, and their Runners restart them on the new
  session; a presence comes back; a watcher taken before the new session
  is there is armed on it;
* unit agents (subprocesses) related to each other through both kinds of
  outage: they never exit, no committed hook runs twice, and later changes
  still reach their hooks.

A session expires when its client stays away from ZooKeeper longer than the
session timeout, counted from when the server (re)started: so for a long
outage the data is served for a while on another port (``aside``), where no
agent looks, until their sessions are gone; only then is the server started
again where the agents look.

Every wait is for an observable condition (the store's state, a log line, a
file, ``status``) with a timeout; servers and agents are killed in finally.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time

import gevent
import pytest
from gevent.event import AsyncResult, Event
from zope.interface import implementer

from agent_runtime import state as state_module
from agent_runtime.agent.debug import DUMP_SIGNAL
from agent_runtime.interfaces import INotifyWatchHandler
from agent_runtime.state import StorageError
from agent_runtime.state.backends.zookeeper import HANDSHAKES_PER_SERVER
from agent_runtime.testing import LONG_WAIT, check_alive, check_killed, clean_kill, wait_for
from agent_runtime.watcher import RelationUnitsChange
from agent_runtime.worker import NotifyWorker, RunnerObserver

from charms import MYSQL, WORDPRESS, deploy
from e2e_support import Deployment
from zookeeper_support import ZooKeeperServer

pytestmark = pytest.mark.zookeeper

KAZOO = "the ZooKeeper backend needs kazoo: pip install 'agent_runtime[zookeeper]'"
KazooClient = pytest.importorskip("kazoo.client", reason=KAZOO).KazooClient
SequentialGeventHandler = pytest.importorskip(
    "kazoo.handlers.gevent", reason=KAZOO
).SequentialGeventHandler
KazooState = pytest.importorskip("kazoo.protocol.states", reason=KAZOO).KazooState
KeeperState = pytest.importorskip("kazoo.protocol.states", reason=KAZOO).KeeperState

#: The session timeout (seconds) of a client whose session must expire in an
#: outage (the server expires it one session timeout after it started again).
SESSION = 4

#: The session timeout (seconds) of a client whose session must live through a
#: short outage: on a loaded machine the server's restart and the clients'
#: reconnection (a third of it per unanswered handshake) must fit in it.
RIDE_OUT = 15

#: Seconds to wait for what takes a session timeout or two (and a restart delay).
EXPIRY_WAIT = 30

SUSPENDED = "ZooKeeper: connection to {hosts} suspended"
REREAD = "ZooKeeper: connection to {hosts} re-established: re-reading"
LOST = "ZooKeeper: session with {hosts} lost"


@pytest.fixture
def zookeeper():
    server = ZooKeeperServer()  # skips when Debian's zookeeper package is missing
    try:
        server.start()
        yield server
    finally:
        server.close()


@contextlib.contextmanager
def aside(server: ZooKeeperServer):
    """While ``server`` is stopped: its data served on another port, where its
    clients do not look (for them ZooKeeper is still down)."""
    assert server.process is None, "stop the server first: they share its data"
    other = ZooKeeperServer()
    config = other.directory / "zoo.cfg"
    text = config.read_text()
    assert f"dataDir={other.directory}/data\n" in text
    config.write_text(
        text.replace(f"dataDir={other.directory}/data", f"dataDir={server.directory}/data")
    )
    try:
        other.start()
        yield other
    finally:
        other.close()


def url(hosts: str, chroot: str, session: float = SESSION) -> str:
    return f"zookeeper://{hosts}{chroot}?timeout={session:g}"


def next_event(watcher, timeout: float = LONG_WAIT):
    with gevent.Timeout(timeout, AssertionError(f"no event from {watcher!r} in {timeout} s")):
        return next(watcher.changes())


def hold_kazoo(store, holds: dict) -> None:
    """The next time ``store``'s kazoo client enters each state of ``holds``
    (KazooState -> an Event or AsyncResult), hold its connection greenlet (as
    a back-off pause would: nothing else in the process waits) until that
    event is set, at most ``LONG_WAIT``; the store hears of the state first.
    kazoo calls its listeners in no fixed order (a set), so the store's own is
    wrapped."""
    own, pending = store._on_state, dict(holds)

    def listener(state) -> bool:  # on kazoo's connection greenlet
        own(state)
        if state in pending:
            pending.pop(state).wait(timeout=LONG_WAIT)
        if pending:
            return False
        store._client.add_listener(own)
        return True  # done: remove this listener

    store._client.remove_listener(own)
    store._client.add_listener(listener)


def expire_session(store, hold_lost_until=None) -> None:
    """End the store's session behind its back (kazoo's old testing trick): a
    second client attaches to the session (its id and password), which drops
    the store's connection, and closes it; the store, reconnecting, is told
    that its session expired (LOST), and kazoo makes a new one.

    The store's kazoo may try to reconnect at once (its host list has several
    entries) and take the session back before the second client closes it:
    it is held in a listener of the drop until the session is closed, as its
    back-off would; and, given ``hold_lost_until`` (an event), held again at
    LOST until it is set."""
    closed = Event()
    holds = {KazooState.SUSPENDED: closed}
    if hold_lost_until is not None:
        holds[KazooState.LOST] = hold_lost_until
    hold_kazoo(store, holds)
    session = store._client.client_id
    client = KazooClient(
        hosts=store.hosts, client_id=session, handler=SequentialGeventHandler(), timeout=SESSION
    )
    try:
        client.start(timeout=LONG_WAIT)
        try:
            assert client.client_id == session
        finally:
            client.stop()
            client.close()
    finally:
        closed.set()


@implementer(INotifyWatchHandler)
class EnvironReader:
    """A NotifyWorker's handler: reads the environ config on every event."""

    def __init__(self, state) -> None:
        self.state = state
        self.set_ups = 0
        self.seen: list[dict] = []

    def set_up(self):
        self.set_ups += 1
        return self.state.watch_environ_config()

    def handle(self) -> None:
        self.seen.append(self.state.environ_config())

    def tear_down(self) -> None:
        pass


class Exits(RunnerObserver):
    """Records every (worker id, error) a Runner saw stop."""

    def __init__(self) -> None:
        self.exits: list[tuple[str, BaseException | None]] = []

    def exited(self, runner, id, error) -> None:
        self.exits.append((id, error))

    def failed(self) -> dict[str, list[BaseException]]:
        failures: dict[str, list[BaseException]] = {}
        for id, error in self.exits:
            if error is not None:
                failures.setdefault(id, []).append(error)
        return failures


class Workers:
    """A NotifyWorker reading the environ config and the presence of ``unit``,
    under one Runner (restart delay 0.05 s), counting what they start."""

    def __init__(self, runners, state, unit: str) -> None:
        self._state, self._unit = state, unit
        self.reader = EnvironReader(state)
        self.presences: list = []
        self.observer = Exits()
        self.runner = runners(restart_delay=0.05, observers=[self.observer])
        self.runner.start_worker("environ", lambda: NotifyWorker(self.reader))
        self.runner.start_worker("presence", self._presence)

    def _presence(self):
        presence = self._state.agent_presence(self._unit)
        self.presences.append(presence)
        return presence


@pytest.fixture
def watchers():
    """Stop every watcher a test made."""
    made = []
    yield made.append
    for watcher in made:
        watcher.kill()
        check_killed(watcher)


def related(state):
    """wordpress/0 and mysql/0 in the scope of their relation."""
    deploy(state, ("wordpress", WORDPRESS), ("mysql", MYSQL))
    relation = state.add_relation("wordpress", "mysql")
    wp0, db0 = state.add_unit("wordpress"), state.add_unit("mysql")
    state.enter_scope(relation.id, wp0, {"host": "wp"})
    state.enter_scope(relation.id, db0, {"host": "db"})
    return relation, wp0, db0


class Watching:
    """A State on ``chroot`` with wordpress/0 and mysql/0 related, watched by
    a bare environ watcher and a bare relation-units watcher (initial events
    taken) and by ``Workers`` for wordpress/0 (started and settled)."""

    def __init__(
        self, hosts: str, chroot: str, open_state, runners, watchers, session: float = SESSION
    ) -> None:
        self.state = state = open_state(url(hosts, chroot, session))
        self.store = state.store
        self.relation, self.wp0, self.db0 = related(state)
        self.watcher = state.watch_environ_config()
        watchers(self.watcher)
        assert next_event(self.watcher) is None
        self.units = state.watch_relation_units(self.relation.id, self.wp0)
        watchers(self.units)
        (_, version), first = (
            state.relation_settings(self.relation.id, self.db0),
            next_event(self.units),
        )
        assert first == RelationUnitsChange({self.db0: version}, [])
        self.workers = workers = Workers(runners, state, self.wp0)
        wait_for(lambda: workers.reader.seen == [{}] and len(workers.presences) == 1)
        assert state.agent_alive(self.wp0) is True
        self.session = self.store._client.client_id


# -- in this process: the State on a store whose server goes away ---------------------


def test_a_short_outage_is_ridden_out_without_an_error(zookeeper, open_state, runners, watchers):
    w = Watching(zookeeper.hosts, "/short", open_state, runners, watchers, RIDE_OUT)
    state, store, relation, wp0, db0 = w.state, w.store, w.relation, w.wp0, w.db0
    watcher, units, workers, session = w.watcher, w.units, w.workers, w.session

    zookeeper.stop()
    wait_for(lambda: store._suspended, what="the store to see the connection drop")
    zookeeper.start()
    wait_for(
        lambda: not store._suspended and "/environ" in store._data.armed,
        timeout=EXPIRY_WAIT,
        what="the store to reconnect and watch /environ again",
    )
    assert store._client.client_id == session, "the session should have lived through"
    assert next_event(watcher) is None  # every subscriber re-reads at reconnection

    # A change made after the restart reaches the watchers taken before it.
    other = open_state(url(zookeeper.hosts, "/short"))
    other.update_environ_config({"after": "restart"})
    assert next_event(watcher) is None
    assert state.environ_config() == {"after": "restart"}
    version = other.update_relation_settings(relation.id, db0, {"host": "db2"})
    assert next_event(units) == RelationUnitsChange({db0: version}, [])
    wait_for(lambda: workers.reader.seen[-1] == {"after": "restart"})

    # No error anywhere: nothing failed, nothing restarted.
    assert watcher.err() is None and units.err() is None
    assert workers.observer.failed() == {}
    assert workers.reader.set_ups == 1 and len(workers.presences) == 1
    check_alive(workers.presences[0])
    assert other.agent_alive(wp0) is True


def test_a_presence_stops_at_once_during_an_outage(zookeeper, open_state):
    # Deleting its node cannot be done without a connection (kazoo holds the
    # request until one is back): the node goes with the session instead.
    state = open_state(url(zookeeper.hosts, "/stopping"))
    store = state.store
    _, wp0, _ = related(state)
    presence = state.agent_presence(wp0)
    try:
        assert state.agent_alive(wp0) is True
        zookeeper.stop()
        wait_for(lambda: store._suspended, what="the store to see the connection drop")
    finally:
        clean_kill(presence)


def test_what_changed_while_disconnected_is_read_again_at_reconnection(
    zookeeper, open_state, runners, watchers
):
    w = Watching(zookeeper.hosts, "/meanwhile", open_state, runners, watchers, RIDE_OUT)
    state, store, relation, db0 = w.state, w.store, w.relation, w.db0
    watcher, units, workers, session = w.watcher, w.units, w.workers, w.session

    zookeeper.stop()
    wait_for(lambda: store._suspended, what="the store to see the connection drop")
    # Another client changes the state while this one cannot reach it: no
    # ZooKeeper watch can tell this one; only the re-read at reconnection.
    with (
        aside(zookeeper) as elsewhere,
        state_module.open(url(elsewhere.hosts, "/meanwhile")) as other,
    ):
        other.update_environ_config({"changed": "meanwhile"})
        version = other.update_relation_settings(relation.id, db0, {"host": "db2"})
    assert store._suspended
    zookeeper.start()

    assert next_event(watcher, timeout=EXPIRY_WAIT) is None
    assert state.environ_config() == {"changed": "meanwhile"}
    assert next_event(units) == RelationUnitsChange({db0: version}, [])
    wait_for(lambda: workers.reader.seen[-1] == {"changed": "meanwhile"})
    assert store._client.client_id == session, "the session should have lived through"
    assert watcher.err() is None and units.err() is None
    assert workers.observer.failed() == {}
    assert workers.reader.set_ups == 1 and len(workers.presences) == 1


def test_a_session_expiry_stops_the_watchers_with_an_error_and_the_workers_recover(
    zookeeper, open_state, runners, watchers
):
    w = Watching(zookeeper.hosts, "/expiry", open_state, runners, watchers)
    state, store, relation, wp0, db0 = w.state, w.store, w.relation, w.wp0, w.db0
    watcher, units, workers, session = w.watcher, w.units, w.workers, w.session

    expire_session(store)

    # The bare watchers stop with the error.
    for stopped in (watcher, units):
        error = check_killed(stopped, timeout=EXPIRY_WAIT)
        assert isinstance(error, StorageError), error
        assert "session" in str(error) and "lost" in str(error)
    # The workers fail with it, and their Runner starts them again (they may
    # fail again, with a StorageError, until kazoo has the new session).
    wait_for(
        lambda: set(workers.observer.failed()) == {"environ", "presence"},
        what="both workers to fail",
    )
    failed = workers.observer.failed()
    assert "session" in str(failed["environ"][0]) and "lost" in str(failed["environ"][0])
    assert "presence" in str(failed["presence"][0]) and "gone" in str(failed["presence"][0])
    for errors in failed.values():
        assert all(isinstance(error, StorageError) for error in errors), errors
    assert check_killed(workers.presences[0]) is failed["presence"][0]
    wait_for(
        lambda: state.agent_alive(wp0) is True and workers.reader.set_ups > 1,
        timeout=EXPIRY_WAIT,
        what="the workers started again on a new session, the presence node back",
    )
    assert store._client.client_id[0] != session[0], "a new session"
    check_alive(workers.presences[-1])

    # The restarted worker, and new watchers, see later changes.
    state.update_environ_config({"after": "expiry"})
    wait_for(lambda: workers.reader.seen[-1:] == [{"after": "expiry"}])
    units = state.watch_relation_units(relation.id, wp0)
    watchers(units)
    next_event(units)
    version = state.update_relation_settings(relation.id, db0, {"host": "db2"})
    assert next_event(units) == RelationUnitsChange({db0: version}, [])
    check_alive(workers.presences[-1])


def test_a_watcher_taken_before_the_new_session_is_armed_on_it(zookeeper, open_state, watchers):
    # From LOST until kazoo's next attempt to connect, kazoo refuses every
    # call: a watcher taken then cannot arm its ZooKeeper watch. The store
    # arms it once the new session is there, and tells it to read again; else
    # it would never fire. kazoo's next attempt may come at once (its host list
    # has several entries) or after its back-off: the test holds kazoo at LOST
    # until the watcher is taken, as a back-off would.
    state = open_state(url(zookeeper.hosts, "/between"))
    store = state.store
    old = state.watch_environ_config()
    watchers(old)
    taken = AsyncResult()

    def take() -> None:
        try:
            # The store failed its watchers: the old session is gone.
            check_killed(old, timeout=EXPIRY_WAIT)
            refused = store._client.client_state == KeeperState.EXPIRED_SESSION
            watcher = state.watch_environ_config()
            assert next(watcher.changes()) is None  # the initial event, there at once
            taken.set((refused, watcher))
        except BaseException as error:
            taken.set_exception(error)

    taker = gevent.spawn(take)
    try:
        expire_session(store, hold_lost_until=taken)
        refused, watcher = taken.get(timeout=EXPIRY_WAIT)
    finally:
        taker.kill()
    watchers(watcher)
    assert refused, "the watcher should have been taken before kazoo tried to reconnect"
    assert not watcher.stopped
    assert next_event(watcher, timeout=EXPIRY_WAIT) is None  # read again on the new session
    other = open_state(url(zookeeper.hosts, "/between"))
    other.update_environ_config({"after": "the new session"})
    assert next_event(watcher) is None
    assert state.environ_config() == {"after": "the new session"}


class ReconnectAttempts(logging.Handler):
    """Counts kazoo's attempts to connect (its "Connecting to ..." records)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith("Connecting to"):
            self.count += 1


@contextlib.contextmanager
def reconnect_attempts():
    logger = logging.getLogger("kazoo.client")
    attempts, level = ReconnectAttempts(), logger.level
    logger.addHandler(attempts)
    logger.setLevel(logging.INFO)
    try:
        yield attempts
    finally:
        logger.removeHandler(attempts)
        logger.setLevel(level)


def test_a_long_outage_keeps_the_session_of_a_client_that_keeps_trying(
    zookeeper, open_state, watchers
):
    # ZooKeeper gives every session one session timeout (here 5 s) from its
    # restart to come back. kazoo's default backoff doubles the pause between
    # two rounds of attempts (one round: each entry of its host list, here
    # HANDSHAKES_PER_SERVER) up to an hour: after 10 failed rounds the next
    # would come some 50 s later, and the session would be lost for nothing.
    # The store pauses at most about a quarter of its session timeout (1 s).
    session_timeout = 5
    state = open_state(url(zookeeper.hosts, "/backoff", session_timeout))
    store = state.store
    watcher = state.watch_environ_config()
    watchers(watcher)
    assert next_event(watcher) is None
    session = store._client.client_id

    with reconnect_attempts() as attempts:
        zookeeper.stop()
        stopped = time.monotonic()
        wait_for(lambda: store._suspended, what="the store to see the connection drop")
        wait_for(
            lambda: (
                attempts.count >= 10 * HANDSHAKES_PER_SERVER
                and time.monotonic() - stopped > session_timeout
            ),
            timeout=EXPIRY_WAIT,
            what="10 rounds of reconnection attempts, in an outage longer than the session",
        )
        zookeeper.start()
        wait_for(
            lambda: not store._suspended and store._client.connected,
            timeout=EXPIRY_WAIT,
            what="the store to reconnect",
        )
    assert store._client.client_id == session, "the session should have lived through"
    assert next_event(watcher) is None  # the re-read at reconnection
    state.update_environ_config({"after": "a long outage"})
    assert next_event(watcher) is None
    assert watcher.err() is None


# -- unit agents (subprocesses) through an outage -----------------------------------------

AGENTS = ("kvdb/0", "webapp/0")


@contextlib.contextmanager
def deployed_agents(hosts: str, home, session: float):
    """kvdb/0 and webapp/0 deployed on ZooKeeper at ``hosts``, their agents
    running (on sessions of ``session`` seconds) and related; killed after."""
    d = Deployment(home, state_url=url(hosts, "/agents", session))
    try:
        d.cli("deploy", "kvdb", "--charm", str(d.charms / "kvdb"), "-n", "1")
        d.cli("deploy", "webapp", "--charm", str(d.charms / "webapp"), "-n", "1")
        for unit in AGENTS:
            d.start(unit)
        d.cli("relate", "webapp", "kvdb")
        d.wait_file("webapp/0", "db.conf", "password=")
        d.wait_until(lambda: agents_are(d, "up"), what="both agents up")
        yield d
    finally:
        d.close()


@pytest.fixture
def agents(zookeeper, tmp_path):
    """The agents, on sessions that expire in a long outage."""
    with deployed_agents(zookeeper.hosts, tmp_path, SESSION) as d:
        yield d


@pytest.fixture
def agents_riding_out(zookeeper, tmp_path):
    """The agents, on sessions that live through a short outage."""
    with deployed_agents(zookeeper.hosts, tmp_path, RIDE_OUT) as d:
        yield d


def agents_are(d: Deployment, word: str) -> bool:
    status = d.status()["services"]
    return all(status[u.partition("/")[0]]["units"][u]["agent"] == word for u in AGENTS)


def wait_log(d: Deployment, unit: str, line: str, timeout: float = EXPIRY_WAIT) -> None:
    """Wait for ``line`` in ``unit``'s log; if it does not come, fail with the
    log's tail and the agent's own account of its greenlets (``SIGUSR2``)."""
    try:
        wait_for(lambda: line in d.log(unit), timeout=timeout)
    except AssertionError:
        raise AssertionError(f"{line!r} not in {unit}'s log:\n{dump_of(d, unit)}") from None


def dump_of(d: Deployment, unit: str) -> str:
    """``unit``'s log from its greenlet dump on: what it was doing (or, if it
    cannot answer, its log's tail)."""
    marker = "greenlets and threads, on request"
    if d.alive(unit):
        d.signal(unit, DUMP_SIGNAL)
        with contextlib.suppress(AssertionError):
            wait_for(lambda: marker in d.log(unit), timeout=10)
    log = d.log(unit)
    at = log.rfind(marker)
    return log[-3000:] if at < 0 else log[max(0, at - 3000) :]


def settled(d: Deployment) -> dict[str, list[str]]:
    """The hooks each agent ran, once both are idle: their last status is
    "active" (set when a hook is committed) and the relation has settled."""
    d.wait_until(
        lambda: all(
            d.status()["services"][u.partition("/")[0]]["units"][u]["status"] == "active"
            for u in AGENTS
        ),
        what="both agents idle",
    )
    return {unit: d.hooks(unit) for unit in AGENTS}


def changes_still_reach_the_hooks(d: Deployment, before: dict[str, list[str]], tag: str) -> None:
    """A config change reaches config-changed, and a relation change the
    other side; no hook ran again; the agents never exited."""
    d.cli("set-config", "webapp", f"title={tag}")
    d.wait_file("webapp/0", "app.conf", f"title={tag}")
    d.cli("set-config", "kvdb", f"user={tag}")  # kvdb: relation-set user=...
    d.wait_file("webapp/0", "db.conf", f"user={tag}")
    assert d.hooks("kvdb/0") == before["kvdb/0"] + ["config-changed -"]
    assert d.hooks("webapp/0") == before["webapp/0"] + [
        "config-changed -",
        "db-relation-changed kvdb/0",
    ]
    for unit in AGENTS:
        hooks = d.hooks(unit)
        assert hooks.count("install -") == hooks.count("start -") == 1, hooks
        assert d.agents[unit].poll() is None, f"{unit}'s agent exited:\n{d.log(unit)[-3000:]}"
        assert "Traceback" not in d.log(unit)


def log_since(d: Deployment, unit: str, line: str) -> str:
    """The unit agent's log from the first ``line`` on."""
    log = d.log(unit)
    return log[log.index(line) :]


def workers_exited_and_started(log: str) -> tuple[set[str], set[str]]:
    """The ids of the workers a log says exited, and started."""
    exited = set(re.findall(r"agent_runtime\.worker: exited '([^']+)'", log))
    started = set(re.findall(r"agent_runtime\.worker: start '([^']+)'", log))
    return exited, started


def test_agents_ride_out_a_short_outage(zookeeper, agents_riding_out):
    d = agents_riding_out
    before = settled(d)
    zookeeper.stop()
    suspended = SUSPENDED.format(hosts=zookeeper.hosts)
    for unit in AGENTS:
        wait_log(d, unit, suspended)
    zookeeper.start()
    for unit in AGENTS:
        wait_log(d, unit, REREAD.format(hosts=zookeeper.hosts))
    changes_still_reach_the_hooks(d, before, "short")
    assert agents_are(d, "up")
    for unit in AGENTS:
        # The session lived through: no worker failed or started again.
        since = log_since(d, unit, suspended)
        assert LOST.format(hosts=zookeeper.hosts) not in since
        assert workers_exited_and_started(since) == (set(), set()), since


def test_agents_recover_from_a_long_outage_that_expires_their_sessions(zookeeper, agents):
    d = agents
    before = settled(d)
    zookeeper.stop()
    for unit in AGENTS:
        wait_log(d, unit, SUSPENDED.format(hosts=zookeeper.hosts))
    # ZooKeeper is back, but not where the agents look: once it expired their
    # sessions, their presence nodes are gone.
    with (
        aside(zookeeper) as elsewhere,
        state_module.open(url(elsewhere.hosts, "/agents")) as other,
    ):
        wait_for(
            lambda: not any(other.agent_alive(unit) for unit in AGENTS),
            timeout=EXPIRY_WAIT,
            what="the agents' sessions to expire",
        )
    zookeeper.start()
    lost = LOST.format(hosts=zookeeper.hosts)
    for unit in AGENTS:
        wait_log(d, unit, lost)
    # Their workers failed with the StorageError and were started again on the
    # new session: the presence is back.
    wait_for(lambda: agents_are(d, "up"), timeout=EXPIRY_WAIT, what="both agents up again")
    changes_still_reach_the_hooks(d, before, "long")
    for unit in AGENTS:
        since = log_since(d, unit, lost)
        exited, started = workers_exited_and_started(since)
        watchers = {"presence", "config-watcher", "unit-watcher", "relations-watcher"}
        assert watchers <= exited, since
        assert exited <= started, since
        assert "exited 'presence': ZooKeeper session lost: presence" in since
        assert f"exited 'config-watcher': ZooKeeper session with {zookeeper.hosts} lost" in since
