"""relation-get, relation-set, relation-ids, relation-list against the fake
context (uniter-reference §3.7: RelationGetSuite, RelationSetSuite,
RelationIdsSuite, RelationListSuite), plus relation-set's file inputs."""

from __future__ import annotations

import os

import pytest
from jujuc_support import help_text, init, make_context, run

from agent_runtime.uniter.jujuc.cmd import UsageError
from agent_runtime.uniter.jujuc.relation_set import MAX_FILE_SIZE, parse_settings
from agent_runtime.uniter.jujuc.testing import FakeContextRelation

# -- relation-get -----------------------------------------------------------------------


def _get_context(relid, remote=""):
    ctx = make_context(relid, remote)
    ctx.relations[0].local.set("private-address", "foo: bar\n")
    ctx.relations[1].units["m/0"] = {"pew": "pew\npew\n"}
    ctx.relations[1].units["u/1"] = {"value": "12345"}
    return ctx


PEW_YAML = "pew: 'pew\n\n  pew\n\n'"

RELATION_GET_CASES = [
    # relid, remote, args, code, out
    (-1, "", [], 2, "no relation id specified"),
    (
        -1,
        "",
        ["-r", "burble:123"],
        2,
        'invalid value "burble:123" for flag -r: unknown relation id',
    ),
    (1, "", [], 2, "no unit id specified"),
    (-1, "", ["-r", "burble:1"], 2, "no unit id specified"),
    (1, "m/0", ["ker-plunk"], 0, ""),
    (1, "bad/0", [], 1, "unknown unit bad/0"),
    (1, "m/0", [], 0, PEW_YAML),
    (1, "", ["-", "m/0"], 0, PEW_YAML),
    (1, "", ["-", "u/1"], 0, 'value: "12345"'),
    (0, "", ["-", "u/0"], 0, "private-address: 'foo: bar\n\n'"),
    (1, "m/0", ["pew"], 0, "pew\npew\n"),
    (1, "", ["pew", "m/0"], 0, "pew\npew\n"),
    (1, "", ["value", "u/1"], 0, "12345"),
    (0, "", ["private-address", "u/0"], 0, "foo: bar\n"),
    (1, "m/0", ["--format", "smart"], 0, PEW_YAML),
    (1, "", ["pew", "m/0", "--format", "smart"], 0, "pew\npew\n"),
    (1, "", ["value", "u/1", "--format", "smart"], 0, "12345"),
    (1, "", ["missing", "u/1", "--format", "smart"], 0, ""),
    (1, "m/0", ["--format", "json"], 0, '{"pew":"pew\\npew\\n"}'),
    (1, "", ["pew", "m/0", "--format", "json"], 0, '"pew\\npew\\n"'),
    (1, "", ["value", "u/1", "--format", "json"], 0, '"12345"'),
    (1, "", ["missing", "u/1", "--format", "json"], 0, "null"),
    (1, "m/0", ["--format", "yaml"], 0, PEW_YAML),
    (1, "", ["pew", "m/0", "--format", "yaml"], 0, "'pew\n\n  pew\n\n'"),
    (1, "", ["value", "u/1", "--format", "yaml"], 0, '"12345"'),
    (1, "", ["missing", "u/1", "--format", "yaml"], 0, ""),
]


@pytest.mark.parametrize(
    "relid, remote, args, code, out",
    RELATION_GET_CASES,
    ids=[f"case{i + 1}" for i in range(len(RELATION_GET_CASES))],
)
def test_relation_get(relid, remote, args, code, out):
    result = run(_get_context(relid, remote), "relation-get", *args)
    assert result.code == code
    if code == 0:
        assert result.stdout == (out + "\n" if out else "")
        assert result.stderr == ""
    else:
        assert result.stdout == ""
        assert result.stderr == f"error: {out}\n"


def test_relation_get_sees_the_hooks_own_writes():
    ctx = _get_context(1)
    assert run(ctx, "relation-set", "mine=yes").code == 0
    assert run(ctx, "relation-get", "mine", "u/0").stdout == "yes\n"


