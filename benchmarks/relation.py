"""Benchmarks of the relation state and hook queues, each beside plain code.

    python -m benchmarks.relation [--quick] [--repeat N] [--json PATH] [-k TEXT]

1. hookqueue: AliveQueueState.update() for random changes among 10,000 units
   of one relation, beside a plain dict loop doing the same bookkeeping (the
   versions dict and the ordered queue of hook kinds) inline.
2. statedir:  StateDir.write() of relation-changed hooks, beside the raw
   system calls writing the same bytes: write + fsync + rename (+ fsync of the
   directory, for the same durability).
3. statedir-tmpfs: the same on /dev/shm (tmpfs, where fsync is free), which
   leaves the code's own cost; skipped where there is no tmpfs /dev/shm.

Every figure is measured beside the plain code, in the same process run (see
``_harness``); targets are printed, never asserted.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import sys
import tempfile
from collections import OrderedDict
from collections.abc import Iterator, Sequence

from agent_runtime.uniter.hook import Info, Kind
from agent_runtime.uniter.relation import (
    AliveQueueState,
    RelationUnitsChange,
    State,
    read_state_dir,
)

from benchmarks._harness import (
    Benchmark,
    Config,
    Ratio,
    Target,
    Variant,
    fixed,
    run_cli,
    stopwatch,
)

__all__ = ["collect", "main"]

_JOINED, _CHANGED = Kind.RELATION_JOINED, Kind.RELATION_CHANGED


# -- 1. hook-queue updates ----------------------------------------------------------------


def _changes(units: list[str], m: int, seed: int) -> list[RelationUnitsChange]:
    """``m`` watcher events, each 1-3 random units with new versions (one in a
    hundred repeats a unit's current version)."""
    rng = random.Random(seed)
    versions = dict.fromkeys(units, 0)
    out = []
    for _ in range(m):
        changed = {}
        for unit in rng.sample(units, rng.randint(1, 3)):
            if rng.random() >= 0.01:
                versions[unit] += rng.randint(1, 3)
            changed[unit] = versions[unit]
        out.append(RelationUnitsChange(changed=changed))
    return out


def _hookqueue(n: int, m: int) -> Benchmark:
    units = [f"unit/{i}" for i in range(n)]
    first = RelationUnitsChange(changed=dict.fromkeys(units, 0))
    changes = _changes(units, m, seed=1)

    def queue() -> float:
        source = AliveQueueState(State(1, dict.fromkeys(units, 0)))
        source.update(first)  # reconciled: every unit joined, nothing due
        update = source.update
        elapsed = stopwatch()
        for change in changes:
            update(change)
        return elapsed()

    def plain() -> float:
        versions: dict[str, int] = dict.fromkeys(units, 0)
        hooks: OrderedDict[str, Kind] = OrderedDict()
        elapsed = stopwatch()
        for change in changes:
            changed = change.changed
            for unit in sorted(changed) if len(changed) > 1 else changed:
                version = changed[unit]
                known = versions.get(unit)
                if known is None:
                    hooks[unit] = _JOINED
                elif hooks.get(unit) is not _JOINED:
                    if version != known:
                        hooks[unit] = _CHANGED
                    else:
                        hooks.pop(unit, None)
                versions[unit] = version
        return elapsed()

    return Benchmark(
        name="hookqueue",
        title=f"1. hook-queue updates, random changes among {n:,} units ({m:,} events)",
        unit="time",
        ops=m,
        op_name="update",
        per_op=True,
        session=fixed(
            Variant("plain", "plain dicts: the same bookkeeping, inline", plain),
            Variant("queue", "AliveQueueState.update(change)", queue),
        ),
        ratios=[Ratio("queue", "plain", Target("<=", 5.0))],
        notes=[
            "an event holds 1-3 units; the queue checks it and applies it; "
            "the plain loop only applies it",
        ],
    )


# -- 2. StateDir writes ----------------------------------------------------------------------


def _statedir(n: int, where: str | None = None, name: str = "statedir") -> Benchmark:
    """StateDir writes in a fresh directory under ``where`` (None: the temp dir)."""
    units = [f"foo/{i}" for i in range(10)]

    @contextlib.contextmanager
    def session() -> Iterator[Sequence[Variant]]:
        root = tempfile.mkdtemp(prefix="agent-runtime-bench-", dir=where)
        try:
            dir = read_state_dir(root, 1)
            dir.ensure()
            for unit in units:
                dir.write(Info(_JOINED, 1, unit, 0))
                dir.write(Info(_CHANGED, 1, unit, 0))
            hooks = [Info(_CHANGED, 1, units[i % 10], i) for i in range(n)]
            raw_dir = os.path.join(root, "raw")
            os.mkdir(raw_dir)
            files = [
                (os.path.join(raw_dir, unit.replace("/", "-")), f"change-version: {i}\n".encode())
                for i, unit in ((i, units[i % 10]) for i in range(n))
            ]

            def statedir() -> float:
                write = dir.write
                elapsed = stopwatch()
                for info in hooks:
                    write(info)
                return elapsed()

            def raw(sync_dir: bool) -> float:
                flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
                elapsed = stopwatch()
                for path, data in files:
                    temporary = path + ".preparing"
                    fd = os.open(temporary, flags, 0o644)
                    os.write(fd, data)
                    os.fsync(fd)
                    os.close(fd)
                    os.rename(temporary, path)
                    if sync_dir:
                        dfd = os.open(raw_dir, os.O_RDONLY | os.O_DIRECTORY)
                        os.fsync(dfd)
                        os.close(dfd)
                return elapsed()

            yield [
                Variant("raw", "raw: write, fsync, rename", lambda: raw(False)),
                Variant("raw-dir", "raw: write, fsync, rename, fsync dir", lambda: raw(True)),
                Variant("statedir", "StateDir.write(relation-changed)", statedir),
            ]
        finally:
            shutil.rmtree(root, ignore_errors=True)

    place = where or tempfile.gettempdir()
    return Benchmark(
        name=name,
        title=f"{'2' if where is None else '3'}. StateDir writes in {place} "
        f"({n:,} writes over 10 unit files)",
        unit="rate",
        ops=n,
        op_name="write",
        session=session,
        ratios=[Ratio("statedir", "raw-dir"), Ratio("statedir", "raw")],
        notes=[
            "rate ratios: 1.00x is as fast as the raw calls, 0.50x half as fast",
            f"{place} is on {_fs_type(place)}"
            + (": fsync costs nothing, what is left is the code's own cost" if where else ""),
        ],
    )


# -- the module's figures ----------------------------------------------------------------


def _fs_type(path: str) -> str:
    """The type of the file system holding ``path`` (from /proc/mounts), or "?"."""
    best, kind = "", "?"
    real = os.path.realpath(path)
    with contextlib.suppress(OSError), open("/proc/mounts", encoding="utf-8") as mounts:
        for line in mounts:
            fields = line.split()
            if len(fields) < 3 or len(fields[1]) <= len(best):
                continue
            if real == fields[1] or real.startswith(fields[1].rstrip("/") + "/"):
                best, kind = fields[1], fields[2]
    return kind


def collect(config: Config) -> list[Benchmark]:
    """The benchmarks of this module, sized for ``config``."""
    n = 200 if config.quick else 1_000
    found = [_hookqueue(10_000, 20_000 if config.quick else 200_000), _statedir(n)]
    if os.path.isdir("/dev/shm") and _fs_type("/dev/shm") == "tmpfs":
        found.append(_statedir(n * 10, "/dev/shm", "statedir-tmpfs"))
    return found


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli([collect], argv, prog="python -m benchmarks.relation", description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
