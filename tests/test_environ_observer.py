"""wait_for_environ and EnvironObserver (worker-reference §5, §6.5, §6.6; DESIGN.md).

The §6.5 tests run on every state backend of ``conftest.STATE_BACKENDS``
(through its ``state_url`` fixture), so a backend added there is covered here
too. Each names the Go test it translates. The reference's ``LoadedInvalid``
hook is ``on_invalid``.
"""

from __future__ import annotations

import logging
import uuid

import gevent
import pytest
from gevent.event import Event
from gevent.queue import Queue
from zope.interface import implementer
from zope.interface.verify import verifyObject

from agent_runtime import Dying, stop
from agent_runtime.environs import ConfigError, DummyEnviron, EnvironError
from agent_runtime.errors import WatcherStopped
from agent_runtime.interfaces import IAbortableWorker, IEnviron, IEnvironConfigGetter, IWorker
from agent_runtime.state import StateClosed
from agent_runtime.testing import (
    LONG_WAIT,
    FakeNotifyWatcher,
    check_alive,
    check_killed,
    clean_kill,
    wait_for,
)
from agent_runtime.watcher import NotifyWatcher
from agent_runtime.worker import EnvironObserver, wait_for_environ

VALID = {"name": "test-env", "type": "dummy", "secret": "pork", "authorized-keys": "ssh-rsa K"}


@pytest.fixture
def shared_url(state_url):
    """``state_url`` made openable more than once (two connections to one
    state): ``memory://`` becomes a memory state with a name of its own."""
    if state_url == "memory://":
        return f"memory://environ-test-{uuid.uuid4().hex}"
    return state_url


@pytest.fixture
def st(shared_url, open_state):
    """A State holding a valid environ config (the reference's JujuConnSuite)."""
    state = open_state(shared_url)
    state.update_environ_config(VALID)
    return state


@pytest.fixture
def observers():
    """Make EnvironObservers; each is stopped (and must stop) after the test."""
    made = []

    def make(state):
        observer = EnvironObserver(state)
        made.append(observer)
        return observer

    yield make
    for observer in made:
        observer.kill()
        check_killed(observer)


@pytest.fixture
def logged(caplog):
    """``logged(level=WARNING)``: the messages logged at that level on agent_runtime.worker."""
    caplog.set_level(logging.WARNING, logger="agent_runtime.worker")

    def messages(level=logging.WARNING):
        return [
            r.getMessage()
            for r in caplog.records
            if r.name == "agent_runtime.worker" and r.levelno == level
        ]

    return messages


def spawn_outcome(function, *args):
    """Run ``function`` on a greenlet; its value is ("returned", value) or
    ("raised", error), so that no error reaches the hub."""

    def run():
        try:
            return "returned", function(*args)
        except Exception as error:
            return "raised", error

    return gevent.spawn(run)


def outcome_of(greenlet):
    greenlet.join(LONG_WAIT)
    assert greenlet.ready(), f"{greenlet!r} did not finish within {LONG_WAIT:g} s"
    return greenlet.value


@implementer(IEnvironConfigGetter)
class FlakyState:
    """A state whose ``environ_config()`` fails (``fail_with``) or blocks
    (until ``gate`` is set) on demand; everything else is the real state's."""

    def __init__(self, state, watcher=None):
        self.state = state
        self.watcher = watcher
        self.fail_with = None
        self.gate = None
        self.reading = Event()
        self.reads = 0
        self.completed = 0

    def environ_config(self):
        self.reads += 1
        self.reading.set()
        if self.gate is not None:
            assert self.gate.wait(LONG_WAIT), "the test never opened the gate"
        self.completed += 1
        if self.fail_with is not None:
            raise self.fail_with
        return self.state.environ_config()

    def watch_environ_config(self):
        if self.watcher is not None:
            return self.watcher
        return self.state.watch_environ_config()


