"""environs: environment configs, the providers that open them, and ``new``.

``new(config)`` checks a config (``Config``), finds the provider registered
for its ``type`` and returns the ``IEnviron`` it opens, or raises an
``EnvironError`` saying what is wrong. See docs/environs.md.
"""

from __future__ import annotations

from agent_runtime.environs.config import KNOWN, Config, describe
from agent_runtime.environs.dummy import DummyEnviron, DummyProvider
from agent_runtime.environs.errors import ConfigError, EnvironError
from agent_runtime.environs.registry import (
    ENTRY_POINT_GROUP,
    new,
    provider,
    providers,
    register_provider,
    unregister_provider,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "KNOWN",
    "Config",
    "ConfigError",
    "DummyEnviron",
    "DummyProvider",
    "EnvironError",
    "describe",
    "new",
    "provider",
    "providers",
    "register_provider",
    "unregister_provider",
]
