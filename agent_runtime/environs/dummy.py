"""The ``dummy`` provider: an environment that exists only in memory, for
tests and examples (juju's ``provider/dummy``).

It checks one attribute of its own: ``broken`` must not be set (tests use it
to make a config the dummy refuses, after the common checks have passed).
"""

from __future__ import annotations

from typing import Any

from zope.interface import implementer

from agent_runtime.environs.config import Config
from agent_runtime.environs.errors import ConfigError
from agent_runtime.interfaces import IEnviron, IEnvironProvider

__all__ = ["DummyEnviron", "DummyProvider"]


@implementer(IEnviron)
class DummyEnviron:
    """A dummy environment: its name and the config it was opened with."""

    __slots__ = ("_config",)

    def __init__(self, config: Config) -> None:
        self._config = Config(config)

    def name(self) -> str:
        return self._config.name

    def config(self) -> dict[str, Any]:
        return self._config.as_dict()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DummyEnviron):
            return NotImplemented
        return self._config == other._config

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<DummyEnviron {self._config.name!r}>"


@implementer(IEnvironProvider)
class DummyProvider:
    """Opens ``DummyEnviron``s; refuses a config with a ``broken`` attribute."""

    def validate(self, config: Config) -> None:
        if "broken" in config:
            raise ConfigError(
                f"broken: the dummy provider refuses it (set to {config['broken']!r})"
            )

    def open(self, config: Config) -> DummyEnviron:
        self.validate(config)
        return DummyEnviron(config)

    def __repr__(self) -> str:
        return "<DummyProvider>"