class DictGetter:
    """A getter over a plain dict."""

    def __init__(self, config):
        self.config = dict(config)
        self.reads = 0

    def environ_config(self):
        self.reads += 1
        return dict(self.config)

    def watch_environ_config(self):
        return FakeNotifyWatcher(initial=True)


# -- §6.5 environ_test.go, on every backend --------------------------------------------


def test_stop(st):  # TestStop
    watcher = st.watch_environ_config()
    try:
        stop_event = Event()
        waiter = spawn_outcome(wait_for_environ, watcher, st, stop_event)
        stop_event.set()
        kind, error = outcome_of(waiter)
        assert kind == "raised" and isinstance(error, Dying)
    finally:
        assert watcher.stop() is None


def test_stop_while_waiting_for_the_next_event(st):
    """TestStop with the waiter really blocked: it has seen an invalid config
    and waits for the next event when ``dying`` is set."""
    st.update_environ_config({"type": "unknown"})
    watcher = st.watch_environ_config()
    try:
        invalid, stop_event = Queue(), Event()
        waiter = spawn_outcome(wait_for_environ, watcher, st, stop_event, invalid.put)
        invalid.get(timeout=LONG_WAIT)
        stop_event.set()
        kind, error = outcome_of(waiter)
        assert kind == "raised" and isinstance(error, Dying)
    finally:
        assert watcher.stop() is None


def test_invalid_config(st, shared_url, open_state, logged):  # TestInvalidConfig
    st2 = open_state(shared_url)
    st2.update_environ_config({"type": "unknown"})
    watcher = st.watch_environ_config()
    try:
        loaded_invalid = Queue()
        waiter = spawn_outcome(wait_for_environ, watcher, st2, None, loaded_invalid.put)
        error = loaded_invalid.get(timeout=LONG_WAIT)
        assert isinstance(error, EnvironError)
        assert str(error) == 'no registered provider for "unknown"'
        st2.update_environ_config({"type": "dummy", "secret": "environ_test"})
        kind, environ = outcome_of(waiter)
        assert kind == "returned", environ
        verifyObject(IEnviron, environ)
        assert environ.config()["secret"] == "environ_test"
        assert environ.name() == "test-env"
    finally:
        assert watcher.stop() is None
    assert (
        'loaded invalid environment configuration: no registered provider for "unknown"'
        in logged(logging.ERROR)
    )


def test_error_when_environ_is_invalid(st):  # TestErrorWhenEnvironIsInvalid
    st.update_environ_config({"secret": 999})
    with pytest.raises(EnvironError) as raised:
        EnvironObserver(st)
    assert str(raised.value) == "cannot make Environ: secret: expected string, got int(999)"
    assert isinstance(raised.value.__cause__, ConfigError)


def test_environment_changes(st, observers, logged):  # TestEnvironmentChanges
    original = st.environ_config()
    observer = observers(st)
    assert observer.environ().config() == original
    st.update_environ_config({"type": "invalid"})
    wait_for(
        lambda: any("error creating Environ" in m for m in logged()),
        what='a warning "error creating Environ"',
    )
    assert 'error creating Environ: no registered provider for "invalid"' in logged()
    assert observer.environ().config() == original
    st.update_environ_config({"type": "dummy", "name": "a-new-name"})
    wait_for(lambda: observer.environ().name() == "a-new-name", what="the new name")
    assert observer.environ().config() == {**original, "name": "a-new-name"}
    clean_kill(observer)  # the reference leaked it


# -- §6.6: a failure reading the config is not fatal -------------------------------------


def test_a_read_failure_is_logged_and_the_observer_goes_on(st, observers, logged):
    flaky = FlakyState(st)
    observer = observers(flaky)
    first = observer.environ()
    flaky.fail_with = OSError("the disk is on fire")
    st.update_environ_config({"name": "second"})
    wait_for(
        lambda: "error reading environment config: the disk is on fire" in logged(),
        what="the read failure to be logged",
    )
    check_alive(observer)
    assert observer.environ() is first
    flaky.fail_with = None
    st.update_environ_config({"name": "third"})
    wait_for(lambda: observer.environ().name() == "third", what="the observer to recover")


