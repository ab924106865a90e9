"""The parameters of a state URL's query string, checked."""

from __future__ import annotations

from agent_runtime.state.errors import BadURL

__all__ = ["check_parameters", "seconds_parameter"]


def check_parameters(query: dict[str, list[str]], allowed: set[str], url: str) -> None:
    """Raise ``BadURL`` naming every parameter of ``query`` not in ``allowed``."""
    unknown = set(query) - allowed
    if unknown:
        raise BadURL(f"unknown parameter(s) {', '.join(sorted(unknown))} in {url!r}")


def seconds_parameter(
    query: dict[str, list[str]], name: str, default: float, maximum: float, url: str
) -> float:
    """The number of seconds ``name`` gives in ``query`` (its last value), or
    ``default``; ``BadURL`` unless it is a number above 0 and at most ``maximum``."""
    if name not in query:
        return default
    try:
        seconds = float(query[name][-1])
    except ValueError:
        raise BadURL(f"{name} must be a number of seconds in {url!r}") from None
    if not 0 < seconds <= maximum:
        raise BadURL(f"{name} must be between 0 and {maximum:g} seconds in {url!r}")
    return seconds
