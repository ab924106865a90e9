"""The errors of ``environs``: every problem with a config or a provider is an
``EnvironError`` (a ``ValueError``), so one ``except`` covers them."""

from __future__ import annotations

__all__ = ["ConfigError", "EnvironError"]


class EnvironError(ValueError):
    """An environment cannot be made: its config is not valid, no provider
    handles its type, or the provider failed to open it."""


class ConfigError(EnvironError):
    """An environment config that is not valid. The message names the
    attribute, in the style of juju's schema errors:
    ``secret: expected string, got int(999)``."""