# -- EnvironObserver ------------------------------------------------------------------


def test_observer_provides_its_interfaces(st, observers):
    observer = observers(st)
    verifyObject(IWorker, observer)
    verifyObject(IAbortableWorker, observer)
    assert isinstance(observer.environ(), DummyEnviron)


def test_observer_reads_the_initial_config_synchronously(st, observers):
    flaky = FlakyState(st)
    observer = observers(flaky)
    assert flaky.reads == 1  # before its greenlet ever ran
    assert observer.environ().config() == VALID


def test_observer_construction_errors(st):
    flaky = FlakyState(st)
    error = OSError("cannot read")
    flaky.fail_with = error
    with pytest.raises(OSError) as raised:
        EnvironObserver(flaky)
    assert raised.value is error  # a read error is raised as is
    getter_only = DictGetter(VALID)
    getter_only.watch_environ_config = None
    with pytest.raises(TypeError, match="watch_environ_config"):
        EnvironObserver(getter_only)
    st.update_environ_config({}, remove=["name"])
    with pytest.raises(EnvironError, match=r"^cannot make Environ: name: expected string"):
        EnvironObserver(st)


def test_kill_while_blocked_on_a_real_state(st, observers):
    flaky = FlakyState(st)
    observer = observers(flaky)
    wait_for(lambda: flaky.reads >= 2, what="the observer to handle the initial event")
    gevent.sleep(0)
    clean_kill(observer)
    assert flaky.reads == flaky.completed


def test_kill_interrupts_the_wait_for_an_event():
    """The watcher never sends anything: only kill() can end the wait."""
    watcher = FakeNotifyWatcher()
    getter = FlakyState(DictGetter(VALID), watcher)
    observer = EnvironObserver(getter)
    check_alive(observer)
    clean_kill(observer)
    assert watcher.stopped and getter.reads == 1


def test_kill_does_not_interrupt_a_read(st, observers):
    flaky = FlakyState(st)
    observer = observers(flaky)
    wait_for(lambda: flaky.reads >= 2, what="the initial event to be handled")
    flaky.gate, flaky.reading = Event(), Event()
    st.update_environ_config({"name": "read-while-killed"})
    assert flaky.reading.wait(LONG_WAIT)
    observer.kill()
    check_alive(observer)  # the read goes on
    flaky.gate.set()
    assert check_killed(observer) is None
    assert flaky.reads == flaky.completed
    assert observer.environ().name() == "read-while-killed"


def test_the_watchers_stop_error_comes_first():
    class StopFails(NotifyWatcher):
        def stop(self):
            self.kill()
            raise stop_error

    stop_error, watcher_error = ValueError("stop failed"), OSError("watcher failed")
    watcher = StopFails(initial=False)
    observer = EnvironObserver(FlakyState(DictGetter(VALID), watcher))
    watcher.fail(watcher_error)  # its changes end with an error ...
    assert check_killed(observer) is stop_error  # ... but the stop error wins


def test_changes_ending_with_an_error():
    error = OSError("lost the connection")
    watcher = FakeNotifyWatcher()
    observer = EnvironObserver(FlakyState(DictGetter(VALID), watcher))
    watcher.fail(error)
    assert check_killed(observer) is error


def test_changes_ending_without_an_error():
    watcher = NotifyWatcher(initial=False)
    observer = EnvironObserver(FlakyState(DictGetter(VALID), watcher))
    watcher.kill()
    assert isinstance(check_killed(observer), WatcherStopped)


def test_a_clean_stop_stops_the_watcher():
    watcher = FakeNotifyWatcher()
    observer = EnvironObserver(FlakyState(DictGetter(VALID), watcher))
    assert stop(observer) is None
    assert watcher.stopped and watcher.err() is None
    assert observer.wait() is None
    observer.kill()  # again: nothing happens