RELATION_GET_HELP = """usage: relation-get [options] {args}
purpose: get relation settings

options:
--format  (= smart)
    specify output format (json|smart|yaml)
-o, --output (= "")
    specify an output file
-r  (= {relation})
    specify a relation by id

relation-get prints the value of a unit's relation setting, specified by key.
If no key is given, or if the key is "-", all keys and values will be printed.
"""


@pytest.mark.parametrize(
    "relid, remote, args, relation, default_unit",
    [
        (-1, "", "<key> <unit id>", "", ""),
        (1, "", "<key> <unit id>", "peer1:1", ""),
        (1, "any/1", "[<key> [<unit id>]]", "peer1:1", 'Current default unit id is "any/1".\n'),
    ],
)
def test_relation_get_help(relid, remote, args, relation, default_unit):
    expected = RELATION_GET_HELP.format(args=args, relation=relation) + default_unit
    assert help_text(_get_context(relid, remote), "relation-get") == expected


def test_relation_get_output_path(tmp_path):
    result = run(
        _get_context(1, "m/0"), "relation-get", "--output", "some-file", "pew", dir=str(tmp_path)
    )
    assert (result.code, result.stdout, result.stderr) == (0, "", "")
    assert (tmp_path / "some-file").read_text() == "pew\npew\n\n"


# -- relation-set -----------------------------------------------------------------------

RELATION_SET_HELP = """usage: relation-set [options] key=value [key=value ...]
purpose: set relation settings

options:
--file (= "")
    file containing key-value pairs ("-" for stdin)
--format (= "")
    deprecated format flag
-r  (= {relation})
    specify a relation by id

"relation-set" writes the local unit's settings for some relation. If no
relation is specified then the current relation is used. The setting values
are not inspected and are stored as strings. Setting an empty string causes
the setting to be removed. A value "@<path>" is replaced by the content of the
file <path>.

The --file option reads settings from a file: a YAML map, or key=value lines.
Settings in the file are overridden by any duplicate key=value arguments. A
value of "-" for the filename means <stdin>. Changes are applied only if the
hook succeeds.
"""


@pytest.mark.parametrize("relid, relation", [(-1, ""), (0, "peer0:0")])
def test_relation_set_help(relid, relation):
    # The reference's help, with juju 2's --file flag and doc (the brief's extras).
    assert help_text(make_context(relid), "relation-set") == RELATION_SET_HELP.format(
        relation=relation
    )


RELATION_SET_INIT = [
    # ctx relid, args, expected relation id and settings, or the error
    (0, [], (0, {}), None),
    (-1, [], None, "no relation id specified"),
    (-1, ["-r", "one"], None, 'invalid value "one" for flag -r: invalid relation id'),
    (1, ["-r", "one"], None, 'invalid value "one" for flag -r: invalid relation id'),
    (
        -1,
        ["-r", "ignored:one"],
        None,
        'invalid value "ignored:one" for flag -r: invalid relation id',
    ),
    (
        1,
        ["-r", "ignored:one"],
        None,
        'invalid value "ignored:one" for flag -r: invalid relation id',
    ),
    (-1, ["-r", "2"], None, 'invalid value "2" for flag -r: unknown relation id'),
    (1, ["-r", "ignored:2"], None, 'invalid value "ignored:2" for flag -r: unknown relation id'),
    (-1, [], None, "no relation id specified"),
    (1, ["-r", "ignored:0"], (0, {}), None),
    (1, ["-r", "0"], (0, {}), None),
    (-1, ["-r", "1"], (1, {}), None),
    (0, ["-r", "1"], (1, {}), None),
    (1, ["haha"], None, 'expected "key=value", got "haha"'),
    (1, ["=haha"], None, 'expected "key=value", got "=haha"'),
    (1, ["foo="], (1, {"foo": ""}), None),
    (1, ["foo='"], (1, {"foo": "'"}), None),
    (1, ["foo=bar"], (1, {"foo": "bar"}), None),
    (1, ["foo=bar=baz=qux"], (1, {"foo": "bar=baz=qux"}), None),
    (1, ["foo=foo: bar"], (1, {"foo": "foo: bar"}), None),
    (0, ["-r", "1", "foo=bar"], (1, {"foo": "bar"}), None),
    (
        1,
        ["foo=123", "bar=true", "baz=4.5", "qux="],
        (1, {"foo": "123", "bar": "true", "baz": "4.5", "qux": ""}),
        None,
    ),
]


