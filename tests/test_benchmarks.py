"""The benchmark suite runs: every module's figures in their smallest size,
one repetition, so that a broken benchmark fails the tests. Nothing here
looks at a timing: only that each figure was measured and reported."""

from __future__ import annotations

import importlib
import json
import math
import pkgutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # benchmarks/ is not installed: it lives beside tests/
    sys.path.insert(0, str(ROOT))

import benchmarks  # noqa: E402
from benchmarks import _child, _harness, _workloads, peer, plot, scale  # noqa: E402
from benchmarks.__main__ import collectors  # noqa: E402

TINY = _harness.Config(quick=True, repeat=1, warmup=0)
#: Sized here, smaller than their --quick: the rest run at their --quick size.
OWN_SIZES = {"benchmarks.peer", "benchmarks.scale"}
#: Generous: a child's answer for a few hundred workers comes in well under a second.
TIMEOUT = 60.0


def _silent(message: str) -> None:
    pass


def _check_measured(result: _harness.BenchmarkResult, repeat: int = 1) -> None:
    name = result.benchmark.name
    assert result.variants, f"{name} has no variant"
    for variant in result.variants:
        assert len(variant.values) == repeat, name
        assert all(math.isfinite(v) and v >= 0 for v in variant.values), (name, variant)
    keys = {v.key for v in result.variants}
    for ratio in result.ratios:
        assert {ratio.numerator, ratio.denominator} <= keys, (name, ratio)
        assert len(ratio.paired) == repeat


def test_every_public_module_is_collected() -> None:
    public = {
        f"benchmarks.{m.name}"
        for m in pkgutil.iter_modules(benchmarks.__path__)
        if not m.name.startswith("_")
        and callable(getattr(importlib.import_module(f"benchmarks.{m.name}"), "collect", None))
    }
    found = {collect.__module__ for collect in collectors()}
    assert found == public
    assert {"benchmarks.peer", "benchmarks.scale", "benchmarks.runner"} <= found
    names = [b.name for collect in collectors() for b in collect(TINY)]
    assert len(names) == len(set(names)), names


@pytest.mark.parametrize(
    "collect",
    [c for c in collectors() if c.__module__ not in OWN_SIZES],
    ids=lambda c: c.__module__,
)
def test_module_runs_at_its_quick_size(collect) -> None:
    results = [_harness.measure(b, TINY, _silent) for b in collect(TINY)]
    for result in results:
        _check_measured(result)
    table = _harness.format_table(results)
    for result in results:
        assert result.benchmark.title in table


def _fixed(key: str, seconds: float) -> _harness.Variant:
    return _harness.Variant(key, f"returns {seconds}", lambda: seconds)


