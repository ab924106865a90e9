"""The hook tools that print what the unit knows of itself: config-get,
unit-get, owner-get."""

from __future__ import annotations

from agent_runtime.uniter.jujuc.cmd import Command, FlagSet, Invocation, check_empty, go_quote
from agent_runtime.uniter.jujuc.output import Output

__all__ = ["ConfigGet", "OwnerGet", "UnitGet"]


class ConfigGet(Command):
    name = "config-get"
    purpose = "print service configuration"
    args_usage = "[<key>]"
    doc = """
When no <key> is supplied, all keys with values or defaults are printed. If
--all is set, all known keys are printed; those without defaults or values are
reported as null. <key> and --all are mutually exclusive.
"""

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.output = Output()
        self.key = ""

    def set_flags(self, flags: FlagSet) -> None:
        self.output.add_flags(flags)
        self._all = flags.bool(("a", "all"), False, "print all keys")

    def init(self, args: list[str]) -> None:
        if args:
            self.key, args = args[0], args[1:]
        if self.key and self._all.value:
            raise ValueError(f"cannot use argument --all together with key {go_quote(self.key)}")
        check_empty(args)

    def run(self, inv: Invocation) -> None:
        settings = self.ctx.config_settings()
        if self.key:
            self.output.write(inv, settings.get(self.key))
        elif self._all.value:
            self.output.write(inv, dict(settings))
        else:
            self.output.write(inv, {k: v for k, v in settings.items() if v is not None})


class _SettingGet(Command):
    """A command printing one of a fixed set of settings."""

    args_usage = "<setting>"
    settings: tuple[str, ...] = ()

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.output = Output()
        self.key = ""

    def set_flags(self, flags: FlagSet) -> None:
        self.output.add_flags(flags)

    def init(self, args: list[str]) -> None:
        if not args:
            raise ValueError("no setting specified")
        if args[0] not in self.settings:
            raise ValueError(f"unknown setting {go_quote(args[0])}")
        self.key = args[0]
        check_empty(args[1:])


class UnitGet(_SettingGet):
    name = "unit-get"
    purpose = "print public-address or private-address"
    settings = ("private-address", "public-address")

    def run(self, inv: Invocation) -> None:
        if self.key == "private-address":
            value = self.ctx.private_address()
        else:
            value = self.ctx.public_address()
        if not value:
            raise LookupError(f"{self.key} not set")
        self.output.write(inv, value)


class OwnerGet(_SettingGet):
    name = "owner-get"
    purpose = (
        "print information about the owner of the service. "
        "The only valid value for <setting> is currently tag"
    )
    settings = ("tag",)

    def run(self, inv: Invocation) -> None:
        self.output.write(inv, self.ctx.owner_tag())
