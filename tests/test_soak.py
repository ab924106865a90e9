"""Memory soak: the demo's deployment under a loop of config changes.

The demo (examples/charms/demo.sh) deployed: kvdb/0, webapp/0 and webapp/1
as real unit agents on the embedded state, webapp related to kvdb. For
``$AGENT_RUNTIME_SOAK_SECONDS`` (default 600; a developer can run 30) the test
changes config in a loop — webapp's title and port, kvdb's user, which travels
to webapp over the relation — two changes a second at most (``PACE``), and
waits for every change to reach the files the hooks write before making the
next. A sampler reads each agent's resident
set size (``VmRSS`` in ``/proc/PID/status``) every ``SAMPLE_EVERY`` seconds.

The bound: after a warm-up (the first ``WARM_UP`` of the run), the median RSS
of the last fifth of the run may exceed the median of the warm-up's second
half by at most ``max(GROWTH_MB MiB, GROWTH_RATIO of it)``. Why 6 MiB: an
agent holds about 35 MiB (the interpreter, gevent, the state); in two
ten-minute runs (docs/RELIABILITY.md) the medians moved by 0.0 to 1.0 MiB,
while tracemalloc saw no growth of Python objects over a thousand hooks —
pymalloc's arenas and the allocator's free lists make RSS wander by about a
MiB with no leak behind it, and gevent keeps each child's exit status for 60 s.
In ten minutes, at two changes a second, each webapp agent runs about 1,200
hooks and several thousand tool calls, so the bound catches a leak of 5 KiB
per hook, or about 1-2 KiB per tool call; a shorter run is less sensitive in
proportion.
"""

from __future__ import annotations

import os
import statistics
import time

import gevent
import pytest

from agent_runtime.state import open as open_state

from e2e_support import Deployment

DURATION = float(os.environ.get("AGENT_RUNTIME_SOAK_SECONDS", "600"))
SAMPLE_EVERY = 2.0
#: Seconds from the start of one config change to the start of the next (when
#: the hooks are done sooner): the soak keeps the agents busy at a steady pace,
#: about a third of a CPU, not flat out beside the test matrix.
PACE = 0.5
WARM_UP = 0.25  # of the run
GROWTH_MB = 6.0
GROWTH_RATIO = 0.15
UNITS = ["kvdb/0", "webapp/0", "webapp/1"]


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for process {pid}")


def demo(d: Deployment) -> None:
    """The demo's first steps: deploy, start the agents, relate."""
    d.cli("deploy", "kvdb", "--charm", str(d.charms / "kvdb"), "-n", "1")
    d.cli("deploy", "webapp", "--charm", str(d.charms / "webapp"), "-n", "2")
    for unit in UNITS:
        d.start(unit)
    for unit in UNITS:
        d.wait_file(unit, "status", "started")
    d.cli("relate", "webapp", "kvdb")
    for unit in UNITS[1:]:
        d.wait_file(unit, "db.conf", "password=")


def reached(d: Deployment, name: str, text: str, timeout: float = 60) -> None:
    """Wait until each webapp unit's file ``name`` holds ``text``."""
    d.wait_until(
        lambda: all(text in d.read(unit, name) for unit in UNITS[1:]),
        what=f"{text!r} in webapp's {name}",
        timeout=timeout,
    )


@pytest.fixture
def deployment(tmp_path):
    deployment = Deployment(tmp_path)
    yield deployment
    deployment.close()


# gevent.subprocess forks; Python 3.12+ warns about fork() in a process with
# threads (pytest-timeout's). The children exec at once, so the warning is moot.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
@pytest.mark.long
@pytest.mark.timeout(DURATION + 300)
def test_the_demo_under_config_changes_keeps_its_memory(deployment):
    d = deployment
    demo(d)
    pids = {unit: d.agents[unit].pid for unit in UNITS}
    samples: dict[str, list[tuple[float, int]]] = {unit: [] for unit in UNITS}
    began = time.monotonic()

    def sample() -> None:
        while True:
            now = time.monotonic() - began
            for unit, pid in pids.items():
                samples[unit].append((now, rss_kib(pid)))
            gevent.sleep(SAMPLE_EVERY)

    state = open_state(f"sqlite:///{d.home}/state.db")
    sampler = gevent.spawn(sample)
    changes = 0
    try:
        while time.monotonic() - began < DURATION:
            gevent.sleep(max(0.0, began + changes * PACE - time.monotonic()))
            changes += 1
            if changes % 3:
                title, port = f"soak {changes}", 8000 + changes % 50
                state.update_service_config("webapp", {"title": title, "port": port})
                reached(d, "app.conf", f"title={title}\nport={port}\n")
            else:
                state.update_service_config("kvdb", {"user": f"user{changes}"})
                reached(d, "db.conf", f"user=user{changes}\n")
        for unit in UNITS:
            assert d.agents[unit].poll() is None, f"{unit} died: {d.log(unit)[-3000:]}"
    finally:
        sampler.kill()
        state.close()

    report = []
    for unit in UNITS:
        series = samples[unit]
        warm = [kib for t, kib in series if DURATION * WARM_UP / 2 <= t < DURATION * WARM_UP]
        tail = [kib for t, kib in series if t >= DURATION * 0.8]
        assert warm and tail, f"too few samples of {unit}: {series}"
        base, end = statistics.median(warm), statistics.median(tail)
        bound = max(GROWTH_MB * 1024, GROWTH_RATIO * base)
        peak = max(kib for _, kib in series)
        report.append(
            f"{unit}: warm-up median {base / 1024:.1f} MiB, end median {end / 1024:.1f} MiB "
            f"(growth {(end - base) / 1024:+.1f} MiB, bound {bound / 1024:.1f}), "
            f"peak {peak / 1024:.1f} MiB, {len(series)} samples"
        )
        assert end - base <= bound, "\n".join(report)
    hooks = {unit: len(d.hooks(unit)) for unit in UNITS}
    print(f"soak of {DURATION:g} s: {changes} config changes, each seen by the hooks; {hooks}")
    print("\n".join(report))
