"""``StateDir``: the committed state of one relation, kept on disk.

Layout (the reference's)::

    <relations-dir>/
        <relation-id>/            one directory per relation, named by its id ("123")
            <service>-<number>    one YAML file per member: "foo-bar/1" -> "foo-bar-1"

A member's file holds ``change-version: <int>`` and, only right after its
``relation-joined`` was committed, ``changed-pending: true``. Every change is
atomic and durable (see ``durable``). Entries that are not unit files
(``*.preparing`` leftovers, other names, sub-directories with other names) are
ignored by readers.
"""

from __future__ import annotations

import os
import re
from typing import Any

import yaml

from agent_runtime.uniter import hook
from agent_runtime.uniter.hook import Kind, quote
from agent_runtime.uniter.relation import durable
from agent_runtime.uniter.relation.errors import RelationStateError, StateDirError
from agent_runtime.uniter.relation.names import unit_file_name, unit_from_file_name
from agent_runtime.uniter.relation.state import State

__all__ = ["StateDir", "read_all_state_dirs", "read_state_dir"]

try:
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader

_RELATION_ID = re.compile(r"0|[1-9][0-9]*")


class _Invalid(Exception):
    """An error found while reading, before the directory's context is added."""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _reason(error: OSError) -> str:
    """What went wrong, as Go words it ("is a directory", "directory not empty")."""
    text = error.strerror or str(error)
    return text[:1].lower() + text[1:]


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def _check_relation_id(relation_id: object) -> int:
    if not _is_int(relation_id):
        raise TypeError(f"relation id must be an int, not {relation_id!r}")
    if relation_id < 0:  # type: ignore[operator]
        raise ValueError(f"relation id must not be negative, got {relation_id}")
    return relation_id  # type: ignore[return-value]


def _unit_file_bytes(version: int, pending: bool) -> bytes:
    text = f"change-version: {version}\n"
    if pending:
        text += "changed-pending: true\n"
    return text.encode("ascii")


def _read_unit_file(directory: str, name: str) -> tuple[int, bool]:
    path = os.path.join(directory, name)
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as error:
        raise _Invalid(f"cannot read unit file {quote(path)}: {_reason(error)}") from error
    try:
        document = yaml.load(data, Loader=_Loader)
    except yaml.YAMLError as error:
        reason = _one_line(error)
        raise _Invalid(f"invalid unit file {quote(name)}: YAML error: {reason}") from error
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise _Invalid(
            f"invalid unit file {quote(name)}: YAML error: "
            f"expected a mapping, found {type(document).__name__}"
        )
    version = document.get("change-version")
    if version is None:
        # The reference's message, typo included: tests and operators match it.
        raise _Invalid(f'invalid unit file {quote(name)}: "changed-version" not set')
    if not _is_int(version):
        raise _Invalid(
            f"invalid unit file {quote(name)}: YAML error: "
            f"change-version must be an integer, not {version!r}"
        )
    pending = document.get("changed-pending")
    if pending is None:
        pending = False
    if not isinstance(pending, bool):
        raise _Invalid(
            f"invalid unit file {quote(name)}: YAML error: "
            f"changed-pending must be true or false, not {pending!r}"
        )
    return version, pending


def _load(path: str, relation_id: int) -> State:
    state = State(relation_id)
    try:
        names = sorted(os.listdir(path))
    except FileNotFoundError:
        return state
    except OSError as error:
        raise _Invalid(f"cannot list {quote(path)}: {_reason(error)}") from error
    members: dict[str, int] = {}
    pending = ""
    for name in names:
        unit = unit_from_file_name(name)
        if unit is None:
            continue
        version, changed_pending = _read_unit_file(path, name)
        members[unit] = version
        if changed_pending:
            if pending:
                raise _Invalid(
                    f"{quote(pending)} and {quote(unit)} both have pending changed hooks"
                )
            pending = unit
    return State(relation_id, members, pending)


