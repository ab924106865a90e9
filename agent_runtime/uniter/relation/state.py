"""``State``: what a unit has committed about one relation.

``members`` maps each remote unit for which a ``relation-joined`` hook was
committed (and no ``relation-departed`` since) to the settings version its
last committed hook reflected. ``members is None`` means the relation is
broken: its ``relation-broken`` hook was committed. ``changed_pending`` names
the unit whose ``relation-joined`` was the last hook committed, so its
``relation-changed`` must be the next hook of the relation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from agent_runtime.uniter import hook
from agent_runtime.uniter.hook import Kind, quote
from agent_runtime.uniter.relation.errors import InappropriateHookError
from agent_runtime.uniter.relation.names import is_unit_name

__all__ = ["State"]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class State:
    """The committed state of one relation (see the module docstring).

    ``State(relation_id)`` is a relation with no members; ``members=None`` is
    a broken relation.
    """

    relation_id: int
    members: dict[str, int] | None = field(default_factory=dict)
    changed_pending: str = ""

    def __post_init__(self) -> None:
        if not _is_int(self.relation_id):
            raise TypeError(f"relation id must be an int, not {self.relation_id!r}")
        if self.members is not None:
            if not isinstance(self.members, Mapping):
                raise TypeError(f"members must map unit names to versions, not {self.members!r}")
            self.members = dict(self.members)
            for unit, version in self.members.items():
                if not isinstance(unit, str) or not _is_int(version):
                    raise TypeError(f"members must map str to int, got {unit!r}: {version!r}")
        if not isinstance(self.changed_pending, str):
            raise TypeError(f"changed_pending must be a str, not {self.changed_pending!r}")
        if self.changed_pending and self.changed_pending not in (self.members or {}):
            raise ValueError(
                f"changed_pending {quote(self.changed_pending)} is not a member of relation "
                f"{self.relation_id}"
            )

    def copy(self) -> State:
        """An independent copy (``members`` is copied; None stays None)."""
        members = None if self.members is None else dict(self.members)
        return State(self.relation_id, members, self.changed_pending)

    def validate(self, info: hook.Info) -> None:
        """Raise ``InappropriateHookError`` unless ``info`` may be the next
        hook committed for this relation; return None otherwise.

        The reference's rules: the relation id matches; the relation is not
        broken; ``relation-broken`` only once no member is left; after a
        ``relation-joined`` only that unit's ``relation-changed``; joined only
        for a unit that is not a member, changed and departed only for members.
        Also refused (not in the reference): a hook that is not a relation hook
        or not well formed, and a remote unit that is not a valid unit name.
        """
        kind, unit = info.kind, info.remote_unit
        reason = self._reason(info)
        if reason is not None:
            raise InappropriateHookError(f"inappropriate {quote(kind)} for {quote(unit)}: {reason}")

    def _reason(self, info: hook.Info) -> str | None:
        kind, unit = info.kind, info.remote_unit
        try:
            info.validate()
        except hook.HookError as error:
            return str(error)
        if not kind.is_relation():
            return "not a relation hook"
        if info.relation_id != self.relation_id:
            return f"expected relation {self.relation_id}, got relation {info.relation_id}"
        if self.members is None:
            return "relation is broken and cannot be changed further"
        if kind is Kind.RELATION_BROKEN:
            if self.members:
                return f"cannot run {quote(Kind.RELATION_BROKEN)} while units still present"
            return None
        if not is_unit_name(unit):
            return "invalid unit name"
        if self.changed_pending:
            if unit != self.changed_pending or kind is not Kind.RELATION_CHANGED:
                return f"expected {quote(Kind.RELATION_CHANGED)} for {quote(self.changed_pending)}"
        elif unit in self.members and kind is Kind.RELATION_JOINED:
            return "unit already joined"
        elif unit not in self.members and kind is not Kind.RELATION_JOINED:
            return "unit has not joined"
        return None
