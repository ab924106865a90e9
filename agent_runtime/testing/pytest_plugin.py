"""A pytest plugin for code that runs on gevent.

Enable it in a ``conftest.py``::

    pytest_plugins = ["agent_runtime.testing.pytest_plugin"]

For every test it checks two things, and fails the test when either is broken:

* **No leaked greenlets.** Every greenlet the test started has finished when
  it ends (after a short grace period for greenlets that are already dying).
  Leaked greenlets are listed with their stacks, then killed so that they do
  not disturb the next test.
* **No lost errors.** No greenlet died with an exception that only the gevent
  hub saw (and would have printed to stderr). In agent_runtime every error is
  delivered to whoever waits; one that reaches the hub is a bug.

Mark a test ``@pytest.mark.allow_leaked_greenlets`` or
``@pytest.mark.allow_hub_errors`` to exempt it.
"""

from __future__ import annotations

import gc
import traceback

import gevent
import greenlet
import pytest

#: Real seconds a test's greenlets get to finish dying after the test returned.
LEAK_GRACE = 2.0

_last_scan: tuple[object, set] | None = None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "allow_leaked_greenlets: do not fail the test for greenlets it leaves alive"
    )
    config.addinivalue_line(
        "markers", "allow_hub_errors: do not fail the test for errors that reached the gevent hub"
    )


def _root(g: greenlet.greenlet) -> greenlet.greenlet:
    while g.parent is not None:
        g = g.parent
    return g


def live_greenlets() -> set[greenlet.greenlet]:
    """Every greenlet of this thread that has started and not finished, except
    the current one. (Greenlets of other threads, such as a thread pool's, are
    not this test's business.)"""
    current = greenlet.getcurrent()
    root = _root(current)
    return {
        g
        for g in gc.get_objects()
        if isinstance(g, greenlet.greenlet)
        and g
        and not g.dead
        and g is not current
        and _root(g) is root
    }


def _threads_are_green() -> bool:
    from gevent import monkey

    return monkey.is_module_patched("threading")


def _describe(g: greenlet.greenlet) -> str:
    frame = getattr(g, "gr_frame", None)
    stack = "".join(traceback.format_stack(frame)) if frame is not None else "  (no frame)\n"
    return f"{g!r}\n{stack}"


@pytest.fixture(autouse=True)
def _no_leaked_greenlets(request: pytest.FixtureRequest):
    if request.node.get_closest_marker("allow_leaked_greenlets"):
        yield
        return
    # Scanning the heap for greenlets costs a few milliseconds; what was alive
    # after the previous test of the same module and class is what is alive
    # before this one (module- and class-scoped fixtures are set up by then).
    # (Not under monkey patching: there, plugins such as pytest-timeout start a
    # green thread per test, after the previous test's scan.)
    global _last_scan
    scope = (request.node.module, request.node.cls)
    if _last_scan is not None and _last_scan[0] == scope and not _threads_are_green():
        before = _last_scan[1]
    else:
        before = live_greenlets()
    _last_scan = None
    hub = gevent.get_hub()
    yield
    alive = live_greenlets()
    leaked = alive - before - {hub}
    if leaked:
        with gevent.Timeout(LEAK_GRACE, False):
            while leaked:
                gevent.sleep(0.005)
                leaked = {g for g in leaked if g and not g.dead}
    if leaked:
        report = "\n".join(_describe(g) for g in leaked)
        for g in leaked:
            if isinstance(g, gevent.Greenlet):
                g.kill(block=False)
        gevent.sleep(0)
        pytest.fail(
            f"{len(leaked)} greenlet(s) still alive after the test:\n{report}", pytrace=False
        )
    _last_scan = (scope, {g for g in alive if g and not g.dead})


@pytest.fixture(autouse=True)
def _no_hub_errors(request: pytest.FixtureRequest):
    if request.node.get_closest_marker("allow_hub_errors"):
        yield
        return
    hub = gevent.get_hub()
    seen: list[str] = []
    original = hub.handle_error

    def handle_error(context, type, value, tb):
        if type is not None and not issubclass(type, hub.NOT_ERROR):
            seen.append(f"in {context!r}:\n" + "".join(traceback.format_exception(type, value, tb)))
        original(context, type, value, tb)

    hub.handle_error = handle_error
    try:
        yield
    finally:
        del hub.handle_error
    if seen:
        pytest.fail(
            "errors reached the gevent hub instead of whoever waits:\n" + "\n".join(seen),
            pytrace=False,
        )
