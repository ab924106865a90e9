"""Relation state on disk (uniter-reference §2.1-§2.7, tests of §2.10).

StateDirSuite and ReadAllStateDirsSuite of the reference, then what this
project adds: unit names checked before they become file names, failed writes
that change nothing, and bad input answered with the reference's errors.
"""

from __future__ import annotations

import errno
import os
import re

import pytest

from agent_runtime.uniter.hook import Info, Kind
from agent_runtime.uniter.relation import (
    InappropriateHookError,
    InvalidUnitName,
    State,
    StateDir,
    StateDirError,
    check_unit_name,
    durable,
    is_unit_name,
    read_all_state_dirs,
    read_state_dir,
)
from agent_runtime.uniter.relation.names import unit_file_name, unit_from_file_name

J, C, D, B = (
    Kind.RELATION_JOINED,
    Kind.RELATION_CHANGED,
    Kind.RELATION_DEPARTED,
    Kind.RELATION_BROKEN,
)


def put(path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as file:
        file.write(text)


def unit_file(dirpath, name: str, version: int, pending: bool = False) -> None:
    text = f"change-version: {version}\n"
    if pending:
        text += "changed-pending: true\n"
    put(os.path.join(dirpath, name), text)


def snapshot(root) -> dict[str, object]:
    """Every file (its bytes) and directory under ``root``, by relative path."""
    found: dict[str, object] = {}
    for top, dirs, files in os.walk(root):
        for name in dirs:
            found[os.path.relpath(os.path.join(top, name), root)] = "<dir>"
        for name in files:
            path = os.path.join(top, name)
            with open(path, "rb") as file:
                found[os.path.relpath(path, root)] = file.read()
    return found


def error_text(raised) -> str:
    return str(raised.value)


# -- StateDirSuite ----------------------------------------------------------------


def test_read_state_dir_empty(tmp_path):  # TestReadStateDirEmpty
    dir = read_state_dir(str(tmp_path), 123)
    state = dir.state()
    assert state == State(123, {}, "")
    assert state.members == {} and state.members is not None
    assert not (tmp_path / "123").exists()
    dir.ensure()
    assert (tmp_path / "123").is_dir()
    dir.ensure()  # again: fine
    assert (tmp_path / "123").is_dir()


def test_ensure_creates_missing_parents(tmp_path):
    dir = read_state_dir(str(tmp_path / "a" / "relations"), 7)
    dir.ensure()
    assert (tmp_path / "a" / "relations" / "7").is_dir()
    assert oct((tmp_path / "a" / "relations" / "7").stat().st_mode & 0o777) == oct(
        0o755 & ~_umask()
    )


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_ensure_fails_where_a_file_is(tmp_path):
    put(tmp_path / "9", "x")
    with pytest.raises(StateDirError, match=r'cannot load relation state from ".*/9": .*'):
        read_state_dir(str(tmp_path), 9)
    dir = StateDir(str(tmp_path / "9"), State(9))
    with pytest.raises(StateDirError, match=r'cannot create relation state directory ".*/9": '):
        dir.ensure()


def test_read_state_dir_valid(tmp_path):  # TestReadStateDirValid
    dirpath = tmp_path / "123"
    dirpath.mkdir()
    unit_file(dirpath, "foo-bar-1", 99)
    unit_file(dirpath, "foo-bar-1.preparing", 100)
    unit_file(dirpath, "baz-qux-7", 101, pending=True)
    put(dirpath / "nonsensical", "blah")
    put(dirpath / "27", "blah")
    (dirpath / "ignored").mkdir()
    state = read_state_dir(str(tmp_path), 123).state()
    assert state == State(123, {"foo-bar/1": 99, "baz-qux/7": 101}, "baz-qux/7")


BAD_RELATIONS = [  # TestBadRelations
    ("dir", "foo-bar-1", r".* is a directory"),
    ("file", ("foo-1", "'"), r'invalid unit file "foo-1": YAML error: .*'),
    ("file", ("foo-1", "blah: blah\n"), r'invalid unit file "foo-1": "changed-version" not set'),
    ("pending", None, r'"foo/1" and "foo/2" both have pending changed hooks'),
]


@pytest.mark.parametrize(
    ("how", "what", "error"), BAD_RELATIONS, ids=["dir", "yaml", "nover", "2p"]
)
def test_bad_relations(tmp_path, how, what, error):  # TestBadRelations
    dirpath = tmp_path / "123"
    dirpath.mkdir()
    if how == "dir":
        (dirpath / what).mkdir()
    elif how == "file":
        put(dirpath / what[0], what[1])
    else:
        unit_file(dirpath, "foo-1", 1, pending=True)
        unit_file(dirpath, "foo-2", 1, pending=True)
    with pytest.raises(StateDirError) as raised:
        read_state_dir(str(tmp_path), 123)
    assert re.fullmatch(r'cannot load relation state from ".*": ' + error, error_text(raised))
    assert raised.value.path == str(dirpath)


# TestWrite: (hooks, error of the last hook or None, members after, pending after)
WRITE_CASES = [
    ([(C, "foo/1", 1)], None, {"foo/1": 1, "foo/2": 0}, ""),
    ([(J, "foo/3")], None, {"foo/1": 0, "foo/2": 0, "foo/3": 0}, "foo/3"),
    ([(J, "foo/3"), (C, "foo/3")], None, {"foo/1": 0, "foo/2": 0, "foo/3": 0}, ""),
    ([(D, "foo/1")], None, {"foo/2": 0}, ""),
    ([(D, "foo/1"), (J, "foo/1")], None, {"foo/1": 0, "foo/2": 0}, "foo/1"),
    ([(D, "foo/1"), (J, "foo/1"), (C, "foo/1")], None, {"foo/1": 0, "foo/2": 0}, ""),
    ([(D, "foo/1"), (D, "foo/2"), (B, "")], None, None, ""),
    (
        [(J, "foo/1", 0, 456)],
        'inappropriate "relation-joined" for "foo/1": expected relation 123, got relation 456',
        {"foo/1": 0, "foo/2": 0},
        "",
    ),
    (
        [(J, "foo/3"), (J, "foo/4")],
        'inappropriate "relation-joined" for "foo/4": expected "relation-changed" for "foo/3"',
        {"foo/1": 0, "foo/2": 0, "foo/3": 0},
        "foo/3",
    ),
    (
        [(J, "foo/3"), (C, "foo/1")],
        'inappropriate "relation-changed" for "foo/1": expected "relation-changed" for "foo/3"',
        {"foo/1": 0, "foo/2": 0, "foo/3": 0},
        "foo/3",
    ),
    (
        [(J, "foo/1")],
        'inappropriate "relation-joined" for "foo/1": unit already joined',
        {"foo/1": 0, "foo/2": 0},
        "",
    ),
    (
        [(C, "foo/3")],
        'inappropriate "relation-changed" for "foo/3": unit has not joined',
        {"foo/1": 0, "foo/2": 0},
        "",
    ),
    (
        [(D, "foo/3")],
        'inappropriate "relation-departed" for "foo/3": unit has not joined',
        {"foo/1": 0, "foo/2": 0},
        "",
    ),
    (
        [(B, "")],
        'inappropriate "relation-broken" for "": '
        'cannot run "relation-broken" while units still present',
        {"foo/1": 0, "foo/2": 0},
        "",
    ),
    (
        [(D, "foo/1"), (D, "foo/2"), (B, ""), (J, "foo/1")],
        'inappropriate "relation-joined" for "foo/1": '
        "relation is broken and cannot be changed further",
        None,
        "",
    ),
]


def _info(kind: Kind, unit: str, version: int = 0, relation: int = 123) -> Info:
    return Info(kind, relation, unit, version)


@pytest.mark.parametrize(
    ("hooks", "error", "members", "pending"), WRITE_CASES, ids=[str(i) for i in range(1, 16)]
)
def test_write(tmp_path, hooks, error, members, pending):  # TestWrite
    dirpath = tmp_path / "123"
    dirpath.mkdir()
    unit_file(dirpath, "foo-1", 0)
    unit_file(dirpath, "foo-2", 0)
    dir = read_state_dir(str(tmp_path), 123)
    for index, step in enumerate(hooks):
        info = _info(*step)
        if index == len(hooks) - 1 and error is not None:
            with pytest.raises(InappropriateHookError) as raised:
                dir.state().validate(info)
            assert error_text(raised) == error
        else:
            dir.state().validate(info)
            dir.write(info)
            dir.write(info)  # idempotent
    expected = State(123, members, pending)
    assert dir.state() == expected
    if members is None:
        assert not dirpath.exists()
    else:
        assert read_state_dir(str(tmp_path), 123).state() == expected


def test_write_file_format(tmp_path):
    dir = read_state_dir(str(tmp_path), 1)
    dir.ensure()
    dir.write(Info(J, 1, "foo-bar/12", 5))
    assert (tmp_path / "1" / "foo-bar-12").read_text() == (
        "change-version: 5\nchanged-pending: true\n"
    )
    dir.write(Info(C, 1, "foo-bar/12", 6))
    assert (tmp_path / "1" / "foo-bar-12").read_text() == "change-version: 6\n"
    assert oct((tmp_path / "1" / "foo-bar-12").stat().st_mode & 0o777) == oct(0o644 & ~_umask())
    assert sorted(os.listdir(tmp_path / "1")) == ["foo-bar-12"]


def test_state_returns_a_copy(tmp_path):
    dirpath = tmp_path / "5"
    dirpath.mkdir()
    unit_file(dirpath, "a-0", 3)
    dir = read_state_dir(str(tmp_path), 5)
    state = dir.state()
    state.members["b/1"] = 9
    state.changed_pending = "a/0"
    assert dir.state() == State(5, {"a/0": 3}, "")
    assert dir.state() is not dir.state()


def test_remove(tmp_path):  # TestRemove
    dir = read_state_dir(str(tmp_path), 1)
    dir.ensure()
    dir.remove()
    assert not (tmp_path / "1").exists()
    assert dir.state().members is None
    dir.remove()  # again: fine
    dirpath = tmp_path / "99"
    dirpath.mkdir()
    unit_file(dirpath, "foo-1", 0)
    dir = read_state_dir(str(tmp_path), 99)
    with pytest.raises(StateDirError, match=r".*: directory not empty$"):
        dir.remove()
    assert (dirpath / "foo-1").exists()
    assert dir.state().members == {"foo/1": 0}


def test_remove_clears_preparing_leftovers_only_when_it_can_remove(tmp_path):
    dirpath = tmp_path / "4"
    dirpath.mkdir()
    put(dirpath / "foo-1.preparing", "change-version: 1\n")
    unit_file(dirpath, "foo-2", 0)
    dir = read_state_dir(str(tmp_path), 4)
    before = snapshot(tmp_path)
    with pytest.raises(StateDirError, match="directory not empty"):
        dir.remove()
    assert snapshot(tmp_path) == before  # nothing removed
    dir.write(Info(D, 4, "foo/2"))
    dir.remove()  # a write killed before its rename leaves no trace that blocks removal
    assert not dirpath.exists()


# -- ReadAllStateDirsSuite ---------------------------------------------------------


def test_read_all_no_dir(tmp_path):  # TestNoDir
    relations = tmp_path / "relations"
    assert read_all_state_dirs(str(relations)) == {}
    assert not relations.exists()


def test_read_all_bad_state_dir(tmp_path):  # TestBadStateDir
    bad = tmp_path / "relations" / "123"
    bad.mkdir(parents=True)
    put(bad / "bad-0", "blah: blah\n")
    with pytest.raises(StateDirError) as raised:
        read_all_state_dirs(str(tmp_path / "relations"))
    assert re.fullmatch(
        r'cannot load relations state from ".*": cannot load relation state from ".*": '
        r'invalid unit file "bad-0": "changed-version" not set',
        error_text(raised),
    )


def test_read_all_state_dirs(tmp_path):  # TestReadAllStateDirs
    relations = tmp_path / "relations"
    relations.mkdir()
    put(relations / "ignored", "blah")
    put(relations / "foo-bar-123", "blah")
    for name, units in {
        "123": [("foo-0", 1, False), ("foo-1", 2, True)],
        "456": [("bar-0", 3, False), ("bar-1", 4, False)],
        "789": [],
        "onethousand": [("baz-0", 3, False), ("baz-1", 4, False)],
    }.items():
        (relations / name).mkdir()
        for unit, version, pending in units:
            unit_file(relations / name, unit, version, pending)
    put(relations / "123" / "gibberish", "blah")
    dirs = read_all_state_dirs(str(relations))
    assert {id: d.state() for id, d in dirs.items()} == {
        123: State(123, {"foo/0": 1, "foo/1": 2}, "foo/1"),
        456: State(456, {"bar/0": 3, "bar/1": 4}, ""),
        789: State(789, {}, ""),
    }
    assert all(isinstance(d, StateDir) for d in dirs.values())
    assert dirs[456].path == str(relations / "456")


def test_read_all_ignores_non_canonical_ids(tmp_path):
    for name in ("0123", "+5", "-1", "1e3"):
        (tmp_path / name).mkdir()
    (tmp_path / "0").mkdir()
    assert list(read_all_state_dirs(str(tmp_path))) == [0]


def test_read_all_reports_a_file_named_like_a_relation(tmp_path):
    put(tmp_path / "12", "x")
    with pytest.raises(StateDirError, match=r'cannot load relation state from ".*/12": .*'):
        read_all_state_dirs(str(tmp_path))


# -- unit names -----------------------------------------------------------------------

BAD_UNITS = ["../x/0", "/etc/passwd", "a/b/c", "foo/-1", "", "foo", "foo/", "/0", "Foo/1",
             "foo-/1", "foo--bar/1", "foo-1/2", "1foo/0", "foo/01", "foo/1 ", "foo\x00/1",
             "foo/1\n", "../0", "./0", "foo/+1"]  # fmt: skip
GOOD_UNITS = ["u/0", "foo/1", "foo-bar/1", "baz-qux/7", "a1/10", "a-1b/3", "mysql/12345"]


@pytest.mark.parametrize("name", BAD_UNITS)
def test_bad_unit_names_are_refused(name):
    assert not is_unit_name(name)
    with pytest.raises(InvalidUnitName, match="invalid unit name"):
        check_unit_name(name)


@pytest.mark.parametrize("name", GOOD_UNITS)
def test_unit_names_map_to_file_names_and_back(name):
    assert is_unit_name(name)
    file = unit_file_name(name)
    assert "/" not in file
    assert unit_from_file_name(file) == name


@pytest.mark.parametrize("kind", [J, C, D])
@pytest.mark.parametrize("name", ["../x/0", "/etc/passwd", "a/b/c", "foo/-1"])
def test_write_refuses_bad_unit_names_and_touches_nothing(tmp_path, kind, name):
    dirpath = tmp_path / "rel" / "123"
    dirpath.mkdir(parents=True)
    unit_file(dirpath, "foo-1", 0)
    # What a naive "replace the first /" would have touched:
    for target in ("rel/123/..-x/0", "rel/x/0", "rel/123/-etc/passwd", "rel/123/a-b/c", "x/0"):
        os.makedirs(os.path.dirname(tmp_path / target), exist_ok=True)
        put(tmp_path / target, "keep\n")
    dir = read_state_dir(str(tmp_path / "rel"), 123)
    before, state = snapshot(tmp_path), dir.state()
    with pytest.raises(StateDirError) as raised:
        dir.write(Info(kind, 123, name, 1))
    assert error_text(raised).startswith(f'failed to write "{kind}" hook info for ')
    assert "invalid unit name" in error_text(raised)
    assert isinstance(raised.value.__cause__, InvalidUnitName)
    with pytest.raises(InappropriateHookError, match="invalid unit name"):
        state.validate(Info(kind, 123, name, 1))
    assert snapshot(tmp_path) == before
    assert dir.state() == state


# -- bad input, failed writes ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("change-version: abc\n", r'invalid unit file "foo-1": YAML error: change-version must be'),
        ("change-version: true\n", r'invalid unit file "foo-1": YAML error: change-version must'),
        ("- 1\n- 2\n", r'invalid unit file "foo-1": YAML error: expected a mapping, found list'),
        ("", r'invalid unit file "foo-1": "changed-version" not set'),
        (
            "change-version: 1\nchanged-pending: maybe\n",
            r'invalid unit file "foo-1": YAML error: changed-pending must be true or false',
        ),
        ("change-version: [1\n", r'invalid unit file "foo-1": YAML error: '),
        ("\x00\x01", r'invalid unit file "foo-1": YAML error: '),
    ],
)
def test_corrupt_unit_files(tmp_path, text, error):
    (tmp_path / "3").mkdir()
    put(tmp_path / "3" / "foo-1", text)
    with pytest.raises(StateDirError) as raised:
        read_state_dir(str(tmp_path), 3)
    assert re.match(r'cannot load relation state from ".*/3": ' + error, error_text(raised))
    assert "\n" not in error_text(raised)


