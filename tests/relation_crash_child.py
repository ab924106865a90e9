"""The writer of the relation crash test, run in a child process.

    python relation_crash_child.py ROOT ROUND COUNT

It reads relation ``RELATION``'s state from ROOT (which a killed predecessor
may have left mid-write), then commits COUNT hooks chosen by ``next_hook``,
printing the index of each once its write returned. The test imports
``next_hook`` and ``apply`` to know what the disk may hold after each write.
"""

from __future__ import annotations

import sys

from agent_runtime.uniter.hook import Info, Kind
from agent_runtime.uniter.relation import State, read_state_dir

RELATION = 42
UNITS = [f"foo-bar/{k}" for k in range(6)] + ["x/10", "x/9"]


def version(round: int, index: int) -> int:
    return round * 1_000_000 + index


def next_hook(state: State, round: int, index: int) -> Info:
    """The hook committed as write ``index`` of ``round`` on ``state``."""
    members = state.members or {}
    v = version(round, index)
    if state.changed_pending:
        return Info(Kind.RELATION_CHANGED, RELATION, state.changed_pending, v)
    unit = UNITS[index % len(UNITS)]
    if unit not in members:
        return Info(Kind.RELATION_JOINED, RELATION, unit, v)
    if index % 7 == 3:
        return Info(Kind.RELATION_DEPARTED, RELATION, unit, v)
    return Info(Kind.RELATION_CHANGED, RELATION, unit, v)


def apply(state: State, info: Info) -> State:
    """``state`` after committing ``info`` (what ``StateDir.write`` does)."""
    state = state.copy()
    if info.kind is Kind.RELATION_DEPARTED:
        del state.members[info.remote_unit]
        state.changed_pending = ""
    else:
        state.members[info.remote_unit] = info.change_version
        state.changed_pending = info.remote_unit if info.kind is Kind.RELATION_JOINED else ""
    return state


def main(root: str, round: int, count: int) -> None:
    dir = read_state_dir(root, RELATION)
    dir.ensure()
    out = sys.stdout
    out.write("ready\n")
    out.flush()
    for index in range(count):
        info = next_hook(dir.state(), round, index)
        dir.state().validate(info)
        dir.write(info)
        out.write(f"{index}\n")
        out.flush()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
