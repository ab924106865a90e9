"""The Runner beside an asyncio peer doing the same supervised work.

    python -m benchmarks.peer [--quick] [--repeat N] [--json PATH] [-k TEXT]

The work (``benchmarks._workloads``): N workers are started, each fails K
times at once and is restarted with no delay, then all are stopped. It is
done five ways, side by side: raw gevent, agent_runtime's Runner, raw
asyncio, a plain asyncio supervisor (a TaskGroup with a restart loop per
worker) and mode-streaming's ``OneForOneSupervisor`` (the supervisor Faust's
agents run on).

1. peer:          10,000 workers, each failing once: CPU time per worker.
2. peer-restarts: 100 workers, each failing 100 times: CPU time per restart.
3. peer-memory:   10,000 workers all running after one failure each: the
                  resident memory each adds.

Every variant runs in a child process that is not monkey-patched (one per
figure, the same for all its variants; ``benchmarks._child``), so asyncio
runs on its own selector and no variant works on the benchmark process's
heap. asyncio variants run each repetition in a fresh event loop
(``asyncio.run``); each variant times only its work. The figure is CPU time
(``time.process_time``), which a machine shared with other work disturbs far
less than wall-clock time, and which leaves out mode's supervisor poll (see
the notes); the wall-clock medians are in the notes.
"""

from __future__ import annotations

import contextlib
import statistics
import sys
from collections.abc import Iterator, Sequence

from benchmarks._child import Child, memory, memory_note
from benchmarks._harness import Benchmark, Config, Ratio, Variant, run_cli
from benchmarks._watching import Recorder
from benchmarks._workloads import KINDS, MISSING

__all__ = ["LABELS", "collect", "main"]

#: Every way of doing the work, in the table's order, with its label.
LABELS = {
    "gevent-raw": "raw gevent: a greenlet per instance, respawned from rawlink",
    "runner": "agent_runtime Runner(restart_delay=0) of SimpleWorkers",
    "asyncio-raw": "raw asyncio: a task per instance, re-created from a done callback",
    "asyncio-taskgroup": "plain asyncio supervisor: TaskGroup, a restart loop per worker",
    "mode": "mode-streaming OneForOneSupervisor, one Service per worker",
}
#: Ours against raw gevent and the peers; the peers against raw asyncio.
_RATIOS = (
    ("runner", "gevent-raw"),
    ("runner", "mode"),
    ("runner", "asyncio-taskgroup"),
    ("mode", "asyncio-raw"),
    ("asyncio-taskgroup", "asyncio-raw"),
    ("gevent-raw", "asyncio-raw"),
)


def _mode_version() -> str:
    try:
        from importlib.metadata import version

        return version("mode-streaming")
    except Exception:  # not installed: the kind is missing and says why
        return "?"


def _kinds(benchmark: Benchmark, notes: list[str]) -> list[str]:
    """The kinds this Python has; the benchmark's ratios between them; a note
    for each kind it lacks."""
    kinds = [kind for kind in LABELS if kind in KINDS]
    benchmark.ratios = [Ratio(a, b) for a, b in _RATIOS if a in kinds and b in kinds]
    notes.extend(f"{kind} not measured: {why}" for kind, why in sorted(MISSING.items()))
    return kinds


def _timed(name: str, title: str, n: int, k: int, per_restart: bool, config: Config) -> Benchmark:
    """CPU time of the work, each kind in one child, wall-clock time in the notes."""
    notes: list[str] = [
        "each worker's first instance(s) raise at once; restarts have no delay; once all "
        f"{n:,} run, all are stopped and waited for",
        "figure: CPU seconds of the child process over the work (time.process_time), "
        f"divided by the number of {'restarts' if per_restart else 'workers'}",
    ]
    benchmark = Benchmark(
        name=name,
        title=title,
        unit="time",
        ops=n * k if per_restart else n,
        op_name="restart" if per_restart else "worker",
        per_op=True,
        session=lambda: session(),
        ratios=[],
        notes=notes,
        repeat=5,
    )

    @contextlib.contextmanager
    def session() -> Iterator[Sequence[Variant]]:
        records = Recorder(benchmark.repetitions(config)[1])
        kinds = _kinds(benchmark, notes)
        with Child() as child:

            def run(kind: str) -> float:
                phases = child.call("run", kind=kind, n=n, k=k)
                records.add(kind, phases)
                return phases["cpu"]

            try:
                yield [Variant(kind, LABELS[kind], lambda kind=kind: run(kind)) for kind in kinds]
            finally:
                notes.extend(_wall_notes(records, kinds, benchmark.ops, benchmark.op_name))

    return benchmark


def _wall_notes(records: Recorder, kinds: Sequence[str], ops: int, op_name: str) -> list[str]:
    walls = {}
    for kind in kinds:
        runs = records.timed(kind)
        if runs:
            walls[kind] = (
                statistics.median(r["total"] for r in runs) / ops,
                statistics.median(r["running"] for r in runs) / ops,
            )
    if not walls:
        return []
    lines = [
        f"wall-clock per {op_name}, median (all running / all stopped): "
        + ", ".join(f"{kind} {_us(run)} / {_us(total)}" for kind, (total, run) in walls.items())
    ]
    if "runner" in walls and "mode" in walls:
        lines.append(
            f"wall-clock ratio runner / mode: {walls['runner'][0] / walls['mode'][0]:.2f}x; "
            "mode's supervisor misses a crash that comes while it is not waiting for one "
            "(starting or restarting others) and finds it at its next 5 s poll: idle time, "
            "not CPU"
        )
    return lines


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f} us"


def _memory(n: int, config: Config) -> Benchmark:
    notes: list[str] = [
        memory_note(f"{n:,}"),
        "a Runner worker holds two greenlets (the worker's and the one that starts and waits "
        "for it) and its last error with its traceback; a raw greenlet, only itself",
    ]
    benchmark = Benchmark(
        name="peer-memory",
        title=f"3. memory per worker: {n:,} workers running after one failure each",
        unit="bytes",
        ops=n,
        op_name="worker",
        per_op=True,
        session=lambda: session(),
        ratios=[],
        notes=notes,
        repeat=3,
        warmup=0,
    )

    @contextlib.contextmanager
    def session() -> Iterator[Sequence[Variant]]:
        kinds = _kinds(benchmark, notes)
        yield [
            Variant(kind, LABELS[kind], lambda kind=kind: float(memory(kind, n, 1)))
            for kind in kinds
        ]

    return benchmark


def collect(config: Config) -> list[Benchmark]:
    """The benchmarks of this module, sized for ``config``."""
    n, few, k = (1_000, 20, 10) if config.quick else (10_000, 100, 100)
    version = _mode_version()
    return [
        _timed(
            "peer",
            f"1. {n:,} workers each failing once, restarted at once, then all stopped; "
            f"CPU time (Runner vs mode-streaming {version} and raw loops)",
            n,
            1,
            False,
            config,
        ),
        _timed(
            "peer-restarts",
            f"2. {few} workers each failing {k} times ({few * k:,} restarts), then stopped; "
            "CPU time per restart",
            few,
            k,
            True,
            config,
        ),
        _memory(n, config),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli([collect], argv, prog="python -m benchmarks.peer", description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
