"""The relation hook tools that read: relation-get, relation-ids,
relation-list; and the ``-r`` flag they share with relation-set."""

from __future__ import annotations

import re

from agent_runtime.uniter.jujuc.cmd import (
    Command,
    FlagSet,
    Info,
    Invocation,
    Value,
    check_empty,
    go_quote,
)
from agent_runtime.uniter.jujuc.output import Output

__all__ = ["RelationGet", "RelationIdValue", "RelationIds", "RelationList", "add_relation_flag"]

_INTEGER = re.compile(r"[+-]?[0-9]+\Z")


class RelationIdValue(Value):
    """The ``-r`` flag: a relation id, given as ``<id>`` or ``<name>:<id>``.

    Only the text after the last ``:`` counts (``ignored:0`` is relation 0);
    it must be an integer (``invalid relation id``) naming a relation of the
    context (``unknown relation id``). The default is the hook's relation,
    shown as its fake id (``peer1:1``), or -1 (shown as nothing) outside a
    relation hook.
    """

    def __init__(self, ctx) -> None:
        relation = ctx.hook_relation()
        super().__init__(-1 if relation is None else relation.id())
        self._ctx = ctx
        self._text = "" if relation is None else relation.fake_id()

    def set(self, text: str) -> None:
        number = text.rpartition(":")[2]
        if not _INTEGER.match(number):
            raise ValueError("invalid relation id")
        id = int(number)
        if self._ctx.relation(id) is None:
            raise ValueError("unknown relation id")
        self.value = id
        self._text = text

    def __str__(self) -> str:
        return self._text


def add_relation_flag(flags: FlagSet, ctx) -> RelationIdValue:
    return flags.add("r", RelationIdValue(ctx), "specify a relation by id")  # type: ignore[return-value]


def _relation(ctx, id: int):
    relation = ctx.relation(id)
    if relation is None:
        raise LookupError("unknown relation id")
    return relation


class RelationGet(Command):
    name = "relation-get"
    purpose = "get relation settings"

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.output = Output()
        self.relation_id = -1
        self.key = ""
        self.unit_name = ""

    def info(self) -> Info:
        args = "<key> <unit id>"
        doc = (
            "relation-get prints the value of a unit's relation setting, specified by key.\n"
            'If no key is given, or if the key is "-", all keys and values will be printed.\n'
        )
        remote = self.ctx.remote_unit_name()
        if remote:
            args = "[<key> [<unit id>]]"
            doc += f"Current default unit id is {go_quote(remote)}."
        return Info(self.name, args, self.purpose, doc)

    def set_flags(self, flags: FlagSet) -> None:
        self.output.add_flags(flags)
        self._relation = add_relation_flag(flags, self.ctx)

    def init(self, args: list[str]) -> None:
        self.relation_id = self._relation.value  # type: ignore[assignment]
        if self.relation_id == -1:
            raise ValueError("no relation id specified")
        if args:
            self.key = "" if args[0] == "-" else args[0]
            args = args[1:]
        self.unit_name = self.ctx.remote_unit_name() or ""
        if args:
            self.unit_name, args = args[0], args[1:]
        if not self.unit_name:
            raise ValueError("no unit id specified")
        check_empty(args)

    def run(self, inv: Invocation) -> None:
        relation = _relation(self.ctx, self.relation_id)
        if self.unit_name == self.ctx.unit_name():
            settings = relation.settings().map()
        else:
            settings = relation.read_settings(self.unit_name)
        if self.key:
            self.output.write(inv, settings.get(self.key))
        else:
            self.output.write(inv, settings)


class RelationIds(Command):
    name = "relation-ids"
    purpose = "list all relation ids with the given relation name"

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.output = Output()
        self.relation_name = ""

    def info(self) -> Info:
        relation = self.ctx.hook_relation()
        if relation is None:
            return Info(self.name, "<name>", self.purpose)
        doc = f"Current default relation name is {go_quote(relation.name())}."
        return Info(self.name, "[<name>]", self.purpose, doc)

    def set_flags(self, flags: FlagSet) -> None:
        self.output.add_flags(flags)

    def init(self, args: list[str]) -> None:
        relation = self.ctx.hook_relation()
        if relation is not None:
            self.relation_name = relation.name()
        if args:
            self.relation_name, args = args[0], args[1:]
        if not self.relation_name:
            raise ValueError("no relation name specified")
        check_empty(args)

    def run(self, inv: Invocation) -> None:
        ids = []
        for id in self.ctx.relation_ids():
            relation = self.ctx.relation(id)
            if relation is not None and relation.name() == self.relation_name:
                ids.append(relation.fake_id())
        self.output.write(inv, sorted(ids))


class RelationList(Command):
    name = "relation-list"
    purpose = "list relation units"

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.output = Output()
        self.relation_id = -1

    def info(self) -> Info:
        doc = ""
        if self.ctx.hook_relation() is None:
            doc = "-r must be specified when not in a relation hook"
        return Info(self.name, "", self.purpose, doc)

    def set_flags(self, flags: FlagSet) -> None:
        self.output.add_flags(flags)
        self._relation = add_relation_flag(flags, self.ctx)

    def init(self, args: list[str]) -> None:
        self.relation_id = self._relation.value  # type: ignore[assignment]
        if self.relation_id == -1:
            raise ValueError("no relation id specified")
        check_empty(args)

    def run(self, inv: Invocation) -> None:
        relation = _relation(self.ctx, self.relation_id)
        self.output.write(inv, sorted(relation.unit_names() or ()))
