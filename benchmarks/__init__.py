"""Benchmarks of agent_runtime, each figure beside raw gevent doing the same work.

    python -m benchmarks            every benchmark module, one table
    python -m benchmarks.runner     the Runner and worker figures only
    python -m benchmarks.plot PATH  docs/performance-scale.png from a --json PATH

Options: ``--quick`` (small N, a smoke run), ``--repeat N`` (default 7),
``--json PATH``, ``-k TEXT`` (select by name), ``--list``. The asyncio peer
and the plot need the ``bench`` extra (``pip install -e '.[bench]'``); the
ZooKeeper figures a server at ``$AGENT_RUNTIME_ZOOKEEPER``. See
docs/PERFORMANCE.md for the figures measured and how to read them.

A benchmark module is any module of this package whose name does not start
with ``_`` and that defines ``collect(config) -> list[Benchmark]``
(see ``benchmarks._harness``).
"""
