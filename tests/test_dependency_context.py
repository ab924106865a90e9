"""What a start function sees of its inputs: ``IContext.get`` in each case,
the snapshot taken when the start began, expiry, and the stub context."""

from __future__ import annotations

import pytest
from gevent.event import Event
from zope.interface import Interface, implementer
from zope.interface.verify import verifyObject

from agent_runtime.interfaces import IContext
from agent_runtime.worker.dependency import Context, ExpiredContext, Manifold, Missing
from agent_runtime.worker.dependency.testing import StubContext

from dependency_support import (
    Probe,
    ProbeWorker,
    running,
    wait_state,
)


class Reader(Probe):
    """A probe whose start calls ``ask(context)`` and records what it
    returned, or the exception it raised, in ``answers``."""

    def __init__(self, name: str, ask) -> None:
        super().__init__(name)
        self.ask = ask
        self.answers: list = []

    def __call__(self, context):
        try:
            self.answers.append(self.ask(context))
        except Exception as error:
            self.answers.append(error)
        return super().__call__(context)


def read_once(engine, name: str, inputs, ask):
    reader = Reader(name, ask)
    engine.install(name, Manifold(inputs, reader))
    reader.expect_started()
    [answer] = reader.answers
    return answer


def test_get_of_an_undeclared_name_is_missing(engines):
    engine = engines()
    running_a = Probe("a")
    running(engine, running_a)
    answer = read_once(engine, "r", [], lambda context: context.get("a", str))
    assert isinstance(answer, Missing)
    assert str(answer) == "'a' is not an input of 'r': declare it in its inputs"


def test_get_of_an_input_not_installed_is_missing(engines):
    engine = engines()
    answer = read_once(engine, "r", ["a"], lambda context: context.get("a"))
    assert isinstance(answer, Missing) and str(answer) == "'a' is not running"


def test_get_of_an_input_installed_but_stopped_is_missing(engines, clock):
    engine = engines()
    a = Probe("a")
    a.start_error = Missing("needs something")
    engine.install("a", a.manifold())
    a.expect_failed()
    wait_state(engine, "a", "stopped")
    answer = read_once(engine, "r", ["a"], lambda context: context.get("a", str))
    assert isinstance(answer, Missing) and str(answer) == "'a' is not running"


def test_get_without_a_kind_only_checks_that_the_input_runs(engines):
    engine = engines()
    a = Probe("a")
    engine.install("a", Manifold([], a))  # no output at all
    a.expect_started()
    wait_state(engine, "a", "started")
    assert read_once(engine, "r", ["a"], lambda context: context.get("a")) is None


def test_get_of_a_kind_from_an_input_without_output_is_missing(engines):
    engine = engines()
    a = Probe("a")
    engine.install("a", Manifold([], a))
    a.expect_started()
    wait_state(engine, "a", "started")
    answer = read_once(engine, "r", ["a"], lambda context: context.get("a", str))
    assert isinstance(answer, Missing) and str(answer) == "'a' offers no output"


def test_get_returns_what_the_output_gives_and_its_missing(engines):
    engine = engines()
    a = Probe("a")
    running(engine, a)
    assert read_once(engine, "r", ["a"], lambda context: context.get("a", str)) == "a#1"
    answer = read_once(engine, "s", ["a"], lambda context: context.get("a", int))
    assert isinstance(answer, Missing) and str(answer) == "a#1 offers only str"


class IGreeting(Interface):
    """Something that greets."""


@implementer(IGreeting)
class Greeting:
    pass


def test_get_checks_the_kind_of_what_the_output_returned(engines):
    engine = engines()
    greeting = Greeting()
    outputs = {IGreeting: greeting, bytes: "a str, not bytes", "key": 42}

    def output(worker, kind):
        return outputs[kind]

    a = Probe("a")
    engine.install("a", Manifold([], a, output=output))
    a.expect_started()
    wait_state(engine, "a", "started")
    assert read_once(engine, "r", ["a"], lambda c: c.get("a", IGreeting)) is greeting
    answer = read_once(engine, "s", ["a"], lambda c: c.get("a", bytes))
    assert isinstance(answer, TypeError)
    assert "the output of 'a' returned 'a str, not bytes' when asked for bytes" in str(answer)
    # A kind that is neither a class nor an interface is the output's business.
    assert read_once(engine, "t", ["a"], lambda c: c.get("a", "key")) == 42
    outputs[IGreeting] = object()
    answer = read_once(engine, "u", ["a"], lambda c: c.get("a", IGreeting))
    assert isinstance(answer, TypeError) and "when asked for IGreeting" in str(answer)