class StateDir:
    """The committed state of one relation and the directory that keeps it.

    Made by ``read_state_dir``/``read_all_state_dirs``. ``state()`` gives a
    copy of what was read or last written; ``write(info)`` commits a hook
    that ran; ``remove()`` removes the (empty) directory once the relation is
    broken. The cached state changes only after the disk did.
    """

    def __init__(self, path: str, state: State) -> None:
        self._path = path
        self._state = state

    @property
    def path(self) -> str:
        """The relation's directory, ``<relations-dir>/<relation-id>``."""
        return self._path

    @property
    def relation_id(self) -> int:
        return self._state.relation_id

    def state(self) -> State:
        """A copy of the committed state; changing it changes nothing here."""
        return self._state.copy()

    def ensure(self) -> None:
        """Create the relation's directory (and missing parents, mode 0755) if
        it does not exist, durably. Raises ``StateDirError`` if it cannot."""
        path = self._path
        try:
            existing = os.path.abspath(path)
            while not os.path.isdir(existing):
                parent = os.path.dirname(existing)
                if parent == existing:
                    break
                existing = parent
            os.makedirs(path, 0o755, exist_ok=True)
            # Make every directory we created durable in its parent.
            created = os.path.abspath(path)
            while created != existing:
                parent = os.path.dirname(created)
                durable.fsync_dir(parent)
                created = parent
        except OSError as error:
            raise StateDirError(
                f"cannot create relation state directory {quote(path)}: {_reason(error)}", path
            ) from error

    def write(self, info: hook.Info) -> None:
        """Commit ``info``, a relation hook that ran successfully.

        ``relation-joined``/``relation-changed`` write the remote unit's file
        (with ``changed-pending: true`` after joined); ``relation-departed``
        removes it; ``relation-broken`` is ``remove()``. Writing the same hook
        twice is harmless. The hook is not checked against the state (call
        ``state().validate(info)`` first), but a hook of another relation, a
        unit hook or a remote unit that is not a unit name is refused before
        the disk is touched. The directory must exist (``ensure()``).

        Raises ``StateDirError``; on error the disk and the cached state are
        as they were. (One corner: when everything succeeded but the final
        fsync of the directory, the new file is in place but may not survive
        a power failure; the error is raised and the cache keeps the old
        state, so re-read the directory before going on.)
        """
        if not isinstance(info, hook.Info):
            raise TypeError(f"write() takes a hook.Info, not {info!r}")
        try:
            self._write(info)
        except (OSError, RelationStateError, hook.HookError) as error:
            raise StateDirError(
                f"failed to write {quote(info.kind)} hook info for {quote(info.remote_unit)} "
                f"on state directory: {_describe(error)}",
                self._path,
            ) from error

    def _write(self, info: hook.Info) -> None:
        info.validate()
        kind = info.kind
        if not kind.is_relation():
            raise hook.HookError(f"{quote(kind)} is not a relation hook")
        if info.relation_id != self._state.relation_id:
            raise hook.HookError(
                f"hook is for relation {info.relation_id}, "
                f"this directory holds relation {self._state.relation_id}"
            )
        if kind is Kind.RELATION_BROKEN:
            self.remove()
            return
        name = unit_file_name(info.remote_unit)
        state = self._state
        if kind is Kind.RELATION_DEPARTED:
            try:
                durable.remove_file(self._path, name)
            except OSError as error:
                raise _OSFailure("remove", os.path.join(self._path, name), error) from error
            if state.members is not None:
                state.members.pop(info.remote_unit, None)
            if state.changed_pending == info.remote_unit:
                state.changed_pending = ""
            return
        joined = kind is Kind.RELATION_JOINED
        if joined and state.changed_pending not in ("", info.remote_unit):
            # Two pending changed hooks would make the directory unreadable.
            raise hook.HookError(f"{quote(state.changed_pending)} still has a pending changed hook")
        data = _unit_file_bytes(info.change_version, joined)
        try:
            durable.replace_file(self._path, name, data)
        except OSError as error:
            raise _OSFailure("write", os.path.join(self._path, name), error) from error
        if state.members is None:
            state.members = {}
        state.members[info.remote_unit] = info.change_version
        state.changed_pending = info.remote_unit if joined else ""

    def remove(self) -> None:
        """Remove the relation's directory, which must hold no unit file; a
        missing directory is fine, and so is removing twice. Leftover
        ``*.preparing`` files of unit files are removed with it. Afterwards the
        state is broken (``members`` is None). Raises ``StateDirError`` (ending
        ``directory not empty`` if it holds anything else), removing nothing."""
        path = self._path
        try:
            names = os.listdir(path)
        except FileNotFoundError:
            names = None
        except OSError as error:
            raise StateDirError(f"remove {quote(path)}: {_reason(error)}", path) from error
        if names is not None:
            leftovers = [n for n in names if _is_leftover(n)]
            if len(leftovers) != len(names):
                raise StateDirError(f"remove {quote(path)}: directory not empty", path)
            try:
                durable.remove_dir(path, leftovers)
            except OSError as error:
                raise StateDirError(f"remove {quote(path)}: {_reason(error)}", path) from error
        self._state.members = None
        self._state.changed_pending = ""

    def __repr__(self) -> str:
        return f"<StateDir {self._path!r} {self._state!r}>"


