"""Backoff: exact delays, the ceiling, jitter within bounds, bad parameters."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_runtime.worker.backoff import Backoff


def test_delays_grow_by_the_factor_up_to_the_ceiling():
    backoff = Backoff(initial=0.5, factor=2, max_delay=5)
    assert [backoff.delay(n) for n in range(1, 7)] == [0.5, 1, 2, 4, 5, 5]


def test_a_factor_of_one_keeps_the_delay_constant():
    backoff = Backoff(initial=3, factor=1, max_delay=3)
    assert {backoff.delay(n) for n in range(1, 50)} == {3}


def test_a_zero_initial_delay_restarts_at_once():
    assert Backoff(initial=0, factor=2, max_delay=10).delay(100) == 0


def test_thousands_of_failures_never_overflow_nor_go_negative():
    # juju/worker #12: int64 overflow after ~120 failures gave negative delays.
    backoff = Backoff(initial=0.001, factor=10, max_delay=300)
    assert backoff.delay(120) == backoff.delay(10**9) == 300


@given(
    initial=st.floats(0, 100),
    factor=st.floats(1, 1000),
    extra=st.floats(0, 1e6),
    failures=st.integers(1, 10**6),
)
def test_the_base_delay_is_within_initial_and_max(initial, factor, extra, failures):
    backoff = Backoff(initial=initial, factor=factor, max_delay=initial + extra)
    delay = backoff.base_delay(failures)
    assert initial <= delay <= initial + extra
    assert math.isfinite(delay)


@given(failures=st.integers(1, 40), seed=st.integers(0, 2**32))
def test_jitter_stays_within_its_bounds(failures, seed):
    backoff = Backoff(initial=1, factor=2, max_delay=30, jitter=0.25)
    base = backoff.base_delay(failures)
    delay = backoff.delay(failures, random.Random(seed))
    assert base * 0.75 <= delay <= base * 1.25


def test_jitter_is_deterministic_with_a_seeded_random():
    backoff = Backoff(initial=1, factor=2, max_delay=30, jitter=0.5)
    first = [backoff.delay(n, random.Random(7)) for n in range(1, 6)]
    again = [backoff.delay(n, random.Random(7)) for n in range(1, 6)]
    assert first == again
    assert first != [backoff.base_delay(n) for n in range(1, 6)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"initial": -1}, "initial delay must be >= 0"),
        ({"initial": math.inf}, "initial delay must be >= 0"),
        ({"initial": 1, "factor": 0.5}, "backoff factor must be >= 1"),
        ({"initial": 2, "max_delay": 1}, "max_delay must be >= the initial delay"),
        ({"initial": 1, "jitter": 1}, "jitter must be a fraction"),
        ({"initial": 1, "jitter": -0.1}, "jitter must be a fraction"),
    ],
)
def test_bad_parameters_are_refused_clearly(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Backoff(**kwargs)


def test_failures_count_from_one():
    with pytest.raises(ValueError, match="failures must be >= 1"):
        Backoff(initial=1).delay(0)