@pytest.mark.parametrize("relation_id", ["123", 1.0, None, True])
def test_relation_id_must_be_an_int(tmp_path, relation_id):
    with pytest.raises(TypeError, match="relation id must be an int"):
        read_state_dir(str(tmp_path), relation_id)
    with pytest.raises(TypeError, match="relation id must be an int"):
        State(relation_id)


def test_relation_id_must_not_be_negative(tmp_path):
    with pytest.raises(ValueError, match="must not be negative"):
        read_state_dir(str(tmp_path), -1)


def test_write_over_a_directory_changes_nothing(tmp_path):
    dirpath = tmp_path / "8"
    dirpath.mkdir()
    unit_file(dirpath, "foo-2", 4)
    (dirpath / "foo-1").mkdir()
    (dirpath / "foo-1" / "inside").write_text("x")
    dir = StateDir(str(dirpath), State(8, {"foo/2": 4}))
    before, state = snapshot(tmp_path), dir.state()
    for info in (Info(J, 8, "foo/1", 1), Info(C, 8, "foo/1", 1), Info(D, 8, "foo/1")):
        with pytest.raises(StateDirError) as raised:
            dir.write(info)
        assert re.fullmatch(
            rf'failed to write "{info.kind}" hook info for "foo/1" on state directory: '
            r'(write|remove) ".*/8/foo-1": is a directory',
            error_text(raised),
        )
        assert snapshot(tmp_path) == before
        assert dir.state() == state


