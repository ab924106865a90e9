"""Backoff: how long to wait before the next attempt after a run of failures.

One pure calculation shared by every supervisor in the package (the Runner's
restart policies, the dependency engine): the delay grows by ``factor`` with
each consecutive failure, up to ``max_delay``, and is then spread by
``jitter`` so that workers that failed together do not all retry together.

It cannot overflow: juju's engine computed ``delay * factor ** n`` in int64
nanoseconds, which after about 120 failures turned negative and restarted at
once, hundreds of thousands of times a minute (juju/worker #12). Here the
exponent stops growing once the delay has reached ``max_delay``.
"""

from __future__ import annotations

import math
import random as _random
from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with a ceiling and jitter.

    ``delay(1)`` is ``initial``; each further consecutive failure multiplies
    it by ``factor`` (1 keeps it constant), never past ``max_delay``. With
    ``jitter`` j (0 <= j < 1) the result is drawn uniformly from
    ``[d * (1 - j), d * (1 + j)]`` around that delay d.
    """

    initial: float
    factor: float = 2.0
    max_delay: float = 60.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if not (self.initial >= 0 and math.isfinite(self.initial)):
            raise ValueError(f"initial delay must be >= 0 seconds, not {self.initial!r}")
        if not (self.factor >= 1 and math.isfinite(self.factor)):
            raise ValueError(f"backoff factor must be >= 1, not {self.factor!r}")
        if not (self.max_delay >= self.initial and math.isfinite(self.max_delay)):
            raise ValueError(
                f"max_delay must be >= the initial delay ({self.initial!r} s), "
                f"not {self.max_delay!r}"
            )
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter must be a fraction in [0, 1), not {self.jitter!r}")

    def base_delay(self, failures: int) -> float:
        """The delay after ``failures`` consecutive failures (>= 1), before jitter."""
        if failures < 1:
            raise ValueError(f"failures must be >= 1, not {failures!r}")
        if self.initial == 0:
            return 0.0
        if self.factor == 1:
            return self.initial
        # Past the ceiling (compared in logarithms: a quotient or a power could
        # overflow), stop multiplying; below it, multiply exactly.
        exponent = failures - 1
        if math.log(self.initial) + exponent * math.log(self.factor) >= math.log(self.max_delay):
            return self.max_delay
        try:
            return min(self.initial * self.factor**exponent, self.max_delay)
        except OverflowError:  # a subnormal initial delay: the power alone overflows
            return self.max_delay

    def delay(self, failures: int, random: _random.Random | None = None) -> float:
        """The delay after ``failures`` consecutive failures, jittered with
        ``random`` (the module's generator when None; pass a seeded one in tests)."""
        base = self.base_delay(failures)
        if not self.jitter or not base:
            return base
        spread = (random or _random).uniform(-self.jitter, self.jitter)
        return base * (1.0 + spread)
