"""The dependency engine: installing manifolds (names, cycles, arguments,
shutting down), and the manifolds themselves."""

from __future__ import annotations

import pytest

from agent_runtime.worker.dependency import (
    Bounce,
    DependencyCycle,
    ErrBounce,
    ErrMissing,
    ErrUninstall,
    Manifold,
    Missing,
    ShuttingDown,
    Uninstall,
    install,
    validate,
)

from dependency_support import (
    Probe,
    delay_of_next_timer,
    running,
    state_of,
    wait_state,
)


def test_juju_names_are_aliases():
    assert (ErrMissing, ErrBounce, ErrUninstall) == (Missing, Bounce, Uninstall)
    assert str(ShuttingDown()) == "engine is shutting down"


# -- install ------------------------------------------------------------------------


def test_install_starts_the_worker_at_once(engines):
    engine = engines()
    a = Probe("a")
    engine.install("a", a.manifold())
    assert a.expect_started().value == "a#1"
    wait_state(engine, "a", "started")


def test_install_of_an_installed_name_is_refused(engines):
    engine = engines()
    a, other = Probe("a"), Probe("other")
    running(engine, a)
    with pytest.raises(ValueError, match="'a' manifold already installed"):
        engine.install("a", other.manifold())
    assert other.calls == 0
    assert state_of(engine, "a") == "started"
    running(engine, Probe("b"))  # the engine goes on


@pytest.mark.parametrize(
    "graph, installing, cycle",
    [
        ({}, ("a", ("a",)), ["a", "a"]),
        ({"b": ("a",)}, ("a", ("b",)), ["a", "b", "a"]),
        ({"b": ("c",), "c": ("a",)}, ("a", ("b",)), ["a", "b", "c", "a"]),
        ({"b": ("c", "x"), "c": ("a",), "d": ("a",)}, ("a", ("d", "b")), ["a", "b", "c", "a"]),
    ],
)
def test_install_that_would_make_a_cycle_is_refused_naming_it(engines, graph, installing, cycle):
    engine = engines()
    for name, inputs in graph.items():
        engine.install(name, Probe(name).manifold(inputs))
    name, inputs = installing
    refused = Probe(name)
    with pytest.raises(DependencyCycle) as raised:
        engine.install(name, refused.manifold(inputs))
    assert raised.value.cycle == cycle
    assert isinstance(raised.value, ValueError)
    message = str(raised.value)
    assert message.startswith(f"cannot install {name!r}: ")
    assert " -> ".join(repr(n) for n in cycle) in message
    assert refused.calls == 0 and state_of(engine, name) is None


def test_validate_checks_a_whole_set(engines):
    start = Probe("x")
    validate({"a": Manifold(["b"], start), "b": Manifold(["z"], start)})
    with pytest.raises(DependencyCycle) as raised:
        validate({"a": Manifold(["b"], start), "b": Manifold(["a"], start)})
    assert sorted(raised.value.cycle[:-1]) == ["a", "b"]
    with pytest.raises(TypeError, match="must provide IManifold"):
        validate({"a": start})
    with pytest.raises(ValueError, match="must not be empty"):
        validate({"": Manifold([], start)})


def test_install_helper_validates_then_installs_in_order(engines):
    engine = engines()
    a, b = Probe("a"), Probe("b", reads=("a",))
    with pytest.raises(DependencyCycle):
        install(engine, {"a": a.manifold(("b",)), "b": b.manifold()})
    assert a.calls == b.calls == 0
    install(engine, {"a": a.manifold(), "b": b.manifold()})
    a.expect_started()
    wait_state(engine, "a", "started")
    wait_state(engine, "b", "started")


@pytest.mark.parametrize(
    "name, manifold, error, match",
    [
        (1, Manifold([], Probe("x")), TypeError, "a manifold name must be a str"),
        ("", Manifold([], Probe("x")), ValueError, "must not be empty"),
        ("a", Probe("x"), TypeError, "must provide IManifold"),
    ],
)
def test_install_checks_its_arguments(engines, name, manifold, error, match):
    engine = engines()
    with pytest.raises(error, match=match):
        engine.install(name, manifold)


@pytest.mark.parametrize(
    "arguments, error, match",
    [
        (("a", Probe("x")), TypeError, "inputs must be a sequence of names"),
        ((None, Probe("x")), TypeError, "inputs must be a sequence of names"),
        (([1], Probe("x")), TypeError, "an input name must be a str"),
        ((["a", "b", "a"], Probe("x")), ValueError, r"name \['a'\] more than once"),
        (([], "start"), TypeError, "start must be callable"),
        (([], Probe("x"), "out"), TypeError, "output must be callable or None"),
        (([], Probe("x"), None, 3), TypeError, "filter must be callable or None"),
    ],
)
def test_manifold_checks_its_fields(arguments, error, match):
    with pytest.raises(error, match=match):
        Manifold(*arguments)


def test_manifold_keeps_its_inputs_as_a_tuple():
    assert Manifold(["a", "b"], Probe("x")).inputs == ("a", "b")


def test_install_after_kill_is_refused(engines):
    engine = engines()
    engine.kill()
    with pytest.raises(ShuttingDown, match="engine is shutting down"):
        engine.install("a", Probe("a").manifold())
    engine.wait()
    with pytest.raises(ShuttingDown):
        engine.install("a", Probe("a").manifold())


def test_install_while_dying_of_a_fatal_error_is_refused(engines):
    from gevent.event import Event

    engine = engines(is_fatal=lambda error: isinstance(error, KeyError))
    a, slow = Probe("a"), Probe("slow")
    slow.stop_wait = Event()
    running(engine, a, slow)
    a.current.die(KeyError("fatal"))
    wait_state(engine, "slow", "stopping")  # the engine is dying, held up by slow
    late = Probe("late")
    with pytest.raises(ShuttingDown):
        engine.install("late", late.manifold())
    assert late.calls == 0
    slow.stop_wait.set()
    with pytest.raises(KeyError):
        engine.wait()


def test_an_input_may_be_installed_after_its_dependent(engines, clock):
    engine = engines()
    b = Probe("b", reads=("a",))
    engine.install("b", b.manifold())
    assert "'a' is not running" in str(b.expect_failed())
    a = Probe("a")
    running(engine, a)
    clock.wait_for_timers(1)
    assert delay_of_next_timer(clock) == 1.0  # the bounce delay
    clock.advance(1)
    assert b.expect_started().seen == {"a": "a#1"}
