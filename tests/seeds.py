"""Seeded randomness for the fault and load tests (docs/RELIABILITY.md).

Each randomised test takes its seed from ``seeded()``: a fresh one, or
``$AGENT_RUNTIME_SEED`` to replay a failure. The seed is printed (pytest shows
it with the output of a failed test) and belongs in every assertion message.
"""

from __future__ import annotations

import os
import random

__all__ = ["seeded"]


def seeded(what: str) -> tuple[int, random.Random]:
    """A seed and a ``random.Random`` made from it, for the test ``what``.
    ``AGENT_RUNTIME_SEED=N`` replays the run whose seed was N."""
    replay = os.environ.get("AGENT_RUNTIME_SEED")
    seed = int(replay) if replay else random.randrange(2**32)
    print(f"{what}: seed {seed} (replay with AGENT_RUNTIME_SEED={seed})")
    return seed, random.Random(seed)