class _OSFailure(RelationStateError):
    def __init__(self, operation: str, path: str, error: OSError) -> None:
        super().__init__(f"{operation} {quote(path)}: {_reason(error)}")


def _describe(error: BaseException) -> str:
    if isinstance(error, OSError):
        if error.filename:
            return f"{quote(error.filename)}: {_reason(error)}"
        return _reason(error)
    return str(error)


def _is_leftover(name: str) -> bool:
    return name.endswith(durable.PREPARING) and (
        unit_from_file_name(name[: -len(durable.PREPARING)]) is not None
    )


def read_state_dir(dir_path: str, relation_id: int) -> StateDir:
    """Read the state of relation ``relation_id`` from ``dir_path/<relation_id>``.

    A missing directory gives an empty state (no members, no pending changed
    hook) and is not created. Raises ``StateDirError`` (``cannot load relation
    state from "<dir>": ...``) for a unit file that cannot be read or is not
    valid, or for two members with pending changed hooks; ``TypeError`` or
    ``ValueError`` for a relation id that is not a non-negative int.
    """
    relation_id = _check_relation_id(relation_id)
    path = os.path.join(os.fspath(dir_path), str(relation_id))
    try:
        state = _load(path, relation_id)
    except _Invalid as error:
        raise StateDirError(
            f"cannot load relation state from {quote(path)}: {error}", path
        ) from error.__cause__
    return StateDir(path, state)


def read_all_state_dirs(dir_path: str) -> dict[int, StateDir]:
    """Read every relation under ``dir_path``: the entries named by a relation
    id (a decimal integer without sign or leading zeros); others are ignored.

    A missing ``dir_path`` gives an empty dict and is not created. Raises
    ``StateDirError`` (``cannot load relations state from "<dir>": ...``)
    when a relation cannot be read.
    """
    dir_path = os.fspath(dir_path)
    try:
        names = sorted(os.listdir(dir_path))
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise StateDirError(
            f"cannot load relations state from {quote(dir_path)}: {_reason(error)}", dir_path
        ) from error
    dirs: dict[int, StateDir] = {}
    for name in names:
        if _RELATION_ID.fullmatch(name) is None:
            continue
        try:
            dirs[int(name)] = read_state_dir(dir_path, int(name))
        except StateDirError as error:
            raise StateDirError(
                f"cannot load relations state from {quote(dir_path)}: {error}", error.path
            ) from error
    return dirs
