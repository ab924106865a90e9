"""The ZooKeeper store's watch cache: the read that armed a watch answers
later reads of that path until the watch fires."""

from __future__ import annotations

from typing import Any

__all__ = ["WatchCache"]


class WatchCache:
    """What one kind of watch (data or children) holds for each watched path:
    whether the watch is armed, and the value read while it was.

    A value is cached only if no event for its path came between the read
    and the store (``generation`` counts the events), and the watch was armed
    when the read began; any later change fires that watch, which drops the
    value. Touched only on the hub's greenlets, never across a blocking call
    between checking and storing.
    """

    __slots__ = ("armed", "generation", "values")

    def __init__(self) -> None:
        self.armed: set[str] = set()
        self.generation: dict[str, int] = {}
        self.values: dict[str, Any] = {}

    def invalidate(self, path: str) -> None:
        self.generation[path] = self.generation.get(path, 0) + 1
        self.values.pop(path, None)

    def fired(self, path: str) -> None:
        self.armed.discard(path)
        self.invalidate(path)

    def clear(self) -> None:
        self.armed.clear()
        self.values.clear()
        self.generation = {path: n + 1 for path, n in self.generation.items()}

    def store(self, path: str, generation: int, value: Any) -> None:
        if path in self.armed and self.generation.get(path, 0) == generation:
            self.values[path] = value
