"""The measuring side of the benchmarks: repetitions, statistics, the table.

A benchmark is a set of *variants* doing the same work: raw gevent code (the
baseline) and agent_runtime code (what is measured). Each repetition runs
every variant once, one after the other, in the same process, so that noise
from the machine (2 shared cores in CI) hits the baseline and our code alike;
the order of the variants rotates from one repetition to the next so neither
always runs first. A variant times only the work (its set-up and tear-down are
outside the stopwatch) and returns the elapsed seconds.

A benchmark may measure memory instead (``unit="bytes"``): its variants then
return bytes, not seconds, and everything else is the same.

What is reported: for each variant the median and the min..max over the
repetitions; for each ratio the ratio of the medians (the figure the target is
about) and, beside it, the min..max of the per-repetition ratios (each the two
variants of one repetition, run side by side). Targets are printed with a
verdict; nothing is asserted: a benchmark never fails on timing.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "UNITS",
    "Benchmark",
    "Config",
    "Ratio",
    "Target",
    "Variant",
    "fixed",
    "format_summary",
    "format_table",
    "machine_info",
    "measure",
    "run_cli",
    "stopwatch",
]

DEFAULT_REPEAT = 7
QUICK_REPEAT = 3


@dataclass(frozen=True)
class Config:
    """What the command line asked for; benchmarks size their work from it."""

    quick: bool = False
    repeat: int = DEFAULT_REPEAT
    warmup: int = 1


@dataclass(frozen=True)
class Variant:
    """One way of doing the benchmark's work.

    ``run()`` does the work once and returns the seconds the timed part took.
    """

    key: str
    label: str
    run: Callable[[], float]


@dataclass(frozen=True)
class Target:
    """A bound on a ratio: ``op`` is ``"<="`` or ``">="``."""

    op: str
    value: float

    def __post_init__(self) -> None:
        if self.op not in ("<=", ">="):
            raise ValueError(f"a target's op is '<=' or '>=', not {self.op!r}")

    def met(self, ratio: float) -> bool:
        return ratio <= self.value if self.op == "<=" else ratio >= self.value

    def __str__(self) -> str:
        return f"{self.op} {self.value:.1f}x"


@dataclass(frozen=True)
class Ratio:
    """``median(numerator) / median(denominator)``, by variant key."""

    numerator: str
    denominator: str
    target: Target | None = None


@dataclass
class Benchmark:
    """A figure: variants measured side by side, and the ratios to print.

    ``unit`` is ``"time"`` (seconds, lower is better), ``"rate"`` (``ops``
    divided by the seconds, higher is better) or ``"bytes"`` (the variants
    return bytes instead of seconds; lower is better). With ``per_op`` a time
    or a size is shown per operation (divided by ``ops``). ``session`` is a
    context manager factory yielding the variants: set-up shared by all
    repetitions goes there. ``repeat`` and ``warmup``, when set, cap the
    repetitions and warm-up runs the command line asks for (for a figure whose
    one run takes long, or gains nothing from a warm-up); ``group`` names the
    module it comes from in the table (``run_cli`` fills it in).
    """

    name: str
    title: str
    unit: str
    ops: int
    op_name: str
    session: Callable[[], AbstractContextManager[Sequence[Variant]]]
    ratios: Sequence[Ratio]
    per_op: bool = False
    notes: Sequence[str] = ()
    repeat: int | None = None
    warmup: int | None = None
    group: str = ""

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"unit is one of {', '.join(UNITS)}, not {self.unit!r}")
        if self.repeat is not None and self.repeat < 1:
            raise ValueError(f"{self.name}: repeat must be >= 1, not {self.repeat}")
        if self.warmup is not None and self.warmup < 0:
            raise ValueError(f"{self.name}: warmup must be >= 0, not {self.warmup}")

    def value(self, seconds: float) -> float:
        """The figure shown for a run that took ``seconds`` (or measured that
        many bytes, for ``unit="bytes"``)."""
        if self.unit == "rate":
            return self.ops / seconds if seconds > 0 else float("inf")
        return seconds / self.ops if self.per_op else seconds

    def repetitions(self, config: Config) -> tuple[int, int]:
        """(repetitions, warm-up runs) for this benchmark under ``config``."""
        repeat = config.repeat if self.repeat is None else min(config.repeat, self.repeat)
        warmup = config.warmup if self.warmup is None else min(config.warmup, self.warmup)
        return repeat, warmup


UNITS = ("time", "rate", "bytes")


def fixed(*variants: Variant) -> Callable[[], AbstractContextManager[Sequence[Variant]]]:
    """A session for variants that need no shared set-up."""

    @contextlib.contextmanager
    def session() -> Iterator[Sequence[Variant]]:
        yield variants

    return session


def stopwatch() -> Callable[[], float]:
    """Start timing; the returned function gives the seconds elapsed since."""
    start = time.perf_counter()
    return lambda: time.perf_counter() - start


# -- results -------------------------------------------------------------------


@dataclass
class VariantResult:
    key: str
    label: str
    seconds: list[float]
    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "seconds": self.seconds,
            "values": self.values,
            "median": self.median,
            "min": min(self.values),
            "max": max(self.values),
        }


@dataclass
class RatioResult:
    numerator: str
    denominator: str
    label: str
    ratio: float
    paired: list[float]
    target: Target | None

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.target.met(self.ratio)

    def as_dict(self) -> dict[str, Any]:
        return {
            "numerator": self.numerator,
            "denominator": self.denominator,
            "label": self.label,
            "ratio_of_medians": self.ratio,
            "paired_min": min(self.paired),
            "paired_max": max(self.paired),
            "target": str(self.target) if self.target else None,
            "met": self.met,
        }


@dataclass
class BenchmarkResult:
    benchmark: Benchmark
    variants: list[VariantResult]
    ratios: list[RatioResult] = field(default_factory=list)
    wall_seconds: float = 0.0
    warmup: int = 0

    def as_dict(self) -> dict[str, Any]:
        b = self.benchmark
        return {
            "name": b.name,
            "group": b.group,
            "title": b.title,
            "unit": _unit_name(b),
            "ops": b.ops,
            "variants": [v.as_dict() for v in self.variants],
            "ratios": [r.as_dict() for r in self.ratios],
            "notes": list(b.notes),
            "repeat": len(self.variants[0].values) if self.variants else 0,
            "warmup": self.warmup,
            "wall_seconds": self.wall_seconds,
        }


def measure(
    benchmark: Benchmark, config: Config, progress: Callable[[str], None]
) -> BenchmarkResult:
    """Run the benchmark's variants ``config.repeat`` times (or the benchmark's
    own cap), interleaved."""
    began = time.perf_counter()
    repeat, warmup = benchmark.repetitions(config)
    with benchmark.session() as variants:
        variants = list(variants)
        keys = [v.key for v in variants]
        if len(set(keys)) != len(keys):
            raise ValueError(f"{benchmark.name}: variant keys repeat: {keys}")
        for _ in range(warmup):
            for variant in variants:
                gc.collect()
                variant.run()
        seconds: dict[str, list[float]] = {v.key: [] for v in variants}
        for repetition in range(repeat):
            progress(f"{benchmark.name}: repetition {repetition + 1}/{repeat}")
            shift = repetition % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                gc.collect()  # garbage of the previous run is not this one's cost
                seconds[variant.key].append(variant.run())
    results = [
        VariantResult(v.key, v.label, seconds[v.key], [benchmark.value(s) for s in seconds[v.key]])
        for v in variants
    ]
    by_key = {r.key: r for r in results}
    result = BenchmarkResult(
        benchmark, results, wall_seconds=time.perf_counter() - began, warmup=warmup
    )
    for spec in benchmark.ratios:
        num, den = by_key[spec.numerator], by_key[spec.denominator]
        paired = [n / d for n, d in zip(num.values, den.values, strict=True)]
        result.ratios.append(
            RatioResult(
                spec.numerator,
                spec.denominator,
                f"ratio {spec.numerator} / {spec.denominator}",
                num.median / den.median,
                paired,
                spec.target,
            )
        )
    return result


# -- presentation ----------------------------------------------------------------


def _three_digits(number: float) -> str:
    """``number`` with 3 significant digits, in fixed notation (782, 55.8, 5.58)."""
    if number >= 100:
        return f"{number:.0f}"
    return f"{number:.1f}" if number >= 10 else f"{number:.2f}"


def _format_seconds(seconds: float) -> str:
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "us")):
        if seconds >= scale:
            return f"{_three_digits(seconds / scale)} {unit}"
    return f"{_three_digits(seconds / 1e-9)} ns"


def _format_bytes(size: float) -> str:
    for scale, unit in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if abs(size) >= scale:
            return f"{_three_digits(size / scale)} {unit}"
    return f"{size:.0f} B"


def _format_value(benchmark: Benchmark, value: float) -> str:
    if benchmark.unit == "rate":
        return f"{value:,.0f}/s"
    if benchmark.unit == "bytes":
        return _format_bytes(value)
    return _format_seconds(value)


def _unit_name(benchmark: Benchmark) -> str:
    if benchmark.unit == "rate":
        return f"{benchmark.op_name}s per second"
    if benchmark.unit == "bytes":
        return f"bytes per {benchmark.op_name}" if benchmark.per_op else "bytes"
    return f"seconds per {benchmark.op_name}" if benchmark.per_op else "seconds"


def _unit_caption(benchmark: Benchmark) -> str:
    if benchmark.unit == "rate":
        return f"{benchmark.op_name}s per second, higher is better"
    if benchmark.unit == "bytes":
        per = f" per {benchmark.op_name}" if benchmark.per_op else ""
        return f"memory{per}, lower is better"
    if benchmark.per_op:
        return f"time per {benchmark.op_name}, lower is better"
    return "time for all, lower is better"


def _own_repetitions(result: BenchmarkResult) -> str:
    """``"; 3 repetitions, no warm-up"`` for a benchmark that caps them, else ``""``."""
    b = result.benchmark
    if b.repeat is None and b.warmup is None:
        return ""
    runs = len(result.variants[0].values) if result.variants else 0
    warmup = f"+{result.warmup} warm-up" if result.warmup else "no warm-up"
    return f"; {runs} repetition{'s' if runs != 1 else ''}, {warmup}"


def format_table(results: Sequence[BenchmarkResult]) -> str:
    """One aligned table of every result (plain ASCII)."""
    header = ("measurement", "median", "min..max", "target", "verdict")
    rows: list[tuple[str, ...] | str] = []
    titles: dict[str, str] = {}  # a figure's heading -> its group
    for result in results:
        b = result.benchmark
        heading = f"{b.title}  ({_unit_caption(b)}{_own_repetitions(result)})"
        titles[heading] = b.group
        rows.append(heading)
        for v in result.variants:
            low, high = min(v.values), max(v.values)
            rows.append(
                (
                    f"  {v.key}: {v.label}",
                    _format_value(b, v.median),
                    f"{_format_value(b, low)} .. {_format_value(b, high)}",
                    "",
                    "",
                )
            )
        for r in result.ratios:
            verdict = "(info)" if r.met is None else "met" if r.met else "MISSED"
            rows.append(
                (
                    f"  {r.label}",
                    f"{r.ratio:.2f}x",
                    f"{min(r.paired):.2f}x .. {max(r.paired):.2f}x",
                    str(r.target) if r.target else "",
                    verdict,
                )
            )
        for note in b.notes:
            rows.append(f"  note: {note}")
    cells = [row for row in rows if isinstance(row, tuple)] + [header]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        first = row[0].ljust(widths[0])
        rest = [row[i].rjust(widths[i]) for i in (1, 2)] + [row[3].ljust(widths[3]), row[4]]
        return "  ".join([first, *rest]).rstrip()

    out = [line(header), "-" * len(line(header))]
    group = ""
    for index, row in enumerate(rows):
        if isinstance(row, str):
            if index and not row.startswith("  "):
                out.append("")
            if not row.startswith("  ") and titles.get(row, "") != group:
                group = titles[row]
                out.extend([f"== {group} ==", ""])
            out.append(row)
        else:
            out.append(line(row))
    return "\n".join(out)


def format_summary(results: Sequence[BenchmarkResult]) -> str:
    """Every ratio of every result, one line each: ours beside its baseline."""
    header = ("figure: ours / baseline", "ours", "baseline", "ratio", "min..max", "target")
    rows = []
    for result in results:
        b = result.benchmark
        by_key = {v.key: v for v in result.variants}
        for r in result.ratios:
            verdict = "" if r.met is None else " met" if r.met else " MISSED"
            rows.append(
                (
                    f"{b.name}: {r.numerator} / {r.denominator}",
                    _format_value(b, by_key[r.numerator].median),
                    _format_value(b, by_key[r.denominator].median),
                    f"{r.ratio:.2f}x",
                    f"{min(r.paired):.2f}x .. {max(r.paired):.2f}x",
                    f"{r.target}{verdict}" if r.target else "",
                )
            )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        cells = [row[0].ljust(widths[0])] + [row[i].rjust(widths[i]) for i in range(1, 5)]
        return "  ".join([*cells, row[5]]).rstrip()

    return "\n".join([line(header), "-" * len(line(header)), *map(line, rows)])


def machine_info() -> dict[str, Any]:
    import gevent
    import greenlet

    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for text in cpuinfo:
            if text.startswith("model name"):
                model = text.split(":", 1)[1].strip()
                break
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "gevent": gevent.__version__,
        "greenlet": greenlet.__version__,
        "gevent_loop": gevent.config.loop.__module__,
        "cpus": os.cpu_count(),
        "cpus_usable": usable,
        "cpu_model": model,
        "platform": platform.platform(),
    }


def _format_machine(info: dict[str, Any], config: Config) -> str:
    return (
        f"{info['python']}, gevent {info['gevent']} ({info['gevent_loop']}), "
        f"greenlet {info['greenlet']}; {info['cpus_usable']} usable of {info['cpus']} CPUs"
        f"{' (' + info['cpu_model'] + ')' if info['cpu_model'] else ''}; {info['platform']}\n"
        f"{config.repeat} repetitions (+{config.warmup} warm-up), variants interleaved"
        f"{'; QUICK run (small N)' if config.quick else ''}"
    )


# -- the command line -----------------------------------------------------------------

Collector = Callable[[Config], Sequence[Benchmark]]


def _parser(prog: str | None, description: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        metavar="N",
        help=f"repetitions of each measurement (default {DEFAULT_REPEAT}, "
        f"{QUICK_REPEAT} with --quick)",
    )
    parser.add_argument("--quick", action="store_true", help="a fast smoke run with smaller N")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    parser.add_argument(
        "--warmup", type=int, default=1, metavar="N", help="untimed runs of each variant first"
    )
    parser.add_argument(
        "-k",
        dest="select",
        action="append",
        default=[],
        metavar="TEXT",
        help="run only the benchmarks whose name or title contains TEXT (repeatable)",
    )
    parser.add_argument(
        "--list", action="store_true", help="list the benchmarks and exit without running them"
    )
    return parser


def _module_name(collect: Collector) -> str:
    """The name of the module that defines ``collect``, also when it runs as
    ``__main__`` (``python -m benchmarks.runner``)."""
    name = getattr(collect, "__module__", None) or ""
    spec = getattr(sys.modules.get(name), "__spec__", None)
    return getattr(spec, "name", None) or name


def run_cli(
    collectors: Sequence[Collector],
    argv: Sequence[str] | None = None,
    prog: str | None = None,
    description: str | None = None,
) -> int:
    """Parse the command line, run the benchmarks the collectors give, print the table."""
    args = _parser(prog, description).parse_args(argv)
    repeat = (
        args.repeat if args.repeat is not None else QUICK_REPEAT if args.quick else DEFAULT_REPEAT
    )
    if repeat < 1 or args.warmup < 0:
        print("--repeat must be >= 1 and --warmup >= 0", file=sys.stderr)
        return 2
    config = Config(quick=args.quick, repeat=repeat, warmup=args.warmup)
    benchmarks = []
    for collect in collectors:
        for b in collect(config):
            b.group = b.group or _module_name(collect)
            benchmarks.append(b)
    if args.select:
        benchmarks = [
            b for b in benchmarks if any(t in b.name or t in b.title for t in args.select)
        ]
    if args.list:
        for b in benchmarks:
            print(f"{b.name:16} {b.title}  [{b.group}]")
        return 0
    if not benchmarks:
        print("no benchmark selected", file=sys.stderr)
        return 2

    def progress(message: str) -> None:
        print(f"  ... {message}", file=sys.stderr, flush=True)

    info = machine_info()
    results = []
    began = time.perf_counter()
    for benchmark in benchmarks:
        print(f"running {benchmark.name}: {benchmark.title}", file=sys.stderr, flush=True)
        results.append(measure(benchmark, config, progress))
    wall = time.perf_counter() - began
    print(_format_machine(info, config))
    print()
    print(format_table(results))
    print()
    if any(r.ratios for r in results):
        print("Summary: every ratio, ours beside its baseline measured in the same run")
        print()
        print(format_summary(results))
        print()
    print(f"(total {wall:.1f} s; ratios are medians over medians; the min..max of a ratio row")
    print(" is over the per-repetition ratios; verdicts are printed, never asserted)")
    if args.json:
        document = {
            "machine": info,
            "config": {"quick": config.quick, "repeat": config.repeat, "warmup": config.warmup},
            "wall_seconds": wall,
            "benchmarks": [r.as_dict() for r in results],
        }
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=2)
            out.write("\n")
    return 0