@pytest.mark.parametrize(
    "relid, args, expected, error",
    RELATION_SET_INIT,
    ids=[f"case{i + 1}" for i in range(len(RELATION_SET_INIT))],
)
def test_relation_set_init(relid, args, expected, error):
    ctx = make_context(relid)
    if error is not None:
        with pytest.raises((UsageError, ValueError)) as raised:
            init(ctx, "relation-set", *args)
        assert str(raised.value) == error
        result = run(ctx, "relation-set", *args)
        assert (result.code, result.stdout, result.stderr) == (2, "", f"error: {error}\n")
    else:
        command = init(ctx, "relation-set", *args)
        assert (command.relation_id, command.settings) == expected


@pytest.mark.parametrize(
    "change, expected",
    [
        (["base="], {}),
        (["foo=bar"], {"base": "value", "foo": "bar"}),
        (["base=changed"], {"base": "changed"}),
    ],
)
def test_relation_set_run(change, expected):
    ctx = make_context(1)
    ctx.relations[0].local.data = {"pristine": "untouched"}
    ctx.relations[1].local.data = {"base": "value"}
    result = run(ctx, "relation-set", *change)
    assert (result.code, result.stdout, result.stderr) == (0, "", "")
    assert ctx.relations[1].local.map() == expected
    assert ctx.relations[0].local.map() == {"pristine": "untouched"}


def test_relation_set_deprecation_warning():
    result = run(make_context(1), "relation-set", "--format", "foo", "rel=")
    assert (result.code, result.stdout) == (0, "")
    assert result.stderr == '--format flag deprecated for command "relation-set"'


def test_relation_set_unknown_relation_at_run():
    ctx = make_context(1)
    command = init(ctx, "relation-set", "a=b")
    del ctx.relations[1]
    from agent_runtime.uniter.jujuc.cmd import Invocation

    with pytest.raises(LookupError, match="unknown relation id"):
        command.run(Invocation("/"))


def test_relation_set_value_from_a_file(tmp_path):
    (tmp_path / "cert.pem").write_text("-----BEGIN-----\nline: 2\n")
    ctx = make_context(1)
    result = run(ctx, "relation-set", "cert=@cert.pem", "plain=x", dir=str(tmp_path))
    assert (result.code, result.stderr) == (0, "")
    assert ctx.relations[1].local.map()["cert"] == "-----BEGIN-----\nline: 2\n"
    assert ctx.relations[1].local.map()["plain"] == "x"


def test_relation_set_value_from_a_missing_file_changes_nothing(tmp_path):
    ctx = make_context(1)
    before = ctx.relations[1].local.map()
    result = run(ctx, "relation-set", "a=b", "cert=@nope", dir=str(tmp_path))
    assert result.code == 1
    assert result.stderr == 'error: cannot read file "nope": No such file or directory\n'
    assert ctx.relations[1].local.map() == before


def test_relation_set_refuses_what_is_not_a_regular_file(tmp_path):
    os.mkfifo(tmp_path / "fifo")  # opening it for reading must not block the agent
    result = run(make_context(1), "relation-set", "a=@fifo", dir=str(tmp_path))
    assert result.code == 1
    assert result.stderr == 'error: cannot read file "fifo": not a regular file\n'


def test_relation_set_caps_file_sizes(tmp_path):
    (tmp_path / "big").write_bytes(b"x" * (MAX_FILE_SIZE + 1))
    result = run(make_context(1), "relation-set", "a=@big", dir=str(tmp_path))
    assert result.code == 1
    assert "is larger than" in result.stderr