def test_an_output_error_becomes_the_start_error(engines, clock):
    def output(worker, kind):
        raise RuntimeError("output bug")

    engine = engines()
    a, b = Probe("a"), Probe("b", reads=("a",))
    engine.install("a", Manifold([], a, output=output))
    a.expect_started()
    wait_state(engine, "a", "started")
    engine.install("b", b.manifold())
    assert isinstance(b.expect_failed(), RuntimeError)
    clock.wait_for_timers(1)
    assert engine.report()["manifolds"]["b"]["recent-errors"] == 1


def test_context_is_a_snapshot_taken_when_the_start_began(engines, clock):
    engine = engines(bounce_delay=0)
    a, b = Probe("a"), Probe("b", reads=("a",))
    running(engine, a)
    b.block = Event()
    engine.install("b", b.manifold())
    wait_state(engine, "b", "starting")
    first = b.contexts[0]
    assert not first.abort.is_set()
    a.current.die(OSError("restart"))  # a stops while b's start is blocked
    wait_state(engine, "a", "waiting to start")
    assert first.abort.is_set()  # the engine no longer wants that start
    b.block.set()
    # The blocked start still saw a as it was when it began...
    assert b.expect_started().seen == {"a": "a#1"}
    # ...and its worker is stopped at once; the next start misses a.
    assert isinstance(b.expect_failed(), Missing)
    wait_state(engine, "b", "stopped")
    assert b.workers[0].stopped
    assert b.workers[0].value == "b#1" and engine.report()["manifolds"]["b"]["start-count"] == 0
    clock.advance(5)
    a.expect_started()
    assert b.expect_started().seen == {"a": "a#2"}


def test_context_expires_when_the_start_returns(engines):
    engine = engines()
    a, b = Probe("a"), Probe("b", reads=("a",))
    running(engine, a)
    engine.install("b", b.manifold())
    b.expect_started()
    context = b.contexts[-1]
    with pytest.raises(ExpiredContext, match="used after its start function returned"):
        context.get("a", str)
    assert isinstance(ExpiredContext("x"), RuntimeError)


def test_context_expires_when_the_start_raises(engines):
    engine = engines()
    b = Probe("b", reads=("a",))
    engine.install("b", b.manifold())
    b.expect_failed()
    with pytest.raises(ExpiredContext):
        b.contexts[-1].get("a")


def test_context_knows_its_manifold_and_provides_icontext(engines):
    engine = engines()
    a = Probe("a")
    engine.install("a", a.manifold())
    a.expect_started()
    context = a.contexts[0]
    assert isinstance(context, Context) and context.name == "a"
    verifyObject(IContext, context)


def test_engine_context_alone():
    worker_seen = []

    def output(worker, kind):
        worker_seen.append(worker)
        return "resource"

    sentinel = object()
    context = Context("me", {"up": (sentinel, output), "down": (None, output)})
    assert context.get("up", str) == "resource" and worker_seen == [sentinel]
    with pytest.raises(Missing, match="'down' is not running"):
        context.get("down")
    assert "'me'" in repr(context)
    context.expire()
    assert "expired" in repr(context)


# -- the stub context, for testing start functions alone ----------------------------


def test_stub_context_serves_resources_and_missing():
    greeting = Greeting()
    context = StubContext({"greeter": greeting, "config": Missing("no config")}, name="x")
    verifyObject(IContext, context)
    assert context.get("greeter", IGreeting) is greeting
    assert context.get("greeter") is None
    with pytest.raises(Missing, match="no config"):
        context.get("config")
    with pytest.raises(Missing, match="'other' is not an input of 'x'"):
        context.get("other")
    with pytest.raises(Missing, match="offers nothing of kind"):
        context.get("greeter", str)
    assert context.calls == [
        ("greeter", IGreeting),
        ("greeter", None),
        ("config", None),
        ("other", None),
        ("greeter", str),
    ]
    context.expire()
    with pytest.raises(ExpiredContext):
        context.get("greeter")


def test_a_start_function_tested_with_the_stub_context():
    probe = Probe("p", reads=("a",))
    worker = probe(StubContext({"a": "the a resource"}))
    try:
        assert isinstance(worker, ProbeWorker) and worker.seen == {"a": "the a resource"}
    finally:
        worker.kill()
        worker.wait()
    with pytest.raises(Missing):
        probe(StubContext({}))
