"""Draw the scale figures: cost per worker against the number of workers.

    python -m benchmarks.plot RESULTS.json [-o docs/performance-scale.png]
    python -m benchmarks.plot [--quick] [--repeat N] [-o PNG]   (runs benchmarks.scale first)

RESULTS.json is what ``python -m benchmarks --json PATH`` (or ``python -m
benchmarks.scale --json PATH``) wrote; it must hold the ``scale-time`` and
``scale-memory`` figures. The picture has two panels, CPU time per worker and
resident memory per worker, each against the number of workers on a log
axis: agent_runtime's Runner beside raw gevent greenlets, the median of each
point with its min..max as an error bar, and the Runner / raw ratio written
beside each point. Needs matplotlib (the ``bench`` extra); draws with the Agg
backend (no display).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.scale import SIDES, parse_key

__all__ = ["main", "plot", "points"]

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "docs" / "performance-scale.png"
#: The panels: (benchmark name, y axis label, unit divisor, unit).
PANELS = (
    ("scale-time", "CPU time per worker", 1e-6, "us"),
    ("scale-memory", "resident memory per worker", 1024.0, "KiB"),
)
STYLE = {
    "runner": {"label": "agent_runtime Runner", "color": "#c0392b", "marker": "o"},
    "raw": {"label": "raw gevent greenlets", "color": "#2471a3", "marker": "s"},
}


def points(document: dict[str, Any], name: str) -> dict[str, list[tuple[int, float, float, float]]]:
    """Per side (``runner``, ``raw``) of the benchmark ``name`` in a results
    document: (N, median, min, max), sorted by N. Raises ``ValueError`` naming
    what is missing when the document has no such figure."""
    found = [b for b in document.get("benchmarks", []) if b.get("name") == name]
    if not found:
        names = ", ".join(b.get("name", "?") for b in document.get("benchmarks", [])) or "none"
        raise ValueError(
            f"no {name!r} figure in the results (it has: {names}); "
            "run python -m benchmarks.scale --json PATH (or python -m benchmarks) first"
        )
    series: dict[str, list[tuple[int, float, float, float]]] = {side: [] for side in SIDES}
    for variant in found[0]["variants"]:
        side, n = parse_key(variant["key"])
        series[side].append((n, variant["median"], variant["min"], variant["max"]))
    return {side: sorted(values) for side, values in series.items()}


def plot(document: dict[str, Any], out: str | os.PathLike[str]) -> None:
    """Draw the two panels of ``document``'s scale figures into the PNG ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(1, len(PANELS), figsize=(11, 4.2), constrained_layout=True)
    for axis, (name, what, divisor, unit) in zip(axes, PANELS, strict=True):
        series = points(document, name)
        for side, values in series.items():
            if not values:
                continue
            ns = [n for n, *_ in values]
            medians = [m / divisor for _, m, _, _ in values]
            below = [(m - low) / divisor for _, m, low, _ in values]
            above = [(high - m) / divisor for _, m, _, high in values]
            axis.errorbar(ns, medians, yerr=[below, above], capsize=3, linewidth=1.8, **STYLE[side])
        raw = {n: m for n, m, _, _ in series["raw"]}
        for n, median, _, _ in series["runner"]:
            if raw.get(n):
                axis.annotate(
                    f"{median / raw[n]:.1f}x raw",
                    (n, median / divisor),
                    textcoords="offset points",
                    xytext=(6, 6),
                    fontsize=8,
                    color=STYLE["runner"]["color"],
                )
        sizes = sorted({n for values in series.values() for n, *_ in values})
        axis.set_xscale("log")
        axis.set_xticks(sizes, [f"{n:,}" for n in sizes])
        axis.minorticks_off()
        axis.set_xlim(sizes[0] / 2, sizes[-1] * 2.5)
        axis.set_xlabel("workers in one runner (log scale)")
        axis.set_ylabel(f"{what} ({unit})")
        axis.set_ylim(0, axis.get_ylim()[1] * 1.15)
        axis.grid(True, alpha=0.3)
        axis.legend(loc="lower right", fontsize=9)
    axes[0].set_title("start + one round of restarts + stop", fontsize=10)
    axes[1].set_title("all running, after one failure each", fontsize=10)
    machine = document.get("machine", {})
    figure.suptitle(
        f"agent_runtime Runner vs raw gevent, per worker (medians, min..max bars); "
        f"{machine.get('python', '')}, gevent {machine.get('gevent', '?')}, "
        f"{machine.get('cpus_usable', '?')} CPUs",
        fontsize=10,
    )
    figure.savefig(out, dpi=110)
    pyplot.close(figure)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.plot",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("results", nargs="?", help="a results JSON; without it, run the scale")
    parser.add_argument("-o", "--out", default=str(DEFAULT_OUT), help="the PNG to write")
    parser.add_argument("--quick", action="store_true", help="(running) only 1,000 and 10,000")
    parser.add_argument("--repeat", metavar="N", help="(running) repetitions")
    args = parser.parse_args(argv)
    if args.results:
        with open(args.results, encoding="utf-8") as source:
            document = json.load(source)
    else:
        from benchmarks import scale

        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "scale.json")
            options = ["--json", path] + (["--quick"] if args.quick else [])
            options += ["--repeat", args.repeat] if args.repeat else []
            code = scale.main(options)
            if code:
                return code
            with open(path, encoding="utf-8") as source:
                document = json.load(source)
    try:
        plot(document, args.out)
    except ValueError as error:
        print(f"python -m benchmarks.plot: {error}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