def test_the_observer_stops_when_its_state_is_closed(state_url, open_state):
    """The watcher of a closed state fails; the observer stops with its error."""
    state = open_state(state_url)
    state.update_environ_config(VALID)
    observer = EnvironObserver(state)
    state.close()
    assert isinstance(check_killed(observer), StateClosed)


def test_the_environ_survives_the_stop(st):
    observer = EnvironObserver(st)
    environ = observer.environ()
    clean_kill(observer)
    assert observer.environ() is environ
    with observer.pinned() as pinned:
        assert pinned is environ


# -- pinned() ---------------------------------------------------------------------------


def test_a_pinned_greenlet_keeps_its_environ(st, observers):
    observer = observers(st)
    first = observer.environ()
    entered, changed = Event(), Event()
    seen = {}

    def unit_of_work():
        with observer.pinned() as pinned:
            seen["entered"] = pinned
            entered.set()
            seen["changed"] = changed.wait(LONG_WAIT)
            seen["inside"] = observer.environ()
            with observer.pinned() as inner:
                seen["nested"] = inner
                seen["inside nested"] = observer.environ()
            seen["after nested"] = observer.environ()
            child = gevent.spawn(observer.environ)
            child.join(LONG_WAIT)
            seen["spawned child"] = child.value
        seen["after"] = observer.environ()

    worker = gevent.spawn(unit_of_work)
    assert entered.wait(LONG_WAIT)
    st.update_environ_config({"name": "renamed"})
    wait_for(lambda: observer.environ().name() == "renamed", what="the main greenlet to see it")
    changed.set()
    worker.join(LONG_WAIT)
    assert worker.successful(), worker.exception
    assert seen["changed"]
    for key in ("entered", "inside", "nested", "inside nested", "after nested"):
        assert seen[key] is first, key
    assert seen["spawned child"].name() == "renamed"  # gevent.local is not inherited
    assert seen["after"].name() == "renamed"


def test_a_pin_is_released_by_an_exception(st, observers):
    observer = observers(st)
    with pytest.raises(KeyError), observer.pinned():
        raise KeyError("x")
    st.update_environ_config({"name": "after-error"})
    wait_for(lambda: observer.environ().name() == "after-error", what="the newest Environ")


def test_outside_pinned_the_newest_is_returned(st, observers):
    """The greenlet-local cache never hides a newer Environ (DESIGN.md)."""
    observer = observers(st)
    with observer.pinned():
        pass
    assert observer.environ().name() == "test-env"
    for name in ("one", "two", "three"):
        st.update_environ_config({"name": name})
        wait_for(lambda name=name: observer.environ().name() == name, what=name)


# -- wait_for_environ with fakes ---------------------------------------------------------


def test_wait_for_environ_returns_the_first_valid_environ():
    watcher = FakeNotifyWatcher(initial=True)
    getter = DictGetter(VALID)
    environ = wait_for_environ(watcher, getter, None)
    assert environ.config() == VALID and getter.reads == 1
    assert not watcher.stopped  # the caller's to stop
    watcher.stop()


def test_wait_for_environ_keeps_waiting_after_an_invalid_config(logged):
    watcher = FakeNotifyWatcher(initial=True)
    getter = DictGetter({**VALID, "secret": 999})
    errors = []

    def on_invalid(error):
        errors.append(str(error))
        getter.config["secret"] = "fixed"
        watcher.trigger()

    environ = wait_for_environ(watcher, getter, Event(), on_invalid)
    assert environ.config()["secret"] == "fixed"
    assert errors == ["secret: expected string, got int(999)"]
    assert logged(logging.ERROR) == [
        "loaded invalid environment configuration: secret: expected string, got int(999)"
    ]
    watcher.stop()


def test_wait_for_environ_raises_a_read_error_at_once():
    watcher = FakeNotifyWatcher(initial=True)
    error = OSError("cannot read")
    getter = FlakyState(DictGetter(VALID), watcher)
    getter.fail_with = error
    with pytest.raises(OSError) as raised:
        wait_for_environ(watcher, getter, None)
    assert raised.value is error and getter.reads == 1
    watcher.stop()