@pytest.mark.parametrize("fail", ["write", "fsync", "rename"])
def test_failed_write_changes_nothing(tmp_path, monkeypatch, fail):
    dirpath = tmp_path / "8"
    dirpath.mkdir()
    unit_file(dirpath, "foo-1", 4)
    dir = read_state_dir(str(tmp_path), 8)
    before, state = snapshot(tmp_path), dir.state()

    def broken(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(durable.os, fail, broken)
    with pytest.raises(StateDirError, match=r'write ".*/8/foo-1": no space left on device$'):
        dir.write(Info(C, 8, "foo/1", 5))
    monkeypatch.undo()
    assert snapshot(tmp_path) == before
    assert dir.state() == state


def test_write_refuses_other_relations_and_unit_hooks(tmp_path):
    dir = read_state_dir(str(tmp_path), 8)
    dir.ensure()
    for info, error in [
        (Info(C, 9, "foo/1", 5), "hook is for relation 9, this directory holds relation 8"),
        (Info(Kind.INSTALL, 8), '"install" is not a relation hook'),
        (Info("grok", 8, "foo/1"), 'unknown hook kind "grok"'),
        (Info(J, 8), '"relation-joined" hook requires a remote unit'),
        (Info(J, 8, "../x/0"), "invalid unit name"),
    ]:
        with pytest.raises(StateDirError, match=re.escape(error)):
            dir.write(info)
    assert os.listdir(tmp_path / "8") == []


def test_write_refuses_a_second_pending_changed(tmp_path):
    dir = read_state_dir(str(tmp_path), 8)
    dir.ensure()
    dir.write(Info(J, 8, "foo/1", 0))
    with pytest.raises(StateDirError, match='"foo/1" still has a pending changed hook'):
        dir.write(Info(J, 8, "foo/2", 0))
    assert read_state_dir(str(tmp_path), 8).state() == State(8, {"foo/1": 0}, "foo/1")


def test_write_needs_the_directory(tmp_path):
    dir = read_state_dir(str(tmp_path), 8)
    with pytest.raises(StateDirError, match="no such file or directory"):
        dir.write(Info(J, 8, "foo/1", 0))
    assert not (tmp_path / "8").exists()
    dir.write(Info(D, 8, "foo/1", 0))  # departing a unit whose file is not there is fine


# -- State.validate beyond the table ---------------------------------------------------


def test_validate_refuses_malformed_hooks():
    state = State(1, {"u/0": 0})
    for info, reason in [
        (Info(Kind.INSTALL, 1), "not a relation hook"),
        (Info(J, 1), '"relation-joined" hook requires a remote unit'),
        (Info("grok", 1, "u/1"), 'unknown hook kind "grok"'),
    ]:
        with pytest.raises(InappropriateHookError, match=re.escape(reason)):
            state.validate(info)


def test_state_checks_its_fields():
    with pytest.raises(ValueError, match='changed_pending "u/1" is not a member'):
        State(1, {"u/0": 0}, "u/1")
    with pytest.raises(TypeError):
        State(1, {"u/0": "0"})
    with pytest.raises(TypeError):
        State(1, ["u/0"])
    broken = State(1, None)
    assert broken.copy().members is None