def test_relation_set_file_yaml_and_arguments_override(tmp_path):
    (tmp_path / "settings.yaml").write_text("a: 1\nb: 'two words'\nc: true\ngone:\nkept: x\n")
    ctx = make_context(1)
    ctx.relations[1].local.data = {"gone": "soon", "z": "z"}
    result = run(ctx, "relation-set", "--file", "settings.yaml", "kept=y", dir=str(tmp_path))
    assert (result.code, result.stderr) == (0, "")
    assert ctx.relations[1].local.map() == {
        "a": "1",
        "b": "two words",
        "c": "true",
        "kept": "y",
        "z": "z",
    }


def test_relation_set_file_from_stdin():
    ctx = make_context(1)
    result = run(ctx, "relation-set", "--file", "-", stdin=b"a=1\n# comment\n\nb=x: y\n")
    assert (result.code, result.stderr) == (0, "")
    assert ctx.relations[1].local.map()["a"] == "1"
    assert ctx.relations[1].local.map()["b"] == "x: y"


def test_relation_set_file_from_stdin_that_was_not_sent():
    result = run(make_context(1), "relation-set", "--file=-")
    assert result.code == 1
    assert "carried no stdin" in result.stderr


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"", {}),
        (b"a: b\n", {"a": "b"}),
        (b"a: 4.50\nb: null\nc: ~\nd: ''\n", {"a": "4.50", "b": "", "c": "", "d": ""}),
        (b"{a: b, c: d}", {"a": "b", "c": "d"}),
        (b"a=b\nc=d=e\n", {"a": "b", "c": "d=e"}),
        (b"a=b: c\n", {"a": "b: c"}),  # a key with "=": key=value lines, not YAML
        (b"  a = b \n", {"a ": " b"}),  # lines are stripped, the pair is not
    ],
)
def test_settings_files(data, expected):
    assert parse_settings(data, "f") == expected


@pytest.mark.parametrize(
    "data, message",
    [
        (b"a: [1, 2]\n", "nested value"),
        (b"just words\n", 'expected "key=value"'),
        (b"\xff\xfe", "not valid UTF-8"),
        (b"[" * 1500, 'expected "key=value"'),
    ],
)
def test_bad_settings_files(data, message):
    with pytest.raises(ValueError, match=message):
        parse_settings(data, "f")


# -- relation-ids -----------------------------------------------------------------------


def _ids_context(relid):
    ctx = make_context(relid)
    ctx.relations = {
        i: FakeContextRelation(i, name) for i, name in ((0, "x"), (1, "x"), (2, "x"), (3, "y"))
    }
    return ctx


RELATION_IDS_CASES = [
    (-1, [], 2, "no relation name specified"),
    (1, [], 0, "x:0\nx:1\nx:2"),
    (-1, ["x"], 0, "x:0\nx:1\nx:2"),
    (-1, ["y"], 0, "y:3"),
    (-1, ["z"], 0, ""),
    (-1, ["x", "--format", "smart"], 0, "x:0\nx:1\nx:2"),
    (-1, ["y", "--format", "smart"], 0, "y:3"),
    (-1, ["z", "--format", "smart"], 0, ""),
    (-1, ["x", "--format", "json"], 0, '["x:0","x:1","x:2"]'),
    (-1, ["y", "--format", "json"], 0, '["y:3"]'),
    (-1, ["z", "--format", "json"], 0, "[]"),
    (-1, ["x", "--format", "yaml"], 0, "- x:0\n- x:1\n- x:2"),
    (-1, ["y", "--format", "yaml"], 0, "- y:3"),
    (-1, ["z", "--format", "yaml"], 0, "[]"),
]


@pytest.mark.parametrize("relid, args, code, out", RELATION_IDS_CASES)
def test_relation_ids(relid, args, code, out):
    result = run(_ids_context(relid), "relation-ids", *args)
    assert result.code == code
    if code:
        assert (result.stdout, result.stderr) == ("", f"error: {out}\n")
    else:
        assert (result.stdout, result.stderr) == (out + "\n" if out else "", "")