def test_wait_for_environ_when_dying_was_set_already():
    watcher = FakeNotifyWatcher(initial=True)
    getter = DictGetter(VALID)
    dying = Event()
    dying.set()
    with pytest.raises(Dying):
        wait_for_environ(watcher, getter, dying)
    assert getter.reads == 0
    watcher.stop()


def test_wait_for_environ_dying_interrupts_a_silent_watcher():
    watcher = FakeNotifyWatcher()
    dying = Event()
    waiter = spawn_outcome(wait_for_environ, watcher, DictGetter(VALID), dying)
    gevent.sleep(0)
    dying.set()
    kind, error = outcome_of(waiter)
    assert kind == "raised" and isinstance(error, Dying)
    # the watcher is left usable: an event sent now is still delivered
    watcher.trigger()
    assert wait_for_environ(watcher, DictGetter(VALID), None).name() == "test-env"
    watcher.stop()


def test_wait_for_environ_dying_does_not_interrupt_the_read():
    watcher = FakeNotifyWatcher(initial=True)
    getter = FlakyState(DictGetter(VALID), watcher)
    getter.gate = Event()
    dying = Event()
    waiter = spawn_outcome(wait_for_environ, watcher, getter, dying)
    assert getter.reading.wait(LONG_WAIT)
    dying.set()
    gevent.sleep(0)
    getter.gate.set()
    kind, environ = outcome_of(waiter)
    assert kind == "returned" and environ.name() == "test-env"  # the read finished first
    assert getter.completed == 1
    watcher.stop()


def test_wait_for_environ_dying_does_not_interrupt_on_invalid():
    watcher = FakeNotifyWatcher(initial=True)
    dying, in_hook, release = Event(), Event(), Event()
    finished = []

    def on_invalid(error):
        in_hook.set()
        finished.append(release.wait(LONG_WAIT))

    waiter = spawn_outcome(wait_for_environ, watcher, DictGetter({}), dying, on_invalid)
    assert in_hook.wait(LONG_WAIT)
    dying.set()
    gevent.sleep(0)
    release.set()
    kind, error = outcome_of(waiter)
    assert kind == "raised" and isinstance(error, Dying)
    assert finished == [True]
    watcher.stop()


def test_wait_for_environ_when_the_changes_end():
    error = OSError("watcher failed")
    watcher = FakeNotifyWatcher()
    watcher.fail(error)
    with pytest.raises(OSError) as raised:
        wait_for_environ(watcher, DictGetter(VALID), Event())
    assert raised.value is error
    clean = NotifyWatcher(initial=False)
    clean.kill()
    with pytest.raises(WatcherStopped):
        wait_for_environ(clean, DictGetter(VALID), None)


def test_wait_for_environ_checks_dying():
    watcher = FakeNotifyWatcher()
    with pytest.raises(TypeError, match="gevent Event"):
        wait_for_environ(watcher, DictGetter(VALID), object())
    watcher.stop()


def test_wait_for_environ_lets_go_of_dying():
    """After it returned, setting ``dying`` touches nothing (no hub error)."""
    watcher = FakeNotifyWatcher(initial=True)
    dying = Event()
    assert wait_for_environ(watcher, DictGetter(VALID), dying).name() == "test-env"
    dying.set()
    gevent.sleep(0)
    watcher.stop()


def test_an_event_without_a_change_keeps_the_environ():
    """A watcher may send an event when nothing changed: the observer re-reads
    and keeps the Environ it has (nothing is opened again)."""
    watcher = FakeNotifyWatcher()
    getter = FlakyState(DictGetter(VALID), watcher)
    observer = EnvironObserver(getter)
    first = observer.environ()
    watcher.trigger()
    wait_for(lambda: getter.completed == 2, what="the re-read")
    assert observer.environ() is first
    getter.state.config["name"] = "changed"
    watcher.trigger()
    wait_for(lambda: observer.environ().name() == "changed", what="the new Environ")
    clean_kill(observer)
