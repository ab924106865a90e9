"""Run every benchmark module of the package: ``python -m benchmarks [options]``."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Sequence

import benchmarks
from benchmarks._harness import Collector, run_cli


def collectors() -> list[Collector]:
    """The ``collect`` function of every public module of the package, by name."""
    found = []
    for module_info in sorted(pkgutil.iter_modules(benchmarks.__path__), key=lambda m: m.name):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"benchmarks.{module_info.name}")
        collect = getattr(module, "collect", None)
        if callable(collect):
            found.append(collect)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(collectors(), argv, prog="python -m benchmarks", description=benchmarks.__doc__)


if __name__ == "__main__":
    sys.exit(main())