def test_cli_prints_one_table_a_summary_and_writes_json(tmp_path, capsys) -> None:
    def collect(config: _harness.Config) -> list[_harness.Benchmark]:
        return [
            _harness.Benchmark(
                name="fake-time",
                title="a time",
                unit="time",
                ops=4,
                op_name="op",
                per_op=True,
                session=_harness.fixed(_fixed("ours", 0.008), _fixed("raw", 0.004)),
                ratios=[_harness.Ratio("ours", "raw", _harness.Target("<=", 1.5))],
            ),
            _harness.Benchmark(
                name="fake-bytes",
                title="a size",
                unit="bytes",
                ops=2,
                op_name="worker",
                per_op=True,
                session=_harness.fixed(_fixed("ours", 3 * 2048.0), _fixed("raw", 2048.0)),
                ratios=[_harness.Ratio("ours", "raw")],
                repeat=1,
                warmup=0,
            ),
        ]

    path = tmp_path / "results.json"
    assert _harness.run_cli([collect], ["--repeat", "2", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"== {__name__} ==" in out
    assert "2.00 ms" in out and "1.00 ms" in out  # 8 ms / 4 ops, 4 ms / 4 ops
    assert "3.00 KiB" in out and "1.00 KiB" in out
    assert "1 repetition, no warm-up" in out  # fake-bytes' own caps
    assert "fake-time: ours / raw" in out and "MISSED" in out  # 2.00x against <= 1.5x
    assert "fake-bytes: ours / raw" in out and "3.00x" in out
    document = json.loads(path.read_text())
    by_name = {b["name"]: b for b in document["benchmarks"]}
    assert by_name["fake-time"]["repeat"] == 2 and by_name["fake-bytes"]["repeat"] == 1
    assert by_name["fake-time"]["ratios"][0]["ratio_of_medians"] == pytest.approx(2.0)
    assert by_name["fake-time"]["ratios"][0]["met"] is False
    assert by_name["fake-bytes"]["unit"] == "bytes per worker"
    assert by_name["fake-bytes"]["group"] == __name__


def test_a_benchmark_refuses_bad_caps_and_units() -> None:
    session = _harness.fixed(_fixed("a", 1.0))
    with pytest.raises(ValueError, match="repeat"):
        _harness.Benchmark("x", "x", "time", 1, "op", session, [], repeat=0)
    with pytest.raises(ValueError, match="unit"):
        _harness.Benchmark("x", "x", "joules", 1, "op", session, [])


def test_each_kind_does_the_work_in_a_child() -> None:
    with _child.Child() as child:
        for kind in sorted(_workloads.KINDS):
            # mode's supervisor finds crashes that come while it is busy only at
            # its 5 s poll: its failure path runs in the long test below.
            k = 0 if kind == "mode" else 2
            phases = child.call("run", TIMEOUT, kind=kind, n=30, k=k)
            assert 0 <= phases["running"] <= phases["total"], kind
            assert phases["cpu"] > 0, kind


@pytest.mark.long
def test_mode_restarts_its_failing_services_in_a_child() -> None:
    with _child.Child() as child:
        phases = child.call("run", TIMEOUT, kind="mode", n=10, k=2)
    assert 0 <= phases["running"] <= phases["total"]


def test_the_child_reports_a_failed_request() -> None:
    with _child.Child() as child, pytest.raises(RuntimeError, match="KeyError"):
        child.call("run", TIMEOUT, kind="no-such-kind", n=1, k=0)


def test_memory_per_worker_is_measured_in_a_fresh_child() -> None:
    raw = _child.memory("gevent-raw", 300, 1, TIMEOUT)
    runner = _child.memory("runner", 300, 1, TIMEOUT)
    assert 0 < raw < runner  # a Runner worker is two greenlets and a record


def test_peer_figures_run_and_give_their_ratios(monkeypatch) -> None:
    monkeypatch.delitem(peer.LABELS, "mode", raising=False)  # see the long test
    timed = _harness.measure(peer._timed("peer", "tiny", 40, 2, True, TINY), TINY, _silent)
    _check_measured(timed)
    assert {r.numerator + "/" + r.denominator for r in timed.ratios} >= {"runner/gevent-raw"}
    assert any("wall-clock" in note for note in timed.benchmark.notes)
    monkeypatch.delitem(peer.LABELS, "asyncio-taskgroup", raising=False)
    _check_measured(_harness.measure(peer._memory(200, TINY), TINY, _silent))


def test_scale_figures_run_and_plot(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(scale, "sizes", lambda config: (1_000, 2_000))
    results = [_harness.measure(b, TINY, _silent) for b in scale.collect(TINY)]
    for result in results:
        _check_measured(result)
    document = {"machine": {}, "benchmarks": [r.as_dict() for r in results]}
    series = plot.points(document, "scale-memory")
    assert [n for n, *_ in series["runner"]] == [1_000, 2_000]
    out = tmp_path / "scale.png"
    plot.plot(document, out)
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_plot_says_what_is_missing() -> None:
    with pytest.raises(ValueError, match=r"no 'scale-time' figure.*python -m benchmarks\.scale"):
        plot.points({"benchmarks": [{"name": "peer"}]}, "scale-time")
    assert scale.parse_key(scale.variant_key("runner", 100_000)) == ("runner", 100_000)
    with pytest.raises(ValueError, match="not a scale variant key"):
        scale.parse_key("peer-10k")