def test_relation_ids_sorts_as_strings():
    ctx = make_context(-1)
    ctx.relations = {i: FakeContextRelation(i, "x") for i in (2, 10, 1)}
    assert run(ctx, "relation-ids", "x").stdout == "x:1\nx:10\nx:2\n"


def test_relation_ids_unrecognized_args():
    result = run(_ids_context(-1), "relation-ids", "x", "y")
    assert (result.code, result.stderr) == (2, 'error: unrecognized args: ["y"]\n')


RELATION_IDS_HELP = """usage: relation-ids [options] {args}
purpose: list all relation ids with the given relation name

options:
--format  (= smart)
    specify output format (json|smart|yaml)
-o, --output (= "")
    specify an output file
"""


@pytest.mark.parametrize(
    "relid, args, doc",
    [
        (-1, "<name>", ""),
        (0, "[<name>]", '\nCurrent default relation name is "x".\n'),
        (3, "[<name>]", '\nCurrent default relation name is "y".\n'),
    ],
)
def test_relation_ids_help(relid, args, doc):
    assert (
        help_text(_ids_context(relid), "relation-ids") == RELATION_IDS_HELP.format(args=args) + doc
    )


# -- relation-list ----------------------------------------------------------------------

RELATION_LIST_CASES = [
    # relid, members of relation 1, args, code, out
    (-1, [], [], 2, "no relation id specified"),
    (-1, [], ["-r", "bad"], 2, 'invalid value "bad" for flag -r: invalid relation id'),
    (
        -1,
        [],
        ["-r", "unknown:123"],
        2,
        'invalid value "unknown:123" for flag -r: unknown relation id',
    ),
    (1, [], ["-r", "bad"], 2, 'invalid value "bad" for flag -r: invalid relation id'),
    (
        1,
        [],
        ["-r", "unknown:123"],
        2,
        'invalid value "unknown:123" for flag -r: unknown relation id',
    ),
    (1, [], [], 0, ""),
    (1, ["foo", "bar", "baz"], [], 0, "bar\nbaz\nfoo"),
    (1, [], ["-r", "ignored:0"], 0, "paw\npew\npow"),
    (1, [], ["--format", "smart"], 0, ""),
    (1, ["foo", "bar", "baz"], ["--format", "smart"], 0, "bar\nbaz\nfoo"),
    (1, [], ["--format", "json"], 0, "[]"),
    (1, ["foo", "bar", "baz"], ["--format", "json"], 0, '["bar","baz","foo"]'),
    (1, [], ["--format", "yaml"], 0, "[]"),
    (1, ["foo", "bar", "baz"], ["--format", "yaml"], 0, "- bar\n- baz\n- foo"),
]


@pytest.mark.parametrize(
    "relid, members, args, code, out",
    RELATION_LIST_CASES,
    ids=[f"case{i + 1}" for i in range(len(RELATION_LIST_CASES))],
)
def test_relation_list(relid, members, args, code, out):
    ctx = make_context(relid)
    ctx.relations[0].units = {u: {} for u in ("pew", "pow", "paw")}
    ctx.relations[1].units = {u: {} for u in members}
    result = run(ctx, "relation-list", *args)
    assert result.code == code
    if code:
        assert (result.stdout, result.stderr) == ("", f"error: {out}\n")
    else:
        assert (result.stdout, result.stderr) == (out + "\n" if out else "", "")


def test_relation_list_unrecognized_args():
    result = run(make_context(1), "relation-list", "foo")
    assert (result.code, result.stderr) == (2, 'error: unrecognized args: ["foo"]\n')


RELATION_LIST_HELP = """usage: relation-list [options]
purpose: list relation units

options:
--format  (= smart)
    specify output format (json|smart|yaml)
-o, --output (= "")
    specify an output file
-r  (= {relation})
    specify a relation by id
"""


def test_relation_list_help():
    doc = "\n-r must be specified when not in a relation hook\n"
    assert (
        help_text(make_context(-1), "relation-list") == RELATION_LIST_HELP.format(relation="") + doc
    )
    assert help_text(make_context(0), "relation-list") == RELATION_LIST_HELP.format(
        relation="peer0:0"
    )
