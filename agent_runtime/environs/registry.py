"""The provider registry: which ``IEnvironProvider`` opens each environment type.

Providers come from two places:

* ``register_provider(type, provider)`` in this process (the ``dummy``
  provider is registered this way when ``environs`` is imported);
* the entry-point group ``agent_runtime.providers`` of installed
  distributions: the entry point's name is the type, its object the provider
  (an ``IEnvironProvider``, or a class implementing it, which is called with no
  arguments). An entry point is loaded the first time its type is looked up,
  never at import; a provider registered in-process wins over an entry point
  of the same name.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping
from typing import Any

from agent_runtime.environs.config import Config
from agent_runtime.environs.dummy import DummyProvider
from agent_runtime.environs.errors import EnvironError
from agent_runtime.interfaces import IEnviron, IEnvironProvider

__all__ = [
    "ENTRY_POINT_GROUP",
    "new",
    "provider",
    "providers",
    "register_provider",
    "unregister_provider",
]

#: The entry-point group where distributions declare providers.
ENTRY_POINT_GROUP = "agent_runtime.providers"

_registered: dict[str, Any] = {"dummy": DummyProvider()}


def _check_type(type: Any) -> str:
    if not isinstance(type, str) or not type:
        raise ValueError(f"a provider type is a non-empty str, not {type!r}")
    return type


def register_provider(type: str, provider: Any, *, replace: bool = False) -> None:
    """Make ``provider`` (an ``IEnvironProvider``) open environments of ``type``.

    Raises ``TypeError`` if it does not provide the interface and
    ``ValueError`` if ``type`` is taken (unless ``replace``), as juju's
    ``RegisterProvider`` refused duplicates.
    """
    _check_type(type)
    if not IEnvironProvider.providedBy(provider):
        raise TypeError(f"provider for {type!r} must provide IEnvironProvider, not {provider!r}")
    if type in _registered and not replace:
        raise ValueError(f"duplicate provider type {type!r}")
    _registered[type] = provider


def unregister_provider(type: str) -> None:
    """Forget the provider registered for ``type`` in this process (an entry
    point of that name becomes visible again). Unknown types are ignored."""
    _registered.pop(_check_type(type), None)


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    found: dict[str, importlib.metadata.EntryPoint] = {}
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(entry_point.name, entry_point)  # the first on sys.path wins
    return found


def providers() -> list[str]:
    """The sorted types that have a provider, registered or declared by an
    entry point (entry points are listed, not loaded)."""
    return sorted(set(_registered) | set(_entry_points()))


def _load(entry_point: importlib.metadata.EntryPoint) -> Any:
    where = f"entry point {entry_point.name!r} ({entry_point.value}) of {ENTRY_POINT_GROUP}"
    try:
        loaded = entry_point.load()
        if isinstance(loaded, type) and IEnvironProvider.implementedBy(loaded):
            loaded = loaded()
    except Exception as error:
        raise EnvironError(
            f"cannot load provider {entry_point.name!r} from {where}: "
            f"{type(error).__name__}: {error}"
        ) from error
    if not IEnvironProvider.providedBy(loaded):
        raise EnvironError(
            f"cannot load provider {entry_point.name!r} from {where}: "
            f"{loaded!r} does not provide IEnvironProvider"
        )
    return loaded


def provider(type: str) -> Any:
    """The ``IEnvironProvider`` for ``type``, loading its entry point the first
    time. Raises ``EnvironError``: ``no registered provider for "unknown"``, or
    naming the entry point that could not be loaded."""
    found = _registered.get(type)
    if found is not None:
        return found
    entry_point = _entry_points().get(type) if isinstance(type, str) else None
    if entry_point is None:
        raise EnvironError(f'no registered provider for "{type}"')
    loaded = _load(entry_point)
    return _registered.setdefault(type, loaded)


def new(config: Config | Mapping[str, Any]) -> Any:
    """Open the environment ``config`` describes: check it (``Config``), find
    the provider of its type, let the provider validate it and open it.

    Returns an ``IEnviron``. Raises ``EnvironError`` (a ``ValueError``) with a
    message saying what is wrong; a provider that fails with any other
    ``Exception`` has it wrapped in an ``EnvironError`` naming the provider.
    """
    config = Config(config)
    found = provider(config.type)
    try:
        found.validate(config)
        environ = found.open(config)
    except EnvironError:
        raise
    except Exception as error:
        raise EnvironError(
            f'provider "{config.type}" cannot open environment "{config.name}": '
            f"{type(error).__name__}: {error}"
        ) from error
    if not IEnviron.providedBy(environ):
        raise EnvironError(
            f'provider "{config.type}" returned {environ!r}, which does not provide IEnviron'
        )
    return environ
