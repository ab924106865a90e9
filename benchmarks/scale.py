"""How the Runner's cost per worker grows with the number of workers, beside
raw gevent greenlets doing the same work.

    python -m benchmarks.scale [--quick] [--repeat N] [--json PATH] [-k TEXT]

The work (``benchmarks._workloads``, ``k = 1``): N workers are started in one
Runner, each fails once at once and is restarted with no delay, then all are
stopped (``Runner.kill`` + ``wait``). The raw baseline: N greenlets, each
respawned once from a ``rawlink`` callback after its failure, each blocking on
its own Event, set to stop it. N is 1,000, 10,000 and 100,000 (``--quick``:
1,000 and 10,000).

1. scale-time:   CPU time per worker of the whole work, at each N.
2. scale-memory: resident memory per worker once all N run (after their
                 failure), at each N.

The work at one N runs in a child process of its own (``benchmarks._child``:
not monkey-patched, a heap of its own), the Runner and the raw greenlets in
the same one; a memory sample is a fresh child. ``python -m benchmarks.plot``
draws these figures against N (docs/performance-scale.png).
"""

from __future__ import annotations

import contextlib
import statistics
import sys
from collections.abc import Iterator, Sequence

from benchmarks._child import Child, memory, memory_note
from benchmarks._harness import Benchmark, Config, Ratio, Variant, run_cli
from benchmarks._watching import Recorder

__all__ = ["collect", "main", "sizes", "variant_key"]

#: The two sides of every figure: raw gevent and the Runner (workload kinds).
SIDES = {"raw": "gevent-raw", "runner": "runner"}


def sizes(config: Config) -> tuple[int, ...]:
    """The numbers of workers measured under ``config``."""
    return (1_000, 10_000) if config.quick else (1_000, 10_000, 100_000)


def variant_key(side: str, n: int) -> str:
    """``raw-10k``, ``runner-100k``: the key of one side at one N (see ``parse_key``)."""
    return f"{side}-{n // 1000}k"


def parse_key(key: str) -> tuple[str, int]:
    """The side and N of a variant key: ``parse_key("runner-10k") == ("runner", 10000)``."""
    side, _, size = key.rpartition("-")
    if side not in SIDES or not size.endswith("k") or not size[:-1].isdigit():
        raise ValueError(f"not a scale variant key: {key!r}")
    return side, int(size[:-1]) * 1000


def _label(side: str, n: int) -> str:
    if side == "raw":
        return f"raw gevent: {n:,} greenlets on own Events, respawned once"
    return f"Runner: {n:,} SimpleWorkers, each restarted once"


def _ratios(ns: Sequence[int]) -> list[Ratio]:
    """Ours beside raw at each N, then the growth of each side from the
    smallest N to each larger one."""
    ratios = [Ratio(variant_key("runner", n), variant_key("raw", n)) for n in ns]
    for side in SIDES:
        ratios += [Ratio(variant_key(side, n), variant_key(side, ns[0])) for n in ns[1:]]
    return ratios


def _time(config: Config) -> Benchmark:
    ns = sizes(config)
    notes: list[str] = [
        "the work: start N workers in one Runner (N greenlets), each fails once and is "
        "restarted at once (respawned), then stop them all and wait",
        "figure: CPU seconds of the child process over the work (time.process_time) / N; "
        "the growth ratios compare one side at N with itself at the smallest N",
    ]
    benchmark = Benchmark(
        name="scale-time",
        title=(
            f"1. start + one round of restarts + stop, at {', '.join(f'{n:,}' for n in ns)} "
            "workers; CPU time per worker"
        ),
        unit="time",
        ops=1,
        op_name="worker",
        per_op=True,
        session=lambda: session(),
        ratios=_ratios(ns),
        notes=notes,
        repeat=3,
        warmup=0,  # each child warms every kind up on 100 workers first
    )

    @contextlib.contextmanager
    def session() -> Iterator[Sequence[Variant]]:
        records = Recorder(0)
        with contextlib.ExitStack() as stack:
            variants = []
            for n in ns:
                child = stack.enter_context(Child())
                for side, kind in SIDES.items():
                    key = variant_key(side, n)

                    def run(key: str = key, kind: str = kind, n: int = n, child=child) -> float:
                        phases = child.call("run", kind=kind, n=n, k=1)
                        records.add(key, phases)
                        return phases["cpu"] / n

                    variants.append(Variant(key, _label(side, n), run))
            try:
                yield variants
            finally:
                notes.extend(_wall_notes(records, ns))

    return benchmark


def _wall_notes(records: Recorder, ns: Sequence[int]) -> list[str]:
    parts = []
    for n in ns:
        for side in SIDES:
            key = variant_key(side, n)
            runs = records.timed(key)
            if runs:
                running = statistics.median(r["running"] for r in runs) / n
                total = statistics.median(r["total"] for r in runs) / n
                parts.append(f"{key} {running * 1e6:,.1f} / {total * 1e6:,.1f} us")
    if not parts:
        return []
    return ["wall-clock per worker, median (all running / all stopped): " + ", ".join(parts)]


def _memory(config: Config) -> Benchmark:
    ns = sizes(config)
    return Benchmark(
        name="scale-memory",
        title=(
            f"2. resident memory per worker, all running after one failure, at "
            f"{', '.join(f'{n:,}' for n in ns)} workers"
        ),
        unit="bytes",
        ops=1,
        op_name="worker",
        per_op=True,
        session=lambda: _memory_variants(ns),
        ratios=_ratios(ns),
        notes=[
            memory_note("N"),
        ],
        repeat=2,
        warmup=0,
    )


@contextlib.contextmanager
def _memory_variants(ns: Sequence[int]) -> Iterator[Sequence[Variant]]:
    yield [
        Variant(
            variant_key(side, n),
            _label(side, n),
            lambda kind=kind, n=n: memory(kind, n, 1) / n,
        )
        for n in ns
        for side, kind in SIDES.items()
    ]


def collect(config: Config) -> list[Benchmark]:
    """The benchmarks of this module, sized for ``config``."""
    return [_time(config), _memory(config)]


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli([collect], argv, prog="python -m benchmarks.scale", description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
